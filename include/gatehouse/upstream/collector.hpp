#pragma once
// A downstream that keeps the response instead of relaying it: status, fields and the decoded
// body up to a size bound. For requests the gateway makes itself (the backends of an
// aggregation), where the answer is read whole before anything is sent to a client.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gatehouse/upstream/exchange.hpp"

namespace gatehouse::upstream {

struct collected_response {
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> fields;  // as received, connection fields included
    std::string body;                                         // decoded (no chunked framing)
    bool too_large = false;                                   // the body passed max_body: the exchange stopped

    // The first value of the field called name (case-insensitive).
    const std::string* find(std::string_view name) const;
};

class collector final : public downstream {
public:
    // A request with method and target (origin form), extra fields (Host defaults to the
    // endpoint), and a body sent with Content-Length when not empty.
    collector(std::string method, std::string target, std::vector<std::pair<std::string, std::string>> fields,
              std::string body, std::uint64_t max_response_body);

    const collected_response& response() const { return response_; }

    void request_head(std::string_view endpoint, std::pmr::string& out) override;
    bool head_per_try() const override { return true; }
    boost::beast::flat_buffer* body_bytes() override;
    boost::asio::awaitable<boost::system::error_code> read_body() override;
    boost::asio::awaitable<bool> send_continue() override;
    boost::asio::awaitable<bool> interim(const http::response_head& head) override;
    bool response_head(const http::response_head& head, http::body_framing framing, body_delivery& delivery,
                       std::string_view& prefix, std::optional<http::local_reply>& refusal) override;
    std::size_t write_now(std::span<const boost::asio::const_buffer> buffers, boost::system::error_code& ec) override;
    boost::asio::awaitable<boost::system::error_code> write_rest(std::span<const boost::asio::const_buffer> buffers,
                                                                 std::size_t& sent) override;

    // The request's shape for exchange::run.
    request_shape shape() const;

private:
    std::string method_;
    std::string target_;
    std::vector<std::pair<std::string, std::string>> fields_;
    boost::beast::flat_buffer body_;
    std::uint64_t body_size_ = 0;
    std::uint64_t max_response_body_;
    collected_response response_;
};

}  // namespace gatehouse::upstream
