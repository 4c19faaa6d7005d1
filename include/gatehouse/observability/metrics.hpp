#pragma once
// Metrics declared in one place. Every counter belongs to one worker: only that worker's thread
// writes it (a relaxed load and store, no locked instruction, no shared cache line), and the
// admin thread reads it relaxed and sums over the workers. The registries' maps change only
// when a config is installed or a new rejection reason first appears, under a mutex that the
// request path never takes otherwise.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::observability {

class counter {
public:
    void add(std::uint64_t n = 1) {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void set(std::uint64_t n) { value_.store(n, std::memory_order_relaxed); }
    std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

// Request latency buckets in seconds (upper bounds); the last bucket is +Inf.
inline constexpr std::array<double, 13> latency_bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                       0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

struct route_stats {
    std::array<counter, 5> by_class;                         // 1xx .. 5xx
    std::array<counter, latency_bounds.size() + 1> latency;  // per bucket, not cumulative
    counter latency_sum_us;
    // WebSocket tunnels: open now (a gauge), closed by how they ended (io::tunnel_end, in its
    // order), bytes carried each way.
    counter tunnels_open;
    std::array<counter, 6> tunnels_closed;
    counter tunnel_bytes_up;
    counter tunnel_bytes_down;

    // Records one finished request.
    void record(unsigned status, std::chrono::nanoseconds duration);
};

enum class upstream_error {
    connect_failed,
    connect_timeout,
    timeout,
    reset,
    bad_response,
    write_failed,
    pool_exhausted,
    no_endpoint,
    unexpected_bytes,  // bytes the upstream sent beyond a response's framing or while idle: connection closed
    tls,               // the TLS handshake failed (certificate not verified, no common protocol, alert)
    overflow,          // the cluster's circuit-breaking limits shed the request
    count
};
std::string_view name_of(upstream_error e);
// The kind of a local reply's error code ("upstream_timeout"), or count when it is not an upstream error.
upstream_error upstream_error_of(std::string_view code);

// Why a try was made again (gatehouse_upstream_retries_total{reason}).
enum class retry_cause { connect_failure, reset, timeout, status, count };
std::string_view name_of(retry_cause c);

struct cluster_stats {
    std::array<counter, static_cast<std::size_t>(upstream_error::count)> errors;
    std::array<counter, static_cast<std::size_t>(retry_cause::count)> retries;
    counter retry_budget_exhausted;  // retries the budget refused
    counter active;                  // gauges, published by the worker on its sweep
    counter idle;
};

// Why a backend call of an aggregation failed (the access log and the error reply use the names).
enum class backend_failure {
    connect_failed,     // no connection to any endpoint
    timeout,            // its timeout or the aggregate's passed
    status,             // a status outside 2xx
    not_json,           // the body is not JSON
    too_large,          // the body passed the aggregate's max_body
    incomplete,         // the upstream closed or broke the response before its end
    bad_response,       // the upstream's response was not valid HTTP
    shape,              // the answer did not fit target / group (an array without a group, ...)
    missing_field,      // a field another backend's answer should have held was absent or not a scalar
    dependency_failed,  // a backend it depends on failed
    cancelled,          // stopped because a required backend had already failed
    count
};
std::string_view name_of(backend_failure f);

// One backend of one aggregate route.
struct backend_stats {
    counter calls;
    std::array<counter, static_cast<std::size_t>(backend_failure::count)> failures;
    std::array<counter, latency_bounds.size() + 1> latency;  // per bucket, not cumulative
    counter latency_sum_us;

    void record(std::chrono::nanoseconds duration);
};

// One TLS listener's handshakes.
struct tls_stats {
    counter ok;
    counter timed_out;           // the client did not finish within timeouts.handshake
    counter version;             // no protocol version in common (TLS 1.0/1.1 clients, min_version)
    counter client_certificate;  // a required client certificate missing, or one that did not verify
    counter failed;              // any other failure (bad records, no cipher in common, client gone)
    counter tls12;
    counter tls13;
    counter resumed;
};

// One worker's metrics.
class worker_stats {
public:
    // The stats of a route / cluster, created on first use (config install, worker thread).
    route_stats& route(const std::string& name);
    cluster_stats& cluster(const std::string& name);
    backend_stats& backend(const std::string& route, const std::string& backend);
    tls_stats& tls(const std::string& listener);
    // Counts a filter rejection (worker thread).
    void rejection(std::string_view filter, std::string_view reason);
    // A counter for something a filter wants to report (worker thread, when the filter is made).
    counter& filter_event(std::string_view filter, std::string_view event);

    // Reads everything under the registry lock (admin thread).
    template <typename F>
    void visit(F&& f) const {
        std::lock_guard lock(mutex_);
        f(routes_, clusters_, rejections_, events_, backends_, tls_);
    }

    using route_map = std::map<std::string, std::unique_ptr<route_stats>, std::less<>>;
    using cluster_map = std::map<std::string, std::unique_ptr<cluster_stats>, std::less<>>;
    using rejection_map = std::map<std::pair<std::string, std::string>, std::unique_ptr<counter>, std::less<>>;
    using backend_map = std::map<std::pair<std::string, std::string>, std::unique_ptr<backend_stats>, std::less<>>;
    using tls_map = std::map<std::string, std::unique_ptr<tls_stats>, std::less<>>;

private:
    mutable std::mutex mutex_;
    route_map routes_;
    cluster_map clusters_;
    rejection_map rejections_;
    rejection_map events_;  // (filter, event)
    backend_map backends_;  // (route, backend)
    tls_map tls_;           // by listener address
};

}  // namespace gatehouse::observability
