// WebSocket tunnels through the real binary, with Debian's python3-websockets as the client
// and the upstream server (tests/integration/ws_peer.py): echo with large frames, either side
// closing, an upstream refusing the upgrade, the idle timeout, routes without websocket, the
// handshake's filters, a drain; and the handshakes a gateway must not tunnel.
#include <csignal>
#include <thread>

#include "certificates.hpp"
#include "common.hpp"

using namespace harness;
using namespace std::chrono_literals;

namespace {

const std::string peer_script = std::string(SOURCE_DIR) + "/tests/integration/ws_peer.py";

// The echo server of ws_peer.py.
class ws_server {
public:
    // tls: the name of a certificate in dir (name.pem, name.key) to serve wss with.
    explicit ws_server(temp_dir& dir, const std::string& tls = "") {
        std::vector<std::string> args{"/usr/bin/python3", peer_script, "server"};
        if (!tls.empty()) {
            args.push_back(dir.path() + "/" + tls + ".pem");
            args.push_back(dir.path() + "/" + tls + ".key");
        }
        process_ = std::make_unique<process>(args, dir.path() + "/ws-server.log");
        const std::string marker = "listening on 127.0.0.1:";
        auto log = process_->wait_for_log(marker);
        if (!log) throw std::runtime_error("WebSocket server did not start: " + process_->log());
        port_ = static_cast<std::uint16_t>(std::stoi(log->substr(log->find(marker) + marker.size())));
    }
    std::uint16_t port() const { return port_; }

private:
    std::unique_ptr<process> process_;
    std::uint16_t port_ = 0;
};

bool have_websockets() {
    static const bool have = run_command("/usr/bin/python3 -c \"import websockets\"").first == 0;
    return have;
}

#define REQUIRE_WEBSOCKETS()                                                                           \
    if (!have_websockets()) {                                                                          \
        ASSERT_EQ(std::getenv("GATEHOUSE_REQUIRE_TOOLS"), nullptr) << "python3-websockets is missing"; \
        GTEST_SKIP() << "python3-websockets not installed (scripts/test installs it)";                 \
    }

// A ws_peer.py client mode; its JSON line.
std::string ws_client(const std::string& args) {
    auto [code, out] = run_command("/usr/bin/python3 " + peer_script + " " + args);
    return out;
}

std::string ws_config(std::uint16_t upstream, const std::string& log_file, const std::string& websocket = "true",
                      const std::string& extra = "", const std::string& chat_extra = "") {
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n  drain_timeout: 1s\nlogging: { level: info }\n"
           "filters:\n  log: { type: access_log, output: \"" +
           log_file + "\", flush: 100ms }\n" + extra +
           "default_filters: [log]\n"
           "upstreams: { ws: { endpoints: [\"127.0.0.1:" +
           std::to_string(upstream) +
           "\"] } }\n"
           "routes:\n"
           "  - { name: plain, match: { prefix: /plain }, upstream: ws }\n"
           "  - { name: chat, match: { prefix: / }, upstream: ws, websocket: " +
           websocket + chat_extra + " }\n";
}

std::string url(const gateway& gw, const std::string& path = "/chat") {
    return "ws://127.0.0.1:" + std::to_string(gw.port()) + path;
}

std::string handshake(const std::string& path, const std::string& extra = "",
                      const std::string& key = "dGhlIHNhbXBsZSBub25jZQ==") {
    return "GET " + path +
           " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: " +
           key + "\r\n" + extra + "\r\n";
}

}  // namespace

