#include "gatehouse/upstream/health_check.hpp"

#include <array>
#include <charconv>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include "gatehouse/io/send.hpp"
#include "gatehouse/io/stream.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;
using boost::system::error_code;

struct health_prober::run {
    std::shared_ptr<const config::gateway_config> config;
    std::vector<std::shared_ptr<cluster_health>> health;
    addresses_of addresses;
    bool stopped = false;
    std::vector<std::weak_ptr<asio::steady_timer>> timers;
};

namespace {

bool expected(const config::health_check_config& check, unsigned status) {
    for (auto [low, high] : check.expect) {
        if (status >= low && status <= high) return true;
    }
    return false;
}

// The status of "HTTP/1.x NNN ..." at the start of text, or 0.
unsigned status_of(std::string_view text) {
    if (!text.starts_with("HTTP/1.") || text.size() < 12 || text[8] != ' ') return 0;
    unsigned status = 0;
    auto [end, ec] = std::from_chars(text.data() + 9, text.data() + 12, status);
    return ec == std::errc() && end == text.data() + 12 ? status : 0;
}

// One probe on a new connection: true if the endpoint answered an expected status in time.
asio::awaitable<bool> probe(const config::upstream_config& up, const config::host_port& ep, address_list addresses) {
    const auto& check = *up.health_check;
    if (addresses.empty()) co_return false;
    auto executor = co_await asio::this_coro::executor;
    // The deadline closes the socket; the stream outlives the timer's handler.
    auto stream = std::make_shared<io::stream>(executor);
    asio::steady_timer deadline(executor, check.timeout);
    deadline.async_wait([stream](error_code ec) {
        if (!ec) stream->close();
    });
    auto [connect_ec] = co_await stream->socket().async_connect(addresses.front(), io::use_nothrow);
    if (connect_ec) co_return false;
    if (up.tls) {
        const auto& tls = *up.tls;
        const auto& name = tls.settings.server_name.empty() ? ep.host : tls.settings.server_name;
        stream->start_tls(tls.context->context(), io::stream::tls_role::client,
                          {.server_name = name, .verify_name = tls.settings.verify});
        if (co_await stream->handshake()) co_return false;
    }
    const auto host = check.host.empty() ? ep.label() : check.host;
    const std::string request = "GET " + check.path + " HTTP/1.1\r\nHost: " + host +
                                "\r\nUser-Agent: gatehouse-health-check\r\nConnection: close\r\n\r\n";
    std::vector<asio::const_buffer> out{asio::buffer(request)};
    auto [write_ec, written] = co_await stream->async_write(std::move(out), io::use_nothrow);
    if (write_ec) co_return false;
    std::array<char, 512> head{};
    std::size_t got = 0;
    while (got < head.size() && std::string_view(head.data(), got).find("\r\n") == std::string_view::npos) {
        auto [read_ec, n] =
            co_await stream->async_read_some(asio::buffer(head.data() + got, head.size() - got), io::use_nothrow);
        if (read_ec) break;
        got += n;
    }
    deadline.cancel();
    stream->close();
    co_return expected(check, status_of({head.data(), got}));
}

asio::awaitable<void> probe_loop(std::shared_ptr<health_prober::run> r, std::size_t u, std::size_t e) {
    const auto& up = r->config->upstreams[u];
    const auto& check = *up.health_check;
    const auto& ep = up.endpoints[e];
    auto& health = *r->health[u];
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    r->timers.push_back(timer);
    bool healthy = health.healthy(e);
    std::uint64_t passes = 0, failures = 0;
    // The first probes of a cluster spread over one interval.
    auto delay = check.interval * static_cast<long>(e) / static_cast<long>(up.endpoints.size());
    for (;;) {
        timer->expires_after(delay);
        co_await timer->async_wait(io::use_nothrow);
        if (r->stopped) co_return;
        const bool ok = co_await probe(up, ep, r->addresses(u, e));
        if (r->stopped) co_return;
        if (ok) {
            failures = 0;
            if (!healthy && ++passes >= check.healthy_after) {
                healthy = true;
                health.set_healthy(e, true);
                // Seen down and back up: an ejection from the same outage ends too.
                const bool was_ejected = health.end_ejection(e, cluster_health::clock::now());
                spdlog::info("upstream {} endpoint {}: healthy again ({} health checks passed){}", up.name, ep.label(),
                             passes, was_ejected ? "; its ejection ends" : "");
            }
        } else {
            passes = 0;
            if (healthy && ++failures >= check.unhealthy_after) {
                healthy = false;
                health.set_healthy(e, false);
                spdlog::warn("upstream {} endpoint {}: unhealthy ({} health checks failed in a row)", up.name,
                             ep.label(), failures);
            }
        }
        delay = check.interval;
    }
}

}  // namespace

health_prober::health_prober(asio::io_context& control) : control_(control) {}

health_prober::~health_prober() {
    stop();
}

void health_prober::start(std::shared_ptr<const config::gateway_config> config,
                          std::vector<std::shared_ptr<cluster_health>> health, addresses_of addresses) {
    stop();
    auto r = std::make_shared<run>();
    r->config = std::move(config);
    r->health = std::move(health);
    r->addresses = std::move(addresses);
    const auto& upstreams = r->config->upstreams;
    for (std::size_t u = 0; u < upstreams.size() && u < r->health.size(); ++u) {
        if (!upstreams[u].health_check || !r->health[u]) continue;
        for (std::size_t e = 0; e < upstreams[u].endpoints.size(); ++e) {
            asio::co_spawn(control_, probe_loop(r, u, e), asio::detached);
        }
    }
    current_ = std::move(r);
}

void health_prober::stop() {
    if (!current_) return;
    current_->stopped = true;
    for (auto& weak : current_->timers) {
        if (auto timer = weak.lock()) timer->cancel();
    }
    current_.reset();
}

}  // namespace gatehouse::upstream
