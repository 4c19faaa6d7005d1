// The server, admin and upstreams sections of the config.
#include <algorithm>
#include <charconv>

#include <boost/asio/ip/address.hpp>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/units.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "sections.hpp"

namespace gatehouse::config {

namespace {

using http::valid_token;

bool loopback_host(const std::string& host) {
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(host, ec);
    return ec ? host == "localhost" : address.is_loopback();
}

std::optional<host_port> read_listen_address(reader& r, const YAML::Node& n, const std::string& path) {
    auto text = r.string(n, path);
    if (!text) return std::nullopt;
    auto hp = parse_host_port(*text, true);
    if (!hp) {
        r.error(n, path, "invalid address \"" + *text + "\" (expected host:port or [ipv6]:port)");
        return std::nullopt;
    }
    return host_port{hp->host, hp->port};
}

// { mode: none | optional | require, ca_file, forward_header }
void read_client_auth(reader& r, const YAML::Node& node, const std::string& path, common::tls_client_auth& out) {
    if (!r.expect_map(node, path, *client_auth_schema())) return;
    r.optional_field(node, "mode", path, out.mode, [&](const YAML::Node& n, const std::string& p) {
        return r.one_of<common::client_auth_mode>(n, p, "client_auth mode",
                                                  {{"none", common::client_auth_mode::none},
                                                   {"optional", common::client_auth_mode::optional},
                                                   {"require", common::client_auth_mode::require}});
    });
    if (auto n = node["ca_file"]; n.IsDefined()) {
        if (auto s = r.string(n, path + ".ca_file")) out.ca_file = *s;
    } else if (out.mode != common::client_auth_mode::none) {
        r.error(node, path + ".ca_file", "missing required key \"ca_file\" (the CAs that sign client certificates)");
    }
    r.optional_field(node, "forward_header", path, out.forward,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
}

// { certificates: [{cert, key}], min_version, client_auth }: the files are read and checked here, so a bad
// certificate is a config error (at load, at --validate and at reload) and not a failed handshake.
std::shared_ptr<const tls_listener_config> read_listener_tls(reader& r, const YAML::Node& node, const std::string& path,
                                                             const host_port& address) {
    const auto errors_before = r.errors.size();
    if (!r.expect_map(node, path, *listener_tls_schema())) return nullptr;
    auto tls = std::make_shared<tls_listener_config>();
    auto& settings = tls->settings;
    settings.ticket_scope = address.host + ":" + std::to_string(address.port);
    r.optional_field(node, "session_lifetime", path, settings.session_lifetime,
                     [&](const YAML::Node& n, const std::string& p) -> std::optional<std::chrono::seconds> {
                         auto d = r.time(n, p);
                         if (!d) return std::nullopt;
                         if (*d < std::chrono::seconds(1) || *d > std::chrono::hours(24)) {
                             r.error(n, p, "a session lifetime between 1s and 24h");
                             return std::nullopt;
                         }
                         return std::chrono::duration_cast<std::chrono::seconds>(*d);
                     });
    r.optional_field(node, "min_version", path, settings.min_version, [&](const YAML::Node& n, const std::string& p) {
        return r.one_of<common::tls_version>(n, p, "TLS version",
                                             {{"1.2", common::tls_version::v1_2}, {"1.3", common::tls_version::v1_3}});
    });
    auto certs = node["certificates"];
    const auto cp = path + ".certificates";
    if (!certs.IsDefined() || !certs.IsSequence() || certs.size() == 0) {
        r.error(certs.IsDefined() ? certs : node, cp, "expected a list of { cert, key } files");
        return nullptr;
    }
    for (std::size_t i = 0; i < certs.size(); ++i) {
        auto ip = reader::index(cp, i);
        if (!r.expect_map(certs[i], ip, *certificate_files_schema())) continue;
        common::tls_certificate_files files;
        for (auto [key, target] : {std::pair{"cert", &files.cert}, std::pair{"key", &files.key}}) {
            if (auto n = certs[i][key]; n.IsDefined()) {
                if (auto s = r.string(n, reader::join(ip, key))) *target = *s;
            } else {
                r.error(certs[i], reader::join(ip, key), std::string("missing required key \"") + key + "\"");
            }
        }
        settings.certificates.push_back(std::move(files));
    }
    if (auto n = node["client_auth"]; n.IsDefined()) {
        read_client_auth(r, n, path + ".client_auth", settings.client_auth);
    }
    if (r.errors.size() != errors_before) return nullptr;
    std::size_t bad = 0;
    std::string error;
    tls->context = common::tls_server_context::create(settings, bad, error);
    if (!tls->context) {
        if (bad < settings.certificates.size()) {
            r.error(certs[bad], reader::index(cp, bad), error);
        } else {
            r.error(node["client_auth"]["ca_file"], path + ".client_auth.ca_file", error);
        }
        return nullptr;
    }
    return tls;
}

// Each item: "host:port" (plain HTTP), or { address, tls }.
void read_listen(reader& r, const YAML::Node& node, server_config& server) {
    auto listen = node["listen"];
    if (!listen.IsDefined()) return;
    server.listen.clear();
    const std::string lp = "server.listen";
    auto read_one = [&](const YAML::Node& item, const std::string& path) {
        if (!item.IsMap()) {
            if (auto hp = read_listen_address(r, item, path)) server.listen.push_back({*hp, nullptr, std::nullopt});
            return;
        }
        if (!r.expect_map(item, path, *listener_schema())) return;
        auto address = item["address"];
        if (!address.IsDefined()) {
            r.error(item, path + ".address", "missing required key \"address\"");
            return;
        }
        auto hp = read_listen_address(r, address, path + ".address");
        std::shared_ptr<const tls_listener_config> tls;
        if (auto t = item["tls"]; t.IsDefined() && hp) tls = read_listener_tls(r, t, path + ".tls", *hp);
        std::optional<std::uint16_t> redirect;
        if (auto n = item["redirect_to_https"]; n.IsDefined()) {
            if (item["tls"].IsDefined()) {
                r.error(n, path + ".redirect_to_https", "a TLS listener serves HTTPS itself: no redirect");
            } else if (auto port = r.unsigned_int(n, path + ".redirect_to_https", 1, 65535)) {
                redirect = static_cast<std::uint16_t>(*port);
            }
        }
        if (hp) server.listen.push_back({*hp, std::move(tls), redirect});
    };
    if (listen.IsSequence()) {
        for (std::size_t i = 0; i < listen.size(); ++i) read_one(listen[i], reader::index(lp, i));
    } else {
        read_one(listen, lp);
    }
    if (server.listen.empty() && r.errors.empty()) {
        r.error(listen, lp, "at least one listen address is required");
    }
}

void read_trusted_proxies(reader& r, const YAML::Node& node, server_config& server) {
    auto trusted = node["trusted_proxies"];
    if (!trusted.IsDefined() || trusted.IsNull()) return;
    const std::string tp = reader::join("server", "trusted_proxies");
    for (auto& [n, text] : r.string_list(trusted, tp)) {
        std::string error;
        if (auto net = common::parse_network(text, error)) {
            server.trusted_proxies.push_back(std::move(*net));
        } else {
            r.error(n, tp, error);
        }
    }
}

void read_paths(reader& r, const YAML::Node& paths, http::path_options& out) {
    const std::string pp = "server.paths";
    if (r.expect_map(paths, pp, *paths_schema())) {
        r.optional_field(
            paths, "escaped_slashes", pp, out.escaped_slashes, [&](const YAML::Node& n, const std::string& p) {
                return r.one_of<http::escaped_slash_action>(n, p, "escaped slash action",
                                                            {{"reject", http::escaped_slash_action::reject},
                                                             {"keep", http::escaped_slash_action::keep},
                                                             {"decode", http::escaped_slash_action::decode}});
            });
        r.optional_field(paths, "merge_slashes", pp, out.merge_slashes,
                         [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    }
}

void read_limits(reader& r, const YAML::Node& limits, limits_config& l) {
    const std::string lp = "server.limits";
    if (r.expect_map(limits, lp, *limits_schema())) {
        auto size = [&](const YAML::Node& n, const std::string& p) { return r.size(n, p); };
        r.optional_field(limits, "max_request_line", lp, l.max_request_line, size);
        r.optional_field(limits, "max_header_bytes", lp, l.max_header_bytes, size);
        r.optional_field(limits, "max_header_count", lp, l.max_header_count,
                         [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 10'000); });
        r.optional_field(limits, "max_body", lp, l.max_body, size);
        r.optional_field(limits, "max_response_header_bytes", lp, l.max_response_header_bytes, size);
        if (l.max_request_line < 64 || l.max_header_bytes < 256 || l.max_response_header_bytes < 256) {
            r.error(limits, lp, "header limits are too small (request line >= 64 bytes, headers >= 256 bytes)");
        }
        if (l.max_header_bytes > 16 * 1024 * 1024 || l.max_response_header_bytes > 16 * 1024 * 1024) {
            r.error(limits, lp, "header limits must not exceed 16MiB");
        }
        if (l.max_request_line > l.max_header_bytes) {
            r.error(limits, lp + ".max_request_line", "must not exceed max_header_bytes");
        }
    }
}

void read_timeouts(reader& r, const YAML::Node& timeouts, timeouts_config& t) {
    const std::string tp = "server.timeouts";
    if (r.expect_map(timeouts, tp, *timeouts_schema())) {
        auto time = [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); };
        r.optional_field(timeouts, "header", tp, t.header, time);
        r.optional_field(timeouts, "idle", tp, t.idle, time);
        r.optional_field(timeouts, "read", tp, t.read, time);
        r.optional_field(timeouts, "body", tp, t.body, time);
        r.optional_field(timeouts, "send", tp, t.send, time);
        r.optional_field(timeouts, "request", tp, t.request, time);
        r.optional_field(timeouts, "handshake", tp, t.handshake, time);
    }
}

}  // namespace

void read_admin(reader& r, const YAML::Node& admin, admin_config& out) {
    if (auto listen = admin["listen"]; listen.IsDefined()) {
        if (listen.IsNull() || (listen.IsScalar() && listen.Scalar() == "off")) {
            out.listen.reset();
        } else if (auto hp = r.address(listen, "admin.listen", true)) {
            out.listen = *hp;
        }
    }
    if (auto hosts = admin["hosts"]; hosts.IsDefined() && !hosts.IsNull()) {
        for (auto& [n, name] : r.string_list(hosts, "admin.hosts")) {
            std::string lower;
            for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (lower.empty() || lower.find_first_of(" /:@") != std::string::npos) {
                r.error(n, "admin.hosts", "invalid host name \"" + name + "\" (a name without port)");
            } else {
                out.hosts.push_back(lower);
            }
        }
    }
    auto token = admin["token"];
    r.optional_field(admin, "token", "admin", out.token,
                     [&](const YAML::Node& n, const std::string& p) -> std::optional<std::string> {
                         auto s = r.string(n, p);
                         if (s && !s->empty() && s->size() < 16) {
                             r.error(n, p, "too short: use at least 16 characters (e.g. openssl rand -hex 16)");
                             return std::nullopt;
                         }
                         return s;
                     });
    if (out.listen && !loopback_host(out.listen->host) && out.token.empty()) {
        r.error(token.IsDefined() ? token : admin["listen"], token.IsDefined() ? "admin.token" : "admin.listen",
                "admin.token is required when the admin listener is not on loopback (" + out.listen->host +
                    "): anyone who reaches it could read the config and reload it");
    }
}

void read_server(reader& r, const YAML::Node& node, server_config& server) {
    const std::string path = "server";
    if (!r.expect_map(node, path, *server_schema())) {
        return;
    }
    r.optional_field(node, "workers", path, server.workers,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 0, 256); });
    r.optional_field(node, "max_connections", path, server.max_connections,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 10'000'000); });
    r.optional_field(node, "drain_timeout", path, server.drain_timeout,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p, true); });
    r.optional_field(node, "headers_with_underscores", path, server.headers_with_underscores,
                     [&](const YAML::Node& n, const std::string& p) {
                         return r.one_of<underscore_headers>(n, p, "policy",
                                                             {{"drop", underscore_headers::drop},
                                                              {"reject", underscore_headers::reject},
                                                              {"allow", underscore_headers::allow}});
                     });
    read_listen(r, node, server);
    read_trusted_proxies(r, node, server);
    if (auto paths = node["paths"]; paths.IsDefined()) read_paths(r, paths, server.paths);
    if (auto limits = node["limits"]; limits.IsDefined()) read_limits(r, limits, server.limits);
    if (auto timeouts = node["timeouts"]; timeouts.IsDefined()) read_timeouts(r, timeouts, server.timeouts);
}

