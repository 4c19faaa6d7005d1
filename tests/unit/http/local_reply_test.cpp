#include "gatehouse/http/local_reply.hpp"

#include <gtest/gtest.h>

#include "gatehouse/http/request_id.hpp"

using namespace gatehouse::http;

TEST(LocalReply, RendersJsonWithRequestId) {
    std::string out;
    render_local_reply(out, {502, "upstream_reset", "upstream said \"no\"\n"}, "req-1", "Thu, 01 Jan 2026 00:00:00 GMT",
                       true, false, false);
    EXPECT_TRUE(out.starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
    EXPECT_NE(out.find("Content-Type: application/json\r\n"), std::string::npos);
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_NE(out.find("X-Request-Id: req-1\r\n"), std::string::npos);
    auto body = out.substr(out.find("\r\n\r\n") + 4);
    EXPECT_EQ(body,
              "{\"error\":\"upstream_reset\",\"message\":\"upstream said \\\"no\\\"\\n\",\"request_id\":\"req-1\"}\n");
    EXPECT_NE(out.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
}

TEST(LocalReply, HeadOmitsBodyButKeepsLength) {
    std::string out;
    render_local_reply(out, {404, "route_not_found", "x"}, "id", "", false, true, true);
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
    EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos);
    EXPECT_EQ(out.find("Content-Length: 0"), std::string::npos);
}

TEST(LocalReply, EscapesControlCharacters) {
    std::string out;
    append_json_escaped(out, std::string_view("a\x01\\", 3));
    EXPECT_EQ(out, "a\\u0001\\\\");
}

TEST(RequestId, ValidatesClientIds) {
    EXPECT_TRUE(valid_request_id("abc-123_x.y:z"));
    EXPECT_FALSE(valid_request_id(""));
    EXPECT_FALSE(valid_request_id("has space"));
    EXPECT_FALSE(valid_request_id("new\nline"));
    EXPECT_FALSE(valid_request_id(std::string(129, 'a')));
}

TEST(RequestId, GeneratesDistinctUuidV4) {
    gatehouse::common::fast_random rng(42);
    std::string a, b;
    make_request_id(rng, a);
    make_request_id(rng, b);
    EXPECT_NE(a, b);
    ASSERT_EQ(a.size(), 36u);
    EXPECT_EQ(a[8], '-');
    EXPECT_EQ(a[14], '4');
    EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
    EXPECT_TRUE(valid_request_id(a));
}
