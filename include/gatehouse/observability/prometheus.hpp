#pragma once
// The /metrics page: every worker's counters summed, in the Prometheus text format (0.0.4).
#include <cstdint>
#include <string>
#include <vector>

#include "gatehouse/observability/metrics.hpp"

namespace gatehouse::observability {

// Process-wide values kept by the control thread.
// A TLS listener's certificate, for the expiry gauge.
struct certificate_expiry {
    std::string listener;
    std::string file;
    std::string names;  // its DNS names, comma-separated
    std::int64_t seconds_left = 0;
};

// An upstream endpoint's process-wide health (outlier detection, health checks, failed tries).
struct endpoint_health {
    std::string upstream;
    std::string endpoint;
    std::uint64_t failures = 0;  // failed tries: connect error, reset, timeout, 5xx
    bool ejected = false;
    bool healthy = true;   // by the active health checks
    bool outlier = false;  // the upstream has outlier detection (else no ejected series)
    bool checked = false;  // the upstream has health checks (else no healthy series)
};
struct cluster_health_totals {
    std::string upstream;
    std::uint64_t ejections = 0;
};

struct process_metrics {
    std::vector<certificate_expiry> certificates;
    std::vector<endpoint_health> endpoints;       // every upstream's
    std::vector<cluster_health_totals> clusters;  // upstreams with outlier detection
    std::uint64_t reloads_ok = 0;
    std::uint64_t reloads_failed = 0;
    std::string config_checksum;
    std::uint64_t client_connections = 0;
    bool draining = false;
};

std::string render_prometheus(const std::vector<const worker_stats*>& workers, const process_metrics& process);

}  // namespace gatehouse::observability
