#include "request_id.hpp"

#include <random>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/http/request_id.hpp"

namespace gatehouse::filters::request_id {

namespace {

bool lower_hex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool all_zero(std::string_view s) {
    return s.find_first_not_of('0') == std::string_view::npos;
}

void append_hex64(std::pmr::string& out, std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    for (int shift = 60; shift >= 0; shift -= 4) {
        out += digits[(v >> shift) & 0xf];
    }
}

class request_id_filter final : public filter {
public:
    request_id_filter(const settings& s, std::uint64_t seed) : settings_(s), random_(seed) {}

    filter_status on_request(request_context& ctx) override {
        const bool own_header = !http::iequals(settings_.header, "x-request-id");
        if (own_header) {
            auto incoming = ctx.header(settings_.header);
            if (settings_.trust_incoming && incoming && http::valid_request_id(*incoming)) {
                ctx.request_id = *incoming;
            } else {
                http::make_request_id(random_, ctx.request_id);
            }
            ctx.upstream_edits.set(settings_.header, ctx.request_id);
        } else if (!settings_.trust_incoming && ctx.header("x-request-id")) {
            http::make_request_id(random_, ctx.request_id);  // the client's id is not used
        }
        if (settings_.trace_context) {
            start_span(ctx);
        }
        return filter_status::proceed;
    }

    void on_response(request_context& ctx, const response_view&) override {
        if (settings_.response_header && !http::iequals(settings_.header, "x-request-id")) {
            ctx.response_edits.set(settings_.header, ctx.request_id);
        }
    }

private:
    void start_span(request_context& ctx) {
        std::string_view trace_id;
        std::string_view flags;
        auto incoming = ctx.header("traceparent");
        const bool continued = incoming && parse_traceparent(*incoming, trace_id, flags);
        ctx.trace_id.clear();
        if (continued) {
            ctx.trace_id = trace_id;
        } else {
            std::uint64_t high = random_.next();
            std::uint64_t low = random_.next() | 1;  // never all zeros
            append_hex64(ctx.trace_id, high);
            append_hex64(ctx.trace_id, low);
        }
        ctx.span_id.clear();
        append_hex64(ctx.span_id, random_.next() | 1);
        std::pmr::string value(ctx.span_id.get_allocator());
        value += "00-";
        value += ctx.trace_id;
        value += '-';
        value += ctx.span_id;
        value += '-';
        if (continued) {
            value += flags;
        } else {
            value += settings_.sample ? "01" : "00";
            // A tracestate belongs to the trace it came with; a new trace starts without one.
            ctx.upstream_edits.remove("tracestate");
        }
        ctx.upstream_edits.set("traceparent", value);
    }

    const settings& settings_;
    common::fast_random random_;
};

class request_id_factory final : public filter_factory {
public:
    explicit request_id_factory(settings s) : settings_(std::move(s)) {}

    std::unique_ptr<filter> create(worker_services& worker) const override {
        std::random_device rd;
        auto seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ worker.worker_id;
        return std::make_unique<request_id_filter>(settings_, seed);
    }

    bool runs_offline() const override { return true; }
    boost::json::object describe() const override {
        return {{"type", "request_id"},
                {"header", settings_.header},
                {"trust_incoming", settings_.trust_incoming},
                {"trace_context", settings_.trace_context},
                {"sample", settings_.sample},
                {"response_header", settings_.response_header}};
    }

private:
    settings settings_;
};

}  // namespace

bool parse_traceparent(std::string_view value, std::string_view& trace_id, std::string_view& flags) {
    // version "-" trace-id "-" parent-id "-" trace-flags; a later version may append fields.
    if (value.size() < 55 || value[2] != '-' || value[35] != '-' || value[52] != '-') {
        return false;
    }
    auto version = value.substr(0, 2);
    if (!lower_hex(version) || version == "ff" || (version == "00" && value.size() != 55) ||
        (value.size() > 55 && value[55] != '-')) {
        return false;
    }
    trace_id = value.substr(3, 32);
    auto parent = value.substr(36, 16);
    flags = value.substr(53, 2);
    return lower_hex(trace_id) && lower_hex(parent) && lower_hex(flags) && !all_zero(trace_id) && !all_zero(parent);
}

std::shared_ptr<const filter_factory> make_factory(settings s) {
    return std::make_shared<request_id_factory>(std::move(s));
}

config::schema::ref schema() {
    namespace sc = config::schema;
    static const auto s = sc::object(
        "filter_request_id", "Gives every request an id (and a trace context) sent upstream and logged",
        {{"type", sc::constant("request_id"), {}, true},
         {"header", sc::string(), "the field the id is read from and forwarded in (default X-Request-Id)"},
         {"trust_incoming", sc::boolean(), "keep a valid id sent by the client (default true)"},
         {"trace_context", sc::boolean(), "continue or start a W3C traceparent (default true)"},
         {"sample", sc::boolean(), "the sampled flag of traces the gateway starts (default true)"},
         {"response_header", sc::boolean(), "with a custom header, echo the id to the client (default true)"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    if (auto h = node["header"]; h.IsDefined()) {
        if (auto name = r.string(h, path + ".header")) {
            if (!http::valid_token(*name)) {
                r.error(h, path + ".header", "invalid header name \"" + *name + "\"");
            } else {
                s.header = *name;
            }
        }
    }
    auto flag = [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); };
    r.optional_field(node, "trust_incoming", path, s.trust_incoming, flag);
    r.optional_field(node, "trace_context", path, s.trace_context, flag);
    r.optional_field(node, "sample", path, s.sample, flag);
    r.optional_field(node, "response_header", path, s.response_header, flag);
    if (r.errors.size() != before) {
        return nullptr;
    }
    return make_factory(std::move(s));
}

}  // namespace gatehouse::filters::request_id
