#include "gatehouse/io/stream.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "gatehouse/common/openssl.hpp"
#include "gatehouse/common/peer_certificate.hpp"
#include "gatehouse/common/tls_context.hpp"
#include "gatehouse/io/send.hpp"
#include "io/asio_internals/reactor_hints.hpp"

namespace gatehouse::io {

namespace asio = boost::asio;
using boost::system::error_code;

// OpenSSL writing to the socket itself (a socket BIO on the non-blocking descriptor) and
// reading from a memory BIO that Asio's own reads on the socket fill, in the buffer the
// caller gave for the plaintext. Against asio::ssl::stream (a BIO pair, a composed state
// machine per operation) that saves a copy each way and most of the bookkeeping; against a
// socket BIO for reads too, it keeps Asio's speculative reads and the reactor hints, where a
// readiness wait costs an epoll_ctl each time. The socket stays Asio's, so deadlines (which
// cancel or close it) end an operation in progress like any other.
class tls_layer {
public:
    tls_layer(asio::ip::tcp::socket& socket, asio::ssl::context& context, stream::tls_role role)
        : socket(socket), ssl(SSL_new(context.native_handle())), role(role) {
        error_code ignored;
        socket.non_blocking(true, ignored);
        incoming = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(incoming, -1);  // empty: "retry", never EOF (the socket says EOF)
        SSL_set_bio(ssl, incoming, BIO_new_socket(static_cast<int>(socket.native_handle()), BIO_NOCLOSE));
        // Writes of one record each, retried with the same bytes from wherever they now are;
        // buffers given back while idle (as NGINX does: 34 KiB less per kept-alive connection).
        SSL_set_mode(ssl,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
        if (role == stream::tls_role::server) {
            SSL_set_accept_state(ssl);
        } else {
            SSL_set_connect_state(ssl);
        }
    }
    ~tls_layer() { SSL_free(ssl); }  // and both BIOs
    tls_layer(const tls_layer&) = delete;
    tls_layer& operator=(const tls_layer&) = delete;

    // Bytes read from the socket, for OpenSSL to take in.
    void received(const void* data, std::size_t size) { BIO_write(incoming, data, static_cast<int>(size)); }

    // What a read that found the socket closed means: after close_notify OpenSSL has said eof
    // itself, so this is a close without one.
    static error_code closed(const error_code& ec) {
        return ec == asio::error::eof ? error_code(asio::ssl::error::stream_truncated) : ec;
    }

    // The error an OpenSSL call that returned result stands for; none for a wait.
    enum class outcome { done, want_read, want_write, failed };
    outcome classify(int result, error_code& ec) const {
        switch (SSL_get_error(ssl, result)) {
            case SSL_ERROR_NONE:
                return outcome::done;
            case SSL_ERROR_WANT_READ:
                return outcome::want_read;
            case SSL_ERROR_WANT_WRITE:
                return outcome::want_write;
            case SSL_ERROR_ZERO_RETURN:
                ec = asio::error::eof;  // close_notify: the peer's clean end
                return outcome::failed;
            case SSL_ERROR_SYSCALL:
                if (auto e = ERR_get_error()) {
                    ec = error_code(static_cast<int>(e), asio::error::get_ssl_category());
                } else {
                    ec = errno != 0 ? error_code(errno, boost::system::system_category())
                                    : error_code(asio::ssl::error::stream_truncated);
                }
                ERR_clear_error();
                return outcome::failed;
            default: {
                auto e = ERR_get_error();
                ERR_clear_error();
                ec = ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING
                         ? error_code(asio::ssl::error::stream_truncated)  // no close_notify: maybe cut short
                         : error_code(static_cast<int>(e), asio::error::get_ssl_category());
                return outcome::failed;
            }
        }
    }

    // One SSL_write of the next bytes of buffers after skip (small buffers gathered into one
    // record); how many it took, 0 with a wait or an error in result.
    std::size_t write_some(std::span<const asio::const_buffer> buffers, std::size_t skip, outcome& result,
                           error_code& ec) {
        thread_local std::array<char, 16 * 1024> gathered;
        const void* data = nullptr;
        std::size_t size = 0;
        std::size_t rest = 0;
        std::size_t pieces = 0;
        std::size_t offset = skip;
        for (const auto& b : buffers) {
            if (offset >= b.size()) {
                offset -= b.size();
                continue;
            }
            if (pieces++ == 0) {
                data = static_cast<const char*>(b.data()) + offset;
                size = b.size() - offset;
            }
            rest += b.size() - offset;
            offset = 0;
        }
        if (pieces > 1 && rest <= gathered.size()) {
            // The pieces of a small message (a head, its body) leave as one record and one send.
            std::size_t at = 0;
            offset = skip;
            for (const auto& b : buffers) {
                if (offset >= b.size()) {
                    offset -= b.size();
                    continue;
                }
                std::memcpy(gathered.data() + at, static_cast<const char*>(b.data()) + offset, b.size() - offset);
                at += b.size() - offset;
                offset = 0;
            }
            data = gathered.data();
            size = rest;
        }
        if (size == 0) {
            result = outcome::done;
            return 0;
        }
        ERR_clear_error();
        std::size_t written = 0;
        int r = SSL_write_ex(ssl, data, size, &written);
        result = r == 1 ? outcome::done : classify(r, ec);
        return r == 1 ? written : 0;
    }

    asio::ip::tcp::socket& socket;
    SSL* ssl;
    BIO* incoming = nullptr;  // owned by ssl
    stream::tls_role role;
};

namespace {

// Reads plaintext into buffer: from what OpenSSL holds, else after reading the socket into
// the same buffer and handing those bytes to OpenSSL.
struct tls_read_op {
    tls_layer* layer;
    asio::mutable_buffer buffer;
    io_handler handler;

