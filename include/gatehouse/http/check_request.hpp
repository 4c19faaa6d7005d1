#pragma once
// The checks a parsed request head must pass before it is routed, as one pure function: no
// sockets, no config snapshot, no clock. The server calls it for every request; the unit tests
// and the request fuzzer (tests/fuzz/) drive it directly.
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/http/local_reply.hpp"
#include "gatehouse/http/path.hpp"
#include "gatehouse/http/wire.hpp"

namespace gatehouse::http {

using request_head = boost::beast::http::request<boost::beast::http::empty_body, fields>;

// Methods the gateway forwards, for "OPTIONS *" and the Allow field a 405 must carry (RFC 9110
// section 15.5.6).
inline constexpr std::string_view allowed_methods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

// What to do with request header fields whose names contain '_'. CGI-style upstreams (PHP,
// WSGI, Rack) read "X_User" and "X-User" as the same variable, so a client could smuggle a
// field past a gateway that sets or removes "X-User" (NGINX drops them too).
enum class underscore_headers { drop, reject, allow };

// The server settings the checks depend on.
struct request_rules {
    std::uint64_t max_header_count = 100;
    underscore_headers headers_with_underscores = underscore_headers::drop;
    path_options paths;
};

// What the checks learn about a request, for routing and forwarding. Strings live in the
// request's arena.
// True for methods whose request may be sent again after a connection died: repeating them
// changes nothing (RFC 9110 section 9.2.2).
bool idempotent_method(boost::beast::http::verb method);
bool idempotent_method(std::string_view method);

struct request_facts {
    explicit request_facts(const std::pmr::polymorphic_allocator<char>& allocator)
        : host(allocator), forwarded_host(allocator), target(allocator) {}

    unsigned version = 11;  // 10 or 11 once checked
    bool keep_alive = true;
    bool head_method = false;
    bool idempotent = false;  // RFC 9110 section 9.2.2: may be resent after a connection died
    bool expect_continue = false;
    bool server_options = false;  // "OPTIONS *", or OPTIONS with Max-Forwards: 0: answered by the gateway itself
    bool trace_here = false;      // TRACE with Max-Forwards: 0: the gateway is its final recipient
    std::optional<std::uint64_t> max_forwards;  // TRACE or OPTIONS with a valid Max-Forwards above 0
    bool drop_underscore_fields = false;        // a field name has '_' and the policy leaves such fields out upstream
    bool websocket = false;                     // a valid WebSocket opening handshake (RFC 6455 section 4.1)
    std::string_view websocket_key;             // its Sec-WebSocket-Key (points into the request)
    body_framing framing = body_framing::none;
    std::uint64_t content_length = 0;
    std::pmr::string host;            // normalised, for routing
    std::pmr::string forwarded_host;  // as the client sent it, for X-Forwarded-Host
    std::pmr::string target;          // origin-form target sent upstream, its path normalised
    std::string_view path;            // path of target, for routing (points into target)
};

// Checks a parsed request head (RFC 9110/9112: version, field values, framing, Host, target,
// path normalisation, duplicated credentials, Expect, Max-Forwards) and fills facts. Returns
// the reply to send when the request is refused. keep_alive: what the parser concluded. An
// absolute-form target's authority is written into req's Host.
std::optional<local_reply> check_request(request_head& req, bool keep_alive, const request_rules& rules,
                                         request_facts& facts);

// Normalises the path part of an origin-form target in place (the query is left as it is).
path_error normalize_target_path(std::pmr::string& target, const path_options& options);

}  // namespace gatehouse::http
