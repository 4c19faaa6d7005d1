#include "gatehouse/io/buffer_pool.hpp"

namespace gatehouse::io {

buffer_pool::buffer_pool(std::size_t buffer_size, std::size_t max_free)
    : buffer_size_(buffer_size), max_free_(max_free) {}

std::unique_ptr<buffer_pool::buffer> buffer_pool::acquire() {
    if (!free_.empty()) {
        auto b = std::move(free_.back());
        free_.pop_back();
        return b;
    }
    auto b = std::make_unique<buffer>();
    b->reserve(buffer_size_);
    return b;
}

void buffer_pool::release(std::unique_ptr<buffer> b) {
    if (!b) {
        return;
    }
    if (free_.size() >= max_free_ || b->capacity() > 4 * buffer_size_) {
        return;  // freed; oversized buffers (long headers) are not kept
    }
    b->clear();
    free_.push_back(std::move(b));
}

}  // namespace gatehouse::io
