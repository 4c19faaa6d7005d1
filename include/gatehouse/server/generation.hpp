#pragma once
// Everything one worker derives from one config snapshot: its cluster states (pools), its own
// filter instances and the chains built from them. A request holds the generation it started
// with; after a reload the old generation lives on until its last request ends, so requests in
// flight finish on the config they began with.
#include <memory>
#include <string_view>
#include <vector>

#include "gatehouse/filters/chain.hpp"
#include "gatehouse/observability/metrics.hpp"
#include "gatehouse/server/snapshot.hpp"
#include "gatehouse/upstream/cluster.hpp"

namespace gatehouse::server {

using filter_chain = filters::chain;

struct generation {
    std::shared_ptr<const snapshot> snap;
    std::vector<std::shared_ptr<upstream::cluster_state>> clusters;  // by config upstream index
    std::vector<observability::cluster_stats*> cluster_stats;        // by config upstream index
    std::vector<std::unique_ptr<filters::filter>> filters;           // by config filter index
    std::vector<filter_chain> route_chains;                          // by route index
    filter_chain default_chain;                                      // requests without a route
    std::vector<observability::route_stats*> route_stats;            // by route index
    observability::route_stats* unmatched_stats = nullptr;           // requests without a route
    // By route index, then backend index: the calls of aggregate routes (empty for others).
    std::vector<std::vector<observability::backend_stats*>> backend_stats;
    std::size_t users = 0;  // requests holding it

    ~generation() {
        filters.clear();  // filters reference settings inside snap: they go first
    }
};

}  // namespace gatehouse::server
