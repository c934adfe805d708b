// SPDX-License-Identifier: GPL-2.0-only
#include "drivers/accel/qaic/page_pool.h"
#include "kernel/alloc.h"
#include "kernel/printk.h"
#include "kernel/mm.h"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

namespace qaic {

using kernel::kPageShift;

namespace {

unsigned chunk_order(const PagePool::Chunk &c)
{
    return unsigned(__builtin_ctzll(c.length >> kPageShift));
}

// Nothing at these addresses: a free chunk, or the whole range before any allocation.
void *reserve(void *addr, uint64_t len)
{
    return mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                                          (addr ? MAP_FIXED : 0),
                -1, 0);
}

// Calls fn(offset, length, pos) for each run of chunks that follow each other in the range
// as in the memfd (pos: where the run starts in the memfd), while fn returns true. Each run
// is one mapping: a fresh pool gives a BO a single one.
template <typename F> bool for_each_run(const std::vector<PagePool::Chunk> &chunks, F fn)
{
    uint64_t pos = 0;
    for (size_t i = 0; i < chunks.size();) {
        uint64_t start = chunks[i].offset, len = 0;
        do
            len += chunks[i++].length;
        while (i < chunks.size() && chunks[i].offset == start + len);
        if (!fn(start, len, pos))
            return false;
        pos += len;
    }
    return true;
}

// Calls fn(word, mask) for each word of a bitmap that bits [first, first + n) touch.
template <typename F> void for_each_word(uint64_t first, uint64_t n, F fn)
{
    while (n) {
        uint64_t bit = first % 64, k = std::min<uint64_t>(64 - bit, n);
        uint64_t mask = (k == 64 ? ~uint64_t(0) : (uint64_t(1) << k) - 1) << bit;
        fn(first / 64, mask);
        first += k;
        n -= k;
    }
}

} // namespace

kernel::ErrorOr<std::unique_ptr<PagePool>> PagePool::create(uint64_t size)
{
    uint64_t block = kernel::kPageSize << kMaxOrder;
    size &= ~(block - 1);
    if (size == 0)
        return kernel::Error(-EINVAL);
    uint64_t pages = size >> kPageShift;
    std::vector<FreeBlocks> free;
    std::vector<uint64_t> warm;
    std::unique_ptr<PagePool> pool;
    TRY(kernel::try_alloc([&] {
        free.resize(kMaxOrder + 1);
        for (unsigned o = 0; o <= kMaxOrder; ++o)
            free[o].bits.resize(((pages >> o) + 63) / 64);
        warm.resize((pages + 63) / 64);
    }));
    if (kernel::alloc_should_fail())
        return kernel::Error(-ENOMEM);
    void *base = reserve(nullptr, size);
    if (base == MAP_FAILED)
        return kernel::Error(-ENOMEM);
    if (auto claimed = kernel::claim_kernel_range(base, size); claimed.is_error()) {
        munmap(base, size);
        return claimed.error();
    }
    auto made = kernel::try_alloc(
        [&] { pool.reset(new PagePool(static_cast<uint8_t *>(base), size, std::move(free),
                                      std::move(warm))); });
    if (made.is_error()) {
        kernel::release_kernel_range(base);
        munmap(base, size);
        return made.error();
    }
    return pool;
}

PagePool::PagePool(uint8_t *base, uint64_t size, std::vector<FreeBlocks> free,
                   std::vector<uint64_t> warm)
    : base_(base), size_(size), free_(std::move(free)), warm_(std::move(warm))
{
    uint64_t pages = size >> kPageShift;
    for (uint64_t page = 0; page < pages; page += uint64_t(1) << kMaxOrder)
        mark_free(kMaxOrder, page);
    free_pages_ = pages;
}

PagePool::~PagePool()
{
    kernel::release_kernel_range(base_);
    munmap(base_, size_);
}

uint64_t PagePool::free_bytes() const
{
    std::lock_guard lk(lock_);
    return free_pages_ << kPageShift;
}

uint64_t PagePool::take_warm(uint64_t page, uint64_t n)
{
    std::lock_guard lk(lock_);
    if (warm_pages_ == 0)
        return 0;
    uint64_t taken = 0;
    for_each_word(page, n, [&](uint64_t w, uint64_t mask) {
        taken += unsigned(__builtin_popcountll(warm_[w] & mask));
        warm_[w] &= ~mask;
    });
    warm_pages_ -= taken;
    return taken;
}

