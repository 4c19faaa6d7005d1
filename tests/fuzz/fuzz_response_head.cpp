// The upstream response head parser, fed in pieces as reads would deliver it, and the
// WebSocket 101 check on what it parsed.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/http/response_head.hpp"
#include "gatehouse/http/websocket.hpp"

using namespace gatehouse::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t step = 1 + data[0] % 64;
    std::string all(reinterpret_cast<const char*>(data + 1), size - 1);
    response_head head;
    std::string received;
    for (std::size_t at = 0; at < all.size();) {
        received.append(all, at, step);
        at += step;
        auto s = head.parse(received, 16 * 1024);
        if (s == response_head::status::error) return 0;
        if (s == response_head::status::complete) {
            if (head.size() > received.size() || head.code() < 100 || head.code() > 999) std::abort();
            framing_analyzer framing;
            for (const auto& f : head.fields()) {
                if (f.name.empty()) std::abort();
                if (iequals(f.name, "content-length") || iequals(f.name, "transfer-encoding"))
                    framing.add(f.name, f.value);
            }
            (void)framing.finish(false, head.version());
            // A forged 101 must never be taken as accepting the handshake's key.
            if (accepts_websocket(head, "dGhlIHNhbXBsZSBub25jZQ==") &&
                head.find("sec-websocket-accept") != std::optional<std::string_view>("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) {
                std::abort();
            }
            return 0;
        }
    }
    return 0;
}
