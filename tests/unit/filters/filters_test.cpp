// The shipped filters driven directly, without sockets: request_id (with W3C traceparent),
// headers (templates, edits) and access_log (line format), plus head_edits semantics.
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "access_log/access_log.hpp"
#include "gatehouse/config/reader.hpp"
#include "gatehouse/filters/registry.hpp"
#include "headers/headers.hpp"
#include "map_fields.hpp"
#include "request_id/request_id.hpp"

using namespace gatehouse;
using namespace gatehouse::filters;

namespace {

using test_support::map_fields;

struct filter_fixture {
    std::pmr::monotonic_buffer_resource arena;
    request_context ctx{&arena};
    map_fields fields;
    boost::asio::io_context io;
    worker_services services{io, 0};

    filter_fixture() {
        ctx.method = "GET";
        ctx.target = "/users/7?x=1";
        ctx.path = "/users/7";
        ctx.host = "api.example.com";
        ctx.client_ip = "10.1.2.3";
        ctx.client_port = 40000;
        ctx.route_name = "users";
        ctx.headers = &fields;
        ctx.request_id = "incoming-id";
    }
};

config::env_lookup no_env() {
    return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

struct parsed {
    std::shared_ptr<const filter_factory> factory;
    std::vector<config::config_error> errors;
};

parsed parse_filter(const std::string& yaml) {
    config::reader r("test.yaml", no_env());  // the reader keeps a reference to the lookup
    auto node = YAML::Load(yaml);
    auto type = find_filter_type(node["type"].Scalar());
    EXPECT_NE(type, nullptr);
    parsed p;
    p.factory = type->parse(r, node, "filters.f");
    p.errors = r.errors;
    return p;
}

std::map<std::string, std::string> fields_of(const head_edits& edits) {
    std::map<std::string, std::string> out;
    edits.for_each_field([&](std::string_view n, std::string_view v) { out[std::string(n)] = std::string(v); });
    return out;
}

bool has_error(const parsed& p, const std::string& text) {
    for (const auto& e : p.errors) {
        if (e.to_string().find(text) != std::string::npos) return true;
    }
    return false;
}

}  // namespace

TEST(HeadEdits, LaterSetOrRemoveOverridesEarlierEdits) {
    std::pmr::monotonic_buffer_resource arena;
    head_edits e(&arena);
    e.set("X-A", "1");
    e.add("X-B", "1");
    e.set("x-a", "2");
    e.remove("X-B");
    e.add("X-C", "3");
    EXPECT_TRUE(e.replaces("X-A"));
    EXPECT_TRUE(e.replaces("x-b"));
    EXPECT_FALSE(e.replaces("X-C"));  // add keeps the message's own fields
    auto f = fields_of(e);
    EXPECT_EQ(f.size(), 2u);
    EXPECT_EQ(f["x-a"], "2");
    EXPECT_EQ(f["X-C"], "3");
}

TEST(Traceparent, ParsesValidAndRejectsInvalid) {
    std::string_view trace, flags;
    EXPECT_TRUE(request_id::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", trace, flags));
    EXPECT_EQ(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(flags, "01");
    // A future version may append fields after a dash.
    EXPECT_TRUE(
        request_id::parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what", trace, flags));
    for (std::string_view bad :
         {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 has exactly 4 fields
          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version ff is invalid
          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace id
          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero parent id
          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
          "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",         // short
          "garbage"}) {
        EXPECT_FALSE(request_id::parse_traceparent(bad, trace, flags)) << bad;
    }
}

TEST(RequestIdFilter, ContinuesAValidTraceWithANewSpan) {
    filter_fixture f;
    f.fields.values["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    auto p = parse_filter("type: request_id");
    ASSERT_TRUE(p.factory);
    auto filter = p.factory->create(f.services);
    EXPECT_EQ(filter->on_request(f.ctx), filter_status::proceed);
    EXPECT_EQ(f.ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    ASSERT_EQ(f.ctx.span_id.size(), 16u);
    EXPECT_NE(f.ctx.span_id, "00f067aa0ba902b7");
    auto edits = fields_of(f.ctx.upstream_edits);
    EXPECT_EQ(edits["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-" + std::string(f.ctx.span_id) + "-01");
    EXPECT_FALSE(f.ctx.upstream_edits.replaces("tracestate"));  // tracestate travels with its trace
    EXPECT_EQ(f.ctx.request_id, "incoming-id");
}

TEST(RequestIdFilter, StartsATraceWhenAbsentOrInvalid) {
    for (bool send_invalid : {false, true}) {
        filter_fixture f;
        if (send_invalid) f.fields.values["traceparent"] = "00-zz-yy-01";
        auto p = parse_filter("type: request_id\nsample: false");
        auto filter = p.factory->create(f.services);
        filter->on_request(f.ctx);
        ASSERT_EQ(f.ctx.trace_id.size(), 32u);
        std::string_view trace, flags;
        auto value = fields_of(f.ctx.upstream_edits)["traceparent"];
        ASSERT_TRUE(request_id::parse_traceparent(value, trace, flags)) << value;
        EXPECT_EQ(trace, f.ctx.trace_id);
        EXPECT_EQ(flags, "00");
        EXPECT_TRUE(f.ctx.upstream_edits.replaces("tracestate"));
    }
}

TEST(RequestIdFilter, OwnHeaderAndUntrustedIds) {
    filter_fixture f;
    f.fields.values["x-correlation-id"] = "abc-123";
    auto p = parse_filter("type: request_id\nheader: X-Correlation-Id\ntrace_context: false");
    auto filter = p.factory->create(f.services);
    filter->on_request(f.ctx);
    EXPECT_EQ(f.ctx.request_id, "abc-123");
    EXPECT_EQ(fields_of(f.ctx.upstream_edits)["X-Correlation-Id"], "abc-123");
    EXPECT_TRUE(f.ctx.trace_id.empty());
    response_view response{200, false, nullptr};
    filter->on_response(f.ctx, response);
    EXPECT_EQ(fields_of(f.ctx.response_edits)["X-Correlation-Id"], "abc-123");

    filter_fixture g;
    g.fields.values["x-request-id"] = "client-chosen";
    auto untrusted = parse_filter("type: request_id\ntrust_incoming: false");
    untrusted.factory->create(g.services)->on_request(g.ctx);
    EXPECT_NE(g.ctx.request_id, "incoming-id");
    EXPECT_EQ(g.ctx.request_id.size(), 36u);
}

TEST(RequestIdFilter, ConfigErrors) {
    auto p = parse_filter("type: request_id\nheader: 'bad header'\nsample: maybe\nextra: 1");
    EXPECT_FALSE(p.factory);
    EXPECT_TRUE(has_error(p, "filters.f.header: invalid header name"));
    EXPECT_TRUE(has_error(p, "filters.f.sample: expected true or false"));
    EXPECT_TRUE(has_error(p, "filters.f.extra: unknown key"));
}

TEST(HeadersFilter, RendersRequestValuesIntoEdits) {
    filter_fixture f;
    f.fields.values["user-agent"] = "curl/8";
    auto p = parse_filter(R"(
type: headers
request:
  set: { X-Client: "%{client_ip}:%{client_port}", X-Route: "%{route} %{method} %{path}", X-Empty: "%{header.missing}" }
  add: { X-Agent: "ua=%{header.user-agent} 100%%" }
  remove: [X-Internal]
response:
  set: { X-Status: "s%{status}", X-Trace: "%{request_id}" }
)");
    ASSERT_TRUE(p.factory);
    auto filter = p.factory->create(f.services);
    filter->on_request(f.ctx);
    auto up = fields_of(f.ctx.upstream_edits);
    EXPECT_EQ(up["X-Client"], "10.1.2.3:40000");
    EXPECT_EQ(up["X-Route"], "users GET /users/7");
    EXPECT_EQ(up["X-Agent"], "ua=curl/8 100%");
    EXPECT_EQ(up.count("X-Empty"), 0u);  // an empty value leaves the field out
    EXPECT_TRUE(f.ctx.upstream_edits.replaces("X-Internal"));
    response_view response{503, false, nullptr};
    filter->on_response(f.ctx, response);
    auto down = fields_of(f.ctx.response_edits);
    EXPECT_EQ(down["X-Status"], "s503");
    EXPECT_EQ(down["X-Trace"], "incoming-id");
}

TEST(HeadersFilter, ConfigErrors) {
    auto p = parse_filter(R"(
type: headers
request:
  set: { X-A: "%{nope}", X-B: "%{status}", X-C: "50%", Content-Length: "1" }
  remove: [Connection]
)");
    EXPECT_FALSE(p.factory);
    EXPECT_TRUE(has_error(p, "filters.f.request.set.X-A: unknown variable %{nope}"));
    EXPECT_TRUE(has_error(p, "filters.f.request.set.X-B: %{status} is only known on the response side"));
    EXPECT_TRUE(has_error(p, "filters.f.request.set.X-C: a \"%\" must start %{variable}"));
    EXPECT_TRUE(has_error(p, "filters.f.request.set.Content-Length: \"Content-Length\" is managed by the gateway"));
    EXPECT_TRUE(has_error(p, "filters.f.request.remove: \"Connection\" is managed by the gateway"));
}

TEST(AccessLog, FormatsOneJsonLineWithTheChosenFields) {
    filter_fixture f;
    f.ctx.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    f.ctx.answered_by = "auth";
    f.ctx.answer_reason = "missing_key";
    access_log::settings s;
    for (auto field : {access_log::field::time, access_log::field::request_id, access_log::field::trace_id,
                       access_log::field::client, access_log::field::method, access_log::field::path,
                       access_log::field::route, access_log::field::upstream, access_log::field::status,
                       access_log::field::bytes_in, access_log::field::bytes_out, access_log::field::duration_ms,
                       access_log::field::upstream_duration_ms, access_log::field::filter, access_log::field::reason}) {
        s.fields.push_back(field);
    }
    exchange_log log;
    log.status = 401;
    log.bytes_in = 120;
    log.bytes_out = 250;
    log.start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764168102123));
    log.duration = std::chrono::microseconds(1234);
    std::string line;
    access_log::format_line(s, f.ctx, log, line);
    ASSERT_EQ(line.back(), '\n');
    auto v = boost::json::parse(line).as_object();
    EXPECT_EQ(v["time"].as_string(), "2025-11-26T14:41:42.123Z");
    EXPECT_EQ(v["request_id"].as_string(), "incoming-id");
    EXPECT_EQ(v["trace_id"].as_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(v["client"].as_string(), "10.1.2.3");
    EXPECT_EQ(v["path"].as_string(), "/users/7");
    EXPECT_EQ(v["route"].as_string(), "users");
    EXPECT_EQ(v["status"].as_int64(), 401);
    EXPECT_EQ(v["bytes_in"].as_int64(), 120);
    EXPECT_EQ(v["bytes_out"].as_int64(), 250);
    EXPECT_DOUBLE_EQ(v["duration_ms"].as_double(), 1.234);
    EXPECT_TRUE(v["upstream_duration_ms"].is_null());
    EXPECT_EQ(v["filter"].as_string(), "auth");
    EXPECT_EQ(v["reason"].as_string(), "missing_key");

    access_log::settings few;
    few.fields = {access_log::field::status, access_log::field::path};
    f.ctx.path = "/quote\"and\\slash";
    std::string short_line;
    access_log::format_line(few, f.ctx, log, short_line);
    EXPECT_EQ(short_line, "{\"status\":401,\"path\":\"/quote\\\"and\\\\slash\"}\n");
}

TEST(AccessLog, ConfigErrors) {
    auto p = parse_filter("type: access_log\nfields: [status, nope, status]\nbuffer: lots\nflush: 0s");
    EXPECT_FALSE(p.factory);
    EXPECT_TRUE(has_error(p, "unknown field \"nope\""));
    EXPECT_TRUE(has_error(p, "field \"status\" is listed twice"));
    EXPECT_TRUE(has_error(p, "filters.f.buffer: invalid size"));
    EXPECT_TRUE(has_error(p, "filters.f.flush: duration must be greater than zero"));
    auto q = parse_filter("type: access_log\noutput: /etc/hostname/access.log");
    EXPECT_FALSE(q.factory);
    EXPECT_TRUE(has_error(q, "filters.f.output: cannot open the log output"));
}
