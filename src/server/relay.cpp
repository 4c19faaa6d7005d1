#include "relay.hpp"

#include <algorithm>
#include <array>
#include <tuple>

#include <boost/beast/http/field.hpp>
#include <spdlog/spdlog.h>

#include "gatehouse/http/wire.hpp"
#include "gatehouse/io/send.hpp"
#include "gatehouse/io/tunnel.hpp"
#include "gatehouse/server/worker.hpp"
#include "head_fields.hpp"
#include "upstream_head.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

namespace {

// The upstream response's fields that go on to the client: not connection-scoped, not
// X-Request-Id (the gateway's own), not replaced by an edit, and without Content-Length where
// the status has no body.
void append_upstream_fields(std::pmr::string& out, const http::response_head& head, const nominated_fields& nominated,
                            bool drop_length, const config::header_edits& edits,
                            const filters::head_edits& filter_edits) {
    for (const auto& field : head.fields()) {
        const auto name = field.name;
        if (connection_scoped(field, nominated) || (drop_length && http::iequals(name, "content-length")) ||
            http::iequals(name, "x-request-id") || edited(edits, filter_edits, name)) {
            continue;
        }
        http::append_field(out, name, field.value);
    }
}

}  // namespace

relay::relay(client_connection& connection, request_state& rs)
    : client_(connection), rs_(rs), client_head_(rs.allocator) {}

void relay::request_head(std::string_view endpoint, std::pmr::string& out) {
    rs_.chain->on_upstream_request(rs_.ctx, endpoint);
    const auto& req = rs_.parser.get();
    const upstream_head_input in{
        .method = req.method_string(),
        .target = rs_.ctx.upstream_target ? std::string_view(*rs_.ctx.upstream_target) : std::string_view(rs_.target),
        .fields = req,
        .route = rs_.route->config,
        .filter_edits = rs_.ctx.upstream_edits,
        .identity_fields = rs_.gen->snap->config->identity_fields,
        .client_ip = client_.client_ip_,
        .scheme = client_.scheme(),
        .forwarded_host = rs_.forwarded_host,
        .request_id = rs_.ctx.request_id,
        .client_certificate = client_.forward_client_certificate_ && client_.peer_certificate_
                                  ? std::string_view(client_.peer_certificate_->forwarded)
                                  : std::string_view(),
        .from_trusted_proxy = rs_.from_trusted_proxy,
        .drop_underscore_fields = rs_.drop_underscore_fields,
        .websocket = rs_.websocket,
        .framing = rs_.framing,
        .content_length = rs_.content_length,
        .max_forwards = rs_.max_forwards,
    };
    write_upstream_request_head(in, endpoint, out);
}

// The head depends on the endpoint when filters see each try, or when Host falls back to the
// endpoint's authority.
bool relay::head_per_try() const {
    return !rs_.chain->empty() || rs_.forwarded_host.empty();
}

beast::flat_buffer* relay::body_bytes() {
    return rs_.framing == http::body_framing::none ? nullptr : &client_.client_buffer();
}

asio::awaitable<error_code> relay::read_body() {
    // A client trickling its body (a byte just inside every read timeout) would hold the
    // upstream connection for ever: the whole body has one deadline too.
    const auto& timeouts = rs_.gen->snap->config->server.timeouts;
    auto& w = client_.worker_;
    if (body_deadline_ == clock::time_point{}) body_deadline_ = w.now() + timeouts.body;
    auto& buf = client_.client_buffer();
    client_.watch_.arm(client_.stream_.socket(), std::min(w.now() + timeouts.read, body_deadline_));
    auto [read_ec, n] = co_await client_.stream_.async_read_some(
        buf.prepare(std::max(io::min_read, buf.capacity() - buf.size())), io::use_nothrow);
    if (auto ec = client_.watch_.settle(read_ec)) {
        co_return ec;
    }
    buf.commit(n);
    co_return error_code{};
}

asio::awaitable<bool> relay::send_continue() {
    co_return !co_await client_.write_to_client("HTTP/1.1 100 Continue\r\n\r\n");
}

// Forwarded minus the fields that describe the connection; an HTTP/1.0 client gets none.
asio::awaitable<bool> relay::interim(const http::response_head& head) {
    nominated_fields nominated;
    if (rs_.version != 11 || !nominated.collect(head)) {
        co_return true;  // an interim response is optional: drop one we cannot clean
    }
    std::pmr::string out(rs_.allocator);
    http::append_status_line(out, head.code(), head.reason());
    for (const auto& field : head.fields()) {
        if (!connection_scoped(field, nominated)) {
            http::append_field(out, field.name, field.value);
        }
    }
    out += "\r\n";
    co_return !co_await client_.write_to_client(out);
}

void relay::response_filters(const http::response_head& head) {
    rs_.log.status = head.code();
    if (!rs_.chain->empty()) {
        response_fields fields(head);
        filters::response_view view{head.code(), false, &fields};
        rs_.chain->on_response(rs_.ctx, view);
    }
}

void relay::switching_head(const http::response_head& head, std::pmr::string& out) {
    response_filters(head);
    nominated_fields nominated;
    nominated.collect(head);  // Connection names upgrade: accepts_websocket checked it
    const auto& edits = rs_.route->config.response_headers;
    const auto& filter_edits = rs_.ctx.response_edits;
    out.reserve(256);
    http::append_status_line(out, 101, "Switching Protocols");
    append_upstream_fields(out, head, nominated, true, edits, filter_edits);
    append_edits(out, edits, filter_edits);
    http::append_field(out, "X-Request-Id", rs_.ctx.request_id);
    out += "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n";
}

