#pragma once
// api_key: a key from a header (or a query parameter) identifies the caller. Keys come from the
// config, a file or an environment variable and are never logged; each names a consumer that
// later filters, logs and the upstream can use. The presented key is hashed (SHA-256) and the
// digest compared in constant time, so response timing says nothing about stored keys.
//   missing key -> 401 with WWW-Authenticate; unknown key -> 401; a consumer this instance does
//   not allow -> 403.
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/config/schema.hpp"
#include "gatehouse/filters/factory.hpp"

namespace YAML {
class Node;
}
namespace gatehouse::config {
class reader;
}

namespace gatehouse::filters::api_key {

using digest = std::array<unsigned char, 32>;

digest sha256(std::string_view text);

struct settings {
    std::string header = "X-Api-Key";                  // where the key is looked for; empty: not in a header
    std::optional<std::string> query;                  // also this query parameter
    std::vector<std::pair<digest, std::string>> keys;  // SHA-256 of each key, and its consumer
    std::vector<std::string> allow;                    // consumers allowed here; empty: every known consumer
    bool strip = true;                                 // remove the key before forwarding
    std::optional<std::string> consumer_header;        // send the consumer name upstream in this field
    std::vector<std::string> sources;                  // "inline", "file /path", "env NAME"
};

// Parses "name:key,name:key" (the environment variable form).
bool parse_key_list(std::string_view text, std::vector<std::pair<std::string, std::string>>& out, std::string& error);

// Removes every occurrence of the query parameter name from an origin-form target.
std::string strip_query_parameter(std::string_view target, std::string_view name);

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();

}  // namespace gatehouse::filters::api_key
