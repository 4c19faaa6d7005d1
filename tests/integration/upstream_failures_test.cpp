// Upstream failures: each gets 502, 503 or 504 with a JSON body carrying the request id.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.hpp"

using namespace harness;

namespace {

void expect_error_reply(const std::optional<response>& r, int status, const std::string& error) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->header("content-type"), "application/json");
    EXPECT_EQ(json_field(r->body, "error"), error) << r->body;
    EXPECT_EQ(json_field(r->body, "request_id"), r->header("x-request-id"));
    EXPECT_FALSE(r->header("x-request-id").empty());
}

}  // namespace

// Nothing answered, as Envoy and HAProxy say it: the service is unavailable (nothing invalid
// came back, which 502 would mean).
TEST(UpstreamFailures, ConnectionRefusedIs503) {
    temp_dir dir;
    gateway gw(dir, one_route_config(static_cast<std::uint16_t>(free_port())));
    expect_error_reply(request(gw.port(), get_request("/")), 503, "upstream_connect_failed");
}

TEST(UpstreamFailures, ConnectFailureTriesAnotherEndpoint) {
    temp_dir dir;
    echo_server echo(dir);
    gateway gw(dir,
               "server: { listen: \"127.0.0.1:0\", workers: 1 }\nlogging: { level: info }\nupstreams:\n  app:\n"
               "    endpoints: [\"127.0.0.1:" +
                   std::to_string(free_port()) + "\", \"127.0.0.1:" + std::to_string(echo.port()) +
                   "\"]\n    retries: 1\nroutes: [ { name: r, upstream: app } ]\n");
    for (int i = 0; i < 6; ++i) {
        auto r = request(gw.port(), get_request("/"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << i;
    }
}

TEST(UpstreamFailures, ConnectTimeoutIs503) {
    temp_dir dir;
    raw_upstream blackhole(nullptr, 0);  // listens but never accepts
    // Fill the accept queue (non-blocking connects) so that further SYNs are dropped.
    std::vector<int> fillers;
    for (int i = 0; i < 3; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(blackhole.port());
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        fillers.push_back(fd);
    }
    peer_pause(100ms);  // the fillers' handshakes complete and fill the backlog
    gateway gw(dir, one_route_config(blackhole.port(), "", "", "    connect_timeout: 300ms\n    retries: 0\n"));
    auto start = std::chrono::steady_clock::now();
    expect_error_reply(request(gw.port(), get_request("/")), 503, "upstream_connect_timeout");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    for (int fd : fillers) ::close(fd);
}

TEST(UpstreamFailures, SlowUpstreamIs504AfterTheRouteTimeout) {
    temp_dir dir;
    echo_server echo(dir);
    gateway gw(dir, one_route_config(echo.port(), "", "    timeout: 400ms\n"));
    auto start = std::chrono::steady_clock::now();
    expect_error_reply(request(gw.port(), get_request("/delay/3000")), 504, "upstream_timeout");
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 350ms);
    EXPECT_LT(took, 2500ms);
}

TEST(UpstreamFailures, HangingUpstreamIs504) {
    temp_dir dir;
    raw_upstream hang([](int fd) {
        recv_request(fd);
        char b;
        ::recv(fd, &b, 1, 0);  // never answers (until the test ends)
    });
    gateway gw(dir, one_route_config(hang.port(), "", "    timeout: 300ms\n"));
    expect_error_reply(request(gw.port(), get_request("/")), 504, "upstream_timeout");
}

TEST(UpstreamFailures, UpstreamClosingOrResettingIs502) {
    temp_dir dir;
    raw_upstream closer([](int fd) { recv_request(fd); });  // reads, then closes without answering
    gateway gw1(dir, one_route_config(closer.port()));
    expect_error_reply(request(gw1.port(), get_request("/")), 502, "upstream_reset");

    raw_upstream resetter([](int fd) {
        recv_request(fd);
        linger l{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(::dup(fd));
        ::shutdown(fd, SHUT_RDWR);
    });
    gateway gw2(dir, one_route_config(resetter.port()));
    auto r = request(gw2.port(), get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 502);
}

TEST(UpstreamFailures, UpstreamDyingMidBodyClosesTheClient) {
    temp_dir dir;
    raw_upstream partial([](int fd) {
        recv_request(fd);
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
        ::shutdown(fd, SHUT_RDWR);
    });
    gateway gw(dir, one_route_config(partial.port()));
    client c(gw.port());
    c.send(get_request("/"));
    auto r = c.read_response();
    EXPECT_FALSE(r.has_value());  // truncated: the client must not see a complete response
    EXPECT_TRUE(c.closed_within(2s));
}

TEST(UpstreamFailures, HeadWithoutItsBodyIs502Not200) {
    // The head is held until its body starts, so an upstream that dies in between still gets
    // the client a proper error instead of a 200 head and a cut connection.
    temp_dir dir;
    raw_upstream dies([](int fd) {
        recv_request(fd);
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
        peer_pause(50ms);
        ::shutdown(fd, SHUT_RDWR);
    });
    gateway gw(dir, one_route_config(dies.port()));
    expect_error_reply(request(gw.port(), get_request("/")), 502, "upstream_reset");
}

TEST(UpstreamFailures, HeadAndBodyInSeparateWritesArriveAsOneResponse) {
    temp_dir dir;
    raw_upstream split([](int fd) {
        while (!recv_request(fd).empty()) {
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
            peer_pause(100ms);
            send_all(fd, "hello");
        }
    });
    gateway gw(dir, one_route_config(split.port()));
    client c(gw.port());
    for (int i = 0; i < 2; ++i) {
        c.send(get_request("/"));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "hello");
    }
    EXPECT_EQ(split.connections(), 1);  // the upstream connection was reused after the wait
}

// An upstream may answer before the request body has all arrived (RFC 9112 section 9.5): the
// answer, sent while the gateway still streams the body, is read once the body is through.
// (The gateway waits for the response with epoll alone from the moment the request head left,
// so an answer that arrives any time after that must not be missed.)
TEST(UpstreamFailures, AnswerSentBeforeTheBodyEndsIsForwarded) {
    temp_dir dir;
    raw_upstream early([](int fd) {
        for (;;) {
            std::string head;
            char ch;
            while (head.find("\r\n\r\n") == std::string::npos) {
                if (::recv(fd, &ch, 1, 0) != 1) return;
                head += ch;
            }
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly");
            for (int body = 0; body < 10;) {  // then the body, Content-Length: 10
                char chunk[16];
                auto n = ::recv(fd, chunk, static_cast<std::size_t>(10 - body), 0);
                if (n <= 0) return;
                body += static_cast<int>(n);
            }
        }
    });
    gateway gw(dir, one_route_config(early.port()));
    client c(gw.port());
    for (int i = 0; i < 3; ++i) {
        c.send("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234");
        peer_pause(150ms);  // the answer reaches the gateway before the body's end
        c.send("56789");
        auto r = c.read_response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "early");
    }
    EXPECT_EQ(early.connections(), 1);
}

