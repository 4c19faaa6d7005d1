#include "gatehouse/admin/probe.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

namespace gatehouse::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;

int probe(std::string_view url, std::chrono::milliseconds timeout, std::string& error) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed || parsed->scheme() != "http" || parsed->host().empty()) {
        error = "expected an http:// URL, got \"" + std::string(url) + "\"";
        return 1;
    }
    std::string host = parsed->host();
    if (host.size() > 2 && host.front() == '[') {
        host = host.substr(1, host.size() - 2);
    }
    std::string port = parsed->has_port() ? std::string(parsed->port()) : "80";
    std::string target = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());

    asio::io_context io;
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    beast::http::request<beast::http::empty_body> req{beast::http::verb::get, target, 11};
    req.set(beast::http::field::host, parsed->encoded_host_and_port());
    req.set(beast::http::field::connection, "close");
    beast::http::response<beast::http::string_body> res;
    beast::error_code failure;
    asio::ip::tcp::resolver resolver(io);
    resolver.async_resolve(host, port, [&](beast::error_code ec, const asio::ip::tcp::resolver::results_type& results) {
        if (ec) {
            failure = ec;
            return;
        }
        stream.expires_after(timeout);
        stream.async_connect(results, [&](beast::error_code ec, const auto&) {
            if (ec) {
                failure = ec;
                return;
            }
            beast::http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
                if (ec) {
                    failure = ec;
                    return;
                }
                beast::http::async_read(stream, buffer, res, [&](beast::error_code ec, std::size_t) { failure = ec; });
            });
        });
    });
    io.run_for(timeout + std::chrono::milliseconds(100));
    if (!io.stopped()) {
        error = "no answer within " + std::to_string(timeout.count()) + " ms";
        return 1;
    }
    if (failure) {
        error = failure.message();
        return 1;
    }
    if (res.result_int() < 200 || res.result_int() > 299) {
        error = "status " + std::to_string(res.result_int());
        return 1;
    }
    return 0;
}

}  // namespace gatehouse::admin
