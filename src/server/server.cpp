#include "gatehouse/server/server.hpp"

#include <array>
#include <ctime>
#include <map>
#include <stdexcept>
#include <thread>

#include <boost/asio/signal_set.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "gatehouse/admin/config_json.hpp"
#include "gatehouse/common/resolve.hpp"
#include "gatehouse/config/loader.hpp"
#include "gatehouse/filters/log_files.hpp"
#include "gatehouse/http/local_reply.hpp"
#include "gatehouse/observability/logging.hpp"
#include "gatehouse/server/explain.hpp"
#include "gatehouse/server/worker.hpp"
#include "gatehouse/upstream/dns.hpp"
#include "utc_time.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Each upstream's process-wide health: the running one's when the endpoints are the same.
std::vector<std::shared_ptr<upstream::cluster_health>> share_health(const config::gateway_config& next,
                                                                    const snapshot* running) {
    std::vector<std::shared_ptr<upstream::cluster_health>> out;
    for (const auto& up : next.upstreams) {
        std::shared_ptr<upstream::cluster_health> kept;
        if (running) {
            for (std::size_t j = 0; j < running->config->upstreams.size(); ++j) {
                const auto& old = running->config->upstreams[j];
                if (old.name == up.name && old.endpoints == up.endpoints && j < running->health.size()) {
                    kept = running->health[j];
                }
            }
        }
        out.push_back(kept ? kept : std::make_shared<upstream::cluster_health>(up.endpoints.size()));
    }
    return out;
}

// Said at start and at every reload, so it is in the log of whoever runs the config.
void warn_about_unverified_upstreams(const config::gateway_config& config) {
    for (const auto& up : config.upstreams) {
        if (up.tls && !up.tls->settings.verify) {
            spdlog::warn(
                "upstream {}: tls.verify is false: its certificates are not checked, so anyone on the path "
                "can impersonate it",
                up.name);
        }
    }
}

}  // namespace

server::server(config::gateway_config config, std::string config_path) : config_path_(std::move(config_path)) {
    auto snap = std::make_shared<snapshot>();
    process_.config_checksum = config.checksum;
    snap->config = std::make_shared<const config::gateway_config>(std::move(config));
    snap->routes = router::route_table::compile(*snap->config);
    snap->health = share_health(*snap->config, nullptr);
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
        warn_about_unverified_upstreams(config);
        prober_ = std::make_unique<upstream::health_prober>(control_);
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
                throw std::runtime_error("cannot listen on " + listen.host + ":" + std::to_string(wanted.port()) +
                                         ": " + e.code().message());
            }
        }
        bound_.push_back(wanted);
        spdlog::info("listening on {}:{} ({} workers)", wanted.address().to_string(), wanted.port(), count);
    }
    if (config.admin.listen) {
        admin::handlers h;
        h.ready = [this] { return !draining_; };
        h.metrics = [this] { return metrics(); };
        h.config = [this] { return admin::config_to_json(*snapshot_->config, process_.config_checksum); };
        h.upstreams = [this] { return upstreams_json(); };
        h.reload = [this] { return reload(); };
        h.explain = [this](std::string_view body) {
            return explain_json(*snapshot_->config, *snapshot_->routes, body);
        };
        h.dashboard = [this] { return dashboard_json(); };
        h.settings = [this]() -> const config::admin_config& { return snapshot_->config->admin; };
        admin_ = std::make_unique<admin::admin_server>(control_, std::move(h));
        auto address = admin_->listen(*config.admin.listen);
        spdlog::info("admin listening on {}:{}", address.address().to_string(), address.port());
    }
    for (auto& w : workers_) {
        w->start();
    }
    if (admin_) {
        admin_->start();
    }
    resolver_ = std::make_unique<tcp::resolver>(control_);
    start_dns();
    start_health_checks();
    traffic_timer_ = std::make_unique<asio::steady_timer>(control_);
    sample_traffic();
}

void server::start_dns() {
    for (auto& timer : dns_timers_) {
        timer->cancel();
    }
    dns_timers_.clear();
    for (std::size_t c = 0; c < snapshot_->config->upstreams.size(); ++c) {
        dns_timers_.push_back(std::make_unique<asio::steady_timer>(control_));
        schedule_dns(c);
    }
}

