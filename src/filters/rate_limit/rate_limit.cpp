#include "rate_limit.hpp"

#include <array>
#include <cstdio>

#include <boost/asio/use_awaitable.hpp>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "gatehouse/common/hash.hpp"
#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::rate_limit {

namespace {
constexpr std::size_t probe_window = 8;

std::int64_t ns(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

bucket_table::bucket_table(std::size_t max_keys, std::size_t limits) : limits_(limits) {
    slots_ = 16;
    while (slots_ < max_keys) {
        slots_ *= 2;
    }
    keys_ = std::make_unique<std::atomic<std::uint64_t>[]>(slots_);
    times_ = std::make_unique<std::atomic<std::int64_t>[]>(slots_ * limits_);
}

decision bucket_table::take(std::uint64_t key_hash, const std::vector<limit>& limits,
                            std::chrono::steady_clock::time_point now_point) {
    if (key_hash == 0) {
        key_hash = 1;  // 0 marks a free slot
    }
    const std::int64_t now = ns(now_point);
    decision d;
    // Find the key's slot, or claim a free or expired one in the probe window; when every slot
    // there is busy, evict the one whose buckets fill up soonest.
    std::size_t slot = slots_;
    std::size_t victim = slots_;
    std::int64_t victim_time = INT64_MAX;
    const std::size_t start = key_hash & (slots_ - 1);
    // First the key's own slot anywhere in the window, so that a slot freed in front of it can
    // never give the key a second bucket.
    for (std::size_t probe = 0; probe < probe_window; ++probe) {
        std::size_t s = (start + probe) & (slots_ - 1);
        if (keys_[s].load(std::memory_order_acquire) == key_hash) {
            slot = s;
            break;
        }
    }
    // Then the first free or expired slot. Workers racing to add the same key try the same slots
    // in the same order: the loser of the compare-and-swap sees the winner's key and shares it.
    for (std::size_t probe = 0; probe < probe_window && slot == slots_; ++probe) {
        std::size_t s = (start + probe) & (slots_ - 1);
        auto current = keys_[s].load(std::memory_order_acquire);
        if (current == key_hash) {
            slot = s;
            break;
        }
        std::int64_t latest = 0;
        for (std::size_t i = 0; i < limits_; ++i) {
            latest = std::max(latest, times_[s * limits_ + i].load(std::memory_order_relaxed));
        }
        bool reusable = current == 0 || latest <= now;  // a bucket past its time is a fresh bucket
        // A free slot's times are 0 and an expired slot's are in the past, both the same as a
        // full bucket under GCRA, so claiming one needs no reset (a reset here could overwrite a
        // token another worker just charged to the new key).
        if (reusable) {
            if (keys_[s].compare_exchange_strong(current, key_hash, std::memory_order_acq_rel) || current == key_hash) {
                slot = s;
                break;
            }
        }
        if (latest < victim_time) {
            victim_time = latest;
            victim = s;
        }
    }
    if (slot == slots_) {
        keys_[victim].store(key_hash, std::memory_order_release);
        for (std::size_t i = 0; i < limits_; ++i) {
            times_[victim * limits_ + i].store(now, std::memory_order_relaxed);
        }
        slot = victim;
        d.evicted = true;
    }

    // GCRA per limit: allowed if the new arrival time stays within the burst window. Every limit
    // is checked before any is charged, so a refused request takes no token anywhere.
    auto* times = &times_[slot * limits_];
    // A failed compare-and-swap means another worker charged this key meanwhile: evaluate again
    // (lock-free: some worker always makes progress). Never let a request through uncharged.
    for (;;) {
        std::int64_t seen[16];
        std::int64_t next[16];
        bool allowed = true;
        double tightest_left = 1e300;
        for (std::size_t i = 0; i < limits.size(); ++i) {
            const auto& l = limits[i];
            const std::int64_t t = l.interval().count();
            const std::int64_t window = t * static_cast<std::int64_t>(l.burst);
            seen[i] = times[i].load(std::memory_order_acquire);
            std::int64_t tat = std::max(seen[i], now);
            next[i] = tat + t;
            if (next[i] - now > window) {
                allowed = false;
                auto wait = std::chrono::nanoseconds(next[i] - now - window);
                if (wait > d.retry_after) {
                    d.retry_after = wait;
                    d.tightest = i;
                }
                d.remaining = 0;
                d.reset = std::chrono::nanoseconds(tat - now);
            } else if (allowed) {
                double left = static_cast<double>(window - (next[i] - now)) / static_cast<double>(t);
                if (left < tightest_left) {
                    tightest_left = left;
                    d.tightest = i;
                    d.remaining = static_cast<std::uint64_t>(left);
                    d.reset = std::chrono::nanoseconds(next[i] - now);
                }
            }
        }
        if (!allowed) {
            d.allowed = false;
            return d;
        }
        // Charge every limit; if another worker got there first, undo what was charged and retry.
        std::size_t charged = 0;
        for (; charged < limits.size(); ++charged) {
            if (!times[charged].compare_exchange_strong(seen[charged], next[charged], std::memory_order_acq_rel)) {
                break;
            }
        }
        if (charged == limits.size()) {
            d.allowed = true;
            return d;
        }
        for (std::size_t i = 0; i < charged; ++i) {
            times[i].fetch_sub(limits[i].interval().count(), std::memory_order_acq_rel);
        }
        d = decision{};
    }
}

namespace {

// GCRA over every limit of one key. KEYS[i]: limit i's "theoretical arrival time" in microseconds
// of Redis's clock; ARGV[2i-1]: its emission interval (us); ARGV[2i]: its burst. Charges every
// limit or none, so a refused request takes no token. A key expires when its bucket is whole.
// Returns {allowed, tightest limit (0-based), remaining, reset_us, retry_after_us}.
constexpr const char* gcra_script = R"lua(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local allowed, tightest, remaining, reset, retry = 1, 0, 0, 0, 0
local best = nil
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local window = interval * tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tats[i] = tat + interval
  if tats[i] - now > window then
    local wait = tats[i] - now - window
    if allowed == 1 or wait > retry then
      retry, tightest, reset = wait, i - 1, tat - now
    end
    allowed, remaining = 0, 0
  elseif allowed == 1 then
    local left = (window - (tats[i] - now)) / interval
    if best == nil or left < best then
      best, tightest, remaining, reset = left, i - 1, math.floor(left), tats[i] - now
    end
  end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local ttl = math.max(1, math.ceil((tats[i] - now) / 1000))
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', string.format('%.0f', ttl))
  end
end
return {allowed, tightest, remaining, reset, retry}
)lua";

std::string sha1_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
    std::string hex;
    for (unsigned i = 0; i < length; ++i) {
        char b[3];
        std::snprintf(b, sizeof b, "%02x", digest[i]);
        hex += b;
    }
    return hex;
}

std::uint64_t seconds_up(std::chrono::nanoseconds d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d + std::chrono::nanoseconds(999'999'999)).count();
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, s));
}

