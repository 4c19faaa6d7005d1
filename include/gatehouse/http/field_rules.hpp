#pragma once
// RFC 9110/9112 rules for header fields that a proxy must enforce: message framing
// (Content-Length / Transfer-Encoding), hop-by-hop fields, field value and Host syntax.
#include <strings.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::http {

// Case-insensitive ASCII comparison. Inline: most calls differ in length and end there.
inline bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// True for the names of fields that describe one connection and are never forwarded
// (RFC 9110 section 7.6.1), by name: for heads parsed without Beast's field enum.
bool is_hop_by_hop_name(std::string_view name);

// True if the value has no control characters other than HTAB (no NUL, CR, LF, DEL).
bool valid_field_value(std::string_view value);

// True if name is an RFC 9110 token.
bool valid_token(std::string_view name);

// Host header / authority syntax: reg-name, IPv4 or [IPv6], optional :port.
bool valid_host(std::string_view host);

// Lower-cased host without the port, for routing, into out (replacing its content).
template <typename String>
void normalize_host(std::string_view host, String& out) {
    std::string_view name = host;
    if (!host.empty() && host.front() == '[') {
        name = host.substr(0, host.find(']') + 1);
    } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
        name = host.substr(0, colon);
    }
    while (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);  // "example.com." names the same host
    }
    out.assign(name.data(), name.size());
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
}

// Connection options one message may name: more is refused (400 from a client, 502 from an
// upstream), which bounds the work of removing nominated fields.
inline constexpr std::size_t max_connection_tokens = 32;

// s without leading and trailing spaces and tabs (optional whitespace, RFC 9110 section 5.6.3).
inline std::string_view trim_whitespace(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Calls f(token) for each comma-separated element of a list field, with whitespace trimmed.
template <typename F>
void for_each_list_token(std::string_view value, F&& f) {
    while (!value.empty()) {
        auto comma = value.find(',');
        auto token = trim_whitespace(value.substr(0, comma));
        if (!token.empty()) f(token);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

enum class body_framing {
    none,        // no body
    length,      // Content-Length bytes
    chunked,     // chunked transfer coding
    until_close  // response only: body ends when the upstream closes
};

enum class framing_error {
    ok,
    duplicate_content_length,     // several Content-Length fields or a list value
    invalid_content_length,       // not 1*DIGIT or too large
    content_length_with_chunked,  // both Content-Length and Transfer-Encoding
    chunked_not_last,             // Transfer-Encoding whose final coding is not chunked
    chunked_twice,                // chunked applied more than once
    unsupported_coding,           // a transfer coding other than chunked
    transfer_encoding_in_http10,  // Transfer-Encoding in an HTTP/1.0 message
};

// Human-readable reason for logs and local replies.
std::string_view describe(framing_error e);

// Collects the framing fields of one message, then decides its body framing.
class framing_analyzer {
public:
    // Feeds one header field; only Content-Length and Transfer-Encoding matter.
    void add(std::string_view name, std::string_view value);

    // Decides the framing. is_request selects the rules for a message with neither field.
    framing_error finish(bool is_request, unsigned version);

    body_framing framing() const { return framing_; }
    std::uint64_t content_length() const { return content_length_; }

private:
    int content_length_fields_ = 0;
    bool content_length_valid_ = true;
    bool list_value_ = false;
    std::uint64_t content_length_ = 0;
    bool has_transfer_encoding_ = false;
    int chunked_count_ = 0;
    bool chunked_last_ = false;
    bool other_coding_ = false;
    body_framing framing_ = body_framing::none;
};

}  // namespace gatehouse::http