std::string server::metrics() {
    std::vector<const observability::worker_stats*> stats;
    process_.client_connections = 0;
    for (const auto& w : workers_) {
        stats.push_back(&w->stats());
        process_.client_connections += w->connections();
    }
    process_.draining = draining_;
    process_.certificates.clear();
    const auto now = std::chrono::system_clock::now();
    const auto& listen = snapshot_->config->server.listen;
    for (std::size_t index = 0; index < listen.size(); ++index) {
        const auto& l = listen[index];
        if (!l.tls || !l.tls->context) continue;
        const auto label = index < bound_.size()
                               ? bound_[index].address().to_string() + ":" + std::to_string(bound_[index].port())
                               : l.host + ":" + std::to_string(l.port);
        const auto& info = l.tls->context->certificates();
        for (std::size_t i = 0; i < info.size() && i < l.tls->settings.certificates.size(); ++i) {
            std::string names;
            for (const auto& n : info[i].names) names += (names.empty() ? "" : ",") + n;
            process_.certificates.push_back(
                {label, l.tls->settings.certificates[i].cert, std::move(names),
                 std::chrono::duration_cast<std::chrono::seconds>(info[i].not_after - now).count()});
        }
    }
    process_.endpoints.clear();
    process_.clusters.clear();
    const auto steady = std::chrono::steady_clock::now();
    const auto& upstreams = snapshot_->config->upstreams;
    for (std::size_t u = 0; u < upstreams.size() && u < snapshot_->health.size(); ++u) {
        const bool outlier = upstreams[u].outlier.has_value();
        const bool checked = upstreams[u].health_check.has_value();
        const auto& health = *snapshot_->health[u];
        if (outlier) process_.clusters.push_back({upstreams[u].name, health.ejections_total()});
        for (std::size_t e = 0; e < upstreams[u].endpoints.size(); ++e) {
            const auto& ep = upstreams[u].endpoints[e];
            process_.endpoints.push_back({upstreams[u].name, ep.label(), health.failures_of(e).total,
                                          health.ejected(e, steady), health.healthy(e), outlier, checked});
        }
    }
    return observability::render_prometheus(stats, process_);
}

namespace {

// One endpoint of /upstreams: addresses, load and failures as of the workers' last sweep,
// health check and ejection state.
boost::json::object endpoint_json(const config::upstream_config& up, std::size_t e,
                                  const upstream::cluster_health* health, boost::json::array addresses) {
    namespace json = boost::json;
    const auto now = std::chrono::steady_clock::now();
    const auto wall = std::chrono::system_clock::now();
    json::object endpoint{{"endpoint", up.endpoints[e].label()}, {"addresses", std::move(addresses)}};
    if (health) {
        // As of the workers' last sweep (about a second).
        const auto load = health->load_of(e);
        endpoint["connections"] = json::object{{"active", load.active_connections}, {"idle", load.idle_connections}};
        endpoint["in_flight"] = load.requests;
        const auto failures = health->failures_of(e);
        json::object failed{{"total", failures.total}};
        if (failures.total > 0) {
            failed["last"] = upstream::cluster_health::name_of(failures.last);
            failed["last_at"] = utc_time(failures.last_at);
        }
        endpoint["failures"] = std::move(failed);
    }
    if (up.health_check && health) endpoint["healthy"] = health->healthy(e);
    if (up.outlier && health) {
        const auto ejection = health->ejection_of(e);
        const bool out = ejection.until > now;
        endpoint["ejected"] = out;
        if (out) {
            endpoint["ejected_until"] =
                utc_time(wall + std::chrono::duration_cast<std::chrono::system_clock::duration>(ejection.until - now));
            endpoint["ejected_for_s"] = std::chrono::duration_cast<std::chrono::seconds>(ejection.until - now).count();
            endpoint["ejected_because"] = std::to_string(up.outlier->consecutive_failures) + " failures in a row";
        }
        endpoint["ejections_in_a_row"] = ejection.times;
        endpoint["consecutive_failures"] = health->consecutive_failures(e);
    }
    return endpoint;
}

}  // namespace

