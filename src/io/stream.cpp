#include "gatehouse/io/stream.hpp"

#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gatehouse/common/openssl.hpp"
#include "gatehouse/common/peer_certificate.hpp"
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

stream::stream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
stream::stream(const asio::any_io_executor& executor) : socket_(executor) {}
stream::~stream() = default;

void stream::start_tls(asio::ssl::context& context, tls_role role, std::string_view server_name) {
    tls_ = std::make_unique<tls_layer>(socket_, context, role);
    if (role == tls_role::client && !server_name.empty()) {
        const std::string name(server_name);
        SSL_set_tlsext_host_name(tls_->ssl.native_handle(), name.c_str());
        tls_->ssl.set_verify_callback(asio::ssl::host_name_verification(name));
    }
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
