// The gateway as a security boundary: the bypasses an attacker who knows HTTP better than the
// upstream tries, each through the real binary (docs/security.md).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.hpp"

using namespace harness;

namespace {

// /api/admin needs a key, the rest of /api does not; both go to one echo upstream.
std::string admin_behind_key_config(std::uint16_t upstream_port, const std::string& paths = "") {
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n" + paths +
           "logging: { level: info }\n"
           "filters:\n"
           "  keys: { type: api_key, keys: [ { consumer: ops, key: ops-secret-1234 } ] }\n"
           "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
           std::to_string(upstream_port) +
           "\"]\n"
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

namespace {

struct stray_case {
    const char* name;
    std::string first_request;   // what the first client sends
    std::string first_response;  // the upstream's answer to it
    bool head_request;
};

}  // namespace

class PooledConnectionDesync : public ::testing::TestWithParam<stray_case> {};

// A buggy or hostile upstream sends bytes nobody asked for after a response: the connection is
// closed, never reused, so the next client never receives them as its response.
TEST_P(PooledConnectionDesync, BytesAfterAResponseNeverReachTheNextRequest) {
    const auto& param = GetParam();
    temp_dir dir;
    std::atomic<bool> injected{false};
    raw_upstream up([&](int fd) {
        for (int n = 0;; ++n) {
            auto req = recv_request(fd);
            if (req.empty()) {
                return;
            }
            if (n == 0 && req.find("/first") != std::string::npos) {
                send_all(fd, param.first_response);
                peer_pause(50ms);  // after the response has been relayed
                send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED");
                injected = true;
            } else {
                send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal");
            }
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    client first(gw.port());
    first.send(param.first_request);
    auto r1 = first.read_response(param.head_request);
    ASSERT_TRUE(r1);
    EXPECT_TRUE(eventually([&] { return injected.load(); }));  // the stray bytes are on the idle connection
    for (int i = 0; i < 3; ++i) {
        client next(gw.port());
        next.send(get_request("/next"));
        auto r = next.read_response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->status, 200) << i;
        EXPECT_EQ(r->body, "real") << param.name << " request " << i;
    }
    auto page = wait_for_metrics(gw.admin_port(),
                                 {"gatehouse_upstream_errors_total{upstream=\"app\",kind=\"unexpected_bytes\"} 1"});
    EXPECT_NE(page.find("gatehouse_upstream_errors_total{upstream=\"app\",kind=\"unexpected_bytes\"} 1"),
              std::string::npos)
        << param.name;
}

INSTANTIATE_TEST_SUITE_P(Upstream, PooledConnectionDesync,
                         ::testing::Values(stray_case{"after_head", "HEAD /first HTTP/1.1\r\nHost: h\r\n\r\n",
                                                      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true},
                                           stray_case{"after_204", get_request("/first"),
                                                      "HTTP/1.1 204 No Content\r\n\r\n", false},
                                           stray_case{"after_304", get_request("/first", "If-None-Match: \"x\"\r\n"),
                                                      "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", false},
                                           stray_case{"past_content_length", get_request("/first"),
                                                      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(PooledConnectionDesync, BytesBeyondContentLengthInTheSameWriteCloseTheConnection) {
    temp_dir dir;
    std::atomic<int> answered{0};
    raw_upstream up([&](int fd) {
        while (!recv_request(fd).empty()) {
            send_all(fd, answered++ == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 "
                                           "OK\r\nContent-Length: 8\r\n\r\nINJECTED"
                                         : "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal");
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    auto r1 = request(gw.port(), get_request("/"));
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->body, "ok");
    auto r2 = request(gw.port(), get_request("/"));
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->body, "real");
    EXPECT_EQ(up.connections(), 2);
    auto page = wait_for_metrics(gw.admin_port(), {"kind=\"unexpected_bytes\"} 1"});
    EXPECT_NE(page.find("gatehouse_upstream_errors_total{upstream=\"app\",kind=\"unexpected_bytes\"} 1"),
              std::string::npos);
}

// RFC 9110 section 5.3: several lines of a list-valued field are one list. A client behind a
// trusted proxy must not get its own first X-Forwarded-For line believed.
TEST(ForwardedFields, XForwardedForOnSeveralLinesIsOneList) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n"
               "filters:\n"
               "  inside: { type: ip_filter, allow: [10.0.0.0/8], trusted_proxies: [127.0.0.1] }\n"
               "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
                   std::to_string(echo.port()) +
                   "\"]\n"
                   "routes:\n  - { name: app, match: { prefix: / }, upstream: app, filters: [inside] }\n");

    auto split = request(gw.port(), get_request("/", "X-Forwarded-For: 10.9.9.9\r\nX-Forwarded-For: 203.0.113.7\r\n"));
    ASSERT_TRUE(split);
    EXPECT_EQ(split->status, 403) << split->body;
    auto joined = request(gw.port(), get_request("/", "X-Forwarded-For: 10.9.9.9, 203.0.113.7\r\n"));
    ASSERT_TRUE(joined);
    EXPECT_EQ(joined->status, 403);
    auto inside = request(gw.port(), get_request("/", "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 10.9.9.9\r\n"));
    ASSERT_TRUE(inside);
    EXPECT_EQ(inside->status, 200);
    EXPECT_EQ(echoed_header(*inside, "x-forwarded-for"), "203.0.113.7, 10.9.9.9, 127.0.0.1");
}

// Fields that name the client or the original request come from the gateway, never from the
// client: an upstream that trusts them would believe what the client chose.
TEST(ForwardedFields, ClientSentIdentityFieldsAreRemoved) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, one_route_config(echo.port()));
    auto r = request(gw.port(), get_request("/",
                                            "Forwarded: for=10.0.0.1;proto=https\r\nX-Real-IP: 10.0.0.1\r\n"
                                            "X-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /admin\r\n"
                                            "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n"
                                            "forwarded: for=10.0.0.2\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    for (auto name : {"forwarded", "x-real-ip", "x-forwarded-port", "x-forwarded-prefix"}) {
        EXPECT_FALSE(echo_has_header(*r, name)) << name << " reached the upstream: " << r->body;
    }
    EXPECT_EQ(echoed_header(*r, "x-forwarded-proto"), "http");
    EXPECT_EQ(echoed_header(*r, "x-forwarded-host"), "test.local");
}

// server.trusted_proxies: a load balancer in front of the gateway says who its client is. Its
// X-Forwarded-For names the client every filter sees, and its forwarding fields are passed on;
// from any other peer they are still replaced.
TEST(ForwardedFields, ATrustedProxyNamesTheClientAndKeepsItsForwardingFields) {
    temp_dir dir;
    echo_server echo(dir, "app");
    auto config = [&](const std::string& trusted, const std::string& chain = "inside, tag") {
        return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n  trusted_proxies: [" + trusted +
               "]\n"
               "filters:\n"
               "  inside: { type: ip_filter, allow: [10.0.0.0/8] }\n"
               "  tag: { type: headers, request: { set: { X-Seen-Client: \"%{client_ip}\" } } }\n"
               "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
               std::to_string(echo.port()) +
               "\"]\n"
               "routes:\n  - { name: app, match: { prefix: / }, upstream: app, filters: [" +
               chain + "] }\n";
    };
    const std::string fields =
        "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 10.9.9.9, 127.0.0.5\r\n"
        "X-Forwarded-Proto: https\r\nX-Forwarded-Host: api.example\r\nX-Forwarded-Port: 443\r\n"
        "X-Forwarded-Prefix: /v1\r\nForwarded: for=10.9.9.9;proto=https\r\nX-Real-IP: 10.9.9.9\r\n";
    auto count = [](const response& r, const std::string& name) {
        std::size_t n = 0;
        for (auto at = r.body.find("\"" + name + "\":"); at != std::string::npos;
             at = r.body.find("\"" + name + "\":", at + 1))
            ++n;
        return n;
    };
    {
        // 127.0.0.0/8 is trusted: the walk skips 127.0.0.5 and stops at 10.9.9.9.
        gateway gw(dir, config("127.0.0.0/8, 192.0.2.0/24"));
        auto r = request(gw.port(), get_request("/", fields));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
        EXPECT_EQ(echoed_header(*r, "x-seen-client"), "10.9.9.9");
        EXPECT_EQ(echoed_header(*r, "x-forwarded-for"), "203.0.113.7, 10.9.9.9, 127.0.0.5, 127.0.0.1");
        EXPECT_EQ(echoed_header(*r, "x-forwarded-proto"), "https");
        EXPECT_EQ(count(*r, "x-forwarded-proto"), 1u) << r->body;
        EXPECT_EQ(echoed_header(*r, "x-forwarded-host"), "api.example");
        EXPECT_EQ(count(*r, "x-forwarded-host"), 1u);
        EXPECT_EQ(echoed_header(*r, "x-forwarded-port"), "443");
        EXPECT_EQ(echoed_header(*r, "x-forwarded-prefix"), "/v1");
        EXPECT_EQ(echoed_header(*r, "forwarded"), "for=10.9.9.9;proto=https");
        EXPECT_EQ(echoed_header(*r, "x-real-ip"), "10.9.9.9");
        // A client id is not a forwarding field: the gateway still decides it.
        auto id = request(gw.port(), get_request("/", fields + "X-Request-Id: bad id with spaces\r\n"));
        ASSERT_TRUE(id);
        ASSERT_EQ(id->status, 200) << id->body;
        EXPECT_NE(echoed_header(*id, "x-request-id"), "bad id with spaces");
    }
    {
        // The same request from a peer that is not trusted: its word counts for nothing.
        gateway gw(dir, config("192.0.2.0/24"));
        auto r = request(gw.port(), get_request("/", fields));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 403) << r->body;
    }
    {
        // Without the IP rule, an untrusted peer's forwarding fields are replaced or removed.
        gateway gw(dir, config("192.0.2.0/24", "tag"));
        auto r = request(gw.port(), get_request("/", fields));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
        EXPECT_EQ(echoed_header(*r, "x-seen-client"), "127.0.0.1");
        EXPECT_EQ(echoed_header(*r, "x-forwarded-proto"), "http");
        EXPECT_EQ(echoed_header(*r, "x-forwarded-host"), "test.local");
        for (auto name : {"forwarded", "x-real-ip", "x-forwarded-port", "x-forwarded-prefix"}) {
            EXPECT_FALSE(echo_has_header(*r, name)) << name;
        }
    }
}

namespace {

std::string admin_config(std::uint16_t upstream_port, const std::string& admin_extra) {
    return "admin: { listen: \"127.0.0.1:0\"" + admin_extra + " }\n" + one_route_config(upstream_port);
}

std::optional<response> admin_call(std::uint16_t port, const std::string& method, const std::string& path,
                                   const std::string& headers) {
    return request(port,
                   method + " " + path + " HTTP/1.1\r\n" + headers + "Content-Length: 0\r\nConnection: close\r\n\r\n");
}

}  // namespace

// Any web page open in a browser on the gateway's host can send a POST to 127.0.0.1:9901.
TEST(AdminListener, ReloadFromAWebPageIsRefused) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, admin_config(echo.port(), ""));
    const std::string form = "Host: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n";
    auto csrf = admin_call(gw.admin_port(), "POST", "/reload", form + "Origin: http://evil.example\r\n");
    ASSERT_TRUE(csrf);
    EXPECT_EQ(csrf->status, 403);
    EXPECT_EQ(json_field(csrf->body, "error"), "cross_site_request");
    auto null_origin = admin_call(gw.admin_port(), "POST", "/reload", form + "Origin: null\r\n");
    ASSERT_TRUE(null_origin);
    EXPECT_EQ(null_origin->status, 403);
    auto fetch = admin_call(gw.admin_port(), "POST", "/reload", form + "Sec-Fetch-Site: cross-site\r\n");
    ASSERT_TRUE(fetch);
    EXPECT_EQ(fetch->status, 403);
    auto same_site = admin_call(gw.admin_port(), "POST", "/reload", form + "Sec-Fetch-Site: same-site\r\n");
    ASSERT_TRUE(same_site);
    EXPECT_EQ(same_site->status, 403);
    EXPECT_EQ(gw.proc().log().find("reload"), std::string::npos) << "a refused reload still ran";
    // curl, scripts and orchestrators send neither.
    auto ok = admin_call(gw.admin_port(), "POST", "/reload", "Host: 127.0.0.1\r\n");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
    auto user_typed = admin_call(gw.admin_port(), "POST", "/reload", "Host: 127.0.0.1\r\nSec-Fetch-Site: none\r\n");
    ASSERT_TRUE(user_typed);
    EXPECT_EQ(user_typed->status, 200);
}

// DNS rebinding: a page on evil.example re-points its name at 127.0.0.1 and reads the admin
// pages as same-origin; its requests carry Host: evil.example.
TEST(AdminListener, OnlyKnownHostsReadTheAdminPages) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, admin_config(echo.port(), ", hosts: [gw-admin.internal]"));
    const auto port = std::to_string(gw.admin_port());
    for (std::string page : {"/config", "/metrics"}) {
        auto rebound = admin_call(gw.admin_port(), "GET", page, "Host: evil.example:" + port + "\r\n");
        ASSERT_TRUE(rebound);
        EXPECT_EQ(rebound->status, 403) << page;
        EXPECT_EQ(json_field(rebound->body, "error"), "host_not_allowed");
        EXPECT_EQ(rebound->body.find("upstreams"), std::string::npos);
    }
    auto reload = admin_call(gw.admin_port(), "POST", "/reload", "Host: evil.example\r\n");
    ASSERT_TRUE(reload);
    EXPECT_EQ(reload->status, 403);
    for (std::string host : {"127.0.0.1:" + port, "localhost:" + port, std::string("LOCALHOST"), "[::1]:" + port,
                             std::string("gw-admin.internal"), "GW-Admin.Internal:" + port}) {
        auto r = admin_call(gw.admin_port(), "GET", "/metrics", "Host: " + host + "\r\n");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << host;
    }
    // Probes stay open to any name: load balancers call them by whatever name they use.
    auto health = admin_call(gw.admin_port(), "GET", "/healthz", "Host: lb.example\r\n");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    auto two = admin_call(gw.admin_port(), "GET", "/metrics", "Host: 127.0.0.1\r\nHost: evil.example\r\n");
    ASSERT_TRUE(two);
    EXPECT_EQ(two->status, 400);
}

TEST(AdminListener, TokenGuardsEveryPageButTheProbes) {
    temp_dir dir;
    echo_server echo(dir, "app");
    const std::string token = "admin-token-0123456789abcdef";
    gateway gw(dir, admin_config(echo.port(), ", token: \"${ADMIN_TOKEN}\""), {{"ADMIN_TOKEN", token}});
    const std::string host = "Host: 127.0.0.1\r\n";
    for (std::string page : {"/config", "/metrics"}) {
        auto none = admin_call(gw.admin_port(), "GET", page, host);
        ASSERT_TRUE(none);
        EXPECT_EQ(none->status, 401) << page;
        EXPECT_EQ(none->header("www-authenticate"), "Bearer realm=\"gatehouse-admin\"");
        auto wrong = admin_call(gw.admin_port(), "GET", page, host + "Authorization: Bearer " + token + "x\r\n");
        ASSERT_TRUE(wrong);
        EXPECT_EQ(wrong->status, 401) << page;
        auto right = admin_call(gw.admin_port(), "GET", page, host + "Authorization: Bearer " + token + "\r\n");
        ASSERT_TRUE(right);
        EXPECT_EQ(right->status, 200) << page;
        EXPECT_EQ(right->body.find(token), std::string::npos) << page << " shows the admin token";
    }
    auto reload = admin_call(gw.admin_port(), "POST", "/reload", host);
    ASSERT_TRUE(reload);
    EXPECT_EQ(reload->status, 401);
    auto reload_ok = admin_call(gw.admin_port(), "POST", "/reload", host + "Authorization: bearer " + token + "\r\n");
    ASSERT_TRUE(reload_ok);
    EXPECT_EQ(reload_ok->status, 200) << reload_ok->body;
    for (std::string page : {"/healthz", "/readyz"}) {
        auto probe = admin_call(gw.admin_port(), "GET", page, host);
        ASSERT_TRUE(probe);
        EXPECT_EQ(probe->status, 200) << page;
    }
    EXPECT_EQ(gw.proc().log().find(token), std::string::npos) << "the token was logged";
}

TEST(AdminListener, ANonLoopbackAdminNeedsAToken) {
    temp_dir dir;
    auto file = dir.write("open.yaml", "admin: { listen: \"0.0.0.0:9901\" }\n" + one_route_config(1));
    auto [code, out] = run_command(gatehouse_binary() + " --validate " + file);
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("open.yaml:1:"), std::string::npos) << out;
    EXPECT_NE(out.find("admin.token is required when the admin listener is not on loopback"), std::string::npos) << out;
    auto short_token =
        dir.write("short.yaml", "admin: { listen: \"0.0.0.0:9901\", token: abc }\n" + one_route_config(1));
    auto [code2, out2] = run_command(gatehouse_binary() + " --validate " + short_token);
    EXPECT_EQ(code2, 1);
    EXPECT_NE(out2.find("admin.token: too short"), std::string::npos) << out2;
    auto fine = dir.write("fine.yaml",
                          "admin: { listen: \"0.0.0.0:9901\", token: 0123456789abcdef0123 }\n" + one_route_config(1));
    auto [code3, out3] = run_command(gatehouse_binary() + " --validate " + fine);
    EXPECT_EQ(code3, 0) << out3;
}

