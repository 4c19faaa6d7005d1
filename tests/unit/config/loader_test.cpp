#include "gatehouse/config/loader.hpp"

#include <gtest/gtest.h>

using namespace gatehouse::config;

namespace {

env_lookup no_env() {
    return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

load_result load(const std::string& yaml) {
    return load_config_text(yaml, "test.yaml", no_env());
}

const std::string minimal = R"(
upstreams:
  users:
    endpoints: ["127.0.0.1:9001"]
routes:
  - name: users
    match: { prefix: /users }
    upstream: users
)";

// True if some error has this path and contains text.
::testing::AssertionResult has_error(const load_result& r, const std::string& path, const std::string& text) {
    for (const auto& e : r.errors) {
        if (e.path == path && e.message.find(text) != std::string::npos) {
            return ::testing::AssertionSuccess();
        }
    }
    std::string all;
    for (const auto& e : r.errors) all += "\n  " + e.to_string();
    return ::testing::AssertionFailure() << "no error at " << path << " containing \"" << text << "\"; got:" << all;
}

}  // namespace

TEST(Loader, MinimalConfigGetsDefaults) {
    auto r = load(minimal);
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    const auto& c = *r.config;
    EXPECT_EQ(c.server.listen.size(), 1u);
    EXPECT_EQ(c.server.listen[0].port, 8080);
    EXPECT_EQ(c.server.limits.max_body, 10u * 1024 * 1024);
    EXPECT_EQ(c.upstreams[0].load_balancing, lb_policy::round_robin);
    EXPECT_EQ(c.routes[0].match.path_kind, path_match_kind::prefix);
    EXPECT_EQ(c.routes[0].match.path, "/users");
}

TEST(Loader, FullConfigParses) {
    auto r = load(R"(
server:
  listen: ["127.0.0.1:0", "[::1]:8081"]
  workers: 2
  max_connections: 5000
  limits: { max_request_line: 4KiB, max_header_bytes: 16KiB, max_header_count: 50, max_body: 1MiB,
            max_response_header_bytes: 32KiB }
  timeouts: { header: 5s, idle: 30s, read: 10s, send: 10s, request: 15s }
logging: { level: debug }
upstreams:
  users:
    endpoints: ["127.0.0.1:9001", "localhost:9002"]
    load_balancing: least_request
    connect_timeout: 500ms
    dns_refresh: 1m
    retries: 2
    pool: { max_connections: 10, max_idle: 5, idle_timeout: 30s, max_wait: 0s, max_waiters: 3 }
routes:
  - name: user
    match:
      hosts: ["api.example.com", "*.example.org"]
      template: "/users/{id}"
      methods: [GET, HEAD]
      headers: { X-Version: "2", X-Debug: ~ }
    upstream: users
    strip_prefix: /users
    replace_prefix: /v2/users
    host_rewrite: users.internal
    request_headers: { set: { X-A: "1" }, add: { X-B: "2" }, remove: [Cookie] }
    response_headers: { remove: [Server] }
    timeout: 2s
    max_body: 64KiB
)");
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    const auto& c = *r.config;
    EXPECT_EQ(c.server.listen[1].host, "::1");
    EXPECT_EQ(c.server.limits.max_request_line, 4096u);
    EXPECT_EQ(c.server.timeouts.request.count(), 15000);
    EXPECT_EQ(c.upstreams[0].pool.max_wait.count(), 0);
    EXPECT_EQ(c.upstreams[0].retries, 2u);
    const auto& route = c.routes[0];
    EXPECT_EQ(route.match.hosts[1], "*.example.org");
    EXPECT_EQ(route.match.path_kind, path_match_kind::templated);
    ASSERT_EQ(route.match.headers.size(), 2u);
    EXPECT_FALSE(route.match.headers[1].value.has_value());
    EXPECT_EQ(*route.replace_prefix, "/v2/users");
    EXPECT_EQ(route.request_headers.remove[0], "Cookie");
    EXPECT_EQ(*route.max_body, 65536u);
}