// { server_name, ca_file, client_cert: { cert, key }, verify }: files read and checked here,
// so a bad one is a config error, not a failed request.
std::shared_ptr<const upstream_tls_config> read_upstream_tls(reader& r, const YAML::Node& node,
                                                             const std::string& path) {
    const auto errors_before = r.errors.size();
    if (!r.expect_map(node, path, *upstream_tls_schema())) return nullptr;
    auto tls = std::make_shared<upstream_tls_config>();
    auto& s = tls->settings;
    if (auto n = node["server_name"]; n.IsDefined()) {
        if (auto name = r.string(n, path + ".server_name")) {
            if (name->empty() || name->find_first_of(" /:\\") != std::string::npos) {
                r.error(n, path + ".server_name", "invalid server name \"" + *name + "\"");
            }
            s.server_name = *name;
        }
    }
    if (auto n = node["ca_file"]; n.IsDefined()) {
        if (auto f = r.string(n, path + ".ca_file")) s.ca_file = *f;
    }
    if (auto n = node["client_cert"]; n.IsDefined()) {
        const auto cp = path + ".client_cert";
        if (r.expect_map(n, cp, *certificate_files_schema())) {
            common::tls_certificate_files files;
            for (auto [key, target] : {std::pair{"cert", &files.cert}, std::pair{"key", &files.key}}) {
                if (auto k = n[key]; k.IsDefined()) {
                    if (auto v = r.string(k, reader::join(cp, key))) *target = *v;
                } else {
                    r.error(n, reader::join(cp, key), std::string("missing required key \"") + key + "\"");
                }
            }
            s.client_cert = std::move(files);
        }
    }
    r.optional_field(node, "verify", path, s.verify,
                     [&](const YAML::Node& n, const std::string& p) { return r.boolean(n, p); });
    if (r.errors.size() != errors_before) return nullptr;
    std::string bad_key;
    std::string error;
    tls->context = common::tls_client_context::create(s, bad_key, error);
    if (!tls->context) {
        auto at = node[bad_key];
        r.error(at.IsDefined() ? at : node, reader::join(path, bad_key), error);
        return nullptr;
    }
    return tls;
}

