#pragma once
// The parts of the WebSocket opening handshake (RFC 6455 section 4) a gateway checks: the
// client's key, and the upstream's answer to it, so that only a real 101 for this very request
// turns a connection into a tunnel.
#include <string>
#include <string_view>

#include "gatehouse/http/response_head.hpp"

namespace gatehouse::http {

// Sec-WebSocket-Key: base64 of 16 bytes (24 characters, "==" at the end).
bool valid_websocket_key(std::string_view key);

// Sec-WebSocket-Accept for key: base64(SHA-1(key + the RFC's GUID)).
std::string websocket_accept(std::string_view key);

// True if head is a 101 that accepts a WebSocket upgrade asked for with key: Upgrade names
// websocket, Connection names upgrade, Sec-WebSocket-Accept matches.
bool accepts_websocket(const response_head& head, std::string_view key);

}  // namespace gatehouse::http
