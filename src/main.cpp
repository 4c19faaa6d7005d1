// gatehouse: flags, config loading, then the server until a signal.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "gatehouse/admin/probe.hpp"
#include "gatehouse/common/ip_network.hpp"
#include "gatehouse/config/loader.hpp"
#include "gatehouse/config/schema.hpp"
#include "gatehouse/observability/logging.hpp"
#include "gatehouse/router/route_table.hpp"
#include "gatehouse/server/explain.hpp"
#include "gatehouse/server/server.hpp"

namespace {

constexpr const char* usage = R"(gatehouse - an HTTP/1.1 API gateway

Usage:
  gatehouse --config FILE      run the gateway with FILE
  gatehouse --validate FILE    check FILE, print every error, exit 0 if valid and 1 if not
  gatehouse --health-check [URL]
                               GET URL (default http://127.0.0.1:9901/healthz), exit 0 on
                               a 2xx answer within 3 s, else 1 (for container health checks)
  gatehouse explain --config FILE 'GET https://api.example.com/users/42' [-H 'Name: value']...
                   [--client-ip ADDRESS] [--json]
                               where would this request go, and why: the normalised path,
                               each route tried, each filter's decision, the upstream request
  gatehouse --print-schema     print the JSON Schema (draft 2020-12) of the config file, for
                               editors (yaml-language-server) and linters
  gatehouse --help             show this help
  gatehouse --version          show the version

Config values may use ${NAME} and ${NAME:-default} to read environment variables.
Signals: SIGHUP reloads the config file (an invalid file is rejected and the running config
stays); SIGTERM and SIGINT drain (stop accepting, finish requests in flight up to
server.drain_timeout) and exit 0; a second SIGTERM/SIGINT stops at once. SIGUSR1 reopens
access log files (after logrotate moved them).
See docs/configuration.md for every setting.
)";

int print_errors(const std::vector<gatehouse::config::config_error>& errors) {
    for (const auto& e : errors) {
        std::cerr << e.to_string() << '\n';
    }
    std::cerr << errors.size() << (errors.size() == 1 ? " error" : " errors") << '\n';
    return 1;
}

// gatehouse explain --config FILE 'GET https://host/path' [-H 'Name: value']... [--client-ip A] [--json]
int explain_command(int argc, char** argv) {
    std::string config_path;
    std::optional<gatehouse::server::explain_input> input;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string client_ip = "127.0.0.1";
    bool as_json = false;
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
            config_path = argv[++i];
        } else if ((arg == "-H" || arg == "--header") && i + 1 < argc) {
            std::pair<std::string, std::string> field;
            if (!gatehouse::server::parse_explain_header(argv[++i], field)) {
                std::cerr << "gatehouse explain: invalid header \"" << argv[i] << "\" (expected 'Name: value')\n";
                return 2;
            }
            headers.push_back(std::move(field));
        } else if (arg == "--client-ip" && i + 1 < argc) {
            client_ip = argv[++i];
            if (!gatehouse::common::parse_address(client_ip)) {
                std::cerr << "gatehouse explain: --client-ip needs an IP address\n";
                return 2;
            }
        } else if (arg == "--json") {
            as_json = true;
        } else if (!arg.starts_with("-") && !input) {
            std::string error;
            input = gatehouse::server::parse_explain_line(arg, error);
            if (!input) {
                std::cerr << "gatehouse explain: " << error << '\n';
                return 2;
            }
        } else {
            std::cerr << "gatehouse explain: unknown or incomplete argument \"" << arg << "\"\n\n" << usage;
            return 2;
        }
    }
    if (config_path.empty() || !input) {
        std::cerr << "gatehouse explain: --config FILE and a request ('GET https://host/path') are required\n\n"
                  << usage;
        return 2;
    }
    input->headers = std::move(headers);
    input->client_ip = client_ip;
    auto loaded = gatehouse::config::load_config_file(config_path, gatehouse::config::process_env());
    if (!loaded.errors.empty()) return print_errors(loaded.errors);
    auto routes = gatehouse::router::route_table::compile(*loaded.config);
    auto result = gatehouse::server::explain(*loaded.config, *routes, *input);
    // Values taken from the environment stay out of the answer, as on /config.
    std::cout << gatehouse::server::redact(
        as_json ? boost::json::serialize(result) + "\n" : gatehouse::server::explain_text(result), *loaded.config);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "explain") return explain_command(argc, argv);
    std::string config_path;
    bool validate_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        }
        if (arg == "--print-schema") {
            // The same definitions the loader checks keys against (gatehouse/config/schema.hpp).
            std::cout << gatehouse::config::schema::json_schema(*gatehouse::config::schema::config_schema(),
                                                                "urn:gatehouse:config");
            return 0;
        }
        if (arg == "--version") {
            std::cout << "gatehouse " << GATEHOUSE_VERSION << '\n';
            return 0;
        }
        if (arg == "--health-check") {
            std::string url = i + 1 < argc ? argv[i + 1] : "http://127.0.0.1:9901/healthz";
            std::string error;
            int code = gatehouse::admin::probe(url, std::chrono::seconds(3), error);
            if (code != 0) {
                std::cerr << "gatehouse: health check " << url << " failed: " << error << '\n';
            }
            return code;
        }
        if ((arg == "--config" || arg == "-c" || arg == "--validate") && i + 1 < argc) {
            validate_only = validate_only || arg == "--validate";
            config_path = argv[++i];
            continue;
        }
        if (arg.starts_with("--config=")) {
            config_path = arg.substr(9);
            continue;
        }
        std::cerr << "gatehouse: unknown or incomplete argument \"" << arg << "\"\n\n" << usage;
        return 2;
    }
    if (config_path.empty()) {
        std::cerr << "gatehouse: --config FILE is required\n\n" << usage;
        return 2;
    }

    auto loaded = gatehouse::config::load_config_file(config_path, gatehouse::config::process_env());
    if (!loaded.errors.empty()) {
        return print_errors(loaded.errors);
    }
    if (validate_only) {
        std::cout << config_path << ": OK\n";
        return 0;
    }
    std::signal(SIGPIPE, SIG_IGN);
    // Every connection is a descriptor: take the whole hard limit, as NGINX's
    // worker_rlimit_nofile would, instead of the usual soft 1024.
    if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    gatehouse::observability::setup_logging(loaded.config->logging.level);
    try {
        gatehouse::server::server server(std::move(*loaded.config), config_path);
        server.start();
        int code = server.run();
        spdlog::info("stopped");
        return code;
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
}
