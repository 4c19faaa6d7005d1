#include "api_key.hpp"

#include <set>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::api_key {

digest sha256(std::string_view text) {
    digest d{};
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d.data());
    return d;
}

bool parse_key_list(std::string_view text, std::vector<std::pair<std::string, std::string>>& out, std::string& error) {
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\n')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\n')) item.remove_suffix(1);
        if (item.empty()) {
            continue;
        }
        auto colon = item.find(':');
        if (colon == std::string_view::npos || colon == 0 || colon + 1 == item.size()) {
            error = "expected consumer:key pairs separated by commas";
            return false;
        }
        out.emplace_back(std::string(item.substr(0, colon)), std::string(item.substr(colon + 1)));
    }
    return true;
}

std::string strip_query_parameter(std::string_view target, std::string_view name) {
    auto q = target.find('?');
    if (q == std::string_view::npos) {
        return std::string(target);
    }
    std::string out(target.substr(0, q));
    std::string query;
    auto rest = target.substr(q + 1);
    while (true) {
        auto amp = rest.find('&');
        auto part = rest.substr(0, amp);
        auto key = part.substr(0, part.find('='));
        if (key != name) {
            if (!query.empty()) query += '&';
            query += part;
        }
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
    }
    if (!query.empty()) {
        out += '?';
        out += query;
    }
    return out;
}

namespace {

// The value of query parameter name in target (raw, not percent-decoded), or nullopt.
std::optional<std::string_view> query_parameter(std::string_view target, std::string_view name) {
    auto q = target.find('?');
    if (q == std::string_view::npos) {
        return std::nullopt;
    }
    auto rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto part = rest.substr(0, amp);
        auto eq = part.find('=');
        if (part.substr(0, eq) == name && eq != std::string_view::npos) {
            return part.substr(eq + 1);
        }
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
    }
    return std::nullopt;
}

// SHA-256 through one prefetched algorithm and a context reused by this worker: OpenSSL 3's
// one-shot SHA256() looks the algorithm up on every call, under a read-write lock.
class sha256_hasher {
public:
    sha256_hasher() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx_(EVP_MD_CTX_new()) {}
    ~sha256_hasher() {
        EVP_MD_CTX_free(ctx_);
        EVP_MD_free(md_);
    }
    sha256_hasher(const sha256_hasher&) = delete;
    sha256_hasher& operator=(const sha256_hasher&) = delete;

    digest operator()(std::string_view text) {
        digest d{};
        unsigned int size = 0;
        if (!md_ || !ctx_ || EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1 ||
            EVP_DigestUpdate(ctx_, text.data(), text.size()) != 1 || EVP_DigestFinal_ex(ctx_, d.data(), &size) != 1) {
            return sha256(text);
        }
        return d;
    }

private:
    EVP_MD* md_;
    EVP_MD_CTX* ctx_;
};

class api_key_filter final : public filter {
public:
    explicit api_key_filter(const settings& s) : settings_(s) {}

    filter_status on_request(request_context& ctx) override {
        std::optional<std::string_view> presented;
        bool from_query = false;
        if (!settings_.header.empty()) {
            if (ctx.header_count(settings_.header) > 1) {
                // Which one would the upstream read? Not necessarily the one checked here.
                return refuse(ctx, 400, "duplicate_key", "more than one " + settings_.header + " field");
            }
            presented = ctx.header(settings_.header);
        }
        if (!presented && settings_.query) {
            presented = query_parameter(ctx.target, *settings_.query);
            from_query = presented.has_value();
        }
        if (!presented || presented->empty()) {
            return refuse(ctx, 401, "missing_key", "an API key is required");
        }
        auto d = hash_(*presented);
        const std::string* consumer = nullptr;
        for (const auto& [stored, name] : settings_.keys) {
            // Every stored digest is compared, whatever matched: constant time in the key.
            if (CRYPTO_memcmp(stored.data(), d.data(), d.size()) == 0) {
                consumer = &name;
            }
        }
        if (!consumer) {
            return refuse(ctx, 401, "invalid_key", "the API key is not valid");
        }
        ctx.consumer = *consumer;  // also on a 403: the log says who was refused
        if (!settings_.allow.empty() &&
            std::find(settings_.allow.begin(), settings_.allow.end(), *consumer) == settings_.allow.end()) {
            return refuse(ctx, 403, "consumer_not_allowed", "this API key may not use this route");
        }
        if (settings_.strip) {
            if (!settings_.header.empty()) {
                ctx.upstream_edits.remove(settings_.header);
            }
            if (from_query || (settings_.query && query_parameter(ctx.target, *settings_.query))) {
                auto base = ctx.upstream_target ? std::string_view(*ctx.upstream_target) : ctx.target;
                ctx.upstream_target.emplace(strip_query_parameter(base, *settings_.query),
                                            ctx.request_id.get_allocator());
            }
        }
        if (settings_.consumer_header) {
            ctx.upstream_edits.set(*settings_.consumer_header, *consumer);
        }
        return filter_status::proceed;
    }

private:
    filter_status refuse(request_context& ctx, unsigned status, std::string_view reason, std::string message) const {
        ctx.reply = http::local_reply{status, reason, std::move(message)};
        if (status == 401) {
            std::string challenge = "ApiKey realm=\"gatehouse\"";
            if (!settings_.header.empty()) {
                challenge += ", header=\"" + settings_.header + "\"";
            }
            ctx.reply->headers.emplace_back("WWW-Authenticate", std::move(challenge));
        }
        ctx.answer_reason = reason;
        return filter_status::respond;
    }

