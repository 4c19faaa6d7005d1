#include "gatehouse/admin/config_json.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "gatehouse/config/loader.hpp"

using namespace gatehouse;

namespace {

std::string read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// A value for each ${NAME} of a shipped config: secret-looking text wherever the config takes
// free text, valid values where it needs a number, address or file.
std::map<std::string, std::string> secret_environment(const std::string& text) {
    std::map<std::string, std::string> env;
    std::regex reference(R"(\$\{([A-Za-z_][A-Za-z0-9_]*))");
    int port = 41000;
    for (std::sregex_iterator it(text.begin(), text.end(), reference), end; it != end; ++it) {
        std::string name = (*it)[1];
        if (env.count(name)) continue;
        std::string lower;
        for (char c : name) lower += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name.ends_with("_PORT")) {
            env[name] = std::to_string(++port);
        } else if (name.ends_with("THREADS") || name.ends_with("WORKERS")) {
            env[name] = "1";
        } else if (name.ends_with("LOG_LEVEL")) {
            env[name] = "info";
        } else if (name == "GATEHOUSE_LISTEN" || name == "GATEHOUSE_ADMIN") {
            env[name] = "127.0.0.1:" + std::to_string(++port);
        } else if (name == "BENCH_JWT_KEY") {
            env[name] = std::string(SOURCE_DIR) + "/config/bench-keys/jwt-public.pem";
        } else if (name == "PROXYBENCH_CERT" || name == "PROXYBENCH_KEY") {
            // Public test files standing in for the certificate proxybench makes.
            env[name] = std::string(SOURCE_DIR) + "/config/bench-keys/" +
                        (name.ends_with("CERT") ? "tls-cert.pem" : "tls-key.pem");
        } else if (name == "TLS_DIR") {
            // The TLS example's files: the repository's test certificate stands in for each.
            auto dir = std::filesystem::temp_directory_path() / ("gatehouse-tls-s3cr3t-" + std::to_string(::getpid()));
            std::filesystem::create_directories(dir);
            const std::filesystem::path keys = std::string(SOURCE_DIR) + "/config/bench-keys";
            for (auto file : {"api-ecdsa", "api-rsa", "gateway", "partners-ca", "internal-ca"}) {
                std::error_code ignored;
                std::filesystem::create_symlink(keys / "tls-cert.pem", dir / (std::string(file) + ".pem"), ignored);
                std::filesystem::create_symlink(keys / "tls-key.pem", dir / (std::string(file) + ".key"), ignored);
            }
            env[name] = dir.string();
        } else if (name == "ACCESS_LOG") {
            env[name] = "/tmp/s3cr3t-access-log-q7x9z.log";
        } else {
            env[name] = "s3cr3t-" + lower + "-q7x9z";
        }
    }
    return env;
}

}  // namespace

// Everything a deployment passes through ${ENV} stays out of /config, in every shipped config.
TEST(ConfigJson, NoValueFromTheEnvironmentAppearsInAnyShippedConfig) {
    std::vector<std::filesystem::path> files;
    for (auto dir : {"config", "config/examples", "docker"}) {
        for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(SOURCE_DIR) / dir)) {
            if (entry.path().extension() == ".yaml" && entry.path().filename() != "compose.yaml") {
                files.push_back(entry.path());
            }
        }
    }
    ASSERT_GE(files.size(), 8u);
    std::filesystem::current_path(SOURCE_DIR);  // configs name files relative to the checkout
    for (const auto& file : files) {
        auto env = secret_environment(read(file));
        auto result =
            config::load_config_file(file.string(), [&](const std::string& name) -> std::optional<std::string> {
                auto it = env.find(name);
                return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
            });
        ASSERT_TRUE(result.config) << file << ": " << (result.errors.empty() ? "" : result.errors[0].to_string());
        auto page = admin::config_to_json(*result.config, result.config->checksum);
        EXPECT_NO_THROW(boost::json::parse(page)) << file;
        for (const auto& [name, value] : env) {
            if (value.size() >= 4 && value != "info") {
                EXPECT_EQ(page.find(value), std::string::npos)
                    << file << ": the value of " << name << " shows in /config";
            }
        }
        if (!env.empty()) {
            EXPECT_NE(page.find("<redacted>"), std::string::npos) << file;
        }
    }
    std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                ("gatehouse-tls-s3cr3t-" + std::to_string(::getpid())));
}

TEST(ConfigJson, EveryStringHoldingAnEnvironmentValueIsRedactedAndDefaultsAreNot) {
    const std::string yaml =
        "server: { listen: \"127.0.0.1:0\" }\n"
        "filters:\n"
        "  backend_auth: { type: headers, request: { set: { X-Backend-Token: \"Bearer ${BACKEND_TOKEN}\", X-Sig: "
        "\"${BACKEND_TOKEN}\" } } }\n"
        "upstreams:\n  app: { endpoints: [\"${APP_HOST:-app.internal}:80\"] }\n"
        "routes:\n  - { name: r, upstream: app, host_rewrite: \"${REWRITE:-}api.example\", filters: [backend_auth] }\n";
    std::map<std::string, std::string> env{{"BACKEND_TOKEN", "tok-8d7f6e5d4c3b"}, {"REWRITE", "v2."}};
    auto result =
        config::load_config_text(yaml, "inline.yaml", [&](const std::string& name) -> std::optional<std::string> {
            auto it = env.find(name);
            return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
        });
    ASSERT_TRUE(result.config) << (result.errors.empty() ? "" : result.errors[0].to_string());
    auto page = admin::config_to_json(*result.config, "x");
    EXPECT_EQ(page.find("tok-8d7f6e5d4c3b"), std::string::npos) << page;
    EXPECT_NE(page.find("\"host_rewrite\":\"<redacted>\""), std::string::npos) << page;
    EXPECT_NE(page.find("app.internal:80"), std::string::npos)
        << "a default written in the file is no secret: " << page;
}

TEST(ConfigJson, ErrorMessagesDoNotQuoteEnvironmentValues) {
    const std::string yaml =
        "server: { listen: \"127.0.0.1:0\", workers: \"${WORKERS}\" }\n"
        "upstreams:\n  app: { endpoints: [\"a:1\"] }\nroutes:\n  - { name: r, upstream: app }\n";
    auto result = config::load_config_text(yaml, "inline.yaml", [](const std::string&) -> std::optional<std::string> {
        return std::string("p4ssw0rd-not-a-number");
    });
    ASSERT_FALSE(result.errors.empty());
    EXPECT_EQ(result.errors[0].to_string().find("p4ssw0rd"), std::string::npos) << result.errors[0].to_string();
}
