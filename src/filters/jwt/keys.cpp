// Verification keys: HMAC secrets, PEM public keys and JWKs, each bound to its algorithms,
// and the signature check with OpenSSL 3.
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

#include "jwt.hpp"

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

using common::openssl_ptr;

openssl_ptr<EVP_PKEY> rsa_from(const std::string& n, const std::string& e) {
    openssl_ptr<BIGNUM> bn_n(
        BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
    openssl_ptr<BIGNUM> bn_e(
        BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
    openssl_ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (!bn_n || !bn_e || !bld) return nullptr;
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    openssl_ptr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
    openssl_ptr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* pkey = nullptr;
    if (params && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1) {
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get());
    }
    return openssl_ptr<EVP_PKEY>(pkey);
}

openssl_ptr<EVP_PKEY> ec_from(std::string_view curve, const std::string& x, const std::string& y) {
    std::string point = "\x04" + x + y;
    const char* group = curve == "P-256" ? "prime256v1" : "secp384r1";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
                           OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
                           OSSL_PARAM_construct_end()};
    openssl_ptr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* pkey = nullptr;
    if (ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1) {
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params);
    }
    return openssl_ptr<EVP_PKEY>(pkey);
}

}  // namespace

std::string string_member(const json::object& o, std::string_view name) {
    auto it = o.find(name);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

bool known_alg(std::string_view alg) {
    for (std::string_view a :
         {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}) {
        if (alg == a) return true;
    }
    return false;
}

key::~key() = default;

std::shared_ptr<key> key::secret(std::string kid, std::string alg, std::string bytes) {
    auto k = std::shared_ptr<key>(new key());
    k->kid_ = std::move(kid);
    k->algs_ = {std::move(alg)};
    k->secret_ = std::move(bytes);
    return k;
}

std::shared_ptr<key> key::pem(std::string kid, std::string alg, std::string_view text, std::string& error) {
    openssl_ptr<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    openssl_ptr<EVP_PKEY> pkey(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (bio && !pkey) {
        BIO_reset(bio.get());
        if (openssl_ptr<X509> cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
            pkey.reset(X509_get_pubkey(cert.get()));
        }
    }
    if (!pkey) {
        error = "not a PEM public key or certificate";
        return nullptr;
    }
    if (!fits(pkey.get(), alg, error)) {
        return nullptr;
    }
    auto k = std::shared_ptr<key>(new key());
    k->kid_ = std::move(kid);
    k->algs_ = {std::move(alg)};
    k->pkey_ = std::move(pkey);
    return k;
}

std::shared_ptr<key> key::jwk(const json::object& o, std::string& error) {
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
    openssl_ptr<EVP_PKEY> pkey;
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
        pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                               reinterpret_cast<const unsigned char*>(x->data()), x->size()));
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
        if (!fits(pkey.get(), a, error)) return nullptr;
    }
    k->pkey_ = std::move(pkey);
    return k;
}

bool key::allows(std::string_view alg) const {
    return std::find(algs_.begin(), algs_.end(), alg) != algs_.end();
}

std::string key::describe() const {
    std::string out;
    for (const auto& a : algs_) out += (out.empty() ? "" : "/") + a;
    if (pkey_) {
        out += " (" + std::to_string(EVP_PKEY_get_bits(pkey_.get())) + "-bit public key)";
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
    if (!pkey_) return false;
    std::string der;
    if (alg.starts_with("ES")) {
        // JWS carries r || s; OpenSSL wants a DER ECDSA-Sig-Value.
        std::size_t half = alg == "ES256" ? 32 : 48;
        if (signature.size() != 2 * half) return false;
        std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> es(ECDSA_SIG_new(), &ECDSA_SIG_free);
        openssl_ptr<BIGNUM> r(BN_bin2bn(sig, static_cast<int>(half), nullptr));
        openssl_ptr<BIGNUM> s(BN_bin2bn(sig + half, static_cast<int>(half), nullptr));
        if (!es || !r || !s || ECDSA_SIG_set0(es.get(), r.release(), s.release()) != 1) return false;
        unsigned char* out = nullptr;
        int len = i2d_ECDSA_SIG(es.get(), &out);
        if (len <= 0) return false;
        der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
        OPENSSL_free(out);
        sig = reinterpret_cast<const unsigned char*>(der.data());
        signature = der;
    }
    openssl_ptr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    const EVP_MD* md = alg == "EdDSA" ? nullptr : digest_for(alg);
    bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, pkey_.get()) == 1;
    if (ok && alg.starts_with("PS")) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1;
    } else if (ok && alg.starts_with("RS")) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    return ok && EVP_DigestVerify(ctx.get(), sig, signature.size(), data, input.size()) == 1;
}

}  // namespace gatehouse::filters::jwt
