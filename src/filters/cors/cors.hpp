#pragma once
// cors: Cross-Origin Resource Sharing for browser clients. Preflight requests (OPTIONS with
// Origin and Access-Control-Request-Method) are answered by the gateway and never reach the
// upstream; actual requests from an allowed origin get the Access-Control-* response fields.
// Requests from other origins pass without them (the browser then withholds the response).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/config/schema.hpp"
#include "gatehouse/filters/factory.hpp"

namespace YAML {
class Node;
}
namespace gatehouse::config {
class reader;
}

namespace gatehouse::filters::cors {

// An allowed origin: exact ("https://app.example.com"), a wildcard in the host
// ("https://*.example.com": one or more labels), or "*".
struct origin_pattern {
    std::string prefix;  // up to the "*" (or the whole origin when exact)
    std::string suffix;  // after the "*"
    bool wildcard = false;
    bool any = false;
    std::string text;
    bool matches(std::string_view origin) const;
};

std::optional<origin_pattern> parse_origin(std::string_view text, std::string& error);

struct settings {
    std::vector<origin_pattern> origins;
    std::vector<std::string> methods{"GET", "HEAD", "POST"};
    std::vector<std::string> headers;  // empty: allow what the preflight asks for
    std::vector<std::string> expose_headers;
    bool credentials = false;
    std::optional<config::duration> max_age;
    bool any_origin() const;
};

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();

}  // namespace gatehouse::filters::cors
