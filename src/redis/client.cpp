#include "gatehouse/redis/client.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <deque>
#include <type_traits>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <spdlog/spdlog.h>

namespace gatehouse::redis {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

std::string_view to_string(error e) {
    switch (e) {
        case error::none:
            return "none";
        case error::timeout:
            return "timeout";
        case error::unavailable:
            return "unavailable";
        case error::overloaded:
            return "overloaded";
        case error::server_error:
            return "server_error";
        case error::protocol:
            return "protocol";
    }
    return "unknown";
}

namespace {
void append_number(std::string& out, std::size_t n) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out.append(digits, end);
}
}  // namespace

void append_array_header(std::string& out, std::size_t count) {
    out += '*';
    append_number(out, count);
    out += "\r\n";
}

void append_bulk(std::string& out, std::string_view arg) {
    out += '$';
    append_number(out, arg.size());
    out += "\r\n";
    out += arg;
    out += "\r\n";
}

namespace {

// hiredis's own object functions, with arrays bounded (copied from the reader hiredis makes,
// since its table is not exported).
// The element count is an int in hiredis 0.14 and a size_t in 1.x.
using create_array_fn = decltype(redisReplyObjectFunctions::createArray);
template <typename>
struct count_type_of;
template <typename R, typename Task, typename Count>
struct count_type_of<R (*)(Task, Count)> {
    using type = Count;
};
using element_count = count_type_of<create_array_fn>::type;

redisReplyObjectFunctions bounded_functions;
create_array_fn default_create_array = nullptr;

void* create_bounded_array(const redisReadTask* task, element_count elements) {
    if constexpr (std::is_signed_v<element_count>) {
        if (elements < 0) {
            return nullptr;
        }
    }
    if (static_cast<std::uint64_t>(elements) > max_reply_elements) {
        return nullptr;  // the reader reports an error and stops
    }
    return default_create_array(task, elements);
}

}  // namespace

redisReader* create_reader() {
    redisReader* reader = redisReaderCreate();
    if (!reader) {
        return nullptr;
    }
    static const bool initialised = [reader] {
        bounded_functions = *reader->fn;
        default_create_array = bounded_functions.createArray;
        bounded_functions.createArray = &create_bounded_array;
        return true;
    }();
    (void)initialised;
    reader->fn = &bounded_functions;
    return reader;
}

void encode_command(std::string& out, const std::vector<std::string_view>& args) {
    append_array_header(out, args.size());
    for (auto a : args) append_bulk(out, a);
}

