// jwt with keys from a JWKS URL over HTTPS: a TLS server in this process (certificate from a CA
// made here with the openssl tool, configured as trusted) serves the key set. Key rotation with
// the unknown-kid refetch (and its rate limit), the identity provider going down (last good key
// set kept, failures logged and counted), periodic refresh, and an untrusted certificate.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "common.hpp"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// One Ed25519 key pair per kid, made on first use. (A JWKS URL may not serve symmetric keys:
// a public key set is no place for a shared secret.)
EVP_PKEY* key_of(const std::string& kid) {
    using key_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
    static std::mutex mutex;
    static std::map<std::string, key_ptr> keys;
    std::lock_guard lock(mutex);
    auto it = keys.find(kid);
    if (it == keys.end()) {
        it = keys.emplace(kid, key_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), &EVP_PKEY_free)).first;
    }
    return it->second.get();
}

std::string jwk(const std::string& kid) {
    unsigned char raw[32];
    std::size_t size = sizeof raw;
    EVP_PKEY_get_raw_public_key(key_of(kid), raw, &size);
    return R"({"kty":"OKP","crv":"Ed25519","kid":")" + kid + R"(","alg":"EdDSA","x":")" +
           b64url(std::string_view(reinterpret_cast<char*>(raw), size)) + R"("})";
}

std::string jwks(std::initializer_list<std::string> kids) {
    std::string out = R"({"keys":[)";
    for (const auto& k : kids) out += (out.back() == '[' ? "" : ",") + jwk(k);
    return out + "]}";
}

std::string token_for(const std::string& kid) {
    auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto input = b64url(R"({"alg":"EdDSA","kid":")" + kid + R"("})") + "." +
                 b64url(R"({"sub":"user-1","exp":)" + std::to_string(now + 600) + "}");
    unsigned char signature[64];
    std::size_t size = sizeof signature;
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, nullptr, nullptr, nullptr, key_of(kid));
    EVP_DigestSign(md, signature, &size, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(md);
    return input + "." + b64url(std::string_view(reinterpret_cast<char*>(signature), size));
}

// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl tool.
struct test_pki {
    std::string ca, cert, key;
    explicit test_pki(temp_dir& dir) {
        auto d = dir.path();
        dir.write("san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        auto [code, out] =
            run_command("cd " + d +
                        " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "
                        "/CN=gatehouse-test-ca"
                        " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost"
                        " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
                        "-days 2 -extfile san.ext");
        EXPECT_EQ(code, 0) << out;
        ca = d + "/ca.pem";
        cert = d + "/server.pem";
        key = d + "/server.key";
    }
};

// An HTTPS server answering every GET with the current JWKS, or 500 while "down".
class jwks_server {
public:
    explicit jwks_server(const test_pki& pki) {
        // SSL_write to a client that gave up (a fetch timeout) must fail, not kill the tests.
        std::signal(SIGPIPE, SIG_IGN);
        ctx_ = SSL_CTX_new(TLS_server_method());
        SSL_CTX_use_certificate_file(ctx_, pki.cert.c_str(), SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(ctx_, pki.key.c_str(), SSL_FILETYPE_PEM);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(fd_, 16);
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~jwks_server() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
        SSL_CTX_free(ctx_);
    }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/.well-known/jwks.json"; }
    void set_body(std::string body) {
        std::lock_guard lock(mutex_);
        body_ = std::move(body);
    }
    void set_down(bool down) { down_ = down; }
    // Read requests but answer only after this long (a hung identity provider).
    void set_stall(std::chrono::milliseconds stall) { stall_ms_ = static_cast<int>(stall.count()); }
    int requests() const { return requests_; }
    int handshakes_failed() const { return handshakes_failed_; }

private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            timeval tv{2, 0};
            ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            SSL* ssl = SSL_new(ctx_);
            SSL_set_fd(ssl, c);
            if (SSL_accept(ssl) == 1) {
                std::string request;
                char buf[4096];
                while (request.find("\r\n\r\n") == std::string::npos) {
                    int n = SSL_read(ssl, buf, sizeof buf);
                    if (n <= 0) break;
                    request.append(buf, static_cast<std::size_t>(n));
                }
                if (request.starts_with("GET /.well-known/jwks.json ")) ++requests_;
                if (stall_ms_ > 0) peer_pause(std::chrono::milliseconds(stall_ms_.load()));
                std::string body;
                {
                    std::lock_guard lock(mutex_);
                    body = body_;
                }
                std::string response =
                    down_ ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                          : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
                SSL_write(ssl, response.data(), static_cast<int>(response.size()));
                SSL_shutdown(ssl);
            } else {
                ++handshakes_failed_;
            }
            SSL_free(ssl);
            ::close(c);
        }
    }

