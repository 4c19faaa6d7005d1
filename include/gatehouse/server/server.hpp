#pragma once
// The gateway process: workers, plus a control loop on the calling thread that handles
// signals (SIGHUP reload, SIGTERM/SIGINT drain), the admin listener and DNS refresh.
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gatehouse/admin/admin_server.hpp"
#include "gatehouse/config/config.hpp"
#include "gatehouse/observability/prometheus.hpp"
#include "gatehouse/observability/traffic_window.hpp"
#include "gatehouse/server/snapshot.hpp"
#include "gatehouse/upstream/health_check.hpp"

namespace gatehouse::server {

class worker;

class server {
public:
    // config_path is read again on reload.
    server(config::gateway_config config, std::string config_path);
    ~server();

    // Resolves upstreams, binds every listener on every worker and the admin listener, and
    // starts the workers. Throws std::runtime_error naming the address when one cannot be bound.
    void start();

    // Runs the control loop until a drain ends; returns the process exit code.
    int run();

    // Reloads the config file (control thread). A file that fails validation changes nothing.
    admin::reload_outcome reload();

    // Starts draining (control thread): readiness turns 503, workers stop accepting and close
    // idle connections; the loop ends when no connection is left or drain_timeout passes.
    void begin_drain();

    // The addresses actually bound (port 0 resolved), in config order.
    const std::vector<boost::asio::ip::tcp::endpoint>& bound() const { return bound_; }

private:
    void start_dns();
    // (Re)starts the probes of the upstreams with a health_check, for the running snapshot.
    void start_health_checks();
    void schedule_dns(std::size_t cluster);
    void refresh_dns(std::size_t cluster);
    void wait_for_drain(std::chrono::steady_clock::time_point deadline);
    std::string metrics();
    // The admin /upstreams page: every cluster and endpoint with health, load and failures.
    std::string upstreams_json() const;
    // dashboard.cpp: every 2 s, the routes' counters into traffic_; the admin /dashboard.json.
    void sample_traffic();
    std::string dashboard_json() const;

    std::string config_path_;
    std::shared_ptr<const snapshot> snapshot_;
    boost::asio::io_context control_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<boost::asio::ip::tcp::endpoint> bound_;
    std::unique_ptr<admin::admin_server> admin_;
    std::unique_ptr<boost::asio::ip::tcp::resolver> resolver_;
    std::vector<std::unique_ptr<boost::asio::steady_timer>> dns_timers_;
    std::unique_ptr<boost::asio::steady_timer> drain_timer_;
    std::unique_ptr<upstream::health_prober> prober_;  // active health checks, on the control thread
    upstream::resolved_addresses addresses_;           // control thread's latest view
    observability::process_metrics process_;
    bool draining_ = false;
    observability::traffic_window traffic_;
    std::unique_ptr<boost::asio::steady_timer> traffic_timer_;
    // What the dashboard tells of reloads: when the running config was installed, and the
    // last reload that was refused with its errors.
    std::chrono::system_clock::time_point config_installed_at_ = std::chrono::system_clock::now();
    std::chrono::system_clock::time_point last_refused_at_{};
    std::vector<std::string> last_refused_errors_;
};

}  // namespace gatehouse::server
