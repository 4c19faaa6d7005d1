#include "gatehouse/io/send.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>

namespace gatehouse::io {

namespace asio = boost::asio;
using boost::system::error_code;

std::size_t send_now(asio::ip::tcp::socket& socket, std::span<const asio::const_buffer> buffers, error_code& ec) {
    ec.clear();
    constexpr std::size_t max_iov = 16;  // longer lists (decoded chunks) send their head now, the rest async
    std::array<iovec, max_iov> iov;
    std::size_t count = 0;
    for (const auto& b : buffers) {
        if (count == max_iov) break;
        if (b.size() == 0) continue;
        iov[count].iov_base = const_cast<void*>(b.data());
        iov[count].iov_len = b.size();
        ++count;
    }
    if (count == 0) {
        return 0;
    }
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = count;
    for (;;) {
        auto n = ::sendmsg(socket.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            return static_cast<std::size_t>(n);
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            ec = error_code(errno, asio::error::get_system_category());
        }
        return 0;
    }
}

std::vector<asio::const_buffer> after_bytes(std::span<const asio::const_buffer> buffers, std::size_t n) {
    std::vector<asio::const_buffer> rest;
    rest.reserve(buffers.size());
    for (const auto& b : buffers) {
        if (n >= b.size()) {
            n -= b.size();
            continue;
        }
        rest.push_back(b + n);
        n = 0;
    }
    return rest;
}

}  // namespace gatehouse::io
