#include "gatehouse/aggregate/value_template.hpp"

#include <map>

#include <gtest/gtest.h>

using namespace gatehouse::aggregate;

namespace {

value_template parse_ok(std::string_view text, value_template::context where = value_template::context::path) {
    std::string why;
    auto t = value_template::parse(text, where, why);
    EXPECT_TRUE(t) << text << ": " << why;
    return t ? *t : value_template{};
}

// Expands with route params and backend fields from maps ("user.customer_id" -> "7").
std::string expand(const value_template& t, const std::map<std::string, std::string>& values,
                   const template_part** failed = nullptr) {
    std::string out;
    auto* f = t.expand(out, [&](const template_part& part, std::string& value) {
        std::string key = part.text;
        for (const auto& segment : part.field) key += "." + segment;
        auto it = values.find(key);
        if (it == values.end()) return false;
        value = it->second;
        return true;
    });
    if (failed) *failed = f;
    return out;
}

}  // namespace

TEST(ValueTemplate, SplitsLiteralsParamsAndBackendFields) {
    auto t = parse_ok("/orders/{user}?customer={user.customer_id}&limit=20");
    const auto& parts = t.parts();
    ASSERT_EQ(parts.size(), 5u);
    EXPECT_EQ(parts[0].type, template_part::kind::literal);
    EXPECT_EQ(parts[0].text, "/orders/");
    EXPECT_EQ(parts[1].type, template_part::kind::route_param);
    EXPECT_EQ(parts[1].text, "user");
    EXPECT_FALSE(parts[1].in_query);
    EXPECT_EQ(parts[2].text, "?customer=");
    EXPECT_EQ(parts[3].type, template_part::kind::backend_field);
    EXPECT_EQ(parts[3].text, "user");
    EXPECT_EQ(parts[3].field, (std::vector<std::string>{"customer_id"}));
    EXPECT_TRUE(parts[3].in_query);
    EXPECT_EQ(parts[4].text, "&limit=20");
}

TEST(ValueTemplate, RefusesBadSyntax) {
    std::string why;
    for (std::string_view bad :
         {"users/{id}", "/users/{id", "/users/id}", "/users/{}", "/users/{a..b}", "/a b", "/users/{a/b}", "/x#frag"}) {
        EXPECT_FALSE(value_template::parse(bad, value_template::context::path, why)) << bad;
    }
    EXPECT_FALSE(value_template::parse("a\r\nb", value_template::context::header, why));
    EXPECT_TRUE(value_template::parse("Bearer {user.token}", value_template::context::header, why));
}

TEST(ValueTemplate, ValuesCannotAddSegmentsOrParameters) {
    auto t = parse_ok("/users/{id}/orders?customer={user.customer_id}&limit=20");
    auto out = expand(t, {{"id", "a b%"}, {"user.customer_id", "7&limit=100000#x"}});
    EXPECT_EQ(out, "/users/a%20b%25/orders?customer=7%26limit%3D100000%23x&limit=20");
    EXPECT_EQ(expand(t, {{"id", "42"}, {"user.customer_id", "../x/y"}}),
              "/users/42/orders?customer=..%2Fx%2Fy&limit=20");
    // In the path a separator or a dot segment is refused, not escaped: a backend that decodes
    // before routing would still see it.
    for (std::string bad : {"../admin", "..", ".", "a/b", "a\\b"}) {
        const template_part* failed = nullptr;
        expand(t, {{"id", bad}, {"user.customer_id", "1"}}, &failed);
        ASSERT_NE(failed, nullptr) << bad;
        EXPECT_EQ(failed->text, "id");
    }
}

TEST(ValueTemplate, HeaderValuesRefuseControlCharacters) {
    auto t = parse_ok("id={user.id}", value_template::context::header);
    const template_part* failed = nullptr;
    EXPECT_EQ(expand(t, {{"user.id", "42"}}, &failed), "id=42");
    EXPECT_EQ(failed, nullptr);
    expand(t, {{"user.id", "42\r\nX-Admin: 1"}}, &failed);
    ASSERT_NE(failed, nullptr);
    EXPECT_EQ(failed->text, "user");
}

TEST(ValueTemplate, AMissingValueStopsTheExpansion) {
    auto t = parse_ok("/a/{x}/{y}");
    const template_part* failed = nullptr;
    expand(t, {{"x", "1"}}, &failed);
    ASSERT_NE(failed, nullptr);
    EXPECT_EQ(failed->text, "y");
}

TEST(ValueTemplate, TemplateParamsFollowTheRouteTemplate) {
    auto p = template_params("/api/{user}/orders/{order}", "/api/42/orders/a%2Fb");
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].first, "user");
    EXPECT_EQ(p[0].second, "42");
    EXPECT_EQ(p[1].second, "a%2Fb");
    EXPECT_EQ(percent_decode(p[1].second), "a/b");
    EXPECT_TRUE(template_params("/api/{user}", "/api/42/more").empty());
    EXPECT_TRUE(template_params("/api/{user}", "/api/").empty());
    EXPECT_TRUE(template_params("/api/{user}", "/other/1").empty());
}

TEST(ValueTemplate, PercentDecodeKeepsInvalidEscapes) {
    EXPECT_EQ(percent_decode("a%20b%zz%4"), "a b%zz%4");
}
