#include <gtest/gtest.h>

#include "gatehouse/config/aggregate.hpp"
#include "gatehouse/config/loader.hpp"

using namespace gatehouse::config;

namespace {

load_result load(const std::string& yaml) {
    return load_config_text(yaml, "agg.yaml", [](const std::string&) -> std::optional<std::string> { return {}; });
}

std::string with_backends(const std::string& aggregate_block) {
    return R"(
upstreams:
  users: { endpoints: ["127.0.0.1:9001"] }
  orders: { endpoints: ["127.0.0.1:9002"] }
routes:
  - name: dashboard
    match: { template: "/api/dashboard/{user}", methods: [GET] }
    aggregate:
)" + aggregate_block;
}

::testing::AssertionResult has_error(const load_result& r, const std::string& path, const std::string& text) {
    for (const auto& e : r.errors) {
        if (e.path == path && e.message.find(text) != std::string::npos && e.line > 0) {
            return ::testing::AssertionSuccess();
        }
    }
    std::string all;
    for (const auto& e : r.errors) all += "\n  " + e.to_string();
    return ::testing::AssertionFailure() << "no error at " << path << " containing \"" << text << "\"; got:" << all;
}

}  // namespace

TEST(AggregateConfig, TheIssueExampleLoads) {
    auto r = load(with_backends(R"(
      timeout: 800ms
      conflicts: error
      backends:
        - name: user
          upstream: users
          path: "/users/{user}"
        - name: orders
          upstream: orders
          path: "/orders?customer={user.customer_id}&limit=20"
          group: orders
          required: false
          timeout: 300ms
        - name: reco
          upstream: users
          path: "/reco/{user}"
          target: data.items
          allow: [id, title, score]
          group: recommendations
)"));
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    const auto& route = r.config->routes[0];
    ASSERT_TRUE(route.aggregate);
    const auto& agg = *route.aggregate;
    EXPECT_TRUE(route.upstream.empty());
    EXPECT_EQ(agg.timeout, std::chrono::milliseconds(800));
    ASSERT_EQ(agg.backends.size(), 3u);
    EXPECT_TRUE(agg.backends[0].depends_on.empty());
    EXPECT_EQ(agg.backends[1].depends_on, std::vector<std::size_t>{0});
    EXPECT_FALSE(agg.backends[1].required);
    EXPECT_EQ(agg.backends[1].timeout, std::chrono::milliseconds(300));
    EXPECT_EQ(agg.backends[1].upstream_index, 1u);
    EXPECT_EQ(agg.backends[2].shape.allow.size(), 3u);
    EXPECT_EQ(*agg.backends[2].shape.group, "recommendations");
    EXPECT_EQ(agg.max_body, 2u * 1024 * 1024);
}

TEST(AggregateConfig, CyclesAreErrorsWithTheirPath) {
    auto r = load(with_backends(R"(
      backends:
        - { name: a, upstream: users, path: "/a/{c.id}" }
        - { name: b, upstream: users, path: "/b/{a.id}" }
        - { name: c, upstream: users, path: "/c/{b.id}" }
)"));
    EXPECT_TRUE(has_error(r, "routes[0].aggregate.backends", "cycle: a -> c -> b -> a"));
}

TEST(AggregateConfig, UnknownReferencesAreErrors) {
    auto r = load(with_backends(R"(
      backends:
        - { name: a, upstream: users, path: "/a/{nobody.id}" }
        - { name: b, upstream: users, path: "/b/{usr}" }
        - { name: c, upstream: nowhere, path: "/c/{c.id}" }
)"));
    EXPECT_TRUE(has_error(r, "routes[0].aggregate.backends[0].path", "unknown backend \"nobody\""));
    EXPECT_TRUE(has_error(r, "routes[0].aggregate.backends[1].path", "unknown parameter {usr}"));
    EXPECT_TRUE(has_error(r, "routes[0].aggregate.backends[2].upstream", "unknown upstream \"nowhere\""));
    EXPECT_TRUE(has_error(r, "routes[0].aggregate.backends[2].path", "its own answer"));
}

TEST(AggregateConfig, KnownKeyConflictsAreErrorsUnderConflictsError) {
    const std::string backends = R"(
      backends:
        - { name: a, upstream: users, path: "/a", group: profile }
        - { name: b, upstream: users, path: "/b", allow: [profile.name, id] }
)";
    EXPECT_TRUE(has_error(load(with_backends(backends)), "routes[0].aggregate.backends[1]",
                          "backends \"a\" and \"b\" both write key \"profile\""));
    EXPECT_TRUE(load(with_backends("      conflicts: last" + backends)).errors.empty());
}

TEST(AggregateConfig, LimitsAndExclusions) {
    std::string many = "      backends:\n";
    for (int i = 0; i < 17; ++i) {
        many += "        - { name: b" + std::to_string(i) + ", upstream: users, path: \"/x\", group: g" +
                std::to_string(i) + " }\n";
    }
    EXPECT_TRUE(has_error(load(with_backends(many)), "routes[0].aggregate.backends", "exceed max_backends (16)"));
    EXPECT_TRUE(load(with_backends("      max_backends: 20\n" + many)).errors.empty());

    auto both = load(R"(
upstreams: { users: { endpoints: ["127.0.0.1:9001"] } }
routes:
  - name: r
    upstream: users
    strip_prefix: /x
    match: { prefix: /x }
    aggregate: { backends: [ { name: a, upstream: users, path: "/a" } ] }
)");
    EXPECT_TRUE(has_error(both, "routes[0].upstream", "not both"));
    EXPECT_TRUE(has_error(both, "routes[0].strip_prefix", "does not apply to an aggregate route"));

    auto fields = load(with_backends(R"(
      forward_headers: [Accept-Language, Host, X-Forwarded-For]
      backends:
        - name: a
          upstream: users
          path: /a
          headers: { X-User: "{user}", Transfer-Encoding: chunked }
          allow: [id]
          deny: [x]
)"));
    EXPECT_TRUE(has_error(fields, "routes[0].aggregate.forward_headers", "\"Host\" is set by the gateway"));
    EXPECT_TRUE(has_error(fields, "routes[0].aggregate.forward_headers", "\"X-Forwarded-For\" is set by the gateway"));
    EXPECT_TRUE(has_error(fields, "routes[0].aggregate.backends[0].headers.Transfer-Encoding", "set by the gateway"));
    EXPECT_TRUE(has_error(fields, "routes[0].aggregate.backends[0].deny", "allow or deny, not both"));
}