TEST(ConfigPage, ValuesFromTheEnvironmentAreRedacted) {
    temp_dir dir;
    echo_server echo(dir, "app");
    const std::string token = "bk-5a4b3c2d1e0f9a8b";
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n"
               "filters:\n"
               "  backend: { type: headers, request: { set: { X-Backend-Token: \"Bearer ${BACKEND_TOKEN}\", "
               "X-Backend-Sig: \"${BACKEND_TOKEN}\" } } }\n"
               "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
                   std::to_string(echo.port()) +
                   "\"]\n"
                   "routes:\n  - { name: app, upstream: app, filters: [backend] }\n",
               {{"BACKEND_TOKEN", token}});
    auto page = request(gw.admin_port(), "GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_EQ(page->body.find(token), std::string::npos) << page->body;
    EXPECT_NE(page->body.find("\"X-Backend-Sig\":\"<redacted>\""), std::string::npos) << page->body;
    auto proxied = request(gw.port(), get_request("/"));  // the upstream still gets the real value
    ASSERT_TRUE(proxied);
    EXPECT_EQ(echoed_header(*proxied, "x-backend-sig"), token);
    EXPECT_EQ(gw.proc().log().find(token), std::string::npos);
}

TEST(Cors, AnyOriginWithCredentialsIsRefusedByValidateAndNullNeverMatches) {
    temp_dir dir;
    auto bad =
        dir.write("cors.yaml", one_route_config(1) + "    filters: [c]\n" +
                                   "filters:\n  c: { type: cors, allow_origins: ['*'], allow_credentials: true }\n");
    auto [code, out] = run_command(gatehouse_binary() + " --validate " + bad);
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find("cors.yaml:"), std::string::npos) << out;
    EXPECT_NE(out.find("filters.c.allow_credentials"), std::string::npos) << out;

    echo_server echo(dir, "app");
    gateway gw(
        dir, one_route_config(echo.port()) + "    filters: [c]\nfilters:\n  c: { type: cors, allow_origins: ['*'] }\n");
    auto preflight = request(gw.port(),
                             "OPTIONS /x HTTP/1.1\r\nHost: h\r\nOrigin: null\r\n"
                             "Access-Control-Request-Method: GET\r\n\r\n");
    ASSERT_TRUE(preflight);
    EXPECT_EQ(preflight->status, 403);
    auto actual = request(gw.port(), get_request("/x", "Origin: null\r\n"));
    ASSERT_TRUE(actual);
    EXPECT_EQ(actual->status, 200);
    EXPECT_FALSE(actual->has("access-control-allow-origin"));
}

