#include "reactor_hints.hpp"

#if GATEHOUSE_ASIO_INTERNALS
#include <sys/epoll.h>

#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/scheduler_operation.hpp>

namespace gatehouse::io {

namespace asio = boost::asio;

// Reaches into the epoll reactor of the Boost versions in GATEHOUSE_ASIO_CHECKED_VERSIONS: the socket implementation (a
// protected member, reached through a derived class) and private members of the reactor and of its per-descriptor state
// (reached through explicit instantiations, which may name them). Workers run with CONCURRENCY_HINT_UNSAFE (one thread
// per io_context, no descriptor locks), so only the owning thread ever touches this state.

namespace {

using reactor = asio::detail::epoll_reactor;
using descriptor_state = reactor::descriptor_state;

struct socket_internals : asio::ip::tcp::socket {
    static auto& of(asio::ip::tcp::socket& s) { return (s.*(&socket_internals::impl_)).get_implementation(); }
};

template <typename Tag, typename Tag::type Member>
struct expose_member {
    friend typename Tag::type member(Tag) { return Member; }
};
// Declares tag, whose member(tag) yields a pointer to the given (private) member.
#define GATEHOUSE_EXPOSE(tag, Type, pointer) \
    struct tag {                             \
        using type = Type;                   \
        friend type member(tag);             \
    };                                       \
    template struct expose_member<tag, pointer>

GATEHOUSE_EXPOSE(try_speculative_tag, bool (descriptor_state::*)[reactor::max_ops],
                 &descriptor_state::try_speculative_);
GATEHOUSE_EXPOSE(registered_events_tag, std::uint32_t descriptor_state::*, &descriptor_state::registered_events_);
GATEHOUSE_EXPOSE(epoll_fd_tag, int reactor::*, &reactor::epoll_fd_);
// The events of the descriptor's latest epoll wakeup, kept by the reactor in its operation
// base (a protected member of a private base: the C-style cast below may name that base).
GATEHOUSE_EXPOSE(task_result_tag, unsigned int asio::detail::scheduler_operation::*,
                 &asio::detail::scheduler_operation::task_result_);
#undef GATEHOUSE_EXPOSE

descriptor_state* state_of(asio::ip::tcp::socket& socket) {
    return socket_internals::of(socket).reactor_data_;
}

}  // namespace

void nothing_to_read_yet(asio::ip::tcp::socket& socket) {
    if (auto* state = state_of(socket)) {
        (state->*member(try_speculative_tag{}))[reactor::read_op] = false;
    }
}

void watch_peer_close(asio::ip::tcp::socket& socket) {
    auto* state = state_of(socket);
    if (!state) {
        return;
    }
    auto& registered = state->*member(registered_events_tag{});
    if (registered == 0 || (registered & EPOLLRDHUP) != 0) {
        return;
    }
    epoll_event ev{};
    ev.events = registered | EPOLLRDHUP;
    ev.data.ptr = state;
    auto& r = asio::use_service<reactor>(socket.get_executor().context());
    if (::epoll_ctl(r.*member(epoll_fd_tag{}), EPOLL_CTL_MOD, socket.native_handle(), &ev) != 0) {
        return;  // reads stay as Asio does them
    }
    registered = ev.events;
    // The modification re-checks the socket and queues an event if anything (data, a FIN) is
    // already there, so the next read may wait for epoll without trying first.
    (state->*member(try_speculative_tag{}))[reactor::read_op] = false;
}

drain_aware_buffer drain_aware(asio::ip::tcp::socket& socket, asio::mutable_buffer buffer) {
    return {buffer, state_of(socket)};
}

bool drained_after_short_read(void* reactor_state) {
    auto* state = static_cast<descriptor_state*>(reactor_state);
    if (!state || (state->*member(registered_events_tag{}) & EPOLLRDHUP) == 0) {
        return false;  // a FIN could have come with these bytes unseen
    }
    const auto* op = (const asio::detail::scheduler_operation*)state;
    return (op->*member(task_result_tag{}) & EPOLLRDHUP) == 0;
}

}  // namespace gatehouse::io

#endif  // GATEHOUSE_ASIO_INTERNALS
