#include "gatehouse/config/reader.hpp"

#include <algorithm>
#include <charconv>

#include "gatehouse/config/units.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::config {

void reader::error(const YAML::Node& node, const std::string& path, std::string message) {
    config_error e;
    e.file = source_;
    if (node.IsDefined()) {
        auto mark = node.Mark();
        if (mark.line >= 0) {
            e.line = mark.line + 1;
            e.column = mark.column + 1;
        }
    }
    e.path = path;
    e.message = std::move(message);
    redact_values(e.message, env_values);  // messages quote values, and reach logs and /reload answers
    errors.push_back(std::move(e));
}

bool reader::expect_map(const YAML::Node& node, const std::string& path, const schema::node& object) {
    if (!node.IsMap()) {
        error(node, path, "expected a mapping");
        return false;
    }
    for (const auto& item : node) {
        auto key = item.first.Scalar();
        if (!object.find(key)) {
            std::string list;
            for (const auto& p : object.properties) {
                list += list.empty() ? "" : ", ";
                list += p.key;
            }
            std::string message = "unknown key \"";
            message += key;
            message += "\" (expected one of: ";
            message += list;
            message += ")";
            error(item.first, join(path, key), message);
        }
    }
    return true;
}

std::optional<std::string> reader::string(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
        error(node, path, "expected a string");
        return std::nullopt;
    }
    std::string message;
    auto value = expand_env(node.Scalar(), env_, message, &env_values);
    if (!value) {
        error(node, path, message);
    }
    return value;
}

std::optional<std::uint64_t> reader::unsigned_int(const YAML::Node& node, const std::string& path, std::uint64_t min,
                                                  std::uint64_t max) {
    auto text = string(node, path);
    if (!text) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc{} || ptr != text->data() + text->size() || text->empty()) {
        error(node, path, "expected a whole number, got \"" + *text + "\"");
        return std::nullopt;
    }
    if (value < min || value > max) {
        error(node, path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
        return std::nullopt;
    }
    return value;
}

std::optional<std::uint64_t> reader::size(const YAML::Node& node, const std::string& path) {
    auto text = string(node, path);
    if (!text) {
        return std::nullopt;
    }
    auto value = parse_size(*text);
    if (!value) {
        error(node, path, "invalid size \"" + *text + "\" (examples: 512, 64KiB, 8MiB, 1GiB, 10MB)");
    }
    return value;
}

std::optional<duration> reader::time(const YAML::Node& node, const std::string& path, bool allow_zero) {
    auto text = string(node, path);
    if (!text) {
        return std::nullopt;
    }
    auto value = parse_duration(*text);
    if (!value) {
        error(node, path, "invalid duration \"" + *text + "\" (examples: 250ms, 10s, 1m30s, 2h)");
        return std::nullopt;
    }
    if (!allow_zero && value->count() == 0) {
        error(node, path, "duration must be greater than zero");
        return std::nullopt;
    }
    return value;
}

std::optional<host_port> reader::address(const YAML::Node& node, const std::string& path, bool listener) {
    auto text = string(node, path);
    if (!text) {
        return std::nullopt;
    }
    auto value = parse_host_port(*text, listener);
    if (!value) {
        error(node, path, "invalid address \"" + *text + "\" (expected host:port or [ipv6]:port)");
        return std::nullopt;
    }
    return host_port{value->host, value->port};
}

std::vector<std::pair<YAML::Node, std::string>> reader::string_list(const YAML::Node& node, const std::string& path) {
    std::vector<std::pair<YAML::Node, std::string>> out;
    if (node.IsScalar()) {
        if (auto s = string(node, path)) {
            out.emplace_back(node, *s);
        }
    } else if (node.IsSequence()) {
        for (std::size_t i = 0; i < node.size(); ++i) {
            if (auto s = string(node[i], index(path, i))) {
                out.emplace_back(node[i], *s);
            }
        }
    } else {
        error(node, path, "expected a string or a list of strings");
    }
    return out;
}

std::optional<bool> reader::boolean(const YAML::Node& node, const std::string& path) {
    auto text = string(node, path);
    if (!text) {
        return std::nullopt;
    }
    if (*text == "true" || *text == "yes" || *text == "on") {
        return true;
    }
    if (*text == "false" || *text == "no" || *text == "off") {
        return false;
    }
    error(node, path, "expected true or false, got \"" + *text + "\"");
    return std::nullopt;
}

void read_header_edits(reader& r, const YAML::Node& node, const std::string& path, header_edits& out) {
    if (!r.expect_map(node, path, *header_edits_schema())) {
        return;
    }
    auto read_pairs = [&](std::string_view key, std::vector<std::pair<std::string, std::string>>& target) {
        auto map = node[std::string(key)];
        if (!map.IsDefined() || map.IsNull()) {
            return;
        }
        auto p = reader::join(path, key);
        if (!map.IsMap()) {
            r.error(map, p, "expected a mapping of header name to value");
            return;
        }
        for (const auto& item : map) {
            auto name = item.first.Scalar();
            auto item_path = reader::join(p, name);
            if (!http::valid_token(name)) {
                r.error(item.first, item_path, "invalid header name \"" + name + "\"");
                continue;
            }
            auto value = r.string(item.second, item_path);
            if (value && !http::valid_field_value(*value)) {
                r.error(item.second, item_path, "header value contains control characters");
                continue;
            }
            if (value) {
                target.emplace_back(name, *value);
            }
        }
    };
    read_pairs("set", out.set);
    read_pairs("add", out.add);
    if (auto remove = node["remove"]; remove.IsDefined() && !remove.IsNull()) {
        for (auto& [n, name] : r.string_list(remove, reader::join(path, "remove"))) {
            if (!http::valid_token(name)) {
                r.error(n, reader::join(path, "remove"), "invalid header name \"" + name + "\"");
            } else {
                out.remove.push_back(name);
            }
        }
    }
}

}  // namespace gatehouse::config
