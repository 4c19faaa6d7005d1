#include "gatehouse/http/response_head.hpp"

#include <deque>
#include <string>

#include <gtest/gtest.h>

using gatehouse::http::response_head;
using status = response_head::status;

namespace {

struct outcome {
    status state;
    std::string error;
};

// Parses a copy of text that lives to the end of the test run: the head's views point into it.
outcome parse(response_head& head, const std::string& text, std::size_t max = 8192) {
    static std::deque<std::string> kept;
    auto st = head.parse(kept.emplace_back(text), max);
    return {st, head.error()};
}

}  // namespace

TEST(ResponseHead, ParsesStatusLineAndFieldsAsViews) {
    response_head head;
    std::string text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length:  5 \r\nX-A:\t\r\n\r\nhello";
    ASSERT_EQ(parse(head, text).state, status::complete);
    EXPECT_EQ(head.size(), text.size() - 5);  // the body is not part of the head
    EXPECT_EQ(head.code(), 200u);
    EXPECT_EQ(head.version(), 11u);
    EXPECT_EQ(head.reason(), "OK");
    ASSERT_EQ(head.fields().size(), 3u);
    EXPECT_EQ(head.fields()[0].name, "Content-Type");
    EXPECT_EQ(head.fields()[0].value, "text/plain");
    EXPECT_EQ(head.fields()[1].value, "5");  // optional whitespace trimmed on both sides
    EXPECT_EQ(head.fields()[2].value, "");
    head.reset();
    EXPECT_EQ(head.parse(text, 8192), status::complete);
    EXPECT_EQ(head.fields()[0].name.data(), text.data() + 17);  // a view, not a copy
    EXPECT_EQ(head.find("content-length"), "5");
    EXPECT_FALSE(head.find("content"));
}

TEST(ResponseHead, StatusLineVariants) {
    response_head head;
    ASSERT_EQ(parse(head, "HTTP/1.0 404 Not Found Here\r\n\r\n").state, status::complete);
    EXPECT_EQ(head.version(), 10u);
    EXPECT_EQ(head.code(), 404u);
    EXPECT_EQ(head.reason(), "Not Found Here");
    head.reset();
    ASSERT_EQ(parse(head, "HTTP/1.1 204\r\n\r\n").state, status::complete);  // no reason, no space
    EXPECT_EQ(head.code(), 204u);
    EXPECT_EQ(head.reason(), "");
    head.reset();
    ASSERT_EQ(parse(head, "HTTP/1.1 200 \r\n\r\n").state, status::complete);
    EXPECT_EQ(head.reason(), "");
    head.reset();
    ASSERT_EQ(parse(head, "HTTP/1.2 103 Early Hints\r\nLink: </a>\r\n\r\n").state, status::complete);
    EXPECT_EQ(head.version(), 11u);  // a later minor version is answered as 1.1
    EXPECT_EQ(head.code(), 103u);
    head.reset();
    ASSERT_EQ(parse(head, "HTTP/1.1 200 caf\xc3\xa9\r\nX: \x80\xff\r\n\r\n").state, status::complete);  // obs-text
}

TEST(ResponseHead, RejectsBadStatusLines) {
    for (const char* text :
         {"HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.1x200 OK\r\n\r\n", "HTTP/1.1 2OO OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n",
          "HTTP/1.1 600 High\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
          "http/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 O\x01K\r\n\r\n", "ICY 200 OK\r\n\r\n", "\r\n"}) {
        response_head head;
        EXPECT_EQ(parse(head, text).state, status::error) << text;
    }
}

