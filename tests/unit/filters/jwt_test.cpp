// jwt: RFC 7515 / RFC 8037 example tokens, tokens signed here with OpenSSL for every
// algorithm, and the attacks: alg none, HMAC/RSA confusion, expired, wrong aud/iss, tampered
// signature, unknown kid, jku.
#include "jwt/jwt.hpp"

#include <fstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/filters/registry.hpp"

using namespace gatehouse;
using namespace gatehouse::filters;
using jwt::base64url_decode;
using jwt::base64url_encode;

namespace {

// A freshly generated key pair for tests: signs tokens and gives its public PEM.
struct test_key {
    EVP_PKEY* pkey = nullptr;
    explicit test_key(const char* type, const char* param = nullptr) {
        if (std::string_view(type) == "RSA")
            pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
        else if (std::string_view(type) == "EC")
            pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", param);
        else
            pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, type);
    }
    ~test_key() { EVP_PKEY_free(pkey); }
    std::string public_pem() const {
        BIO* bio = BIO_new(BIO_s_mem());
        PEM_write_bio_PUBKEY(bio, pkey);
        char* data = nullptr;
        long len = BIO_get_mem_data(bio, &data);
        std::string out(data, static_cast<std::size_t>(len));
        BIO_free(bio);
        return out;
    }
    std::string sign(std::string_view alg, std::string_view input) const {
        const EVP_MD* md = alg == "EdDSA"         ? nullptr
                           : alg.ends_with("384") ? EVP_sha384()
                           : alg.ends_with("512") ? EVP_sha512()
                                                  : EVP_sha256();
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX* pctx = nullptr;
        EVP_DigestSignInit(ctx, &pctx, md, nullptr, pkey);
        if (alg.starts_with("PS")) {
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
        }
        std::size_t len = 0;
        EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
        std::string sig(len, '\0');
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size());
        sig.resize(len);
        EVP_MD_CTX_free(ctx);
        if (alg.starts_with("ES")) {  // DER -> r || s
            const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
            ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
            int half = alg == "ES256" ? 32 : 48;
            std::string raw(2 * half, '\0');
            BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), half);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + half, half);
            ECDSA_SIG_free(es);
            return raw;
        }
        return sig;
    }
};

std::string hmac(std::string_view alg, std::string_view secret, std::string_view input) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(alg == "HS384"   ? EVP_sha384()
         : alg == "HS512" ? EVP_sha512()
                          : EVP_sha256(),
         secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
         input.size(), mac, &size);
    return std::string(reinterpret_cast<char*>(mac), size);
}

std::string make_token(const std::string& header_json, const std::string& payload_json,
                       const std::function<std::string(std::string_view)>& signer) {
    auto input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
    return input + "." + base64url_encode(signer(input));
}

const std::string secret = "0123456789abcdef0123456789abcdef-hmac";

