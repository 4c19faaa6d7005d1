// cors driven directly: origin patterns, preflight answers and refusals, response fields,
// Vary, and config errors.
#include "cors/cors.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/filters/registry.hpp"
#include "map_fields.hpp"

using namespace gatehouse;
using namespace gatehouse::filters;

namespace {

using test_support::map_fields;

bool matches(std::string_view pattern, std::string_view origin) {
    std::string error;
    auto p = cors::parse_origin(pattern, error);
    EXPECT_TRUE(p) << error;
    return p && p->matches(origin);
}

struct exchange {
    std::pmr::monotonic_buffer_resource arena;
    request_context ctx{&arena};
    map_fields fields;
    filter_status status = filter_status::proceed;
    std::map<std::string, std::string> reply_headers;
    std::map<std::string, std::string> response_fields;
};

std::unique_ptr<exchange> run(const std::string& yaml, std::string method, std::map<std::string, std::string> headers,
                              unsigned upstream_status = 200) {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    auto factory = find_filter_type("cors")->parse(r, YAML::Load(yaml), "filters.cors");
    EXPECT_TRUE(factory) << (r.errors.empty() ? "" : r.errors.front().to_string());
    boost::asio::io_context io;
    worker_services w{io, 0};
    auto f = factory->create(w);
    auto e = std::make_unique<exchange>();
    e->ctx.method = method == "OPTIONS" ? "OPTIONS" : (method == "GET" ? "GET" : "POST");
    e->fields.values = std::move(headers);
    e->ctx.headers = &e->fields;
    e->status = f->on_request(e->ctx);
    if (e->ctx.reply) {
        for (auto& [n, v] : e->ctx.reply->headers) e->reply_headers[n] = v;
    }
    response_view response{e->ctx.reply ? e->ctx.reply->status : upstream_status, e->ctx.reply.has_value(), nullptr};
    f->on_response(e->ctx, response);
    e->ctx.response_edits.for_each_field([&](std::string_view n, std::string_view v) {
        auto& slot = e->response_fields[std::string(n)];
        slot += slot.empty() ? std::string(v) : ", " + std::string(v);
    });
    return e;
}

const std::string cors_config = R"(
type: cors
allow_origins: ["https://app.example.com", "https://*.example.org"]
allow_methods: [GET, POST, DELETE]
allow_headers: [Content-Type, Authorization]
expose_headers: [X-Request-Id]
allow_credentials: true
max_age: 10m
)";

}  // namespace

TEST(Cors, OriginPatterns) {
    EXPECT_TRUE(matches("https://app.example.com", "https://app.example.com"));
    EXPECT_TRUE(matches("https://app.example.com", "HTTPS://APP.EXAMPLE.COM"));
    EXPECT_FALSE(matches("https://app.example.com", "http://app.example.com"));
    EXPECT_FALSE(matches("https://app.example.com", "https://app.example.com.evil.net"));
    EXPECT_TRUE(matches("https://*.example.org", "https://a.example.org"));
    EXPECT_TRUE(matches("https://*.example.org", "https://a.b.example.org"));
    EXPECT_FALSE(matches("https://*.example.org", "https://example.org"));
    EXPECT_FALSE(matches("https://*.example.org", "https://evil.net/.example.org"));
    EXPECT_FALSE(matches("https://*.example.org", "https://evil.net:1.example.org"));
    EXPECT_FALSE(matches("https://*.example.org", "https://evilexample.org"));
    // "null" comes from sandboxed frames and file: pages that any site can create.
    EXPECT_FALSE(matches("*", "null"));
    EXPECT_FALSE(matches("https://*.example.org", "null"));
    std::string error;
    EXPECT_FALSE(cors::parse_origin("app.example.com", error));
    EXPECT_FALSE(cors::parse_origin("https://app.example.com/", error));
    EXPECT_FALSE(cors::parse_origin("https://a*.example.com", error));
    EXPECT_FALSE(cors::parse_origin("https://*.*.example.com", error));
}

