#pragma once
// access_log: one JSON line per exchange, whatever its outcome, through an asynchronous spdlog
// logger (its own thread does the writing). Each worker collects lines in its own buffer and
// hands them over in batches (when `buffer` fills, or `flush` after the first line), so a
// request costs a formatted line and no lock or wake-up, as NGINX's access_log buffer= does.
#include <memory>
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

namespace gatehouse::filters::access_log {

enum class field {
    time,
    request_id,
    trace_id,
    client,
    method,
    path,
    route,
    upstream,
    tries,  // how many tries the upstream took, and their endpoints ("tried")
    status,
    bytes_in,
    bytes_out,
    duration_ms,
    upstream_duration_ms,
    filter,
    reason,
    consumer,
    tls_client,  // written only with a verified client certificate: {subject, sans, fingerprint}
    backends     // written only for aggregate routes
};

struct settings {
    std::string output = "stdout";  // stdout, stderr or a file path (appended to)
    std::vector<field> fields;      // in this order; all when not configured
    std::uint64_t buffer = 64 * 1024;
    config::duration flush{1000};
    // When the writer cannot keep up (a full disk, a stdout pipe nobody reads): drop lines and
    // count them (gatehouse_filter_events_total{event="lines_dropped"}), or block the workers
    // until it catches up, which stops all traffic.
    bool block_on_overflow = false;
    std::string instance;  // the filter's name, for its metrics
};

// Appends the JSON line (with its newline) for one exchange.
void format_line(const settings& s, const request_context& ctx, const exchange_log& log, std::string& out);

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();
std::shared_ptr<const filter_factory> make_factory(settings s);

}  // namespace gatehouse::filters::access_log
