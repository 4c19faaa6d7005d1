#pragma once
// One event-loop thread. It owns its io_context, acceptors (SO_REUSEPORT), client
// connections, upstream pools and buffers; nothing here is shared with other workers. Other
// threads reach a worker only through its mailbox, which the worker drains on its 100 ms
// sweep: its event loop then runs without any locks.
#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gatehouse/http/request_id.hpp"
#include "gatehouse/io/block_cache.hpp"
#include "gatehouse/io/buffer_pool.hpp"
#include "gatehouse/io/deadline.hpp"
#include "gatehouse/observability/metrics.hpp"
#include "gatehouse/server/generation.hpp"
#include "gatehouse/server/snapshot.hpp"
#include "gatehouse/upstream/cluster.hpp"

namespace gatehouse::upstream {
struct exchange_env;
}
namespace gatehouse::io {
class tunnel;
}

namespace gatehouse::server {

using clock = std::chrono::steady_clock;

class worker {
public:
    worker(unsigned id, std::shared_ptr<const snapshot> snap, std::uint64_t max_connections);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    // Binds an acceptor for address on this worker (SO_REUSEPORT); returns the bound address.
    // Throws boost::system::system_error if the address cannot be bound.
    boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& address);

    // Starts the worker thread.
    void start();
    // Asks the event loop to stop (any thread; it stops within one sweep); join() waits.
    void stop();
    void join();

    // Runs message on the worker's thread within one sweep (any thread).
    void post(std::function<void()> message);

    // Replaces the addresses of one endpoint of the clusters built from snap (any thread;
    // applied on the worker, ignored if a newer config was installed meanwhile).
    void post_addresses(const snapshot* snap, std::size_t cluster, std::size_t endpoint,
                        upstream::address_list addresses);

    // Installs a new config (any thread; applied within one sweep). New requests use it;
    // requests in flight finish on the generation they started with.
    void post_snapshot(std::shared_ptr<const snapshot> snap);

    // Starts draining (any thread): stop accepting, close idle keep-alive connections, and
    // close each other connection after its current exchange.
    void post_drain();

    // Client connections open on this worker (any thread).
    std::uint64_t connections() const { return connections_.get(); }

    // This worker's metrics (written by the worker, read by the admin thread).
    const observability::worker_stats& stats() const { return stats_; }

    // The following are for code running on this worker's thread only.
    unsigned id() const { return id_; }
    boost::asio::io_context& context() { return *context_; }
    const snapshot& current() const { return *generation_->snap; }
    // The current generation, held for one request: release it when the request ends.
    generation* acquire_generation() {
        ++generation_->users;
        return generation_.get();
    }
    void release_generation(generation* g);
    observability::worker_stats& stats() { return stats_; }
    bool draining() const { return draining_; }
    io::deadline_list& deadlines() { return deadlines_; }
    io::buffer_pool& buffers() { return buffers_; }
    // What an upstream exchange on this worker borrows: executor, buffers, coarse clock.
    upstream::exchange_env exchange_env();
    io::block_cache& request_blocks() { return request_blocks_; }  // sized for a request_state
    common::fast_random& random() { return random_; }
    // The handshake counters of server.listen[listener] (made on first use).
    observability::tls_stats& tls_stats(std::size_t listener);
    // The time of the last sweep (at most 100 ms old): deadlines are checked at that
    // resolution anyway, and reading it costs no clock call.
    clock::time_point now() const { return now_; }
    // The wall-clock time of a steady-clock reading (offset refreshed by the sweeper): one
    // clock read per request instead of two.
    std::chrono::system_clock::time_point wall_time(clock::time_point t) const {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(t.time_since_epoch() + wall_offset_));
    }
    // The current HTTP date ("Thu, 26 Nov 2026 11:41:42 GMT"), refreshed by the sweeper.
    std::string_view date() const { return date_; }

    // Tunnels (upgraded connections) the sweep ends: idle for idle_timeout, past ends_at, or
    // at the drain's deadline.
    struct tunnel_watch {
        io::tunnel* tunnel = nullptr;
        clock::duration idle_timeout{};
        clock::time_point ends_at = clock::time_point::max();
    };
    using tunnel_handle = std::list<tunnel_watch>::iterator;
    tunnel_handle watch_tunnel(const tunnel_watch& watch) { return tunnels_.insert(tunnels_.end(), watch); }
    void unwatch_tunnel(tunnel_handle handle) { tunnels_.erase(handle); }
    // The worker's coarse clock as a reference that stays current (for io::tunnel).
    const clock::time_point& coarse_now() const { return now_; }

    void connection_opened() { connections_.add(1); }
    void connection_closed() { connections_.set(connections_.get() - 1); }

private:
    // listener: the index of the acceptor's entry in server.listen.
    void accept_loop(boost::asio::ip::tcp::acceptor& acceptor, boost::asio::ip::tcp::endpoint& peer,
                     std::size_t listener);
    std::unique_ptr<generation> build_generation(std::shared_ptr<const snapshot> snap);
    void install(std::shared_ptr<const snapshot> snap);
    void drain();
    void publish_gauges();
    void check_tunnels(clock::time_point now);
    void schedule_sweep();
    void refresh_date();

    unsigned id_;
    std::uint64_t max_connections_;
    observability::counter connections_;
    std::unique_ptr<boost::asio::io_context> context_;
    observability::worker_stats stats_;
    std::unique_ptr<generation> generation_;
    std::vector<std::unique_ptr<generation>> retired_;  // replaced, still used by requests in flight
    bool draining_ = false;
    clock::time_point tunnels_end_at_ = clock::time_point::max();  // set by a drain
    std::list<tunnel_watch> tunnels_;
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
    std::vector<boost::asio::ip::tcp::endpoint> peers_;  // filled by each acceptor's pending accept
    std::unique_ptr<boost::asio::steady_timer> sweep_timer_;
    unsigned sweep_ticks_ = 0;
    io::deadline_list deadlines_;
    io::buffer_pool buffers_;
    io::block_cache request_blocks_;
    common::fast_random random_;
    std::vector<observability::tls_stats*> tls_stats_;  // by listener index
    clock::time_point now_ = clock::now();
    std::chrono::nanoseconds wall_offset_{};
    std::string date_;
    std::time_t date_second_ = 0;
    std::mutex mailbox_mutex_;  // taken by the worker once per sweep, never per request
    std::vector<std::function<void()>> mailbox_;
    std::atomic<bool> stop_requested_{false};
    std::thread thread_;
};

}  // namespace gatehouse::server