namespace {
// Runs h with r on the loop, never inside the caller (which may be mid-way through its queue).
void post_reply(asio::io_context& io, client::handler h, reply r) {
    asio::post(io, [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
}
}  // namespace

class client::connection : public std::enable_shared_from_this<connection> {
public:
    connection(asio::io_context& io, std::shared_ptr<const options> opts, unsigned index)
        : io_(io),
          opts_(std::move(opts)),
          index_(index),
          socket_(io),
          timer_(io),
          retry_(io),
          backoff_(initial_backoff) {}

    ~connection() {
        if (reader_) redisReaderFree(reader_);
    }

    bool ready() const { return phase_ == phase::ready; }
    const std::string& last_error() const { return last_error_; }

    void start() { connect(); }

    // False (and h untouched) when this connection cannot take the command now.
    bool submit(std::string_view encoded, handler& h, reply& refusal) {
        if (phase_ != phase::ready) {
            refusal = {error::unavailable, last_error_.empty() ? "not connected" : last_error_};
            return false;
        }
        if (pending_.size() >= opts_->max_pending) {
            refusal = {error::overloaded, "too many commands waiting for replies"};
            return false;
        }
        pending_.push_back({clock::now() + opts_->timeout, std::move(h), false});
        next_.append(encoded);
        // Cork: the write goes out after the handlers already queued on the loop ran, so the
        // commands of every request they wake leave in one send instead of one each.
        if (!writing_ && !flush_posted_) {
            flush_posted_ = true;
            asio::post(io_, [self = shared_from_this(), epoch = epoch_] {
                if (epoch != self->epoch_) return;
                self->flush_posted_ = false;
                self->flush();
            });
        }
        arm_timer();
        return true;
    }

    // Idempotent: the second call may come after the io_context is gone, and must not touch it.
    void close() {
        if (phase_ == phase::closed) return;
        phase_ = phase::closed;
        ++epoch_;
        shut("client closed");
        retry_.cancel();
    }

private:
    enum class phase { idle, connecting, ready, closed };
    static constexpr std::chrono::milliseconds initial_backoff{100};

    struct pending {
        clock::time_point deadline;
        handler h;      // empty once the command timed out (its reply is then dropped)
        bool internal;  // AUTH or SELECT sent on connect
    };

    void complete(handler h, reply r) { post_reply(io_, std::move(h), std::move(r)); }

    std::string where() const { return opts_->host + ":" + opts_->port; }

    void connect() {
        phase_ = phase::connecting;
        auto epoch = ++epoch_;
        auto self = shared_from_this();
        timer_.expires_after(opts_->connect_timeout);
        timer_.async_wait([self, epoch](boost::system::error_code ec) {
            if (ec || epoch != self->epoch_ || self->phase_ != phase::connecting) return;
            self->fail("connect timeout after " + std::to_string(self->opts_->connect_timeout.count()) + "ms");
        });
        addresses_ = addresses();
        if (addresses_.empty()) {
            return fail("cannot resolve " + opts_->host + ": " +
                        (opts_->resolver ? opts_->resolver->error() : std::string("not an IP address")));
        }
        asio::async_connect(socket_, addresses_, [self, epoch](boost::system::error_code ec, const tcp::endpoint&) {
            if (epoch != self->epoch_) return;
            if (ec) return self->fail(ec.message());
            self->connected();
        });
    }

    common::background_resolver::address_list addresses() const {
        if (opts_->resolver) return opts_->resolver->addresses();
        boost::system::error_code ec;
        auto address = asio::ip::make_address(opts_->host, ec);
        if (ec) return {};
        return {tcp::endpoint(address, static_cast<std::uint16_t>(std::stoul(opts_->port)))};
    }

    void connected() {
        timer_.cancel();
        timer_armed_ = false;
        boost::system::error_code ignored;
        socket_.set_option(tcp::no_delay(true), ignored);
        if (reader_) redisReaderFree(reader_);
        reader_ = create_reader();
        phase_ = phase::ready;
        // AUTH and SELECT go first on the same pipeline: Redis answers in order, so commands
        // queued behind them already run authenticated.
        auto deadline = clock::now() + opts_->connect_timeout;
        if (!opts_->password.empty()) {
            if (opts_->username.empty()) {
                encode_command(next_, {"AUTH", opts_->password});
            } else {
                encode_command(next_, {"AUTH", opts_->username, opts_->password});
            }
            pending_.push_back({deadline, {}, true});
        }
        if (opts_->database != 0) {
            auto db = std::to_string(opts_->database);
            encode_command(next_, {"SELECT", db});
            pending_.push_back({deadline, {}, true});
        }
        flush();
        arm_timer();
        read();
    }

    void flush() {
        if (writing_ || next_.empty() || phase_ != phase::ready) return;
        std::swap(out_, next_);
        writing_ = true;
        auto self = shared_from_this();
        auto epoch = epoch_;
        asio::async_write(socket_, asio::buffer(out_), [self, epoch](boost::system::error_code ec, std::size_t) {
            if (epoch != self->epoch_) return;
            self->writing_ = false;
            self->out_.clear();
            if (ec) return self->fail("write: " + ec.message());
            self->flush();
        });
    }

    void read() {
        auto self = shared_from_this();
        auto epoch = epoch_;
        socket_.async_read_some(asio::buffer(in_), [self, epoch](boost::system::error_code ec, std::size_t n) {
            if (epoch != self->epoch_) return;
            if (ec) {
                return self->fail(ec == asio::error::eof ? std::string("connection closed by server")
                                                         : "read: " + ec.message());
            }
            if (self->on_bytes(n)) self->read();
        });
    }

    // Parses what arrived and completes the commands it answers; false if the connection failed.
    bool on_bytes(std::size_t n) {
        if (redisReaderFeed(reader_, in_.data(), n) != REDIS_OK) {
            fail(std::string("protocol error: ") + reader_->errstr);
            return false;
        }
        if (reader_->len - reader_->pos > max_reply_buffer) {
            fail("protocol error: a reply larger than " + std::to_string(max_reply_buffer) + " bytes");
            return false;
        }
        for (;;) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
                fail(std::string("protocol error: ") + reader_->errstr);
                return false;
            }
            if (!raw) return true;
            std::unique_ptr<redisReply, void (*)(void*)> value(static_cast<redisReply*>(raw), freeReplyObject);
            if (pending_.empty()) {
                fail("a reply that no command asked for");
                return false;
            }
            auto p = std::move(pending_.front());
            pending_.pop_front();
            bool is_error = value->type == REDIS_REPLY_ERROR;
            if (p.internal) {
                if (is_error) {
                    std::string text(value->str, value->len);
                    spdlog::error("redis {}: connection setup refused: {}", where(), text);
                    fail("setup refused: " + text);
                    return false;
                }
                continue;
            }
            if (!was_up_) {
                was_up_ = true;
                backoff_ = initial_backoff;
                spdlog::info("redis {}: connection {} up", where(), index_);
            }
            if (!p.h) continue;  // timed out: its caller has moved on
            if (is_error) {
                complete(std::move(p.h), {error::server_error, std::string(value->str, value->len), std::move(value)});
            } else {
                complete(std::move(p.h), {error::none, {}, std::move(value)});
            }
        }
    }

    void arm_timer() {
        if (timer_armed_ || phase_ != phase::ready) return;
        auto it = std::find_if(pending_.begin(), pending_.end(), [](const pending& p) { return p.h || p.internal; });
        if (it == pending_.end()) return;
        wait_until(it->deadline);
    }

