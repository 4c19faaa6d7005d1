// The jwt filter's configuration: keys, JWKS source, claims, and their checks with file:line.
#include <fstream>
#include <sstream>

#include <boost/asio/ssl/context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "jwt.hpp"

namespace gatehouse::filters::jwt {

namespace json = boost::json;

namespace {

std::optional<std::string> read_whole_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

namespace sc = config::schema;

sc::ref key_schema() {
    static const auto s =
        sc::object("jwt_key", "A key tokens are verified with: a secret (HS*) or a public key (RS*, PS*, ES*, EdDSA)",
                   {{"kid", sc::string(), "the kid tokens name it by"},
                    {"alg", sc::string(), "HS256, RS256, ES256, EdDSA, ...", true},
                    {"secret", sc::string(), "HMAC secret, at least 32 bytes; use ${ENV}"},
                    {"pem", sc::string(), "a PEM public key or certificate"},
                    {"pem_file", sc::string(), "a file holding one"}});
    return s;
}

sc::ref jwks_schema() {
    static const auto s =
        sc::object("jwt_jwks", "Keys fetched from the identity provider",
                   {{"url", sc::string(), "https:// URL of the JWKS", true},
                    {"ca_file", sc::string(), "CAs to trust instead of the system's"},
                    {"cache_duration", sc::duration(), "freshness without Cache-Control max-age (default 10m)"},
                    {"refetch_interval", sc::duration(), "an unknown kid refetches at most this often (default 30s)"},
                    {"timeout", sc::duration(), "for one whole fetch (default 5s)"}});
    return s;
}

// One entry of keys: a secret for an HS algorithm, a PEM public key for the others.
void read_key(config::reader& r, const YAML::Node& entry, const std::string& kp,
              std::vector<std::shared_ptr<key>>& out) {
    if (!r.expect_map(entry, kp, *key_schema())) return;
    std::string kid;
    if (auto n = entry["kid"]; n.IsDefined()) kid = r.string(n, kp + ".kid").value_or("");
    auto alg_node = entry["alg"];
    if (!alg_node.IsDefined()) {
        r.error(entry, kp + ".alg", "missing required key \"alg\" (each key is bound to one algorithm)");
        return;
    }
    auto alg = r.string(alg_node, kp + ".alg");
    if (!alg) return;
    if (!known_alg(*alg)) {
        r.error(
            alg_node, kp + ".alg",
            "unsupported algorithm \"" + *alg + "\" (HS256/384/512, RS256/384/512, PS256/384/512, ES256/384, EdDSA)");
        return;
    }
    int sources = entry["secret"].IsDefined() + entry["pem"].IsDefined() + entry["pem_file"].IsDefined();
    if (sources != 1) {
        r.error(entry, kp, "give exactly one of secret, pem and pem_file");
        return;
    }
    if (alg->starts_with("HS")) {
        if (!entry["secret"].IsDefined()) {
            r.error(entry, kp, *alg + " needs a secret, not a public key");
            return;
        }
        auto secret = r.string(entry["secret"], kp + ".secret");
        if (secret && secret->size() < 32) {
            r.error(entry["secret"], kp + ".secret", "an HMAC secret must have at least 32 bytes");
        } else if (secret) {
            out.push_back(key::secret(kid, *alg, *secret));
        }
        return;
    }
    if (entry["secret"].IsDefined()) {
        r.error(entry["secret"], kp + ".secret", *alg + " verifies with a public key (pem or pem_file), not a secret");
        return;
    }
    std::optional<std::string> pem;
    std::string where = kp + (entry["pem"].IsDefined() ? ".pem" : ".pem_file");
    if (entry["pem"].IsDefined()) {
        pem = r.string(entry["pem"], where);
    } else if (auto file = r.string(entry["pem_file"], where)) {
        pem = read_whole_file(*file);
        if (!pem) r.error(entry["pem_file"], where, "cannot read \"" + *file + "\"");
    }
    if (!pem) return;
    std::string error;
    if (auto k = key::pem(kid, *alg, *pem, error)) {
        out.push_back(std::move(k));
    } else {
        r.error(entry[entry["pem"].IsDefined() ? "pem" : "pem_file"], where, error);
    }
}

void read_keys(config::reader& r, const YAML::Node& keys, const std::string& path,
               std::vector<std::shared_ptr<key>>& out) {
    if (!keys.IsSequence()) {
        r.error(keys, path, "expected a list of { kid, alg, secret | pem | pem_file }");
        return;
    }
    for (std::size_t i = 0; i < keys.size(); ++i) read_key(r, keys[i], config::reader::index(path, i), out);
}

void read_jwks_file(config::reader& r, const YAML::Node& n, const std::string& where,
                    std::vector<std::shared_ptr<key>>& out) {
    if (auto file = r.string(n, where)) {
        auto text = read_whole_file(*file);
        boost::system::error_code ec;
        json::value doc;
        if (!text) {
            r.error(n, where, "cannot read \"" + *file + "\"");
        } else if (doc = json::parse(*text, ec);
                   ec || !doc.is_object() || !doc.as_object().contains("keys") || !doc.as_object()["keys"].is_array()) {
            r.error(n, where, "\"" + *file + "\" is not a JWKS document ({\"keys\": [...]})");
        } else {
            std::size_t index = 0;
            for (const auto& jwk : doc.as_object()["keys"].as_array()) {
                std::string error;
                std::shared_ptr<key> k = jwk.is_object() ? key::jwk(jwk.as_object(), error) : nullptr;
                if (!jwk.is_object()) error = "not an object";
                if (k) {
                    out.push_back(std::move(k));
                } else {
                    r.error(n, where, "\"" + *file + "\" key " + std::to_string(index) + ": " + error);
                }
                ++index;
            }
        }
    }
}

void read_jwks_source(config::reader& r, const YAML::Node& n, const std::string& jp, std::optional<jwks_source>& out) {
    if (r.expect_map(n, jp, *jwks_schema())) {
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
                    if (ec) r.error(c, jp + ".ca_file", "\"" + *file + "\" holds no PEM certificate: " + ec.message());
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
        out = std::move(src);
    }
}

void read_claims_to_headers(config::reader& r, const YAML::Node& n, const std::string& path, settings& s) {
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

}  // namespace

config::schema::ref schema() {
    static const auto s =
        sc::object("filter_jwt", "Requires a valid JSON Web Token (Authorization: Bearer)",
                   {{"type", sc::constant("jwt"), {}, true},
                    {"keys", sc::list(key_schema()), {}},
                    {"jwks_file", sc::string(), "a JWKS document on disk"},
                    {"jwks", jwks_schema(), {}},
                    {"issuer", sc::strings(), "iss must be one of these"},
                    {"audience", sc::strings(), "aud must contain one of these"},
                    {"leeway", sc::duration(), "clock skew allowed for exp and nbf (default 30s)"},
                    {"required_claims", sc::strings(), "claims that must be present"},
                    {"claims_to_headers", sc::map(sc::string()), "claim: Header-Name, sent upstream"},
                    {"consumer_claim", sc::string(), "the claim that names the consumer, e.g. sub"},
                    {"strip_authorization", sc::boolean(), "do not forward the token (default false)"},
                    {"max_token_bytes", sc::size(), "longer tokens are refused unparsed (default 8KiB)"},
                    {"cache_size", sc::integer(0, 1'000'000), "verified tokens each worker remembers (default 4096)"},
                    {"require_exp", sc::boolean(), "refuse tokens without exp (default true)"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    s.instance = path.substr(path.rfind('.') + 1);
    if (auto keys = node["keys"]; keys.IsDefined()) read_keys(r, keys, path + ".keys", s.keys);
    if (auto n = node["jwks_file"]; n.IsDefined()) read_jwks_file(r, n, path + ".jwks_file", s.keys);
    if (auto n = node["jwks"]; n.IsDefined()) read_jwks_source(r, n, path + ".jwks", s.jwks);
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
    if (auto n = node["claims_to_headers"]; n.IsDefined()) read_claims_to_headers(r, n, path, s);
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
    return make_factory(std::move(s));
}

}  // namespace gatehouse::filters::jwt