#include "gatehouse/config/units.hpp"

#include <gtest/gtest.h>

using namespace gatehouse::config;
using namespace std::chrono_literals;

TEST(ParseSize, AcceptsBinaryAndDecimalUnits) {
    EXPECT_EQ(parse_size("512"), 512u);
    EXPECT_EQ(parse_size("512B"), 512u);
    EXPECT_EQ(parse_size("64KiB"), 64u * 1024);
    EXPECT_EQ(parse_size("8MiB"), 8u * 1024 * 1024);
    EXPECT_EQ(parse_size("1GiB"), 1024ull * 1024 * 1024);
    EXPECT_EQ(parse_size("10KB"), 10'000u);
    EXPECT_EQ(parse_size("5MB"), 5'000'000u);
    EXPECT_EQ(parse_size("2GB"), 2'000'000'000u);
}

TEST(ParseSize, RejectsMalformedValues) {
    for (const char* bad :
         {"", "MiB", "8 MiB", "8mib", "-1", "1.5MiB", "8MiBs", "99999999999999999999", "17179869184GiB"}) {
        EXPECT_FALSE(parse_size(bad).has_value()) << bad;
    }
}

TEST(ParseDuration, AcceptsUnitsAndCombinations) {
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("10s"), 10s);
    EXPECT_EQ(parse_duration("2m"), 120s);
    EXPECT_EQ(parse_duration("1h"), 3600s);
    EXPECT_EQ(parse_duration("1m30s"), 90s);
    EXPECT_EQ(parse_duration("1h1m1s5ms"), 3661005ms);
    EXPECT_EQ(parse_duration("0s"), 0ms);
}

TEST(ParseDuration, RequiresAUnit) {
    for (const char* bad : {"", "30", "s", "10 s", "10x", "1.5s", "-1s", "10S", "ms10"}) {
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
    }
}

TEST(ParseHostPort, ParsesNamesAndAddresses) {
    auto a = parse_host_port("127.0.0.1:8080", false);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 8080);
    auto b = parse_host_port("[::1]:9000", false);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "::1");
    auto c = parse_host_port("users.internal:80", false);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->host, "users.internal");
    auto d = parse_host_port(":8080", true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->host, "0.0.0.0");
    EXPECT_TRUE(parse_host_port("127.0.0.1:0", true));
}

TEST(ParseHostPort, RejectsInvalid) {
    for (const char* bad :
         {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80", "[::1]80", "a b:80", "host:8o", "[]:80"}) {
        EXPECT_FALSE(parse_host_port(bad, false).has_value()) << bad;
    }
    EXPECT_FALSE(parse_host_port("127.0.0.1:0", false));
}
