#pragma once
// Message bodies passing through an exchange, as framing logic without sockets: which received
// bytes belong to the body (Content-Length counted down, chunked framing validated, or up to
// the upstream's close), with the request body's limit enforced, and for a response the
// buffers that pass it on in the form the downstream asked for. No body byte is copied: the
// buffers point into the read buffer, plus a few framing bytes held here.
#include <array>
#include <cstdint>
#include <memory_resource>
#include <span>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "gatehouse/http/chunked.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/http/wire.hpp"

namespace gatehouse::upstream {

// How a downstream takes the body.
enum class body_delivery {
    as_received,  // the body's bytes as framed by the upstream (chunked stays chunked)
    decoded,      // chunked framing removed: data only (an HTTP/1.0 client, a collector)
    chunked,      // a body delimited by the upstream's close, wrapped into chunks (HTTP/1.1 client)
};

// Buffers for one gather write: a few fixed slots, spilling to a vector only for the many
// decoded chunks of one read.
class gather {
public:
    void push_back(boost::asio::const_buffer b) {
        if (spill_.empty() && count_ < fixed_.size()) {
            fixed_[count_++] = b;
            return;
        }
        if (spill_.empty()) spill_.assign(fixed_.begin(), fixed_.begin() + static_cast<std::ptrdiff_t>(count_));
        spill_.push_back(b);
    }
    bool empty() const { return count_ == 0 && spill_.empty(); }
    void clear() {
        count_ = 0;
        spill_.clear();
    }
    std::span<const boost::asio::const_buffer> buffers() const {
        return spill_.empty() ? std::span<const boost::asio::const_buffer>(fixed_.data(), count_)
                              : std::span<const boost::asio::const_buffer>(spill_);
    }

private:
    std::array<boost::asio::const_buffer, 5> fixed_;
    std::size_t count_ = 0;
    std::vector<boost::asio::const_buffer> spill_;
};

// The request body in the bytes received so far.
class request_body {
public:
    enum class status {
        ok,
        bad_chunked,  // invalid chunked framing (error() says why): 400
        too_large     // the decoded chunked body exceeds max_body: 413
    };

    request_body() = default;
    request_body(http::body_framing framing, std::uint64_t length, std::uint64_t max_body)
        : framing_(framing), left_(framing == http::body_framing::length ? length : 0), max_body_(max_body) {}

    // Sets take (how many bytes of available, the bytes not yet taken, belong to the body) and
    // done (the body ends within them).
    status next(std::string_view available, std::size_t& take, bool& done);
    const char* error() const { return chunks_.error(); }

private:
    http::body_framing framing_ = http::body_framing::none;
    std::uint64_t left_ = 0;
    std::uint64_t max_body_ = 0;
    http::chunked_scanner chunks_;
};

class response_body {
public:
    explicit response_body(const std::pmr::polymorphic_allocator<char>& allocator) : chunk_prefix_(allocator) {}

    // framing: the response's (none for HEAD, 204, 304); length: its Content-Length.
    void start(http::body_framing framing, std::uint64_t length, body_delivery delivery);

    // Adds the body's part of available to out; take: how many bytes of available it used
    // (the rest is not this response's). False when the chunked framing is invalid (error()).
    bool next(std::string_view available, gather& out, std::size_t& take);

    // The upstream closed its side: the end of a close-delimited body (the next call to next
    // finishes it).
    void upstream_closed() { upstream_closed_ = true; }

    http::body_framing framing() const { return framing_; }
    bool done() const { return done_; }
    // Content-Length bytes still to come.
    std::uint64_t left() const { return left_; }
    const char* error() const { return chunks_.error(); }

private:
    http::body_framing framing_ = http::body_framing::none;
    body_delivery delivery_ = body_delivery::as_received;
    std::uint64_t left_ = 0;
    http::chunked_scanner chunks_;
    bool done_ = true;
    bool upstream_closed_ = false;
    std::pmr::string chunk_prefix_;
};

}  // namespace gatehouse::upstream
