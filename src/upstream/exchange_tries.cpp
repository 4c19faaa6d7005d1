// The tries of an exchange: which endpoint each goes to, connecting (and the TLS handshake),
// how a try's end counts for the endpoint's health, and whether a failed try is tried again
// (the retry policy, its budget and backoff).
#include <algorithm>
#include <charconv>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "gatehouse/common/random.hpp"
#include "gatehouse/io/deadline.hpp"
#include "gatehouse/io/send.hpp"
#include "gatehouse/observability/metrics.hpp"
#include "gatehouse/upstream/cluster.hpp"
#include "gatehouse/upstream/exchange.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

bool exchange::may_retry(retry_reason reason) {
    const auto& policy = cluster_.config().retry;
    if (!policy || retries_ >= policy->attempts) return false;
    // RFC 9110 section 9.2.2: a POST may have been acted on, unless the route says its
    // upstream can take it twice.
    if (!request_->idempotent && !request_->retry_any_method) return false;
    if (reason != retry_reason::connect_failure && request_->framing != http::body_framing::none) {
        // Nothing of the body may have left the downstream's buffer for good, and it must be small.
        const std::uint64_t size =
            request_->framing == http::body_framing::length ? request_->content_length : result_.body_bytes_sent;
        if (!replayable_ || size > policy->max_body) return false;
    }
    // The backoff: full jitter over an exponential ceiling, or longer when the upstream said so.
    const auto ceiling = std::min<std::int64_t>(policy->backoff_max.count(),
                                                policy->backoff_base.count() << std::min<std::uint64_t>(retries_, 20));
    auto delay = std::chrono::milliseconds(
        ceiling > 0 && env_.random ? static_cast<std::int64_t>(env_.random->next() % (ceiling + 1)) : 0);
    delay = std::max(delay, retry_delay_);
    if (*env_.now + delay >= settings_.deadline) return false;
    // The budget: retries in flight stay a share of requests in flight, so a failing cluster
    // does not get several times its normal load.
    if (!holds_retry_slot_) {
        const auto limit = std::max(policy->budget_min, cluster_.requests_in_flight * policy->budget_percent / 100);
        if (cluster_.retries_in_flight + 1 > limit) {
            if (settings_.stats) settings_.stats->retry_budget_exhausted.add();
            return false;
        }
        holds_retry_slot_ = true;
        ++cluster_.retries_in_flight;
    }
    ++retries_;
    retry_delay_ = delay;
    if (settings_.stats) settings_.stats->retries[static_cast<std::size_t>(reason)].add();
    return true;
}

asio::awaitable<void> exchange::before_retry(std::size_t failed_index) {
    // Another endpoint when one is usable; the same one otherwise (a single-endpoint cluster).
    if (failed_index < 64) {
        const auto without = excluded_ | (1ULL << failed_index);
        if (cluster_.any_usable(without, *env_.now)) excluded_ = without;
    }
    if (in_) in_->clear();
    result_.refusal.reset();
    if (retry_delay_.count() > 0) {
        asio::steady_timer timer(env_.executor, retry_delay_);
        co_await timer.async_wait(io::use_nothrow);
    }
    retry_delay_ = std::chrono::milliseconds(0);
}

endpoint_state* exchange::choose_endpoint(std::size_t& index) {
    index = cluster_.pick(settings_.client_hash, excluded_, *env_.now, result_.tries > 0);
    if (index != load_balancer::none) {
        return &cluster_.endpoint(index);
    }
    const auto& name = cluster_.config().name;
    if (connect_failures_ == 0) {
        refuse(503, "no_upstream_available", "upstream " + name + " has no usable endpoint");
    } else if (last_connect_timed_out_) {
        refuse(503, "upstream_connect_timeout", "connecting to upstream " + name + " timed out");
    } else if (!last_tls_failure_.empty()) {
        refuse(502, "upstream_tls", "TLS with upstream " + name + " failed: " + last_tls_failure_);
    } else {
        refuse(503, "upstream_connect_failed", "cannot connect to upstream " + name);
    }
    return nullptr;
}

