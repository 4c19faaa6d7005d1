#pragma once
// Per-thread pseudo-random numbers without locks or syscalls (request ids, load balancing).
#include <cstdint>

namespace gatehouse::common {

// xoshiro256** seeded once per owner (one per worker); not for cryptography.
class fast_random {
public:
    explicit fast_random(std::uint64_t seed);
    std::uint64_t next();

private:
    std::uint64_t s_[4];
};

}  // namespace gatehouse::common
