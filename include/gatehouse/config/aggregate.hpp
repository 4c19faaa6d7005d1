#pragma once
// A route's `aggregate` block: the backends one client request fans out to and how their JSON
// answers merge into one. Validated by the loader (references, cycles, known key conflicts).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gatehouse/aggregate/shape.hpp"
#include "gatehouse/aggregate/value_template.hpp"

namespace gatehouse::config {

struct aggregate_backend {
    std::string name;
    std::string upstream;
    std::size_t upstream_index = 0;  // into gateway_config::upstreams (set by the loader)
    std::string method = "GET";
    aggregate::value_template path;
    std::vector<std::pair<std::string, aggregate::value_template>> headers;  // name, value
    aggregate::shaping shape;                                                // target, allow, deny, rename, group
    bool required = true;                              // false: its failure leaves it out of a partial answer
    std::optional<std::chrono::milliseconds> timeout;  // from its start; capped by the aggregate's
    bool forward_body = false;                         // the client's body goes with the call
    std::vector<std::size_t> depends_on;               // backends whose answers its path or headers name (computed)
};

struct aggregate_config {
    std::optional<std::chrono::milliseconds> timeout;  // the whole fan-out; default: the route's timeout
    aggregate::conflict_policy conflicts = aggregate::conflict_policy::error;
    aggregate::merge_mode merge = aggregate::merge_mode::shallow;
    std::uint64_t max_body = 2 * 1024 * 1024;  // per backend answer
    bool expose_errors = false;                // a failed backend's status and body go into the error reply
    std::vector<std::string> forward_headers;  // client request fields passed to every backend
    std::vector<std::string> forward_query;    // client query parameters passed to every backend
    std::vector<aggregate_backend> backends;   // merge order
};

}  // namespace gatehouse::config
