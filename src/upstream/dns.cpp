#include "gatehouse/upstream/dns.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <spdlog/spdlog.h>

#include "gatehouse/common/resolve.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;

address_list resolve_blocking(const config::host_port& endpoint, std::string& error) {
    return common::resolve_blocking(endpoint.host, endpoint.port, error);
}

resolved_addresses resolve_all(const config::gateway_config& config) {
    resolved_addresses all(config.upstreams.size());
    for (std::size_t c = 0; c < config.upstreams.size(); ++c) {
        const auto& up = config.upstreams[c];
        for (const auto& ep : up.endpoints) {
            std::string error;
            auto list = resolve_blocking(ep, error);
            if (list.empty()) {
                spdlog::warn("upstream {}: cannot resolve {}:{}: {} (retrying every second until it does)", up.name,
                             ep.host, ep.port, error);
            }
            all[c].push_back(std::move(list));
        }
    }
    return all;
}

}  // namespace gatehouse::upstream
