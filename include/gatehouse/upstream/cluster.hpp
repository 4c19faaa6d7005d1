#pragma once
// One worker's view of the upstream clusters: endpoints with their resolved addresses, load
// counters and connection pools. Built from a config snapshot; touched only by that worker.
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "gatehouse/common/tls_context.hpp"
#include "gatehouse/config/config.hpp"
#include "gatehouse/upstream/health.hpp"
#include "gatehouse/upstream/load_balancer.hpp"
#include "gatehouse/upstream/pool.hpp"

namespace gatehouse::upstream {

using address_list = std::vector<boost::asio::ip::tcp::endpoint>;
// [cluster][endpoint] -> addresses, as resolved on the control thread.
using resolved_addresses = std::vector<std::vector<address_list>>;

struct endpoint_state {
    endpoint_state(std::string host, std::string label, const config::pool_config& pool_config)
        : host(std::move(host)), label(std::move(label)), pool(pool_config) {}
    std::string host;   // as configured: a TLS upstream's default server name
    std::string label;  // "host:port" as configured, for logs
    address_list addresses;
    std::size_t next_address = 0;
    std::uint64_t active = 0;       // requests in flight from this worker
    cluster_health::load reported;  // this worker's share last added to the cluster_health
    // A TLS upstream's last session (declared before pool: its connections point at it).
    common::tls_session_slot tls_sessions;
    connection_pool pool;
};

class cluster_state {
public:
    cluster_state(const config::upstream_config& config, const std::vector<address_list>& addresses, std::uint64_t seed,
                  std::shared_ptr<cluster_health> health = nullptr);

    // Chooses an endpoint that has addresses, is not in excluded (bit i: endpoint i) and is not
    // ejected (unless so many are that the cluster is in panic: then ejection is ignored).
    // Returns load_balancer::none when no endpoint is usable.
    std::size_t pick(std::uint64_t client_hash, std::uint64_t excluded, clock::time_point now = {}, bool retry = false);
    // Whether pick would find one, without moving the balancer on (fills scratch_ for pick).
    bool any_usable(std::uint64_t excluded, clock::time_point now = {});

    const config::upstream_config& config() const { return *config_; }
    // Points at an equal config from a newer snapshot (a reload kept this cluster and its pools).
    void rebind(const config::upstream_config& config, std::shared_ptr<cluster_health> health) {
        config_ = &config;
        if (health && health != health_) {
            withdraw_load();
            health_ = std::move(health);
        }
    }
    ~cluster_state() { withdraw_load(); }
    cluster_state(const cluster_state&) = delete;
    cluster_state& operator=(const cluster_state&) = delete;
    // Adds the change in this worker's connections and requests per endpoint since the last
    // report to the shared cluster_health (the worker's sweep calls it); returns this worker's
    // totals over the cluster.
    cluster_health::load report_load();
    // Shared by every worker; null in tests that build a cluster alone.
    cluster_health* health() const { return health_.get(); }
    endpoint_state& endpoint(std::size_t i) { return *endpoints_[i]; }
    std::size_t size() const { return endpoints_.size(); }

    // This worker's exchanges with the cluster in flight, and those of them retrying (the
    // retry budget's two sides).
    std::uint64_t requests_in_flight = 0;
    std::uint64_t retries_in_flight = 0;

private:
    void withdraw_load();

    const config::upstream_config* config_;
    std::shared_ptr<cluster_health> health_;
    std::vector<std::unique_ptr<endpoint_state>> endpoints_;
    load_balancer balancer_;
    std::vector<endpoint_load> scratch_;
};

}  // namespace gatehouse::upstream