    void wait_until(clock::time_point at) {
        timer_armed_ = true;
        timer_.expires_at(at);
        auto self = shared_from_this();
        auto epoch = epoch_;
        timer_.async_wait([self, epoch](boost::system::error_code) {
            if (epoch != self->epoch_) return;
            self->timer_armed_ = false;
            self->on_deadline();
        });
    }

    void on_deadline() {
        auto now = clock::now();
        for (auto& p : pending_) {
            if (p.deadline > now) break;
            if (p.internal) return fail("no answer to connection setup");
            if (p.h)
                complete(std::move(p.h),
                         {error::timeout, "no reply within " + std::to_string(opts_->timeout.count()) + "ms"});
            p.h = {};
        }
        // A server that has not answered the oldest command for a whole connect timeout past its
        // deadline is gone (a hung process, a dropped network): start over on a new connection.
        if (!pending_.empty() && now - pending_.front().deadline > opts_->connect_timeout) {
            return fail("no reply for " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           now - pending_.front().deadline + opts_->timeout)
                                           .count()) +
                        "ms");
        }
        if (!pending_.empty()) {
            // Keep watching the oldest command even after its caller gave up, for the check above.
            auto first_live =
                std::find_if(pending_.begin(), pending_.end(), [](const pending& p) { return static_cast<bool>(p.h); });
            auto at = pending_.front().deadline + opts_->connect_timeout + std::chrono::milliseconds(1);
            if (first_live != pending_.end()) at = std::min(at, first_live->deadline);
            wait_until(at);
        }
    }

    // Drops the connection: its commands fail, and a new one is tried after the backoff.
    void fail(std::string reason) {
        if (phase_ == phase::closed) return;
        if (was_up_ || last_error_.empty()) {
            spdlog::warn("redis {}: connection {} down: {}", where(), index_, reason);
        } else {
            spdlog::debug("redis {}: connection {} attempt failed: {}", where(), index_, reason);
        }
        was_up_ = false;
        last_error_ = std::move(reason);
        ++epoch_;
        shut(last_error_);
        phase_ = phase::idle;
        retry_.expires_after(backoff_);
        backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, opts_->max_backoff);
        auto self = shared_from_this();
        auto epoch = epoch_;
        retry_.async_wait([self, epoch](boost::system::error_code ec) {
            if (ec || epoch != self->epoch_ || self->phase_ == phase::closed) return;
            self->connect();
        });
    }

    void shut(const std::string& reason) {
        boost::system::error_code ignored;
        socket_.close(ignored);
        timer_.cancel();
        timer_armed_ = false;
        writing_ = false;
        flush_posted_ = false;
        out_.clear();
        next_.clear();
        auto waiting = std::move(pending_);
        pending_.clear();
        for (auto& p : waiting) {
            if (p.h) complete(std::move(p.h), {error::unavailable, reason});
        }
    }

    asio::io_context& io_;
    std::shared_ptr<const options> opts_;
    unsigned index_;
    tcp::socket socket_;
    common::background_resolver::address_list addresses_;  // of the connect in progress
    asio::steady_timer timer_;                             // connect timeout, then command deadlines
    asio::steady_timer retry_;                             // reconnect backoff
    redisReader* reader_ = nullptr;
    std::deque<pending> pending_;
    std::string out_;   // being written
    std::string next_;  // queued behind it: the next write
    std::array<char, 16 * 1024> in_;
    std::chrono::milliseconds backoff_;
    std::string last_error_;
    phase phase_ = phase::idle;
    std::uint64_t epoch_ = 0;  // bumped on every (re)connect: callbacks of an older socket are ignored
    bool writing_ = false;
    bool flush_posted_ = false;
    bool timer_armed_ = false;
    bool was_up_ = false;
};

client::client(asio::io_context& io, options opts)
    : io_(io), options_(std::make_shared<const options>(std::move(opts))) {
    if (options_->resolver) options_->resolver->start();
    for (unsigned i = 0; i < std::max(1u, options_->connections); ++i) {
        connections_.push_back(std::make_shared<connection>(io, options_, i));
        connections_.back()->start();
    }
}

client::~client() {
    // close() can throw only what allocation and Asio's cancel throw on a broken system; a
    // destructor must not let it escape (that would terminate the worker).
    try {
        close();
    } catch (const std::exception& e) {
        spdlog::error("redis client: closing failed: {}", e.what());
    }
}

void client::close() {
    for (auto& c : connections_) c->close();
    // Our references go now, while the io_context exists: a connection's sockets and timers
    // must not outlive it. Handlers still queued keep theirs until the io_context drops them.
    connections_.clear();
}

bool client::available() const {
    for (const auto& c : connections_) {
        if (c->ready()) return true;
    }
    return false;
}

const std::string& client::last_error() const {
    static const std::string closed = "client closed";
    return connections_.empty() ? closed : connections_.front()->last_error();
}

void client::submit(std::string_view encoded, handler h) {
    reply refusal{error::unavailable, "client closed"};
    for (std::size_t tried = 0; tried < connections_.size(); ++tried) {
        auto& c = connections_[next_++ % connections_.size()];
        if (c->submit(encoded, h, refusal)) return;
    }
    post_reply(io_, std::move(h), std::move(refusal));
}

}  // namespace gatehouse::redis
