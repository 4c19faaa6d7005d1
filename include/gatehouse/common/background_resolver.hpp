#pragma once
// One host name resolved on a thread of its own, for clients that run on a worker's event loop
// (whose io_context has no resolver thread, and which must never block on DNS). Started by the
// first worker that needs it, so loading or validating a config resolves nothing; retried every
// second until it succeeds, then refreshed every refresh interval. Readers on any thread take
// the latest list (a mutex, taken once per connect, never per request).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace gatehouse::common {

class background_resolver {
public:
    using address_list = std::vector<boost::asio::ip::tcp::endpoint>;

    background_resolver(std::string host, std::uint16_t port,
                        std::chrono::milliseconds refresh = std::chrono::seconds(30));
    ~background_resolver();  // stops the thread and waits for it
    background_resolver(const background_resolver&) = delete;
    background_resolver& operator=(const background_resolver&) = delete;

    // Starts resolving (the first call; later calls do nothing). An IP literal needs no thread.
    void start();

    // The latest addresses; empty until a lookup succeeded (error() then says why).
    address_list addresses() const;
    std::string error() const;
    const std::string& host() const { return host_; }

private:
    void run();

    const std::string host_;
    const std::uint16_t port_;
    const std::chrono::milliseconds refresh_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    address_list addresses_;
    std::string error_ = "not resolved yet";
    bool started_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace gatehouse::common
