// api_key driven directly: lookup from header and query, consumers, allow lists, stripping,
// and every config error.
#include "api_key/api_key.hpp"

#include <fstream>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/filters/registry.hpp"

using namespace gatehouse;
using namespace gatehouse::filters;

namespace {

class one_field final : public field_view {
public:
    std::string name, value;
    std::optional<std::string_view> get(std::string_view n) const override {
        if (!name.empty() && n.size() == name.size() &&
            std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
            })) {
            return std::string_view(value);
        }
        return std::nullopt;
    }
};

struct outcome {
    std::shared_ptr<const filter_factory> factory;
    std::vector<config::config_error> errors;
    bool has(const std::string& text) const {
        for (const auto& e : errors) {
            if (e.to_string().find(text) != std::string::npos) return true;
        }
        return false;
    }
};

outcome parse_yaml(const std::string& yaml) {
    auto env = config::process_env();
    config::reader r("test.yaml", env);
    outcome o;
    o.factory = find_filter_type("api_key")->parse(r, YAML::Load(yaml), "filters.auth");
    o.errors = r.errors;
    return o;
}

const std::string two_keys = R"(
type: api_key
keys:
  - { consumer: alice, key: alice-secret-1 }
  - { consumer: bob, key: bob-secret-22 }
)";

struct request {
    std::pmr::monotonic_buffer_resource arena;
    request_context ctx{&arena};
    one_field fields;
    explicit request(std::string_view target = "/x") {
        ctx.target = target;
        ctx.headers = &fields;
    }
};

filter_status run(const outcome& o, request& req) {
    boost::asio::io_context io;
    worker_services w{io, 0};
    return o.factory->create(w)->on_request(req.ctx);
}

}  // namespace

TEST(ApiKey, AcceptsAKnownKeyAndNamesTheConsumer) {
    auto o = parse_yaml(two_keys + "consumer_header: X-Consumer\n");
    ASSERT_TRUE(o.factory) << o.errors.front().to_string();
    request req;
    req.fields.name = "X-Api-Key";
    req.fields.value = "bob-secret-22";
    EXPECT_EQ(run(o, req), filter_status::proceed);
    EXPECT_EQ(req.ctx.consumer, "bob");
    EXPECT_TRUE(req.ctx.upstream_edits.replaces("X-Api-Key"));  // stripped before forwarding
    std::map<std::string, std::string> set;
    req.ctx.upstream_edits.for_each_field(
        [&](std::string_view n, std::string_view v) { set[std::string(n)] = std::string(v); });
    EXPECT_EQ(set["X-Consumer"], "bob");
}

TEST(ApiKey, MissingWrongAndNotAllowedKeys) {
    auto o = parse_yaml(two_keys + "allow: [alice]\n");
    ASSERT_TRUE(o.factory);
    request missing;
    EXPECT_EQ(run(o, missing), filter_status::respond);
    EXPECT_EQ(missing.ctx.reply->status, 401u);
    EXPECT_EQ(missing.ctx.answer_reason, "missing_key");
    ASSERT_EQ(missing.ctx.reply->headers.size(), 1u);
    EXPECT_EQ(missing.ctx.reply->headers[0].first, "WWW-Authenticate");
    EXPECT_EQ(missing.ctx.reply->headers[0].second, "ApiKey realm=\"gatehouse\", header=\"X-Api-Key\"");

    request wrong;
    wrong.fields.name = "x-api-key";
    wrong.fields.value = "alice-secret-2";  // one character off
    EXPECT_EQ(run(o, wrong), filter_status::respond);
    EXPECT_EQ(wrong.ctx.reply->status, 401u);
    EXPECT_EQ(wrong.ctx.answer_reason, "invalid_key");
    EXPECT_EQ(wrong.ctx.reply->message.find("alice"), std::string::npos);  // keys never echoed

    request other;
    other.fields.name = "X-Api-Key";
    other.fields.value = "bob-secret-22";
    EXPECT_EQ(run(o, other), filter_status::respond);
    EXPECT_EQ(other.ctx.reply->status, 403u);
    EXPECT_EQ(other.ctx.answer_reason, "consumer_not_allowed");
}

TEST(ApiKey, QueryParameterIsFoundAndRemovedFromTheForwardedTarget) {
    auto o = parse_yaml(two_keys + "query: api_key\n");
    ASSERT_TRUE(o.factory);
    request req("/items?a=1&api_key=alice-secret-1&b=2");
    EXPECT_EQ(run(o, req), filter_status::proceed);
    EXPECT_EQ(req.ctx.consumer, "alice");
    ASSERT_TRUE(req.ctx.upstream_target);
    EXPECT_EQ(*req.ctx.upstream_target, "/items?a=1&b=2");
    EXPECT_EQ(api_key::strip_query_parameter("/p?api_key=1", "api_key"), "/p");
    EXPECT_EQ(api_key::strip_query_parameter("/p?x=api_key&y=2", "api_key"), "/p?x=api_key&y=2");
    EXPECT_EQ(api_key::strip_query_parameter("/p", "api_key"), "/p");
}

TEST(ApiKey, KeysFromAFileAndTheEnvironment) {
    auto file = std::string(::testing::TempDir()) + "/keys.yaml";
    std::ofstream(file) << "keys:\n  - { consumer: carol, key: carol-secret-3 }\n";
    ::setenv("GATEHOUSE_TEST_KEYS", "dave:dave-secret-4, erin:erin-secret-5", 1);
    auto o = parse_yaml("type: api_key\nkeys_file: " + file + "\nkeys_env: GATEHOUSE_TEST_KEYS\n");
    ASSERT_TRUE(o.factory) << o.errors.front().to_string();
    for (auto [key, consumer] : {std::pair{"carol-secret-3", "carol"}, {"erin-secret-5", "erin"}}) {
        request req;
        req.fields.name = "X-Api-Key";
        req.fields.value = key;
        EXPECT_EQ(run(o, req), filter_status::proceed) << key;
        EXPECT_EQ(req.ctx.consumer, consumer);
    }
    auto described = boost::json::serialize(o.factory->describe());
    EXPECT_EQ(described.find("secret"), std::string::npos) << described;
}

TEST(ApiKey, ConfigErrors) {
    auto o = parse_yaml(R"(
type: api_key
header: "bad header"
keys:
  - { consumer: "no spaces", key: short }
  - { consumer: bob }
  - { consumer: a, key: same-key-123 }
  - { consumer: b, key: same-key-123 }
allow: [zed]
keys_env: GATEHOUSE_TEST_UNSET_VARIABLE
)");
    EXPECT_FALSE(o.factory);
    EXPECT_TRUE(o.has("filters.auth.header: invalid header name"));
    EXPECT_TRUE(o.has("filters.auth.keys[0].consumer: invalid consumer name"));
    EXPECT_TRUE(o.has("filters.auth.keys[0].key: a key must have at least 8 characters"));
    EXPECT_TRUE(o.has("filters.auth.keys[1].key: missing required key \"key\""));
    EXPECT_TRUE(o.has("two entries have the same key"));
    EXPECT_TRUE(o.has("filters.auth.allow: unknown consumer \"zed\""));
    EXPECT_TRUE(o.has("environment variable GATEHOUSE_TEST_UNSET_VARIABLE is not set"));
    for (const auto& e : o.errors) {
        EXPECT_EQ(e.to_string().find("same-key-123"), std::string::npos) << "a key leaked into an error";
    }
    auto none = parse_yaml("type: api_key\n");
    EXPECT_TRUE(none.has("no keys: set keys, keys_file or keys_env"));
}
