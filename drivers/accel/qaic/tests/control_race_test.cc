// SPDX-License-Identifier: GPL-2.0-only
// The control path's races with a device reset, and users' handles, driven through the uAPI on
// the embedded simulated card. Where a race needs an exact point, a test hook of the driver's
// (qaic::test_hooks) puts the other party there.
#include "drivers/accel/qaic/qaic.h"
#include "selftests/drivers/accel/qaic/qaic_helpers.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <drm.h>
#include <drm/qaic_accel.h>
#include <gtest/gtest.h>
#include <qaic/qaic.h>
#include <qaic/qaic_sim.h>
#include <atomic>
#include <thread>

namespace {

using namespace std::chrono_literals;

int err_of(int r)
{
    return r == 0 ? 0 : -errno;
}

// The selftests' MANAGE helpers, with the queue size these tests use.
int activate(int fd, uint32_t *dbc_id)
{
    return selftest::activate(fd, 16, dbc_id);
}
using selftest::deactivate;

// The driver's belief, seen through the uAPI: EXECUTE of a handle nobody has gets ENOENT on a
// DBC the file owns, EPERM on one it does not.
bool driver_says_owned(int fd, uint32_t dbc_id)
{
    qaic_execute_entry e{0x7fffffff, 1};
    qaic_execute ex{};
    ex.hdr.count = 1;
    ex.hdr.dbc_id = dbc_id;
    ex.data = uintptr_t(&e);
    return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_EXECUTE_BO, &ex)) == -ENOENT;
}

qaic::QaicDevice &sim_device()
{
    kernel::RefPtr<accel::Device> dev = accel::find_device(0);
    EXPECT_TRUE(dev);
    return static_cast<qaic::QaicDevice &>(*dev); // the registry keeps it while it is open
}

// On MANAGE's first answer: reset the device and wait (bounded) until the driver noticed and
// recovered, i.e. released every DBC and brought the device up again.
void reset_and_recover(qaic::QaicDevice &qdev)
{
    uint64_t before = qdev.ctrl.epoch();
    // Through the device's reset register, as a driver would: the sim backend's test control
    // takes a lock of its own that a removal holds while it waits for the manage lock.
    qdev.pdev.write32(qdev.bar_dev, aic100::kRegDevReset, aic100::kResetMagic);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!(qdev.ctrl.epoch() != before && qdev.online && !qdev.resetting) &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
}

// The device answered an ACTIVATE, then was reset and recovered before MANAGE decoded the
// answer. The answer describes a DBC the device no longer has: the call fails with EIO and
// the driver does not believe the file owns it, as the card does not.
TEST(ControlRace, ActivateAnswerFromBeforeAResetIsDiscarded)
{
    int fd = qaic_open("sim");
    ASSERT_GE(fd, 0) << std::strerror(errno);
    int n = qaic_sim_num_dbc(fd);
    ASSERT_GT(n, 0);
    qaic::QaicDevice &qdev = sim_device();
    qaic::test_hooks.manage_answered = reset_and_recover;
    uint32_t id;
    int err = activate(fd, &id);
    qaic::test_hooks.manage_answered = nullptr;
    EXPECT_EQ(err, -EIO);
    EXPECT_TRUE(qdev.online);
    for (int d = 0; d < n; ++d) {
        qaic_sim_dbc_status st{};
        ASSERT_EQ(qaic_sim_get_dbc_status(fd, unsigned(d), &st), 0);
        EXPECT_EQ(st.state, 0u) << "DBC " << d << " on the card";
        EXPECT_FALSE(driver_says_owned(fd, uint32_t(d))) << "DBC " << d << " in the driver";
    }
    // Both sides agree: the device hands the DBCs out again and the driver takes them.
    ASSERT_EQ(activate(fd, &id), 0);
    EXPECT_TRUE(driver_says_owned(fd, id));
    EXPECT_EQ(deactivate(fd, id), 0);
    EXPECT_EQ(qaic_close(fd), 0);
}

