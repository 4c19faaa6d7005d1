#include "gatehouse/filters/chain.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

using namespace gatehouse;
using filters::filter_status;
namespace asio = boost::asio;

namespace {

// Records each phase it sees in a shared trace; on_request answers with its configured status.
class recording_filter : public filters::filter {
public:
    recording_filter(std::string name, std::vector<std::string>& trace, filter_status status = filter_status::proceed,
                     bool async = false)
        : name_(std::move(name)), trace_(trace), status_(status), async_(async) {}

    filter_status on_request(filters::request_context& ctx) override {
        trace_.push_back(name_ + ".request");
        if (status_ == filter_status::respond && reply_) ctx.reply = http::local_reply{403, "denied", "no"};
        return status_;
    }
    bool is_async() const override { return async_; }
    asio::awaitable<filter_status> on_request_async(filters::request_context&) override {
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);  // a real wait
        trace_.push_back(name_ + ".async");
        co_return filter_status::proceed;
    }
    void on_response(filters::request_context&, const filters::response_view&) override {
        trace_.push_back(name_ + ".response");
    }
    void on_log(const filters::request_context&, const filters::exchange_log&) override {
        trace_.push_back(name_ + ".log");
    }
    bool reply_ = true;

private:
    std::string name_;
    std::vector<std::string>& trace_;
    filter_status status_;
    bool async_;
};

filter_status run(const filters::chain& chain, filters::request_context& ctx) {
    std::size_t next = 0;
    auto verdict = chain.run_sync(ctx, next);
    if (verdict == filter_status::respond || chain.done(next)) return verdict;
    asio::io_context io;
    auto future = asio::co_spawn(io, chain.run_async(ctx, next, verdict == filter_status::suspend), asio::use_future);
    io.run();
    return future.get();
}

}  // namespace

TEST(FilterChain, RunsRequestPhaseInOrderAndResponseInReverse) {
    std::vector<std::string> trace;
    recording_filter a("a", trace), b("b", trace);
    filters::chain chain({{&a, "a"}, {&b, "b"}});
    filters::request_context ctx({});
    EXPECT_EQ(run(chain, ctx), filter_status::proceed);
    chain.on_response(ctx, {200, false, nullptr});
    chain.on_log(ctx, {});
    EXPECT_EQ(trace,
              (std::vector<std::string>{"a.request", "b.request", "b.response", "a.response", "a.log", "b.log"}));
}

TEST(FilterChain, AnAnswerStopsTheChainAndNamesTheFilter) {
    std::vector<std::string> trace;
    recording_filter a("a", trace, filter_status::respond), b("b", trace);
    filters::chain chain({{&a, "auth"}, {&b, "b"}});
    filters::request_context ctx({});
    EXPECT_EQ(run(chain, ctx), filter_status::respond);
    EXPECT_EQ(trace, (std::vector<std::string>{"a.request"}));
    EXPECT_EQ(ctx.answered_by, "auth");
    ASSERT_TRUE(ctx.reply);
    EXPECT_EQ(ctx.reply->status, 403u);
}

TEST(FilterChain, AnAnswerWithoutAReplyBecomesA500) {
    std::vector<std::string> trace;
    recording_filter a("a", trace, filter_status::respond);
    a.reply_ = false;
    filters::chain chain({{&a, "broken"}});
    filters::request_context ctx({});
    EXPECT_EQ(run(chain, ctx), filter_status::respond);
    ASSERT_TRUE(ctx.reply);
    EXPECT_EQ(ctx.reply->status, 500u);
    EXPECT_EQ(ctx.reply->error, "filter_error");
}

TEST(FilterChain, AwaitsAsyncAndSuspendedFiltersInOrder) {
    std::vector<std::string> trace;
    recording_filter a("a", trace), b("b", trace, filter_status::suspend), c("c", trace, filter_status::proceed, true),
        d("d", trace);
    filters::chain chain({{&a, "a"}, {&b, "b"}, {&c, "c"}, {&d, "d"}});
    filters::request_context ctx({});
    EXPECT_EQ(run(chain, ctx), filter_status::proceed);
    EXPECT_EQ(trace, (std::vector<std::string>{"a.request", "b.request", "b.async", "c.async", "d.request"}));
}
