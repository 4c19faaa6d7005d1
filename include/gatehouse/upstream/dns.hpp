#pragma once
// Name resolution for upstream endpoints. Runs on the control thread only: workers never
// block on DNS; they receive new address lists by message.
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "gatehouse/config/config.hpp"
#include "gatehouse/upstream/cluster.hpp"

namespace gatehouse::upstream {

// Resolves one endpoint now (blocking, common/resolve.hpp). On failure an empty list and error.
address_list resolve_blocking(const config::host_port& endpoint, std::string& error);

// Resolves every endpoint of every upstream, logging failures (they are retried on refresh).
resolved_addresses resolve_all(const config::gateway_config& config);

}  // namespace gatehouse::upstream
