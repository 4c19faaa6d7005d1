// Client certificates on a TLS listener (client_auth none | optional | require), what the
// gateway does with a verified one (request values, X-Forwarded-Client-Cert, the access log)
// and the mtls filter, through the real binary with curl and certificates made at test time.
#include "certificates.hpp"
#include "common.hpp"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// Certificates for one test: a server certificate (api.test, self-signed), a client CA and
// clients signed by it, and a client signed by another CA.
struct pki {
    explicit pki(const temp_dir& dir) : dir(dir) {
        EXPECT_EQ(make_certificate(dir, "api.test"), "");
        EXPECT_EQ(make_ca(dir, "clients-ca"), "");
        EXPECT_EQ(make_ca(dir, "other-ca"), "");
        EXPECT_EQ(make_certificate(dir, "billing",
                                   {.subject = "/O=Example/CN=billing",
                                    .sans = "DNS:billing.internal,URI:spiffe://example.org/billing",
                                    .ca = "clients-ca"}),
                  "");
        EXPECT_EQ(make_certificate(dir, "reports",
                                   {.subject = "/O=Example/CN=reports", .sans = "DNS:reports", .ca = "clients-ca"}),
                  "");
        EXPECT_EQ(
            make_certificate(dir, "intruder",
                             {.subject = "/O=Example/CN=billing", .sans = "DNS:billing.internal", .ca = "other-ca"}),
            "");
    }
    std::string file(const std::string& name) const { return dir.path() + "/" + name; }
    // curl flags presenting client's certificate.
    std::string as(const std::string& client) const {
        return "--cert " + file(client + ".pem") + " --key " + file(client + ".key");
    }
    const temp_dir& dir;
};

std::string config(const pki& p, std::uint16_t upstream, const std::string& mode, const std::string& extra = "") {
    return "server:\n  workers: 1\n  listen:\n    - address: \"127.0.0.1:0\"\n      tls:\n"
           "        certificates: [ { cert: " +
           p.file("api.test.pem") + ", key: " + p.file("api.test.key") + " } ]\n        client_auth: { mode: " + mode +
           ", ca_file: " + p.file("clients-ca.pem") + ", forward_header: true }\nlogging: { level: info }\n" + extra +
           "upstreams: { app: { endpoints: [\"127.0.0.1:" + std::to_string(upstream) + "\"] } }\n";
}

// GET path over HTTPS with flags; the body, then a line "<status>" (000: no HTTP answer).
std::string get(std::uint16_t port, const pki& p, const std::string& flags, const std::string& path = "/") {
    return run_command("curl -s --max-time 10 " + flags + " --cacert " + p.file("api.test.pem") +
                       " --resolve api.test:" + std::to_string(port) +
                       ":127.0.0.1 -w \"\\n%{http_code}\" https://api.test:" + std::to_string(port) + path + " 2>&1")
        .second;
}

std::string status_of(const std::string& out) {
    return out.substr(out.rfind('\n') + 1);
}

// The SHA-256 fingerprint of a PEM certificate as lower-case hex, from the openssl tool.
std::string fingerprint(const std::string& pem) {
    auto [code, out] = run_command("openssl x509 -in " + pem + " -noout -fingerprint -sha256");
    std::string hex;
    for (char c : out.substr(out.find('=') + 1)) {
        if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(c));
    }
    return hex;
}

