// The rate_limit filter on a worker (local table or Redis, with its error policy) and its factory.
#include "rate_limit.hpp"

#include <array>

#include <boost/asio/use_awaitable.hpp>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "gatehouse/common/hash.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::rate_limit {

namespace {

std::uint64_t seconds_up(std::chrono::nanoseconds d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d + std::chrono::nanoseconds(999'999'999)).count();
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, s));
}

std::uint64_t seconds_of(std::chrono::nanoseconds d) {
    return static_cast<std::uint64_t>(
        std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count()));
}

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

    std::string offline_note() const override {
        std::string note = "counts the request against";
        for (const auto& l : settings_.limits) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(l.per).count();
            note += " " + l.name + " (" + std::to_string(l.rate) + " per " +
                    (ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms") + ", burst " +
                    std::to_string(l.burst) + ")";
        }
        note += settings_.backend == backend_kind::redis ? " in Redis" : " in this gateway's table";
        note += "; answers 429 once spent (not run here: it would spend a token)";
        return note;
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

}  // namespace

std::shared_ptr<const filter_factory> make_factory(settings s) {
    return std::make_shared<rate_limit_factory>(std::move(s));
}

}  // namespace gatehouse::filters::rate_limit
