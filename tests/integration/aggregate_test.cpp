// Aggregate routes through the real binary: real backends on 127.0.0.1 (in-process servers that
// record when each request arrived and when they answered), real clients.
#include <sys/socket.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "common.hpp"

using namespace harness;
using namespace std::chrono_literals;

namespace {

struct answer {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::chrono::milliseconds delay{0};
    bool hang = false;            // never answers
    bool close_mid_body = false;  // announces the body's length, sends half, closes
};

// A keep-alive backend whose answer is chosen per request; it records every request and the
// order of arrivals and answers.
class backend {
public:
    explicit backend(std::function<answer(const std::string& request)> respond)
        : respond_(std::move(respond)), server_([this](int fd) { serve(fd); }) {}

    std::uint16_t port() const { return server_.port(); }
    std::vector<std::string> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }

    // Events of all backends of a test, in order: "+name" when a request arrived, "-name" when answered.
    static std::vector<std::string> events() {
        std::lock_guard lock(events_mutex_);
        return events_;
    }
    static void clear_events() {
        std::lock_guard lock(events_mutex_);
        events_.clear();
    }
    std::string name = "backend";

private:
    void serve(int fd) {
        for (;;) {
            auto request = recv_request(fd);
            if (request.empty()) return;
            {
                std::lock_guard lock(mutex_);
                requests_.push_back(request);
            }
            event("+" + name);
            auto a = respond_(request);
            if (a.hang) {
                char b;
                ::recv(fd, &b, 1, 0);  // until the gateway gives up or the test ends
                return;
            }
            if (a.delay.count()) std::this_thread::sleep_for(a.delay);  // the backend's own latency, not a test wait
            std::string head = "HTTP/1.1 " + std::to_string(a.status) + " X\r\nContent-Type: " + a.content_type +
                               "\r\nContent-Length: " + std::to_string(a.body.size()) + "\r\n\r\n";
            event("-" + name);
            if (a.close_mid_body) {
                send_all(fd, head + a.body.substr(0, a.body.size() / 2));
                return;
            }
            send_all(fd, head + a.body);
        }
    }
    static void event(const std::string& e) {
        std::lock_guard lock(events_mutex_);
        events_.push_back(e);
    }

    std::function<answer(const std::string&)> respond_;
    std::mutex mutex_;
    std::vector<std::string> requests_;
    inline static std::mutex events_mutex_;
    inline static std::vector<std::string> events_;
    raw_upstream server_;
};

answer json(std::string body, std::chrono::milliseconds delay = 0ms) {
    answer a;
    a.body = std::move(body);
    a.delay = delay;
    return a;
}

std::string upstreams(std::initializer_list<std::pair<std::string, std::uint16_t>> list) {
    std::string out = "upstreams:\n";
    for (const auto& [name, port] : list) {
        out += "  " + name + ": { endpoints: [\"127.0.0.1:" + std::to_string(port) + "\"] }\n";
    }
    return out;
}

const std::string server_block = "server: { listen: \"127.0.0.1:0\", workers: 1 }\nlogging: { level: info }\n";

std::string target_of(const std::string& request) {
    auto sp = request.find(' ');
    return request.substr(sp + 1, request.find(' ', sp + 1) - sp - 1);
}

bool has_line(const std::string& request, const std::string& line) {
    return request.find("\r\n" + line + "\r\n") != std::string::npos;
}

void expect_backend_error(const std::optional<response>& r, int status, const std::string& backend_name,
                          const std::string& reason) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->header("content-type"), "application/json");
    EXPECT_EQ(json_field(r->body, "backend"), backend_name) << r->body;
    EXPECT_EQ(json_field(r->body, "reason"), reason) << r->body;
    EXPECT_EQ(json_field(r->body, "request_id"), r->header("x-request-id"));
    EXPECT_NE(r->body.find("backend \\\"" + backend_name + "\\\""), std::string::npos) << r->body;
}

}  // namespace