std::uint64_t seconds_of(std::chrono::nanoseconds d) {
    return static_cast<std::uint64_t>(
        std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count()));
}

}  // namespace

std::optional<decision> decision_from(const redisReply& r, std::size_t limits) {
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 5) return std::nullopt;
    long long v[5];
    for (std::size_t i = 0; i < 5; ++i) {
        if (r.element[i]->type != REDIS_REPLY_INTEGER) return std::nullopt;
        v[i] = r.element[i]->integer;
    }
    if (v[1] < 0 || static_cast<std::size_t>(v[1]) >= limits || v[2] < 0) return std::nullopt;
    decision d;
    d.allowed = v[0] == 1;
    d.tightest = static_cast<std::size_t>(v[1]);
    d.remaining = static_cast<std::uint64_t>(v[2]);
    d.reset = std::chrono::microseconds(std::max(0LL, v[3]));
    d.retry_after = std::chrono::microseconds(std::max(0LL, v[4]));
    return d;
}

namespace {

std::string_view policy_name(backend_error_policy p) {
    switch (p) {
        case backend_error_policy::allow:
            return "allow";
        case backend_error_policy::deny:
            return "deny";
        case backend_error_policy::local:
            return "local";
    }
    return "local";
}

class rate_limit_filter final : public filter {
public:
    rate_limit_filter(const settings& s, std::shared_ptr<bucket_table> table, worker_services& w)
        : settings_(s), table_(std::move(table)) {
        if (w.stats) {
            evictions_ = &w.stats->filter_event(s.instance, "keys_evicted");
        }
        for (const auto& l : s.limits) {
            if (!policy_.empty()) policy_ += ", ";
            policy_ += "\"" + l.name + "\";q=" + std::to_string(l.burst) + ";w=" + std::to_string(seconds_of(l.per));
        }
        if (s.backend == backend_kind::redis) {
            redis_ = std::make_unique<redis::client>(w.io, s.redis.connection);
            for (auto kind : {redis::error::timeout, redis::error::unavailable, redis::error::overloaded,
                              redis::error::server_error, redis::error::protocol}) {
                if (w.stats) {
                    backend_errors_[static_cast<int>(kind)] =
                        &w.stats->filter_event(s.instance, "backend_error_" + std::string(redis::to_string(kind)));
                }
            }
            for (const auto& l : s.limits) {
                auto interval_us = std::chrono::duration_cast<std::chrono::microseconds>(l.interval()).count();
                script_args_.push_back(std::to_string(std::max<std::int64_t>(1, interval_us)));
                script_args_.push_back(std::to_string(l.burst));
            }
        }
    }

