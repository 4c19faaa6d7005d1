#include "ip_filter.hpp"

#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::ip_filter {

std::string effective_client(const settings& s, std::string_view peer, std::string_view forwarded_for) {
    return std::string(common::client_behind_proxies(s.trusted_proxies, peer, forwarded_for));
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
            auto client = common::client_behind_proxies(settings_.trusted_proxies, ctx.client_ip,
                                                        forwarded ? *forwarded : std::string_view());
            if (client != ctx.client_ip) {
                ctx.set_client_ip(client);
            }
        }
        auto address = parse_address(ctx.client_ip);
        if (!address) {
            return refuse(ctx, "ip_unknown", "the client address is not known");
        }
        if (common::in_any(settings_.deny, *address)) {
            return refuse(ctx, "ip_denied", "requests from this address are not allowed");
        }
        if (!settings_.allow.empty() && !common::in_any(settings_.allow, *address)) {
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
    bool runs_offline() const override { return true; }
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

config::schema::ref schema() {
    namespace sc = config::schema;
    static const auto s = sc::object("filter_ip_filter", "Allows or denies client addresses",
                                     {{"type", sc::constant("ip_filter"), {}, true},
                                      {"allow", sc::strings(), "networks allowed; every other address gets 403"},
                                      {"deny", sc::strings(), "networks refused with 403; checked before allow"},
                                      {"trusted_proxies", sc::strings(), "peers whose X-Forwarded-For is believed"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) {
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
