#pragma once
// Walks a YAML tree, converting values and collecting errors with file, line, column and YAML
// path. The loader and every filter's config parser use it, so all config errors look alike.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "gatehouse/config/config.hpp"
#include "gatehouse/config/env.hpp"
#include "gatehouse/config/loader.hpp"
#include "gatehouse/config/schema.hpp"

namespace gatehouse::config {

class reader {
public:
    reader(std::string source, const env_lookup& env) : source_(std::move(source)), env_(env) {}

    std::vector<config_error> errors;
    // Values taken from the environment so far (expand_env's from_env): redacted from error
    // messages here, and from /config by the loader's caller.
    std::vector<std::string> env_values;

    // Records an error at node's position.
    void error(const YAML::Node& node, const std::string& path, std::string message);

    // Reports keys of a mapping that are not properties of object (its schema, which
    // --print-schema publishes). Returns false if node is not a mapping.
    bool expect_map(const YAML::Node& node, const std::string& path, const schema::node& object);

    static std::string join(const std::string& path, std::string_view key) {
        return path.empty() ? std::string(key) : path + "." + std::string(key);
    }
    static std::string index(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

    // Scalar conversions; each reports its own error and returns nullopt on failure.
    std::optional<std::string> string(const YAML::Node& node, const std::string& path);
    std::optional<bool> boolean(const YAML::Node& node, const std::string& path);
    std::optional<std::uint64_t> unsigned_int(const YAML::Node& node, const std::string& path, std::uint64_t min,
                                              std::uint64_t max);
    std::optional<std::uint64_t> size(const YAML::Node& node, const std::string& path);
    std::optional<duration> time(const YAML::Node& node, const std::string& path, bool allow_zero = false);
    std::optional<host_port> address(const YAML::Node& node, const std::string& path, bool listener);
    // One of a fixed set of words, else the error 'unknown <what> "x" (expected a, b or c)'.
    template <typename E>
    std::optional<E> one_of(const YAML::Node& node, const std::string& path, std::string_view what,
                            std::initializer_list<std::pair<std::string_view, E>> choices) {
        auto s = string(node, path);
        if (!s) {
            return std::nullopt;
        }
        std::string expected;
        std::size_t i = 0;
        for (const auto& [word, value] : choices) {
            if (*s == word) {
                return value;
            }
            expected += i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ";
            expected += word;
            ++i;
        }
        error(node, path, "unknown " + std::string(what) + " \"" + *s + "\" (expected " + expected + ")");
        return std::nullopt;
    }
    // A string or a list of strings.
    std::vector<std::pair<YAML::Node, std::string>> string_list(const YAML::Node& node, const std::string& path);

    // Sets target from parent[key] through convert when the key is present and not null.
    template <typename T, typename F>
    void optional_field(const YAML::Node& parent, std::string_view key, const std::string& path, T& target, F convert) {
        auto node = parent[std::string(key)];
        if (!node.IsDefined() || node.IsNull()) {
            return;
        }
        if (auto value = convert(node, join(path, key))) {
            target = *value;
        }
    }

    const std::string& source() const { return source_; }

private:
    std::string source_;
    const env_lookup& env_;
};

// Reads a { set: {Name: value}, add: {...}, remove: [Name] } block (route header edits, the
// headers filter): names must be tokens, values free of control characters.
void read_header_edits(reader& r, const YAML::Node& node, const std::string& path, header_edits& out);
schema::ref header_edits_schema();

}  // namespace gatehouse::config