    // Completion of a read on the socket.
    void operator()(error_code ec, std::size_t n) {
        if (ec) return std::move(handler)(tls_layer::closed(ec), 0);
        layer->received(buffer.data(), n);
        decrypt();
    }
    // Completion of a wait for room (a read that had to write: a TLS 1.3 key update's answer).
    void operator()(error_code ec) {
        if (ec) return std::move(handler)(ec, 0);
        decrypt();
    }

    void decrypt() {
        ERR_clear_error();
        std::size_t n = 0;
        int r = SSL_read_ex(layer->ssl, buffer.data(), buffer.size(), &n);
        if (r == 1) return std::move(handler)(error_code{}, n);
        error_code ec;
        switch (layer->classify(r, ec)) {
            case tls_layer::outcome::want_read:
                return layer->socket.async_read_some(io::drain_aware(layer->socket, buffer), std::move(*this));
            case tls_layer::outcome::want_write:
                return layer->socket.async_wait(asio::socket_base::wait_write, std::move(*this));
            default:
                return std::move(handler)(ec ? ec : error_code(asio::error::eof), 0);
        }
    }
};

// Writes all of buffers, a record at a time, waiting for room when the socket is full.
struct tls_write_op {
    tls_layer* layer;
    std::vector<asio::const_buffer> buffers;
    std::size_t sent;
    io_handler handler;

    void operator()(error_code ec) {
        if (ec) return std::move(handler)(ec, sent);
        for (;;) {
            tls_layer::outcome result{};
            sent += layer->write_some(buffers, sent, result, ec);
            if (result == tls_layer::outcome::want_write) {
                return layer->socket.async_wait(asio::socket_base::wait_write, std::move(*this));
            }
            if (result == tls_layer::outcome::want_read) {
                return layer->socket.async_wait(asio::socket_base::wait_read, std::move(*this));
            }
            if (result == tls_layer::outcome::failed || sent == asio::buffer_size(buffers)) {
                return std::move(handler)(ec, sent);
            }
        }
    }
};

}  // namespace

bool tls_error(const error_code& ec) {
    return ec.category() == asio::error::get_ssl_category();
}

stream::stream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
stream::stream(const asio::any_io_executor& executor) : socket_(executor) {}
stream::~stream() = default;

void stream::start_tls(asio::ssl::context& context, tls_role role, const tls_client_options& client) {
    tls_ = std::make_unique<tls_layer>(socket_, context, role);
    if (role != tls_role::client) return;
    auto* ssl = tls_->ssl;
    const std::string name(client.server_name);
    error_code not_ip;
    asio::ip::make_address(name, not_ip);
    const bool ip_literal = !name.empty() && !not_ip;
    if (!name.empty() && !ip_literal) SSL_set_tlsext_host_name(ssl, name.c_str());  // RFC 6066: no IPs in SNI
    if (!name.empty() && client.verify_name) {
        if (ip_literal) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            SSL_set1_host(ssl, name.c_str());
        }
    }
    if (client.sessions) {
        SSL_set_ex_data(ssl, common::tls_session_slot::ex_index(), client.sessions);
        if (auto* session = client.sessions->get()) {
            // Each handshake resumes its own copy: OpenSSL updates the session it resumes, and
            // connections of one pool handshaking at once over one shared session made the
            // server refuse some resumptions (measured: 1 run in 10 of the pool test).
            common::openssl_ptr<SSL_SESSION> copy(SSL_SESSION_dup(session));
            SSL_set_session(ssl, copy ? copy.get() : session);
        }
    }
}

std::string stream::verify_error() const {
    if (!tls_) return {};
    auto result = SSL_get_verify_result(tls_->ssl);
    return result == X509_V_OK ? std::string() : X509_verify_cert_error_string(result);
}

stream::idle_probe stream::probe_idle_tls() {
    // Whatever arrived while idle goes to OpenSSL first (a read that does not wait).
    std::array<char, 4096> raw;
    for (;;) {
        auto n = ::recv(socket_.native_handle(), raw.data(), raw.size(), MSG_DONTWAIT);
        if (n == 0) return idle_probe::closed;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return idle_probe::closed;
        }
        tls_->received(raw.data(), static_cast<std::size_t>(n));
    }
    ERR_clear_error();
    char byte = 0;
    std::size_t n = 0;
    int r = SSL_read_ex(tls_->ssl, &byte, 1, &n);
    if (r == 1) return idle_probe::data;
    error_code ec;
    switch (tls_->classify(r, ec)) {
        case tls_layer::outcome::want_read:
        case tls_layer::outcome::want_write:
            return idle_probe::nothing;
        default:
            return idle_probe::closed;
    }
}

