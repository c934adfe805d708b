// SPDX-License-Identifier: GPL-2.0-only
// The BO page pool: chunk orders, memory limit, zeroing, coalescing, each allocation's memfd.
#include "drivers/accel/accel.h"
#include "drivers/accel/qaic/page_pool.h"
#include "kernel/alloc.h"
#include "kernel/mm.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using qaic::PagePool;
constexpr uint64_t kMiB = 1 << 20;

std::unique_ptr<PagePool> pool(uint64_t size)
{
    auto p = PagePool::create(size);
    EXPECT_FALSE(p.is_error());
    return p.is_error() ? nullptr : p.release_value();
}

TEST(PagePool, ChunksOfDecreasingOrder)
{
    auto p = pool(64 * kMiB);
    // 4 MiB + 1 MiB + 8 KiB + 4 KiB: one chunk per set bit, largest first.
    uint64_t size = 4 * kMiB + kMiB + 8192 + 4096;
    auto a = p->alloc(size);
    ASSERT_FALSE(a.is_error());
    auto &c = a.value().chunks();
    ASSERT_EQ(c.size(), 4u);
    EXPECT_EQ(c[0].length, 4 * kMiB);
    EXPECT_EQ(c[1].length, kMiB);
    EXPECT_EQ(c[2].length, 8192u);
    EXPECT_EQ(c[3].length, 4096u);
    a = PagePool::Pages();
    EXPECT_EQ(p->free_bytes(), 64 * kMiB);
}

TEST(PagePool, LargeAllocationUsesMaxOrderChunks)
{
    auto p = pool(64 * kMiB);
    auto a = p->alloc(32 * kMiB);
    ASSERT_FALSE(a.is_error());
    EXPECT_EQ(a.value().chunks().size(), 8u);
}

TEST(PagePool, MaxOrderCapsChunks)
{
    auto p = pool(8 * kMiB);
    auto a = p->alloc(kMiB, 4);
    ASSERT_FALSE(a.is_error());
    EXPECT_EQ(a.value().chunks().size(), 16u);
    for (auto &ch : a.value().chunks())
        EXPECT_EQ(ch.length, 65536u);
}

TEST(PagePool, FragmentedMemoryGivesSmallChunks)
{
    auto p = pool(4 * kMiB);
    // 32 single pages, the rest of the pool in one allocation, then every other page back:
    // only order-0 blocks remain free.
    std::vector<PagePool::Pages> single;
    for (int i = 0; i < 32; ++i)
        single.push_back(p->alloc(4096).release_value());
    auto rest = p->alloc(4 * kMiB - 32 * 4096);
    ASSERT_FALSE(rest.is_error());
    for (size_t i = 0; i < single.size(); i += 2)
        single[i] = PagePool::Pages();
    auto c = p->alloc(64 * 1024);
    ASSERT_FALSE(c.is_error());
    EXPECT_EQ(c.value().chunks().size(), 16u);
}

TEST(PagePool, LimitIsEnforced)
{
    auto p = pool(8 * kMiB);
    EXPECT_EQ(p->alloc(16 * kMiB).code(), -ENOMEM);
    EXPECT_EQ(p->alloc(uint64_t(1) << 62).code(), -ENOMEM);
    auto a = p->alloc(6 * kMiB);
    ASSERT_FALSE(a.is_error());
    EXPECT_EQ(p->alloc(4 * kMiB).code(), -ENOMEM);
    EXPECT_EQ(p->free_bytes(), 2 * kMiB); // the failed call left nothing allocated
    a = PagePool::Pages();
    EXPECT_EQ(p->free_bytes(), 8 * kMiB);
}

TEST(PagePool, BadSizes)
{
    auto p = pool(4 * kMiB);
    EXPECT_EQ(p->alloc(0).code(), -EINVAL);
    EXPECT_EQ(p->alloc(100).code(), -EINVAL);
    EXPECT_EQ(PagePool::create(4096).code(), -EINVAL); // less than one max-order block
}