TEST(Loader, ErrorsCarryFileLineColumnAndPath) {
    auto r = load(minimal + "  - name: billing\n    upstream: billing\n");
    ASSERT_EQ(r.errors.size(), 1u);
    const auto& e = r.errors[0];
    EXPECT_EQ(e.file, "test.yaml");
    EXPECT_EQ(e.line, 10);
    EXPECT_EQ(e.column, 15);
    EXPECT_EQ(e.path, "routes[1].upstream");
    EXPECT_EQ(e.to_string(), "test.yaml:10:15: routes[1].upstream: unknown upstream \"billing\"");
    EXPECT_FALSE(r.config.has_value());
}

TEST(Loader, ReportsEveryErrorNotOnlyTheFirst) {
    auto r = load(R"(
server:
  listen: "nonsense"
  workers: many
  bogus: 1
  limits: { max_body: 10 MB }
  timeouts: { idle: 30 }
upstreams:
  users:
    endpoints: ["127.0.0.1"]
    load_balancing: fastest
    pool: { idle_timeout: 0s }
routes:
  - name: a
    upstream: users
  - name: a
    upstream: nobody
    match: { template: "/x/{id}/{id}", prefix: /y }
  - upstream: users
    timeout: soon
)");
    EXPECT_TRUE(has_error(r, "server.listen", "invalid address"));
    EXPECT_TRUE(has_error(r, "server.workers", "whole number"));
    EXPECT_TRUE(has_error(r, "server.bogus", "unknown key"));
    EXPECT_TRUE(has_error(r, "server.limits.max_body", "invalid size"));
    EXPECT_TRUE(has_error(r, "server.timeouts.idle", "invalid duration"));
    EXPECT_TRUE(has_error(r, "upstreams.users.endpoints", "invalid endpoint"));
    EXPECT_TRUE(has_error(r, "upstreams.users.load_balancing", "unknown load balancing policy"));
    EXPECT_TRUE(has_error(r, "upstreams.users.pool.idle_timeout", "greater than zero"));
    EXPECT_TRUE(has_error(r, "routes[1].name", "duplicate route name"));
    EXPECT_TRUE(has_error(r, "routes[1].upstream", "unknown upstream \"nobody\""));
    EXPECT_TRUE(has_error(r, "routes[1].match.template", "appears twice"));
    EXPECT_TRUE(has_error(r, "routes[1].match", "only one of"));
    EXPECT_TRUE(has_error(r, "routes[2].name", "missing required key"));
    EXPECT_TRUE(has_error(r, "routes[2].timeout", "invalid duration"));
    EXPECT_GE(r.errors.size(), 14u);
}

TEST(Loader, WrongTypesAndMissingSections) {
    auto r = load("server: [1, 2]\nroutes: {}\n");
    EXPECT_TRUE(has_error(r, "server", "expected a mapping"));
    EXPECT_TRUE(has_error(r, "upstreams", "missing required key"));
    EXPECT_TRUE(has_error(r, "routes", "expected a list"));
}

TEST(Loader, HeaderAndPathValidation) {
    auto r = load(R"(
upstreams:
  u: { endpoints: "127.0.0.1:1" }
routes:
  - name: r
    upstream: u
    match: { prefix: "no-slash", methods: ["GE T"], headers: { "Bad Name": x } }
    strip_prefix: /other
    replace_prefix: /x
    request_headers: { set: { "X-Ok": "a\u0001b" } }
  - name: r2
    upstream: u
    replace_prefix: /x
    match: { template: "/a/{b}c" }
)");
    EXPECT_TRUE(has_error(r, "routes[0].match.prefix", "invalid path"));
    EXPECT_TRUE(has_error(r, "routes[0].match.methods", "invalid method"));
    EXPECT_TRUE(has_error(r, "routes[0].match.headers.Bad Name", "invalid header name"));
    EXPECT_TRUE(has_error(r, "routes[0].request_headers.set.X-Ok", "control characters"));
    EXPECT_TRUE(has_error(r, "routes[1].replace_prefix", "needs strip_prefix"));
    EXPECT_TRUE(has_error(r, "routes[1].match.template", "whole segment"));
}

TEST(Loader, StripPrefixMustPrefixTheMatch) {
    auto r = load(minimal + "    strip_prefix: /orders\n");
    EXPECT_TRUE(has_error(r, "routes[0].strip_prefix", "is not a prefix"));
}

