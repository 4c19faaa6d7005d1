#include "jwt.hpp"

#include <fstream>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::jwt {

namespace json = boost::json;

// --- base64url ---------------------------------------------------------------------------------

std::optional<std::string> base64url_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') {
        text.remove_suffix(1);
    }
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-')
            v = 62;
        else if (c == '_')
            v = 63;
        else
            return std::nullopt;
        buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    if (bits >= 6) {
        return std::nullopt;  // a lone trailing character cannot be valid
    }
    return out;
}

std::string base64url_encode(std::string_view bytes) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += alphabet[(buffer >> bits) & 0x3f];
        }
    }
    if (bits > 0) {
        out += alphabet[(buffer << (6 - bits)) & 0x3f];
    }
    return out;
}

// --- keys --------------------------------------------------------------------------------------

namespace {

const EVP_MD* digest_for(std::string_view alg) {
    if (alg.ends_with("256")) return EVP_sha256();
    if (alg.ends_with("384")) return EVP_sha384();
    if (alg.ends_with("512")) return EVP_sha512();
    return nullptr;
}

bool known_alg(std::string_view alg) {
    for (std::string_view a :
         {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}) {
        if (alg == a) return true;
    }
    return false;
}

// The EC curve an ES algorithm needs.
std::string_view curve_for(std::string_view alg) {
    return alg == "ES256" ? "P-256" : alg == "ES384" ? "P-384" : "";
}

// Checks that pkey can serve alg; sets error when not.
bool fits(EVP_PKEY* pkey, std::string_view alg, std::string& error) {
    int id = EVP_PKEY_get_base_id(pkey);
    if (alg.starts_with("RS") || alg.starts_with("PS")) {
        if (id != EVP_PKEY_RSA && id != EVP_PKEY_RSA_PSS) {
            error = std::string(alg) + " needs an RSA key";
            return false;
        }
        if (EVP_PKEY_get_bits(pkey) < 2048) {
            error = "RSA keys must have at least 2048 bits";
            return false;
        }
        return true;
    }
    if (alg.starts_with("ES")) {
        char group[64] = {};
        std::size_t len = 0;
        if (id != EVP_PKEY_EC ||
            EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1) {
            error = std::string(alg) + " needs an EC key";
            return false;
        }
        std::string_view name(group, len);
        bool ok = (alg == "ES256" && (name == "prime256v1" || name == "P-256")) ||
                  (alg == "ES384" && (name == "secp384r1" || name == "P-384"));
        if (!ok) {
            error = std::string(alg) + " needs a key on curve " + std::string(curve_for(alg));
        }
        return ok;
    }
    if (alg == "EdDSA") {
        if (id != EVP_PKEY_ED25519) {
            error = "EdDSA needs an Ed25519 key";
            return false;
        }
        return true;
    }
    error = "algorithm " + std::string(alg) + " does not take a public key";
    return false;
}

EVP_PKEY* rsa_from(const std::string& n, const std::string& e) {
    BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr);
    BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    EVP_PKEY* pkey = nullptr;
    if (ctx && EVP_PKEY_fromdata_init(ctx) == 1) {
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

EVP_PKEY* ec_from(std::string_view curve, const std::string& x, const std::string& y) {
    std::string point = "\x04" + x + y;
    const char* group = curve == "P-256" ? "prime256v1" : "secp384r1";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
                           OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
                           OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    EVP_PKEY* pkey = nullptr;
    if (ctx && EVP_PKEY_fromdata_init(ctx) == 1) {
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

std::string string_member(const json::object& o, std::string_view name) {
    auto it = o.find(name);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

}  // namespace

key::~key() {
    EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey_));
}

std::shared_ptr<key> key::secret(std::string kid, std::string alg, std::string bytes) {
    auto k = std::shared_ptr<key>(new key());
    k->kid_ = std::move(kid);
    k->algs_ = {std::move(alg)};
    k->secret_ = std::move(bytes);
    return k;
}

std::shared_ptr<key> key::pem(std::string kid, std::string alg, std::string_view text, std::string& error) {
    BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
    EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    if (!pkey) {
        BIO_reset(bio);
        if (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
            pkey = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }
    BIO_free(bio);
    if (!pkey) {
        error = "not a PEM public key or certificate";
        return nullptr;
    }
    if (!fits(pkey, alg, error)) {
        EVP_PKEY_free(pkey);
        return nullptr;
    }
    auto k = std::shared_ptr<key>(new key());
    k->kid_ = std::move(kid);
    k->algs_ = {std::move(alg)};
    k->pkey_ = pkey;
    return k;
}

std::shared_ptr<key> key::jwk(const void* json_object, std::string& error) {
    const auto& o = *static_cast<const json::object*>(json_object);
    auto kty = string_member(o, "kty");
    auto alg = string_member(o, "alg");
    auto use = string_member(o, "use");
    if (!use.empty() && use != "sig") {
        error = "key is not for signatures (use " + use + ")";
        return nullptr;
    }
    if (!alg.empty() && !known_alg(alg)) {
        error = "unsupported alg " + alg;
        return nullptr;
    }
    auto k = std::shared_ptr<key>(new key());
    k->kid_ = string_member(o, "kid");
    auto field = [&](std::string_view name) -> std::optional<std::string> {
        auto v = base64url_decode(string_member(o, name));
        if (!v || v->empty()) {
            error = "missing or invalid \"" + std::string(name) + "\"";
            return std::nullopt;
        }
        return v;
    };
    EVP_PKEY* pkey = nullptr;
    if (kty == "oct") {
        if (alg.empty() || !alg.starts_with("HS")) {
            error = "a symmetric key needs an HS alg";  // never guessed: that is how confusion starts
            return nullptr;
        }
        auto secret = field("k");
        if (!secret) return nullptr;
        k->secret_ = *secret;
        k->algs_ = {alg};
        return k;
    } else if (kty == "RSA") {
        auto n = field("n");
        auto e = field("e");
        if (!n || !e) return nullptr;
        pkey = rsa_from(*n, *e);
        if (alg.empty()) k->algs_ = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"};
    } else if (kty == "EC") {
        auto crv = string_member(o, "crv");
        if (crv != "P-256" && crv != "P-384") {
            error = "unsupported curve \"" + crv + "\"";
            return nullptr;
        }
        auto x = field("x");
        auto y = field("y");
        if (!x || !y) return nullptr;
        pkey = ec_from(crv, *x, *y);
        if (alg.empty()) k->algs_ = {crv == "P-256" ? "ES256" : "ES384"};
    } else if (kty == "OKP") {
        if (string_member(o, "crv") != "Ed25519") {
            error = "unsupported OKP curve (Ed25519 only)";
            return nullptr;
        }
        auto x = field("x");
        if (!x) return nullptr;
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()),
                                           x->size());
        if (alg.empty()) k->algs_ = {"EdDSA"};
    } else {
        error = "unsupported kty \"" + kty + "\"";
        return nullptr;
    }
    if (!pkey) {
        error = "invalid " + kty + " key";
        return nullptr;
    }
    if (!alg.empty()) k->algs_ = {alg};
    for (const auto& a : k->algs_) {
        if (!fits(pkey, a, error)) {
            EVP_PKEY_free(pkey);
            return nullptr;
        }
    }
    k->pkey_ = pkey;
    return k;
}

bool key::allows(std::string_view alg) const {
    return std::find(algs_.begin(), algs_.end(), alg) != algs_.end();
}

std::string key::describe() const {
    std::string out;
    for (const auto& a : algs_) out += (out.empty() ? "" : "/") + a;
    if (pkey_) {
        out += " (" + std::to_string(EVP_PKEY_get_bits(static_cast<EVP_PKEY*>(pkey_))) + "-bit public key)";
    } else {
        out += " (secret)";
    }
    return out;
}

bool key::verify(std::string_view alg, std::string_view input, std::string_view signature) const {
    if (!allows(alg)) {
        return false;
    }
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
    if (alg.starts_with("HS")) {
        if (secret_.empty()) return false;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int size = 0;
        if (!HMAC(digest_for(alg), secret_.data(), static_cast<int>(secret_.size()), data, input.size(), mac, &size)) {
            return false;
        }
        return size == signature.size() && CRYPTO_memcmp(mac, sig, size) == 0;
    }
    auto* pkey = static_cast<EVP_PKEY*>(pkey_);
    if (!pkey) return false;
    std::string der;
    if (alg.starts_with("ES")) {
        // JWS carries r || s; OpenSSL wants a DER ECDSA-Sig-Value.
        std::size_t half = alg == "ES256" ? 32 : 48;
        if (signature.size() != 2 * half) return false;
        ECDSA_SIG* es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(sig, static_cast<int>(half), nullptr),
                       BN_bin2bn(sig + half, static_cast<int>(half), nullptr));
        unsigned char* out = nullptr;
        int len = i2d_ECDSA_SIG(es, &out);
        ECDSA_SIG_free(es);
        if (len <= 0) return false;
        der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
        OPENSSL_free(out);
        sig = reinterpret_cast<const unsigned char*>(der.data());
        signature = der;
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    const EVP_MD* md = alg == "EdDSA" ? nullptr : digest_for(alg);
    bool ok = EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, pkey) == 1;
    if (ok && alg.starts_with("PS")) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1;
    } else if (ok && alg.starts_with("RS")) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    ok = ok && EVP_DigestVerify(ctx, sig, signature.size(), data, input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

// --- tokens -------------------------------------------------------------------------------------

namespace {

std::optional<json::object> decode_json_part(std::string_view part) {
    auto bytes = base64url_decode(part);
    if (!bytes) return std::nullopt;
    boost::system::error_code ec;
    auto value = json::parse(*bytes, ec);
    if (ec || !value.is_object()) return std::nullopt;
    return std::move(value.as_object());
}

std::optional<std::int64_t> number_claim(const json::object& o, std::string_view name, bool& malformed) {
    auto it = o.find(name);
    if (it == o.end()) return std::nullopt;
    const auto& v = it->value();
    if (v.is_int64()) return v.as_int64();
    if (v.is_uint64()) return static_cast<std::int64_t>(std::min<std::uint64_t>(v.as_uint64(), INT64_MAX));
    if (v.is_double()) return static_cast<std::int64_t>(v.as_double());
    malformed = true;
    return std::nullopt;
}

std::optional<std::string> scalar_text(const json::value& v) {
    if (v.is_string()) return std::string(v.as_string());
    if (v.is_int64()) return std::to_string(v.as_int64());
    if (v.is_uint64()) return std::to_string(v.as_uint64());
    if (v.is_bool()) return v.as_bool() ? "true" : "false";
    return std::nullopt;
}

verdict refuse(std::string reason) {
    verdict v;
    v.reason = std::move(reason);
    return v;
}

}  // namespace

verdict verify_token(const settings& s, std::string_view token, const std::vector<std::shared_ptr<key>>* key_set) {
    const auto& keys = key_set ? *key_set : s.keys;
    if (token.size() > s.max_token_bytes) return refuse("token_too_large");
    auto dot1 = token.find('.');
    auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
        return refuse("malformed_token");
    }
    auto header = decode_json_part(token.substr(0, dot1));
    if (!header) return refuse("malformed_token");
    auto alg_it = header->find("alg");
    if (alg_it == header->end() || !alg_it->value().is_string()) return refuse("malformed_token");
    std::string alg(alg_it->value().as_string());
    if (!known_alg(alg)) return refuse("alg_not_allowed");  // "none", "None", "NONE", anything unknown
    // The token never chooses where keys come from, nor extensions we would have to understand.
    for (std::string_view forbidden : {"jku", "x5u", "jwk", "x5c", "crit"}) {
        if (header->contains(forbidden)) return refuse("forbidden_header");
    }
    std::string kid;
    if (auto it = header->find("kid"); it != header->end()) {
        if (!it->value().is_string()) return refuse("malformed_token");
        kid = it->value().as_string();
    }
    auto signature = base64url_decode(token.substr(dot2 + 1));
    if (!signature) return refuse("malformed_token");
    auto signing_input = token.substr(0, dot2);

    bool any_for_alg = false;
    bool verified = false;
    for (const auto& k : keys) {
        if (!kid.empty() && k->kid() != kid) continue;
        if (!k->allows(alg)) continue;
        any_for_alg = true;
        if (k->verify(alg, signing_input, *signature)) {
            verified = true;
            break;
        }
    }
    if (!any_for_alg) {
        bool kid_known =
            !kid.empty() && std::any_of(keys.begin(), keys.end(), [&](auto& k) { return k->kid() == kid; });
        return refuse(!kid.empty() && !kid_known ? "unknown_kid" : "alg_not_allowed");
    }
    if (!verified) return refuse("bad_signature");

    auto payload = decode_json_part(token.substr(dot1 + 1, dot2 - dot1 - 1));
    if (!payload) return refuse("malformed_token");
    const std::int64_t now =
        s.now ? s.now()
              : std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                    .count();
    bool malformed = false;
    auto exp = number_claim(*payload, "exp", malformed);
    auto nbf = number_claim(*payload, "nbf", malformed);
    if (malformed) return refuse("malformed_token");
    if (!exp && s.require_exp) return refuse("missing_exp");
    if (exp && now - s.leeway.count() >= *exp) return refuse("expired");
    if (nbf && now + s.leeway.count() < *nbf) return refuse("not_yet_valid");
    if (!s.issuers.empty()) {
        auto iss = string_member(*payload, "iss");
        if (std::find(s.issuers.begin(), s.issuers.end(), iss) == s.issuers.end()) return refuse("wrong_issuer");
    }
    if (!s.audiences.empty()) {
        bool match = false;
        if (auto it = payload->find("aud"); it != payload->end()) {
            auto check = [&](const json::value& v) {
                if (v.is_string() && std::find(s.audiences.begin(), s.audiences.end(), std::string(v.as_string())) !=
                                         s.audiences.end()) {
                    match = true;
                }
            };
            if (it->value().is_array()) {
                for (const auto& v : it->value().as_array()) check(v);
            } else {
                check(it->value());
            }
        }
        if (!match) return refuse("wrong_audience");
    }
    for (const auto& claim : s.required_claims) {
        if (!payload->contains(claim)) return refuse("missing_claim");
    }
    verdict v;
    v.ok = true;
    v.exp = exp;
    v.nbf = nbf;
    auto pick = [&](const std::string& claim) {
        if (auto it = payload->find(claim); it != payload->end()) {
            if (auto text = scalar_text(it->value()); text && http::valid_field_value(*text) && text->size() <= 1024) {
                v.claims[claim] = *text;
            }
        }
    };
    for (const auto& [claim, header_name] : s.claims_to_headers) pick(claim);
    if (s.consumer_claim) pick(*s.consumer_claim);
    return v;
}

