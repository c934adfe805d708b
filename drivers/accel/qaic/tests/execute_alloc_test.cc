// SPDX-License-Identifier: GPL-2.0-only
// EXECUTE and PARTIAL_EXECUTE when an allocation fails: each allocation of the path is made
// to fail in turn (kernel::FailNthAlloc). Every failure must be ENOMEM with nothing
// half-done (no BO left queued) and the device still removable.
#include "kernel/alloc.h"
#include "selftests/drivers/accel/qaic/qaic_helpers.h"

#include <chrono>
#include <cstdio>
#include <future>
#include <gtest/gtest.h>
#include <thread>

namespace {

using namespace selftest;

int execute(int fd, unsigned long request, uint32_t dbc, const qaic_partial_execute_entry *ents,
            uint32_t count)
{
    // EXECUTE's entries are the first two fields of PARTIAL's: copy them apart.
    qaic_execute_entry plain[2];
    for (uint32_t i = 0; i < count; ++i)
        plain[i] = {ents[i].handle, ents[i].dir};
    qaic_execute e{};
    e.hdr.count = count;
    e.hdr.dbc_id = dbc;
    e.data = request == DRM_IOCTL_QAIC_EXECUTE_BO ? uintptr_t(plain) : uintptr_t(ents);
    return ioctl_err(fd, request, &e);
}

int wait_bo(int fd, uint32_t handle, uint32_t dbc)
{
    qaic_wait w{};
    w.handle = handle;
    w.timeout = 5000;
    w.dbc_id = dbc;
    return ioctl_err(fd, DRM_IOCTL_QAIC_WAIT_BO, &w);
}

TEST(ExecuteAllocFailure, EachAllocationFailsWithEnomemAndQueuesNothing)
{
    int fd = qaic_open("sim");
    ASSERT_GE(fd, 0);
    uint32_t dbc, a, b;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(create_bo(fd, 2 * kPage, &a), 0);
    ASSERT_EQ(create_bo(fd, kPage, &b), 0);
    ASSERT_EQ(attach(fd, a, dbc, kDirToDev, {slice(0, kPage, 0), slice(kPage, kPage, kPage)}), 0);
    ASSERT_EQ(attach(fd, b, dbc, kDirToDev, {slice(0, kPage, 2 * kPage)}), 0);
    // PARTIAL cuts a's second slice: its elements are encoded for this call.
    qaic_partial_execute_entry ents[2] = {{a, kDirToDev, kPage + kPage / 2}, {b, kDirToDev, kPage}};

    for (unsigned long request : {DRM_IOCTL_QAIC_EXECUTE_BO, DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO}) {
        for (unsigned nth = 1;; ++nth) {
            SCOPED_TRACE(testing::Message() << std::hex << request << std::dec << " nth " << nth);
            ASSERT_LT(nth, 100u) << "the path makes more allocations than expected";
            int r = 0;
            bool fired;
            {
                kernel::FailNthAlloc inject(nth);
                EXPECT_NO_THROW(r = execute(fd, request, dbc, ents, 2));
                fired = inject.fired();
            }
            if (!fired) { // every allocation of the path has failed once
                ASSERT_EQ(r, 0);
                EXPECT_EQ(wait_bo(fd, a, dbc), 0);
                EXPECT_EQ(wait_bo(fd, b, dbc), 0);
                break;
            }
            ASSERT_EQ(r, -ENOMEM);
            // Nothing half-done: neither BO was left queued, both run now.
            ASSERT_EQ(execute(fd, request, dbc, ents, 2), 0);
            EXPECT_EQ(wait_bo(fd, a, dbc), 0);
            EXPECT_EQ(wait_bo(fd, b, dbc), 0);
        }
    }

    // Nothing holds the device: a surprise removal returns (a hang would also hang the
    // binary at exit, so end it with a failure instead).
    std::promise<int> removed;
    std::future<int> result = removed.get_future();
    std::thread t([&] {
        int r = qaic_sim_inject(fd, QAIC_SIM_REMOVE, 0, 0);
        removed.set_value(r == 0 ? 0 : -errno);
    });
    if (result.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
        ADD_FAILURE() << "surprise removal blocked: something left the device entered";
        std::fflush(nullptr);
        std::_Exit(1);
    }
    t.join();
    int r = result.get();
    EXPECT_EQ(qaic_close(fd), 0);
    EXPECT_EQ(qaic_sim_replug(), 0);
    if (r == -EOPNOTSUPP)
        GTEST_SKIP() << "removal needs CONFIG_QAIC_FAULT_INJECTION";
    EXPECT_EQ(r, 0);
}

} // namespace
