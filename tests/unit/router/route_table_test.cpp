#include "gatehouse/router/route_table.hpp"

#include <map>

#include <gtest/gtest.h>

#include "gatehouse/config/loader.hpp"

using namespace gatehouse;

namespace {

class map_headers : public router::header_source {
public:
    std::map<std::string, std::string> values;
    std::optional<std::string_view> find(std::string_view name) const override {
        if (auto it = values.find(std::string(name)); it != values.end()) return it->second;
        return std::nullopt;
    }
};

std::shared_ptr<const router::route_table> compile(const std::string& routes_yaml) {
    auto r = config::load_config_text(
        "upstreams: { u: { endpoints: [\"127.0.0.1:1\"] }, v: { endpoints: [\"127.0.0.1:2\"] } }\nroutes:\n" +
            routes_yaml,
        "routes.yaml", [](const std::string&) { return std::optional<std::string>{}; });
    EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].to_string());
    return router::route_table::compile(*r.config);
}

std::string match(const router::route_table& t, std::string_view method, std::string_view host, std::string_view path,
                  const map_headers* headers = nullptr) {
    auto r = t.match({method, host, path, headers});
    return r ? r->config.name : "-";
}

}  // namespace

TEST(RouteTable, ExactBeatsTemplateBeatsLongestPrefix) {
    auto t = compile(R"(
  - { name: root, upstream: u, match: { prefix: / } }
  - { name: api, upstream: u, match: { prefix: /api } }
  - { name: users, upstream: u, match: { prefix: /api/users } }
  - { name: user, upstream: u, match: { template: "/api/users/{id}" } }
  - { name: me, upstream: u, match: { exact: /api/users/me } }
)");
    EXPECT_EQ(match(*t, "GET", "h", "/api/users/me"), "me");
    EXPECT_EQ(match(*t, "GET", "h", "/api/users/42"), "user");
    EXPECT_EQ(match(*t, "GET", "h", "/api/users/42/orders"), "users");
    EXPECT_EQ(match(*t, "GET", "h", "/api/users"), "users");
    EXPECT_EQ(match(*t, "GET", "h", "/api/other"), "api");
    EXPECT_EQ(match(*t, "GET", "h", "/apix"), "api");  // prefixes are character prefixes, as in NGINX
    EXPECT_EQ(match(*t, "GET", "h", "/elsewhere"), "root");
}

TEST(RouteTable, NoMatchReturnsNull) {
    auto t = compile("  - { name: a, upstream: u, match: { prefix: /a } }\n");
    EXPECT_EQ(match(*t, "GET", "h", "/b"), "-");
    EXPECT_EQ(match(*t, "GET", "h", ""), "-");
}

TEST(RouteTable, HostsExactThenWildcardThenAny) {
    auto t = compile(R"(
  - { name: any, upstream: u, match: { prefix: / } }
  - { name: wild, upstream: u, match: { host: "*.example.com", prefix: / } }
  - { name: deeper, upstream: u, match: { host: "*.eu.example.com", prefix: / } }
  - { name: exact, upstream: u, match: { host: api.example.com, prefix: / } }
)");
    EXPECT_EQ(match(*t, "GET", "api.example.com", "/"), "exact");
    EXPECT_EQ(match(*t, "GET", "www.example.com", "/"), "wild");
    EXPECT_EQ(match(*t, "GET", "a.b.example.com", "/"), "wild");
    EXPECT_EQ(match(*t, "GET", "x.eu.example.com", "/"), "deeper");
    EXPECT_EQ(match(*t, "GET", "example.com", "/"), "any");  // "*.example.com" needs a label
    EXPECT_EQ(match(*t, "GET", "other.org", "/"), "any");
}

TEST(RouteTable, HostTableFallsBackWhenItsPathsDoNotMatch) {
    auto t = compile(R"(
  - { name: any, upstream: u, match: { prefix: / } }
  - { name: exact, upstream: u, match: { host: api.example.com, prefix: /v1 } }
)");
    EXPECT_EQ(match(*t, "GET", "api.example.com", "/v1/x"), "exact");
    EXPECT_EQ(match(*t, "GET", "api.example.com", "/v2"), "any");
}

TEST(RouteTable, MethodsAndHeadersFallThroughInOrder) {
    auto t = compile(R"(
  - { name: v2, upstream: u, match: { prefix: /api, headers: { X-Version: "2" } } }
  - { name: debug, upstream: u, match: { prefix: /api, headers: { X-Debug: ~ } } }
  - { name: writes, upstream: u, match: { prefix: /api, methods: [POST, PUT] } }
  - { name: reads, upstream: v, match: { prefix: /api, methods: [GET] } }
  - { name: fallback, upstream: v, match: { prefix: / } }
)");
    map_headers none, v2, v3, debug;
    v2.values["X-Version"] = "2";
    v3.values["X-Version"] = "3";
    debug.values["X-Debug"] = "";
    EXPECT_EQ(match(*t, "GET", "h", "/api/x", &v2), "v2");
    EXPECT_EQ(match(*t, "GET", "h", "/api/x", &v3), "reads");
    EXPECT_EQ(match(*t, "DELETE", "h", "/api/x", &debug), "debug");
    EXPECT_EQ(match(*t, "POST", "h", "/api/x", &none), "writes");
    EXPECT_EQ(match(*t, "DELETE", "h", "/api/x", &none), "fallback");
    EXPECT_EQ(match(*t, "GET", "h", "/api/x", nullptr), "reads");
}

TEST(RouteTable, TemplatesMatchWholeSegmentsWithBacktracking) {
    auto t = compile(R"(
  - { name: item, upstream: u, match: { template: "/shops/{shop}/items/{item}" } }
  - { name: special, upstream: u, match: { template: "/shops/main/{x}" } }
  - { name: root, upstream: u, match: { template: "/" } }
)");
    EXPECT_EQ(match(*t, "GET", "h", "/shops/7/items/9"), "item");
    EXPECT_EQ(match(*t, "GET", "h", "/shops/main/items/9"), "item");  // literal "main" fails deeper, param wins
    EXPECT_EQ(match(*t, "GET", "h", "/shops/main/z"), "special");
    EXPECT_EQ(match(*t, "GET", "h", "/shops/7/items"), "-");
    EXPECT_EQ(match(*t, "GET", "h", "/shops/7/items/9/x"), "-");
    EXPECT_EQ(match(*t, "GET", "h", "/shops//items/9"), "-");  // an empty segment is not a value
    EXPECT_EQ(match(*t, "GET", "h", "/"), "root");
}

TEST(RouteTable, ScalesToManyRoutes) {
    std::string yaml;
    for (int i = 0; i < 10000; ++i) {
        yaml += "  - { name: r" + std::to_string(i) + ", upstream: u, match: { prefix: /svc" + std::to_string(i) +
                "/ } }\n";
    }
    auto t = compile(yaml);
    EXPECT_EQ(match(*t, "GET", "h", "/svc9999/x"), "r9999");
    EXPECT_EQ(match(*t, "GET", "h", "/svc1/x"), "r1");
    EXPECT_EQ(match(*t, "GET", "h", "/svc10000/x"), "-");
}