TEST(UpstreamFailures, PoolExhaustedIs503AfterMaxWait) {
    temp_dir dir;
    echo_server echo(dir);
    gateway gw(dir, one_route_config(echo.port(), "", "", "    pool: { max_connections: 1, max_wait: 200ms }\n"));
    client slow(gw.port());
    slow.send(get_request("/delay/1500"));
    EXPECT_TRUE(eventually([&] { return echo.in_flight() == 1; }));  // holding the only connection
    expect_error_reply(request(gw.port(), get_request("/")), 503, "upstream_pool_exhausted");
    auto r = slow.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    // Once the slot frees up, a waiting request gets it.
    client waiter(gw.port());
    slow.send(get_request("/delay/100"));
    EXPECT_TRUE(eventually([&] { return echo.in_flight() == 1; }));
    waiter.send(get_request("/quick"));
    auto w = waiter.read_response();
    ASSERT_TRUE(w);
    EXPECT_EQ(w->status, 200);
}

TEST(UpstreamFailures, IdleConnectionClosedByUpstreamIsNotUsed) {
    temp_dir dir;
    // Serves one request per connection, keep-alive in words, then closes shortly after.
    raw_upstream up([](int fd) {
        if (!recv_request(fd).empty()) {
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            peer_pause(50ms);  // then closes, the connection idle in the gateway's pool
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    for (int i = 0; i < 5; ++i) {
        auto r = request(gw.port(), get_request("/"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << i;
        EXPECT_TRUE(eventually([&] { return up.finished() == i + 1; }));  // the upstream closed it
    }
    EXPECT_EQ(up.connections(), 5);
}

TEST(UpstreamFailures, StaleReusedConnectionIsRetriedOnAFreshOne) {
    temp_dir dir;
    // Answers once, then on the second request on the same connection closes without a reply:
    // to the gateway this looks exactly like a keep-alive race.
    raw_upstream up([](int fd) {
        if (!recv_request(fd).empty()) {
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            recv_request(fd);
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    for (int i = 0; i < 3; ++i) {
        auto r = request(gw.port(), get_request("/"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << i;
    }
    // A PUT with a body is replayable because it is idempotent and its whole body was still
    // buffered.
    auto put = request(gw.port(), "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    ASSERT_TRUE(put);
    EXPECT_EQ(put->status, 200);
}

// RFC 9110 section 9.2.2: a POST that reached the upstream whole may have been acted on even if
// no answer came back, so it is never sent a second time.
TEST(UpstreamFailures, PostIsNotResentAfterAReusedConnectionDied) {
    temp_dir dir;
    std::atomic<int> posts{0};
    raw_upstream up([&](int fd) {
        for (int n = 0;; ++n) {
            auto req = recv_request(fd);
            if (req.empty()) return;
            if (req.starts_with("POST")) ++posts;
            if (n == 1) return;  // the second request on a connection: read whole, then closed
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    auto first = request(gw.port(), get_request("/"));
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    auto post = request(gw.port(), "POST /orders HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 502) << post->body;
    EXPECT_EQ(json_field(post->body, "error"), "upstream_reset");
    peer_pause(50ms);  // the grace in which a resent POST would have arrived
    EXPECT_EQ(posts.load(), 1) << "the POST was sent twice";
}

TEST(UpstreamFailures, UnresolvableNameIs503AndTheGatewayKeepsRunning) {
    temp_dir dir;
    gateway gw(dir,
               "server: { listen: \"127.0.0.1:0\", workers: 1 }\nlogging: { level: info }\nupstreams:\n"
               "  app: { endpoints: [\"no-such-host.invalid:80\"], dns_refresh: 500ms }\n"
               "routes: [ { name: r, upstream: app } ]\n");
    expect_error_reply(request(gw.port(), get_request("/")), 503, "no_upstream_available");
    EXPECT_TRUE(gw.proc().running());
}

TEST(UpstreamPool, IdleConnectionsAreClosedAfterIdleTimeout) {
    temp_dir dir;
    echo_server echo(dir);
    gateway gw(dir, one_route_config(echo.port(), "", "", "    pool: { idle_timeout: 300ms }\n"));
    ASSERT_TRUE(request(gw.port(), get_request("/")));
    ASSERT_TRUE(request(gw.port(), get_request("/")));
    EXPECT_EQ(echo.connections() - 1, 1);  // reused (minus the stats request's own connection)
    // The pool's sweep (every second) closes it once idle_timeout has passed.
    wait_for_metrics(gw.admin_port(), {"gatehouse_upstream_connections{upstream=\"app\",state=\"idle\"} 1"});
    wait_for_metrics(gw.admin_port(), {"gatehouse_upstream_connections{upstream=\"app\",state=\"idle\"} 0"});
    ASSERT_TRUE(request(gw.port(), get_request("/")));
    EXPECT_EQ(echo.connections() - 2, 2);  // the idle one was closed: a new connection
}

TEST(UpstreamPool, MaxIdleBoundsKeptConnections) {
    temp_dir dir;
    echo_server echo(dir);
    gateway gw(dir, one_route_config(echo.port(), "", "", "    pool: { max_idle: 1 }\n"));
    // Three concurrent slow requests need three connections; only one stays pooled after.
    std::vector<std::unique_ptr<client>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<client>(gw.port()));
        clients.back()->send(get_request("/delay/200"));
    }
    for (auto& c : clients) {
        ASSERT_TRUE(c->read_response());
    }
    long before = echo.connections();  // 3 upstream + 1 stats
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(request(gw.port(), get_request("/")));
    }
    EXPECT_EQ(echo.connections(), before + 1);  // sequential requests reuse the single idle one
}
