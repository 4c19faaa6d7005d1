// ip_filter driven directly: CIDR parsing and matching (IPv4 and IPv6), the client address
// behind trusted proxies, allow/deny decisions and config errors.
#include "ip_filter/ip_filter.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/reader.hpp"
#include "gatehouse/filters/registry.hpp"

using namespace gatehouse;
using namespace gatehouse::filters;
using ip_filter::effective_client;
using ip_filter::parse_address;
using ip_filter::parse_network;

namespace {

ip_filter::network net(std::string_view text) {
    std::string error;
    auto n = parse_network(text, error);
    EXPECT_TRUE(n) << text << ": " << error;
    return n.value_or(ip_filter::network{});
}

bool contains(std::string_view network, std::string_view address) {
    return net(network).contains(*parse_address(address));
}

class xff_only final : public field_view {
public:
    std::string value;
    std::optional<std::string_view> get(std::string_view name) const override {
        if (name == "x-forwarded-for" && !value.empty()) return std::string_view(value);
        return std::nullopt;
    }
};

struct run_result {
    filter_status status;
    std::string reason;
    std::string client;
};

run_result run(const std::string& yaml, std::string_view peer, std::string xff = "") {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    auto factory = find_filter_type("ip_filter")->parse(r, YAML::Load(yaml), "filters.ip");
    EXPECT_TRUE(factory) << (r.errors.empty() ? "" : r.errors.front().to_string());
    boost::asio::io_context io;
    worker_services w{io, 0};
    std::pmr::monotonic_buffer_resource arena;
    request_context ctx(&arena);
    xff_only fields;
    fields.value = std::move(xff);
    ctx.headers = &fields;
    ctx.client_ip = peer;
    auto status = factory->create(w)->on_request(ctx);
    return {status, std::string(ctx.answer_reason), std::string(ctx.client_ip)};
}

}  // namespace

TEST(IpFilter, NetworksMatchByPrefix) {
    EXPECT_TRUE(contains("10.0.0.0/8", "10.255.1.2"));
    EXPECT_FALSE(contains("10.0.0.0/8", "11.0.0.1"));
    EXPECT_TRUE(contains("192.168.1.0/25", "192.168.1.127"));
    EXPECT_FALSE(contains("192.168.1.0/25", "192.168.1.128"));
    EXPECT_TRUE(contains("203.0.113.7", "203.0.113.7"));  // a single address is a /32
    EXPECT_FALSE(contains("203.0.113.7", "203.0.113.8"));
    EXPECT_TRUE(contains("0.0.0.0/0", "8.8.8.8"));
    EXPECT_FALSE(contains("0.0.0.0/0", "2001:db8::1"));  // IPv4 networks never match IPv6 clients
    EXPECT_TRUE(contains("2001:db8::/32", "2001:db8:abcd::1"));
    EXPECT_FALSE(contains("2001:db8::/32", "2001:db9::1"));
    EXPECT_TRUE(contains("::/0", "::1"));
    EXPECT_TRUE(contains("10.0.0.0/8", "::ffff:10.1.1.1"));  // v4-mapped is the IPv4 address
}

TEST(IpFilter, BadNetworksAreRefused) {
    std::string error;
    EXPECT_FALSE(parse_network("10.0.0.0/33", error));
    EXPECT_NE(error.find("prefix length"), std::string::npos);
    EXPECT_FALSE(parse_network("10.1.2.3/8", error));  // host bits set: probably a typo
    EXPECT_NE(error.find("bits set beyond"), std::string::npos);
    EXPECT_FALSE(parse_network("example.com/8", error));
    EXPECT_FALSE(parse_network("2001:db8::/129", error));
    EXPECT_FALSE(parse_network("10.0.0.0/", error));
}

TEST(IpFilter, ClientBehindTrustedProxies) {
    ip_filter::settings s;
    s.trusted_proxies = {net("10.0.0.0/8"), net("127.0.0.1")};
    // The peer is not trusted: its X-Forwarded-For is ignored (anyone can write one).
    EXPECT_EQ(effective_client(s, "198.51.100.9", "1.2.3.4"), "198.51.100.9");
    // Trusted peer: the right-most address that is not a trusted proxy.
    EXPECT_EQ(effective_client(s, "127.0.0.1", "203.0.113.5"), "203.0.113.5");
    EXPECT_EQ(effective_client(s, "127.0.0.1", "1.1.1.1, 203.0.113.5, 10.0.0.2"), "203.0.113.5");
    // A forged left part does not matter.
    EXPECT_EQ(effective_client(s, "10.0.0.1", "6.6.6.6,203.0.113.5"), "203.0.113.5");
    // All trusted: the left-most one.
    EXPECT_EQ(effective_client(s, "10.0.0.1", "10.0.0.7, 10.0.0.2"), "10.0.0.7");
    // A malformed entry ends the walk at the last good address.
    EXPECT_EQ(effective_client(s, "10.0.0.1", "203.0.113.5, garbage, 10.0.0.2"), "10.0.0.2");
    EXPECT_EQ(effective_client(s, "10.0.0.1", ""), "10.0.0.1");
    EXPECT_EQ(effective_client(s, "10.0.0.1", "[2001:db8::5]"), "[2001:db8::5]");
}

TEST(IpFilter, AllowAndDenyDecisions) {
    const std::string config = "type: ip_filter\nallow: [10.0.0.0/8, '2001:db8::/32']\ndeny: [10.6.6.0/24]\n";
    EXPECT_EQ(run(config, "10.1.2.3").status, filter_status::proceed);
    EXPECT_EQ(run(config, "2001:db8::9").status, filter_status::proceed);
    auto denied = run(config, "10.6.6.6");
    EXPECT_EQ(denied.status, filter_status::respond);
    EXPECT_EQ(denied.reason, "ip_denied");
    auto outside = run(config, "192.0.2.1");
    EXPECT_EQ(outside.status, filter_status::respond);
    EXPECT_EQ(outside.reason, "ip_not_allowed");

    const std::string proxied = "type: ip_filter\ndeny: [203.0.113.0/24]\ntrusted_proxies: [127.0.0.1]\n";
    auto behind = run(proxied, "127.0.0.1", "203.0.113.5");
    EXPECT_EQ(behind.status, filter_status::respond);
    EXPECT_EQ(behind.client, "203.0.113.5");  // later filters and the log see the real client
    EXPECT_EQ(run(proxied, "127.0.0.1", "198.51.100.1").status, filter_status::proceed);
    EXPECT_EQ(run(proxied, "192.0.2.10", "127.0.0.1").client, "192.0.2.10");
}

TEST(IpFilter, ConfigErrors) {
    auto env = config::process_env();
    config::reader r("t.yaml", env);
    auto f = find_filter_type("ip_filter")
                 ->parse(r, YAML::Load("type: ip_filter\nallow: [10.0.0.0/40, nonsense]\nextra: 1\n"), "filters.ip");
    EXPECT_FALSE(f);
    std::string all;
    for (const auto& e : r.errors) all += e.to_string() + "\n";
    EXPECT_NE(all.find("filters.ip.allow: invalid prefix length in \"10.0.0.0/40\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.ip.allow: invalid address \"nonsense\""), std::string::npos) << all;
    EXPECT_NE(all.find("filters.ip.extra: unknown key"), std::string::npos) << all;
    config::reader empty("t.yaml", env);
    EXPECT_FALSE(find_filter_type("ip_filter")->parse(empty, YAML::Load("type: ip_filter\n"), "filters.ip"));
    ASSERT_FALSE(empty.errors.empty());
    EXPECT_NE(empty.errors.front().message.find("set allow, deny or both"), std::string::npos);
}
