#include "gatehouse/observability/prometheus.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>

namespace gatehouse::observability {

namespace {

void append_label_value(std::string& out, std::string_view v) {
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

// name{k1="v1",k2="v2"} value
void sample(std::string& out, std::string_view name,
            std::initializer_list<std::pair<std::string_view, std::string_view>> labels, std::string_view value) {
    out += name;
    if (labels.size() > 0) {
        out += '{';
        bool first = true;
        for (auto [k, v] : labels) {
            if (!first) out += ',';
            first = false;
            out += k;
            out += "=\"";
            append_label_value(out, v);
            out += '"';
        }
        out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
}

std::string number(std::uint64_t v) {
    return std::to_string(v);
}

std::string seconds_bound(double b) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", b);
    return buf;
}

struct route_totals {
    std::array<std::uint64_t, 5> by_class{};
    std::array<std::uint64_t, latency_bounds.size() + 1> latency{};
    std::uint64_t sum_us = 0;
    std::uint64_t tunnels_open = 0;
    std::array<std::uint64_t, 6> tunnels_closed{};
    std::uint64_t tunnel_bytes_up = 0;
    std::uint64_t tunnel_bytes_down = 0;
    bool tunnels() const {
        return tunnels_open > 0 ||
               std::any_of(tunnels_closed.begin(), tunnels_closed.end(), [](std::uint64_t n) { return n > 0; });
    }
};

struct cluster_totals {
    std::array<std::uint64_t, static_cast<std::size_t>(upstream_error::count)> errors{};
    std::array<std::uint64_t, static_cast<std::size_t>(retry_cause::count)> retries{};
    std::uint64_t retry_budget_exhausted = 0;
    std::uint64_t active = 0;
    std::uint64_t idle = 0;
};

struct backend_totals {
    std::uint64_t calls = 0;
    std::array<std::uint64_t, static_cast<std::size_t>(backend_failure::count)> failures{};
    std::array<std::uint64_t, latency_bounds.size() + 1> latency{};
    std::uint64_t sum_us = 0;
};

// Every worker's counters summed, by route, cluster, (filter, reason), (filter, event) and
// (route, backend).
struct tls_totals {
    std::uint64_t ok = 0, timed_out = 0, version = 0, client_certificate = 0, failed = 0, tls12 = 0, tls13 = 0,
                  resumed = 0;
};

struct totals {
    std::map<std::string, tls_totals> tls;
    std::map<std::pair<std::string, std::string>, backend_totals> backends;
    std::map<std::string, route_totals> routes;
    std::map<std::string, cluster_totals> clusters;
    std::map<std::pair<std::string, std::string>, std::uint64_t> rejections;
    std::map<std::pair<std::string, std::string>, std::uint64_t> events;
};

totals sum_workers(const std::vector<const worker_stats*>& workers) {
    totals all;
    for (const auto* w : workers) {
        w->visit([&](const worker_stats::route_map& r, const worker_stats::cluster_map& c,
                     const worker_stats::rejection_map& j, const worker_stats::rejection_map& ev,
                     const worker_stats::backend_map& b, const worker_stats::tls_map& tls) {
            for (const auto& [name, stats] : tls) {
                auto& t = all.tls[name];
                t.ok += stats->ok.get();
                t.timed_out += stats->timed_out.get();
                t.version += stats->version.get();
                t.client_certificate += stats->client_certificate.get();
                t.failed += stats->failed.get();
                t.tls12 += stats->tls12.get();
                t.tls13 += stats->tls13.get();
                t.resumed += stats->resumed.get();
            }
            for (const auto& [key, stats] : b) {
                auto& t = all.backends[key];
                t.calls += stats->calls.get();
                for (std::size_t i = 0; i < t.failures.size(); ++i) t.failures[i] += stats->failures[i].get();
                for (std::size_t i = 0; i < t.latency.size(); ++i) t.latency[i] += stats->latency[i].get();
                t.sum_us += stats->latency_sum_us.get();
            }
            for (const auto& [key, value] : ev) all.events[key] += value->get();
            for (const auto& [name, stats] : r) {
                auto& t = all.routes[name];
                for (std::size_t i = 0; i < t.by_class.size(); ++i) t.by_class[i] += stats->by_class[i].get();
                for (std::size_t i = 0; i < t.latency.size(); ++i) t.latency[i] += stats->latency[i].get();
                t.sum_us += stats->latency_sum_us.get();
                t.tunnels_open += stats->tunnels_open.get();
                for (std::size_t i = 0; i < t.tunnels_closed.size(); ++i) {
                    t.tunnels_closed[i] += stats->tunnels_closed[i].get();
                }
                t.tunnel_bytes_up += stats->tunnel_bytes_up.get();
                t.tunnel_bytes_down += stats->tunnel_bytes_down.get();
            }
            for (const auto& [name, stats] : c) {
                auto& t = all.clusters[name];
                for (std::size_t i = 0; i < t.errors.size(); ++i) t.errors[i] += stats->errors[i].get();
                for (std::size_t i = 0; i < t.retries.size(); ++i) t.retries[i] += stats->retries[i].get();
                t.retry_budget_exhausted += stats->retry_budget_exhausted.get();
                t.active += stats->active.get();
                t.idle += stats->idle.get();
            }
            for (const auto& [key, value] : j) all.rejections[key] += value->get();
        });
    }
    return all;
}

// Routes that carried WebSocket tunnels (the names follow io::tunnel_end).
void render_tunnels(std::string& out, const std::map<std::string, route_totals>& routes) {
    static constexpr std::array<std::string_view, 6> ends{"client_closed", "upstream_closed", "idle_timeout",
                                                          "max_duration",  "drain",           "error"};
    if (std::none_of(routes.begin(), routes.end(), [](const auto& r) { return r.second.tunnels(); })) return;
    header(out, "gatehouse_websocket_tunnels", "gauge", "WebSocket tunnels open now, by route.");
    for (const auto& [name, t] : routes) {
        if (t.tunnels()) sample(out, "gatehouse_websocket_tunnels", {{"route", name}}, number(t.tunnels_open));
    }
    header(out, "gatehouse_websocket_tunnels_closed_total", "counter",
           "WebSocket tunnels closed, by route and how they ended.");
    for (const auto& [name, t] : routes) {
        if (!t.tunnels()) continue;
        for (std::size_t i = 0; i < ends.size(); ++i) {
            sample(out, "gatehouse_websocket_tunnels_closed_total", {{"route", name}, {"reason", ends[i]}},
                   number(t.tunnels_closed[i]));
        }
    }
    header(out, "gatehouse_websocket_bytes_total", "counter", "Bytes carried by WebSocket tunnels, by route and way.");
    for (const auto& [name, t] : routes) {
        if (!t.tunnels()) continue;
        sample(out, "gatehouse_websocket_bytes_total", {{"route", name}, {"direction", "client_to_upstream"}},
               number(t.tunnel_bytes_up));
        sample(out, "gatehouse_websocket_bytes_total", {{"route", name}, {"direction", "upstream_to_client"}},
               number(t.tunnel_bytes_down));
    }
}

void render_routes(std::string& out, const std::map<std::string, route_totals>& routes) {
    static constexpr std::array<std::string_view, 5> classes{"1xx", "2xx", "3xx", "4xx", "5xx"};
    header(out, "gatehouse_requests_total", "counter",
           "Requests answered, by route (empty: no route matched) and status class.");
    for (const auto& [name, t] : routes) {
        for (std::size_t i = 0; i < classes.size(); ++i) {
            sample(out, "gatehouse_requests_total", {{"route", name}, {"code", classes[i]}}, number(t.by_class[i]));
        }
    }
    header(out, "gatehouse_request_duration_seconds", "histogram",
           "Time from the first byte of a request to the last byte of its response, by route.");
    for (const auto& [name, t] : routes) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < latency_bounds.size(); ++i) {
            cumulative += t.latency[i];
            sample(out, "gatehouse_request_duration_seconds_bucket",
                   {{"route", name}, {"le", seconds_bound(latency_bounds[i])}}, number(cumulative));
        }
        cumulative += t.latency.back();
        sample(out, "gatehouse_request_duration_seconds_bucket", {{"route", name}, {"le", "+Inf"}}, number(cumulative));
        char sum[40];
        std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(t.sum_us) / 1e6);
        sample(out, "gatehouse_request_duration_seconds_sum", {{"route", name}}, sum);
        sample(out, "gatehouse_request_duration_seconds_count", {{"route", name}}, number(cumulative));
    }
    render_tunnels(out, routes);
}

