#include "rate_limit.hpp"

#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/upstream/load_balancer.hpp"

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

std::uint64_t seconds_up(std::chrono::nanoseconds d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d + std::chrono::nanoseconds(999'999'999)).count();
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, s));
}

std::uint64_t seconds_of(std::chrono::nanoseconds d) {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count()));
}

class rate_limit_filter final : public filter {
public:
    rate_limit_filter(const settings& s, std::shared_ptr<bucket_table> table, observability::counter* evictions)
        : settings_(s), table_(std::move(table)), evictions_(evictions) {
        for (const auto& l : s.limits) {
            if (!policy_.empty()) policy_ += ", ";
            policy_ += "\"" + l.name + "\";q=" + std::to_string(l.burst) + ";w=" + std::to_string(seconds_of(l.per));
        }
    }

    filter_status on_request(request_context& ctx) override {
        // Scratch strings reused by this worker's instance: on_request never suspends, so no
        // other request can interleave while they are in use.
        auto& key = key_;
        key.clear();
        for (const auto& [part, header] : settings_.key) {
            key += '\x1f';
            switch (part) {
                case key_part::client_ip: key += ctx.client_ip; break;
                case key_part::route: key += ctx.route_name; break;
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
                    auto v = ctx.header(header);
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
        auto d = table_->take(upstream::hash_bytes(key.data(), key.size()), settings_.limits, std::chrono::steady_clock::now());
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
            ctx.reply->headers.emplace_back("Retry-After", std::to_string(std::max<std::uint64_t>(1, seconds_up(d.retry_after))));
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

private:
    const settings& settings_;
    std::shared_ptr<bucket_table> table_;
    observability::counter* evictions_;
    std::string policy_;
    std::string key_;
    std::string state_;
};

class rate_limit_factory final : public filter_factory {
public:
    explicit rate_limit_factory(settings s)
        : settings_(std::move(s)), table_(std::make_shared<bucket_table>(settings_.max_keys, settings_.limits.size())) {}

    std::unique_ptr<filter> create(worker_services& w) const override {
        auto* evictions = w.stats ? &w.stats->filter_event(settings_.instance, "keys_evicted") : nullptr;
        return std::make_unique<rate_limit_filter>(settings_, table_, evictions);
    }

    boost::json::object describe() const override {
        boost::json::array limits;
        for (const auto& l : settings_.limits) {
            limits.push_back(boost::json::object{{"name", l.name},
                                                 {"rate", l.rate},
                                                 {"per_ms", std::chrono::duration_cast<std::chrono::milliseconds>(l.per).count()},
                                                 {"burst", l.burst}});
        }
        boost::json::array key;
        for (const auto& [part, header] : settings_.key) {
            switch (part) {
                case key_part::client_ip: key.emplace_back("client_ip"); break;
                case key_part::consumer: key.emplace_back("consumer"); break;
                case key_part::route: key.emplace_back("route"); break;
                case key_part::header: key.emplace_back("header:" + header); break;
            }
        }
        return {{"type", "rate_limit"}, {"backend", "local"}, {"key", std::move(key)}, {"limits", std::move(limits)},
                {"max_keys", settings_.max_keys}, {"headers", settings_.headers}};
    }

private:
    settings settings_;
    std::shared_ptr<bucket_table> table_;
};

}  // namespace

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, {"type", "key", "limits", "backend", "max_keys", "headers"})) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    s.instance = path.substr(path.rfind('.') + 1);
    if (auto n = node["backend"]; n.IsDefined()) {
        if (auto b = r.string(n, path + ".backend"); b && *b != "local") {
            r.error(n, path + ".backend", "unknown backend \"" + *b + "\" (this version has: local)");
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
            }
            s.limits.push_back(l);
        }
    }
    r.optional_field(node, "max_keys", path, s.max_keys,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 16, 100'000'000); });
    r.optional_field(node, "headers", path, s.headers, [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    if (r.errors.size() != before) {
        return nullptr;
    }
    return std::make_shared<rate_limit_factory>(std::move(s));
}

}  // namespace gatehouse::filters::rate_limit
