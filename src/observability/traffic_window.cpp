#include "gatehouse/observability/traffic_window.hpp"

#include <algorithm>

namespace gatehouse::observability {

std::optional<double> quantile_ms(const latency_counts& buckets, double q) {
    std::uint64_t total = 0;
    for (auto c : buckets) total += c;
    if (total == 0) return std::nullopt;
    const double rank = q * static_cast<double>(total);
    std::uint64_t below = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        if (buckets[i] == 0 || static_cast<double>(below + buckets[i]) < rank) {
            below += buckets[i];
            continue;
        }
        if (i == latency_bounds.size()) return latency_bounds.back() * 1000;  // +Inf
        const double lower = i == 0 ? 0.0 : latency_bounds[i - 1];
        const double upper = latency_bounds[i];
        const double within = (rank - static_cast<double>(below)) / static_cast<double>(buckets[i]);
        return (lower + (upper - lower) * std::clamp(within, 0.0, 1.0)) * 1000;
    }
    return latency_bounds.back() * 1000;
}

void traffic_window::add(traffic_sample sample) {
    samples_.push_back(std::move(sample));
    // Keep the newest sample that is at least span_ old: it is the window's start.
    while (samples_.size() > 2 && samples_.back().at - samples_[1].at >= span_) samples_.pop_front();
}

std::chrono::duration<double> traffic_window::covered() const {
    if (samples_.size() < 2) return std::chrono::duration<double>(0);
    return samples_.back().at - samples_.front().at;
}

std::vector<route_traffic> traffic_window::rates() const {
    std::vector<route_traffic> out;
    if (samples_.empty()) return out;
    const auto& newest = samples_.back();
    const traffic_sample* oldest = samples_.size() > 1 ? &samples_.front() : nullptr;
    const double seconds = covered().count();
    auto minus = [](std::uint64_t now, std::uint64_t then) { return now >= then ? now - then : now; };
    for (const auto& r : newest.routes) {
        route_traffic t;
        t.name = r.name;
        const route_sample* before = nullptr;
        if (oldest) {
            auto it = std::find_if(oldest->routes.begin(), oldest->routes.end(),
                                   [&](const route_sample& o) { return o.name == r.name; });
            if (it != oldest->routes.end()) before = &*it;
        }
        latency_counts latency{};
        for (std::size_t i = 0; i < r.classes.size(); ++i) {
            t.classes[i] = before ? minus(r.classes[i], before->classes[i]) : (oldest ? r.classes[i] : 0);
            t.requests += t.classes[i];
        }
        for (std::size_t i = 0; i < r.latency.size(); ++i) {
            latency[i] = before ? minus(r.latency[i], before->latency[i]) : (oldest ? r.latency[i] : 0);
        }
        t.per_second = seconds > 0 ? static_cast<double>(t.requests) / seconds : 0;
        t.p50_ms = quantile_ms(latency, 0.5);
        t.p99_ms = quantile_ms(latency, 0.99);
        out.push_back(std::move(t));
    }
    return out;
}

}  // namespace gatehouse::observability
