#include "gatehouse/http/path.hpp"

#include <string>

#include <gtest/gtest.h>

using namespace gatehouse::http;

namespace {

// The normalised path, or "error: <why>".
std::string norm(std::string path, path_options options = {}) {
    path_error error = path_error::none;
    auto size = normalize_path(path.data(), path.size(), options, error);
    if (error != path_error::none) {
        return "error: " + std::string(describe(error));
    }
    path.resize(size);
    return path;
}

path_options with(escaped_slash_action action, bool merge = true) {
    path_options o;
    o.escaped_slashes = action;
    o.merge_slashes = merge;
    return o;
}

}  // namespace

TEST(PathNormalization, DecodesUnreservedAndUppercasesOtherEscapes) {
    EXPECT_EQ(norm("/api/%61dmin/x"), "/api/admin/x");
    EXPECT_EQ(norm("/%7euser/%2d%5F%2E%41"), "/~user/-_.A");
    EXPECT_EQ(norm("/a%20b/%3a%3f%e2%82%ac"), "/a%20b/%3A%3F%E2%82%AC");
    EXPECT_EQ(norm("/%2561"), "/%2561");  // an encoded '%' stays encoded: no double decoding
}

TEST(PathNormalization, RemovesDotSegmentsAlsoEncodedOnes) {
    EXPECT_EQ(norm("/a/b/../c"), "/a/c");
    EXPECT_EQ(norm("/a/./b/."), "/a/b/");
    EXPECT_EQ(norm("/a/b/.."), "/a/");
    EXPECT_EQ(norm("/../../etc/passwd"), "/etc/passwd");
    EXPECT_EQ(norm("/api/x/%2e%2E/admin"), "/api/admin");
    EXPECT_EQ(norm("/api/x/.%2e/admin"), "/api/admin");
    EXPECT_EQ(norm("/.."), "/");
    EXPECT_EQ(norm("/."), "/");
    EXPECT_EQ(norm("/.well-known/x"), "/.well-known/x");
    EXPECT_EQ(norm("/a/...b/..c/"), "/a/...b/..c/");
}

TEST(PathNormalization, MergesSlashesUnlessTurnedOff) {
    EXPECT_EQ(norm("/api//admin///x"), "/api/admin/x");
    EXPECT_EQ(norm("//"), "/");
    EXPECT_EQ(norm("/a//"), "/a/");
    EXPECT_EQ(norm("/api//admin", with(escaped_slash_action::reject, false)), "/api//admin");
    EXPECT_EQ(norm("/a//../b", with(escaped_slash_action::reject, false)), "/a/b");
}

TEST(PathNormalization, RefusesWhatUpstreamsReadDifferently) {
    EXPECT_EQ(norm("/api\\admin/x"), "error: backslash in the path");
    EXPECT_EQ(norm("/a%00b"), "error: encoded NUL (%00) in the path");
    EXPECT_EQ(norm("/api/x/..;/admin/x"), "error: parameter on a dot segment (\"..;\") in the path");
    EXPECT_EQ(norm("/api/x/.;a/admin/x"), "error: parameter on a dot segment (\"..;\") in the path");
    EXPECT_EQ(norm("/api/x/%2e%2e;/admin"), "error: parameter on a dot segment (\"..;\") in the path");
    EXPECT_EQ(norm("/a%zz"), "error: invalid percent-encoding in the path");
    EXPECT_EQ(norm("/a%4"), "error: invalid percent-encoding in the path");
    EXPECT_EQ(norm("/a%"), "error: invalid percent-encoding in the path");
    EXPECT_EQ(norm("a/b"), "error: the path does not start with '/'");
    EXPECT_EQ(norm("/users;v=1/x"), "/users;v=1/x");  // matrix parameters elsewhere are kept
}

TEST(PathNormalization, EscapedSlashesFollowTheConfiguredAction) {
    EXPECT_EQ(norm("/api%2Fadmin/x"), "error: encoded slash (%2F or %5C) in the path");
    EXPECT_EQ(norm("/api%5cadmin/x"), "error: encoded slash (%2F or %5C) in the path");
    EXPECT_EQ(norm("/api%2fadmin/x", with(escaped_slash_action::keep)), "/api%2Fadmin/x");
    EXPECT_EQ(norm("/api/x%2F..%2Fadmin", with(escaped_slash_action::keep)), "/api/x%2F..%2Fadmin");
    EXPECT_EQ(norm("/api%2fadmin/x", with(escaped_slash_action::decode)), "/api/admin/x");
    EXPECT_EQ(norm("/api%5Cadmin", with(escaped_slash_action::decode)), "/api/admin");
    EXPECT_EQ(norm("/api/x%2F..%2Fadmin", with(escaped_slash_action::decode)), "/api/admin");
    EXPECT_EQ(norm("/api%2F%2Fadmin", with(escaped_slash_action::decode)), "/api/admin");
}

TEST(PathNormalization, IsIdempotentAndNeverGrows) {
    for (auto action : {escaped_slash_action::keep, escaped_slash_action::decode}) {
        for (std::string p : {"/a/%2e%2E/b//c/./%7e", "/x%2f%2e%2e%2fy", "/%41%2F..//b/..", "/a/b/c/../../..//d"}) {
            auto once = norm(p, with(action));
            ASSERT_FALSE(once.starts_with("error")) << p;
            EXPECT_LE(once.size(), p.size()) << p;
            EXPECT_EQ(norm(once, with(action)), once) << p;
        }
    }
}

TEST(PathNormalization, CheapScanFindsEveryPathThatCouldChange) {
    EXPECT_FALSE(path_needs_normalizing("/api/users/42"));
    EXPECT_FALSE(path_needs_normalizing("/a.b/c;d=1"));
    EXPECT_TRUE(path_needs_normalizing("/a/%61"));
    EXPECT_TRUE(path_needs_normalizing("/a//b"));
    EXPECT_TRUE(path_needs_normalizing("/a/./b"));
    EXPECT_TRUE(path_needs_normalizing("/a\\b"));
}
