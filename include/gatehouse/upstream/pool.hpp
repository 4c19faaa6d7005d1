#pragma once
// Keep-alive connections to one endpoint, owned by one worker (no locks). LIFO reuse; idle
// connections that show a byte or EOF are evicted; a bounded wait when at max_connections.
#include <chrono>
#include <deque>
#include <memory>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gatehouse/config/config.hpp"
#include "gatehouse/io/stream.hpp"

namespace gatehouse::upstream {

using clock = std::chrono::steady_clock;

struct upstream_connection {
    explicit upstream_connection(const boost::asio::any_io_executor& ex) : stream(ex) {}
    io::stream stream;
    clock::time_point idle_since{};
};
using connection_ptr = std::unique_ptr<upstream_connection>;

// What one non-blocking peek finds on an idle connection.
enum class idle_state {
    alive,       // nothing to read: reusable
    closed,      // EOF or an error: the upstream closed it (the normal end of keep-alive)
    stray_bytes  // bytes nobody asked for: reusing it would hand them to the next request
};
idle_state check_idle_connection(upstream_connection& c);

class connection_pool {
public:
    enum class acquire_status {
        reused,     // conn is an idle keep-alive connection
        connect,    // a slot is reserved: the caller opens a connection, then release or connect_failed
        exhausted,  // max_connections reached and no connection freed up in time
        must_wait   // from try_acquire only: call wait()
    };
    struct acquired {
        acquire_status status;
        connection_ptr conn;
    };

    explicit connection_pool(const config::pool_config& config);
    ~connection_pool();
    connection_pool(const connection_pool&) = delete;
    connection_pool& operator=(const connection_pool&) = delete;

    // A connection or a reserved slot without waiting (no coroutine frame on the hot path), or
    // must_wait at max_connections. fresh: never hand out an idle connection (a retry after a
    // reused one died). An idle connection is checked for EOF and stray bytes (one peek)
    // before it is handed out, however recently it was used: an upstream that sent bytes
    // after its response would otherwise answer the next request with them.
    acquired try_acquire(bool fresh);

    // After must_wait: waits at most max_wait (and never past deadline) for a connection or a
    // slot; exhausted when none came.
    boost::asio::awaitable<acquired> wait(clock::time_point deadline);

    // Gives a connection back after an exchange; reusable only after a complete, clean one.
    void release(connection_ptr conn, bool reusable, clock::time_point now);

    // Returns the slot reserved by acquire() when the connect failed.
    void connect_failed();

    // Evicts idle connections past idle_timeout or that the upstream closed.
    void sweep(clock::time_point now);

    // Closes every idle connection (shutdown).
    void close_idle();

    std::size_t idle() const { return idle_.size(); }
    // Connections closed because they showed unasked bytes while idle, since the last call.
    std::uint64_t take_stray_closed() { return std::exchange(stray_closed_, 0); }
    std::size_t total() const { return total_; }

private:
    struct waiter;
    void wake_one_with_slot();

    // True if c may be handed out; counts stray bytes.
    bool usable(upstream_connection& c);

    config::pool_config config_;
    std::deque<connection_ptr> idle_;  // oldest at the front
    std::deque<waiter*> waiters_;
    std::size_t total_ = 0;  // idle + in use + connecting
    std::uint64_t stray_closed_ = 0;
};

}  // namespace gatehouse::upstream
