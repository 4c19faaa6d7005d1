#pragma once
// What an aggregation does to each backend's JSON answer before the merge (target, allow or
// deny, rename, group) and the merge itself. Pure functions over Boost.JSON values.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace gatehouse::aggregate {

using dot_path = std::vector<std::string>;

// Splits "data.items" into {"data", "items"}; empty segments make it invalid (nullopt).
std::optional<dot_path> parse_dot_path(std::string_view text);
std::string join_dot_path(const dot_path& path);

struct shaping {
    std::optional<dot_path> target;                           // the sub-tree of the answer to keep
    std::vector<dot_path> allow;                              // keep only these fields (each object of an array alike)
    std::vector<dot_path> deny;                               // drop these fields
    std::vector<std::pair<std::string, std::string>> rename;  // top-level key, new name
    std::optional<std::string> group;                         // put the result under this key
    bool operator==(const shaping&) const = default;
};

// The field at path in v, or nullptr.
const boost::json::value* find_path(const boost::json::value& v, const dot_path& path);

// Applies target, then allow or deny, then rename, then group. The result is an object;
// otherwise (an array or scalar answer without a group, a missing target) nullopt and why.
std::optional<boost::json::object> shape(boost::json::value answer, const shaping& rules, std::string& why);

enum class conflict_policy { error, first, last };
enum class merge_mode { shallow, deep };

// Merges from into into. A key both hold: with deep, two objects merge recursively; otherwise
// the policy decides (first keeps into's, last takes from's, error stops and returns the key's
// dot path).
std::optional<std::string> merge(boost::json::object& into, boost::json::object&& from, conflict_policy policy,
                                 merge_mode mode);

// The top-level keys a backend's shaped answer can hold, when its configuration says: its
// group, or the first segments of its allow list after rename. nullopt: not known before it
// answers.
std::optional<std::vector<std::string>> known_keys(const shaping& rules);

// What a JSON scalar reads as in a URL or header: strings as they are, numbers and booleans as
// written. False for null, objects and arrays.
bool scalar_text(const boost::json::value& v, std::string& out);

}  // namespace gatehouse::aggregate