TEST(Loader, EnvironmentReferences) {
    auto env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "PORT") return std::string("9100");
        return std::nullopt;
    };
    auto ok = load_config_text(R"(
server: { listen: "127.0.0.1:${PORT}" }
upstreams: { u: { endpoints: ["${UP_HOST:-127.0.0.1}:${PORT}"] } }
routes: [ { name: r, upstream: u } ]
)",
                               "env.yaml", env);
    ASSERT_TRUE(ok.errors.empty()) << ok.errors[0].to_string();
    EXPECT_EQ(ok.config->server.listen[0].port, 9100);
    EXPECT_EQ(ok.config->upstreams[0].endpoints[0].host, "127.0.0.1");

    auto bad = load_config_text("server: { listen: \"${NOT_SET}\" }\n" + minimal, "env.yaml", env);
    EXPECT_TRUE(has_error(bad, "server.listen", "NOT_SET is not set"));
    EXPECT_EQ(bad.errors[0].line, 1);
}

TEST(Loader, YamlSyntaxErrorHasPosition) {
    auto r = load("upstreams:\n  u: [\n");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_NE(r.errors[0].message.find("YAML syntax error"), std::string::npos);
    EXPECT_GT(r.errors[0].line, 0);
}

TEST(Loader, MissingFileIsAnError) {
    auto r = load_config_file("/nonexistent/gatehouse.yaml", no_env());
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].file, "/nonexistent/gatehouse.yaml");
    EXPECT_NE(r.errors[0].message.find("cannot open"), std::string::npos);
}

// --- filters -----------------------------------------------------------------------------------

namespace {
const std::string with_filters = R"(
filters:
  rid: { type: request_id }
  hdr: { type: headers, request: { set: { X-A: "1" } } }
  log: { type: access_log, output: stderr }
default_filters: [rid, log]
upstreams:
  users: { endpoints: ["127.0.0.1:9001"] }
routes:
  - { name: plain, match: { prefix: /a }, upstream: users }
  - { name: added, match: { prefix: /b }, upstream: users, filters: [hdr] }
  - { name: skipped, match: { prefix: /c }, upstream: users, filters: { skip: [log], add: [hdr] } }
  - { name: replaced, match: { prefix: /d }, upstream: users, filters: { replace: [hdr] } }
  - { name: none, match: { prefix: /e }, upstream: users, filters: { replace: [] } }
)";

std::vector<std::string> chain_names(const gateway_config& c, const route_config& r) {
    std::vector<std::string> names;
    for (auto i : r.filters) names.push_back(c.filters[i].name);
    return names;
}
}  // namespace

TEST(Loader, FilterChainsAddSkipAndReplaceTheDefaults) {
    auto r = load(with_filters);
    ASSERT_TRUE(r.errors.empty()) << r.errors.front().to_string();
    const auto& c = *r.config;
    ASSERT_EQ(c.filters.size(), 3u);
    EXPECT_EQ(c.filters[0].type, "request_id");
    EXPECT_TRUE(c.filters[2].factory);
    using names = std::vector<std::string>;
    EXPECT_EQ(chain_names(c, c.routes[0]), (names{"rid", "log"}));
    EXPECT_EQ(chain_names(c, c.routes[1]), (names{"rid", "log", "hdr"}));
    EXPECT_EQ(chain_names(c, c.routes[2]), (names{"rid", "hdr"}));
    EXPECT_EQ(chain_names(c, c.routes[3]), (names{"hdr"}));
    EXPECT_EQ(chain_names(c, c.routes[4]), (names{}));
}