TEST(WebSocket, EchoesTextAndLargeBinaryFramesAndLogsTheTunnelOnceAtClose) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ws_server upstream(dir);
    const auto log_file = dir.path() + "/access.log";
    gateway gw(dir, ws_config(upstream.port(), log_file));
    const auto result = ws_client("echo " + url(gw));
    EXPECT_EQ(json_field(result, "echoed"), "true") << result;
    EXPECT_EQ(json_field(result, "close_code"), "1000") << result;
    auto lines = wait_for_lines(log_file, 1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(json_field(lines[0], "status"), "101") << lines[0];
    // The random 1 MiB each way (permessage-deflate shrinks the 100 KB of "x" to little).
    EXPECT_GT(std::stoll(json_field(lines[0], "bytes_in")), 1 << 20) << lines[0];
    EXPECT_GT(std::stoll(json_field(lines[0], "bytes_out")), 1 << 20) << lines[0];
    EXPECT_TRUE(gw.proc().wait_for_log("on route chat: ")) << gw.proc().log();
    auto metrics = wait_for_metrics(gw.admin_port(), {"gatehouse_websocket_tunnels{route=\"chat\"} 0"});
    EXPECT_NE(metrics.find("gatehouse_websocket_tunnels{route=\"chat\"} 0"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("gatehouse_websocket_tunnels_closed_total{route=\"chat\",reason=\"error\"} 0"),
              std::string::npos)
        << metrics;
    EXPECT_EQ(metrics.find("gatehouse_websocket_bytes_total{route=\"chat\",direction=\"upstream_to_client\"} 0"),
              std::string::npos)
        << metrics;
    // The route's latency is the handshake's, not the tunnel's.
    EXPECT_NE(metrics.find("gatehouse_request_duration_seconds_bucket{route=\"chat\",le=\"1\"} 1"), std::string::npos)
        << metrics;
}

TEST(WebSocket, TheUpstreamClosingEndsTheTunnel) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ws_server upstream(dir);
    gateway gw(dir, ws_config(upstream.port(), dir.path() + "/access.log"));
    const auto result = ws_client("server-close " + url(gw));
    EXPECT_EQ(json_field(result, "closed"), "true") << result;
    EXPECT_EQ(json_field(result, "code"), "1000") << result;
    EXPECT_EQ(json_field(result, "reason"), "bye") << result;
}

TEST(WebSocket, AnUpstreamRefusingTheUpgradeIsPassedOnAndNoTunnelOpens) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ws_server upstream(dir);
    gateway gw(dir, ws_config(upstream.port(), dir.path() + "/access.log"));
    EXPECT_EQ(json_field(ws_client("status " + url(gw, "/refuse")), "status"), "403");
    // The refusal's connection is closed after it: bytes the client sent for the protocol it
    // asked for are never read as a next request.
    client c(gw.port());
    c.send(handshake("/refuse") + "GET /plain/smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.closed_within(2s));
}

TEST(WebSocket, ARouteWithoutWebsocketRefusesTheUpgrade) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ws_server upstream(dir);
    gateway gw(dir, ws_config(upstream.port(), dir.path() + "/access.log"));
    EXPECT_EQ(json_field(ws_client("status " + url(gw, "/plain")), "status"), "403");
    auto r = request(gw.port(), handshake("/plain"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(json_field(r->body, "error"), "websocket_not_allowed");
}

TEST(WebSocket, AnIdleTunnelIsClosedAndTrafficKeepsOneOpen) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ws_server upstream(dir);
    gateway gw(dir, ws_config(upstream.port(), dir.path() + "/access.log", "{ idle_timeout: 800ms }"));
    const auto idle = ws_client("wait-close " + url(gw) + " 6");
    EXPECT_EQ(json_field(idle, "closed"), "true") << idle;
    EXPECT_GE(std::stoi(json_field(idle, "after_ms")), 700) << idle;  // not before the idle timeout
    // A message every 100 ms for 2 s: never idle.
    const auto busy = ws_client("chat " + url(gw) + " 2");
    EXPECT_EQ(json_field(busy, "closed"), "false") << busy;
    EXPECT_GE(std::stoi(json_field(busy, "echoed")), 10) << busy;
    auto metrics = wait_for_metrics(
        gw.admin_port(), {"gatehouse_websocket_tunnels_closed_total{route=\"chat\",reason=\"idle_timeout\"} 1"});
    EXPECT_NE(metrics.find("gatehouse_websocket_tunnels_closed_total{route=\"chat\",reason=\"idle_timeout\"} 1"),
              std::string::npos)
        << metrics;
}

TEST(WebSocket, TheHandshakeRunsTheRoutesFilters) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ws_server upstream(dir);
    gateway gw(dir, ws_config(upstream.port(), dir.path() + "/access.log", "true",
                              "  keys: { type: api_key, keys: [ { consumer: app, key: s3cret-key-0123456789 } ] }\n",
                              ", filters: { replace: [log, keys] }"));
    EXPECT_EQ(json_field(ws_client("status " + url(gw)), "status"), "401");
    const auto ok = ws_client("status " + url(gw) + " \"X-Api-Key: s3cret-key-0123456789\"");
    EXPECT_EQ(json_field(ok, "status"), "101") << ok;
    EXPECT_EQ(json_field(ok, "echo"), "ping") << ok;
}