// { attempts, on, per_try_timeout, backoff: { base, max }, budget, max_body }
std::optional<retry_config> read_retry(reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *retry_schema())) {
        return std::nullopt;
    }
    retry_config retry;
    r.optional_field(node, "attempts", path, retry.attempts,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 0, 10); });
    if (auto on = node["on"]; on.IsDefined()) {
        retry.conditions = 0;
        retry.statuses.clear();
        for (auto& [n, text] : r.string_list(on, path + ".on")) {
            if (text == "connect_failure") {
                retry.conditions |= retry_config::connect_failure;
            } else if (text == "reset") {
                retry.conditions |= retry_config::reset;
            } else if (text == "timeout") {
                retry.conditions |= retry_config::timeout;
            } else if (text.size() == 3 && text[0] == '5' && std::isdigit(static_cast<unsigned char>(text[1])) &&
                       std::isdigit(static_cast<unsigned char>(text[2]))) {
                retry.statuses.push_back(static_cast<unsigned>(std::stoul(text)));
            } else {
                r.error(n, path + ".on",
                        "unknown retry condition \"" + text + "\" (connect_failure, reset, timeout, or a 5xx status)");
            }
        }
    }
    auto time = [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); };
    r.optional_field(node, "per_try_timeout", path, retry.per_try_timeout, time);
    if (auto backoff = node["backoff"]; backoff.IsDefined()) {
        const auto bp = path + ".backoff";
        if (r.expect_map(backoff, bp, *retry_backoff_schema())) {
            auto maybe_zero = [&](const YAML::Node& n, const std::string& p) { return r.time(n, p, true); };
            r.optional_field(backoff, "base", bp, retry.backoff_base, maybe_zero);
            r.optional_field(backoff, "max", bp, retry.backoff_max, maybe_zero);
            if (retry.backoff_max < retry.backoff_base) {
                r.error(backoff, bp + ".max", "must not be less than backoff.base");
            }
        }
    }
    if (auto budget = node["budget"]; budget.IsDefined()) {
        if (auto text = r.string(budget, path + ".budget")) {
            std::uint64_t percent = 0;
            auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), percent);
            if (ec != std::errc() || end + 1 != text->data() + text->size() || *end != '%' || percent == 0 ||
                percent > 100) {
                r.error(budget, path + ".budget", "expected a share of requests in flight, 1% to 100% (e.g. 20%)");
            } else {
                retry.budget_percent = percent;
            }
        }
    }
    r.optional_field(node, "max_body", path, retry.max_body,
                     [&](const YAML::Node& n, const std::string& p) { return r.size(n, p); });
    return retry;
}

