// SPDX-License-Identifier: GPL-2.0-only
// Idr: lowest-free and cyclic allocation, range limits, lookup, removal and teardown.
#include "kernel/idr.h"

#include <gtest/gtest.h>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using kernel::Idr;

constexpr uint32_t kMax = UINT32_MAX;

// Allocates and expects success; returns the id.
template <typename T> uint32_t must_alloc(Idr<T> &idr, T v, uint32_t start, uint32_t end = 0)
{
    auto r = idr.alloc(std::move(v), start, end);
    EXPECT_FALSE(r.is_error()) << "errno " << r.code();
    return r.is_error() ? kMax : r.value();
}

template <typename T> uint32_t must_cyclic(Idr<T> &idr, T v, uint32_t start, uint32_t end = 0)
{
    auto r = idr.alloc_cyclic(std::move(v), start, end);
    EXPECT_FALSE(r.is_error()) << "errno " << r.code();
    return r.is_error() ? kMax : r.value();
}

// The value at id, if any; a missing entry fails the expectation instead of crashing.
template <typename T> std::optional<T> at(Idr<T> &idr, uint32_t id)
{
    T *v = idr.find(id);
    return v ? std::optional<T>(*v) : std::nullopt;
}

TEST(Idr, StartsEmpty)
{
    Idr<int> idr;
    EXPECT_TRUE(idr.empty());
    EXPECT_EQ(idr.size(), 0u);
    EXPECT_EQ(idr.find(0), nullptr);
}

TEST(Idr, AllocLowestFreeFromStart)
{
    Idr<int> idr;
    EXPECT_EQ(must_alloc(idr, 10, 1), 1u);
    EXPECT_EQ(must_alloc(idr, 20, 1), 2u);
    EXPECT_EQ(must_alloc(idr, 30, 1), 3u);
    EXPECT_EQ(idr.size(), 3u);
    ASSERT_FALSE(idr.remove(2).is_error());
    EXPECT_EQ(must_alloc(idr, 40, 1), 2u); // the hole is reused
    EXPECT_EQ(must_alloc(idr, 50, 1), 4u);
    EXPECT_EQ(must_alloc(idr, 60, 0), 0u);
    EXPECT_EQ(must_alloc(idr, 70, 100), 100u);
    EXPECT_EQ(must_alloc(idr, 80, 3), 5u); // 3 and 4 are taken
    EXPECT_EQ(at(idr, 2), 40);
    EXPECT_EQ(idr.size(), 7u);
}

TEST(Idr, AllocSkipsLongRun)
{
    Idr<int> idr;
    for (uint32_t i = 0; i < 1000; ++i)
        ASSERT_EQ(must_alloc(idr, int(i), 0), i);
    ASSERT_FALSE(idr.remove(500).is_error());
    EXPECT_EQ(must_alloc(idr, -1, 0), 500u);
    EXPECT_EQ(must_alloc(idr, -1, 0), 1000u);
    EXPECT_EQ(must_alloc(idr, -1, 999), 1001u);
}

TEST(Idr, AllocWithinBoundedRange)
{
    Idr<int> idr;
    EXPECT_EQ(must_alloc(idr, 1, 5, 8), 5u);
    EXPECT_EQ(must_alloc(idr, 2, 5, 8), 6u);
    EXPECT_EQ(must_alloc(idr, 3, 5, 8), 7u);
    auto full = idr.alloc(4, 5, 8);
    EXPECT_EQ(full.code(), -ENOSPC);
    EXPECT_EQ(idr.size(), 3u); // a failed alloc inserts nothing
    EXPECT_EQ(idr.find(8), nullptr);

    ASSERT_FALSE(idr.remove(6).is_error());
    EXPECT_EQ(must_alloc(idr, 5, 5, 8), 6u);

    // Ids outside the range do not count against it.
    EXPECT_EQ(must_alloc(idr, 6, 8, 9), 8u);
    EXPECT_EQ(idr.alloc(7, 8, 9).code(), -ENOSPC);
    EXPECT_EQ(must_alloc(idr, 8, 0, 5), 0u);
}

