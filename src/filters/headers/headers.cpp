#include "headers.hpp"

#include <charconv>

#include "gatehouse/common/peer_certificate.hpp"
#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::headers {

std::optional<value_template> value_template::compile(std::string_view text, bool response_side, std::string& error) {
    value_template t;
    t.source_ = text;
    std::string literal;
    auto flush = [&] {
        if (!literal.empty()) {
            t.parts_.push_back({kind::literal, literal});
            literal.clear();
        }
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c != '%') {
            literal += c;
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '%') {
            literal += '%';
            ++i;
            continue;
        }
        if (i + 1 >= text.size() || text[i + 1] != '{') {
            error = "a \"%\" must start %{variable} (write %% for a literal %)";
            return std::nullopt;
        }
        auto close = text.find('}', i + 2);
        if (close == std::string_view::npos) {
            error = "unterminated %{ in value";
            return std::nullopt;
        }
        auto name = text.substr(i + 2, close - i - 2);
        flush();
        static const std::pair<std::string_view, kind> names[] = {
            {"client_ip", kind::client_ip},
            {"client_port", kind::client_port},
            {"method", kind::method},
            {"path", kind::path},
            {"host", kind::host},
            {"scheme", kind::scheme},
            {"request_id", kind::request_id},
            {"trace_id", kind::trace_id},
            {"route", kind::route},
            {"consumer", kind::consumer},
            {"tls_client_subject", kind::tls_client_subject},
            {"tls_client_san", kind::tls_client_san},
            {"tls_client_fingerprint", kind::tls_client_fingerprint},
            {"status", kind::status}};
        bool found = false;
        for (auto [n, k] : names) {
            if (n == name) {
                if (k == kind::status && !response_side) {
                    error = "%{status} is only known on the response side";
                    return std::nullopt;
                }
                t.parts_.push_back({k, {}});
                found = true;
            }
        }
        if (!found && name.starts_with("header.") && http::valid_token(name.substr(7))) {
            t.parts_.push_back({kind::header, std::string(name.substr(7))});
            found = true;
        }
        if (!found) {
            error = "unknown variable %{" + std::string(name) +
                    "} (client_ip, client_port, method, path, host, scheme, request_id, trace_id, route, consumer, "
                    "tls_client_subject, tls_client_san, tls_client_fingerprint, header.NAME, status)";
            return std::nullopt;
        }
        i = close;
    }
    flush();
    return t;
}

void value_template::render(const request_context& ctx, unsigned status, std::pmr::string& out) const {
    char number[16];
    for (const auto& p : parts_) {
        switch (p.what) {
            case kind::literal:
                out += p.text;
                break;
            case kind::client_ip:
                out += ctx.client_ip;
                break;
            case kind::client_port: {
                auto end = std::to_chars(number, number + sizeof number, ctx.client_port).ptr;
                out.append(number, end);
                break;
            }
            case kind::method:
                out += ctx.method;
                break;
            case kind::path:
                out += ctx.path;
                break;
            case kind::host:
                out += ctx.host;
                break;
            case kind::scheme:
                out += ctx.scheme;
                break;
            case kind::request_id:
                out += ctx.request_id;
                break;
            case kind::trace_id:
                out += ctx.trace_id;
                break;
            case kind::route:
                out += ctx.route_name;
                break;
            case kind::consumer:
                out += ctx.consumer;
                break;
            case kind::tls_client_subject:
                if (ctx.client_certificate) out += ctx.client_certificate->subject;
                break;
            case kind::tls_client_san:
                if (ctx.client_certificate) out += ctx.client_certificate->sans_text;
                break;
            case kind::tls_client_fingerprint:
                if (ctx.client_certificate) out += ctx.client_certificate->fingerprint;
                break;
            case kind::header:
                if (auto v = ctx.header(p.text)) {
                    out += *v;
                }
                break;
            case kind::status: {
                auto end = std::to_chars(number, number + sizeof number, status).ptr;
                out.append(number, end);
                break;
            }
        }
    }
}