TEST(Aggregate, MergesThreeBackendsWithGroupsTargetAllowAndADependency) {
    temp_dir dir;
    backend users([](const std::string&) {
        return json(R"({"id":"42","name":"Ada","customer_id":"c-7","password":"hunter2"})");
    });
    backend orders([](const std::string&) { return json(R"([{"id":1},{"id":2}])"); });
    backend reco([](const std::string&) {
        return json(R"({"data":{"items":[{"id":9,"title":"Book","internal":"x","score":3}]},"debug":true})");
    });
    gateway gw(
        dir, server_block + upstreams({{"users", users.port()}, {"orders", orders.port()}, {"reco", reco.port()}}) + R"(
routes:
  - name: dashboard
    match: { template: "/api/dashboard/{user}", methods: [GET] }
    aggregate:
      timeout: 5s
      backends:
        - { name: user, upstream: users, path: "/users/{user}", deny: [password] }
        - name: orders
          upstream: orders
          path: "/orders?customer={user.customer_id}&limit=20"
          group: orders
          required: false
        - { name: reco, upstream: reco, path: "/reco/{user}", target: data.items, allow: [id, title, score], group: recommendations }
)");
    auto r = request(gw.port(), get_request("/api/dashboard/42"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->header("content-type"), "application/json");
    EXPECT_FALSE(r->has("gatehouse-aggregate"));
    EXPECT_EQ(r->body, R"({"id":"42","name":"Ada","customer_id":"c-7","orders":[{"id":1},{"id":2}],)"
                       R"("recommendations":[{"id":9,"title":"Book","score":3}]})");
    ASSERT_EQ(orders.requests().size(), 1u);
    EXPECT_EQ(target_of(orders.requests()[0]), "/orders?customer=c-7&limit=20");
    EXPECT_EQ(target_of(users.requests()[0]), "/users/42");
}

TEST(Aggregate, IndependentCallsOverlapAndADependentOneWaitsForItsField) {
    temp_dir dir;
    backend::clear_events();
    backend a([](const std::string&) { return json(R"({"a":1,"key":"k1"})", 300ms); });
    backend b([](const std::string&) { return json(R"({"b":2})", 300ms); });
    backend c([](const std::string&) { return json(R"({"c":3})", 300ms); });
    backend d([](const std::string&) { return json(R"({"d":4})"); });
    a.name = "a";
    b.name = "b";
    c.name = "c";
    d.name = "d";
    gateway gw(dir, server_block + upstreams({{"a", a.port()}, {"b", b.port()}, {"c", c.port()}, {"d", d.port()}}) + R"(
routes:
  - name: fan
    match: { exact: /fan }
    aggregate:
      backends:
        - { name: a, upstream: a, path: /a }
        - { name: b, upstream: b, path: /b }
        - { name: c, upstream: c, path: /c }
        - { name: d, upstream: d, path: "/d/{a.key}" }
)");
    auto r = request(gw.port(), get_request("/fan"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body, R"({"a":1,"key":"k1","b":2,"c":3,"d":4})");
    auto ev = backend::events();
    ASSERT_EQ(ev.size(), 8u);
    auto pos = [&](const std::string& e) { return std::find(ev.begin(), ev.end(), e) - ev.begin(); };
    // a, b and c all arrived before any of them answered: they ran at the same time.
    for (std::string arrived : {"+a", "+b", "+c"}) {
        for (std::string answered : {"-a", "-b", "-c"}) {
            EXPECT_LT(pos(arrived), pos(answered)) << arrived << " " << answered;
        }
    }
    EXPECT_GT(pos("+d"), pos("-a"));  // d needed a's key
    EXPECT_EQ(target_of(d.requests()[0]), "/d/k1");
}

TEST(Aggregate, AnOptionalBackendThatHangsLeavesAPartialAnswerAtItsOwnTimeout) {
    temp_dir dir;
    backend users([](const std::string&) { return json(R"({"id":"42"})"); });
    backend orders([](const std::string&) {
        answer a;
        a.hang = true;
        return a;
    });
    // The aggregate's own timeout is far beyond the client's 10 s read deadline: only the
    // backend's 300 ms can produce this answer in time.
    gateway gw(dir, server_block + upstreams({{"users", users.port()}, {"orders", orders.port()}}) + R"(
routes:
  - name: dashboard
    match: { prefix: /dash }
    aggregate:
      timeout: 60s
      backends:
        - { name: user, upstream: users, path: /u }
        - { name: orders, upstream: orders, path: /o, group: orders, required: false, timeout: 300ms }
)");
    auto r = request(gw.port(), get_request("/dash"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body, R"({"id":"42"})");
    EXPECT_EQ(r->header("gatehouse-aggregate"), "partial; missing=\"orders\"");
    EXPECT_EQ(r->header("cache-control"), "no-store");
}

TEST(Aggregate, ARequiredBackendThatHangsIs504WithinTheAggregateTimeout) {
    temp_dir dir;
    backend users([](const std::string&) {
        answer a;
        a.hang = true;
        return a;
    });
    backend other([](const std::string&) { return json(R"({"x":1})"); });
    gateway gw(dir, server_block + upstreams({{"users", users.port()}, {"other", other.port()}}) + R"(
routes:
  - name: dashboard
    match: { prefix: /dash }
    timeout: 60s
    aggregate:
      timeout: 400ms
      backends:
        - { name: other, upstream: other, path: /x }
        - { name: user, upstream: users, path: /u }
)");
    expect_backend_error(request(gw.port(), get_request("/dash")), 504, "user", "timeout");
}

TEST(Aggregate, RequiredBackendFailuresAre502NamingTheBackendAndReason) {
    temp_dir dir;
    backend users([](const std::string& req) {
        auto target = target_of(req);
        answer a;
        if (target == "/status500") {
            a.status = 500;
            a.body = R"({"detail":"db down"})";
        } else if (target == "/html") {
            a.content_type = "text/html";
            a.body = "<html><body>hello</body></html>";
        } else if (target == "/big") {
            a.body = "{\"x\":\"" + std::string(3 * 1024 * 1024, 'a') + "\"}";
        } else if (target == "/cut") {
            a.body = R"({"id":"42","name":"a long enough body"})";
            a.close_mid_body = true;
        } else if (target == "/array") {
            a.body = "[1,2,3]";
        }
        return a;
    });
    gateway gw(dir, server_block + upstreams({{"users", users.port()}}) + R"(
routes:
  - name: agg
    match: { template: "/agg/{what}" }
    aggregate:
      backends:
        - { name: user, upstream: users, path: "/{what}" }
  - name: exposed
    match: { template: "/exposed/{what}" }
    aggregate:
      expose_errors: true
      backends:
        - { name: user, upstream: users, path: "/{what}" }
)");
    expect_backend_error(request(gw.port(), get_request("/agg/status500")), 502, "user", "status");
    expect_backend_error(request(gw.port(), get_request("/agg/html")), 502, "user", "not_json");
    expect_backend_error(request(gw.port(), get_request("/agg/big")), 502, "user", "too_large");
    expect_backend_error(request(gw.port(), get_request("/agg/cut")), 502, "user", "incomplete");
    expect_backend_error(request(gw.port(), get_request("/agg/array")), 502, "user", "shape");
    // The backend's status and body stay out of the reply unless expose_errors says otherwise.
    auto hidden = request(gw.port(), get_request("/agg/status500"));
    ASSERT_TRUE(hidden);
    EXPECT_EQ(hidden->body.find("db down"), std::string::npos) << hidden->body;
    auto shown = request(gw.port(), get_request("/exposed/status500"));
    ASSERT_TRUE(shown);
    EXPECT_EQ(json_field(shown->body, "backend_status"), "500") << shown->body;
    EXPECT_NE(shown->body.find("db down"), std::string::npos) << shown->body;
    // A connection refused is a failure of the same kind.
    int gone = 0;
    {
        raw_upstream probe([](int) {});
        gone = probe.port();
    }
    temp_dir dir2;
    gateway gw2(dir2, server_block + upstreams({{"gone", static_cast<std::uint16_t>(gone)}}) + R"(
routes:
  - name: agg
    aggregate: { backends: [ { name: gone, upstream: gone, path: / } ] }
)");
    expect_backend_error(request(gw2.port(), get_request("/")), 502, "gone", "connect_failed");
}

TEST(Aggregate, KeyConflictsFollowThePolicy) {
    temp_dir dir;
    backend first([](const std::string&) { return json(R"({"id":"from-first","a":1})", 100ms); });
    backend second([](const std::string&) { return json(R"({"id":"from-second","b":2})"); });
    auto config = [&](const std::string& policy) {
        return server_block + upstreams({{"first", first.port()}, {"second", second.port()}}) +
               "routes:\n  - name: agg\n    aggregate:\n      conflicts: " + policy +
               "\n      backends:\n        - { name: first, upstream: first, path: / }\n"
               "        - { name: second, upstream: second, path: / }\n";
    };
    {
        gateway gw(dir, config("error"));
        auto r = request(gw.port(), get_request("/"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 502);
        EXPECT_EQ(json_field(r->body, "error"), "backend_conflict");
        EXPECT_NE(r->body.find("key \\\"id\\\""), std::string::npos) << r->body;
    }
    {
        // The first backend answers last: configuration order decides, not arrival.
        gateway gw(dir, config("first"));
        auto r = request(gw.port(), get_request("/"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, R"({"id":"from-first","a":1,"b":2})");
    }
    {
        gateway gw(dir, config("last"));
        auto r = request(gw.port(), get_request("/"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, R"({"id":"from-second","a":1,"b":2})");
    }
}

TEST(Aggregate, BackendsGetOnlyTheListedClientFieldsAndQueryParameters) {
    temp_dir dir;
    backend users([](const std::string&) { return json(R"({"ok":true})"); });
    gateway gw(dir, server_block + upstreams({{"users", users.port()}}) + R"(
routes:
  - name: agg
    match: { prefix: /agg }
    aggregate:
      forward_headers: [Accept-Language]
      forward_query: [lang]
      backends:
        - name: user
          upstream: users
          path: "/u?fixed=1"
          headers: { X-Caller: gatehouse }
)");
    auto r = request(gw.port(),
                     "GET /agg?lang=en&token=s3cret&lang=fr HTTP/1.1\r\nHost: api.example.com\r\n"
                     "Accept-Language: de\r\nCookie: session=abc\r\nAuthorization: Bearer xyz\r\n"
                     "X-Secret: 1\r\nX-Forwarded-For: 10.9.9.9\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    ASSERT_EQ(users.requests().size(), 1u);
    const auto req = users.requests()[0];
    EXPECT_EQ(target_of(req), "/u?fixed=1&lang=en&lang=fr");
    EXPECT_TRUE(has_line(req, "Accept-Language: de")) << req;
    EXPECT_TRUE(has_line(req, "X-Caller: gatehouse")) << req;
    EXPECT_TRUE(has_line(req, "X-Request-Id: " + r->header("x-request-id"))) << req;
    EXPECT_TRUE(has_line(req, "X-Forwarded-For: 10.9.9.9, 127.0.0.1")) << req;
    EXPECT_TRUE(has_line(req, "X-Forwarded-Host: api.example.com")) << req;
    EXPECT_NE(req.find("\r\ntraceparent: 00-"), std::string::npos) << req;
    for (const std::string withheld : {"Cookie", "Authorization", "X-Secret", "token", "s3cret"}) {
        EXPECT_EQ(req.find(withheld), std::string::npos) << withheld << " reached the backend:\n" << req;
    }
}

TEST(Aggregate, EachCallIsAChildSpanOfTheClientTrace) {
    temp_dir dir;
    backend a([](const std::string&) { return json(R"({"a":1})"); });
    backend b([](const std::string&) { return json(R"({"b":1})"); });
    gateway gw(dir, server_block + "filters:\n  ids: { type: request_id }\ndefault_filters: [ids]\n" +
                        upstreams({{"a", a.port()}, {"b", b.port()}}) + R"(
routes:
  - name: agg
    aggregate: { backends: [ { name: a, upstream: a, path: / }, { name: b, upstream: b, path: / } ] }
)");
    const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    auto r = request(gw.port(), "GET / HTTP/1.1\r\nHost: x\r\ntraceparent: 00-" + trace +
                                    "-00f067aa0ba902b7-01\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto span_of = [&](const std::string& req) {
        auto at = req.find("\r\ntraceparent: 00-" + trace + "-");
        EXPECT_NE(at, std::string::npos) << req;
        return at == std::string::npos ? std::string() : req.substr(at + 2 + 16 + 32 + 1, 19);
    };
    auto span_a = span_of(a.requests().at(0));
    auto span_b = span_of(b.requests().at(0));
    EXPECT_NE(span_a, span_b);
    EXPECT_EQ(span_a.substr(16), "-01");
    EXPECT_EQ(span_a.find("00f067aa0ba902b7"), std::string::npos);  // a new span, not the client's
}

TEST(Aggregate, AFieldValueCannotSteerTheNextCallsPath) {
    temp_dir dir;
    backend users([](const std::string&) { return json(R"({"customer_id":"../admin"})"); });
    backend orders([](const std::string&) { return json(R"({"orders":[]})"); });
    gateway gw(dir, server_block + upstreams({{"users", users.port()}, {"orders", orders.port()}}) + R"(
routes:
  - name: agg
    aggregate:
      backends:
        - { name: user, upstream: users, path: /u }
        - { name: orders, upstream: orders, path: "/orders/{user.customer_id}", required: false }
)");
    auto r = request(gw.port(), get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->header("gatehouse-aggregate"), "partial; missing=\"orders\"");
    EXPECT_TRUE(orders.requests().empty()) << orders.requests()[0];
}

TEST(Aggregate, ForwardsTheClientBodyToAPostBackend) {
    temp_dir dir;
    backend search([](const std::string& req) {
        auto body = req.substr(req.find("\r\n\r\n") + 4);
        return json(R"({"echo":)" + body + "}");
    });
    gateway gw(dir, server_block + upstreams({{"search", search.port()}}) + R"(
routes:
  - name: agg
    match: { exact: /search, methods: [POST] }
    aggregate:
      backends:
        - { name: search, upstream: search, method: POST, path: /search }
)");
    const std::string body = R"({"q":"books"})";
    auto r =
        request(gw.port(), "POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body, R"({"echo":{"q":"books"}})");
    auto req = search.requests().at(0);
    EXPECT_TRUE(has_line(req, "Content-Type: application/json")) << req;
    EXPECT_TRUE(req.starts_with("POST /search HTTP/1.1\r\n")) << req;
}

TEST(Aggregate, AccessLogAndMetricsCountEachBackend) {
    temp_dir dir;
    backend a([](const std::string&) { return json(R"({"a":1})"); });
    backend b([](const std::string&) {
        answer x;
        x.status = 503;
        return x;
    });
    auto log_file = dir.path() + "/access.log";
    gateway gw(dir, server_block + "filters:\n  log: { type: access_log, output: \"" + log_file +
                        "\", flush: 50ms }\ndefault_filters: [log]\n" + upstreams({{"a", a.port()}, {"b", b.port()}}) +
                        R"(
routes:
  - name: agg
    aggregate:
      backends:
        - { name: a, upstream: a, path: / }
        - { name: b, upstream: b, path: /, required: false, group: b }
)");
    auto r = request(gw.port(), get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    std::string line;
    ASSERT_TRUE(eventually([&] {
        std::ifstream in(log_file);
        std::getline(in, line);
        return !line.empty();
    }));
    EXPECT_NE(line.find(R"("backends":[{"name":"a","status":200,"duration_ms":)"), std::string::npos) << line;
    EXPECT_NE(line.find(R"({"name":"b","status":503,"duration_ms":)"), std::string::npos) << line;
    EXPECT_NE(line.find(R"("failure":"status"})"), std::string::npos) << line;
    auto metrics = wait_for_metrics(
        gw.admin_port(),
        {"gatehouse_aggregate_backend_calls_total{route=\"agg\",backend=\"a\"} 1",
         "gatehouse_aggregate_backend_failures_total{route=\"agg\",backend=\"b\",reason=\"status\"} 1"});
    EXPECT_NE(metrics.find("gatehouse_aggregate_backend_calls_total{route=\"agg\",backend=\"b\"} 1"), std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("gatehouse_aggregate_backend_duration_seconds_count{route=\"agg\",backend=\"a\"} 1"),
              std::string::npos);
}

TEST(Aggregate, BadConfigNamesFileLineAndKey) {
    temp_dir dir;
    auto path = dir.write("bad.yaml", server_block + upstreams({{"a", 1}}) + R"(
routes:
  - name: agg
    aggregate:
      backends:
        - { name: a, upstream: a, path: "/a/{b.id}" }
        - { name: b, upstream: a, path: "/b/{a.id}" }
)");
    auto [code, out] = run_command(gatehouse_binary() + " --validate " + path + " 2>&1");
    EXPECT_NE(code, 0);
    EXPECT_NE(out.find("bad.yaml:10:"), std::string::npos) << out;
    EXPECT_NE(out.find("routes[0].aggregate.backends"), std::string::npos) << out;
    EXPECT_NE(out.find("cycle"), std::string::npos) << out;
}
