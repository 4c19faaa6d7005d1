// Ambiguous or malformed messages: refused with the right status and never forwarded, in both
// directions. The upstream here is a raw socket that records every byte it receives.
#include <sys/socket.h>

#include "common.hpp"

using namespace harness;

namespace {

const std::string ok_response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// An upstream that answers every request with ok_response and records what it received.
struct recording_upstream {
    recording_upstream()
        : server([this](int fd) {
              while (!recv_request(fd, &server).empty()) {
                  send_all(fd, ok_response);
              }
          }) {}
    raw_upstream server;
};

struct bad_request_case {
    const char* name;
    std::string raw;
    int status;
};

}  // namespace

class RequestSmugglingTest : public ::testing::TestWithParam<bad_request_case> {};

TEST_P(RequestSmugglingTest, RefusedAndNeverForwarded) {
    temp_dir dir;
    recording_upstream up;
    gateway gw(dir, one_route_config(up.server.port(), "", "    match: { prefix: / }\n"));
    client c(gw.port());
    c.send(GetParam().raw);
    auto r = c.read_response();
    ASSERT_TRUE(r) << GetParam().name;
    EXPECT_EQ(r->status, GetParam().status) << GetParam().name << ": " << r->body;
    if (r->status >= 400) {
        EXPECT_EQ(r->header("content-type"), "application/json");
        EXPECT_FALSE(json_field(r->body, "request_id").empty());
        EXPECT_TRUE(c.closed_within(4s)) << GetParam().name;
    }
    if (r->status == 405) {
        EXPECT_FALSE(r->header("allow").empty()) << "a 405 must say what is allowed (RFC 9110 section 15.5.6)";
    }
    peer_pause(50ms);  // the grace in which a forwarded request would have arrived
    EXPECT_EQ(up.server.received(), "") << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Framing, RequestSmugglingTest,
    ::testing::Values(
        bad_request_case{
            "cl_and_te",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400},
        bad_request_case{
            "te_and_cl",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX", 400},
        bad_request_case{"two_cl", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                         400},
        bad_request_case{"same_cl_twice",
                         "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400},
        bad_request_case{"cl_list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nab", 400},
        bad_request_case{"cl_plus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\nab", 400},
        bad_request_case{"cl_hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x2\r\n\r\nab", 400},
        bad_request_case{"cl_huge", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                         400},
        bad_request_case{"te_not_last",
                         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400},
        bad_request_case{"te_identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400},
        bad_request_case{
            "te_twice",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400},
        bad_request_case{"te_gzip_chunked",
                         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
        bad_request_case{"te_xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
                         400},
        bad_request_case{"te_space_before_colon",
                         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
        bad_request_case{"te_in_http10", "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                         400},
        bad_request_case{"te_obs_fold", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
                         400},
        bad_request_case{"obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n  b\r\n\r\n", 400},
        bad_request_case{"bad_chunk_size",
                         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400},
        bad_request_case{"chunk_size_overflow",
                         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n", 400},
        bad_request_case{"chunk_bare_lf",
                         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n", 400},
        bad_request_case{"chunk_data_overrun",
                         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400},
        bad_request_case{"nul_in_value", std::string("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n", 38), 400},
        bad_request_case{"cr_in_value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400},
        bad_request_case{"bare_lf_line_end", "GET / HTTP/1.1\nHost: h\n\n", 400},
        bad_request_case{"space_in_name", "GET / HTTP/1.1\r\nHost: h\r\nX A: b\r\n\r\n", 400},
        bad_request_case{"missing_host", "GET / HTTP/1.1\r\n\r\n", 400},
        bad_request_case{"two_hosts", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: b\r\n\r\n", 400},
        bad_request_case{"bad_host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        bad_request_case{"host_with_userinfo", "GET / HTTP/1.1\r\nHost: user@evil\r\n\r\n", 400},
        bad_request_case{"http2_version", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        bad_request_case{"garbage_version", "GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"connect_method", "CONNECT internal:22 HTTP/1.1\r\nHost: internal:22\r\n\r\n", 405},
        bad_request_case{"asterisk_get", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"asterisk_options_without_host", "OPTIONS * HTTP/1.1\r\n\r\n", 400},
        bad_request_case{"relative_target", "GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"dot_segment_parameter", "GET /public/..;/admin HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"backslash_in_path", "GET /public\\admin HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"encoded_slash", "GET /public%2Fadmin HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"encoded_nul", "GET /public%00/admin HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"bad_percent", "GET /public%G1 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"absolute_with_userinfo", "GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"absolute_ftp", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"space_in_target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"fragment_in_target", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"raw_utf8_in_target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"leading_space_header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
        bad_request_case{"bad_method_char", "G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        bad_request_case{"header_name_trailing_space", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 0\r\n\r\n", 400},
        bad_request_case{"vertical_tab_in_te",
                         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x0b"
                         "chunked\r\n\r\n0\r\n\r\n",
                         400}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Smuggling, AbsoluteFormNeverReachesAForeignHost) {
    temp_dir dir;
    recording_upstream up;
    gateway gw(dir,
               "server: { listen: \"127.0.0.1:0\", workers: 1 }\nlogging: { level: info }\nupstreams:\n"
               "  app: { endpoints: [\"127.0.0.1:" +
                   std::to_string(up.server.port()) +
                   "\"] }\n"
                   "routes:\n  - { name: app, upstream: app, match: { host: api.test, prefix: / } }\n");
    // A foreign authority selects no route: 404, nothing forwarded, no connection attempted.
    auto foreign = request(gw.port(), "GET http://169.254.169.254/latest/meta-data HTTP/1.1\r\nHost: api.test\r\n\r\n");
    ASSERT_TRUE(foreign);
    EXPECT_EQ(foreign->status, 404);
    EXPECT_EQ(up.server.received(), "");
    // Our own host in absolute-form is routed and forwarded in origin-form with a matching Host.
    auto own = request(gw.port(), "GET http://API.test:80/x?y=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    ASSERT_TRUE(own);
    EXPECT_EQ(own->status, 200);
    auto seen = up.server.received();
    EXPECT_EQ(seen.rfind("GET /x?y=1 HTTP/1.1\r\n", 0), 0u) << seen;
    EXPECT_NE(seen.find("Host: API.test:80\r\n"), std::string::npos) << seen;
    EXPECT_EQ(seen.find("evil.example"), std::string::npos) << seen;
}

TEST(Smuggling, ForwardedFramingIsCanonical) {
    temp_dir dir;
    recording_upstream up;
    gateway gw(dir, one_route_config(up.server.port()));
    client c(gw.port());
    c.send("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length:  3 \r\n\r\nabc");
    ASSERT_TRUE(c.read_response());
    c.send("POST /b HTTP/1.1\r\nHost: h\r\ntransfer-encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    ASSERT_TRUE(c.read_response());
    auto seen = up.server.received();
    EXPECT_NE(seen.find("Content-Length: 3\r\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("\r\n\r\nabcPOST /b"), std::string::npos) << seen;
    EXPECT_NE(seen.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << seen;
    EXPECT_EQ(seen.find("CHUNKED"), std::string::npos) << seen;
}

// --- responses ---------------------------------------------------------------------------------

struct bad_response_case {
    const char* name;
    std::string raw;
};

class ResponseSmugglingTest : public ::testing::TestWithParam<bad_response_case> {};

TEST_P(ResponseSmugglingTest, BadUpstreamResponseIs502AndConnectionNotReused) {
    temp_dir dir;
    std::string bad = GetParam().raw;
    std::atomic<int> served{0};
    raw_upstream up([&](int fd) {
        while (!recv_request(fd).empty()) {
            send_all(fd, served++ == 0 ? bad : ok_response);
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    client c(gw.port());
    c.send(get_request("/"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << GetParam().name;
    EXPECT_EQ(r->status, 502) << GetParam().name << ": " << r->body;
    EXPECT_FALSE(json_field(r->body, "request_id").empty());
    EXPECT_EQ(r->body.find("smuggled"), std::string::npos);
    // The next request gets a fresh upstream connection and a clean answer.
    auto next = request(gw.port(), get_request("/"));
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 200) << GetParam().name;
    EXPECT_EQ(next->body, "ok");
    EXPECT_EQ(up.connections(), 2) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Framing, ResponseSmugglingTest,
    ::testing::Values(
        bad_response_case{
            "cl_and_te", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nsmuggled"},
        bad_response_case{"two_cl", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 10\r\n\r\nsmuggled!!"},
        bad_response_case{"bad_cl", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok"},
        bad_response_case{"te_not_chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nsmuggled"},
        bad_response_case{"bad_chunk",
                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nsmuggled\r\n0\r\n\r\n"},
        bad_response_case{"nul_in_header",
                          std::string("HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok", 47)},
        bad_response_case{"obs_fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok"},
        bad_response_case{"garbage", "NOT HTTP AT ALL\r\n\r\n"},
        bad_response_case{"bare_lf", "HTTP/1.1 200 OK\nContent-Length: 8\n\nsmuggled"},
        bad_response_case{"space_before_colon", "HTTP/1.1 200 OK\r\nContent-Length : 8\r\n\r\nsmuggled"},
        bad_response_case{"cr_in_value", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 8\r\n\r\nsmuggled"},
        bad_response_case{"status_out_of_range", "HTTP/1.1 600 Odd\r\nContent-Length: 8\r\n\r\nsmuggled"},
        bad_response_case{"http2_status_line", "HTTP/2.0 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"},
        bad_response_case{"switching_protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nsmuggled"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ResponseFraming, TruncatedHeadIs502) {
    temp_dir dir;
    raw_upstream up([&](int fd) {
        if (!recv_request(fd).empty()) {
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Le");
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    auto r = request(gw.port(), get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 502);
    EXPECT_EQ(json_field(r->body, "error"), "upstream_bad_response");
}

TEST(ResponseFraming, ExtraBytesAfterTheResponseAreNeverForwarded) {
    temp_dir dir;
    raw_upstream up([&](int fd) {
        while (!recv_request(fd).empty()) {
            send_all(fd,
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nX-Smuggled: "
                     "1\r\nContent-Length: 0\r\n\r\n");
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    client c(gw.port());
    c.send(get_request("/1"));
    auto first = c.read_response();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->body, "ok");
    c.send(get_request("/2"));
    auto second = c.read_response();
    ASSERT_TRUE(second);
    EXPECT_FALSE(second->has("x-smuggled"));
    EXPECT_EQ(up.connections(), 2);  // the connection that sent extra bytes was not reused
}

TEST(ResponseFraming, HopByHopResponseHeadersAreRemoved) {
    temp_dir dir;
    raw_upstream up([&](int fd) {
        while (!recv_request(fd).empty()) {
            send_all(fd,
                     "HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nX-Internal: secret\r\nKeep-Alive: timeout=1\r\n"
                     "Upgrade: h2c\r\nX-Public: yes\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    auto r = request(gw.port(), get_request("/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->has("x-internal"));
    EXPECT_FALSE(r->has("keep-alive"));
    EXPECT_FALSE(r->has("upgrade"));
    EXPECT_FALSE(r->has("connection"));
    EXPECT_EQ(r->header("x-public"), "yes");
}

TEST(ResponseFraming, InformationalResponsesAreForwardedThenTheFinalOne) {
    temp_dir dir;
    raw_upstream up([&](int fd) {
        while (!recv_request(fd).empty()) {
            send_all(fd,
                     "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    client c(gw.port());
    c.send(get_request("/"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->interim, std::vector<int>{103});  // 100 is hop-specific and consumed
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
}

TEST(ResponseFraming, BodyUntilCloseIsRechunkedForHttp11) {
    temp_dir dir;
    raw_upstream up([&](int fd) {
        if (!recv_request(fd).empty()) {
            send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstreamed until close");
            ::shutdown(fd, SHUT_WR);
        }
    });
    gateway gw(dir, one_route_config(up.port()));
    client c(gw.port());
    c.send(get_request("/"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->chunked);
    EXPECT_EQ(r->body, "streamed until close");
    c.send(get_request("/again"));  // the client connection stays usable
    auto again = c.read_response();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
}
