#pragma once
// One request to an upstream cluster and its response: endpoint choice, a pooled keep-alive
// connection or a new one (other endpoints tried when a connect fails), one resend when a
// pooled connection turns out dead before answering, the request head and body, the response
// head (1xx handled), and the response body handed on as it arrives, each step under its own
// deadline. The other side (a client connection relaying, or a collector) is a downstream, so
// an exchange runs without a client connection too: an aggregation runs several on one worker.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>

#include "gatehouse/http/local_reply.hpp"
#include "gatehouse/http/response_head.hpp"
#include "gatehouse/http/wire.hpp"
#include "gatehouse/upstream/body.hpp"
#include "gatehouse/upstream/health.hpp"
#include "gatehouse/upstream/pool.hpp"

namespace gatehouse::common {
class fast_random;
}
namespace gatehouse::io {
class buffer_pool;
class deadline_watch;
}  // namespace gatehouse::io
namespace gatehouse::observability {
struct cluster_stats;
}

namespace gatehouse::upstream {

class cluster_state;
struct endpoint_state;

// The side of an exchange away from the upstream: where the request's head and body come
// from, and where the response goes.
class downstream {
public:
    virtual ~downstream() = default;

    // --- the request
    // Writes the request head for endpoint ("host:port") into out (empty): before the first
    // try, and before each later one when head_per_try() says the head depends on it.
    virtual void request_head(std::string_view endpoint, std::pmr::string& out) = 0;
    virtual bool head_per_try() const = 0;
    // The request body bytes received so far, at the front (bytes after the body are left
    // alone); the exchange consumes what it has sent. nullptr for a request without a body.
    virtual boost::beast::flat_buffer* body_bytes() = 0;
    // Waits for more body bytes in *body_bytes(). timed_out: the body did not come in time.
    virtual boost::asio::awaitable<boost::system::error_code> read_body() = 0;
    // For an Expect: 100-continue request, once a connection is ready. False: downstream gone.
    virtual boost::asio::awaitable<bool> send_continue() = 0;