// { path, host, interval, timeout, healthy_after, unhealthy_after, expect: [200-399, 404] }
std::optional<health_check_config> read_health_check(reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *health_check_schema())) {
        return std::nullopt;
    }
    health_check_config check;
    if (auto n = node["path"]; n.IsDefined()) {
        if (auto p = r.string(n, path + ".path")) {
            if (p->empty() || p->front() != '/' || p->find_first_of(" \r\n\t") != std::string::npos) {
                r.error(n, path + ".path", "expected an origin-form path such as /healthz");
            }
            check.path = *p;
        }
    }
    if (auto n = node["host"]; n.IsDefined()) {
        if (auto h = r.string(n, path + ".host")) {
            if (h->empty() || h->find_first_of(" \r\n\t/") != std::string::npos) {
                r.error(n, path + ".host", "invalid host \"" + *h + "\"");
            }
            check.host = *h;
        }
    }
    auto time = [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); };
    r.optional_field(node, "interval", path, check.interval, time);
    r.optional_field(node, "timeout", path, check.timeout, time);
    auto count = [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 100); };
    r.optional_field(node, "healthy_after", path, check.healthy_after, count);
    r.optional_field(node, "unhealthy_after", path, check.unhealthy_after, count);
    if (auto n = node["expect"]; n.IsDefined()) {
        check.expect.clear();
        for (auto& [item, text] : r.string_list(n, path + ".expect")) {
            unsigned low = 0, high = 0;
            auto dash = text.find('-');
            auto parse = [](std::string_view t, unsigned& v) {
                auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
                return ec == std::errc() && end == t.data() + t.size() && v >= 100 && v <= 599;
            };
            const std::string_view t(text);
            bool ok = dash == std::string::npos ? parse(t, low) && parse(t, high)
                                                : parse(t.substr(0, dash), low) && parse(t.substr(dash + 1), high);
            if (!ok || low > high) {
                r.error(item, path + ".expect", "expected a status or a range such as 200-399, got \"" + text + "\"");
            } else {
                check.expect.emplace_back(low, high);
            }
        }
    }
    return check;
}

