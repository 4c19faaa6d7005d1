#include "gatehouse/io/block_cache.hpp"

#include <new>

namespace gatehouse::io {

block_cache::block_cache(std::size_t block_size, std::size_t max_free) : block_size_(block_size), max_free_(max_free) {
    free_.reserve(max_free_);
}

block_cache::~block_cache() {
    for (void* block : free_) {
        ::operator delete(block);
    }
}

void* block_cache::take() {
    if (free_.empty()) {
        return ::operator new(block_size_);
    }
    void* block = free_.back();
    free_.pop_back();
    return block;
}

void block_cache::give(void* block) {
    if (free_.size() < max_free_) {
        free_.push_back(block);
    } else {
        ::operator delete(block);
    }
}

}  // namespace gatehouse::io