TEST(Idr, SingleIdRange)
{
    Idr<int> idr;
    EXPECT_EQ(must_alloc(idr, 1, 42, 43), 42u);
    EXPECT_EQ(idr.alloc(2, 42, 43).code(), -ENOSPC);
    EXPECT_EQ(idr.alloc_cyclic(2, 42, 43).code(), -ENOSPC);
}

// set_cursor() moves where cyclic allocation looks first; an id in use there is skipped,
// and the search wraps at the end of the range.
TEST(Idr, SetCursorSkipsIdsInUseAndWraps)
{
    Idr<int> idr;
    EXPECT_EQ(must_alloc(idr, 1, 1, 0), 1u);
    idr.set_cursor(1);
    EXPECT_EQ(idr.alloc_cyclic(2, 1).value(), 2u);
    idr.set_cursor(UINT32_MAX);
    EXPECT_EQ(idr.alloc_cyclic(3, 1).value(), UINT32_MAX);
    EXPECT_EQ(idr.alloc_cyclic(4, 1).value(), 3u);
}

TEST(Idr, EmptyRangeIsInvalid)
{
    Idr<int> idr;
    EXPECT_EQ(idr.alloc(1, 5, 5).code(), -EINVAL);
    EXPECT_EQ(idr.alloc(1, 6, 5).code(), -EINVAL);
    EXPECT_EQ(idr.alloc_cyclic(1, 5, 5).code(), -EINVAL);
    EXPECT_EQ(idr.alloc_cyclic(1, 9, 2).code(), -EINVAL);
    EXPECT_TRUE(idr.empty());
}

TEST(Idr, EndZeroMeansUpToUint32Max)
{
    Idr<int> idr;
    EXPECT_EQ(must_alloc(idr, 1, kMax - 1), kMax - 1);
    EXPECT_EQ(must_alloc(idr, 2, kMax - 1), kMax);
    EXPECT_EQ(idr.alloc(3, kMax - 1).code(), -ENOSPC);
    EXPECT_EQ(idr.alloc(3, kMax).code(), -ENOSPC);
    EXPECT_EQ(at(idr, kMax), 2);

    Idr<int> top;
    EXPECT_EQ(must_alloc(top, 1, kMax), kMax); // start == UINT32_MAX is a one-id range
    EXPECT_EQ(top.alloc(1, kMax).code(), -ENOSPC);
}

TEST(Idr, ExplicitEndExcludesUint32Max)
{
    Idr<int> idr;
    EXPECT_EQ(must_alloc(idr, 1, kMax - 1, kMax), kMax - 1);
    EXPECT_EQ(idr.alloc(2, kMax - 1, kMax).code(), -ENOSPC);
    EXPECT_EQ(idr.find(kMax), nullptr);
}

TEST(Idr, CyclicDoesNotReuseFreedIdAtOnce)
{
    Idr<int> idr;
    EXPECT_EQ(must_cyclic(idr, 1, 1), 1u);
    EXPECT_EQ(must_cyclic(idr, 2, 1), 2u);
    EXPECT_EQ(must_cyclic(idr, 3, 1), 3u);
    ASSERT_FALSE(idr.remove(2).is_error());
    EXPECT_EQ(must_cyclic(idr, 4, 1), 4u);
    ASSERT_FALSE(idr.remove(4).is_error());
    EXPECT_EQ(must_cyclic(idr, 5, 1), 5u);
    EXPECT_EQ(idr.find(2), nullptr);
    EXPECT_EQ(idr.find(4), nullptr);
}

