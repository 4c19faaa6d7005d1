#include "gatehouse/upstream/exchange.hpp"

#include <algorithm>
#include <array>

#include <spdlog/spdlog.h>

#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/http/websocket.hpp"
#include "gatehouse/io/buffer_pool.hpp"
#include "gatehouse/io/deadline.hpp"
#include "gatehouse/io/send.hpp"
#include "gatehouse/observability/metrics.hpp"
#include "gatehouse/upstream/cluster.hpp"
#include "io/asio_internals/reactor_hints.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr int max_informational = 8;

std::string_view view_of(const boost::beast::flat_buffer& b) {
    return {static_cast<const char*>(b.data().data()), b.size()};
}

}  // namespace

exchange::exchange(cluster_state& cluster, const exchange_env& env, io::deadline_watch& watch,
                   const exchange_settings& settings, const std::pmr::polymorphic_allocator<char>& allocator)
    : cluster_(cluster),
      env_(env),
      watch_(watch),
      settings_(settings),
      head_(allocator),
      response_(allocator.resource()),
      body_(allocator) {}

exchange::~exchange() {
    if (in_) env_.buffers->release(std::move(in_));
}

void exchange::refuse(unsigned status, std::string_view error, std::string message) {
    result_.refusal = http::local_reply{status, error, std::move(message)};
}

bool exchange::refuse_body(request_body::status status) {
    if (status == request_body::status::bad_chunked) {
        refuse(400, "bad_request", std::string("invalid chunked body: ") + request_body_.error());
    } else if (status == request_body::status::too_large) {
        refuse(413, "body_too_large", "request body exceeds the limit");
    }
    return status != request_body::status::ok;
}

asio::awaitable<bool> downstream::upgraded(const http::response_head&, io::stream&, std::span<const char>) {
    co_return false;
}

void exchange::refuse_send(const error_code& ec, std::string_view timeout_message) {
    if (ec == asio::error::timed_out) {
        refuse(504, "upstream_timeout", std::string(timeout_message));
    } else {
        refuse(502, "upstream_write_failed", "sending to upstream failed: " + ec.message());
    }
}

