#include "gatehouse/admin/config_json.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "gatehouse/config/aggregate.hpp"
#include "gatehouse/config/env.hpp"
#include "gatehouse/filters/factory.hpp"

namespace gatehouse::admin {

namespace json = boost::json;

namespace {

constexpr std::string_view redacted = "<redacted>";

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string address(const config::host_port& hp) {
    bool v6 = hp.host.find(':') != std::string::npos;
    return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

json::value millis(config::duration d) {
    return d.count();
}

json::object edits(const config::header_edits& e) {
    json::object set;
    json::object add;
    json::array remove;
    for (const auto& [name, value] : e.set) set[name] = sensitive_header(name) ? redacted : std::string_view(value);
    for (const auto& [name, value] : e.add) add[name] = sensitive_header(name) ? redacted : std::string_view(value);
    for (const auto& name : e.remove) remove.emplace_back(name);
    return {{"set", std::move(set)}, {"add", std::move(add)}, {"remove", std::move(remove)}};
}

std::string_view policy_name(config::lb_policy p) {
    switch (p) {
        case config::lb_policy::round_robin:
            return "round_robin";
        case config::lb_policy::least_request:
            return "least_request";
        case config::lb_policy::random:
            return "random";
        case config::lb_policy::ip_hash:
            return "ip_hash";
    }
    return "?";
}

std::string_view path_kind_name(config::path_match_kind k) {
    switch (k) {
        case config::path_match_kind::prefix:
            return "prefix";
        case config::path_match_kind::exact:
            return "exact";
        case config::path_match_kind::templated:
            return "template";
    }
    return "?";
}

const char* escaped_slash_policy(http::escaped_slash_action action) {
    switch (action) {
        case http::escaped_slash_action::reject:
            return "reject";
        case http::escaped_slash_action::keep:
            return "keep";
        case http::escaped_slash_action::decode:
            return "decode";
    }
    return "reject";
}

const char* underscore_policy(config::underscore_headers policy) {
    switch (policy) {
        case config::underscore_headers::drop:
            return "drop";
        case config::underscore_headers::reject:
            return "reject";
        case config::underscore_headers::allow:
            return "allow";
    }
    return "drop";
}

// Replaces every string that holds a value taken from the environment: whatever a deployment
// passes through ${ENV} (keys, tokens, passwords, hosts) stays out of /config, in every filter,
// route and upstream, whatever the filter's own describe() shows.
void redact_env_values(json::value& v, const std::vector<std::string>& secrets) {
    if (v.is_string()) {
        std::string text(v.as_string());
        if (config::redact_values(text, secrets)) {
            v = redacted;
        }
    } else if (v.is_array()) {
        for (auto& item : v.as_array()) redact_env_values(item, secrets);
    } else if (v.is_object()) {
        for (auto& item : v.as_object()) redact_env_values(item.value(), secrets);
    }
}

}  // namespace

bool sensitive_header(std::string_view name) {
    auto n = lower(name);
    for (std::string_view s :
         {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}) {
        if (n == s) {
            return true;
        }
    }
    for (std::string_view part : {"token", "secret", "password", "key"}) {
        if (n.find(part) != std::string::npos) {
            return true;
        }
    }
    return false;
}

namespace {

json::object server_json(const config::server_config& server) {
    json::array listen;
    for (const auto& l : server.listen) {
        if (!l.tls) {
            listen.emplace_back(address(l));
            continue;
        }
        json::array certificates;
        for (const auto& c : l.tls->settings.certificates)
            certificates.push_back(json::object{{"cert", c.cert}, {"key", c.key}});
        const auto& settings = l.tls->settings;
        json::object tls{{"certificates", std::move(certificates)},
                         {"min_version", settings.min_version == common::tls_version::v1_3 ? "1.3" : "1.2"},
                         {"session_lifetime_s", settings.session_lifetime.count()}};
        if (settings.client_auth.mode != common::client_auth_mode::none) {
            static constexpr const char* modes[] = {"none", "optional", "require"};
            tls["client_auth"] = json::object{{"mode", modes[static_cast<int>(settings.client_auth.mode)]},
                                              {"ca_file", settings.client_auth.ca_file},
                                              {"forward_header", settings.client_auth.forward}};
        }
        listen.push_back(json::object{{"address", address(l)}, {"tls", std::move(tls)}});
    }
    json::array trusted;
    for (const auto& n : server.trusted_proxies) trusted.emplace_back(n.text);
    const auto& lim = server.limits;
    const auto& t = server.timeouts;
    return json::object{{"listen", std::move(listen)},
                        {"workers", server.workers},
                        {"max_connections", server.max_connections},
                        {"drain_timeout_ms", millis(server.drain_timeout)},
                        {"headers_with_underscores", underscore_policy(server.headers_with_underscores)},
                        {"paths", json::object{{"escaped_slashes", escaped_slash_policy(server.paths.escaped_slashes)},
                                               {"merge_slashes", server.paths.merge_slashes}}},
                        {"trusted_proxies", std::move(trusted)},
                        {"limits", json::object{{"max_request_line", lim.max_request_line},
                                                {"max_header_bytes", lim.max_header_bytes},
                                                {"max_header_count", lim.max_header_count},
                                                {"max_body", lim.max_body},
                                                {"max_response_header_bytes", lim.max_response_header_bytes}}},
                        {"timeouts_ms", json::object{{"header", millis(t.header)},
                                                     {"idle", millis(t.idle)},
                                                     {"read", millis(t.read)},
                                                     {"body", millis(t.body)},
                                                     {"send", millis(t.send)},
                                                     {"request", millis(t.request)},
                                                     {"handshake", millis(t.handshake)}}}};
}

json::object upstream_json(const config::upstream_config& u) {
    json::array endpoints;
    for (const auto& e : u.endpoints) endpoints.emplace_back(address(e));
    json::object out{{"endpoints", std::move(endpoints)},
                     {"load_balancing", policy_name(u.load_balancing)},
                     {"connect_timeout_ms", millis(u.connect_timeout)},
                     {"dns_refresh_ms", millis(u.dns_refresh)},
                     {"retries", u.retries},
                     {"pool", json::object{{"max_connections", u.pool.max_connections},
                                           {"max_idle", u.pool.max_idle},
                                           {"idle_timeout_ms", millis(u.pool.idle_timeout)},
                                           {"max_wait_ms", millis(u.pool.max_wait)},
                                           {"max_waiters", u.pool.max_waiters}}}};
    if (u.retry) {
        const auto& r = *u.retry;
        json::array on;
        if (r.conditions & config::retry_config::connect_failure) on.emplace_back("connect_failure");
        if (r.conditions & config::retry_config::reset) on.emplace_back("reset");
        if (r.conditions & config::retry_config::timeout) on.emplace_back("timeout");
        for (auto status : r.statuses) on.emplace_back(std::to_string(status));
        out["retry"] = json::object{
            {"attempts", r.attempts},
            {"on", std::move(on)},
            {"per_try_timeout_ms", millis(r.per_try_timeout)},
            {"backoff", json::object{{"base_ms", millis(r.backoff_base)}, {"max_ms", millis(r.backoff_max)}}},
            {"budget_percent", r.budget_percent},
            {"budget_min", r.budget_min},
            {"max_body", r.max_body}};
    }
    if (u.tls) {
        // File paths only: the key's contents never leave the process.
        const auto& t = u.tls->settings;
        json::object tls{{"server_name", t.server_name}, {"ca_file", t.ca_file}, {"verify", t.verify}};
        if (t.client_cert)
            tls["client_cert"] = json::object{{"cert", t.client_cert->cert}, {"key", t.client_cert->key}};
        out["tls"] = std::move(tls);
    }
    return out;
}

json::value dot_paths(const std::vector<aggregate::dot_path>& paths) {
    json::array out;
    for (const auto& p : paths) out.emplace_back(aggregate::join_dot_path(p));
    return out;
}

json::object aggregate_json(const config::aggregate_config& a) {
    static constexpr std::string_view conflicts[] = {"error", "first", "last"};
    json::array backends;
    for (const auto& b : a.backends) {
        json::object headers;
        for (const auto& [name, value] : b.headers) {
            headers[name] = sensitive_header(name) ? redacted : std::string_view(value.source());
        }
        json::object rename;
        for (const auto& [from, to] : b.shape.rename) rename[from] = to;
        json::object backend{{"name", b.name},
                             {"upstream", b.upstream},
                             {"method", b.method},
                             {"path", b.path.source()},
                             {"headers", std::move(headers)},
                             {"allow", dot_paths(b.shape.allow)},
                             {"deny", dot_paths(b.shape.deny)},
                             {"rename", std::move(rename)},
                             {"required", b.required}};
        if (b.shape.target) backend["target"] = aggregate::join_dot_path(*b.shape.target);
        if (b.shape.group) backend["group"] = *b.shape.group;
        if (b.timeout) backend["timeout_ms"] = millis(*b.timeout);
        backends.emplace_back(std::move(backend));
    }
    json::array forward_headers;
    for (const auto& h : a.forward_headers) forward_headers.emplace_back(h);
    json::array forward_query;
    for (const auto& q : a.forward_query) forward_query.emplace_back(q);
    json::object out{{"conflicts", conflicts[static_cast<std::size_t>(a.conflicts)]},
                     {"merge", a.merge == aggregate::merge_mode::deep ? "deep" : "shallow"},
                     {"max_body", a.max_body},
                     {"expose_errors", a.expose_errors},
                     {"forward_headers", std::move(forward_headers)},
                     {"forward_query", std::move(forward_query)},
                     {"backends", std::move(backends)}};
    if (a.timeout) out["timeout_ms"] = millis(*a.timeout);
    return out;
}

json::object route_json(const config::gateway_config& c, const config::route_config& r) {
    json::object match;
    json::array hosts;
    for (const auto& h : r.match.hosts) hosts.emplace_back(h);
    match["hosts"] = std::move(hosts);
    match[path_kind_name(r.match.path_kind)] = r.match.path;
    json::array methods;
    for (const auto& m : r.match.methods) methods.emplace_back(m);
    match["methods"] = std::move(methods);
    json::object headers;
    for (const auto& h : r.match.headers) {
        headers[h.name] = !h.value ? json::value(nullptr)
                                   : json::value(sensitive_header(h.name) ? redacted : std::string_view(*h.value));
    }
    match["headers"] = std::move(headers);
    json::array chain;
    for (auto i : r.filters) chain.emplace_back(c.filters[i].name);
    json::object route{{"name", r.name},
                       {"match", std::move(match)},
                       {"upstream", r.upstream},
                       {"request_headers", edits(r.request_headers)},
                       {"response_headers", edits(r.response_headers)},
                       {"filters", std::move(chain)}};
    if (r.strip_prefix) route["strip_prefix"] = *r.strip_prefix;
    if (r.replace_prefix) route["replace_prefix"] = *r.replace_prefix;
    if (r.host_rewrite) route["host_rewrite"] = *r.host_rewrite;
    if (r.timeout) route["timeout_ms"] = millis(*r.timeout);
    if (r.max_body) route["max_body"] = *r.max_body;
    if (r.retry_non_idempotent) route["retry_non_idempotent"] = true;
    if (r.websocket) {
        route["websocket"] = json::object{{"idle_timeout_ms", millis(r.websocket->idle_timeout)},
                                          {"max_duration_ms", millis(r.websocket->max_duration)}};
    }
    if (r.aggregate) {
        route.erase("upstream");
        route["aggregate"] = aggregate_json(*r.aggregate);
    }
    return route;
}

}  // namespace

std::string config_to_json(const config::gateway_config& c, std::string_view checksum) {
    json::object root;
    root["source"] = c.source;
    root["checksum"] = checksum;
    root["server"] = server_json(c.server);
    root["logging"] = json::object{{"level", c.logging.level}};
    root["admin"] =
        json::object{{"listen", c.admin.listen ? json::value(address(*c.admin.listen)) : json::value(nullptr)}};
    json::object filters;
    for (const auto& f : c.filters) {
        filters[f.name] = f.factory ? json::value(f.factory->describe()) : json::value(json::object{{"type", f.type}});
    }
    root["filters"] = std::move(filters);
    json::array defaults;
    for (auto i : c.default_filters) defaults.emplace_back(c.filters[i].name);
    root["default_filters"] = std::move(defaults);
    json::object upstreams;
    for (const auto& u : c.upstreams) upstreams[u.name] = upstream_json(u);
    root["upstreams"] = std::move(upstreams);
    json::array routes;
    for (const auto& r : c.routes) routes.emplace_back(route_json(c, r));
    root["routes"] = std::move(routes);
    if (!c.env_values.empty()) {
        for (auto& section : root) {
            if (section.key() != "source" && section.key() != "checksum") {
                redact_env_values(section.value(), c.env_values);
            }
        }
    }
    return json::serialize(root) + "\n";
}

}  // namespace gatehouse::admin
