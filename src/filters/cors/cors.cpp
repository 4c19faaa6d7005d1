#include "cors.hpp"

#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::cors {

bool origin_pattern::matches(std::string_view origin) const {
    // "null" is what sandboxed iframes, file: pages and some redirects send: any page can make
    // its requests carry it, so no wildcard covers it (only an explicit "null" entry would).
    if (http::iequals(origin, "null")) {
        return !any && !wildcard && http::iequals(prefix, "null");
    }
    if (any) {
        return true;
    }
    if (!wildcard) {
        return http::iequals(origin, prefix);
    }
    if (origin.size() <= prefix.size() + suffix.size()) {
        return false;
    }
    auto head = origin.substr(0, prefix.size());
    auto tail = origin.substr(origin.size() - suffix.size());
    auto middle = origin.substr(prefix.size(), origin.size() - prefix.size() - suffix.size());
    // The "*" stands for host labels only: no scheme, port or path can hide in it.
    return http::iequals(head, prefix) && http::iequals(tail, suffix) &&
           middle.find_first_of("/:@?#") == std::string_view::npos && !middle.starts_with(".") &&
           !middle.ends_with(".");
}

std::optional<origin_pattern> parse_origin(std::string_view text, std::string& error) {
    origin_pattern p;
    p.text = text;
    if (text == "*") {
        p.any = true;
        return p;
    }
    auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos ||
        (text.substr(0, scheme_end) != "http" && text.substr(0, scheme_end) != "https")) {
        error =
            "an origin is scheme://host[:port], such as https://app.example.com (got \"" + std::string(text) + "\")";
        return std::nullopt;
    }
    auto host = text.substr(scheme_end + 3);
    if (host.empty() || host.find('/') != std::string_view::npos) {
        error = "an origin has no path (got \"" + std::string(text) + "\")";
        return std::nullopt;
    }
    auto star = text.find('*');
    if (star == std::string_view::npos) {
        p.prefix = text;
        return p;
    }
    if (star != scheme_end + 3 || text.size() < star + 3 || text[star + 1] != '.' ||
        text.find('*', star + 1) != std::string_view::npos) {
        error = "a wildcard origin looks like https://*.example.com (got \"" + std::string(text) + "\")";
        return std::nullopt;
    }
    p.wildcard = true;
    p.prefix = text.substr(0, star);
    p.suffix = text.substr(star + 1);
    return p;
}

bool settings::any_origin() const {
    return std::any_of(origins.begin(), origins.end(), [](const origin_pattern& o) { return o.any; });
}

namespace {

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) {
        if (!out.empty()) out += ", ";
        out += i;
    }
    return out;
}

class cors_filter final : public filter {
public:
    explicit cors_filter(const settings& s)
        : settings_(s), methods_(join(s.methods)), headers_(join(s.headers)), expose_(join(s.expose_headers)) {
        if (s.max_age) {
            max_age_ = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*s.max_age).count());
        }
        // With "*" and no credentials the answer is the same for every origin: no Vary needed.
        reflect_ = !s.any_origin() || s.credentials;
    }

    filter_status on_request(request_context& ctx) override {
        auto origin = ctx.header("origin");
        auto requested_method = ctx.header("access-control-request-method");
        if (ctx.method != "OPTIONS" || !origin || !requested_method) {
            return filter_status::proceed;  // an actual request: fields are added on the response
        }
        // A preflight: answered here, whatever the upstream would say.
        if (!allowed(*origin)) {
            return refuse(ctx, "origin_not_allowed", "origin " + std::string(*origin) + " is not allowed");
        }
        if (std::none_of(settings_.methods.begin(), settings_.methods.end(),
                         [&](const std::string& m) { return m == *requested_method; })) {
            return refuse(ctx, "method_not_allowed", "method " + std::string(*requested_method) + " is not allowed");
        }
        std::pmr::string joined(ctx.request_id.get_allocator());
        auto requested_headers = ctx.header_list("access-control-request-headers", joined);
        if (requested_headers && !settings_.headers.empty()) {
            bool ok = true;
            http::for_each_list_token(*requested_headers, [&](std::string_view h) {
                ok = ok && std::any_of(settings_.headers.begin(), settings_.headers.end(),
                                       [&](const std::string& a) { return http::iequals(a, h); });
            });
            if (!ok) {
                return refuse(ctx, "header_not_allowed", "a requested header is not allowed");
            }
        }
        ctx.reply = http::local_reply{204, "preflight", ""};
        auto& h = ctx.reply->headers;
        h.emplace_back("Access-Control-Allow-Origin", reflect_ ? std::string(*origin) : "*");
        h.emplace_back("Access-Control-Allow-Methods", methods_);
        if (!settings_.headers.empty()) {
            h.emplace_back("Access-Control-Allow-Headers", headers_);
        } else if (requested_headers && !requested_headers->empty()) {
            h.emplace_back("Access-Control-Allow-Headers", std::string(*requested_headers));
        }
        if (settings_.credentials) {
            h.emplace_back("Access-Control-Allow-Credentials", "true");
        }
        if (!max_age_.empty()) {
            h.emplace_back("Access-Control-Max-Age", max_age_);
        }
        h.emplace_back("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
        ctx.answer_reason = "preflight";
        return filter_status::respond;
    }

    void on_response(request_context& ctx, const response_view& /*response*/) override {
        if (ctx.reply && ctx.answer_reason == "preflight") {
            return;  // our own preflight answer carries its fields already
        }
        if (reflect_) {
            ctx.response_edits.add("Vary", "Origin");  // the answer depends on the Origin sent
        }
        // Worked out again from the request: a filter instance serves many requests at once.
        auto origin = ctx.header("origin");
        if (!origin || !allowed(*origin)) {
            return;
        }
        ctx.response_edits.set("Access-Control-Allow-Origin", reflect_ ? *origin : std::string_view("*"));
        if (settings_.credentials) {
            ctx.response_edits.set("Access-Control-Allow-Credentials", "true");
        }
        if (!expose_.empty()) {
            ctx.response_edits.set("Access-Control-Expose-Headers", expose_);
        }
    }

private:
    bool allowed(std::string_view origin) const {
        return std::any_of(settings_.origins.begin(), settings_.origins.end(),
                           [&](const origin_pattern& p) { return p.matches(origin); });
    }

    filter_status refuse(request_context& ctx, std::string_view reason, std::string message) {
        ctx.reply = http::local_reply{403, reason, std::move(message)};
        if (reflect_) {
            ctx.reply->headers.emplace_back("Vary", "Origin");
        }
        ctx.answer_reason = reason;
        return filter_status::respond;
    }

    const settings& settings_;
    std::string methods_;
    std::string headers_;
    std::string expose_;
    std::string max_age_;
    bool reflect_ = true;
};

