// A client connection's keep-alive loop: read a head, check it, route it, run the filter
// chain, then answer locally or hand the request to an upstream exchange (relay.cpp).
#include <sys/socket.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "gatehouse/common/hash.hpp"
#include "gatehouse/http/check_request.hpp"
#include "gatehouse/http/request_id.hpp"
#include "gatehouse/http/wire.hpp"
#include "gatehouse/io/send.hpp"
#include "gatehouse/server/client_connection.hpp"
#include "gatehouse/server/worker.hpp"
#include "io/asio_internals/accepted_socket.hpp"
#include "io/asio_internals/reactor_hints.hpp"
#include "relay.hpp"
#include "request_state.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto linger_time = std::chrono::seconds(2);
constexpr std::size_t linger_bytes = 1024 * 1024;
constexpr auto tls_close_grace = std::chrono::milliseconds(100);

asio::awaitable<void> serve(worker& w, tcp::socket socket, tcp::endpoint peer, std::size_t listener) {
    client_connection connection(w, std::move(socket), peer, listener);
    co_await connection.run();
}

// Dotted-quad text of a v4 address, without the printf machinery.
std::string format_ipv4(const asio::ip::address_v4& address) {
    std::string out;
    out.reserve(15);
    for (auto octet : address.to_bytes()) {
        if (!out.empty()) out += '.';
        if (octet >= 100) out += static_cast<char>('0' + octet / 100);
        if (octet >= 10) out += static_cast<char>('0' + octet / 10 % 10);
        out += static_cast<char>('0' + octet % 10);
    }
    return out;
}

}  // namespace

void spawn_client_connection(worker& w, tcp::socket socket, const tcp::endpoint& peer, std::size_t listener) {
    asio::co_spawn(w.context(), serve(w, std::move(socket), peer, listener), [](const std::exception_ptr& e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                spdlog::error("connection ended by an exception: {}", ex.what());
            }
        }
    });
}

client_connection::client_connection(worker& w, tcp::socket socket, const tcp::endpoint& peer, std::size_t listener)
    : worker_(w), stream_(std::move(socket)), listener_(static_cast<std::uint32_t>(listener)) {
    io::forget_possible_dup(stream_.socket());
    {
        auto address = peer.address();
        if (address.is_v6() && address.to_v6().is_v4_mapped()) {
            address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
        }
        if (address.is_v4()) {
            client_ip_ = format_ipv4(address.to_v4());  // inet_ntop formats with sprintf
        } else {
            client_ip_ = address.to_string();
        }
        client_port_ = peer.port();
        peer_bytes_ = address.is_v4() ? asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()).to_bytes()
                                      : address.to_v6().to_bytes();
        client_hash_ = common::hash_bytes(client_ip_.data(), client_ip_.size());
    }
    worker_.deadlines().add(watch_);
    worker_.connection_opened();
}

client_connection::~client_connection() {
    worker_.connection_closed();
    worker_.buffers().release(std::move(buffer_));
}

client_connection::buffer& client_connection::client_buffer() {
    if (!buffer_) {
        buffer_ = worker_.buffers().acquire();
    }
    return *buffer_;
}

void client_connection::release_client_buffer_if_empty() {
    if (buffer_ && buffer_->size() == 0) {
        worker_.buffers().release(std::move(buffer_));
    }
}

