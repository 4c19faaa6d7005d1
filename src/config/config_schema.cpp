// The schema of the whole file and of the routes section: the keys loader.cpp,
// route_section.cpp and aggregate_section.cpp accept (see gatehouse/config/schema.hpp). Filter
// blocks come from each filter's own schema, through the registry.
#include "gatehouse/filters/registry.hpp"
#include "sections.hpp"

namespace gatehouse::config {

namespace sc = schema;

sc::ref header_edits_schema() {
    static const auto s =
        sc::object("header_edits", "Header fields to set, add or remove",
                   {{"set", sc::map(sc::string(), "name: value, replacing any field of that name"), {}},
                    {"add", sc::map(sc::string(), "name: value, added beside fields of that name"), {}},
                    {"remove", sc::strings("names of fields to remove"), {}}});
    return s;
}

sc::ref logging_schema() {
    static const auto s = sc::object(
        "logging", "The gateway's own log (stderr)",
        {{"level", sc::words({"trace", "debug", "info", "warn", "error", "critical", "off"}), "default info"}});
    return s;
}

sc::ref match_schema() {
    static const auto s = sc::object(
        "match", "What a request must have for the route to take it; the most specific route wins",
        {{"host", sc::strings("exact name, *.example.com or *"), {}},
         {"hosts", sc::strings("same as host"), {}},
         {"path", sc::string("a path prefix, as NGINX's location /x"), {}},
         {"prefix", sc::string("a path prefix (segment-wise)"), {}},
         {"exact", sc::string("the whole path"), {}},
         {"template", sc::string("segments and whole-segment {params}: /users/{id}"), {}},
         {"methods", sc::strings("methods the route takes (default: all)"), {}},
         {"headers", sc::map(sc::any_of({sc::string(), sc::null()}), "name: value, or name: ~ for presence"), {}}});
    return s;
}

sc::ref route_filters_schema() {
    static const auto chain = sc::strings("filter names declared under filters:");
    static const auto s = sc::object("route_filters", "Changes to default_filters for this route",
                                     {{"add", chain, "run these after the defaults"},
                                      {"skip", chain, "leave these defaults out"},
                                      {"replace", sc::any_of({chain, sc::null()}), "run only these (~: none)"}});
    return s;
}

sc::ref websocket_schema() {
    static const auto s =
        sc::object("websocket", "WebSocket tunnels on this route",
                   {{"idle_timeout", sc::duration(), "a tunnel with no byte either way is closed (default 300s)"},
                    {"max_duration", sc::duration(), "longest life of a tunnel; 0s: none (default 0s)"}});
    return s;
}

sc::ref aggregate_backend_schema() {
    static const auto s = sc::object(
        "aggregate_backend", "One call of an aggregate route",
        {{"name", sc::string("letters, digits, - and _; names the answer in errors and templates"), {}, true},
         {"upstream", sc::string("the upstream to call"), {}, true},
         {"method", sc::string("GET (default), or POST, PUT, PATCH with the client's body"), {}},
         {"path", sc::string("path and query; {param} from the route, {backend.field} from another answer"), {}, true},
         {"headers", sc::map(sc::string(), "name: template, as path"), {}},
         {"target", sc::string("take this sub-tree of the answer (dot path)"), {}},
         {"allow", sc::strings("keep only these fields (dot paths)"), {}},
         {"deny", sc::strings("drop these fields (dot paths)"), {}},
         {"rename", sc::map(sc::string(), "key: new name"), {}},
         {"group", sc::string("put the answer under this key"), {}},
         {"required", sc::boolean("its failure fails the request (default true)"), {}},
         {"timeout", sc::duration("for this call (default: the route's)"), {}}});
    return s;
}

sc::ref aggregate_schema() {
    static const auto s = sc::object(
        "aggregate", "Call several upstreams and merge their JSON answers into one",
        {{"timeout", sc::duration(), "the whole fan-out; past it 504 (default: the route's timeout)"},
         {"conflicts", sc::words({"error", "first", "last"}), "two backends writing one key (default error)"},
         {"merge", sc::words({"shallow", "deep"}), "deep merges nested objects (default shallow)"},
         {"max_body", sc::size(), "largest backend answer (default 2MiB)"},
         {"max_backends", sc::integer(1, 256), "most backends allowed (default 16)"},
         {"expose_errors", sc::boolean(), "pass backend statuses and error bodies to the client (default false)"},
         {"forward_headers", sc::strings("client header fields the backends receive"), {}},
         {"forward_query", sc::strings("client query parameters the backends receive"), {}},
         {"backends", sc::list(aggregate_backend_schema()), "called in parallel, merged in this order", true}});
    return s;
}

sc::ref route_schema() {
    static const auto s = sc::object(
        "route", "Which requests go where, and what happens on the way",
        {{"name", sc::string("unique; labels metrics and logs"), {}, true},
         {"match", match_schema(), {}},
         {"upstream", sc::string("the upstream that serves the route (or aggregate)"), {}},
         {"aggregate", aggregate_schema(), {}},
         {"strip_prefix", sc::string("remove this prefix of the path before forwarding"), {}},
         {"replace_prefix", sc::string("put this in place of strip_prefix"), {}},
         {"host_rewrite", sc::string("Host sent upstream (default: the client's)"), {}},
         {"request_headers", header_edits_schema(), "edits to the request sent upstream"},
         {"response_headers", header_edits_schema(), "edits to the response sent back"},
         {"timeout", sc::duration(), "until the upstream's response head (default timeouts.request)"},
         {"max_body", sc::size(), "request body limit (default limits.max_body)"},
         {"filters", sc::any_of({sc::strings(), route_filters_schema()}),
          "a list: added to default_filters; or { add, skip, replace }"},
         {"retry_non_idempotent", sc::boolean(), "retry POST and PATCH too (default false)"},
         {"websocket", sc::any_of({sc::boolean(), websocket_schema()}), "tunnel WebSocket upgrades (default false)"}});
    return s;
}

namespace schema {

ref config_schema() {
    static const ref s = [] {
        std::vector<ref> filter_types;
        for (const auto& t : filters::filter_types()) filter_types.push_back(t.schema());
        return object("gatehouse", "The gateway's config file",
                      {{"server", server_schema(), {}},
                       {"logging", logging_schema(), {}},
                       {"admin", any_of({admin_schema(), null()}), "~ disables the admin listener"},
                       {"filters", map(any_of(std::move(filter_types)), "name: { type, settings }"), {}},
                       {"default_filters", strings("filters every route runs, in order"), {}},
                       {"upstreams", map(upstream_schema(), "name: settings"), {}, true},
                       {"routes", list(route_schema()), {}, true}});
    }();
    return s;
}

}  // namespace schema

}  // namespace gatehouse::config
