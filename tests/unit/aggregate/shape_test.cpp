#include "gatehouse/aggregate/shape.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

using namespace gatehouse::aggregate;
namespace json = boost::json;

namespace {

dot_path p(std::string_view text) {
    return *parse_dot_path(text);
}

std::string shaped(std::string_view answer, const shaping& rules) {
    std::string why;
    auto out = shape(json::parse(answer), rules, why);
    return out ? json::serialize(*out) : "error: " + why;
}

}  // namespace

TEST(Shape, TargetAllowAndGroupInThatOrder) {
    shaping rules;
    rules.target = p("data.items");
    rules.allow = {p("id"), p("title"), p("meta.score")};
    rules.group = "recommendations";
    EXPECT_EQ(shaped(R"({"data":{"items":[{"id":1,"title":"a","secret":"x","meta":{"score":3,"internal":9}},)"
                     R"({"id":2,"title":"b"}]},"other":1})",
                     rules),
              R"({"recommendations":[{"id":1,"title":"a","meta":{"score":3}},{"id":2,"title":"b"}]})");
}

TEST(Shape, DenyAndRename) {
    shaping rules;
    rules.deny = {p("password"), p("profile.ssn")};
    rules.rename = {{"name", "full_name"}};
    EXPECT_EQ(shaped(R"({"name":"Ada","password":"x","profile":{"ssn":"1","city":"L"}})", rules),
              R"({"full_name":"Ada","profile":{"city":"L"}})");
}

TEST(Shape, ArraysAndScalarsNeedAGroup) {
    EXPECT_EQ(shaped("[1,2]", {}), "error: the answer is an array: give the backend a group to put it under");
    EXPECT_NE(shaped("42", {}).find("error: the answer is not a JSON object"), std::string::npos);
    shaping grouped;
    grouped.group = "n";
    EXPECT_EQ(shaped("[1,2]", grouped), R"({"n":[1,2]})");
}

TEST(Shape, AMissingTargetIsAnError) {
    shaping rules;
    rules.target = p("data.items");
    EXPECT_EQ(shaped(R"({"data":{}})", rules), "error: the answer has no \"data.items\" (target)");
}

TEST(Merge, ShallowConflictPolicies) {
    auto run = [](conflict_policy policy) {
        json::object into = json::parse(R"({"a":1,"n":{"x":1}})").as_object();
        auto conflict =
            merge(into, json::parse(R"({"a":2,"b":3,"n":{"y":2}})").as_object(), policy, merge_mode::shallow);
        return conflict ? "conflict " + *conflict : json::serialize(into);
    };
    EXPECT_EQ(run(conflict_policy::error), "conflict a");
    EXPECT_EQ(run(conflict_policy::first), R"({"a":1,"n":{"x":1},"b":3})");
    EXPECT_EQ(run(conflict_policy::last), R"({"a":2,"n":{"y":2},"b":3})");
}

TEST(Merge, DeepMergesObjectsAndNamesTheConflictingPath) {
    json::object into = json::parse(R"({"n":{"x":1,"m":{"k":1}}})").as_object();
    EXPECT_FALSE(
        merge(into, json::parse(R"({"n":{"y":2,"m":{"j":2}}})").as_object(), conflict_policy::error, merge_mode::deep));
    EXPECT_EQ(json::serialize(into), R"({"n":{"x":1,"m":{"k":1,"j":2},"y":2}})");
    auto conflict =
        merge(into, json::parse(R"({"n":{"m":{"k":5}}})").as_object(), conflict_policy::error, merge_mode::deep);
    ASSERT_TRUE(conflict);
    EXPECT_EQ(*conflict, "n.m.k");
}

TEST(Shape, KnownKeysComeFromGroupOrAllow) {
    shaping grouped;
    grouped.group = "orders";
    EXPECT_EQ(*known_keys(grouped), std::vector<std::string>{"orders"});
    shaping allowed;
    allowed.allow = {p("id"), p("profile.name"), p("profile.city")};
    allowed.rename = {{"id", "user_id"}};
    EXPECT_EQ(*known_keys(allowed), (std::vector<std::string>{"user_id", "profile"}));
    EXPECT_FALSE(known_keys(shaping{}));
}

TEST(Shape, ScalarText) {
    std::string out;
    EXPECT_TRUE(scalar_text(json::value("abc"), out));
    EXPECT_EQ(out, "abc");
    EXPECT_TRUE(scalar_text(json::value(42), out));
    EXPECT_EQ(out, "42");
    EXPECT_TRUE(scalar_text(json::value(true), out));
    EXPECT_EQ(out, "true");
    EXPECT_FALSE(scalar_text(json::value(nullptr), out));
    EXPECT_FALSE(scalar_text(json::parse("[1]"), out));
}
