// The client side of an aggregate route: what the backends receive from the client's request
// (zero trust: forwarding fields, filter edits and only the listed client fields and query
// parameters), the fan-out itself (aggregate/fan_out.cpp), and the merged answer.
#include <algorithm>

#include <boost/beast/http/field.hpp>

#include "gatehouse/aggregate/fan_out.hpp"
#include "gatehouse/aggregate/value_template.hpp"
#include "gatehouse/config/aggregate.hpp"
#include "gatehouse/http/wire.hpp"
#include "gatehouse/io/send.hpp"
#include "gatehouse/server/client_connection.hpp"
#include "gatehouse/server/worker.hpp"
#include "request_state.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

namespace {

bool named_in(const std::vector<std::string>& names, std::string_view name) {
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return http::iequals(n, name); });
}

bool set_or_removed(const config::header_edits& edits, const filters::head_edits& filter_edits, std::string_view name) {
    if (!filter_edits.empty() && filter_edits.replaces(name)) return true;
    if (named_in(edits.remove, name)) return true;
    return std::any_of(edits.set.begin(), edits.set.end(), [&](const auto& e) { return http::iequals(e.first, name); });
}

// Each backend call carries its own traceparent, a child of the client's trace.
bool trace_field(std::string_view name) {
    return http::iequals(name, "traceparent") || http::iequals(name, "tracestate");
}

// The client query's parameters named in forward_query, raw ("a=1&b=2").
std::string forwarded_query(std::string_view target, const std::vector<std::string>& names) {
    std::string out;
    auto q = target.find('?');
    if (q == std::string_view::npos || names.empty()) return out;
    auto query = target.substr(q + 1);
    while (!query.empty()) {
        auto amp = query.find('&');
        auto param = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto name = aggregate::percent_decode(param.substr(0, param.find('=')));
        if (std::find(names.begin(), names.end(), name) == names.end()) continue;
        if (!out.empty()) out += '&';
        out += param;
    }
    return out;
}

// The trace flags of the traceparent a filter (request_id) set for this hop.
std::string_view trace_flags(const filters::head_edits& edits) {
    std::string_view flags;
    edits.for_each_field([&](std::string_view name, std::string_view value) {
        if (http::iequals(name, "traceparent") && value.size() >= 2) flags = value.substr(value.size() - 2);
    });
    return flags;
}

}  // namespace

asio::awaitable<std::optional<http::local_reply>> client_connection::read_whole_body(request_state& rs,
                                                                                     std::string& out) {
    if (rs.framing == http::body_framing::none) co_return std::nullopt;
    if (rs.framing != http::body_framing::length) {
        co_return http::local_reply{411, "length_required",
                                    "an aggregate route takes a request body only with Content-Length"};
    }
    if (rs.expect_continue && co_await write_to_client("HTTP/1.1 100 Continue\r\n\r\n")) {
        co_return http::local_reply{400, "client_gone", "the client left"};
    }
    const auto& timeouts = rs.gen->snap->config->server.timeouts;
    const auto body_deadline = worker_.now() + timeouts.body;
    const auto length = static_cast<std::size_t>(rs.content_length);
    auto& buf = client_buffer();
    while (buf.size() < length) {
        watch_.arm(stream_.socket(), std::min(worker_.now() + timeouts.read, body_deadline));
        auto [read_ec, n] = co_await stream_.async_read_some(
            buf.prepare(std::max(io::min_read, std::min(length - buf.size(), buf.capacity() - buf.size()))),
            io::use_nothrow);
        if (auto ec = watch_.settle(read_ec)) {
            co_return ec == asio::error::timed_out
                ? http::local_reply{408, "request_timeout", "request body not received in time"}
                : http::local_reply{400, "client_gone", "the client left during its body"};
        }
        buf.commit(n);
    }
    out.assign(static_cast<const char*>(buf.data().data()), length);
    buf.consume(length);
    rs.log.bytes_in += length;
    co_return std::nullopt;
}

// Fields every backend call carries: forwarding, the route's and the filters' edits, and the
// client fields listed in forward_headers.
std::string client_connection::backend_fields(request_state& rs) const {
    const auto& route = rs.route->config;
    const auto& agg = *route.aggregate;
    const auto& req = rs.parser.get();
    std::string common;
    std::string xff;
    for (auto [it, end] = req.equal_range("x-forwarded-for"); it != end; ++it) {
        if (!xff.empty()) xff += ", ";
        xff += it->value();
    }
    if (!xff.empty()) xff += ", ";
    xff += client_ip_;
    const auto& edits = route.request_headers;
    const auto& filter_edits = rs.ctx.upstream_edits;
    if (!set_or_removed(edits, filter_edits, "X-Forwarded-For")) http::append_field(common, "X-Forwarded-For", xff);
    auto proto = rs.from_trusted_proxy ? req.find("x-forwarded-proto") : req.end();
    if (!set_or_removed(edits, filter_edits, "X-Forwarded-Proto")) {
        http::append_field(common, "X-Forwarded-Proto",
                           proto != req.end() ? std::string_view(proto->value()) : scheme());
    }
    if (!rs.forwarded_host.empty() && !set_or_removed(edits, filter_edits, "X-Forwarded-Host")) {
        http::append_field(common, "X-Forwarded-Host", rs.forwarded_host);
    }
    if (forward_client_certificate_ && peer_certificate_ &&
        !set_or_removed(edits, filter_edits, "X-Forwarded-Client-Cert")) {
        http::append_field(common, "X-Forwarded-Client-Cert", peer_certificate_->forwarded);
    }
    const auto& identity = rs.gen->snap->config->identity_fields;
    for (const auto& field : req) {
        auto name = field.name_string();
        if (!named_in(agg.forward_headers, name) || named_in(identity, name) ||
            set_or_removed(edits, filter_edits, name) ||
            (rs.drop_underscore_fields && name.find('_') != std::string_view::npos)) {
            continue;
        }
        http::append_field(common, name, field.value());
    }
    for (const auto& [name, value] : edits.set) {
        if (!filter_edits.replaces(name) && !trace_field(name)) http::append_field(common, name, value);
    }
    for (const auto& [name, value] : edits.add) {
        if (!filter_edits.replaces(name) && !trace_field(name)) http::append_field(common, name, value);
    }
    filter_edits.for_each_field([&](std::string_view name, std::string_view value) {
        if (!trace_field(name)) http::append_field(common, name, value);
    });
    return common;
}

