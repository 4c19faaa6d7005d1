#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace harness {

// GATEHOUSE_TEST_BINARY runs the suite against another build (e.g. to see a new test fail on
// the code before its fix).
std::string gatehouse_binary() {
    const char* other = std::getenv("GATEHOUSE_TEST_BINARY");
    return other && *other ? other : GATEHOUSE_BIN;
}
std::string echo_binary() {
    return ECHO_BIN;
}

temp_dir::temp_dir() {
    char tmpl[] = "/tmp/gatehouse-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string temp_dir::write(const std::string& name, const std::string& content) const {
    auto p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
}

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::string b64url(std::string_view bytes) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += alphabet[(buffer >> bits) & 0x3f];
        }
    }
    if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 0x3f];
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

process::process(std::vector<std::string> argv, const std::string& log_path, std::map<std::string, std::string> env)
    : log_path_(log_path) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        int fd = ::open(log_path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        std::perror("execv");
        ::_exit(127);
    }
}

process::~process() {
    if (!exited_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status;
        ::waitpid(pid_, &status, 0);
    }
    // Under ASan/UBSan a child's memory error is printed to its log and may not fail any
    // request; every test that started a process checks it here.
    auto text = read_file(log_path_);
    for (const char* report : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
        if (text.find(report) != std::string::npos) {
            ADD_FAILURE() << log_path_ << " has a sanitizer report:\n" << text.substr(text.find(report), 4000);
        }
    }
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(every);
    }
}

void peer_pause(std::chrono::milliseconds d) {
    std::this_thread::sleep_for(d);
}

void process::signal(int sig) {
    if (!exited_) ::kill(pid_, sig);
}

std::optional<int> process::wait_exit(std::chrono::milliseconds timeout) {
    std::optional<int> code;
    eventually(
        [&] {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
            exited_ = true;
            code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            return true;
        },
        timeout);
    return code;
}

bool process::running() {
    if (exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return false;
    }
    return true;
}

std::optional<std::string> process::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) {
    std::optional<std::string> found;
    eventually(
        [&] {
            auto content = log();
            if (content.find(text) != std::string::npos) found = std::move(content);
            return found || !running();
        },
        timeout);
    return found;
}

namespace {
long status_kib(pid_t pid, const char* key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key));
    }
    return -1;
}

std::uint16_t port_after(const std::string& log, const std::string& marker) {
    auto pos = log.find(marker);
    if (pos == std::string::npos) return 0;
    return static_cast<std::uint16_t>(std::atoi(log.c_str() + pos + marker.size()));
}
}  // namespace

long process::peak_rss_kib() const {
    return status_kib(pid_, "VmHWM:");
}
long process::rss_kib() const {
    return status_kib(pid_, "VmRSS:");
}

