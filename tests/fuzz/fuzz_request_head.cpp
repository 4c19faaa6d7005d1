// Request heads through Beast's parser, set up as the server sets it up, then the server's own
// checks (http::check_request) under rules picked by the first byte.
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory_resource>

#include "gatehouse/http/check_request.hpp"

using namespace gatehouse::http;
namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1)
        return 0;
    request_rules rules;
    rules.headers_with_underscores = static_cast<underscore_headers>(data[0] % 3);
    rules.paths.escaped_slashes = static_cast<escaped_slash_action>((data[0] >> 2) % 3);
    rules.paths.merge_slashes = (data[0] & 0x10) != 0;
    rules.max_header_count = 100;
    std::pmr::monotonic_buffer_resource arena;
    std::pmr::polymorphic_allocator<char> allocator(&arena);
    bhttp::parser<true, bhttp::empty_body, std::pmr::polymorphic_allocator<char>> parser(
        std::piecewise_construct, std::make_tuple(), std::make_tuple(allocator));
    parser.header_limit(32 * 1024);
    parser.body_limit(boost::none);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(data + 1, size - 1), ec);
    if (ec || !parser.is_header_done())
        return 0;
    request_facts facts(allocator);
    auto refusal = check_request(parser.get(), parser.keep_alive(), rules, facts);
    if (refusal) {
        if (refusal->status < 400 || refusal->status > 599)
            std::abort();
        return 0;
    }
    if (facts.server_options || facts.trace_here)
        return 0;
    // What routing and the upstream will see: an origin-form target, normalised.
    if (facts.target.empty() || facts.target[0] != '/')
        std::abort();
    if (facts.path.size() > facts.target.size())
        std::abort();
    if (facts.version != 10 && facts.version != 11)
        std::abort();
    return 0;
}
