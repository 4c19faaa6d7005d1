#pragma once
// Blocking name resolution, for the control thread only (config load, DNS refresh, admin
// listener): workers never call it. Literal addresses are parsed without a lookup.
#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace gatehouse::common {

// True if host is an IPv4 or IPv6 literal (no lookup needed).
bool is_ip_literal(const std::string& host);

// The addresses of host:port now; on failure an empty list and error says why.
std::vector<boost::asio::ip::tcp::endpoint> resolve_blocking(const std::string& host, std::uint16_t port,
                                                             std::string& error);

}  // namespace gatehouse::common