// The device's boot MSI can come after probe requested its interrupts and before it programmed
// the control channel. The channel is not enabled then, but no reset happened: the handler
// must not start a recovery, whose second bring-up would rewind the driver's ring indices on
// a channel the device keeps (every later message then waits for room that never comes).
TEST(ControlRace, BootMsiBeforeTheChannelIsProgrammedIsNoReset)
{
    int replugged = selftest::replug_sim_card();
    if (replugged == -EOPNOTSUPP)
        GTEST_SKIP() << "removal needs CONFIG_QAIC_FAULT_INJECTION";
    ASSERT_EQ(replugged, 0) << std::strerror(-replugged);

    static std::atomic<bool> reset_seen;
    reset_seen = false;
    qaic::test_hooks.irqs_requested = [](qaic::QaicDevice &qdev) {
        qdev.ctrl.irq(); // the boot MSI's handler, in the window
        reset_seen = qdev.resetting.load();
    };
    int fd = qaic_open("sim"); // probes the replugged card
    qaic::test_hooks.irqs_requested = nullptr;
    ASSERT_GE(fd, 0) << std::strerror(errno);
    EXPECT_FALSE(reset_seen) << "a recovery was started for a reset that did not happen";
    // The control path works, message after message.
    for (int i = 0; i < 20; ++i) {
        uint32_t id;
        ASSERT_EQ(activate(fd, &id), 0) << i;
        ASSERT_EQ(deactivate(fd, id), 0) << i;
    }
    EXPECT_EQ(qaic_close(fd), 0);
}

// Until flag is set, 10 s at most.
void wait_for(const std::atomic<bool> &flag)
{
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!flag && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(100us);
}

