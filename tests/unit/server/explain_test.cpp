// gatehouse explain, as a pure function of a config and a described request: the same checks,
// route table, filters and upstream head the server uses.
#include "gatehouse/server/explain.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "gatehouse/config/loader.hpp"

namespace gatehouse::server {
namespace {

namespace json = boost::json;

const char* base_config = R"(
server: { listen: "127.0.0.1:0", trusted_proxies: [10.9.0.1] }
filters:
  office: { type: ip_filter, allow: [10.0.0.0/8] }
  browser: { type: cors, allow_origins: ["https://app.example.com"], allow_methods: [GET, PUT] }
  partners: { type: api_key, query: api_key, keys: [{ consumer: acme, key: acme-key-0001 }], consumer_header: X-Consumer }
  limit: { type: rate_limit, limits: [{ rate: 5, per: 1s }] }
  names: { type: headers, request: { set: { X-Route: "%{route}" } } }
upstreams:
  users: { endpoints: ["users.internal:8080"] }
  other: { endpoints: ["127.0.0.1:9"] }
routes:
  - name: users
    match: { host: api.example.com, template: "/api/users/{id}", methods: [GET, PUT, OPTIONS] }
    upstream: users
    strip_prefix: /api
    host_rewrite: users.internal
    request_headers: { set: { X-Secret: "${SECRET}" }, remove: [X-Debug] }
    filters: [browser, names]
  - name: catch-all
    match: { prefix: / }
    upstream: other
  - name: partner
    match: { prefix: /partner }
    upstream: other
    filters: [partners, limit]
  - name: admin
    match: { exact: /admin }
    upstream: other
    filters: [office]
  - name: agg
    match: { exact: /dash }
    aggregate:
      backends:
        - { name: a, upstream: users, path: /a }
        - { name: b, upstream: other, path: /b, required: false }
)";

struct explain_fixture {
    config::gateway_config config;
    std::shared_ptr<const router::route_table> routes;

