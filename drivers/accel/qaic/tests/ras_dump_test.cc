// SPDX-License-Identifier: GPL-2.0-only
// The driver's RAS counters and crash dump collection, read where the uAPI cannot show them:
// QaicDevice::ras_counts() and the coredump accessors (what sysfs's ce_count and devcoredump
// files read), and the collection's state while a card stalls mid-transfer. On the embedded
// simulated card.
#include "drivers/accel/qaic/qaic.h"
#include "selftests/drivers/accel/qaic/qaic_helpers.h"

#include <cerrno>
#include <chrono>
#include <gtest/gtest.h>
#include <qaic/qaic.h>
#include <qaic/qaic_sim.h>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

template <typename Pred> bool wait_for(Pred pred)
{
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (!pred()) {
        if (Clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

qaic::QaicDevice &sim_device()
{
    kernel::RefPtr<accel::Device> dev = accel::find_device(0);
    EXPECT_TRUE(dev);
    return static_cast<qaic::QaicDevice &>(*dev); // the registry keeps it while it is open
}

class RasDump : public testing::Test {
protected:
    void SetUp() override
    {
        fd = qaic_open("sim");
        ASSERT_GE(fd, 0);
        qdev = &sim_device();
        if (qaic_sim_inject(fd, QAIC_SIM_DUMP_FAULT, 0, 0) != 0)
            GTEST_SKIP() << "needs CONFIG_QAIC_FAULT_INJECTION";
        (void)qdev->coredump_take(); // one an earlier test left
    }
    void TearDown() override
    {
        if (fd >= 0)
            qaic_close(fd);
    }
    unsigned dbc_state(uint32_t dbc)
    {
        qaic_sim_dbc_status st{};
        EXPECT_EQ(qaic_sim_get_dbc_status(fd, dbc, &st), 0);
        return st.state;
    }
    int fd = -1;
    qaic::QaicDevice *qdev = nullptr;
};

// The counters qaic_sim reports are the device's accessor's.
TEST_F(RasDump, CountsAccessor)
{
    qaic::RasCounts before = qdev->ras_counts();
    unsigned ue_nf = QAIC_SIM_RAS_SRC_DDR | QAIC_SIM_RAS_UE_NONFATAL << 8;
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RAS, ue_nf, 0), 0);
    ASSERT_TRUE(wait_for([&] { return qdev->ras_counts().ue_nonfatal == before.ue_nonfatal + 1; }));
    qaic_sim_ras_counts c{};
    ASSERT_EQ(qaic_sim_get_ras_counts(fd, &c), 0);
    qaic::RasCounts now = qdev->ras_counts();
    EXPECT_EQ(c.ce_count, now.ce);
    EXPECT_EQ(c.ue_count, now.ue);
    EXPECT_EQ(c.ue_nonfatal_count, now.ue_nonfatal);
}

// The dump as sysfs reads it: at offsets, until dismissed.
TEST_F(RasDump, CoredumpAccessors)
{
    uint32_t dbc;
    ASSERT_EQ(selftest::activate(fd, 16, &dbc), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0), 0);
    ASSERT_TRUE(wait_for([&] { return !qdev->coredump().is_error(); }));
    kernel::CoredumpInfo info = qdev->coredump().value();
    ASSERT_GT(info.size, 32u);
    std::vector<uint8_t> head(8);
    ASSERT_EQ(qdev->coredump_read(info.id, 0, head).value(), 8u);
    uint64_t magic;
    std::memcpy(&magic, head.data(), 8);
    EXPECT_EQ(magic, aic100::kSsrDumpMagic);
    std::vector<uint8_t> tail(64);
    EXPECT_EQ(qdev->coredump_read(info.id, info.size - 10, tail).value(), 10u);
    EXPECT_EQ(qdev->coredump_read(info.id, info.size, tail).value(), 0u);
    EXPECT_EQ(kernel::devcoredumps().bytes(), info.size);
    qdev->coredump_dismiss(info.id);
    EXPECT_EQ(qdev->coredump_read(info.id, 0, tail).code(), -ENOENT);
    EXPECT_EQ(qdev->coredump().code(), -ENOENT);
    EXPECT_EQ(kernel::devcoredumps().bytes(), 0u);
}

// A card that stops answering mid-transfer: the collection waits (as upstream's, which has no
// timeout), the DBC stays in its restart and refuses work with EPIPE; a reset ends it, with
// nothing kept.
TEST_F(RasDump, StallMidTransferEndsWithReset)
{
    uint32_t dbc;
    ASSERT_EQ(selftest::activate(fd, 16, &dbc), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_DUMP_FAULT, QAIC_SIM_DUMP_STALL, 3), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0), 0);
    ASSERT_TRUE(wait_for([&] { return qdev->dump_in_progress(); }));
    EXPECT_EQ(dbc_state(dbc), 4u);
    uint32_t bo;
    ASSERT_EQ(selftest::create_bo(fd, 4096, &bo), 0);
    EXPECT_EQ(selftest::attach(fd, bo, dbc, selftest::kDirToDev, {selftest::slice(0, 4096)}),
              -EPIPE);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0), 0);
    ASSERT_TRUE(wait_for([&] { return !qdev->dump_in_progress() && qdev->online.load(); }));
    EXPECT_EQ(qdev->coredump().code(), -ENOENT);
    EXPECT_EQ(kernel::devcoredumps().bytes(), 0u);
}

// The device's dump goes with it.
TEST_F(RasDump, RemovalFreesTheDump)
{
    uint32_t dbc;
    ASSERT_EQ(selftest::activate(fd, 16, &dbc), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0), 0);
    ASSERT_TRUE(wait_for([&] { return !qdev->coredump().is_error(); }));
    EXPECT_GT(kernel::devcoredumps().bytes(), 0u);
    qaic_close(fd);
    fd = -1;
    ASSERT_EQ(selftest::replug_sim_card(), 0);
    EXPECT_EQ(kernel::devcoredumps().bytes(), 0u);
}

} // namespace
