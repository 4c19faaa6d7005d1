// Authentication and access filters through the real binary.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common.hpp"

using namespace harness;

namespace {

std::string api_key_config(std::uint16_t upstream_port) {
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n"
           "logging: { level: info }\n"
           "filters:\n"
           "  keys:\n"
           "    type: api_key\n"
           "    query: api_key\n"
           "    consumer_header: X-Consumer\n"
           "    keys:\n"
           "      - { consumer: alice, key: \"${ALICE_KEY}\" }\n"
           "      - { consumer: bob, key: bob-secret-22 }\n"
           "  alice_only: { type: api_key, keys: [ { consumer: alice, key: \"${ALICE_KEY}\" }, "
           "{ consumer: bob, key: bob-secret-22 } ], allow: [alice] }\n"
           "default_filters: [keys]\n"
           "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
           std::to_string(upstream_port) +
           "\"]\n"
           "routes:\n"
           "  - { name: admin, match: { prefix: /admin }, upstream: app, filters: { replace: [alice_only] } }\n"
           "  - { name: open, match: { prefix: /public }, upstream: app, filters: { skip: [keys] } }\n"
           "  - { name: app, match: { prefix: / }, upstream: app }\n";
}

}  // namespace

TEST(ApiKeyAuth, KeysAnswer401And403AndNameTheConsumerUpstream) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, api_key_config(echo.port()), {{"ALICE_KEY", "alice-from-env-1"}});

    auto missing = request(gw.port(), get_request("/orders"));
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 401);
    EXPECT_EQ(missing->header("www-authenticate"), "ApiKey realm=\"gatehouse\", header=\"X-Api-Key\"");
    EXPECT_EQ(json_field(missing->body, "error"), "missing_key");
    EXPECT_EQ(json_field(missing->body, "request_id"), missing->header("x-request-id"));

    auto wrong = request(gw.port(), get_request("/orders", "X-Api-Key: alice-from-env-2\r\n"));
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    EXPECT_EQ(json_field(wrong->body, "error"), "invalid_key");

    auto ok = request(gw.port(), get_request("/orders", "X-Api-Key: alice-from-env-1\r\n"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(echoed_header(*ok, "x-consumer"), "alice");
    EXPECT_FALSE(echo_has_header(*ok, "x-api-key"));  // the key never reaches the upstream

    auto by_query = request(gw.port(), get_request("/orders?x=1&api_key=bob-secret-22"));
    ASSERT_TRUE(by_query);
    EXPECT_EQ(by_query->status, 200);
    EXPECT_EQ(echoed_header(*by_query, "x-consumer"), "bob");
    EXPECT_EQ(json_field(by_query->body, "target"), "/orders?x=1");

    auto forbidden = request(gw.port(), get_request("/admin/users", "X-Api-Key: bob-secret-22\r\n"));
    ASSERT_TRUE(forbidden);
    EXPECT_EQ(forbidden->status, 403);
    EXPECT_EQ(json_field(forbidden->body, "error"), "consumer_not_allowed");
    auto admin = request(gw.port(), get_request("/admin/users", "X-Api-Key: alice-from-env-1\r\n"));
    ASSERT_TRUE(admin);
    EXPECT_EQ(admin->status, 200);

    auto open = request(gw.port(), get_request("/public/info"));
    ASSERT_TRUE(open);
    EXPECT_EQ(open->status, 200);

    // Rejections are counted by filter and reason, and the keys appear nowhere.
    auto page = wait_for_metrics(
        gw.admin_port(),
        {"gatehouse_filter_rejections_total{filter=\"alice_only\",reason=\"consumer_not_allowed\"} 1"});
    auto metrics = std::optional<response>(response{});
    metrics->body = page;
    EXPECT_NE(metrics->body.find("gatehouse_filter_rejections_total{filter=\"keys\",reason=\"missing_key\"} 1"),
              std::string::npos)
        << metrics->body;
    EXPECT_NE(metrics->body.find("gatehouse_filter_rejections_total{filter=\"keys\",reason=\"invalid_key\"} 1"),
              std::string::npos);
    EXPECT_NE(metrics->body.find(
                  "gatehouse_filter_rejections_total{filter=\"alice_only\",reason=\"consumer_not_allowed\"} 1"),
              std::string::npos);
    auto config = request(gw.admin_port(), "GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->body.find("alice-from-env"), std::string::npos);
    EXPECT_EQ(config->body.find("bob-secret"), std::string::npos);
    EXPECT_EQ(gw.proc().log().find("alice-from-env"), std::string::npos);
}

TEST(ApiKeyAuth, ARejectedRequestWithABodyClosesTheConnection) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir, api_key_config(echo.port()), {{"ALICE_KEY", "alice-from-env-1"}});
    client c(gw.port());
    c.send("POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.closed_within(3s));
    EXPECT_EQ(echo.connections(), 1);  // only its own stats request: nothing was forwarded
}

TEST(IpFilterAuth, DenyListsAndTheClientBehindATrustedProxy) {
    temp_dir dir;
    echo_server echo(dir, "app");
    auto log_file = dir.path() + "/access.log";
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\nlogging: { level: info }\n"
               "filters:\n"
               "  behind_lb: { type: ip_filter, deny: [203.0.113.0/24], trusted_proxies: [127.0.0.1] }\n"
               "  direct: { type: ip_filter, allow: [10.0.0.0/8] }\n"
               "  log: { type: access_log, output: \"" +
                   log_file +
                   "\", flush: 100ms, fields: [client, status] }\n"
                   "default_filters: [log]\n"
                   "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
                   std::to_string(echo.port()) +
                   "\"]\n"
                   "routes:\n"
                   "  - { name: internal, match: { prefix: /internal }, upstream: app, filters: [direct] }\n"
                   "  - { name: app, match: { prefix: / }, upstream: app, filters: [behind_lb] }\n");
    // 127.0.0.1 is a trusted proxy here: the client is the address it forwarded.
    auto denied = request(gw.port(), get_request("/x", "X-Forwarded-For: 203.0.113.77\r\n"));
    ASSERT_TRUE(denied);
    EXPECT_EQ(denied->status, 403);
    EXPECT_EQ(json_field(denied->body, "error"), "ip_denied");
    auto allowed = request(gw.port(), get_request("/x", "X-Forwarded-For: 203.0.113.77, 198.51.100.4\r\n"));
    ASSERT_TRUE(allowed);
    EXPECT_EQ(allowed->status, 200);
    // The upstream still gets the whole chain plus the peer, as always.
    EXPECT_EQ(echoed_header(*allowed, "x-forwarded-for"), "203.0.113.77, 198.51.100.4, 127.0.0.1");
    // Only 10.0.0.0/8 on /internal, and X-Forwarded-For is not trusted by that instance.
    auto internal = request(gw.port(), get_request("/internal/x", "X-Forwarded-For: 10.1.1.1\r\n"));
    ASSERT_TRUE(internal);
    EXPECT_EQ(internal->status, 403);
    EXPECT_EQ(json_field(internal->body, "error"), "ip_not_allowed");

    // The access log names the client the filter found.
    std::string log;
    eventually([&] {
        log = read_file(log_file);
        return std::count(log.begin(), log.end(), '\n') >= 3;
    });
    EXPECT_NE(log.find("{\"client\":\"203.0.113.77\",\"status\":403}"), std::string::npos) << log;
    EXPECT_NE(log.find("{\"client\":\"198.51.100.4\",\"status\":200}"), std::string::npos) << log;
    EXPECT_NE(log.find("{\"client\":\"127.0.0.1\",\"status\":403}"), std::string::npos) << log;
}

