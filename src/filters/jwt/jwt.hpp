#pragma once
// jwt: Bearer tokens (RFC 7519) verified with OpenSSL. Every key is bound to one algorithm (or,
// for JWKS keys without "alg", to its key type's family), so a token cannot pick how it is
// checked: "none" in any spelling, an HMAC token against an RSA public key (algorithm
// confusion), an unknown kid, and jku/x5u/jwk/x5c/crit headers are all refused. Then exp and
// nbf (with leeway), iss, aud and required claims are checked; selected claims can be sent
// upstream as headers and one can name the consumer.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gatehouse/common/openssl.hpp"
#include "gatehouse/config/config.hpp"
#include "gatehouse/config/schema.hpp"
#include "gatehouse/filters/factory.hpp"
#include "jwks_fetcher.hpp"
namespace boost::json {
class object;
}
namespace YAML {
class Node;
}
namespace gatehouse::config {
class reader;
}

namespace gatehouse::filters::jwt {

// base64url without padding (padding tolerated); nullopt on any other character.
std::optional<std::string> base64url_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);

// True for the algorithms a key may be bound to (HS/RS/PS/ES 256/384/512, EdDSA).
bool known_alg(std::string_view alg);

// The string member called name of o, or "" when absent or not a string.
std::string string_member(const boost::json::object& o, std::string_view name);

// A verification key: an HMAC secret or a public key, with the algorithms it may verify.
class key {
public:
    ~key();
    key(const key&) = delete;
    key& operator=(const key&) = delete;

    // An HMAC secret for HS256/384/512.
    static std::shared_ptr<key> secret(std::string kid, std::string alg, std::string bytes);
    // A PEM public key (or certificate) for alg; nullptr with error set when they do not fit.
    static std::shared_ptr<key> pem(std::string kid, std::string alg, std::string_view pem, std::string& error);
    // A JWK from a JWKS document; nullptr with error set.
    static std::shared_ptr<key> jwk(const boost::json::object& jwk, std::string& error);

    const std::string& kid() const { return kid_; }
    bool allows(std::string_view alg) const;
    // Verifies signature over signing_input with alg (which allows() must accept).
    bool verify(std::string_view alg, std::string_view signing_input, std::string_view signature) const;
    std::string describe() const;  // "RS256 (RSA 2048)", never the key material

private:
    key() = default;
    std::string kid_;
    std::vector<std::string> algs_;
    std::string secret_;
    common::openssl_ptr<EVP_PKEY> pkey_;
};

struct settings {
    std::string instance;                    // the filter's name, for logs and metrics
    std::vector<std::shared_ptr<key>> keys;  // inline keys and jwks_file
    std::optional<jwks_source> jwks;         // keys fetched from a URL, beside those
    std::vector<std::string> issuers;        // any of these; empty: not checked
    std::vector<std::string> audiences;      // the token's aud must contain one; empty: not checked
    std::chrono::seconds leeway{30};
    bool require_exp = true;  // a token without exp would be valid forever
    std::vector<std::string> required_claims;
    std::vector<std::pair<std::string, std::string>> claims_to_headers;  // claim, header
    std::optional<std::string> consumer_claim;
    bool strip_authorization = false;
    std::size_t max_token_bytes = 8192;
    std::size_t cache_size = 4096;      // verified tokens remembered per worker; 0: no cache
    std::function<std::int64_t()> now;  // seconds since the epoch; tests inject a clock
};

// Why a token was refused (the metrics reason and the WWW-Authenticate error description).
struct verdict {
    bool ok = false;
    std::string reason;  // missing_token, malformed_token, alg_not_allowed, unknown_kid, bad_signature, expired, ...
    std::map<std::string, std::string> claims;  // string/number claims picked by the settings
    std::optional<std::int64_t> exp;            // kept so a cached verdict is re-checked in time
    std::optional<std::int64_t> nbf;
};

// Recently verified tokens of one worker: a repeated token (a client's next request) skips the
// signature check, while exp and nbf are checked again on every use. Bounded; only successful
// verifications are kept. The token itself is compared in full, not only its hash.
class verification_cache {
public:
    explicit verification_cache(std::size_t capacity) : capacity_(capacity) {}
    // The cached verdict for token if it is still valid at now; nullptr if absent. An entry
    // that has expired is dropped and reason is set to "expired" (or "not_yet_valid").
    const verdict* find(std::string_view token, std::int64_t now, std::chrono::seconds leeway, std::string& reason);
    void insert(std::string_view token, const verdict& v);
    std::size_t size() const { return entries_.size(); }
    void clear() { entries_.clear(); }  // the key set changed: earlier verdicts may not hold

private:
    struct entry {
        std::string token;
        verdict v;
    };
    std::size_t capacity_;
    std::unordered_map<std::size_t, entry> entries_;
};

// Verifies token against keys (default: s.keys).
verdict verify_token(const settings& s, std::string_view token,
                     const std::vector<std::shared_ptr<key>>* keys = nullptr);

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();
// The factory for checked settings (config.cpp parses, jwt.cpp holds the filter).
std::shared_ptr<const filter_factory> make_factory(settings s);

}  // namespace gatehouse::filters::jwt
