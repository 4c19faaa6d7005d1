// The admin dashboard in a real browser (Debian's headless Chromium) against a gateway with
// traffic: the page shows the numbers /metrics has, and a screenshot is kept for the docs.
#include <regex>

#include <boost/json.hpp>

#include "common.hpp"

using namespace harness;
namespace json = boost::json;

namespace {

const std::string token = "dashboard-token-0123456789";

std::string admin_get_with_token(std::uint16_t port, const std::string& path) {
    auto r = request(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
                               "\r\nConnection: close\r\n\r\n");
    return r && r->status == 200 ? r->body : "";
}

std::string chromium() {
    for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
        if (::access(path, X_OK) == 0) return path;
    }
    return "";
}

// The page as the browser left it after its script ran (the fetches included).
std::string rendered(const std::string& url, const std::string& extra) {
    auto [code, out] = run_command(chromium() + " --headless=new --no-sandbox --disable-gpu --hide-scrollbars " +
                                   extra + " --virtual-time-budget=5000 \"" + url + "\" 2>/dev/null");
    return code == 0 ? out : "";
}

// The text of the cell with data-route and data-field, from the rendered page.
std::string cell(const std::string& dom, const std::string& route, const std::string& field) {
    std::smatch m;
    std::regex re("<td[^>]*data-field=\"" + field + "\"[^>]*data-route=\"" + route + "\"[^>]*>([^<]*)</td>");
    return std::regex_search(dom, m, re) ? m[1].str() : "";
}

std::uint64_t metric(const std::string& page, const std::string& series) {
    auto at = page.find(series + " ");
    return at == std::string::npos ? 0 : std::stoull(page.substr(at + series.size() + 1));
}

}  // namespace

