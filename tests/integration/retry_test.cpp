// The upstream retry policy through the real binary: a 503 endpoint, a dead one and a hanging
// one next to healthy echo servers; what is retried (idempotent requests whose body is still
// held), what is not (a POST whose body reached an upstream), the per-try timeout, the budget.
#include <csignal>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "common.hpp"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// Answers every request on a connection with status (and counts them).
struct answering_upstream {
    explicit answering_upstream(int status, std::chrono::milliseconds delay = 0ms)
        : server([this, status, delay](int fd) {
              while (!recv_request(fd, &server).empty()) {
                  ++requests;
                  if (delay.count() > 0) {
                      std::this_thread::sleep_for(delay);
                      if (status == 0) return;  // no answer: the connection just closes
                  }
                  if (status == 0) return;
                  send_all(fd, "HTTP/1.1 " + std::to_string(status) + " Nope\r\nContent-Length: 4\r\n\r\nnope");
              }
          }) {}
    std::atomic<int> requests{0};
    raw_upstream server;
};

std::string retry_config(const std::vector<std::uint16_t>& ports, const std::string& retry,
                         const std::string& route_extra = "", const std::string& extra = "") {
    std::string endpoints;
    for (auto p : ports)
        endpoints += (endpoints.empty() ? "\"127.0.0.1:" : ", \"127.0.0.1:") + std::to_string(p) + "\"";
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\nlogging: { level: info }\n" + extra +
           "upstreams:\n  app:\n    endpoints: [" + endpoints + "]\n    retry: " + retry +
           "\nroutes:\n  - { name: app, upstream: app" + route_extra + " }\n";
}

TEST(Retry, A503AndADeadEndpointAreRetriedOnAHealthyOne) {
    temp_dir dir;
    answering_upstream unavailable(503);
    echo_server echo(dir);
    const auto log_file = dir.path() + "/access.log";
    gateway gw(dir, retry_config({unavailable.server.port(), echo.port(), 1},
                                 "{ attempts: 2, backoff: { base: 0ms, max: 0ms } }", "",
                                 "filters: { log: { type: access_log, output: \"" + log_file +
                                     "\", flush: 100ms, fields: [path, status, tries] } }\ndefault_filters: [log]\n"));
    for (int i = 0; i < 12; ++i) {
        auto r = request(gw.port(), get_request("/get/" + std::to_string(i)));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
    }
    EXPECT_GT(unavailable.requests, 0);
    // An idempotent request with a body is sent again whole.
    const std::string body(3000, 'p');
    for (int i = 0; i < 6; ++i) {
        auto r = request(gw.port(), "PUT /put HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n" + body);
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200) << r->body;
        EXPECT_EQ(json_field(r->body, "body_bytes"), "3000");
    }
    auto metrics =
        wait_for_metrics(gw.admin_port(), {"gatehouse_upstream_retries_total{upstream=\"app\",reason=\"status\"}"});
    EXPECT_EQ(metrics.find("gatehouse_upstream_retries_total{upstream=\"app\",reason=\"status\"} 0"), std::string::npos)
        << metrics;
    EXPECT_EQ(metrics.find("gatehouse_upstream_retries_total{upstream=\"app\",reason=\"connect_failure\"} 0"),
              std::string::npos)
        << metrics;
    // The access log names every endpoint a request went to.
    ASSERT_TRUE(eventually([&] { return read_file(log_file).find("\"/put\"") != std::string::npos; }));
    auto log = read_file(log_file);
    // Each request starts one endpoint further (a retry takes the next one): from the dead
    // endpoint on to the 503 one and the echo; from the 503 one to the echo; the echo at once.
    const auto busy = "\"127.0.0.1:" + std::to_string(unavailable.server.port()) + "\"";
    const auto good = "\"127.0.0.1:" + std::to_string(echo.port()) + "\"";
    EXPECT_NE(log.find("\"status\":200,\"tries\":3,\"tried\":[\"127.0.0.1:1\"," + busy + "," + good + "]"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("\"status\":200,\"tries\":2,\"tried\":[" + busy + "," + good + "]"), std::string::npos) << log;
    EXPECT_NE(log.find("\"status\":200,\"tries\":1}"), std::string::npos) << log;
}

