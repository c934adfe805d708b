// SPDX-License-Identifier: GPL-2.0-only
// MANAGE against a misbehaving card: firmware NACK, firmware silence (timeout), a device reset
// while a MANAGE waits, and surprise removal. These need the sim test control (qaic_sim.h)
// and skip elsewhere.
#include "qaic_helpers.h"

#include <chrono>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace selftest;

// Waits (bounded) until the device answers again after a reset: meanwhile ioctls give ENODEV,
// and EIO once if a recovery that gave up (resets came again on a loaded machine) is taken
// up by this MANAGE (docs/design.md).
int wait_until_online(int fd)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int err;
    while (((err = status(fd)) == -ENODEV || err == -EIO) &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return err;
}

TEST_F(ManageFirmwareFaults, FirmwareNackIsEcanceled)
{
    FirmwareFaultGuard guard{fd};
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_NACK, 1, 0));
    EXPECT_EQ(status(fd), -ECANCELED);
    // Only the one message was refused.
    qaic_manage_trans_status_from_dev s{};
    EXPECT_EQ(status(fd, &s), 0);
    EXPECT_EQ(s.major, 5);
}

// A refused ACTIVATE leaves no DBC behind: every one can still be activated.
TEST_F(ManageFirmwareFaults, NackedActivateActivatesNothing)
{
    FirmwareFaultGuard guard{fd};
    size_t total;
    {
        int fd2 = qaic_open(nullptr);
        ASSERT_GE(fd2, 0);
        total = activate_all(fd2).size();
        ASSERT_EQ(qaic_close(fd2), 0);
    }
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_NACK, 1, 0));
    uint32_t id;
    EXPECT_EQ(activate(fd, 16, &id), -ECANCELED);
    EXPECT_EQ(activate_all(fd).size(), total);
}

TEST_F(ManageFirmwareFaults, SilentFirmwareTimesOut)
{
    FirmwareFaultGuard guard{fd};
    SIM_OR_SKIP(qaic_sim_set_param("control_resp_timeout_ms", 200));
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 1, 0));
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(status(fd), -ETIMEDOUT);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));

    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 0, 0), 0);
    ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_ms", kDefaultRespTimeoutMs), 0);
    // The late answer to the lost request must not confuse the next ones.
    for (int i = 0; i < 3; ++i) {
        qaic_manage_trans_status_from_dev s{};
        EXPECT_EQ(status(fd, &s), 0);
        EXPECT_EQ(s.hdr.type, uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    }
    uint32_t id;
    ASSERT_EQ(activate(fd, 16, &id), 0);
    EXPECT_EQ(deactivate(fd, id), 0);
}

TEST_F(SimTestControl, UnknownParameterIsEinval)
{
    errno = 0;
    int r = qaic_sim_set_param("no_such_param", 1);
    if (r != 0 && (errno == ENODEV || errno == EOPNOTSUPP))
        GTEST_SKIP() << "no sim test control: " << std::strerror(errno);
    EXPECT_EQ(r, -1);
    EXPECT_EQ(errno, EINVAL);
}

