#include "gatehouse/server/explain.hpp"

#include <algorithm>
#include <memory_resource>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "gatehouse/admin/config_json.hpp"
#include "gatehouse/common/ip_network.hpp"
#include "gatehouse/common/random.hpp"
#include "gatehouse/config/aggregate.hpp"
#include "gatehouse/config/env.hpp"
#include "gatehouse/filters/factory.hpp"
#include "gatehouse/http/check_request.hpp"
#include "gatehouse/http/request_id.hpp"
#include "gatehouse/server/client_connection.hpp"
#include "request_state.hpp"
#include "upstream_head.hpp"

namespace gatehouse::server {

namespace json = boost::json;

namespace {

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return std::string(s);
}

std::string duration_text(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
    return std::to_string(d.count()) + "ms";
}

// --- routing: each rule of a route on its own, in words --------------------------------------

struct rule_result {
    bool ok = true;
    std::string rule;    // host, path, method, header
    std::string detail;  // what matched, or why not
};

bool host_matches(std::string_view pattern, std::string_view host) {
    if (pattern == "*") return true;
    if (pattern.starts_with("*.")) {
        auto suffix = pattern.substr(1);  // ".example.com": at least one label before it
        return host.size() > suffix.size() && host.ends_with(suffix);
    }
    return pattern == host;
}

// Segment-wise match of a {param} template; params get the captured values.
bool template_matches(std::string_view pattern, std::string_view path, json::object& params) {
    auto split = [](std::string_view s) {
        std::vector<std::string_view> out;
        s.remove_prefix(1);
        for (;;) {
            auto slash = s.find('/');
            out.push_back(s.substr(0, slash));
            if (slash == std::string_view::npos) break;
            s.remove_prefix(slash + 1);
        }
        return out;
    };
    if (!path.starts_with("/")) return false;
    auto p = split(pattern);
    auto r = split(path);
    if (p.size() != r.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i].starts_with("{")) {
            if (r[i].empty()) return false;
            params[p[i].substr(1, p[i].size() - 2)] = r[i];
        } else if (p[i] != r[i]) {
            return false;
        }
    }
    return true;
}

std::vector<rule_result> check_route(const config::route_config& route, std::string_view method, std::string_view host,
                                     std::string_view path, const router::header_source& headers,
                                     json::object& params) {
    std::vector<rule_result> out;
    const auto& m = route.match;
    if (m.hosts.empty()) {
        out.push_back({true, "host", "any host"});
    } else {
        auto it =
            std::find_if(m.hosts.begin(), m.hosts.end(), [&](const std::string& h) { return host_matches(h, host); });
        std::string all;
        for (const auto& h : m.hosts) all += (all.empty() ? "" : ", ") + h;
        if (it != m.hosts.end()) {
            out.push_back({true, "host", "\"" + std::string(host) + "\" matches " + *it});
        } else {
            out.push_back({false, "host", "\"" + std::string(host) + "\" is none of " + all});
        }
    }
    switch (m.path_kind) {
        case config::path_match_kind::exact:
            out.push_back(
                {path == m.path, "path", path == m.path ? "is exactly " + m.path : "is not exactly " + m.path});
            break;
        case config::path_match_kind::prefix: {
            bool ok = path.starts_with(m.path);
            out.push_back({ok, "path", ok ? "starts with " + m.path : "does not start with " + m.path});
            break;
        }
        case config::path_match_kind::templated: {
            bool ok = template_matches(m.path, path, params);
            out.push_back({ok, "path", (ok ? "matches template " : "does not match template ") + m.path});
            break;
        }
    }
    if (!m.methods.empty()) {
        std::string all;
        for (const auto& x : m.methods) all += (all.empty() ? "" : ", ") + x;
        bool ok = std::find(m.methods.begin(), m.methods.end(), method) != m.methods.end();
        out.push_back({ok, "method", std::string(method) + (ok ? " is one of " : " is none of ") + all});
    }
    for (const auto& h : m.headers) {
        auto value = headers.find(h.name);
        bool ok = value && (!h.value || *value == *h.value);
        std::string detail = h.name + (h.value ? ": " + *h.value : std::string(" present"));
        out.push_back({ok, "header", ok ? detail : "needs " + detail});
    }
    return out;
}