TEST(Retry, APostIsNotRetriedOnceItsBodyReachedAnUpstreamUnlessTheRouteAllowsIt) {
    temp_dir dir;
    answering_upstream unavailable(503);
    echo_server echo(dir);
    const auto post = "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    {
        gateway gw(dir, retry_config({unavailable.server.port(), echo.port()}, "{ backoff: { base: 0ms, max: 0ms } }"));
        int refused = 0;
        for (int i = 0; i < 8; ++i) {
            auto r = request(gw.port(), post);
            ASSERT_TRUE(r);
            if (r->status == 503) ++refused;
        }
        EXPECT_GT(refused, 0);
        EXPECT_EQ(refused, unavailable.requests.load());  // each POST the 503 endpoint saw came back as is
    }
    gateway gw(dir, retry_config({unavailable.server.port(), echo.port()}, "{ backoff: { base: 0ms, max: 0ms } }",
                                 ", retry_non_idempotent: true"));
    for (int i = 0; i < 8; ++i) {
        auto r = request(gw.port(), post);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
        EXPECT_EQ(json_field(r->body, "body_bytes"), "5");
    }
}

// A body that arrives in pieces is kept whole (up to retry.max_body) so a retry can send it
// again; a larger one streams through and is not retried.
TEST(Retry, ABodyUpToMaxBodyIsKeptForARetryEvenWhenItArrivesInPieces) {
    temp_dir dir;
    answering_upstream unavailable(503);
    echo_server echo(dir);
    const std::string part(15000, 'b');
    auto put_in_two_pieces = [&](std::uint16_t port) {
        client c(port);
        c.send("PUT /doc HTTP/1.1\r\nHost: x\r\nContent-Length: 30000\r\n\r\n" + part);
        peer_pause(100ms);
        c.send(part);
        return c.read_response();
    };
    {
        gateway gw(dir, retry_config({unavailable.server.port(), echo.port()}, "{ backoff: { base: 0ms, max: 0ms } }"));
        for (int i = 0; i < 4; ++i) {
            auto r = put_in_two_pieces(gw.port());
            ASSERT_TRUE(r);
            EXPECT_EQ(r->status, 200) << r->body;
            EXPECT_EQ(json_field(r->body, "body_bytes"), "30000");
        }
        EXPECT_GT(unavailable.requests, 0);
    }
    const int before = unavailable.requests;
    gateway gw(dir, retry_config({unavailable.server.port(), echo.port()},
                                 "{ max_body: 8KiB, backoff: { base: 0ms, max: 0ms } }"));
    int refused = 0;
    for (int i = 0; i < 4; ++i) {
        auto r = put_in_two_pieces(gw.port());
        ASSERT_TRUE(r);
        if (r->status == 503) ++refused;
    }
    EXPECT_GT(refused, 0);
    EXPECT_EQ(refused, unavailable.requests - before);
}