class cors_factory final : public filter_factory {
public:
    explicit cors_factory(settings s) : settings_(std::move(s)) {}
    std::unique_ptr<filter> create(worker_services&) const override { return std::make_unique<cors_filter>(settings_); }
    bool runs_offline() const override { return true; }
    boost::json::object describe() const override {
        auto list = [](const std::vector<std::string>& l) {
            boost::json::array a;
            for (const auto& i : l) a.emplace_back(i);
            return a;
        };
        boost::json::array origins;
        for (const auto& o : settings_.origins) origins.emplace_back(o.text);
        boost::json::object o{{"type", "cors"},
                              {"allow_origins", std::move(origins)},
                              {"allow_methods", list(settings_.methods)},
                              {"allow_headers", list(settings_.headers)},
                              {"expose_headers", list(settings_.expose_headers)},
                              {"allow_credentials", settings_.credentials}};
        if (settings_.max_age) o["max_age_ms"] = settings_.max_age->count();
        return o;
    }

private:
    settings settings_;
};

}  // namespace

config::schema::ref schema() {
    namespace sc = config::schema;
    static const auto s =
        sc::object("filter_cors", "Answers CORS preflights and adds CORS fields to responses",
                   {{"type", sc::constant("cors"), {}, true},
                    {"allow_origins", sc::strings(), "exact origins, https://*.example.com wildcards, or *", true},
                    {"allow_methods", sc::strings(), "methods a preflight may ask for (default GET, HEAD, POST)"},
                    {"allow_headers", sc::strings(), "request headers a preflight may ask for (default: those asked)"},
                    {"expose_headers", sc::strings(), "response headers scripts may read"},
                    {"allow_credentials", sc::boolean(), "send Access-Control-Allow-Credentials: true (default false)"},
                    {"max_age", sc::duration(), "how long browsers may cache a preflight"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    if (auto n = node["allow_origins"]; !n.IsDefined()) {
        r.error(node, path + ".allow_origins", "missing required key \"allow_origins\"");
    } else {
        for (auto& [on, text] : r.string_list(n, path + ".allow_origins")) {
            std::string error;
            if (auto p = parse_origin(text, error)) {
                s.origins.push_back(std::move(*p));
            } else {
                r.error(on, path + ".allow_origins", error);
            }
        }
    }
    auto tokens = [&](const char* key, std::vector<std::string>& out, bool methods) {
        auto n = node[key];
        if (!n.IsDefined()) {
            return;
        }
        out.clear();
        for (auto& [tn, t] : r.string_list(n, path + "." + key)) {
            if (!http::valid_token(t)) {
                r.error(tn, path + "." + key,
                        std::string(methods ? "invalid method" : "invalid header name") + " \"" + t + "\"");
            } else {
                out.push_back(t);
            }
        }
    };
    tokens("allow_methods", s.methods, true);
    tokens("allow_headers", s.headers, false);
    tokens("expose_headers", s.expose_headers, false);
    r.optional_field(node, "allow_credentials", path, s.credentials,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    if (auto n = node["max_age"]; n.IsDefined()) {
        if (auto d = r.time(n, path + ".max_age", true)) s.max_age = *d;
    }
    if (s.credentials && s.any_origin()) {
        // The Fetch standard refuses "*" with credentials; reflecting every origin instead would
        // let any site read credentialed answers.
        r.error(node["allow_credentials"], path + ".allow_credentials",
                "allow_credentials: true cannot be combined with allow_origins \"*\": list the origins");
    }
    if (r.errors.size() != before) {
        return nullptr;
    }
    return std::make_shared<cors_factory>(std::move(s));
}

}  // namespace gatehouse::filters::cors
