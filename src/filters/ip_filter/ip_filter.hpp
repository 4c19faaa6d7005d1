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

#include "gatehouse/filters/factory.hpp"

namespace YAML {
class Node;
}
namespace gatehouse::config {
class reader;
}

namespace gatehouse::filters::ip_filter {

// One network: an address in 16 bytes (IPv4 as v4-mapped IPv6) and a prefix length.
struct network {
    std::array<unsigned char, 16> bytes{};
    unsigned prefix = 0;  // in bits, over the 128-bit form
    std::string text;     // as configured
    bool contains(const std::array<unsigned char, 16>& address) const;
};

// "10.0.0.0/8", "2001:db8::/32", or a single address. nullopt if invalid (error says why).
std::optional<network> parse_network(std::string_view text, std::string& error);
// An address in the 16-byte form, or nullopt.
std::optional<std::array<unsigned char, 16>> parse_address(std::string_view text);

struct settings {
    std::vector<network> allow;  // empty: everything not denied
    std::vector<network> deny;
    std::vector<network> trusted_proxies;
};

// The client address for a request from peer with this X-Forwarded-For (may be empty).
std::string effective_client(const settings& s, std::string_view peer, std::string_view forwarded_for);

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);

}  // namespace gatehouse::filters::ip_filter
