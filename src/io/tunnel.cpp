#include "gatehouse/io/tunnel.hpp"

#include <memory>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "gatehouse/io/send.hpp"

namespace gatehouse::io {

namespace asio = boost::asio;
using boost::system::error_code;

std::string_view name_of(tunnel_end e) {
    switch (e) {
        case tunnel_end::client_closed:
            return "client_closed";
        case tunnel_end::upstream_closed:
            return "upstream_closed";
        case tunnel_end::idle_timeout:
            return "idle_timeout";
        case tunnel_end::max_duration:
            return "max_duration";
        case tunnel_end::drain:
            return "drain";
        case tunnel_end::error:
            return "error";
        case tunnel_end::count:
            break;
    }
    return "error";
}

tunnel::tunnel(stream& client, stream& upstream, const clock::time_point& now)
    : client_(client), upstream_(upstream), now_(now), started_(now), last_activity_(now) {}

void tunnel::ended(tunnel_end why) {
    if (!ended_) {
        ended_ = true;
        end_ = why;
    }
}

void tunnel::stop(tunnel_end why) {
    ended(why);
    // A shut-down socket ends a pending read with EOF at once; the peers see FIN.
    error_code ignored;
    client_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    upstream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> tunnel::pump(stream& from, stream& to, std::span<const char> first, std::uint64_t& count,
                                   tunnel_end on_eof) {
    // Each direction copies through its own buffer: a slow reader on one side holds back only
    // that direction (at most one buffer in flight), never the other.
    constexpr std::size_t buffer_size = 16 * 1024;
    auto buffer = std::make_unique<char[]>(buffer_size);
    std::span<const char> pending = first;
    for (;;) {
        while (!pending.empty()) {
            error_code ec;
            const asio::const_buffer out = asio::buffer(pending.data(), pending.size());
            std::size_t sent = to.write_now(std::span<const asio::const_buffer>(&out, 1), ec);
            if (!ec && sent < pending.size()) {
                std::vector<asio::const_buffer> rest;
                rest.push_back(asio::buffer(pending.data() + sent, pending.size() - sent));
                auto [write_ec, n] = co_await to.async_write(std::move(rest), use_nothrow);
                ec = write_ec;
                sent += n;
            }
            count += sent;
            if (ec) {
                ended(tunnel_end::error);
                error_code ignored;
                from.socket().shutdown(asio::ip::tcp::socket::shutdown_receive, ignored);
                co_return;
            }
            last_activity_ = now_;
            pending = {};
        }
        auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer.get(), buffer_size), use_nothrow);
        if (ec || n == 0) {
            // EOF, a reset or a TLS stream cut short: that side is gone (a stop() came first
            // when the tunnel was ended from here).
            ended(on_eof);
            // The half-close travels on: the other side learns that nothing more comes this way.
            error_code ignored;
            to.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
            co_return;
        }
        last_activity_ = now_;
        pending = std::span<const char>(buffer.get(), n);
    }
}

asio::awaitable<void> tunnel::run(std::span<const char> to_upstream, std::span<const char> to_client) {
    using namespace asio::experimental::awaitable_operators;
    co_await (pump(client_, upstream_, to_upstream, up_bytes_, tunnel_end::client_closed) &&
              pump(upstream_, client_, to_client, down_bytes_, tunnel_end::upstream_closed));
}

}  // namespace gatehouse::io
