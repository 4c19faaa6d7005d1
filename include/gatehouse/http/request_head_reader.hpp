#pragma once
// Reads one request head out of a connection's buffer, however the bytes arrive: feeds them to
// Beast's parser and enforces what the parser does not (the request-line and head limits,
// leading empty lines, obsolete line folding, later HTTP/1.x minor versions). No socket: the
// server calls it after each read, the request fuzzer and the unit tests call it directly.
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <optional>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "gatehouse/http/local_reply.hpp"

namespace gatehouse::http {

using request_parser =
    boost::beast::http::parser<true, boost::beast::http::empty_body, std::pmr::polymorphic_allocator<char>>;

struct head_limits {
    std::size_t max_request_line = 8 * 1024;   // 414 beyond
    std::size_t max_header_bytes = 32 * 1024;  // 431 beyond (request line included)
};

enum class head_progress {
    complete,   // the head is parsed and consumed from the buffer
    need_more,  // read more bytes and call again
    refused     // the reply to send is set; the connection cannot be reused
};

class request_head_reader {
public:
    // Sets the parser's limits for a new head.
    static void prepare(request_parser& parser, const head_limits& limits);

    // Consumes from buffer what the parser took. Call after each read until it is not need_more.
    head_progress read(request_parser& parser, boost::beast::flat_buffer& buffer, const head_limits& limits,
                       std::optional<local_reply>& refusal);

    // Head bytes consumed so far (for the access log's bytes_in).
    std::size_t head_bytes() const { return head_bytes_; }

private:
    bool first_look_ = true;          // leading empty lines not yet skipped
    bool request_line_seen_ = false;  // the request line is complete and within its limit
    std::size_t head_bytes_ = 0;
};

}  // namespace gatehouse::http
