#include "gatehouse/config/env.hpp"

#include <map>

#include <gtest/gtest.h>

using namespace gatehouse::config;

namespace {
env_lookup fake(std::map<std::string, std::string> vars) {
    return [vars](const std::string& name) -> std::optional<std::string> {
        if (auto it = vars.find(name); it != vars.end()) return it->second;
        return std::nullopt;
    };
}
}  // namespace

TEST(ExpandEnv, SubstitutesSetVariables) {
    std::string error;
    auto env = fake({{"PORT", "9000"}, {"HOST", "10.0.0.1"}});
    EXPECT_EQ(expand_env("${HOST}:${PORT}", env, error), "10.0.0.1:9000");
    EXPECT_EQ(expand_env("plain", env, error), "plain");
}

TEST(ExpandEnv, UsesDefaultsWhenUnsetOrEmpty) {
    std::string error;
    auto env = fake({{"EMPTY", ""}});
    EXPECT_EQ(expand_env("${MISSING:-fallback}", env, error), "fallback");
    EXPECT_EQ(expand_env("${EMPTY:-x}", env, error), "x");
    EXPECT_EQ(expand_env("${MISSING:-}", env, error), "");
}

TEST(ExpandEnv, UnsetWithoutDefaultIsAnError) {
    std::string error;
    EXPECT_FALSE(expand_env("${NOPE}", fake({}), error));
    EXPECT_NE(error.find("NOPE"), std::string::npos);
}

TEST(ExpandEnv, DollarEscapesAndMalformedReferences) {
    std::string error;
    EXPECT_EQ(expand_env("cost $$5", fake({}), error), "cost $5");
    EXPECT_EQ(expand_env("a$b", fake({}), error), "a$b");
    EXPECT_FALSE(expand_env("${UNTERMINATED", fake({}), error));
    EXPECT_FALSE(expand_env("${1BAD}", fake({}), error));
}
