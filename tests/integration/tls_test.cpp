// TLS listeners through the real binary, with certificates the openssl tool makes at test time
// and real clients (curl, openssl s_client).
#include <csignal>
#include <thread>

#include "certificates.hpp"
#include "common.hpp"
#include "tls_client.hpp"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// A self-signed EC certificate for name (its SAN and CN) in dir: name.pem and name.key.
// days "0": it expires the second it is made.
void self_signed(const temp_dir& dir, const std::string& name, const std::string& days = "2") {
    certificate_spec spec;
    spec.days = days;
    ASSERT_EQ(harness::make_certificate(dir, name, spec), "");
}

std::string tls_config(const temp_dir& dir, std::uint16_t upstream, const std::vector<std::string>& names,
                       const std::string& extra_tls = "", const std::string& extra_server = "",
                       const std::string& filters = "") {
    std::string certs;
    for (const auto& n : names) {
        certs += "          - { cert: " + dir.path() + "/" + n + ".pem, key: " + dir.path() + "/" + n + ".key }\n";
    }
    return "server:\n  workers: 1\n" + extra_server + "  listen:\n    - address: \"127.0.0.1:0\"\n      tls:\n" +
           extra_tls + "        certificates:\n" + certs + "logging: { level: info }\n" + filters +
           "upstreams: { app: { endpoints: [\"127.0.0.1:" + std::to_string(upstream) +
           "\"] } }\nroutes: [ { name: app, upstream: app } ]\n";
}

// curl over HTTPS to name:port (resolved to 127.0.0.1), trusting ca; prints body then status.
std::pair<int, std::string> curl(std::uint16_t port, const std::string& name, const std::string& ca,
                                 const std::string& flags = "", const std::string& path = "/") {
    return run_command("curl -s -S --max-time 10 " + flags + " --cacert " + ca + " --resolve " + name + ":" +
                       std::to_string(port) + ":127.0.0.1 -w \"\\n%{http_code} %{ssl_verify_result}\" https://" + name +
                       ":" + std::to_string(port) + path + " 2>&1");
}

// The subject openssl s_client sees when asking for server_name (empty: no SNI).
std::string subject_for(std::uint16_t port, const std::string& server_name, const std::string& flags = "") {
    auto [code, out] =
        run_command("echo | timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                    (server_name.empty() ? " -noservername" : " -servername " + server_name) + " " + flags + " 2>&1");
    auto at = out.find("subject=");
    if (at == std::string::npos) return "no handshake: " + out.substr(0, 300);
    // OpenSSL 3.0 prints "subject=CN = a.test", 3.5 "subject=CN=a.test": compare without spaces.
    auto line = out.substr(at, out.find('\n', at) - at);
    std::string compact;
    for (char c : line) {
        if (c != ' ') compact += c;
    }
    return compact;
}

}  // namespace

TEST(Tls, CurlOverTls12And13WithForwardedProtoHttps) {
    temp_dir dir;
    self_signed(dir, "api.test");
    echo_server echo(dir);
    gateway gw(dir, tls_config(dir, echo.port(), {"api.test"}, "", "",
                               "filters: { h: { type: headers, request: { set: { X-Scheme: \"%{scheme}\" } } } }\n"
                               "default_filters: [h]\n"));
    const auto ca = dir.path() + "/api.test.pem";
    for (const std::string flags : {"--tlsv1.2 --tls-max 1.2", "--tlsv1.3"}) {
        auto [code, out] = curl(gw.port(), "api.test", ca, flags + " -H \"X-Forwarded-Proto: http\"");
        ASSERT_EQ(code, 0) << flags << ": " << out;
        EXPECT_NE(out.find("\n200 0"), std::string::npos) << flags << ": " << out;
        EXPECT_NE(out.find("\"x-forwarded-proto\":\"https\""), std::string::npos) << out;
        EXPECT_NE(out.find("\"x-scheme\":\"https\""), std::string::npos) << out;
    }
    // Keep-alive over one TLS connection: curl reuses it for the second URL.
    auto [code, out] =
        run_command("curl -s -v --max-time 10 --cacert " + ca + " --resolve api.test:" + std::to_string(gw.port()) +
                    ":127.0.0.1 https://api.test:" + std::to_string(gw.port()) +
                    "/a https://api.test:" + std::to_string(gw.port()) + "/b 2>&1");
    // curl 7.88 says "Re-using existing connection", curl 8.14 "Re-using existing https: connection",
    // other curl 8 releases "Reusing existing ... connection".
    EXPECT_NE(out.find("using existing"), std::string::npos) << out;
    EXPECT_NE(out.find("ALPN: server accepted http/1.1"), std::string::npos) << out;
}

