#include "gatehouse/upstream/health.hpp"

#include <algorithm>

namespace gatehouse::upstream {

cluster_health::cluster_health(std::size_t endpoints)
    : size_(endpoints), endpoints_(std::make_unique<endpoint[]>(endpoints)) {}

bool cluster_health::record_failure(std::size_t i, clock::time_point now, const config::outlier_config& outlier) {
    if (i >= size_) return false;
    auto& e = endpoints_[i];
    const auto failures = e.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
    if (failures < outlier.consecutive_failures) return false;
    const auto ticks = now.time_since_epoch().count();
    if (e.ejected_until.load(std::memory_order_relaxed) > ticks) return false;  // already out
    // Never more than max_ejected_percent out at once, but one always may go.
    std::size_t out = 0;
    for (std::size_t j = 0; j < size_; ++j) {
        if (endpoints_[j].ejected_until.load(std::memory_order_relaxed) > ticks) ++out;
    }
    if (out > 0 && (out + 1) * 100 > outlier.max_ejected_percent * size_) return false;
    // Ejected again soon after the last one: twice as long, up to max_ejection. An endpoint
    // that stayed in for max_ejection since starts over.
    const auto last = e.last_ejected_until.load(std::memory_order_relaxed);
    const auto calm = std::chrono::duration_cast<clock::duration>(outlier.max_ejection).count();
    std::uint32_t times = ticks - last > calm ? 1 : e.ejections.load(std::memory_order_relaxed) + 1;
    config::duration duration = outlier.base_ejection * (1LL << std::min<std::uint32_t>(times - 1, 20));
    duration = std::min(duration, outlier.max_ejection);
    const auto until = ticks + std::chrono::duration_cast<clock::duration>(duration).count();
    // Several workers may see the failure that crosses the line: one ejects.
    auto expected = e.ejected_until.load(std::memory_order_relaxed);
    if (expected > ticks || !e.ejected_until.compare_exchange_strong(expected, until, std::memory_order_relaxed)) {
        return false;
    }
    e.last_ejected_until.store(until, std::memory_order_relaxed);
    e.ejections.store(times, std::memory_order_relaxed);
    e.consecutive_failures.store(0, std::memory_order_relaxed);
    ejections_total_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool cluster_health::end_ejection(std::size_t i, clock::time_point now) {
    if (i >= size_) return false;
    auto& e = endpoints_[i];
    const auto ticks = now.time_since_epoch().count();
    auto until = e.ejected_until.load(std::memory_order_relaxed);
    e.consecutive_failures.store(0, std::memory_order_relaxed);
    // last_ejected_until stays: failing again soon still doubles the next ejection.
    return until > ticks && e.ejected_until.compare_exchange_strong(until, ticks, std::memory_order_relaxed);
}

std::string_view cluster_health::name_of(failure f) {
    switch (f) {
        case failure::none:
            return "none";
        case failure::connect:
            return "connect";
        case failure::reset:
            return "reset";
        case failure::timeout:
            return "timeout";
        case failure::status_5xx:
            return "5xx";
    }
    return "none";
}

void cluster_health::note_failure(std::size_t i, failure kind, std::chrono::system_clock::time_point at) {
    if (i >= size_) return;
    auto& e = endpoints_[i];
    e.failures.fetch_add(1, std::memory_order_relaxed);
    e.last_failure.store(static_cast<std::uint8_t>(kind), std::memory_order_relaxed);
    e.last_failure_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count(),
                            std::memory_order_relaxed);
}

cluster_health::failures cluster_health::failures_of(std::size_t i) const {
    if (i >= size_) return {};
    const auto& e = endpoints_[i];
    return {e.failures.load(std::memory_order_relaxed),
            static_cast<failure>(e.last_failure.load(std::memory_order_relaxed)),
            std::chrono::system_clock::time_point(
                std::chrono::milliseconds(e.last_failure_ms.load(std::memory_order_relaxed)))};
}

void cluster_health::add_load(std::size_t i, const load& delta) {
    if (i >= size_) return;
    auto& e = endpoints_[i];
    if (delta.active_connections) e.active_connections.fetch_add(delta.active_connections, std::memory_order_relaxed);
    if (delta.idle_connections) e.idle_connections.fetch_add(delta.idle_connections, std::memory_order_relaxed);
    if (delta.requests) e.requests.fetch_add(delta.requests, std::memory_order_relaxed);
}

cluster_health::load cluster_health::load_of(std::size_t i) const {
    if (i >= size_) return {};
    const auto& e = endpoints_[i];
    return {e.active_connections.load(std::memory_order_relaxed), e.idle_connections.load(std::memory_order_relaxed),
            e.requests.load(std::memory_order_relaxed)};
}

cluster_health::ejection cluster_health::ejection_of(std::size_t i) const {
    if (i >= size_) return {};
    const auto& e = endpoints_[i];
    return {clock::time_point(clock::duration(e.ejected_until.load(std::memory_order_relaxed))),
            e.ejections.load(std::memory_order_relaxed)};
}

}  // namespace gatehouse::upstream