void render_upstreams_and_filters(std::string& out, const totals& all) {
    header(out, "gatehouse_upstream_connections", "gauge", "Pooled upstream connections, by upstream and state.");
    for (const auto& [name, t] : all.clusters) {
        sample(out, "gatehouse_upstream_connections", {{"upstream", name}, {"state", "active"}}, number(t.active));
        sample(out, "gatehouse_upstream_connections", {{"upstream", name}, {"state", "idle"}}, number(t.idle));
    }
    header(out, "gatehouse_upstream_errors_total", "counter", "Failed upstream exchanges, by upstream and kind.");
    for (const auto& [name, t] : all.clusters) {
        for (std::size_t i = 0; i < t.errors.size(); ++i) {
            sample(out, "gatehouse_upstream_errors_total",
                   {{"upstream", name}, {"kind", name_of(static_cast<upstream_error>(i))}}, number(t.errors[i]));
        }
    }
    header(out, "gatehouse_upstream_retries_total", "counter",
           "Tries made again under an upstream's retry policy, by upstream and reason.");
    for (const auto& [name, t] : all.clusters) {
        for (std::size_t i = 0; i < t.retries.size(); ++i) {
            sample(out, "gatehouse_upstream_retries_total",
                   {{"upstream", name}, {"reason", name_of(static_cast<retry_cause>(i))}}, number(t.retries[i]));
        }
    }
    header(out, "gatehouse_upstream_retry_budget_exhausted_total", "counter",
           "Retries the retry budget refused (retries in flight at their share of requests in flight).");
    for (const auto& [name, t] : all.clusters) {
        sample(out, "gatehouse_upstream_retry_budget_exhausted_total", {{"upstream", name}},
               number(t.retry_budget_exhausted));
    }
    header(out, "gatehouse_filter_rejections_total", "counter",
           "Requests a filter answered itself, by filter and reason.");
    for (const auto& [key, value] : all.rejections) {
        sample(out, "gatehouse_filter_rejections_total", {{"filter", key.first}, {"reason", key.second}},
               number(value));
    }
    header(out, "gatehouse_filter_events_total", "counter",
           "Things filters report, by filter and event (rate_limit: keys_evicted, backend_error_<kind>; jwt: "
           "jwks_fetch_ok, jwks_fetch_failed, jwks_unknown_kid_refetch).");
    for (const auto& [key, value] : all.events) {
        sample(out, "gatehouse_filter_events_total", {{"filter", key.first}, {"event", key.second}}, number(value));
    }
}