TEST(WebSocket, DrainKeepsTunnelsUntilTheDrainTimeoutThenClosesThem) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ws_server upstream(dir);
    gateway gw(dir, ws_config(upstream.port(), dir.path() + "/access.log"));
    std::string result;
    std::thread chat([&] { result = ws_client("chat " + url(gw) + " 6"); });
    wait_for_metrics(gw.admin_port(), {"gatehouse_websocket_tunnels{route=\"chat\"} 1"});
    const auto drain_started = std::chrono::steady_clock::now();
    gw.proc().signal(SIGTERM);  // drain_timeout: 1s
    chat.join();
    EXPECT_EQ(json_field(result, "closed"), "true") << result;
    // It carried on through the drain (closing tunnels at once would end it within a sweep).
    EXPECT_GE(std::chrono::steady_clock::now() - drain_started, 500ms) << result;
    EXPECT_EQ(gw.proc().wait_exit(5s), std::optional<int>(0));
    EXPECT_NE(gw.proc().log().find(": drain after"), std::string::npos) << gw.proc().log();
}

TEST(WebSocket, TunnelsOverTls) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ASSERT_EQ(make_certificate(dir, "ws.test"), "");
    ws_server upstream(dir);
    gateway gw(dir,
               "server:\n  workers: 1\n  listen:\n    - address: \"127.0.0.1:0\"\n      tls:\n"
               "        certificates:\n          - { cert: " +
                   dir.path() + "/ws.test.pem, key: " + dir.path() +
                   "/ws.test.key }\nlogging: { level: info }\n"
                   "upstreams: { ws: { endpoints: [\"127.0.0.1:" +
                   std::to_string(upstream.port()) +
                   "\"] } }\nroutes: [ { name: chat, upstream: ws, websocket: true } ]\n");
    const auto result = ws_client("echo wss://127.0.0.1:" + std::to_string(gw.port()) + "/chat");
    EXPECT_EQ(json_field(result, "echoed"), "true") << result;
    EXPECT_EQ(json_field(result, "close_code"), "1000") << result;
}

// The upstream side over verified TLS (upstreams.X.tls): the tunnel runs on the pooled
// connection's TLS stream.
TEST(WebSocket, TunnelsToATlsUpstream) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ASSERT_EQ(make_ca(dir, "ca"), "");
    ASSERT_EQ(make_certificate(dir, "chat", {.subject = "", .sans = "DNS:chat.internal", .ca = "ca"}), "");
    ws_server upstream(dir, "chat");
    gateway gw(dir,
               "server: { listen: \"127.0.0.1:0\", workers: 1 }\nlogging: { level: info }\n"
               "upstreams:\n  ws:\n    endpoints: [\"127.0.0.1:" +
                   std::to_string(upstream.port()) + "\"]\n    tls: { server_name: chat.internal, ca_file: " +
                   dir.path() + "/ca.pem }\nroutes: [ { name: chat, upstream: ws, websocket: true } ]\n");
    const auto result = ws_client("echo " + url(gw));
    EXPECT_EQ(json_field(result, "echoed"), "true") << result << gw.proc().log();
    EXPECT_EQ(json_field(result, "close_code"), "1000") << result;
    const auto closed = ws_client("server-close " + url(gw));
    EXPECT_EQ(json_field(closed, "reason"), "bye") << closed;
}

// What RFC 6455 section 4.1 asks of a handshake, checked before anything goes upstream.
TEST(WebSocket, BadHandshakesAreRefused) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    ws_server upstream(dir);
    gateway gw(dir, ws_config(upstream.port(), dir.path() + "/access.log"));
    auto r = request(gw.port(), handshake("/chat", "", "short"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    r = request(gw.port(),
                "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 426);
    EXPECT_EQ(r->header("sec-websocket-version"), "13");
    r = request(gw.port(),
                "POST /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Content-Length: 2\r\n\r\nhi");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
}

// Only a 101 that answers the request's own key opens a tunnel: an upstream that says 101
// without it (or with another request's accept) gets the client a 502, not a raw pipe.
TEST(WebSocket, A101ThatDoesNotAcceptTheKeyIsABadGateway) {
    REQUIRE_WEBSOCKETS();
    temp_dir dir;
    std::string accept;
    raw_upstream fake([&](int fd) {
        if (recv_request(fd).empty()) return;
        send_all(fd,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + accept + "\r\n");
        peer_pause(300ms);
    });
    gateway gw(dir, ws_config(fake.port(), dir.path() + "/access.log"));
    for (const auto* line : {"", "Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n"}) {
        accept = line;
        auto r = request(gw.port(), handshake("/chat"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 502) << line;
        EXPECT_EQ(json_field(r->body, "error"), "upstream_bad_response");
    }
    // RFC 6455's own example: this key's accept is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
    accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    client c(gw.port());
    c.send(handshake("/chat"));
    auto r = c.read_response(true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 101);
    EXPECT_EQ(r->header("upgrade"), "websocket");
}
