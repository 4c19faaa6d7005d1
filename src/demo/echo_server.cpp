// gatehouse-echo: the demo upstream and the integration tests' well-behaved upstream.
// Streams both ways with bounded memory:
//   GET /bytes/N[?chunked=1]   N bytes of the pattern "abc...z" repeated
//   ANY /status/CODE           an empty response with that status
//   ANY /delay/MS              the echo, after MS milliseconds
//   GET /__stats               {"connections": accepted connections, "requests": requests served,
//                               "in_flight": requests being answered, this one not counted}
//   anything else              JSON describing the request: method, target, headers, body size
//                              and the FNV-1a 64-bit hash of the body (over TLS with a client
//                              certificate, also its subject as "tls_client")
// With --tls-cert/--tls-key it speaks TLS (the tests' HTTPS upstream); --client-ca makes it
// require client certificates signed by that CA. /__stats then also counts handshakes and
// resumed sessions.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "gatehouse/http/local_reply.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
std::string service_name = "echo";
std::atomic<std::uint64_t> connections{0};
std::atomic<std::uint64_t> requests{0};
std::atomic<std::int64_t> in_flight{0};  // read, not yet answered (tests wait on it)
std::atomic<std::uint64_t> tls_handshakes{0};
std::atomic<std::uint64_t> tls_resumed{0};
using tls_stream = asio::ssl::stream<tcp::socket>;

// The client certificate's subject on a TLS stream ("/O=Example/CN=x"), else empty.
std::string client_subject(tcp::socket&) {
    return {};
}
std::string client_subject(tls_stream& stream) {
    X509* cert = SSL_get1_peer_certificate(stream.native_handle());
    if (!cert) return {};
    char text[512];
    X509_NAME_oneline(X509_get_subject_name(cert), text, sizeof text);
    X509_free(cert);
    return text;
}

std::uint64_t parse_number(std::string_view s) {
    std::uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

template <typename Stream>
asio::awaitable<bool> send_pattern(Stream& socket, std::uint64_t size, bool chunked, bool keep_alive,
                                   const std::string& request_id, bool head_only) {
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n";
    head += "X-Echo-Service: " + service_name + "\r\n";
    if (!request_id.empty()) head += "X-Echo-Request-Id: " + request_id + "\r\n";
    head +=
        chunked ? std::string("Transfer-Encoding: chunked\r\n") : "Content-Length: " + std::to_string(size) + "\r\n";
    if (!keep_alive) head += "Connection: close\r\n";
    head += "\r\n";
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(head), use_nothrow);
    if (ec || head_only) co_return !ec;
    std::string block(64 * 1024, 'a');
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);
    std::uint64_t sent = 0;
    while (sent < size) {
        // Keep the pattern aligned: every write starts at a multiple of 26.
        std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(size - sent, 26 * 2520));
        std::string prefix, suffix;
        if (chunked) {
            char hex[20];
            auto end = std::to_chars(hex, hex + sizeof hex, len, 16).ptr;
            prefix.assign(hex, end);
            prefix += "\r\n";
            suffix = "\r\n";
        }
        std::array<asio::const_buffer, 3> out{asio::buffer(prefix), asio::buffer(block.data(), len),
                                              asio::buffer(suffix)};
        auto [wec, wn] = co_await asio::async_write(socket, out, use_nothrow);
        if (wec) co_return false;
        sent += len;
    }
    if (chunked) {
        auto [wec, wn] = co_await asio::async_write(socket, asio::buffer("0\r\n\r\n", 5), use_nothrow);
        if (wec) co_return false;
    }
    co_return true;
}

// The size and FNV-1a hash of a request body, read whole whatever its framing.
struct body_digest {
    std::uint64_t bytes = 0;
    std::uint64_t hash = 0xcbf29ce484222325ULL;
};

