// TLS to upstreams through the real binary: gatehouse-echo speaks HTTPS with certificates the
// openssl tool makes at test time; the gateway verifies them, pools and resumes its sessions,
// and answers 502 upstream_tls with the reason when one does not verify.
#include <thread>

#include "certificates.hpp"
#include "common.hpp"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// An HTTPS echo with certificate name (name.pem / name.key in dir).
std::unique_ptr<echo_server> https_echo(temp_dir& dir, const std::string& name,
                                        const std::vector<std::string>& more = {}) {
    std::vector<std::string> args{"--tls-cert", dir.path() + "/" + name + ".pem", "--tls-key",
                                  dir.path() + "/" + name + ".key"};
    args.insert(args.end(), more.begin(), more.end());
    return std::make_unique<echo_server>(dir, name, args);
}

std::string config(std::uint16_t upstream, const std::string& tls) {
    return one_route_config(upstream, "", "", "    tls: " + tls + "\n");
}

TEST(UpstreamTls, VerifiedPooledAndResumedAcrossThePoolsConnections) {
    temp_dir dir;
    ASSERT_EQ(make_ca(dir, "internal-ca"), "");
    ASSERT_EQ(make_certificate(dir, "billing", {.subject = "", .sans = "DNS:billing.internal", .ca = "internal-ca"}),
              "");
    auto echo = https_echo(dir, "billing");
    gateway gw(dir,
               config(echo->port(), "{ server_name: billing.internal, ca_file: " + dir.path() + "/internal-ca.pem }"));
    for (int i = 0; i < 5; ++i) {  // one keep-alive connection, one handshake
        auto r = request(gw.port(), get_request("/one"));
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200) << r->body;
        EXPECT_EQ(json_field(r->body, "service"), "billing");
    }
    EXPECT_EQ(echo->tls_stat("tls_handshakes"), 2);  // the gateway's, and this /__stats request's own
    // Four at once: the pooled connection and three new ones, which resume the first session.
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back([&] {
            auto r = request(gw.port(), get_request("/delay/400"));
            if (r && r->status == 200) ++ok;
        });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(ok, 4);
    EXPECT_EQ(echo->tls_stat("tls_handshakes"), 2 + 3 + 1);
    EXPECT_EQ(echo->tls_stat("tls_resumed"), 3) << gw.proc().log();
    // Large bodies both ways over the upstream's TLS.
    auto [c1, down] = run_command("curl -s --max-time 30 http://127.0.0.1:" + std::to_string(gw.port()) +
                                  "/bytes/8000000 -o " + dir.path() + "/down.bin -w \"%{http_code} %{size_download}\"");
    EXPECT_EQ(down, "200 8000000");
    std::string upload(3'000'000, 'x');
    std::uint64_t fnv = 0xcbf29ce484222325ULL;
    for (std::size_t i = 0; i < upload.size(); ++i) {
        upload[i] = static_cast<char>('a' + (i * 7919) % 26);
        fnv = (fnv ^ static_cast<unsigned char>(upload[i])) * 0x100000001b3ULL;
    }
    dir.write("up.bin", upload);
    auto [c2, up] = run_command("curl -s --max-time 30 --data-binary @" + dir.path() +
                                "/up.bin http://127.0.0.1:" + std::to_string(gw.port()) + "/up");
    EXPECT_EQ(json_field(up, "body_fnv"), std::to_string(fnv)) << up.substr(0, 300);
}

