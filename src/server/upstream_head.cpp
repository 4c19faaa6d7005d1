#include "upstream_head.hpp"

#include <algorithm>

#include "head_fields.hpp"

namespace gatehouse::server {

namespace beast = boost::beast;

namespace {

// What the client's fields say about forwarding, collected while they are copied.
struct forwarding {
    explicit forwarding(const std::pmr::polymorphic_allocator<char>& allocator) : forwarded_for(allocator) {}
    std::pmr::string forwarded_for;  // X-Forwarded-For lines, joined
    bool proxy_proto = false;        // a trusted proxy's X-Forwarded-Proto / -Host is passed on
    bool proxy_host = false;
};

// One pass over the client's fields: keep what is end-to-end, collect X-Forwarded-For, leave
// out what the gateway or the route sets itself (no edits of Beast's field tree).
void copy_request_fields(const upstream_head_input& in, std::pmr::string& out, forwarding& fwd) {
    const auto& edits = in.route.request_headers;
    const auto& filter_edits = in.filter_edits;
    const auto& identity = in.identity_fields;
    nominated_fields nominated;
    nominated.collect(in.fields);  // within the cap: check_request refused more
    for (const auto& field : in.fields) {
        auto id = field.name();
        auto name = field.name_string();
        if (connection_scoped(field, nominated) || id == beast::http::field::expect ||
            id == beast::http::field::content_length ||
            (id == beast::http::field::host && (in.route.host_rewrite || in.forwarded_host.empty()))) {
            continue;  // Expect: 100-continue is answered by the gateway; framing is set below
        }
        switch (gateway_field(name)) {
            case gateway_field_kind::forwarded_for:
                if (!fwd.forwarded_for.empty()) fwd.forwarded_for += ", ";
                fwd.forwarded_for += field.value();
                continue;
            case gateway_field_kind::other_gateway:
                // A trusted proxy describes its own client; anyone else's description is dropped.
                if (!in.from_trusted_proxy || http::iequals(name, "x-request-id")) continue;
                fwd.proxy_proto = fwd.proxy_proto || http::iequals(name, "x-forwarded-proto");
                fwd.proxy_host = fwd.proxy_host || http::iequals(name, "x-forwarded-host");
                break;
            case gateway_field_kind::client_certificate:
                continue;  // only the gateway vouches for a client certificate, even behind a proxy
            case gateway_field_kind::none:
                break;
        }
        if (edited(edits, filter_edits, name) ||
            (in.drop_underscore_fields && name.find('_') != std::string_view::npos) ||
            (!identity.empty() && std::any_of(identity.begin(), identity.end(),
                                              [&](const std::string& n) { return http::iequals(n, name); }))) {
            continue;
        }
        if (in.max_forwards && id == beast::http::field::max_forwards) {
            out += "Max-Forwards: ";  // one hop less (RFC 9110 section 7.6.2)
            http::append_number(out, *in.max_forwards - 1);
            out += "\r\n";
            continue;
        }
        http::append_field(out, name, field.value());
    }
}

void append_gateway_fields(const upstream_head_input& in, std::string_view endpoint, std::pmr::string& out,
                           forwarding& fwd) {
    const auto& route = in.route;
    const auto& edits = route.request_headers;
    const auto& filter_edits = in.filter_edits;
    // An HTTP/1.1 request must name a host (RFC 9112 section 3.2): when the client named none
    // (HTTP/1.0 without Host, or an empty Host), the upstream gets the endpoint's own authority.
    if (!edited(edits, filter_edits, "Host")) {
        if (route.host_rewrite) {
            http::append_field(out, "Host", *route.host_rewrite);
        } else if (in.forwarded_host.empty()) {
            http::append_field(out, "Host", endpoint);
        }
    }
    if (in.framing == http::body_framing::length) {
        out += "Content-Length: ";
        http::append_number(out, in.content_length);
        out += "\r\n";
    } else if (in.framing == http::body_framing::chunked) {
        out += "Transfer-Encoding: chunked\r\n";
    }
    if (in.websocket) out += "Connection: upgrade\r\nUpgrade: websocket\r\n";
    auto& xff = fwd.forwarded_for;
    if (!xff.empty()) xff += ", ";
    xff += in.client_ip;
    if (!edited(edits, filter_edits, "X-Forwarded-For")) http::append_field(out, "X-Forwarded-For", xff);
    if (!fwd.proxy_proto && !edited(edits, filter_edits, "X-Forwarded-Proto")) {
        http::append_field(out, "X-Forwarded-Proto", in.scheme);
    }
    if (!fwd.proxy_host && !in.forwarded_host.empty() && !edited(edits, filter_edits, "X-Forwarded-Host")) {
        http::append_field(out, "X-Forwarded-Host", in.forwarded_host);
    }
    if (!edited(edits, filter_edits, "X-Request-Id")) http::append_field(out, "X-Request-Id", in.request_id);
    if (!in.client_certificate.empty() && !edited(edits, filter_edits, "X-Forwarded-Client-Cert")) {
        http::append_field(out, "X-Forwarded-Client-Cert", in.client_certificate);
    }
    append_edits(out, edits, filter_edits);
    out += "\r\n";
}

}  // namespace

void write_upstream_request_head(const upstream_head_input& in, std::string_view endpoint, std::pmr::string& out) {
    const auto& route = in.route;
    std::string_view target = in.target;
    std::pmr::string rewritten(out.get_allocator());
    if (route.strip_prefix && target.starts_with(*route.strip_prefix)) {
        rewritten = route.replace_prefix.value_or("");
        rewritten += target.substr(route.strip_prefix->size());
        if (rewritten.empty() || rewritten.front() != '/') {
            rewritten.insert(rewritten.begin(), '/');
        }
        target = rewritten;
    }
    out.reserve(512);
    http::append_request_line(out, in.method, target);
    forwarding fwd(out.get_allocator());
    copy_request_fields(in, out, fwd);
    append_gateway_fields(in, endpoint, out, fwd);
}

}  // namespace gatehouse::server
