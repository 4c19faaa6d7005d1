#include "gatehouse/http/request_head_reader.hpp"

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace gatehouse::http;

namespace {

// Feeds pieces one read at a time, as the server does, until the reader is done.
struct head_feed {
    explicit head_feed(head_limits l = {}) : limits(l) { request_head_reader::prepare(parser, limits); }

    head_progress feed(const std::vector<std::string>& pieces) {
        head_progress progress = head_progress::need_more;
        for (const auto& piece : pieces) {
            auto dst = buf.prepare(piece.size());
            std::memcpy(dst.data(), piece.data(), piece.size());
            buf.commit(piece.size());
            progress = reader.read(parser, buf, limits, refusal);
            if (progress != head_progress::need_more) break;
        }
        return progress;
    }
    unsigned status() const { return refusal ? refusal->status : 0; }

    std::pmr::monotonic_buffer_resource arena;
    request_parser parser{std::piecewise_construct, std::make_tuple(),
                          std::make_tuple(std::pmr::polymorphic_allocator<char>(&arena))};
    head_limits limits;
    request_head_reader reader;
    boost::beast::flat_buffer buf;
    std::optional<local_reply> refusal;
};

std::vector<std::string> bytes_of(const std::string& s) {
    std::vector<std::string> out;
    for (char c : s) out.emplace_back(1, c);
    return out;
}

}  // namespace

TEST(RequestHeadReader, ReadsAHeadByteByByteAndLeavesTheBodyInTheBuffer) {
    head_feed f;
    std::string head = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
    auto pieces = bytes_of(head);
    pieces.emplace_back("abc");
    EXPECT_EQ(f.feed(pieces), head_progress::complete);
    EXPECT_EQ(f.reader.head_bytes(), head.size());
    EXPECT_EQ(f.parser.get().target(), "/a");
    EXPECT_EQ(f.buf.size(), 0u);  // the head completed before "abc" was fed
}

TEST(RequestHeadReader, SkipsEmptyLinesBeforeTheRequestLine) {
    head_feed f;
    EXPECT_EQ(f.feed({"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"}), head_progress::complete);
    EXPECT_EQ(f.parser.get().method_string(), "GET");
}

TEST(RequestHeadReader, ObsoleteLineFoldingIs400EvenAcrossReads) {
    head_feed one;
    EXPECT_EQ(one.feed({"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n"}), head_progress::refused);
    EXPECT_EQ(one.status(), 400u);
    head_feed split;
    EXPECT_EQ(split.feed({"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n", "\t2\r\n\r\n"}), head_progress::refused);
    EXPECT_EQ(split.status(), 400u);
}

TEST(RequestHeadReader, LaterMinorVersionsAreReadAs11AndOthersAre505) {
    head_feed v12;
    EXPECT_EQ(v12.feed({"GET / HTTP/1.2\r\nHost: h\r\n\r\n"}), head_progress::complete);
    EXPECT_EQ(v12.parser.get().version(), 11u);
    head_feed v20;
    EXPECT_EQ(v20.feed({"GET / HTTP/2.0\r\nHost: h\r\n\r\n"}), head_progress::refused);
    EXPECT_EQ(v20.status(), 505u);
    head_feed junk;
    EXPECT_EQ(junk.feed({"GET / HTTX/1.1\r\nHost: h\r\n\r\n"}), head_progress::refused);
    EXPECT_EQ(junk.status(), 400u);
}

TEST(RequestHeadReader, ALongRequestLineIs414BeforeItEnds) {
    head_feed f({64, 1024});
    EXPECT_EQ(f.feed({"GET /" + std::string(40, 'a'), std::string(40, 'a')}), head_progress::refused);
    EXPECT_EQ(f.status(), 414u);
}

TEST(RequestHeadReader, TheHeadLimitHoldsAcrossReads) {
    // Each read alone is under the limit; the head is not.
    head_feed f({64, 256});
    EXPECT_EQ(f.feed({"GET / HTTP/1.1\r\nX-A: " + std::string(200, 'a') + "\r\n",
                      "X-B: " + std::string(150, 'b') + "\r\n\r\n"}),
              head_progress::refused);
    EXPECT_EQ(f.status(), 431u);
    head_feed fits({64, 256});
    EXPECT_EQ(fits.feed({"GET / HTTP/1.1\r\nX-A: " + std::string(100, 'a') + "\r\n", "X-B: 1\r\n\r\n"}),
              head_progress::complete);
}
