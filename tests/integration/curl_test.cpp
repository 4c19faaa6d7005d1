// A real client: curl through the gateway.
#include "common.hpp"

using namespace harness;

class CurlTest : public ::testing::Test {
protected:
    void SetUp() override {
        echo = std::make_unique<echo_server>(dir, "app");
        gw = std::make_unique<gateway>(dir, one_route_config(echo->port(), "", "    max_body: 64MiB\n"));
        base = "http://127.0.0.1:" + std::to_string(gw->port());
    }
    temp_dir dir;
    std::unique_ptr<echo_server> echo;
    std::unique_ptr<gateway> gw;
    std::string base;
};

TEST_F(CurlTest, GetHeadAndKeepAlive) {
    auto [code, out] = run_command("curl -sS -i " + base + "/hello " + base + "/again");
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("\"target\":\"/hello\""), std::string::npos);
    EXPECT_NE(out.find("\"target\":\"/again\""), std::string::npos);
    auto [hcode, head] = run_command("curl -sS -I " + base + "/bytes/123");
    ASSERT_EQ(hcode, 0) << head;
    EXPECT_NE(head.find("Content-Length: 123"), std::string::npos) << head;
}

TEST_F(CurlTest, UploadsWithExpectContinueAndChunked) {
    auto file = dir.path() + "/upload.bin";
    run_command("head -c 3000000 /dev/urandom > " + file);
    // curl sends Expect: 100-continue for bodies this large.
    auto [code, out] =
        run_command("curl -sS --fail -H \"Expect: 100-continue\" --data-binary @" + file + " " + base + "/up");
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("\"body_bytes\":3000000"), std::string::npos) << out;
    auto [ccode, chunked] =
        run_command("curl -sS --fail -H \"Transfer-Encoding: chunked\" --data-binary @" + file + " " + base + "/up");
    ASSERT_EQ(ccode, 0) << chunked;
    EXPECT_NE(chunked.find("\"body_bytes\":3000000"), std::string::npos) << chunked;
}

TEST_F(CurlTest, Http10AndDownloads) {
    auto [code, out] = run_command("curl -sS --http1.0 " + base + "/bytes/50000?chunked=1 | wc -c");
    ASSERT_EQ(code, 0) << out;
    EXPECT_EQ(std::atoi(out.c_str()), 50000);
    auto [dcode, size] =
        run_command("curl -sS -o /dev/null -w \"%{http_code} %{size_download}\" " + base + "/bytes/10000000");
    ASSERT_EQ(dcode, 0) << size;
    EXPECT_EQ(size, "200 10000000");
}

TEST_F(CurlTest, ErrorsAreJson) {
    auto [code, out] = run_command("curl -sS -w \" %{http_code}\" -X DELETE -H \"Content-Length: abc\" " + base + "/x");
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("\"error\":\"bad_request\""), std::string::npos) << out;
    EXPECT_NE(out.find(" 400"), std::string::npos) << out;
}