asio::awaitable<client_connection::next_step> client_connection::aggregate(request_state& rs) {
    const auto& config = *rs.gen->snap->config;
    const auto& route = rs.route->config;
    const auto& agg = *route.aggregate;
    const auto& req = rs.parser.get();

    std::string body;
    if (auto refusal = co_await read_whole_body(rs, body)) {
        co_return co_await reply(rs, *refusal, true);
    }
    const auto common = backend_fields(rs);
    const auto query = forwarded_query(rs.target, agg.forward_query);
    std::vector<std::pair<std::string_view, std::string_view>> params;
    if (route.match.path_kind == config::path_match_kind::templated) {
        params = aggregate::template_params(route.match.path, rs.path);
    }
    auto content_type = req.find(beast::http::field::content_type);
    aggregate::client_request request{
        rs.ctx.request_id,
        rs.ctx.trace_id,
        trace_flags(rs.ctx.upstream_edits),
        common,
        query,
        params,
        body,
        content_type != req.end() ? std::string_view(content_type->value()) : std::string_view{},
    };

    const auto& server = config.server;
    aggregate::fan_out_env env{.exchange = worker_.exchange_env(),
                               .allocator = rs.allocator,
                               .deadlines = &worker_.deadlines(),
                               .clusters = rs.gen->clusters,
                               .cluster_stats = rs.gen->cluster_stats,
                               .backend_stats = rs.gen->backend_stats[rs.route->index]};
    env.client_hash = client_hash_;
    env.random_seed = worker_.random().next();
    env.send_timeout = server.timeouts.send;
    env.read_timeout = server.timeouts.read;
    env.max_response_head = static_cast<std::size_t>(server.limits.max_response_header_bytes);
    const auto deadline = rs.started + agg.timeout.value_or(route.timeout.value_or(server.timeouts.request));

    aggregate::fan_out_result result;
    co_await aggregate::fan_out(agg, env, request, deadline, result);

    rs.backend_log.reserve(agg.backends.size());
    for (std::size_t i = 0; i < agg.backends.size(); ++i) {
        const auto& outcome = result.backends[i];
        rs.backend_log.push_back({agg.backends[i].name, outcome.status, outcome.duration,
                                  outcome.failure ? observability::name_of(*outcome.failure) : std::string_view{},
                                  outcome.called});
    }
    if (result.error) {
        co_return co_await reply(rs, *result.error, false);
    }
    const bool close = !rs.keep_alive || worker_.draining();
    auto out = merged_answer(rs, result, close);
    rs.response_started = true;
    auto ec = co_await write_to_client(out);
    co_return (ec || close) ? next_step::close : next_step::keep_alive;
}

// The merged answer, with the route's and the filters' response edits.
std::string client_connection::merged_answer(request_state& rs, const aggregate::fan_out_result& result, bool close) {
    const auto& route = rs.route->config;
    rs.log.status = 200;
    filters::response_view view{200, true, nullptr};
    if (rs.chain) rs.chain->on_response(rs.ctx, view);
    std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
    if (!result.missing.empty()) {
        http::append_field(out, "Gatehouse-Aggregate", aggregate::partial_field_value(result.missing));
        out += "Cache-Control: no-store\r\n";  // a partial answer must not be reused as the whole one
    }
    for (const auto& [name, value] : route.response_headers.set) {
        if (!rs.ctx.response_edits.replaces(name)) http::append_field(out, name, value);
    }
    for (const auto& [name, value] : route.response_headers.add) {
        if (!rs.ctx.response_edits.replaces(name)) http::append_field(out, name, value);
    }
    append_response_edits(rs, out);
    out += "Content-Length: ";
    http::append_number(out, result.body.size());
    out += "\r\nDate: ";
    out += worker_.date();
    out += "\r\nX-Request-Id: ";
    out += rs.ctx.request_id;
    out += close ? "\r\nConnection: close\r\n\r\n"
                 : (rs.version == 10 ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\n\r\n");
    if (!rs.head_method) out += result.body;
    return out;
}

}  // namespace gatehouse::server