TEST(ResponseHead, RejectsAmbiguousFieldLines) {
    struct bad {
        std::string text;
        std::string error;
    };
    const bad cases[] = {
        {"HTTP/1.1 200 OK\nX: 1\r\n\r\n", "line ending without CR"},
        {"HTTP/1.1 200 OK\r\nX: 1\n\r\n", "line ending without CR"},
        {"HTTP/1.1 200 OK\r\nX: 1\r\n continued\r\n\r\n", "obsolete line folding"},
        {"HTTP/1.1 200 OK\r\nX: 1\r\n\tcontinued\r\n\r\n", "obsolete line folding"},
        {"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", "invalid field name"},
        {"HTTP/1.1 200 OK\r\n: 5\r\n\r\n", "invalid field name"},
        {"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "invalid field name"},
        {"HTTP/1.1 200 OK\r\nX(Y): 1\r\n\r\n", "invalid field name"},
        {std::string("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27), "invalid character in field value"},
        {"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "invalid character in field value"},
        {"HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n", "invalid character in field value"},
    };
    for (const auto& c : cases) {
        response_head head;
        auto r = parse(head, c.text);
        EXPECT_EQ(r.state, status::error) << c.text;
        EXPECT_EQ(r.error, c.error) << c.text;
    }
}

TEST(ResponseHead, IncrementalAcrossReadsAndMovedBuffers) {
    const std::string text = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n\r\nhi";
    response_head head;
    std::string received;
    status st = status::need_more;
    for (std::size_t i = 0; i < text.size() && st == status::need_more; ++i) {
        received += text[i];
        std::string copy = received;  // a new address every time, as a buffer that moved
        st = head.parse(copy, 8192);
        if (st == status::complete) {
            EXPECT_EQ(head.size(), text.size() - 2);
            EXPECT_EQ(head.fields().size(), 2u);
            EXPECT_EQ(std::string(head.fields()[1].value), "2");  // read before copy goes away
        }
    }
    EXPECT_EQ(st, status::complete);
    EXPECT_EQ(received.size(), text.size() - 2);
}

TEST(ResponseHead, EnforcesSizeAndFieldCountLimits) {
    std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(300, 'a');
    response_head head;
    EXPECT_EQ(parse(head, big, 256).state, status::error);  // no end yet, already too large
    EXPECT_EQ(std::string(head.error()), "response head too large");
    head.reset();
    EXPECT_EQ(parse(head, big + "\r\n\r\n", 256).state, status::error);  // complete but too large
    head.reset();
    EXPECT_EQ(parse(head, big + "\r\n\r\n", 512).state, status::complete);

    std::string many = "HTTP/1.1 200 OK\r\n";
    for (std::size_t i = 0; i < response_head::max_fields; ++i) many += "X: 1\r\n";
    head.reset();
    EXPECT_EQ(parse(head, many + "\r\n", 1 << 20).state, status::complete);
    head.reset();
    EXPECT_EQ(parse(head, many + "X: 1\r\n\r\n", 1 << 20).state, status::error);
    EXPECT_EQ(std::string(head.error()), "too many header fields");
}

TEST(ResponseHead, KeepAliveFollowsVersionAndConnection) {
    auto keep = [](const std::string& text) {
        response_head head;
        EXPECT_EQ(head.parse(text, 8192), status::complete) << text;
        return head.keep_alive();
    };
    EXPECT_TRUE(keep("HTTP/1.1 200 OK\r\n\r\n"));
    EXPECT_FALSE(keep("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
    EXPECT_FALSE(keep("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\n\r\n"));
    EXPECT_FALSE(keep("HTTP/1.1 200 OK\r\nConnection: x-a\r\nconnection: close\r\n\r\n"));
    EXPECT_FALSE(keep("HTTP/1.0 200 OK\r\n\r\n"));
    EXPECT_TRUE(keep("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
}

TEST(ResponseHead, ResetStartsOver) {
    response_head head;
    ASSERT_EQ(parse(head, "HTTP/1.1 100 Continue\r\n\r\n").state, status::complete);
    head.reset();
    ASSERT_EQ(parse(head, "HTTP/1.1 201 Created\r\nA: b\r\n\r\n").state, status::complete);
    EXPECT_EQ(head.code(), 201u);
    EXPECT_EQ(head.fields().size(), 1u);
}
