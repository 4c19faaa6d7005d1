#pragma once
// Two streams joined after an HTTP upgrade (a WebSocket): bytes read on one side are written
// to the other, both ways at once, until each side has ended its direction. The tunnel keeps
// no timer of its own: its owner looks at last_activity() (the worker's sweep) and calls
// stop() for an idle timeout, a maximum duration or a drain.
#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "gatehouse/io/stream.hpp"

namespace gatehouse::io {

// How a tunnel ended (the first cause wins).
enum class tunnel_end { client_closed, upstream_closed, idle_timeout, max_duration, drain, error, count };
std::string_view name_of(tunnel_end e);

class tunnel {
public:
    using clock = std::chrono::steady_clock;

    // now: a clock the owner keeps current (the worker's coarse clock), read on every transfer.
    tunnel(stream& client, stream& upstream, const clock::time_point& now);
    tunnel(const tunnel&) = delete;
    tunnel& operator=(const tunnel&) = delete;

    // Sends to_upstream and to_client first (bytes that came with the handshake), then copies
    // both ways. When one side ends its direction (EOF), the other side's write half is shut
    // (the half-close travels on) and the other direction goes on until it ends too.
    boost::asio::awaitable<void> run(std::span<const char> to_upstream, std::span<const char> to_client);

    // Ends both directions now: both sockets are shut down, pending reads end.
    void stop(tunnel_end why);

    clock::time_point started() const { return started_; }
    clock::time_point last_activity() const { return last_activity_; }
    std::uint64_t client_to_upstream() const { return up_bytes_; }
    std::uint64_t upstream_to_client() const { return down_bytes_; }
    tunnel_end end() const { return end_; }

private:
    boost::asio::awaitable<void> pump(stream& from, stream& to, std::span<const char> first, std::uint64_t& count,
                                      tunnel_end on_eof);
    void ended(tunnel_end why);

    stream& client_;
    stream& upstream_;
    const clock::time_point& now_;
    clock::time_point started_;
    clock::time_point last_activity_;
    std::uint64_t up_bytes_ = 0;
    std::uint64_t down_bytes_ = 0;
    tunnel_end end_ = tunnel_end::error;
    bool ended_ = false;
};

}  // namespace gatehouse::io
