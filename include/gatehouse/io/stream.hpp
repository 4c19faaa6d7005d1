#pragma once
// A connection's byte stream: plain TCP, or TLS over TCP. Client connections and upstream
// exchanges do all their I/O through it, so one loop serves both. A plain stream reads and
// writes on the socket directly and keeps the raw-socket fast paths (an inline sendmsg, the
// reactor hints); a TLS stream goes through OpenSSL, whose types stay out of this header.
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

namespace boost::asio::ssl {
class context;
}

namespace gatehouse::common {
struct peer_certificate;
class tls_session_slot;
}  // namespace gatehouse::common

namespace gatehouse::io {

using io_handler = boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;

// What a client's TLS layer asks of the server.
struct tls_client_options {
    std::string_view server_name;  // sent as SNI unless an IP literal; the name (or IP) verified
    bool verify_name = true;       // the certificate must be for server_name (when the context verifies peers)
    common::tls_session_slot* sessions = nullptr;  // resume its session; new sessions land there
};

// True if ec came from the TLS layer (an alert, a bad record) rather than from the socket.
bool tls_error(const boost::system::error_code& ec);

class tls_layer;  // OpenSSL through Asio's ssl::stream (stream.cpp)

class stream {
public:
    enum class tls_role { client, server };

    explicit stream(boost::asio::ip::tcp::socket socket);
    explicit stream(const boost::asio::any_io_executor& executor);
    ~stream();
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;

    // The TCP layer: deadlines cancel it; the plain fast paths work on it.
    boost::asio::ip::tcp::socket& socket() { return socket_; }
    // No TLS layer: bytes on the socket are the stream's bytes.
    bool plain() const { return !tls_; }

    // Adds a TLS layer in role (before any byte is exchanged); handshake() then runs it.
    void start_tls(boost::asio::ssl::context& context, tls_role role, const tls_client_options& client = {});
    boost::asio::awaitable<boost::system::error_code> handshake();
    // After a completed handshake: what was agreed.
    struct tls_session {
        bool tls13 = false;    // else TLS 1.2
        bool resumed = false;  // from a session ticket or the cache
    };
    tls_session session() const;
    // After a failed client handshake: why the peer's certificate was refused ("certificate has
    // expired", "hostname mismatch"); empty when verification was not the cause.
    std::string verify_error() const;
    // What an idle TLS connection holds, read without waiting: records that are not data (a
    // late session ticket) are consumed on the way.
    enum class idle_probe {
        nothing,  // reusable
        closed,   // close_notify, EOF or an error
        data      // application bytes nobody asked for
    };
    idle_probe probe_idle_tls();
    // The peer's certificate when it sent one and it verified (also on a resumed session);
    // else null.
    std::unique_ptr<common::peer_certificate> verified_peer() const;

    // Reads some bytes into buffer (a mutable buffer, or a reactor-hint buffer of
    // io/asio_internals on a plain stream).
    template <typename Buffer, typename Token>
    auto async_read_some(const Buffer& buffer, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const Buffer& b) {
                if (!tls_) {
                    socket_.async_read_some(b, std::move(handler));
                } else {
                    tls_read(*boost::asio::buffer_sequence_begin(b), io_handler(std::move(handler)));
                }
            },
            token, buffer);
    }

    // Writes all of buffers.
    template <typename Token>
    auto async_write(std::vector<boost::asio::const_buffer> buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, std::vector<boost::asio::const_buffer> b) {
                if (!tls_) {
                    boost::asio::async_write(socket_, std::move(b), std::move(handler));
                } else {
                    tls_write(b, io_handler(std::move(handler)));
                }
            },
            token, std::move(buffers));
    }

    // As much of buffers as goes without waiting, in one sendmsg on a plain stream; a TLS
    // stream sends nothing here (0): its writes go through async_write.
    std::size_t write_now(std::span<const boost::asio::const_buffer> buffers, boost::system::error_code& ec);

    // Sends TLS close_notify (a no-op on a plain stream), bounded by the caller's deadline.
    boost::asio::awaitable<void> close_tls();
    void close();

private:
    void tls_read(boost::asio::mutable_buffer buffer, io_handler handler);
    // Asio's write operation keeps its own copy of the buffer list.
    void tls_write(const std::vector<boost::asio::const_buffer>& buffers, io_handler handler);

    boost::asio::ip::tcp::socket socket_;
    std::unique_ptr<tls_layer> tls_;
};

}  // namespace gatehouse::io
