#pragma once
// The request head an upstream gets, as a pure function of the client's head and what the
// gateway decided about it: the relay writes it for every try, and `gatehouse explain` shows it
// without a socket. Private to src/server.
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/filters/context.hpp"
#include "gatehouse/http/wire.hpp"

namespace gatehouse::server {

struct upstream_head_input {
    std::string_view method;
    std::string_view target;     // the client's (or a filter's replacement), before the route's prefix rewrite
    const http::fields& fields;  // the client's
    const config::route_config& route;
    const filters::head_edits& filter_edits;
    const std::vector<std::string>& identity_fields;  // never taken from the client
    std::string_view client_ip;
    std::string_view scheme;
    std::string_view forwarded_host;  // the client's Host as sent; empty: none
    std::string_view request_id;
    std::string_view client_certificate;  // X-Forwarded-Client-Cert to send; empty: none
    bool from_trusted_proxy = false;
    bool drop_underscore_fields = false;
    bool websocket = false;
    http::body_framing framing = http::body_framing::none;
    std::uint64_t content_length = 0;
    std::optional<std::uint64_t> max_forwards;
};

// Writes the request line and fields, ending with the empty line, for endpoint ("host:port").
void write_upstream_request_head(const upstream_head_input& in, std::string_view endpoint, std::pmr::string& out);

}  // namespace gatehouse::server
