#include "gatehouse/http/websocket.hpp"

#include <string>

#include <gtest/gtest.h>

using namespace gatehouse::http;

namespace {

const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 section 1.3's example

bool accepts(const std::string& text) {
    static std::string kept;  // the head's views point into it
    kept = text;
    response_head head;
    EXPECT_EQ(head.parse(kept, 8192), response_head::status::complete) << text;
    return accepts_websocket(head, key);
}

}  // namespace

TEST(WebSocketHandshake, AcceptIsTheRfcExample) {
    EXPECT_EQ(websocket_accept(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, KeysMustBeSixteenBytesOfBase64) {
    EXPECT_TRUE(valid_websocket_key(key));
    EXPECT_TRUE(valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA=="));
    EXPECT_TRUE(valid_websocket_key("/+9zAbCdEfGhIjKlMnOpQw=="));
    EXPECT_FALSE(valid_websocket_key(""));
    EXPECT_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ"));     // unpadded
    EXPECT_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZR=="));   // bits beyond 16 bytes
    EXPECT_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub2-jZQ=="));   // base64url
    EXPECT_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ==="));  // 25 characters
}

TEST(WebSocketHandshake, OnlyA101ForThisKeyAccepts) {
    const std::string fields = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    EXPECT_TRUE(accepts("HTTP/1.1 101 Switching Protocols\r\n" + fields +
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    EXPECT_TRUE(
        accepts("HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
                "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    EXPECT_FALSE(accepts("HTTP/1.1 101 Switching Protocols\r\n" + fields + "\r\n"));
    EXPECT_FALSE(accepts("HTTP/1.1 101 Switching Protocols\r\n" + fields +
                         "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"));
    EXPECT_FALSE(
        accepts("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    EXPECT_FALSE(
        accepts("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    EXPECT_FALSE(accepts("HTTP/1.1 101 Switching Protocols\r\n" + fields +
                         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    EXPECT_FALSE(
        accepts("HTTP/1.1 200 OK\r\n" + fields + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
}