TEST(Tls, SniPicksEachCertificateAndTheFirstByDefault) {
    temp_dir dir;
    self_signed(dir, "a.test");
    self_signed(dir, "b.test");
    self_signed(dir, "*.wild.test");
    echo_server echo(dir);
    gateway gw(dir, tls_config(dir, echo.port(), {"a.test", "b.test", "*.wild.test"}));
    EXPECT_EQ(subject_for(gw.port(), "a.test"), "subject=CN=a.test");
    EXPECT_EQ(subject_for(gw.port(), "B.Test"), "subject=CN=b.test");
    EXPECT_EQ(subject_for(gw.port(), "x.wild.test"), "subject=CN=*.wild.test");
    EXPECT_EQ(subject_for(gw.port(), "other.test"), "subject=CN=a.test");
    EXPECT_EQ(subject_for(gw.port(), ""), "subject=CN=a.test");
    auto [code, out] = curl(gw.port(), "b.test", dir.path() + "/b.test.pem");
    EXPECT_NE(out.find("\n200 0"), std::string::npos) << out;
}

TEST(Tls, OldProtocolVersionsAreRefused) {
    temp_dir dir;
    self_signed(dir, "api.test");
    echo_server echo(dir);
    {
        gateway gw(dir, tls_config(dir, echo.port(), {"api.test"}));
        EXPECT_EQ(subject_for(gw.port(), "api.test", "-tls1_2"), "subject=CN=api.test");
        EXPECT_EQ(subject_for(gw.port(), "api.test", "-tls1_1").find("subject="), std::string::npos);
        EXPECT_EQ(subject_for(gw.port(), "api.test", "-tls1").find("subject="), std::string::npos);
    }
    gateway strict(dir, tls_config(dir, echo.port(), {"api.test"}, "        min_version: \"1.3\"\n"));
    EXPECT_EQ(subject_for(strict.port(), "api.test", "-tls1_3"), "subject=CN=api.test");
    EXPECT_EQ(subject_for(strict.port(), "api.test", "-tls1_2").find("subject="), std::string::npos);
}

