#pragma once
// The gateway process: workers plus a control loop on the calling thread that handles signals
// and DNS refresh. Reload and drain (issue #3) plug in here.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/server/snapshot.hpp"

namespace gatehouse::server {

class worker;

class server {
public:
    explicit server(config::gateway_config config);
    ~server();

    // Resolves upstreams, binds every listener on every worker and starts the workers.
    // Throws std::runtime_error naming the address when a listener cannot be bound.
    void start();

    // Runs the control loop until SIGINT or SIGTERM; returns the process exit code.
    int run();

    // The addresses actually bound (port 0 resolved), in config order.
    const std::vector<boost::asio::ip::tcp::endpoint>& bound() const { return bound_; }

private:
    void schedule_dns(std::size_t cluster);
    void refresh_dns(std::size_t cluster);

    std::shared_ptr<const snapshot> snapshot_;
    boost::asio::io_context control_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<boost::asio::ip::tcp::endpoint> bound_;
    std::unique_ptr<boost::asio::ip::tcp::resolver> resolver_;
    std::vector<std::unique_ptr<boost::asio::steady_timer>> dns_timers_;
    upstream::resolved_addresses addresses_;  // control thread's latest view
};

}  // namespace gatehouse::server
