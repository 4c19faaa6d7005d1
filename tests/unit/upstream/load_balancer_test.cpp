#include "gatehouse/upstream/load_balancer.hpp"

#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "gatehouse/common/hash.hpp"

using namespace gatehouse;
using upstream::endpoint_load;
using upstream::load_balancer;

TEST(LoadBalancer, RoundRobinCyclesAndSkipsUnusable) {
    load_balancer lb(config::lb_policy::round_robin, 0);
    std::vector<endpoint_load> eps(3);
    std::vector<std::size_t> got;
    for (int i = 0; i < 6; ++i) got.push_back(lb.pick(eps, 0));
    EXPECT_EQ(got, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
    eps[1].usable = false;
    got.clear();
    for (int i = 0; i < 4; ++i) got.push_back(lb.pick(eps, 0));
    for (auto g : got) EXPECT_NE(g, 1u);
}

// Every request failing on its first endpoint and retried on the rest must not make every
// first try land on the same endpoint.
TEST(LoadBalancer, RoundRobinRetriesTakeTheNextEndpointAndRequestsStillRotate) {
    load_balancer lb(config::lb_policy::round_robin, 0);
    std::vector<std::size_t> firsts;
    for (int request = 0; request < 6; ++request) {
        std::vector<endpoint_load> eps(3);
        const auto first = lb.pick(eps, 0);
        firsts.push_back(first);
        eps[first].usable = false;
        const auto second = lb.pick(eps, 0, true);
        EXPECT_EQ(second, (first + 1) % 3);
        eps[second].usable = false;
        EXPECT_EQ(lb.pick(eps, 0, true), (first + 2) % 3);
    }
    EXPECT_EQ(firsts, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(LoadBalancer, NoneWhenNothingUsable) {
    for (auto p : {config::lb_policy::round_robin, config::lb_policy::random, config::lb_policy::ip_hash,
                   config::lb_policy::least_request}) {
        load_balancer lb(p, 7);
        std::vector<endpoint_load> eps(2);
        eps[0].usable = eps[1].usable = false;
        EXPECT_EQ(lb.pick(eps, 1), load_balancer::none);
        EXPECT_EQ(lb.pick({}, 1), load_balancer::none);
    }
}

TEST(LoadBalancer, IpHashIsStablePerClient) {
    load_balancer lb(config::lb_policy::ip_hash, 0);
    std::vector<endpoint_load> eps(4);
    auto h1 = common::hash_bytes("10.0.0.1", 8);
    auto h2 = common::hash_bytes("10.0.0.2", 8);
    auto first = lb.pick(eps, h1);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(lb.pick(eps, h1), first);
    std::map<std::size_t, int> spread;
    for (int i = 0; i < 256; ++i) {
        std::string ip = "10.0.0." + std::to_string(i);
        ++spread[lb.pick(eps, common::hash_bytes(ip.data(), ip.size()))];
    }
    EXPECT_EQ(spread.size(), 4u);
    (void)h2;
    eps[first].usable = false;  // its clients move, the others stay
    EXPECT_NE(lb.pick(eps, h1), first);
}

TEST(LoadBalancer, RandomCoversAllEndpoints) {
    load_balancer lb(config::lb_policy::random, 99);
    std::vector<endpoint_load> eps(5);
    std::map<std::size_t, int> seen;
    for (int i = 0; i < 1000; ++i) ++seen[lb.pick(eps, 0)];
    EXPECT_EQ(seen.size(), 5u);
    for (auto& [i, n] : seen) EXPECT_GT(n, 120) << i;
}

TEST(LoadBalancer, LeastRequestAvoidsTheBusyEndpoint) {
    load_balancer lb(config::lb_policy::least_request, 3);
    std::vector<endpoint_load> eps(2);
    eps[0].active = 50;
    eps[1].active = 1;
    for (int i = 0; i < 50; ++i) EXPECT_EQ(lb.pick(eps, 0), 1u);
    std::vector<endpoint_load> many(10);
    many[3].active = 1000;
    int busy = 0;
    for (int i = 0; i < 1000; ++i) busy += lb.pick(many, 0) == 3;
    EXPECT_EQ(busy, 0);  // two distinct choices: the busy one never wins
}
