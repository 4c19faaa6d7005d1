#include "gatehouse/server/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/signal_set.hpp>
#include <stdexcept>
#include <thread>

#include "gatehouse/server/worker.hpp"
#include "gatehouse/upstream/dns.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
using asio::ip::tcp;

server::server(config::gateway_config config) {
    auto snap = std::make_shared<snapshot>();
    snap->config = std::make_shared<const config::gateway_config>(std::move(config));
    snap->routes = router::route_table::compile(*snap->config);
    snapshot_ = std::move(snap);
}

server::~server() {
    for (auto& w : workers_) {
        w->stop();
    }
    workers_.clear();
}

void server::start() {
    const auto& config = *snapshot_->config;
    {
        auto snap = std::make_shared<snapshot>(*snapshot_);
        snap->addresses = upstream::resolve_all(config);
        addresses_ = snap->addresses;
        snapshot_ = std::move(snap);
    }
    unsigned count = config.server.workers;
    if (count == 0) {
        count = std::max(1u, std::thread::hardware_concurrency());
    }
    const std::uint64_t per_worker = std::max<std::uint64_t>(1, (config.server.max_connections + count - 1) / count);
    for (unsigned i = 0; i < count; ++i) {
        workers_.push_back(std::make_unique<worker>(i, snapshot_, per_worker));
    }
    for (const auto& listen : config.server.listen) {
        boost::system::error_code ec;
        auto address = asio::ip::make_address(listen.host, ec);
        if (ec) {
            std::string error;
            auto resolved = upstream::resolve_blocking(listen, error);
            if (resolved.empty()) {
                throw std::runtime_error("cannot resolve listen address " + listen.host + ": " + error);
            }
            address = resolved.front().address();
        }
        tcp::endpoint wanted(address, listen.port);
        for (auto& w : workers_) {
            try {
                // Every worker binds the same port; with port 0 the first one picks it.
                wanted = w->listen(wanted);
            } catch (const boost::system::system_error& e) {
                throw std::runtime_error("cannot listen on " + listen.host + ":" + std::to_string(wanted.port()) + ": " +
                                         e.code().message());
            }
        }
        bound_.push_back(wanted);
        spdlog::info("listening on {}:{} ({} workers)", wanted.address().to_string(), wanted.port(), count);
    }
    for (auto& w : workers_) {
        w->start();
    }
    resolver_ = std::make_unique<tcp::resolver>(control_);
    for (std::size_t c = 0; c < config.upstreams.size(); ++c) {
        dns_timers_.push_back(std::make_unique<asio::steady_timer>(control_));
        schedule_dns(c);
    }
}

void server::schedule_dns(std::size_t cluster) {
    const auto& up = snapshot_->config->upstreams[cluster];
    bool any_name = false;
    for (const auto& ep : up.endpoints) {
        any_name = any_name || !upstream::is_ip_literal(ep.host);
    }
    if (!any_name) {
        return;
    }
    auto& timer = *dns_timers_[cluster];
    timer.expires_after(up.dns_refresh);
    timer.async_wait([this, cluster](boost::system::error_code ec) {
        if (!ec) {
            refresh_dns(cluster);
            schedule_dns(cluster);
        }
    });
}

void server::refresh_dns(std::size_t cluster) {
    const auto& up = snapshot_->config->upstreams[cluster];
    for (std::size_t e = 0; e < up.endpoints.size(); ++e) {
        const auto& ep = up.endpoints[e];
        if (upstream::is_ip_literal(ep.host)) {
            continue;
        }
        // Asio runs getaddrinfo on its own resolver thread: the control loop never blocks.
        resolver_->async_resolve(ep.host, std::to_string(ep.port),
                                 [this, cluster, e](boost::system::error_code ec, tcp::resolver::results_type results) {
                                     const auto& up = snapshot_->config->upstreams[cluster];
                                     if (ec) {
                                         spdlog::warn("upstream {}: refreshing {} failed: {} (keeping {} known addresses)",
                                                      up.name, up.endpoints[e].host, ec.message(),
                                                      addresses_[cluster][e].size());
                                         return;
                                     }
                                     upstream::address_list list;
                                     for (const auto& r : results) {
                                         list.push_back(r.endpoint());
                                     }
                                     if (list == addresses_[cluster][e]) {
                                         return;
                                     }
                                     spdlog::info("upstream {}: {} now resolves to {} addresses", up.name,
                                                  up.endpoints[e].host, list.size());
                                     addresses_[cluster][e] = list;
                                     for (auto& w : workers_) {
                                         w->post_addresses(cluster, e, list);
                                     }
                                 });
    }
}

int server::run() {
    asio::signal_set signals(control_, SIGINT, SIGTERM);
    int exit_code = 0;
    signals.async_wait([&](boost::system::error_code ec, int signal) {
        if (!ec) {
            spdlog::info("received signal {}: stopping", signal);
            control_.stop();
        }
    });
    control_.run();
    for (auto& w : workers_) {
        w->stop();
    }
    for (auto& w : workers_) {
        w->join();
    }
    workers_.clear();
    return exit_code;
}

}  // namespace gatehouse::server
