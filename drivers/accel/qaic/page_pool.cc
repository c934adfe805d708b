// SPDX-License-Identifier: GPL-2.0-only
#include "drivers/accel/qaic/page_pool.h"
#include "kernel/mm.h"

#include <fcntl.h>
#include <memory>
#include <sys/mman.h>
#include <unistd.h>

namespace qaic {

using kernel::kPageShift;

kernel::ErrorOr<std::unique_ptr<PagePool>> PagePool::create(uint64_t size)
{
    uint64_t block = kernel::kPageSize << kMaxOrder;
    size &= ~(block - 1);
    if (size == 0)
        return kernel::Error(-EINVAL);
    int fd = memfd_create("qaic-bo-pool", MFD_CLOEXEC);
    if (fd < 0)
        return kernel::Error(-errno);
    if (ftruncate(fd, off_t(size)) != 0) {
        int err = errno;
        close(fd);
        return kernel::Error(-err);
    }
    void *base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (base == MAP_FAILED) {
        int err = errno;
        close(fd);
        return kernel::Error(-err);
    }
    if (auto claimed = kernel::claim_kernel_range(base, size); claimed.is_error()) {
        munmap(base, size);
        close(fd);
        return claimed.error();
    }
    return std::unique_ptr<PagePool>(new PagePool(fd, static_cast<uint8_t *>(base), size));
}

PagePool::PagePool(int fd, uint8_t *base, uint64_t size) : fd_(fd), base_(base), size_(size)
{
    for (uint64_t page = 0; page < (size >> kPageShift); page += uint64_t(1) << kMaxOrder)
        free_[kMaxOrder].insert(page);
    free_pages_ = size >> kPageShift;
}

PagePool::~PagePool()
{
    kernel::release_kernel_range(base_);
    munmap(base_, size_);
    close(fd_);
}

uint64_t PagePool::free_bytes() const
{
    std::lock_guard lk(lock_);
    return free_pages_ << kPageShift;
}

// Takes a free block of exactly `order`, splitting a larger one if needed.
bool PagePool::take_block(unsigned order, uint64_t *page)
{
    unsigned o = order;
    while (o <= kMaxOrder && free_[o].empty())
        ++o;
    if (o > kMaxOrder)
        return false;
    uint64_t p = *free_[o].begin();
    free_[o].erase(free_[o].begin());
    while (o > order) { // keep the lower half, free the upper
        --o;
        free_[o].insert(p + (uint64_t(1) << o));
    }
    free_pages_ -= uint64_t(1) << order;
    *page = p;
    return true;
}

// Frees a block, merging it with its buddy as long as the buddy is free too.
void PagePool::give_block(uint64_t page, unsigned order)
{
    free_pages_ += uint64_t(1) << order;
    while (order < kMaxOrder) {
        uint64_t buddy = page ^ (uint64_t(1) << order);
        auto it = free_[order].find(buddy);
        if (it == free_[order].end())
            break;
        free_[order].erase(it);
        page &= ~(uint64_t(1) << order);
        ++order;
    }
    free_[order].insert(page);
}

kernel::ErrorOr<std::vector<PagePool::Chunk>> PagePool::alloc(uint64_t bytes, unsigned max_order)
{
    if (bytes == 0 || !kernel::page_aligned(bytes))
        return kernel::Error(-EINVAL);
    uint64_t pages = bytes >> kPageShift;
    std::vector<Chunk> chunks;
    std::lock_guard lk(lock_);
    if (pages > free_pages_)
        return kernel::Error(-ENOMEM);
    unsigned order = std::min<unsigned>(max_order, kMaxOrder);
    while (pages) {
        while ((uint64_t(1) << order) > pages)
            --order;
        uint64_t page;
        // Largest order first; fall back to smaller blocks when memory is fragmented.
        unsigned o = order;
        while (!take_block(o, &page)) {
            if (o == 0) { // cannot happen while free_pages_ covers the request
                for (const Chunk &c : chunks)
                    give_block(c.offset >> kPageShift,
                               unsigned(__builtin_ctzll(c.length >> kPageShift)));
                return kernel::Error(-ENOMEM);
            }
            --o;
        }
        chunks.push_back({page << kPageShift, kernel::kPageSize << o});
        pages -= uint64_t(1) << o;
        order = o;
    }
    return chunks;
}

void PagePool::free(const std::vector<Chunk> &chunks)
{
    // Give the pages back to the system first: a later allocation reads zeros.
    for (const Chunk &c : chunks)
        fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(c.offset),
                  off_t(c.length));
    std::lock_guard lk(lock_);
    for (const Chunk &c : chunks)
        give_block(c.offset >> kPageShift, unsigned(__builtin_ctzll(c.length >> kPageShift)));
}

} // namespace qaic