asio::awaitable<bool> client_connection::handshake() {
    // The listener's context from the config now in force: a reload's new certificate serves
    // new handshakes while open connections keep theirs (OpenSSL counts its references).
    const auto& config = *worker_.current().config;
    const auto& listen = config.server.listen;
    if (listener_ >= listen.size() || !listen[listener_].tls) co_return true;
    const auto& tls = *listen[listener_].tls;
    auto context = tls.context;  // alive until the handshake ends (SNI uses it)
    // The config may be replaced (a reload) and freed while the handshake waits: what is
    // needed after it is copied now.
    const auto client_auth = tls.settings.client_auth.mode;
    const bool forward_client_certificate = tls.settings.client_auth.forward;
    stream_.start_tls(context->initial(), io::stream::tls_role::server);
    // The handshake's flights (and TLS 1.3's tickets after it) are writes already: the first
    // response would otherwise wait behind Nagle's algorithm for their acknowledgement.
    client_writes_ = 1;
    watch_.arm(stream_.socket(), worker_.now() + config.server.timeouts.handshake);
    auto& stats = worker_.tls_stats(listener_);
    auto ec = watch_.settle(co_await stream_.handshake());
    if (ec) {
        spdlog::debug("{}: TLS handshake failed: {}", client_ip_, ec.message());
        const auto reason = ec.category() == asio::error::get_ssl_category()
                                ? ERR_GET_REASON(static_cast<unsigned long>(ec.value()))
                                : 0;
        if (ec == asio::error::timed_out) {
            stats.timed_out.add();
        } else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_WRONG_VERSION_NUMBER) {
            stats.version.add();
        } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE || reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            stats.client_certificate.add();
        } else {
            stats.failed.add();
        }
        co_return false;
    }
    const auto session = stream_.session();
    stats.ok.add();
    (session.tls13 ? stats.tls13 : stats.tls12).add();
    if (session.resumed) stats.resumed.add();
    if (client_auth != common::client_auth_mode::none) {
        // Read once: every request on the connection, and its log line, names the same holder.
        peer_certificate_ = stream_.verified_peer();
        forward_client_certificate_ = forward_client_certificate;
    }
    co_return true;
}

asio::awaitable<void> client_connection::run() {
    if (!co_await handshake()) {
        stream_.close();
        co_return;
    }
    int idle_waits = 0;
    for (;;) {
        if (!buffer_ || buffer_->size() == 0) {
            // Idle keep-alive: wait for the next request without holding a pooled buffer.
            release_client_buffer_if_empty();
            if (worker_.draining()) {
                break;
            }
            // Read per wait, never held across one: a reload may free the config in between.
            watch_.arm_idle(stream_.socket(), worker_.now() + worker_.current().config->server.timeouts.idle);
            if (++idle_waits == 2) {
                io::watch_peer_close(stream_.socket());  // kept alive: from now on, drained sockets wait for epoll
            }
            auto [ec, n] = co_await stream_.async_read_some(
                io::drain_aware(stream_.socket(), asio::buffer(first_bytes_)), io::use_nothrow);
            if (watch_.settle(ec)) {
                break;
            }
            auto& buf = client_buffer();
            asio::buffer_copy(buf.prepare(n), asio::buffer(first_bytes_.data(), n));
            buf.commit(n);
            if (n == first_bytes_.size() && stream_.plain()) {
                // A full first read means more is probably waiting (a body): take it now, so the
                // head and the body leave in one write and the request stays replayable.
                auto space = buf.prepare(std::max(io::min_read, buf.capacity() - buf.size()));
                auto more = ::recv(stream_.socket().native_handle(), space.data(), space.size(), MSG_DONTWAIT);
                if (more > 0) {
                    buf.commit(static_cast<std::size_t>(more));
                }
            }
        }
        if (co_await serve_one() == next_step::close || worker_.draining()) {
            break;
        }
    }
    if (!stream_.plain()) {
        // close_notify tells the client that the close is the response's end and not a
        // truncation (RFC 8446 section 6.1). Its answer is not awaited beyond a short grace.
        watch_.arm(stream_.socket(), worker_.now() + tls_close_grace);
        co_await stream_.close_tls();
        watch_.disarm();
    }
    error_code ignored;
    if (linger_) {
        // Lingering close: send our FIN, then drain what the client is still sending so that
        // the kernel does not answer it with a reset that could destroy our reply in flight.
        // After a clean exchange a plain close suffices (one syscall less per connection).
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        auto& buf = client_buffer();
        buf.clear();
        std::size_t drained = 0;
        auto until = worker_.now() + linger_time;
        while (drained < linger_bytes) {
            watch_.arm(stream_.socket(), until);
            auto [ec, n] = co_await stream_.socket().async_read_some(buf.prepare(io::min_read), io::use_nothrow);
            if (watch_.settle(ec)) {
                break;
            }
            drained += n;
        }
        buf.clear();
    }
    stream_.close();
}