template <typename Stream>
asio::awaitable<bool> read_body(Stream& socket, beast::flat_buffer& buffer,
                                http::request_parser<http::buffer_body>& parser, std::vector<char>& block,
                                body_digest& body) {
    auto& req = parser.get();
    while (!parser.is_done()) {
        req.body().data = block.data();
        req.body().size = block.size();
        auto [ec, n] = co_await http::async_read(socket, buffer, parser, use_nothrow);
        if (ec && ec != http::error::need_buffer) co_return false;
        std::size_t got = block.size() - req.body().size;
        for (std::size_t i = 0; i < got; ++i) {
            body.hash ^= static_cast<unsigned char>(block[i]);
            body.hash *= 0x100000001b3ULL;
        }
        body.bytes += got;
    }
    co_return true;
}

// The request as the echo's JSON answer: service, method, target, version, headers, body size and hash.
std::string echo_json(const http::request<http::buffer_body>& req, const std::string& target, const body_digest& body,
                      const std::string& tls_client) {
    std::string out = "{\"service\":\"";
    gatehouse::http::append_json_escaped(out, service_name);
    out += "\",\"method\":\"";
    gatehouse::http::append_json_escaped(out, req.method_string());
    out += "\",\"target\":\"";
    gatehouse::http::append_json_escaped(out, target);
    out += "\",\"version\":\"" + std::string(req.version() == 11 ? "1.1" : "1.0") + "\",\"headers\":{";
    bool first = true;
    for (const auto& f : req) {
        out += first ? "\"" : ",\"";
        first = false;
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        gatehouse::http::append_json_escaped(out, name);
        out += "\":\"";
        gatehouse::http::append_json_escaped(out, f.value());
        out += "\"";
    }
    out += "},\"body_bytes\":" + std::to_string(body.bytes) + ",\"body_fnv\":\"" + std::to_string(body.hash) + "\"";
    if (!tls_client.empty()) {
        out += ",\"tls_client\":\"";
        gatehouse::http::append_json_escaped(out, tls_client);
        out += "\"";
    }
    out += "}\n";
    return out;
}

template <typename Stream>
asio::awaitable<void> session(Stream& socket) {
    beast::flat_buffer buffer;
    std::vector<char> body_block(64 * 1024);
    for (;;) {
        http::request_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);
        parser.header_limit(64 * 1024);
        auto [hec, hn] = co_await http::async_read_header(socket, buffer, parser, use_nothrow);
        if (hec) break;
        auto& req = parser.get();
        std::string target(req.target());
        std::string request_id;
        if (auto it = req.find("x-request-id"); it != req.end()) request_id = it->value();
        body_digest body;
        if (!co_await read_body(socket, buffer, parser, body_block, body)) break;
        ++requests;
        struct answering {
            answering() { ++in_flight; }
            ~answering() { --in_flight; }
        } counted;
        bool keep_alive = parser.keep_alive();
        std::string_view path = std::string_view(target).substr(0, target.find('?'));
        // The special paths may sit under any prefix (/api/users/bytes/10 works like /bytes/10).
        for (std::string_view special : {"/bytes/", "/status/", "/delay/", "/__stats"}) {
            if (auto pos = path.rfind(special); pos != std::string_view::npos) {
                path = path.substr(pos);
                break;
            }
        }

        if (path.starts_with("/delay/")) {
            asio::steady_timer timer(co_await asio::this_coro::executor,
                                     std::chrono::milliseconds(parse_number(path.substr(7))));
            co_await timer.async_wait(use_nothrow);
        }
        if (path.starts_with("/bytes/")) {
            bool chunked = target.find("chunked=1") != std::string::npos;
            if (!co_await send_pattern(socket, parse_number(path.substr(7)), chunked, keep_alive, request_id,
                                       req.method() == http::verb::head))
                break;
            if (!keep_alive) break;
            continue;
        }
        http::response<http::string_body> res;
        res.version(11);
        res.keep_alive(keep_alive);
        res.set("X-Echo-Service", service_name);
        if (path.starts_with("/status/")) {
            res.result(static_cast<unsigned>(parse_number(path.substr(8))));
        } else if (path == "/__stats") {
            res.result(http::status::ok);
            res.set(http::field::content_type, "application/json");
            res.body() = "{\"connections\":" + std::to_string(connections.load()) +
                         ",\"requests\":" + std::to_string(requests.load()) +
                         ",\"in_flight\":" + std::to_string(in_flight.load() - 1) +
                         ",\"tls_handshakes\":" + std::to_string(tls_handshakes.load()) +
                         ",\"tls_resumed\":" + std::to_string(tls_resumed.load()) + "}\n";
        } else {
            res.result(http::status::ok);
            res.set(http::field::content_type, "application/json");
            res.body() = echo_json(req, target, body, client_subject(socket));
        }
        if (req.method() != http::verb::head) {
            res.prepare_payload();
        } else {
            res.content_length(res.body().size());
            res.body().clear();
        }
        http::response_serializer<http::string_body> sr(res);
        if (req.method() == http::verb::head) sr.split(true);
        auto [wec, wn] = req.method() == http::verb::head ? co_await http::async_write_header(socket, sr, use_nothrow)
                                                          : co_await http::async_write(socket, sr, use_nothrow);
        if (wec || !keep_alive) break;
    }
}

