#include "gatehouse/http/path.hpp"

#include <cstring>

#include "gatehouse/common/hex.hpp"

namespace gatehouse::http {

namespace {

using common::hex_value;

char upper_hex(char c) {
    return (c >= 'a' && c <= 'f') ? static_cast<char>(c - 'a' + 'A') : c;
}

// RFC 3986 section 2.3.
bool unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

// First pass: percent escapes. Unreserved characters are decoded (so "%2e%2E" is ".." for the
// second pass), the rest keep their escape with upper-case hex; the output is never longer.
std::size_t decode_escapes(char* data, std::size_t size, const path_options& options, path_error& error) {
    std::size_t w = 0;
    for (std::size_t r = 0; r < size;) {
        char c = data[r];
        if (c == '\\') {
            error = path_error::backslash;
            return 0;
        }
        if (c != '%') {
            data[w++] = c;
            ++r;
            continue;
        }
        if (size - r < 3) {
            error = path_error::bad_percent_encoding;
            return 0;
        }
        int hi = hex_value(data[r + 1]);
        int lo = hex_value(data[r + 2]);
        if (hi < 0 || lo < 0) {
            error = path_error::bad_percent_encoding;
            return 0;
        }
        auto value = static_cast<unsigned char>(hi * 16 + lo);
        if (value == 0) {
            error = path_error::encoded_nul;
            return 0;
        }
        if (unreserved(value)) {
            data[w++] = static_cast<char>(value);
        } else if (value == '/' || value == '\\') {
            switch (options.escaped_slashes) {
                case escaped_slash_action::reject:
                    error = path_error::escaped_slash;
                    return 0;
                case escaped_slash_action::decode:
                    data[w++] = '/';  // '\' too: IIS and Windows hosts read it as a separator
                    break;
                case escaped_slash_action::keep:
                    data[w++] = '%';
                    data[w++] = upper_hex(data[r + 1]);
                    data[w++] = upper_hex(data[r + 2]);
                    break;
            }
        } else {
            data[w++] = '%';
            data[w++] = upper_hex(data[r + 1]);
            data[w++] = upper_hex(data[r + 2]);
        }
        r += 3;
    }
    return w;
}

// Second pass: segments, as RFC 3986 section 5.2.4 removes dot segments, with repeated slashes
// merged. Output segments are copies of input segments written at or before where they were
// read, so the pass works in place.
std::size_t resolve_segments(char* data, std::size_t size, const path_options& options, path_error& error) {
    std::size_t w = 0;  // output: data[0, w), always "" or "/seg/seg..."
    std::size_t r = 1;  // after the leading '/'
    bool trailing_slash = false;
    while (r <= size) {
        const char* begin = data + r;
        const void* slash = r < size ? std::memchr(begin, '/', size - r) : nullptr;
        std::size_t end = slash ? static_cast<std::size_t>(static_cast<const char*>(slash) - data) : size;
        std::string_view segment(begin, end - r);
        const bool last = end == size;
        r = end + 1;
        if (segment == ".") {
            trailing_slash = last;
            continue;
        }
        if (segment == "..") {
            while (w > 0 && data[w - 1] != '/') --w;  // drop the last output segment
            if (w > 0) --w;                           // and its slash
            trailing_slash = last;
            continue;
        }
        if (segment.starts_with(".;") || segment.starts_with("..;")) {
            error = path_error::dot_segment_parameter;
            return 0;
        }
        if (segment.empty() && (options.merge_slashes || last)) {
            trailing_slash = last;
            continue;
        }
        data[w++] = '/';
        std::memmove(data + w, segment.data(), segment.size());
        w += segment.size();
        trailing_slash = false;
    }
    if (w == 0 || trailing_slash) {
        data[w++] = '/';
    }
    return w;
}

}  // namespace

std::string_view describe(path_error e) {
    switch (e) {
        case path_error::none:
            return "none";
        case path_error::not_absolute:
            return "the path does not start with '/'";
        case path_error::bad_percent_encoding:
            return "invalid percent-encoding in the path";
        case path_error::encoded_nul:
            return "encoded NUL (%00) in the path";
        case path_error::backslash:
            return "backslash in the path";
        case path_error::escaped_slash:
            return "encoded slash (%2F or %5C) in the path";
        case path_error::dot_segment_parameter:
            return "parameter on a dot segment (\"..;\") in the path";
    }
    return "invalid path";
}

bool path_needs_normalizing(std::string_view path) {
    for (std::size_t i = 0; i < path.size(); ++i) {
        char c = path[i];
        if (c == '%' || c == '\\') {
            return true;
        }
        if (c == '/' && i + 1 < path.size() && (path[i + 1] == '/' || path[i + 1] == '.')) {
            return true;
        }
    }
    return false;
}

std::size_t normalize_path(char* data, std::size_t size, const path_options& options, path_error& error) {
    error = path_error::none;
    if (size == 0 || data[0] != '/') {
        error = path_error::not_absolute;
        return 0;
    }
    auto decoded = decode_escapes(data, size, options, error);
    if (error != path_error::none) {
        return 0;
    }
    auto resolved = resolve_segments(data, decoded, options, error);
    return error == path_error::none ? resolved : 0;
}

}  // namespace gatehouse::http
