#include "gatehouse/observability/metrics.hpp"

#include <algorithm>

namespace gatehouse::observability {

void route_stats::record(unsigned status, std::chrono::nanoseconds duration) {
    if (status >= 100 && status < 600) {
        by_class[status / 100 - 1].add();
    }
    double seconds = std::chrono::duration<double>(duration).count();
    std::size_t bucket = 0;
    while (bucket < latency_bounds.size() && seconds > latency_bounds[bucket]) {
        ++bucket;
    }
    latency[bucket].add();
    latency_sum_us.add(static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(duration).count())));
}

namespace {
constexpr std::string_view error_names[] = {
    "connect_failed", "connect_timeout", "timeout",          "reset", "bad_response", "write_failed",
    "pool_exhausted", "no_endpoint",     "unexpected_bytes", "tls",   "overflow"};
}

static_assert(std::size(error_names) == static_cast<std::size_t>(upstream_error::count));

std::string_view name_of(upstream_error e) {
    return error_names[static_cast<std::size_t>(e)];
}

std::string_view name_of(retry_cause c) {
    static constexpr std::string_view names[] = {"connect_failure", "reset", "timeout", "status"};
    static_assert(std::size(names) == static_cast<std::size_t>(retry_cause::count));
    return names[static_cast<std::size_t>(c)];
}

upstream_error upstream_error_of(std::string_view code) {
    if (code == "upstream_connect_failed") return upstream_error::connect_failed;
    if (code == "upstream_connect_timeout") return upstream_error::connect_timeout;
    if (code == "upstream_timeout") return upstream_error::timeout;
    if (code == "upstream_reset") return upstream_error::reset;
    if (code == "upstream_bad_response") return upstream_error::bad_response;
    if (code == "upstream_write_failed") return upstream_error::write_failed;
    if (code == "upstream_pool_exhausted") return upstream_error::pool_exhausted;
    if (code == "no_upstream_available") return upstream_error::no_endpoint;
    if (code == "upstream_tls") return upstream_error::tls;
    if (code == "upstream_overflow") return upstream_error::overflow;
    return upstream_error::count;
}

route_stats& worker_stats::route(const std::string& name) {
    if (auto it = routes_.find(name); it != routes_.end()) {
        return *it->second;
    }
    std::lock_guard lock(mutex_);
    return *routes_.emplace(name, std::make_unique<route_stats>()).first->second;
}

std::string_view name_of(backend_failure f) {
    static constexpr std::array<std::string_view, static_cast<std::size_t>(backend_failure::count)> names{
        "connect_failed", "timeout", "status",        "not_json",          "too_large", "incomplete",
        "bad_response",   "shape",   "missing_field", "dependency_failed", "cancelled"};
    return names[static_cast<std::size_t>(f)];
}

void backend_stats::record(std::chrono::nanoseconds duration) {
    calls.add();
    const double seconds = std::chrono::duration<double>(duration).count();
    std::size_t bucket = 0;
    while (bucket < latency_bounds.size() && seconds > latency_bounds[bucket]) ++bucket;
    latency[bucket].add();
    latency_sum_us.add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(duration).count()));
}

backend_stats& worker_stats::backend(const std::string& route, const std::string& backend) {
    std::lock_guard lock(mutex_);
    auto& slot = backends_[std::make_pair(route, backend)];
    if (!slot) slot = std::make_unique<backend_stats>();
    return *slot;
}

tls_stats& worker_stats::tls(const std::string& listener) {
    std::lock_guard lock(mutex_);
    auto& slot = tls_[listener];
    if (!slot) slot = std::make_unique<tls_stats>();
    return *slot;
}

cluster_stats& worker_stats::cluster(const std::string& name) {
    if (auto it = clusters_.find(name); it != clusters_.end()) {
        return *it->second;
    }
    std::lock_guard lock(mutex_);
    return *clusters_.emplace(name, std::make_unique<cluster_stats>()).first->second;
}

void worker_stats::rejection(std::string_view filter, std::string_view reason) {
    // Only this worker inserts, so its own lookups need no lock; the admin reads under it.
    std::pair<std::string_view, std::string_view> key{filter, reason};
    auto it = std::find_if(rejections_.begin(), rejections_.end(),
                           [&](const auto& e) { return e.first.first == key.first && e.first.second == key.second; });
    if (it == rejections_.end()) {
        std::lock_guard lock(mutex_);
        it = rejections_.emplace(std::make_pair(std::string(filter), std::string(reason)), std::make_unique<counter>())
                 .first;
    }
    it->second->add();
}

counter& worker_stats::filter_event(std::string_view filter, std::string_view event) {
    std::lock_guard lock(mutex_);
    auto key = std::make_pair(std::string(filter), std::string(event));
    auto it = events_.find(key);
    if (it == events_.end()) {
        it = events_.emplace(key, std::make_unique<counter>()).first;
    }
    return *it->second;
}

}  // namespace gatehouse::observability