asio::awaitable<void> plain_connection(tcp::socket socket) {
    ++connections;
    co_await session(socket);
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> tls_connection(tcp::socket socket, asio::ssl::context& tls) {
    ++connections;
    tls_stream stream(std::move(socket), tls);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_nothrow);
    if (ec) co_return;
    ++tls_handshakes;
    if (SSL_session_reused(stream.native_handle()) == 1) ++tls_resumed;
    co_await session(stream);
    co_await stream.async_shutdown(use_nothrow);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, asio::ssl::context* tls) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (ec) continue;
        socket.set_option(tcp::no_delay(true));
        if (tls) {
            asio::co_spawn(acceptor.get_executor(), tls_connection(std::move(socket), *tls), asio::detached);
        } else {
            asio::co_spawn(acceptor.get_executor(), plain_connection(std::move(socket)), asio::detached);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string listen = "127.0.0.1:9001";
    std::string tls_cert, tls_key, client_ca;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--listen" && i + 1 < argc) {
            listen = argv[++i];
        } else if (arg == "--name" && i + 1 < argc) {
            service_name = argv[++i];
        } else if (arg == "--tls-cert" && i + 1 < argc) {
            tls_cert = argv[++i];
        } else if (arg == "--tls-key" && i + 1 < argc) {
            tls_key = argv[++i];
        } else if (arg == "--client-ca" && i + 1 < argc) {
            client_ca = argv[++i];
        } else {
            std::cerr << "usage: gatehouse-echo [--listen HOST:PORT] [--name NAME] [--tls-cert PEM --tls-key PEM "
                         "[--client-ca PEM]]\n";
            return 2;
        }
    }
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
        std::cerr << "gatehouse-echo: --listen needs HOST:PORT\n";
        return 2;
    }
    try {
        std::unique_ptr<asio::ssl::context> tls;
        if (!tls_cert.empty()) {
            tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
            tls->use_certificate_chain_file(tls_cert);
            tls->use_private_key_file(tls_key, asio::ssl::context::pem);
            static constexpr unsigned char id[] = "gatehouse-echo";
            SSL_CTX_set_session_id_context(tls->native_handle(), id, sizeof id - 1);
            if (!client_ca.empty()) {
                tls->load_verify_file(client_ca);
                tls->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
            }
        }
        asio::io_context ctx(1);
        tcp::endpoint ep(asio::ip::make_address(listen.substr(0, colon)),
                         static_cast<unsigned short>(std::stoi(listen.substr(colon + 1))));
        tcp::acceptor acceptor(ctx, ep);
        auto bound = acceptor.local_endpoint();
        std::printf("gatehouse-echo %s listening on %s:%u%s\n", service_name.c_str(),
                    bound.address().to_string().c_str(), bound.port(), tls ? " (TLS)" : "");
        std::fflush(stdout);
        asio::signal_set signals(ctx, SIGINT, SIGTERM);
        signals.async_wait([&](auto, int) { ctx.stop(); });
        asio::co_spawn(ctx, accept_loop(acceptor, tls.get()), asio::detached);
        ctx.run();
    } catch (const std::exception& e) {
        std::cerr << "gatehouse-echo: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
