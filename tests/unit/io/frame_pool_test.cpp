// Compiled without the precompiled header (SKIP_PRECOMPILE_HEADERS in tests/CMakeLists.txt)
// and without including frame_pool.hpp itself: the pool's functions and Asio's frames reach
// this unit only through the header CMake force-includes into every unit. If that were lost,
// this file would not compile, and with the internals on, Asio's frames would bypass the pool.
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

using namespace gatehouse::io;

TEST(FramePool, AFreedBlockServesTheNextFrameOfItsSizeClass) {
    void* first = pool_allocate(600, 16);
    std::memset(first, 1, 600);
    pool_deallocate(first, 600);
    void* same_class = pool_allocate(630, 16);  // 600 and 630 both round to 640
    EXPECT_EQ(same_class, first);
    void* other_class = pool_allocate(700, 16);
    EXPECT_NE(other_class, first);
    std::memset(same_class, 2, 640);  // the whole class size is usable (ASan checks)
    pool_deallocate(same_class, 630);
    pool_deallocate(other_class, 700);
}

TEST(FramePool, ReturnsAlignedMemoryAlsoWhenOverAligned) {
    for (std::size_t size : {1u, 17u, 240u, 1000u, 4096u, 5000u}) {
        void* p = pool_allocate(size, 16);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u) << size;
        pool_deallocate(p, size);
        void* aligned = pool_allocate(size, 64);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % 64, 0u) << size;
        pool_deallocate(aligned, size);
    }
    // An over-aligned block went back to a class: it must hold that class's full size.
    void* reused = pool_allocate(40, 16);
    std::memset(reused, 3, 64);
    pool_deallocate(reused, 40);
}

TEST(FramePool, LargeFramesAreNotKeptAndKeptBytesAreBounded) {
    const auto before = pool_kept_bytes();
    pool_deallocate(pool_allocate(100000, 16), 100000);
    EXPECT_EQ(pool_kept_bytes(), before);

    std::vector<void*> blocks;
    for (int i = 0; i < 1024; ++i) blocks.push_back(pool_allocate(4096, 16));  // 4 MiB
    for (void* b : blocks) pool_deallocate(b, 4096);
    EXPECT_LE(pool_kept_bytes(), std::size_t{1} << 20);
    EXPECT_GT(pool_kept_bytes(), before);
}

namespace {
boost::asio::awaitable<int> leaf(int i) {
    co_return i + 1;
}
boost::asio::awaitable<void> caller(int& sum) {
    for (int i = 0; i < 1000; ++i) sum += co_await leaf(i);
}
}  // namespace

TEST(FramePool, AsioCoroutineFramesComeFromThePool) {
#if !GATEHOUSE_ASIO_INTERNALS
    GTEST_SKIP() << "built without the Asio internals: Asio allocates its frames itself";
#endif
    // A new thread starts with an empty pool; frames that Asio allocated through it come back.
    std::size_t kept_before = 1, kept_after = 0;
    int sum = 0;
    std::thread([&] {
        kept_before = pool_kept_bytes();
        boost::asio::io_context io;
        boost::asio::co_spawn(io, caller(sum), boost::asio::detached);
        io.run();
        kept_after = pool_kept_bytes();
    }).join();
    EXPECT_EQ(sum, 1000 * 1001 / 2);
    EXPECT_EQ(kept_before, 0u);
    EXPECT_GT(kept_after, 0u);
}
