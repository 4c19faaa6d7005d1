// gatehouse explain and the admin's POST /explain, through the real binary: what explain says
// the upstream receives is what a real request through the gateway delivers to it.
#include <boost/json.hpp>

#include "common.hpp"

using namespace harness;
namespace json = boost::json;

namespace {

std::string explain_config(std::uint16_t upstream_port, const std::string& extra_admin = "") {
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n"
           "admin: { listen: \"127.0.0.1:0\"" +
           extra_admin +
           " }\n"
           "filters:\n"
           "  office: { type: ip_filter, allow: [10.0.0.0/8] }\n"
           "  tag: { type: headers, request: { set: { X-Route: \"%{route}\" } } }\n"
           "upstreams:\n  app: { endpoints: [\"127.0.0.1:" +
           std::to_string(upstream_port) +
           "\"] }\n"
           "routes:\n"
           "  - name: users\n    match: { template: \"/api/users/{id}\" }\n    upstream: app\n"
           "    strip_prefix: /api\n    request_headers: { set: { X-Secret: \"${EXPLAIN_SECRET}\" }, remove: [X-Debug] "
           "}\n"
           "    filters: [tag]\n"
           "  - name: admin\n    match: { prefix: /admin }\n    upstream: app\n    filters: [office]\n";
}

std::optional<response> admin_post(std::uint16_t port, const std::string& path, const std::string& body,
                                   const std::string& extra = "") {
    return request(port, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra +
                             "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

// Header lines of a head, without the request line, the end and what differs per request.
std::vector<std::string> stable_lines(const std::vector<std::string>& lines) {
    std::vector<std::string> out;
    for (const auto& l : lines) {
        auto lower = l;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower.starts_with("x-request-id:") || lower.starts_with("traceparent:")) continue;
        out.push_back(l);
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST(Explain, AdminAnswerPredictsWhatTheUpstreamReceives) {
    temp_dir dir;
    std::mutex mutex;
    std::string received;
    raw_upstream up([&](int fd) {
        auto req = recv_request(fd);
        if (req.empty()) return;
        {
            std::lock_guard lock(mutex);
            received = req;
        }
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    gateway gw(dir, explain_config(up.port()), {{"EXPLAIN_SECRET", "very-secret-value"}});

    const std::string fields = "X-Debug: 1\r\nX-Forwarded-For: 6.6.6.6\r\nAccept: text/plain\r\n";
    auto real = request(gw.port(),
                        "GET /api/users/42?q=1 HTTP/1.1\r\nHost: api.test\r\n" + fields + "Connection: close\r\n\r\n");
    ASSERT_TRUE(real);
    ASSERT_EQ(real->status, 200);
    std::vector<std::string> upstream_lines;
    {
        std::lock_guard lock(mutex);
        std::string_view rest = received;
        while (!rest.empty()) {
            auto end = rest.find("\r\n");
            if (end == 0 || end == std::string_view::npos) break;
            upstream_lines.emplace_back(rest.substr(0, end));
            rest.remove_prefix(end + 2);
        }
    }
    ASSERT_FALSE(upstream_lines.empty());

    auto answer = admin_post(gw.admin_port(), "/explain",
                             R"({"request": "GET http://api.test/api/users/42?q=1",
                                 "headers": ["X-Debug: 1", "X-Forwarded-For: 6.6.6.6", "Accept: text/plain"]})");
    ASSERT_TRUE(answer);
    ASSERT_EQ(answer->status, 200) << answer->body;
    EXPECT_EQ(answer->header("content-type"), "application/json");
    auto doc = json::parse(answer->body).as_object();
    EXPECT_EQ(doc["routing"].as_object()["route"].as_string(), "users");
    std::vector<std::string> predicted;
    for (const auto& l : doc["upstream"].as_object()["request"].as_array()) predicted.emplace_back(l.as_string());
    ASSERT_FALSE(predicted.empty());
    EXPECT_EQ(predicted.front(), upstream_lines.front());  // GET /users/42?q=1 HTTP/1.1
    // The secret from the environment is redacted in the answer, sent for real upstream.
    auto redacted = stable_lines(std::vector<std::string>(upstream_lines.begin() + 1, upstream_lines.end()));
    for (auto& l : redacted) {
        if (l == "X-Secret: very-secret-value") l = "X-Secret: <redacted>";
    }
    std::sort(redacted.begin(), redacted.end());
    EXPECT_EQ(stable_lines(std::vector<std::string>(predicted.begin() + 1, predicted.end())), redacted);
    EXPECT_EQ(answer->body.find("very-secret-value"), std::string::npos);

    // A filter's decision: the ip filter refuses a client outside 10/8, as a real request gets.
    auto refused = admin_post(gw.admin_port(), "/explain", R"({"request": "GET http://api.test/admin/x"})");
    ASSERT_TRUE(refused);
    auto refused_doc = json::parse(refused->body).as_object();
    EXPECT_EQ(refused_doc["outcome"].as_object()["reply"].as_object()["status"].to_number<int>(), 403);
    auto real_refused = request(gw.port(), get_request("/admin/x"));
    ASSERT_TRUE(real_refused);
    EXPECT_EQ(real_refused->status, 403);

    // Bad bodies get 400 naming the problem; GET gets 405.
    auto bad = admin_post(gw.admin_port(), "/explain", R"({"request": 42})");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_NE(bad->body.find("request"), std::string::npos);
    auto get = request(gw.admin_port(), "GET /explain HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(get);
    EXPECT_EQ(get->status, 405);
}

TEST(Explain, AdminExplainIsGuardedLikeTheOtherPages) {
    temp_dir dir;
    gateway gw(dir, explain_config(9, ", token: \"explain-admin-token-0123\""), {{"EXPLAIN_SECRET", "x"}});
    const std::string body = R"({"request": "GET http://api.test/api/users/1"})";
    auto anonymous = admin_post(gw.admin_port(), "/explain", body);
    ASSERT_TRUE(anonymous);
    EXPECT_EQ(anonymous->status, 401);
    auto cross_site = admin_post(gw.admin_port(), "/explain", body,
                                 "Authorization: Bearer explain-admin-token-0123\r\nOrigin: https://evil.example\r\n");
    ASSERT_TRUE(cross_site);
    EXPECT_EQ(cross_site->status, 403);
    auto ok = admin_post(gw.admin_port(), "/explain", body, "Authorization: Bearer explain-admin-token-0123\r\n");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
}

TEST(Explain, CommandLinePrintsRouteFiltersAndUpstreamRequest) {
    temp_dir dir;
    const auto path = dir.path() + "/gw.yaml";
    {
        std::ofstream out(path);
        out << explain_config(9000);
    }
    // run_command wraps the command in single quotes: arguments here use double ones.
    auto [code, out] = run_command("EXPLAIN_SECRET=cli-secret-value " + gatehouse_binary() + " explain --config " +
                                   path + " \"GET https://api.test/api/users/%34%32\" -H \"X-Debug: 1\" 2>&1");
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("path /api/users/42"), std::string::npos) << out;  // normalised
    EXPECT_NE(out.find("route      users"), std::string::npos) << out;
    EXPECT_NE(out.find("admin: no (path does not start with /admin)"), std::string::npos) << out;
    EXPECT_NE(out.find("tag (headers): passes"), std::string::npos) << out;
    EXPECT_NE(out.find("GET /users/42 HTTP/1.1"), std::string::npos) << out;
    EXPECT_NE(out.find("X-Route: users"), std::string::npos) << out;
    EXPECT_NE(out.find("X-Forwarded-Proto: https"), std::string::npos) << out;
    EXPECT_EQ(out.find("X-Debug"), std::string::npos) << out;
    EXPECT_EQ(out.find("cli-secret-value"), std::string::npos) << out;

    auto [refused_code, refused] = run_command(gatehouse_binary() + " explain --config " + path +
                                               " \"GET http://h/admin\" --client-ip 192.0.2.1" + " --json 2>&1");
    EXPECT_EQ(refused_code, 1) << refused;  // config error: EXPLAIN_SECRET unset
    auto [json_code, json_out] = run_command("EXPLAIN_SECRET=s " + gatehouse_binary() + " explain --config " + path +
                                             " \"GET http://h/admin\" --client-ip 192.0.2.1 --json");
    EXPECT_EQ(json_code, 0) << json_out;
    auto doc = json::parse(json_out).as_object();
    EXPECT_EQ(doc["outcome"].as_object()["reply"].as_object()["error"].as_string(), "ip_not_allowed");

    EXPECT_EQ(run_command(gatehouse_binary() + " explain --config " + path + " 2>&1").first, 2);
    EXPECT_EQ(run_command(gatehouse_binary() + " explain --config " + path + " \"GET nowhere\" 2>&1").first, 2);
}
