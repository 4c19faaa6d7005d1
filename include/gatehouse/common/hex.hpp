#pragma once
// Hexadecimal digits, as percent escapes (RFC 3986) and chunk sizes (RFC 9112) spell them.

namespace gatehouse::common {

// The value of one hex digit of either case, or -1 if c is not one.
constexpr int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace gatehouse::common
