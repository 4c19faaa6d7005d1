#include "gatehouse/io/stream.hpp"

#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gatehouse/common/openssl.hpp"
#include "gatehouse/common/peer_certificate.hpp"
#include "gatehouse/common/tls_context.hpp"
#include "gatehouse/io/send.hpp"

namespace gatehouse::io {

namespace asio = boost::asio;
using boost::system::error_code;

class tls_layer {
public:
    tls_layer(asio::ip::tcp::socket& socket, asio::ssl::context& context, stream::tls_role role)
        : ssl(socket, context), role(role) {}
    asio::ssl::stream<asio::ip::tcp::socket&> ssl;
    stream::tls_role role;
};

bool tls_error(const error_code& ec) {
    return ec.category() == asio::error::get_ssl_category();
}

stream::stream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
stream::stream(const asio::any_io_executor& executor) : socket_(executor) {}
stream::~stream() = default;

void stream::start_tls(asio::ssl::context& context, tls_role role, const tls_client_options& client) {
    tls_ = std::make_unique<tls_layer>(socket_, context, role);
    if (role != tls_role::client) return;
    auto* ssl = tls_->ssl.native_handle();
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
    auto result = SSL_get_verify_result(const_cast<tls_layer&>(*tls_).ssl.native_handle());
    return result == X509_V_OK ? std::string() : X509_verify_cert_error_string(result);
}

bool stream::tls_buffered() const {
    return tls_ && SSL_has_pending(const_cast<tls_layer&>(*tls_).ssl.native_handle()) == 1;
}

asio::awaitable<error_code> stream::handshake() {
    if (!tls_) co_return error_code{};
    auto type = tls_->role == tls_role::server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client;
    auto [ec] = co_await tls_->ssl.async_handshake(type, use_nothrow);
    co_return ec;
}

stream::tls_session stream::session() const {
    tls_session out;
    if (!tls_) return out;
    auto* ssl = const_cast<tls_layer&>(*tls_).ssl.native_handle();
    out.tls13 = SSL_version(ssl) == TLS1_3_VERSION;
    out.resumed = SSL_session_reused(ssl) == 1;
    return out;
}

std::unique_ptr<common::peer_certificate> stream::verified_peer() const {
    if (!tls_) return nullptr;
    auto* ssl = const_cast<tls_layer&>(*tls_).ssl.native_handle();
    common::openssl_ptr<X509> cert(SSL_get1_peer_certificate(ssl));
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return nullptr;
    return std::make_unique<common::peer_certificate>(common::describe_certificate(cert.get()));
}

void stream::tls_read(asio::mutable_buffer buffer, io_handler handler) {
    tls_->ssl.async_read_some(buffer, std::move(handler));
}

void stream::tls_write(const std::vector<asio::const_buffer>& buffers, io_handler handler) {
    asio::async_write(tls_->ssl, buffers, std::move(handler));
}

std::size_t stream::write_now(std::span<const asio::const_buffer> buffers, error_code& ec) {
    if (tls_) {
        ec.clear();
        return 0;
    }
    return send_now(socket_, buffers, ec);
}

asio::awaitable<void> stream::close_tls() {
    if (tls_) {
        co_await tls_->ssl.async_shutdown(use_nothrow);
    }
}

void stream::close() {
    error_code ignored;
    socket_.close(ignored);
}

}  // namespace gatehouse::io