    const settings& settings_;
    sha256_hasher hash_;
};

class api_key_factory final : public filter_factory {
public:
    explicit api_key_factory(settings s) : settings_(std::move(s)) {}
    std::unique_ptr<filter> create(worker_services&) const override {
        return std::make_unique<api_key_filter>(settings_);
    }
    std::vector<std::string> identity_fields() const override {
        return settings_.consumer_header ? std::vector<std::string>{*settings_.consumer_header}
                                         : std::vector<std::string>{};
    }

    bool runs_offline() const override { return true; }
    boost::json::object describe() const override {
        boost::json::array consumers;
        std::set<std::string> seen;
        for (const auto& [d, name] : settings_.keys) {
            if (seen.insert(name).second) consumers.emplace_back(name);
        }
        boost::json::array allow;
        for (const auto& a : settings_.allow) allow.emplace_back(a);
        boost::json::array sources;
        for (const auto& s : settings_.sources) sources.emplace_back(s);
        boost::json::object o{{"type", "api_key"},
                              {"header", settings_.header},
                              {"keys", "<redacted>"},
                              {"key_count", settings_.keys.size()},
                              {"key_sources", std::move(sources)},
                              {"consumers", std::move(consumers)},
                              {"allow", std::move(allow)},
                              {"strip", settings_.strip}};
        if (settings_.query) o["query"] = *settings_.query;
        if (settings_.consumer_header) o["consumer_header"] = *settings_.consumer_header;
        return o;
    }

private:
    settings settings_;
};

bool valid_consumer(std::string_view name) {
    return !name.empty() && name.size() <= 128 && http::valid_token(name);
}

config::schema::ref key_entry_schema() {
    namespace sc = config::schema;
    static const auto s = sc::object("api_key_entry", "A consumer and its key",
                                     {{"consumer", sc::string(), "the consumer's name", true},
                                      {"key", sc::string(), "at least 8 characters; use ${ENV}", true}});
    return s;
}

using key_entries = std::vector<std::pair<std::string, std::string>>;  // consumer, key

// A list of { consumer, key }, from the config or from keys_file.
void read_entries(config::reader& r, const YAML::Node& list, const std::string& p, const std::string& source,
                  key_entries& keys, std::vector<std::string>& sources) {
    if (!list.IsSequence()) {
        r.error(list, p, "expected a list of { consumer: NAME, key: KEY }");
        return;
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
        auto ip = config::reader::index(p, i);
        if (!r.expect_map(list[i], ip, *key_entry_schema())) continue;
        auto consumer =
            list[i]["consumer"].IsDefined() ? r.string(list[i]["consumer"], ip + ".consumer") : std::nullopt;
        auto key = list[i]["key"].IsDefined() ? r.string(list[i]["key"], ip + ".key") : std::nullopt;
        if (!list[i]["consumer"].IsDefined()) r.error(list[i], ip + ".consumer", "missing required key \"consumer\"");
        if (!list[i]["key"].IsDefined()) r.error(list[i], ip + ".key", "missing required key \"key\"");
        if (consumer && !valid_consumer(*consumer)) {
            r.error(list[i]["consumer"], ip + ".consumer", "invalid consumer name (letters, digits, '-', '_', '.')");
        }
        if (key && key->size() < 8) {
            r.error(list[i]["key"], ip + ".key", "a key must have at least 8 characters");  // never echo it
        }
        if (consumer && key) keys.emplace_back(*consumer, *key);
    }
    sources.push_back(source);
}

void read_keys_file(config::reader& r, const YAML::Node& n, const std::string& where, key_entries& keys,
                    std::vector<std::string>& sources) {
    if (auto file = r.string(n, where)) {
        try {
            auto loaded = YAML::LoadFile(*file);
            auto list = loaded.IsMap() ? loaded["keys"] : loaded;
            if (!list.IsSequence()) {
                r.error(n, where, "\"" + *file + "\" must hold a list of { consumer, key } (or keys: [...])");
            } else {
                read_entries(r, list, where + "(" + *file + ")", "file " + *file, keys, sources);
            }
        } catch (const YAML::Exception& e) {
            r.error(n, where, "cannot read \"" + *file + "\": " + e.msg);
        }
    }
}