TEST(Idr, CyclicStartsAtStart)
{
    Idr<int> idr;
    EXPECT_EQ(must_cyclic(idr, 1, 10, 20), 10u);
    EXPECT_EQ(must_cyclic(idr, 2, 10, 20), 11u);
    // A later call with a higher start begins there, not at the old hint.
    EXPECT_EQ(must_cyclic(idr, 3, 15, 20), 15u);
}

TEST(Idr, CyclicWrapsToStart)
{
    Idr<int> idr;
    for (uint32_t i = 1; i < 5; ++i)
        ASSERT_EQ(must_cyclic(idr, int(i), 1, 5), i);
    EXPECT_EQ(idr.alloc_cyclic(0, 1, 5).code(), -ENOSPC);
    ASSERT_FALSE(idr.remove(3).is_error());
    ASSERT_FALSE(idr.remove(2).is_error());
    EXPECT_EQ(must_cyclic(idr, 20, 1, 5), 2u);
    EXPECT_EQ(must_cyclic(idr, 30, 1, 5), 3u);
    EXPECT_EQ(idr.alloc_cyclic(0, 1, 5).code(), -ENOSPC);

    // The hint is 4, which is taken, and nothing above it is free: the search goes round to
    // the start of the range.
    ASSERT_FALSE(idr.remove(1).is_error());
    EXPECT_EQ(must_cyclic(idr, 10, 1, 5), 1u);
    // And carries on after 1, skipping the taken 2.
    ASSERT_FALSE(idr.remove(4).is_error());
    ASSERT_FALSE(idr.remove(3).is_error());
    EXPECT_EQ(must_cyclic(idr, 30, 1, 5), 3u);
    EXPECT_EQ(must_cyclic(idr, 40, 1, 5), 4u);
    EXPECT_EQ(idr.alloc_cyclic(0, 1, 5).code(), -ENOSPC);
}

TEST(Idr, CyclicWrapsAtUint32Max)
{
    Idr<int> idr;
    EXPECT_EQ(must_cyclic(idr, 1, kMax - 1), kMax - 1);
    // The hint is now UINT32_MAX; the next id after it is the range start, 0, not an overflow.
    EXPECT_EQ(must_cyclic(idr, 2, 0), kMax);
    EXPECT_EQ(must_cyclic(idr, 3, 0), 0u);
    EXPECT_EQ(must_cyclic(idr, 4, 0), 1u);
    ASSERT_FALSE(idr.remove(0).is_error());
    EXPECT_EQ(must_cyclic(idr, 5, 0), 2u);
    ASSERT_FALSE(idr.remove(kMax - 1).is_error());
    EXPECT_EQ(must_cyclic(idr, 6, kMax - 2), kMax - 2);
    EXPECT_EQ(must_cyclic(idr, 7, kMax - 2), kMax - 1);
    EXPECT_EQ(idr.alloc_cyclic(8, kMax - 2).code(), -ENOSPC);
}

TEST(Idr, CyclicAfterLongUse)
{
    // Ids keep increasing as objects come and go, like handles of short-lived objects.
    Idr<int> idr;
    uint32_t prev = 0;
    for (int i = 0; i < 1000; ++i) {
        uint32_t id = must_cyclic(idr, i, 1);
        EXPECT_GT(id, prev);
        prev = id;
        ASSERT_FALSE(idr.remove(id).is_error());
    }
    EXPECT_TRUE(idr.empty());
}

TEST(Idr, RemoveReturnsValue)
{
    Idr<std::unique_ptr<std::string>> idr;
    uint32_t id = must_alloc(idr, std::make_unique<std::string>("abc"), 1);
    auto r = idr.remove(id);
    ASSERT_FALSE(r.is_error());
    ASSERT_TRUE(r.value());
    EXPECT_EQ(*r.value(), "abc");
    EXPECT_EQ(idr.find(id), nullptr);
    EXPECT_TRUE(idr.empty());
}

