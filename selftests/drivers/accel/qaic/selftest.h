// SPDX-License-Identifier: GPL-2.0-only
// Common fixture of the uAPI selftests. They use nothing but libqaic's device-file ABI and
// the uAPI, so they run unchanged on the simulated card and on a real /dev/accel node; the
// device comes from $QAIC_DEVICE (default: a real qaic node if present, else a running
// qaicd's default socket, else "sim").
#pragma once

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <drm.h>
#include <drm/qaic_accel.h>
#include <gtest/gtest.h>
#include <qaic/qaic.h>
#include <string>
#include <sys/stat.h>

namespace selftest {

// Whether the device the suite runs against (as qaic_open(NULL) resolves it) is a simulated
// card: the embedded one, or one that qaicd serves at a socket.
inline bool on_sim()
{
    const char *env = std::getenv("QAIC_DEVICE");
    struct stat st;
    return !env || !*env || std::strcmp(env, "sim") == 0 ||
           (stat(env, &st) == 0 && S_ISSOCK(st.st_mode));
}

// -errno of a failed call, 0 on success: tests compare with the exact errno.
inline int ioctl_err(int fd, unsigned long request, void *arg)
{
    return qaic_ioctl(fd, request, arg) == 0 ? 0 : -errno;
}

class Qaic : public testing::Test {
protected:
    void SetUp() override
    {
        fd = qaic_open(nullptr);
        ASSERT_GE(fd, 0) << "qaic_open: " << std::strerror(errno);
    }
    void TearDown() override
    {
        if (fd >= 0) {
            EXPECT_EQ(qaic_close(fd), 0);
        }
    }
    int fd = -1;
};

// The suites whose cases need nothing but Qaic's open file, one class each. A suite is named
// after the ioctl or behaviour its cases test (docs/testing.md, "Suite names"); a suite's
// cases may live in several files, which must all use the same fixture class.
class CreateBo : public Qaic {};
class DeviceFile : public Qaic {};
class DeviceRemoval : public Qaic {};
class DrmVersion : public Qaic {};
class FileClose : public Qaic {};
class GemClose : public Qaic {};
class IoctlDispatch : public Qaic {};
class ManageActivate : public Qaic {};
class ManageDeactivate : public Qaic {};
class ManageDmaXfer : public Qaic {};
class ManageFirmwareCommand : public Qaic {};
class ManageFirmwareFaults : public Qaic {};
class ManageMessage : public Qaic {};
class ManageNnc : public Qaic {};
class ManageStatus : public Qaic {};
class MmapOwnBo : public Qaic {};
class SimTestControl : public Qaic {};

} // namespace selftest
