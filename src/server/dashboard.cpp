// The admin dashboard's data (GET /dashboard.json): the running routes with their live traffic
// over the last minute, the upstreams' health, filter rejections, and the config's history.
#include <map>

#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "gatehouse/config/aggregate.hpp"
#include "gatehouse/server/server.hpp"
#include "gatehouse/server/worker.hpp"
#include "utc_time.hpp"

namespace gatehouse::server {

namespace json = boost::json;

namespace {

constexpr auto traffic_interval = std::chrono::seconds(2);

json::value rounded(std::optional<double> v) {
    if (!v) return nullptr;
    return static_cast<double>(static_cast<std::int64_t>(*v * 100 + 0.5)) / 100;
}

std::string match_text(const config::match_config& m) {
    std::string out;
    for (const auto& h : m.hosts) out += (out.empty() ? "" : ",") + h;
    if (!out.empty()) out += " ";
    switch (m.path_kind) {
        case config::path_match_kind::exact:
            out += "= ";
            break;
        case config::path_match_kind::templated:
            break;
        case config::path_match_kind::prefix:
            out += "^ ";
            break;
    }
    out += m.path;
    if (!m.methods.empty()) {
        std::string methods;
        for (const auto& x : m.methods) methods += (methods.empty() ? "" : ",") + x;
        out = methods + " " + out;
    }
    for (const auto& h : m.headers) out += " [" + h.name + (h.value ? "=" + *h.value : "") + "]";
    return out;
}

}  // namespace

void server::sample_traffic() {
    std::map<std::string, observability::route_sample, std::less<>> sums;
    for (const auto& w : workers_) {
        w->stats().visit([&](const observability::worker_stats::route_map& routes, const auto&, const auto&,
                             const auto&, const auto&, const auto&) {
            for (const auto& [name, stats] : routes) {
                auto& s = sums[name];
                s.name = name;
                for (std::size_t i = 0; i < s.classes.size(); ++i) s.classes[i] += stats->by_class[i].get();
                for (std::size_t i = 0; i < s.latency.size(); ++i) s.latency[i] += stats->latency[i].get();
            }
        });
    }
    observability::traffic_sample sample{std::chrono::steady_clock::now(), {}};
    for (auto& [name, s] : sums) sample.routes.push_back(std::move(s));
    traffic_.add(std::move(sample));
    traffic_timer_->expires_after(traffic_interval);
    traffic_timer_->async_wait([this](boost::system::error_code ec) {
        if (!ec) sample_traffic();
    });
}

std::string server::dashboard_json() const {
    const auto& config = *snapshot_->config;
    std::map<std::string, observability::route_traffic, std::less<>> traffic;
    for (auto& t : traffic_.rates()) traffic[t.name] = std::move(t);
    auto traffic_json = [&](std::string_view name) {
        json::object o{{"requests", 0}, {"per_second", 0.0}, {"p50_ms", nullptr}, {"p99_ms", nullptr}};
        json::object classes{{"1xx", 0}, {"2xx", 0}, {"3xx", 0}, {"4xx", 0}, {"5xx", 0}};
        if (auto it = traffic.find(name); it != traffic.end()) {
            const auto& t = it->second;
            o["requests"] = t.requests;
            o["per_second"] = rounded(t.per_second);
            o["p50_ms"] = rounded(t.p50_ms);
            o["p99_ms"] = rounded(t.p99_ms);
            for (std::size_t i = 0; i < t.classes.size(); ++i) classes[std::to_string(i + 1) + "xx"] = t.classes[i];
        }
        o["classes"] = std::move(classes);
        return o;
    };
    json::array routes;
    for (const auto& r : config.routes) {
        json::array filters;
        for (auto i : r.filters) filters.emplace_back(config.filters[i].name);
        json::object o{{"name", r.name}, {"match", match_text(r.match)}, {"filters", std::move(filters)}};
        if (r.aggregate) {
            json::array backends;
            for (const auto& b : r.aggregate->backends) backends.emplace_back(b.name + " -> " + b.upstream);
            o["aggregate"] = std::move(backends);
        } else {
            o["upstream"] = r.upstream;
        }
        if (r.websocket) o["websocket"] = true;
        o["traffic"] = traffic_json(r.name);
        routes.push_back(std::move(o));
    }
    // Filter rejections, summed over the workers, with the filter's type (auth or rate limit).
    std::map<std::pair<std::string, std::string>, std::uint64_t> rejected;
    for (const auto& w : workers_) {
        w->stats().visit([&](const auto&, const auto&, const observability::worker_stats::rejection_map& rejections,
                             const auto&, const auto&, const auto&) {
            for (const auto& [key, c] : rejections) rejected[key] += c->get();
        });
    }
    json::array rejections;
    for (const auto& [key, count] : rejected) {
        std::string type;
        for (const auto& f : config.filters) {
            if (f.name == key.first) type = f.type;
        }
        rejections.push_back(
            json::object{{"filter", key.first}, {"type", type}, {"reason", key.second}, {"count", count}});
    }
    json::object reloads{{"ok", process_.reloads_ok},
                         {"rejected", process_.reloads_failed},
                         {"installed_at", utc_time(config_installed_at_)}};
    if (!last_refused_errors_.empty()) {
        json::array errors;
        for (const auto& e : last_refused_errors_) errors.emplace_back(e);
        reloads["last_rejected"] = json::object{{"at", utc_time(last_refused_at_)}, {"errors", std::move(errors)}};
    }
    std::uint64_t connections = 0;
    for (const auto& w : workers_) connections += w->connections();
    json::object out{{"generation", process_.reloads_ok + 1},
                     {"checksum", process_.config_checksum},
                     {"source", config.source},
                     {"now", utc_time(std::chrono::system_clock::now())},
                     {"window_s", rounded(traffic_.covered().count())},
                     {"draining", draining_},
                     {"client_connections", connections},
                     {"workers", workers_.size()},
                     {"reloads", std::move(reloads)},
                     {"routes", std::move(routes)},
                     {"unmatched", traffic_json("")},
                     {"rejections", std::move(rejections)},
                     {"upstreams", json::parse(upstreams_json())}};
    return json::serialize(out) + "\n";
}

}  // namespace gatehouse::server