json::object routing(const config::gateway_config& config, const router::route_table& routes,
                     const router::route* chosen, std::string_view method, std::string_view host, std::string_view path,
                     const router::header_source& headers) {
    json::array tried;
    for (const auto& r : routes.routes()) {
        json::object params;
        auto rules = check_route(r.config, method, host, path, headers, params);
        bool matched = std::all_of(rules.begin(), rules.end(), [](const rule_result& x) { return x.ok; });
        json::array why;
        for (const auto& x : rules) why.push_back(json::object{{"rule", x.rule}, {"ok", x.ok}, {"detail", x.detail}});
        json::object entry{{"route", r.config.name}, {"matches", matched}, {"rules", std::move(why)}};
        if (&r == chosen) {
            entry["chosen"] = true;
            if (!params.empty()) entry["params"] = std::move(params);
        } else if (matched && chosen) {
            entry["note"] = "matches too, but " + chosen->config.name +
                            " is more specific (exact host, then wildcard, then any; exact path, then template, then "
                            "the longest prefix; then config order)";
        }
        tried.push_back(std::move(entry));
    }
    json::object out{{"tried", std::move(tried)}};
    if (chosen) {
        out["route"] = chosen->config.name;
    }
    (void)config;
    return out;
}

// --- filters: run those that can run offline, describe the others -----------------------------

json::object reply_json(const http::local_reply& reply) {
    return {{"status", reply.status}, {"error", reply.error}, {"message", reply.message}};
}

struct chain_outcome {
    json::array steps;
    std::optional<http::local_reply> answer;
};

chain_outcome run_filters(const config::gateway_config& config, const std::vector<std::size_t>& chain,
                          filters::request_context& ctx, std::vector<std::unique_ptr<filters::filter>>& instances) {
    chain_outcome out;
    boost::asio::io_context io;
    filters::worker_services services{io, 0, nullptr};
    for (auto index : chain) {
        const auto& instance = config.filters[index];
        json::object step{{"filter", instance.name}, {"type", instance.type}};
        if (out.answer) {
            step["decision"] = "not reached";
        } else if (!instance.factory || !instance.factory->runs_offline()) {
            step["decision"] = "at request time";
            step["note"] = instance.factory ? instance.factory->offline_note() : std::string("not loaded");
        } else {
            auto filter = instance.factory->create(services);
            const auto consumer_before = std::string(ctx.consumer);
            auto status = filter->is_async() ? filters::filter_status::suspend : filter->on_request(ctx);
            if (status == filters::filter_status::respond && ctx.reply) {
                step["decision"] = "answers";
                step["reply"] = reply_json(*ctx.reply);
                out.answer = ctx.reply;
            } else if (status == filters::filter_status::suspend) {
                step["decision"] = "at request time";
                step["note"] = "waits for I/O (decided when the request runs)";
            } else {
                step["decision"] = "passes";
                if (std::string_view(ctx.consumer) != consumer_before) step["consumer"] = std::string(ctx.consumer);
                instances.push_back(std::move(filter));
            }
        }
        out.steps.push_back(std::move(step));
    }
    return out;
}

// --- the upstream ------------------------------------------------------------------------------

// The head's lines; credentials (Authorization, Cookie, *token*, *key*, ...) are shown as on
// /config: "<redacted>", whoever wrote them (the route's edits or the described request).
json::array head_lines(std::string_view head) {
    json::array lines;
    bool first = true;
    while (!head.empty()) {
        auto end = head.find("\r\n");
        if (end == 0 || end == std::string_view::npos) break;
        auto line = head.substr(0, end);
        auto colon = line.find(':');
        if (!first && colon != std::string_view::npos && admin::sensitive_header(line.substr(0, colon))) {
            lines.emplace_back(std::string(line.substr(0, colon)) + ": <redacted>");
        } else {
            lines.emplace_back(line);
        }
        first = false;
        head.remove_prefix(end + 2);
    }
    return lines;
}

json::object upstream_json(const config::upstream_config& up, std::chrono::milliseconds timeout) {
    json::array endpoints;
    for (const auto& e : up.endpoints) endpoints.emplace_back(e.label());
    static constexpr std::string_view policies[] = {"round_robin", "least_request", "random", "ip_hash"};
    json::object o{{"name", up.name},
                   {"endpoints", std::move(endpoints)},
                   {"load_balancing", policies[static_cast<std::size_t>(up.load_balancing)]},
                   {"tls", up.tls != nullptr},
                   {"timeout", duration_text(timeout)},
                   {"connect_timeout", duration_text(up.connect_timeout)}};
    if (up.retry) o["retry_attempts"] = up.retry->attempts;
    if (up.health_check) o["health_check"] = up.health_check->path;
    return o;
}

}  // namespace