TEST(Tls, ASilentClientIsClosedAtTheHandshakeTimeout) {
    temp_dir dir;
    self_signed(dir, "api.test");
    echo_server echo(dir);
    gateway gw(dir, tls_config(dir, echo.port(), {"api.test"}, "", "  timeouts: { handshake: 300ms }\n"));
    client silent(gw.port());
    EXPECT_TRUE(silent.closed_within(5s));  // connects and sends nothing: no slot held for ever
    // Plain HTTP on the TLS port gets no HTTP answer, and the port keeps serving TLS.
    client plain(gw.port());
    plain.send(get_request("/"));
    EXPECT_TRUE(plain.closed_within(5s));
    auto [code, out] = curl(gw.port(), "api.test", dir.path() + "/api.test.pem", "--tlsv1.3");
    EXPECT_NE(out.find("\n200 0"), std::string::npos) << out;
    // Each outcome is counted, and the certificate's remaining life is a gauge.
    const auto listener = "listener=\"127.0.0.1:" + std::to_string(gw.port()) + "\"";
    auto metrics =
        wait_for_metrics(gw.admin_port(), {"gatehouse_tls_handshakes_total{" + listener + ",result=\"ok\"} 1",
                                           "gatehouse_tls_handshakes_total{" + listener + ",result=\"timeout\"} 1"});
    EXPECT_NE(metrics.find("gatehouse_tls_handshakes_total{" + listener + ",result=\"failed\"} 1"), std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("gatehouse_tls_versions_total{" + listener + ",version=\"TLSv1.3\"} 1"), std::string::npos)
        << metrics;
    auto gauge = metrics.find("gatehouse_tls_certificate_expiry_seconds{" + listener);
    ASSERT_NE(gauge, std::string::npos) << metrics;
    auto line = metrics.substr(gauge, metrics.find('\n', gauge) - gauge);
    EXPECT_NE(line.find("names=\"api.test\""), std::string::npos) << line;
    auto seconds = std::stoll(line.substr(line.rfind(' ') + 1));
    EXPECT_GT(seconds, 86400);  // made for two days
    EXPECT_LE(seconds, 2 * 86400);
}

TEST(Tls, BadCertificatesAreConfigErrorsWithFileAndLine) {
    temp_dir dir;
    self_signed(dir, "a.test");
    self_signed(dir, "b.test");
    self_signed(dir, "old.test", "0");  // expires as it is made
    peer_pause(1100ms);                 // let its second pass
    auto validate = [&](const std::string& cert, const std::string& key) {
        auto path = dir.write("bad.yaml",
                              "server:\n  listen:\n    - address: \"127.0.0.1:0\"\n      tls:\n"
                              "        certificates:\n          - { cert: " +
                                  cert + ", key: " + key +
                                  " }\nupstreams: { app: { endpoints: [\"127.0.0.1:1\"] } }\n"
                                  "routes: [ { name: app, upstream: app } ]\n");
        return run_command(gatehouse_binary() + " --validate " + path + " 2>&1");
    };
    const auto d = dir.path() + "/";
    auto [c1, mismatch] = validate(d + "a.test.pem", d + "b.test.key");
    EXPECT_NE(c1, 0);
    EXPECT_NE(mismatch.find("bad.yaml:6:"), std::string::npos) << mismatch;
    EXPECT_NE(mismatch.find("server.listen[0].tls.certificates[0]"), std::string::npos) << mismatch;
    EXPECT_NE(mismatch.find("does not match"), std::string::npos) << mismatch;
    auto [c2, missing] = validate(d + "nope.pem", d + "a.test.key");
    EXPECT_NE(c2, 0);
    EXPECT_NE(missing.find("cannot read certificate"), std::string::npos) << missing;
    auto [c3, expired] = validate(d + "old.test.pem", d + "old.test.key");
    EXPECT_NE(c3, 0);
    EXPECT_NE(expired.find("has expired"), std::string::npos) << expired;
    auto [c4, ok] = validate(d + "a.test.pem", d + "a.test.key");
    EXPECT_EQ(c4, 0) << ok;
}