    SSL_CTX* ctx_ = nullptr;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> down_{false};
    std::atomic<int> stall_ms_{0};
    std::atomic<int> requests_{0};
    std::atomic<int> handshakes_failed_{0};
    std::mutex mutex_;
    std::string body_;
};

std::string jwks_config(std::uint16_t upstream_port, const std::string& jwks_block) {
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 2\nlogging: { level: info }\n"
           "filters:\n  auth:\n    type: jwt\n    jwks: " +
           jwks_block +
           "\n    claims_to_headers: { sub: X-User-Id }\n"
           "default_filters: [auth]\n"
           "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
           std::to_string(upstream_port) +
           "\"]\n"
           "routes:\n  - { name: app, upstream: app }\n";
}

// The jwks block for idp, trusting the test CA, plus more settings.
std::string trusted_jwks(const jwks_server& idp, const test_pki& pki, const std::string& more) {
    return "{ url: \"" + idp.url() + "\", ca_file: \"" + pki.ca + "\", " + more + " }";
}

int status_with(std::uint16_t port, const std::string& token, response* out = nullptr) {
    auto r = request(port, get_request("/me", "Authorization: Bearer " + token + "\r\nConnection: close\r\n"));
    if (!r) return 0;
    if (out) *out = *r;
    return r->status;
}

}  // namespace