    filter_status on_request(request_context& ctx) override {
        if (redis_ && redis_->available()) {
            return filter_status::suspend;  // on_request_async makes the key
        }
        auto hash = key_hash(ctx);
        if (!redis_) {
            return apply(ctx, table_->take(hash, settings_.limits, std::chrono::steady_clock::now()));
        }
        // Redis down: answer now, without a coroutine frame or a wait.
        return backend_failed(ctx, hash, redis::error::unavailable, redis_->last_error());
    }

    boost::asio::awaitable<filter_status> on_request_async(request_context& ctx) override {
        auto hash = key_hash(ctx);
        auto r = co_await redis_->async_send(script_command(hash, true), boost::asio::use_awaitable);
        if (r.failure == redis::error::server_error && r.message.starts_with("NOSCRIPT")) {
            // Redis restarted or its script cache was flushed: EVAL sends the script and caches it.
            r = co_await redis_->async_send(script_command(hash, false), boost::asio::use_awaitable);
        }
        if (!r.ok()) {
            co_return backend_failed(ctx, hash, r.failure, r.message);
        }
        auto d = decision_from(*r.value, settings_.limits.size());
        if (!d) {
            co_return backend_failed(ctx, hash, redis::error::protocol, "unexpected reply from the rate-limit script");
        }
        if (outage_logged_) {
            spdlog::info("rate_limit {}: Redis {}:{} answers again ({} more request(s) followed on_backend_error: {})",
                         settings_.instance, settings_.redis.connection.host, settings_.redis.connection.port,
                         failed_since_log_, policy_name(settings_.on_backend_error));
            outage_logged_ = false;
            failed_since_log_ = 0;
        }
        co_return apply(ctx, *d);
    }

    void on_shutdown() override {
        if (redis_) redis_->close();
    }

private:
    std::uint64_t key_hash(const request_context& ctx) {
        // A scratch string reused by this worker's instance: key_hash never suspends, so no other
        // request can interleave while it is in use.
        auto& key = key_;  // header_scratch_ is reused the same way
        key.clear();
        for (const auto& [part, header] : settings_.key) {
            key += '\x1f';
            switch (part) {
                case key_part::client_ip:
                    key += ctx.client_ip;
                    break;
                case key_part::route:
                    key += ctx.route_name;
                    break;
                case key_part::consumer:
                    // No consumer (no auth filter before this one): the client address stands in.
                    if (ctx.consumer.empty()) {
                        key += "ip:";
                        key += ctx.client_ip;
                    } else {
                        key += ctx.consumer;
                    }
                    break;
                case key_part::header: {
                    auto v = ctx.header_list(header, header_scratch_);
                    if (v) {
                        key += *v;
                    } else {
                        key += "ip:";
                        key += ctx.client_ip;
                    }
                    break;
                }
            }
        }
        return common::hash_bytes(key.data(), key.size());
    }

    // EVALSHA (or EVAL) of the script with one Redis key per limit: prefix, instance, the key's
    // hash (fixed length, and no client-chosen text in Redis key names) and the limit's name.
    // Built in a scratch string of this worker's instance: the client copies it into its
    // pipeline before the caller suspends.
    const std::string& script_command(std::uint64_t hash, bool by_sha) {
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
        auto& out = command_;
        out.clear();
        const auto& limits = settings_.limits;
        redis::append_array_header(out, 3 + limits.size() + script_args_.size());
        redis::append_bulk(out, by_sha ? "EVALSHA" : "EVAL");
        redis::append_bulk(out, by_sha ? redis_script_sha1() : redis_script());
        redis::append_bulk(out, limit_count_);
        for (const auto& l : limits) {
            key_name_.clear();
            key_name_ += settings_.redis.key_prefix;
            key_name_ += settings_.instance;
            key_name_ += ':';
            key_name_ += hex;
            key_name_ += ':';
            key_name_ += l.name;
            redis::append_bulk(out, key_name_);
        }
        for (const auto& a : script_args_) redis::append_bulk(out, a);
        return out;
    }