TEST(Tls, AReloadServesTheNewCertificateToNewHandshakesAndKeepsOpenConnections) {
    temp_dir dir;
    self_signed(dir, "api.test");
    echo_server echo(dir);
    gateway gw(dir, tls_config(dir, echo.port(), {"api.test"}));
    auto before = run_command("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(gw.port()) +
                              " -servername api.test 2>/dev/null | openssl x509 -noout -serial");
    ASSERT_NE(before.second.find("serial="), std::string::npos) << before.second;
    // A keep-alive connection open across the reload: this client sends a request, waits 1.5 s
    // (its own pacing), sends another on the same TLS connection.
    std::pair<int, std::string> open_connection;
    std::thread client_thread([&] {
        open_connection = run_command(
            "(printf \"GET /a HTTP/1.1\\r\\nHost: api.test\\r\\n\\r\\n\"; sleep 1.5; "
            "printf \"GET /b HTTP/1.1\\r\\nHost: api.test\\r\\nConnection: close\\r\\n\\r\\n\"; sleep 1) | "
            "timeout 10 openssl s_client -quiet -connect 127.0.0.1:" +
            std::to_string(gw.port()) + " -servername api.test 2>/dev/null");
    });
    peer_pause(300ms);             // the first request is in
    self_signed(dir, "api.test");  // same name, new key and serial, same files
    gw.proc().signal(SIGHUP);
    ASSERT_TRUE(eventually([&] {
        auto after = run_command("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(gw.port()) +
                                 " -servername api.test 2>/dev/null | openssl x509 -noout -serial");
        return after.second.find("serial=") != std::string::npos && after.second != before.second;
    }));
    auto [code, out] = curl(gw.port(), "api.test", dir.path() + "/api.test.pem");
    EXPECT_NE(out.find("\n200 0"), std::string::npos) << out;
    client_thread.join();
    const auto& both = open_connection.second;
    auto first = both.find("HTTP/1.1 200");
    ASSERT_NE(first, std::string::npos) << both;
    EXPECT_NE(both.find("HTTP/1.1 200", first + 1), std::string::npos) << "second request after the reload:\n" << both;
    EXPECT_NE(both.find("\"target\":\"/b\""), std::string::npos) << both;
    // A broken certificate on reload is refused and the running one keeps serving.
    dir.write("api.test.key", "not a key\n");
    gw.proc().signal(SIGHUP);
    EXPECT_TRUE(gw.proc().wait_for_log("reload rejected"));
    auto [code2, out2] = curl(gw.port(), "api.test", dir.path() + "/api.test.pem");
    EXPECT_NE(out2.find("\n200 0"), std::string::npos) << out2;
}

TEST(Tls, ARedirectListenerSendsClientsToHttpsKeepingPathAndQuery) {
    temp_dir dir;
    auto config = [](const std::string& port) {
        return "server:\n  workers: 1\n  listen:\n    - { address: \"127.0.0.1:0\", redirect_to_https: " + port +
               " }\nupstreams: { app: { endpoints: [\"127.0.0.1:1\"] } }\nroutes: [ { name: app, upstream: app } ]\n";
    };
    gateway gw(dir, config("8443"));
    client c(gw.port());
    c.send("GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: API.test:8080\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 308);
    EXPECT_EQ(r->header("location"), "https://api.test:8443/a/b?x=1&y=%20");
    EXPECT_EQ(json_field(r->body, "error"), "redirect_to_https");
    // The connection stays usable, and no route or upstream was involved.
    c.send("POST /form HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 0\r\n\r\n");
    auto r2 = c.read_response();
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->status, 308);
    EXPECT_EQ(r2->header("location"), "https://[::1]:8443/form");
    temp_dir dir2;
    gateway standard(dir2, config("443"));
    auto r3 = request(standard.port(), get_request("/x"));
    ASSERT_TRUE(r3);
    EXPECT_EQ(r3->header("location"), "https://test.local/x") << r3->body;
}

TEST(Tls, ACloseEndsWithCloseNotifySoTheClientCanTellItFromATruncation) {
    temp_dir dir;
    self_signed(dir, "api.test");
    echo_server echo(dir);
    gateway gw(dir, tls_config(dir, echo.port(), {"api.test"}));
    // HTTP/1.0: the response ends with the connection. The client waits 1 s (its own pacing)
    // so that the gateway, not the client, closes first.
    auto [code, out] = run_command(
        "(printf \"GET /x HTTP/1.0\\r\\nHost: api.test\\r\\n\\r\\n\"; sleep 1) | timeout 10 "
        "openssl s_client -quiet -connect 127.0.0.1:" +
        std::to_string(gw.port()) + " -servername api.test 2>&1");
    EXPECT_NE(out.find("\"target\":\"/x\""), std::string::npos) << out;
    EXPECT_EQ(out.find("unexpected eof"), std::string::npos) << out;
}