asio::awaitable<error_code> client_connection::write_to_client(std::string_view data) {
    const asio::const_buffer buffers[] = {asio::buffer(data.data(), data.size())};
    error_code ec;
    std::size_t sent = send_to_client_now(buffers, ec);
    if (!ec && sent < data.size()) {
        ec = co_await send_rest(buffers, sent, worker_.now() + worker_.current().config->server.timeouts.send);
    }
    bytes_out_ += sent;
    co_return ec;
}

void client_connection::no_delay_from_second_write() {
    if (++client_writes_ == 2) {
        error_code ignored;
        stream_.socket().set_option(tcp::no_delay(true), ignored);
    }
}

std::size_t client_connection::send_to_client_now(std::span<const asio::const_buffer> buffers, error_code& ec) {
    no_delay_from_second_write();
    return stream_.write_now(buffers, ec);
}

asio::awaitable<error_code> client_connection::send_rest(std::span<const asio::const_buffer> buffers, std::size_t& sent,
                                                         clock::time_point deadline) {
    no_delay_from_second_write();  // the rest follows unacknowledged data
    watch_.arm(stream_.socket(), deadline);
    auto [ec, n] = co_await stream_.async_write(io::after_bytes(buffers, sent), io::use_nothrow);
    sent += n;
    co_return watch_.settle(ec);
}

void client_connection::count_answer(const request_state& rs) {
    const auto& ctx = rs.ctx;
    worker_.stats().rejection(ctx.answered_by, ctx.answer_reason.empty() ? std::string_view(ctx.reply->error)
                                                                         : std::string_view(ctx.answer_reason));
}

void client_connection::finish_request(request_state& rs) {
    auto& log = rs.log;
    auto end = std::chrono::steady_clock::now();
    log.duration = end - rs.begin;
    log.bytes_out = bytes_out_;
    if (!rs.response_started || log.client_aborted) {
        log.client_aborted = true;
        if (!rs.response_started) {
            log.status = 499;  // as NGINX logs a client that left before the response
        }
    }
    if (!rs.backend_log.empty()) log.backends = rs.backend_log;
    if (rs.chain) rs.chain->on_log(rs.ctx, log);
    auto* stats = rs.route ? rs.gen->route_stats[rs.route->index] : rs.gen->unmatched_stats;
    stats->record(log.status, rs.handshake_duration.value_or(log.duration));
    if (rs.route && !rs.route->config.aggregate && !log.error.empty()) {
        auto kind = observability::upstream_error_of(log.error);
        if (kind != observability::upstream_error::count) {
            rs.gen->cluster_stats[rs.route->upstream_index]->errors[static_cast<std::size_t>(kind)].add();
        }
    }
}

void client_connection::append_response_edits(const request_state& rs, std::string& out) {
    rs.ctx.response_edits.for_each_field([&](std::string_view name, std::string_view value) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    });
}

asio::awaitable<client_connection::next_step> client_connection::reply(request_state& rs, const http::local_reply& r,
                                                                       bool close) {
    if (rs.ctx.request_id.empty()) {
        http::make_request_id(worker_.random(), rs.ctx.request_id);
    }
    linger_ = linger_ || close;
    close = close || !rs.keep_alive || worker_.draining();
    rs.log.status = r.status;
    rs.log.error = r.error;
    filters::response_view view{r.status, true, nullptr};
    if (rs.chain) rs.chain->on_response(rs.ctx, view);
    std::string extra;
    append_response_edits(rs, extra);
    std::string out;
    http::render_local_reply(out, r, rs.ctx.request_id, worker_.date(), close, !close && rs.version == 10,
                             rs.head_method, extra);
    rs.response_started = true;
    if (r.status >= 500 || close) {
        spdlog::debug("{} {}: {} {} ({})", client_ip_, rs.ctx.request_id, r.status, r.error, r.message);
    }
    auto ec = co_await write_to_client(out);
    co_return (ec || close) ? next_step::close : next_step::keep_alive;
}