std::string server::upstreams_json() const {
    namespace json = boost::json;
    // Every worker's counters for each cluster, summed.
    struct sums {
        std::array<std::uint64_t, static_cast<std::size_t>(observability::upstream_error::count)> errors{};
        std::array<std::uint64_t, static_cast<std::size_t>(observability::retry_cause::count)> retries{};
        std::uint64_t budget_exhausted = 0, active = 0, idle = 0;
    };
    std::map<std::string, sums, std::less<>> by_cluster;
    for (const auto& w : workers_) {
        w->stats().visit([&](const auto&, const observability::worker_stats::cluster_map& clusters, const auto&,
                             const auto&, const auto&, const auto&) {
            for (const auto& [name, stats] : clusters) {
                auto& t = by_cluster[name];
                for (std::size_t i = 0; i < t.errors.size(); ++i) t.errors[i] += stats->errors[i].get();
                for (std::size_t i = 0; i < t.retries.size(); ++i) t.retries[i] += stats->retries[i].get();
                t.budget_exhausted += stats->retry_budget_exhausted.get();
                t.active += stats->active.get();
                t.idle += stats->idle.get();
            }
        });
    }
    json::array clusters;
    const auto& upstreams = snapshot_->config->upstreams;
    for (std::size_t u = 0; u < upstreams.size(); ++u) {
        const auto& up = upstreams[u];
        const upstream::cluster_health* health = u < snapshot_->health.size() ? snapshot_->health[u].get() : nullptr;
        const auto& t = by_cluster[up.name];
        std::int64_t cluster_in_flight = 0;
        json::array endpoints;
        for (std::size_t e = 0; e < up.endpoints.size(); ++e) {
            json::array addresses;
            if (u < addresses_.size() && e < addresses_[u].size()) {
                for (const auto& a : addresses_[u][e]) {
                    addresses.emplace_back(a.address().to_string() + ":" + std::to_string(a.port()));
                }
            }
            auto endpoint = endpoint_json(up, e, health, std::move(addresses));
            if (health) cluster_in_flight += health->load_of(e).requests;
            endpoints.push_back(std::move(endpoint));
        }
        json::object errors;
        for (std::size_t i = 0; i < t.errors.size(); ++i) {
            if (t.errors[i])
                errors[observability::name_of(static_cast<observability::upstream_error>(i))] = t.errors[i];
        }
        json::object retries;
        for (std::size_t i = 0; i < t.retries.size(); ++i) {
            retries[observability::name_of(static_cast<observability::retry_cause>(i))] = t.retries[i];
        }
        json::object cluster{{"name", up.name},
                             {"connections", json::object{{"active", t.active}, {"idle", t.idle}}},
                             {"errors", std::move(errors)},
                             {"retries", std::move(retries)},
                             {"retry_budget_exhausted", t.budget_exhausted},
                             {"endpoints", std::move(endpoints)}};
        // Counted exactly when limits are on (they need it), else as of the last sweep.
        if (health && (up.limits.max_requests || up.limits.max_pending)) {
            cluster["in_flight"] = health->in_flight.load(std::memory_order_relaxed);
            cluster["pending"] = health->pending.load(std::memory_order_relaxed);
        } else {
            cluster["in_flight"] = cluster_in_flight;
        }
        if (health && up.outlier) cluster["ejections_total"] = health->ejections_total();
        clusters.push_back(std::move(cluster));
    }
    return json::serialize(json::object{{"upstreams", std::move(clusters)}}) + "\n";
}

void server::start_health_checks() {
    if (!prober_) return;
    prober_->start(snapshot_->config, snapshot_->health, [this](std::size_t u, std::size_t e) {
        return u < addresses_.size() && e < addresses_[u].size() ? addresses_[u][e] : upstream::address_list{};
    });
}

admin::reload_outcome server::reload() {
    admin::reload_outcome outcome;
    auto loaded = config::load_config_file(config_path_, config::process_env());
    if (!loaded.errors.empty()) {
        ++process_.reloads_failed;
        last_refused_at_ = std::chrono::system_clock::now();
        last_refused_errors_.clear();
        std::string errors;
        for (const auto& e : loaded.errors) {
            last_refused_errors_.push_back(e.to_string());
            spdlog::error("reload rejected: {}", e.to_string());
            errors += errors.empty() ? "\"" : ",\"";
            http::append_json_escaped(errors, e.to_string());
            errors += '"';
        }
        spdlog::error("reload rejected: {} error(s); the running config stays", loaded.errors.size());
        outcome.json = "{\"status\":\"rejected\",\"errors\":[" + errors + "]}\n";
        return outcome;
    }
    auto& next = *loaded.config;
    const auto& running = *snapshot_->config;
    // Listeners, workers and the admin address are bound at start; changing them needs a restart.
    bool listeners_changed = next.server.listen != running.server.listen ||
                             next.server.workers != running.server.workers || next.admin.listen != running.admin.listen;
    if (listeners_changed) {
        spdlog::warn("reload: server.listen, server.workers and admin.listen changes take effect after a restart");
        next.server.listen = running.server.listen;
        next.server.workers = running.server.workers;
        next.admin.listen = running.admin.listen;
    }
    auto snap = std::make_shared<snapshot>();
    snap->addresses = upstream::resolve_all(next);
    warn_about_unverified_upstreams(next);
    process_.config_checksum = next.checksum;
    snap->config = std::make_shared<const config::gateway_config>(std::move(next));
    snap->routes = router::route_table::compile(*snap->config);
    snap->health = share_health(*snap->config, snapshot_.get());
    snapshot_ = snap;
    addresses_ = snap->addresses;
    start_health_checks();
    for (auto& w : workers_) {
        w->post_snapshot(snap);
    }
    observability::set_log_level(snap->config->logging.level);
    start_dns();
    ++process_.reloads_ok;
    config_installed_at_ = std::chrono::system_clock::now();
    spdlog::info("config reloaded from {} (checksum {}, {} routes)", config_path_, process_.config_checksum,
                 snap->config->routes.size());
    outcome.ok = true;
    outcome.json = "{\"status\":\"reloaded\",\"checksum\":\"" + process_.config_checksum + "\"}\n";
    return outcome;
}