asio::awaitable<bool> exchange::connect(endpoint_state& endpoint, std::size_t index) {
    const auto& config = cluster_.config();
    conn_ = std::make_unique<upstream_connection>(env_.executor);
    const auto& address = endpoint.addresses[endpoint.next_address++ % endpoint.addresses.size()];
    error_code ec;
    auto& socket = conn_->stream.socket();
    socket.open(address.protocol(), ec);
    if (!ec) {
        watch_.arm(socket, std::min(*env_.now + config.connect_timeout, try_deadline_));
        auto [connect_ec] = co_await socket.async_connect(address, io::use_nothrow);
        ec = watch_.settle(connect_ec);
    }
    if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
    }
    std::string tls_failure;
    if (!ec && config.tls) {
        ec = co_await handshake(endpoint, tls_failure);
    }
    if (!ec) co_return true;
    if (tls_failure.empty()) {
        spdlog::warn("upstream {} endpoint {}: connect failed: {}", config.name, endpoint.label, ec.message());
    } else {
        spdlog::warn("upstream {} endpoint {}: TLS handshake failed: {}", config.name, endpoint.label, tls_failure);
    }
    conn_.reset();
    endpoint.pool.connect_failed();
    outcome(cluster_health::failure::connect);
    last_connect_timed_out_ = ec == asio::error::timed_out;
    last_tls_failure_ = std::move(tls_failure);
    if (index < 64) excluded_ |= 1ULL << index;
    ++connect_failures_;
    const bool policy_retries = config.retry && (config.retry->conditions & config::retry_config::connect_failure);
    if (*env_.now >= settings_.deadline) {
        refuse(504, "upstream_timeout", "request timed out connecting upstream");
    } else if (policy_retries ? !may_retry(retry_reason::connect_failure) : connect_failures_ > config.retries) {
        if (last_connect_timed_out_) {
            refuse(503, "upstream_connect_timeout", "connecting to " + endpoint.label + " timed out");
        } else if (!last_tls_failure_.empty()) {
            refuse(502, "upstream_tls", "TLS with " + endpoint.label + " failed: " + last_tls_failure_);
        } else {
            refuse(503, "upstream_connect_failed", "cannot connect to " + endpoint.label + ": " + ec.message());
        }
    }
    co_return false;
}

asio::awaitable<error_code> exchange::handshake(endpoint_state& endpoint, std::string& failure) {
    const auto& tls = *cluster_.config().tls;
    const auto& name = tls.settings.server_name.empty() ? endpoint.host : tls.settings.server_name;
    conn_->stream.start_tls(
        tls.context->context(), io::stream::tls_role::client,
        {.server_name = name, .verify_name = tls.settings.verify, .sessions = &endpoint.tls_sessions});
    watch_.arm(conn_->stream.socket(), std::min(*env_.now + cluster_.config().connect_timeout, try_deadline_));
    auto ec = watch_.settle(co_await conn_->stream.handshake());
    if (ec && ec != asio::error::timed_out) {
        failure = conn_->stream.verify_error();
        if (failure.empty()) failure = ec.message();
        // A session the server no longer takes would fail the next handshake the same way.
        endpoint.tls_sessions.clear();
    }
    co_return ec;
}

void exchange::outcome(cluster_health::failure failure) {
    auto* health = cluster_.health();
    if (!health) return;
    const bool success = failure == cluster_health::failure::none;
    if (!success) health->note_failure(current_index_, failure, std::chrono::system_clock::now());
    const auto& outlier = cluster_.config().outlier;
    if (!outlier) return;
    if (success) {
        health->record_success(current_index_);
    } else if (health->record_failure(current_index_, *env_.now, *outlier)) {
        const auto until = health->ejection_of(current_index_).until;
        spdlog::warn("upstream {} endpoint {}: ejected for {} s after {} failures in a row", cluster_.config().name,
                     cluster_.endpoint(current_index_).label,
                     std::chrono::duration_cast<std::chrono::seconds>(until - *env_.now).count(),
                     outlier->consecutive_failures);
    }
}

bool exchange::retry_status() {
    const auto& policy = cluster_.config().retry;
    if (!policy || interim_forwarded_) return false;
    const auto status = response_.code();
    if (std::find(policy->statuses.begin(), policy->statuses.end(), status) == policy->statuses.end()) return false;
    retry_delay_ = std::chrono::milliseconds(0);
    for (const auto& field : response_.fields()) {
        if (!http::iequals(field.name, "retry-after")) continue;
        // Not sooner than the upstream asked (delay-seconds; a date is not retried at all).
        std::uint64_t seconds = 0;
        auto [end, ec] = std::from_chars(field.value.data(), field.value.data() + field.value.size(), seconds);
        if (ec != std::errc() || end != field.value.data() + field.value.size() || seconds > 3600) return false;
        retry_delay_ = std::chrono::seconds(seconds);
    }
    if (!may_retry(retry_reason::status)) {
        retry_delay_ = std::chrono::milliseconds(0);
        return false;
    }
    spdlog::debug("upstream {} endpoint {} answered {}; trying again", cluster_.config().name, result_.endpoint,
                  status);
    return true;
}

}  // namespace gatehouse::upstream
