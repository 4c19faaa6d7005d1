#pragma once
// rate_limit: token buckets (GCRA) keyed by client address, consumer, a header, the route, or
// a combination, with several limits per instance (10/s and 1000/h). backend: local keeps the
// buckets in one table shared by every worker, so the limit is exact for the gateway instance,
// not divided among workers. A bucket is one 64-bit "theoretical arrival time" per limit,
// updated with compare-and-swap: no lock, and a bucket whose time has passed is the same as no
// bucket, so idle keys free their slot by themselves. The table has a fixed size (max_keys);
// when full, the least recently limited key in the probe window is evicted and counted.
// backend: redis keeps the buckets in Redis, one GCRA script call per request (EVALSHA, clock
// from Redis's TIME so gateways with skewed clocks agree), shared by every gateway instance.
// Each worker has its own pipelined connections; while Redis cannot answer, on_backend_error
// decides: allow, deny (503), or local (this instance's own table).
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/config/schema.hpp"
#include "gatehouse/filters/factory.hpp"
#include "gatehouse/redis/client.hpp"

namespace YAML {
class Node;
}
struct redisReply;

namespace gatehouse::config {
class reader;
}

namespace gatehouse::filters::rate_limit {

struct limit {
    std::string name;                // the policy name in RateLimit-Policy
    std::uint64_t rate = 0;          // requests ...
    std::chrono::nanoseconds per{};  // ... per this window
    std::uint64_t burst = 0;         // requests allowed at once (default: rate)
    std::chrono::nanoseconds interval() const { return per / static_cast<std::int64_t>(rate); }
};

enum class key_part { client_ip, consumer, route, header };
enum class backend_kind { local, redis };
enum class backend_error_policy { allow, deny, local };

struct redis_settings {
    redis::options connection;
    std::string key_prefix = "gatehouse:rl:";
    std::chrono::milliseconds log_interval{10'000};  // one warning per worker per interval at most
};

// The Lua script (GCRA over every limit; charges only if all allow) and its SHA-1 for EVALSHA.
const std::string& redis_script();
const std::string& redis_script_sha1();

struct settings {
    std::string instance;                                                          // the filter's name, for metrics
    std::vector<std::pair<key_part, std::string>> key{{key_part::client_ip, {}}};  // header name for header
    std::vector<limit> limits;
    std::uint64_t max_keys = 100'000;
    bool headers = true;  // RateLimit-Policy and RateLimit on allowed responses too
    backend_kind backend = backend_kind::local;
    redis_settings redis;
    backend_error_policy on_backend_error = backend_error_policy::local;
};

// The decision for one request against every limit.
struct decision {
    bool allowed = false;
    std::size_t tightest = 0;                // the limit closest to running out (or the one refusing)
    std::uint64_t remaining = 0;             // requests left now under that limit
    std::chrono::nanoseconds reset{};        // until that limit is whole again
    std::chrono::nanoseconds retry_after{};  // when refused: until a request would pass
    bool evicted = false;                    // a key was pushed out of a full table
};

// Where every limit stands for one key, from the Redis script's reply {allowed, tightest,
// remaining, reset_us, retry_us}; nullopt for any other shape (a broken or hostile Redis).
std::optional<decision> decision_from(const redisReply& r, std::size_t limits);

// The buckets of one instance, shared by every worker.
class bucket_table {
public:
    bucket_table(std::size_t max_keys, std::size_t limits);

    // Takes one token from every limit of key, or none if any limit refuses.
    decision take(std::uint64_t key_hash, const std::vector<limit>& limits, std::chrono::steady_clock::time_point now);

    std::size_t capacity() const { return slots_; }

private:
    std::size_t slots_;
    std::size_t limits_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> keys_;  // 0 = free
    std::unique_ptr<std::atomic<std::int64_t>[]> times_;  // [slot * limits + i]: TAT in ns since epoch
};

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();
// The factory for checked settings (config.cpp parses, rate_limit.cpp holds the filter).
std::shared_ptr<const filter_factory> make_factory(settings s);

}  // namespace gatehouse::filters::rate_limit
