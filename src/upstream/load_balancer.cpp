#include "gatehouse/upstream/load_balancer.hpp"

namespace gatehouse::upstream {

load_balancer::load_balancer(config::lb_policy policy, std::uint64_t seed) : policy_(policy), rng_(seed) {
    counter_ = seed;  // workers start at different endpoints
}

std::size_t load_balancer::next_usable(std::span<const endpoint_load> endpoints, std::size_t start) const {
    const std::size_t n = endpoints.size();
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t index = (start + i) % n;
        if (endpoints[index].usable) {
            return index;
        }
    }
    return none;
}

std::size_t load_balancer::pick(std::span<const endpoint_load> endpoints, std::uint64_t client_hash, bool retry) {
    const std::size_t n = endpoints.size();
    if (n == 0) {
        return none;
    }
    switch (policy_) {
        case config::lb_policy::round_robin:
            return next_usable(endpoints, static_cast<std::size_t>((retry ? counter_ : counter_++) % n));
        case config::lb_policy::random:
            return next_usable(endpoints, static_cast<std::size_t>(rng_.next() % n));
        case config::lb_policy::ip_hash:
            return next_usable(endpoints, static_cast<std::size_t>(client_hash % n));
        case config::lb_policy::least_request: {
            // Power of two choices: two distinct random endpoints, the less loaded wins.
            std::size_t a = next_usable(endpoints, static_cast<std::size_t>(rng_.next() % n));
            if (a == none) {
                return none;
            }
            std::size_t b =
                n > 1 ? next_usable(endpoints, (a + 1 + static_cast<std::size_t>(rng_.next() % (n - 1))) % n) : a;
            return endpoints[b].active < endpoints[a].active ? b : a;
        }
    }
    return none;
}

}  // namespace gatehouse::upstream