jwt::settings hs_settings() {
    jwt::settings s;
    s.keys.push_back(jwt::key::secret("hs", "HS256", secret));
    s.now = [] { return std::int64_t{1'700'000'000}; };
    return s;
}

std::string hs_token(const std::string& payload, const std::string& header = R"({"alg":"HS256","kid":"hs"})") {
    return make_token(header, payload, [](std::string_view in) { return hmac("HS256", secret, in); });
}

}  // namespace

TEST(Jwt, Base64Url) {
    EXPECT_EQ(base64url_encode("hello?>"), "aGVsbG8_Pg");
    EXPECT_EQ(*base64url_decode("aGVsbG8_Pg"), "hello?>");
    EXPECT_EQ(*base64url_decode("aGVsbG8_Pg=="), "hello?>");
    EXPECT_FALSE(base64url_decode("aGVs+G8"));  // '+' is base64, not base64url
    EXPECT_FALSE(base64url_decode("a"));
}

TEST(Jwt, Rfc7515HmacExample) {
    // RFC 7515 appendix A.1.
    jwt::settings s;
    s.keys.push_back(jwt::key::secret(
        "", "HS256",
        *base64url_decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")));
    s.now = [] { return std::int64_t{1300819000}; };  // the example expires at 1300819380
    s.claims_to_headers = {{"iss", "X-Issuer"}};
    const std::string token =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    auto v = jwt::verify_token(s, token);
    EXPECT_TRUE(v.ok) << v.reason;
    EXPECT_EQ(v.claims["iss"], "joe");
    s.now = [] { return std::int64_t{1300819380 + 31}; };  // past exp + 30 s leeway
    EXPECT_EQ(jwt::verify_token(s, token).reason, "expired");
}

TEST(Jwt, Rfc7515EcdsaExample) {
    // RFC 7515 appendix A.3 (ES256), key as a JWK.
    auto jwk = boost::json::parse(R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                                      "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})");
    std::string error;
    auto k = jwt::key::jwk(jwk.as_object(), error);
    ASSERT_TRUE(k) << error;
    jwt::settings s;
    s.keys.push_back(k);
    s.now = [] { return std::int64_t{1300819000}; };
    auto v = jwt::verify_token(
        s,
        "eyJhbGciOiJFUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q");
    EXPECT_TRUE(v.ok) << v.reason;
}

TEST(Jwt, Rfc8037Ed25519Example) {
    // RFC 8037 appendix A.4: the signature over a non-JSON payload, checked at the key level.
    auto jwk = boost::json::parse(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})");
    std::string error;
    auto k = jwt::key::jwk(jwk.as_object(), error);
    ASSERT_TRUE(k) << error;
    auto sig =
        base64url_decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
    EXPECT_TRUE(k->verify("EdDSA", "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc", *sig));
    EXPECT_FALSE(k->verify("EdDSA", "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmX", *sig));
}

TEST(Jwt, EveryAlgorithmWithGeneratedKeys) {
    struct kind {
        const char* alg;
        const char* type;
        const char* param;
    };
    for (auto [alg, type, param] :
         {kind{"RS256", "RSA", nullptr}, kind{"RS512", "RSA", nullptr}, kind{"PS256", "RSA", nullptr},
          kind{"ES256", "EC", "P-256"}, kind{"ES384", "EC", "P-384"}, kind{"EdDSA", "ED25519", nullptr}}) {
        test_key pair(type, param);
        std::string error;
        auto k = jwt::key::pem("k1", alg, pair.public_pem(), error);
        ASSERT_TRUE(k) << alg << ": " << error;
        jwt::settings s;
        s.keys.push_back(k);
        s.now = [] { return std::int64_t{1'700'000'000}; };
        auto header = std::string(R"({"alg":")") + alg + R"(","kid":"k1"})";
        auto token = make_token(header, R"({"sub":"u1","exp":1700000100})",
                                [&pair, &alg = alg](std::string_view in) { return pair.sign(alg, in); });
        auto v = jwt::verify_token(s, token);
        EXPECT_TRUE(v.ok) << alg << ": " << v.reason;
        // One flipped bit in the signature.
        auto tampered = token;
        tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
        EXPECT_EQ(jwt::verify_token(s, tampered).reason, "bad_signature") << alg;
    }
    for (auto alg : {"HS256", "HS384", "HS512"}) {
        jwt::settings s;
        s.keys.push_back(jwt::key::secret("", alg, secret));
        s.now = [] { return std::int64_t{1'700'000'000}; };
        auto token = make_token(std::string(R"({"alg":")") + alg + "\"}", R"({"sub":"u1","exp":1700000100})",
                                [&](std::string_view in) { return hmac(alg, secret, in); });
        EXPECT_TRUE(jwt::verify_token(s, token).ok) << alg;
    }
}

TEST(Jwt, ATokenWithoutExpIsRefusedUnlessAllowed) {
    auto s = hs_settings();
    EXPECT_EQ(jwt::verify_token(s, hs_token(R"({"sub":"a"})")).reason, "missing_exp");
    EXPECT_TRUE(jwt::verify_token(s, hs_token(R"({"sub":"a","exp":1700000100})")).ok);
    s.require_exp = false;
    EXPECT_TRUE(jwt::verify_token(s, hs_token(R"({"sub":"a"})")).ok);
}

TEST(Jwt, AttackTokensAreRefused) {
    auto s = hs_settings();
    s.require_exp = false;  // the claims below are about other things
    EXPECT_TRUE(jwt::verify_token(s, hs_token(R"({"sub":"a"})")).ok);
    // alg none, in any spelling, with or without a signature.
    for (auto alg : {"none", "None", "NONE", "nOnE"}) {
        auto none =
            base64url_encode(std::string(R"({"alg":")") + alg + "\"}") + "." + base64url_encode(R"({"sub":"a"})") + ".";
        EXPECT_EQ(jwt::verify_token(s, none).reason, "alg_not_allowed") << alg;
    }
    // Tokens that try to say where the key is.
    EXPECT_EQ(
        jwt::verify_token(s, hs_token(R"({"sub":"a"})", R"({"alg":"HS256","kid":"hs","jku":"https://evil/jwks"})"))
            .reason,
        "forbidden_header");
    EXPECT_EQ(jwt::verify_token(s, hs_token(R"({"sub":"a"})", R"({"alg":"HS256","x5u":"https://evil/cert"})")).reason,
              "forbidden_header");
    EXPECT_EQ(jwt::verify_token(s, hs_token(R"({"sub":"a"})", R"({"alg":"HS256","kid":"other"})")).reason,
              "unknown_kid");
    EXPECT_EQ(jwt::verify_token(s, "a.b").reason, "malformed_token");
    EXPECT_EQ(jwt::verify_token(s, "!!.??.**").reason, "malformed_token");
    EXPECT_EQ(jwt::verify_token(s, std::string(9000, 'a')).reason, "token_too_large");
    EXPECT_EQ(jwt::verify_token(s, hs_token(R"({"exp":1699999000})")).reason, "expired");
    EXPECT_EQ(jwt::verify_token(s, hs_token(R"({"nbf":1700000100})")).reason, "not_yet_valid");
    EXPECT_TRUE(jwt::verify_token(s, hs_token(R"({"nbf":1700000020})")).ok);  // within the 30 s leeway
    EXPECT_EQ(jwt::verify_token(s, hs_token(R"({"exp":"soon"})")).reason, "malformed_token");
    s.issuers = {"https://idp"};
    s.audiences = {"api"};
    s.required_claims = {"sub"};
    EXPECT_TRUE(jwt::verify_token(s, hs_token(R"({"iss":"https://idp","aud":["web","api"],"sub":"a"})")).ok);
    EXPECT_EQ(jwt::verify_token(s, hs_token(R"({"iss":"https://evil","aud":"api","sub":"a"})")).reason, "wrong_issuer");
    EXPECT_EQ(jwt::verify_token(s, hs_token(R"({"iss":"https://idp","aud":"web","sub":"a"})")).reason,
              "wrong_audience");
    EXPECT_EQ(jwt::verify_token(s, hs_token(R"({"iss":"https://idp","aud":"api"})")).reason, "missing_claim");
}

TEST(Jwt, HmacTokenAgainstAnRsaPublicKeyIsRefused) {
    // Algorithm confusion: sign HS256 with the RSA public key's PEM as the "secret". The RSA key
    // only verifies RS256, so the HS256 token finds no key for its algorithm.
    test_key pair("RSA");
    auto pem = pair.public_pem();
    std::string error;
    jwt::settings s;
    s.keys.push_back(jwt::key::pem("rsa", "RS256", pem, error));
    s.now = [] { return std::int64_t{1'700'000'000}; };
    auto forged = make_token(R"({"alg":"HS256","kid":"rsa"})", R"({"sub":"admin"})",
                             [&](std::string_view in) { return hmac("HS256", pem, in); });
    EXPECT_EQ(jwt::verify_token(s, forged).reason, "alg_not_allowed");
    // And an RS256 token cannot be checked with an HMAC key either.
    auto h = hs_settings();
    auto rs = make_token(R"({"alg":"RS256","kid":"hs"})", R"({"sub":"a"})",
                         [&](std::string_view in) { return pair.sign("RS256", in); });
    EXPECT_EQ(jwt::verify_token(h, rs).reason, "alg_not_allowed");
}

TEST(Jwt, ConfigErrors) {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    auto f = find_filter_type("jwt")->parse(r, YAML::Load(R"(
type: jwt
keys:
  - { kid: a, alg: HS256, secret: short }
  - { kid: b, alg: RS256, secret: "0123456789abcdef0123456789abcdef" }
  - { kid: c, alg: none, secret: x }
  - { kid: d, alg: ES256, pem: "not a pem" }
  - { kid: e, secret: "0123456789abcdef0123456789abcdef" }
leeway: forever
)"),
                                            "filters.jwt");
    EXPECT_FALSE(f);
    std::string all;
    for (const auto& e : r.errors) all += e.to_string() + "\n";
    EXPECT_NE(all.find("filters.jwt.keys[0].secret: an HMAC secret must have at least 32 bytes"), std::string::npos)
        << all;
    EXPECT_NE(all.find("filters.jwt.keys[1].secret: RS256 verifies with a public key"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.jwt.keys[2].alg: unsupported algorithm \"none\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.jwt.keys[3].pem: not a PEM public key"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.jwt.keys[4].alg: missing required key \"alg\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.jwt.leeway: invalid duration"), std::string::npos) << all;
}

TEST(Jwt, VerificationCacheStaysCorrectOnExpiry) {
    jwt::verification_cache cache(2);
    jwt::verdict v;
    v.ok = true;
    v.exp = 1000;
    v.claims["sub"] = "u1";
    cache.insert("token-a", v);
    std::string reason;
    auto* hit = cache.find("token-a", 900, std::chrono::seconds(30), reason);
    ASSERT_NE(hit, nullptr);
    EXPECT_EQ(hit->claims.at("sub"), "u1");
    EXPECT_EQ(cache.find("token-b", 900, std::chrono::seconds(30), reason), nullptr);
    EXPECT_TRUE(reason.empty());
    EXPECT_NE(cache.find("token-a", 1029, std::chrono::seconds(30), reason), nullptr);  // within leeway
    EXPECT_EQ(cache.find("token-a", 1030, std::chrono::seconds(30), reason), nullptr);
    EXPECT_EQ(reason, "expired");
    EXPECT_EQ(cache.size(), 0u);  // an expired entry is dropped
    jwt::verdict later = v;
    later.exp.reset();
    later.nbf = 2000;
    cache.insert("token-c", later);
    reason.clear();
    EXPECT_EQ(cache.find("token-c", 1000, std::chrono::seconds(30), reason), nullptr);
    EXPECT_EQ(reason, "not_yet_valid");
    cache.insert("token-d", v);
    cache.insert("token-e", v);
    EXPECT_EQ(cache.size(), 2u);  // bounded
}

TEST(Jwt, JwksUrlConfigErrors) {
    auto env = config::process_env();
    auto errors_of = [&](const std::string& yaml) {
        config::reader r("t.yaml", env);
        auto f = find_filter_type("jwt")->parse(r, YAML::Load(yaml), "filters.jwt");
        EXPECT_FALSE(f) << yaml;
        std::string all;
        for (const auto& e : r.errors) all += e.to_string() + "\n";
        return all;
    };
    auto all = errors_of("type: jwt\njwks: { url: \"http://idp.test/jwks.json\" }\n");
    EXPECT_NE(all.find("filters.jwt.jwks.url: \"http://idp.test/jwks.json\": must be an https URL"), std::string::npos)
        << all;
    all = errors_of("type: jwt\njwks: { url: \"https://user:pw@idp.test/jwks.json\" }\n");
    EXPECT_NE(all.find("without user, password or fragment"), std::string::npos) << all;
    all = errors_of("type: jwt\njwks: { url: \"not a url\" }\n");
    EXPECT_NE(all.find("filters.jwt.jwks.url: \"not a url\": not an absolute URL"), std::string::npos) << all;
    all = errors_of(
        "type: jwt\njwks: { ca_file: /nonexistent/ca.pem, cache_duration: 10ms, timeout: soon, refresh: 1s }\n");
    EXPECT_NE(all.find("filters.jwt.jwks.url: missing required key \"url\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.jwt.jwks.ca_file: cannot read \"/nonexistent/ca.pem\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.jwt.jwks.cache_duration: must be at least 1s"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.jwt.jwks.timeout: invalid duration"), std::string::npos) << all;
    EXPECT_NE(all.find("filters.jwt.jwks.refresh: unknown key"), std::string::npos) << all;
    all = errors_of("type: jwt\nissuer: x\n");
    EXPECT_NE(all.find("filters.jwt: no keys: set keys, jwks_file or jwks.url"), std::string::npos) << all;
}

TEST(Jwt, JwksUrlsAndCacheControl) {
    jwt::jwks_source s;
    std::string error;
    ASSERT_TRUE(jwt::parse_jwks_url("https://idp.test:8443/realms/a/protocol/openid-connect/certs?x=1", s, error))
        << error;
    EXPECT_EQ(s.host, "idp.test");
    EXPECT_EQ(s.port, "8443");
    EXPECT_EQ(s.target, "/realms/a/protocol/openid-connect/certs?x=1");
    ASSERT_TRUE(jwt::parse_jwks_url("https://[::1]/jwks", s, error)) << error;
    EXPECT_EQ(s.host, "::1");
    EXPECT_EQ(s.port, "443");
    EXPECT_EQ(jwt::cache_control_max_age("public, max-age=300, must-revalidate"), std::chrono::seconds(300));
    EXPECT_EQ(jwt::cache_control_max_age("s-maxage=10, max-age=60"), std::chrono::seconds(60));
    EXPECT_EQ(jwt::cache_control_max_age("no-cache"), std::nullopt);
    EXPECT_EQ(jwt::cache_control_max_age("s-max-age=9"), std::nullopt);
}

TEST(Jwt, JwksDocumentsKeepTheUsableKeys) {
    std::string error;
    std::vector<std::string> skipped;
    auto keys = jwt::parse_jwks(
        R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},)"
        R"({"kty":"XYZ","kid":"b"}, 7,)"
        R"({"kty":"oct","kid":"c","alg":"HS256","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]})",
        error, skipped);
    EXPECT_TRUE(error.empty()) << error;
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0]->kid(), "a");
    ASSERT_EQ(skipped.size(), 3u);
    // A key set at a URL is public: a shared secret in it is not a key anyone should trust.
    EXPECT_EQ(skipped[2], "key 3: symmetric (oct) keys are not accepted from a JWKS URL");
    skipped.clear();
    EXPECT_TRUE(jwt::parse_jwks("{\"keys\": []}", error, skipped).empty());
    EXPECT_EQ(error, "no usable key in the document");
    EXPECT_TRUE(jwt::parse_jwks("<html>", error, skipped).empty());
    EXPECT_EQ(error, "not a JWKS document ({\"keys\": [...]})");
}

TEST(Jwt, JwksUrlIsDescribedWithoutFetching) {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    // What /config shows; the set is empty until a worker starts the fetcher.
    auto f = find_filter_type("jwt")->parse(
        r, YAML::Load("type: jwt\njwks: { url: \"https://idp.invalid/certs\", refetch_interval: 10s }\n"),
        "filters.auth");
    ASSERT_TRUE(f) << (r.errors.empty() ? "" : r.errors.front().to_string());
    auto text = boost::json::serialize(f->describe());
    EXPECT_NE(text.find("\"url\":\"https://idp.invalid/certs\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"refetch_interval_ms\":10000"), std::string::npos) << text;
    EXPECT_NE(text.find("\"current_keys\":[]"), std::string::npos) << text;
}
