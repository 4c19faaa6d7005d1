#include "gatehouse/upstream/pool.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gatehouse::upstream {

namespace asio = boost::asio;

idle_state check_idle_connection(upstream_connection& c) {
    if (!c.stream.plain()) {
        // Through OpenSSL: a session ticket sent late is taken in, a close_notify is a close.
        switch (c.stream.probe_idle_tls()) {
            case io::stream::idle_probe::nothing:
                return idle_state::alive;
            case io::stream::idle_probe::closed:
                return idle_state::closed;
            case io::stream::idle_probe::data:
                return idle_state::stray_bytes;
        }
    }
    char byte;
    ssize_t n = ::recv(c.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        return idle_state::stray_bytes;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? idle_state::alive : idle_state::closed;
}

bool connection_pool::usable(upstream_connection& c) {
    switch (check_idle_connection(c)) {
        case idle_state::alive:
            return true;
        case idle_state::closed:
            return false;
        case idle_state::stray_bytes:
            ++stray_closed_;
            return false;
    }
    return false;
}

struct connection_pool::waiter {
    explicit waiter(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    connection_ptr conn;
    bool may_connect = false;
};

connection_pool::connection_pool(const config::pool_config& config) : config_(config) {}

connection_pool::~connection_pool() = default;

connection_pool::acquired connection_pool::try_acquire(bool fresh) {
    if (fresh && total_ >= config_.max_connections && !idle_.empty()) {
        idle_.pop_front();  // make room for the fresh connection
        --total_;
    }
    while (!fresh && !idle_.empty()) {
        connection_ptr c = std::move(idle_.back());
        idle_.pop_back();
        if (usable(*c)) {
            return acquired{acquire_status::reused, std::move(c)};
        }
        --total_;  // closed by the upstream while idle
    }
    if (total_ < config_.max_connections) {
        ++total_;
        return acquired{acquire_status::connect, nullptr};
    }
    if (waiters_.size() >= config_.max_waiters || config_.max_wait.count() == 0) {
        return acquired{acquire_status::exhausted, nullptr};
    }
    return acquired{acquire_status::must_wait, nullptr};
}

asio::awaitable<connection_pool::acquired> connection_pool::wait(clock::time_point deadline) {
    auto ex = co_await asio::this_coro::executor;
    waiter w(ex);
    w.timer.expires_at(std::min(clock::now() + config_.max_wait, deadline));
    waiters_.push_back(&w);
    co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (auto it = std::find(waiters_.begin(), waiters_.end(), &w); it != waiters_.end()) {
        waiters_.erase(it);  // timed out
    }
    if (w.conn) {
        if (usable(*w.conn)) {
            co_return acquired{acquire_status::reused, std::move(w.conn)};
        }
        w.conn.reset();  // the slot stays ours: connect anew
        co_return acquired{acquire_status::connect, nullptr};
    }
    if (w.may_connect) {
        co_return acquired{acquire_status::connect, nullptr};
    }
    co_return acquired{acquire_status::exhausted, nullptr};
}

void connection_pool::wake_one_with_slot() {
    waiter* w = waiters_.front();
    waiters_.pop_front();
    w->may_connect = true;
    w->timer.cancel();
}

void connection_pool::release(connection_ptr conn, bool reusable, clock::time_point now) {
    if (reusable && !waiters_.empty()) {
        waiter* w = waiters_.front();
        waiters_.pop_front();
        w->conn = std::move(conn);
        w->timer.cancel();
        return;
    }
    if (reusable && idle_.size() < config_.max_idle) {
        conn->idle_since = now;
        idle_.push_back(std::move(conn));
        return;
    }
    conn.reset();
    if (!waiters_.empty()) {
        wake_one_with_slot();  // the slot passes to the waiter
        return;
    }
    --total_;
}

void connection_pool::connect_failed() {
    if (!waiters_.empty()) {
        wake_one_with_slot();
        return;
    }
    --total_;
}

void connection_pool::sweep(clock::time_point now) {
    auto limit = now - config_.idle_timeout;
    auto dead = std::remove_if(idle_.begin(), idle_.end(),
                               [&](connection_ptr& c) { return c->idle_since <= limit || !usable(*c); });
    total_ -= static_cast<std::size_t>(idle_.end() - dead);
    idle_.erase(dead, idle_.end());
}

void connection_pool::close_idle() {
    total_ -= idle_.size();
    idle_.clear();
}

}  // namespace gatehouse::upstream
