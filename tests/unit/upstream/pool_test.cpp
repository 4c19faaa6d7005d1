#include "gatehouse/upstream/pool.hpp"

#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

using namespace gatehouse;
using upstream::connection_pool;
using status = connection_pool::acquire_status;
namespace asio = boost::asio;

namespace {

config::pool_config pool_config(std::uint64_t max_connections, std::uint64_t max_idle,
                                std::chrono::milliseconds max_wait) {
    config::pool_config c;
    c.max_connections = max_connections;
    c.max_idle = max_idle;
    c.max_wait = max_wait;
    c.idle_timeout = std::chrono::seconds(60);
    return c;
}

upstream::connection_ptr make_connection(asio::io_context& ctx) {
    return std::make_unique<upstream::upstream_connection>(ctx.get_executor());
}

// A pooled connection over loopback and the upstream's end of it.
struct connected {
    upstream::connection_ptr conn;
    asio::ip::tcp::socket peer;
};
connected make_connected(asio::io_context& ctx) {
    asio::ip::tcp::acceptor acceptor(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    auto conn = make_connection(ctx);
    conn->stream.socket().connect(acceptor.local_endpoint());
    return {std::move(conn), acceptor.accept()};
}

}  // namespace

TEST(ConnectionPool, ReservesSlotsUpToMaxConnections) {
    connection_pool pool(pool_config(2, 2, std::chrono::milliseconds(0)));
    EXPECT_EQ(pool.try_acquire(false).status, status::connect);
    EXPECT_EQ(pool.try_acquire(false).status, status::connect);
    EXPECT_EQ(pool.total(), 2u);
    EXPECT_EQ(pool.try_acquire(false).status, status::exhausted);  // max_wait 0: no waiting
    pool.connect_failed();
    EXPECT_EQ(pool.total(), 1u);
    EXPECT_EQ(pool.try_acquire(false).status, status::connect);
}

TEST(ConnectionPool, ReusesRecentIdleConnectionsMostRecentFirst) {
    asio::io_context ctx;
    connection_pool pool(pool_config(4, 4, std::chrono::milliseconds(0)));
    auto now = upstream::clock::now();
    pool.try_acquire(false);
    pool.try_acquire(false);
    auto a = make_connected(ctx);
    auto b = make_connected(ctx);
    auto* b_raw = b.conn.get();
    pool.release(std::move(a.conn), true, now);
    pool.release(std::move(b.conn), true, now);
    EXPECT_EQ(pool.idle(), 2u);
    auto got = pool.try_acquire(false);
    EXPECT_EQ(got.status, status::reused);
    EXPECT_EQ(got.conn.get(), b_raw);
    EXPECT_EQ(pool.idle(), 1u);
    EXPECT_EQ(pool.total(), 2u);
}

TEST(ConnectionPool, NonReusableAndOverMaxIdleConnectionsAreClosed) {
    asio::io_context ctx;
    connection_pool pool(pool_config(4, 1, std::chrono::milliseconds(0)));
    auto now = upstream::clock::now();
    for (int i = 0; i < 3; ++i) pool.try_acquire(false);
    pool.release(make_connection(ctx), false, now);  // misbehaved: closed
    pool.release(make_connection(ctx), true, now);   // kept
    pool.release(make_connection(ctx), true, now);   // over max_idle: closed
    EXPECT_EQ(pool.idle(), 1u);
    EXPECT_EQ(pool.total(), 1u);
}

TEST(ConnectionPool, IdleConnectionThatReceivedBytesIsNeverReusedAndIsCounted) {
    asio::io_context ctx;
    connection_pool pool(pool_config(4, 4, std::chrono::milliseconds(0)));
    auto now = upstream::clock::now();
    pool.try_acquire(false);
    pool.try_acquire(false);
    auto quiet = make_connected(ctx);
    auto chatty = make_connected(ctx);
    auto* quiet_raw = quiet.conn.get();
    pool.release(std::move(quiet.conn), true, now);
    pool.release(std::move(chatty.conn), true, now);  // most recent: tried first
    asio::write(chatty.peer, asio::buffer("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED", 46));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // loopback delivery
    auto got = pool.try_acquire(false);                          // used a moment ago, still checked
    EXPECT_EQ(got.status, status::reused);
    EXPECT_EQ(got.conn.get(), quiet_raw);
    EXPECT_EQ(pool.take_stray_closed(), 1u);
    EXPECT_EQ(pool.take_stray_closed(), 0u);
    EXPECT_EQ(pool.total(), 1u);
}

TEST(ConnectionPool, IdleConnectionClosedByTheUpstreamIsEvictedButNotCountedAsStray) {
    asio::io_context ctx;
    connection_pool pool(pool_config(4, 4, std::chrono::milliseconds(0)));
    auto now = upstream::clock::now();
    pool.try_acquire(false);
    auto c = make_connected(ctx);
    pool.release(std::move(c.conn), true, now);
    c.peer.close();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(pool.try_acquire(false).status, status::connect);
    EXPECT_EQ(pool.take_stray_closed(), 0u);
}

TEST(ConnectionPool, VerifiedIdleConnectionThatIsNotConnectedIsEvicted) {
    asio::io_context ctx;
    connection_pool pool(pool_config(4, 4, std::chrono::milliseconds(0)));
    auto now = upstream::clock::now();
    pool.try_acquire(false);
    pool.release(make_connection(ctx), true, now);
    // A socket that is not connected fails the liveness peek: evicted, a new slot instead.
    auto got = pool.try_acquire(false);
    EXPECT_EQ(got.status, status::connect);
    EXPECT_EQ(pool.idle(), 0u);
    EXPECT_EQ(pool.total(), 1u);
}

TEST(ConnectionPool, FreshSkipsIdleConnections) {
    asio::io_context ctx;
    connection_pool pool(pool_config(1, 1, std::chrono::milliseconds(0)));
    auto now = upstream::clock::now();
    pool.try_acquire(false);
    pool.release(make_connection(ctx), true, now);
    auto got = pool.try_acquire(true);  // at max_connections: the idle one makes room
    EXPECT_EQ(got.status, status::connect);
    EXPECT_EQ(pool.idle(), 0u);
    EXPECT_EQ(pool.total(), 1u);
}

TEST(ConnectionPool, SweepClosesConnectionsIdlePastTheTimeout) {
    asio::io_context ctx;
    auto cfg = pool_config(4, 4, std::chrono::milliseconds(0));
    cfg.idle_timeout = std::chrono::seconds(5);
    connection_pool pool(cfg);
    auto now = upstream::clock::now();
    pool.try_acquire(false);
    pool.release(make_connection(ctx), true, now);
    pool.sweep(now + std::chrono::seconds(6));
    EXPECT_EQ(pool.idle(), 0u);
    EXPECT_EQ(pool.total(), 0u);
}

TEST(ConnectionPool, WaiterGetsAReleasedConnectionOrTimesOut) {
    asio::io_context ctx;
    connection_pool pool(pool_config(1, 1, std::chrono::milliseconds(200)));
    auto now = upstream::clock::now();
    ASSERT_EQ(pool.try_acquire(false).status, status::connect);
    ASSERT_EQ(pool.try_acquire(false).status, status::must_wait);

    std::optional<status> first, second;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            auto r = co_await pool.wait(upstream::clock::now() + std::chrono::seconds(5));
            first = r.status;
        },
        asio::detached);
    ctx.poll();
    EXPECT_FALSE(first.has_value());
    // A non-reusable release hands the slot over: the waiter may connect.
    pool.release(make_connection(ctx), false, now);
    ctx.run_for(std::chrono::milliseconds(100));
    EXPECT_EQ(first, status::connect);
    EXPECT_EQ(pool.total(), 1u);

    ctx.restart();
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            auto r = co_await pool.wait(upstream::clock::now() + std::chrono::seconds(5));
            second = r.status;
        },
        asio::detached);
    ctx.run_for(std::chrono::seconds(2));
    EXPECT_EQ(second, status::exhausted);  // nothing freed within max_wait
}