// One HTTPS request with openssl s_client, resuming the session in file sess_in (if set) and
// saving the session it ends with in sess_out; "Reused", "New" or what went wrong.
std::string session_handshake(std::uint16_t port, const std::string& sess_in, const std::string& sess_out) {
    auto [code, out] = run_command(
        "printf \"GET / HTTP/1.1\\r\\nHost: api.test\\r\\nConnection: close\\r\\n\\r\\n\" | timeout 10 openssl "
        "s_client -connect 127.0.0.1:" +
        std::to_string(port) + " -servername api.test -ign_eof" + (sess_in.empty() ? "" : " -sess_in " + sess_in) +
        " -sess_out " + sess_out + " 2>&1");
    for (const char* outcome : {"\nReused, TLSv1.3", "\nNew, TLSv1.3"}) {
        if (out.find(outcome) != std::string::npos) return std::string(outcome).substr(1, outcome[1] == 'R' ? 6 : 3);
    }
    return "no handshake: " + out.substr(0, 300);
}

// The first 16 bytes of the ticket in a saved session: the name of the key that encrypted it.
std::string ticket_key_name(const std::string& session_file) {
    auto [code, out] = run_command("openssl sess_id -in " + session_file + " -text -noout");
    auto at = out.find("0000 - ", out.find("TLS session ticket:"));
    return at == std::string::npos ? "no ticket: " + out : out.substr(at, out.find('\n', at) - at);
}

TEST(Tls, SessionTicketsResumeOnEveryWorkerAcrossReloadsAndTheirKeysRotate) {
    temp_dir dir;
    self_signed(dir, "api.test");
    echo_server echo(dir);
    gateway gw(dir,
               "server:\n  workers: 4\n  listen:\n    - address: \"127.0.0.1:0\"\n      tls:\n"
               "        session_lifetime: 4s\n        certificates: [ { cert: " +
                   dir.path() + "/api.test.pem, key: " + dir.path() +
                   "/api.test.key } ]\nupstreams: { app: { endpoints: [\"127.0.0.1:" + std::to_string(echo.port()) +
                   "\"] } }\nroutes: [ { name: app, upstream: app } ]\n");
    const auto file = [&](const std::string& name) { return dir.path() + "/" + name + ".session"; };
    const auto started = std::chrono::steady_clock::now();
    const auto pause_until = [&](std::chrono::milliseconds since_start) {
        auto left = started + since_start - std::chrono::steady_clock::now();
        if (left > 0ms) peer_pause(std::chrono::duration_cast<std::chrono::milliseconds>(left));
    };
    ASSERT_EQ(session_handshake(gw.port(), "", file("t1")), "New");
    // Connections land on any of the four workers: every one takes the ticket.
    for (int i = 0; i < 8; ++i) EXPECT_EQ(session_handshake(gw.port(), file("t1"), file("unused")), "Reused");
    // A reload builds new TLS contexts; the ticket keys stay, so sessions survive it.
    gw.proc().signal(SIGHUP);
    EXPECT_TRUE(gw.proc().wait_for_log("reload"));
    EXPECT_EQ(session_handshake(gw.port(), file("t1"), file("unused")), "Reused");
    pause_until(2500ms);
    ASSERT_EQ(session_handshake(gw.port(), "", file("t2")), "New");  // a ticket from the same key, later
    EXPECT_EQ(ticket_key_name(file("t1")), ticket_key_name(file("t2")));
    // Past the key's lifetime a new key encrypts; t2 (still within its own lifetime) is
    // decrypted with the previous key, resumed, and renewed under the new one.
    pause_until(5000ms);
    EXPECT_EQ(session_handshake(gw.port(), file("t2"), file("t3")), "Reused");
    EXPECT_NE(ticket_key_name(file("t3")), ticket_key_name(file("t2")));
    EXPECT_EQ(ticket_key_name(file("t3")).find("no ticket"), std::string::npos);
}

