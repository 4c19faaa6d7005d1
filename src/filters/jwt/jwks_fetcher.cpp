#include "jwks_fetcher.hpp"

#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include "jwt.hpp"

namespace gatehouse::filters::jwt {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using tcp = asio::ip::tcp;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

bool parse_jwks_url(const std::string& url, jwks_source& source, std::string& error) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) {
        error = "not an absolute URL";
        return false;
    }
    if (parsed->scheme_id() != boost::urls::scheme::https) {
        error = "must be an https URL (keys fetched in clear text could be replaced on the way)";
        return false;
    }
    if (parsed->has_userinfo() || parsed->host().empty() || parsed->has_fragment()) {
        error = "expected https://host[:port]/path, without user, password or fragment";
        return false;
    }
    source.url = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host_and_port()) +
                 std::string(parsed->encoded_path()) + (parsed->has_query() ? "?<redacted>" : "");
    source.host = parsed->host_address();  // IPv6 without brackets
    source.port = parsed->has_port() ? std::string(parsed->port()) : "443";
    source.target = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
    if (parsed->has_query()) {
        source.target += "?" + std::string(parsed->encoded_query());
    }
    return true;
}

key_list parse_jwks(std::string_view json_text, std::string& error, std::vector<std::string>& skipped) {
    boost::system::error_code ec;
    auto doc = json::parse(json_text, ec);
    if (ec || !doc.is_object() || !doc.as_object().contains("keys") || !doc.as_object().at("keys").is_array()) {
        error = "not a JWKS document ({\"keys\": [...]})";
        return {};
    }
    key_list keys;
    std::size_t index = 0;
    for (const auto& jwk : doc.as_object().at("keys").as_array()) {
        std::string why = "not an object";
        std::shared_ptr<key> k;
        if (jwk.is_object() && jwk.as_object().contains("kty") && jwk.as_object().at("kty") == "oct") {
            // A key set served at a URL is public: a symmetric key in it is a shared secret that
            // anyone who can fetch it could sign with.
            why = "symmetric (oct) keys are not accepted from a JWKS URL";
        } else if (jwk.is_object()) {
            k = key::jwk(jwk.as_object(), why);
        }
        if (k) {
            keys.push_back(std::move(k));
        } else {
            skipped.push_back("key " + std::to_string(index) + ": " + why);
        }
        ++index;
    }
    if (keys.empty()) {
        error = "no usable key in the document";
    }
    return keys;
}