asio::awaitable<client_connection::next_step> client_connection::serve_one() {
    request_lease lease(worker_.request_blocks());
    request_state& rs = *lease;
    struct generation_hold {
        worker& w;
        generation* g;
        ~generation_hold() { w.release_generation(g); }
    } hold{worker_, worker_.acquire_generation()};
    rs.gen = hold.g;
    rs.chain = &rs.gen->default_chain;
    const auto& server = rs.gen->snap->config->server;  // alive as long as the generation is held
    rs.started = worker_.now();
    bytes_out_ = 0;
    struct log_on_exit {
        client_connection& c;
        request_state& rs;
        bool armed = false;
        ~log_on_exit() {
            if (armed) {
                c.finish_request(rs);
            }
        }
    } logger{*this, rs, true};
    start_log(rs);
    const http::head_limits head_limits{static_cast<std::size_t>(server.limits.max_request_line),
                                        static_cast<std::size_t>(server.limits.max_header_bytes)};
    http::request_head_reader::prepare(rs.parser, head_limits);
    auto& buf = client_buffer();
    const auto header_deadline = rs.started + server.timeouts.header;
    std::optional<http::local_reply> refusal;

    for (;;) {
        if (rs.head_reader.read(rs.parser, buf, head_limits, refusal) != http::head_progress::need_more) {
            break;
        }
        auto want = std::max(io::min_read, buf.capacity() - buf.size());
        watch_.arm(stream_.socket(), header_deadline);
        auto [read_ec, n] = co_await stream_.async_read_some(buf.prepare(want), io::use_nothrow);
        auto ec = watch_.settle(read_ec);
        if (ec) {
            if (ec == asio::error::timed_out && buf.size() > 0) {
                refusal = http::local_reply{408, "request_timeout", "request header not received in time"};
                break;
            }
            logger.armed = false;        // no request to log: nothing arrived in full
            co_return next_step::close;  // client gone or silent: nothing to answer
        }
        buf.commit(n);
    }
    bool close = true;  // a malformed or oversized head leaves the stream unusable
    if (!refusal) {
        refusal = inspect_request(rs);
        // A 404 or a redirect leaves the connection usable when no body follows the head.
        close =
            !refusal || (refusal->status != 404 && refusal->status != 308) || rs.framing != http::body_framing::none;
        describe_request(rs);
    }
    rs.log.bytes_in = rs.head_reader.head_bytes();
    if (refusal) {
        co_return co_await reply(rs, *refusal, close);
    }
    if (rs.server_options) {
        co_return co_await answer_server_options(rs);
    }
    if (rs.trace_here) {
        co_return co_await answer_trace(rs);
    }
    rs.chain = &rs.gen->route_chains[rs.route->index];
    // Synchronous filters run without a coroutine frame; one is made only from the first filter
    // that waits for I/O.
    std::size_t next_filter = 0;
    auto verdict = rs.chain->run_sync(rs.ctx, next_filter);
    if (verdict != filters::filter_status::respond && !rs.chain->done(next_filter)) {
        verdict = co_await rs.chain->run_async(rs.ctx, next_filter, verdict == filters::filter_status::suspend);
    }
    if (verdict == filters::filter_status::respond) {
        count_answer(rs);
        // The body (if any) was not read: the connection cannot carry another request.
        auto answer = std::move(*rs.ctx.reply);
        co_return co_await reply(rs, answer, rs.framing != http::body_framing::none);
    }
    if (rs.route->config.aggregate) co_return co_await aggregate(rs);
    co_return co_await proxy(rs);
}

