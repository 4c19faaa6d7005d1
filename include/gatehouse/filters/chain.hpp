#pragma once
// An ordered list of filter instances and the rules for running their phases over one
// request: on_request in order until one answers (synchronous filters without a coroutine
// frame; a frame only from the first filter that waits for I/O), on_upstream_request per try,
// on_response in reverse order, on_log in order. The server decides when each phase runs.
#include <cstddef>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "gatehouse/filters/filter.hpp"

namespace gatehouse::filters {

struct chain_entry {
    filter* instance;
    std::string_view name;  // the instance name from the config
};

class chain {
public:
    chain() = default;
    explicit chain(std::vector<chain_entry> entries) : entries_(std::move(entries)) {}

    bool empty() const { return entries_.empty(); }
    std::size_t size() const { return entries_.size(); }
    const std::vector<chain_entry>& entries() const { return entries_; }

    // on_request of the synchronous filters from next on, until one answers (respond), one
    // needs I/O (suspend: next stays on it) or an async filter is next (proceed, next on it).
    filter_status run_sync(request_context& ctx, std::size_t& next) const;
    // The rest from next, awaiting the async ones; resume_first: the filter at next suspended
    // in on_request and its on_request_async continues it.
    boost::asio::awaitable<filter_status> run_async(request_context& ctx, std::size_t next, bool resume_first) const;
    // Both of the above: true if the chain reaches its end without an answer.
    bool done(std::size_t next) const { return next >= entries_.size(); }

    void on_upstream_request(request_context& ctx, std::string_view endpoint) const;
    void on_response(request_context& ctx, const response_view& response) const;
    void on_log(const request_context& ctx, const exchange_log& log) const;

private:
    // A filter answered: ctx.answered_by names it, and it has a reply (a 500 if it forgot one).
    static void answered(request_context& ctx, const chain_entry& entry);

    std::vector<chain_entry> entries_;
};

}  // namespace gatehouse::filters
