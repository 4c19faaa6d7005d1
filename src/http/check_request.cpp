#include "gatehouse/http/check_request.hpp"

#include <algorithm>
#include <charconv>

#include <boost/url/parse.hpp>

#include "gatehouse/http/websocket.hpp"

namespace gatehouse::http {

namespace bhttp = boost::beast::http;

// No allocation: the path only shrinks.
path_error normalize_target_path(std::pmr::string& target, const path_options& options) {
    auto path_end = std::min(target.find('?'), target.size());
    if (!path_needs_normalizing(std::string_view(target).substr(0, path_end))) {
        return path_error::none;
    }
    auto error = path_error::none;
    auto size = normalize_path(target.data(), path_end, options, error);
    if (error == path_error::none && size < path_end) {
        target.erase(size, path_end - size);
    }
    return error;
}

bool idempotent_method(bhttp::verb method) {
    switch (method) {
        case bhttp::verb::get:
        case bhttp::verb::head:
        case bhttp::verb::options:
        case bhttp::verb::trace:
        case bhttp::verb::put:
        case bhttp::verb::delete_:
            return true;
        default:
            return false;
    }
}

bool idempotent_method(std::string_view method) {
    return idempotent_method(bhttp::string_to_verb(method));
}

std::optional<local_reply> check_request(request_head& req, bool keep_alive, const request_rules& rules,
                                         request_facts& facts) {
    facts.version = req.version();
    facts.keep_alive = keep_alive;
    facts.head_method = req.method() == bhttp::verb::head;
    facts.idempotent = idempotent_method(req.method());

    if (facts.version != 10 && facts.version != 11) {
        return local_reply{505, "version_not_supported", "only HTTP/1.0 and HTTP/1.1 are supported"};
    }

    framing_analyzer framing;
    std::size_t count = 0;
    std::size_t connection_tokens = 0;
    bool connection_upgrade = false;
    bool upgrade_websocket = false;
    int websocket_keys = 0;
    int websocket_versions = 0;
    std::string_view websocket_version;
    int hosts = 0;
    int authorizations = 0;
    int proxy_authorizations = 0;
    int max_forwards_lines = 0;
    std::string_view max_forwards;
    std::string_view host_value;
    for (const auto& field : req) {
        auto name = field.name_string();
        auto value = field.value();
        if (++count > rules.max_header_count) {
            return local_reply{431, "headers_too_large", "too many header fields"};
        }
        if (!valid_field_value(value)) {
            return local_reply{400, "bad_request", "invalid character in header field value"};
        }
        if (field.name() == bhttp::field::host) {
            ++hosts;
            host_value = value;
        } else if (field.name() == bhttp::field::unknown && name.find('_') != std::string_view::npos) {
            if (rules.headers_with_underscores == underscore_headers::reject) {
                return local_reply{400, "bad_request", "header field name with an underscore: " + std::string(name)};
            }
            facts.drop_underscore_fields = rules.headers_with_underscores == underscore_headers::drop;
        }
        if (field.name() == bhttp::field::content_length || field.name() == bhttp::field::transfer_encoding) {
            framing.add(name, value);
        } else if (field.name() == bhttp::field::connection) {
            for_each_list_token(value, [&](std::string_view token) {
                ++connection_tokens;
                connection_upgrade = connection_upgrade || iequals(token, "upgrade");
            });
            if (connection_tokens > max_connection_tokens) {
                return local_reply{400, "bad_request", "too many Connection options"};
            }
        } else if (field.name() == bhttp::field::authorization) {
            ++authorizations;
        } else if (field.name() == bhttp::field::proxy_authorization) {
            ++proxy_authorizations;
        } else if (field.name() == bhttp::field::max_forwards) {
            ++max_forwards_lines;
            max_forwards = value;
        } else if (field.name() == bhttp::field::upgrade) {
            for_each_list_token(value, [&](std::string_view protocol) {
                upgrade_websocket = upgrade_websocket || iequals(protocol, "websocket");
            });
        } else if (field.name() == bhttp::field::sec_websocket_key) {
            ++websocket_keys;
            facts.websocket_key = value;
        } else if (field.name() == bhttp::field::sec_websocket_version) {
            ++websocket_versions;
            websocket_version = value;
        }
    }
    if (auto e = framing.finish(true, facts.version); e != framing_error::ok) {
        unsigned status = e == framing_error::unsupported_coding ? 501 : 400;
        return local_reply{status, status == 501 ? "not_implemented" : "bad_request",
                           "ambiguous or invalid message framing: " + std::string(describe(e))};
    }
    facts.framing = framing.framing();
    facts.content_length = framing.content_length();

    // Request target (RFC 9112 section 3.2). Beast rejects spaces and controls; a fragment or
    // raw non-ASCII bytes are not part of any request-target either, and upstreams differ in
    // how they would read them.
    std::string_view target = req.target();
    for (unsigned char c : target) {
        if (c == '#' || c >= 0x80) {
            return local_reply{400, "bad_request", "invalid character in request target"};
        }
    }
    if (req.method() == bhttp::verb::connect) {
        return local_reply{405,
                           "method_not_allowed",
                           "CONNECT is not supported: this is not a forward proxy",
                           {{"Allow", std::string(allowed_methods)}}};
    }
    if (target.starts_with("/")) {
        if (facts.version == 11 && hosts != 1) {
            return local_reply{400, "bad_request", hosts == 0 ? "missing Host header" : "more than one Host header"};
        }
        if (hosts > 1) {
            return local_reply{400, "bad_request", "more than one Host header"};
        }
        facts.forwarded_host = host_value;
        facts.target = target;
    } else if (target == "*") {
        if (req.method() == bhttp::verb::options) {
            if ((facts.version == 11 && hosts != 1) || hosts > 1) {
                return local_reply{400, "bad_request",
                                   hosts == 0 ? "missing Host header" : "more than one Host header"};
            }
            facts.server_options = true;  // about the gateway itself (RFC 9110 section 9.3.7)
            return std::nullopt;
        }
        return local_reply{400, "bad_request", "only OPTIONS may use the asterisk-form target"};
    } else {
        // absolute-form: the authority replaces Host; it only selects among our routes, so a
        // foreign host can never make the gateway connect anywhere it is not configured to.
        auto url = boost::urls::parse_absolute_uri(target);
        if (!url || (!iequals(url->scheme(), "http") && !iequals(url->scheme(), "https")) || !url->has_authority() ||
            url->encoded_host().empty() || url->has_userinfo() || url->has_fragment()) {
            return local_reply{400, "bad_request", "invalid request target"};
        }
        if (hosts > 1) {
            return local_reply{400, "bad_request", "more than one Host header"};
        }
        facts.forwarded_host = url->encoded_host_and_port();
        facts.target = url->encoded_path().empty() ? "/" : std::string(url->encoded_path());
        if (url->has_query()) {
            facts.target += '?';
            facts.target += url->encoded_query();
        }
        if (!facts.target.starts_with("/")) {
            return local_reply{400, "bad_request", "invalid request target"};
        }
        req.set(bhttp::field::host, facts.forwarded_host);
    }
    if (!facts.forwarded_host.empty() && !valid_host(facts.forwarded_host)) {
        return local_reply{400, "bad_request", "invalid Host header"};
    }
    normalize_host(facts.forwarded_host, facts.host);
    if (auto error = normalize_target_path(facts.target, rules.paths); error != path_error::none) {
        return local_reply{400, "bad_request", std::string(describe(error))};
    }
    facts.path = std::string_view(facts.target).substr(0, facts.target.find('?'));

    // jwt and api_key check one credential; an upstream reading another line of the same field
    // would act on one nobody checked.
    if (authorizations > 1 || proxy_authorizations > 1) {
        return local_reply{400, "bad_request", "more than one Authorization field"};
    }

    if (auto it = req.find(bhttp::field::expect); it != req.end()) {
        if (!iequals(it->value(), "100-continue")) {
            return local_reply{417, "expectation_failed", "only \"Expect: 100-continue\" is supported"};
        }
        facts.expect_continue = facts.version == 11 && facts.framing != body_framing::none;
    }

    // An upgrade to WebSocket (RFC 6455 section 4.1); HTTP/1.0 cannot upgrade (RFC 9110 section
    // 7.8), so there the fields are dropped like any hop-by-hop field.
    if (connection_upgrade && upgrade_websocket && facts.version == 11) {
        if (req.method() != bhttp::verb::get || facts.framing != body_framing::none) {
            return local_reply{400, "bad_request", "a WebSocket handshake is a GET without a body"};
        }
        if (websocket_keys != 1 || !valid_websocket_key(facts.websocket_key)) {
            return local_reply{400, "bad_request", "invalid or missing Sec-WebSocket-Key"};
        }
        if (websocket_versions != 1 || websocket_version != "13") {
            return local_reply{426,
                               "websocket_version_not_supported",
                               "only WebSocket version 13 is supported",
                               {{"Sec-WebSocket-Version", "13"}, {"Upgrade", "websocket"}}};
        }
        facts.websocket = true;
    }

    if (req.method() == bhttp::verb::trace || req.method() == bhttp::verb::options) {
        // RFC 9110 section 7.6.2: at Max-Forwards 0 this hop is the final recipient.
        if (max_forwards_lines > 0) {
            std::uint64_t hops = 0;
            const auto& value = max_forwards;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), hops);
            if (ec != std::errc{} || end != value.data() + value.size() || value.empty() || max_forwards_lines > 1) {
                return local_reply{400, "bad_request", "invalid Max-Forwards"};
            }
            if (hops == 0) {
                (req.method() == bhttp::verb::trace ? facts.trace_here : facts.server_options) = true;
                return std::nullopt;
            }
            facts.max_forwards = hops;
        }
    }

    return std::nullopt;
}

}  // namespace gatehouse::http
