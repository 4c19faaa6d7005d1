#pragma once
// Runs an aggregate route's backend calls on one worker: every backend whose path and headers
// need nothing but the client's request starts at once, one that names a field of another's
// answer starts when that one has answered, each over an upstream::exchange with its own
// deadline. The answers are shaped and merged in configuration order once all have ended, so
// the result never depends on which answered first.
#include <chrono>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "gatehouse/config/aggregate.hpp"
#include "gatehouse/http/local_reply.hpp"
#include "gatehouse/observability/metrics.hpp"
#include "gatehouse/upstream/exchange.hpp"

namespace gatehouse::io {
class deadline_list;
}
namespace gatehouse::upstream {
class cluster_state;
}

namespace gatehouse::aggregate {

// What every backend call carries over from the client's request.
struct client_request {
    std::string_view request_id;
    std::string_view trace_id;     // 32 hex digits of the client's trace; empty: each call starts one
    std::string_view trace_flags;  // "01" sampled, "00" not
    // Complete "Name: value\r\n" lines for every call: forwarding fields, the route's and the
    // filters' request edits, the client fields the aggregate forwards.
    std::string_view common_fields;
    std::string_view query;  // client query parameters to forward, "a=1&b=2" (no '?')
    std::span<const std::pair<std::string_view, std::string_view>> params;  // route template values
    std::string_view body;                                                  // for calls that forward it
    std::string_view content_type;
};

// Where the calls run: the worker's loop, deadline list and pools.
struct fan_out_env {
    upstream::exchange_env exchange;
    std::pmr::polymorphic_allocator<char> allocator;  // the request's arena
    io::deadline_list* deadlines = nullptr;
    std::span<const std::shared_ptr<upstream::cluster_state>> clusters;  // by upstream index
    std::span<observability::cluster_stats* const> cluster_stats;        // by upstream index
    std::span<observability::backend_stats* const> backend_stats;        // by backend index; may be empty
    std::uint64_t client_hash = 0;
    std::uint64_t random_seed = 0;  // span ids
    std::chrono::milliseconds send_timeout{60'000};
    std::chrono::milliseconds read_timeout{60'000};
    std::size_t max_response_head = 64 * 1024;
};

// How one backend call ended, for the access log.
struct backend_outcome {
    unsigned status = 0;  // the backend's status; 0 if none came
    std::optional<observability::backend_failure> failure;
    std::chrono::nanoseconds duration{};
    std::string endpoint;
    bool called = false;
};

struct fan_out_result {
    unsigned status = 200;  // 200, or 502/504 with error set
    std::optional<http::local_reply> error;
    std::string body;                       // the merged JSON (status 200)
    std::vector<std::string> missing;       // optional backends left out
    std::vector<backend_outcome> backends;  // by backend index
};

// Runs the calls of config for request; deadline ends the whole fan-out.
boost::asio::awaitable<void> fan_out(const config::aggregate_config& config, const fan_out_env& env,
                                     const client_request& request, std::chrono::steady_clock::time_point deadline,
                                     fan_out_result& result);

// The Gatehouse-Aggregate field of a partial answer: partial; missing="orders reco".
std::string partial_field_value(const std::vector<std::string>& missing);

}  // namespace gatehouse::aggregate
