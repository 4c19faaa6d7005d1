#include "gatehouse/http/request_id.hpp"

namespace gatehouse::http {

bool valid_request_id(std::string_view id) {
    if (id.empty() || id.size() > 128) {
        return false;
    }
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == ':' || c == '+' || c == '/' || c == '=' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

void make_request_id(common::fast_random& rng, char* text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::uint64_t hi = rng.next();
    std::uint64_t lo = rng.next();
    hi = (hi & ~0xf000ull) | 0x4000ull;            // version 4
    lo = (lo & ~(0xcull << 60)) | (0x8ull << 60);  // variant 10xx
    int pos = 0;
    auto put = [&](std::uint64_t v, int nibbles) {
        for (int i = nibbles - 1; i >= 0; --i) {
            text[pos++] = hex[(v >> (i * 4)) & 0xf];
        }
    };
    put(hi >> 32, 8);
    text[pos++] = '-';
    put((hi >> 16) & 0xffff, 4);
    text[pos++] = '-';
    put(hi & 0xffff, 4);
    text[pos++] = '-';
    put(lo >> 48, 4);
    text[pos++] = '-';
    put(lo & 0xffffffffffffull, 12);
}

}  // namespace gatehouse::http
