// SPDX-License-Identifier: GPL-2.0-only
// Bringing a card up when memory runs out: probe and qaic_open answer ENOMEM, never throw.
#include "kernel/alloc.h"
#include "selftests/drivers/accel/qaic/qaic_helpers.h"

#include <cerrno>
#include <cstring>
#include <gtest/gtest.h>
#include <qaic/qaic.h>
#include <qaic/qaic_sim.h>

namespace {

// qaic_open("sim") brings the card up: each of its allocations fails in turn, and each
// failure is -1 with ENOMEM, after which an open works.
TEST(ProbeAllocFailure, QaicOpenOfTheSimIsEnomem)
{
    // Start with a card not yet probed.
    int replugged = selftest::replug_sim_card();
    if (replugged == -EOPNOTSUPP)
        GTEST_SKIP() << "removal needs CONFIG_QAIC_FAULT_INJECTION";
    ASSERT_EQ(replugged, 0) << std::strerror(-replugged);
    int fd;

    for (unsigned nth = 1;; ++nth) {
        SCOPED_TRACE(nth);
        ASSERT_LT(nth, 100u) << "open makes more allocations than expected";
        bool fired;
        errno = 0;
        {
            kernel::FailNthAlloc inject(nth);
            EXPECT_NO_THROW(fd = qaic_open("sim"));
            fired = inject.fired();
        }
        if (!fired) {
            ASSERT_GE(fd, 0);
            EXPECT_EQ(qaic_close(fd), 0);
            break;
        }
        ASSERT_EQ(fd, -1);
        EXPECT_EQ(errno, ENOMEM);
    }
}

} // namespace
