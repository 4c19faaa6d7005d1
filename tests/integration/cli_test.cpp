// The command line: --validate, --help, --version, and refusing to start on a bad config.
#include "common.hpp"

using namespace harness;

TEST(Cli, HelpAndVersion) {
    auto [help_code, help] = run_command(gatehouse_binary() + " --help");
    EXPECT_EQ(help_code, 0);
    EXPECT_NE(help.find("--validate FILE"), std::string::npos);
    auto [version_code, version] = run_command(gatehouse_binary() + " --version");
    EXPECT_EQ(version_code, 0);
    EXPECT_EQ(version.rfind("gatehouse ", 0), 0u);
    auto [bad_code, bad] = run_command(gatehouse_binary() + " --bogus");
    EXPECT_EQ(bad_code, 2);
}

TEST(Cli, ValidateAcceptsTheShippedConfigs) {
    // The TLS example's files: the repository's test certificate stands in for each.
    temp_dir tls;
    const std::string test_cert = SOURCE_DIR "/config/bench-keys/tls-cert.pem";
    const std::string test_key = SOURCE_DIR "/config/bench-keys/tls-key.pem";
    for (auto name : {"api-ecdsa", "api-rsa", "gateway"}) {
        ASSERT_EQ(run_command("ln -s " + test_cert + " " + tls.path() + "/" + name + ".pem && ln -s " + test_key + " " +
                              tls.path() + "/" + name + ".key")
                      .first,
                  0);
    }
    for (auto name : {"partners-ca", "internal-ca"}) {
        ASSERT_EQ(run_command("ln -s " + test_cert + " " + tls.path() + "/" + name + ".pem").first, 0);
    }
    for (auto file : {"config/gatehouse.yaml", "config/bench.yaml", "config/examples/full.yaml",
                      "config/examples/auth.yaml", "config/examples/aggregate.yaml", "config/examples/tls.yaml",
                      "config/bench-redis.yaml", "config/bench-tls.yaml", "config/bench-resilience.yaml"}) {
        auto [code, out] = run_command("cd " SOURCE_DIR
                                       " && PROXY_PORT=1 PROXY_TLS_PORT=3 PROXY_THREADS=1 UPSTREAM_HOST=127.0.0.1 "
                                       "UPSTREAM_PORT=2 PROXYBENCH_CERT=" +
                                       test_cert + " PROXYBENCH_KEY=" + test_key + " TLS_DIR=" + tls.path() + " " +
                                       gatehouse_binary() + " --validate " + file);
        EXPECT_EQ(code, 0) << file << ": " << out;
    }
}

TEST(Cli, ValidateReportsEveryErrorWithFileLineAndKey) {
    temp_dir dir;
    auto path = dir.write("bad.yaml",
                          "server:\n  listen: \"${UNSET_VARIABLE_XYZ}\"\n  timeouts: { idle: 10 }\n"
                          "upstreams:\n  app: { endpoints: [\"127.0.0.1:1\"] }\n"
                          "routes:\n  - { name: r, upstream: billing, colour: red }\n");
    auto [code, out] = run_command(gatehouse_binary() + " --validate " + path);
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find(path + ":2:11: server.listen: environment variable UNSET_VARIABLE_XYZ is not set"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find(path + ":3:21: server.timeouts.idle: invalid duration \"10\""), std::string::npos) << out;
    EXPECT_NE(out.find(path + ":7:26: routes[0].upstream: unknown upstream \"billing\""), std::string::npos) << out;
    EXPECT_NE(out.find(":7:35: routes[0].colour: unknown key \"colour\""), std::string::npos) << out;
    EXPECT_NE(out.find("4 errors"), std::string::npos) << out;
}

TEST(Cli, BadConfigRefusesToStart) {
    temp_dir dir;
    auto path = dir.write("bad.yaml", "upstreams: {}\nroutes: [ { name: r, upstream: nope } ]\n");
    auto [code, out] = run_command(gatehouse_binary() + " --config " + path);
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("unknown upstream \"nope\""), std::string::npos) << out;
}

TEST(Cli, PortInUseIsAClearError) {
    temp_dir dir;
    echo_server echo(dir);
    auto path = dir.write("busy.yaml", one_route_config(echo.port()).replace(0, 0, ""));
    std::string cfg = read_file(path);
    cfg.replace(cfg.find("127.0.0.1:0"), 11, "127.0.0.1:" + std::to_string(echo.port()));
    dir.write("busy.yaml", cfg);
    auto [code, out] = run_command(gatehouse_binary() + " --config " + path);
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(echo.port())), std::string::npos) << out;
}

TEST(Cli, StopsCleanlyOnSigterm) {
    temp_dir dir;
    echo_server echo(dir);
    gateway gw(dir, one_route_config(echo.port()));
    ASSERT_TRUE(request(gw.port(), get_request("/")));
    gw.proc().signal(SIGTERM);
    auto code = gw.proc().wait_exit(10s);
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0);
}

TEST(Cli, HealthCheckProbesTheAdminListener) {
    temp_dir dir;
    echo_server echo(dir);
    gateway gw(dir, one_route_config(echo.port()));
    auto url = "http://127.0.0.1:" + std::to_string(gw.admin_port()) + "/healthz";
    auto [ok, ok_out] = run_command(gatehouse_binary() + " --health-check " + url + " 2>&1");
    EXPECT_EQ(ok, 0) << ok_out;
    auto missing = "http://127.0.0.1:" + std::to_string(gw.admin_port()) + "/nope";
    auto [not_found, nf_out] = run_command(gatehouse_binary() + " --health-check " + missing + " 2>&1");
    EXPECT_EQ(not_found, 1);
    EXPECT_NE(nf_out.find("status 404"), std::string::npos) << nf_out;
    auto [refused, refused_out] = run_command(gatehouse_binary() + " --health-check http://127.0.0.1:" +
                                              std::to_string(echo.port() == 1 ? 2 : 1) + "/healthz 2>&1");
    EXPECT_EQ(refused, 1);
    EXPECT_NE(refused_out.find("health check"), std::string::npos) << refused_out;
}

TEST(Cli, AdminAddressInUseIsAStartupError) {
    temp_dir dir;
    echo_server echo(dir);
    // The admin listener wants the echo's port, which is taken.
    auto config =
        "admin: { listen: \"127.0.0.1:" + std::to_string(echo.port()) + "\" }\n" + one_route_config(echo.port());
    auto path = dir.write("taken.yaml", config);
    auto [code, out] = run_command(gatehouse_binary() + " --config " + path + " 2>&1");
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("cannot listen on admin address 127.0.0.1:" + std::to_string(echo.port())), std::string::npos)
        << out;
}