TEST(JwksUrl, RotationIsFollowedAndUnknownKidRefetchesAreLimited) {
    temp_dir dir;
    test_pki pki(dir);
    jwks_server idp(pki);
    idp.set_body(jwks({"k1"}));
    echo_server echo(dir);
    gateway gw(dir, jwks_config(echo.port(), trusted_jwks(idp, pki, "cache_duration: 1h, refetch_interval: 1h")));
    // The first request waits for the first fetch if it has not finished yet.
    response r;
    ASSERT_EQ(status_with(gw.port(), token_for("k1"), &r), 200) << r.body;
    EXPECT_EQ(echoed_header(r, "x-user-id"), "user-1");
    EXPECT_EQ(idp.requests(), 1);

    // The identity provider rotates: a token signed with the new key names a kid we do not
    // have, which fetches the set again, once; the request waits for it and passes.
    idp.set_body(jwks({"k1", "k2"}));
    ASSERT_EQ(status_with(gw.port(), token_for("k2"), &r), 200) << r.body;
    EXPECT_EQ(idp.requests(), 2);

    // Tokens naming kids nobody has cannot make the gateway fetch again within refetch_interval.
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(status_with(gw.port(), token_for("forged-" + std::to_string(i)), &r), 401);
        EXPECT_EQ(r.header("www-authenticate"), "Bearer realm=\"gatehouse\", error=\"invalid_token\"");
    }
    EXPECT_EQ(idp.requests(), 2);
    EXPECT_EQ(status_with(gw.port(), token_for("k1")), 200);
    auto metrics = wait_for_metrics(gw.admin_port(), {"event=\"jwks_fetch_ok\"} 2", "reason=\"unknown_kid\"} 10"});
    EXPECT_NE(metrics.find("gatehouse_filter_events_total{filter=\"auth\",event=\"jwks_fetch_ok\"} 2"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("gatehouse_filter_events_total{filter=\"auth\",event=\"jwks_unknown_kid_refetch\"} 1"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("gatehouse_filter_rejections_total{filter=\"auth\",reason=\"unknown_kid\"} 10"),
              std::string::npos)
        << metrics;
    // A reload builds a new fetcher (fetching again) and retires the old one's thread.
    gw.proc().signal(SIGHUP);
    ASSERT_TRUE(gw.proc().wait_for_log("reloaded", 10s)) << gw.proc().log();
    eventually([&] { return idp.requests() >= 3; });
    EXPECT_EQ(idp.requests(), 3);
    EXPECT_EQ(status_with(gw.port(), token_for("k2")), 200);
    gw.proc().signal(SIGTERM);
    EXPECT_EQ(gw.proc().wait_exit(20s), 0);
}

TEST(JwksUrl, LastGoodKeysServeWhileTheIdentityProviderIsDownAndRefreshResumes) {
    temp_dir dir;
    test_pki pki(dir);
    jwks_server idp(pki);
    idp.set_body(jwks({"k1"}));
    echo_server echo(dir);
    // Refreshed every 0.75 s (three quarters of the cache time).
    gateway gw(dir, jwks_config(echo.port(), trusted_jwks(idp, pki, "cache_duration: 1s")));
    ASSERT_EQ(status_with(gw.port(), token_for("k1")), 200);

    idp.set_down(true);
    ASSERT_TRUE(gw.proc().wait_for_log("fetch failed: HTTP 500; keeping the last good key set", 10s))
        << gw.proc().log();
    EXPECT_EQ(status_with(gw.port(), token_for("k1")), 200);  // still served
    // Counted (mirrored into /metrics within a 100 ms tick).
    const std::string failed = "gatehouse_filter_events_total{filter=\"auth\",event=\"jwks_fetch_failed\"} ";
    long failures = 0;
    eventually(
        [&] {
            auto page = wait_for_metrics(gw.admin_port(), {failed});
            auto at = page.find(failed);
            failures = at == std::string::npos ? 0 : std::stol(page.substr(at + failed.size()));
            return failures > 0;
        },
        5s, 50ms);
    EXPECT_GE(failures, 1);

    // A reload while the identity provider is down starts from the last good key set.
    const auto asked = idp.requests();
    gw.proc().signal(SIGHUP);
    ASSERT_TRUE(gw.proc().wait_for_log("config reloaded", 10s));
    // The new config's fetcher asks at once, when its first worker creates the filter.
    EXPECT_TRUE(eventually([&] { return idp.requests() > asked; }));
    EXPECT_EQ(status_with(gw.port(), token_for("k1")), 200);

    // Back, with k1 withdrawn: the next retry (backoff 1 s, 2 s, ...) picks up the new set, and
    // tokens of the withdrawn key stop passing (the per-worker verification caches are cleared).
    idp.set_body(jwks({"k2"}));
    idp.set_down(false);
    ASSERT_TRUE(eventually([&] { return status_with(gw.port(), token_for("k2")) == 200; }, 15s, 100ms))
        << gw.proc().log();
    // Once CI (under load) saw one more k1 pass right after the first k2 did; the withdrawn key
    // must be refused within a second, and from then on.
    EXPECT_TRUE(eventually([&] { return status_with(gw.port(), token_for("k1")) == 401; }, 1s, 50ms));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(status_with(gw.port(), token_for("k1")), 401) << i;
    EXPECT_TRUE(gw.proc().running());
}

TEST(JwksUrl, AnUntrustedCertificateIsRefused) {
    temp_dir dir;
    test_pki pki(dir);
    jwks_server idp(pki);
    idp.set_body(jwks({"k1"}));
    echo_server echo(dir);
    // No ca_file: the system's trust store, which does not know the test CA.
    gateway gw(dir, jwks_config(echo.port(), "{ url: \"" + idp.url() + "\" }"));
    ASSERT_TRUE(gw.proc().wait_for_log("certificate verify failed", 10s)) << gw.proc().log();
    EXPECT_EQ(status_with(gw.port(), token_for("k1")), 401);
    EXPECT_EQ(idp.requests(), 0);  // the key set was never requested over the untrusted connection
    EXPECT_GE(idp.handshakes_failed(), 1);
}

TEST(JwksUrl, AHungIdentityProviderTimesOutAndTheKeysKeepServing) {
    temp_dir dir;
    test_pki pki(dir);
    jwks_server idp(pki);
    idp.set_body(jwks({"k1"}));
    echo_server echo(dir);
    gateway gw(dir, jwks_config(echo.port(), trusted_jwks(idp, pki, "cache_duration: 1s, timeout: 300ms")));
    ASSERT_EQ(status_with(gw.port(), token_for("k1")), 200);
    idp.set_stall(1500ms);  // longer than the fetch timeout
    ASSERT_TRUE(gw.proc().wait_for_log("fetch failed: response: timed out; keeping the last good key set", 15s))
        << gw.proc().log();
    EXPECT_EQ(status_with(gw.port(), token_for("k1")), 200);
    idp.set_stall(0ms);
}