TEST(CorsFilter, PreflightNeverReachesTheUpstreamAndActualRequestsGetTheFields) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\nlogging: { level: info }\n"
               "filters:\n"
               "  cors: { type: cors, allow_origins: [\"https://app.example.com\"], allow_methods: [GET, PUT],\n"
               "          allow_headers: [Content-Type], max_age: 1h }\n"
               "default_filters: [cors]\n"
               "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
                   std::to_string(echo.port()) +
                   "\"]\n"
                   "routes:\n  - { name: app, upstream: app }\n");
    client c(gw.port());
    c.send(
        "OPTIONS /items/1 HTTP/1.1\r\nHost: api\r\nOrigin: https://app.example.com\r\n"
        "Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type\r\n\r\n");
    auto preflight = c.read_response();
    ASSERT_TRUE(preflight);
    EXPECT_EQ(preflight->status, 204);
    EXPECT_EQ(preflight->header("access-control-allow-origin"), "https://app.example.com");
    EXPECT_EQ(preflight->header("access-control-allow-methods"), "GET, PUT");
    EXPECT_EQ(preflight->header("access-control-max-age"), "3600");
    EXPECT_FALSE(preflight->has("content-length"));  // a 204 has none
    EXPECT_TRUE(preflight->body.empty());
    // The same connection carries on: the preflight had no body to discard.
    c.send("PUT /items/1 HTTP/1.1\r\nHost: api\r\nOrigin: https://app.example.com\r\nContent-Length: 2\r\n\r\nhi");
    auto actual = c.read_response();
    ASSERT_TRUE(actual);
    EXPECT_EQ(actual->status, 200);
    EXPECT_EQ(actual->header("access-control-allow-origin"), "https://app.example.com");
    EXPECT_EQ(actual->header("vary"), "Origin");
    EXPECT_EQ(json_field(actual->body, "method"), "PUT");

    auto refused = request(gw.port(),
                           "OPTIONS /x HTTP/1.1\r\nHost: api\r\nOrigin: https://evil.example\r\n"
                           "Access-Control-Request-Method: GET\r\n\r\n");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403);
    EXPECT_EQ(json_field(refused->body, "error"), "origin_not_allowed");
    EXPECT_FALSE(refused->has("access-control-allow-origin"));

    // Only the PUT reached the upstream (its stats request is the other connection).
    EXPECT_EQ(echo.connections(), 2);
}

