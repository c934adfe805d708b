// SPDX-License-Identifier: GPL-2.0-only
// Page-size arithmetic: rounding up with overflow detection, alignment checks; the registry
// of kernel ranges.
#include "kernel/mm.h"

#include <gtest/gtest.h>

namespace {

using kernel::claim_kernel_range;
using kernel::kPageShift;
using kernel::kPageSize;
using kernel::page_align;
using kernel::page_aligned;
using kernel::release_kernel_range;
using kernel::touches_kernel_range;

// Usable in constant expressions, e.g. for static table sizes.
static_assert(kPageSize == 4096 && kPageSize == uint64_t(1) << kPageShift);
static_assert(page_align(1) == kPageSize);
static_assert(!page_align(UINT64_MAX).has_value());
static_assert(page_aligned(0) && !page_aligned(1));

TEST(PageAlign, RoundsUp)
{
    EXPECT_EQ(page_align(0), 0u);
    EXPECT_EQ(page_align(1), kPageSize);
    EXPECT_EQ(page_align(kPageSize - 1), kPageSize);
    EXPECT_EQ(page_align(kPageSize), kPageSize);
    EXPECT_EQ(page_align(kPageSize + 1), 2 * kPageSize);
    EXPECT_EQ(page_align(3 * kPageSize - 7), 3 * kPageSize);
    EXPECT_EQ(page_align(uint64_t(1) << 40), uint64_t(1) << 40);
    EXPECT_EQ(page_align((uint64_t(1) << 40) + 1), (uint64_t(1) << 40) + kPageSize);
}

TEST(PageAlign, LargestValues)
{
    constexpr uint64_t last_page = UINT64_MAX - (kPageSize - 1); // 2^64 - 4096
    EXPECT_EQ(page_align(last_page), last_page);
    EXPECT_EQ(page_align(last_page - 1), last_page);
    EXPECT_EQ(page_align(last_page - kPageSize + 1), last_page);
}

TEST(PageAlign, OverflowIsNothing)
{
    constexpr uint64_t last_page = UINT64_MAX - (kPageSize - 1);
    // Rounding any of these up would need 2^64, which does not fit.
    EXPECT_FALSE(page_align(last_page + 1).has_value());
    EXPECT_FALSE(page_align(UINT64_MAX - 1).has_value());
    EXPECT_FALSE(page_align(UINT64_MAX).has_value());
}

TEST(PageAligned, Checks)
{
    EXPECT_TRUE(page_aligned(0));
    EXPECT_TRUE(page_aligned(kPageSize));
    EXPECT_TRUE(page_aligned(17 * kPageSize));
    EXPECT_TRUE(page_aligned(uint64_t(1) << 63));
    EXPECT_TRUE(page_aligned(UINT64_MAX - (kPageSize - 1)));
    EXPECT_FALSE(page_aligned(1));
    EXPECT_FALSE(page_aligned(kPageSize - 1));
    EXPECT_FALSE(page_aligned(kPageSize + 1));
    EXPECT_FALSE(page_aligned(kPageSize / 2));
    EXPECT_FALSE(page_aligned(UINT64_MAX));
}

TEST(PageAligned, AgreesWithPageAlign)
{
    for (uint64_t v : {uint64_t(0), uint64_t(1), uint64_t(4095), uint64_t(4096), uint64_t(4097),
                       uint64_t(123456789), uint64_t(1) << 50, (uint64_t(1) << 50) + 5}) {
        auto a = page_align(v);
        ASSERT_TRUE(a.has_value()) << v;
        EXPECT_TRUE(page_aligned(*a)) << v;
        EXPECT_GE(*a, v);
        EXPECT_LT(*a - v, kPageSize);
        EXPECT_EQ(page_aligned(v), *a == v) << v;
    }
}

// Addresses only: the registry never touches the memory.
alignas(kPageSize) char g_area[8 * kPageSize];

TEST(KernelRange, TouchedByAnyOverlapUntilReleased)
{
    auto base = uintptr_t(g_area);
    ASSERT_FALSE(claim_kernel_range(g_area + kPageSize, 2 * kPageSize).is_error());
    EXPECT_TRUE(touches_kernel_range(base + kPageSize, 1));
    EXPECT_TRUE(touches_kernel_range(base + 2 * kPageSize, kPageSize));     // inside
    EXPECT_TRUE(touches_kernel_range(base, kPageSize + 1));                 // its first byte
    EXPECT_TRUE(touches_kernel_range(base + 3 * kPageSize - 1, kPageSize)); // its last byte
    EXPECT_TRUE(touches_kernel_range(base, 8 * kPageSize));                 // around it
    EXPECT_TRUE(touches_kernel_range(base, UINT64_MAX));                    // cut at the end
    EXPECT_FALSE(touches_kernel_range(base, kPageSize));                    // just before
    EXPECT_FALSE(touches_kernel_range(base + 3 * kPageSize, kPageSize));    // just after
    EXPECT_FALSE(touches_kernel_range(base + kPageSize, 0));
    release_kernel_range(g_area + kPageSize);
    EXPECT_FALSE(touches_kernel_range(base, 8 * kPageSize));
}

TEST(KernelRange, SeveralRanges)
{
    auto base = uintptr_t(g_area);
    ASSERT_FALSE(claim_kernel_range(g_area, kPageSize).is_error());
    ASSERT_FALSE(claim_kernel_range(g_area + 4 * kPageSize, 2 * kPageSize).is_error());
    EXPECT_TRUE(touches_kernel_range(base, 1));
    EXPECT_FALSE(touches_kernel_range(base + kPageSize, 3 * kPageSize)); // the gap
    EXPECT_TRUE(touches_kernel_range(base + kPageSize, 3 * kPageSize + 1));
    EXPECT_TRUE(touches_kernel_range(base + 5 * kPageSize, 8 * kPageSize));
    EXPECT_FALSE(touches_kernel_range(base + 6 * kPageSize, 2 * kPageSize));
    release_kernel_range(g_area);
    EXPECT_FALSE(touches_kernel_range(base, 4 * kPageSize));
    EXPECT_TRUE(touches_kernel_range(base, 5 * kPageSize));
    release_kernel_range(g_area + 4 * kPageSize);
    EXPECT_FALSE(touches_kernel_range(base, 8 * kPageSize));
}

} // namespace
