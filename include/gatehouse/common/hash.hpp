#pragma once
// A fast non-cryptographic hash for spreading keys (ip_hash balancing, rate-limit buckets).
// Not for anything an attacker must not be able to collide on purpose.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gatehouse::common {

// FNV-1a, 64 bits.
std::uint64_t hash_bytes(const void* data, std::size_t size);
inline std::uint64_t hash_bytes(std::string_view s) {
    return hash_bytes(s.data(), s.size());
}

}  // namespace gatehouse::common
