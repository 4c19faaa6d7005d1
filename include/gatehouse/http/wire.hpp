#pragma once
// Header fields allocated from a per-request arena, and serialisation of message heads into
// one string, so that a head and the first body bytes leave in a single gather write.
#include <charconv>
#include <cstdint>
#include <memory_resource>
#include <string_view>

#include <boost/beast/http/fields.hpp>

namespace gatehouse::http {

// Beast's field list with a polymorphic allocator: requests bump-allocate their fields from
// an arena and free them all at once.
using fields = boost::beast::http::basic_fields<std::pmr::polymorphic_allocator<char>>;

// True for fields that describe one connection and are never forwarded (RFC 9110 section 7.6.1),
// by the enum Beast computes while parsing: an integer compare, no string compares.
inline bool is_hop_by_hop(boost::beast::http::field f) {
    using boost::beast::http::field;
    switch (f) {
        case field::connection:
        case field::keep_alive:
        case field::proxy_connection:
        case field::te:
        case field::trailer:
        case field::transfer_encoding:
        case field::upgrade:
        case field::proxy_authenticate:
            return true;
        default:
            return false;
    }
}

// Appends "name: value\r\n".
template <typename String>
void append_field(String& out, std::string_view name, std::string_view value) {
    out.append(name.data(), name.size());
    out.append(": ", 2);
    out.append(value.data(), value.size());
    out.append("\r\n", 2);
}

// Appends a decimal number.
template <typename String>
void append_number(String& out, std::uint64_t value) {
    char text[24];
    auto end = std::to_chars(text, text + sizeof text, value).ptr;
    out.append(text, static_cast<std::size_t>(end - text));
}

// Appends a lower-case hexadecimal number (chunk sizes).
template <typename String>
void append_hex(String& out, std::uint64_t value) {
    char text[24];
    auto end = std::to_chars(text, text + sizeof text, value, 16).ptr;
    out.append(text, static_cast<std::size_t>(end - text));
}

// Appends "METHOD target HTTP/1.1\r\n".
template <typename String>
void append_request_line(String& out, std::string_view method, std::string_view target) {
    out.append(method.data(), method.size());
    out.append(" ", 1);
    out.append(target.data(), target.size());
    out.append(" HTTP/1.1\r\n", 11);
}

// Appends "HTTP/1.1 status reason\r\n".
template <typename String>
void append_status_line(String& out, unsigned status, std::string_view reason) {
    out.append("HTTP/1.1 ", 9);
    append_number(out, status);
    out.append(" ", 1);
    out.append(reason.data(), reason.size());
    out.append("\r\n", 2);
}

}  // namespace gatehouse::http
