// rate_limit: the GCRA bucket table with an injected clock (exact counts, refusals that take
// no token, several limits, threads sharing one table, bounded keys), the filter's headers, and
// config errors.
#include "rate_limit/rate_limit.hpp"

#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/filters/registry.hpp"

using namespace gatehouse;
using namespace gatehouse::filters;
using namespace std::chrono_literals;
using rate_limit::bucket_table;
using rate_limit::limit;

namespace {

limit make(std::uint64_t rate, std::chrono::nanoseconds per, std::uint64_t burst = 0) {
    limit l;
    l.name = "l";
    l.rate = rate;
    l.per = per;
    l.burst = burst ? burst : rate;
    return l;
}

const auto t0 = std::chrono::steady_clock::time_point(1000s);

}  // namespace

TEST(RateLimitTable, BurstThenSteadyRate) {
    bucket_table table(1000, 1);
    std::vector<limit> limits{make(10, 1s)};
    for (int i = 0; i < 10; ++i) {
        auto d = table.take(42, limits, t0);
        ASSERT_TRUE(d.allowed) << i;
        EXPECT_EQ(d.remaining, static_cast<std::uint64_t>(9 - i));
    }
    auto refused = table.take(42, limits, t0);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after, 100ms);
    // Refusals take no token: after 100 ms exactly one more passes, however many were refused.
    for (int i = 0; i < 50; ++i) EXPECT_FALSE(table.take(42, limits, t0 + 50ms).allowed);
    EXPECT_TRUE(table.take(42, limits, t0 + 100ms).allowed);
    EXPECT_FALSE(table.take(42, limits, t0 + 100ms).allowed);
    // Other keys have their own buckets.
    EXPECT_TRUE(table.take(43, limits, t0).allowed);
    // After a full window the bucket is whole again.
    int passed = 0;
    for (int i = 0; i < 20; ++i) passed += table.take(42, limits, t0 + 2s).allowed;
    EXPECT_EQ(passed, 10);
}

TEST(RateLimitTable, EveryLimitMustAllowAndNoneIsChargedOnRefusal) {
    bucket_table table(1000, 2);
    std::vector<limit> limits{make(5, 1s), make(7, 1min)};
    int passed = 0;
    for (int second = 0; second < 3; ++second) {
        for (int i = 0; i < 5; ++i) passed += table.take(7, limits, t0 + std::chrono::seconds(second)).allowed;
    }
    EXPECT_EQ(passed, 7);  // 5 in the first second, then the per-minute limit leaves 2
    auto d = table.take(7, limits, t0 + 3s);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.tightest, 1u);  // the per-minute limit is the one refusing
    // One token back every 60/7 s: the next passes 8.57 s after the first, 5.57 s from now.
    EXPECT_GT(d.retry_after, 5500ms);
    EXPECT_LT(d.retry_after, 5600ms);
}

TEST(RateLimitTable, ThreadsSharingTheTableGetExactlyTheLimit) {
    // Many rounds, each a fresh table and key: the first charge of a new key races too.
    for (int round = 0; round < 50; ++round) {
        bucket_table table(1000, 2);
        std::vector<limit> limits{make(1000, 1h), make(5000, 1h)};  // no refill during the test
        std::atomic<int> passed{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&] {
                for (int i = 0; i < 400; ++i)
                    passed += table.take(99 + round, limits, std::chrono::steady_clock::now()).allowed;
            });
        }
        for (auto& t : threads) t.join();
        ASSERT_EQ(passed.load(), 1000) << "round " << round;
    }
}

TEST(RateLimitTable, KeysAreBoundedIdleOnesAreReusedAndEvictionIsReported) {
    bucket_table table(16, 1);
    EXPECT_EQ(table.capacity(), 16u);
    std::vector<limit> limits{make(1, 1s)};
    bool evicted = false;
    for (std::uint64_t k = 1; k <= 200; ++k) {
        evicted = table.take(k * 0x9E3779B97F4A7C15ull, limits, t0).evicted || evicted;
    }
    EXPECT_TRUE(evicted);  // 200 busy keys cannot fit in 16 slots
    // A second later every bucket is whole again: slots are reused without eviction.
    bool evicted_later = false;
    for (std::uint64_t k = 1000; k < 1016; ++k) {
        evicted_later = table.take(k * 0x9E3779B97F4A7C15ull, limits, t0 + 2s).evicted || evicted_later;
    }
    EXPECT_FALSE(evicted_later);
}

