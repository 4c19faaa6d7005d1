#pragma once
// A Redis client for one worker: a few TCP connections on the worker's io_context, commands
// pipelined on them (everything queued while a write is in flight leaves in the next write),
// replies parsed by hiredis's RESP reader and matched to commands in order. Each command has a
// deadline; a command that misses it completes with error::timeout and its reply, when it
// comes, is dropped. A connection that fails is closed, its commands fail at once, and it
// reconnects with exponential backoff. Never blocks the loop; no locks (one worker owns it).
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gatehouse/common/background_resolver.hpp"

struct redisReply;
struct redisReader;

namespace boost::asio {
class io_context;
}

namespace gatehouse::redis {

struct options {
    std::string host = "127.0.0.1";  // for messages
    std::string port = "6379";
    // Resolves host off the worker (started by the first client); each (re)connect tries its
    // latest addresses in order. Null: host must be an IP literal.
    std::shared_ptr<common::background_resolver> resolver;
    std::string username;  // AUTH username (Redis 6 ACL); empty: AUTH with the password only
    std::string password;  // empty: no AUTH
    unsigned database = 0;
    unsigned connections = 2;
    std::chrono::milliseconds timeout{100};  // per command
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds max_backoff{5000};  // between reconnect attempts
    std::size_t max_pending = 4096;               // per connection; more fails at once
};

enum class error { none, timeout, unavailable, overloaded, server_error, protocol };
std::string_view to_string(error e);

// A reply: the hiredis object (owned) or an error with a reason.
struct reply {
    error failure = error::none;
    std::string message;  // the reason for failure, or the Redis error text for server_error
    std::unique_ptr<redisReply, void (*)(void*)> value{nullptr, nullptr};
    bool ok() const { return failure == error::none; }
};

// A reply bigger than this is a protocol error: the gateway's commands get small replies, and a
// hostile or broken server must not make a worker allocate what a reply's header announces.
inline constexpr std::size_t max_reply_elements = 1024;       // per array
inline constexpr std::size_t max_reply_buffer = 1024 * 1024;  // bytes of a reply not yet complete

// hiredis's RESP reader as the client uses it: an array header above max_reply_elements fails
// the read instead of allocating room for that many elements (hiredis 0.14 has no limit, 1.x
// one of four billion). Free it with redisReaderFree.
redisReader* create_reader();

// Appends one command in RESP (an array of bulk strings) to out: the array header, then each
// argument (append_bulk).
void encode_command(std::string& out, const std::vector<std::string_view>& args);
void append_array_header(std::string& out, std::size_t count);
void append_bulk(std::string& out, std::string_view arg);

class client {
public:
    using handler = boost::asio::any_completion_handler<void(reply)>;

    client(boost::asio::io_context& io, options opts);
    ~client();  // closes the connections; pending commands complete with error::unavailable
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // Sends one RESP-encoded command (see encode_command); the handler runs on the worker's
    // loop with the reply. Fails at once (error::unavailable) while no connection is up.
    template <typename Token>
    auto async_send(std::string_view encoded, Token&& token) {
        return boost::asio::async_initiate<Token, void(reply)>(
            [this](auto h, std::string_view cmd) { submit(cmd, handler(std::move(h))); }, token, encoded);
    }

    // Closes every connection for good (pending commands complete with error::unavailable);
    // the destructor does it too. Call it before the io_context goes away.
    void close();

    // True while at least one connection is ready to take commands.
    bool available() const;
    // Why the last connection attempt or connection failed ("connection refused", ...).
    const std::string& last_error() const;

private:
    class connection;
    void submit(std::string_view encoded, handler h);
    boost::asio::io_context& io_;
    std::shared_ptr<const options> options_;
    std::vector<std::shared_ptr<connection>> connections_;  // shared with their in-flight operations
    std::size_t next_ = 0;
};

}  // namespace gatehouse::redis