std::optional<explain_input> parse_explain_line(std::string_view line, std::string& error) {
    auto text = trim(line);
    explain_input in;
    auto space = text.find(' ');
    std::string target = text;
    if (space != std::string::npos) {
        in.method = text.substr(0, space);
        target = trim(std::string_view(text).substr(space + 1));
    }
    if (target.empty() || !http::valid_token(in.method)) {
        error = "expected a method and a target, such as 'GET https://api.example.com/users/42'";
        return std::nullopt;
    }
    if (!target.starts_with("/") && !target.starts_with("http://") && !target.starts_with("https://") &&
        target != "*") {
        error = "the target must be a URL (http:// or https://) or a path starting with /";
        return std::nullopt;
    }
    in.target = target;
    return in;
}

bool parse_explain_header(std::string_view text, std::pair<std::string, std::string>& out) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    out.first = trim(text.substr(0, colon));
    out.second = trim(text.substr(colon + 1));
    return http::valid_token(out.first) && http::valid_field_value(out.second);
}

json::object explain(const config::gateway_config& config, const router::route_table& routes,
                     const explain_input& input) {
    std::pmr::monotonic_buffer_resource arena;
    std::pmr::polymorphic_allocator<char> alloc(&arena);
    json::object result;
    result["request"] =
        json::object{{"method", input.method}, {"target", input.target}, {"client_ip", input.client_ip}};

    http::request_head req{std::piecewise_construct, std::make_tuple(), std::make_tuple(alloc)};
    std::string scheme = "http";
    std::string target = input.target;
    if (target.starts_with("https://")) {
        scheme = "https";
        target = "http://" + target.substr(8);  // absolute form: check_request takes the authority
    }
    req.method_string(input.method);
    req.target(target);
    req.version(11);
    bool has_host = false;
    for (const auto& [name, value] : input.headers) {
        req.insert(name, value);
        has_host = has_host || http::iequals(name, "host");
    }
    if (!has_host && target.starts_with("http://")) {
        auto authority = std::string_view(target).substr(7);
        authority = authority.substr(0, authority.find_first_of("/?#"));
        req.set(boost::beast::http::field::host, authority);
    }

    http::request_facts facts(alloc);
    const auto& server = config.server;
    const http::request_rules rules{server.limits.max_header_count, server.headers_with_underscores, server.paths};
    if (auto refusal = http::check_request(req, true, rules, facts)) {
        result["checks"] = json::object{{"ok", false}, {"reply", reply_json(*refusal)}};
        result["outcome"] = json::object{{"answered_by", "request checks"}, {"reply", reply_json(*refusal)}};
        return result;
    }
    json::object checks{{"ok", true}, {"host", facts.host}, {"path", facts.path}, {"target", facts.target}};
    if (facts.websocket) checks["websocket"] = true;
    result["checks"] = std::move(checks);

    fields_lookup lookup(req);
    const auto* route = routes.match({req.method_string(), facts.host, facts.path, &lookup});
    result["routing"] = routing(config, routes, route, req.method_string(), facts.host, facts.path, lookup);
    if (!route) {
        http::local_reply reply{404, "route_not_found",
                                "no route for " + std::string(req.method_string()) + " " + std::string(facts.path)};
        result["outcome"] = json::object{{"answered_by", "routing"}, {"reply", reply_json(reply)}};
        return result;
    }
    const auto& rc = route->config;
    if (facts.websocket && !rc.websocket) {
        http::local_reply reply{403, "websocket_not_allowed",
                                "route " + rc.name + " does not accept WebSocket upgrades"};
        result["outcome"] = json::object{{"answered_by", "routing"}, {"reply", reply_json(reply)}};
        return result;
    }

    // What the server sets before the first filter (connection.cpp: describe_request).
    filters::request_context ctx(alloc);
    ctx.method = req.method_string();
    ctx.target = facts.target;
    ctx.path = facts.path;
    ctx.host = facts.host;
    ctx.scheme = scheme;
    ctx.version = facts.version;
    ctx.route_name = rc.name;
    ctx.headers = &lookup;
    ctx.client_ip = input.client_ip;
    bool from_trusted_proxy = false;
    if (auto peer = common::parse_address(input.client_ip);
        peer && !server.trusted_proxies.empty() && common::in_any(server.trusted_proxies, *peer)) {
        from_trusted_proxy = true;
        std::pmr::string joined(alloc);
        if (auto xff = lookup.get_list("x-forwarded-for", joined)) {
            auto client = common::client_from_forwarded_for(server.trusted_proxies, input.client_ip, *xff);
            if (client != input.client_ip) ctx.set_client_ip(client);
        }
    }
    if (auto it = req.find("x-request-id"); it != req.end() && http::valid_request_id(it->value())) {
        ctx.request_id = it->value();
    } else {
        common::fast_random rng(42);
        http::make_request_id(rng, ctx.request_id);
    }

    std::vector<std::unique_ptr<filters::filter>> instances;
    auto chain = run_filters(config, rc.filters, ctx, instances);
    result["filters"] = std::move(chain.steps);
    if (chain.answer) {
        result["outcome"] = json::object{{"answered_by", "filters"}, {"reply", reply_json(*chain.answer)}};
        return result;
    }

    if (rc.aggregate) {
        json::array backends;
        for (const auto& b : rc.aggregate->backends) {
            backends.push_back(json::object{
                {"name", b.name}, {"upstream", b.upstream}, {"method", b.method}, {"required", b.required}});
        }
        result["aggregate"] = json::object{{"backends", std::move(backends)}};
        result["outcome"] = json::object{{"answered_by", "aggregate"}};
        return result;
    }

    const auto& up = config.upstreams[route->upstream_index];
    const auto endpoint = up.endpoints.empty() ? std::string() : up.endpoints.front().label();
    for (auto& f : instances) f->on_upstream_request(ctx, endpoint);
    const upstream_head_input head_in{
        .method = ctx.method,
        .target = ctx.upstream_target ? std::string_view(*ctx.upstream_target) : std::string_view(facts.target),
        .fields = req,
        .route = rc,
        .filter_edits = ctx.upstream_edits,
        .identity_fields = config.identity_fields,
        .client_ip = ctx.client_ip,
        .scheme = scheme,
        .forwarded_host = facts.forwarded_host,
        .request_id = ctx.request_id,
        .client_certificate = {},
        .from_trusted_proxy = from_trusted_proxy,
        .drop_underscore_fields = facts.drop_underscore_fields,
        .websocket = facts.websocket,
        .framing = facts.framing,
        .content_length = facts.content_length,
        .max_forwards = facts.max_forwards,
    };
    std::pmr::string head(alloc);
    write_upstream_request_head(head_in, endpoint, head);
    auto cluster = upstream_json(up, rc.timeout.value_or(server.timeouts.request));
    cluster["request"] = head_lines(head);
    cluster["endpoint_shown"] = endpoint;
    result["upstream"] = std::move(cluster);
    result["outcome"] = json::object{{"answered_by", "upstream"}};
    return result;
}

