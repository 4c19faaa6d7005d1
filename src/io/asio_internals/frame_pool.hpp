#pragma once
// Coroutine frames from a per-thread pool of size classes.
//
// Every Asio coroutine call allocates a frame (a request makes five to eight). Asio 1.81
// recycles them through a few first-fit slots per thread: a small frame (an I/O operation's,
// 240 bytes) takes whatever block comes first, so the larger ones (600-900 bytes) miss, and
// glibc's tcache, seven blocks per size, does not absorb a burst of requests: profiles showed
// malloc and free at 2% of the gateway's CPU on small requests. This header replaces Asio's
// frame allocation with pool_allocate/pool_deallocate (src/server/frame_pool.cpp).
//
// It is an explicit specialization of an Asio function template, which must be seen by every
// translation unit before its first coroutine (a unit that missed it would pair the two
// allocators): CMake force-includes this header into every unit of the project (-include), so
// no unit depends on the precompiled header or on its own include order for it. Only with
// GATEHOUSE_ASIO_INTERNALS (asio_internals/README.md); otherwise Asio allocates frames itself
// and the pool is unused.
#include <cstddef>

#if GATEHOUSE_ASIO_INTERNALS
#include <boost/asio/detail/thread_info_base.hpp>
#endif

namespace gatehouse::io {
void* pool_allocate(std::size_t size, std::size_t align);
void pool_deallocate(void* pointer, std::size_t size) noexcept;
// Bytes of free blocks this thread's pool keeps for reuse.
std::size_t pool_kept_bytes() noexcept;
}  // namespace gatehouse::io

#if GATEHOUSE_ASIO_INTERNALS
namespace boost::asio::detail {

template <>
inline void* thread_info_base::allocate<thread_info_base::awaitable_frame_tag>(thread_info_base::awaitable_frame_tag,
                                                                               thread_info_base*, std::size_t size,
                                                                               std::size_t align) {
    return gatehouse::io::pool_allocate(size, align);
}

template <>
inline void thread_info_base::deallocate<thread_info_base::awaitable_frame_tag>(thread_info_base::awaitable_frame_tag,
                                                                                thread_info_base*, void* pointer,
                                                                                std::size_t size) {
    gatehouse::io::pool_deallocate(pointer, size);
}

}  // namespace boost::asio::detail
#endif  // GATEHOUSE_ASIO_INTERNALS