TEST(PagePool, FreedMemoryComesBackZeroed)
{
    auto p = pool(4 * kMiB);
    auto a = p->alloc(4 * kMiB);
    ASSERT_FALSE(a.is_error());
    for (auto &c : a.value().chunks())
        std::memset(p->addr(c.offset), 0x5A, c.length);
    a = PagePool::Pages();
    auto b = p->alloc(4 * kMiB);
    ASSERT_FALSE(b.is_error());
    for (auto &c : b.value().chunks()) {
        auto *bytes = static_cast<const uint8_t *>(p->addr(c.offset));
        for (uint64_t i = 0; i < c.length; i += 511)
            ASSERT_EQ(bytes[i], 0) << "offset " << c.offset + i;
    }
}

TEST(PagePool, BuddiesCoalesce)
{
    auto p = pool(4 * kMiB);
    auto a = p->alloc(4 * kMiB, 0); // 1024 single pages
    ASSERT_FALSE(a.is_error());
    a = PagePool::Pages();
    auto b = p->alloc(4 * kMiB);
    ASSERT_FALSE(b.is_error());
    EXPECT_EQ(b.value().chunks().size(), 1u); // merged back into one 4 MiB block
}

// The pool's mapping is the driver's memory: the user may not unmap it, while it lives.
TEST(PagePool, MappingIsAKernelRange)
{
    auto p = pool(4 * kMiB);
    auto start = uintptr_t(p->addr(0));
    uint64_t size = p->size();
    EXPECT_TRUE(kernel::touches_kernel_range(start, size));
    {
        auto a = p->alloc(4 * kMiB);
        ASSERT_FALSE(a.is_error());
        auto *page = static_cast<uint8_t *>(p->addr(kMiB));
        page[0] = 0x3D;
        EXPECT_EQ(accel::munmap(page, 4096).code(), -EPERM);
        EXPECT_EQ(page[0], 0x3D);
    }
    p = nullptr;
    EXPECT_FALSE(kernel::touches_kernel_range(start, size));
}

// ---------------------------------------------------------------------------- memfds

// The permissions of the mappings of [addr, addr + len) in /proc/self/maps ("rw-s", ...),
// one entry per mapping that overlaps it.
std::vector<std::string> protections(const void *addr, uint64_t len)
{
    auto start = uintptr_t(addr), end = start + len;
    std::vector<std::string> found;
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        uintptr_t lo, hi;
        char perms[5] = {};
        if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " %4s", &lo, &hi, perms) != 3)
            continue;
        if (lo < end && hi > start)
            found.push_back(perms);
    }
    return found;
}

// Nothing is mapped at the pool's addresses but the reservation: no memfd, no access.
bool range_is_reserved(const PagePool &p)
{
    for (const std::string &perms : protections(p.addr(0), p.size()))
        if (perms != "---p")
            return false;
    return true;
}

int open_fds()
{
    int n = 0;
    for (auto &e : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)e;
        ++n;
    }
    return n;
}

void *map_fd(int fd, uint64_t len)
{
    void *m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_NE(m, MAP_FAILED) << std::strerror(errno);
    return m;
}

// The memfd holds the allocation's pages chunk after chunk, whatever their addresses in the
// pool: what the driver writes at the chunks' addresses the user reads in one mapping of the
// memfd, and the reverse.
TEST(PagePool, MemfdHoldsTheChunksInOrder)
{
    auto p = pool(4 * kMiB);
    // Page 0 taken leaves pages 1 and 2-3 free: three pages come as [2-3] then [1].
    auto first = p->alloc(4096);
    ASSERT_FALSE(first.is_error());
    auto a = p->alloc(3 * 4096);
    ASSERT_FALSE(a.is_error());
    const auto &chunks = a.value().chunks();
    ASSERT_EQ(chunks.size(), 2u);
    ASSERT_GT(chunks[0].offset, chunks[1].offset) << "the chunks should be out of address order";
    struct stat st;
    ASSERT_EQ(fstat(a.value().fd(), &st), 0);
    EXPECT_EQ(st.st_size, 3 * 4096);

    uint32_t word = 0;
    for (const auto &c : chunks) {
        auto *w = static_cast<uint32_t *>(a.value().addr(c));
        EXPECT_EQ(w, p->addr(c.offset));
        for (uint64_t i = 0; i < c.length / 4; ++i)
            w[i] = word++;
    }
    auto *m = static_cast<uint32_t *>(map_fd(a.value().fd(), 3 * 4096));
    for (uint32_t i = 0; i < 3 * 1024; ++i)
        ASSERT_EQ(m[i], i) << "word " << i;
    for (uint32_t i = 0; i < 3 * 1024; ++i)
        m[i] = ~i;
    word = 0;
    for (const auto &c : chunks) {
        auto *w = static_cast<const uint32_t *>(a.value().addr(c));
        for (uint64_t i = 0; i < c.length / 4; ++i, ++word)
            ASSERT_EQ(w[i], ~word) << "word " << word;
    }
    ::munmap(m, 3 * 4096);
}

