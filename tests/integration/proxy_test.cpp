// Proxying behaviour against the real echo upstream: what the upstream sees, what the client
// gets back, keep-alive, pipelining, pooling and both body framings.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "common.hpp"

using namespace harness;

class ProxyTest : public ::testing::Test {
protected:
    void SetUp() override {
        echo = std::make_unique<echo_server>(dir, "app");
        gw = std::make_unique<gateway>(dir, one_route_config(echo->port()));
    }
    temp_dir dir;
    std::unique_ptr<echo_server> echo;
    std::unique_ptr<gateway> gw;
};

TEST_F(ProxyTest, ForwardsMethodTargetAndAddsForwardingHeaders) {
    auto r = request(gw->port(),
                     "PATCH /a%20b/c;p?x=1&y=%2F&z HTTP/1.1\r\nHost: Api.Example.com:8443\r\n"
                     "X-Forwarded-For: 203.0.113.9\r\nContent-Length: 3\r\n\r\nabc");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json_field(r->body, "method"), "PATCH");
    EXPECT_EQ(json_field(r->body, "target"), "/a%20b/c;p?x=1&y=%2F&z");
    EXPECT_EQ(json_field(r->body, "body_bytes"), "3");
    EXPECT_EQ(echoed_header(*r, "host"), "Api.Example.com:8443");
    EXPECT_EQ(echoed_header(*r, "x-forwarded-for"), "203.0.113.9, 127.0.0.1");
    EXPECT_EQ(echoed_header(*r, "x-forwarded-proto"), "http");
    EXPECT_EQ(echoed_header(*r, "x-forwarded-host"), "Api.Example.com:8443");
    auto id = echoed_header(*r, "x-request-id");
    EXPECT_EQ(id.size(), 36u);
    EXPECT_EQ(r->header("x-request-id"), id);  // the client sees the id the upstream saw
}

TEST_F(ProxyTest, ForwardedForNamesTheClientAddressDigitForDigit) {
    // Loopback sources with one-, two- and three-digit octets and zeros.
    for (const char* source : {"127.0.0.1", "127.10.200.9", "127.255.0.99", "127.100.20.3"}) {
        client c(gw->port(), 10s, source);
        c.send(get_request("/echo"));
        auto r = c.read_response();
        ASSERT_TRUE(r) << source;
        EXPECT_EQ(echoed_header(*r, "x-forwarded-for"), source);
    }
}

TEST_F(ProxyTest, KeepsAValidRequestIdAndReplacesAnInvalidOne) {
    auto kept = request(gw->port(), get_request("/", "X-Request-Id: client-id-123\r\n"));
    ASSERT_TRUE(kept);
    EXPECT_EQ(echoed_header(*kept, "x-request-id"), "client-id-123");
    auto replaced = request(gw->port(), get_request("/", "X-Request-Id: bad id with spaces\r\n"));
    ASSERT_TRUE(replaced);
    EXPECT_EQ(echoed_header(*replaced, "x-request-id").size(), 36u);
}

