#include "gatehouse/config/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/config/units.hpp"
#include "gatehouse/filters/registry.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::config {

std::string config_error::to_string() const {
    std::ostringstream out;
    out << file;
    if (line > 0) {
        out << ':' << line << ':' << column;
    }
    out << ": ";
    if (!path.empty()) {
        out << path << ": ";
    }
    out << message;
    return out.str();
}

namespace {

using http::valid_field_value;
using http::valid_token;

bool valid_host_pattern(std::string_view host) {
    if (host == "*") {
        return true;
    }
    if (host.starts_with("*.")) {
        host.remove_prefix(2);
    }
    if (host.empty()) {
        return false;
    }
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == ':' ||
                  c == '[' || c == ']';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// Paths in config must be origin-form and free of characters that would need escaping.
bool valid_path(std::string_view path) {
    if (!path.starts_with("/")) {
        return false;
    }
    for (unsigned char c : path) {
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#') {
            return false;
        }
    }
    return true;
}

// Templates: literal segments and whole-segment {name} parameters.
bool valid_template(std::string_view path, std::string& why) {
    if (!valid_path(path)) {
        why = "must start with \"/\" and contain no spaces, \"?\" or \"#\"";
        return false;
    }
    std::set<std::string, std::less<>> names;
    std::size_t pos = 1;
    while (pos <= path.size()) {
        auto end = path.find('/', pos);
        if (end == std::string_view::npos) {
            end = path.size();
        }
        auto segment = path.substr(pos, end - pos);
        bool has_brace = segment.find_first_of("{}") != std::string_view::npos;
        if (has_brace) {
            if (segment.size() < 3 || segment.front() != '{' || segment.back() != '}' ||
                segment.substr(1, segment.size() - 2).find_first_of("{}") != std::string_view::npos) {
                why = "a parameter must be a whole segment like {id}, got \"" + std::string(segment) + "\"";
                return false;
            }
            auto name = segment.substr(1, segment.size() - 2);
            if (!names.insert(std::string(name)).second) {
                why = "parameter {" + std::string(name) + "} appears twice";
                return false;
            }
        }
        pos = end + 1;
    }
    return true;
}

bool loopback_host(const std::string& host) {
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(host, ec);
    return ec ? host == "localhost" : address.is_loopback();
}

void read_admin(reader& r, const YAML::Node& admin, admin_config& out) {
    if (auto listen = admin["listen"]; listen.IsDefined()) {
        if (listen.IsNull() || (listen.IsScalar() && listen.Scalar() == "off")) {
            out.listen.reset();
        } else if (auto hp = r.address(listen, "admin.listen", true)) {
            out.listen = *hp;
        }
    }
    if (auto hosts = admin["hosts"]; hosts.IsDefined() && !hosts.IsNull()) {
        for (auto& [n, name] : r.string_list(hosts, "admin.hosts")) {
            std::string lower;
            for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (lower.empty() || lower.find_first_of(" /:@") != std::string::npos) {
                r.error(n, "admin.hosts", "invalid host name \"" + name + "\" (a name without port)");
            } else {
                out.hosts.push_back(lower);
            }
        }
    }
    auto token = admin["token"];
    r.optional_field(admin, "token", "admin", out.token,
                     [&](const YAML::Node& n, const std::string& p) -> std::optional<std::string> {
                         auto s = r.string(n, p);
                         if (s && !s->empty() && s->size() < 16) {
                             r.error(n, p, "too short: use at least 16 characters (e.g. openssl rand -hex 16)");
                             return std::nullopt;
                         }
                         return s;
                     });
    if (out.listen && !loopback_host(out.listen->host) && out.token.empty()) {
        r.error(token.IsDefined() ? token : admin["listen"], token.IsDefined() ? "admin.token" : "admin.listen",
                "admin.token is required when the admin listener is not on loopback (" + out.listen->host +
                    "): anyone who reaches it could read the config and reload it");
    }
}

void read_server(reader& r, const YAML::Node& node, server_config& server) {
    const std::string path = "server";
    if (!r.expect_map(node, path,
                      {"listen", "workers", "max_connections", "limits", "timeouts", "drain_timeout",
                       "headers_with_underscores", "paths", "trusted_proxies"})) {
        return;
    }
    if (auto trusted = node["trusted_proxies"]; trusted.IsDefined() && !trusted.IsNull()) {
        const std::string tp = reader::join(path, "trusted_proxies");
        for (auto& [n, text] : r.string_list(trusted, tp)) {
            std::string error;
            if (auto net = common::parse_network(text, error)) {
                server.trusted_proxies.push_back(std::move(*net));
            } else {
                r.error(n, tp, error);
            }
        }
    }
    if (auto listen = node["listen"]; listen.IsDefined()) {
        server.listen.clear();
        for (auto& [n, text] : r.string_list(listen, "server.listen")) {
            if (auto hp = parse_host_port(text, true)) {
                server.listen.push_back({hp->host, hp->port});
            } else {
                r.error(n, "server.listen", "invalid address \"" + text + "\" (expected host:port or [ipv6]:port)");
            }
        }
        if (server.listen.empty() && r.errors.empty()) {
            r.error(listen, "server.listen", "at least one listen address is required");
        }
    }
    r.optional_field(node, "workers", path, server.workers,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 0, 256); });
    r.optional_field(node, "max_connections", path, server.max_connections,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 10'000'000); });
    r.optional_field(node, "drain_timeout", path, server.drain_timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p, true); });
    r.optional_field(node, "headers_with_underscores", path, server.headers_with_underscores,
                     [&](const YAML::Node& n, const std::string& p) {
                         return r.one_of<underscore_headers>(n, p, "policy",
                                                             {{"drop", underscore_headers::drop},
                                                              {"reject", underscore_headers::reject},
                                                              {"allow", underscore_headers::allow}});
                     });
    if (auto paths = node["paths"]; paths.IsDefined()) {
        auto pp = reader::join(path, "paths");
        if (r.expect_map(paths, pp, {"escaped_slashes", "merge_slashes"})) {
            r.optional_field(paths, "escaped_slashes", pp, server.paths.escaped_slashes,
                             [&](const YAML::Node& n, const std::string& p) {
                                 return r.one_of<http::escaped_slash_action>(
                                     n, p, "escaped slash action",
                                     {{"reject", http::escaped_slash_action::reject},
                                      {"keep", http::escaped_slash_action::keep},
                                      {"decode", http::escaped_slash_action::decode}});
                             });
            r.optional_field(paths, "merge_slashes", pp, server.paths.merge_slashes,
                             [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
        }
    }
    if (auto limits = node["limits"]; limits.IsDefined()) {
        auto lp = reader::join(path, "limits");
        if (r.expect_map(limits, lp,
                         {"max_request_line", "max_header_bytes", "max_header_count", "max_body",
                          "max_response_header_bytes"})) {
            auto size = [&](const YAML::Node& n, const std::string& p) { return r.size(n, p); };
            auto& l = server.limits;
            r.optional_field(limits, "max_request_line", lp, l.max_request_line, size);
            r.optional_field(limits, "max_header_bytes", lp, l.max_header_bytes, size);
            r.optional_field(
                limits, "max_header_count", lp, l.max_header_count,
                [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 10'000); });
            r.optional_field(limits, "max_body", lp, l.max_body, size);
            r.optional_field(limits, "max_response_header_bytes", lp, l.max_response_header_bytes, size);
            if (l.max_request_line < 64 || l.max_header_bytes < 256 || l.max_response_header_bytes < 256) {
                r.error(limits, lp, "header limits are too small (request line >= 64 bytes, headers >= 256 bytes)");
            }
            if (l.max_header_bytes > 16 * 1024 * 1024 || l.max_response_header_bytes > 16 * 1024 * 1024) {
                r.error(limits, lp, "header limits must not exceed 16MiB");
            }
            if (l.max_request_line > l.max_header_bytes) {
                r.error(limits, lp + ".max_request_line", "must not exceed max_header_bytes");
            }
        }
    }
    if (auto timeouts = node["timeouts"]; timeouts.IsDefined()) {
        auto tp = reader::join(path, "timeouts");
        if (r.expect_map(timeouts, tp, {"header", "idle", "read", "body", "send", "request"})) {
            auto time = [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); };
            auto& t = server.timeouts;
            r.optional_field(timeouts, "header", tp, t.header, time);
            r.optional_field(timeouts, "idle", tp, t.idle, time);
            r.optional_field(timeouts, "read", tp, t.read, time);
            r.optional_field(timeouts, "body", tp, t.body, time);
            r.optional_field(timeouts, "send", tp, t.send, time);
            r.optional_field(timeouts, "request", tp, t.request, time);
        }
    }
}

void read_upstream(reader& r, const std::string& name, const YAML::Node& key, const YAML::Node& node,
                   upstream_config& up) {
    const std::string path = "upstreams." + name;
    up.name = name;
    if (!valid_token(name)) {
        r.error(key, path, "invalid upstream name (use letters, digits, '-', '_' or '.')");
    }
    if (!r.expect_map(node, path,
                      {"endpoints", "load_balancing", "connect_timeout", "dns_refresh", "retries", "pool"})) {
        return;
    }
    auto endpoints = node["endpoints"];
    if (!endpoints.IsDefined()) {
        r.error(node, path + ".endpoints", "missing required key \"endpoints\"");
    } else {
        for (auto& [n, text] : r.string_list(endpoints, path + ".endpoints")) {
            if (auto hp = parse_host_port(text, false)) {
                if (hp->host == "0.0.0.0" && text.starts_with(":")) {
                    r.error(n, path + ".endpoints", "endpoint needs a host: \"" + text + "\"");
                    continue;
                }
                up.endpoints.push_back({hp->host, hp->port});
            } else {
                r.error(n, path + ".endpoints", "invalid endpoint \"" + text + "\" (expected host:port)");
            }
        }
        if (up.endpoints.empty() && endpoints.IsSequence() && endpoints.size() == 0) {
            r.error(endpoints, path + ".endpoints", "at least one endpoint is required");
        }
    }
    r.optional_field(node, "load_balancing", path, up.load_balancing, [&](const YAML::Node& n, const std::string& p) {
        return r.one_of<lb_policy>(n, p, "load balancing policy",
                                   {{"round_robin", lb_policy::round_robin},
                                    {"least_request", lb_policy::least_request},
                                    {"random", lb_policy::random},
                                    {"ip_hash", lb_policy::ip_hash}});
    });
    auto time = [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); };
    r.optional_field(node, "connect_timeout", path, up.connect_timeout, time);
    r.optional_field(node, "dns_refresh", path, up.dns_refresh, time);
    r.optional_field(node, "retries", path, up.retries,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 0, 10); });
    if (auto pool = node["pool"]; pool.IsDefined()) {
        auto pp = path + ".pool";
        if (r.expect_map(pool, pp, {"max_connections", "max_idle", "idle_timeout", "max_wait", "max_waiters"})) {
            auto count = [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 1'000'000); };
            r.optional_field(pool, "max_connections", pp, up.pool.max_connections, count);
            r.optional_field(pool, "max_idle", pp, up.pool.max_idle, [&](const YAML::Node& n, const std::string& p) {
                return r.unsigned_int(n, p, 0, 1'000'000);
            });
            r.optional_field(pool, "idle_timeout", pp, up.pool.idle_timeout, time);
            r.optional_field(pool, "max_wait", pp, up.pool.max_wait,
                             [&](const YAML::Node& n, const std::string& p) { return r.time(n, p, true); });
            r.optional_field(
                pool, "max_waiters", pp, up.pool.max_waiters,
                [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 0, 1'000'000); });
        }
    }
}

