// The chunked scanner, fed in pieces; what it consumes and decodes stays within its input.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gatehouse/http/chunked.hpp"

using gatehouse::http::chunked_scanner;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t step = 1 + data[0] % 32;
    std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
    chunked_scanner scanner;
    std::size_t decoded = 0;
    auto sink = [](void* ctx, const char*, std::size_t n) { *static_cast<std::size_t*>(ctx) += n; };
    std::size_t consumed = 0;
    std::string pending;
    for (std::size_t at = 0; at < all.size(); at += step) {
        pending.append(all.substr(at, step));
        auto r = scanner.scan(pending, sink, &decoded);
        if (r.consumed > pending.size()) std::abort();
        consumed += r.consumed;
        pending.erase(0, r.consumed);
        if (r.state == chunked_scanner::status::error) return 0;
        if (decoded > consumed || scanner.data_bytes() != decoded) std::abort();
        if (r.state == chunked_scanner::status::done) return 0;
    }
    return 0;
}