TEST(UpstreamTls, WrongNameExpiredAndUnknownCaAre502WithTheReason) {
    temp_dir dir;
    ASSERT_EQ(make_ca(dir, "internal-ca"), "");
    ASSERT_EQ(make_ca(dir, "other-ca"), "");
    ASSERT_EQ(make_certificate(dir, "other", {.subject = "", .sans = "DNS:other.internal", .ca = "internal-ca"}), "");
    ASSERT_EQ(
        make_certificate(dir, "old", {.subject = "", .sans = "DNS:billing.internal", .ca = "internal-ca", .days = "0"}),
        "");
    ASSERT_EQ(make_certificate(dir, "stranger", {.subject = "", .sans = "DNS:billing.internal", .ca = "other-ca"}), "");
    peer_pause(1100ms);  // "old" has expired
    const std::string tls = "{ server_name: billing.internal, ca_file: " + dir.path() + "/internal-ca.pem }";
    for (auto [name, reason] : {std::pair{"other", "hostname mismatch"}, std::pair{"old", "certificate has expired"},
                                std::pair{"stranger", "unable to get local issuer certificate"}}) {
        SCOPED_TRACE(name);
        auto echo = https_echo(dir, name);
        gateway gw(dir, config(echo->port(), tls));
        auto r = request(gw.port(), get_request("/x"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 502);
        EXPECT_EQ(json_field(r->body, "error"), "upstream_tls") << r->body;
        EXPECT_NE(r->body.find(reason), std::string::npos) << r->body;
        EXPECT_FALSE(json_field(r->body, "request_id").empty()) << r->body;
        EXPECT_TRUE(gw.proc().wait_for_log(std::string("TLS handshake failed: ") + reason)) << gw.proc().log();
    }
    // verify: false lets the wrong name through, with a warning in the log.
    auto echo = https_echo(dir, "other");
    gateway gw(dir, config(echo->port(), "{ server_name: billing.internal, verify: false }"));
    auto r = request(gw.port(), get_request("/x"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_TRUE(gw.proc().wait_for_log("tls.verify is false")) << gw.proc().log();
}

TEST(UpstreamTls, ClientCertificateForAnUpstreamThatRequiresOne) {
    temp_dir dir;
    ASSERT_EQ(make_ca(dir, "internal-ca"), "");
    ASSERT_EQ(make_ca(dir, "clients-ca"), "");
    ASSERT_EQ(make_certificate(dir, "billing", {.subject = "", .sans = "DNS:billing.internal", .ca = "internal-ca"}),
              "");
    ASSERT_EQ(
        make_certificate(dir, "gateway", {.subject = "/CN=gatehouse", .sans = "DNS:gatehouse", .ca = "clients-ca"}),
        "");
    auto echo = https_echo(dir, "billing", {"--client-ca", dir.path() + "/clients-ca.pem"});
    const std::string base = "{ server_name: billing.internal, ca_file: " + dir.path() + "/internal-ca.pem";
    {
        gateway without(dir, config(echo->port(), base + " }"));
        auto r = request(without.port(), get_request("/x"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 502);
        EXPECT_EQ(json_field(r->body, "error"), "upstream_tls") << r->body;
    }
    gateway gw(dir, config(echo->port(), base + ", client_cert: { cert: " + dir.path() +
                                             "/gateway.pem, key: " + dir.path() + "/gateway.key } }"));
    auto r = request(gw.port(), get_request("/x"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json_field(r->body, "tls_client"), "/CN=gatehouse") << r->body;
    // /config names the files, never what is in them.
    auto config = request(gw.admin_port(), "GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(config);
    EXPECT_NE(config->body.find("\"key\":\"" + dir.path() + "/gateway.key\""), std::string::npos) << config->body;
    EXPECT_NE(config->body.find("\"server_name\":\"billing.internal\""), std::string::npos) << config->body;
    EXPECT_EQ(config->body.find("PRIVATE KEY"), std::string::npos) << config->body;
}

TEST(UpstreamTls, BadFilesAreConfigErrorsWithFileAndLine) {
    temp_dir dir;
    ASSERT_EQ(make_ca(dir, "internal-ca"), "");
    ASSERT_EQ(make_certificate(dir, "a"), "");
    ASSERT_EQ(make_certificate(dir, "b"), "");
    auto validate = [&](const std::string& tls) {
        auto path = dir.write("bad.yaml", "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:1\"]\n    tls:\n" + tls +
                                              "routes: [ { name: app, upstream: app } ]\n");
        return run_command(gatehouse_binary() + " --validate " + path + " 2>&1");
    };
    auto [c1, ca] = validate("      ca_file: " + dir.path() + "/nope.pem\n");
    EXPECT_NE(c1, 0);
    EXPECT_NE(ca.find("bad.yaml:5:"), std::string::npos) << ca;
    EXPECT_NE(ca.find("upstreams.app.tls.ca_file"), std::string::npos) << ca;
    EXPECT_NE(ca.find("cannot read CA file"), std::string::npos) << ca;
    auto [c2, key] = validate("      client_cert: { cert: " + dir.path() + "/a.pem, key: " + dir.path() + "/b.key }\n");
    EXPECT_NE(c2, 0);
    EXPECT_NE(key.find("upstreams.app.tls.client_cert"), std::string::npos) << key;
    EXPECT_NE(key.find("does not match"), std::string::npos) << key;
    auto [c3, ok] = validate("      ca_file: " + dir.path() + "/internal-ca.pem\n      verify: true\n");
    EXPECT_EQ(c3, 0) << ok;
}

}  // namespace