namespace {

std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::optional<std::chrono::seconds> cache_control_max_age(std::string_view cache_control) {
    for (std::size_t at = 0; (at = cache_control.find("max-age=", at)) != std::string_view::npos; at += 8) {
        if (at > 0 && cache_control[at - 1] != ' ' && cache_control[at - 1] != ',') continue;  // not s-maxage etc.
        std::int64_t value = 0;
        std::size_t i = at + 8;
        bool any = false;
        while (i < cache_control.size() && cache_control[i] >= '0' && cache_control[i] <= '9' && value < 100'000'000) {
            value = value * 10 + (cache_control[i++] - '0');
            any = true;
        }
        if (any) return std::chrono::seconds(value);
    }
    return std::nullopt;
}

namespace {

struct fetch_result {
    key_list keys;
    std::string error;  // empty on success
    std::optional<std::chrono::seconds> max_age;
    std::vector<std::string> skipped;
};

}  // namespace

struct jwks_fetcher::loop {
    // In this order: the io_context destroys a stopped fetch's frame, which uses the TLS context.
    asio::ssl::context tls{asio::ssl::context::tls_client};
    asio::io_context io{1};
    asio::steady_timer wake{io};  // the wait until the next fetch; cancelled to fetch at once
    std::atomic<bool> stopping{false};
};

namespace {
// The last good key set of every URL fetched by this process, so that a reload (a new fetcher)
// starts with it instead of nothing: an identity provider that is down during a reload must
// not turn every token away. Touched only when a fetcher is made or publishes.
std::mutex last_good_mutex;
std::map<std::string, key_list>& last_good() {
    static std::map<std::string, key_list> sets;
    return sets;
}
}  // namespace

jwks_fetcher::jwks_fetcher(jwks_source source, key_list static_keys, std::string filter_name)
    : source_(std::move(source)),
      static_keys_(std::move(static_keys)),
      name_(std::move(filter_name)),
      keys_(std::make_shared<const key_list>(static_keys_)) {
    key_list seed;
    {
        std::lock_guard lock(last_good_mutex);
        if (auto it = last_good().find(source_.url); it != last_good().end()) seed = it->second;
    }
    if (!seed.empty()) {
        publish(std::move(seed));
        fetching_ = false;  // keys to serve already; a first fetch still runs at start()
    }
}

jwks_fetcher::~jwks_fetcher() {
    if (thread_.joinable()) {
        loop_->stopping = true;
        loop_->io.stop();
        thread_.join();
    }
}

std::shared_ptr<const key_list> jwks_fetcher::keys() const {
    std::lock_guard lock(mutex_);
    return keys_;
}

void jwks_fetcher::publish(key_list fetched_keys) {
    {
        std::lock_guard lock(last_good_mutex);
        last_good()[source_.url] = fetched_keys;
    }
    auto all = std::make_shared<key_list>(static_keys_);
    all->insert(all->end(), fetched_keys.begin(), fetched_keys.end());
    {
        std::lock_guard lock(mutex_);
        keys_ = std::move(all);
    }
    version_.fetch_add(1, std::memory_order_acq_rel);
}

bool jwks_fetcher::refetch_for_unknown_kid() {
    if (fetching()) return true;
    auto now = steady_ms();
    auto last = last_kid_refetch_.load(std::memory_order_relaxed);
    if (now - last < source_.refetch_interval.count()) return false;
    if (!last_kid_refetch_.compare_exchange_strong(last, now, std::memory_order_acq_rel)) {
        return fetching();  // another worker won the race and asked for the fetch
    }
    kid_refetches.fetch_add(1, std::memory_order_relaxed);
    fetching_.store(true, std::memory_order_release);
    asio::post(loop_->io, [this] { loop_->wake.cancel(); });
    return true;
}

namespace {

asio::awaitable<fetch_result> fetch_once(const jwks_source& src, asio::ssl::context& tls) {
    fetch_result out;
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    auto [rec, endpoints] = co_await resolver.async_resolve(src.host, src.port, use_nothrow);
    if (rec) {
        out.error = "cannot resolve " + src.host + ": " + rec.message();
        co_return out;
    }
    beast::ssl_stream<beast::tcp_stream> stream(ex, tls);
    boost::system::error_code address_ec;
    asio::ip::make_address(src.host, address_ec);
    if (address_ec && !SSL_set_tlsext_host_name(stream.native_handle(), src.host.c_str())) {
        out.error = "cannot set TLS server name";
        co_return out;
    }
    // The certificate must be valid for the host (name or IP address), not only signed by a CA.
    stream.set_verify_callback(asio::ssl::host_name_verification(src.host));
    auto& tcp_layer = beast::get_lowest_layer(stream);
    tcp_layer.expires_after(src.timeout);  // one deadline for connect, handshake, request and response
    auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, use_nothrow);
    if (cec) {
        out.error = "connect: " + (cec == beast::error::timeout ? std::string("timed out") : cec.message());
        co_return out;
    }
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, use_nothrow);
    if (hec) {
        out.error = "TLS handshake: " + (hec == beast::error::timeout ? std::string("timed out") : hec.message());
        co_return out;
    }
    beast::http::request<beast::http::empty_body> req{beast::http::verb::get, src.target, 11};
    req.set(beast::http::field::host, src.port == "443" ? src.host : src.host + ":" + src.port);
    req.set(beast::http::field::user_agent, "gatehouse-jwks");
    req.set(beast::http::field::accept, "application/json, application/jwk-set+json");
    req.set(beast::http::field::connection, "close");
    auto [wec, wn] = co_await beast::http::async_write(stream, req, use_nothrow);
    if (wec) {
        out.error = "write: " + wec.message();
        co_return out;
    }
    beast::flat_buffer buffer;
    beast::http::response_parser<beast::http::string_body> parser;
    parser.body_limit(src.max_bytes);
    parser.header_limit(16 * 1024);
    auto [ric, rn] = co_await beast::http::async_read(stream, buffer, parser, use_nothrow);
    if (ric && !(ric == beast::http::error::end_of_stream && parser.is_done())) {
        out.error = "response: " + (ric == beast::error::timeout ? std::string("timed out") : ric.message());
        co_return out;
    }
    const auto& res = parser.get();
    if (res.result_int() != 200) {
        out.error = "HTTP " + std::to_string(res.result_int());
        co_return out;
    }
    out.max_age = cache_control_max_age(res[beast::http::field::cache_control]);
    out.keys = parse_jwks(res.body(), out.error, out.skipped);
    // The server said close; no TLS close_notify exchange (it could wait on a slow peer).
    co_return out;
}

}  // namespace