const verdict* verification_cache::find(std::string_view token, std::int64_t now, std::chrono::seconds leeway,
                                        std::string& reason) {
    auto it = entries_.find(std::hash<std::string_view>{}(token));
    if (it == entries_.end() || it->second.token != token) {
        return nullptr;
    }
    const auto& v = it->second.v;
    if (v.exp && now - leeway.count() >= *v.exp) {
        reason = "expired";
        entries_.erase(it);
        return nullptr;
    }
    if (v.nbf && now + leeway.count() < *v.nbf) {
        reason = "not_yet_valid";
        return nullptr;
    }
    return &v;
}

void verification_cache::insert(std::string_view token, const verdict& v) {
    if (capacity_ == 0) {
        return;
    }
    if (entries_.size() >= capacity_) {
        entries_.erase(entries_.begin());  // bounded: drop an arbitrary entry
    }
    entries_[std::hash<std::string_view>{}(token)] = entry{std::string(token), v};
}

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

std::optional<std::string> read_whole_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

}  // namespace

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path,
                      {"type", "keys", "jwks_file", "jwks", "issuer", "audience", "leeway", "required_claims",
                       "claims_to_headers", "consumer_claim", "strip_authorization", "max_token_bytes", "cache_size",
                       "require_exp"})) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    s.instance = path.substr(path.rfind('.') + 1);
    if (auto keys = node["keys"]; keys.IsDefined()) {
        if (!keys.IsSequence()) {
            r.error(keys, path + ".keys", "expected a list of { kid, alg, secret | pem | pem_file }");
        } else {
            for (std::size_t i = 0; i < keys.size(); ++i) {
                auto kp = config::reader::index(path + ".keys", i);
                if (!r.expect_map(keys[i], kp, {"kid", "alg", "secret", "pem", "pem_file"})) continue;
                std::string kid;
                if (auto n = keys[i]["kid"]; n.IsDefined()) kid = r.string(n, kp + ".kid").value_or("");
                auto alg_node = keys[i]["alg"];
                if (!alg_node.IsDefined()) {
                    r.error(keys[i], kp + ".alg", "missing required key \"alg\" (each key is bound to one algorithm)");
                    continue;
                }
                auto alg = r.string(alg_node, kp + ".alg");
                if (!alg) continue;
                if (!known_alg(*alg)) {
                    r.error(alg_node, kp + ".alg",
                            "unsupported algorithm \"" + *alg +
                                "\" (HS256/384/512, RS256/384/512, PS256/384/512, ES256/384, EdDSA)");
                    continue;
                }
                int sources =
                    keys[i]["secret"].IsDefined() + keys[i]["pem"].IsDefined() + keys[i]["pem_file"].IsDefined();
                if (sources != 1) {
                    r.error(keys[i], kp, "give exactly one of secret, pem and pem_file");
                    continue;
                }
                if (alg->starts_with("HS")) {
                    if (!keys[i]["secret"].IsDefined()) {
                        r.error(keys[i], kp, *alg + " needs a secret, not a public key");
                        continue;
                    }
                    auto secret = r.string(keys[i]["secret"], kp + ".secret");
                    if (secret && secret->size() < 32) {
                        r.error(keys[i]["secret"], kp + ".secret", "an HMAC secret must have at least 32 bytes");
                    } else if (secret) {
                        s.keys.push_back(key::secret(kid, *alg, *secret));
                    }
                    continue;
                }
                if (keys[i]["secret"].IsDefined()) {
                    r.error(keys[i]["secret"], kp + ".secret",
                            *alg + " verifies with a public key (pem or pem_file), not a secret");
                    continue;
                }
                std::optional<std::string> pem;
                std::string where = kp + (keys[i]["pem"].IsDefined() ? ".pem" : ".pem_file");
                if (keys[i]["pem"].IsDefined()) {
                    pem = r.string(keys[i]["pem"], where);
                } else if (auto file = r.string(keys[i]["pem_file"], where)) {
                    pem = read_whole_file(*file);
                    if (!pem) r.error(keys[i]["pem_file"], where, "cannot read \"" + *file + "\"");
                }
                if (!pem) continue;
                std::string error;
                if (auto k = key::pem(kid, *alg, *pem, error)) {
                    s.keys.push_back(std::move(k));
                } else {
                    r.error(keys[i][keys[i]["pem"].IsDefined() ? "pem" : "pem_file"], where, error);
                }
            }
        }
    }
    if (auto n = node["jwks_file"]; n.IsDefined()) {
        if (auto file = r.string(n, path + ".jwks_file")) {
            auto text = read_whole_file(*file);
            boost::system::error_code ec;
            json::value doc;
            if (!text) {
                r.error(n, path + ".jwks_file", "cannot read \"" + *file + "\"");
            } else if (doc = json::parse(*text, ec); ec || !doc.is_object() || !doc.as_object().contains("keys") ||
                                                     !doc.as_object()["keys"].is_array()) {
                r.error(n, path + ".jwks_file", "\"" + *file + "\" is not a JWKS document ({\"keys\": [...]})");
            } else {
                std::size_t index = 0;
                for (const auto& jwk : doc.as_object()["keys"].as_array()) {
                    std::string error;
                    std::shared_ptr<key> k = jwk.is_object() ? key::jwk(&jwk.as_object(), error) : nullptr;
                    if (!jwk.is_object()) error = "not an object";
                    if (k) {
                        s.keys.push_back(std::move(k));
                    } else {
                        r.error(n, path + ".jwks_file",
                                "\"" + *file + "\" key " + std::to_string(index) + ": " + error);
                    }
                    ++index;
                }
            }
        }
    }
    if (auto n = node["jwks"]; n.IsDefined()) {
        const auto jp = path + ".jwks";
        if (r.expect_map(n, jp, {"url", "ca_file", "cache_duration", "refetch_interval", "timeout"})) {
            jwks_source src;
            if (auto u = n["url"]; !u.IsDefined()) {
                r.error(n, jp + ".url", "missing required key \"url\" (https://.../jwks.json)");
            } else if (auto url = r.string(u, jp + ".url")) {
                std::string error;
                if (!parse_jwks_url(*url, src, error)) r.error(u, jp + ".url", "\"" + *url + "\": " + error);
            }
            if (auto c = n["ca_file"]; c.IsDefined()) {
                if (auto file = r.string(c, jp + ".ca_file")) {
                    if (!read_whole_file(*file)) {
                        r.error(c, jp + ".ca_file", "cannot read \"" + *file + "\"");
                    } else {
                        boost::asio::ssl::context probe(boost::asio::ssl::context::tls_client);
                        boost::system::error_code ec;
                        probe.load_verify_file(*file, ec);
                        if (ec)
                            r.error(c, jp + ".ca_file", "\"" + *file + "\" holds no PEM certificate: " + ec.message());
                    }
                    src.ca_file = *file;
                }
            }
            if (auto c = n["cache_duration"]; c.IsDefined()) {
                if (auto d = r.time(c, jp + ".cache_duration")) {
                    if (*d < std::chrono::seconds(1)) {
                        r.error(c, jp + ".cache_duration", "must be at least 1s");
                    } else {
                        src.cache_duration = std::chrono::duration_cast<std::chrono::seconds>(*d);
                    }
                }
            }
            r.optional_field(n, "refetch_interval", jp, src.refetch_interval,
                             [&](const YAML::Node& v, const std::string& p) { return r.time(v, p); });
            r.optional_field(n, "timeout", jp, src.timeout,
                             [&](const YAML::Node& v, const std::string& p) { return r.time(v, p); });
            s.jwks = std::move(src);
        }
    }
    if (s.keys.empty() && !s.jwks && r.errors.size() == before) {
        r.error(node, path, "no keys: set keys, jwks_file or jwks.url");
    }
    auto strings = [&](const char* key_name, std::vector<std::string>& out) {
        if (auto n = node[key_name]; n.IsDefined()) {
            for (auto& [sn, v] : r.string_list(n, path + "." + key_name)) out.push_back(v);
        }
    };
    strings("issuer", s.issuers);
    strings("audience", s.audiences);
    strings("required_claims", s.required_claims);
    if (auto n = node["leeway"]; n.IsDefined()) {
        if (auto d = r.time(n, path + ".leeway", true)) s.leeway = std::chrono::duration_cast<std::chrono::seconds>(*d);
    }
    if (auto n = node["claims_to_headers"]; n.IsDefined()) {
        if (!n.IsMap()) {
            r.error(n, path + ".claims_to_headers", "expected a mapping of claim to header name");
        } else {
            for (const auto& item : n) {
                auto claim = item.first.Scalar();
                std::string key_path = path + ".claims_to_headers.";
                key_path += claim;
                auto header = r.string(item.second, key_path);
                if (header && !http::valid_token(*header)) {
                    r.error(item.second, key_path, "invalid header name \"" + *header + "\"");
                } else if (header) {
                    s.claims_to_headers.emplace_back(claim, *header);
                }
            }
        }
    }
    if (auto n = node["consumer_claim"]; n.IsDefined()) s.consumer_claim = r.string(n, path + ".consumer_claim");
    r.optional_field(node, "require_exp", path, s.require_exp,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    r.optional_field(node, "strip_authorization", path, s.strip_authorization,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    r.optional_field(node, "max_token_bytes", path, s.max_token_bytes,
                     [&](const YAML::Node& n, const std::string& p) -> std::optional<std::size_t> {
                         auto v = r.size(n, p);
                         if (v && (*v < 256 || *v > 64 * 1024)) {
                             r.error(n, p, "must be between 256 bytes and 64KiB");
                             return std::nullopt;
                         }
                         return v ? std::optional<std::size_t>(*v) : std::nullopt;
                     });
    r.optional_field(node, "cache_size", path, s.cache_size,
                     [&](const YAML::Node& n, const std::string& p) -> std::optional<std::size_t> {
                         auto v = r.unsigned_int(n, p, 0, 1'000'000);
                         return v ? std::optional<std::size_t>(*v) : std::nullopt;
                     });
    if (r.errors.size() != before) {
        return nullptr;
    }
    return std::make_shared<jwt_factory>(std::move(s));
}

}  // namespace gatehouse::filters::jwt
