#pragma once
// The downstream of one backend call of an aggregation: writes the call's request head and
// parses a 2xx answer's JSON as it arrives (Boost.JSON's stream parser), within max_body. A
// non-2xx answer is read through (so the connection can be reused) keeping only its first
// bytes for expose_errors. Private to src/aggregate.
#include <optional>
#include <span>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/json/stream_parser.hpp>

#include "gatehouse/aggregate/fan_out.hpp"
#include "gatehouse/config/aggregate.hpp"
#include "gatehouse/upstream/exchange.hpp"

namespace gatehouse::aggregate {

class backend_call final : public upstream::downstream {
public:
    // target: origin form; fields: complete lines for this call (its headers, traceparent).
    // storage: where the parsed answer lives; scratch: the parser's temporary space (it grows
    // past it on the heap only for a deeply nested or long-keyed answer).
    backend_call(const config::aggregate_backend& backend, std::string target, std::string fields,
                 const client_request& request, std::uint64_t max_body, boost::json::storage_ptr storage,
                 std::span<unsigned char> scratch);

    upstream::request_shape shape() const;
    unsigned status() const { return status_; }
    // Set when the answer was refused while it arrived (not JSON, too large).
    std::optional<observability::backend_failure> failure() const { return failure_; }
    const std::string& failure_detail() const { return detail_; }
    // The parsed answer of a complete 2xx response; nullopt (detail set) if it was not whole JSON.
    std::optional<boost::json::value> take_answer();
    const std::string& error_body() const { return error_body_; }
    std::uint64_t received() const { return received_; }

    void request_head(std::string_view endpoint, std::pmr::string& out) override;
    bool head_per_try() const override { return true; }
    boost::beast::flat_buffer* body_bytes() override;
    boost::asio::awaitable<boost::system::error_code> read_body() override;
    boost::asio::awaitable<bool> send_continue() override;
    boost::asio::awaitable<bool> interim(const http::response_head& head) override;
    bool response_head(const http::response_head& head, http::body_framing framing, upstream::body_delivery& delivery,
                       std::string_view& prefix, std::optional<http::local_reply>& refusal) override;
    std::size_t write_now(std::span<const boost::asio::const_buffer> buffers, boost::system::error_code& ec) override;
    boost::asio::awaitable<boost::system::error_code> write_rest(std::span<const boost::asio::const_buffer> buffers,
                                                                 std::size_t& sent) override;

private:
    const config::aggregate_backend& backend_;
    std::string target_;
    std::string fields_;
    const client_request& request_;
    std::uint64_t max_body_;
    bool send_body_ = false;
    boost::beast::flat_buffer body_;
    boost::json::stream_parser parser_;
    unsigned status_ = 0;
    std::uint64_t received_ = 0;
    std::optional<observability::backend_failure> failure_;
    std::string detail_;
    std::string error_body_;
};

}  // namespace gatehouse::aggregate
