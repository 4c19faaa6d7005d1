#include "gatehouse/http/field_rules.hpp"

#include <gtest/gtest.h>

#include "gatehouse/http/wire.hpp"

using namespace gatehouse::http;

namespace {
framing_error analyze(std::initializer_list<std::pair<const char*, const char*>> fields, bool request = true,
                      unsigned version = 11, framing_analyzer* out = nullptr) {
    framing_analyzer a;
    for (auto& [n, v] : fields) a.add(n, v);
    auto e = a.finish(request, version);
    if (out) *out = a;
    return e;
}
}  // namespace

TEST(Framing, ContentLengthAndChunked) {
    framing_analyzer a;
    EXPECT_EQ(analyze({{"Content-Length", "42"}}, true, 11, &a), framing_error::ok);
    EXPECT_EQ(a.framing(), body_framing::length);
    EXPECT_EQ(a.content_length(), 42u);
    EXPECT_EQ(analyze({{"Transfer-Encoding", "chunked"}}, true, 11, &a), framing_error::ok);
    EXPECT_EQ(a.framing(), body_framing::chunked);
    EXPECT_EQ(analyze({{"transfer-encoding", " Chunked "}}, true, 11, &a), framing_error::ok);
    EXPECT_EQ(analyze({}, true, 11, &a), framing_error::ok);
    EXPECT_EQ(a.framing(), body_framing::none);
    EXPECT_EQ(analyze({}, false, 11, &a), framing_error::ok);
    EXPECT_EQ(a.framing(), body_framing::until_close);
    EXPECT_EQ(analyze({{"Content-Length", "0"}}, true, 11, &a), framing_error::ok);
    EXPECT_EQ(a.framing(), body_framing::none);
}

TEST(Framing, RejectsSmugglingShapes) {
    EXPECT_EQ(analyze({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}),
              framing_error::content_length_with_chunked);
    EXPECT_EQ(analyze({{"Content-Length", "5"}, {"Content-Length", "6"}}), framing_error::duplicate_content_length);
    EXPECT_EQ(analyze({{"Content-Length", "5"}, {"Content-Length", "5"}}), framing_error::duplicate_content_length);
    EXPECT_EQ(analyze({{"Content-Length", "5, 5"}}), framing_error::duplicate_content_length);
    EXPECT_EQ(analyze({{"Content-Length", "+5"}}), framing_error::invalid_content_length);
    EXPECT_EQ(analyze({{"Content-Length", "-1"}}), framing_error::invalid_content_length);
    EXPECT_EQ(analyze({{"Content-Length", "0x10"}}), framing_error::invalid_content_length);
    EXPECT_EQ(analyze({{"Content-Length", ""}}), framing_error::invalid_content_length);
    EXPECT_EQ(analyze({{"Content-Length", "1 2"}}), framing_error::invalid_content_length);
    EXPECT_EQ(analyze({{"Content-Length", "99999999999999999999"}}), framing_error::invalid_content_length);
    EXPECT_EQ(analyze({{"Transfer-Encoding", "chunked, gzip"}}), framing_error::chunked_not_last);
    EXPECT_EQ(analyze({{"Transfer-Encoding", "gzip"}}), framing_error::chunked_not_last);
    EXPECT_EQ(analyze({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "identity"}}),
              framing_error::chunked_not_last);
    EXPECT_EQ(analyze({{"Transfer-Encoding", "chunked, chunked"}}), framing_error::chunked_twice);
    EXPECT_EQ(analyze({{"Transfer-Encoding", "gzip, chunked"}}), framing_error::unsupported_coding);
    EXPECT_EQ(analyze({{"Transfer-Encoding", ""}}), framing_error::chunked_not_last);
    EXPECT_EQ(analyze({{"Transfer-Encoding", "xchunked"}}), framing_error::chunked_not_last);
    EXPECT_EQ(analyze({{"Transfer-Encoding", "chunked"}}, true, 10), framing_error::transfer_encoding_in_http10);
}

TEST(FieldRules, HopByHopNames) {
    // The enum test (request heads, parsed by Beast) and the name test (response heads) agree.
    for (auto n : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                   "Proxy-Authenticate"}) {
        EXPECT_TRUE(is_hop_by_hop(boost::beast::http::string_to_field(n))) << n;
        EXPECT_TRUE(gatehouse::http::is_hop_by_hop_name(n)) << n;
    }
    for (auto n : {"Host", "Content-Length", "X-Forwarded-For", "Authorization", "Connections", "T", "TEE", "Upgrades",
                   "Proxy-Authorization", ""}) {
        EXPECT_FALSE(is_hop_by_hop(boost::beast::http::string_to_field(n))) << n;
        EXPECT_FALSE(gatehouse::http::is_hop_by_hop_name(n)) << n;
    }
}

TEST(FieldRules, FieldValues) {
    EXPECT_TRUE(valid_field_value("text/html; q=0.9\tx"));
    EXPECT_TRUE(valid_field_value("caf\xc3\xa9"));  // obs-text passes
    EXPECT_FALSE(valid_field_value(std::string_view("a\0b", 3)));
    EXPECT_FALSE(valid_field_value("a\rb"));
    EXPECT_FALSE(valid_field_value("a\nb"));
    EXPECT_FALSE(valid_field_value("a\x7f"));
}

TEST(FieldRules, HostSyntaxAndNormalisation) {
    for (auto h : {"example.com", "example.com:8080", "127.0.0.1", "[::1]", "[::1]:80", "a-b_c.d"}) {
        EXPECT_TRUE(valid_host(h)) << h;
    }
    for (auto h : {"", "exa mple.com", "a/b", "user@host", "[::1", "host:port", "host:123456", ":80", "[::1]x"}) {
        EXPECT_FALSE(valid_host(h)) << h;
    }
    auto normalized = [](std::string_view host) {
        std::string out;
        normalize_host(host, out);
        return out;
    };
    EXPECT_EQ(normalized("API.Example.COM:8080"), "api.example.com");
    EXPECT_EQ(normalized("example.com."), "example.com");
    EXPECT_EQ(normalized("[::1]:80"), "[::1]");
}

TEST(FieldRules, ListTokens) {
    std::vector<std::string> got;
    for_each_list_token(" a, b ,,\tc ", [&](std::string_view t) { got.emplace_back(t); });
    EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c"}));
}
