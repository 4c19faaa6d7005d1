// upstream::exchange without a client connection: collectors against real upstream sockets on
// 127.0.0.1, on one event loop (as an aggregation runs its backends).
#include "gatehouse/upstream/exchange.hpp"

#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "gatehouse/io/buffer_pool.hpp"
#include "gatehouse/io/deadline.hpp"
#include "gatehouse/upstream/cluster.hpp"
#include "gatehouse/upstream/collector.hpp"

using namespace gatehouse;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// An upstream that answers each connection's requests with the canned responses in order,
// recording what it received.
struct canned_upstream {
    explicit canned_upstream(asio::io_context& ctx) : acceptor(ctx, {asio::ip::make_address("127.0.0.1"), 0}) {}

    void serve(std::vector<std::string> responses) {
        asio::co_spawn(acceptor.get_executor(), run(std::move(responses)), asio::detached);
    }
    asio::awaitable<void> run(std::vector<std::string> responses) {
        auto socket = co_await acceptor.async_accept(asio::use_awaitable);
        for (const auto& response : responses) {
            std::string request;
            auto n =
                co_await asio::async_read_until(socket, asio::dynamic_buffer(request), "\r\n\r\n", asio::use_awaitable);
            auto length_at = request.find("Content-Length: ");
            std::size_t body = length_at == std::string::npos ? 0 : std::stoul(request.substr(length_at + 16));
            if (request.size() < n + body) {
                co_await asio::async_read(socket, asio::dynamic_buffer(request),
                                          asio::transfer_exactly(n + body - request.size()), asio::use_awaitable);
            }
            received.push_back(request);
            co_await asio::async_write(socket, asio::buffer(response), asio::use_awaitable);
        }
        // Keeps the connection open until the test ends.
        std::array<char, 1> byte;
        boost::system::error_code ec;
        co_await socket.async_read_some(asio::buffer(byte), asio::redirect_error(asio::use_awaitable, ec));
    }
    std::uint16_t port() const { return acceptor.local_endpoint().port(); }

    tcp::acceptor acceptor;
    std::vector<std::string> received;
};

config::upstream_config cluster_config(std::uint16_t port) {
    config::upstream_config c;
    c.name = "test";
    c.endpoints.push_back({"127.0.0.1", port});
    c.pool.max_connections = 8;
    c.pool.max_idle = 8;
    c.pool.idle_timeout = std::chrono::seconds(60);
    return c;
}

// One event loop with an upstream on it and a cluster of that one endpoint.
struct fixture {
    explicit fixture(std::optional<std::uint16_t> port = std::nullopt)
        : server(ctx),
          config(cluster_config(port.value_or(server.port()))),
          cluster(config, {{tcp::endpoint(asio::ip::make_address("127.0.0.1"), config.endpoints[0].port)}}, 1),
          buffers(16 * 1024, 8) {
        settings.deadline = now + std::chrono::seconds(10);
    }

    // Runs the exchanges of collectors concurrently, each with its own deadline watch.
    std::vector<upstream::exchange_result> fetch(std::vector<upstream::collector*> collectors) {
        std::vector<std::unique_ptr<io::deadline_watch>> watches;
        std::vector<std::unique_ptr<upstream::exchange>> exchanges;
        std::vector<upstream::request_shape> shapes;
        shapes.reserve(collectors.size());
        std::size_t finished = 0;
        for (auto* c : collectors) {
            watches.push_back(std::make_unique<io::deadline_watch>());
            exchanges.push_back(std::make_unique<upstream::exchange>(
                cluster, upstream::exchange_env{ctx.get_executor(), &buffers, &now}, *watches.back(), settings,
                std::pmr::polymorphic_allocator<char>()));
            shapes.push_back(c->shape());
            asio::co_spawn(ctx, exchanges.back()->run(*c, shapes.back()), [&](const std::exception_ptr&) {
                if (++finished == collectors.size()) ctx.stop();  // the upstream would wait on
            });
        }
        ctx.restart();
        ctx.run_for(std::chrono::seconds(10));
        std::vector<upstream::exchange_result> results;
        for (auto& e : exchanges) results.push_back(e->result());
        return results;
    }
    upstream::exchange_result fetch(upstream::collector& c) { return fetch(std::vector{&c})[0]; }
    std::string host() const { return "127.0.0.1:" + std::to_string(config.endpoints[0].port); }

    asio::io_context ctx;
    canned_upstream server;
    config::upstream_config config;
    upstream::cluster_state cluster;
    io::buffer_pool buffers;
    upstream::clock::time_point now = upstream::clock::now();
    upstream::exchange_settings settings;
};

}  // namespace