TEST(Tls, AnEcdsaAndAnRsaCertificateForOneNameServeEachClientTheOneItSupports) {
    temp_dir dir;
    self_signed(dir, "api.test");
    ASSERT_EQ(
        harness::make_certificate(
            dir, "api-rsa", {.subject = "/CN=api.test", .sans = "DNS:api.test", .ca = "", .days = "2", .rsa = true}),
        "");
    echo_server echo(dir);
    gateway gw(dir, tls_config(dir, echo.port(), {"api.test", "api-rsa"}));
    auto key_of = [&](const std::string& flags) {
        auto [code, out] =
            run_command("echo | timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(gw.port()) +
                        " -servername api.test " + flags + " 2>&1");
        auto at = out.find("Server public key is ");
        return at == std::string::npos ? "no handshake: " + out.substr(0, 300)
                                       : out.substr(at, out.find('\n', at) - at);
    };
    for (const auto* version : {"-tls1_2", "-tls1_3"}) {
        SCOPED_TRACE(version);
        EXPECT_EQ(key_of(std::string(version) + " -sigalgs ECDSA+SHA256"), "Server public key is 256 bit");
        EXPECT_EQ(key_of(std::string(version) + " -sigalgs rsa_pss_rsae_sha256:RSA+SHA256"),
                  "Server public key is 2048 bit");
    }
    // A client that takes either gets one, and curl completes a request over each.
    EXPECT_NE(key_of("").find("Server public key is"), std::string::npos);
    auto [c1, rsa] = run_command(
        "curl -s --max-time 10 -k --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 "
        "--resolve api.test:" +
        std::to_string(gw.port()) +
        ":127.0.0.1 -w \"%{http_code}\" "
        "https://api.test:" +
        std::to_string(gw.port()) + "/ -o /dev/null");
    EXPECT_EQ(rsa, "200");
}

TEST(Tls, CertificateRotationByReloadUnderLoadFailsNoRequest) {
    temp_dir dir;
    ASSERT_EQ(make_ca(dir, "ca"), "");  // the clients trust the CA: both certificates verify
    ASSERT_EQ(harness::make_certificate(dir, "api.test", {.subject = "", .sans = "", .ca = "ca"}), "");
    echo_server echo(dir);
    gateway gw(dir, tls_config(dir, echo.port(), {"api.test"}, "", "  workers: 2\n"));
    std::atomic<bool> stop{false};
    struct client {
        https_load_options options;
        https_load_result result;
    };
    std::vector<client> clients;
    for (bool tls13 : {true, false}) {
        for (int mode = 0; mode < 3; ++mode) {  // keep-alive; new connections resuming; new full handshakes
            https_load_options o{.port = gw.port(), .server_name = "api.test", .ca_file = dir.path() + "/ca.pem"};
            o.keep_alive = mode == 0;
            o.resume = mode == 1;
            o.tls13 = tls13;
            clients.push_back({o, {}});
        }
    }
    ASSERT_EQ(harness::make_certificate(dir, "next", {.subject = "/CN=api.test", .sans = "DNS:api.test", .ca = "ca"}),
              "");
    std::vector<std::thread> threads;
    for (auto& c : clients) threads.emplace_back([&c, &stop] { https_load(c.options, stop, c.result); });
    peer_pause(700ms);
    ASSERT_EQ(run_command("cp " + dir.path() + "/next.pem " + dir.path() + "/api.test.pem && cp " + dir.path() +
                          "/next.key " + dir.path() + "/api.test.key")
                  .first,
              0);
    gw.proc().signal(SIGHUP);
    EXPECT_TRUE(gw.proc().wait_for_log("reload"));
    peer_pause(1200ms);
    stop = true;
    for (auto& t : threads) t.join();
    for (const auto& c : clients) {
        SCOPED_TRACE(std::string(c.options.tls13 ? "TLS 1.3" : "TLS 1.2") + (c.options.keep_alive ? ", keep-alive"
                                                                             : c.options.resume   ? ", resuming"
                                                                                                : ", full handshakes"));
        EXPECT_EQ(c.result.failed, 0) << c.result.last_error;
        EXPECT_GT(c.result.ok, 5);
        if (!c.options.keep_alive && !c.options.resume) {
            EXPECT_EQ(c.result.serials.size(), 2u);  // the old certificate, then the new one
        }
        if (c.options.resume) {
            EXPECT_GT(c.result.resumed, 0);
            EXPECT_EQ(c.result.resumed + 1, c.result.handshakes);  // all but the first, across the reload
        }
    }
}

