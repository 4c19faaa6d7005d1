#pragma once
// Plain, validated configuration structs. Built once by the loader; immutable afterwards.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gatehouse/common/ip_network.hpp"
#include "gatehouse/common/tls_context.hpp"
#include "gatehouse/http/check_request.hpp"

namespace gatehouse::filters {
class filter_factory;
}

namespace gatehouse::config {

using duration = std::chrono::milliseconds;

struct host_port {
    std::string host;  // name or IP literal (IPv6 without brackets)
    std::uint16_t port = 0;
    bool operator==(const host_port&) const = default;
    // "host:port", an IPv6 literal in brackets: for logs, labels and Host fields.
    std::string label() const {
        return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }
};

// A listener's TLS: certificates (chosen by SNI) and the oldest version accepted. The context
// is built when the config loads (files read, keys checked), so a reload picks up new files.
struct tls_listener_config {
    common::tls_server_settings settings;
    std::shared_ptr<common::tls_server_context> context;
};

struct listener_config : host_port {
    std::shared_ptr<const tls_listener_config> tls;  // null: plain HTTP
    // Set on a plain listener that only sends clients to HTTPS: a 308 to this port.
    std::optional<std::uint16_t> redirect_to_https;
    // The same socket: an address change, or TLS switched on or off, needs a restart.
    bool operator==(const listener_config& other) const {
        return host == other.host && port == other.port && !tls == !other.tls;
    }
};

struct limits_config {
    std::uint64_t max_request_line = 8 * 1024;
    std::uint64_t max_header_bytes = 32 * 1024;  // request line + all fields
    std::uint64_t max_header_count = 100;
    std::uint64_t max_body = 10 * 1024 * 1024;  // default per route
    std::uint64_t max_response_header_bytes = 64 * 1024;
};

struct timeouts_config {
    duration header{10'000};     // whole request header, from its first byte (slowloris)
    duration idle{60'000};       // keep-alive wait for the next request
    duration read{60'000};       // between body bytes from the client
    duration body{60'000};       // a whole request body, and a client's reading of a whole response body
    duration send{60'000};       // a write to the client making no progress
    duration request{30'000};    // default per-route upstream exchange timeout
    duration handshake{10'000};  // a TLS handshake, from the connection's accept
};

using http::underscore_headers;  // what to do with request field names that contain an underscore

struct server_config {
    std::vector<listener_config> listen{listener_config{{"0.0.0.0", 8080}, nullptr, std::nullopt}};
    unsigned workers = 0;  // 0: one per core
    std::uint64_t max_connections = 20'000;
    limits_config limits;
    timeouts_config timeouts;
    duration drain_timeout{10'000};  // on SIGTERM/SIGINT: how long requests in flight may finish
    underscore_headers headers_with_underscores = underscore_headers::drop;
    http::path_options paths;  // how request paths are normalised before routing
    // Peers (load balancers, CDNs) whose X-Forwarded-For names the client and whose other
    // forwarding fields (X-Forwarded-Proto, Forwarded, ...) are passed on; from anyone else
    // they are replaced.
    std::vector<common::network> trusted_proxies;
};

struct admin_config {
    std::optional<host_port> listen = host_port{"127.0.0.1", 9901};  // nullopt: no admin listener
    // Host names (besides IP literals and "localhost") the admin pages answer to: a page whose
    // domain was re-bound to this address sends its own name, which is refused.
    std::vector<std::string> hosts;
    // When set, every page but /healthz and /readyz needs "Authorization: Bearer <token>".
    // Required when the listener is not on loopback.
    std::string token;
    bool operator==(const admin_config&) const = default;
};

// One declared filter instance; its factory holds the validated, typed settings.
struct filter_instance {
    std::string name;
    std::string type;
    std::shared_ptr<const filters::filter_factory> factory;
};

struct logging_config {
    std::string level = "info";
};

enum class lb_policy { round_robin, least_request, random, ip_hash };

struct pool_config {
    std::uint64_t max_connections = 1024;  // per endpoint and worker, active + idle
    std::uint64_t max_idle = 128;          // per endpoint and worker
    duration idle_timeout{60'000};
    duration max_wait{1'000};  // wait for a free connection at max_connections
    std::uint64_t max_waiters = 1024;
    bool operator==(const pool_config&) const = default;
};

// When a failed try is made again (on another endpoint when there is one). Only before
// anything of a response reached the client, only for idempotent methods unless the route
// allows others, and only while the request body is still held (max_body).
struct retry_config {
    enum condition : std::uint32_t { connect_failure = 1, reset = 2, timeout = 4 };
    std::uint64_t attempts = 2;  // tries after the first
    std::uint32_t conditions = connect_failure | reset | timeout;
    std::vector<unsigned> statuses{502, 503, 504};  // response statuses that are retried
    duration per_try_timeout{0};                    // 0: only the route's timeout
    duration backoff_base{25};                      // jittered, doubling per retry up to backoff_max
    duration backoff_max{250};
    std::uint64_t budget_percent = 20;  // retries in flight <= this share of requests in flight...
    std::uint64_t budget_min = 3;       // ...or this many, whichever is more (per worker)
    std::uint64_t max_body = 64 * 1024;
    bool operator==(const retry_config&) const = default;
};

// Passive health: an endpoint that fails this many times in a row (a 5xx, a connect error, a
// reset or a timeout) is left out for a while, by every worker.
struct outlier_config {
    std::uint64_t consecutive_failures = 5;
    duration base_ejection{30'000};  // doubles with each ejection in a row...
    duration max_ejection{300'000};  // ...up to this
    std::uint64_t max_ejected_percent = 50;
    bool operator==(const outlier_config&) const = default;
};

// Active health: one prober per process asks each endpoint GET path every interval; after
// unhealthy_after failed probes in a row it is left out until healthy_after good ones.
struct health_check_config {
    std::string path = "/healthz";
    std::string host;  // the Host field; empty: the endpoint's host:port
    duration interval{5'000};
    duration timeout{1'000};
    std::uint64_t healthy_after = 2;
    std::uint64_t unhealthy_after = 3;
    std::vector<std::pair<unsigned, unsigned>> expect{{200, 399}};  // status ranges that pass
    bool operator==(const health_check_config&) const = default;
};

// Circuit breaking, per process: beyond these the cluster sheds load with 503.
struct cluster_limits {
    std::uint64_t max_requests = 0;  // in flight to the cluster; 0: no limit
    std::uint64_t max_pending = 0;   // waiting for a connection; 0: no limit
    bool operator==(const cluster_limits&) const = default;
};

// An upstream's TLS: the settings as configured and the client context built from them at load.
struct upstream_tls_config {
    common::tls_upstream_settings settings;
    std::shared_ptr<common::tls_client_context> context;
    // Equal when the settings and the files' contents are: a reload keeps the pools then.
    bool operator==(const upstream_tls_config& other) const { return context->identity() == other.context->identity(); }
};

struct upstream_config {
    std::string name;
    std::vector<host_port> endpoints;
    lb_policy load_balancing = lb_policy::round_robin;
    duration connect_timeout{2'000};
    duration dns_refresh{30'000};
    std::uint64_t retries = 1;  // extra endpoints to try after a connect failure
    pool_config pool;
    std::shared_ptr<const upstream_tls_config> tls;   // null: plain HTTP
    std::optional<retry_config> retry;                // unset: connect failures only (retries)
    std::optional<outlier_config> outlier;            // unset: no ejection
    std::optional<health_check_config> health_check;  // unset: no probes
    cluster_limits limits;
    // Below this share of endpoints in (not ejected, not failing health checks), ejection and
    // health are ignored and load spreads over all.
    std::uint64_t panic_threshold_percent = 50;
    bool operator==(const upstream_config& other) const {
        return name == other.name && endpoints == other.endpoints && load_balancing == other.load_balancing &&
               connect_timeout == other.connect_timeout && dns_refresh == other.dns_refresh &&
               retries == other.retries && pool == other.pool && !tls == !other.tls && (!tls || *tls == *other.tls) &&
               retry == other.retry && outlier == other.outlier && health_check == other.health_check &&
               limits == other.limits && panic_threshold_percent == other.panic_threshold_percent;
    }
};

enum class path_match_kind { prefix, exact, templated };

struct header_match {
    std::string name;
    std::optional<std::string> value;  // absent: header must be present
};

struct match_config {
    std::vector<std::string> hosts;  // empty: any host
    path_match_kind path_kind = path_match_kind::prefix;
    std::string path = "/";
    std::vector<std::string> methods;  // empty: any method
    std::vector<header_match> headers;
};

struct header_edits {
    std::vector<std::pair<std::string, std::string>> set;  // replace or add
    std::vector<std::pair<std::string, std::string>> add;  // append
    std::vector<std::string> remove;
};

struct aggregate_config;

// A route's WebSocket upgrades (RFC 6455): the handshake goes upstream like any request, and
// once the upstream switched protocols the connection carries bytes both ways.
struct websocket_config {
    duration idle_timeout = std::chrono::seconds(300);  // no byte either way for this long: closed
    duration max_duration{0};                           // 0: no limit
};

struct route_config {
    std::string name;
    match_config match;
    std::string upstream;  // empty for an aggregate route
    // Set instead of upstream: the request fans out to several backends (config/aggregate.hpp).
    std::shared_ptr<const aggregate_config> aggregate;
    std::optional<std::string> strip_prefix;
    std::optional<std::string> replace_prefix;  // with strip_prefix: what replaces it
    std::optional<std::string> host_rewrite;
    header_edits request_headers;
    header_edits response_headers;
    std::optional<duration> timeout;
    std::optional<std::uint64_t> max_body;
    std::vector<std::size_t> filters;           // the route's chain: indexes into gateway_config::filters
    bool retry_non_idempotent = false;          // the upstream's retry policy also covers POST, PATCH, ...
    std::optional<websocket_config> websocket;  // set: Upgrade: websocket is tunnelled; else refused
};

struct gateway_config {
    std::string source;    // file the config came from, for messages
    std::string checksum;  // FNV-1a 64 of the file's bytes, hex
    // Values taken from ${ENV} references: /config shows "<redacted>" for any string holding one.
    std::vector<std::string> env_values;
    server_config server;
    logging_config logging;
    admin_config admin;
    std::vector<filter_instance> filters;      // declared instances, in file order
    std::vector<std::size_t> default_filters;  // the chain of routes that do not replace it
    std::vector<std::string> identity_fields;  // set by auth filters: never taken from a client
    std::vector<upstream_config> upstreams;
    std::vector<route_config> routes;
};

}  // namespace gatehouse::config