void read_match(reader& r, const YAML::Node& node, const std::string& path, match_config& match) {
    if (!r.expect_map(node, path, {"host", "hosts", "path", "prefix", "exact", "template", "methods", "headers"})) {
        return;
    }
    for (std::string_view key : {"host", "hosts"}) {
        if (auto hosts = node[std::string(key)]; hosts.IsDefined()) {
            for (auto& [n, h] : r.string_list(hosts, reader::join(path, key))) {
                std::string lower = h;
                std::transform(lower.begin(), lower.end(), lower.begin(),
                               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
                if (!valid_host_pattern(lower)) {
                    r.error(n, reader::join(path, key),
                            "invalid host pattern \"" + h + "\" (exact name, \"*.example.com\" or \"*\")");
                } else {
                    match.hosts.push_back(lower);
                }
            }
        }
    }
    int kinds = 0;
    auto read_path = [&](std::string_view key, path_match_kind kind) {
        auto n = node[std::string(key)];
        if (!n.IsDefined()) {
            return;
        }
        ++kinds;
        auto p = reader::join(path, key);
        auto value = r.string(n, p);
        if (!value) {
            return;
        }
        std::string why;
        if (kind == path_match_kind::templated) {
            if (!valid_template(*value, why)) {
                r.error(n, p, "invalid path template \"" + *value + "\": " + why);
                return;
            }
        } else if (!valid_path(*value)) {
            r.error(n, p,
                    "invalid path \"" + *value + "\": must start with \"/\" and contain no spaces, \"?\" or \"#\"");
            return;
        }
        match.path_kind = kind;
        match.path = *value;
    };
    read_path("path", path_match_kind::prefix);  // "path" is a prefix, as in NGINX "location /x"
    read_path("prefix", path_match_kind::prefix);
    read_path("exact", path_match_kind::exact);
    read_path("template", path_match_kind::templated);
    if (kinds > 1) {
        r.error(node, path, "use only one of path, prefix, exact and template");
    }
    if (auto methods = node["methods"]; methods.IsDefined()) {
        for (auto& [n, m] : r.string_list(methods, reader::join(path, "methods"))) {
            if (!valid_token(m)) {
                r.error(n, reader::join(path, "methods"), "invalid method \"" + m + "\"");
            } else {
                match.methods.push_back(m);
            }
        }
    }
    if (auto headers = node["headers"]; headers.IsDefined()) {
        auto hp = reader::join(path, "headers");
        if (!headers.IsMap()) {
            r.error(headers, hp, "expected a mapping of header name to value (or ~ for presence)");
        } else {
            for (const auto& item : headers) {
                auto name = item.first.Scalar();
                if (!valid_token(name)) {
                    r.error(item.first, reader::join(hp, name), "invalid header name \"" + name + "\"");
                    continue;
                }
                header_match hm{name, std::nullopt};
                if (!item.second.IsNull()) {
                    auto v = r.string(item.second, reader::join(hp, name));
                    if (!v) {
                        continue;
                    }
                    hm.value = *v;
                }
                match.headers.push_back(std::move(hm));
            }
        }
    }
}

// The filter names a chain lists: each must be declared; duplicates are errors.
std::vector<std::size_t> read_chain(reader& r, const YAML::Node& node, const std::string& path,
                                    const std::vector<filter_instance>& declared) {
    std::vector<std::size_t> chain;
    if (!node.IsSequence() && !node.IsScalar()) {
        r.error(node, path, "expected a list of filter names");
        return chain;
    }
    for (auto& [n, name] : r.string_list(node, path)) {
        auto it = std::find_if(declared.begin(), declared.end(),
                               [&name = name](const filter_instance& f) { return f.name == name; });
        if (it == declared.end()) {
            r.error(n, path, "unknown filter \"" + name + "\" (declare it under filters:)");
            continue;
        }
        auto index = static_cast<std::size_t>(it - declared.begin());
        if (std::find(chain.begin(), chain.end(), index) != chain.end()) {
            r.error(n, path, "filter \"" + name + "\" is listed twice");
            continue;
        }
        chain.push_back(index);
    }
    return chain;
}

// A route's filters: a list adds to the defaults; {add, skip, replace} say it explicitly.
void read_route_filters(reader& r, const YAML::Node& node, const std::string& path, const gateway_config& cfg,
                        route_config& route) {
    route.filters = cfg.default_filters;
    if (!node.IsDefined() || node.IsNull()) {
        return;
    }
    auto append = [&](const std::vector<std::size_t>& extra) {
        for (auto index : extra) {
            if (std::find(route.filters.begin(), route.filters.end(), index) == route.filters.end()) {
                route.filters.push_back(index);
            }
        }
    };
    if (!node.IsMap()) {
        append(read_chain(r, node, path, cfg.filters));
        return;
    }
    if (!r.expect_map(node, path, {"add", "skip", "replace"})) {
        return;
    }
    if (auto replace = node["replace"]; replace.IsDefined()) {
        if (node["add"].IsDefined() || node["skip"].IsDefined()) {
            r.error(node, path, "use either replace, or add and skip");
            return;
        }
        route.filters =
            replace.IsNull() ? std::vector<std::size_t>{} : read_chain(r, replace, path + ".replace", cfg.filters);
        return;
    }
    if (auto skip = node["skip"]; skip.IsDefined() && !skip.IsNull()) {
        for (auto index : read_chain(r, skip, path + ".skip", cfg.filters)) {
            std::erase(route.filters, index);
        }
    }
    if (auto add = node["add"]; add.IsDefined() && !add.IsNull()) {
        append(read_chain(r, add, path + ".add", cfg.filters));
    }
}

void read_filters(reader& r, const YAML::Node& node, gateway_config& cfg) {
    if (!node.IsMap()) {
        r.error(node, "filters", "expected a mapping of filter name to its settings (with a type)");
        return;
    }
    for (const auto& item : node) {
        auto name = item.first.Scalar();
        auto path = "filters." + name;
        if (!valid_token(name)) {
            r.error(item.first, path, "invalid filter name (use letters, digits, '-', '_' or '.')");
            continue;
        }
        filter_instance instance;
        instance.name = name;
        if (!item.second.IsMap()) {
            r.error(item.second, path, "expected a mapping with a type");
            cfg.filters.push_back(std::move(instance));
            continue;
        }
        auto type = item.second["type"];
        if (!type.IsDefined()) {
            r.error(item.second, path + ".type", "missing required key \"type\"");
        } else if (auto t = r.string(type, path + ".type")) {
            instance.type = *t;
            if (const auto* ft = filters::find_filter_type(*t)) {
                instance.factory = ft->parse(r, item.second, path);
            } else {
                std::string known;
                for (const auto& k : filters::filter_types()) {
                    known += known.empty() ? "" : ", ";
                    known += k.name;
                }
                r.error(type, path + ".type", "unknown filter type \"" + *t + "\" (known: " + known + ")");
            }
        }
        cfg.filters.push_back(std::move(instance));
    }
}

void read_route(reader& r, const YAML::Node& node, const std::string& path, route_config& route) {
    if (!r.expect_map(node, path,
                      {"name", "match", "upstream", "strip_prefix", "replace_prefix", "host_rewrite", "request_headers",
                       "response_headers", "timeout", "max_body", "filters"})) {
        return;
    }
    if (auto name = node["name"]; name.IsDefined()) {
        if (auto s = r.string(name, path + ".name")) {
            if (!valid_token(*s)) {
                r.error(name, path + ".name", "invalid route name \"" + *s + "\"");
            }
            route.name = *s;
        }
    } else {
        r.error(node, path + ".name", "missing required key \"name\"");
    }
    if (auto match = node["match"]; match.IsDefined()) {
        read_match(r, match, path + ".match", route.match);
    }
    if (auto upstream = node["upstream"]; upstream.IsDefined()) {
        if (auto s = r.string(upstream, path + ".upstream")) {
            route.upstream = *s;
        }
    } else {
        r.error(node, path + ".upstream", "missing required key \"upstream\"");
    }
    auto path_value = [&](std::string_view key, std::optional<std::string>& target) {
        auto n = node[std::string(key)];
        if (!n.IsDefined()) {
            return;
        }
        auto p = reader::join(path, key);
        if (auto s = r.string(n, p)) {
            if (!valid_path(*s)) {
                r.error(n, p, "invalid path \"" + *s + "\": must start with \"/\"");
            } else {
                target = *s;
            }
        }
    };
    path_value("strip_prefix", route.strip_prefix);
    path_value("replace_prefix", route.replace_prefix);
    if (route.replace_prefix && !route.strip_prefix) {
        r.error(node["replace_prefix"], path + ".replace_prefix", "needs strip_prefix (the part it replaces)");
    }
    if (route.strip_prefix && route.match.path_kind == path_match_kind::prefix &&
        !route.match.path.starts_with(*route.strip_prefix)) {
        r.error(node["strip_prefix"], path + ".strip_prefix",
                "\"" + *route.strip_prefix + "\" is not a prefix of the matched path \"" + route.match.path + "\"");
    }
    if (auto n = node["host_rewrite"]; n.IsDefined()) {
        if (auto s = r.string(n, path + ".host_rewrite")) {
            if (s->empty() || !valid_field_value(*s) || s->find_first_of(" /") != std::string::npos) {
                r.error(n, path + ".host_rewrite", "invalid host \"" + *s + "\"");
            } else {
                route.host_rewrite = *s;
            }
        }
    }
    if (auto n = node["request_headers"]; n.IsDefined()) {
        read_header_edits(r, n, path + ".request_headers", route.request_headers);
    }
    if (auto n = node["response_headers"]; n.IsDefined()) {
        read_header_edits(r, n, path + ".response_headers", route.response_headers);
    }
    r.optional_field(node, "timeout", path, route.timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "max_body", path, route.max_body,
                     [&](const YAML::Node& n, const std::string& p) { return r.size(n, p); });
}

}  // namespace

