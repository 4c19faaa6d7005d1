#include "gatehouse/config/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/filters/factory.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "sections.hpp"

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

// FNV-1a of the file's text, in hex: /config and reload logs name the config by it.
std::string checksum_of(std::string_view text) {
    std::uint64_t hash = 1469598103934665603ULL;
    for (unsigned char c : text) {
        hash = (hash ^ c) * 1099511628211ULL;
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (int shift = 60; shift >= 0; shift -= 4) {
        out += digits[(hash >> shift) & 0xf];
    }
    return out;
}

void read_logging(reader& r, const YAML::Node& logging, logging_config& out) {
    if (!r.expect_map(logging, "logging", *logging_schema())) {
        return;
    }
    r.optional_field(
        logging, "level", "logging", out.level,
        [&](const YAML::Node& n, const std::string& p) -> std::optional<std::string> {
            auto s = r.string(n, p);
            static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
            if (s && !levels.contains(*s)) {
                r.error(n, p, "unknown level \"" + *s + "\" (trace, debug, info, warn, error, critical, off)");
                return std::nullopt;
            }
            return s;
        });
}

// Filters first: default_filters and routes name them. Then what identifies a caller to the
// upstream (filters' claim and key headers), which the gateway strips from clients.
void read_filter_sections(reader& r, const YAML::Node& root, gateway_config& cfg) {
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
}

void read_upstreams(reader& r, const YAML::Node& root, gateway_config& cfg) {
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
}

void read_routes(reader& r, const YAML::Node& root, gateway_config& cfg) {
    auto routes = root["routes"];
    if (!routes.IsDefined()) {
        r.error(root, "routes", "missing required key \"routes\"");
        return;
    }
    if (!routes.IsSequence()) {
        r.error(routes, "routes", "expected a list of routes");
        return;
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < routes.size(); ++i) {
        auto path = reader::index("routes", i);
        route_config route;
        read_route(r, routes[i], path, route);
        if (routes[i].IsMap() && routes[i]["aggregate"].IsDefined()) {
            read_aggregate(r, routes[i]["aggregate"], path + ".aggregate", cfg, route);
        }
        read_route_filters(r, routes[i].IsMap() ? routes[i]["filters"] : YAML::Node(), path + ".filters", cfg, route);
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

void read_root(reader& r, const YAML::Node& root, gateway_config& cfg) {
    if (!root.IsDefined() || root.IsNull()) {
        r.error(root, "", "the config is empty");
        return;
    }
    if (!r.expect_map(root, "", *schema::config_schema())) {
        return;
    }
    if (auto server = root["server"]; server.IsDefined()) {
        read_server(r, server, cfg.server);
    }
    if (auto logging = root["logging"]; logging.IsDefined()) {
        read_logging(r, logging, cfg.logging);
    }
    if (auto admin = root["admin"]; admin.IsDefined()) {
        if (admin.IsNull()) {
            cfg.admin.listen.reset();
        } else if (r.expect_map(admin, "admin", *admin_schema())) {
            read_admin(r, admin, cfg.admin);
        }
    }
    read_filter_sections(r, root, cfg);
    read_upstreams(r, root, cfg);
    read_routes(r, root, cfg);
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
    cfg.checksum = checksum_of(text);
    read_root(r, root, cfg);
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
