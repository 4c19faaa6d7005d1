// The gateway as a security boundary: the bypasses an attacker who knows HTTP better than the
// upstream tries, each through the real binary (docs/security.md).
#include "common.hpp"

using namespace harness;

namespace {

// /api/admin needs a key, the rest of /api does not; both go to one echo upstream.
std::string admin_behind_key_config(std::uint16_t upstream_port, const std::string& paths = "") {
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n" + paths +
           "logging: { level: info }\n"
           "filters:\n"
           "  keys: { type: api_key, keys: [ { consumer: ops, key: ops-secret-1234 } ] }\n"
           "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" + std::to_string(upstream_port) + "\"]\n"
           "routes:\n"
           "  - { name: admin, match: { prefix: /api/admin }, upstream: app, filters: [keys] }\n"
           "  - { name: api, match: { prefix: /api }, upstream: app }\n";
}

std::string get_with_key(const std::string& target) {
    return get_request(target, "X-Api-Key: ops-secret-1234\r\n");
}

}  // namespace

TEST(PathNormalization, OddSpellingsOfAGuardedPathAreGuardedOrRefused) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, admin_behind_key_config(echo.port()));

    // Spellings that upstreams resolve to /api/admin/x: routed as /api/admin/x, so the key is
    // required.
    for (std::string target : {"/api/%61dmin/x", "/api//admin/x", "/api/x/../admin/x", "/api/x/%2e%2E/admin/x",
                               "/api/./admin/x", "/api/%61%64%6D%69%6E/x"}) {
        auto r = request(gw.port(), get_request(target));
        ASSERT_TRUE(r) << target;
        EXPECT_EQ(r->status, 401) << target << ": " << r->body;
    }
    // Spellings that upstreams read in ways the gateway will not guess at: refused.
    for (std::string target : {"/api/x/..;/admin/x", "/api\\admin/x", "/api%2Fadmin/x", "/api%5cadmin/x",
                               "/api/admin%00/x", "/api/x/.;/admin/x"}) {
        auto r = request(gw.port(), get_request(target));
        ASSERT_TRUE(r) << target;
        EXPECT_EQ(r->status, 400) << target << ": " << r->body;
        EXPECT_EQ(json_field(r->body, "error"), "bad_request") << target;
    }
    // With the key, the upstream gets the same normalised path the router matched; the query
    // string is never touched.
    auto ok = request(gw.port(), get_with_key("/api/%61dmin//x/./y/../z%7e%3a?q=%61/../b&r=//"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
    EXPECT_EQ(json_field(ok->body, "target"), "/api/admin/x/z~%3A?q=%61/../b&r=//");
    auto open = request(gw.port(), get_request("/api/x/../users"));
    ASSERT_TRUE(open);
    EXPECT_EQ(open->status, 200);
    EXPECT_EQ(json_field(open->body, "target"), "/api/users");
}

TEST(PathNormalization, EscapedSlashesCanBeKeptOrDecoded) {
    temp_dir dir;
    echo_server echo(dir, "app");
    {
        gateway keep(dir, admin_behind_key_config(echo.port(), "  paths: { escaped_slashes: keep }\n"));
        auto r = request(keep.port(), get_request("/api%2fadmin/x"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);  // one segment "api%2Fadmin": the open /api route
        EXPECT_EQ(json_field(r->body, "target"), "/api%2Fadmin/x");
    }
    {
        gateway decode(dir, admin_behind_key_config(echo.port(), "  paths: { escaped_slashes: decode }\n"));
        auto r = request(decode.port(), get_request("/api%2fadmin/x"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 401);
        auto keyed = request(decode.port(), get_with_key("/api/x%2F..%2Fadmin%5Cx"));
        ASSERT_TRUE(keyed);
        EXPECT_EQ(keyed->status, 200);
        EXPECT_EQ(json_field(keyed->body, "target"), "/api/admin/x");
    }
    {
        gateway unmerged(dir, admin_behind_key_config(echo.port(), "  paths: { merge_slashes: false }\n"));
        auto r = request(unmerged.port(), get_request("/api//admin/x"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(json_field(r->body, "target"), "/api//admin/x");
    }
}

TEST(PathNormalization, StripPrefixAppliesToTheNormalisedPath) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, one_route_config(echo.port(), "", "    match: { prefix: /svc/ }\n    strip_prefix: /svc\n"));
    auto r = request(gw.port(), get_request("/svc//%75sers/./42?x=%2e%2e"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json_field(r->body, "target"), "/users/42?x=%2e%2e");
}
