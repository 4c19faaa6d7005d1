#pragma once
// IPv4/IPv6 addresses and networks (CIDR), and the walk that finds a client behind trusted
// proxies. Shared by the server (server.trusted_proxies) and ip_filter.
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::common {

// An address in 16 bytes: IPv4 as v4-mapped IPv6, so one comparison serves both.
using ip_bytes = std::array<unsigned char, 16>;

// One network: an address and a prefix length over the 128-bit form.
struct network {
    ip_bytes bytes{};
    unsigned prefix = 0;
    std::string text;  // as configured
    bool contains(const ip_bytes& address) const;
};

// "10.0.0.0/8", "2001:db8::/32", or a single address. nullopt if invalid (error says why).
std::optional<network> parse_network(std::string_view text, std::string& error);
// An address ("[v6]" allowed) in the 16-byte form, or nullopt.
std::optional<ip_bytes> parse_address(std::string_view text);

bool in_any(const std::vector<network>& list, const ip_bytes& address);

// The client of a request that came from peer with this X-Forwarded-For list (all lines
// joined; may be empty): when peer is in trusted, the right-most listed address that is not
// itself trusted (NGINX's real_ip_recursive); a malformed entry ends the walk at the last good
// address. Otherwise peer.
std::string_view client_behind_proxies(const std::vector<network>& trusted, std::string_view peer,
                                       std::string_view forwarded_for);

// The same walk for a peer already known to be in trusted (the server checks its peer once per
// connection address, without parsing it again).
std::string_view client_from_forwarded_for(const std::vector<network>& trusted, std::string_view peer,
                                           std::string_view forwarded_for);

}  // namespace gatehouse::common
