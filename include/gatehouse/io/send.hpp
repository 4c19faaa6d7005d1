#pragma once
// Socket I/O helpers shared by client connections and upstream exchanges.
#include <cstddef>
#include <span>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gatehouse::io {

// Completion token: errors come back as values, never as exceptions.
inline constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

// The smallest read worth a syscall.
inline constexpr std::size_t min_read = 4096;

// One sendmsg of as much of buffers as the socket takes now, without waiting. A write usually
// completes at once; doing it inline spares the operation object, the posted completion and
// the coroutine resumption an async_write costs, and a connection that closes after its last
// write closes in the same turn of the loop (before the client has read the reply, as NGINX
// does) instead of one loop turn later. would_block is not an error: the return is then 0.
std::size_t send_now(boost::asio::ip::tcp::socket& socket, std::span<const boost::asio::const_buffer> buffers,
                     boost::system::error_code& ec);

// What is left of buffers after the first n bytes (for the asynchronous rest of a send).
std::vector<boost::asio::const_buffer> after_bytes(std::span<const boost::asio::const_buffer> buffers, std::size_t n);

inline std::size_t total_size(std::span<const boost::asio::const_buffer> buffers) {
    std::size_t total = 0;
    for (const auto& b : buffers) total += b.size();
    return total;
}

}  // namespace gatehouse::io
