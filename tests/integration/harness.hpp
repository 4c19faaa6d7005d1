#pragma once
// Integration harness: the real gatehouse binary, real upstream processes or in-process raw
// upstreams on 127.0.0.1, and blocking clients with deadlines. Every wait is bounded.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace harness {

using namespace std::chrono_literals;

std::string gatehouse_binary();

// Polls condition until it holds or timeout passes; true if it held. Tests wait for a state
// this way, never with a fixed sleep: fast when the state comes early, bounded when it never does.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s,
                std::chrono::milliseconds every = 10ms);

// A peer's own timing, which is what the test is about: a client sending a request in parts,
// trickling a body or staying away past a deadline; an upstream pausing between head and body;
// the grace in which something that must not arrive would have. Not a wait for a state.
void peer_pause(std::chrono::milliseconds d);

// A loopback port nothing listens on (bound, then closed): connecting to it is refused.
std::uint16_t free_port();

// base64url without padding (JWTs and JWKs in tests).
std::string b64url(std::string_view bytes);
std::string echo_binary();

// A fresh directory under /tmp, removed at destruction.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    const std::string& path() const { return path_; }
    std::string write(const std::string& name, const std::string& content) const;

private:
    std::string path_;
};

std::string read_file(const std::string& path);

// A child process with stdout/stderr in files; SIGKILLed at destruction if still running.
class process {
public:
    process(std::vector<std::string> argv, const std::string& log_path, std::map<std::string, std::string> env = {});
    ~process();
    pid_t pid() const { return pid_; }
    // Sends a signal.
    void signal(int sig);
    // Waits for exit up to timeout; returns the exit code, or nullopt on timeout (or -signal).
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    bool running();
    // Polls the log until it contains text; returns the log, or nullopt at timeout.
    std::optional<std::string> wait_for_log(const std::string& text, std::chrono::milliseconds timeout = 10s);
    std::string log() const { return read_file(log_path_); }
    // VmHWM (peak resident set) and VmRSS in KiB, from /proc.
    long peak_rss_kib() const;
    long rss_kib() const;

private:
    pid_t pid_ = -1;
    bool exited_ = false;
    std::string log_path_;
};

// Runs a shell command with a timeout; returns (exit code, stdout+stderr).
std::pair<int, std::string> run_command(const std::string& command);

// The gatehouse-echo demo service on a free port.
class echo_server {
public:
    // extra: more arguments (--tls-cert, --tls-key, --client-ca make it an HTTPS upstream).
    explicit echo_server(temp_dir& dir, const std::string& name = "echo", const std::vector<std::string>& extra = {});
    std::uint16_t port() const { return port_; }
    // Connections accepted so far (its /__stats), asked directly, not through the gateway.
    long connections();
    // Requests it is answering right now (a /delay/ request waiting, say).
    long in_flight();
    // A number from its /__stats over HTTPS (an echo started with --tls-cert).
    long tls_stat(const std::string& field);
    process& proc() { return *process_; }

private:
    std::unique_ptr<process> process_;
    std::uint16_t port_ = 0;
};

// The gateway under test, started on config (which must listen on 127.0.0.1:0); env adds variables.
class gateway {
public:
    gateway(temp_dir& dir, const std::string& config, std::map<std::string, std::string> env = {});
    std::uint16_t port() const { return port_; }
    std::uint16_t admin_port() const { return admin_port_; }  // 0 without an admin listener
    const std::string& config_path() const { return config_path_; }
    process& proc() { return *process_; }

private:
    std::unique_ptr<process> process_;
    std::uint16_t port_ = 0;
    std::uint16_t admin_port_ = 0;
    std::string config_path_;
};

// An in-process upstream: each accepted connection runs handler on its own thread.
class raw_upstream {
public:
    using handler = std::function<void(int fd)>;
    explicit raw_upstream(handler h, int backlog = 128);
    ~raw_upstream();
    std::uint16_t port() const { return port_; }
    int connections() const { return connections_.load(); }
    // Connections whose handler returned (and that it shut down).
    int finished() const { return finished_.load(); }
    // All bytes received by handlers that used recv_request() (for "never forwarded" checks).
    std::string received();
    void record(const std::string& bytes);

private:
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<int> connections_{0};
    std::atomic<int> finished_{0};
    std::atomic<bool> stopping_{false};
    std::thread accept_thread_;
    std::mutex mutex_;
    std::vector<std::thread> threads_;
    std::vector<int> fds_;
    std::string received_;
};

// Helpers for raw upstream handlers.
// Reads one request head (and a Content-Length body) from fd; empty string on EOF/timeout.
std::string recv_request(int fd, raw_upstream* record_into = nullptr);
void send_all(int fd, const std::string& data);
// recv(2) that reads again after EINTR (see harness.cpp).
ssize_t recv_retrying(int fd, void* buf, std::size_t size, int flags);

struct response {
    int status = 0;
    std::string reason;
    std::string version;
    std::map<std::string, std::string> headers;  // lower-case names; repeated fields joined by ", "
    std::vector<std::string> header_names;       // in order, as received
    std::string body;
    std::vector<int> interim;  // 1xx statuses received before this response
    bool chunked = false;
    bool has(const std::string& name) const { return headers.count(name) > 0; }
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? "" : it->second;
    }
};

// A blocking TCP client with a receive deadline on every read.
class client {
public:
    // source_ip: a loopback address to connect from (any of 127.0.0.0/8), or the default.
    explicit client(std::uint16_t port, std::chrono::milliseconds timeout = 10s, const char* source_ip = nullptr);
    ~client();
    void send(const std::string& data);
    // Reads one response; head_request: the response has no body. nullopt on EOF or timeout.
    std::optional<response> read_response(bool head_request = false);
    // True if the server closes the connection within timeout (EOF or reset, no more bytes).
    bool closed_within(std::chrono::milliseconds timeout);
    // Reads everything until the server closes (bounded by timeout).
    std::string read_all(std::chrono::milliseconds timeout = 5s);
    // Bytes buffered but not yet parsed.
    const std::string& pending() const { return buffer_; }
    int fd() const { return fd_; }

private:
    bool fill();
    int fd_ = -1;
    std::string buffer_;
    std::chrono::milliseconds timeout_;
};

// One request on a new connection.
std::optional<response> request(std::uint16_t port, const std::string& raw, bool head_request = false);
std::string get_request(const std::string& path, const std::string& extra_headers = "");

// A pseudo-JSON field lookup good enough for the echo's flat output: "key":"value" or "key":number.
std::string json_field(const std::string& json, const std::string& key);

// FNV-1a 64 of the echo's /bytes/N pattern, computed locally.
std::string pattern_fnv(std::uint64_t size);

}  // namespace harness
