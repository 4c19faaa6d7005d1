// mtls driven directly: a verified certificate (described as the connection would) passes
// by subject or SAN, names the consumer, and is refused when missing or not listed.
#include "mtls/mtls.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "gatehouse/common/peer_certificate.hpp"
#include "gatehouse/config/reader.hpp"
#include "gatehouse/filters/registry.hpp"

using namespace gatehouse;
using namespace gatehouse::filters;

namespace {

struct outcome {
    std::shared_ptr<const filter_factory> factory;
    std::vector<config::config_error> errors;
    bool has(const std::string& text) const {
        for (const auto& e : errors) {
            if (e.to_string().find(text) != std::string::npos) return true;
        }
        return false;
    }
};

outcome parse_yaml(const std::string& yaml) {
    auto env = config::process_env();
    config::reader r("test.yaml", env);
    outcome o;
    o.factory = find_filter_type("mtls")->parse(r, YAML::Load(yaml), "filters.partners");
    o.errors = r.errors;
    return o;
}

common::peer_certificate billing() {
    common::peer_certificate c;
    c.subject = "CN=billing,O=Example";
    c.common_name = "billing";
    c.sans = {{"DNS", "billing.internal"}, {"URI", "spiffe://example.org/billing"}};
    c.fingerprint = "ab12";
    return c;
}

struct request {
    std::pmr::monotonic_buffer_resource arena;
    request_context ctx{&arena};
};

filter_status run(const outcome& o, request& req) {
    boost::asio::io_context io;
    worker_services w{io, 0};
    return o.factory->create(w)->on_request(req.ctx);
}

}  // namespace

TEST(Mtls, AnyVerifiedCertificateWithoutListsAndTheCnAsConsumer) {
    auto o = parse_yaml("type: mtls\nconsumer_header: X-Partner\n");
    ASSERT_TRUE(o.factory);
    auto cert = billing();
    request req;
    req.ctx.client_certificate = &cert;
    EXPECT_EQ(run(o, req), filter_status::proceed);
    EXPECT_EQ(req.ctx.consumer, "billing");
    std::string sent;
    req.ctx.upstream_edits.for_each_field([&](std::string_view n, std::string_view v) {
        if (n == "X-Partner") sent = v;
    });
    EXPECT_EQ(sent, "billing");
    EXPECT_EQ(o.factory->identity_fields(), std::vector<std::string>{"X-Partner"});
}

TEST(Mtls, MissingOrUnlistedCertificatesAreRefused) {
    auto o = parse_yaml("type: mtls\nsubjects: [\"CN=reports,O=Example\"]\nsans: [spiffe://example.org/billing]\n");
    ASSERT_TRUE(o.factory);
    request none;
    EXPECT_EQ(run(o, none), filter_status::respond);
    EXPECT_EQ(none.ctx.reply->status, 403u);
    EXPECT_EQ(none.ctx.answer_reason, "client_certificate_required");

    auto cert = billing();
    request listed;
    listed.ctx.client_certificate = &cert;
    EXPECT_EQ(run(o, listed), filter_status::proceed);  // by its URI SAN

    cert.sans = {{"DNS", "billing.internal"}};
    request unlisted;
    unlisted.ctx.client_certificate = &cert;
    EXPECT_EQ(run(o, unlisted), filter_status::respond);
    EXPECT_EQ(unlisted.ctx.reply->status, 403u);
    EXPECT_EQ(unlisted.ctx.answer_reason, "client_certificate_not_allowed");
    EXPECT_EQ(unlisted.ctx.consumer, "billing");  // the log still says who

    cert.subject = "CN=reports,O=Example";
    request by_subject;
    by_subject.ctx.client_certificate = &cert;
    EXPECT_EQ(run(o, by_subject), filter_status::proceed);
}

TEST(Mtls, ConsumerSources) {
    auto cert = billing();
    for (auto [source, expected] : {std::pair{"subject", "CN=billing,O=Example"}, std::pair{"san", "billing.internal"},
                                    std::pair{"fingerprint", "ab12"}, std::pair{"common_name", "billing"}}) {
        auto o = parse_yaml(std::string("type: mtls\nconsumer: ") + source + "\n");
        ASSERT_TRUE(o.factory) << source;
        request req;
        req.ctx.client_certificate = &cert;
        EXPECT_EQ(run(o, req), filter_status::proceed);
        EXPECT_EQ(req.ctx.consumer, expected) << source;
    }
    cert.common_name.clear();  // no CN: the subject names it
    auto o = parse_yaml("type: mtls\n");
    request req;
    req.ctx.client_certificate = &cert;
    run(o, req);
    EXPECT_EQ(req.ctx.consumer, "CN=billing,O=Example");
}

TEST(Mtls, ConfigErrors) {
    auto o = parse_yaml(
        "type: mtls\nsubjects: [billing]\nsans: [\"\"]\nconsumer: email\nconsumer_header: \"bad name\"\n"
        "colour: red\n");
    EXPECT_FALSE(o.factory);
    EXPECT_TRUE(o.has("filters.partners.colour: unknown key \"colour\""));
    o = parse_yaml("type: mtls\nsubjects: [billing]\nsans: [\"\"]\nconsumer: email\nconsumer_header: \"bad name\"\n");
    EXPECT_FALSE(o.factory);
    EXPECT_TRUE(o.has("filters.partners.subjects: \"billing\" is not an RFC 2253 subject"));
    EXPECT_TRUE(o.has("filters.partners.sans: an empty SAN matches nothing"));
    EXPECT_TRUE(o.has("filters.partners.consumer"));
    EXPECT_TRUE(o.has("filters.partners.consumer_header: invalid header name"));
}
