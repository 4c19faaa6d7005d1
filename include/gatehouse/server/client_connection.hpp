#pragma once
// One downstream HTTP/1.1 connection, served by one coroutine that owns its socket. Requests
// are handled one at a time in arrival order, so pipelined requests are answered in order and
// the pipeline depth is bounded by the read buffer.
#include <array>
#include <memory>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "gatehouse/common/ip_network.hpp"
#include "gatehouse/common/peer_certificate.hpp"
#include "gatehouse/filters/filter.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/http/local_reply.hpp"
#include "gatehouse/io/deadline.hpp"
#include "gatehouse/io/stream.hpp"

namespace gatehouse::aggregate {
struct fan_out_result;
}

namespace gatehouse::server {

using clock = std::chrono::steady_clock;

class worker;
struct request_state;
class relay;

// Starts serving socket (accepted from peer on server.listen[listener]) on the worker's loop.
void spawn_client_connection(worker& w, boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& peer,
                             std::size_t listener);

class client_connection {
public:
    client_connection(worker& w, boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& peer,
                      std::size_t listener);
    ~client_connection();
    client_connection(const client_connection&) = delete;
    client_connection& operator=(const client_connection&) = delete;

    // Serves requests until the client leaves, an error closes the connection, or a timeout.
    boost::asio::awaitable<void> run();

private:
    enum class next_step {
        keep_alive,  // the exchange ended cleanly: wait for the next request
        close        // close the connection
    };

    using buffer = boost::beast::flat_buffer;

    friend class relay;  // the client's side of a proxied exchange (relay.cpp)

    boost::asio::awaitable<next_step> serve_one();
    // A TLS listener's handshake, under timeouts.handshake. False: close the connection.
    boost::asio::awaitable<bool> handshake();
    // "https" on a TLS listener, else "http" (X-Forwarded-Proto).
    std::string_view scheme() const { return stream_.plain() ? "http" : "https"; }
    // Hands the routed request to an upstream exchange through a relay.
    boost::asio::awaitable<next_step> proxy(request_state& rs);
    // Fans an aggregate route's request out to its backends and answers the merged JSON
    // (aggregate_request.cpp).
    boost::asio::awaitable<next_step> aggregate(request_state& rs);
    // Reads a Content-Length request body whole into out (an aggregate's backends may send it);
    // a reply when it cannot be read.
    boost::asio::awaitable<std::optional<http::local_reply>> read_whole_body(request_state& rs, std::string& out);
    std::string backend_fields(request_state& rs) const;
    std::string merged_answer(request_state& rs, const aggregate::fan_out_result& result, bool close);
    boost::asio::awaitable<next_step> reply(request_state& rs, const http::local_reply& reply, bool close);
    // A 200 the gateway answers itself: fields (each ending in CRLF), then body.
    boost::asio::awaitable<next_step> answer_ok(request_state& rs, std::string_view fields, std::string_view body);
    boost::asio::awaitable<next_step> answer_server_options(request_state& rs);
    boost::asio::awaitable<next_step> answer_trace(request_state& rs);
    boost::asio::awaitable<boost::system::error_code> write_to_client(std::string_view data);
    // stream_.write_now on the client's stream. Nagle's algorithm only holds back a write that follows
    // unacknowledged data, so the first write of a connection leaves at once without
    // TCP_NODELAY; it is set before the second (as NGINX does), which spares the syscall on a
    // connection that answers once and closes.
    std::size_t send_to_client_now(std::span<const boost::asio::const_buffer> buffers, boost::system::error_code& ec);
    void no_delay_from_second_write();
    // The part of a send that write_now could not do at once: waits until the client takes the
    // rest of buffers, watched until deadline. sent: the bytes write_now sent, then all bytes sent.
    boost::asio::awaitable<boost::system::error_code> send_rest(std::span<const boost::asio::const_buffer> buffers,
                                                                std::size_t& sent, clock::time_point deadline);

    // The 308 of a listener whose redirect_to_https is set.
    http::local_reply redirect_to_https(const request_state& rs, std::uint16_t port);
    // Validates the parsed head and fills rs; returns a reply to send when the request is refused.
    std::optional<http::local_reply> inspect_request(request_state& rs);

    // Counts a filter's answer (ctx.answered_by) in the worker's rejection metrics.
    void count_answer(const request_state& rs);
    static void append_response_edits(const request_state& rs, std::string& out);
    void start_log(request_state& rs);
    void describe_request(request_state& rs);
    void finish_request(request_state& rs);

    buffer& client_buffer();
    void release_client_buffer_if_empty();

    worker& worker_;
    io::stream stream_;  // plain TCP today; TLS listeners give it a TLS layer
    io::deadline_watch watch_;
    std::unique_ptr<buffer> buffer_;  // held only while unparsed bytes remain
    // The first bytes of the next request land here: an idle connection holds no pooled buffer,
    // and a speculative read (unlike a readiness wait) costs no syscall when nothing is pending.
    std::array<char, 1024> first_bytes_;
    std::string client_ip_;
    common::ip_bytes peer_bytes_{};  // client_ip_ for network lookups (server.trusted_proxies)
    std::uint16_t client_port_ = 0;
    std::uint64_t bytes_out_ = 0;  // sent to the client for the current request
    std::uint64_t client_hash_ = 0;
    std::uint32_t client_writes_ = 0;  // sends started on stream_ (for the lazy TCP_NODELAY)
    bool linger_ = false;              // we close on the client: drain what it still sends
    std::uint32_t listener_ = 0;       // index into server.listen
    // A verified client certificate (TLS listeners with client_auth), and whether the
    // listener forwards it in X-Forwarded-Client-Cert.
    std::unique_ptr<common::peer_certificate> peer_certificate_;
    bool forward_client_certificate_ = false;
};

}  // namespace gatehouse::server
