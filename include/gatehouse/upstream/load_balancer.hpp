#pragma once
// Endpoint choice for one cluster on one worker. Pure logic over a snapshot of endpoint load,
// so it is unit-tested without sockets.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "gatehouse/common/random.hpp"
#include "gatehouse/config/config.hpp"

namespace gatehouse::upstream {

struct endpoint_load {
    std::uint64_t active = 0;  // requests in flight from this worker
    bool usable = true;        // has addresses and was not excluded for this request
};

class load_balancer {
public:
    static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

    load_balancer(config::lb_policy policy, std::uint64_t seed);

    // Index of a usable endpoint, or none. client_hash feeds ip_hash. A retry (the endpoints
    // tried are unusable) does not move round robin on: it takes the next usable endpoint, and
    // the next request still starts one further, however many tries each request takes.
    std::size_t pick(std::span<const endpoint_load> endpoints, std::uint64_t client_hash, bool retry = false);

private:
    std::size_t next_usable(std::span<const endpoint_load> endpoints, std::size_t start) const;

    config::lb_policy policy_;
    std::uint64_t counter_ = 0;
    common::fast_random rng_;
};

}  // namespace gatehouse::upstream
