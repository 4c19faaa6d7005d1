#include "gatehouse/upstream/dns.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <spdlog/spdlog.h>

namespace gatehouse::upstream {

namespace asio = boost::asio;

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

address_list resolve_blocking(const config::host_port& endpoint, std::string& error) {
    address_list out;
    boost::system::error_code ec;
    if (auto addr = asio::ip::make_address(endpoint.host, ec); !ec) {
        out.emplace_back(addr, endpoint.port);
        return out;
    }
    asio::io_context ctx;
    asio::ip::tcp::resolver resolver(ctx);
    auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
    if (ec) {
        error = ec.message();
        return out;
    }
    for (const auto& entry : results) {
        out.push_back(entry.endpoint());
    }
    return out;
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
