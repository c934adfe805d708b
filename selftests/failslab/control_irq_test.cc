// SPDX-License-Identifier: GPL-2.0-only
// The control MSI's handler runs in interrupt context: it takes answers in, for their waiters
// or as late answers for the workqueue, without allocating (an allocation that failed there
// would lose an answer, and with it what the device runs). Each test leaves an answer in the
// ring with its MSI lost, then runs the handler with the next allocation set to fail: here,
// where operator new counts (failslab.cc), with the sweep itself off.
#include "drivers/accel/qaic/qaic.h"
#include "kernel/alloc.h"
#include "selftests/drivers/accel/qaic/qaic_helpers.h"
#include "selftests/failslab/failslab.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <drm/qaic_accel.h>
#include <gtest/gtest.h>
#include <qaic/qaic.h>
#include <qaic/qaic_sim.h>
#include <thread>

namespace {

using namespace std::chrono_literals;

qaic::QaicDevice &sim_device()
{
    kernel::RefPtr<accel::Device> dev = accel::find_device(0);
    EXPECT_TRUE(dev);
    return static_cast<qaic::QaicDevice &>(*dev); // the registry keeps it while it is open
}

uint32_t d2h_tail(qaic::QaicDevice &qdev)
{
    return qdev.pdev.read32(qdev.bar_dev, aic100::kCtrlChannel + aic100::kChD2hTail);
}

// Until the device has answered once more than when d2h_tail read before, 10 s at most.
bool wait_for_answer(qaic::QaicDevice &qdev, uint32_t before)
{
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (d2h_tail(qdev) == before && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(100us);
    return d2h_tail(qdev) != before;
}

// Runs the control MSI's handler with the next allocation failing: whether it allocated.
bool irq_allocates(qaic::QaicDevice &qdev)
{
    kernel::FailNthAlloc fail_next(1);
    try {
        qdev.ctrl.irq();
    } catch (...) {
        return true;
    }
    return fail_next.fired();
}

// The embedded card opened, with fault injection in the build: the fd, or -1 (skip).
int open_with_faults(int fault)
{
    int fd = qaic_open("sim");
    EXPECT_GE(fd, 0) << std::strerror(errno);
    if (fd >= 0 && qaic_sim_inject(fd, qaic_sim_fault(fault), 0, 0) != 0 && errno == EOPNOTSUPP) {
        qaic_close(fd);
        return -1;
    }
    return fd;
}

// A MANAGE waits for its answer; the device answered, its MSI was lost.
TEST(ControlIrq, GivesAWaiterItsAnswerWithoutAllocating)
{
    failslab::SweepOff off;
    int fd = open_with_faults(QAIC_SIM_DROP_MSI);
    if (fd < 0)
        GTEST_SKIP() << "no fault injection";
    qaic::QaicDevice &qdev = sim_device();
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 0, 1), 0);
    uint32_t before = d2h_tail(qdev);
    int err = -1;
    std::thread waiter([&] {
        uint8_t buf[QAIC_MANAGE_MAX_MSG_LENGTH] = {};
        qaic_manage_trans_status_to_dev st{{QAIC_TRANS_STATUS_FROM_USR, sizeof(st)}};
        std::memcpy(buf, &st, sizeof(st));
        qaic_manage_msg m{sizeof(st), 1, uint64_t(uintptr_t(buf))};
        err = qaic_ioctl(fd, DRM_IOCTL_QAIC_MANAGE, &m) == 0 ? 0 : errno;
    });
    ASSERT_TRUE(wait_for_answer(qdev, before));
    EXPECT_FALSE(irq_allocates(qdev));
    waiter.join();
    EXPECT_EQ(err, 0) << std::strerror(err);
    EXPECT_EQ(qaic_close(fd), 0);
}

// An ACTIVATE timed out before the device answered; the answer came, its MSI was lost. The
// handler hands it to the workqueue, which takes the DBC back.
TEST(ControlIrq, QueuesALateAnswerWithoutAllocating)
{
    failslab::SweepOff off;
    int fd = open_with_faults(QAIC_SIM_FW_SILENT);
    if (fd < 0)
        GTEST_SKIP() << "no fault injection";
    qaic::QaicDevice &qdev = sim_device();
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 1, 0), 0);
    {
        selftest::ParamGuard restore("control_resp_timeout_ms", selftest::kDefaultRespTimeoutMs);
        ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_ms", 20), 0);
        uint32_t id;
        EXPECT_EQ(selftest::activate(fd, 16, &id), -ETIMEDOUT);
    }
    uint32_t before = d2h_tail(qdev);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 0, 1), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 0, 0), 0);
    ASSERT_TRUE(wait_for_answer(qdev, before));
    EXPECT_FALSE(irq_allocates(qdev));
    // The card assigned a DBC to the ACTIVATE; the late answer's handler takes it back.
    int n = qaic_sim_num_dbc(fd);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    int assigned;
    do {
        assigned = 0;
        for (int d = 0; d < n; ++d) {
            qaic_sim_dbc_status st{};
            ASSERT_EQ(qaic_sim_get_dbc_status(fd, unsigned(d), &st), 0);
            assigned += st.state == 1;
        }
    } while (assigned && std::chrono::steady_clock::now() < deadline &&
             (std::this_thread::sleep_for(1ms), true));
    EXPECT_EQ(assigned, 0) << "DBCs still assigned on the card";
    EXPECT_EQ(qaic_close(fd), 0);
}

} // namespace
