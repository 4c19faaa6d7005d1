#pragma once
// The shape of the YAML config as data: every mapping the loader reads is a schema::object whose
// keys are the only ones reader::expect_map accepts, and `gatehouse --print-schema` turns the same
// tree into a JSON Schema (draft 2020-12) for editors and linters. One source of truth: a key
// added to the loader but not here is refused as unknown; a key here that the loader ignores is
// caught by tests/unit/config_schema_test.cpp, which feeds a wrong value to every key.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::config::schema {

struct node;
using ref = std::shared_ptr<const node>;

enum class kind : std::uint8_t {
    string,    // any scalar, read as text (after ${VAR} expansion)
    boolean,   // true/false, yes/no, on/off
    integer,   // a whole number between min and max
    size,      // bytes: 512, 64KiB, 8MiB, 10MB
    duration,  // 250ms, 10s, 1m30s, 2h
    percent,   // 0% to 100%
    words,     // one of a fixed set of words
    constant,  // exactly one word (a filter's type)
    null,      // ~, to switch a section off
    list,      // a list of item (or a lone item, when single_ok)
    map,       // a mapping of free names (header, upstream, filter) to item
    object,    // a mapping with a fixed set of keys
    any_of,    // one of alternatives
};

struct property {
    std::string key;
    ref type;
    std::string description;
    bool required = false;
};

struct node {
    kind k = kind::string;
    std::string description;
    std::string pattern;               // string: an ECMA regex the text must match
    std::uint64_t min = 0, max = 0;    // integer
    std::vector<std::string> words;    // words, constant
    ref item;                          // list, map
    bool single_ok = false;            // list
    std::string name;                  // object: its name under $defs
    std::vector<property> properties;  // object
    std::vector<ref> alternatives;     // any_of

    // An object's property, or nullptr.
    const property* find(std::string_view key) const;
};

ref string(std::string description = {}, std::string pattern = {});
ref boolean(std::string description = {});
ref integer(std::uint64_t min, std::uint64_t max, std::string description = {});
ref size(std::string description = {});
ref duration(std::string description = {});
ref percent(std::string description = {});
ref words(std::vector<std::string> words, std::string description = {});
ref constant(std::string word);
ref null();
ref list(ref item, std::string description = {}, bool single_ok = false);
// A string or a list of strings: how most lists in the config may be written.
ref strings(std::string description = {});
ref map(ref item, std::string description = {});
ref any_of(std::vector<ref> alternatives, std::string description = {});
ref object(std::string name, std::string description, std::vector<property> properties);

// Walks the tree; f(node) for every node once, objects included (cycles are not possible: the
// tree is built bottom-up).
template <typename F>
void for_each(const ref& root, F&& f);

// The JSON Schema (draft 2020-12) of root, pretty-printed. Objects become $defs.
std::string json_schema(const node& root, std::string_view id);

// The whole config file: root object (server, logging, admin, filters, upstreams, routes).
ref config_schema();

template <typename F>
void for_each(const ref& root, F&& f) {
    if (!root) return;
    f(*root);
    for (const auto& p : root->properties) for_each(p.type, f);
    for (const auto& a : root->alternatives) for_each(a, f);
    for_each(root->item, f);
}

}  // namespace gatehouse::config::schema
