#include "frame_pool.hpp"

#include <array>
#include <cstdlib>
#include <new>

namespace gatehouse::io {

namespace {

// Classes of 64 bytes up to 4 KiB; larger frames go to malloc. A thread keeps at most
// max_kept_bytes of free blocks (a burst that ends returns the rest to malloc).
constexpr std::size_t granule = 64;
constexpr std::size_t max_pooled = 4096;
constexpr std::size_t classes = max_pooled / granule;
constexpr std::size_t max_kept_bytes = 1 << 20;

std::size_t class_of(std::size_t size) {
    return size == 0 ? 0 : (size + granule - 1) / granule - 1;
}
std::size_t class_size(std::size_t index) {
    return (index + 1) * granule;
}

// Set when the thread's pool is destroyed: frames freed later (at thread or program exit) go
// straight back to malloc.
thread_local bool gone = false;

struct free_block {
    free_block* next;
};

class frame_pool {
public:
    frame_pool() = default;
    frame_pool(const frame_pool&) = delete;
    frame_pool& operator=(const frame_pool&) = delete;
    ~frame_pool() {
        gone = true;
        for (auto* head : free_) {
            while (head) {
                auto* next = head->next;
                std::free(head);
                head = next;
            }
        }
    }

    void* take(std::size_t size) {
        const auto index = class_of(size);
        if (auto* block = free_[index]) {
            free_[index] = block->next;
            kept_bytes_ -= class_size(index);
            return block;
        }
        return std::malloc(class_size(index));
    }

    void give(void* pointer, std::size_t size) noexcept {
        const auto index = class_of(size);
        if (kept_bytes_ + class_size(index) > max_kept_bytes) {
            std::free(pointer);
            return;
        }
        auto* block = static_cast<free_block*>(pointer);
        block->next = free_[index];
        free_[index] = block;
        kept_bytes_ += class_size(index);
    }

    std::size_t kept_bytes() const { return kept_bytes_; }

private:
    std::array<free_block*, classes> free_{};
    std::size_t kept_bytes_ = 0;
};

thread_local frame_pool pool;

}  // namespace

void* pool_allocate(std::size_t size, std::size_t align) {
    void* pointer = nullptr;
    if (size <= max_pooled && align <= alignof(std::max_align_t)) {
        pointer = gone ? std::malloc(class_size(class_of(size))) : pool.take(size);
    } else {
        // Over-aligned (Asio's frames never are) or large. A block of pooled size may come
        // back to the pool, so it is at least its class's size.
        align = align < alignof(std::max_align_t) ? alignof(std::max_align_t) : align;
        std::size_t bytes = size <= max_pooled ? class_size(class_of(size)) : size;
        pointer = std::aligned_alloc(align, (bytes + align - 1) / align * align);
    }
    if (!pointer) {
        throw std::bad_alloc();
    }
    return pointer;
}

void pool_deallocate(void* pointer, std::size_t size) noexcept {
    if (size <= max_pooled && !gone) {
        pool.give(pointer, size);
    } else {
        std::free(pointer);
    }
}

std::size_t pool_kept_bytes() noexcept {
    return gone ? 0 : pool.kept_bytes();
}

}  // namespace gatehouse::io