bool PagePool::keep_warm(uint64_t page, uint64_t n)
{
    std::lock_guard lk(lock_);
    if (warm_pages_ + n > kWarmPages)
        return false;
    for_each_word(page, n, [&](uint64_t w, uint64_t mask) { warm_[w] |= mask; });
    warm_pages_ += n;
    return true;
}

void PagePool::mark_free(unsigned order, uint64_t page)
{
    FreeBlocks &f = free_[order];
    uint64_t block = page >> order;
    f.bits[block / 64] |= uint64_t(1) << (block % 64);
    f.first_word = std::min<size_t>(f.first_word, block / 64);
    ++f.count;
}

// Whether the block at page was free (it is taken now).
bool PagePool::take_if_free(unsigned order, uint64_t page)
{
    FreeBlocks &f = free_[order];
    uint64_t block = page >> order, bit = uint64_t(1) << (block % 64);
    if (!(f.bits[block / 64] & bit))
        return false;
    f.bits[block / 64] &= ~bit;
    --f.count;
    return true;
}

// Takes a free block of exactly `order`, splitting a larger one if needed: the lowest one
// of the smallest order that has one.
bool PagePool::take_block(unsigned order, uint64_t *page)
{
    unsigned o = order;
    while (o <= kMaxOrder && free_[o].count == 0)
        ++o;
    if (o > kMaxOrder)
        return false;
    FreeBlocks &f = free_[o];
    while (f.bits[f.first_word] == 0) // count > 0: a set bit lies ahead
        ++f.first_word;
    uint64_t p = (uint64_t(f.first_word) * 64 + unsigned(__builtin_ctzll(f.bits[f.first_word]))) << o;
    take_if_free(o, p);
    while (o > order) { // keep the lower half, free the upper
        --o;
        mark_free(o, p + (uint64_t(1) << o));
    }
    free_pages_ -= uint64_t(1) << order;
    *page = p;
    return true;
}

// Frees a block, merging it with its buddy as long as the buddy is free too.
void PagePool::give_block(uint64_t page, unsigned order)
{
    free_pages_ += uint64_t(1) << order;
    while (order < kMaxOrder && take_if_free(order, page ^ (uint64_t(1) << order))) {
        page &= ~(uint64_t(1) << order);
        ++order;
    }
    mark_free(order, page);
}

kernel::ErrorOr<std::vector<PagePool::Chunk>> PagePool::take_chunks(uint64_t bytes,
                                                                     unsigned max_order)
{
    if (bytes == 0 || !kernel::page_aligned(bytes))
        return kernel::Error(-EINVAL);
    uint64_t pages = bytes >> kPageShift;
    std::vector<Chunk> chunks;
    std::lock_guard lk(lock_);
    if (pages > free_pages_)
        return REJECT(-ENOMEM, "%llu pages asked, %llu of the BO memory limit are free",
                      (unsigned long long)pages, (unsigned long long)free_pages_);
    auto give_back = [&] {
        for (const Chunk &c : chunks)
            give_block(c.offset >> kPageShift, chunk_order(c));
        return REJECT(-ENOMEM, "no memory for the list of %llu pages' chunks",
                      (unsigned long long)(bytes >> kPageShift));
    };
    unsigned order = std::min<unsigned>(max_order, kMaxOrder);
    while (pages) {
        while ((uint64_t(1) << order) > pages)
            --order;
        // Room first, so that the push_back below cannot throw with the block taken.
        if (chunks.size() == chunks.capacity() &&
            kernel::try_reserve(chunks, 2 * chunks.size() + 4).is_error())
            return give_back();
        uint64_t page;
        // Largest order first; fall back to smaller blocks when memory is fragmented.
        unsigned o = order;
        while (!take_block(o, &page)) {
            if (o == 0) // cannot happen while free_pages_ covers the request
                return give_back();
            --o;
        }
        chunks.push_back({page << kPageShift, kernel::kPageSize << o});
        pages -= uint64_t(1) << o;
        order = o;
    }
    return chunks;
}

void PagePool::give_chunks(const std::vector<Chunk> &chunks)
{
    std::lock_guard lk(lock_);
    for (const Chunk &c : chunks)
        give_block(c.offset >> kPageShift, chunk_order(c));
}

