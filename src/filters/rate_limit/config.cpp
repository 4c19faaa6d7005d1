// The rate_limit filter's configuration, checked with file:line.
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "rate_limit.hpp"

namespace gatehouse::filters::rate_limit {

namespace {

namespace sc = config::schema;

sc::ref redis_schema() {
    static const auto s = sc::object(
        "rate_limit_redis", "The Redis server that holds the buckets",
        {{"address", sc::string(), "host:port", true},
         {"username", sc::string(), "for AUTH (Redis 6 ACL users)"},
         {"password", sc::string(), "for AUTH; use ${ENV}"},
         {"database", sc::integer(0, 10'000), "SELECTed on every connection (default 0)"},
         {"connections", sc::integer(1, 64), "per worker, pipelined (default 2)"},
         {"timeout", sc::duration(), "per command (default 100ms)"},
         {"connect_timeout", sc::duration(), "default 1s"},
         {"max_backoff", sc::duration(), "reconnect attempts back off up to this (default 5s)"},
         {"key_prefix", sc::string(), "default gatehouse:rl:"},
         {"log_interval", sc::duration(), "one warning per interval while Redis cannot answer (default 10s)"}});
    return s;
}

sc::ref limit_schema() {
    static const auto s = sc::object("rate_limit_limit", "rate requests per per, burst at once",
                                     {{"name", sc::string(), "names the limit in headers and Redis keys"},
                                      {"rate", sc::integer(1, 1'000'000'000), {}, true},
                                      {"per", sc::duration(), {}, true},
                                      {"burst", sc::integer(1, 1'000'000'000), "default rate"}});
    return s;
}

void parse_redis(config::reader& r, const YAML::Node& node, const std::string& path, redis_settings& out) {
    if (!r.expect_map(node, path, *redis_schema())) {
        return;
    }
    auto& c = out.connection;
    if (auto n = node["address"]; !n.IsDefined()) {
        r.error(node, path + ".address", "missing required key \"address\" (host:port of the Redis server)");
    } else if (auto a = r.address(n, path + ".address", false)) {
        c.host = a->host;
        c.port = std::to_string(a->port);
    }
    r.optional_field(node, "username", path, c.username,
                     [&](const YAML::Node& n, const std::string& p) { return r.string(n, p); });
    r.optional_field(node, "password", path, c.password,
                     [&](const YAML::Node& n, const std::string& p) { return r.string(n, p); });
    auto as_unsigned = [](std::optional<std::uint64_t> v) {
        return v ? std::optional<unsigned>(static_cast<unsigned>(*v)) : std::nullopt;
    };
    r.optional_field(node, "database", path, c.database, [&](const YAML::Node& n, const std::string& p) {
        return as_unsigned(r.unsigned_int(n, p, 0, 10'000));
    });
    r.optional_field(node, "connections", path, c.connections, [&](const YAML::Node& n, const std::string& p) {
        return as_unsigned(r.unsigned_int(n, p, 1, 64));
    });
    r.optional_field(node, "timeout", path, c.timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "connect_timeout", path, c.connect_timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "max_backoff", path, c.max_backoff,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    r.optional_field(node, "key_prefix", path, out.key_prefix,
                     [&](const YAML::Node& n, const std::string& p) { return r.string(n, p); });
    r.optional_field(node, "log_interval", path, out.log_interval,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
}

void read_key(config::reader& r, const YAML::Node& n, const std::string& where,
              std::vector<std::pair<key_part, std::string>>& key) {
    key.clear();
    for (auto& [kn, text] : r.string_list(n, where)) {
        if (text == "client_ip") {
            key.emplace_back(key_part::client_ip, "");
        } else if (text == "consumer") {
            key.emplace_back(key_part::consumer, "");
        } else if (text == "route") {
            key.emplace_back(key_part::route, "");
        } else if (text.starts_with("header:") && http::valid_token(text.substr(7))) {
            key.emplace_back(key_part::header, text.substr(7));
        } else {
            r.error(kn, where, "unknown key \"" + text + "\" (client_ip, consumer, route, header:NAME)");
        }
    }
}

// One entry of limits (index i, for its default name).
void read_limit(config::reader& r, const YAML::Node& entry, const std::string& lp, std::size_t i, settings& s) {
    if (!r.expect_map(entry, lp, *limit_schema())) return;
    limit l;
    l.name = "limit" + std::to_string(i + 1);
    if (auto n = entry["name"]; n.IsDefined()) {
        if (auto v = r.string(n, lp + ".name")) {
            if (!http::valid_token(*v)) r.error(n, lp + ".name", "invalid name \"" + *v + "\"");
            l.name = *v;
        }
    }
    if (auto n = entry["rate"]; !n.IsDefined()) {
        r.error(entry, lp + ".rate", "missing required key \"rate\"");
    } else if (auto v = r.unsigned_int(n, lp + ".rate", 1, 1'000'000'000)) {
        l.rate = *v;
    }
    if (auto n = entry["per"]; !n.IsDefined()) {
        r.error(entry, lp + ".per", "missing required key \"per\"");
    } else if (auto v = r.time(n, lp + ".per")) {
        l.per = *v;
    }
    l.burst = l.rate;
    if (auto n = entry["burst"]; n.IsDefined()) {
        if (auto v = r.unsigned_int(n, lp + ".burst", 1, 1'000'000'000)) l.burst = *v;
    }
    if (l.rate > 0 && l.per.count() > 0 && l.interval().count() == 0) {
        r.error(entry, lp, "rate is too high for the window (more than one request per nanosecond)");
    } else if (s.backend == backend_kind::redis && l.rate > 0 && l.interval() < std::chrono::microseconds(1)) {
        r.error(entry, lp, "rate is too high for the redis backend (more than one request per microsecond)");
    }
    s.limits.push_back(l);
}

void read_limits(config::reader& r, const YAML::Node& node, const std::string& path, settings& s) {
    auto limits = node["limits"];
    if (!limits.IsDefined()) {
        r.error(node, path + ".limits", "missing required key \"limits\"");
    } else if (!limits.IsSequence() || limits.size() == 0 || limits.size() > 8) {
        r.error(limits, path + ".limits", "expected a list of 1 to 8 limits like { rate: 10, per: 1s, burst: 20 }");
    } else {
        for (std::size_t i = 0; i < limits.size(); ++i) {
            read_limit(r, limits[i], config::reader::index(path + ".limits", i), i, s);
        }
    }
}

}  // namespace

config::schema::ref schema() {
    static const auto s = sc::object(
        "filter_rate_limit", "Token buckets per client, consumer, route or header",
        {{"type", sc::constant("rate_limit"), {}, true},
         {"key", sc::strings(), "client_ip (default), consumer, route, header:NAME"},
         {"limits", sc::list(limit_schema()), "1 to 8 limits", true},
         {"backend", sc::words({"local", "redis"}), "default local"},
         {"max_keys", sc::integer(16, 100'000'000), "the local table's size (default 100000)"},
         {"headers", sc::boolean(), "send RateLimit-Policy and RateLimit (default true)"},
         {"redis", redis_schema(), {}},
         {"on_backend_error", sc::words({"allow", "deny", "local"}), "while Redis cannot answer (default local)"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    s.instance = path.substr(path.rfind('.') + 1);
    if (auto n = node["backend"]; n.IsDefined()) {
        if (auto b = r.string(n, path + ".backend")) {
            if (*b == "redis") {
                s.backend = backend_kind::redis;
            } else if (*b != "local") {
                r.error(n, path + ".backend", "unknown backend \"" + *b + "\" (local, redis)");
            }
        }
    }
    if (auto n = node["redis"]; n.IsDefined()) {
        if (s.backend != backend_kind::redis) {
            r.error(n, path + ".redis", "redis settings need backend: redis");
        } else {
            parse_redis(r, n, path + ".redis", s.redis);
        }
    } else if (s.backend == backend_kind::redis) {
        r.error(node, path + ".redis", "missing required key \"redis\" (backend: redis needs at least redis.address)");
    }
    if (auto n = node["on_backend_error"]; n.IsDefined()) {
        if (s.backend != backend_kind::redis) {
            r.error(n, path + ".on_backend_error", "on_backend_error needs backend: redis");
        } else if (auto v = r.string(n, path + ".on_backend_error")) {
            if (*v == "allow") {
                s.on_backend_error = backend_error_policy::allow;
            } else if (*v == "deny") {
                s.on_backend_error = backend_error_policy::deny;
            } else if (*v == "local") {
                s.on_backend_error = backend_error_policy::local;
            } else {
                r.error(n, path + ".on_backend_error", "unknown value \"" + *v + "\" (allow, deny, local)");
            }
        }
    }
    if (auto n = node["key"]; n.IsDefined()) read_key(r, n, path + ".key", s.key);
    read_limits(r, node, path, s);
    r.optional_field(node, "max_keys", path, s.max_keys,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 16, 100'000'000); });
    r.optional_field(node, "headers", path, s.headers,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    if (r.errors.size() != before) {
        return nullptr;
    }
    return make_factory(std::move(s));
}

}  // namespace gatehouse::filters::rate_limit
