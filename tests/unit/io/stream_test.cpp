// io::stream over loopback: the same calls move bytes over plain TCP and over TLS (with a
// certificate made for the test by the openssl command).
#include "gatehouse/io/stream.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "gatehouse/io/send.hpp"

using namespace gatehouse;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

struct test_certificate {
    test_certificate() {
        dir = std::filesystem::temp_directory_path() / ("gatehouse-stream-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        cert = (dir / "cert.pem").string();
        key = (dir / "key.pem").string();
        const std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost "
            "-addext subjectAltName=DNS:localhost -keyout " +
            key + " -out " + cert + " 2>/dev/null";
        ok = std::system(command.c_str()) == 0;
    }
    ~test_certificate() { std::filesystem::remove_all(dir); }
    std::filesystem::path dir;
    std::string cert, key;
    bool ok = false;
};

// Accepts one connection, optionally over TLS, reads "ping" and answers "pong".
asio::awaitable<void> pong_server(tcp::acceptor& acceptor, asio::ssl::context* tls, std::string& got) {
    io::stream s(co_await acceptor.async_accept(asio::use_awaitable));
    if (tls) {
        s.start_tls(*tls, io::stream::tls_role::server);
        if (co_await s.handshake()) co_return;
    }
    std::string buf(16, '\0');
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), io::use_nothrow);
    if (ec) co_return;
    got.assign(buf.data(), n);
    const std::string_view pong = "pong";
    std::vector<asio::const_buffer> answer{asio::buffer(pong)};
    co_await s.async_write(std::move(answer), io::use_nothrow);
    co_await s.close_tls();
}

struct client_outcome {
    boost::system::error_code handshake;
    std::size_t written_now = 0;
    std::string answer;
};

asio::awaitable<void> ping_client(tcp::endpoint server, asio::ssl::context* tls, std::string name,
                                  client_outcome& out) {
    io::stream s(co_await asio::this_coro::executor);
    co_await s.socket().async_connect(server, asio::use_awaitable);
    if (tls) {
        s.start_tls(*tls, io::stream::tls_role::client, {.server_name = name});
        out.handshake = co_await s.handshake();
        if (out.handshake) co_return;
    }
    const std::string_view text = "ping";
    const std::array<asio::const_buffer, 1> ping{asio::buffer(text)};
    boost::system::error_code ec;
    out.written_now = s.write_now(ping, ec);
    if (out.written_now < 4) co_await s.async_write(io::after_bytes(ping, out.written_now), io::use_nothrow);
    std::string buf(16, '\0');
    auto [rec, n] = co_await s.async_read_some(asio::buffer(buf), io::use_nothrow);
    if (!rec) out.answer.assign(buf.data(), n);
}

}  // namespace

TEST(IoStream, PlainWritesGoOutAtOnce) {
    asio::io_context ctx;
    tcp::acceptor acceptor(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    std::string got;
    client_outcome out;
    asio::co_spawn(ctx, pong_server(acceptor, nullptr, got), asio::detached);
    asio::co_spawn(ctx, ping_client(acceptor.local_endpoint(), nullptr, "", out), asio::detached);
    ctx.run_for(std::chrono::seconds(10));
    EXPECT_EQ(out.written_now, 4u);  // the inline sendmsg of a plain stream
    EXPECT_EQ(got, "ping");
    EXPECT_EQ(out.answer, "pong");
}

TEST(IoStream, TlsCarriesTheSameExchangeAndVerifiesTheName) {
    test_certificate certificate;
    ASSERT_TRUE(certificate.ok) << "openssl req failed";
    asio::ssl::context server_tls(asio::ssl::context::tls_server);
    server_tls.use_certificate_chain_file(certificate.cert);
    server_tls.use_private_key_file(certificate.key, asio::ssl::context::pem);
    asio::ssl::context client_tls(asio::ssl::context::tls_client);
    client_tls.load_verify_file(certificate.cert);
    client_tls.set_verify_mode(asio::ssl::verify_peer);

    asio::io_context ctx;
    tcp::acceptor acceptor(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    std::string got;
    client_outcome out;
    asio::co_spawn(ctx, pong_server(acceptor, &server_tls, got), asio::detached);
    asio::co_spawn(ctx, ping_client(acceptor.local_endpoint(), &client_tls, "localhost", out), asio::detached);
    ctx.run_for(std::chrono::seconds(10));
    EXPECT_FALSE(out.handshake) << out.handshake.message();
    EXPECT_EQ(out.written_now, 4u);  // TLS writes go out inline too (SSL_write on the socket)
    EXPECT_EQ(got, "ping");
    EXPECT_EQ(out.answer, "pong");

    // A certificate for another name fails the client's handshake.
    asio::io_context ctx2;
    tcp::acceptor acceptor2(ctx2, {asio::ip::make_address("127.0.0.1"), 0});
    std::string got2;
    client_outcome wrong;
    asio::co_spawn(ctx2, pong_server(acceptor2, &server_tls, got2), asio::detached);
    asio::co_spawn(ctx2, ping_client(acceptor2.local_endpoint(), &client_tls, "billing.internal", wrong),
                   asio::detached);
    ctx2.run_for(std::chrono::seconds(10));
    EXPECT_TRUE(wrong.handshake);
    EXPECT_TRUE(got2.empty());
}
