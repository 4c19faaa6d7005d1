#pragma once
// Live traffic per route over the last minute, for the admin dashboard: the control thread
// adds a sample of every route's cumulative counters (summed over the workers) every few
// seconds, and the window answers with the difference between the newest sample and the one a
// minute before: requests per second, status classes, and p50/p99 estimated from the latency
// buckets (linear within a bucket, as Prometheus's histogram_quantile). Pure: no clock, no lock.
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/observability/metrics.hpp"

namespace gatehouse::observability {

using latency_counts = std::array<std::uint64_t, latency_bounds.size() + 1>;

struct route_sample {
    std::string name;
    std::array<std::uint64_t, 5> classes{};  // 1xx .. 5xx, cumulative
    latency_counts latency{};                // per bucket, cumulative
};

struct traffic_sample {
    std::chrono::steady_clock::time_point at;
    std::vector<route_sample> routes;
};

struct route_traffic {
    std::string name;
    std::uint64_t requests = 0;
    double per_second = 0;
    std::array<std::uint64_t, 5> classes{};
    std::optional<double> p50_ms, p99_ms;  // none without requests
};

// The q-quantile (0..1) of a histogram's per-bucket counts, in milliseconds; nullopt if empty.
// In the +Inf bucket it answers the last finite bound, as histogram_quantile does.
std::optional<double> quantile_ms(const latency_counts& buckets, double q);

class traffic_window {
public:
    explicit traffic_window(std::chrono::seconds span = std::chrono::seconds(60)) : span_(span) {}

    void add(traffic_sample sample);
    // Per route of the newest sample: what happened since the sample span_ before it (or the
    // oldest one kept). A route new since then counts from zero; counters that went down (a
    // restart of the stats) count from zero too.
    std::vector<route_traffic> rates() const;
    // The time the rates cover (0 before two samples).
    std::chrono::duration<double> covered() const;

private:
    std::chrono::seconds span_;
    std::deque<traffic_sample> samples_;
};

}  // namespace gatehouse::observability
