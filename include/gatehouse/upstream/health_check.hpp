#pragma once
// Active health checks: one prober per process, on the control thread (never on a worker),
// asks every endpoint of each upstream with a health_check for GET path every interval, on a
// new connection each time, and publishes the verdict through the upstream's cluster_health,
// which every worker reads when it picks an endpoint.
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "gatehouse/config/config.hpp"
#include "gatehouse/upstream/cluster.hpp"
#include "gatehouse/upstream/health.hpp"

namespace gatehouse::upstream {

class health_prober {
public:
    // The addresses an endpoint resolves to now (the control thread's latest view).
    using addresses_of = std::function<address_list(std::size_t upstream, std::size_t endpoint)>;

    explicit health_prober(boost::asio::io_context& control);
    ~health_prober();
    health_prober(const health_prober&) = delete;
    health_prober& operator=(const health_prober&) = delete;

    // Probes the upstreams of config that have a health_check (health: by upstream index),
    // replacing the probes of an earlier start. Keeps config alive while it runs.
    void start(std::shared_ptr<const config::gateway_config> config,
               std::vector<std::shared_ptr<cluster_health>> health, addresses_of addresses);
    // Ends every probe (one in flight ends at its timeout at the latest).
    void stop();

    struct run;  // one start's probes (health_check.cpp)

private:
    boost::asio::io_context& control_;
    std::shared_ptr<run> current_;
};

}  // namespace gatehouse::upstream