TEST(Dashboard, ShowsWhatMetricsCountsInARealBrowser) {
    if (chromium().empty()) GTEST_SKIP() << "chromium is not installed (scripts/install-deps test installs it)";
    temp_dir dir;
    echo_server echo(dir);
    const auto echo_address = "127.0.0.1:" + std::to_string(echo.port());
    const auto nobody = "127.0.0.1:" + std::to_string(free_port());
    gateway gw(dir,
               "server:\n  listen: \"127.0.0.1:0\"\n  workers: 2\n"
               "admin: { listen: \"127.0.0.1:0\", token: \"" +
                   token +
                   "\" }\n"
                   "filters:\n  keys: { type: api_key, keys: [{ consumer: acme, key: acme-key-0001 }] }\n"
                   "upstreams:\n"
                   "  app: { endpoints: [\"" +
                   echo_address +
                   "\"] }\n"
                   "  gone:\n    endpoints: [\"" +
                   nobody + "\", \"" + echo_address +
                   "\"]\n"
                   "    retries: 0\n    outlier: { consecutive_failures: 2, base_ejection: 60s }\n"
                   "routes:\n"
                   "  - { name: users, match: { prefix: /users }, upstream: app }\n"
                   "  - { name: partner, match: { prefix: /partner }, upstream: app, filters: [keys] }\n"
                   "  - { name: flaky, match: { prefix: /flaky }, upstream: gone }\n");
    for (int i = 0; i < 25; ++i) ASSERT_EQ(request(gw.port(), get_request("/users/" + std::to_string(i)))->status, 200);
    for (int i = 0; i < 7; ++i) ASSERT_EQ(request(gw.port(), get_request("/users/status/503"))->status, 503);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(request(gw.port(), get_request("/partner/x"))->status, 401);
    // Half the tries of "gone" find nothing listening: two in a row eject that endpoint.
    ASSERT_TRUE(eventually([&] {
        request(gw.port(), get_request("/flaky"));
        return gw.proc().log().find("ejected for 60 s") != std::string::npos;
    }));

    // Behind the token: without it the data is refused, and the page comes with a 401 (a browser
    // shows it; its script asks for the token, or takes #token=, and sends it for the data).
    auto anonymous = request(gw.admin_port(), "GET /dashboard.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ASSERT_TRUE(anonymous);
    EXPECT_EQ(anonymous->status, 401);
    auto page = request(gw.admin_port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 401);
    EXPECT_NE(page->body.find("<title>gatehouse</title>"), std::string::npos);
    EXPECT_EQ(page->body.find("users"), std::string::npos);  // no data in the page itself
    EXPECT_NE(page->header("content-security-policy").find("frame-ancestors 'none'"), std::string::npos);
    auto with_token =
        request(gw.admin_port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\n\r\n");
    ASSERT_TRUE(with_token);
    EXPECT_EQ(with_token->status, 200);
    auto rebound = request(gw.admin_port(), "GET / HTTP/1.1\r\nHost: attacker.example\r\n\r\n");
    ASSERT_TRUE(rebound);
    EXPECT_EQ(rebound->status, 403);  // DNS rebinding: the page is not served to another name

    // The gateway samples its counters every 2 s: wait until the minute's window holds them all.
    ASSERT_TRUE(eventually(
        [&] {
            auto body = admin_get_with_token(gw.admin_port(), "/dashboard.json");
            if (body.empty()) return false;
            const auto doc = json::parse(body);
            for (const auto& r : doc.at("routes").as_array()) {
                if (r.at("name") == "users") return r.at("traffic").at("requests").to_number<int>() == 32;
            }
            return false;
        },
        10s, 200ms));

    const auto url = "http://127.0.0.1:" + std::to_string(gw.admin_port()) + "/#token=" + token;
    auto dom = rendered(url, "--dump-dom");
    ASSERT_NE(dom.find("data-loaded"), std::string::npos) << dom.substr(0, 2000);
    auto metrics = admin_get_with_token(gw.admin_port(), "/metrics");
    ASSERT_FALSE(metrics.empty());
    EXPECT_EQ(cell(dom, "users", "2xx"),
              std::to_string(metric(metrics, "gatehouse_requests_total{route=\"users\",code=\"2xx\"}")));
    EXPECT_EQ(cell(dom, "users", "5xx"),
              std::to_string(metric(metrics, "gatehouse_requests_total{route=\"users\",code=\"5xx\"}")));
    EXPECT_EQ(cell(dom, "users", "2xx"), "25");
    EXPECT_EQ(cell(dom, "partner", "4xx"), "4");
    EXPECT_NE(cell(dom, "users", "p99_ms"), "-");
    // Rejections by reason, as /metrics counts them.
    std::smatch m;
    std::regex rejection("data-reason=\"missing_key\"[^>]*>.*?<td[^>]*data-field=\"count\"[^>]*>([0-9]+)</td>");
    ASSERT_TRUE(std::regex_search(dom, m, rejection)) << dom.substr(0, 3000);
    EXPECT_EQ(m[1].str(), std::to_string(metric(
                              metrics, "gatehouse_filter_rejections_total{filter=\"keys\",reason=\"missing_key\"}")));
    EXPECT_NE(dom.find(echo_address), std::string::npos);  // the upstream's endpoint
    // The ejected endpoint shows as such, the other one of its upstream as up.
    std::regex gone_rows("<tr data-upstream=\"gone\">.*?</tr><tr data-upstream=\"gone\">.*?</tr>");
    ASSERT_TRUE(std::regex_search(dom, m, gone_rows)) << dom.substr(0, 4000);
    EXPECT_NE(m[0].str().find(">ejected until "), std::string::npos) << m[0].str();
    EXPECT_NE(m[0].str().find(">up<"), std::string::npos) << m[0].str();

    // The screenshot docs/operations.md shows (copied from the build directory by hand).
    const std::string shot = std::string(BUILD_DIR) + "/dashboard.png";
    std::remove(shot.c_str());
    rendered(url, "--window-size=1280,800 --screenshot=" + shot);
    std::ifstream png(shot, std::ios::binary);
    char magic[4] = {};
    png.read(magic, 4);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG");
}