// Whoever holds the fd cannot resize it under the driver's mappings (a shrink would make
// them SIGBUS), grow it or add seals; it is not inherited across exec either.
TEST(PagePool, MemfdIsSealedAtItsSize)
{
    auto p = pool(4 * kMiB);
    auto a = p->alloc(2 * 4096);
    ASSERT_FALSE(a.is_error());
    int fd = a.value().fd();
    EXPECT_EQ(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    EXPECT_EQ(ftruncate(fd, 4096), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(ftruncate(fd, 3 * 4096), -1);
    EXPECT_EQ(errno, EPERM);
    char byte = 1;
    EXPECT_EQ(pwrite(fd, &byte, 1, 2 * 4096), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    // Writable within its size, as a BO is.
    EXPECT_EQ(pwrite(fd, &byte, 1, 2 * 4096 - 1), 1);
    EXPECT_EQ(*(static_cast<char *>(p->addr(a.value().chunks()[0].offset)) + 2 * 4096 - 1), 1);
}

// One allocation's fd reaches its pages and no other's.
TEST(PagePool, EachAllocationHasAMemfdOfItsOwn)
{
    auto p = pool(4 * kMiB);
    auto a = p->alloc(4096), b = p->alloc(2 * 4096);
    ASSERT_FALSE(a.is_error());
    ASSERT_FALSE(b.is_error());
    EXPECT_NE(a.value().fd(), b.value().fd());
    std::memset(a.value().addr(a.value().chunks()[0]), 0xAA, 4096);
    struct stat st;
    ASSERT_EQ(fstat(b.value().fd(), &st), 0);
    EXPECT_EQ(st.st_size, 2 * 4096);
    auto *m = static_cast<const uint8_t *>(map_fd(b.value().fd(), 2 * 4096));
    for (int i = 0; i < 2 * 4096; ++i)
        ASSERT_EQ(m[i], 0) << "byte " << i;
    ::munmap(const_cast<uint8_t *>(m), 2 * 4096);
}

// Freed chunks map nothing any more; pages still mapped elsewhere (by a user, as a dma-buf's)
// live on with their data, while a new allocation of the same chunks reads zero and is
// separate from them.
TEST(PagePool, FreedChunksForgetTheirPages)
{
    auto p = pool(4 * kMiB);
    EXPECT_TRUE(range_is_reserved(*p));
    auto a = p->alloc(64 * 1024);
    ASSERT_FALSE(a.is_error());
    std::vector<PagePool::Chunk> chunks = a.value().chunks();
    for (const std::string &perms : protections(a.value().addr(chunks[0]), 64 * 1024))
        EXPECT_EQ(perms, "rw-s");
    auto *user = static_cast<uint8_t *>(map_fd(a.value().fd(), 64 * 1024));
    std::memset(a.value().addr(chunks[0]), 0x77, 64 * 1024);
    a = PagePool::Pages();
    EXPECT_TRUE(range_is_reserved(*p));
    EXPECT_EQ(user[0], 0x77);
    EXPECT_EQ(user[64 * 1024 - 1], 0x77);

    auto b = p->alloc(64 * 1024);
    ASSERT_FALSE(b.is_error());
    ASSERT_EQ(b.value().chunks().size(), 1u);
    EXPECT_EQ(b.value().chunks()[0].offset, chunks[0].offset) << "the same chunk again";
    auto *bytes = static_cast<uint8_t *>(b.value().addr(b.value().chunks()[0]));
    for (int i = 0; i < 64 * 1024; ++i)
        ASSERT_EQ(bytes[i], 0) << "byte " << i;
    bytes[0] = 0x11;
    EXPECT_EQ(user[0], 0x77);
    ::munmap(user, 64 * 1024);
}

// Each kernel resource an allocation takes (room for its chunk list, its memfd, the mapping
// of each run of chunks) fails in turn: -ENOMEM, with no page taken, no fd open and nothing
// mapped.
TEST(PagePool, EachFailureLeavesNothing)
{
    auto p = pool(4 * kMiB);
    auto first = p->alloc(4096); // three pages in two chunks out of order, as above
    ASSERT_FALSE(first.is_error());
    uint64_t free_before = p->free_bytes();
    int fds_before = open_fds();
    for (unsigned nth = 1;; ++nth) {
        SCOPED_TRACE(nth);
        ASSERT_LT(nth, 20u) << "alloc makes more allocations than expected";
        bool fired;
        std::optional<kernel::ErrorOr<PagePool::Pages>> a;
        {
            kernel::FailNthAlloc inject(nth);
            a.emplace(p->alloc(3 * 4096));
            fired = inject.fired();
        }
        if (!fired) {
            ASSERT_FALSE(a->is_error());
            EXPECT_EQ(a->value().chunks().size(), 2u);
            EXPECT_EQ(nth, 5u) << "the chunk list, the memfd, two mappings";
            break;
        }
        ASSERT_EQ(a->code(), -ENOMEM);
        EXPECT_EQ(p->free_bytes(), free_before);
        EXPECT_EQ(open_fds(), fds_before);
        auto *page0 = static_cast<uint8_t *>(first.value().addr(first.value().chunks()[0]));
        for (const std::string &perms : protections(page0 + 4096, 3 * 4096))
            EXPECT_EQ(perms, "---p");
    }
}

// Restores RLIMIT_NOFILE's soft limit when the test ends, however it ends.
class FdLimit {
public:
    // No fd may be opened while it lives: the limit is the lowest free fd number.
    FdLimit()
    {
        getrlimit(RLIMIT_NOFILE, &saved_);
        int lowest = dup(0);
        close(lowest);
        rlimit lower = saved_;
        lower.rlim_cur = rlim_t(lowest);
        EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &lower), 0);
    }
    ~FdLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }

private:
    rlimit saved_;
};