std::pair<int, std::string> run_command(const std::string& command) {
    std::string full = "timeout 120 sh -c '" + command + "' 2>&1";
    FILE* pipe = ::popen(full.c_str(), "r");
    if (!pipe) return {-1, ""};
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
    int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

echo_server::echo_server(temp_dir& dir, const std::string& name, const std::vector<std::string>& extra) {
    static int counter = 0;
    auto log = dir.path() + "/echo-" + name + "-" + std::to_string(counter++) + ".log";
    std::vector<std::string> args{echo_binary(), "--listen", "127.0.0.1:0", "--name", name};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<process>(args, log);
    auto content = process_->wait_for_log("listening on 127.0.0.1:");
    if (!content) throw std::runtime_error("echo server did not start: " + process_->log());
    port_ = port_after(*content, "listening on 127.0.0.1:");
}

long echo_server::in_flight() {
    auto r = request(port_, get_request("/__stats"));
    if (!r) return -1;
    return std::atol(json_field(r->body, "in_flight").c_str());
}

long echo_server::tls_stat(const std::string& field) {
    auto [code, out] = run_command("curl -sk --max-time 5 https://127.0.0.1:" + std::to_string(port_) + "/__stats");
    if (code != 0) return -1;
    return std::atol(json_field(out, field).c_str());
}

long echo_server::connections() {
    auto r = request(port_, get_request("/__stats"));
    if (!r) return -1;
    return std::atol(json_field(r->body, "connections").c_str());
}

gateway::gateway(temp_dir& dir, const std::string& config, std::map<std::string, std::string> env) {
    static int counter = 0;
    auto n = std::to_string(counter++);
    // Tests run in parallel: unless the config says otherwise, the admin listener takes a free port.
    bool has_admin = config.starts_with("admin:") || config.find("\nadmin:") != std::string::npos;
    config_path_ =
        dir.write("gateway-" + n + ".yaml", has_admin ? config : "admin: { listen: \"127.0.0.1:0\" }\n" + config);
    process_ = std::make_unique<process>(std::vector<std::string>{gatehouse_binary(), "--config", config_path_},
                                         dir.path() + "/gateway-" + n + ".log", env);
    // The admin listener starts after the proxy listeners, so its line comes last.
    auto content = process_->wait_for_log(has_admin ? "listening on 127.0.0.1:" : "admin listening on 127.0.0.1:");
    if (!content) throw std::runtime_error("gateway did not start: " + process_->log());
    port_ = port_after(*content, "listening on 127.0.0.1:");
    if (auto admin = content->find("admin listening on 127.0.0.1:"); admin != std::string::npos) {
        admin_port_ = port_after(content->substr(admin), "admin listening on 127.0.0.1:");
    }
}

raw_upstream::raw_upstream(handler h, int backlog) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, backlog) != 0) {
        throw std::runtime_error("raw upstream: bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (!h) {
        return;  // a listener that never accepts (its backlog fills up)
    }
    accept_thread_ = std::thread([this, h, one] {
        while (!stopping_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int fd = ::accept(listen_fd_, nullptr, nullptr);
            if (fd < 0) continue;
            ++connections_;
            timeval tv{5, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            std::lock_guard lock(mutex_);
            fds_.push_back(fd);
            threads_.emplace_back([this, h, fd] {
                h(fd);
                ::shutdown(fd, SHUT_RDWR);  // the handler is done: the peer sees the close now
                ++finished_;
            });
        }
    });
}

raw_upstream::~raw_upstream() {
    stopping_ = true;
    if (accept_thread_.joinable()) accept_thread_.join();
    {
        std::lock_guard lock(mutex_);
        for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
}

std::string raw_upstream::received() {
    std::lock_guard lock(mutex_);
    return received_;
}

void raw_upstream::record(const std::string& bytes) {
    std::lock_guard lock(mutex_);
    received_ += bytes;
}

// Tests stop and continue their children (SIGSTOP/SIGCONT), and a recv on a socket with
// SO_RCVTIMEO then fails now and then with EINTR (1 in ~15 runs of the hung-endpoint test, no
// signal handler installed): a real client reads again.
ssize_t recv_retrying(int fd, void* buf, std::size_t size, int flags) {
    for (;;) {
        const ssize_t n = ::recv(fd, buf, size, flags);
        if (n >= 0 || errno != EINTR) return n;
    }
}

void send_all(int fd, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        sent += static_cast<std::size_t>(n);
    }
}

std::string recv_request(int fd, raw_upstream* record_into) {
    std::string data;
    char buf[8192];
    std::size_t head_end = std::string::npos;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv_retrying(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            if (record_into && !data.empty()) record_into->record(data);
            return "";
        }
        data.append(buf, static_cast<std::size_t>(n));
    }
    std::string lower = data.substr(0, head_end);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t want = head_end + 4;
    if (auto pos = lower.find("\r\ncontent-length:"); pos != std::string::npos) {
        want += static_cast<std::size_t>(std::atoll(lower.c_str() + pos + 17));
        while (data.size() < want) {
            ssize_t n = recv_retrying(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            data.append(buf, static_cast<std::size_t>(n));
        }
    } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
        while (data.find("\r\n0\r\n\r\n", head_end) == std::string::npos &&
               data.compare(head_end + 4, 5, "0\r\n\r\n") != 0) {
            ssize_t n = recv_retrying(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            data.append(buf, static_cast<std::size_t>(n));
        }
    }
    if (record_into) record_into->record(data);
    return data;
}

client::client(std::uint16_t port, std::chrono::milliseconds timeout, const char* source_ip) : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (source_ip) {
        sockaddr_in source{};
        source.sin_family = AF_INET;
        if (::inet_pton(AF_INET, source_ip, &source.sin_addr) != 1 ||
            ::bind(fd_, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) {
            ::close(fd_);
            throw std::runtime_error(std::string("client: cannot bind to ") + source_ip);
        }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw std::runtime_error("client: connect failed");
    }
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

client::~client() {
    ::close(fd_);
}

void client::send(const std::string& data) {
    send_all(fd_, data);
}

bool client::fill() {
    char buf[65536];
    ssize_t n = recv_retrying(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
}

std::optional<response> client::read_response(bool head_request) {
    response r;
    for (;;) {
        std::size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill()) return std::nullopt;
        }
        std::string head = buffer_.substr(0, end);
        buffer_.erase(0, end + 4);
        std::istringstream lines(head);
        std::string line;
        std::getline(lines, line);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto sp1 = line.find(' ');
        auto sp2 = line.find(' ', sp1 + 1);
        r.version = line.substr(0, sp1);
        r.status = std::atoi(line.substr(sp1 + 1, sp2 - sp1 - 1).c_str());
        r.reason = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
        r.headers.clear();
        r.header_names.clear();
        while (std::getline(lines, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string name = line.substr(0, colon);
            r.header_names.push_back(name);
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
            auto& slot = r.headers[name];
            slot = slot.empty() ? value : slot + ", " + value;
        }
        if (r.status >= 100 && r.status < 200 && r.status != 101) {
            r.interim.push_back(r.status);
            continue;
        }
        break;
    }
    if (head_request || r.status == 204 || r.status == 304) return r;
    if (r.header("transfer-encoding").find("chunked") != std::string::npos) {
        r.chunked = true;
        for (;;) {
            std::size_t eol;
            while ((eol = buffer_.find("\r\n")) == std::string::npos) {
                if (!fill()) return std::nullopt;
            }
            std::size_t size = std::strtoull(buffer_.c_str(), nullptr, 16);
            buffer_.erase(0, eol + 2);
            if (size == 0) {
                while ((eol = buffer_.find("\r\n")) != 0) {  // trailers until the empty line
                    if (eol == std::string::npos) {
                        if (!fill()) return std::nullopt;
                    } else {
                        buffer_.erase(0, eol + 2);
                    }
                }
                buffer_.erase(0, 2);
                return r;
            }
            while (buffer_.size() < size + 2) {
                if (!fill()) return std::nullopt;
            }
            r.body.append(buffer_, 0, size);
            buffer_.erase(0, size + 2);
        }
    }
    if (r.has("content-length")) {
        std::size_t size = std::strtoull(r.header("content-length").c_str(), nullptr, 10);
        while (buffer_.size() < size) {
            if (!fill()) return std::nullopt;
        }
        r.body = buffer_.substr(0, size);
        buffer_.erase(0, size);
        return r;
    }
    while (fill()) {
    }
    r.body = std::move(buffer_);
    buffer_.clear();
    return r;
}

bool client::closed_within(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        pollfd p{fd_, POLLIN, 0};
        int left = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count());
        if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
        char buf[4096];
        ssize_t n = recv_retrying(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) return true;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return true;
        if (n > 0) buffer_.append(buf, static_cast<std::size_t>(n));
    }
    return false;
}