TEST(RateLimitFilter, LocalLimitIsExactAcrossWorkers) {
    temp_dir dir;
    echo_server echo(dir, "app");
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 2\nlogging: { level: info }\n"
               "filters:\n"
               "  limit: { type: rate_limit, key: client_ip, limits: [ { name: burst, rate: 5, per: 1h } ] }\n"
               "default_filters: [limit]\n"
               "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
                   std::to_string(echo.port()) +
                   "\"]\n"
                   "routes:\n  - { name: app, upstream: app }\n");
    int passed = 0;
    int limited = 0;
    std::optional<response> first_ok;
    std::optional<response> refused;
    // A new connection per request: SO_REUSEPORT spreads them over both workers.
    for (int i = 0; i < 12; ++i) {
        auto r = request(gw.port(), get_request("/r/" + std::to_string(i)));
        ASSERT_TRUE(r);
        if (r->status == 200) {
            ++passed;
            if (!first_ok) first_ok = r;
        } else {
            EXPECT_EQ(r->status, 429);
            ++limited;
            refused = r;
        }
    }
    EXPECT_EQ(passed, 5);  // the instance's limit, not 5 per worker
    EXPECT_EQ(limited, 7);
    ASSERT_TRUE(first_ok);
    EXPECT_EQ(first_ok->header("ratelimit-policy"), "\"burst\";q=5;w=3600");
    EXPECT_EQ(first_ok->header("ratelimit"), "\"burst\";r=4;t=720");
    ASSERT_TRUE(refused);
    EXPECT_EQ(json_field(refused->body, "error"), "rate_limited");
    EXPECT_EQ(refused->header("retry-after"), "720");
    EXPECT_EQ(refused->header("ratelimit"), "\"burst\";r=0;t=3600");
    auto metrics = std::optional<response>(response{});
    metrics->body = wait_for_metrics(gw.admin_port(),
                                     {"gatehouse_filter_rejections_total{filter=\"limit\",reason=\"rate_limited\"} 7"});
    EXPECT_NE(metrics->body.find("gatehouse_filter_rejections_total{filter=\"limit\",reason=\"rate_limited\"} 7"),
              std::string::npos)
        << metrics->body;
}

