// A route's aggregate block: backends, their templates and shaping, and the checks that can be
// made before any backend answers (references, cycles, key conflicts, the backend count).
#include <algorithm>
#include <functional>
#include <set>

#include <yaml-cpp/yaml.h>

#include "gatehouse/config/aggregate.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "sections.hpp"

namespace gatehouse::config {

namespace {

using aggregate::value_template;

// The names of a route template's {parameters}.
std::set<std::string, std::less<>> route_params(const match_config& match) {
    std::set<std::string, std::less<>> names;
    if (match.path_kind != path_match_kind::templated) return names;
    std::string_view path = match.path;
    for (std::size_t open = path.find('{'); open != std::string_view::npos; open = path.find('{', open + 1)) {
        auto close = path.find('}', open);
        if (close == std::string_view::npos) break;
        names.emplace(path.substr(open + 1, close - open - 1));
    }
    return names;
}

bool gateway_owned_field(std::string_view name) {
    for (std::string_view owned :
         {"host", "content-length", "transfer-encoding", "x-request-id", "x-forwarded-for", "x-forwarded-proto",
          "x-forwarded-host", "x-forwarded-client-cert", "forwarded", "traceparent", "tracestate"}) {
        if (http::iequals(name, owned)) return true;
    }
    return http::is_hop_by_hop_name(name);
}

std::optional<aggregate::dot_path> read_dot_path(reader& r, const YAML::Node& node, const std::string& path) {
    auto s = r.string(node, path);
    if (!s) return std::nullopt;
    auto parsed = aggregate::parse_dot_path(*s);
    if (!parsed) r.error(node, path, "invalid field path \"" + *s + "\" (names joined by dots)");
    return parsed;
}

std::vector<aggregate::dot_path> read_dot_paths(reader& r, const YAML::Node& node, const std::string& path) {
    std::vector<aggregate::dot_path> out;
    for (auto& [n, s] : r.string_list(node, path)) {
        if (auto parsed = aggregate::parse_dot_path(s)) {
            out.push_back(std::move(*parsed));
        } else {
            r.error(n, path, "invalid field path \"" + s + "\" (names joined by dots)");
        }
    }
    return out;
}

struct template_checks {
    const std::set<std::string, std::less<>>& params;
    const std::vector<std::string>& backend_names;
    const std::string& self;
};

// Parses a path or header template and checks what it names; returns the backends it depends on.
std::optional<value_template> read_template(reader& r, const YAML::Node& node, const std::string& path,
                                            value_template::context where, const template_checks& checks,
                                            std::vector<std::size_t>& depends_on) {
    auto s = r.string(node, path);
    if (!s) return std::nullopt;
    std::string why;
    auto parsed = value_template::parse(*s, where, why);
    if (!parsed) {
        r.error(node, path, "invalid template \"" + *s + "\": " + why);
        return std::nullopt;
    }
    bool ok = true;
    for (const auto& part : parsed->parts()) {
        if (part.type == aggregate::template_part::kind::route_param && !checks.params.contains(part.text)) {
            r.error(node, path,
                    "unknown parameter {" + part.text + "}: " +
                        (checks.params.empty() ? std::string("the route's match has no template parameters")
                                               : "not a parameter of the route's match.template"));
            ok = false;
        } else if (part.type == aggregate::template_part::kind::backend_field) {
            auto it = std::find(checks.backend_names.begin(), checks.backend_names.end(), part.text);
            if (part.text == checks.self) {
                r.error(node, path, "backend \"" + part.text + "\" cannot use a field of its own answer");
                ok = false;
            } else if (it == checks.backend_names.end()) {
                r.error(node, path,
                        "unknown backend \"" + part.text + "\" in {" + part.text + "." + part.field.front() + "...}");
                ok = false;
            } else {
                auto index = static_cast<std::size_t>(it - checks.backend_names.begin());
                if (std::find(depends_on.begin(), depends_on.end(), index) == depends_on.end()) {
                    depends_on.push_back(index);
                }
            }
        }
    }
    return ok ? parsed : std::nullopt;
}

void read_backend_headers(reader& r, const YAML::Node& node, const std::string& path, const template_checks& checks,
                          aggregate_backend& backend) {
    if (!node.IsMap()) {
        r.error(node, path, "expected a mapping of field name to value");
        return;
    }
    for (const auto& item : node) {
        auto name = item.first.Scalar();
        auto p = reader::join(path, name);
        if (!http::valid_token(name)) {
            r.error(item.first, p, "invalid field name \"" + name + "\"");
            continue;
        }
        if (gateway_owned_field(name)) {
            r.error(item.first, p, "\"" + name + "\" is set by the gateway itself");
            continue;
        }
        if (auto t = read_template(r, item.second, p, value_template::context::header, checks, backend.depends_on)) {
            backend.headers.emplace_back(name, std::move(*t));
        }
    }
}

void read_shaping(reader& r, const YAML::Node& node, const std::string& path, aggregate::shaping& shape) {
    if (auto n = node["target"]; n.IsDefined()) shape.target = read_dot_path(r, n, path + ".target");
    if (auto n = node["allow"]; n.IsDefined()) shape.allow = read_dot_paths(r, n, path + ".allow");
    if (auto n = node["deny"]; n.IsDefined()) shape.deny = read_dot_paths(r, n, path + ".deny");
    if (!shape.allow.empty() && !shape.deny.empty()) {
        r.error(node["deny"], path + ".deny", "give allow or deny, not both");
    }
    if (auto n = node["rename"]; n.IsDefined()) {
        if (!n.IsMap()) {
            r.error(n, path + ".rename", "expected a mapping of key to new name");
        } else {
            for (const auto& item : n) {
                auto to = r.string(item.second, path + ".rename." + item.first.Scalar());
                if (to && !to->empty()) shape.rename.emplace_back(item.first.Scalar(), *to);
            }
        }
    }
    if (auto n = node["group"]; n.IsDefined()) {
        if (auto s = r.string(n, path + ".group")) {
            if (s->empty()) {
                r.error(n, path + ".group", "a group needs a name");
            } else {
                shape.group = *s;
            }
        }
    }
}

void read_backend(reader& r, const YAML::Node& node, const std::string& path, const template_checks& checks,
                  const gateway_config& cfg, aggregate_backend& backend) {
    if (!r.expect_map(node, path, *aggregate_backend_schema())) {
        return;
    }
    if (auto n = node["upstream"]; n.IsDefined()) {
        if (auto s = r.string(n, path + ".upstream")) {
            auto it = std::find_if(cfg.upstreams.begin(), cfg.upstreams.end(),
                                   [&](const upstream_config& u) { return u.name == *s; });
            if (it == cfg.upstreams.end()) {
                r.error(n, path + ".upstream", "unknown upstream \"" + *s + "\"");
            }
            backend.upstream = *s;
            backend.upstream_index = static_cast<std::size_t>(it - cfg.upstreams.begin());
        }
    } else {
        r.error(node, path + ".upstream", "missing required key \"upstream\"");
    }
    if (auto n = node["method"]; n.IsDefined()) {
        if (auto s = r.string(n, path + ".method")) {
            if (!http::valid_token(*s) ||
                std::any_of(s->begin(), s->end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
                r.error(n, path + ".method", "invalid method \"" + *s + "\" (an upper-case token such as GET or POST)");
            } else if (*s == "CONNECT" || *s == "TRACE") {
                r.error(n, path + ".method", *s + " cannot be a backend call");
            }
            backend.method = *s;
        }
    }
    backend.forward_body = backend.method == "POST" || backend.method == "PUT" || backend.method == "PATCH";
    if (auto n = node["path"]; n.IsDefined()) {
        if (auto t = read_template(r, n, path + ".path", value_template::context::path, checks, backend.depends_on)) {
            backend.path = std::move(*t);
        }
    } else {
        r.error(node, path + ".path", "missing required key \"path\"");
    }
    if (auto n = node["headers"]; n.IsDefined()) read_backend_headers(r, n, path + ".headers", checks, backend);
    read_shaping(r, node, path, backend.shape);
    r.optional_field(node, "required", path, backend.required,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    r.optional_field(node, "timeout", path, backend.timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
}

// The first cycle among the backends' dependencies, as names ("a -> b -> a"), or empty.
std::string find_cycle(const std::vector<aggregate_backend>& backends) {
    enum class mark { none, active, done };
    std::vector<mark> marks(backends.size(), mark::none);
    std::vector<std::size_t> stack;
    std::string cycle;
    std::function<bool(std::size_t)> visit = [&](std::size_t i) {
        marks[i] = mark::active;
        stack.push_back(i);
        for (auto d : backends[i].depends_on) {
            if (marks[d] == mark::active) {
                auto from = std::find(stack.begin(), stack.end(), d);
                for (auto it = from; it != stack.end(); ++it) cycle += backends[*it].name + " -> ";
                cycle += backends[d].name;
                return true;
            }
            if (marks[d] == mark::none && visit(d)) return true;
        }
        stack.pop_back();
        marks[i] = mark::done;
        return false;
    };
    for (std::size_t i = 0; i < backends.size(); ++i) {
        if (marks[i] == mark::none && visit(i)) return cycle;
    }
    return {};
}

void check_known_conflicts(reader& r, const YAML::Node& backends_node, const std::string& path,
                           const aggregate_config& agg) {
    if (agg.conflicts != aggregate::conflict_policy::error) return;
    std::vector<std::pair<std::string, std::size_t>> seen;  // key, backend
    for (std::size_t i = 0; i < agg.backends.size(); ++i) {
        const auto& b = agg.backends[i];
        auto keys = aggregate::known_keys(b.shape);
        if (!keys) continue;
        for (const auto& key : *keys) {
            auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == key; });
            if (it == seen.end()) {
                seen.emplace_back(key, i);
                continue;
            }
            // With a deep merge two groups of objects may merge; only a shallow merge is sure to clash.
            if (agg.merge == aggregate::merge_mode::shallow) {
                r.error(backends_node[i], reader::index(path, i),
                        "backends \"" + agg.backends[it->second].name + "\" and \"" + b.name + "\" both write key \"" +
                            key + "\" (conflicts: error); give one a group or rename it");
            }
        }
    }
}

}  // namespace

void read_aggregate(reader& r, const YAML::Node& node, const std::string& path, const gateway_config& cfg,
                    route_config& route) {
    if (!r.expect_map(node, path, *aggregate_schema())) {
        return;
    }
    auto agg = std::make_shared<aggregate_config>();
    r.optional_field(node, "timeout", path, agg->timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "conflicts", path, agg->conflicts, [&](const YAML::Node& n, const std::string& p) {
        return r.one_of<aggregate::conflict_policy>(n, p, "conflict policy",
                                                    {{"error", aggregate::conflict_policy::error},
                                                     {"first", aggregate::conflict_policy::first},
                                                     {"last", aggregate::conflict_policy::last}});
    });
    r.optional_field(node, "merge", path, agg->merge, [&](const YAML::Node& n, const std::string& p) {
        return r.one_of<aggregate::merge_mode>(
            n, p, "merge mode", {{"shallow", aggregate::merge_mode::shallow}, {"deep", aggregate::merge_mode::deep}});
    });
    r.optional_field(node, "max_body", path, agg->max_body,
                     [&](const YAML::Node& n, const std::string& p) { return r.size(n, p); });
    std::uint64_t max_backends = 16;
    r.optional_field(node, "max_backends", path, max_backends,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 256); });
    r.optional_field(node, "expose_errors", path, agg->expose_errors,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    if (auto n = node["forward_headers"]; n.IsDefined()) {
        for (auto& [item, name] : r.string_list(n, path + ".forward_headers")) {
            if (!http::valid_token(name)) {
                r.error(item, path + ".forward_headers", "invalid field name \"" + name + "\"");
            } else if (gateway_owned_field(name)) {
                r.error(item, path + ".forward_headers", "\"" + name + "\" is set by the gateway itself");
            } else {
                agg->forward_headers.push_back(name);
            }
        }
    }
    if (auto n = node["forward_query"]; n.IsDefined()) {
        for (auto& [item, name] : r.string_list(n, path + ".forward_query")) {
            if (name.empty() || name.find_first_of("&=#? ") != std::string::npos) {
                r.error(item, path + ".forward_query", "invalid query parameter name \"" + name + "\"");
            } else {
                agg->forward_query.push_back(name);
            }
        }
    }

    auto backends = node["backends"];
    const auto backends_path = path + ".backends";
    if (!backends.IsDefined() || !backends.IsSequence() || backends.size() == 0) {
        r.error(backends.IsDefined() ? backends : node, backends_path, "expected a list of one or more backends");
        return;
    }
    if (backends.size() > max_backends) {
        r.error(
            backends, backends_path,
            std::to_string(backends.size()) + " backends exceed max_backends (" + std::to_string(max_backends) + ")");
        return;
    }
    // Names first: a backend may name one that comes after it.
    std::vector<std::string> names;
    for (std::size_t i = 0; i < backends.size(); ++i) {
        auto name_node = backends[i].IsMap() ? backends[i]["name"] : YAML::Node();
        auto p = reader::index(backends_path, i) + ".name";
        std::string name;
        if (!name_node.IsDefined()) {
            r.error(backends[i], p, "missing required key \"name\"");
        } else if (auto s = r.string(name_node, p)) {
            if (!http::valid_token(*s) || s->find('.') != std::string::npos) {
                r.error(name_node, p, "invalid backend name \"" + *s + "\" (letters, digits, '-' and '_')");
            } else if (std::find(names.begin(), names.end(), *s) != names.end()) {
                r.error(name_node, p, "duplicate backend name \"" + *s + "\"");
            } else {
                name = *s;
            }
        }
        names.push_back(name);
    }
    const auto params = route_params(route.match);
    for (std::size_t i = 0; i < backends.size(); ++i) {
        aggregate_backend backend;
        backend.name = names[i];
        read_backend(r, backends[i], reader::index(backends_path, i), template_checks{params, names, names[i]}, cfg,
                     backend);
        agg->backends.push_back(std::move(backend));
    }
    if (auto cycle = find_cycle(agg->backends); !cycle.empty()) {
        r.error(backends, backends_path, "backends depend on each other in a cycle: " + cycle);
    }
    check_known_conflicts(r, backends, backends_path, *agg);
    route.aggregate = std::move(agg);
}

}  // namespace gatehouse::config