// A process out of fds cannot make the memfd: -ENOMEM (not EMFILE, which CREATE_BO does not
// know), and nothing is taken.
TEST(PagePool, NoFdLeftIsEnomem)
{
    auto p = pool(4 * kMiB);
    {
        FdLimit no_fds;
        EXPECT_EQ(p->alloc(4096).code(), -ENOMEM);
    }
    EXPECT_EQ(p->free_bytes(), 4 * kMiB);
    EXPECT_TRUE(range_is_reserved(*p));
    EXPECT_FALSE(p->alloc(4096).is_error());
}

// Pages only the driver uses (a DMA_XFER's bounce pages): anonymous memory at the chunks'
// places, made with no fd left, zeroed, and the range reserved again once they are freed.
TEST(PagePool, PrivatePagesTakeNoFd)
{
    auto p = pool(4 * kMiB);
    std::optional<kernel::ErrorOr<PagePool::Pages>> a;
    {
        FdLimit no_fds;
        a.emplace(p->alloc(64 * 1024, PagePool::kMaxOrder, PagePool::Backing::kPrivate));
    }
    ASSERT_FALSE(a->is_error());
    const PagePool::Pages &pages = a->value();
    EXPECT_EQ(pages.fd(), -1);
    ASSERT_EQ(pages.chunks().size(), 1u);
    auto *bytes = static_cast<uint8_t *>(pages.addr(pages.chunks()[0]));
    for (const std::string &perms : protections(bytes, 64 * 1024))
        EXPECT_EQ(perms, "rw-p");
    for (int i = 0; i < 64 * 1024; ++i)
        ASSERT_EQ(bytes[i], 0) << "byte " << i;
    std::memset(bytes, 0x5a, 64 * 1024);
    uint64_t offset = pages.chunks()[0].offset;
    a.reset();
    EXPECT_EQ(p->free_bytes(), 4 * kMiB);
    auto b = p->alloc(64 * 1024, PagePool::kMaxOrder, PagePool::Backing::kPrivate);
    ASSERT_FALSE(b.is_error());
    ASSERT_EQ(b.value().chunks().size(), 1u);
    EXPECT_EQ(b.value().chunks()[0].offset, offset) << "the same chunk again";
    bytes = static_cast<uint8_t *>(b.value().addr(b.value().chunks()[0]));
    for (int i = 0; i < 64 * 1024; ++i)
        ASSERT_EQ(bytes[i], 0) << "byte " << i;
}