// A reset while a MANAGE waits for its answer fails it with EIO; the device then recovers,
// having forgotten every DBC.
TEST_F(ManageFirmwareFaults, ResetWhileManageWaitsIsEio)
{
    FirmwareFaultGuard guard{fd};
    // A safety net: should the reset not reach the waiter, the call still ends.
    SIM_OR_SKIP(qaic_sim_set_param("control_resp_timeout_ms", 20000));
    uint32_t dbc, bo;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(create_bo(fd, kPage, &bo), 0);
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kPage)}), 0);

    int err = 0;
    for (int attempt = 0; attempt < 10; ++attempt) {
        SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 1, 0));
        std::atomic<pid_t> tid{0};
        std::thread t([&] {
            tid = pid_t(syscall(SYS_gettid));
            err = status(fd);
        });
        // Until the caller sleeps in its wait for the answer (bounded).
        for (int i = 0; i < 5000 && !(tid && sleeping(tid)); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        int r = qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0);
        int inject_errno = errno;
        t.join();
        ASSERT_EQ(r, 0) << std::strerror(inject_errno);
        ASSERT_EQ(wait_until_online(fd), 0);
        if (err == -EIO)
            break;
        // The reset overtook the call (it was refused while the device recovered, or sent
        // after): try again.
        ASSERT_TRUE(err == -ENODEV || err == 0) << "MANAGE across a reset: " << err;
    }
    EXPECT_EQ(err, -EIO);

    // The device works again, and the reset released our DBC and its BO's slicing.
    qaic_manage_trans_status_from_dev s{};
    EXPECT_EQ(status(fd, &s), 0);
    EXPECT_EQ(s.major, 5);
    EXPECT_EQ(deactivate(fd, dbc), -EPERM);
    EXPECT_EQ(detach(fd, bo), -EINVAL);
    uint32_t again;
    ASSERT_EQ(activate(fd, 16, &again), 0);
    EXPECT_EQ(attach(fd, bo, again, kDirToDev, {slice(0, kPage)}), 0);
    EXPECT_EQ(detach(fd, bo), 0);
    EXPECT_EQ(deactivate(fd, again), 0);
}

// Surprise removal: the open file stays valid but every ioctl says ENODEV, the device cannot
// be opened, and a replugged card works. Later tests run on the new card.
TEST_F(DeviceRemoval, SurpriseRemoval)
{
    uint32_t dbc, bo;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(create_bo(fd, 2 * kPage, &bo), 0);
    auto *p = static_cast<uint8_t *>(map_bo(fd, bo, 2 * kPage));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    p[0] = 0x77;

    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_REMOVE, 0, 0));

    // Every ioctl, with arguments that would otherwise be fine.
    {
        drm_version v{};
        EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_VERSION, &v), -ENODEV);
        EXPECT_EQ(status(fd), -ENODEV);
        EXPECT_EQ(create_bo(fd, kPage, nullptr), -ENODEV);
        uint64_t off;
        EXPECT_EQ(mmap_offset(fd, bo, &off), -ENODEV);
        EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kPage)}), -ENODEV);
        EXPECT_EQ(detach(fd, bo), -ENODEV);
        qaic_execute_entry ee{bo, kDirToDev};
        qaic_execute ex{{1, dbc}, uintptr_t(&ee)};
        EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_EXECUTE_BO, &ex), -ENODEV);
        EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO, &ex), -ENODEV);
        qaic_wait w{bo, 10, dbc, 0};
        EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_WAIT_BO, &w), -ENODEV);
        qaic_perf_stats_entry pe{};
        pe.handle = bo;
        qaic_perf_stats ps{{1, 0, dbc}, uintptr_t(&pe)};
        EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_PERF_STATS_BO, &ps), -ENODEV);
        EXPECT_EQ(gem_close(fd, bo), -ENODEV);
    }
    errno = 0;
    EXPECT_EQ(qaic_open(nullptr), -1);
    EXPECT_EQ(errno, ENODEV);
    // The mapping made before stays usable until it is unmapped.
    EXPECT_EQ(p[0], 0x77);
    EXPECT_EQ(qaic_munmap(p, 2 * kPage), 0);

    ASSERT_EQ(qaic_sim_replug(), 0);
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0) << std::strerror(errno);
    qaic_manage_trans_status_from_dev s{};
    EXPECT_EQ(status(fd2, &s), 0);
    EXPECT_EQ(s.major, 5);
    // A fresh card: all its DBCs are free.
    EXPECT_GE(activate_all(fd2).size(), 1u);
    uint32_t h;
    EXPECT_EQ(create_bo(fd2, kPage, &h), 0);
    EXPECT_EQ(qaic_close(fd2), 0);
    // The old file closes normally.
}

} // namespace
