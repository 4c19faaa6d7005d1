// A token's verification: header, algorithm and key, signature, time and claims; and the
// per-worker cache of recent successes.
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "gatehouse/http/field_rules.hpp"
#include "jwt.hpp"

namespace gatehouse::filters::jwt {

namespace json = boost::json;

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

namespace {

// The header's alg and kid; the reason to refuse the token, or nullptr.
const char* read_header(const json::object& header, std::string& alg, std::string& kid) {
    auto alg_it = header.find("alg");
    if (alg_it == header.end() || !alg_it->value().is_string()) return "malformed_token";
    alg = alg_it->value().as_string();
    if (!known_alg(alg)) return "alg_not_allowed";  // "none", "None", "NONE", anything unknown
    // The token never chooses where keys come from, nor extensions we would have to understand.
    for (std::string_view forbidden : {"jku", "x5u", "jwk", "x5c", "crit"}) {
        if (header.contains(forbidden)) return "forbidden_header";
    }
    if (auto it = header.find("kid"); it != header.end()) {
        if (!it->value().is_string()) return "malformed_token";
        kid = it->value().as_string();
    }
    return nullptr;
}

// Verifies the signature with the keys bound to alg (and kid when given); nullptr when one does.
const char* check_signature(const std::vector<std::shared_ptr<key>>& keys, const std::string& alg,
                            const std::string& kid, std::string_view signing_input, std::string_view signature) {
    bool any_for_alg = false;
    for (const auto& k : keys) {
        if (!kid.empty() && k->kid() != kid) continue;
        if (!k->allows(alg)) continue;
        any_for_alg = true;
        if (k->verify(alg, signing_input, signature)) return nullptr;
    }
    if (any_for_alg) return "bad_signature";
    bool kid_known = !kid.empty() && std::any_of(keys.begin(), keys.end(), [&](auto& k) { return k->kid() == kid; });
    return !kid.empty() && !kid_known ? "unknown_kid" : "alg_not_allowed";
}

bool audience_matches(const settings& s, const json::object& payload) {
    auto it = payload.find("aud");
    if (it == payload.end()) return false;
    auto listed = [&](const json::value& v) {
        return v.is_string() &&
               std::find(s.audiences.begin(), s.audiences.end(), std::string(v.as_string())) != s.audiences.end();
    };
    if (!it->value().is_array()) return listed(it->value());
    const auto& all = it->value().as_array();
    return std::any_of(all.begin(), all.end(), listed);
}

// exp and nbf (with leeway), iss, aud and the required claims; nullptr when they hold.
const char* check_claims(const settings& s, const json::object& payload, verdict& v) {
    const std::int64_t now =
        s.now ? s.now()
              : std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                    .count();
    bool malformed = false;
    v.exp = number_claim(payload, "exp", malformed);
    v.nbf = number_claim(payload, "nbf", malformed);
    if (malformed) return "malformed_token";
    if (!v.exp && s.require_exp) return "missing_exp";
    if (v.exp && now - s.leeway.count() >= *v.exp) return "expired";
    if (v.nbf && now + s.leeway.count() < *v.nbf) return "not_yet_valid";
    if (!s.issuers.empty()) {
        auto iss = string_member(payload, "iss");
        if (std::find(s.issuers.begin(), s.issuers.end(), iss) == s.issuers.end()) return "wrong_issuer";
    }
    if (!s.audiences.empty() && !audience_matches(s, payload)) return "wrong_audience";
    for (const auto& claim : s.required_claims) {
        if (!payload.contains(claim)) return "missing_claim";
    }
    return nullptr;
}

}  // namespace

verdict verify_token(const settings& s, std::string_view token, const std::vector<std::shared_ptr<key>>* key_set) {
    if (token.size() > s.max_token_bytes) return refuse("token_too_large");
    auto dot1 = token.find('.');
    auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
        return refuse("malformed_token");
    }
    auto header = decode_json_part(token.substr(0, dot1));
    if (!header) return refuse("malformed_token");
    std::string alg;
    std::string kid;
    if (const char* why = read_header(*header, alg, kid)) return refuse(why);
    auto signature = base64url_decode(token.substr(dot2 + 1));
    if (!signature) return refuse("malformed_token");
    if (const char* why = check_signature(key_set ? *key_set : s.keys, alg, kid, token.substr(0, dot2), *signature)) {
        return refuse(why);
    }
    auto payload = decode_json_part(token.substr(dot1 + 1, dot2 - dot1 - 1));
    if (!payload) return refuse("malformed_token");
    verdict v;
    if (const char* why = check_claims(s, *payload, v)) return refuse(why);
    v.ok = true;
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

}  // namespace gatehouse::filters::jwt
