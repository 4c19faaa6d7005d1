#include "gatehouse/http/chunked.hpp"

#include <gtest/gtest.h>

using gatehouse::http::chunked_scanner;
using status = chunked_scanner::status;

namespace {
struct scan_result {
    status state;
    std::size_t consumed;
    std::string data;
};
scan_result scan_all(std::string_view input, std::size_t step = 0) {
    chunked_scanner s;
    std::string data;
    auto sink = [](void* ctx, const char* p, std::size_t n) { static_cast<std::string*>(ctx)->append(p, n); };
    std::size_t consumed = 0;
    status st = status::need_more;
    if (step == 0) step = input.size();
    while (consumed < input.size()) {
        auto piece = input.substr(consumed, step);
        auto r = s.scan(piece, sink, &data);
        consumed += r.consumed;
        st = r.state;
        if (st != status::need_more) break;
    }
    return {st, consumed, data};
}
}  // namespace

TEST(Chunked, DecodesAndFindsTheEnd) {
    std::string body = "5\r\nhello\r\n6;name=value\r\n world\r\n0\r\n\r\nGET /next";
    for (std::size_t step : {0u, 1u, 3u, 7u}) {
        auto r = scan_all(body, step);
        EXPECT_EQ(r.state, status::done) << step;
        EXPECT_EQ(r.data, "hello world") << step;
        EXPECT_EQ(r.consumed, body.find("GET")) << step;
    }
}

TEST(Chunked, TrailersAndUppercaseHex) {
    auto r = scan_all("A\r\n0123456789\r\n0\r\nX-Checksum: abc\r\nX-B: 1\r\n\r\n");
    EXPECT_EQ(r.state, status::done);
    EXPECT_EQ(r.data, "0123456789");
}

TEST(Chunked, IncompleteNeedsMore) {
    auto r = scan_all("5\r\nhel");
    EXPECT_EQ(r.state, status::need_more);
    EXPECT_EQ(r.consumed, 6u);
}

TEST(Chunked, RejectsMalformedFraming) {
    using namespace std::string_literals;
    const std::string bad[] = {
        "x\r\n"s,                         // not hex
        "0x5\r\nhello\r\n0\r\n\r\n"s,     // prefix
        " 5\r\nhello\r\n0\r\n\r\n"s,      // leading space
        "5\nhello\r\n0\r\n\r\n"s,         // bare LF after size
        "5\r\nhelloXX0\r\n\r\n"s,         // data not followed by CRLF
        "5\r\nhello\n0\r\n\r\n"s,         // bare LF after data
        "5;a\nb\r\nhello\r\n0\r\n\r\n"s,  // LF inside extension
        "5;\0\r\nhello\r\n0\r\n\r\n"s,    // NUL in extension
        "10000000000000000\r\n"s,         // 17 hex digits: overflow
        "0\r\nbad trailer\r\n\r\n"s,      // trailer without colon
        "0\r\n: empty-name\r\n\r\n"s,     // empty trailer name
        "0\r\nX: a\rb\r\n\r\n"s,          // CR inside trailer
        "0\r\n\rX"s,                      // final CRLF broken
        "-1\r\n"s,                        // sign
    };
    for (const auto& b : bad) {
        EXPECT_EQ(scan_all(b).state, status::error) << b;
    }
}

TEST(Chunked, LimitsLineLengthAndTrailers) {
    std::string long_ext = "5;" + std::string(chunked_scanner::max_line + 10, 'a') + "\r\nhello\r\n0\r\n\r\n";
    EXPECT_EQ(scan_all(long_ext).state, status::error);
    std::string trailers = "0\r\n";
    for (int i = 0; i < 2000; ++i) trailers += "X-T: 0123456789\r\n";
    trailers += "\r\n";
    EXPECT_EQ(scan_all(trailers).state, status::error);
}

TEST(Chunked, CountsDataBytes) {
    chunked_scanner s;
    s.scan("3\r\nabc\r\n4\r\ndefg\r\n");
    EXPECT_EQ(s.data_bytes(), 7u);
}
