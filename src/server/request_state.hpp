#pragma once
// Per-request state shared by the downstream (connection.cpp) and upstream (exchange.cpp) halves.
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <optional>
#include <string>

#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/http/local_reply.hpp"
#include "gatehouse/router/route_table.hpp"
#include "gatehouse/server/deadline.hpp"

namespace gatehouse::server {

struct request_state {
    boost::beast::http::request_parser<boost::beast::http::empty_body> parser;
    std::string request_id;
    std::size_t head_bytes = 0;     // head bytes the parser consumed so far
    bool request_line_seen = false; // the request line is complete and within its limit
    const router::route* route = nullptr;
    http::body_framing framing = http::body_framing::none;
    std::uint64_t content_length = 0;
    std::uint64_t max_body = 0;
    unsigned version = 11;
    bool keep_alive = true;
    bool head_method = false;
    bool expect_continue = false;
    bool continue_sent = false;
    std::string host;             // normalised, for routing
    std::string forwarded_host;   // as the client sent it, for X-Forwarded-Host
    std::string target;           // origin-form target sent upstream
    std::string_view path;        // path of target, for routing (points into target)
    clock::time_point started;
};

struct exchange_result {
    enum class outcome {
        done,         // the response was relayed (or a reply sent); next says what follows
        retry_stale,  // a reused connection died before any response byte; safe to resend
    };
    outcome result = outcome::done;
    bool upstream_reusable = false;
    bool keep_client = false;
    std::optional<http::local_reply> reply;  // to send instead of a relayed response
};

}  // namespace gatehouse::server
