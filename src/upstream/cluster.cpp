#include "gatehouse/upstream/cluster.hpp"

namespace gatehouse::upstream {

cluster_state::cluster_state(const config::upstream_config& config, const std::vector<address_list>& addresses,
                             std::uint64_t seed, std::shared_ptr<cluster_health> health)
    : config_(&config), health_(std::move(health)), balancer_(config.load_balancing, seed) {
    for (std::size_t i = 0; i < config.endpoints.size(); ++i) {
        const auto& ep = config.endpoints[i];
        auto state = std::make_unique<endpoint_state>(ep.host, ep.label(), config.pool);
        if (i < addresses.size()) {
            state->addresses = addresses[i];
        }
        endpoints_.push_back(std::move(state));
    }
    scratch_.resize(endpoints_.size());
}

bool cluster_state::any_usable(std::uint64_t excluded, clock::time_point now) {
    const bool checked = (config_->outlier || config_->health_check) && health_;
    std::size_t usable = 0;
    std::size_t in = 0;
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
        scratch_[i].active = endpoints_[i]->active;
        scratch_[i].usable = !endpoints_[i]->addresses.empty() && (i >= 64 || !(excluded & (1ull << i)));
        if (!scratch_[i].usable) continue;
        ++usable;
        if (checked && health_->in(i, now)) ++in;
    }
    // Enough endpoints in: leave the ejected and unhealthy ones out. Too few (below the panic
    // threshold, as Envoy does): spread over all rather than pile everything onto the last
    // ones standing.
    if (checked && in > 0 && in * 100 >= config_->panic_threshold_percent * endpoints_.size()) {
        for (std::size_t i = 0; i < endpoints_.size(); ++i) {
            if (scratch_[i].usable && !health_->in(i, now)) scratch_[i].usable = false;
        }
        usable = in;
    }
    return usable > 0;
}

std::size_t cluster_state::pick(std::uint64_t client_hash, std::uint64_t excluded, clock::time_point now, bool retry) {
    if (!any_usable(excluded, now)) return load_balancer::none;
    return balancer_.pick(scratch_, client_hash, retry);
}

cluster_health::load cluster_state::report_load() {
    cluster_health::load total;
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
        auto& e = *endpoints_[i];
        const auto idle = static_cast<std::int64_t>(e.pool.idle());
        const cluster_health::load now{static_cast<std::int64_t>(e.pool.total()) - idle, idle,
                                       static_cast<std::int64_t>(e.active)};
        total.active_connections += now.active_connections;
        total.idle_connections += now.idle_connections;
        total.requests += now.requests;
        if (!health_) continue;
        health_->add_load(i, {now.active_connections - e.reported.active_connections,
                              now.idle_connections - e.reported.idle_connections, now.requests - e.reported.requests});
        e.reported = now;
    }
    return total;
}

void cluster_state::withdraw_load() {
    if (!health_) return;
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
        auto& e = *endpoints_[i];
        health_->add_load(i, {-e.reported.active_connections, -e.reported.idle_connections, -e.reported.requests});
        e.reported = {};
    }
}

}  // namespace gatehouse::upstream