kernel::ErrorOr<PagePool::Pages> PagePool::alloc(uint64_t bytes, unsigned max_order,
                                                 Backing backing)
{
    // From here on `pages` undoes whatever was done when a step fails.
    Pages pages(this, TRY(take_chunks(bytes, max_order)));
    // Making the memfd and mapping each run of chunks take the kernel's memory (a file,
    // VMAs): they are allocations that fault injection may fail.
    if (kernel::alloc_should_fail())
        return REJECT(-ENOMEM, "out of memory (injected)");
    if (backing == Backing::kPrivate) {
        bool mapped = for_each_run(pages.chunks_, [&](uint64_t offset, uint64_t len, uint64_t) {
            uint64_t n = len >> kPageShift;
            if (take_warm(offset >> kPageShift, n) == n) {
                std::memset(addr(offset), 0, len);
                return true;
            }
            return !kernel::alloc_should_fail() &&
                   mmap(addr(offset), len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED;
        });
        if (!mapped)
            return REJECT(-ENOMEM, "the pages could not be mapped (out of memory or of VMAs)");
        pages.private_mapped_ = true;
        return pages;
    }
    // The memfd's mapping replaces pages left warm there.
    for_each_run(pages.chunks_, [&](uint64_t offset, uint64_t len, uint64_t) {
        take_warm(offset >> kPageShift, len >> kPageShift);
        return true;
    });
    pages.fd_ = memfd_create("qaic-bo", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (pages.fd_ < 0)
        return REJECT(-ENOMEM, "no memfd for the BO: %s", std::strerror(errno));
    // Sealed at its size: a holder of the fd can neither shrink it under the driver's
    // mappings (SIGBUS) nor grow it, nor change the seals.
    if (ftruncate(pages.fd_, off_t(bytes)) != 0 ||
        fcntl(pages.fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        return REJECT(-ENOMEM, "the BO's memfd could not be sized and sealed: %s",
                      std::strerror(errno));
    bool mapped = for_each_run(pages.chunks_, [&](uint64_t offset, uint64_t len, uint64_t pos) {
        return !kernel::alloc_should_fail() &&
               mmap(addr(offset), len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, pages.fd_,
                    off_t(pos)) != MAP_FAILED;
    });
    if (!mapped)
        return REJECT(-ENOMEM, "the BO's memfd could not be mapped (out of memory or of VMAs)");
    return pages;
}

// ---------------------------------------------------------------------------- Pages

PagePool::Pages::Pages(Pages &&other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), fd_(std::exchange(other.fd_, -1)),
      private_mapped_(std::exchange(other.private_mapped_, false)),
      chunks_(std::move(other.chunks_)), handed_out_(other.handed_out_.exchange(false))
{
    other.chunks_.clear();
}

PagePool::Pages &PagePool::Pages::operator=(Pages &&other) noexcept
{
    if (this != &other) {
        release();
        pool_ = std::exchange(other.pool_, nullptr);
        fd_ = std::exchange(other.fd_, -1);
        private_mapped_ = std::exchange(other.private_mapped_, false);
        chunks_ = std::move(other.chunks_);
        other.chunks_.clear();
        handed_out_ = other.handed_out_.exchange(false);
    }
    return *this;
}

PagePool::Pages::~Pages()
{
    release();
}

void *PagePool::Pages::addr(const Chunk &c) const
{
    return pool_->addr(c.offset);
}

void PagePool::Pages::release()
{
    if (!pool_)
        return;
    // The range forgets the memfd first; its pages go once no mapping or fd holds them, and
    // the next allocation of these chunks maps a memfd of its own, which reads zero. Should
    // the kernel refuse the reservation (out of memory), the run keeps mapping these pages
    // until it is handed out again: nothing reaches it until then.
    // A private allocation's pages may stay mapped, for the next one to clear and use. Pages
    // reserved lose their warm mark too: an allocation that failed before it mapped a run
    // never took the mark off.
    for_each_run(chunks_, [&](uint64_t offset, uint64_t len, uint64_t) {
        uint64_t page = offset >> kPageShift, n = len >> kPageShift;
        if (!private_mapped_ || !pool_->keep_warm(page, n)) {
            pool_->take_warm(page, n);
            reserve(pool_->addr(offset), len);
        }
        return true;
    });
    if (fd_ >= 0) {
        if (handed_out_.load(std::memory_order_relaxed)) {
            uint64_t size = 0;
            for (const Chunk &c : chunks_)
                size += c.length;
            fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, off_t(size));
        }
        close(fd_);
    }
    pool_->give_chunks(chunks_);
    pool_ = nullptr;
    fd_ = -1;
    private_mapped_ = false;
    chunks_.clear();
}

} // namespace qaic