void jwks_fetcher::start() {
    std::call_once(started_, [this] {
        loop_ = std::make_unique<loop>();
        loop_->tls.set_verify_mode(asio::ssl::verify_peer);
        boost::system::error_code ec;
        if (source_.ca_file.empty()) {
            loop_->tls.set_default_verify_paths(ec);
        } else {
            loop_->tls.load_verify_file(source_.ca_file, ec);
        }
        if (ec) {
            spdlog::error("jwt {}: cannot load trusted CAs{}: {}", name_,
                          source_.ca_file.empty() ? "" : " from " + source_.ca_file, ec.message());
        }
        asio::co_spawn(
            loop_->io,
            [this]() -> asio::awaitable<void> {
                std::chrono::milliseconds backoff{1000};
                for (;;) {
                    fetching_.store(true, std::memory_order_release);
                    auto result = co_await fetch_once(source_, loop_->tls);
                    std::chrono::milliseconds wait;
                    if (result.error.empty()) {
                        for (const auto& why : result.skipped) {
                            spdlog::warn("jwt {}: JWKS {}: skipped {}", name_, source_.url, why);
                        }
                        publish(std::move(result.keys));
                        fetched.fetch_add(1, std::memory_order_relaxed);
                        backoff = std::chrono::milliseconds(1000);
                        // Refresh before the cache time runs out. A max-age is bounded to [5 s, 1 day]:
                        // "max-age=0" must not turn into a fetch loop.
                        auto cache = result.max_age
                                         ? std::clamp<std::chrono::seconds>(*result.max_age, std::chrono::seconds(5),
                                                                            std::chrono::hours(24))
                                         : source_.cache_duration;
                        wait = std::chrono::duration_cast<std::chrono::milliseconds>(cache) * 3 / 4;
                        spdlog::info("jwt {}: JWKS {}: {} key(s), next refresh in {}s", name_, source_.url,
                                     keys()->size() - static_keys_.size(), wait.count() / 1000);
                    } else {
                        failed.fetch_add(1, std::memory_order_relaxed);
                        wait = backoff;
                        backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::minutes(1));
                        spdlog::warn("jwt {}: JWKS {} fetch failed: {}; {} retry in {}ms", name_, source_.url,
                                     result.error, version() > 0 ? "keeping the last good key set," : "no keys yet,",
                                     wait.count());
                    }
                    fetching_.store(false, std::memory_order_release);
                    loop_->wake.expires_after(wait);
                    co_await loop_->wake.async_wait(use_nothrow);  // cancelled: an unknown kid asks for keys now
                    if (loop_->stopping) co_return;
                }
            },
            [name = name_](const std::exception_ptr& e) {
                if (!e) return;
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    spdlog::error("jwt {}: JWKS fetcher stopped: {}", name, ex.what());
                }
            });
        thread_ = std::thread([this] { loop_->io.run(); });
    });
}

}  // namespace gatehouse::filters::jwt
