#pragma once
// request_id: which request id the gateway uses and forwards, and W3C trace context
// (traceparent): a valid incoming trace is continued with a new span for this hop, and a trace
// is started when none (or an invalid one) arrives.
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

namespace gatehouse::filters::request_id {

struct settings {
    std::string header = "X-Request-Id";  // where the id is read from and forwarded in
    bool trust_incoming = true;           // keep a valid id sent by the client
    bool trace_context = true;            // propagate or start W3C traceparent
    bool sample = true;                   // the sampled flag of traces this gateway starts
    bool response_header = true;          // echo the id to the client in `header`
};

// Validates a traceparent value: on success sets trace_id (32 hex) and flags (2 hex).
bool parse_traceparent(std::string_view value, std::string_view& trace_id, std::string_view& flags);

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();
std::shared_ptr<const filter_factory> make_factory(settings s);

}  // namespace gatehouse::filters::request_id