void render_backends(std::string& out, const totals& all) {
    if (all.backends.empty()) return;
    header(out, "gatehouse_aggregate_backend_calls_total", "counter",
           "Backend calls made by aggregate routes, by route and backend.");
    for (const auto& [key, t] : all.backends) {
        sample(out, "gatehouse_aggregate_backend_calls_total", {{"route", key.first}, {"backend", key.second}},
               number(t.calls));
    }
    header(out, "gatehouse_aggregate_backend_failures_total", "counter",
           "Failed backend calls of aggregate routes, by route, backend and reason.");
    for (const auto& [key, t] : all.backends) {
        for (std::size_t i = 0; i < t.failures.size(); ++i) {
            sample(
                out, "gatehouse_aggregate_backend_failures_total",
                {{"route", key.first}, {"backend", key.second}, {"reason", name_of(static_cast<backend_failure>(i))}},
                number(t.failures[i]));
        }
    }
    header(out, "gatehouse_aggregate_backend_duration_seconds", "histogram",
           "Time from a backend call's start to its whole answer, by route and backend.");
    for (const auto& [key, t] : all.backends) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < latency_bounds.size(); ++i) {
            cumulative += t.latency[i];
            sample(out, "gatehouse_aggregate_backend_duration_seconds_bucket",
                   {{"route", key.first}, {"backend", key.second}, {"le", seconds_bound(latency_bounds[i])}},
                   number(cumulative));
        }
        cumulative += t.latency.back();
        sample(out, "gatehouse_aggregate_backend_duration_seconds_bucket",
               {{"route", key.first}, {"backend", key.second}, {"le", "+Inf"}}, number(cumulative));
        char sum[40];
        std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(t.sum_us) / 1e6);
        sample(out, "gatehouse_aggregate_backend_duration_seconds_sum", {{"route", key.first}, {"backend", key.second}},
               sum);
        sample(out, "gatehouse_aggregate_backend_duration_seconds_count",
               {{"route", key.first}, {"backend", key.second}}, number(cumulative));
    }
}

