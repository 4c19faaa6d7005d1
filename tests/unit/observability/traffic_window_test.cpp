#include "gatehouse/observability/traffic_window.hpp"

#include <gtest/gtest.h>

namespace gatehouse::observability {
namespace {

using namespace std::chrono_literals;
const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;

traffic_sample sample(std::chrono::seconds at, std::uint64_t ok, std::uint64_t errors, std::size_t bucket) {
    route_sample r;
    r.name = "users";
    r.classes[1] = ok;
    r.classes[4] = errors;
    r.latency[bucket] = ok + errors;
    return {t0 + at, {r}};
}

TEST(TrafficWindow, RatesAreTheDifferenceOverTheLastMinute) {
    traffic_window w;
    EXPECT_TRUE(w.rates().empty());
    w.add(sample(0s, 100, 0, 3));
    auto first = w.rates();
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].requests, 0u);  // one sample: nothing measured yet
    EXPECT_FALSE(first[0].p50_ms);
    w.add(sample(10s, 300, 20, 3));
    auto r = w.rates();
    EXPECT_EQ(r[0].requests, 220u);
    EXPECT_EQ(r[0].classes[1], 200u);
    EXPECT_EQ(r[0].classes[4], 20u);
    EXPECT_DOUBLE_EQ(r[0].per_second, 22.0);
    // Everything in the 5..10 ms bucket: the median is in it.
    ASSERT_TRUE(r[0].p50_ms);
    EXPECT_GT(*r[0].p50_ms, 5.0);
    EXPECT_LE(*r[0].p50_ms, 10.0);
    // Two minutes on: samples older than the window's start are gone.
    for (int s = 20; s <= 120; s += 10) w.add(sample(std::chrono::seconds(s), 300 + s, 20, 3));
    EXPECT_NEAR(w.covered().count(), 60.0, 0.001);
    EXPECT_EQ(w.rates()[0].requests, 60u);
    EXPECT_DOUBLE_EQ(w.rates()[0].per_second, 1.0);
}

TEST(TrafficWindow, QuantilesInterpolateWithinBuckets) {
    latency_counts b{};
    EXPECT_FALSE(quantile_ms(b, 0.5));
    b[0] = 50;  // <= 1 ms
    b[6] = 50;  // 50..100 ms
    EXPECT_NEAR(*quantile_ms(b, 0.5), 1.0, 1e-9);
    EXPECT_NEAR(*quantile_ms(b, 0.99), 50 + 50 * (49.0 / 50.0), 1e-6);
    latency_counts slow{};
    slow[latency_bounds.size()] = 3;  // over the last bound
    EXPECT_DOUBLE_EQ(*quantile_ms(slow, 0.5), latency_bounds.back() * 1000);
}

TEST(TrafficWindow, RestartedCountersCountFromZero) {
    traffic_window w;
    w.add(sample(0s, 500, 0, 2));
    w.add(sample(2s, 10, 0, 2));  // lower than before: counted from zero
    EXPECT_EQ(w.rates()[0].requests, 10u);
}

}  // namespace
}  // namespace gatehouse::observability