asio::awaitable<error_code> stream::handshake() {
    if (!tls_) co_return error_code{};
    std::array<char, 4096> incoming;  // a ClientHello, or a server's flight, in a read or a few
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(tls_->ssl);
        error_code ec;
        switch (tls_->classify(r, ec)) {
            case tls_layer::outcome::done:
                co_return error_code{};
            case tls_layer::outcome::want_read: {
                auto [read, n] = co_await socket_.async_read_some(asio::buffer(incoming), use_nothrow);
                if (read) co_return tls_layer::closed(read);
                tls_->received(incoming.data(), n);
                break;
            }
            case tls_layer::outcome::want_write: {
                auto [wait] = co_await socket_.async_wait(asio::socket_base::wait_write, use_nothrow);
                if (wait) co_return wait;
                break;
            }
            case tls_layer::outcome::failed:
                co_return ec;
        }
    }
}

stream::tls_session stream::session() const {
    tls_session out;
    if (!tls_) return out;
    auto* ssl = tls_->ssl;
    out.tls13 = SSL_version(ssl) == TLS1_3_VERSION;
    out.resumed = SSL_session_reused(ssl) == 1;
    return out;
}

std::unique_ptr<common::peer_certificate> stream::verified_peer() const {
    if (!tls_) return nullptr;
    auto* ssl = tls_->ssl;
    common::openssl_ptr<X509> cert(SSL_get1_peer_certificate(ssl));
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return nullptr;
    return std::make_unique<common::peer_certificate>(common::describe_certificate(cert.get()));
}

void stream::tls_read(asio::mutable_buffer buffer, io_handler handler) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(tls_->ssl, buffer.data(), buffer.size(), &n);
    error_code ec;
    const auto outcome = r == 1 ? tls_layer::outcome::done : tls_->classify(r, ec);
    if (outcome == tls_layer::outcome::want_read) {
        // The usual case: OpenSSL has nothing; read the socket as a plain stream would.
        socket_.async_read_some(io::drain_aware(socket_, buffer), tls_read_op{tls_.get(), buffer, std::move(handler)});
        return;
    }
    if (outcome == tls_layer::outcome::want_write) {
        socket_.async_wait(asio::socket_base::wait_write, tls_read_op{tls_.get(), buffer, std::move(handler)});
        return;
    }
    // Plaintext OpenSSL already had (a second record of one read), or an error: the handler
    // must not run inside its initiating call.
    if (outcome == tls_layer::outcome::failed && !ec) ec = asio::error::eof;
    asio::post(socket_.get_executor(), [h = std::move(handler), ec, n]() mutable { std::move(h)(ec, n); });
}

void stream::tls_write(const std::vector<asio::const_buffer>& buffers, io_handler handler) {
    tls_write_op op{tls_.get(), buffers, 0, std::move(handler)};
    socket_.async_wait(asio::socket_base::wait_write, std::move(op));
}

std::size_t stream::write_now(std::span<const asio::const_buffer> buffers, error_code& ec) {
    ec.clear();
    if (!tls_) return send_now(socket_, buffers, ec);
    // As the plain path's sendmsg: as many records as the socket takes now.
    const auto total = asio::buffer_size(buffers);
    std::size_t sent = 0;
    while (sent < total) {
        tls_layer::outcome result{};
        sent += tls_->write_some(buffers, sent, result, ec);
        if (result != tls_layer::outcome::done) break;
    }
    return sent;
}

asio::awaitable<void> stream::close_tls() {
    if (tls_) {
        // Our close_notify only: waiting for the client's would hold the connection for a
        // round trip that tells the server nothing it needs (NGINX does the same).
        ERR_clear_error();
        SSL_shutdown(tls_->ssl);
        ERR_clear_error();
    }
    co_return;
}

void stream::close() {
    error_code ignored;
    socket_.close(ignored);
}

}  // namespace gatehouse::io