TEST(Loader, FilterErrorsNameTheKey) {
    auto r = load(R"(
filters:
  a: { type: nope }
  b: { header: X }
  c: { type: request_id, sample: perhaps }
default_filters: [a, missing, a]
upstreams:
  users: { endpoints: ["127.0.0.1:9001"] }
routes:
  - { name: r, upstream: users, filters: { replace: [x], add: [a] } }
  - { name: s, upstream: users, filters: { skip: [zz] } }
)");
    EXPECT_TRUE(has_error(r, "filters.a.type",
                          "unknown filter type \"nope\" (known: request_id, headers, access_log, respond, api_key, "
                          "ip_filter, cors, rate_limit, jwt, mtls)"));
    EXPECT_TRUE(has_error(r, "filters.b.type", "missing required key \"type\""));
    EXPECT_TRUE(has_error(r, "filters.c.sample", "expected true or false"));
    EXPECT_TRUE(has_error(r, "default_filters", "unknown filter \"missing\""));
    EXPECT_TRUE(has_error(r, "default_filters", "filter \"a\" is listed twice"));
    EXPECT_TRUE(has_error(r, "routes[0].filters", "use either replace, or add and skip"));
    EXPECT_TRUE(has_error(r, "routes[1].filters.skip", "unknown filter \"zz\""));
    EXPECT_FALSE(r.config);
}

TEST(Loader, HeadersWithUnderscoresPolicy) {
    EXPECT_EQ(load(minimal).config->server.headers_with_underscores, underscore_headers::drop);
    EXPECT_EQ(load(minimal + "server: { headers_with_underscores: reject }\n").config->server.headers_with_underscores,
              underscore_headers::reject);
    EXPECT_EQ(load(minimal + "server: { headers_with_underscores: allow }\n").config->server.headers_with_underscores,
              underscore_headers::allow);
    auto bad = load(minimal + "server: { headers_with_underscores: keep }\n");
    EXPECT_TRUE(has_error(bad, "server.headers_with_underscores", "expected drop, reject or allow"));
    EXPECT_FALSE(bad.config);
}

TEST(Loader, AdminAndDrainSettings) {
    auto r = load(minimal + "admin: { listen: \"127.0.0.1:9999\" }\nserver: { drain_timeout: 3s }\n");
    ASSERT_TRUE(r.errors.empty()) << r.errors.front().to_string();
    EXPECT_EQ(r.config->admin.listen->port, 9999);
    EXPECT_EQ(r.config->server.drain_timeout, std::chrono::seconds(3));
    EXPECT_EQ(r.config->checksum.size(), 16u);
    auto off = load(minimal + "admin: { listen: off }\n");
    ASSERT_TRUE(off.config);
    EXPECT_FALSE(off.config->admin.listen);
    auto defaults = load(minimal);
    EXPECT_EQ(defaults.config->admin.listen->host, "127.0.0.1");
    EXPECT_EQ(defaults.config->admin.listen->port, 9901);
    auto bad = load(minimal + "admin: { listen: nowhere, port: 1 }\n");
    EXPECT_TRUE(has_error(bad, "admin.listen", "invalid address"));
    EXPECT_TRUE(has_error(bad, "admin.port", "unknown key"));
}

TEST(Loader, RetryPolicyWithDefaultsAndErrors) {
    auto r = load(R"(
upstreams:
  users:
    endpoints: ["127.0.0.1:1"]
    retry: { attempts: 3, on: [reset, 503], per_try_timeout: 1s, backoff: { base: 10ms, max: 100ms }, budget: 25%,
             max_body: 1KiB }
  orders:
    endpoints: ["127.0.0.1:2"]
    retry: {}
routes:
  - { name: u, upstream: users, retry_non_idempotent: true }
)");
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    const auto& users = *r.config->upstreams[0].retry;
    EXPECT_EQ(users.attempts, 3u);
    EXPECT_EQ(users.conditions, retry_config::reset);
    EXPECT_EQ(users.statuses, std::vector<unsigned>{503});
    EXPECT_EQ(users.per_try_timeout.count(), 1000);
    EXPECT_EQ(users.backoff_base.count(), 10);
    EXPECT_EQ(users.backoff_max.count(), 100);
    EXPECT_EQ(users.budget_percent, 25u);
    EXPECT_EQ(users.max_body, 1024u);
    const auto& orders = *r.config->upstreams[1].retry;  // the issue's defaults
    EXPECT_EQ(orders.attempts, 2u);
    EXPECT_EQ(orders.statuses, (std::vector<unsigned>{502, 503, 504}));
    EXPECT_EQ(orders.budget_percent, 20u);
    EXPECT_TRUE(r.config->routes[0].retry_non_idempotent);
    EXPECT_FALSE(r.config->upstreams[0] == r.config->upstreams[1]);

    auto bad = load(R"(
upstreams:
  users:
    endpoints: ["127.0.0.1:1"]
    retry: { attempts: 11, on: [reset, 404, sometimes], backoff: { base: 1s, max: 10ms }, budget: 120% }
routes:
  - { name: u, upstream: users }
)");
    EXPECT_TRUE(has_error(bad, "upstreams.users.retry.attempts", ""));
    EXPECT_TRUE(has_error(bad, "upstreams.users.retry.on", "unknown retry condition \"404\""));
    EXPECT_TRUE(has_error(bad, "upstreams.users.retry.on", "unknown retry condition \"sometimes\""));
    EXPECT_TRUE(has_error(bad, "upstreams.users.retry.backoff.max", "must not be less than backoff.base"));
    EXPECT_TRUE(has_error(bad, "upstreams.users.retry.budget", "1% to 100%"));
}