void server::begin_drain() {
    if (draining_) {
        return;
    }
    draining_ = true;
    if (prober_) prober_->stop();
    auto timeout = snapshot_->config->server.drain_timeout;
    spdlog::info("draining: no new connections; requests in flight have {} ms to finish", timeout.count());
    for (auto& w : workers_) {
        w->post_drain();
    }
    wait_for_drain(std::chrono::steady_clock::now() + timeout);
}

void server::wait_for_drain(std::chrono::steady_clock::time_point deadline) {
    if (!drain_timer_) {
        drain_timer_ = std::make_unique<asio::steady_timer>(control_);
    }
    drain_timer_->expires_after(std::chrono::milliseconds(50));
    drain_timer_->async_wait([this, deadline](boost::system::error_code ec) {
        if (ec) {
            return;
        }
        std::uint64_t open = 0;
        for (const auto& w : workers_) {
            open += w->connections();
        }
        if (open == 0) {
            spdlog::info("drained: every connection finished");
            control_.stop();
        } else if (std::chrono::steady_clock::now() >= deadline) {
            spdlog::warn("drain timeout: closing {} connection(s) still open", open);
            control_.stop();
        } else {
            wait_for_drain(deadline);
        }
    });
}

void server::schedule_dns(std::size_t cluster) {
    const auto& up = snapshot_->config->upstreams[cluster];
    bool any_name = false;
    for (const auto& ep : up.endpoints) {
        any_name = any_name || !common::is_ip_literal(ep.host);
    }
    if (!any_name) {
        return;
    }
    // A name that does not resolve yet (a container started before its upstream) is retried
    // every second instead of waiting a whole refresh interval.
    bool unresolved = false;
    for (const auto& list : addresses_[cluster]) {
        unresolved = unresolved || list.empty();
    }
    auto& timer = *dns_timers_[cluster];
    timer.expires_after(unresolved ? std::min<config::duration>(up.dns_refresh, std::chrono::seconds(1))
                                   : up.dns_refresh);
    timer.async_wait([this, cluster, snap = snapshot_.get()](boost::system::error_code ec) {
        if (snap != snapshot_.get()) {
            return;  // a reload restarted the refresh for its own clusters
        }
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
        if (common::is_ip_literal(ep.host)) {
            continue;
        }
        // Asio runs getaddrinfo on its own resolver thread: the control loop never blocks.
        resolver_->async_resolve(
            ep.host, std::to_string(ep.port),
            [this, cluster, e, snap = snapshot_.get()](boost::system::error_code ec,
                                                       const tcp::resolver::results_type& results) {
                if (snap != snapshot_.get()) {
                    return;  // the config changed meanwhile
                }
                const auto& up = snapshot_->config->upstreams[cluster];
                if (ec) {
                    // Still unresolved: said at start already, retried each second.
                    auto level = addresses_[cluster][e].empty() ? spdlog::level::debug : spdlog::level::warn;
                    spdlog::log(level, "upstream {}: refreshing {} failed: {} (keeping {} known addresses)", up.name,
                                up.endpoints[e].host, ec.message(), addresses_[cluster][e].size());
                    return;
                }
                upstream::address_list list;
                for (const auto& r : results) {
                    list.push_back(r.endpoint());
                }
                if (list == addresses_[cluster][e]) {
                    return;
                }
                spdlog::info("upstream {}: {} now resolves to {} addresses", up.name, up.endpoints[e].host,
                             list.size());
                addresses_[cluster][e] = list;
                for (auto& w : workers_) {
                    w->post_addresses(snapshot_.get(), cluster, e, list);
                }
            });
    }
}

int server::run() {
    asio::signal_set signals(control_, SIGINT, SIGTERM, SIGHUP);
    signals.add(SIGUSR1);
    int exit_code = 0;
    std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int signal) {
        if (ec) {
            return;
        }
        if (signal == SIGHUP) {
            spdlog::info("SIGHUP: reloading {}", config_path_);
            reload();
        } else if (signal == SIGUSR1) {
            spdlog::info("SIGUSR1: reopening access log files");
            filters::reopen_log_files();
        } else if (!draining_) {
            spdlog::info("received signal {}: draining", signal);
            begin_drain();
        } else {
            spdlog::warn("received signal {} again: stopping now", signal);
            control_.stop();
        }
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);
    control_.run();
    if (admin_) {
        admin_->stop();
    }
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
