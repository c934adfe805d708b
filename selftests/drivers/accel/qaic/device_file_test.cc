// SPDX-License-Identifier: GPL-2.0-only
// The device-file ABI of libqaic: fds, EBADF, backend choice.
#include "selftest.h"

#include <cstring>
#include <fcntl.h>
#include <qaic/qaic_sim.h>
#include <sys/mman.h>
#include <unistd.h>

namespace {

using selftest::ioctl_err;
using selftest::DeviceFile;

TEST_F(DeviceFile, FdIsARealDescriptor)
{
    EXPECT_NE(fcntl(fd, F_GETFD), -1);
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

TEST_F(DeviceFile, EveryOpenIsANewFile)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    EXPECT_NE(fd2, fd);
    drm_version v{};
    EXPECT_EQ(ioctl_err(fd2, DRM_IOCTL_VERSION, &v), 0);
    EXPECT_EQ(qaic_close(fd2), 0);
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_VERSION, &v), 0);
}

TEST_F(DeviceFile, ClosedFdIsEbadf)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    ASSERT_EQ(qaic_close(fd2), 0);
    errno = 0;
    EXPECT_EQ(qaic_close(fd2), -1);
    EXPECT_EQ(errno, EBADF);
    drm_version v{};
    EXPECT_EQ(ioctl_err(fd2, DRM_IOCTL_VERSION, &v), -EBADF);
}

TEST(DeviceFileCalls, UnknownFdIsEbadf)
{
    drm_version v{};
    errno = 0;
    EXPECT_EQ(qaic_ioctl(-1, DRM_IOCTL_VERSION, &v), -1);
    EXPECT_EQ(errno, EBADF);
    // A real descriptor libqaic did not open is not a device file either.
    int other = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(other, 0);
    EXPECT_EQ(ioctl_err(other, DRM_IOCTL_VERSION, &v), -EBADF);
    errno = 0;
    EXPECT_EQ(qaic_mmap(nullptr, 4096, PROT_READ, MAP_SHARED, other, 0), MAP_FAILED);
    EXPECT_EQ(errno, EBADF);
    errno = 0;
    EXPECT_EQ(qaic_close(other), -1);
    EXPECT_EQ(errno, EBADF);
    close(other);
}

TEST(DeviceFileOpen, MissingNodeIsEnoent)
{
    errno = 0;
    EXPECT_EQ(qaic_open("/dev/accel/no-such-node"), -1);
    EXPECT_EQ(errno, ENOENT);
}

TEST(DeviceFileOpen, SimIsAlwaysThere)
{
    int fd = qaic_open("sim");
    if (fd < 0 && errno == ENODEV)
        GTEST_SKIP() << "libqaic built without the simulated card (CONFIG_QAIC_SIM=n)";
    ASSERT_GE(fd, 0);
    char name[8] = {};
    drm_version v{};
    v.name = name;
    v.name_len = sizeof(name) - 1;
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_VERSION, &v), 0);
    EXPECT_STREQ(name, "qaic");
    EXPECT_EQ(qaic_close(fd), 0);
}

// The card's PCI ids name one of the cards qaic drives (its profile), and its DBC count is
// every known card's: 16, fewer only on a simulated card built with fewer.
TEST_F(DeviceFile, SimCardIsAKnownCard)
{
    int id = qaic_sim_pci_id(fd);
    if (id < 0 && errno == ENODEV)
        GTEST_SKIP() << "not a simulated card";
    ASSERT_GE(id, 0) << std::strerror(errno);
    EXPECT_EQ(unsigned(id) >> 16, 0x17cbu);
    unsigned device = unsigned(id) & 0xffff;
    EXPECT_TRUE(device == 0xa100 || device == 0xa080 || device == 0xa110) << std::hex << device;
    int n = qaic_sim_num_dbc(fd);
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 16);
    EXPECT_EQ(qaic_sim_pci_id(-1), -1);
    EXPECT_EQ(errno, EBADF);
}

TEST(DeviceFileCalls, MmapOfUnknownOffsetIsEinval)
{
    int fd = qaic_open(nullptr);
    ASSERT_GE(fd, 0);
    errno = 0;
    EXPECT_EQ(qaic_mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0x100000000), MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(qaic_close(fd), 0);
}

TEST(DeviceFileCalls, MunmapOfOrdinaryMemoryWorks)
{
    void *p = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    EXPECT_EQ(qaic_munmap(p, 4096), 0);
    errno = 0;
    EXPECT_EQ(qaic_munmap(static_cast<char *>(p) + 1, 4096), -1);
    EXPECT_EQ(errno, EINVAL);
}

} // namespace
