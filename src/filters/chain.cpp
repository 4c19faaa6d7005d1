#include "gatehouse/filters/chain.hpp"

#include <string>

namespace gatehouse::filters {

void chain::answered(request_context& ctx, const chain_entry& entry) {
    ctx.answered_by = entry.name;
    if (!ctx.reply) {
        ctx.reply = http::local_reply{500, "filter_error", "filter " + std::string(entry.name) + " gave no reply"};
    }
}

filter_status chain::run_sync(request_context& ctx, std::size_t& next) const {
    for (; next < entries_.size() && !entries_[next].instance->is_async(); ++next) {
        auto status = entries_[next].instance->on_request(ctx);
        if (status == filter_status::respond) {
            answered(ctx, entries_[next]);
            return status;
        }
        if (status == filter_status::suspend) {
            return status;  // next stays on this filter: the async part resumes it
        }
    }
    return filter_status::proceed;
}

boost::asio::awaitable<filter_status> chain::run_async(request_context& ctx, std::size_t next,
                                                       bool resume_first) const {
    while (next < entries_.size()) {
        const auto& entry = entries_[next];
        ++next;
        auto status = filter_status::proceed;
        if (entry.instance->is_async() || resume_first) {
            status = co_await entry.instance->on_request_async(ctx);
        } else {
            status = entry.instance->on_request(ctx);
            if (status == filter_status::suspend) {
                status = co_await entry.instance->on_request_async(ctx);
            }
        }
        resume_first = false;
        if (status == filter_status::respond) {
            answered(ctx, entry);
            co_return status;
        }
    }
    co_return filter_status::proceed;
}

void chain::on_upstream_request(request_context& ctx, std::string_view endpoint) const {
    for (const auto& entry : entries_) entry.instance->on_upstream_request(ctx, endpoint);
}

void chain::on_response(request_context& ctx, const response_view& response) const {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) it->instance->on_response(ctx, response);
}

void chain::on_log(const request_context& ctx, const exchange_log& log) const {
    for (const auto& entry : entries_) entry.instance->on_log(ctx, log);
}

}  // namespace gatehouse::filters
