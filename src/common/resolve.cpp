#include "gatehouse/common/resolve.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

namespace gatehouse::common {

namespace asio = boost::asio;

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

std::vector<asio::ip::tcp::endpoint> resolve_blocking(const std::string& host, std::uint16_t port, std::string& error) {
    std::vector<asio::ip::tcp::endpoint> out;
    boost::system::error_code ec;
    if (auto addr = asio::ip::make_address(host, ec); !ec) {
        out.emplace_back(addr, port);
        return out;
    }
    asio::io_context ctx;
    asio::ip::tcp::resolver resolver(ctx);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) {
        error = ec.message();
        return out;
    }
    for (const auto& entry : results) {
        out.push_back(entry.endpoint());
    }
    return out;
}

}  // namespace gatehouse::common
