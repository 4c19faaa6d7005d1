#pragma once
// X-Request-Id: a client's id is kept when it is safe to log and forward; otherwise a random
// UUIDv4 is made from a per-worker generator (no locks, no syscalls).
#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/common/random.hpp"

namespace gatehouse::http {

// 1 to 128 characters from [A-Za-z0-9._:+/=-].
bool valid_request_id(std::string_view id);

constexpr std::size_t request_id_length = 36;

// A random UUIDv4 in its 36-character text form, written to out.
void make_request_id(common::fast_random& rng, char* out);

// The same into a string (replacing its content).
template <typename String>
void make_request_id(common::fast_random& rng, String& out) {
    char text[request_id_length];
    make_request_id(rng, text);
    out.assign(text, request_id_length);
}

}  // namespace gatehouse::http
