// The filters and routes sections of the config: filter instances, chains, matches and routes.
#include <algorithm>
#include <set>

#include <yaml-cpp/yaml.h>

#include "gatehouse/filters/registry.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "sections.hpp"

namespace gatehouse::config {

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

void read_host_patterns(reader& r, const YAML::Node& node, const std::string& path, match_config& match) {
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
}

void read_header_matches(reader& r, const YAML::Node& headers, const std::string& path, match_config& match) {
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

void read_match(reader& r, const YAML::Node& node, const std::string& path, match_config& match) {
    if (!r.expect_map(node, path, *match_schema())) {
        return;
    }
    read_host_patterns(r, node, path, match);
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
    if (auto headers = node["headers"]; headers.IsDefined()) read_header_matches(r, headers, path, match);
}

}  // namespace

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
    if (!r.expect_map(node, path, *route_filters_schema())) {
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

namespace {

// websocket: true, or { idle_timeout, max_duration }.
void read_websocket(reader& r, const YAML::Node& node, const std::string& path, bool aggregate,
                    std::optional<websocket_config>& out) {
    if (aggregate) {
        r.error(node, path, "does not apply to an aggregate route (it answers with merged JSON)");
        return;
    }
    if (node.IsScalar()) {
        if (auto on = r.boolean(node, path); on && *on) out.emplace();
        return;
    }
    if (!r.expect_map(node, path, *websocket_schema())) return;
    websocket_config ws;
    r.optional_field(node, "idle_timeout", path, ws.idle_timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "max_duration", path, ws.max_duration,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p, true); });
    out = ws;
}

}  // namespace

void read_route(reader& r, const YAML::Node& node, const std::string& path, route_config& route) {
    if (!r.expect_map(node, path, *route_schema())) {
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
    const bool aggregate = node["aggregate"].IsDefined();
    if (auto upstream = node["upstream"]; upstream.IsDefined()) {
        if (aggregate) {
            r.error(upstream, path + ".upstream", "a route has an upstream or an aggregate, not both");
        } else if (auto s = r.string(upstream, path + ".upstream")) {
            route.upstream = *s;
        }
    } else if (!aggregate) {
        r.error(node, path + ".upstream", "missing required key \"upstream\" (or \"aggregate\")");
    }
    if (aggregate) {
        for (std::string_view key : {"strip_prefix", "replace_prefix", "host_rewrite"}) {
            if (auto n = node[std::string(key)]; n.IsDefined()) {
                r.error(n, reader::join(path, key), "does not apply to an aggregate route (its backends have paths)");
            }
        }
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
    if (auto n = node["websocket"]; n.IsDefined() && !n.IsNull()) {
        read_websocket(r, n, path + ".websocket", aggregate, route.websocket);
    }
    r.optional_field(node, "retry_non_idempotent", path, route.retry_non_idempotent,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    r.optional_field(node, "timeout", path, route.timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "max_body", path, route.max_body,
                     [&](const YAML::Node& n, const std::string& p) { return r.size(n, p); });
}

}  // namespace gatehouse::config
