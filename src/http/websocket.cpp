#include "gatehouse/http/websocket.hpp"

#include <array>

#include <openssl/evp.h>

#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::http {

namespace {

bool base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool list_has(std::string_view value, std::string_view token) {
    bool found = false;
    for_each_list_token(value, [&](std::string_view t) { found = found || iequals(t, token); });
    return found;
}

}  // namespace

bool valid_websocket_key(std::string_view key) {
    if (key.size() != 24 || !key.ends_with("==")) return false;
    for (std::size_t i = 0; i < 22; ++i) {
        if (!base64_char(key[i])) return false;
    }
    // 16 bytes leave 4 bits in the last character: they must be zero.
    return std::string_view("AQgw").find(key[21]) != std::string_view::npos;
}

std::string websocket_accept(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input(key);
    input += guid;
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_Digest(input.data(), input.size(), digest.data(), &size, EVP_sha1(), nullptr);
    std::array<unsigned char, 32> encoded{};  // 20 bytes: 28 characters and a NUL
    const int length = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(size));
    return {reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(length)};
}

bool accepts_websocket(const response_head& head, std::string_view key) {
    if (head.code() != 101) return false;
    bool upgrade = false;
    bool connection = false;
    int accepts = 0;
    bool accept_ok = false;
    for (const auto& field : head.fields()) {
        if (iequals(field.name, "upgrade")) {
            upgrade = upgrade || list_has(field.value, "websocket");
        } else if (iequals(field.name, "connection")) {
            connection = connection || list_has(field.value, "upgrade");
        } else if (iequals(field.name, "sec-websocket-accept")) {
            ++accepts;
            accept_ok = field.value == websocket_accept(key);
        }
    }
    return upgrade && connection && accepts == 1 && accept_ok;
}

}  // namespace gatehouse::http