TEST(Tls, OnlyMozillaIntermediateCiphersAndGroupsAreAccepted) {
    temp_dir dir;
    self_signed(dir, "api.test");
    echo_server echo(dir);
    gateway gw(dir, tls_config(dir, echo.port(), {"api.test"}));
    const auto accepted = [&](const std::string& flags) {
        return subject_for(gw.port(), "api.test", flags) == "subject=CN=api.test";
    };
    EXPECT_TRUE(accepted("-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256"));
    EXPECT_TRUE(accepted("-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305"));
    EXPECT_FALSE(accepted("-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA"));  // CBC, no AEAD
    EXPECT_FALSE(accepted("-tls1_2 -cipher AES128-GCM-SHA256"));       // no forward secrecy
    EXPECT_TRUE(accepted("-tls1_3 -groups X25519"));
    EXPECT_TRUE(accepted("-tls1_3 -groups P-384"));
    EXPECT_FALSE(accepted("-tls1_3 -groups ffdhe2048"));
    EXPECT_FALSE(accepted("-tls1_3 -groups X448"));
}

TEST(Tls, LargeBodiesStreamBothWaysOverTls) {
    temp_dir dir;
    self_signed(dir, "api.test");
    echo_server echo(dir);
    gateway gw(dir, tls_config(dir, echo.port(), {"api.test"}));
    const auto ca = dir.path() + "/api.test.pem";
    const auto resolve =
        " --resolve api.test:" + std::to_string(gw.port()) + ":127.0.0.1 https://api.test:" + std::to_string(gw.port());
    // 20 MB down: every byte of the pattern arrives, in order.
    auto [c1, down] = run_command("curl -s --max-time 30 --cacert " + ca + resolve + "/bytes/20000000 -o " +
                                  dir.path() + "/down.bin -w \"%{http_code} %{size_download}\"");
    EXPECT_EQ(down, "200 20000000");
    const auto body = read_file(dir.path() + "/down.bin");
    ASSERT_EQ(body.size(), 20000000u);
    bool pattern = true;
    for (std::size_t i = 0; i < body.size() && pattern; i += 4093) pattern = body[i] == static_cast<char>('a' + i % 26);
    EXPECT_TRUE(pattern);
    // 7 MB up, with a length and chunked: the upstream hashes what it got.
    std::string upload(7'000'000, '\0');
    std::uint64_t seed = 88172645463325252ULL, fnv = 0xcbf29ce484222325ULL;
    for (auto& c : upload) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        c = static_cast<char>(seed);
        fnv = (fnv ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    dir.write("up.bin", upload);
    for (const std::string framing : {"", " -H \"Transfer-Encoding: chunked\""}) {
        auto [c2, up] = run_command("curl -s --max-time 30 --cacert " + ca + framing + " --data-binary @" + dir.path() +
                                    "/up.bin" + resolve + "/up");
        EXPECT_EQ(json_field(up, "body_bytes"), "7000000") << framing << up.substr(0, 300);
        EXPECT_EQ(json_field(up, "body_fnv"), std::to_string(fnv)) << framing;
    }
}
