#pragma once
// The admin listener (its own address, loopback by default): /healthz, /readyz, /metrics,
// /config and POST /reload. It runs on the control thread, never on a worker.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>

#include "gatehouse/config/config.hpp"

namespace gatehouse::admin {

struct reload_outcome {
    bool ok = false;
    std::string json;  // the response body
};

// What the admin pages show and do; all called on the control thread.
struct handlers {
    std::function<bool()> ready;                 // false while draining
    std::function<std::string()> metrics;        // Prometheus text
    std::function<std::string()> config;         // the running config as JSON, secrets redacted
    std::function<reload_outcome()> reload;      // reload the config file
};

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
