#include "tls_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>

namespace harness {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string serial_of(SSL* ssl) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    if (!cert) return "none";
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
    char* hex = BN_bn2hex(bn);
    std::string out(hex);
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(cert);
    return out;
}

}  // namespace

void https_load(const https_load_options& options, const std::atomic<bool>& stop, https_load_result& out) {
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.load_verify_file(options.ca_file);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), options.tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), options.tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_CLIENT);
    const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), options.port);
    SSL_SESSION* session = nullptr;
    std::unique_ptr<asio::ssl::stream<tcp::socket>> stream;
    beast::flat_buffer buffer;
    do {
        try {
            if (!stream) {
                stream = std::make_unique<asio::ssl::stream<tcp::socket>>(io, ctx);
                SSL_set_tlsext_host_name(stream->native_handle(), options.server_name.c_str());
                SSL_set1_host(stream->native_handle(), options.server_name.c_str());
                if (session && options.resume) SSL_set_session(stream->native_handle(), session);
                stream->next_layer().connect(server);
                stream->handshake(asio::ssl::stream_base::client);
                ++out.handshakes;
                if (SSL_session_reused(stream->native_handle())) ++out.resumed;
                out.serials.insert(serial_of(stream->native_handle()));
                buffer.clear();
            }
            http::request<http::empty_body> req(http::verb::get, options.path, 11);
            req.set(http::field::host, options.server_name);
            req.keep_alive(options.keep_alive);
            http::write(*stream, req);
            http::response<http::string_body> res;
            http::read(*stream, buffer, res);
            if (res.result_int() == 200) {
                ++out.ok;
            } else {
                ++out.failed;
                out.last_error = "status " + std::to_string(res.result_int());
            }
            if (!options.keep_alive || !res.keep_alive()) {
                if (session) SSL_SESSION_free(session);
                session = SSL_get1_session(stream->native_handle());  // TLS 1.3: its tickets came with the response
                boost::system::error_code ignored;
                stream->shutdown(ignored);
                stream.reset();
            }
        } catch (const std::exception& e) {
            ++out.failed;
            out.last_error = e.what();
            stream.reset();
        }
    } while (!stop);
    if (session) SSL_SESSION_free(session);
}

}  // namespace harness
