#pragma once
// Per-worker free list of equally sized memory blocks, for objects made and destroyed once per
// request (the request state and its arena): taking a cached block costs no malloc, and the
// block is still warm in the CPU cache from the previous request.
#include <cstddef>
#include <vector>

namespace gatehouse::io {

class block_cache {
public:
    block_cache(std::size_t block_size, std::size_t max_free);
    ~block_cache();
    block_cache(const block_cache&) = delete;
    block_cache& operator=(const block_cache&) = delete;

    // A block of block_size bytes, aligned for any fundamental type.
    void* take();
    // Returns a block from take(); it is kept if the free list has room, else freed.
    void give(void* block);

private:
    std::size_t block_size_;
    std::size_t max_free_;
    std::vector<void*> free_;
};

}  // namespace gatehouse::io