asio::awaitable<bool> relay::upgraded(const http::response_head& head, io::stream& upstream,
                                      std::span<const char> early) {
    static_assert(static_cast<std::size_t>(io::tunnel_end::count) ==
                  std::tuple_size_v<decltype(observability::route_stats::tunnels_closed)>);
    keep_client_ = false;
    std::pmr::string out(rs_.allocator);
    switching_head(head, out);
    if (co_await client_.write_to_client(out)) co_return false;
    rs_.response_started = true;
    // The handshake's time is the route's latency; the tunnel's lifetime is not.
    rs_.handshake_duration = std::chrono::steady_clock::now() - rs_.begin;
    error_code ignored;
    client_.stream_.socket().set_option(asio::ip::tcp::no_delay(true), ignored);

    auto& w = client_.worker_;
    const auto& ws = *rs_.route->config.websocket;
    io::tunnel tunnel(client_.stream_, upstream, w.coarse_now());
    struct watched {
        worker& w;
        worker::tunnel_handle handle;
        ~watched() { w.unwatch_tunnel(handle); }
    } watch{w, w.watch_tunnel({&tunnel, ws.idle_timeout,
                               ws.max_duration.count() > 0 ? w.now() + ws.max_duration : clock::time_point::max()})};
    auto& stats = *rs_.gen->route_stats[rs_.route->index];
    stats.tunnels_open.add();
    // Bytes the client sent after its head go first (a client may send frames without waiting).
    auto& pending = client_.client_buffer();
    const std::span<const char> from_client(static_cast<const char*>(pending.data().data()), pending.size());
    co_await tunnel.run(from_client, early);
    pending.consume(pending.size());

    stats.tunnels_open.set(stats.tunnels_open.get() - 1);
    stats.tunnels_closed[static_cast<std::size_t>(tunnel.end())].add();
    stats.tunnel_bytes_up.add(tunnel.client_to_upstream());
    stats.tunnel_bytes_down.add(tunnel.upstream_to_client());
    rs_.tunnel_bytes_in = tunnel.client_to_upstream();
    client_.bytes_out_ += tunnel.upstream_to_client();
    const auto lasted = std::chrono::duration_cast<std::chrono::milliseconds>(w.now() - tunnel.started());
    spdlog::info("websocket {} on route {}: {} after {} ms, {} bytes from the client, {} bytes to it",
                 rs_.ctx.request_id, rs_.route->config.name, io::name_of(tunnel.end()), lasted.count(),
                 tunnel.client_to_upstream(), tunnel.upstream_to_client());
    co_return tunnel.end() == io::tunnel_end::client_closed || tunnel.end() == io::tunnel_end::upstream_closed;
}

upstream::body_delivery relay::plan_delivery(http::body_framing framing, bool& add_chunked) {
    bool close_delimited = false;  // the client learns the end by our close
    auto delivery = upstream::body_delivery::as_received;
    add_chunked = false;
    if (framing == http::body_framing::chunked) {
        add_chunked = rs_.version == 11;
        close_delimited = !add_chunked;
        if (close_delimited) delivery = upstream::body_delivery::decoded;
    } else if (framing == http::body_framing::until_close) {
        add_chunked = rs_.version == 11;
        close_delimited = !add_chunked;
        if (add_chunked) delivery = upstream::body_delivery::chunked;
    }
    // An upgrade the upstream refused: the client may already have sent bytes of the protocol it
    // asked for, which must not be read as a next request.
    keep_client_ = rs_.keep_alive && !close_delimited && !client_.worker_.draining() && !rs_.websocket;
    return delivery;
}

bool relay::response_head(const http::response_head& head, http::body_framing framing,
                          upstream::body_delivery& delivery, std::string_view& prefix,
                          std::optional<http::local_reply>& refusal) {
    const unsigned status = head.code();
    bool add_chunked = false;
    delivery = plan_delivery(framing, add_chunked);
    response_filters(head);
    nominated_fields nominated;
    if (!nominated.collect(head)) {
        refusal =
            http::local_reply{502, "upstream_bad_response", "upstream response names too many Connection options"};
        return false;
    }
    const auto& edits = rs_.route->config.response_headers;
    const auto& filter_edits = rs_.ctx.response_edits;
    auto& out = client_head_;
    out.reserve(512);
    http::append_status_line(out, status, head.reason().empty() ? http::reason_phrase(status) : head.reason());
    // One pass over the upstream's fields, as for the request head.
    const bool drop_length = status == 204 || (status >= 100 && status < 200);
    append_upstream_fields(out, head, nominated, drop_length, edits, filter_edits);
    if (add_chunked) out += "Transfer-Encoding: chunked\r\n";
    append_edits(out, edits, filter_edits);
    http::append_field(out, "X-Request-Id", rs_.ctx.request_id);
    if (!keep_client_) {
        out += "Connection: close\r\n";
    } else if (rs_.version == 10) {
        out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    prefix = out;
    client_deadline_ = client_.worker_.now() + rs_.gen->snap->config->server.timeouts.body;
    return true;
}

std::size_t relay::write_now(std::span<const asio::const_buffer> buffers, error_code& ec) {
    auto n = client_.send_to_client_now(buffers, ec);
    client_.bytes_out_ += n;
    rs_.response_started = true;
    return n;
}

// A client that reads slowly holds the upstream connection: the whole response body must be
// taken within timeouts.body, however steadily it trickles.
asio::awaitable<error_code> relay::write_rest(std::span<const asio::const_buffer> buffers, std::size_t& sent) {
    const auto before = sent;
    const auto& timeouts = rs_.gen->snap->config->server.timeouts;
    auto ec =
        co_await client_.send_rest(buffers, sent, std::min(client_.worker_.now() + timeouts.send, client_deadline_));
    client_.bytes_out_ += sent - before;
    co_return ec;
}

}  // namespace gatehouse::server
