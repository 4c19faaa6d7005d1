#pragma once
// Filter types by name. Adding a filter means one folder under src/filters/ and one line in
// src/filters/registry.cpp.
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "gatehouse/config/schema.hpp"
#include "gatehouse/filters/factory.hpp"

namespace YAML {
class Node;
}
namespace gatehouse::config {
class reader;
}

namespace gatehouse::filters {

// Parses and validates one filter instance's block (node, at path; its "type" key included):
// returns the factory, or nullptr after reporting every problem through r.
using parse_function = std::shared_ptr<const filter_factory> (*)(config::reader& r, const YAML::Node& node,
                                                                 const std::string& path);

struct filter_type {
    std::string_view name;
    parse_function parse;
    config::schema::ref (*schema)();  // the keys parse accepts, "type" included
};

// Every filter type the gateway knows.
std::span<const filter_type> filter_types();

// The type called name, or nullptr.
const filter_type* find_filter_type(std::string_view name);

}  // namespace gatehouse::filters