TEST(Conformance, MaxForwardsZeroIsAnsweredByTheGateway) {
    temp_dir dir;
    raw_upstream up([&](int fd) {
        while (!recv_request(fd, &up).empty()) send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup");
    });
    gateway gw(dir, one_route_config(up.port()));
    auto options = request(gw.port(), "OPTIONS /api HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n");
    ASSERT_TRUE(options);
    EXPECT_EQ(options->status, 200);
    EXPECT_FALSE(options->header("allow").empty());
    auto trace = request(gw.port(),
                         "TRACE /api HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nCookie: session=s3cret\r\n"
                         "Authorization: Bearer t0ken\r\nX-Probe: yes\r\n\r\n");
    ASSERT_TRUE(trace);
    EXPECT_EQ(trace->status, 200);
    EXPECT_EQ(trace->header("content-type"), "message/http");
    EXPECT_EQ(trace->body.rfind("TRACE /api HTTP/1.1\r\n", 0), 0u) << trace->body;
    EXPECT_NE(trace->body.find("X-Probe: yes"), std::string::npos);
    EXPECT_EQ(trace->body.find("s3cret"), std::string::npos) << "credentials reflected";
    EXPECT_EQ(trace->body.find("t0ken"), std::string::npos) << "credentials reflected";
    peer_pause(50ms);  // the grace in which a forwarded TRACE would have arrived
    EXPECT_EQ(up.received(), "");
    // Above zero: forwarded with one hop less.
    auto forwarded = request(gw.port(), "OPTIONS /api HTTP/1.1\r\nHost: h\r\nMax-Forwards: 5\r\n\r\n");
    ASSERT_TRUE(forwarded);
    EXPECT_EQ(forwarded->body, "up");
    EXPECT_NE(up.received().find("Max-Forwards: 4\r\n"), std::string::npos) << up.received();
}