namespace {

void apply(const edit_list& list, request_context& ctx, unsigned status, head_edits& target) {
    std::pmr::string value(ctx.request_id.get_allocator());
    for (const auto& name : list.remove) {
        target.remove(name);
    }
    for (const auto& [name, tmpl] : list.set) {
        value.clear();
        tmpl.render(ctx, status, value);
        if (value.empty()) {
            target.remove(name);  // nothing to say: the field is left out, as NGINX does
        } else {
            target.set(name, value);
        }
    }
    for (const auto& [name, tmpl] : list.add) {
        value.clear();
        tmpl.render(ctx, status, value);
        if (!value.empty()) {
            target.add(name, value);
        }
    }
}

class headers_filter final : public filter {
public:
    explicit headers_filter(const settings& s) : settings_(s) {}

    filter_status on_request(request_context& ctx) override {
        apply(settings_.request, ctx, 0, ctx.upstream_edits);
        return filter_status::proceed;
    }

    void on_response(request_context& ctx, const response_view& response) override {
        apply(settings_.response, ctx, response.status, ctx.response_edits);
    }

private:
    const settings& settings_;
};

boost::json::object describe_list(const edit_list& list) {
    boost::json::object set;
    boost::json::object add;
    boost::json::array remove;
    for (const auto& [name, t] : list.set) set[name] = t.source();
    for (const auto& [name, t] : list.add) add[name] = t.source();
    for (const auto& name : list.remove) remove.emplace_back(name);
    return {{"set", std::move(set)}, {"add", std::move(add)}, {"remove", std::move(remove)}};
}

class headers_factory final : public filter_factory {
public:
    explicit headers_factory(settings s) : settings_(std::move(s)) {}
    std::unique_ptr<filter> create(worker_services&) const override {
        return std::make_unique<headers_filter>(settings_);
    }
    bool runs_offline() const override { return true; }
    boost::json::object describe() const override {
        return {{"type", "headers"},
                {"request", describe_list(settings_.request)},
                {"response", describe_list(settings_.response)}};
    }

private:
    settings settings_;
};

// Hop-by-hop and framing fields belong to the gateway: a filter must not forge them.
bool protected_field(std::string_view name) {
    for (std::string_view p : {"connection", "content-length", "transfer-encoding", "keep-alive", "upgrade", "te",
                               "trailer", "proxy-connection", "host"}) {
        if (http::iequals(name, p)) {
            return true;
        }
    }
    return false;
}

// The shared set/add/remove reader, then what only this filter adds: values are templates,
// and the gateway's own framing fields are off limits.
void read_list(config::reader& r, const YAML::Node& node, const std::string& path, bool response_side, edit_list& out) {
    config::header_edits plain;
    config::read_header_edits(r, node, path, plain);
    auto compile = [&](const char* key, const std::vector<std::pair<std::string, std::string>>& from,
                       std::vector<std::pair<std::string, value_template>>& to) {
        auto p = config::reader::join(path, key);
        for (const auto& [name, value] : from) {
            auto item_path = config::reader::join(p, name);
            if (protected_field(name)) {
                r.error(node[key][name], item_path, "\"" + name + "\" is managed by the gateway and cannot be edited");
                continue;
            }
            std::string why;
            if (auto t = value_template::compile(value, response_side, why)) {
                to.emplace_back(name, std::move(*t));
            } else {
                r.error(node[key][name], item_path, why);
            }
        }
    };
    compile("set", plain.set, out.set);
    compile("add", plain.add, out.add);
    for (const auto& name : plain.remove) {
        if (protected_field(name)) {
            r.error(node["remove"], config::reader::join(path, "remove"),
                    "\"" + name + "\" is managed by the gateway and cannot be edited");
        } else {
            out.remove.push_back(name);
        }
    }
}

}  // namespace

config::schema::ref schema() {
    namespace sc = config::schema;
    static const auto s = sc::object("filter_headers", "Edits header fields; values may hold %{variables}",
                                     {{"type", sc::constant("headers"), {}, true},
                                      {"request", config::header_edits_schema(), "edits to the request sent upstream"},
                                      {"response", config::header_edits_schema(), "edits to the response sent back"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    if (auto n = node["request"]; n.IsDefined() && !n.IsNull()) {
        read_list(r, n, path + ".request", false, s.request);
    }
    if (auto n = node["response"]; n.IsDefined() && !n.IsNull()) {
        read_list(r, n, path + ".response", true, s.response);
    }
    if (r.errors.size() != before) {
        return nullptr;
    }
    return std::make_shared<headers_factory>(std::move(s));
}

}  // namespace gatehouse::filters::headers
