#include "gatehouse/config/units.hpp"

#include <charconv>
#include <limits>

namespace gatehouse::config {

namespace {

// Reads a non-negative decimal integer prefix; advances text.
std::optional<std::uint64_t> take_number(std::string_view& text) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr == text.data()) {
        return std::nullopt;
    }
    text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
    return value;
}

bool multiply(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
        return false;
    }
    out = a * b;
    return true;
}

}  // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
    auto number = take_number(text);
    if (!number) {
        return std::nullopt;
    }
    struct unit {
        std::string_view suffix;
        std::uint64_t factor;
    };
    static constexpr unit units[] = {
        {"", 1},
        {"B", 1},
        {"KB", 1000},
        {"MB", 1000 * 1000},
        {"GB", 1000 * 1000 * 1000},
        {"KiB", 1024},
        {"MiB", 1024 * 1024},
        {"GiB", 1024ull * 1024 * 1024},
    };
    for (const auto& u : units) {
        if (text == u.suffix) {
            std::uint64_t out = 0;
            if (!multiply(*number, u.factor, out)) {
                return std::nullopt;
            }
            return out;
        }
    }
    return std::nullopt;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    std::uint64_t total_ms = 0;
    while (!text.empty()) {
        auto number = take_number(text);
        if (!number) {
            return std::nullopt;
        }
        std::uint64_t factor = 0;
        if (text.starts_with("ms")) {
            factor = 1;
            text.remove_prefix(2);
        } else if (text.starts_with("s")) {
            factor = 1000;
            text.remove_prefix(1);
        } else if (text.starts_with("m")) {
            factor = 60 * 1000;
            text.remove_prefix(1);
        } else if (text.starts_with("h")) {
            factor = 3600 * 1000;
            text.remove_prefix(1);
        } else {
            return std::nullopt;  // a unit is required: "30" is ambiguous
        }
        std::uint64_t part = 0;
        if (!multiply(*number, factor, part) || total_ms + part < total_ms) {
            return std::nullopt;
        }
        total_ms += part;
    }
    if (total_ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 1000)) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
}

std::optional<parsed_host_port> parse_host_port(std::string_view text, bool allow_port_zero) {
    std::string_view host;
    std::string_view port_text;
    if (text.starts_with("[")) {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
        if (host.empty()) {
            return std::nullopt;
        }
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return std::nullopt;  // IPv6 needs brackets
        }
    }
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                  c == ':' || c == '_';
        if (!ok) {
            return std::nullopt;
        }
    }
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port > 65535 ||
        (port == 0 && !allow_port_zero)) {
        return std::nullopt;
    }
    return parsed_host_port{std::string(host.empty() ? "0.0.0.0" : host), static_cast<std::uint16_t>(port)};
}

}  // namespace gatehouse::config