    filter_status apply(request_context& ctx, const decision& d) {
        if (d.evicted && evictions_) {
            evictions_->add();
        }
        const auto& l = settings_.limits[d.tightest];
        auto& state = state_;
        state.clear();
        state += '"';
        state += l.name;
        state += "\";r=";
        state += std::to_string(d.remaining);
        state += ";t=";
        state += std::to_string(seconds_up(d.reset));
        if (!d.allowed) {
            ctx.reply = http::local_reply{429, "rate_limited", "rate limit \"" + l.name + "\" exceeded"};
            ctx.reply->headers.emplace_back("Retry-After",
                                            std::to_string(std::max<std::uint64_t>(1, seconds_up(d.retry_after))));
            ctx.reply->headers.emplace_back("RateLimit-Policy", policy_);
            ctx.reply->headers.emplace_back("RateLimit", std::string(state));
            ctx.answer_reason = "rate_limited";
            return filter_status::respond;
        }
        if (settings_.headers) {
            ctx.response_edits.set("RateLimit-Policy", policy_);
            ctx.response_edits.set("RateLimit", state);
        }
        return filter_status::proceed;
    }

    // Redis could not decide: count it, warn at most once per log_interval, follow the policy.
    filter_status backend_failed(request_context& ctx, std::uint64_t hash, redis::error kind,
                                 const std::string& reason) {
        if (auto* c = backend_errors_[static_cast<int>(kind)]) {
            c->add();
        }
        ++failed_since_log_;
        auto now = std::chrono::steady_clock::now();
        if (now - last_log_ >= settings_.redis.log_interval) {
            spdlog::warn(
                "rate_limit {}: Redis {}:{} cannot answer ({}: {}); {} request(s) followed on_backend_error: {}",
                settings_.instance, settings_.redis.connection.host, settings_.redis.connection.port,
                redis::to_string(kind), reason, failed_since_log_, policy_name(settings_.on_backend_error));
            last_log_ = now;
            failed_since_log_ = 0;
            outage_logged_ = true;
        }
        switch (settings_.on_backend_error) {
            case backend_error_policy::allow:
                return filter_status::proceed;
            case backend_error_policy::deny:
                ctx.reply = http::local_reply{503, "rate_limit_unavailable", "the rate limit cannot be checked now"};
                ctx.reply->headers.emplace_back("Retry-After", "1");
                ctx.answer_reason = "backend_unavailable";
                return filter_status::respond;
            case backend_error_policy::local:
                break;
        }
        return apply(ctx, table_->take(hash, settings_.limits, now));
    }

    const settings& settings_;
    std::shared_ptr<bucket_table> table_;  // local buckets (backend local, or the redis fallback)
    observability::counter* evictions_ = nullptr;
    std::unique_ptr<redis::client> redis_;
    std::array<observability::counter*, 6> backend_errors_{};
    std::vector<std::string> script_args_;
    std::string limit_count_ = std::to_string(settings_.limits.size());
    std::string command_;   // scratch: the Redis command being sent
    std::string key_name_;  // scratch: one Redis key name
    std::string policy_;
    std::string key_;
    std::pmr::string header_scratch_;  // scratch: a key field sent on several lines, joined
    std::string state_;
    std::chrono::steady_clock::time_point last_log_{};
    std::uint64_t failed_since_log_ = 0;
    bool outage_logged_ = false;
};

class rate_limit_factory final : public filter_factory {
public:
    explicit rate_limit_factory(settings s) : settings_(std::move(s)) {
        if (settings_.backend == backend_kind::redis) {
            // Resolved once a worker creates its client, off the worker: --validate and a
            // rejected reload resolve nothing.
            auto& c = settings_.redis.connection;
            c.resolver =
                std::make_shared<common::background_resolver>(c.host, static_cast<std::uint16_t>(std::stoul(c.port)));
        }
        bool local_buckets =
            settings_.backend == backend_kind::local || settings_.on_backend_error == backend_error_policy::local;
        if (local_buckets) {
            table_ = std::make_shared<bucket_table>(settings_.max_keys, settings_.limits.size());
        }
    }

    std::unique_ptr<filter> create(worker_services& w) const override {
        return std::make_unique<rate_limit_filter>(settings_, table_, w);
    }