asio::awaitable<client_connection::next_step> client_connection::proxy(request_state& rs) {
    const auto& config = *rs.gen->snap->config;
    const auto index = rs.route->upstream_index;
    upstream::exchange_settings settings;
    settings.deadline = rs.started + rs.route->config.timeout.value_or(config.server.timeouts.request);
    settings.send_timeout = config.server.timeouts.send;
    settings.read_timeout = config.server.timeouts.read;
    settings.max_response_head = static_cast<std::size_t>(config.server.limits.max_response_header_bytes);
    settings.client_hash = client_hash_;
    settings.timed = !rs.chain->empty();  // on_log sees the upstream's time; no clock reads without filters
    settings.stats = rs.gen->cluster_stats[index];
    const upstream::request_shape shape{rs.framing,
                                        rs.content_length,
                                        rs.max_body,
                                        rs.idempotent,
                                        rs.head_method,
                                        rs.expect_continue,
                                        rs.route->config.retry_non_idempotent,
                                        rs.websocket ? rs.websocket_key : std::string_view{}};
    // The relay and the exchange live in the request's arena, not in the coroutine frame.
    struct parts {
        parts(client_connection& c, request_state& rs, upstream::cluster_state& cluster,
              const upstream::exchange_settings& settings)
            : downstream(c, rs), exchange(cluster, c.worker_.exchange_env(), c.watch_, settings, rs.allocator) {}
        relay downstream;
        upstream::exchange exchange;
    };
    struct parts_owner {
        request_state& rs;
        parts* p;
        ~parts_owner() { rs.allocator.delete_object(p); }
    } owner{rs, rs.allocator.new_object<parts>(*this, rs, *rs.gen->clusters[index], settings)};
    auto& exchange = owner.p->exchange;
    co_await exchange.run(owner.p->downstream, shape);

    const auto& result = exchange.result();
    rs.log.upstream = result.endpoint;
    rs.log.tries = result.tries;
    rs.log.tried = result.endpoints_tried();
    rs.log.bytes_in = rs.head_reader.head_bytes() + result.body_bytes_sent + rs.tunnel_bytes_in;
    if (result.upstream_duration) rs.log.upstream_duration = result.upstream_duration;
    if (result.downstream_failed) rs.log.client_aborted = true;
    if (result.refusal) {
        co_return co_await reply(rs, *result.refusal, true);
    }
    co_return result.complete&& owner.p->downstream.keep_client() ? next_step::keep_alive : next_step::close;
}