std::string client::read_all(std::chrono::milliseconds timeout) {
    closed_within(timeout);
    std::string out = std::move(buffer_);
    buffer_.clear();
    return out;
}

std::optional<response> request(std::uint16_t port, const std::string& raw, bool head_request) {
    client c(port);
    c.send(raw);
    return c.read_response(head_request);
}

std::string get_request(const std::string& path, const std::string& extra_headers) {
    return "GET " + path + " HTTP/1.1\r\nHost: test.local\r\n" + extra_headers + "\r\n";
}

std::string json_field(const std::string& json, const std::string& key) {
    auto pos = json.find("\"" + key + "\":");
    if (pos == std::string::npos) return "";
    pos += key.size() + 3;
    if (json[pos] == '"') {
        std::string out;
        for (++pos; pos < json.size() && json[pos] != '"'; ++pos) {
            if (json[pos] == '\\' && pos + 1 < json.size()) ++pos;
            out += json[pos];
        }
        return out;
    }
    auto end = json.find_first_of(",}", pos);
    return json.substr(pos, end - pos);
}

std::string pattern_fnv(std::uint64_t size) {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (std::uint64_t i = 0; i < size; ++i) {
        hash ^= static_cast<unsigned char>('a' + i % 26);
        hash *= 0x100000001b3ull;
    }
    return std::to_string(hash);
}

}  // namespace harness
