#pragma once
// Parsing of human-friendly sizes ("8MiB") and durations ("1m30s") used throughout the config.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::config {

// Bytes from "512", "64KiB", "8MiB", "1GiB" (binary) or "10KB", "5MB" (decimal). nullopt if invalid.
std::optional<std::uint64_t> parse_size(std::string_view text);

// Milliseconds from a sequence of number+unit: "250ms", "10s", "1m30s", "2h". A unit is required.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// "host:port", "[v6]:port" or ":port" (all interfaces). nullopt if invalid.
struct parsed_host_port {
    std::string host;
    std::uint16_t port;
};
std::optional<parsed_host_port> parse_host_port(std::string_view text, bool allow_port_zero);

}  // namespace gatehouse::config