TEST_F(ProxyTest, RemovesHopByHopAndConnectionNominatedHeaders) {
    auto r = request(gw->port(), get_request("/",
                                             "Connection: keep-alive, X-Secret, Content-Length\r\nX-Secret: s\r\n"
                                             "Keep-Alive: timeout=5\r\nUpgrade: websocket\r\nTE: trailers\r\n"
                                             "Proxy-Connection: keep-alive\r\nTrailer: X-T\r\nX-Kept: yes\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    for (auto name : {"connection", "x-secret", "keep-alive", "upgrade", "te", "proxy-connection", "trailer"}) {
        EXPECT_FALSE(echo_has_header(*r, name)) << name;
    }
    EXPECT_EQ(echoed_header(*r, "x-kept"), "yes");
}

TEST_F(ProxyTest, RemovesEveryConnectionNominatedHeaderHoweverMany) {
    std::string names, fields;
    for (int i = 1; i <= 12; ++i) {
        names += (i > 1 ? ", X-Hop-" : "X-Hop-") + std::to_string(i);
        fields += "X-Hop-" + std::to_string(i) + ": v\r\n";
    }
    auto r = request(gw->port(), get_request("/", "Connection: " + names + "\r\n" + fields));
    ASSERT_TRUE(r);
    for (int i = 1; i <= 12; ++i) {
        EXPECT_FALSE(echo_has_header(*r, "x-hop-" + std::to_string(i))) << i;
    }
}

TEST_F(ProxyTest, KeepAliveAndPipelinedRequestsAnsweredInOrder) {
    client c(gw->port());
    c.send(get_request("/one") + get_request("/two") +
           "POST /three HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" + get_request("/four"));
    for (auto expected : {"/one", "/two", "/three", "/four"}) {
        auto r = c.read_response();
        ASSERT_TRUE(r) << expected;
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(json_field(r->body, "target"), expected);
    }
    c.send(get_request("/five"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(json_field(r->body, "target"), "/five");
}

TEST_F(ProxyTest, PoolsUpstreamConnections) {
    for (int conn = 0; conn < 4; ++conn) {
        client c(gw->port());
        for (int i = 0; i < 50; ++i) {
            c.send(get_request("/p"));
            auto r = c.read_response();
            ASSERT_TRUE(r);
            ASSERT_EQ(r->status, 200);
        }
    }
    // 200 requests over 4 client connections: the upstream saw a handful of connections
    // (plus the stats request itself).
    EXPECT_LE(echo->connections(), 3);
}

TEST_F(ProxyTest, ChunkedRequestBodyPassesThrough) {
    client c(gw->port());
    c.send(
        "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n");
    peer_pause(50ms);  // the second half arrives separately
    c.send("1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n" + get_request("/after"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json_field(r->body, "body_bytes"), "52");
    EXPECT_EQ(json_field(r->body, "body_fnv"), pattern_fnv(52));
    EXPECT_EQ(echoed_header(*r, "transfer-encoding"), "chunked");
    auto after = c.read_response();
    ASSERT_TRUE(after);
    EXPECT_EQ(json_field(after->body, "target"), "/after");
}

TEST_F(ProxyTest, ChunkedAndLengthResponses) {
    client c(gw->port());
    c.send(get_request("/bytes/100000?chunked=1"));
    auto chunked = c.read_response();
    ASSERT_TRUE(chunked);
    EXPECT_TRUE(chunked->chunked);
    EXPECT_EQ(chunked->body.size(), 100000u);
    c.send(get_request("/bytes/70000"));
    auto sized = c.read_response();
    ASSERT_TRUE(sized);
    EXPECT_EQ(sized->header("content-length"), "70000");
    EXPECT_EQ(sized->body.size(), 70000u);
    EXPECT_EQ(sized->body.substr(0, 5), "abcde");
}

TEST_F(ProxyTest, HeadAnd204And304HaveNoBodyAndKeepTheConnection) {
    client c(gw->port());
    c.send("HEAD /bytes/5000 HTTP/1.1\r\nHost: h\r\n\r\n");
    auto head = c.read_response(true);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->header("content-length"), "5000");
    for (int code : {204, 304}) {
        c.send(get_request("/status/" + std::to_string(code)));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, code);
        EXPECT_TRUE(r->body.empty());
    }
    c.send(get_request("/last"));
    auto last = c.read_response();
    ASSERT_TRUE(last);
    EXPECT_EQ(json_field(last->body, "target"), "/last");
    EXPECT_TRUE(c.pending().empty());  // no stray body bytes were sent after HEAD/204/304
}

TEST_F(ProxyTest, ExpectContinueIsAnsweredBeforeTheBody) {
    client c(gw->port());
    c.send("PUT /e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    // The interim response arrives although no body byte was sent yet.
    EXPECT_TRUE(eventually([&] { return c.closed_within(20ms) || !c.pending().empty(); }, 5s));
    EXPECT_EQ(c.pending().rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << c.pending();
    c.send("data");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->interim, std::vector<int>{100});
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json_field(r->body, "body_bytes"), "4");
    EXPECT_FALSE(echo_has_header(*r, "expect"));
}

TEST_F(ProxyTest, ServerWideOptionsIsAnsweredByTheGateway) {
    client c(gw->port());
    c.send("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->header("allow").find("GET"), std::string::npos);
    EXPECT_EQ(r->header("content-length"), "0");
    c.send(get_request("/after"));  // the connection stays usable
    auto after = c.read_response();
    ASSERT_TRUE(after);
    EXPECT_EQ(json_field(after->body, "target"), "/after");
    EXPECT_EQ(echo->connections(), 2);  // the OPTIONS never reached the upstream
}

TEST_F(ProxyTest, UnsupportedExpectationIs417) {
    auto r = request(gw->port(), "PUT /e HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: magic\r\n\r\nx");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 417);
}

TEST_F(ProxyTest, Http10ClientGetsAnHttp10CompatibleResponse) {
    client c(gw->port());
    c.send("GET /bytes/1000?chunked=1 HTTP/1.0\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->chunked);  // HTTP/1.0 cannot take chunked: the body ends at close
    EXPECT_EQ(r->body.size(), 1000u);
    EXPECT_EQ(r->body.substr(0, 3), "abc");
    EXPECT_TRUE(c.closed_within(2s));
}

TEST_F(ProxyTest, RequestNamingNoHostReachesTheUpstreamWithTheEndpointAsHost) {
    // HTTP/1.0 may leave Host out and HTTP/1.1 may send it empty; the upstream request is
    // HTTP/1.1, which must carry a host (RFC 9112 section 3.2).
    const std::string endpoint = "127.0.0.1:" + std::to_string(echo->port());
    for (const char* raw : {"GET /h HTTP/1.0\r\n\r\n", "GET /h HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n"}) {
        auto r = request(gw->port(), raw);
        ASSERT_TRUE(r) << raw;
        EXPECT_EQ(r->status, 200) << raw;
        EXPECT_EQ(echoed_header(*r, "host"), endpoint) << raw;
        EXPECT_FALSE(echo_has_header(*r, "x-forwarded-host")) << raw;
        auto first = r->body.find("\"host\":");
        EXPECT_EQ(r->body.find("\"host\":", first + 1), std::string::npos) << "one Host only: " << r->body;
    }
}

TEST(HeadersWithUnderscores, DroppedByDefaultRejectedOrAllowedOnRequest) {
    // "X_User" reaches a CGI-style upstream as the same variable as "X-User": by default it is
    // not forwarded, so a client cannot slip past what the gateway sets or removes.
    temp_dir dir;
    echo_server echo(dir, "app");
    const std::string raw = "GET /u HTTP/1.1\r\nHost: h\r\nX_User: admin\r\nX-Kept: yes\r\nConnection: close\r\n\r\n";
    {
        gateway gw(dir, one_route_config(echo.port()));
        auto r = request(gw.port(), raw);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_FALSE(echo_has_header(*r, "x_user")) << r->body;
        EXPECT_EQ(echoed_header(*r, "x-kept"), "yes");
    }
    {
        gateway gw(dir, one_route_config(echo.port(), "  headers_with_underscores: reject\n"));
        auto r = request(gw.port(), raw);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400);
        EXPECT_NE(json_field(r->body, "message").find("X_User"), std::string::npos) << r->body;
        EXPECT_EQ(request(gw.port(), "GET /u HTTP/1.1\r\nHost: h\r\nX-User: a\r\nConnection: close\r\n\r\n")->status,
                  200);
    }
    {
        gateway gw(dir, one_route_config(echo.port(), "  headers_with_underscores: allow\n"));
        auto r = request(gw.port(), raw);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(echoed_header(*r, "x_user"), "admin");
    }
}

TEST_F(ProxyTest, Http10KeepAliveWithLength) {
    client c(gw->port());
    c.send("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "keep-alive");
    EXPECT_EQ(json_field(r->body, "version"), "1.1");  // upstream requests always speak 1.1
    c.send("GET /y HTTP/1.0\r\n\r\n");
    auto second = c.read_response();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->header("connection"), "close");
    EXPECT_TRUE(c.closed_within(2s));
}

TEST_F(ProxyTest, ConnectionCloseIsHonoured) {
    client c(gw->port());
    c.send(get_request("/c", "Connection: close\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.closed_within(2s));
}

// From its second request on, a kept-alive connection whose last read drained the socket
// waits for epoll instead of trying a read first. A client that half-closes after its last
// request must still get its answer and then a close at once, not after the idle timeout
// (60 s here): the FIN in the request's own segment (corked), right after it, or later alone.
TEST_F(ProxyTest, HalfClosingKeptAliveClientGetsItsAnswerThenAClose) {
    for (int i = 0; i < 30; ++i) {
        client c(gw->port());
        for (int n = 0; n < 3; ++n) {
            c.send(get_request("/kept"));
            ASSERT_TRUE(c.read_response()) << i;
        }
        const bool corked = i % 3 == 0;
        const bool fin_later = i % 3 == 2;
        int on = 1;
        if (corked) ::setsockopt(c.fd(), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
        c.send(get_request("/last"));
        if (!fin_later) ::shutdown(c.fd(), SHUT_WR);
        auto r = c.read_response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(json_field(r->body, "target"), "/last");
        if (fin_later) ::shutdown(c.fd(), SHUT_WR);
        EXPECT_TRUE(c.closed_within(5s)) << "connection " << i << (corked ? " (FIN with the request)" : "");
    }
}

// A request that reaches the gateway while the previous one is still at the upstream is read
// and answered after it, on a connection whose reads otherwise wait for epoll.
TEST_F(ProxyTest, RequestArrivingDuringAnExchangeIsAnsweredNext) {
    client c(gw->port());
    for (int n = 0; n < 3; ++n) {
        c.send(get_request("/kept"));
        ASSERT_TRUE(c.read_response());
    }
    for (int n = 0; n < 3; ++n) {
        c.send(get_request("/delay/200"));
        EXPECT_TRUE(eventually([&] { return echo->in_flight() == 1; }));  // /delay/200 waits at the upstream
        c.send(get_request("/next"));
        auto first = c.read_response();
        ASSERT_TRUE(first);
        EXPECT_EQ(json_field(first->body, "target"), "/delay/200");
        auto second = c.read_response();
        ASSERT_TRUE(second) << "the request sent during the exchange was never read";
        EXPECT_EQ(json_field(second->body, "target"), "/next");
    }
}

TEST(Routing, RoutesByHostPathMethodAndRewrites) {
    temp_dir dir;
    echo_server users(dir, "users"), orders(dir, "orders");
    gateway gw(dir,
               "server: { listen: \"127.0.0.1:0\", workers: 1 }\nlogging: { level: info }\nupstreams:\n"
               "  users: { endpoints: [\"127.0.0.1:" +
                   std::to_string(users.port()) +
                   "\"] }\n"
                   "  orders: { endpoints: [\"localhost:" +
                   std::to_string(orders.port()) +
                   "\"] }\n"
                   "routes:\n"
                   "  - name: user\n    upstream: users\n    match: { template: \"/api/users/{id}\", methods: [GET] }\n"
                   "    strip_prefix: /api/users\n    replace_prefix: /v2/people\n"
                   "    host_rewrite: users.internal\n"
                   "    request_headers: { set: { X-Route: user }, remove: [Cookie] }\n"
                   "    response_headers: { set: { X-Served-By: gatehouse }, remove: [X-Echo-Service] }\n"
                   "  - name: orders\n    upstream: orders\n    match: { host: \"*.shop.test\", prefix: /api }\n"
                   "  - name: fallback\n    upstream: users\n    match: { prefix: /, headers: { X-Beta: \"1\" } }\n");
    auto user = request(gw.port(), get_request("/api/users/42?full=1", "Cookie: secret\r\n"));
    ASSERT_TRUE(user);
    EXPECT_EQ(user->status, 200);
    EXPECT_EQ(json_field(user->body, "service"), "users");
    EXPECT_EQ(json_field(user->body, "target"), "/v2/people/42?full=1");
    EXPECT_EQ(echoed_header(*user, "host"), "users.internal");
    EXPECT_EQ(echoed_header(*user, "x-route"), "user");
    EXPECT_FALSE(echo_has_header(*user, "cookie"));
    EXPECT_EQ(user->header("x-served-by"), "gatehouse");
    EXPECT_FALSE(user->has("x-echo-service"));

    auto post = request(gw.port(), "POST /api/users/42 HTTP/1.1\r\nHost: test.local\r\nContent-Length: 0\r\n\r\n");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 404);  // the user route only takes GET
    EXPECT_EQ(post->header("content-type"), "application/json");
    EXPECT_EQ(json_field(post->body, "error"), "route_not_found");
    EXPECT_EQ(json_field(post->body, "request_id"), post->header("x-request-id"));

    auto order = request(gw.port(), "GET /api/orders/1 HTTP/1.1\r\nHost: EU.Shop.Test:8080\r\n\r\n");
    ASSERT_TRUE(order);
    EXPECT_EQ(json_field(order->body, "service"), "orders");  // resolved from "localhost"

    auto beta = request(gw.port(), get_request("/anything", "X-Beta: 1\r\n"));
    ASSERT_TRUE(beta);
    EXPECT_EQ(beta->status, 200);
    auto no_beta = request(gw.port(), get_request("/anything"));
    ASSERT_TRUE(no_beta);
    EXPECT_EQ(no_beta->status, 404);
}

TEST(LoadBalancing, RoundRobinSpreadsAndIpHashSticks) {
    temp_dir dir;
    echo_server a(dir, "a"), b(dir, "b");
    auto cfg = [&](const std::string& policy) {
        return "server: { listen: \"127.0.0.1:0\", workers: 1 }\nlogging: { level: info }\nupstreams:\n  app:\n"
               "    endpoints: [\"127.0.0.1:" +
               std::to_string(a.port()) + "\", \"127.0.0.1:" + std::to_string(b.port()) +
               "\"]\n    load_balancing: " + policy + "\nroutes: [ { name: r, upstream: app } ]\n";
    };
    for (auto policy : {"round_robin", "random", "least_request", "ip_hash"}) {
        gateway gw(dir, cfg(policy));
        std::map<std::string, int> seen;
        client c(gw.port());
        for (int i = 0; i < 40; ++i) {
            c.send(get_request("/"));
            auto r = c.read_response();
            ASSERT_TRUE(r);
            ++seen[json_field(r->body, "service")];
        }
        if (std::string(policy) == "ip_hash") {
            EXPECT_EQ(seen.size(), 1u) << policy;
        } else if (std::string(policy) == "round_robin") {
            EXPECT_EQ(seen["a"], 20) << policy;
            EXPECT_EQ(seen["b"], 20) << policy;
        } else {
            EXPECT_EQ(seen.size(), 2u) << policy;
        }
    }
}
