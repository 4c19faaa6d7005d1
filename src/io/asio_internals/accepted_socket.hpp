#pragma once
// Accepted client sockets without Asio's "possibly duplicated" flag (asio_internals/README.md).
#include <boost/asio/ip/tcp.hpp>

namespace gatehouse::io {

// Asio marks every socket it accepts as "possibly duplicated" and so removes it from epoll with
// an extra EPOLL_CTL_DEL before closing it. A socket from our own accept is never duplicated,
// and the kernel drops it from epoll when it is closed: one syscall less per connection, which
// the close-per-request load measures. Without the internals: nothing changes.
inline void forget_possible_dup([[maybe_unused]] boost::asio::ip::tcp::socket& socket) {
#if GATEHOUSE_ASIO_INTERNALS
    struct internals : boost::asio::ip::tcp::socket {
        static auto& state(boost::asio::ip::tcp::socket& s) {
            return (s.*(&internals::impl_)).get_implementation().state_;
        }
    };
    using boost::asio::detail::socket_ops::state_type;
    auto& state = internals::state(socket);
    state = static_cast<state_type>(state & ~boost::asio::detail::socket_ops::possible_dup);
#endif
}

}  // namespace gatehouse::io
