#pragma once
// Coarse socket deadlines without a timer per operation: each connection arms a watch before
// a socket operation, and the worker's sweeper cancels the socket once the deadline passes.
// Arming is a clock read and two stores; the sweeper runs every 100 ms over the worker's list.
#include <chrono>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace gatehouse::io {

using clock = std::chrono::steady_clock;

class deadline_list;

class deadline_watch {
public:
    deadline_watch() = default;
    deadline_watch(const deadline_watch&) = delete;
    deadline_watch& operator=(const deadline_watch&) = delete;
    ~deadline_watch();

    // Cancels target's pending operations if they are still running at time when.
    void arm(boost::asio::ip::tcp::socket& target, clock::time_point when) {
        target_ = &target;
        deadline_ = when;
        expired_ = false;
        idle_ = false;
    }
    // The same for a wait between requests, which a drain cuts short.
    void arm_idle(boost::asio::ip::tcp::socket& target, clock::time_point when) {
        arm(target, when);
        idle_ = true;
    }
    // Cancels the armed operation now, as if its deadline had passed (settle then gives
    // timed_out). No effect when nothing is armed.
    void expire_now() {
        if (target_ && deadline_ != clock::time_point::max()) {
            expired_ = true;
            deadline_ = clock::time_point::max();
            boost::system::error_code ignored;
            target_->cancel(ignored);
        }
    }
    // Stops watching (the operation finished).
    void disarm() { deadline_ = clock::time_point::max(); }
    // True if the sweeper cancelled the last armed operation.
    bool expired() const { return expired_; }
    // Ends the watch of the operation that completed with ec: an abort the sweeper caused
    // becomes timed_out, any other result is returned as it is.
    boost::system::error_code settle(boost::system::error_code ec) {
        disarm();
        return ec == boost::asio::error::operation_aborted && expired_ ? boost::asio::error::timed_out : ec;
    }

private:
    friend class deadline_list;
    deadline_list* list_ = nullptr;
    deadline_watch* prev_ = nullptr;
    deadline_watch* next_ = nullptr;
    boost::asio::ip::tcp::socket* target_ = nullptr;
    clock::time_point deadline_ = clock::time_point::max();
    bool expired_ = false;
    bool idle_ = false;
};

// An intrusive list of watches owned by one worker thread.
class deadline_list {
public:
    // Adds w; it removes itself when destroyed.
    void add(deadline_watch& w);
    // Removes w (no-op if not in the list).
    void remove(deadline_watch& w);
    // Cancels every watch whose deadline is at or before now.
    void sweep(clock::time_point now);
    // Cancels every watch armed with arm_idle (drain).
    void expire_idle();
    std::size_t size() const { return size_; }

private:
    deadline_watch* head_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace gatehouse::io
