// The schema of the server, admin and upstreams sections: the keys server_section.cpp accepts,
// with their types and a line on each for editors (see gatehouse/config/schema.hpp).
#include "sections.hpp"

namespace gatehouse::config {

namespace sc = schema;

sc::ref certificate_files_schema() {
    static const auto s = sc::object("certificate_files", "A PEM certificate (then its chain) and its private key",
                                     {{"cert", sc::string(), "PEM file: the certificate, then its chain", true},
                                      {"key", sc::string(), "PEM file: its private key (RSA or EC)", true}});
    return s;
}

sc::ref client_auth_schema() {
    static const auto s = sc::object(
        "listener_client_auth", "Client certificates on a TLS listener",
        {{"mode", sc::words({"none", "optional", "require"}), "none (default), optional or require"},
         {"ca_file", sc::string(), "PEM file of the CAs that sign client certificates"},
         {"forward_header", sc::boolean(), "send the verified certificate upstream in X-Forwarded-Client-Cert"}});
    return s;
}

sc::ref listener_tls_schema() {
    static const auto s =
        sc::object("listener_tls", "HTTPS on this listener",
                   {{"certificates", sc::list(certificate_files_schema()),
                     "chosen by SNI: exact name, wildcard, then the first", true},
                    {"min_version", sc::words({"1.2", "1.3"}), "lowest TLS version offered (default 1.2)"},
                    {"client_auth", client_auth_schema(), {}},
                    {"session_lifetime", sc::duration(), "how long a session may be resumed, 1s to 24h (default 1h)"}});
    return s;
}

sc::ref listener_schema() {
    static const auto s = sc::object(
        "listener", "A listener: its address, with TLS or a redirect to HTTPS",
        {{"address", sc::string(), "host:port or [ipv6]:port", true},
         {"tls", listener_tls_schema(), {}},
         {"redirect_to_https", sc::integer(1, 65535), "answer every request with 308 to https on this port"}});
    return s;
}

sc::ref upstream_tls_schema() {
    static const auto s = sc::object(
        "upstream_tls", "TLS to the upstream's endpoints",
        {{"server_name", sc::string(), "SNI and the name the certificate must hold (default: the endpoint's host)"},
         {"ca_file", sc::string(), "PEM file of the CAs to trust (default: the system's)"},
         {"client_cert", certificate_files_schema(), "a client certificate to present"},
         {"verify", sc::boolean(), "verify the upstream's certificate (default true)"}});
    return s;
}

sc::ref retry_backoff_schema() {
    static const auto s = sc::object("retry_backoff", "Wait before each retry: jittered, doubling from base",
                                     {{"base", sc::duration(), "first wait (default 25ms)"},
                                      {"max", sc::duration(), "longest wait (default 250ms)"}});
    return s;
}

sc::ref retry_schema() {
    static const auto s = sc::object(
        "retry", "Retries of failed tries on other endpoints",
        {{"attempts", sc::integer(0, 10), "retries after the first try (default 2)"},
         {"on",
          sc::list(sc::any_of({sc::words({"connect_failure", "reset", "timeout"}), sc::integer(500, 599),
                               sc::string({}, "^5[0-9][0-9]$")}),
                   {}, true),
          "what is retried: connect_failure, reset, timeout, or 5xx statuses such as 503"},
         {"per_try_timeout", sc::duration(),
          "time for one try until the response head (default: only the route's timeout)"},
         {"backoff", retry_backoff_schema(), {}},
         {"budget", sc::percent(), "retries in flight at most this share of requests in flight (default 20%)"},
         {"max_body", sc::size(), "a request body up to this size is kept for a retry (default 64KiB)"}});
    return s;
}

sc::ref health_check_schema() {
    static const auto s = sc::object(
        "health_check", "Active health checks: a GET to every endpoint at an interval",
        {{"path", sc::string(), "the path probed (default /healthz)"},
         {"host", sc::string(), "Host of the probe (default: the endpoint)"},
         {"interval", sc::duration(), "between probes (default 5s)"},
         {"timeout", sc::duration(), "for one probe (default 1s)"},
         {"healthy_after", sc::integer(1, 100), "passing probes that bring an endpoint back (default 2)"},
         {"unhealthy_after", sc::integer(1, 100), "failing probes that take it out (default 3)"},
         {"expect",
          sc::list(sc::any_of({sc::integer(100, 599), sc::string({}, "^[1-5][0-9][0-9](-[1-5][0-9][0-9])?$")}), {},
                   true),
          "statuses or ranges that pass, such as 200-399 (default 200-399)"}});
    return s;
}

sc::ref pool_schema() {
    static const auto s =
        sc::object("pool", "Pooled keep-alive connections, per worker",
                   {{"max_connections", sc::integer(1, 1'000'000), "connections per worker to this upstream"},
                    {"max_idle", sc::integer(0, 1'000'000), "idle connections kept per worker"},
                    {"idle_timeout", sc::duration(), "an idle connection is closed after this"},
                    {"max_wait", sc::duration(), "how long a request waits for a connection when all are busy"},
                    {"max_waiters", sc::integer(0, 1'000'000), "requests waiting for a connection, per worker"}});
    return s;
}

sc::ref outlier_schema() {
    static const auto s = sc::object(
        "outlier", "Passive outlier detection: eject endpoints that keep failing",
        {{"consecutive_failures", sc::integer(1, 1000), "failures in a row that eject an endpoint (default 5)"},
         {"base_ejection", sc::duration(), "first ejection; each next one lasts longer (default 30s)"},
         {"max_ejection", sc::duration(), "longest ejection (default 300s)"},
         {"max_ejected_percent", sc::integer(0, 100), "never eject more than this share of endpoints (default 50)"}});
    return s;
}

sc::ref upstream_limits_schema() {
    static const auto s = sc::object("upstream_limits", "Circuit breaking across all workers",
                                     {{"max_requests", sc::integer(1, 10'000'000), "requests in flight at most"},
                                      {"max_pending", sc::integer(1, 10'000'000), "requests waiting at most"}});
    return s;
}

sc::ref paths_schema() {
    static const auto s = sc::object("paths", "How request paths are normalised before routing",
                                     {{"escaped_slashes", sc::words({"reject", "keep", "decode"}),
                                       "what %2F or %5C in a path does (default reject)"},
                                      {"merge_slashes", sc::boolean(), "// counts as one / (default true)"}});
    return s;
}

sc::ref limits_schema() {
    static const auto s = sc::object(
        "limits", "Sizes a request may have",
        {{"max_request_line", sc::size(), "longer gets 414 (default 8KiB)"},
         {"max_header_bytes", sc::size(), "request line plus fields; more gets 431 (default 32KiB)"},
         {"max_header_count", sc::integer(1, 10'000), "more fields get 431 (default 100)"},
         {"max_body", sc::size(), "default request body limit per route; more gets 413 (default 10MiB)"},
         {"max_response_header_bytes", sc::size(), "a larger upstream response head is a 502 (default 64KiB)"}});
    return s;
}

sc::ref timeouts_schema() {
    static const auto s = sc::object(
        "timeouts", "How long each phase of a client connection may take",
        {{"header", sc::duration(), "the whole request head, from its first byte (default 10s)"},
         {"idle", sc::duration(), "a keep-alive connection waiting for its next request (default 60s)"},
         {"read", sc::duration(), "longest pause between body bytes (default 60s)"},
         {"body", sc::duration(), "the whole request body, and the client taking the response body (default 60s)"},
         {"send", sc::duration(), "longest stall while writing (default 60s)"},
         {"request", sc::duration(), "default per route: until the upstream's response head (default 30s)"},
         {"handshake", sc::duration(), "a TLS handshake, from the accept (default 10s)"}});
    return s;
}

schema::ref server_schema() {
    static const auto s = sc::object(
        "server", "Listeners, workers, limits and timeouts",
        {{"listen", sc::list(sc::any_of({sc::string(), listener_schema()}), {}, true),
          "\"host:port\" (plain HTTP), { address, tls }, or a list of them (default 0.0.0.0:8080)"},
         {"workers", sc::integer(0, 256), "event-loop threads; 0 means one per core"},
         {"max_connections", sc::integer(1, 10'000'000), "client connections across all workers (default 20000)"},
         {"limits", limits_schema(), {}},
         {"timeouts", timeouts_schema(), {}},
         {"drain_timeout", sc::duration(), "on SIGTERM, how long requests in flight may take (default 10s)"},
         {"headers_with_underscores", sc::words({"drop", "reject", "allow"}),
          "request fields with _ in their name (default drop)"},
         {"paths", paths_schema(), {}},
         {"trusted_proxies", sc::strings("networks of the proxies in front of the gateway (CIDR)"), {}}});
    return s;
}

schema::ref admin_schema() {
    static const auto s = sc::object(
        "admin", "The admin listener: health, metrics, config, reload",
        {{"listen", sc::any_of({sc::string(), sc::null()}), "host:port (default 127.0.0.1:9901); off or ~ disables it"},
         {"hosts", sc::strings("host names the admin pages answer to, besides IP literals and localhost"), {}},
         {"token", sc::string(), "bearer token every page but /healthz and /readyz needs (16+ characters)"}});
    return s;
}

schema::ref upstream_schema() {
    static const auto s = sc::object(
        "upstream", "A cluster of endpoints and how to reach them",
        {{"endpoints", sc::strings("host:port of each endpoint; names are resolved and re-resolved"), {}, true},
         {"load_balancing", sc::words({"round_robin", "least_request", "random", "ip_hash"}),
          "how an endpoint is picked (default round_robin)"},
         {"connect_timeout", sc::duration(), "default 2s"},
         {"dns_refresh", sc::duration(), "how often names are resolved again (default 30s)"},
         {"retries", sc::integer(0, 10), "shorthand for retry.attempts"},
         {"pool", pool_schema(), {}},
         {"tls", upstream_tls_schema(), {}},
         {"retry", retry_schema(), {}},
         {"outlier", outlier_schema(), {}},
         {"limits", upstream_limits_schema(), {}},
         {"panic_threshold", sc::percent(), "below this share of usable endpoints, use them all (default 50%)"},
         {"health_check", health_check_schema(), {}}});
    return s;
}

}  // namespace gatehouse::config
