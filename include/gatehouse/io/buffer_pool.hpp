#pragma once
// Per-worker free list of I/O buffers. A connection holds a buffer only while it has bytes to
// parse or relay; idle keep-alive connections hold none, which keeps idle memory small.
#include <memory>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

namespace gatehouse::io {

class buffer_pool {
public:
    using buffer = boost::beast::flat_buffer;

    explicit buffer_pool(std::size_t buffer_size, std::size_t max_free);

    // A cleared buffer with at least buffer_size capacity.
    std::unique_ptr<buffer> acquire();
    // Returns a buffer; it is cleared and kept if the free list has room.
    void release(std::unique_ptr<buffer> b);

    std::size_t buffer_size() const { return buffer_size_; }

private:
    std::size_t buffer_size_;
    std::size_t max_free_;
    std::vector<std::unique_ptr<buffer>> free_;
};

}  // namespace gatehouse::io
