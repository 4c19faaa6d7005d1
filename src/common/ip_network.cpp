#include "gatehouse/common/ip_network.hpp"

#include <charconv>

#include <boost/asio/ip/address.hpp>

#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::common {

namespace asio = boost::asio;

std::optional<ip_bytes> parse_address(std::string_view text) {
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
    }
    boost::system::error_code ec;
    auto address = asio::ip::make_address(std::string(text), ec);
    if (ec) {
        return std::nullopt;
    }
    if (address.is_v4()) {
        return asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()).to_bytes();
    }
    return address.to_v6().to_bytes();
}

bool network::contains(const ip_bytes& address) const {
    unsigned full = prefix / 8;
    for (unsigned i = 0; i < full; ++i) {
        if (address[i] != bytes[i]) {
            return false;
        }
    }
    unsigned rest = prefix % 8;
    if (rest == 0) {
        return true;
    }
    auto mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (address[full] & mask) == (bytes[full] & mask);
}

std::optional<network> parse_network(std::string_view text, std::string& error) {
    network n;
    n.text = text;
    auto slash = text.find('/');
    auto address_text = text.substr(0, slash);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(std::string(address_text), ec);
    if (ec) {
        error = "invalid address \"" + std::string(address_text) + "\"";
        return std::nullopt;
    }
    unsigned max = address.is_v4() ? 32 : 128;
    unsigned length = max;
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (err != std::errc{} || ptr != digits.data() + digits.size() || digits.empty() || length > max) {
            error = "invalid prefix length in \"" + std::string(text) + "\" (0 to " + std::to_string(max) + ")";
            return std::nullopt;
        }
    }
    n.bytes = *parse_address(address_text);
    n.prefix = address.is_v4() ? 96 + length : length;
    // Host bits set below the prefix usually mean a typo (10.1.2.3/8): refuse rather than guess.
    for (unsigned bit = n.prefix; bit < 128; ++bit) {
        if (n.bytes[bit / 8] & (0x80 >> (bit % 8))) {
            error = "\"" + std::string(text) + "\" has address bits set beyond its prefix length";
            return std::nullopt;
        }
    }
    return n;
}

bool in_any(const std::vector<network>& list, const ip_bytes& address) {
    for (const auto& n : list) {
        if (n.contains(address)) {
            return true;
        }
    }
    return false;
}

std::string_view client_behind_proxies(const std::vector<network>& trusted, std::string_view peer,
                                       std::string_view forwarded_for) {
    if (trusted.empty() || forwarded_for.empty()) {
        return peer;
    }
    auto peer_address = parse_address(peer);
    if (!peer_address || !in_any(trusted, *peer_address)) {
        return peer;
    }
    return client_from_forwarded_for(trusted, peer, forwarded_for);
}

std::string_view client_from_forwarded_for(const std::vector<network>& trusted, std::string_view peer,
                                           std::string_view forwarded_for) {
    // Right to left: each trusted hop appended the address it saw; the first one that is not a
    // trusted proxy is the client.
    std::string_view client = peer;
    std::string_view rest = forwarded_for;
    while (!rest.empty()) {
        auto comma = rest.rfind(',');
        auto item = http::trim_whitespace(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
        auto address = parse_address(item);
        if (!address) {
            break;
        }
        client = item;
        if (!in_any(trusted, *address)) {
            break;
        }
    }
    return client;
}

}  // namespace gatehouse::common
