// SPDX-License-Identifier: GPL-2.0-only
// The BO page pool: chunk orders, memory limit, zeroing, coalescing.
#include "drivers/accel/accel.h"
#include "drivers/accel/qaic/page_pool.h"
#include "kernel/mm.h"

#include <cstring>
#include <gtest/gtest.h>

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
    auto c = p->alloc(size);
    ASSERT_FALSE(c.is_error());
    ASSERT_EQ(c.value().size(), 4u);
    EXPECT_EQ(c.value()[0].length, 4 * kMiB);
    EXPECT_EQ(c.value()[1].length, kMiB);
    EXPECT_EQ(c.value()[2].length, 8192u);
    EXPECT_EQ(c.value()[3].length, 4096u);
    p->free(c.value());
    EXPECT_EQ(p->free_bytes(), 64 * kMiB);
}

TEST(PagePool, LargeAllocationUsesMaxOrderChunks)
{
    auto p = pool(64 * kMiB);
    auto c = p->alloc(32 * kMiB);
    ASSERT_FALSE(c.is_error());
    EXPECT_EQ(c.value().size(), 8u);
    p->free(c.value());
}

TEST(PagePool, MaxOrderCapsChunks)
{
    auto p = pool(8 * kMiB);
    auto c = p->alloc(kMiB, 4);
    ASSERT_FALSE(c.is_error());
    EXPECT_EQ(c.value().size(), 16u);
    for (auto &ch : c.value())
        EXPECT_EQ(ch.length, 65536u);
    p->free(c.value());
}

TEST(PagePool, FragmentedMemoryGivesSmallChunks)
{
    auto p = pool(4 * kMiB);
    // Take every page, free every other one: only order-0 blocks remain.
    auto all = p->alloc(4 * kMiB, 0);
    ASSERT_FALSE(all.is_error());
    std::vector<PagePool::Chunk> odd;
    for (size_t i = 0; i < all.value().size(); i += 2)
        odd.push_back(all.value()[i]);
    p->free(odd);
    auto c = p->alloc(64 * 1024);
    ASSERT_FALSE(c.is_error());
    EXPECT_EQ(c.value().size(), 16u);
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
    p->free(a.value());
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
    for (auto &c : a.value())
        std::memset(p->addr(c.offset), 0x5A, c.length);
    p->free(a.value());
    auto b = p->alloc(4 * kMiB);
    ASSERT_FALSE(b.is_error());
    for (auto &c : b.value()) {
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
    p->free(a.value());
    auto b = p->alloc(4 * kMiB);
    ASSERT_FALSE(b.is_error());
    EXPECT_EQ(b.value().size(), 1u); // merged back into one 4 MiB block
}

// The pool's mapping is the driver's memory: the user may not unmap it, while it lives.
TEST(PagePool, MappingIsAKernelRange)
{
    auto p = pool(4 * kMiB);
    auto start = uintptr_t(p->addr(0));
    uint64_t size = p->size();
    EXPECT_TRUE(kernel::touches_kernel_range(start, size));
    auto *page = static_cast<uint8_t *>(p->addr(kMiB));
    page[0] = 0x3D;
    EXPECT_EQ(accel::munmap(page, 4096).code(), -EPERM);
    EXPECT_EQ(page[0], 0x3D);
    p = nullptr;
    EXPECT_FALSE(kernel::touches_kernel_range(start, size));
}

} // namespace
