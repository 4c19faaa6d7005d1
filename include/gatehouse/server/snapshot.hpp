#pragma once
// An immutable view of one loaded config: what every worker reads on the request path.
// Requests in flight keep their snapshot alive through the shared_ptr.
#include <memory>

#include "gatehouse/config/config.hpp"
#include "gatehouse/router/route_table.hpp"
#include "gatehouse/upstream/cluster.hpp"
#include "gatehouse/upstream/health.hpp"

namespace gatehouse::server {

struct snapshot {
    std::shared_ptr<const config::gateway_config> config;
    std::shared_ptr<const router::route_table> routes;
    upstream::resolved_addresses addresses;  // at load time; workers receive later DNS changes
    // By upstream index, shared by every worker; kept across reloads for a cluster whose
    // endpoints did not change (ejections survive a reload).
    std::vector<std::shared_ptr<upstream::cluster_health>> health;
};

}  // namespace gatehouse::server
