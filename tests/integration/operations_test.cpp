// Filters, the admin listener, reload and drain, through the real binary.
#include <csignal>
#include <fstream>
#include <sstream>

#include "common.hpp"

using namespace harness;

namespace {

std::string admin_get(std::uint16_t admin_port, const std::string& path) {
    auto r = request(admin_port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    return r ? std::to_string(r->status) + "\n" + r->body : "no response";
}

// config with its "workers: 1" replaced by workers.
std::string with_workers(std::string config, int workers) {
    config.replace(config.find("workers: 1\n"), 11, "workers: " + std::to_string(workers) + "\n");
    return config;
}

std::string filters_config(std::uint16_t upstream_port, const std::string& log_file) {
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 2\n"
           "logging: { level: info }\n"
           "filters:\n"
           "  ids: { type: request_id }\n"
           "  client_headers:\n"
           "    type: headers\n"
           "    request: { set: { X-Client-Ip: \"%{client_ip}\", X-Route: \"%{route}\" }, remove: [X-Internal] }\n"
           "    response: { set: { X-Served-By: gatehouse, X-Status: \"%{status}\" } }\n"
           "  log: { type: access_log, output: \"" +
           log_file +
           "\", flush: 100ms }\n"
           "  closed: { type: respond, status: 403, error: closed, message: \"this route is closed\" }\n"
           "default_filters: [ids, log]\n"
           "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
           std::to_string(upstream_port) +
           "\"]\n"
           "routes:\n"
           "  - { name: closed, match: { prefix: /closed }, upstream: app, filters: [closed] }\n"
           "  - { name: secret, match: { prefix: /secret }, upstream: app,\n"
           "      request_headers: { set: { Authorization: \"Bearer top-secret-token\" } } }\n"
           "  - { name: app, match: { prefix: / }, upstream: app, filters: [client_headers] }\n";
}

class OperationsTest : public ::testing::Test {
protected:
    void SetUp() override {
        echo = std::make_unique<echo_server>(dir, "app");
        log_file = dir.path() + "/access.log";
        gw = std::make_unique<gateway>(dir, filters_config(echo->port(), log_file));
    }
    temp_dir dir;
    std::unique_ptr<echo_server> echo;
    std::string log_file;
    std::unique_ptr<gateway> gw;
};

}  // namespace

TEST_F(OperationsTest, FiltersEditHeadersStartTracesAndLogEveryExchange) {
    auto r = request(gw->port(), get_request("/users/1", "X-Internal: drop-me\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(echoed_header(*r, "x-client-ip"), "127.0.0.1");
    EXPECT_EQ(echoed_header(*r, "x-route"), "app");
    EXPECT_FALSE(echo_has_header(*r, "x-internal"));
    auto traceparent = echoed_header(*r, "traceparent");
    ASSERT_EQ(traceparent.size(), 55u) << traceparent;
    EXPECT_EQ(traceparent.substr(0, 3), "00-");
    EXPECT_EQ(r->header("x-served-by"), "gatehouse");
    EXPECT_EQ(r->header("x-status"), "200");

    // An incoming trace is continued: same trace id, new parent span.
    auto continued = request(
        gw->port(), get_request("/x", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"));
    ASSERT_TRUE(continued);
    auto forwarded = echoed_header(*continued, "traceparent");
    EXPECT_EQ(forwarded.substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");
    EXPECT_NE(forwarded.substr(36, 16), "00f067aa0ba902b7");

    auto lines = wait_for_lines(log_file, 2);
    ASSERT_EQ(lines.size(), 2u);
    const auto& line = json_field(lines[0], "path") == "/x" ? lines[0] : lines[1];  // two workers flush apart
    EXPECT_EQ(json_field(line, "status"), "200");
    EXPECT_EQ(json_field(line, "method"), "GET");
    EXPECT_EQ(json_field(line, "path"), "/x");
    EXPECT_EQ(json_field(line, "route"), "app");
    EXPECT_EQ(json_field(line, "client"), "127.0.0.1");
    EXPECT_EQ(json_field(line, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(json_field(line, "request_id"), continued->header("x-request-id"));
    EXPECT_EQ(json_field(line, "upstream"), "127.0.0.1:" + std::to_string(echo->port()));
    EXPECT_NE(json_field(line, "bytes_out"), "0");
    EXPECT_NE(json_field(line, "upstream_duration_ms"), "null");
}

TEST_F(OperationsTest, EarlyAnswersRefusalsAndUpstreamErrorsAreLoggedToo) {
    auto closed = request(gw->port(), get_request("/closed/door"));
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->status, 403);
    EXPECT_EQ(json_field(closed->body, "error"), "closed");
    EXPECT_EQ(json_field(closed->body, "request_id"), closed->header("x-request-id"));
    auto bad =
        request(gw->port(), "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);

    // Two workers flush their own lines: find each by status.
    auto lines = wait_for_lines(log_file, 2);
    ASSERT_EQ(lines.size(), 2u);
    auto by_status = [&](const std::string& status) {
        for (const auto& l : lines) {
            if (json_field(l, "status") == status) return l;
        }
        return std::string();
    };
    auto forbidden = by_status("403");
    EXPECT_EQ(json_field(forbidden, "filter"), "closed");
    EXPECT_EQ(json_field(forbidden, "reason"), "closed");
    EXPECT_EQ(json_field(forbidden, "route"), "closed");
    EXPECT_EQ(json_field(forbidden, "upstream"), "");
    auto refused = by_status("400");
    EXPECT_EQ(json_field(refused, "reason"), "bad_request");
    EXPECT_EQ(json_field(refused, "filter"), "");
    // Nothing reached the upstream for either (its stats request is its only connection).
    EXPECT_EQ(echo->connections(), 1);

    auto metrics =
        wait_for_metrics(gw->admin_port(), {"gatehouse_filter_rejections_total{filter=\"closed\",reason=\"closed\"} 1",
                                            "gatehouse_requests_total{route=\"closed\",code=\"4xx\"} 1"});
    EXPECT_NE(metrics.find("gatehouse_filter_rejections_total{filter=\"closed\",reason=\"closed\"} 1"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("gatehouse_requests_total{route=\"closed\",code=\"4xx\"} 1"), std::string::npos);
}

TEST_F(OperationsTest, ClientAbortsAndUpstreamFailuresAreLoggedAndCounted) {
    {
        // The client leaves in the middle of its request body.
        client c(gw->port());
        c.send("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n" + std::string(5000, 'x'));
        peer_pause(200ms);  // then gives up, 95 KB short
    }
    auto lines = wait_for_lines(log_file, 1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(json_field(lines[0], "status"), "499");  // as NGINX logs a client that left
    EXPECT_EQ(json_field(lines[0], "path"), "/upload");
    EXPECT_EQ(json_field(lines[0], "bytes_out"), "0");
}

TEST(OperationsUpstream, UpstreamFailureIsLoggedWithItsKindAndCounted) {
    temp_dir dir;
    auto log_file = dir.path() + "/access.log";
    int free_port = 0;
    {
        raw_upstream probe([](int) {});
        free_port = probe.port();
    }  // closed again: connecting is refused
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\nlogging: { level: info }\n"
               "filters:\n  log: { type: access_log, output: \"" +
                   log_file +
                   "\", flush: 100ms }\n"
                   "default_filters: [log]\n"
                   "upstreams:\n  gone:\n    endpoints: [\"127.0.0.1:" +
                   std::to_string(free_port) +
                   "\"]\n    retries: 0\n"
                   "routes:\n  - { name: gone, upstream: gone }\n");
    auto r = request(gw.port(), get_request("/x"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    auto lines = wait_for_lines(log_file, 1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(json_field(lines[0], "status"), "503");
    EXPECT_EQ(json_field(lines[0], "reason"), "upstream_connect_failed");
    EXPECT_EQ(json_field(lines[0], "request_id"), r->header("x-request-id"));
    auto metrics = wait_for_metrics(gw.admin_port(),
                                    {"gatehouse_upstream_errors_total{upstream=\"gone\",kind=\"connect_failed\"} 1",
                                     "gatehouse_requests_total{route=\"gone\",code=\"5xx\"} 1"});
    EXPECT_NE(metrics.find("gatehouse_upstream_errors_total{upstream=\"gone\",kind=\"connect_failed\"} 1"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("gatehouse_requests_total{route=\"gone\",code=\"5xx\"} 1"), std::string::npos);
}

TEST_F(OperationsTest, AdminHealthReadinessMetricsAndRedactedConfig) {
    ASSERT_NE(gw->admin_port(), 0);
    EXPECT_EQ(admin_get(gw->admin_port(), "/healthz"), "200\nok\n");
    EXPECT_EQ(admin_get(gw->admin_port(), "/readyz"), "200\nready\n");
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(request(gw->port(), get_request("/users/" + std::to_string(i))));
    }
    ASSERT_TRUE(request(gw->port(), get_request("/status/503")));
    auto metrics =
        "200\n" + wait_for_metrics(gw->admin_port(), {"gatehouse_requests_total{route=\"app\",code=\"2xx\"} 3",
                                                      "gatehouse_request_duration_seconds_count{route=\"app\"} 4"});
    ASSERT_EQ(metrics.substr(0, 4), "200\n");
    EXPECT_NE(metrics.find("gatehouse_requests_total{route=\"app\",code=\"2xx\"} 3"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("gatehouse_requests_total{route=\"app\",code=\"5xx\"} 1"), std::string::npos);
    EXPECT_NE(metrics.find("gatehouse_request_duration_seconds_count{route=\"app\"} 4"), std::string::npos);
    EXPECT_NE(metrics.find("gatehouse_request_duration_seconds_bucket{route=\"app\",le=\"+Inf\"} 4"),
              std::string::npos);
    EXPECT_NE(metrics.find("gatehouse_config_reloads_total{result=\"failure\"} 0"), std::string::npos);
    EXPECT_NE(metrics.find("gatehouse_config_info{checksum=\""), std::string::npos);
    // Labelled by route name, never by raw path.
    EXPECT_EQ(metrics.find("/users/"), std::string::npos);

    auto config = admin_get(gw->admin_port(), "/config");
    ASSERT_EQ(config.substr(0, 4), "200\n");
    EXPECT_EQ(config.find("top-secret-token"), std::string::npos);
    EXPECT_NE(config.find("\"Authorization\":\"<redacted>\""), std::string::npos) << config;
    EXPECT_NE(config.find("\"client_headers\""), std::string::npos);
    EXPECT_EQ(admin_get(gw->admin_port(), "/nope").substr(0, 4), "404\n");
    auto wrong_method =
        request(gw->admin_port(), "GET /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(wrong_method);
    EXPECT_EQ(wrong_method->status, 405);
    EXPECT_EQ(wrong_method->header("allow"), "POST");
}

TEST_F(OperationsTest, MetricsPassPromtool) {
    auto [code, where] = run_command("command -v promtool");
    if (code != 0) {
        ASSERT_EQ(std::getenv("GATEHOUSE_REQUIRE_TOOLS"), nullptr) << "promtool is missing";
        GTEST_SKIP() << "promtool not installed (scripts/test installs it)";
    }
    ASSERT_TRUE(request(gw->port(), get_request("/a")));
    ASSERT_TRUE(request(gw->port(), get_request("/closed")));
    auto metrics = admin_get(gw->admin_port(), "/metrics");
    auto file = dir.write("metrics.txt", metrics.substr(4));
    auto [rc, out] = run_command("promtool check metrics < " + file + " 2>&1");
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(out.find("error"), std::string::npos) << out;
}

// Reload and drain with one worker and with several (a worker per thread, mailboxes between).
class ReloadAndDrain : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(Workers, ReloadAndDrain, ::testing::Values(1, 2),
                         [](const auto& info) { return std::to_string(info.param); });

TEST_P(ReloadAndDrain, SighupAndAdminReloadSwapConfigAndRejectBadFiles) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, with_workers(one_route_config(echo.port(), "", "    match: { prefix: /old }\n"), GetParam()));
    auto path = gw.config_path();
    auto old_text = read_file(path);
    EXPECT_EQ(request(gw.port(), get_request("/new"))->status, 404);

    // SIGHUP: the new route serves, the old one is gone.
    std::string next = old_text;
    next.replace(next.find("prefix: /old"), 12, "prefix: /new");
    dir.write(path.substr(path.rfind('/') + 1), next);
    gw.proc().signal(SIGHUP);
    ASSERT_TRUE(gw.proc().wait_for_log("config reloaded"));
    int status = 0;
    eventually(  // workers pick it up within one sweep
        [&] {
            auto r = request(gw.port(), get_request("/new"));
            status = r ? r->status : 0;  // no answer: tried again until the bound
            return status == 200;
        },
        5s, 20ms);
    EXPECT_EQ(status, 200);
    EXPECT_EQ(request(gw.port(), get_request("/old"))->status, 404);

    // An invalid file through POST /reload: 400 with the error, the running config stays.
    dir.write(path.substr(path.rfind('/') + 1), next + "  - name: broken\n    upstream: nowhere\n");
    auto r = request(gw.admin_port(),
                     "POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("unknown upstream \\\"nowhere\\\""), std::string::npos) << r->body;
    EXPECT_NE(r->body.find(path), std::string::npos);  // the error names the file
    EXPECT_EQ(request(gw.port(), get_request("/new"))->status, 200);
    EXPECT_TRUE(gw.proc().wait_for_log("reload rejected"));
    auto metrics = wait_for_metrics(gw.admin_port(), {"gatehouse_config_reloads_total{result=\"failure\"} 1"});
    EXPECT_NE(metrics.find("gatehouse_config_reloads_total{result=\"success\"} 1"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("gatehouse_config_reloads_total{result=\"failure\"} 1"), std::string::npos);

    // A valid file through POST /reload.
    dir.write(path.substr(path.rfind('/') + 1), old_text);
    r = request(gw.admin_port(),
                "POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("\"status\":\"reloaded\""), std::string::npos);
}

TEST(Reload, RequestsInFlightFinishOnTheConfigTheyStartedWith) {
    temp_dir dir;
    echo_server old_app(dir, "old");
    echo_server new_app(dir, "new");
    gateway gw(dir, one_route_config(old_app.port(), "", "    match: { prefix: / }\n"));
    auto path = gw.config_path();
    auto text = read_file(path);
    std::optional<response> slow;
    std::thread in_flight([&] { slow = request(gw.port(), get_request("/delay/1200")); });
    EXPECT_TRUE(eventually([&] { return old_app.in_flight() == 1; }));  // at the old upstream now
    // The new config sends everything to another upstream.
    auto next = text;
    next.replace(next.find(std::to_string(old_app.port())), std::to_string(old_app.port()).size(),
                 std::to_string(new_app.port()));
    dir.write(path.substr(path.rfind('/') + 1), next);
    auto r = request(gw.admin_port(),
                     "POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    std::string service;
    eventually(
        [&] {
            auto fresh = request(gw.port(), get_request("/which"));
            service = fresh ? json_field(fresh->body, "service") : "";
            return service == "new";
        },
        5s, 20ms);
    EXPECT_EQ(service, "new");
    in_flight.join();
    ASSERT_TRUE(slow);
    EXPECT_EQ(slow->status, 200);
    EXPECT_EQ(json_field(slow->body, "service"), "old");
}

TEST(Reload, UnderTrafficLosesNoRequest) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, one_route_config(echo.port(), "", "    match: { prefix: / }\n"));
    auto path = gw.config_path();
    auto name = path.substr(path.rfind('/') + 1);
    auto text = read_file(path);
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    auto one_round = [&](int t) {
        if (t % 2 == 0) {
            // keep-alive: several requests per connection, across reloads
            client c(gw.port(), 5s);
            for (int i = 0; i < 20 && !stop; ++i) {
                c.send(get_request("/k/" + std::to_string(i)));
                auto r = c.read_response();
                (r && r->status == 200 ? ok : failed)++;
                if (!r) break;
            }
        } else {
            auto r = request(gw.port(), get_request("/body"));
            (r && r->status == 200 ? ok : failed)++;
        }
    };
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
        clients.emplace_back([&, t] {
            while (!stop) {
                try {
                    one_round(t);
                } catch (const std::exception&) {
                    failed++;  // e.g. connect refused: the gateway is gone
                    return;
                }
            }
        });
    }
    for (int i = 0; i < 6; ++i) {
        peer_pause(150ms);  // reloads spread over the traffic
        // Alternate the route's timeout so every reload is a real change.
        dir.write(name, text + "    timeout: " + std::to_string(10 + i) + "s\n");
        auto r = request(gw.admin_port(),
                         "POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
    }
    peer_pause(200ms);  // traffic after the last reload too
    stop = true;
    for (auto& c : clients) c.join();
    EXPECT_GT(ok.load(), 100);
    EXPECT_EQ(failed.load(), 0);
    auto metrics = admin_get(gw.admin_port(), "/metrics");
    EXPECT_NE(metrics.find("gatehouse_config_reloads_total{result=\"success\"} 6"), std::string::npos);
}

TEST_P(ReloadAndDrain, SigtermFinishesRequestsInFlightClosesIdleAndExitsZero) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, with_workers(one_route_config(echo.port(), "  drain_timeout: 10s\n", "    match: { prefix: / }\n"),
                                 GetParam()));
    client idle(gw.port());
    idle.send(get_request("/warm"));
    ASSERT_TRUE(idle.read_response());

    std::optional<response> slow;
    std::thread in_flight([&] { slow = request(gw.port(), get_request("/delay/1500")); });
    // More requests in flight, some on kept-alive connections, some with bodies.
    std::vector<std::optional<response>> others(6);
    std::vector<std::thread> more;
    for (std::size_t i = 0; i < others.size(); ++i) {
        more.emplace_back([&, i] {
            std::string body(1000 * (i + 1), 'b');
            others[i] = request(gw.port(), "POST /delay/" + std::to_string(800 + 100 * i) +
                                               " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                               "Content-Length: " +
                                               std::to_string(body.size()) + "\r\n\r\n" + body);
        });
    }
    EXPECT_TRUE(eventually([&] { return echo.in_flight() == 7; }));  // the slow requests are at the upstream
    gw.proc().signal(SIGTERM);

    // Idle keep-alive connections are closed at once; readiness turns 503 while draining.
    EXPECT_TRUE(idle.closed_within(2s));
    // Listeners are closed (within one sweep): a new connection is refused.
    EXPECT_TRUE(eventually(
        [&] {
            try {
                client late(gw.port(), 1s);
                return false;
            } catch (const std::runtime_error&) {
                return true;
            }
        },
        2s));
    auto ready = request(gw.admin_port(), "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 503);
    in_flight.join();
    for (auto& t : more) t.join();
    ASSERT_TRUE(slow);
    EXPECT_EQ(slow->status, 200);
    EXPECT_EQ(slow->header("connection"), "close");
    for (std::size_t i = 0; i < others.size(); ++i) {
        ASSERT_TRUE(others[i]) << i;
        EXPECT_EQ(others[i]->status, 200) << i;
        EXPECT_EQ(json_field(others[i]->body, "body_bytes"), std::to_string(1000 * (i + 1)));
    }
    auto code = gw.proc().wait_exit(10s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
    EXPECT_NE(gw.proc().log().find("drained"), std::string::npos);
}

TEST(Drain, TimeoutBoundsTheWait) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, one_route_config(echo.port(), "  drain_timeout: 500ms\n", "    match: { prefix: / }\n"));
    std::thread in_flight([&] { request(gw.port(), get_request("/delay/5000")); });
    EXPECT_TRUE(eventually([&] { return echo.in_flight() == 1; }));
    auto start = std::chrono::steady_clock::now();
    gw.proc().signal(SIGTERM);
    auto code = gw.proc().wait_exit(10s);
    auto waited = std::chrono::steady_clock::now() - start;
    in_flight.join();
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
    EXPECT_LT(waited, 4s);  // a bound, not a timing measurement: far below the 5 s request
    EXPECT_NE(gw.proc().log().find("drain timeout"), std::string::npos);
}

TEST(AccessLogFile, Sigusr1ReopensAfterLogrotateMovedTheFile) {
    temp_dir dir;
    echo_server echo(dir, "app");
    auto log_file = dir.path() + "/access.log";
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\nlogging: { level: info }\n"
               "filters:\n  log: { type: access_log, output: \"" +
                   log_file +
                   "\", flush: 100ms, fields: [path] }\n"
                   "default_filters: [log]\n"
                   "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
                   std::to_string(echo.port()) +
                   "\"]\n"
                   "routes:\n  - { name: app, upstream: app }\n");
    ASSERT_TRUE(request(gw.port(), get_request("/before")));
    ASSERT_EQ(wait_for_lines(log_file, 1).size(), 1u);
    // logrotate: move the file away, then tell the gateway.
    ASSERT_EQ(std::rename(log_file.c_str(), (log_file + ".1").c_str()), 0);
    gw.proc().signal(SIGUSR1);
    ASSERT_TRUE(gw.proc().wait_for_log("reopening access log files"));
    ASSERT_TRUE(request(gw.port(), get_request("/after")));
    auto fresh = wait_for_lines(log_file, 1);
    ASSERT_EQ(fresh.size(), 1u);
    EXPECT_EQ(fresh[0], "{\"path\":\"/after\"}");
    auto rotated = wait_for_lines(log_file + ".1", 1);
    ASSERT_EQ(rotated.size(), 1u);
    EXPECT_EQ(rotated[0], "{\"path\":\"/before\"}");
}
