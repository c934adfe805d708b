// SPDX-License-Identifier: GPL-2.0-only
// Fallible allocation helpers, allocation-failure injection, and the errno of an exception.
#include "kernel/alloc.h"
#include "kernel/refcount.h"
#include "kernel/uaccess.h"

#include <gtest/gtest.h>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using kernel::FailNthAlloc;

struct Obj : kernel::RefCounted {
    int v = 7;
};

TEST(FailNthAlloc, OnlyTheNthAllocationFails)
{
    std::vector<int> a, b, c;
    FailNthAlloc inject(2);
    EXPECT_EQ(kernel::try_reserve(a, 4).code(), 0);
    EXPECT_FALSE(inject.fired());
    EXPECT_EQ(kernel::try_reserve(b, 4).code(), -ENOMEM);
    EXPECT_TRUE(inject.fired());
    EXPECT_EQ(b.capacity(), 0u); // nothing was allocated for it
    EXPECT_EQ(kernel::try_resize(c, 4).code(), 0);
    EXPECT_EQ(c.size(), 4u);
}

TEST(FailNthAlloc, EndsWithItsScope)
{
    {
        FailNthAlloc inject(3);
        EXPECT_FALSE(kernel::alloc_should_fail());
    }
    for (int i = 0; i < 5; ++i)
        EXPECT_FALSE(kernel::alloc_should_fail());
}

// Device code on a driver's thread neither counts towards the driver's injected failure nor
// takes it; the driver's next allocations count on where they left off.
TEST(FailNthAlloc, SuspendedForDeviceCode)
{
    FailNthAlloc inject(2);
    EXPECT_FALSE(kernel::alloc_should_fail());
    {
        kernel::NoFailNthAlloc device;
        for (int i = 0; i < 5; ++i)
            EXPECT_FALSE(kernel::alloc_should_fail());
        {
            FailNthAlloc its_own(1); // the device's own injection nests
            EXPECT_TRUE(kernel::alloc_should_fail());
        }
    }
    EXPECT_FALSE(inject.fired());
    EXPECT_TRUE(kernel::alloc_should_fail());
    EXPECT_TRUE(inject.fired());
}

TEST(FailNthAlloc, OnlyTheArmingThreadIsAffected)
{
    FailNthAlloc inject(1);
    bool other = true;
    std::thread([&] { other = kernel::alloc_should_fail(); }).join();
    EXPECT_FALSE(other);
    EXPECT_TRUE(kernel::alloc_should_fail());
}

TEST(FailNthAlloc, MakeRefThrowsAsNewDoesAndTryMakeRefAnswersEnomem)
{
    {
        FailNthAlloc inject(1);
        EXPECT_THROW(kernel::make_ref<Obj>(), std::bad_alloc);
    }
    {
        FailNthAlloc inject(1);
        EXPECT_EQ(kernel::try_make_ref<Obj>().code(), -ENOMEM);
    }
    auto r = kernel::try_make_ref<Obj>();
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value()->v, 7);
}

TEST(FailNthAlloc, MemdupArrayUserAnswersEnomem)
{
    int src[4] = {1, 2, 3, 4};
    FailNthAlloc inject(1);
    auto v = kernel::memdup_array_user(kernel::UserPtr<int>(uintptr_t(src)), 4);
    EXPECT_EQ(v.code(), -ENOMEM);
}

// Sizes a vector cannot have (std::length_error). A size it may have but the allocator
// cannot give is std::bad_alloc, the same answer; not tried here, since the sanitizers'
// allocators abort on it by default.
TEST(TryReserve, MoreThanCanExistIsEnomem)
{
    std::vector<uint64_t> v;
    EXPECT_EQ(kernel::try_reserve(v, v.max_size() + 1).code(), -ENOMEM);
    EXPECT_EQ(kernel::try_resize(v, v.max_size() + 1).code(), -ENOMEM);
}

int errno_of(auto thrower)
{
    try {
        thrower();
    } catch (...) {
        return kernel::errno_of_exception("test");
    }
    return 0;
}

TEST(ErrnoOfException, EachKind)
{
    EXPECT_EQ(errno_of([] { throw std::bad_alloc(); }), -ENOMEM);
    EXPECT_EQ(errno_of([] { throw std::length_error("x"); }), -ENOMEM);
    EXPECT_EQ(errno_of([] { throw std::system_error(EAGAIN, std::generic_category()); }),
              -EAGAIN);
    EXPECT_EQ(errno_of([] { throw std::runtime_error("x"); }), -EIO);
    EXPECT_EQ(errno_of([] { throw 42; }), -EIO);
}

} // namespace
