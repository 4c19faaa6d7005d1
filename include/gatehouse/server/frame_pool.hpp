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
// allocators): it is the first header of gatehouse_core's precompiled header, which every
// target linking the core reuses (gatehouse_link_core in CMakeLists.txt).
#include <boost/asio/detail/thread_info_base.hpp>
#include <boost/version.hpp>

#include <cstddef>

static_assert(BOOST_VERSION / 100 == 1081, "frame_pool specializes Boost 1.81's frame allocation: re-check it");

namespace gatehouse::server {
void* pool_allocate(std::size_t size, std::size_t align);
void pool_deallocate(void* pointer, std::size_t size) noexcept;
// Bytes of free blocks this thread's pool keeps for reuse.
std::size_t pool_kept_bytes() noexcept;
}  // namespace gatehouse::server

namespace boost::asio::detail {

template <>
inline void* thread_info_base::allocate<thread_info_base::awaitable_frame_tag>(thread_info_base::awaitable_frame_tag,
                                                                                thread_info_base*, std::size_t size,
                                                                                std::size_t align) {
    return gatehouse::server::pool_allocate(size, align);
}

template <>
inline void thread_info_base::deallocate<thread_info_base::awaitable_frame_tag>(thread_info_base::awaitable_frame_tag,
                                                                                 thread_info_base*, void* pointer,
                                                                                 std::size_t size) {
    gatehouse::server::pool_deallocate(pointer, size);
}

}  // namespace boost::asio::detail
