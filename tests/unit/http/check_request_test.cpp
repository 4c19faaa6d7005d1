#include "gatehouse/http/check_request.hpp"

#include <boost/beast/http/parser.hpp>
#include <gtest/gtest.h>

using namespace gatehouse::http;

namespace {

struct checked {
    std::optional<local_reply> refusal;
    std::string target, host, path;
    bool keep_alive = false, idempotent = false, server_options = false, trace_here = false, websocket = false;
    unsigned version = 0;
};

checked check(std::string_view raw, request_rules rules = {}) {
    std::pmr::monotonic_buffer_resource arena;
    std::pmr::polymorphic_allocator<char> allocator(&arena);
    boost::beast::http::request_parser<boost::beast::http::empty_body, std::pmr::polymorphic_allocator<char>> parser(
        std::piecewise_construct, std::make_tuple(), std::make_tuple(allocator));
    boost::beast::error_code ec;
    parser.eager(false);
    parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
    EXPECT_TRUE(!ec && parser.is_header_done()) << raw << ": " << ec.message();
    request_facts facts(allocator);
    checked out;
    out.refusal = check_request(parser.get(), parser.keep_alive(), rules, facts);
    out.target = facts.target;
    out.host = facts.host;
    out.path = facts.path;
    out.keep_alive = facts.keep_alive;
    out.idempotent = facts.idempotent;
    out.server_options = facts.server_options;
    out.trace_here = facts.trace_here;
    out.version = facts.version;
    out.websocket = facts.websocket;
    return out;
}

}  // namespace

TEST(CheckRequest, AcceptsAndDescribesAnOrdinaryRequest) {
    auto c = check("GET /a//b/%7e/../c?q=%2e HTTP/1.1\r\nHost: API.Example.com.\r\n\r\n");
    ASSERT_FALSE(c.refusal) << c.refusal->message;
    EXPECT_EQ(c.target, "/a/b/c?q=%2e");
    EXPECT_EQ(c.path, "/a/b/c");
    EXPECT_EQ(c.host, "api.example.com");
    EXPECT_TRUE(c.keep_alive);
    EXPECT_TRUE(c.idempotent);
}

TEST(CheckRequest, AbsoluteFormNamesTheHost) {
    auto c = check("POST http://svc.example:8080/x HTTP/1.1\r\nHost: other\r\nContent-Length: 0\r\n\r\n");
    ASSERT_FALSE(c.refusal) << c.refusal->message;
    EXPECT_EQ(c.target, "/x");
    EXPECT_EQ(c.host, "svc.example");  // routing matches names; the port stays in forwarded_host
    EXPECT_FALSE(c.idempotent);
}

TEST(CheckRequest, RefusesWithTheRightStatus) {
    struct refusal_case {
        const char* raw;
        unsigned status;
    };
    for (auto [raw, status] : {
             refusal_case{"GET / HTTP/1.1\r\n\r\n", 400},                        // no Host
             refusal_case{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},  // two
             refusal_case{"GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400},         // backslash
             refusal_case{"GET /a%2fb HTTP/1.1\r\nHost: a\r\n\r\n", 400},        // escaped slash
             refusal_case{"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: x\r\nAuthorization: y\r\n\r\n", 400},
             refusal_case{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
             refusal_case{"GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417},
             refusal_case{"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 405},
             refusal_case{"OPTIONS / HTTP/1.1\r\nHost: a\r\nMax-Forwards: -1\r\n\r\n", 400},
             refusal_case{"GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
         }) {
        auto c = check(raw);
        ASSERT_TRUE(c.refusal) << raw;
        EXPECT_EQ(c.refusal->status, status) << raw;
    }
}

TEST(CheckRequest, UnderscoresAndMaxForwardsFollowTheRules) {
    request_rules strict;
    strict.headers_with_underscores = underscore_headers::reject;
    EXPECT_EQ(check("GET / HTTP/1.1\r\nHost: a\r\nX_User: b\r\n\r\n", strict).refusal->status, 400u);
    EXPECT_FALSE(check("GET / HTTP/1.1\r\nHost: a\r\nX_User: b\r\n\r\n").refusal);
    EXPECT_TRUE(check("TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n").trace_here);
    EXPECT_TRUE(check("OPTIONS /x HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n").server_options);
    EXPECT_TRUE(check("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").server_options);
}

namespace {

std::string websocket_request(const std::string& first_line, const std::string& fields) {
    return first_line + "\r\nHost: x\r\n" + fields + "\r\n";
}

const std::string good_upgrade =
    "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

}  // namespace

TEST(CheckRequest, AWebSocketHandshakeIsRecognised) {
    auto c = check(websocket_request("GET /chat HTTP/1.1", good_upgrade));
    EXPECT_FALSE(c.refusal);
    EXPECT_TRUE(c.websocket);
    // Case-insensitive names and tokens, one protocol among several.
    c = check(websocket_request("GET /chat HTTP/1.1",
                                "connection: UPGRADE\r\nupgrade: foo/1, WebSocket\r\nsec-websocket-version: 13\r\n"
                                "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    EXPECT_FALSE(c.refusal);
    EXPECT_TRUE(c.websocket);
}

TEST(CheckRequest, UpgradesThatAreNotWebSocketHandshakesAreLeftAlone) {
    // No "upgrade" in Connection, another protocol, or HTTP/1.0 (which cannot upgrade).
    for (const auto& raw :
         {websocket_request("GET /chat HTTP/1.1", "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
          websocket_request("GET /chat HTTP/1.1", "Connection: Upgrade\r\nUpgrade: h2c\r\n"),
          websocket_request("GET /chat HTTP/1.0", good_upgrade)}) {
        auto c = check(raw);
        EXPECT_FALSE(c.refusal) << raw;
        EXPECT_FALSE(c.websocket) << raw;
    }
}

TEST(CheckRequest, BadWebSocketHandshakesAreRefused) {
    auto c = check(websocket_request("POST /chat HTTP/1.1", good_upgrade));
    ASSERT_TRUE(c.refusal);
    EXPECT_EQ(c.refusal->status, 400u);
    c = check(websocket_request("GET /chat HTTP/1.1", good_upgrade + "Content-Length: 3\r\n"));
    ASSERT_TRUE(c.refusal);
    EXPECT_EQ(c.refusal->status, 400u);
    for (const auto* key : {"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZR==", "dGhlIHNhbXBsZSBub2!jZQ=="}) {
        c = check(websocket_request("GET /chat HTTP/1.1",
                                    "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
                                        std::string(key) + "\r\n"));
        ASSERT_TRUE(c.refusal) << key;
        EXPECT_EQ(c.refusal->status, 400u) << key;
    }
    // Two keys: which would the upstream answer?
    c = check(
        websocket_request("GET /chat HTTP/1.1", good_upgrade + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"));
    ASSERT_TRUE(c.refusal);
    EXPECT_EQ(c.refusal->status, 400u);
    c = check(websocket_request("GET /chat HTTP/1.1",
                                "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                "Sec-WebSocket-Version: 8\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    ASSERT_TRUE(c.refusal);
    EXPECT_EQ(c.refusal->status, 426u);
    ASSERT_FALSE(c.refusal->headers.empty());
    EXPECT_EQ(c.refusal->headers[0].first, "Sec-WebSocket-Version");
    EXPECT_EQ(c.refusal->headers[0].second, "13");
}