TEST(RateLimitFilter, AnswersTooManyRequestsWithRetryAfterAndRateLimitFields) {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    auto factory =
        find_filter_type("rate_limit")
            ->parse(
                r,
                YAML::Load("type: rate_limit\nkey: [consumer, route]\nlimits:\n  - { name: second, rate: 2, per: 1s }\n"
                           "  - { name: hour, rate: 100, per: 1h }\n"),
                "filters.limit");
    ASSERT_TRUE(factory) << r.errors.front().to_string();
    boost::asio::io_context io;
    observability::worker_stats stats;
    worker_services w{io, 0, &stats};
    auto f = factory->create(w);
    std::pmr::monotonic_buffer_resource arena;
    auto fresh = [&] {
        auto ctx = std::make_unique<request_context>(&arena);
        ctx->client_ip = "10.0.0.1";
        ctx->route_name = "api";
        ctx->consumer = "alice";
        return ctx;
    };
    auto first = fresh();
    ASSERT_EQ(f->on_request(*first), filter_status::proceed);
    std::map<std::string, std::string> fields;
    first->response_edits.for_each_field(
        [&](std::string_view n, std::string_view v) { fields[std::string(n)] = std::string(v); });
    EXPECT_EQ(fields["RateLimit-Policy"], "\"second\";q=2;w=1, \"hour\";q=100;w=3600");
    EXPECT_EQ(fields["RateLimit"], "\"second\";r=1;t=1");
    auto second = fresh();
    ASSERT_EQ(f->on_request(*second), filter_status::proceed);
    auto third = fresh();
    ASSERT_EQ(f->on_request(*third), filter_status::respond);
    EXPECT_EQ(third->reply->status, 429u);
    EXPECT_EQ(third->answer_reason, "rate_limited");
    std::map<std::string, std::string> reply;
    for (auto& [n, v] : third->reply->headers) reply[n] = v;
    EXPECT_EQ(reply["Retry-After"], "1");
    EXPECT_EQ(reply["RateLimit"], "\"second\";r=0;t=1");
    // Another consumer has its own bucket.
    auto bob = fresh();
    bob->consumer = "bob";
    EXPECT_EQ(f->on_request(*bob), filter_status::proceed);
}

TEST(RateLimitFilter, ConfigErrors) {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    auto f = find_filter_type("rate_limit")
                 ->parse(r,
                         YAML::Load("type: rate_limit\nbackend: memcached\nkey: [client_ip, cookie]\nlimits:\n  - { "
                                    "rate: 0, per: 1s }\n"
                                    "  - { per: soon }\n"),
                         "filters.limit");
    EXPECT_FALSE(f);
    std::string all;
    for (const auto& e : r.errors) all += e.to_string() + "\n";
    EXPECT_NE(all.find("filters.limit.backend: unknown backend \"memcached\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.limit.key: unknown key \"cookie\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.limit.limits[0].rate: must be between 1 and"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.limit.limits[1].rate: missing required key \"rate\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.limit.limits[1].per: invalid duration"), std::string::npos) << all;
}

TEST(RateLimitFilter, RedisConfigErrors) {
    auto env = config::process_env();
    auto errors_of = [&](const std::string& yaml) {
        config::reader r("t.yaml", env);
        auto f = find_filter_type("rate_limit")->parse(r, YAML::Load(yaml), "filters.limit");
        EXPECT_FALSE(f) << yaml;
        std::string all;
        for (const auto& e : r.errors) all += e.to_string() + "\n";
        return all;
    };
    const std::string limits = "limits: [ { rate: 10, per: 1s } ]\n";
    auto all = errors_of("type: rate_limit\nbackend: redis\n" + limits);
    EXPECT_NE(all.find("filters.limit.redis: missing required key \"redis\""), std::string::npos) << all;
    all = errors_of("type: rate_limit\nredis: { address: \"127.0.0.1:6379\" }\non_backend_error: allow\n" + limits);
    EXPECT_NE(all.find("filters.limit.redis: redis settings need backend: redis"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.limit.on_backend_error: on_backend_error needs backend: redis"), std::string::npos)
        << all;
    all = errors_of(
        "type: rate_limit\nbackend: redis\non_backend_error: maybe\n"
        "redis: { port: 6379, connections: 0, timeout: fast, database: -1 }\n" +
        limits);
    EXPECT_NE(all.find("filters.limit.on_backend_error: unknown value \"maybe\" (allow, deny, local)"),
              std::string::npos)
        << all;
    EXPECT_NE(all.find("filters.limit.redis.port: unknown key"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.limit.redis.address: missing required key \"address\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.limit.redis.connections: must be between 1 and 64"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.limit.redis.timeout: invalid duration"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.limit.redis.database:"), std::string::npos) << all;
    all = errors_of(
        "type: rate_limit\nbackend: redis\nredis: { address: \"127.0.0.1:6379\" }\n"
        "limits: [ { rate: 2000000, per: 1s } ]\n");
    EXPECT_NE(all.find("filters.limit.limits[0]: rate is too high for the redis backend"), std::string::npos) << all;
}

TEST(RateLimitFilter, RedisConfigIsDescribedWithThePasswordRedacted) {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    auto f = find_filter_type("rate_limit")
                 ->parse(r,
                         YAML::Load(
                             "type: rate_limit\nbackend: redis\non_backend_error: deny\n"
                             "redis: { address: \"127.0.0.1:6390\", password: s3cret, timeout: 20ms, connections: 3 }\n"
                             "limits: [ { rate: 10, per: 1s } ]\n"),
                         "filters.limit");
    ASSERT_TRUE(f);
    auto text = boost::json::serialize(f->describe());
    EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
    EXPECT_NE(text.find("\"password\":\"<redacted>\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"address\":\"127.0.0.1:6390\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"on_backend_error\":\"deny\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"timeout_ms\":20"), std::string::npos) << text;
}

TEST(RedisProtocol, CommandsAreArraysOfBulkStringsAndTheScriptHashIsItsSha1) {
    std::string out;
    redis::encode_command(out, {"EVALSHA", "ab", "1", std::string_view("k\r\n", 3), ""});
    EXPECT_EQ(out, "*5\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$3\r\nk\r\n\r\n$0\r\n\r\n");
    // Redis names a script by the SHA-1 of its text: the hash must be of exactly what EVAL sends.
    EXPECT_EQ(rate_limit::redis_script_sha1().size(), 40u);
    EXPECT_EQ(rate_limit::redis_script().find("redis.call('TIME')") != std::string::npos, true);
}
