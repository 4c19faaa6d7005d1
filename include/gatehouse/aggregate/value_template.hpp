#pragma once
// The path and header values of an aggregation's backend calls: literal text with {name}
// references to the route template's parameters and {backend.field.path} references to a field
// of another backend's answer. Parsed once at config load; expanded per request with every
// substituted value encoded for where it lands, so a value can never add a path segment, a
// query parameter or a header line.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::aggregate {

struct template_part {
    enum class kind { literal, route_param, backend_field };
    kind type = kind::literal;
    std::string text;                // the literal, the parameter's name or the backend's name
    std::vector<std::string> field;  // backend_field: the dot path into that backend's answer
    bool in_query = false;           // after the path's '?': encoded as a query component
};

class value_template {
public:
    enum class context { path, header };

    // Parses text ("/orders?customer={user.customer_id}"). A reference without a dot names a
    // route parameter, one with a dot a backend and a field of its answer. nullopt with why set
    // on a syntax error (unbalanced braces, an empty name, a path not starting with "/").
    static std::optional<value_template> parse(std::string_view text, context where, std::string& why);

    const std::vector<template_part>& parts() const { return parts_; }
    context where() const { return where_; }
    const std::string& source() const { return source_; }

    // Appends the expansion to out: lookup(part, value) fills value for each reference and
    // returns false when there is none (missing parameter or field, or a field that is an
    // object, an array or null); expand then stops and returns the failed part. It fails the
    // same way for a value it will not substitute: in a path, one holding '/' or '\' or that is
    // "." or ".."; in a header, one holding a control character.
    template <typename Lookup>
    const template_part* expand(std::string& out, Lookup&& lookup) const {
        std::string value;
        for (const auto& part : parts_) {
            if (part.type == template_part::kind::literal) {
                out += part.text;
                continue;
            }
            value.clear();
            if (!lookup(part, value) || !append_encoded(out, value, part)) return &part;
        }
        return nullptr;
    }

    bool operator==(const value_template& other) const { return source_ == other.source_; }

private:
    // Appends value encoded for its place; false for a header value holding a control character.
    bool append_encoded(std::string& out, std::string_view value, const template_part& part) const;

    std::string source_;
    context where_ = context::path;
    std::vector<template_part> parts_;
};

// Percent-decodes a route parameter as it appears in the (normalised) request path. Invalid
// escapes are kept as they are.
std::string percent_decode(std::string_view text);

// Appends text percent-encoded so that it is one path segment (everything but RFC 3986's
// unreserved characters escaped; "." and ".." escaped whole, so no dot segment appears).
void append_path_segment(std::string& out, std::string_view text);
// Appends text percent-encoded as a query name or value ('&', '=', '+' and '#' escaped).
void append_query_component(std::string& out, std::string_view text);

// The values of a route template's parameters in a request path: {"user", "42"} for template
// "/api/{user}" and path "/api/42". Empty when the path does not fit the template.
std::vector<std::pair<std::string_view, std::string_view>> template_params(std::string_view route_template,
                                                                           std::string_view path);

}  // namespace gatehouse::aggregate
