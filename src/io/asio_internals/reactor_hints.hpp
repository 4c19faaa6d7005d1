#pragma once
// Hints to Asio's epoll reactor that spare the recv calls failing with EAGAIN.
//
// Asio tries a read at once, before waiting for epoll, whenever the socket had an event since
// a read last found it empty, and (Boost 1.81) a short read does not count as finding it empty.
// So every wait for the next request or for a response started with a failing recv: two per
// proxied request, where NGINX makes none (it remembers that a short read drained the socket,
// and registers EPOLLRDHUP so that a close that came with the data is not missed).
// These reach into Asio's socket and reactor state (see reactor_hints.cpp), only with
// GATEHOUSE_ASIO_INTERNALS (asio_internals/README.md); otherwise they do nothing and reads
// are plain Asio reads.
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#if GATEHOUSE_ASIO_INTERNALS
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#endif

namespace gatehouse::io {

#if GATEHOUSE_ASIO_INTERNALS

// Tells the reactor that socket has nothing to read yet, so that the next read waits for epoll.
// Safe only straight after sending a request on an upstream connection whose previous
// response was read in full: an upstream sends nothing unasked, and whatever arrives from
// here on (the response, an early error, a reset) brings a new event. A close that arrived
// earlier is forgotten, but a peer that closed answers the request just sent with a reset.
void nothing_to_read_yet(boost::asio::ip::tcp::socket& socket);

// Registers EPOLLRDHUP for socket, so that the reactor's events say when the peer's FIN has
// arrived. One epoll_ctl; it replaces the failing recv of the read that follows. Then reads
// into a drain_aware_buffer can tell the reactor when they drained the socket.
void watch_peer_close(boost::asio::ip::tcp::socket& socket);

// A read buffer whose short read (fewer bytes than asked for, and no FIN among the socket's
// events) tells the reactor the socket is drained: the next read then waits for epoll. Only
// for sockets given to watch_peer_close; on others it is an ordinary buffer.
struct drain_aware_buffer {
    boost::asio::mutable_buffer buffer;
    void* reactor_state;  // Asio's per-descriptor state of the socket

    const boost::asio::mutable_buffer* begin() const { return &buffer; }
    const boost::asio::mutable_buffer* end() const { return &buffer + 1; }
};
drain_aware_buffer drain_aware(boost::asio::ip::tcp::socket& socket, boost::asio::mutable_buffer buffer);

// After a short read into a drain_aware_buffer: true if the socket can be called drained.
bool drained_after_short_read(void* reactor_state);

#else

inline void nothing_to_read_yet(boost::asio::ip::tcp::socket&) {}
inline void watch_peer_close(boost::asio::ip::tcp::socket&) {}
inline boost::asio::mutable_buffer drain_aware(boost::asio::ip::tcp::socket&, boost::asio::mutable_buffer buffer) {
    return buffer;
}

#endif

}  // namespace gatehouse::io

#if GATEHOUSE_ASIO_INTERNALS

namespace boost::asio::detail {

// Asio's receive operation for a drain_aware_buffer: the same recv, reporting a short read as
// "done and exhausted" (which Asio otherwise says only at end of stream).
template <>
class reactive_socket_recv_op_base<gatehouse::io::drain_aware_buffer> : public reactor_op {
public:
    reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                                 socket_ops::state_type /*state*/, const gatehouse::io::drain_aware_buffer& buffers,
                                 socket_base::message_flags flags, func_type complete_func)
        : reactor_op(success_ec, &reactive_socket_recv_op_base::do_perform, complete_func),
          socket_(socket),
          buffers_(buffers),
          flags_(flags) {}

    static status do_perform(reactor_op* base) {
        auto* o = static_cast<reactive_socket_recv_op_base*>(base);
        const auto size = o->buffers_.buffer.size();
        if (!socket_ops::non_blocking_recv1(o->socket_, o->buffers_.buffer.data(), size, o->flags_, true, o->ec_,
                                            o->bytes_transferred_)) {
            return not_done;
        }
        if (o->bytes_transferred_ == 0) {
            return done_and_exhausted;  // end of stream or an error, as Asio says
        }
        if (o->bytes_transferred_ < size && gatehouse::io::drained_after_short_read(o->buffers_.reactor_state)) {
            return done_and_exhausted;
        }
        return done;
    }

private:
    socket_type socket_;
    gatehouse::io::drain_aware_buffer buffers_;
    socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail

#endif  // GATEHOUSE_ASIO_INTERNALS
