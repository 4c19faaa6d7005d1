// JWT parsing and verification: any token against HS256 and Ed25519 keys is refused or
// accepted, never a crash; an accepted one must carry a valid signature, which random input
// cannot forge, so acceptance aborts.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "jwt/jwt.hpp"

using namespace gatehouse::filters;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static jwt::settings s = [] {
        jwt::settings st;
        st.keys.push_back(jwt::key::secret("hs", "HS256", "0123456789abcdef0123456789abcdef"));
        std::string error;
        st.keys.push_back(jwt::key::pem(
            "ed", "EdDSA",
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC "
            "KEY-----\n",
            error));
        st.issuers = {"https://idp"};
        st.required_claims = {"sub"};
        st.now = [] { return std::int64_t{1'700'000'000}; };
        return st;
    }();
    std::string_view token(reinterpret_cast<const char*>(data), size);
    auto v = jwt::verify_token(s, token);
    if (v.ok) std::abort();
    return 0;
}