asio::awaitable<client_connection::next_step> client_connection::answer_ok(request_state& rs, std::string_view fields,
                                                                           std::string_view body) {
    std::string out = "HTTP/1.1 200 OK\r\n";
    out += fields;
    out += "Content-Length: ";
    http::append_number(out, body.size());
    out += "\r\nDate: ";
    out += worker_.date();
    out += "\r\nX-Request-Id: ";
    out += rs.ctx.request_id;
    bool close = !rs.keep_alive || rs.framing != http::body_framing::none;
    out += close ? "\r\nConnection: close\r\n\r\n"
                 : (rs.version == 10 ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\n\r\n");
    out += body;
    rs.log.status = 200;
    rs.response_started = true;
    auto ec = co_await write_to_client(out);
    co_return (ec || close) ? next_step::close : next_step::keep_alive;
}

asio::awaitable<client_connection::next_step> client_connection::answer_server_options(request_state& rs) {
    // "OPTIONS *" asks what the server supports in general; no route or upstream is involved.
    std::string allow = "Allow: ";
    allow += http::allowed_methods;
    allow += "\r\n";
    co_return co_await answer_ok(rs, allow, {});
}

asio::awaitable<client_connection::next_step> client_connection::answer_trace(request_state& rs) {
    // The request as received, as RFC 9110 section 9.3.8 asks of the final recipient, minus the
    // fields that carry credentials: reflecting them to a script is what cross-site tracing
    // exploits.
    const auto& req = rs.parser.get();
    std::string message;
    message += req.method_string();
    message += ' ';
    message += req.target();
    message += rs.version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
    for (const auto& field : req) {
        auto name = field.name_string();
        if (field.name() == beast::http::field::authorization || field.name() == beast::http::field::cookie ||
            field.name() == beast::http::field::proxy_authorization || http::iequals(name, "x-api-key")) {
            continue;
        }
        http::append_field(message, name, field.value());
    }
    message += "\r\n";
    co_return co_await answer_ok(rs, "Content-Type: message/http\r\n", message);
}

void client_connection::start_log(request_state& rs) {
    rs.begin = std::chrono::steady_clock::now();
    rs.log.start = worker_.wall_time(rs.begin);
    rs.ctx.client_ip = client_ip_;
    rs.ctx.client_port = client_port_;
}

void client_connection::describe_request(request_state& rs) {
    auto& ctx = rs.ctx;
    const auto& req = rs.parser.get();
    ctx.method = req.method_string();
    ctx.target = rs.target;
    ctx.path = rs.path;
    ctx.host = rs.host;
    ctx.scheme = scheme();
    ctx.client_certificate = peer_certificate_.get();
    ctx.version = rs.version;
    ctx.route_name = rs.route ? std::string_view(rs.route->config.name) : std::string_view();
    if (!rs.headers_view) {
        rs.headers_view.emplace(req);
    }
    // Behind a trusted proxy the client is the one its X-Forwarded-For names, for every filter
    // and the access log (NGINX's real_ip with real_ip_recursive).
    const auto& trusted = rs.gen->snap->config->server.trusted_proxies;
    rs.from_trusted_proxy = !trusted.empty() && common::in_any(trusted, peer_bytes_);
    if (rs.from_trusted_proxy) {
        std::pmr::string joined(rs.allocator);
        auto forwarded_for = rs.headers_view->get_list("x-forwarded-for", joined);
        if (forwarded_for) {
            auto client = common::client_from_forwarded_for(trusted, client_ip_, *forwarded_for);
            if (client != client_ip_) ctx.set_client_ip(client);
        }
    }
    ctx.headers = &*rs.headers_view;
}

http::local_reply client_connection::redirect_to_https(const request_state& rs, std::uint16_t port) {
    if (rs.host.empty()) {
        return {400, "bad_request", "a request to an HTTPS redirect listener must name its host"};
    }
    // The same host, path and query over HTTPS; 308 keeps the method and body (RFC 9110 15.4.9).
    std::string location = "https://";
    location += rs.host;  // without its port; an IPv6 literal keeps its brackets
    if (port != 443) {
        location += ':';
        location += std::to_string(port);
    }
    location += rs.target;
    http::local_reply reply{308, "redirect_to_https", "use " + location};
    reply.headers.emplace_back("Location", std::move(location));
    return reply;
}

std::optional<http::local_reply> client_connection::inspect_request(request_state& rs) {
    const auto& server = rs.gen->snap->config->server;
    auto& req = rs.parser.get();
    // Request id first, so every refusal carries one.
    if (auto it = req.find("x-request-id"); it != req.end() && http::valid_request_id(it->value())) {
        rs.ctx.request_id = it->value();
    } else {
        http::make_request_id(worker_.random(), rs.ctx.request_id);
    }
    const http::request_rules rules{server.limits.max_header_count, server.headers_with_underscores, server.paths};
    if (auto refusal = http::check_request(req, rs.parser.keep_alive(), rules, rs);
        refusal || rs.server_options || rs.trace_here) {
        return refusal;
    }
    if (listener_ < server.listen.size() && server.listen[listener_].redirect_to_https) {
        return redirect_to_https(rs, *server.listen[listener_].redirect_to_https);
    }

    rs.headers_view.emplace(req);
    router::request_view view{req.method_string(), rs.host, rs.path, &*rs.headers_view};
    rs.route = rs.gen->snap->routes->match(view);
    if (!rs.route) {
        return http::local_reply{404, "route_not_found",
                                 "no route for " + std::string(req.method_string()) + " " + std::string(rs.path)};
    }
    if (rs.websocket && !rs.route->config.websocket) {
        // As Envoy does: a route tunnels only when it says so, so an upstream that never expected
        // a raw byte stream is not handed one.
        return http::local_reply{403, "websocket_not_allowed",
                                 "route " + rs.route->config.name + " does not accept WebSocket upgrades"};
    }
    rs.max_body = rs.route->config.max_body.value_or(server.limits.max_body);
    if (rs.framing == http::body_framing::length && rs.content_length > rs.max_body) {
        return http::local_reply{413, "body_too_large",
                                 "request body of " + std::to_string(rs.content_length) +
                                     " bytes exceeds the limit of " + std::to_string(rs.max_body)};
    }
    return std::nullopt;
}

}  // namespace gatehouse::server
