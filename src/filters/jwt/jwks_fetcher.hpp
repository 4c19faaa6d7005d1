#pragma once
// Keeps a JWKS document fetched over HTTPS (as Keycloak, Auth0 and Okta publish their keys) on a
// thread of its own: fetched at start, refreshed at three quarters of its cache time
// (Cache-Control max-age, else cache_duration), retried with backoff after a failure while the
// last good key set keeps serving. Workers read the keys through a version number (one atomic
// load per request; the mutex only when the set changed). A token naming an unknown kid may
// trigger a refetch, at most once per refetch_interval, so tokens cannot force fetches.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse::filters::jwt {

class key;
using key_list = std::vector<std::shared_ptr<key>>;

struct jwks_source {
    std::string
        url;  // https://host[:port]/path, for logs and /config: a query (often a credential) shows as "?<redacted>"
    std::string host;
    std::string port;                                    // "443" unless the URL says otherwise
    std::string target;                                  // path and query, as sent
    std::string ca_file;                                 // PEM CA bundle to trust; empty: the system's trust store
    std::chrono::seconds cache_duration{600};            // when the response gives no max-age
    std::chrono::milliseconds refetch_interval{30'000};  // at most one unknown-kid refetch per interval
    std::chrono::milliseconds timeout{5'000};            // the whole fetch
    std::size_t max_bytes = 1024 * 1024;
};

// Splits and checks an https URL into source; false with error set otherwise.
bool parse_jwks_url(const std::string& url, jwks_source& source, std::string& error);

// Parses a JWKS document; the keys it could use, with why others were skipped in skipped.
key_list parse_jwks(std::string_view json_text, std::string& error, std::vector<std::string>& skipped);

// The max-age of a Cache-Control value ("public, max-age=300"), if it has one.
std::optional<std::chrono::seconds> cache_control_max_age(std::string_view cache_control);

class jwks_fetcher {
public:
    // static_keys (inline keys and jwks_file) are served beside the fetched ones.
    jwks_fetcher(jwks_source source, key_list static_keys, std::string filter_name);
    ~jwks_fetcher();  // stops the thread (an in-flight fetch is abandoned)
    jwks_fetcher(const jwks_fetcher&) = delete;
    jwks_fetcher& operator=(const jwks_fetcher&) = delete;

    // Starts the thread and the first fetch; later calls do nothing.
    void start();

    // Bumped every time a new key set is published.
    std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
    // The current keys (static ones included); takes the mutex: call when version() changed.
    std::shared_ptr<const key_list> keys() const;

    // A token named a kid that no key has: fetches now unless one was fetched for that reason
    // less than refetch_interval ago. True if a fetch is under way (worth waiting for).
    bool refetch_for_unknown_kid();
    bool fetching() const { return fetching_.load(std::memory_order_acquire); }

    const jwks_source& source() const { return source_; }

    // For /metrics (mirrored into one worker's counters): successful fetches, failed fetches,
    // refetches triggered by unknown kids.
    std::atomic<std::uint64_t> fetched{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> kid_refetches{0};

private:
    struct loop;
    void publish(key_list fetched_keys);

    jwks_source source_;
    key_list static_keys_;
    std::string name_;
    std::once_flag started_;
    std::unique_ptr<loop> loop_;  // the thread's io_context and timer
    std::thread thread_;
    mutable std::mutex mutex_;
    std::shared_ptr<const key_list> keys_;
    std::atomic<std::uint64_t> version_{0};
    std::atomic<bool> fetching_{true};  // the first fetch is pending from the start
    std::atomic<std::int64_t> last_kid_refetch_{INT64_MIN / 2};
};

}  // namespace gatehouse::filters::jwt
