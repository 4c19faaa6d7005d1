#pragma once
// The client's side of a proxied request, as the downstream of an upstream::exchange: the
// request head the upstream gets (connection-scoped fields out, the gateway's forwarding fields
// in, the route's and the filters' edits), the client's body, and the response head the client
// gets, written to the client's socket as the exchange relays the body.
#include <memory_resource>
#include <string>

#include "gatehouse/server/client_connection.hpp"
#include "gatehouse/upstream/exchange.hpp"
#include "request_state.hpp"

namespace gatehouse::server {

class relay final : public upstream::downstream {
public:
    relay(client_connection& connection, request_state& rs);

    void request_head(std::string_view endpoint, std::pmr::string& out) override;
    bool head_per_try() const override;
    boost::beast::flat_buffer* body_bytes() override;
    boost::asio::awaitable<boost::system::error_code> read_body() override;
    boost::asio::awaitable<bool> send_continue() override;
    boost::asio::awaitable<bool> interim(const http::response_head& head) override;
    boost::asio::awaitable<bool> upgraded(const http::response_head& head, io::stream& upstream,
                                          std::span<const char> early) override;
    bool response_head(const http::response_head& head, http::body_framing framing, upstream::body_delivery& delivery,
                       std::string_view& prefix, std::optional<http::local_reply>& refusal) override;
    std::size_t write_now(std::span<const boost::asio::const_buffer> buffers, boost::system::error_code& ec) override;
    boost::asio::awaitable<boost::system::error_code> write_rest(std::span<const boost::asio::const_buffer> buffers,
                                                                 std::size_t& sent) override;

    // After the exchange: the client connection can carry another request.
    bool keep_client() const { return keep_client_; }

private:
    // Logs the status and lets the filters see the upstream's response head.
    void response_filters(const http::response_head& head);
    // The client's 101: the upstream's end-to-end fields, the route's and filters' edits.
    void switching_head(const http::response_head& head, std::pmr::string& out);
    // Chooses how the body reaches the client (its version decides chunked or close-delimited).
    upstream::body_delivery plan_delivery(http::body_framing framing, bool& add_chunked);

    client_connection& client_;
    request_state& rs_;
    std::pmr::string client_head_;
    clock::time_point body_deadline_{};    // the whole request body, from its first wait
    clock::time_point client_deadline_{};  // the client must have taken the whole response by then
    bool keep_client_ = false;
};

}  // namespace gatehouse::server