TEST(ClientCertificates, RequireRefusesTheHandshakeWithoutAVerifiedCertificate) {
    temp_dir dir;
    pki p(dir);
    echo_server echo(dir);
    gateway gw(dir, config(p, echo.port(), "require") + "routes: [ { name: app, upstream: app } ]\n");
    for (const auto* version : {"--tlsv1.2 --tls-max 1.2", "--tlsv1.3"}) {
        SCOPED_TRACE(version);
        EXPECT_EQ(status_of(get(gw.port(), p, version)), "000");  // no certificate
        EXPECT_EQ(status_of(get(gw.port(), p, std::string(version) + " " + p.as("intruder"))), "000");  // other CA
        // A verified client: the upstream learns who it is, and a client's own copy of the field is gone.
        auto out = get(gw.port(), p,
                       std::string(version) + " " + p.as("billing") +
                           " -H \"X-Forwarded-Client-Cert: Hash=forged;Subject=\\\"CN=admin\\\"\"");
        ASSERT_EQ(status_of(out), "200") << out;
        auto xfcc = json_field(out.substr(out.find("\"headers\":")), "x-forwarded-client-cert");
        EXPECT_EQ(xfcc, "Hash=" + fingerprint(p.file("billing.pem")) +
                            ";Subject=\"CN=billing,O=Example\";DNS=\"billing.internal\";URI=\"spiffe://"
                            "example.org/billing\"")
            << out;
        EXPECT_EQ(out.find("forged"), std::string::npos) << out;
    }
    const auto listener = "listener=\"127.0.0.1:" + std::to_string(gw.port()) + "\"";
    auto metrics = wait_for_metrics(gw.admin_port(),
                                    {"gatehouse_tls_handshakes_total{" + listener + ",result=\"client_certificate\"} 4",
                                     "gatehouse_tls_handshakes_total{" + listener + ",result=\"ok\"} 2"});
    EXPECT_NE(metrics.find("gatehouse_tls_handshakes_total{" + listener + ",result=\"client_certificate\"} 4"),
              std::string::npos)
        << metrics;
}