namespace {

std::string hs256_token(const std::string& secret, const std::string& header, const std::string& payload) {
    auto input = b64url(header) + "." + b64url(payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &size);
    return input + "." + b64url(std::string_view(reinterpret_cast<char*>(mac), size));
}

}  // namespace

TEST(JwtFilter, BearerTokensThroughTheGateway) {
    temp_dir dir;
    echo_server echo(dir, "app");
    const std::string secret = "integration-secret-0123456789-abcdef";
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\nlogging: { level: info }\n"
               "filters:\n"
               "  auth:\n"
               "    type: jwt\n"
               "    keys: [ { kid: main, alg: HS256, secret: \"${JWT_SECRET}\" } ]\n"
               "    issuer: https://idp.test\n"
               "    audience: api\n"
               "    claims_to_headers: { sub: X-User-Id, tenant: X-Tenant }\n"
               "    consumer_claim: sub\n"
               "    strip_authorization: true\n"
               "default_filters: [auth]\n"
               "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
                   std::to_string(echo.port()) +
                   "\"]\n"
                   "routes:\n  - { name: app, upstream: app }\n",
               {{"JWT_SECRET", secret}});
    auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto good =
        hs256_token(secret, R"({"alg":"HS256","kid":"main"})",
                    R"({"iss":"https://idp.test","aud":"api","sub":"user-7","exp":)" + std::to_string(now + 600) + "}");

    auto missing = request(gw.port(), get_request("/me"));
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 401);
    EXPECT_EQ(missing->header("www-authenticate"), "Bearer realm=\"gatehouse\"");

    auto ok = request(gw.port(), get_request("/me", "Authorization: Bearer " + good + "\r\nX-Tenant: spoofed\r\n"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(echoed_header(*ok, "x-user-id"), "user-7");
    EXPECT_FALSE(echo_has_header(*ok, "x-tenant"));       // no such claim: the client's value is dropped
    EXPECT_FALSE(echo_has_header(*ok, "authorization"));  // strip_authorization

    auto expired =
        hs256_token(secret, R"({"alg":"HS256","kid":"main"})",
                    R"({"iss":"https://idp.test","aud":"api","sub":"u","exp":)" + std::to_string(now - 3600) + "}");
    auto none =
        b64url(R"({"alg":"none"})") + "." + b64url(R"({"iss":"https://idp.test","aud":"api","sub":"admin"})") + ".";
    auto wrong_key = hs256_token("another-secret-0123456789-abcdefgh", R"({"alg":"HS256","kid":"main"})",
                                 R"({"iss":"https://idp.test","aud":"api","sub":"u"})");
    for (const auto& [token, reason] :
         {std::pair{expired, "expired"}, {none, "alg_not_allowed"}, {wrong_key, "bad_signature"}}) {
        auto r = request(gw.port(), get_request("/me", "Authorization: Bearer " + token + "\r\n"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 401) << reason;
        EXPECT_EQ(r->header("www-authenticate"), "Bearer realm=\"gatehouse\", error=\"invalid_token\"") << reason;
    }
    auto metrics = wait_for_metrics(gw.admin_port(),
                                    {"gatehouse_filter_rejections_total{filter=\"auth\",reason=\"bad_signature\"} 1"});
    for (auto reason : {"missing_token", "expired", "alg_not_allowed", "bad_signature"}) {
        EXPECT_NE(
            metrics.find(std::string("gatehouse_filter_rejections_total{filter=\"auth\",reason=\"") + reason + "\"} 1"),
            std::string::npos)
            << reason << "\n"
            << metrics;
    }
    auto config = request(gw.admin_port(), "GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->body.find(secret), std::string::npos);
}