void read_keys_env(config::reader& r, const YAML::Node& n, const std::string& where, key_entries& keys,
                   std::vector<std::string>& sources) {
    if (auto var = r.string(n, where)) {
        const char* value = std::getenv(var->c_str());
        std::string error;
        std::vector<std::pair<std::string, std::string>> env_keys;
        if (!value) {
            r.error(n, where, "environment variable " + *var + " is not set");
        } else if (!parse_key_list(value, env_keys, error)) {
            r.error(n, where, "environment variable " + *var + ": " + error);
        } else {
            for (auto& [consumer, key] : env_keys) {
                if (!valid_consumer(consumer)) {
                    r.error(n, where, "environment variable " + *var + ": invalid consumer name \"" + consumer + "\"");
                } else if (key.size() < 8) {
                    r.error(n, where,
                            "environment variable " + *var + ": the key of \"" + consumer +
                                "\" is shorter than 8 characters");
                } else {
                    keys.emplace_back(consumer, key);
                }
            }
            sources.push_back("env " + *var);
        }
    }
}

}  // namespace

config::schema::ref schema() {
    namespace sc = config::schema;
    static const auto s = sc::object(
        "filter_api_key", "Requires a known API key; names the consumer",
        {{"type", sc::constant("api_key"), {}, true},
         {"header", sc::any_of({sc::string(), sc::null()}), "the field holding the key (default X-Api-Key; ~: none)"},
         {"query", sc::string(), "also accept the key in this query parameter"},
         {"keys", sc::list(key_entry_schema()), "consumers and their keys"},
         {"keys_file", sc::string(), "a YAML file with such a list"},
         {"keys_env", sc::string(), "an environment variable holding consumer:key,consumer:key"},
         {"allow", sc::strings(), "consumers allowed through this instance (default all)"},
         {"strip", sc::boolean(), "remove the key before forwarding (default true)"},
         {"consumer_header", sc::string(), "send the consumer's name upstream in this field"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    key_entries keys;
    if (auto n = node["header"]; n.IsDefined()) {
        if (n.IsNull()) {
            s.header.clear();
        } else if (auto h = r.string(n, path + ".header")) {
            if (!http::valid_token(*h)) r.error(n, path + ".header", "invalid header name \"" + *h + "\"");
            s.header = *h;
        }
    }
    if (auto n = node["query"]; n.IsDefined() && !n.IsNull()) {
        if (auto q = r.string(n, path + ".query")) {
            if (q->empty() || q->find_first_of("&=?# ") != std::string::npos) {
                r.error(n, path + ".query", "invalid query parameter name \"" + *q + "\"");
            }
            s.query = *q;
        }
    }
    if (s.header.empty() && !s.query) {
        r.error(node, path, "set a header or a query parameter to look for the key in");
    }
    if (auto n = node["keys"]; n.IsDefined()) read_entries(r, n, path + ".keys", "inline", keys, s.sources);
    if (auto n = node["keys_file"]; n.IsDefined()) read_keys_file(r, n, path + ".keys_file", keys, s.sources);
    if (auto n = node["keys_env"]; n.IsDefined()) read_keys_env(r, n, path + ".keys_env", keys, s.sources);
    if (keys.empty() && r.errors.size() == before) {
        r.error(node, path, "no keys: set keys, keys_file or keys_env");
    }
    std::set<std::string> digests;
    for (auto& [consumer, key] : keys) {
        auto d = sha256(key);
        if (!digests.insert(std::string(d.begin(), d.end())).second) {
            r.error(node, path, "two entries have the same key (consumer \"" + consumer + "\")");
        }
        s.keys.emplace_back(d, consumer);
    }
    if (auto n = node["allow"]; n.IsDefined()) {
        for (auto& [an, name] : r.string_list(n, path + ".allow")) {
            bool known = std::any_of(keys.begin(), keys.end(), [&name = name](auto& k) { return k.first == name; });
            if (!known) {
                r.error(an, path + ".allow", "unknown consumer \"" + name + "\"");
            }
            s.allow.push_back(name);
        }
    }
    r.optional_field(node, "strip", path, s.strip,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    if (auto n = node["consumer_header"]; n.IsDefined()) {
        if (auto h = r.string(n, path + ".consumer_header")) {
            if (!http::valid_token(*h)) r.error(n, path + ".consumer_header", "invalid header name \"" + *h + "\"");
            s.consumer_header = *h;
        }
    }
    if (r.errors.size() != before) {
        return nullptr;
    }
    return std::make_shared<api_key_factory>(std::move(s));
}

}  // namespace gatehouse::filters::api_key