TEST(Loader, HealthCheckSettingsAndErrors) {
    auto r = load(R"(
upstreams:
  users:
    endpoints: ["127.0.0.1:1"]
    health_check: { path: /ready, interval: 2s, timeout: 500ms, healthy_after: 1, unhealthy_after: 4, expect: [200-299, 404] }
routes:
  - { name: u, upstream: users }
)");
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    const auto& check = *r.config->upstreams[0].health_check;
    EXPECT_EQ(check.path, "/ready");
    EXPECT_EQ(check.interval.count(), 2000);
    EXPECT_EQ(check.timeout.count(), 500);
    EXPECT_EQ(check.unhealthy_after, 4u);
    EXPECT_EQ(check.expect, (std::vector<std::pair<unsigned, unsigned>>{{200, 299}, {404, 404}}));
    auto bad = load(R"(
upstreams:
  users:
    endpoints: ["127.0.0.1:1"]
    health_check: { path: healthz, expect: [299-200, 7xx], healthy_after: 0 }
routes:
  - { name: u, upstream: users }
)");
    EXPECT_TRUE(has_error(bad, "upstreams.users.health_check.path", "origin-form path"));
    EXPECT_TRUE(has_error(bad, "upstreams.users.health_check.expect", "\"299-200\""));
    EXPECT_TRUE(has_error(bad, "upstreams.users.health_check.expect", "\"7xx\""));
    EXPECT_TRUE(has_error(bad, "upstreams.users.health_check.healthy_after", ""));
}

TEST(Loader, WebSocketRoutes) {
    auto r = load(R"(
upstreams:
  chat: { endpoints: ["127.0.0.1:1"] }
routes:
  - { name: a, match: { prefix: /a }, upstream: chat, websocket: true }
  - { name: b, match: { prefix: /b }, upstream: chat, websocket: { idle_timeout: 30s, max_duration: 1h } }
  - { name: c, match: { prefix: /c }, upstream: chat, websocket: false }
  - { name: d, match: { prefix: /d }, upstream: chat }
)");
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    const auto& routes = r.config->routes;
    ASSERT_TRUE(routes[0].websocket);
    EXPECT_EQ(routes[0].websocket->idle_timeout.count(), 300'000);
    EXPECT_EQ(routes[0].websocket->max_duration.count(), 0);
    ASSERT_TRUE(routes[1].websocket);
    EXPECT_EQ(routes[1].websocket->idle_timeout.count(), 30'000);
    EXPECT_EQ(routes[1].websocket->max_duration.count(), 3'600'000);
    EXPECT_FALSE(routes[2].websocket);
    EXPECT_FALSE(routes[3].websocket);
    auto bad = load(R"(
upstreams:
  chat: { endpoints: ["127.0.0.1:1"] }
routes:
  - { name: a, upstream: chat, websocket: { idle: 3s } }
  - { name: b, upstream: chat, websocket: { idle_timeout: 0s } }
  - name: c
    aggregate: { backends: [ { name: x, upstream: chat, path: /x } ] }
    websocket: true
)");
    EXPECT_TRUE(has_error(bad, "routes[0].websocket.idle", "unknown key"));
    EXPECT_TRUE(has_error(bad, "routes[1].websocket.idle_timeout", ""));
    EXPECT_TRUE(has_error(bad, "routes[2].websocket", "aggregate"));
}
