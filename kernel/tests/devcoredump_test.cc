// SPDX-License-Identifier: GPL-2.0-only
// The devcoredump store: one dump per device until dismissed or expired, read at any offset,
// bounded memory.
#include "kernel/devcoredump.h"

#include <cerrno>
#include <gtest/gtest.h>

namespace {

using kernel::DevCoredumps;

std::vector<uint8_t> bytes(size_t n, uint8_t seed)
{
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = uint8_t(seed + i);
    return v;
}

TEST(DevCoredump, OnePerDeviceReadAtOffsetsUntilDismissed)
{
    DevCoredumps store(1 << 20);
    int a = 0, b = 0;
    auto id = store.add(&a, bytes(100, 1));
    ASSERT_FALSE(id.is_error());
    // A second dump of the same device while the first is unread is discarded.
    EXPECT_EQ(store.add(&a, bytes(10, 2)).code(), -EBUSY);
    auto idb = store.add(&b, bytes(10, 3));
    ASSERT_FALSE(idb.is_error());
    EXPECT_NE(idb.value(), id.value());
    EXPECT_EQ(store.bytes(), 110u);

    auto info = store.find(&a);
    ASSERT_FALSE(info.is_error());
    EXPECT_EQ(info.value().id, id.value());
    EXPECT_EQ(info.value().size, 100u);
    uint8_t buf[32];
    EXPECT_EQ(store.read(id.value(), 90, buf).value(), 10u);
    EXPECT_EQ(buf[0], uint8_t(1 + 90));
    EXPECT_EQ(store.read(id.value(), 100, buf).value(), 0u);
    EXPECT_EQ(store.read(id.value(), UINT64_MAX, buf).value(), 0u);
    EXPECT_EQ(store.read(id.value(), 0, buf).value(), sizeof(buf));

    store.dismiss(id.value());
    EXPECT_EQ(store.read(id.value(), 0, buf).code(), -ENOENT);
    EXPECT_EQ(store.find(&a).code(), -ENOENT);
    store.dismiss(id.value()); // gone already: nothing
    EXPECT_FALSE(store.add(&a, bytes(5, 4)).is_error()); // room for a new one
    EXPECT_EQ(store.bytes(), 15u);
}

TEST(DevCoredump, TakeIsReadOnce)
{
    DevCoredumps store(1 << 20);
    int a = 0;
    ASSERT_FALSE(store.add(&a, bytes(64, 9)).is_error());
    auto d = store.take(&a);
    ASSERT_FALSE(d.is_error());
    EXPECT_EQ(d.value(), bytes(64, 9));
    EXPECT_EQ(store.take(&a).code(), -ENOENT);
    EXPECT_EQ(store.bytes(), 0u);
}

TEST(DevCoredump, BoundedAndValidated)
{
    DevCoredumps store(100);
    int a = 0, b = 0, c = 0;
    EXPECT_EQ(store.add(&a, {}).code(), -EINVAL);
    ASSERT_FALSE(store.add(&a, bytes(60, 0)).is_error());
    EXPECT_EQ(store.add(&b, bytes(41, 0)).code(), -ENOSPC);
    EXPECT_FALSE(store.add(&b, bytes(40, 0)).is_error());
    EXPECT_EQ(store.add(&c, bytes(1, 0)).code(), -ENOSPC);
    store.remove_device(&a);
    EXPECT_EQ(store.bytes(), 40u);
    EXPECT_FALSE(store.add(&c, bytes(60, 0)).is_error());
}

// An unread dump is freed when its time is up (devcoredump's 5 minutes by default).
TEST(DevCoredump, ExpiresUnread)
{
    DevCoredumps store(1 << 20);
    int a = 0, b = 0;
    store.set_timeout(std::chrono::milliseconds(0));
    auto id = store.add(&a, bytes(10, 0));
    ASSERT_FALSE(id.is_error());
    uint8_t buf[4];
    EXPECT_EQ(store.read(id.value(), 0, buf).code(), -ENOENT);
    EXPECT_EQ(store.bytes(), 0u);
    store.set_timeout(DevCoredumps::kTimeout);
    ASSERT_FALSE(store.add(&b, bytes(10, 0)).is_error());
    EXPECT_FALSE(store.find(&b).is_error());
}

} // namespace