TEST(Retry, APerTryTimeoutMovesOffAHangingEndpoint) {
    temp_dir dir;
    answering_upstream hanging(0, 3000ms);  // reads the request, says nothing for 3 s
    echo_server echo(dir);
    gateway gw(dir, retry_config({hanging.server.port(), echo.port()},
                                 "{ per_try_timeout: 300ms, backoff: { base: 0ms, max: 0ms } }", ", timeout: 2s"));
    for (int i = 0; i < 4; ++i) {
        auto r = request(gw.port(), get_request("/x"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;  // within the route's 2 s: the hanging try was cut at 300 ms
    }
    EXPECT_GT(hanging.requests, 0);
    // Only hanging endpoints: every try times out, and the answer is the gateway's 504.
    answering_upstream other_hanging(0, 3000ms);
    gateway stuck(dir, retry_config({hanging.server.port(), other_hanging.server.port()},
                                    "{ attempts: 1, per_try_timeout: 300ms }", ", timeout: 2s"));
    auto r = request(stuck.port(), get_request("/y"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 504);
    EXPECT_EQ(json_field(r->body, "error"), "upstream_timeout");
}

TEST(Retry, TheBudgetCapsRetriesWhenEveryEndpointFails) {
    temp_dir dir;
    answering_upstream failing(0, 300ms);  // takes the request, closes after 300 ms without answering
    gateway gw(dir,
               retry_config({failing.server.port()}, "{ attempts: 3, on: [reset], backoff: { base: 0ms, max: 0ms } }"));
    constexpr int clients = 20;
    std::vector<std::thread> threads;
    std::atomic<int> bad_gateway{0};
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&] {
            auto r = request(gw.port(), get_request("/z"));
            if (r && r->status == 502) ++bad_gateway;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(bad_gateway, clients);
    // Unbudgeted, 20 requests with 3 retries each would make 80 tries; the budget (20% of 20
    // in flight, at least 3) lets a few retry at a time.
    EXPECT_LT(failing.requests, 50);
    EXPECT_GE(failing.requests, clients);
    auto metrics = wait_for_metrics(gw.admin_port(), {"gatehouse_upstream_retry_budget_exhausted_total"});
    EXPECT_EQ(metrics.find("gatehouse_upstream_retry_budget_exhausted_total{upstream=\"app\"} 0"), std::string::npos)
        << metrics;
}

TEST(Retry, WithEveryEndpointDownRetriesStopAtTheBudgetAndClientsGet503AtOnce) {
    temp_dir dir;
    const auto log_file = dir.path() + "/access.log";
    // Three refused ports. The backoff holds a retry's budget slot for a while (up to 200 ms),
    // so clients arriving together find the budget spent.
    gateway gw(dir,
               retry_config({static_cast<std::uint16_t>(free_port()), static_cast<std::uint16_t>(free_port()),
                             static_cast<std::uint16_t>(free_port())},
                            "{ attempts: 2, backoff: { base: 200ms, max: 200ms } }", "",
                            "filters: { log: { type: access_log, output: \"" + log_file +
                                "\", flush: 100ms, fields: [status, reason, tries] } }\ndefault_filters: [log]\n"));
    constexpr int clients = 30;
    std::vector<std::thread> threads;
    std::atomic<int> unavailable{0};
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&] {
            auto r = request(gw.port(), get_request("/down"));
            if (r && r->status == 503 && json_field(r->body, "error") == "upstream_connect_failed") ++unavailable;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(unavailable, clients);
    // Each try at a down endpoint is one connection attempt: unbudgeted, 30 requests with two
    // retries each would make 90.
    auto lines = wait_for_lines(log_file, clients);
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(clients));
    int attempts = 0, without_retry = 0;
    for (const auto& line : lines) {
        const int tries = std::atoi(json_field(line, "tries").c_str());
        EXPECT_GE(tries, 1) << line;
        EXPECT_LE(tries, 3) << line;
        attempts += tries;
        if (tries == 1) ++without_retry;  // refused a retry: the 503 came at once
    }
    EXPECT_LT(attempts, 60);
    EXPECT_GT(without_retry, clients / 2);
    auto metrics = wait_for_metrics(gw.admin_port(), {"gatehouse_upstream_retry_budget_exhausted_total"});
    EXPECT_EQ(metrics.find("gatehouse_upstream_retry_budget_exhausted_total{upstream=\"app\"} 0"), std::string::npos)
        << metrics;
}

TEST(Retry, A503IsNotRetriedSoonerThanItsRetryAfterSays) {
    temp_dir dir;
    // Busy for every other request: a retry (on the same, only endpoint) gets a 200.
    std::atomic<int> asked{0};
    std::string retry_after = "1";
    raw_upstream later([&](int fd) {
        while (!recv_request(fd).empty()) {
            if (asked++ % 2 == 0) {
                send_all(fd, "HTTP/1.1 503 Busy\r\nRetry-After: " + retry_after + "\r\nContent-Length: 4\r\n\r\nbusy");
            } else {
                send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        }
    });
    const auto retry = "{ attempts: 1, backoff: { base: 0ms, max: 0ms } }";
    {
        gateway gw(dir, retry_config({later.port()}, retry));
        const auto start = std::chrono::steady_clock::now();
        auto r = request(gw.port(), get_request("/soon"));
        const auto waited = std::chrono::steady_clock::now() - start;
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;  // retried, but only after the second it asked for
        EXPECT_GE(waited, 1000ms);
        EXPECT_EQ(asked, 2);
    }
    {
        // A second beyond the route's time left: not retried; the upstream's answer goes out.
        gateway gw(dir, retry_config({later.port()}, retry, ", timeout: 500ms"));
        auto r = request(gw.port(), get_request("/soon"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 503);
        EXPECT_EQ(r->body, "busy");
        EXPECT_EQ(r->header("retry-after"), "1");
        EXPECT_EQ(asked, 3);
    }
    asked = 0;
    retry_after = "Fri, 31 Dec 2100 23:59:59 GMT";  // a date: not retried at all
    gateway gw(dir, retry_config({later.port()}, retry));
    auto r = request(gw.port(), get_request("/date"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body, "busy");
    EXPECT_EQ(asked, 1);
}

TEST(Retry, AnAnswerThatStartedStreamingToTheClientIsNeverRetried) {
    temp_dir dir;
    std::atomic<int> asked{0};
    raw_upstream cut([&](int fd) {
        if (recv_request(fd).empty()) return;
        ++asked;
        // The head and part of the body, then the connection ends.
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(5000, 'x'));
        peer_pause(100ms);
    });
    gateway gw(dir,
               retry_config({cut.port()}, "{ attempts: 2, on: [reset, 502, 503], backoff: { base: 0ms, max: 0ms } }"));
    client c(gw.port());
    c.send(get_request("/stream"));
    const auto received = c.read_all(5s);
    EXPECT_TRUE(received.starts_with("HTTP/1.1 200 OK\r\n")) << received.substr(0, 200);
    EXPECT_LT(received.size(), 100000u);  // cut short, the connection closed: never a second answer
    EXPECT_EQ(received.find("HTTP/1.1", 10), std::string::npos);
    EXPECT_EQ(asked, 1);
}

}  // namespace

namespace {

std::string upstream_config(const std::vector<std::uint16_t>& ports, const std::string& extra) {
    std::string endpoints;
    for (auto p : ports)
        endpoints += (endpoints.empty() ? "\"127.0.0.1:" : ", \"127.0.0.1:") + std::to_string(p) + "\"";
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\nlogging: { level: info }\nupstreams:\n  app:\n"
           "    endpoints: [" +
           endpoints + "]\n" + extra + "routes:\n  - { name: app, upstream: app }\n";
}

}  // namespace

TEST(Outlier, AnEndpointFailingInARowIsEjectedAndTheOthersCarryOn) {
    temp_dir dir;
    answering_upstream unavailable(503);
    echo_server echo(dir);
    gateway gw(dir, upstream_config({unavailable.server.port(), echo.port()},
                                    "    outlier: { consecutive_failures: 3, base_ejection: 30s }\n"));
    int errors = 0;
    for (int i = 0; i < 20; ++i) {
        auto r = request(gw.port(), get_request("/o"));
        ASSERT_TRUE(r);
        if (r->status != 200) ++errors;
    }
    EXPECT_EQ(unavailable.requests, 3);  // three 503s in a row, then it is out
    EXPECT_EQ(errors, 3);
    EXPECT_TRUE(gw.proc().wait_for_log("ejected for 30 s after 3 failures in a row"));
    const auto ep = "endpoint=\"127.0.0.1:" + std::to_string(unavailable.server.port()) + "\"";
    auto metrics = wait_for_metrics(gw.admin_port(), {"gatehouse_upstream_ejections_total{upstream=\"app\"} 1"});
    EXPECT_NE(metrics.find("gatehouse_upstream_endpoint_ejected{upstream=\"app\"," + ep + "} 1"), std::string::npos)
        << metrics;
    // /upstreams says which endpoint is out, until when and why. Connection counts are the
    // workers' as of their last sweep (about a second): wait for the one after the ejection.
    std::optional<response> page;
    std::string entry;
    const auto bad_endpoint = "\"endpoint\":\"127.0.0.1:" + std::to_string(unavailable.server.port()) + "\"";
    eventually([&] {
        page = request(gw.admin_port(), "GET /upstreams HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        if (!page) return false;
        const auto at = page->body.find(bad_endpoint);
        entry = at == std::string::npos ? "" : page->body.substr(at, page->body.find("\"endpoint\":", at + 1) - at);
        return entry.find("\"connections\":{\"active\":0,\"idle\":0}") != std::string::npos;
    });
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    ASSERT_FALSE(entry.empty()) << page->body;
    EXPECT_NE(entry.find("\"ejected\":true"), std::string::npos) << entry;
    EXPECT_NE(entry.find("\"ejected_until\":\"20"), std::string::npos) << entry;
    EXPECT_NE(entry.find("\"ejected_because\":\"3 failures in a row\""), std::string::npos) << entry;
    EXPECT_NE(entry.find("\"failures\":{\"total\":3,\"last\":\"5xx\",\"last_at\":\"20"), std::string::npos) << entry;
    EXPECT_NE(entry.find("\"connections\":{\"active\":0,\"idle\":0}"), std::string::npos) << entry;
    const auto good = page->body.find("\"endpoint\":\"127.0.0.1:" + std::to_string(echo.port()) + "\"");
    ASSERT_NE(good, std::string::npos) << page->body;
    EXPECT_NE(page->body.find("\"ejected\":false", good), std::string::npos) << page->body;
    EXPECT_NE(page->body.find("\"failures\":{\"total\":0}", good), std::string::npos) << page->body;
    EXPECT_NE(metrics.find("gatehouse_upstream_endpoint_failures_total{upstream=\"app\"," + ep + "} 3"),
              std::string::npos)
        << metrics;
    EXPECT_NE(page->body.find("\"ejections_total\":1"), std::string::npos) << page->body;
}

TEST(Outlier, WithRetriesClientsSeeNoErrorAndBelowThePanicThresholdEveryEndpointServes) {
    temp_dir dir;
    answering_upstream unavailable(503);
    echo_server echo(dir);
    gateway gw(dir, upstream_config({unavailable.server.port(), echo.port()},
                                    "    outlier: { consecutive_failures: 2 }\n"
                                    "    retry: { backoff: { base: 0ms, max: 0ms } }\n"));
    for (int i = 0; i < 10; ++i) {
        auto r = request(gw.port(), get_request("/r"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
    }
    EXPECT_EQ(unavailable.requests, 2);
    // Both endpoints failing: once one is out, the other's failures would leave nothing in;
    // below the panic threshold (50%) ejection is ignored and both keep getting requests.
    answering_upstream other(503);
    gateway panic(dir, upstream_config({unavailable.server.port(), other.server.port()},
                                       "    outlier: { consecutive_failures: 1, max_ejected_percent: 100 }\n"));
    const int before = unavailable.requests + other.requests;
    for (int i = 0; i < 10; ++i) {
        auto r = request(panic.port(), get_request("/p"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 503);
        EXPECT_EQ(r->body, "nope");  // the upstream's answer, not the gateway's "no upstream"
    }
    EXPECT_EQ(unavailable.requests + other.requests - before, 10);
}

TEST(CircuitBreaker, MaxRequestsShedsLoadWith503) {
    temp_dir dir;
    echo_server echo(dir);
    gateway gw(dir, upstream_config({echo.port()}, "    limits: { max_requests: 2 }\n"));
    std::vector<std::thread> threads;
    std::atomic<int> ok{0}, overflow{0};
    for (int i = 0; i < 5; ++i) {
        threads.emplace_back([&] {
            auto r = request(gw.port(), get_request("/delay/600"));
            if (!r) return;
            if (r->status == 200) ++ok;
            if (r->status == 503 && json_field(r->body, "error") == "upstream_overflow") ++overflow;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok, 2);
    EXPECT_EQ(overflow, 3);
    auto metrics =
        wait_for_metrics(gw.admin_port(), {"gatehouse_upstream_errors_total{upstream=\"app\",kind=\"overflow\"} 3"});
    EXPECT_NE(metrics.find("kind=\"overflow\"} 3"), std::string::npos) << metrics;
    // Under the limit again: served.
    auto r = request(gw.port(), get_request("/after"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

// One connection to the endpoint: one request has it, one waits for it, and past
// max_pending: 1 the next is shed at once rather than queued.
TEST(CircuitBreaker, MaxPendingShedsRequestsWaitingForAConnection) {
    temp_dir dir;
    echo_server echo(dir);
    gateway gw(dir, upstream_config({echo.port()},
                                    "    pool: { max_connections: 1, max_wait: 5s }\n"
                                    "    limits: { max_pending: 1 }\n"));
    std::vector<std::thread> threads;
    std::atomic<int> ok{0}, overflow{0};
    for (int i = 0; i < 3; ++i) {
        threads.emplace_back([&] {
            auto r = request(gw.port(), get_request("/delay/600"));
            if (!r) return;
            if (r->status == 200) ++ok;
            if (r->status == 503 && json_field(r->body, "error") == "upstream_overflow") ++overflow;
        });
        peer_pause(100ms);  // in this order: the first holds the connection, the second waits
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok, 2);
    EXPECT_EQ(overflow, 1);
    EXPECT_EQ(echo.connections() - 1, 1);  // all through the one connection (less /__stats)
}

namespace {

// Steady load from four clients, each a request at a time on its own keep-alive connection,
// until stop: counts answers, errors, and when the last error came.
struct steady_load {
    steady_load(std::uint16_t port, std::string path) {
        for (int c = 0; c < 4; ++c) {
            threads.emplace_back([this, port, path] {
                auto conn = std::make_unique<client>(port);
                while (!stop) {
                    const auto start = std::chrono::steady_clock::now();
                    conn->send(get_request(path));
                    auto r = conn->read_response();
                    const auto now = std::chrono::steady_clock::now();
                    std::lock_guard lock(mutex);
                    slowest = std::max(slowest, now - start);
                    if (r && r->status == 200) {
                        ++ok;
                        ++served_by[json_field(r->body, "service")];
                    } else {
                        ++errors;
                        last_error = now;
                        if (first_error.empty()) {
                            first_error = r ? std::to_string(r->status) + " " + r->body : "no response";
                        }
                        if (!r || r->header("connection") == "close") conn = std::make_unique<client>(port);
                    }
                }
            });
        }
    }
    ~steady_load() { finish(); }
    void finish() {
        stop = true;
        for (auto& t : threads) {
            if (t.joinable()) t.join();
        }
    }
    int served(const std::string& service) {
        std::lock_guard lock(mutex);
        return served_by[service];
    }
    std::atomic<bool> stop{false};
    std::mutex mutex;
    int ok = 0, errors = 0;
    std::map<std::string, int> served_by;
    std::chrono::steady_clock::duration slowest{};
    std::chrono::steady_clock::time_point last_error{};
    std::string first_error;
    std::vector<std::thread> threads;
};

long long ms_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

// Three endpoints, one killed under load and started again: retries hide the failures,
// ejection stops the failed tries, and the health check brings the endpoint back.
TEST(Resilience, AnEndpointKilledUnderLoadCostsClientsNoErrorAndRejoinsWhenBack) {
    temp_dir dir;
    auto first = std::make_unique<echo_server>(dir, "first");
    echo_server second(dir, "second"), third(dir, "third");
    const auto first_port = std::to_string(first->port());
    gateway gw(dir, upstream_config({first->port(), second.port(), third.port()},
                                    "    retry: { attempts: 2, backoff: { base: 0ms, max: 10ms } }\n"
                                    "    outlier: { consecutive_failures: 3, base_ejection: 30s }\n"
                                    "    health_check: { path: /healthz, interval: 200ms, timeout: 150ms, "
                                    "healthy_after: 2, unhealthy_after: 2 }\n"));
    steady_load load(gw.port(), "/delay/5");
    peer_pause(500ms);
    const auto killed = std::chrono::steady_clock::now();
    first->proc().signal(SIGKILL);  // mid-traffic: its in-flight requests are reset
    peer_pause(1000ms);
    ASSERT_TRUE(gw.proc().wait_for_log("ejected for 30 s after 3 failures in a row")) << gw.proc().log();
    ASSERT_TRUE(gw.proc().wait_for_log("unhealthy (2 health checks failed in a row)")) << gw.proc().log();
    const int served_while_down = load.served("first");
    // Back on the same port: two passing probes, and it takes requests again long before its
    // 30 s ejection would have run out.
    first.reset();
    first =
        std::make_unique<echo_server>(dir, "first", std::vector<std::string>{"--listen", "127.0.0.1:" + first_port});
    ASSERT_TRUE(gw.proc().wait_for_log("healthy again (2 health checks passed); its ejection ends")) << gw.proc().log();
    const auto back = load.served("first");
    peer_pause(500ms);
    load.finish();
    std::printf("kill test: %d answers, %d errors%s\n", load.ok, load.errors,
                load.errors
                    ? (", last " + std::to_string(ms_between(killed, load.last_error)) + " ms after the kill").c_str()
                    : "");
    EXPECT_EQ(load.errors, 0) << load.first_error << "\n" << gw.proc().log();
    EXPECT_GT(load.ok, 100);
    EXPECT_GT(load.served("first"), back);  // rejoined
    EXPECT_GE(back, served_while_down);
    auto metrics = wait_for_metrics(gw.admin_port(), {"gatehouse_upstream_ejections_total{upstream=\"app\"} 1"});
    EXPECT_NE(metrics.find("gatehouse_upstream_ejections_total{upstream=\"app\"} 1"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("gatehouse_upstream_endpoint_ejected{upstream=\"app\",endpoint=\"127.0.0.1:" + first_port +
                           "\"} 0"),
              std::string::npos)
        << metrics;
}

// Without retries the same kill costs a few errors (the tries in flight and those before the
// ejection), and ejection alone ends them.
TEST(Resilience, WithoutRetriesEjectionEndsTheErrorsOfAKilledEndpoint) {
    temp_dir dir;
    auto first = std::make_unique<echo_server>(dir, "first");
    echo_server second(dir, "second"), third(dir, "third");
    gateway gw(dir, upstream_config({first->port(), second.port(), third.port()},
                                    "    retries: 0\n    outlier: { consecutive_failures: 3, base_ejection: 30s }\n"));
    steady_load load(gw.port(), "/delay/5");
    peer_pause(500ms);
    const auto killed = std::chrono::steady_clock::now();
    first->proc().signal(SIGKILL);
    ASSERT_TRUE(gw.proc().wait_for_log("ejected for 30 s after 3 failures in a row")) << gw.proc().log();
    peer_pause(300ms);  // the tries that were already on their way end
    int errors_at_ejection = 0;
    {
        std::lock_guard lock(load.mutex);
        errors_at_ejection = load.errors;
    }
    peer_pause(1000ms);
    load.finish();
    std::printf("kill test without retries: %d answers, %d errors, last %lld ms after the kill\n", load.ok, load.errors,
                ms_between(killed, load.last_error));
    EXPECT_GT(load.errors, 0);
    EXPECT_LE(load.errors, 3 + 4);               // the failures that eject it, plus at most one per client in flight
    EXPECT_EQ(load.errors, errors_at_ejection);  // none in the second after
    EXPECT_EQ(load.served("first") + load.served("second") + load.served("third"), load.ok);
}

// A hung endpoint (SIGSTOP: the kernel still accepts, nothing answers) costs each try only the
// per-try timeout, and three timeouts eject it.
TEST(Resilience, AHungEndpointIsEjectedByTimeoutsAndThePerTryTimeoutBoundsLatency) {
    temp_dir dir;
    echo_server one(dir, "one"), two(dir, "two"), hung(dir, "hung");
    gateway gw(
        dir, upstream_config(
                 {one.port(), two.port(), hung.port()},
                 // Four clients may all be stuck at the hung endpoint at once: a budget of 100% lets the
                 // four retry together (the default lets 3).
                 "    retry: { attempts: 2, per_try_timeout: 300ms, budget: 100%, backoff: { base: 0ms, max: 10ms } }\n"
                 "    outlier: { consecutive_failures: 3, base_ejection: 30s }\n"));
    hung.proc().signal(SIGSTOP);
    steady_load load(gw.port(), "/delay/5");
    peer_pause(2000ms);
    load.finish();
    hung.proc().signal(SIGCONT);
    std::printf("hang test: %d answers, %d errors, slowest %lld ms\n", load.ok, load.errors,
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(load.slowest).count()));
    EXPECT_EQ(load.errors, 0) << load.first_error << "\n" << gw.proc().log();
    EXPECT_GT(load.ok, 50);
    // Without the per-try timeout a try at the hung endpoint would wait the route's 30 s.
    EXPECT_LT(load.slowest, 5s);
    EXPECT_TRUE(gw.proc().wait_for_log("ejected for 30 s after 3 failures in a row")) << gw.proc().log();
    EXPECT_TRUE(gw.proc().wait_for_log("no response within the try's timeout; trying again")) << gw.proc().log();
    // The tries that reached it, now that it runs again: the three that ejected it and at most
    // one per client that was on its way (less the /__stats request itself).
    EXPECT_LE(hung.connections() - 1, 3 + 4);
}

TEST(HealthCheck, AStoppedEndpointIsLeftOutAndRejoinsWhenItAnswersAgain) {
    temp_dir dir;
    echo_server one(dir, "one"), two(dir, "two");
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 2\nlogging: { level: info }\nupstreams:\n  app:\n"
               "    endpoints: [\"127.0.0.1:" +
                   std::to_string(one.port()) + "\", \"127.0.0.1:" + std::to_string(two.port()) +
                   "\"]\n    health_check: { path: /healthz, interval: 200ms, timeout: 150ms, healthy_after: 1, "
                   "unhealthy_after: 2 }\nroutes:\n  - { name: app, upstream: app }\n");
    // One prober per process, whatever the number of workers: about one probe per interval.
    peer_pause(1200ms);
    const auto probes = one.connections() - 1;  // less the /__stats request itself
    EXPECT_GE(probes, 3);
    EXPECT_LE(probes, 9);        // two probers (one per worker) would have made about 12
    two.proc().signal(SIGSTOP);  // hangs: its probes time out
    ASSERT_TRUE(gw.proc().wait_for_log("unhealthy (2 health checks failed in a row)")) << gw.proc().log();
    for (int i = 0; i < 10; ++i) {
        auto r = request(gw.port(), get_request("/h"));
        ASSERT_TRUE(r);
        EXPECT_EQ(json_field(r->body, "service"), "one");
    }
    const auto ep = "endpoint=\"127.0.0.1:" + std::to_string(two.port()) + "\"";
    auto metrics =
        wait_for_metrics(gw.admin_port(), {"gatehouse_upstream_endpoint_healthy{upstream=\"app\"," + ep + "} 0"});
    EXPECT_NE(metrics.find("gatehouse_upstream_endpoint_healthy{upstream=\"app\"," + ep + "} 0"), std::string::npos)
        << metrics;
    two.proc().signal(SIGCONT);
    ASSERT_TRUE(gw.proc().wait_for_log("healthy again")) << gw.proc().log();
    int from_two = 0;
    for (int i = 0; i < 10; ++i) {
        auto r = request(gw.port(), get_request("/h"));
        ASSERT_TRUE(r);
        if (json_field(r->body, "service") == "two") ++from_two;
    }
    EXPECT_GT(from_two, 0);
}

// /upstreams sums what every worker holds at each endpoint (as of their last sweep).
TEST(UpstreamsPage, ShowsConnectionsAndRequestsInFlightPerEndpointAcrossWorkers) {
    temp_dir dir;
    echo_server echo(dir);
    auto config = upstream_config({echo.port()}, "");
    config.replace(config.find("workers: 1"), 10, "workers: 2");
    gateway gw(dir, config);
    auto page = [&] {
        auto r = request(gw.admin_port(), "GET /upstreams HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        return r ? r->body : "";
    };
    std::vector<std::thread> slow;
    for (int i = 0; i < 3; ++i) slow.emplace_back([&] { request(gw.port(), get_request("/delay/1500")); });
    std::string seen;
    EXPECT_TRUE(eventually([&] {
        seen = page();
        return seen.find("\"connections\":{\"active\":3,\"idle\":0},\"in_flight\":3") != std::string::npos;
    })) << seen;
    for (auto& t : slow) t.join();
    EXPECT_TRUE(eventually([&] {
        seen = page();
        return seen.find("\"connections\":{\"active\":0,\"idle\":3},\"in_flight\":0") != std::string::npos;
    })) << seen;
}