    explain_fixture() {
        auto env = [](const std::string& name) -> std::optional<std::string> {
            if (name == "SECRET") return std::string("s3cret-value");
            return std::nullopt;
        };
        auto loaded = config::load_config_text(base_config, "explain.yaml", env);
        EXPECT_TRUE(loaded.errors.empty()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
        config = std::move(*loaded.config);
        routes = router::route_table::compile(config);
    }

    json::object run(const std::string& line, std::vector<std::pair<std::string, std::string>> headers = {},
                     std::string client_ip = "127.0.0.1") {
        std::string error;
        auto in = parse_explain_line(line, error);
        EXPECT_TRUE(in) << error;
        in->headers = std::move(headers);
        in->client_ip = std::move(client_ip);
        return explain(config, *routes, *in);
    }
};

const json::object* tried(const json::object& r, std::string_view route) {
    for (const auto& t : r.at("routing").at("tried").as_array()) {
        if (t.at("route").as_string() == route) return &t.as_object();
    }
    return nullptr;
}

std::vector<std::string> head(const json::object& r) {
    std::vector<std::string> lines;
    for (const auto& l : r.at("upstream").at("request").as_array()) lines.emplace_back(l.as_string());
    return lines;
}

bool has_line(const std::vector<std::string>& lines, std::string_view line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
}

TEST(Explain, NormalisesThePathAndSaysWhyEachRouteWasOrWasNotChosen) {
    explain_fixture f;
    auto r = f.run("GET https://api.example.com/api/./users/%34%32");
    EXPECT_EQ(r.at("checks").at("path").as_string(), "/api/users/42");
    EXPECT_EQ(r.at("routing").at("route").as_string(), "users");
    EXPECT_EQ(tried(r, "users")->at("params").at("id").as_string(), "42");
    // The catch-all matches too but is less specific; the others say what failed.
    EXPECT_TRUE(tried(r, "catch-all")->at("matches").as_bool());
    EXPECT_NE(json::serialize(tried(r, "catch-all")->at("note")).find("more specific"), std::string::npos);
    EXPECT_FALSE(tried(r, "admin")->at("matches").as_bool());
    EXPECT_NE(json::serialize(*tried(r, "admin")).find("is not exactly /admin"), std::string::npos);

    auto other_host = f.run("GET https://www.example.com/api/users/42");
    EXPECT_EQ(other_host.at("routing").at("route").as_string(), "catch-all");
    EXPECT_NE(json::serialize(*tried(other_host, "users")).find("is none of api.example.com"), std::string::npos);
    auto wrong_method = f.run("DELETE https://api.example.com/api/users/42");
    EXPECT_NE(json::serialize(*tried(wrong_method, "users")).find("DELETE is none of GET, PUT, OPTIONS"),
              std::string::npos);
}

TEST(Explain, UpstreamHeadIsTheOneTheRelayWrites) {
    explain_fixture f;
    auto r = f.run("GET https://api.example.com/api/users/42?x=1", {{"X-Debug", "1"},
                                                                    {"X-Forwarded-For", "6.6.6.6"},
                                                                    {"Connection", "X-Hop"},
                                                                    {"X-Hop", "a"},
                                                                    {"Authorization", "Bearer abc"}});
    auto lines = head(r);
    ASSERT_FALSE(lines.empty());
    EXPECT_TRUE(has_line(lines, "Authorization: <redacted>"));  // as /config shows credentials
    EXPECT_EQ(lines[0], "GET /users/42?x=1 HTTP/1.1");          // strip_prefix /api
    EXPECT_TRUE(has_line(lines, "Host: users.internal"));
    EXPECT_TRUE(has_line(lines, "X-Forwarded-For: 6.6.6.6, 127.0.0.1"));
    EXPECT_TRUE(has_line(lines, "X-Forwarded-Proto: https"));
    EXPECT_TRUE(has_line(lines, "X-Route: users"));  // the headers filter ran
    EXPECT_FALSE(has_line(lines, "X-Debug: 1"));     // removed by the route
    EXPECT_FALSE(has_line(lines, "X-Hop: a"));       // named by Connection
    EXPECT_EQ(r.at("upstream").at("name").as_string(), "users");
    EXPECT_EQ(r.at("upstream").at("endpoints").at(0).as_string(), "users.internal:8080");
}

TEST(Explain, RunsFiltersThatCanDecideOfflineAndDescribesTheOthers) {
    explain_fixture f;
    auto outside = f.run("GET http://h/admin", {}, "192.168.1.5");
    EXPECT_EQ(outside.at("filters").at(0).at("decision").as_string(), "answers");
    EXPECT_EQ(outside.at("outcome").at("reply").at("status").to_number<int>(), 403);
    auto inside = f.run("GET http://h/admin", {}, "10.1.2.3");
    EXPECT_EQ(inside.at("filters").at(0).at("decision").as_string(), "passes");
    EXPECT_EQ(inside.at("outcome").at("answered_by").as_string(), "upstream");
    // Behind a trusted proxy the client is the one X-Forwarded-For names.
    auto proxied = f.run("GET http://h/admin", {{"X-Forwarded-For", "192.168.1.5"}}, "10.9.0.1");
    EXPECT_EQ(proxied.at("outcome").at("reply").at("status").to_number<int>(), 403);

    auto partner = f.run("GET http://h/partner/x?api_key=acme-key-0001&y=2");
    EXPECT_EQ(partner.at("filters").at(0).at("consumer").as_string(), "acme");
    EXPECT_EQ(partner.at("filters").at(1).at("decision").as_string(), "at request time");  // rate_limit
    EXPECT_NE(partner.at("filters").at(1).at("note").as_string().find("5 per 1s"), std::string::npos);
    auto lines = head(partner);
    EXPECT_EQ(lines[0], "GET /partner/x?y=2 HTTP/1.1");  // the key left the query
    EXPECT_TRUE(has_line(lines, "X-Consumer: acme"));
    auto no_key = f.run("GET http://h/partner/x");
    EXPECT_EQ(no_key.at("outcome").at("reply").at("status").to_number<int>(), 401);
    EXPECT_EQ(no_key.at("filters").at(1).at("decision").as_string(), "not reached");

    auto preflight = f.run("OPTIONS https://api.example.com/api/users/1",
                           {{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "PUT"}});
    EXPECT_EQ(preflight.at("filters").at(0).at("decision").as_string(), "answers");
    EXPECT_EQ(preflight.at("outcome").at("answered_by").as_string(), "filters");
}

TEST(Explain, RefusalsBeforeRoutingAndWithoutRoute) {
    explain_fixture f;
    auto bad = f.run("GET http://h/a/%00");
    EXPECT_FALSE(bad.at("checks").at("ok").as_bool());
    EXPECT_EQ(bad.at("outcome").at("reply").at("status").to_number<int>(), 400);
    auto ws = f.run("GET http://h/admin",
                    {{"Connection", "Upgrade"},
                     {"Upgrade", "websocket"},
                     {"Sec-WebSocket-Version", "13"},
                     {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}},
                    "10.0.0.1");
    EXPECT_EQ(ws.at("outcome").at("reply").at("error").as_string(), "websocket_not_allowed");
    auto agg = f.run("GET http://h/dash");
    EXPECT_EQ(agg.at("aggregate").at("backends").as_array().size(), 2u);
    EXPECT_FALSE(agg.contains("upstream"));
}

TEST(Explain, AdminBodyAndSecrets) {
    explain_fixture f;
    auto [status, body] = explain_json(
        f.config, *f.routes, R"({"request":"GET https://api.example.com/api/users/7","headers":{"X-A":"1"}})");
    EXPECT_EQ(status, 200u);
    EXPECT_EQ(body.find("s3cret-value"), std::string::npos) << body;  // from the environment: redacted
    EXPECT_NE(body.find("X-Secret: <redacted>"), std::string::npos) << body;
    EXPECT_NE(body.find("X-A: 1"), std::string::npos);
    EXPECT_EQ(explain_json(f.config, *f.routes, "not json").first, 400u);
    EXPECT_EQ(explain_json(f.config, *f.routes, R"({"request":"GET"})").first, 400u);
    EXPECT_EQ(explain_json(f.config, *f.routes, R"({"request":"GET /","client_ip":"nope"})").first, 400u);
    EXPECT_EQ(explain_json(f.config, *f.routes, R"({"request":"GET /","headers":["bad header"]})").first, 400u);
    // The text form names the same things.
    auto text = explain_text(f.run("GET https://api.example.com/api/users/42"));
    EXPECT_NE(text.find("route      users"), std::string::npos) << text;
    EXPECT_NE(text.find("GET /users/42 HTTP/1.1"), std::string::npos) << text;
}

}  // namespace
}  // namespace gatehouse::server
