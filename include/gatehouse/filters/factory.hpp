#pragma once
// A filter factory is built once per config load from the filter's validated config (on the
// control thread) and shared by the workers; each worker asks it for its own filter instance,
// so per-worker state (buckets, buffers, connections) needs no locks.
#include <memory>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "gatehouse/filters/filter.hpp"
#include "gatehouse/observability/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace gatehouse::filters {

// What a worker offers the filters it creates.
struct worker_services {
    boost::asio::io_context& io;
    unsigned worker_id = 0;
    observability::worker_stats* stats = nullptr;  // for filter_event counters
};

class filter_factory {
public:
    virtual ~filter_factory() = default;
    // A filter instance for one worker; called on that worker's thread.
    virtual std::unique_ptr<filter> create(worker_services& worker) const = 0;
    // The filter's settings as JSON for the admin /config page, secrets replaced by "<redacted>".
    virtual boost::json::object describe() const = 0;
    // Request fields this filter sets to tell the upstream who the caller is (a consumer
    // header, claims): the gateway removes client-sent copies from every request, on every
    // route, so that a route without this filter cannot be used to forge them.
    virtual std::vector<std::string> identity_fields() const { return {}; }
    // For `gatehouse explain` and the admin POST /explain: true if a fresh instance's
    // on_request has no effect beyond the request (no token spent, no fetch started, no line
    // logged), so explain runs the filter itself on the described request and shows its
    // decision. Otherwise explain shows offline_note(): what the filter does at request time.
    virtual bool runs_offline() const { return false; }
    virtual std::string offline_note() const { return "decided at request time"; }
};

}  // namespace gatehouse::filters
