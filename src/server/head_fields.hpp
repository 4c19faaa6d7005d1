#pragma once
// Which fields of a message go on to the other side, shared by the request head the upstream
// gets (upstream_head.cpp) and the response heads the client gets (relay.cpp). Private to
// src/server.
#include <array>
#include <string_view>

#include <boost/beast/http/field.hpp>

#include "gatehouse/config/config.hpp"
#include "gatehouse/filters/context.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/http/response_head.hpp"
#include "gatehouse/http/wire.hpp"

namespace gatehouse::server {

// Connection-nominated fields (RFC 9110 section 7.6.1), collected once per message from every
// Connection line as views into the message: then one comparison per nominated name for each
// field. Framing and Host are never removed this way: the gateway sets them itself.
class nominated_fields {
public:
    // False when the message names more than max_connection_tokens (the caller refuses it).
    bool collect(const http::fields& all) {
        for (auto [it, end] = all.equal_range(boost::beast::http::field::connection); it != end; ++it) add(it->value());
        return !overflow_;
    }
    bool collect(const http::response_head& head) {
        for (const auto& field : head.fields()) {
            if (http::iequals(field.name, "connection")) add(field.value);
        }
        return !overflow_;
    }
    bool contains(std::string_view name) const {
        for (std::size_t i = 0; i < count_; ++i) {
            if (http::iequals(names_[i], name)) return true;
        }
        return false;
    }

private:
    void add(std::string_view value) {
        http::for_each_list_token(value, [&](std::string_view token) {
            if (http::iequals(token, "close") || http::iequals(token, "keep-alive") || http::iequals(token, "host") ||
                http::iequals(token, "content-length")) {
                return;
            }
            if (count_ == names_.size()) {
                overflow_ = true;
                return;
            }
            names_[count_++] = token;
        });
    }

    std::array<std::string_view, http::max_connection_tokens> names_;
    std::size_t count_ = 0;
    bool overflow_ = false;
};

// True for a field that describes this connection only: hop-by-hop, or named in Connection.
inline bool connection_scoped(const http::fields::value_type& field, const nominated_fields& nominated) {
    return http::is_hop_by_hop(field.name()) || nominated.contains(field.name_string());
}
inline bool connection_scoped(const http::field_line& field, const nominated_fields& nominated) {
    return http::is_hop_by_hop_name(field.name) || nominated.contains(field.name);
}

// True if the route's edits remove or replace the field called name.
inline bool edited(const config::header_edits& edits, std::string_view name) {
    for (const auto& removed : edits.remove) {
        if (http::iequals(removed, name)) return true;
    }
    for (const auto& [set_name, value] : edits.set) {
        if (http::iequals(set_name, name)) return true;
    }
    return false;
}

// The route's set and add fields, then the filters' (which win over the route's for a name
// both set), after the message's own.
template <typename String>
void append_edits(String& out, const config::header_edits& edits, const filters::head_edits& filter_edits) {
    for (const auto& [name, value] : edits.set) {
        if (!filter_edits.replaces(name)) http::append_field(out, name, value);
    }
    for (const auto& [name, value] : edits.add) {
        if (!filter_edits.replaces(name)) http::append_field(out, name, value);
    }
    filter_edits.for_each_field(
        [&](std::string_view name, std::string_view value) { http::append_field(out, name, value); });
}

// True if the message's own field called name gives way to an edit.
inline bool edited(const config::header_edits& edits, const filters::head_edits& filter_edits, std::string_view name) {
    return edited(edits, name) || (!filter_edits.empty() && filter_edits.replaces(name));
}

// Request fields the gateway writes itself, or that say who the client is and so must not
// come from the client: an upstream that believes a client's Forwarded or X-Real-IP would log,
// authorise or rate-limit by an address the client chose (Beast has no enum for them).
enum class gateway_field_kind { none, forwarded_for, other_gateway, client_certificate };
inline gateway_field_kind gateway_field(std::string_view name) {
    if (name.size() < 9 || (name[0] != 'x' && name[0] != 'X' && name[0] != 'f' && name[0] != 'F')) {
        return gateway_field_kind::none;
    }
    if (http::iequals(name, "x-forwarded-for")) return gateway_field_kind::forwarded_for;
    if (http::iequals(name, "x-forwarded-client-cert")) return gateway_field_kind::client_certificate;
    if (http::iequals(name, "x-forwarded-proto") || http::iequals(name, "x-forwarded-host") ||
        http::iequals(name, "x-request-id") || http::iequals(name, "forwarded") || http::iequals(name, "x-real-ip") ||
        http::iequals(name, "x-forwarded-port") || http::iequals(name, "x-forwarded-prefix")) {
        return gateway_field_kind::other_gateway;
    }
    return gateway_field_kind::none;
}

}  // namespace gatehouse::server
