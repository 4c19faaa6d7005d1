// Request heads as the server reads them: bytes arrive in pieces (sizes picked by the first
// byte) into http::request_head_reader, which feeds Beast's parser with the server's extra
// steps (leading CRLFs, request-line and head limits, obs-fold, HTTP/1.x minor rewrite), then
// the server's checks (http::check_request) under rules picked by the first byte.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory_resource>

#include <boost/beast/core/flat_buffer.hpp>

#include "gatehouse/http/check_request.hpp"
#include "gatehouse/http/request_head_reader.hpp"

using namespace gatehouse::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    ++data;
    --size;
    request_rules rules;
    rules.headers_with_underscores = static_cast<underscore_headers>((mode & 3) % 3);
    rules.paths.escaped_slashes = static_cast<escaped_slash_action>(((mode >> 2) & 3) % 3);
    rules.paths.merge_slashes = (mode & 0x10) != 0;
    rules.max_header_count = 100;
    static constexpr std::size_t piece_sizes[] = {65536, 1, 2, 3, 7, 16, 64, 256};
    const std::size_t piece = piece_sizes[mode >> 5];
    // Small limits for odd modes, so that 414 and 431 are reached by short inputs too.
    const head_limits limits = (mode & 0x20) != 0 ? head_limits{64, 256} : head_limits{};

    std::pmr::monotonic_buffer_resource arena;
    std::pmr::polymorphic_allocator<char> allocator(&arena);
    request_parser parser(std::piecewise_construct, std::make_tuple(), std::make_tuple(allocator));
    request_head_reader reader;
    request_head_reader::prepare(parser, limits);
    boost::beast::flat_buffer buf;
    std::optional<local_reply> refusal;
    std::size_t fed = 0;
    head_progress progress = head_progress::need_more;
    while (progress == head_progress::need_more && fed < size) {
        const std::size_t n = std::min(piece, size - fed);
        auto dst = buf.prepare(n);
        std::memcpy(dst.data(), data + fed, n);
        buf.commit(n);
        fed += n;
        progress = reader.read(parser, buf, limits, refusal);
    }
    if (reader.head_bytes() > fed) std::abort();
    if (progress == head_progress::refused) {
        if (!refusal || refusal->status < 400 || refusal->status > 599) std::abort();
        return 0;
    }
    if (progress != head_progress::complete) return 0;
    if (!parser.is_header_done() || reader.head_bytes() > limits.max_header_bytes) std::abort();
    request_facts facts(allocator);
    auto checked = check_request(parser.get(), parser.keep_alive(), rules, facts);
    if (checked) {
        if (checked->status < 400 || checked->status > 599) std::abort();
        return 0;
    }
    if (facts.server_options || facts.trace_here) return 0;
    // What routing and the upstream will see: an origin-form target, normalised.
    if (facts.target.empty() || facts.target[0] != '/') std::abort();
    if (facts.path.size() > facts.target.size()) std::abort();
    if (facts.version != 10 && facts.version != 11) std::abort();
    return 0;
}