TEST(Conformance, LaterHttp1MinorVersionsAreServedAsHttp11) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, one_route_config(echo.port()));
    auto r = request(gw.port(), "GET /v HTTP/1.2\r\nHost: h\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->version, "HTTP/1.1");
    auto two = request(gw.port(), "GET /v HTTP/2.0\r\nHost: h\r\n\r\n");
    ASSERT_TRUE(two);
    EXPECT_EQ(two->status, 505);
}

TEST(Conformance, ConnectionOptionsAreCapped) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, one_route_config(echo.port()));
    std::string many;
    for (int i = 0; i < 33; ++i) many += (i ? ", x-opt-" : "x-opt-") + std::to_string(i);
    auto r = request(gw.port(), get_request("/", "Connection: " + many + "\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    // Split over lines, the same list.
    std::string lines;
    for (int i = 0; i < 33; ++i) lines += "Connection: x-opt-" + std::to_string(i) + "\r\n";
    auto split = request(gw.port(), get_request("/", lines));
    ASSERT_TRUE(split);
    EXPECT_EQ(split->status, 400);
    // Within the cap, every nominated field on every line is removed.
    auto ok =
        request(gw.port(),
                get_request("/", "Connection: x-a\r\nConnection: x-b, keep-alive\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_FALSE(echo_has_header(*ok, "x-a"));
    EXPECT_FALSE(echo_has_header(*ok, "x-b"));
    EXPECT_TRUE(echo_has_header(*ok, "x-c"));
}

// jwt and api_key check one credential; an upstream reading another line of the field would
// act on one nobody checked.
TEST(DuplicatedCredentials, AreRefused) {
    temp_dir dir;
    raw_upstream up([&](int fd) {
        while (!recv_request(fd, &up).empty()) send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    gateway gw(dir, admin_behind_key_config(up.port()));
    auto two_auth = request(gw.port(), get_request("/api/x", "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n"));
    ASSERT_TRUE(two_auth);
    EXPECT_EQ(two_auth->status, 400);
    auto two_keys =
        request(gw.port(), get_request("/api/admin/x", "X-Api-Key: ops-secret-1234\r\nX-Api-Key: other\r\n"));
    ASSERT_TRUE(two_keys);
    EXPECT_EQ(two_keys->status, 400);
    EXPECT_EQ(json_field(two_keys->body, "error"), "duplicate_key");
    peer_pause(50ms);  // the grace in which a forwarded request would have arrived
    EXPECT_EQ(up.received(), "");
    auto one = request(gw.port(), get_with_key("/api/admin/x"));
    ASSERT_TRUE(one);
    EXPECT_EQ(one->status, 200);
}

// The consumer and claim fields an auth filter sets are trusted by upstreams: a route without
// that filter must not let a client send its own.
TEST(IdentityFields, ClientCopiesAreRemovedOnEveryRoute) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(
        dir,
        "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n"
        "filters:\n"
        "  keys: { type: api_key, consumer_header: X-Consumer, keys: [ { consumer: ops, key: ops-secret-1234 } ] }\n"
        "  token: { type: jwt, keys: [ { kid: k, alg: HS256, secret: \"0123456789abcdef0123456789abcdef\" } ],\n"
        "           claims_to_headers: { sub: X-User-Id } }\n"
        "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
            std::to_string(echo.port()) +
            "\"]\n"
            "routes:\n"
            "  - { name: keyed, match: { prefix: /keyed }, upstream: app, filters: [keys] }\n"
            "  - { name: open, match: { prefix: / }, upstream: app }\n");
    auto open = request(gw.port(), get_request("/open", "X-Consumer: ops\r\nx-user-id: admin\r\nX-Other: kept\r\n"));
    ASSERT_TRUE(open);
    EXPECT_EQ(open->status, 200);
    EXPECT_FALSE(echo_has_header(*open, "x-consumer")) << open->body;
    EXPECT_FALSE(echo_has_header(*open, "x-user-id")) << open->body;
    EXPECT_TRUE(echo_has_header(*open, "x-other"));
    auto keyed = request(gw.port(), get_request("/keyed", "X-Api-Key: ops-secret-1234\r\nX-Consumer: root\r\n"));
    ASSERT_TRUE(keyed);
    EXPECT_EQ(keyed->status, 200);
    EXPECT_EQ(echoed_header(*keyed, "x-consumer"), "ops");
}

// A client trickling its body, a byte inside every read timeout, would hold a pooled upstream
// connection for ever: the whole body has a deadline of its own.
TEST(SlowClients, ATricklingRequestBodyGets408) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, one_route_config(echo.port(), "  timeouts: { read: 2s, body: 1s }\n"));
    client c(gw.port());
    c.send("POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n");
    for (int i = 0; i < 12; ++i) {  // 3 s in all, past the body deadline
        peer_pause(250ms);          // within the read timeout each time
        ::send(c.fd(), "x", 1, MSG_NOSIGNAL);
    }
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408) << r->body;
    EXPECT_EQ(json_field(r->body, "error"), "request_timeout");
}

// The same bound for a client that reads the response too slowly.
TEST(SlowClients, AClientReadingTooSlowlyIsCutOff) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, one_route_config(echo.port(), "  timeouts: { send: 10s, body: 1s }\n"));
    client c(gw.port(), 10s);
    const std::uint64_t size = 64ull * 1024 * 1024;
    c.send(get_request("/bytes/" + std::to_string(size)));
    peer_pause(2500ms);          // reads nothing past the body deadline
    auto all = c.read_all(10s);  // what the kernel buffers held, then the close
    EXPECT_LT(all.size(), size) << "the whole body was sent to a client that did not read it in time";
    EXPECT_GT(all.size(), 0u);
}