TEST(Idr, RemoveUnknownIsEnoent)
{
    Idr<int> idr;
    EXPECT_EQ(idr.remove(0).code(), -ENOENT);
    uint32_t id = must_alloc(idr, 7, 3);
    EXPECT_EQ(idr.remove(id + 1).code(), -ENOENT);
    EXPECT_EQ(idr.size(), 1u);
    ASSERT_FALSE(idr.remove(id).is_error());
    EXPECT_EQ(idr.remove(id).code(), -ENOENT);
}

TEST(Idr, FindGivesMutableValue)
{
    Idr<std::string> idr;
    uint32_t a = must_alloc(idr, std::string("a"), 0);
    uint32_t b = must_alloc(idr, std::string("b"), 0);
    EXPECT_EQ(at(idr, a), "a");
    EXPECT_EQ(at(idr, b), "b");
    std::string *v = idr.find(a);
    ASSERT_NE(v, nullptr);
    *v = "changed";
    EXPECT_EQ(idr.find(a), v); // the same element, not a copy
    EXPECT_EQ(at(idr, a), "changed");
    EXPECT_EQ(idr.find(b + 1), nullptr);
    EXPECT_EQ(idr.find(kMax), nullptr);
}

TEST(Idr, FailedAllocDropsValue)
{
    Idr<std::shared_ptr<int>> idr;
    auto v = std::make_shared<int>(1);
    ASSERT_FALSE(idr.alloc(v, 0, 1).is_error());
    EXPECT_EQ(v.use_count(), 2);
    EXPECT_EQ(idr.alloc(v, 0, 1).code(), -ENOSPC);
    EXPECT_EQ(idr.alloc(v, 1, 1).code(), -EINVAL);
    EXPECT_EQ(v.use_count(), 2); // the rejected copies were not kept
}

TEST(Idr, ForEachVisitsInIdOrder)
{
    Idr<int> idr;
    must_alloc(idr, 30, 30);
    must_alloc(idr, 10, 10);
    must_alloc(idr, 20, 20);
    std::vector<std::pair<uint32_t, int>> seen;
    idr.for_each([&](uint32_t id, int &v) {
        seen.emplace_back(id, v);
        v += 1;
    });
    std::vector<std::pair<uint32_t, int>> want = {{10, 10}, {20, 20}, {30, 30}};
    EXPECT_EQ(seen, want);
    EXPECT_EQ(at(idr, 20), 21);
}

TEST(Idr, TakeAllEmptiesIdr)
{
    Idr<std::unique_ptr<int>> idr;
    uint32_t a = must_alloc(idr, std::make_unique<int>(1), 1);
    uint32_t b = must_alloc(idr, std::make_unique<int>(2), 1);
    auto all = idr.take_all();
    EXPECT_TRUE(idr.empty());
    EXPECT_EQ(idr.find(a), nullptr);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(*all.at(a), 1);
    EXPECT_EQ(*all.at(b), 2);
    // The idr is usable again and the ids are free.
    EXPECT_EQ(must_alloc(idr, std::make_unique<int>(3), 1), a);
    EXPECT_TRUE(idr.take_all().size() == 1 && idr.empty());
    EXPECT_TRUE(idr.take_all().empty());
}

} // namespace

namespace {

// alloc() hands out the lowest free id without moving alloc_cyclic()'s cursor, so a cyclic
// user still does not get a just-freed id back.
TEST(Idr, AllocDoesNotMoveTheCyclicCursor)
{
    Idr<int> idr;
    ASSERT_EQ(idr.alloc_cyclic(1, 1).value(), 1u);
    ASSERT_EQ(idr.alloc_cyclic(2, 1).value(), 2u);
    ASSERT_FALSE(idr.remove(1).is_error());
    ASSERT_EQ(idr.alloc(3, 1).value(), 1u); // lowest free
    ASSERT_FALSE(idr.remove(1).is_error());
    EXPECT_EQ(idr.alloc_cyclic(4, 1).value(), 3u); // not the id alloc() just freed
}

} // namespace