namespace {

// The retry budget's counts end with the exchange however it ends.
struct in_flight_count {
    cluster_state& cluster;
    const bool& retrying;
    in_flight_count(cluster_state& c, const bool& r) : cluster(c), retrying(r) { ++cluster.requests_in_flight; }
    ~in_flight_count() {
        --cluster.requests_in_flight;
        if (retrying) --cluster.retries_in_flight;
    }
    in_flight_count(const in_flight_count&) = delete;
    in_flight_count& operator=(const in_flight_count&) = delete;
};

// A request counted against the cluster's max_requests (every worker's) until it ends.
struct breaker_slot {
    cluster_health* health = nullptr;
    breaker_slot() = default;
    breaker_slot(const breaker_slot&) = delete;
    breaker_slot& operator=(const breaker_slot&) = delete;
    ~breaker_slot() {
        if (health) health->in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
    // False when the cluster already has max_requests in flight.
    bool take(cluster_health* cluster, std::uint32_t max_requests) {
        if (max_requests == 0 || !cluster) return true;
        if (cluster->in_flight.fetch_add(1, std::memory_order_relaxed) >= static_cast<std::int64_t>(max_requests)) {
            cluster->in_flight.fetch_sub(1, std::memory_order_relaxed);
            return false;
        }
        health = cluster;
        return true;
    }
};

}  // namespace

asio::awaitable<void> exchange::run(downstream& down, const request_shape& request) {
    down_ = &down;
    request_ = &request;
    in_flight_count counted(cluster_, holds_retry_slot_);
    breaker_slot slot;
    if (!slot.take(cluster_.health(), cluster_.config().limits.max_requests)) {
        refuse(503, "upstream_overflow", "upstream " + cluster_.config().name + " has too many requests in flight");
        co_return;
    }
    if (body_to_keep() && !co_await keep_replayable_body()) co_return;
    for (;;) {
        begin_try();
        std::size_t index = 0;
        auto* endpoint = choose_endpoint(index);
        if (!endpoint) co_return;
        if (result_.tries < result_.tried.size()) result_.tried[result_.tries] = endpoint->label;
        ++result_.tries;
        current_index_ = index;
        auto acquired = endpoint->pool.try_acquire(stale_retried_);
        if (acquired.status == connection_pool::acquire_status::must_wait) {
            acquired = co_await wait_for_connection(*endpoint);
            if (result_.refusal) co_return;
        }
        if (acquired.status == connection_pool::acquire_status::exhausted) {
            refuse(503, "upstream_pool_exhausted", "no free connection to " + endpoint->label);
            co_return;
        }
        reused_ = acquired.status == connection_pool::acquire_status::reused;
        conn_ = std::move(acquired.conn);
        if (!reused_ && !co_await connect(*endpoint, index)) {
            if (result_.refusal) co_return;
            co_await before_retry(index);  // the backoff applies to connect failures too
            continue;                      // another endpoint
        }
        result_.endpoint = endpoint->label;
        if (head_.empty() || down.head_per_try()) {
            head_.clear();
            down.request_head(endpoint->label, head_);
        }
        ++endpoint->active;
        auto end = step::go_on;
        if (request.expect_continue && !continue_sent_) {
            continue_sent_ = true;
            if (!co_await down.send_continue()) {
                result_.downstream_failed = true;
                end = step::stop;
            }
        }
        // The common exchange: the request leaves in one inline write, the response head
        // comes, the body is relayed. Waits for the rest of a write or a streamed body only
        // when they happen.
        if (end == step::go_on) end = send_request_now();
        if (end == step::wait) end = co_await finish_request();
        if (end == step::go_on) end = co_await read_response_head();
        if (end == step::upgraded) end = co_await carry_upgraded();
        if (end == step::go_on && start_response_body()) {
            // A small response is usually whole in the buffer: relayed without another frame.
            auto state = relay_buffered();
            if (state == relay_state::finished) {
                end_of_response();
            } else if (state != relay_state::stopped) {
                co_await relay_response_body(state);
            }
        }
        --endpoint->active;
        endpoint->pool.release(std::move(conn_), reusable_, *env_.now);
        if (end == step::retry) {
            co_await before_retry(index);
            continue;
        }
        if (end != step::resend_fresh || !resend_on_fresh_connection()) co_return;
    }
}

void exchange::begin_try() {
    // Every try sends the whole request: the body is still in the downstream's buffer (a
    // resend or a retry happens only then).
    request_body_ = request_body(request_->framing, request_->content_length, request_->max_body);
    try_deadline_ = settings_.deadline;
    const auto& policy = cluster_.config().retry;
    if (policy && policy->per_try_timeout.count() > 0) {
        try_deadline_ = std::min(settings_.deadline, *env_.now + policy->per_try_timeout);
    }
}

asio::awaitable<connection_pool::acquired> exchange::wait_for_connection(endpoint_state& endpoint) {
    const auto& limits = cluster_.config().limits;
    auto* health = cluster_.health();
    if (limits.max_pending == 0 || !health) co_return co_await endpoint.pool.wait(settings_.deadline);
    // Waiting for a connection counts too: past max_pending the cluster sheds load.
    if (health->pending.fetch_add(1, std::memory_order_relaxed) >= static_cast<std::int64_t>(limits.max_pending)) {
        health->pending.fetch_sub(1, std::memory_order_relaxed);
        refuse(503, "upstream_overflow",
               "upstream " + cluster_.config().name + " has too many requests waiting for a connection");
        co_return connection_pool::acquired();  // (no braces: GCC 12 miscompiles them in coroutines)
    }
    auto acquired = co_await endpoint.pool.wait(settings_.deadline);
    health->pending.fetch_sub(1, std::memory_order_relaxed);
    co_return acquired;
}

asio::awaitable<exchange::step> exchange::carry_upgraded() {
    // The connection carries the new protocol until one side ends it, and is then closed.
    const auto& in = *in_;
    const std::span<const char> early(static_cast<const char*>(in.data().data()) + response_.size(),
                                      in.size() - response_.size());
    result_.complete = co_await down_->upgraded(response_, conn_->stream, early);
    reusable_ = false;
    co_return step::stop;
}

bool exchange::resend_on_fresh_connection() {
    // A pooled connection died before any response byte: the request goes once more, on a new
    // connection.
    if (stale_retried_) {
        refuse(502, "upstream_reset", "upstream closed the connection before responding");
        return false;
    }
    stale_retried_ = true;
    if (in_) in_->clear();
    return true;
}

exchange::step exchange::send_request_now() {
    reusable_ = false;
    held_ = 0;
    auto* body = down_->body_bytes();
    body_done_ = true;
    first_ = 0;
    if (body && refuse_body(request_body_.next(view_of(*body), first_, body_done_))) {
        return step::stop;
    }
    replayable_ = body_done_;
    out_.clear();
    out_.push_back(asio::buffer(head_));
    if (first_ > 0) out_.push_back(asio::buffer(body->data().data(), first_));
    if (settings_.timed) {
        begin_ = clock::now();
    }
    result_.body_bytes_sent = first_;
    error_code ec;
    sent_ = conn_->stream.write_now(out_.buffers(), ec);
    if (ec) {
        return send_failed(ec);
    }
    if (sent_ < io::total_size(out_.buffers()) || !body_done_) {
        return step::wait;
    }
    return request_sent();
}

exchange::step exchange::send_failed(const error_code& ec) {
    if (reused_ && replayable_ && (request_->idempotent || sent_ == 0) && ec != asio::error::timed_out) {
        return step::resend_fresh;
    }
    refuse_send(ec, "upstream did not accept the request in time");
    return step::stop;
}

exchange::step exchange::request_sent() {
    if (conn_->stream.plain()) {
        io::nothing_to_read_yet(conn_->stream.socket());  // fresh, or pooled after a complete response
    }
    held_ = body_done_ ? first_ : 0;  // consumed once the response starts
    return step::go_on;
}

asio::awaitable<exchange::step> exchange::finish_request() {
    if (sent_ < io::total_size(out_.buffers())) {
        auto ec =
            co_await send_rest(out_.buffers(), sent_, std::min(*env_.now + settings_.send_timeout, settings_.deadline));
        if (ec) co_return send_failed(ec);
    }
    auto next = request_sent();
    if (body_done_) {
        co_return next;
    }
    down_->body_bytes()->consume(first_);
    co_return co_await stream_request_body() ? step::go_on : step::stop;
}

bool exchange::body_to_keep() const {
    // As NGINX's request buffering does, up to retry.max_body: a body that arrives in several
    // reads is kept whole, so that a retry can send it again. Not with Expect: 100-continue,
    // whose point is that the upstream may refuse before the body is sent.
    const auto& policy = cluster_.config().retry;
    const auto& request = *request_;
    if (!policy || policy->attempts == 0 || request.framing != http::body_framing::length ||
        request.content_length > policy->max_body || request.expect_continue ||
        (!request.idempotent && !request.retry_any_method)) {
        return false;
    }
    const auto* body = down_->body_bytes();
    return body && body->size() < request.content_length;
}

asio::awaitable<bool> exchange::keep_replayable_body() {
    auto* body = down_->body_bytes();
    while (body->size() < request_->content_length) {
        if (auto ec = co_await down_->read_body()) {
            if (ec == asio::error::timed_out) {
                refuse(408, "request_timeout", "request body not received in time");
            } else {
                result_.downstream_failed = true;
            }
            co_return false;
        }
    }
    co_return true;
}

asio::awaitable<bool> exchange::stream_request_body() {
    auto& body = *down_->body_bytes();
    bool done = false;
    while (!done) {
        if (auto ec = co_await down_->read_body()) {
            if (ec == asio::error::timed_out) {
                refuse(408, "request_timeout", "request body not received in time");
            } else {
                result_.downstream_failed = true;  // it left mid-body: nothing to answer, nothing reusable
            }
            co_return false;
        }
        std::size_t chunk = 0;
        if (refuse_body(request_body_.next(view_of(body), chunk, done))) {
            co_return false;
        }
        result_.body_bytes_sent += chunk;
        const std::array<asio::const_buffer, 1> part{asio::buffer(body.data().data(), chunk)};
        error_code ec;
        std::size_t sent = conn_->stream.write_now(part, ec);
        if (!ec && sent < chunk) {
            ec = co_await send_rest(part, sent, *env_.now + settings_.send_timeout);
        }
        if (ec) {
            refuse_send(ec, "upstream stopped reading the request body");
            co_return false;
        }
        body.consume(chunk);
    }
    co_return true;
}

asio::awaitable<error_code> exchange::send_rest(std::span<const asio::const_buffer> buffers, std::size_t& sent,
                                                clock::time_point deadline) {
    watch_.arm(conn_->stream.socket(), deadline);
    auto [ec, n] = co_await conn_->stream.async_write(io::after_bytes(buffers, sent), io::use_nothrow);
    sent += n;
    co_return watch_.settle(ec);
}

asio::awaitable<exchange::step> exchange::read_response_head() {
    auto& up = conn_->stream;
    if (!in_) in_ = env_.buffers->acquire();
    auto& in = *in_;
    int informational = 0;
    bool got_bytes = false;
    for (;;) {
        response_.reset();
        for (;;) {
            if (in.size() > 0) {
                auto parsed = response_.parse(view_of(in), settings_.max_response_head);
                if (parsed == http::response_head::status::complete) break;
                if (parsed == http::response_head::status::error) {
                    refuse(502, "upstream_bad_response",
                           std::string("invalid upstream response: ") + response_.error());
                    co_return step::stop;
                }
            }
            watch_.arm(up.socket(), try_deadline_);
            auto [read_ec, n] = co_await up.async_read_some(
                in.prepare(std::max(io::min_read, in.capacity() - in.size())), io::use_nothrow);
            if (auto ec = watch_.settle(read_ec)) {
                co_return read_head_failed(ec, got_bytes);
            }
            got_bytes = true;
            in.commit(n);
        }
        if (response_.code() >= 200) break;
        if (response_.code() == 101 && !request_->websocket_key.empty()) {
            // Only a 101 that answers this very handshake: an upstream that merely says 101, or
            // one meant for another request, must not turn the client's connection into a
            // tunnel the gateway no longer reads requests on.
            if (!http::accepts_websocket(response_, request_->websocket_key)) {
                refuse(502, "upstream_bad_response", "the upstream's 101 does not accept the WebSocket handshake");
                co_return step::stop;
            }
            outcome(cluster_health::failure::none);
            co_return step::upgraded;
        }
        if (!interim_allowed(++informational)) {
            co_return step::stop;
        }
        if (response_.code() != 100) {  // 102, 103 and others
            interim_forwarded_ = true;
            if (!co_await down_->interim(response_)) {
                result_.downstream_failed = true;
                co_return step::stop;
            }
        }
        in.consume(response_.size());
    }
    outcome(response_.code() < 500 ? cluster_health::failure::none : cluster_health::failure::status_5xx);
    // The body stayed in the downstream's buffer until now, so that a retried status can
    // send it again; from here on it is committed.
    if (retry_status()) {
        reusable_ = false;  // the answer's body is not read: the connection goes
        co_return step::retry;
    }
    if (held_ > 0) {
        down_->body_bytes()->consume(held_);
        held_ = 0;
    }
    co_return step::go_on;
}

exchange::step exchange::read_head_failed(const error_code& ec, bool got_bytes) {
    // The request reached the upstream whole: resending it is safe only if repeating it
    // changes nothing (RFC 9110 section 9.2.2); a POST may have been acted on.
    if (!got_bytes && reused_ && replayable_ && request_->idempotent && ec != asio::error::timed_out) {
        return step::resend_fresh;
    }
    outcome(ec == asio::error::timed_out ? cluster_health::failure::timeout : cluster_health::failure::reset);
    const auto& policy = cluster_.config().retry;
    if (policy && !interim_forwarded_) {
        const bool timed_out = ec == asio::error::timed_out;
        const auto condition = timed_out ? config::retry_config::timeout : config::retry_config::reset;
        if ((policy->conditions & condition) && (timed_out || !got_bytes) &&
            may_retry(timed_out ? retry_reason::timeout : retry_reason::reset)) {
            spdlog::warn("upstream {} endpoint {}: {}; trying again", cluster_.config().name, result_.endpoint,
                         timed_out ? "no response within the try's timeout" : "closed before responding");
            return step::retry;
        }
    }
    if (ec == asio::error::timed_out) {
        refuse(504, "upstream_timeout", "upstream did not respond in time");
    } else if (got_bytes) {
        refuse(502, "upstream_bad_response", "upstream closed in the middle of the response head");
    } else if (io::tls_error(ec) && !reused_) {
        // A TLS 1.3 server checks the client's certificate after the client's handshake has
        // ended: its refusal arrives as an alert on the first read.
        spdlog::warn("upstream {} endpoint {}: TLS failed after the handshake: {}", cluster_.config().name,
                     result_.endpoint, ec.message());
        refuse(502, "upstream_tls", "TLS with " + std::string(result_.endpoint) + " failed: " + ec.message());
    } else {
        refuse(502, "upstream_reset", "upstream closed the connection before responding: " + ec.message());
    }
    return step::stop;
}

bool exchange::interim_allowed(int count) {
    if (response_.code() == 101) {
        refuse(502, "upstream_bad_response", "upstream switched protocols without an upgrade request");
        return false;
    }
    if (count > max_informational) {
        refuse(502, "upstream_bad_response", "too many informational responses");
        return false;
    }
    return true;
}

bool exchange::start_response_body() {
    http::framing_analyzer framing;
    for (const auto& field : response_.fields()) {
        if (http::iequals(field.name, "content-length") || http::iequals(field.name, "transfer-encoding")) {
            framing.add(field.name, field.value);
        }
    }
    if (auto e = framing.finish(false, response_.version()); e != http::framing_error::ok) {
        refuse(502, "upstream_bad_response", "ambiguous upstream response framing: " + std::string(http::describe(e)));
        return false;
    }
    auto in = framing.framing();
    const auto status = response_.code();
    if (request_->head_method || status == 204 || status == 304) {
        in = http::body_framing::none;
    }
    upstream_keep_alive_ = response_.keep_alive() && response_.version() == 11;
    auto delivery = body_delivery::as_received;
    prefix_ = {};
    if (!down_->response_head(response_, in, delivery, prefix_, result_.refusal)) {
        return false;
    }
    body_.start(in, framing.content_length(), delivery);
    started_ = false;
    // The head's bytes stayed in place until the downstream had read its fields.
    in_->consume(response_.size());
    return true;
}

// What the read buffer holds of the body, passed on with an inline write. A head whose body
// has not begun waits for its first bytes (one more read): upstreams that send the head and a
// small body in two writes (NGINX serving a file with sendfile does) would otherwise cost a
// second write downstream, and a client a second wakeup, for one small response.
exchange::relay_state exchange::relay_buffered() {
    const bool hold_prefix =
        !started_ && body_.framing() == http::body_framing::length && body_.left() > 0 && in_->size() == 0;
    out_.clear();
    if (!started_ && !prefix_.empty()) out_.push_back(asio::buffer(prefix_));
    take_ = 0;
    if (!body_.next(view_of(*in_), out_, take_)) {
        if (!started_) {
            refuse(502, "upstream_bad_response", std::string("invalid chunked upstream body: ") + body_.error());
        } else {  // the downstream sees a truncated body and a closed connection
            spdlog::warn("upstream {} sent an invalid chunked body: {}", cluster_.config().name, body_.error());
        }
        return relay_state::stopped;
    }
    if (!out_.empty() && !hold_prefix) {
        error_code ec;
        written_ = down_->write_now(out_.buffers(), ec);
        if (ec) {
            result_.downstream_failed = true;  // the upstream connection is in an unknown state
            return relay_state::stopped;
        }
        if (written_ < io::total_size(out_.buffers())) {
            return relay_state::need_write;
        }
        started_ = true;
    }
    in_->consume(take_);
    return body_.done() ? relay_state::finished : relay_state::need_read;
}

// The rest of the body, when the buffer did not hold it all or the downstream did not take it
// at once: one read (or one write) at a time.
asio::awaitable<void> exchange::relay_response_body(relay_state state) {
    auto& up = conn_->stream;
    auto& in = *in_;
    for (;;) {
        if (state == relay_state::need_write) {
            if (co_await down_->write_rest(out_.buffers(), written_)) {
                result_.downstream_failed = true;
                co_return;
            }
            started_ = true;
            in.consume(take_);
            state = body_.done() ? relay_state::finished : relay_state::need_read;
        }
        if (state == relay_state::stopped) co_return;
        if (state == relay_state::finished) break;
        watch_.arm(up.socket(), *env_.now + settings_.read_timeout);
        auto [read_ec, n] =
            co_await up.async_read_some(in.prepare(std::max(io::min_read, in.capacity() - in.size())), io::use_nothrow);
        if (auto ec = watch_.settle(read_ec)) {
            if (body_.framing() == http::body_framing::until_close && ec == asio::error::eof) {
                body_.upstream_closed();
            } else {
                body_read_failed(ec);
                co_return;
            }
        } else {
            in.commit(n);
        }
        state = relay_buffered();
    }
    end_of_response();
}

void exchange::body_read_failed(const error_code& ec) {
    if (started_) {  // truncated: closing the client connection is the only honest signal
        spdlog::warn("upstream {} failed mid-response: {}", cluster_.config().name, ec.message());
    } else if (ec == asio::error::timed_out) {  // nothing reached the downstream: it still gets an answer
        refuse(504, "upstream_timeout", "upstream sent no body in time");
    } else {
        refuse(502, "upstream_reset", "upstream closed before sending the body");
    }
}

void exchange::end_of_response() {
    if (settings_.timed) {
        result_.upstream_duration = clock::now() - begin_;
    }
    if (in_->size() > 0) {
        // Bytes past the response's framing (after a HEAD, 204 or 304 head, or past its
        // Content-Length): never the start of a next response, since nothing asked for one.
        if (settings_.stats) {
            settings_.stats->errors[static_cast<std::size_t>(observability::upstream_error::unexpected_bytes)].add();
        }
        spdlog::warn("upstream {} sent {} bytes beyond its response: connection closed", cluster_.config().name,
                     in_->size());
    }
    reusable_ = upstream_keep_alive_ && in_->size() == 0 && body_.framing() != http::body_framing::until_close;
    result_.complete = true;
}

}  // namespace gatehouse::upstream
