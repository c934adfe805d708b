// SPDX-License-Identifier: GPL-2.0-only
// Host memory for buffer objects: a buddy allocator of "physical" pages over one reserved
// range of the driver's address space. Each BO's pages are a memfd of its own, its chunks
// mapped at their places in the range: the driver and the device reach them there, the user
// (or a client of qaicd, handed the fd) maps the memfd and sees exactly these pages, in
// order, and nothing of any other allocation. Pages only the driver uses (bounce pages) are
// anonymous memory mapped there instead. The range's size is the driver's
// memory limit: nothing below the driver refuses absurd sizes, so the pool does. The range is
// a kernel range (kernel/mm.h): a user may not map over it or unmap it.
#pragma once

#include "kernel/result.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace qaic {

class PagePool {
public:
    // One physically contiguous run: 2^order pages at a page offset in the pool's range.
    struct Chunk {
        uint64_t offset; // bytes into the range
        uint64_t length; // bytes, a power-of-two number of pages
    };

    // One allocation: its chunks, and its memfd holding their pages chunk after chunk (sealed
    // at its size, so whoever holds the fd can never make the driver's accesses fault). The
    // destructor gives the chunks back; the pages live on while a mapping of the memfd or a
    // copy of the fd in this process does. The memfd of an allocation whose fd went to another
    // process (fd_for_another_process) is emptied at release instead: pages that process
    // kept past the BO's end would otherwise stay on this host's account, beyond the pool's
    // limit; it reads zeros from then on.
    class Pages {
    public:
        Pages() = default;
        Pages(Pages &&other) noexcept;
        Pages &operator=(Pages &&other) noexcept;
        ~Pages();

        bool empty() const { return chunks_.empty(); }
        const std::vector<Chunk> &chunks() const { return chunks_; }
        void *addr(const Chunk &c) const;
        int fd() const { return fd_; }
        int fd_for_another_process() const
        {
            handed_out_.store(true, std::memory_order_relaxed);
            return fd_;
        }

    private:
        friend class PagePool;
        Pages(PagePool *pool, std::vector<Chunk> chunks) : pool_(pool), chunks_(std::move(chunks)) {}
        void release();

        PagePool *pool_ = nullptr;
        int fd_ = -1;
        bool private_mapped_ = false; // a private allocation, every run mapped
        std::vector<Chunk> chunks_;
        mutable std::atomic<bool> handed_out_{false};
    };

    static constexpr unsigned kMaxOrder = 10; // 4 MiB chunks at most, as the kernel's buddy

    // size is rounded down to whole max-order blocks.
    static kernel::ErrorOr<std::unique_ptr<PagePool>> create(uint64_t size);
    // Every allocation must be freed first.
    ~PagePool();

    // How an allocation's pages are held: a memfd of its own (a BO, which users map), or
    // anonymous memory only the driver and the device reach (a DMA_XFER's bounce pages):
    // no file to make, seal and close, and fd() is -1.
    enum class Backing { kMemfd, kPrivate };

    // Zeroed memory for bytes (a page multiple) as chunks of decreasing order: as large as
    // the remaining size and free memory allow. -ENOMEM when the pool cannot hold it or its
    // memfd cannot be made or mapped; nothing is left allocated, mapped or open then.
    // max_order caps the chunk size.
    kernel::ErrorOr<Pages> alloc(uint64_t bytes, unsigned max_order = kMaxOrder,
                                 Backing backing = Backing::kMemfd);

    void *addr(uint64_t offset) const { return base_ + offset; }
    uint64_t size() const { return size_; }
    uint64_t free_bytes() const;

private:
    // Free blocks of one order, as a bitmap by block number: freeing never allocates (a free
    // path that could fail under memory pressure could not give memory back), and the lowest
    // free block is found first.
    struct FreeBlocks {
        std::vector<uint64_t> bits;
        size_t first_word = 0; // no free block below this word
        uint64_t count = 0;
    };

    PagePool(uint8_t *base, uint64_t size, std::vector<FreeBlocks> free,
             std::vector<uint64_t> warm);
    kernel::ErrorOr<std::vector<Chunk>> take_chunks(uint64_t bytes, unsigned max_order);
    void give_chunks(const std::vector<Chunk> &chunks);
    bool take_block(unsigned order, uint64_t *page);
    void give_block(uint64_t page, unsigned order);
    void mark_free(unsigned order, uint64_t page);
    bool take_if_free(unsigned order, uint64_t page);

    // Takes pages [page, page + n) out of the warm ones; returns how many of them were warm.
    uint64_t take_warm(uint64_t page, uint64_t n);
    // Leaves pages [page, page + n), just freed by a private allocation, mapped as warm ones
    // if there is room for them; whether there was.
    bool keep_warm(uint64_t page, uint64_t n);

    uint8_t *base_;
    uint64_t size_;
    mutable std::mutex lock_;
    std::vector<FreeBlocks> free_; // by order, 0 to kMaxOrder
    uint64_t free_pages_ = 0;
    // Free pages left mapped by the private allocation that had them (a DMA_XFER's bounce
    // pages), one bit each, kWarmPages at most: a private allocation that gets a run of such
    // pages clears it instead of mapping it anew, any other allocation maps over them. Mapping
    // and unmapping were more than half of what a small DMA_XFER cost; faulting fresh pages
    // in, 2 us a page, most of what a 2 MiB one cost (4 MiB: a 2 MiB DMA_XFER's pages).
    static constexpr uint64_t kWarmPages = 1024;
    std::vector<uint64_t> warm_;
    uint64_t warm_pages_ = 0;
};

} // namespace qaic