// A thread that read the control channel disabled (a reset) can act on that only after the
// recovery programmed the channel again: an MSI handler, or a MANAGE checking the device,
// preempted between the two. Its reading is stale then, and must not fail the recovery's
// first message, which left the device offline for good (found by uapi_fuzz).
TEST(ControlRace, StaleResetReadingDoesNotFailTheRecovery)
{
    int fd = qaic_open("sim");
    ASSERT_GE(fd, 0) << std::strerror(errno);
    qaic::QaicDevice &qdev = sim_device();
    static std::atomic<int> readings;
    static std::atomic<bool> reprogrammed, stale_acted;
    static thread_local bool first_reader = false;
    readings = 0;
    reprogrammed = stale_acted = false;
    // The first reader waits until a recovery, started by the next one, has programmed the
    // channel again; that recovery waits until the first reader has acted.
    qaic::test_hooks.reset_seen = [](qaic::QaicDevice &, int phase) {
        if (phase == 0 && readings++ == 0) {
            first_reader = true;
            wait_for(reprogrammed);
        } else if (phase == 1 && std::exchange(first_reader, false)) {
            stale_acted = true;
        }
    };
    qaic::test_hooks.recovery_reprogrammed = [](qaic::QaicDevice &) {
        if (!reprogrammed.exchange(true))
            wait_for(stale_acted);
    };
    qdev.pdev.write32(qdev.bar_dev, aic100::kRegDevReset, aic100::kResetMagic);
    // STATUS until the device answers: its MSI or these calls read the channel disabled.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    int err;
    while ((err = selftest::status(fd)) != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    qaic::test_hooks.reset_seen = nullptr;
    qaic::test_hooks.recovery_reprogrammed = nullptr;
    wait_for(stale_acted);
    EXPECT_TRUE(reprogrammed);
    EXPECT_TRUE(stale_acted) << "no reading of the reset was left to act late";
    EXPECT_EQ(err, 0) << "the device did not come back: " << std::strerror(-err);
    EXPECT_TRUE(qdev.online);
    EXPECT_EQ(qaic_close(fd), 0);
}

// A device reset again during each of the recovery's three passes is given up for the time
// being, though it came back: its last reset's interrupt came while the recovery ran, and no
// other will come. The next MANAGE must find that reset (EIO) and recover, where it got ENODEV
// for good (found by uapi_fuzz, four resets within a millisecond).
TEST(ControlRace, RecoveryGivenUpIsTakenUpByTheNextManage)
{
    int fd = qaic_open("sim");
    ASSERT_GE(fd, 0) << std::strerror(errno);
    qaic::QaicDevice &qdev = sim_device();
    static std::atomic<int> resets, readings;
    resets = readings = 0;
    qaic::test_hooks.reset_seen = [](qaic::QaicDevice &, int phase) { readings += phase; };
    // Each pass's bring-up: the device resets as soon as it has its channel, and is back,
    // its interrupt handled while the recovery runs, before the pass looks again.
    qaic::test_hooks.recovery_reprogrammed = [](qaic::QaicDevice &q) {
        if (resets >= 3)
            return;
        ++resets;
        int before = readings;
        q.pdev.write32(q.bar_dev, aic100::kRegDevReset, aic100::kResetMagic);
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (readings == before && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(10us);
    };
    qdev.pdev.write32(qdev.bar_dev, aic100::kRegDevReset, aic100::kResetMagic);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!(resets == 3 && !qdev.resetting) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(100us);
    qaic::test_hooks.recovery_reprogrammed = nullptr;
    qaic::test_hooks.reset_seen = nullptr;
    ASSERT_EQ(resets, 3);
    EXPECT_FALSE(qdev.online) << "the recovery did not give up: the test no longer tests it";
    int err;
    while ((err = selftest::status(fd)) != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    EXPECT_EQ(err, 0) << "the device did not come back: " << std::strerror(-err);
    EXPECT_TRUE(qdev.online);
    EXPECT_EQ(qaic_close(fd), 0);
}

// A DBC the driver could not take back (an ACTIVATE answered after its call timed out, then a
// DEACTIVATE answer naming another DBC) keeps its ring listed and allocated: the device may
// use it. A reset makes the device forget it, and the recovery frees it (it was kept until
// removal, some thousands an hour under uapi_fuzz).
TEST(ControlRace, ResetRecoveryFreesTheRingsOfDbcsNotTakenBack)
{
    int fd = qaic_open("sim");
    ASSERT_GE(fd, 0) << std::strerror(errno);
    qaic::QaicDevice &qdev = sim_device();
    if (qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 1, 0) != 0 && errno == EOPNOTSUPP) {
        EXPECT_EQ(qaic_close(fd), 0);
        GTEST_SKIP() << "no fault injection";
    }
    auto lost = [&] { return qdev.lost_rings.with([](auto &v) { return v.size(); }); };
    auto wait_lost = [&](size_t n) {
        auto deadline = std::chrono::steady_clock::now() + 20s;
        while (lost() != n && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        return lost();
    };
    ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_ms", 50), 0);
    uint32_t id;
    EXPECT_EQ(activate(fd, &id), -ETIMEDOUT);
    ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_ms", selftest::kDefaultRespTimeoutMs), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_MISNAME, 1, 0), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 0, 0), 0);
    ASSERT_EQ(wait_lost(1), 1u) << "the late ACTIVATE's DBC was taken back: nothing to test";
    qdev.pdev.write32(qdev.bar_dev, aic100::kRegDevReset, aic100::kResetMagic);
    EXPECT_EQ(wait_lost(0), 0u) << "the recovery kept a ring the device forgot";
    auto deadline = std::chrono::steady_clock::now() + 20s;
    int err;
    while ((err = selftest::status(fd)) != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    EXPECT_EQ(err, 0) << "the device did not come back: " << std::strerror(-err);
    EXPECT_EQ(qaic_close(fd), 0);
}

// Two open files never share a user handle, even when the allocator comes round to a handle
// in use (a 32-bit counter would after 2^32 opens): the second file must not get the first
// one's DBC.
TEST(UserHandles, UniqueWhenTheCursorComesRound)
{
    int a = qaic_open("sim");
    ASSERT_GE(a, 0) << std::strerror(errno);
    uint32_t id;
    ASSERT_EQ(activate(a, &id), 0);
    qaic::QaicDevice &qdev = sim_device();
    qdev.usr_handles.with([](auto &idr) {
        uint32_t live = 0;
        idr.for_each([&](uint32_t h, bool) { live = h; });
        idr.set_cursor(live); // the newest file's handle is next in line
    });
    int b = qaic_open("sim");
    ASSERT_GE(b, 0) << std::strerror(errno);
    EXPECT_EQ(deactivate(b, id), -EPERM);
    EXPECT_FALSE(driver_says_owned(b, id));
    EXPECT_EQ(deactivate(a, id), 0);
    EXPECT_EQ(qaic_close(b), 0);
    EXPECT_EQ(qaic_close(a), 0);
}

} // namespace
