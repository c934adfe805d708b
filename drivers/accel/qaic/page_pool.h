// SPDX-License-Identifier: GPL-2.0-only
// Host memory for buffer objects: a buddy allocator over the pages of one memfd. The memfd
// lets the same pages be mapped into the user's address space (mmap of a BO) and reached by
// the driver and the device (through the pool's own mapping). Its size is the driver's memory
// limit: nothing below the driver refuses absurd sizes, so the pool does. The pool's own
// mapping is a kernel range (kernel/mm.h): a user may not map over it or unmap it.
#pragma once

#include "kernel/result.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace qaic {

class PagePool {
public:
    // One physically contiguous run: 2^order pages at a page offset in the memfd.
    struct Chunk {
        uint64_t offset; // bytes into the memfd
        uint64_t length; // bytes, a power-of-two number of pages
    };

    static constexpr unsigned kMaxOrder = 10; // 4 MiB chunks at most, as the kernel's buddy

    // size is rounded down to whole max-order blocks.
    static kernel::ErrorOr<std::unique_ptr<PagePool>> create(uint64_t size);
    ~PagePool();

    // Zeroed memory for bytes (a page multiple) as chunks of decreasing order: as large as
    // the remaining size and free memory allow. -ENOMEM when the pool cannot hold it; nothing
    // is left allocated then. max_order caps the chunk size.
    kernel::ErrorOr<std::vector<Chunk>> alloc(uint64_t bytes, unsigned max_order = kMaxOrder);
    // Returns the chunks; their pages are released to the system and read as zero again.
    void free(const std::vector<Chunk> &chunks);

    int fd() const { return fd_; }
    void *addr(uint64_t offset) const { return base_ + offset; }
    uint64_t size() const { return size_; }
    uint64_t free_bytes() const;

private:
    PagePool(int fd, uint8_t *base, uint64_t size);
    bool take_block(unsigned order, uint64_t *page);
    void give_block(uint64_t page, unsigned order);

    int fd_;
    uint8_t *base_;
    uint64_t size_;
    mutable std::mutex lock_;
    std::set<uint64_t> free_[kMaxOrder + 1]; // free blocks by order, as page numbers
    uint64_t free_pages_ = 0;
};

} // namespace qaic
