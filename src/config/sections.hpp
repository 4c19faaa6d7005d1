#pragma once
// The readers of the config's sections, each reporting errors with file:line and key into the
// reader (loader.cpp runs them in order). Private to src/config.
#include <cstddef>
#include <string>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/config/reader.hpp"
#include "gatehouse/config/schema.hpp"

namespace YAML {
class Node;
}

namespace gatehouse::config {

// server_section.cpp
void read_server(reader& r, const YAML::Node& node, server_config& server);
void read_admin(reader& r, const YAML::Node& admin, admin_config& out);
void read_upstream(reader& r, const std::string& name, const YAML::Node& key, const YAML::Node& node,
                   upstream_config& up);

// server_schema.cpp: the keys and types of each mapping the readers above accept.
schema::ref certificate_files_schema();
schema::ref client_auth_schema();
schema::ref listener_tls_schema();
schema::ref listener_schema();
schema::ref upstream_tls_schema();
schema::ref retry_backoff_schema();
schema::ref retry_schema();
schema::ref health_check_schema();
schema::ref pool_schema();
schema::ref outlier_schema();
schema::ref upstream_limits_schema();
schema::ref paths_schema();
schema::ref limits_schema();
schema::ref timeouts_schema();
schema::ref server_schema();
schema::ref admin_schema();
schema::ref upstream_schema();

// config_schema.cpp: the same for the root, logging and routes.
schema::ref logging_schema();
schema::ref match_schema();
schema::ref route_filters_schema();
schema::ref websocket_schema();
schema::ref aggregate_backend_schema();
schema::ref aggregate_schema();
schema::ref route_schema();

// route_section.cpp
void read_filters(reader& r, const YAML::Node& node, gateway_config& cfg);
// The filter names a chain lists: each must be declared; duplicates are errors.
std::vector<std::size_t> read_chain(reader& r, const YAML::Node& node, const std::string& path,
                                    const std::vector<filter_instance>& declared);
void read_route(reader& r, const YAML::Node& node, const std::string& path, route_config& route);

// aggregate_section.cpp: a route's aggregate block (after its match, which names the parameters).
void read_aggregate(reader& r, const YAML::Node& node, const std::string& path, const gateway_config& cfg,
                    route_config& route);
// A route's filters: a list adds to the defaults; {add, skip, replace} say it explicitly.
void read_route_filters(reader& r, const YAML::Node& node, const std::string& path, const gateway_config& cfg,
                        route_config& route);

}  // namespace gatehouse::config