TEST(ClientCertificates, OptionalWithTheMtlsFilterGuardsOneRouteAndNamesTheConsumer) {
    temp_dir dir;
    pki p(dir);
    echo_server echo(dir);
    const auto log_file = dir.path() + "/access.log";
    gateway gw(dir, config(p, echo.port(), "optional",
                           "filters:\n"
                           "  partners: { type: mtls, sans: [spiffe://example.org/billing], consumer_header: "
                           "X-Consumer }\n"
                           "  who: { type: headers, request: { set: { X-Subject: \"%{tls_client_subject}\", "
                           "X-Sans: \"%{tls_client_san}\", X-Fingerprint: \"%{tls_client_fingerprint}\" } } }\n"
                           "  log: { type: access_log, output: \"" +
                               log_file +
                               "\", flush: 100ms, fields: [path, status, consumer, reason, tls_client] }\n"
                               "default_filters: [log, who]\n") +
                        "routes:\n"
                        "  - { name: partners, match: { prefix: /partners }, upstream: app, filters: [partners] }\n"
                        "  - { name: open, match: { prefix: / }, upstream: app }\n");
    // Without a certificate: the open route serves, the guarded one refuses.
    auto open = get(gw.port(), p, "-H \"X-Consumer: root\" -H \"X-Forwarded-Client-Cert: Hash=forged\"", "/open");
    ASSERT_EQ(status_of(open), "200") << open;
    EXPECT_EQ(open.find("x-forwarded-client-cert"), std::string::npos) << open;
    EXPECT_EQ(open.find("x-subject"), std::string::npos) << open;       // empty values leave the field out
    EXPECT_EQ(open.find("\"x-consumer\""), std::string::npos) << open;  // an identity field: client copies go
    auto refused = get(gw.port(), p, "", "/partners/a");
    EXPECT_EQ(status_of(refused), "403") << refused;
    EXPECT_EQ(json_field(refused, "error"), "client_certificate_required") << refused;
    // An allowed certificate: through, with the consumer named after its CN.
    auto billing = get(gw.port(), p, p.as("billing"), "/partners/b");
    ASSERT_EQ(status_of(billing), "200") << billing;
    auto headers = billing.substr(billing.find("\"headers\":"));
    EXPECT_EQ(json_field(headers, "x-consumer"), "billing");
    EXPECT_EQ(json_field(headers, "x-subject"), "CN=billing,O=Example");
    EXPECT_EQ(json_field(headers, "x-sans"), "DNS:billing.internal,URI:spiffe://example.org/billing");
    EXPECT_EQ(json_field(headers, "x-fingerprint"), fingerprint(p.file("billing.pem")));
    // Verified but not on the allow list: 403; signed by an unknown CA: no handshake, even optional.
    auto reports = get(gw.port(), p, p.as("reports"), "/partners/c");
    EXPECT_EQ(status_of(reports), "403") << reports;
    EXPECT_EQ(json_field(reports, "error"), "client_certificate_not_allowed") << reports;
    EXPECT_EQ(status_of(get(gw.port(), p, p.as("intruder"), "/open")), "000");
    // The access log names each holder.
    ASSERT_TRUE(eventually([&] { return read_file(log_file).find("/partners/c") != std::string::npos; }));
    auto log = read_file(log_file);
    EXPECT_NE(log.find("{\"path\":\"/partners/a\",\"status\":403,\"consumer\":\"\",\"reason\":"
                       "\"client_certificate_required\"}"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("\"path\":\"/partners/b\",\"status\":200,\"consumer\":\"billing\",\"reason\":\"\","
                       "\"tls_client\":{\"subject\":\"CN=billing,O=Example\",\"sans\":\"DNS:billing.internal,URI:"
                       "spiffe://example.org/billing\",\"fingerprint\":\"" +
                       fingerprint(p.file("billing.pem")) + "\"}"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("\"path\":\"/partners/c\",\"status\":403,\"consumer\":\"reports\""), std::string::npos) << log;
}

TEST(ClientCertificates, ConfigErrorsNameTheKey) {
    temp_dir dir;
    pki p(dir);
    auto validate = [&](const std::string& client_auth, const std::string& filters = "") {
        auto path = dir.write("bad.yaml",
                              "server:\n  listen:\n    - address: \"127.0.0.1:0\"\n      tls:\n"
                              "        certificates: [ { cert: " +
                                  p.file("api.test.pem") + ", key: " + p.file("api.test.key") +
                                  " } ]\n        client_auth: " + client_auth + "\n" + filters +
                                  "upstreams: { app: { endpoints: [\"127.0.0.1:1\"] } }\n"
                                  "routes: [ { name: app, upstream: app } ]\n");
        return run_command(gatehouse_binary() + " --validate " + path + " 2>&1");
    };
    auto [c1, no_ca] = validate("{ mode: require }");
    EXPECT_NE(c1, 0);
    EXPECT_NE(no_ca.find("server.listen[0].tls.client_auth.ca_file"), std::string::npos) << no_ca;
    auto [c2, unreadable] = validate("{ mode: optional, ca_file: " + p.file("nope.pem") + " }");
    EXPECT_NE(c2, 0);
    EXPECT_NE(unreadable.find("bad.yaml:6:"), std::string::npos) << unreadable;
    EXPECT_NE(unreadable.find("cannot read client CA file"), std::string::npos) << unreadable;
    auto [c3, mode] = validate("{ mode: sometimes, ca_file: " + p.file("clients-ca.pem") + " }");
    EXPECT_NE(c3, 0);
    EXPECT_NE(mode.find("client_auth.mode"), std::string::npos) << mode;
    auto [c4, filter] = validate("{ mode: optional, ca_file: " + p.file("clients-ca.pem") + " }",
                                 "filters: { m: { type: mtls, subjects: [billing], consumer: email } }\n");
    EXPECT_NE(c4, 0);
    EXPECT_NE(filter.find("filters.m.subjects"), std::string::npos) << filter;
    EXPECT_NE(filter.find("filters.m.consumer"), std::string::npos) << filter;
    auto [c5, ok] = validate("{ mode: optional, ca_file: " + p.file("clients-ca.pem") + " }",
                             "filters: { m: { type: mtls, subjects: [\"CN=billing,O=Example\"] } }\n");
    EXPECT_EQ(c5, 0) << ok;
}

}  // namespace
