#pragma once
// respond: answers every request of the routes it is on with a fixed status and JSON error,
// without reaching the upstream (NGINX's "return 403"): maintenance windows, retired APIs,
// paths that must never be exposed.
#include <memory>
#include <string>

#include "gatehouse/config/schema.hpp"
#include "gatehouse/filters/factory.hpp"

namespace YAML {
class Node;
}
namespace gatehouse::config {
class reader;
}

namespace gatehouse::filters::respond {

struct settings {
    unsigned status = 403;
    std::string error = "forbidden";  // the JSON "error" code, also the metrics reason
    std::string message = "this path is not available";
};

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();

}  // namespace gatehouse::filters::respond
