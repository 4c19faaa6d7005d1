#include "ip_filter.hpp"

#include <boost/asio/ip/address.hpp>
#include <charconv>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::ip_filter {

namespace asio = boost::asio;

std::optional<std::array<unsigned char, 16>> parse_address(std::string_view text) {
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

bool network::contains(const std::array<unsigned char, 16>& address) const {
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
    network exact = n;
    exact.prefix = 128;
    for (unsigned bit = n.prefix; bit < 128; ++bit) {
        if (n.bytes[bit / 8] & (0x80 >> (bit % 8))) {
            error = "\"" + std::string(text) + "\" has address bits set beyond its prefix length";
            return std::nullopt;
        }
    }
    return n;
}

namespace {

bool in_any(const std::vector<network>& list, const std::array<unsigned char, 16>& address) {
    for (const auto& n : list) {
        if (n.contains(address)) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::string effective_client(const settings& s, std::string_view peer, std::string_view forwarded_for) {
    auto peer_address = parse_address(peer);
    if (!peer_address || s.trusted_proxies.empty() || !in_any(s.trusted_proxies, *peer_address) || forwarded_for.empty()) {
        return std::string(peer);
    }
    // Right to left: each trusted hop appended the address it saw; the first one that is not a
    // trusted proxy is the client. A malformed entry ends the walk at the last good address.
    std::string client(peer);
    std::string_view rest = forwarded_for;
    while (!rest.empty()) {
        auto comma = rest.rfind(',');
        auto item = http::trim_whitespace(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
        auto address = parse_address(item);
        if (!address) {
            break;
        }
        client = std::string(item);
        if (!in_any(s.trusted_proxies, *address)) {
            break;
        }
    }
    return client;
}

namespace {

class ip_filter final : public filter {
public:
    explicit ip_filter(const settings& s) : settings_(s) {}

    filter_status on_request(request_context& ctx) override {
        if (!settings_.trusted_proxies.empty()) {
            // Every line: a client may send its own line first, and a trusted proxy appends
            // to the last one (or adds a line), so the first line alone is the client's word.
            std::pmr::string joined(ctx.request_id.get_allocator());
            auto forwarded = ctx.header_list("x-forwarded-for", joined);
            auto client = effective_client(settings_, ctx.client_ip, forwarded ? *forwarded : std::string_view());
            if (client != ctx.client_ip) {
                ctx.set_client_ip(client);
            }
        }
        auto address = parse_address(ctx.client_ip);
        if (!address) {
            return refuse(ctx, "ip_unknown", "the client address is not known");
        }
        if (in_any(settings_.deny, *address)) {
            return refuse(ctx, "ip_denied", "requests from this address are not allowed");
        }
        if (!settings_.allow.empty() && !in_any(settings_.allow, *address)) {
            return refuse(ctx, "ip_not_allowed", "requests from this address are not allowed");
        }
        return filter_status::proceed;
    }

private:
    static filter_status refuse(request_context& ctx, std::string_view reason, std::string message) {
        ctx.reply = http::local_reply{403, reason, std::move(message)};
        ctx.answer_reason = reason;
        return filter_status::respond;
    }

    const settings& settings_;
};

class ip_filter_factory final : public filter_factory {
public:
    explicit ip_filter_factory(settings s) : settings_(std::move(s)) {}
    std::unique_ptr<filter> create(worker_services&) const override { return std::make_unique<ip_filter>(settings_); }
    boost::json::object describe() const override {
        auto list = [](const std::vector<network>& l) {
            boost::json::array a;
            for (const auto& n : l) a.emplace_back(n.text);
            return a;
        };
        return {{"type", "ip_filter"},
                {"allow", list(settings_.allow)},
                {"deny", list(settings_.deny)},
                {"trusted_proxies", list(settings_.trusted_proxies)}};
    }

private:
    settings settings_;
};

}  // namespace

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, {"type", "allow", "deny", "trusted_proxies"})) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    auto read_list = [&](const char* key, std::vector<network>& out) {
        auto n = node[key];
        if (!n.IsDefined() || n.IsNull()) {
            return;
        }
        auto p = path + "." + key;
        for (auto& [item_node, text] : r.string_list(n, p)) {
            std::string error;
            if (auto net = parse_network(text, error)) {
                out.push_back(std::move(*net));
            } else {
                r.error(item_node, p, error);
            }
        }
    };
    read_list("allow", s.allow);
    read_list("deny", s.deny);
    read_list("trusted_proxies", s.trusted_proxies);
    if (s.allow.empty() && s.deny.empty() && r.errors.size() == before) {
        r.error(node, path, "set allow, deny or both");
    }
    if (r.errors.size() != before) {
        return nullptr;
    }
    return std::make_shared<ip_filter_factory>(std::move(s));
}

}  // namespace gatehouse::filters::ip_filter