// The access log's writer stuck on a pipe nobody reads must not stop the traffic.
TEST(AccessLogOverflow, TrafficKeepsFlowingWhenTheLogCannotBeWritten) {
    temp_dir dir;
    echo_server echo(dir, "app");
    auto fifo = dir.path() + "/access.pipe";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // opened, never read
    ASSERT_GE(reader, 0);
    gateway gw(dir, one_route_config(echo.port(), "", "    filters: [log]\n") +
                        "filters:\n  log: { type: access_log, output: \"" + fifo + "\", buffer: 1B, flush: 10ms }\n");
    client c(gw.port(), 5s);
    // The pipe holds 64 KiB, the writer's queue 4096 batches of one line: far fewer than this.
    const int requests = 6000;
    int ok = 0;
    for (int i = 0; i < requests; ++i) {
        c.send(get_request("/r"));
        auto r = c.read_response();
        if (!r) break;
        ok += r->status == 200;
    }
    EXPECT_EQ(ok, requests);
    auto page =
        wait_for_metrics(gw.admin_port(), {"gatehouse_filter_events_total{filter=\"log\",event=\"lines_dropped\"}"});
    auto at = page.find("gatehouse_filter_events_total{filter=\"log\",event=\"lines_dropped\"} ");
    ASSERT_NE(at, std::string::npos) << page;
    EXPECT_GT(std::stol(page.substr(at + 66)), 1000) << page.substr(at, 80);
    ::close(reader);
}