    boost::json::object describe() const override {
        boost::json::array limits;
        for (const auto& l : settings_.limits) {
            limits.push_back(
                boost::json::object{{"name", l.name},
                                    {"rate", l.rate},
                                    {"per_ms", std::chrono::duration_cast<std::chrono::milliseconds>(l.per).count()},
                                    {"burst", l.burst}});
        }
        boost::json::array key;
        for (const auto& [part, header] : settings_.key) {
            switch (part) {
                case key_part::client_ip:
                    key.emplace_back("client_ip");
                    break;
                case key_part::consumer:
                    key.emplace_back("consumer");
                    break;
                case key_part::route:
                    key.emplace_back("route");
                    break;
                case key_part::header:
                    key.emplace_back("header:" + header);
                    break;
            }
        }
        boost::json::object out{
            {"type", "rate_limit"},           {"backend", settings_.backend == backend_kind::local ? "local" : "redis"},
            {"key", std::move(key)},          {"limits", std::move(limits)},
            {"max_keys", settings_.max_keys}, {"headers", settings_.headers}};
        if (settings_.backend == backend_kind::redis) {
            const auto& c = settings_.redis.connection;
            boost::json::object redis{{"address", c.host + ":" + c.port},
                                      {"database", c.database},
                                      {"connections", c.connections},
                                      {"timeout_ms", c.timeout.count()},
                                      {"connect_timeout_ms", c.connect_timeout.count()},
                                      {"max_backoff_ms", c.max_backoff.count()},
                                      {"key_prefix", settings_.redis.key_prefix},
                                      {"log_interval_ms", settings_.redis.log_interval.count()}};
            if (!c.username.empty()) redis["username"] = c.username;
            if (!c.password.empty()) redis["password"] = "<redacted>";
            out["redis"] = std::move(redis);
            out["on_backend_error"] = policy_name(settings_.on_backend_error);
        }
        return out;
    }

private:
    settings settings_;
    std::shared_ptr<bucket_table> table_;
};

void parse_redis(config::reader& r, const YAML::Node& node, const std::string& path, redis_settings& out) {
    if (!r.expect_map(node, path,
                      {"address", "username", "password", "database", "connections", "timeout", "connect_timeout",
                       "max_backoff", "key_prefix", "log_interval"})) {
        return;
    }
    auto& c = out.connection;
    if (auto n = node["address"]; !n.IsDefined()) {
        r.error(node, path + ".address", "missing required key \"address\" (host:port of the Redis server)");
    } else if (auto a = r.address(n, path + ".address", false)) {
        c.host = a->host;
        c.port = std::to_string(a->port);
    }
    r.optional_field(node, "username", path, c.username,
                     [&](const YAML::Node& n, const std::string& p) { return r.string(n, p); });
    r.optional_field(node, "password", path, c.password,
                     [&](const YAML::Node& n, const std::string& p) { return r.string(n, p); });
    auto as_unsigned = [](std::optional<std::uint64_t> v) {
        return v ? std::optional<unsigned>(static_cast<unsigned>(*v)) : std::nullopt;
    };
    r.optional_field(node, "database", path, c.database, [&](const YAML::Node& n, const std::string& p) {
        return as_unsigned(r.unsigned_int(n, p, 0, 10'000));
    });
    r.optional_field(node, "connections", path, c.connections, [&](const YAML::Node& n, const std::string& p) {
        return as_unsigned(r.unsigned_int(n, p, 1, 64));
    });
    r.optional_field(node, "timeout", path, c.timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "connect_timeout", path, c.connect_timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "max_backoff", path, c.max_backoff,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "key_prefix", path, out.key_prefix,
                     [&](const YAML::Node& n, const std::string& p) { return r.string(n, p); });
    r.optional_field(node, "log_interval", path, out.log_interval,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
}

}  // namespace

const std::string& redis_script() {
    static const std::string script = gcra_script;
    return script;
}

const std::string& redis_script_sha1() {
    static const std::string sha = sha1_hex(redis_script());
    return sha;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path,
                      {"type", "key", "limits", "backend", "max_keys", "headers", "redis", "on_backend_error"})) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    s.instance = path.substr(path.rfind('.') + 1);
    if (auto n = node["backend"]; n.IsDefined()) {
        if (auto b = r.string(n, path + ".backend")) {
            if (*b == "redis") {
                s.backend = backend_kind::redis;
            } else if (*b != "local") {
                r.error(n, path + ".backend", "unknown backend \"" + *b + "\" (local, redis)");
            }
        }
    }
    if (auto n = node["redis"]; n.IsDefined()) {
        if (s.backend != backend_kind::redis) {
            r.error(n, path + ".redis", "redis settings need backend: redis");
        } else {
            parse_redis(r, n, path + ".redis", s.redis);
        }
    } else if (s.backend == backend_kind::redis) {
        r.error(node, path + ".redis", "missing required key \"redis\" (backend: redis needs at least redis.address)");
    }
    if (auto n = node["on_backend_error"]; n.IsDefined()) {
        if (s.backend != backend_kind::redis) {
            r.error(n, path + ".on_backend_error", "on_backend_error needs backend: redis");
        } else if (auto v = r.string(n, path + ".on_backend_error")) {
            if (*v == "allow") {
                s.on_backend_error = backend_error_policy::allow;
            } else if (*v == "deny") {
                s.on_backend_error = backend_error_policy::deny;
            } else if (*v == "local") {
                s.on_backend_error = backend_error_policy::local;
            } else {
                r.error(n, path + ".on_backend_error", "unknown value \"" + *v + "\" (allow, deny, local)");
            }
        }
    }
    if (auto n = node["key"]; n.IsDefined()) {
        s.key.clear();
        for (auto& [kn, text] : r.string_list(n, path + ".key")) {
            if (text == "client_ip") {
                s.key.emplace_back(key_part::client_ip, "");
            } else if (text == "consumer") {
                s.key.emplace_back(key_part::consumer, "");
            } else if (text == "route") {
                s.key.emplace_back(key_part::route, "");
            } else if (text.starts_with("header:") && http::valid_token(text.substr(7))) {
                s.key.emplace_back(key_part::header, text.substr(7));
            } else {
                r.error(kn, path + ".key", "unknown key \"" + text + "\" (client_ip, consumer, route, header:NAME)");
            }
        }
    }
    auto limits = node["limits"];
    if (!limits.IsDefined()) {
        r.error(node, path + ".limits", "missing required key \"limits\"");
    } else if (!limits.IsSequence() || limits.size() == 0 || limits.size() > 8) {
        r.error(limits, path + ".limits", "expected a list of 1 to 8 limits like { rate: 10, per: 1s, burst: 20 }");
    } else {
        for (std::size_t i = 0; i < limits.size(); ++i) {
            auto lp = config::reader::index(path + ".limits", i);
            if (!r.expect_map(limits[i], lp, {"name", "rate", "per", "burst"})) continue;
            limit l;
            l.name = "limit" + std::to_string(i + 1);
            if (auto n = limits[i]["name"]; n.IsDefined()) {
                if (auto v = r.string(n, lp + ".name")) {
                    if (!http::valid_token(*v)) r.error(n, lp + ".name", "invalid name \"" + *v + "\"");
                    l.name = *v;
                }
            }
            if (auto n = limits[i]["rate"]; !n.IsDefined()) {
                r.error(limits[i], lp + ".rate", "missing required key \"rate\"");
            } else if (auto v = r.unsigned_int(n, lp + ".rate", 1, 1'000'000'000)) {
                l.rate = *v;
            }
            if (auto n = limits[i]["per"]; !n.IsDefined()) {
                r.error(limits[i], lp + ".per", "missing required key \"per\"");
            } else if (auto v = r.time(n, lp + ".per")) {
                l.per = *v;
            }
            l.burst = l.rate;
            if (auto n = limits[i]["burst"]; n.IsDefined()) {
                if (auto v = r.unsigned_int(n, lp + ".burst", 1, 1'000'000'000)) l.burst = *v;
            }
            if (l.rate > 0 && l.per.count() > 0 && l.interval().count() == 0) {
                r.error(limits[i], lp, "rate is too high for the window (more than one request per nanosecond)");
            } else if (s.backend == backend_kind::redis && l.rate > 0 && l.interval() < std::chrono::microseconds(1)) {
                r.error(limits[i], lp,
                        "rate is too high for the redis backend (more than one request per microsecond)");
            }
            s.limits.push_back(l);
        }
    }
    r.optional_field(node, "max_keys", path, s.max_keys,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 16, 100'000'000); });
    r.optional_field(node, "headers", path, s.headers,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    if (r.errors.size() != before) {
        return nullptr;
    }
    return std::make_shared<rate_limit_factory>(std::move(s));
}

}  // namespace gatehouse::filters::rate_limit