// An allocation that fails before it has mapped a run (here: the first kernel resource it
// asks for) must not leave that run marked as still mapped: the next private allocation would
// clear pages that are reserved again (found by the failslab sweep: SIGSEGV in memset).
TEST(PagePool, FailedAllocationLeavesNoStaleWarmPage)
{
    auto p = pool(4 * kMiB);
    auto priv = [&](uint64_t bytes) {
        return p->alloc(bytes, PagePool::kMaxOrder, PagePool::Backing::kPrivate);
    };
    for (unsigned nth = 1;; ++nth) {
        ASSERT_FALSE(priv(4096).is_error()); // freed at once: its page stays mapped
        bool fired;
        {
            kernel::FailNthAlloc fail(nth);
            auto r = priv(4096);
            fired = fail.fired();
            EXPECT_EQ(r.is_error(), fired) << "allocation " << nth;
        }
        auto a = priv(4096);
        ASSERT_FALSE(a.is_error());
        EXPECT_EQ(static_cast<uint8_t *>(a.value().addr(a.value().chunks()[0]))[0], 0);
        if (!fired)
            break;
    }
}

// Pages a private allocation freed stay mapped (up to a limit: 4 MiB), so that the next one
// clears them instead of mapping them again; a memfd's mapping replaces them; past the limit,
// and once a memfd had them, freed pages are reserved again.
TEST(PagePool, FreedPrivatePagesStayMappedUpToALimit)
{
    auto p = pool(16 * kMiB);
    auto priv = [&](uint64_t bytes) {
        return p->alloc(bytes, PagePool::kMaxOrder, PagePool::Backing::kPrivate);
    };
    {
        auto big = priv(8 * kMiB);
        ASSERT_FALSE(big.is_error());
    }
    EXPECT_TRUE(range_is_reserved(*p)) << "8 MiB is past the limit";

    std::vector<PagePool::Chunk> chunks;
    {
        auto a = priv(64 * 1024);
        ASSERT_FALSE(a.is_error());
        chunks = a.value().chunks();
        std::memset(a.value().addr(chunks[0]), 0x5a, 64 * 1024);
    }
    for (const std::string &perms : protections(p->addr(chunks[0].offset), 64 * 1024))
        EXPECT_EQ(perms, "rw-p");

    auto m = p->alloc(64 * 1024);
    ASSERT_FALSE(m.is_error());
    ASSERT_EQ(m.value().chunks().size(), 1u);
    ASSERT_EQ(m.value().chunks()[0].offset, chunks[0].offset) << "the same chunk again";
    for (const std::string &perms : protections(p->addr(chunks[0].offset), 64 * 1024))
        EXPECT_EQ(perms, "rw-s");
    auto *user = static_cast<uint8_t *>(map_fd(m.value().fd(), 64 * 1024));
    auto *bytes = static_cast<uint8_t *>(p->addr(chunks[0].offset));
    for (int i = 0; i < 64 * 1024; ++i)
        ASSERT_EQ(bytes[i], 0) << "byte " << i;
    bytes[7] = 0x42;
    EXPECT_EQ(user[7], 0x42) << "the memfd holds the chunk";
    ::munmap(user, 64 * 1024);
    m = PagePool::Pages();
    EXPECT_TRUE(range_is_reserved(*p));
}

} // namespace