    // --- the response
    // A 1xx response other than 101. False: the downstream is gone.
    virtual boost::asio::awaitable<bool> interim(const http::response_head& head) = 0;
    // The upstream switched protocols (a 101 accepting the request's WebSocket key): answer the
    // client with head, then carry bytes both ways between it and upstream until either side
    // ends. early: bytes the upstream sent after its head. Returns true if the tunnel ran and
    // ended without error. Only downstreams that send an upgrade request are asked.
    virtual boost::asio::awaitable<bool> upgraded(const http::response_head& head, io::stream& upstream,
                                                  std::span<const char> early);
    // The final response head, body framing decided (none for HEAD, 204 and 304): sets how the
    // body is to be delivered and the bytes that go before it (e.g. the client's head, which
    // must be built before this returns: head's views point into a buffer that moves on).
    // False with refusal set: answer that instead.
    virtual bool response_head(const http::response_head& head, http::body_framing framing, body_delivery& delivery,
                               std::string_view& prefix, std::optional<http::local_reply>& refusal) = 0;
    // Writes as much of buffers as can go without waiting; returns how much went.
    virtual std::size_t write_now(std::span<const boost::asio::const_buffer> buffers,
                                  boost::system::error_code& ec) = 0;
    // Writes the rest of buffers after their first sent bytes (sent grows as they go).
    virtual boost::asio::awaitable<boost::system::error_code> write_rest(
        std::span<const boost::asio::const_buffer> buffers, std::size_t& sent) = 0;
};

// What the exchange needs of the request besides its head.
struct request_shape {
    http::body_framing framing = http::body_framing::none;
    std::uint64_t content_length = 0;
    std::uint64_t max_body = 0;  // a chunked body beyond it is refused with 413
    // Safe to send again after a pooled connection died with the request sent (RFC 9110
    // section 9.2.2): a POST may have been acted on.
    bool idempotent = true;
    bool head_method = false;  // the response has no body
    bool expect_continue = false;
    bool retry_any_method = false;  // the route lets the upstream's retry policy cover non-idempotent methods
    // A WebSocket upgrade's Sec-WebSocket-Key: a 101 that accepts it hands the connection to
    // downstream::upgraded. Empty: a 101 is a bad response.
    std::string_view websocket_key;
};

// What an exchange borrows from the worker it runs on.
struct exchange_env {
    boost::asio::any_io_executor executor;
    io::buffer_pool* buffers = nullptr;
    const clock::time_point* now = nullptr;  // the worker's coarse clock
    common::fast_random* random = nullptr;   // retry backoff jitter
};

struct exchange_settings {
    clock::time_point deadline;                      // the whole exchange: the route's timeout
    std::chrono::milliseconds send_timeout{60'000};  // a write to the upstream making no progress
    std::chrono::milliseconds read_timeout{60'000};  // between body bytes from the upstream
    std::size_t max_response_head = 64 * 1024;
    std::uint64_t client_hash = 0;  // for hash load balancing
    bool timed = false;             // measure upstream_duration (it costs two clock reads)
    observability::cluster_stats* stats = nullptr;
};

struct exchange_result {
    // Nothing of a response reached the downstream: answer this instead (502/503/504/4xx).
    std::optional<http::local_reply> refusal;
    bool complete = false;                                      // the whole response reached the downstream
    bool downstream_failed = false;                             // the downstream left or stopped taking data
    std::string_view endpoint;                                  // the last endpoint tried; empty if none
    std::uint64_t body_bytes_sent = 0;                          // request body bytes that went upstream
    std::optional<std::chrono::nanoseconds> upstream_duration;  // request sent to response complete
    // The endpoints tries went to, in order (the first max_logged_tries); tries counts them all.
    static constexpr std::size_t max_logged_tries = 8;
    std::array<std::string_view, max_logged_tries> tried{};
    std::uint32_t tries = 0;
    std::span<const std::string_view> endpoints_tried() const {
        return {tried.data(), std::min<std::size_t>(tries, max_logged_tries)};
    }
};

class exchange {
public:
    // watch: for the exchange's socket operations (and nothing else while it runs).
    exchange(cluster_state& cluster, const exchange_env& env, io::deadline_watch& watch,
             const exchange_settings& settings, const std::pmr::polymorphic_allocator<char>& allocator);
    ~exchange();
    exchange(const exchange&) = delete;
    exchange& operator=(const exchange&) = delete;

    // Runs the exchange to its end. result stays valid while the exchange does.
    boost::asio::awaitable<void> run(downstream& down, const request_shape& request);
    const exchange_result& result() const { return result_; }

private:
    // How a step of a try ended.
    enum class step {
        go_on,         // the try continues
        wait,          // the rest of the request must be awaited (finish_request)
        stop,          // answered, refused (result_.refusal), or the downstream failed
        resend_fresh,  // a pooled connection died before any response byte: resend on a new one
        retry,         // the try failed in a way the upstream's retry policy retries (already counted)
        upgraded       // a 101 accepted the WebSocket upgrade: the connection becomes a tunnel
    };
    enum class retry_reason { connect_failure, reset, timeout, status };

    // The steps of one exchange, in order. A common exchange runs two coroutines (run and the
    // response head) and sends its request and relays a body already read inline; the rare
    // steps (connect, a write the socket did not take at once, a streamed request body, a body
    // that needs more reads) are coroutines of their own, so the common path neither makes
    // their frames nor keeps their state in its own.
    void begin_try();
    endpoint_state* choose_endpoint(std::size_t& index);
    boost::asio::awaitable<connection_pool::acquired> wait_for_connection(endpoint_state& endpoint);
    boost::asio::awaitable<step> carry_upgraded();
    bool resend_on_fresh_connection();
    boost::asio::awaitable<bool> connect(endpoint_state& endpoint, std::size_t index);
    // A TLS upstream's handshake on the new connection, under the connect timeout; failure: why.
    boost::asio::awaitable<boost::system::error_code> handshake(endpoint_state& endpoint, std::string& failure);
    step send_request_now();
    step send_failed(const boost::system::error_code& ec);
    step request_sent();
    boost::asio::awaitable<step> finish_request();
    boost::asio::awaitable<bool> stream_request_body();
    // True when a retry may have to send the body again but not all of it has arrived yet.
    bool body_to_keep() const;
    // Reads the rest of such a body before the first try.
    boost::asio::awaitable<bool> keep_replayable_body();
    boost::asio::awaitable<boost::system::error_code> send_rest(std::span<const boost::asio::const_buffer> buffers,
                                                                std::size_t& sent, clock::time_point deadline);
    boost::asio::awaitable<step> read_response_head();
    step read_head_failed(const boost::system::error_code& ec, bool got_bytes);
    // True if the retry policy allows another try after a failure for reason (and counts it).
    bool may_retry(retry_reason reason);
    // A final response head the policy retries: its status is listed and Retry-After allows.
    bool retry_status();
    // A try's outcome at the current endpoint (failure::none: it succeeded), for outlier
    // detection and the endpoint's failure record.
    void outcome(cluster_health::failure failure);
    // Between tries: moves off the endpoint that failed (when another is usable) and waits the backoff.
    boost::asio::awaitable<void> before_retry(std::size_t failed_index);
    bool interim_allowed(int count);
    bool start_response_body();
    enum class relay_state { finished, need_read, need_write, stopped };
    relay_state relay_buffered();
    boost::asio::awaitable<void> relay_response_body(relay_state state);
    void body_read_failed(const boost::system::error_code& ec);
    void end_of_response();

    void refuse(unsigned status, std::string_view error, std::string message);
    bool refuse_body(request_body::status status);
    void refuse_send(const boost::system::error_code& ec, std::string_view timeout_message);

    cluster_state& cluster_;
    exchange_env env_;
    io::deadline_watch& watch_;
    exchange_settings settings_;
    downstream* down_ = nullptr;
    const request_shape* request_ = nullptr;
    exchange_result result_;

    // State of the current try.
    connection_ptr conn_;
    bool reused_ = false;
    bool reusable_ = false;    // the connection may go back to the pool after this try
    bool replayable_ = false;  // nothing of the body has left the downstream's buffer yet
    bool body_done_ = true;    // the whole request body was in the downstream's buffer
    std::size_t first_ = 0;    // request body bytes sent with the head
    std::size_t sent_ = 0;     // bytes of out_ sent so far
    bool started_ = false;     // response bytes reached the downstream
    std::size_t take_ = 0;     // read-buffer bytes the pending write passes on
    std::size_t written_ = 0;  // bytes of the pending write taken so far
    std::size_t held_ = 0;     // body bytes sent but kept in the downstream's buffer for a resend
    request_body request_body_;
    bool upstream_keep_alive_ = false;
    std::string_view prefix_;                        // what goes before the response body (from the downstream)
    std::pmr::string head_;                          // the request head as last built
    std::unique_ptr<boost::beast::flat_buffer> in_;  // from the upstream (pooled buffer)
    http::response_head response_;
    response_body body_;
    gather out_;
    clock::time_point begin_;
    // Across tries.
    std::uint64_t excluded_ = 0;  // endpoints whose connect failed (bit i: endpoint i)
    std::uint64_t connect_failures_ = 0;
    bool stale_retried_ = false;
    bool continue_sent_ = false;
    bool last_connect_timed_out_ = false;
    std::string last_tls_failure_;  // why the last TLS handshake failed; empty if it did not
    // Retries (the upstream's retry policy).
    clock::time_point try_deadline_;  // the route's deadline, or sooner with a per-try timeout
    std::uint64_t retries_ = 0;
    bool holds_retry_slot_ = false;   // counted in the cluster's retries in flight
    bool interim_forwarded_ = false;  // a 1xx reached the downstream: no other try
    std::chrono::milliseconds retry_delay_{0};
    std::size_t current_index_ = 0;  // the endpoint of the current try
};

}  // namespace gatehouse::upstream