void read_upstream(reader& r, const std::string& name, const YAML::Node& key, const YAML::Node& node,
                   upstream_config& up) {
    const std::string path = "upstreams." + name;
    up.name = name;
    if (!valid_token(name)) {
        r.error(key, path, "invalid upstream name (use letters, digits, '-', '_' or '.')");
    }
    if (!r.expect_map(node, path, *upstream_schema())) {
        return;
    }
    auto endpoints = node["endpoints"];
    if (!endpoints.IsDefined()) {
        r.error(node, path + ".endpoints", "missing required key \"endpoints\"");
    } else {
        for (auto& [n, text] : r.string_list(endpoints, path + ".endpoints")) {
            if (auto hp = parse_host_port(text, false)) {
                if (hp->host == "0.0.0.0" && text.starts_with(":")) {
                    r.error(n, path + ".endpoints", "endpoint needs a host: \"" + text + "\"");
                    continue;
                }
                up.endpoints.push_back({hp->host, hp->port});
            } else {
                r.error(n, path + ".endpoints", "invalid endpoint \"" + text + "\" (expected host:port)");
            }
        }
        if (up.endpoints.empty() && endpoints.IsSequence() && endpoints.size() == 0) {
            r.error(endpoints, path + ".endpoints", "at least one endpoint is required");
        }
    }
    r.optional_field(node, "load_balancing", path, up.load_balancing, [&](const YAML::Node& n, const std::string& p) {
        return r.one_of<lb_policy>(n, p, "load balancing policy",
                                   {{"round_robin", lb_policy::round_robin},
                                    {"least_request", lb_policy::least_request},
                                    {"random", lb_policy::random},
                                    {"ip_hash", lb_policy::ip_hash}});
    });
    auto time = [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); };
    r.optional_field(node, "connect_timeout", path, up.connect_timeout, time);
    r.optional_field(node, "dns_refresh", path, up.dns_refresh, time);
    r.optional_field(node, "retries", path, up.retries,
                     [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 0, 10); });
    if (auto pool = node["pool"]; pool.IsDefined()) {
        auto pp = path + ".pool";
        if (r.expect_map(pool, pp, *pool_schema())) {
            auto count = [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 1'000'000); };
            r.optional_field(pool, "max_connections", pp, up.pool.max_connections, count);
            r.optional_field(pool, "max_idle", pp, up.pool.max_idle, [&](const YAML::Node& n, const std::string& p) {
                return r.unsigned_int(n, p, 0, 1'000'000);
            });
            r.optional_field(pool, "idle_timeout", pp, up.pool.idle_timeout, time);
            r.optional_field(pool, "max_wait", pp, up.pool.max_wait,
                             [&](const YAML::Node& n, const std::string& p) { return r.time(n, p, true); });
            r.optional_field(
                pool, "max_waiters", pp, up.pool.max_waiters,
                [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 0, 1'000'000); });
        }
    }
    if (auto tls = node["tls"]; tls.IsDefined()) up.tls = read_upstream_tls(r, tls, path + ".tls");
    if (auto retry = node["retry"]; retry.IsDefined()) up.retry = read_retry(r, retry, path + ".retry");
    if (auto outlier = node["outlier"]; outlier.IsDefined()) {
        const auto op = path + ".outlier";
        if (r.expect_map(outlier, op, *outlier_schema())) {
            outlier_config o;
            r.optional_field(outlier, "consecutive_failures", op, o.consecutive_failures,
                             [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 1000); });
            r.optional_field(outlier, "base_ejection", op, o.base_ejection, time);
            r.optional_field(outlier, "max_ejection", op, o.max_ejection, time);
            r.optional_field(outlier, "max_ejected_percent", op, o.max_ejected_percent,
                             [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 0, 100); });
            if (o.max_ejection < o.base_ejection) {
                r.error(outlier, op + ".max_ejection", "must not be less than base_ejection");
            }
            up.outlier = o;
        }
    }
    if (auto check = node["health_check"]; check.IsDefined())
        up.health_check = read_health_check(r, check, path + ".health_check");
    if (auto limits = node["limits"]; limits.IsDefined()) {
        const auto lp = path + ".limits";
        if (r.expect_map(limits, lp, *upstream_limits_schema())) {
            auto count = [&](const YAML::Node& n, const std::string& p) { return r.unsigned_int(n, p, 1, 10'000'000); };
            r.optional_field(limits, "max_requests", lp, up.limits.max_requests, count);
            r.optional_field(limits, "max_pending", lp, up.limits.max_pending, count);
        }
    }
    if (auto panic = node["panic_threshold"]; panic.IsDefined()) {
        if (auto text = r.string(panic, path + ".panic_threshold")) {
            std::uint64_t percent = 0;
            auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), percent);
            if (ec != std::errc() || end + 1 != text->data() + text->size() || *end != '%' || percent > 100) {
                r.error(panic, path + ".panic_threshold", "expected a share of endpoints, 0% to 100% (e.g. 50%)");
            } else {
                up.panic_threshold_percent = percent;
            }
        }
    }
}

}  // namespace gatehouse::config
