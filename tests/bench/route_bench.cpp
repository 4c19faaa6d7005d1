// Route lookup cost at 10 and 10,000 routes: the compiled table must not scan routes linearly.
// Run: build/route_bench (numbers are recorded in docs/performance.md).
#include <benchmark/benchmark.h>

#include "gatehouse/config/loader.hpp"
#include "gatehouse/router/route_table.hpp"

using namespace gatehouse;

namespace {

// n routes mixing the three path kinds and a few hosts, like a large API surface.
std::shared_ptr<const router::route_table> make_table(int n) {
    std::string yaml = "upstreams: { u: { endpoints: [\"127.0.0.1:1\"] } }\nroutes:\n";
    for (int i = 0; i < n; ++i) {
        auto id = std::to_string(i);
        switch (i % 4) {
            case 0:
                yaml += "  - { name: p" + id + ", upstream: u, match: { prefix: /service" + id + "/ } }\n";
                break;
            case 1:
                yaml += "  - { name: e" + id + ", upstream: u, match: { exact: /service" + id + "/status } }\n";
                break;
            case 2:
                yaml +=
                    "  - { name: t" + id + ", upstream: u, match: { template: \"/service" + id + "/items/{id}\" } }\n";
                break;
            case 3:
                yaml +=
                    "  - { name: h" + id + ", upstream: u, match: { host: h" + id + ".example.com, prefix: /api } }\n";
                break;
        }
    }
    yaml += "  - { name: fallback, upstream: u, match: { prefix: / } }\n";
    auto r =
        config::load_config_text(yaml, "bench.yaml", [](const std::string&) { return std::optional<std::string>{}; });
    if (!r.config) {
        throw std::runtime_error(r.errors[0].to_string());
    }
    return router::route_table::compile(*r.config);
}

void lookup(benchmark::State& state, std::string_view host, std::string path_template) {
    const int n = static_cast<int>(state.range(0));
    auto table = make_table(n);
    // Aim at a route near the end of the file: a linear scan would pay for all the others.
    auto last = std::to_string(n - 2);
    auto path = path_template;
    if (auto pos = path.find("N"); pos != std::string::npos) path.replace(pos, 1, last);
    std::string host_name(host);
    if (auto pos = host_name.find("N"); pos != std::string::npos) host_name.replace(pos, 1, std::to_string(n - 1));
    for (auto _ : state) {
        auto r = table->match({"GET", host_name, path, nullptr});
        benchmark::DoNotOptimize(r);
    }
}

void BM_PrefixOrTemplate(benchmark::State& state) {
    lookup(state, "api.example.com", "/serviceN/items/123");
}
void BM_HostRoute(benchmark::State& state) {
    lookup(state, "hN.example.com", "/api/users/1");
}
void BM_Fallback(benchmark::State& state) {
    lookup(state, "api.example.com", "/nothing/matches/here");
}

}  // namespace

BENCHMARK(BM_PrefixOrTemplate)->Arg(10)->Arg(10000);
BENCHMARK(BM_HostRoute)->Arg(10)->Arg(10000);
BENCHMARK(BM_Fallback)->Arg(10)->Arg(10000);
BENCHMARK_MAIN();
