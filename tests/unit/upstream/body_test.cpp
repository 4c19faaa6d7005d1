#include "gatehouse/upstream/body.hpp"

#include <gtest/gtest.h>

using namespace gatehouse;
using upstream::body_delivery;

namespace {

std::string joined(const upstream::gather& out) {
    std::string s;
    for (const auto& b : out.buffers()) s.append(static_cast<const char*>(b.data()), b.size());
    return s;
}

}  // namespace

TEST(ResponseBody, TakesContentLengthBytesAndLeavesTheRest) {
    upstream::response_body body({});
    body.start(http::body_framing::length, 5, body_delivery::as_received);
    upstream::gather out;
    std::size_t take = 0;
    ASSERT_TRUE(body.next("hel", out, take));
    EXPECT_EQ(take, 3u);
    EXPECT_FALSE(body.done());
    out.clear();
    ASSERT_TRUE(body.next("loEXTRA", out, take));
    EXPECT_EQ(take, 2u);
    EXPECT_TRUE(body.done());
    EXPECT_EQ(joined(out), "lo");
}

TEST(ResponseBody, PassesChunkedFramingOrDecodesIt) {
    const std::string_view wire = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT";
    upstream::response_body raw({});
    raw.start(http::body_framing::chunked, 0, body_delivery::as_received);
    upstream::gather out;
    std::size_t take = 0;
    ASSERT_TRUE(raw.next(wire, out, take));
    EXPECT_TRUE(raw.done());
    EXPECT_EQ(joined(out), wire.substr(0, wire.size() - 4));
    EXPECT_EQ(take, wire.size() - 4);

    upstream::response_body decoded({});
    decoded.start(http::body_framing::chunked, 0, body_delivery::decoded);
    out.clear();
    ASSERT_TRUE(decoded.next(wire, out, take));
    EXPECT_EQ(joined(out), "abcde");
    EXPECT_TRUE(decoded.done());
}

TEST(ResponseBody, RejectsInvalidChunkedFraming) {
    upstream::response_body body({});
    body.start(http::body_framing::chunked, 0, body_delivery::as_received);
    upstream::gather out;
    std::size_t take = 0;
    EXPECT_FALSE(body.next("0x3\r\nabc\r\n", out, take));
}

TEST(ResponseBody, WrapsACloseDelimitedBodyIntoChunks) {
    upstream::response_body body({});
    body.start(http::body_framing::until_close, 0, body_delivery::chunked);
    upstream::gather out;
    std::size_t take = 0;
    ASSERT_TRUE(body.next("hello", out, take));
    EXPECT_EQ(joined(out), "5\r\nhello\r\n");
    EXPECT_FALSE(body.done());
    out.clear();
    body.upstream_closed();
    ASSERT_TRUE(body.next("", out, take));
    EXPECT_EQ(joined(out), "0\r\n\r\n");
    EXPECT_TRUE(body.done());
}

TEST(ResponseBody, NoBodyIsDoneAtOnce) {
    upstream::response_body body({});
    body.start(http::body_framing::none, 0, body_delivery::as_received);
    EXPECT_TRUE(body.done());
    upstream::gather out;
    std::size_t take = 0;
    ASSERT_TRUE(body.next("stray", out, take));
    EXPECT_EQ(take, 0u);  // bytes past a body-less response are not the body's
    EXPECT_TRUE(out.empty());
}

TEST(RequestBody, CountsDownContentLength) {
    upstream::request_body body(http::body_framing::length, 4, 100);
    std::size_t take = 0;
    bool done = false;
    EXPECT_EQ(body.next("ab", take, done), upstream::request_body::status::ok);
    EXPECT_EQ(take, 2u);
    EXPECT_FALSE(done);
    EXPECT_EQ(body.next("cdGET /", take, done), upstream::request_body::status::ok);
    EXPECT_EQ(take, 2u);
    EXPECT_TRUE(done);
}

TEST(RequestBody, RefusesBadChunksAndChunkedBodiesOverTheLimit) {
    std::size_t take = 0;
    bool done = false;
    upstream::request_body bad(http::body_framing::chunked, 0, 100);
    EXPECT_EQ(bad.next("zz\r\n", take, done), upstream::request_body::status::bad_chunked);
    upstream::request_body big(http::body_framing::chunked, 0, 4);
    EXPECT_EQ(big.next("5\r\nhello\r\n0\r\n\r\n", take, done), upstream::request_body::status::too_large);
    upstream::request_body fine(http::body_framing::chunked, 0, 5);
    EXPECT_EQ(fine.next("5\r\nhello\r\n0\r\n\r\n", take, done), upstream::request_body::status::ok);
    EXPECT_TRUE(done);
}