TEST(Cors, PreflightIsAnsweredWithTheAllowedMethodsAndHeaders) {
    auto e = run(cors_config, "OPTIONS",
                 {{"origin", "https://x.example.org"},
                  {"access-control-request-method", "DELETE"},
                  {"access-control-request-headers", "content-type, authorization"}});
    ASSERT_EQ(e->status, filter_status::respond);
    EXPECT_EQ(e->ctx.reply->status, 204u);
    EXPECT_EQ(e->reply_headers["Access-Control-Allow-Origin"], "https://x.example.org");
    EXPECT_EQ(e->reply_headers["Access-Control-Allow-Methods"], "GET, POST, DELETE");
    EXPECT_EQ(e->reply_headers["Access-Control-Allow-Headers"], "Content-Type, Authorization");
    EXPECT_EQ(e->reply_headers["Access-Control-Allow-Credentials"], "true");
    EXPECT_EQ(e->reply_headers["Access-Control-Max-Age"], "600");
    EXPECT_EQ(e->reply_headers["Vary"], "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    EXPECT_TRUE(e->response_fields.empty());  // nothing added twice
}

TEST(Cors, PreflightRefusals) {
    auto origin =
        run(cors_config, "OPTIONS", {{"origin", "https://evil.net"}, {"access-control-request-method", "GET"}});
    ASSERT_EQ(origin->status, filter_status::respond);
    EXPECT_EQ(origin->ctx.reply->status, 403u);
    EXPECT_EQ(origin->ctx.answer_reason, "origin_not_allowed");
    EXPECT_EQ(origin->reply_headers.count("Access-Control-Allow-Origin"), 0u);
    auto method =
        run(cors_config, "OPTIONS", {{"origin", "https://app.example.com"}, {"access-control-request-method", "PUT"}});
    EXPECT_EQ(method->ctx.answer_reason, "method_not_allowed");
    auto header = run(cors_config, "OPTIONS",
                      {{"origin", "https://app.example.com"},
                       {"access-control-request-method", "GET"},
                       {"access-control-request-headers", "x-secret"}});
    EXPECT_EQ(header->ctx.answer_reason, "header_not_allowed");
    // OPTIONS without Access-Control-Request-Method is not a preflight: it goes upstream.
    auto plain = run(cors_config, "OPTIONS", {{"origin", "https://app.example.com"}});
    EXPECT_EQ(plain->status, filter_status::proceed);
}

TEST(Cors, ActualRequestsGetTheFieldsOnlyForAllowedOrigins) {
    auto ok = run(cors_config, "GET", {{"origin", "https://app.example.com"}});
    EXPECT_EQ(ok->status, filter_status::proceed);
    EXPECT_EQ(ok->response_fields["Access-Control-Allow-Origin"], "https://app.example.com");
    EXPECT_EQ(ok->response_fields["Access-Control-Allow-Credentials"], "true");
    EXPECT_EQ(ok->response_fields["Access-Control-Expose-Headers"], "X-Request-Id");
    EXPECT_EQ(ok->response_fields["Vary"], "Origin");
    auto other = run(cors_config, "GET", {{"origin", "https://evil.net"}});
    EXPECT_EQ(other->status, filter_status::proceed);  // not refused: the browser enforces
    EXPECT_EQ(other->response_fields.count("Access-Control-Allow-Origin"), 0u);
    EXPECT_EQ(other->response_fields["Vary"], "Origin");  // caches must still key on Origin
    auto none = run(cors_config, "GET", {});
    EXPECT_EQ(none->response_fields["Vary"], "Origin");
}

TEST(Cors, AnyOriginWithoutCredentialsIsAStar) {
    auto e = run("type: cors\nallow_origins: ['*']\n", "GET", {{"origin", "https://anyone.example"}});
    EXPECT_EQ(e->response_fields["Access-Control-Allow-Origin"], "*");
    EXPECT_EQ(e->response_fields.count("Vary"), 0u);  // the same answer for every origin
    // Without allow_headers the preflight allows what it asked for.
    auto echo = run("type: cors\nallow_origins: ['*']\n", "OPTIONS",
                    {{"origin", "https://a.example"},
                     {"access-control-request-method", "GET"},
                     {"access-control-request-headers", "x-one, x-two"}});
    EXPECT_EQ(echo->reply_headers["Access-Control-Allow-Headers"], "x-one, x-two");
}

// The Fetch standard forbids "*" with credentials; reflecting every origin instead would let
// any site read credentialed answers.
TEST(Cors, AnyOriginWithCredentialsIsAConfigError) {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    auto f = find_filter_type("cors")->parse(
        r, YAML::Load("type: cors\nallow_origins: ['*']\nallow_credentials: true\n"), "filters.cors");
    EXPECT_FALSE(f);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].path, "filters.cors.allow_credentials");
    EXPECT_NE(r.errors[0].message.find("cannot be combined with allow_origins \"*\""), std::string::npos);
}

TEST(Cors, ConfigErrors) {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    auto f = find_filter_type("cors")->parse(
        r,
        YAML::Load(
            "type: cors\nallow_origins: [example.com, 'https://a.com/x']\nallow_methods: ['GE T']\nmax_age: soon\n"),
        "filters.cors");
    EXPECT_FALSE(f);
    std::string all;
    for (const auto& e : r.errors) all += e.to_string() + "\n";
    EXPECT_NE(all.find("filters.cors.allow_origins: an origin is scheme://host[:port]"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.cors.allow_origins: an origin has no path"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.cors.allow_methods: invalid method \"GE T\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.cors.max_age: invalid duration"), std::string::npos) << all;
    config::reader missing("t.yaml", env);
    EXPECT_FALSE(find_filter_type("cors")->parse(missing, YAML::Load("type: cors\n"), "filters.cors"));
    EXPECT_NE(missing.errors.front().message.find("missing required key \"allow_origins\""), std::string::npos);
}