load_result load_config_text(std::string_view text, const std::string& source, const env_lookup& env) {
    load_result result;
    reader r(source, env);
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        config_error err;
        err.file = source;
        err.line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
        err.column = e.mark.column >= 0 ? e.mark.column + 1 : 0;
        err.message = "YAML syntax error: " + e.msg;
        result.errors.push_back(std::move(err));
        return result;
    }
    gateway_config cfg;
    cfg.source = source;
    {
        std::uint64_t hash = 1469598103934665603ull;
        for (unsigned char c : text) {
            hash = (hash ^ c) * 1099511628211ull;
        }
        static constexpr char digits[] = "0123456789abcdef";
        for (int shift = 60; shift >= 0; shift -= 4) {
            cfg.checksum += digits[(hash >> shift) & 0xf];
        }
    }
    if (!root.IsDefined() || root.IsNull()) {
        r.error(root, "", "the config is empty");
    } else if (r.expect_map(root, "",
                            {"server", "logging", "admin", "filters", "default_filters", "upstreams", "routes"})) {
        if (auto server = root["server"]; server.IsDefined()) {
            read_server(r, server, cfg.server);
        }
        if (auto logging = root["logging"]; logging.IsDefined()) {
            if (r.expect_map(logging, "logging", {"level"})) {
                r.optional_field(
                    logging, "level", "logging", cfg.logging.level,
                    [&](const YAML::Node& n, const std::string& p) -> std::optional<std::string> {
                        auto s = r.string(n, p);
                        static const std::set<std::string> levels{"trace", "debug",    "info", "warn",
                                                                  "error", "critical", "off"};
                        if (s && !levels.contains(*s)) {
                            r.error(n, p,
                                    "unknown level \"" + *s + "\" (trace, debug, info, warn, error, critical, off)");
                            return std::nullopt;
                        }
                        return s;
                    });
            }
        }
        if (auto admin = root["admin"]; admin.IsDefined()) {
            if (admin.IsNull()) {
                cfg.admin.listen.reset();
            } else if (r.expect_map(admin, "admin", {"listen", "hosts", "token"})) {
                read_admin(r, admin, cfg.admin);
            }
        }
        if (auto filters = root["filters"]; filters.IsDefined() && !filters.IsNull()) {
            read_filters(r, filters, cfg);
            for (const auto& f : cfg.filters) {
                if (!f.factory) continue;
                for (auto& name : f.factory->identity_fields()) {
                    bool known = std::any_of(cfg.identity_fields.begin(), cfg.identity_fields.end(),
                                             [&](const std::string& n) { return http::iequals(n, name); });
                    if (!known) cfg.identity_fields.push_back(std::move(name));
                }
            }
        }
        if (auto defaults = root["default_filters"]; defaults.IsDefined() && !defaults.IsNull()) {
            cfg.default_filters = read_chain(r, defaults, "default_filters", cfg.filters);
        }
        auto upstreams = root["upstreams"];
        if (!upstreams.IsDefined()) {
            r.error(root, "upstreams", "missing required key \"upstreams\"");
        } else if (!upstreams.IsMap()) {
            r.error(upstreams, "upstreams", "expected a mapping of upstream name to its settings");
        } else {
            for (const auto& item : upstreams) {
                upstream_config up;
                read_upstream(r, item.first.Scalar(), item.first, item.second, up);
                cfg.upstreams.push_back(std::move(up));
            }
        }
        auto routes = root["routes"];
        if (!routes.IsDefined()) {
            r.error(root, "routes", "missing required key \"routes\"");
        } else if (!routes.IsSequence()) {
            r.error(routes, "routes", "expected a list of routes");
        } else {
            std::set<std::string> names;
            for (std::size_t i = 0; i < routes.size(); ++i) {
                auto path = reader::index("routes", i);
                route_config route;
                read_route(r, routes[i], path, route);
                read_route_filters(r, routes[i].IsMap() ? routes[i]["filters"] : YAML::Node(), path + ".filters", cfg,
                                   route);
                if (!route.name.empty() && !names.insert(route.name).second) {
                    r.error(routes[i]["name"], path + ".name", "duplicate route name \"" + route.name + "\"");
                }
                if (!route.upstream.empty() &&
                    std::none_of(cfg.upstreams.begin(), cfg.upstreams.end(),
                                 [&](const upstream_config& u) { return u.name == route.upstream; })) {
                    r.error(routes[i]["upstream"], path + ".upstream", "unknown upstream \"" + route.upstream + "\"");
                }
                cfg.routes.push_back(std::move(route));
            }
        }
    }
    if (r.errors.empty()) {
        // Longest first, so that a secret containing another is redacted whole.
        auto& secrets = r.env_values;
        std::sort(secrets.begin(), secrets.end(), [](const std::string& a, const std::string& b) {
            return a.size() != b.size() ? a.size() > b.size() : a < b;
        });
        secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
        cfg.env_values = std::move(secrets);
        result.config = std::move(cfg);
    }
    result.errors = std::move(r.errors);
    return result;
}

load_result load_config_file(const std::string& path, const env_lookup& env) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        load_result result;
        result.errors.push_back({path, 0, 0, "", "cannot open file: " + std::string(std::strerror(errno))});
        return result;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    return load_config_text(buffer.str(), path, env);
}

}  // namespace gatehouse::config
