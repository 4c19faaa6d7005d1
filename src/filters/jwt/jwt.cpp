// The jwt filter on a worker and its factory.
#include "jwt.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gatehouse::filters::jwt {

namespace json = boost::json;

// --- the filter ----------------------------------------------------------------------------------

namespace {

class jwt_filter final : public filter {
public:
    jwt_filter(const settings& s, std::shared_ptr<jwks_fetcher> fetcher, worker_services& w)
        : settings_(s), cache_(s.cache_size), fetcher_(std::move(fetcher)), io_(w.io) {
        if (fetcher_ && w.worker_id == 0 && w.stats) {
            // One worker mirrors the fetcher's counters into /metrics.
            fetched_ = &w.stats->filter_event(s.instance, "jwks_fetch_ok");
            failed_ = &w.stats->filter_event(s.instance, "jwks_fetch_failed");
            kid_refetches_ = &w.stats->filter_event(s.instance, "jwks_unknown_kid_refetch");
        }
    }

    filter_status on_request(request_context& ctx) override { return check(ctx, true); }

    // A token named a kid we do not know and a JWKS fetch is under way (a rotation at the
    // identity provider): wait for it, bounded by the fetch timeout, then check again.
    boost::asio::awaitable<filter_status> on_request_async(request_context& ctx) override {
        boost::asio::steady_timer timer(io_);
        auto until = std::chrono::steady_clock::now() + fetcher_->source().timeout + std::chrono::milliseconds(100);
        while (fetcher_->fetching() && std::chrono::steady_clock::now() < until) {
            timer.expires_after(std::chrono::milliseconds(10));
            co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        }
        co_return check(ctx, false);
    }

    void on_tick(std::chrono::steady_clock::time_point) override {
        if (!fetched_) return;
        auto mirror = [](observability::counter* c, const std::atomic<std::uint64_t>& source, std::uint64_t& seen) {
            auto now = source.load(std::memory_order_relaxed);
            c->add(now - seen);
            seen = now;
        };
        mirror(fetched_, fetcher_->fetched, fetched_seen_);
        mirror(failed_, fetcher_->failed, failed_seen_);
        mirror(kid_refetches_, fetcher_->kid_refetches, kid_refetches_seen_);
    }

private:
    filter_status check(request_context& ctx, bool may_wait) {
        auto authorization = ctx.header("authorization");
        if (!authorization) {
            return refuse(ctx, "missing_token", "a Bearer token is required", false);
        }
        std::string_view value = *authorization;
        if (value.size() < 7 || !http::iequals(value.substr(0, 7), "bearer ")) {
            return refuse(ctx, "missing_token", "a Bearer token is required", false);
        }
        auto token = value.substr(7);
        while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
        if (fetcher_ && fetcher_->version() != keys_version_) {
            keys_version_ = fetcher_->version();
            keys_ = fetcher_->keys();
            cache_.clear();  // a key may have been withdrawn
        }
        const std::int64_t now =
            settings_.now
                ? settings_.now()
                : std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                      .count();
        std::string cached_reason;
        const verdict* hit = token.size() <= settings_.max_token_bytes
                                 ? cache_.find(token, now, settings_.leeway, cached_reason)
                                 : nullptr;
        if (!hit && !cached_reason.empty()) {
            return refuse(ctx, cached_reason, "the token is not valid (" + cached_reason + ")", true);
        }
        verdict fresh;
        if (!hit) {
            fresh = verify_token(settings_, token, keys_ ? keys_.get() : nullptr);
            if (fresh.ok) {
                cache_.insert(token, fresh);
            } else if (may_wait && fetcher_ && (fresh.reason == "unknown_kid" || keys_version_ == 0) &&
                       fetcher_->refetch_for_unknown_kid()) {
                return filter_status::suspend;
            }
        }
        const verdict& v = hit ? *hit : fresh;
        if (!v.ok) {
            return refuse(ctx, v.reason, "the token is not valid (" + v.reason + ")", true);
        }
        for (const auto& [claim, header_name] : settings_.claims_to_headers) {
            if (auto it = v.claims.find(claim); it != v.claims.end()) {
                ctx.upstream_edits.set(header_name, it->second);
            } else {
                ctx.upstream_edits.remove(header_name);  // never let a client supply it
            }
        }
        if (settings_.consumer_claim) {
            if (auto it = v.claims.find(*settings_.consumer_claim); it != v.claims.end()) {
                ctx.consumer = it->second;
            }
        }
        if (settings_.strip_authorization) {
            ctx.upstream_edits.remove("Authorization");
        }
        return filter_status::proceed;
    }