TEST(UpstreamExchange, CollectsAChunkedResponseDecodedAndPoolsTheConnection) {
    fixture f;
    f.server.serve(
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"});
    upstream::collector c("GET", "/users/42", {{"Accept", "application/json"}}, "", 1024);
    auto result = f.fetch(c);
    ASSERT_FALSE(result.refusal) << result.refusal->message;
    EXPECT_TRUE(result.complete);
    EXPECT_EQ(c.response().status, 200u);
    EXPECT_EQ(c.response().body, "hello world");
    ASSERT_NE(c.response().find("x-a"), nullptr);
    EXPECT_EQ(*c.response().find("x-a"), "1");
    EXPECT_EQ(result.endpoint, f.host());
    EXPECT_EQ(f.cluster.endpoint(0).pool.idle(), 1u);  // kept alive for the next exchange
    ASSERT_EQ(f.server.received.size(), 1u);
    EXPECT_TRUE(f.server.received[0].starts_with("GET /users/42 HTTP/1.1\r\n"));
    EXPECT_NE(f.server.received[0].find("Host: " + f.host() + "\r\n"), std::string::npos);
    EXPECT_NE(f.server.received[0].find("Accept: application/json\r\n"), std::string::npos);
}

TEST(UpstreamExchange, SendsTheBodyAndReusesThePooledConnection) {
    fixture f;
    f.server.serve(
        {"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain"});
    upstream::collector post("POST", "/orders", {}, "abc", 1024);
    upstream::collector get("GET", "/orders/1", {}, "", 1024);
    auto first = f.fetch(post);
    auto second = f.fetch(get);
    EXPECT_TRUE(first.complete);
    EXPECT_EQ(first.body_bytes_sent, 3u);
    EXPECT_EQ(post.response().status, 201u);
    EXPECT_EQ(post.response().body, "ok");
    EXPECT_TRUE(second.complete);
    EXPECT_EQ(get.response().body, "again");
    ASSERT_EQ(f.server.received.size(), 2u);  // both on the one accepted connection
    EXPECT_NE(f.server.received[0].find("Content-Length: 3\r\n\r\nabc"), std::string::npos);
}

TEST(UpstreamExchange, StopsAtTheBodyBoundAndDropsTheConnection) {
    fixture f;
    f.server.serve({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x')});
    upstream::collector c("GET", "/big", {}, "", 10);
    auto result = f.fetch(c);
    EXPECT_FALSE(result.complete);
    EXPECT_TRUE(result.downstream_failed);
    EXPECT_TRUE(c.response().too_large);
    EXPECT_EQ(f.cluster.endpoint(0).pool.idle(), 0u);  // mid-body: never reused
}

TEST(UpstreamExchange, RefusesAnUnreachableUpstreamWith502) {
    std::uint16_t closed_port = 0;
    {
        asio::io_context ctx;
        tcp::acceptor a(ctx, {asio::ip::make_address("127.0.0.1"), 0});
        closed_port = a.local_endpoint().port();
    }
    fixture f(closed_port);
    upstream::collector c("GET", "/", {}, "", 1024);
    auto result = f.fetch(c);
    ASSERT_TRUE(result.refusal);
    EXPECT_EQ(result.refusal->status, 503u);
    EXPECT_EQ(result.refusal->error, "upstream_connect_failed");
    EXPECT_FALSE(result.complete);
}

TEST(UpstreamExchange, RefusesAnInvalidResponseHeadWith502) {
    fixture f;
    f.server.serve({"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"});
    upstream::collector c("GET", "/", {}, "", 1024);
    auto result = f.fetch(c);
    ASSERT_TRUE(result.refusal);
    EXPECT_EQ(result.refusal->status, 502u);
    EXPECT_EQ(result.refusal->error, "upstream_bad_response");
    EXPECT_EQ(f.cluster.endpoint(0).pool.idle(), 0u);
}

TEST(UpstreamExchange, RunsSeveralConcurrentlyOnOneLoop) {
    fixture f;
    // Two connections: the server serves one per accept, so start one acceptor loop per exchange.
    f.server.serve({"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"});
    f.server.serve({"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"});
    upstream::collector a("GET", "/a", {}, "", 1024);
    upstream::collector b("GET", "/b", {}, "", 1024);
    auto results = f.fetch(std::vector{&a, &b});
    EXPECT_TRUE(results[0].complete);
    EXPECT_TRUE(results[1].complete);
    std::multiset<std::string> bodies{a.response().body, b.response().body};
    EXPECT_EQ(bodies, (std::multiset<std::string>{"one", "two"}));
    EXPECT_EQ(f.cluster.endpoint(0).pool.idle(), 2u);
}
