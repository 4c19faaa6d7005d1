#pragma once
// The route table, compiled once per config into hash maps and tries so that lookup cost does
// not grow with the number of routes. Immutable after compile; shared by all workers.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gatehouse/config/config.hpp"

namespace gatehouse::router {

// Read access to request headers for header matchers (keeps Beast out of this header).
class header_source {
public:
    virtual ~header_source() = default;
    // Value of the first field with this name (case-insensitive), if any.
    virtual std::optional<std::string_view> find(std::string_view name) const = 0;
};

struct request_view {
    std::string_view method;
    std::string_view host;  // lower-case, without port
    std::string_view path;  // without query
    const header_source* headers = nullptr;
};

struct route {
    config::route_config config;
    std::size_t index = 0;           // position in the config
    std::size_t upstream_index = 0;  // into gateway_config::upstreams
};

// Lets unordered maps keyed by std::string be searched with a string_view, without allocating.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

class route_table {
public:
    // Builds the table; routes must reference valid upstreams (the loader guarantees it).
    static std::shared_ptr<const route_table> compile(const config::gateway_config& config);

    // The most specific matching route: exact host over wildcard host over any host; within a
    // host, exact path over template over longest prefix; ties in config order. nullptr if none.
    const route* match(const request_view& request) const;

    const std::vector<route>& routes() const { return routes_; }

    struct path_table;  // defined in the .cpp

    route_table();
    ~route_table();
    route_table(const route_table&) = delete;
    route_table& operator=(const route_table&) = delete;

private:
    std::vector<route> routes_;
    string_map<std::unique_ptr<path_table>> exact_hosts_;
    string_map<std::unique_ptr<path_table>> wildcard_hosts_;  // key ".example.com"
    std::unique_ptr<path_table> any_host_;
};

}  // namespace gatehouse::router
