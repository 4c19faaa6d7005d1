// JWKS documents as an identity provider (or whoever sits in its place) could serve them.
#include <cstdint>
#include <string>
#include <vector>

#include "jwt/jwks_fetcher.hpp"
#include "jwt/jwt.hpp"

using namespace gatehouse::filters;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string error;
    std::vector<std::string> skipped;
    auto keys = jwt::parse_jwks(std::string_view(reinterpret_cast<const char*>(data), size), error, skipped);
    for (const auto& k : keys) (void)k->describe();
    (void)jwt::cache_control_max_age(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
