#pragma once
// ip_filter: allow and deny lists of networks (IPv4 and IPv6 CIDR). The client address is the
// socket's peer, or, only when that peer is one of `trusted_proxies`, the right-most address of
// X-Forwarded-For that is not itself a trusted proxy (NGINX's real_ip_recursive). The address
// found becomes the client address later filters and the access log see.
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/common/ip_network.hpp"
#include "gatehouse/config/schema.hpp"
#include "gatehouse/filters/factory.hpp"

namespace YAML {
class Node;
}
namespace gatehouse::config {
class reader;
}

namespace gatehouse::filters::ip_filter {

using common::network;
using common::parse_address;
using common::parse_network;

struct settings {
    std::vector<network> allow;  // empty: everything not denied
    std::vector<network> deny;
    std::vector<network> trusted_proxies;
};

// The client address for a request from peer with this X-Forwarded-For (may be empty).
std::string effective_client(const settings& s, std::string_view peer, std::string_view forwarded_for);

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();

}  // namespace gatehouse::filters::ip_filter