void render_tls(std::string& out, const totals& all, const process_metrics& process) {
    if (all.tls.empty() && process.certificates.empty()) return;
    header(out, "gatehouse_tls_handshakes_total", "counter",
           "TLS handshakes on each listener, by result (ok, timeout, version, client_certificate, failed).");
    for (const auto& [listener, t] : all.tls) {
        sample(out, "gatehouse_tls_handshakes_total", {{"listener", listener}, {"result", "ok"}}, number(t.ok));
        sample(out, "gatehouse_tls_handshakes_total", {{"listener", listener}, {"result", "timeout"}},
               number(t.timed_out));
        sample(out, "gatehouse_tls_handshakes_total", {{"listener", listener}, {"result", "version"}},
               number(t.version));
        sample(out, "gatehouse_tls_handshakes_total", {{"listener", listener}, {"result", "client_certificate"}},
               number(t.client_certificate));
        sample(out, "gatehouse_tls_handshakes_total", {{"listener", listener}, {"result", "failed"}}, number(t.failed));
    }
    header(out, "gatehouse_tls_versions_total", "counter", "Completed TLS handshakes by protocol version.");
    for (const auto& [listener, t] : all.tls) {
        sample(out, "gatehouse_tls_versions_total", {{"listener", listener}, {"version", "TLSv1.2"}}, number(t.tls12));
        sample(out, "gatehouse_tls_versions_total", {{"listener", listener}, {"version", "TLSv1.3"}}, number(t.tls13));
    }
    header(out, "gatehouse_tls_resumed_total", "counter", "Completed TLS handshakes that resumed a session.");
    for (const auto& [listener, t] : all.tls) {
        sample(out, "gatehouse_tls_resumed_total", {{"listener", listener}}, number(t.resumed));
    }
    header(out, "gatehouse_tls_certificate_expiry_seconds", "gauge",
           "Seconds until each served certificate's notAfter (negative once expired).");
    for (const auto& c : process.certificates) {
        sample(out, "gatehouse_tls_certificate_expiry_seconds",
               {{"listener", c.listener}, {"file", c.file}, {"names", c.names}}, std::to_string(c.seconds_left));
    }
}

void render_process(std::string& out, const process_metrics& process) {
    header(out, "gatehouse_config_reloads_total", "counter", "Config reloads, by result.");
    sample(out, "gatehouse_config_reloads_total", {{"result", "success"}}, number(process.reloads_ok));
    sample(out, "gatehouse_config_reloads_total", {{"result", "failure"}}, number(process.reloads_failed));
    header(out, "gatehouse_config_info", "gauge", "The running config; the checksum is FNV-1a 64 of the file.");
    sample(out, "gatehouse_config_info", {{"checksum", process.config_checksum}}, "1");
    header(out, "gatehouse_client_connections", "gauge", "Open client connections.");
    sample(out, "gatehouse_client_connections", {}, number(process.client_connections));
    header(out, "gatehouse_draining", "gauge", "1 while the gateway drains before exiting.");
    sample(out, "gatehouse_draining", {}, process.draining ? "1" : "0");
}

void render_health(std::string& out, const process_metrics& process) {
    if (process.endpoints.empty()) return;
    header(out, "gatehouse_upstream_endpoint_failures_total", "counter",
           "Failed tries at an upstream endpoint: connect error, reset, timeout or 5xx answer.");
    for (const auto& e : process.endpoints) {
        sample(out, "gatehouse_upstream_endpoint_failures_total", {{"upstream", e.upstream}, {"endpoint", e.endpoint}},
               number(e.failures));
    }
    const auto any = [&](bool endpoint_health::*flag) {
        return std::any_of(process.endpoints.begin(), process.endpoints.end(),
                           [&](const endpoint_health& e) { return e.*flag; });
    };
    if (any(&endpoint_health::checked)) {
        header(out, "gatehouse_upstream_endpoint_healthy", "gauge",
               "1 while an upstream endpoint passes its active health checks, else 0.");
        for (const auto& e : process.endpoints) {
            if (!e.checked) continue;
            sample(out, "gatehouse_upstream_endpoint_healthy", {{"upstream", e.upstream}, {"endpoint", e.endpoint}},
                   e.healthy ? "1" : "0");
        }
    }
    if (any(&endpoint_health::outlier)) {
        header(out, "gatehouse_upstream_endpoint_ejected", "gauge",
               "1 while outlier detection keeps an upstream endpoint out, else 0.");
        for (const auto& e : process.endpoints) {
            if (!e.outlier) continue;
            sample(out, "gatehouse_upstream_endpoint_ejected", {{"upstream", e.upstream}, {"endpoint", e.endpoint}},
                   e.ejected ? "1" : "0");
        }
        header(out, "gatehouse_upstream_ejections_total", "counter", "Endpoints ejected by outlier detection.");
        for (const auto& c : process.clusters) {
            sample(out, "gatehouse_upstream_ejections_total", {{"upstream", c.upstream}}, number(c.ejections));
        }
    }
}

}  // namespace

std::string render_prometheus(const std::vector<const worker_stats*>& workers, const process_metrics& process) {
    auto all = sum_workers(workers);
    std::string out;
    out.reserve(4096 + all.routes.size() * 1500);
    render_routes(out, all.routes);
    render_upstreams_and_filters(out, all);
    render_backends(out, all);
    render_tls(out, all, process);
    render_health(out, process);
    render_process(out, process);
    return out;
}

}  // namespace gatehouse::observability
