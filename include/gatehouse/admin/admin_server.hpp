#pragma once
// The admin listener (its own address, loopback by default): /healthz, /readyz, /metrics,
// /config, /upstreams, POST /explain and POST /reload. It runs on the control thread, never on a worker.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gatehouse/config/config.hpp"

namespace gatehouse::admin {

struct reload_outcome {
    bool ok = false;
    std::string json;  // the response body
};

// What the admin pages show and do; all called on the control thread.
struct handlers {
    std::function<bool()> ready;             // false while draining
    std::function<std::string()> metrics;    // Prometheus text
    std::function<std::string()> config;     // the running config as JSON, secrets redacted
    std::function<std::string()> upstreams;  // clusters and endpoints: health, load, failures
    std::function<reload_outcome()> reload;  // reload the config file
    // POST /explain: the request described by body (JSON) through the running config; the
    // status (200, or 400 for a body it cannot read) and the JSON answer.
    std::function<std::pair<unsigned, std::string>(std::string_view body)> explain;
    std::function<std::string()> dashboard;                 // the dashboard's data: routes, traffic, upstreams, reloads
    std::function<const config::admin_config&()> settings;  // hosts and token of the running config
};

// What the guard needs of one admin request.
struct admin_request {
    std::string_view path;        // without the query
    bool state_changing = false;  // not GET or HEAD
    std::optional<std::string_view> host;
    std::optional<std::string_view> origin;
    std::optional<std::string_view> fetch_site;  // Sec-Fetch-Site
    std::optional<std::string_view> authorization;
};

// Why an admin request is refused.
enum class admin_refusal {
    none,
    host_not_allowed,  // 403: a name not configured (DNS rebinding: a page's own domain)
    cross_site,        // 403: a state-changing request sent by a web page (CSRF)
    unauthorized,      // 401: admin.token is set and the request does not carry it
};

// The admin listener's guard, in this order: /healthz and /readyz are open to any caller (load
// balancers and orchestrators probe them); for every other page the Host must be an IP
// literal, "localhost" or one of settings.hosts; with settings.token, the Bearer token must
// match; a state-changing request must not come from a browser page of another origin
// (Origin present, or Sec-Fetch-Site other than none or same-origin).
admin_refusal check_admin_request(const admin_request& req, const config::admin_config& settings);

class admin_server {
public:
    admin_server(boost::asio::io_context& io, handlers h);
    ~admin_server();

    // Binds address; throws std::runtime_error naming the address on failure.
    boost::asio::ip::tcp::endpoint listen(const config::host_port& address);
    // Starts accepting.
    void start();
    // Stops accepting and closes the listener (connections finish their request).
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace gatehouse::admin