    static filter_status refuse(request_context& ctx, std::string_view reason, std::string message, bool invalid) {
        ctx.reply = http::local_reply{401, "unauthorized", std::move(message)};
        std::string challenge = "Bearer realm=\"gatehouse\"";
        if (invalid) {
            challenge += ", error=\"invalid_token\"";
        }
        ctx.reply->headers.emplace_back("WWW-Authenticate", std::move(challenge));
        ctx.answer_reason = reason;
        return filter_status::respond;
    }

    const settings& settings_;
    verification_cache cache_;
    std::shared_ptr<jwks_fetcher> fetcher_;
    boost::asio::io_context& io_;
    std::uint64_t keys_version_ = 0;
    std::shared_ptr<const key_list> keys_;  // from the fetcher; null without a JWKS URL
    observability::counter* fetched_ = nullptr;
    observability::counter* failed_ = nullptr;
    observability::counter* kid_refetches_ = nullptr;
    std::uint64_t fetched_seen_ = 0;
    std::uint64_t failed_seen_ = 0;
    std::uint64_t kid_refetches_seen_ = 0;
};

class jwt_factory final : public filter_factory {
public:
    explicit jwt_factory(settings s) : settings_(std::move(s)) {
        if (settings_.jwks) {
            fetcher_ = std::make_shared<jwks_fetcher>(*settings_.jwks, settings_.keys, settings_.instance);
        }
    }
    std::unique_ptr<filter> create(worker_services& w) const override {
        // The fetch starts with the first worker's instance, not at parse time (--validate and a
        // rejected reload never fetch).
        if (fetcher_) fetcher_->start();
        return std::make_unique<jwt_filter>(settings_, fetcher_, w);
    }
    // With a JWKS URL, a token naming an unknown kid would start a fetch.
    bool runs_offline() const override { return !settings_.jwks; }
    std::string offline_note() const override {
        return "verifies the Bearer token with keys fetched from the JWKS URL (not run here: an unknown kid would "
               "start a fetch)";
    }
    std::vector<std::string> identity_fields() const override {
        std::vector<std::string> names;
        for (const auto& [claim, header] : settings_.claims_to_headers) names.push_back(header);
        return names;
    }

    boost::json::object describe() const override {
        json::array keys;
        for (const auto& k : settings_.keys) keys.push_back(json::object{{"kid", k->kid()}, {"key", k->describe()}});
        json::array iss, aud, req;
        for (const auto& i : settings_.issuers) iss.emplace_back(i);
        for (const auto& a : settings_.audiences) aud.emplace_back(a);
        for (const auto& r : settings_.required_claims) req.emplace_back(r);
        json::object claims;
        for (const auto& [c, h] : settings_.claims_to_headers) claims[c] = h;
        json::object o{{"type", "jwt"},
                       {"keys", std::move(keys)},
                       {"issuer", std::move(iss)},
                       {"audience", std::move(aud)},
                       {"leeway_s", settings_.leeway.count()},
                       {"required_claims", std::move(req)},
                       {"claims_to_headers", std::move(claims)},
                       {"strip_authorization", settings_.strip_authorization},
                       {"require_exp", settings_.require_exp},
                       {"max_token_bytes", settings_.max_token_bytes},
                       {"cache_size", settings_.cache_size}};
        if (settings_.consumer_claim) o["consumer_claim"] = *settings_.consumer_claim;
        if (settings_.jwks) {
            const auto& j = *settings_.jwks;
            json::object jwks{{"url", j.url},
                              {"cache_duration_s", j.cache_duration.count()},
                              {"refetch_interval_ms", j.refetch_interval.count()},
                              {"timeout_ms", j.timeout.count()}};
            if (!j.ca_file.empty()) jwks["ca_file"] = j.ca_file;
            if (fetcher_) {
                json::array fetched;
                for (const auto& k : *fetcher_->keys())
                    fetched.push_back(json::object{{"kid", k->kid()}, {"key", k->describe()}});
                jwks["current_keys"] = std::move(fetched);
            }
            o["jwks"] = std::move(jwks);
        }
        return o;
    }

private:
    settings settings_;
    std::shared_ptr<jwks_fetcher> fetcher_;
};
}  // namespace

std::shared_ptr<const filter_factory> make_factory(settings s) {
    return std::make_shared<jwt_factory>(std::move(s));
}

}  // namespace gatehouse::filters::jwt
