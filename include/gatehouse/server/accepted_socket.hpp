#pragma once
// The socket of an accepted client connection.
#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>

#include <utility>

namespace gatehouse::server {

// Asio marks every socket it accepts as "possibly duplicated" and so removes it from epoll with
// an extra EPOLL_CTL_DEL before closing it. A socket from our own accept is never duplicated,
// and the kernel drops it from epoll when it is closed: one syscall less per connection, which
// the close-per-request load measures. (Reaches into Asio's socket state: Boost 1.81 with its
// default epoll reactor on Linux.)
static_assert(BOOST_VERSION / 100 == 1081, "accepted_socket relies on Boost 1.81's socket state: re-check it");

class accepted_socket : public boost::asio::ip::tcp::socket {
public:
    explicit accepted_socket(boost::asio::ip::tcp::socket&& s) : boost::asio::ip::tcp::socket(std::move(s)) {
        using boost::asio::detail::socket_ops::state_type;
        auto& state = impl_.get_implementation().state_;
        state = static_cast<state_type>(state & ~boost::asio::detail::socket_ops::possible_dup);
    }
};

}  // namespace gatehouse::server
