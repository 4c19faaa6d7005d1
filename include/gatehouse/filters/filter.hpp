#pragma once
// The filter interface: the seams where features plug into a request. The phases, in order
// (docs/life-of-a-request.md): on_request (chain order; any filter may answer and stop the
// chain), on_upstream_request (endpoint chosen, before forwarding), on_response (reverse order,
// for the upstream's response and for the gateway's own replies alike), on_log (chain order,
// always: also after refusals, upstream errors and client aborts).
#include <chrono>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "gatehouse/filters/context.hpp"

namespace gatehouse::filters {

enum class filter_status {
    proceed,  // go on with the next filter
    respond,  // the filter set ctx.reply: stop the chain and answer the client with it
    suspend,  // from on_request only: this request needs I/O, await on_request_async instead
};

// One instance per worker serves every request of that worker, and requests interleave (an
// awaited filter or upstream lets others run): per-request state belongs in the
// request_context, never in the filter's members.
class filter {
public:
    virtual ~filter() = default;

    // Before anything is forwarded. To answer the client, set ctx.reply and return respond.
    virtual filter_status on_request(request_context& /*ctx*/) { return filter_status::proceed; }

    // True if the chain must always await on_request_async instead of calling on_request, for
    // filters that always wait for I/O. A filter that only sometimes does returns suspend from
    // on_request (a Redis rate limiter while Redis is up); the others cost no coroutine frame.
    // The worker runs other requests meanwhile.
    virtual bool is_async() const { return false; }
    virtual boost::asio::awaitable<filter_status> on_request_async(request_context& ctx);

    // The endpoint is chosen ("10.0.0.7:8080") and the request is about to be forwarded: last
    // chance to add ctx.upstream_edits. Called again if a retry picks another endpoint.
    virtual void on_upstream_request(request_context& ctx, std::string_view endpoint) {}

    // A response head is about to be sent; add ctx.response_edits to change it.
    virtual void on_response(request_context& ctx, const response_view& response) {}

    // The exchange is over (whatever the outcome).
    virtual void on_log(const request_context& ctx, const exchange_log& log) {}

    // Called on the worker's thread about every 100 ms: flush buffers, expire state.
    virtual void on_tick(std::chrono::steady_clock::time_point now) {}

    // The worker is stopping and its io_context is destroyed next: close sockets and timers
    // now (the instance itself lives on until the requests' frames are gone).
    virtual void on_shutdown() {}
};

}  // namespace gatehouse::filters