std::string redact(std::string text, const config::gateway_config& config) {
    config::redact_values(text, config.env_values);
    return text;
}

std::pair<unsigned, std::string> explain_json(const config::gateway_config& config, const router::route_table& routes,
                                              std::string_view body) {
    auto bad = [](std::string message) {
        json::object o{{"error", "bad_request"}, {"message", std::move(message)}};
        return std::pair<unsigned, std::string>{400, json::serialize(o) + "\n"};
    };
    boost::system::error_code ec;
    auto doc = json::parse(body, ec);
    if (ec || !doc.is_object()) {
        return bad(R"(expected a JSON object such as {"request": "GET https://api.example.com/users/42"})");
    }
    const auto& o = doc.get_object();
    const auto* line = o.if_contains("request");
    if (!line || !line->is_string()) return bad("\"request\" must be a string: \"METHOD URL\"");
    std::string error;
    auto input = parse_explain_line(line->get_string(), error);
    if (!input) return bad(error);
    if (const auto* headers = o.if_contains("headers")) {
        std::pair<std::string, std::string> field;
        if (headers->is_object()) {
            for (const auto& [name, value] : headers->get_object()) {
                if (!value.is_string() ||
                    !parse_explain_header(std::string(name) + ": " + std::string(value.get_string()), field)) {
                    return bad("invalid header \"" + std::string(name) + "\"");
                }
                input->headers.push_back(field);
            }
        } else if (headers->is_array()) {
            for (const auto& h : headers->get_array()) {
                if (!h.is_string() || !parse_explain_header(h.get_string(), field)) {
                    return bad("each header must be a string \"Name: value\"");
                }
                input->headers.push_back(field);
            }
        } else {
            return bad("\"headers\" must be an object or a list of \"Name: value\"");
        }
    }
    if (const auto* ip = o.if_contains("client_ip")) {
        if (!ip->is_string() || !common::parse_address(ip->get_string()))
            return bad("\"client_ip\" must be an IP address");
        input->client_ip = ip->get_string();
    }
    return {200, redact(json::serialize(explain(config, routes, *input)), config) + "\n"};
}

namespace {

std::string str(const json::value& v) {
    if (v.is_string()) return std::string(v.get_string());
    return json::serialize(v);
}

void reply_line(std::string& out, const json::object& reply) {
    out += std::to_string(reply.at("status").to_number<int>()) + " " + str(reply.at("error")) + ": " +
           str(reply.at("message")) + "\n";
}

}  // namespace

std::string explain_text(const json::object& r) {
    std::string out;
    const auto& req = r.at("request").as_object();
    out += "request    " + str(req.at("method")) + " " + str(req.at("target")) + "  (client " +
           str(req.at("client_ip")) + ")\n";
    const auto& checks = r.at("checks").as_object();
    if (!checks.at("ok").as_bool()) {
        out += "checks     refused: ";
        reply_line(out, checks.at("reply").as_object());
        return out;
    }
    out += "normalised host " + str(checks.at("host")) + ", path " + str(checks.at("path")) + ", target " +
           str(checks.at("target")) + "\n";
    const auto& routing = r.at("routing").as_object();
    out += "\nroute      " + (routing.contains("route") ? str(routing.at("route")) : std::string("none: 404")) + "\n";
    for (const auto& t : routing.at("tried").as_array()) {
        const auto& e = t.as_object();
        std::string verdict = e.contains("chosen") ? "chosen" : e.at("matches").as_bool() ? "matches" : "no";
        out += "  " + str(e.at("route")) + ": " + verdict;
        std::string reasons;
        for (const auto& rule : e.at("rules").as_array()) {
            const auto& x = rule.as_object();
            // A route that failed shows why; the chosen one shows everything that matched.
            if (!x.at("ok").as_bool() || e.at("matches").as_bool()) {
                reasons += (reasons.empty() ? "" : "; ") + str(x.at("rule")) + " " + str(x.at("detail"));
            }
        }
        out += reasons.empty() ? "" : " (" + reasons + ")";
        if (e.contains("params")) out += " params " + json::serialize(e.at("params"));
        if (e.contains("note")) out += "\n      " + str(e.at("note"));
        out += "\n";
    }
    if (r.contains("filters")) {
        out += "\nfilters\n";
        int n = 0;
        for (const auto& f : r.at("filters").as_array()) {
            const auto& x = f.as_object();
            out += "  " + std::to_string(++n) + ". " + str(x.at("filter")) + " (" + str(x.at("type")) +
                   "): " + str(x.at("decision"));
            if (x.contains("reply")) {
                out += " ";
                reply_line(out, x.at("reply").as_object());
                continue;
            }
            if (x.contains("consumer")) out += ", consumer " + str(x.at("consumer"));
            if (x.contains("note")) out += ": " + str(x.at("note"));
            out += "\n";
        }
        if (r.at("filters").as_array().empty()) out += "  (none)\n";
    }
    if (r.contains("aggregate")) {
        out += "\naggregate\n";
        for (const auto& b : r.at("aggregate").at("backends").as_array()) {
            const auto& x = b.as_object();
            out += "  " + str(x.at("name")) + ": " + str(x.at("method")) + " to upstream " + str(x.at("upstream")) +
                   (x.at("required").as_bool() ? "" : " (optional)") + "\n";
        }
    }
    if (r.contains("upstream")) {
        const auto& u = r.at("upstream").as_object();
        out += "\nupstream   " + str(u.at("name")) + " (" + str(u.at("load_balancing")) + ", timeout " +
               str(u.at("timeout")) + (u.at("tls").as_bool() ? ", TLS" : "") + ")\n  endpoints";
        for (const auto& e : u.at("endpoints").as_array()) out += " " + str(e);
        out += "\n  request sent to " + str(u.at("endpoint_shown")) + ":\n";
        for (const auto& line : u.at("request").as_array()) out += "    " + str(line) + "\n";
    }
    const auto& outcome = r.at("outcome").as_object();
    if (outcome.contains("reply")) {
        out += "\nanswer     by " + str(outcome.at("answered_by")) + ": ";
        reply_line(out, outcome.at("reply").as_object());
    }
    return out;
}

}  // namespace gatehouse::server
