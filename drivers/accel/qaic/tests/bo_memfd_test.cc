// SPDX-License-Identifier: GPL-2.0-only
// A BO's pages are a memfd of its own (what qaicd hands a client): on the embedded card, the
// memfd holds exactly the BO's bytes, sealed, and CREATE_BO answers ENOMEM, leaving nothing
// behind, when the memfd cannot be made.
#include "drivers/accel/accel.h"
#include "drivers/accel/qaic/qaic.h"
#include "kernel/alloc.h"

#include <cerrno>
#include <cstring>
#include <drm.h>
#include <drm/qaic_accel.h>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <qaic/qaic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

constexpr uint64_t kPage = 4096;

int open_fds()
{
    int n = 0;
    for (auto &e : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)e;
        ++n;
    }
    return n;
}

class BoMemfd : public testing::Test {
protected:
    void SetUp() override
    {
        fd = qaic_open("sim"); // brings the card up: the driver's device is minor 0
        ASSERT_GE(fd, 0) << std::strerror(errno);
        auto dev = accel::find_device(0);
        ASSERT_TRUE(dev);
        qdev = static_cast<qaic::QaicDevice *>(dev.get()); // the registry keeps it while open
        auto f = accel::open_minor(0);
        ASSERT_FALSE(f.is_error());
        file = f.release_value();
    }
    void TearDown() override
    {
        file = nullptr;
        EXPECT_EQ(qaic_close(fd), 0);
    }
    int ioctl(unsigned long cmd, void *arg)
    {
        return accel::ioctl(*file, cmd, kernel::UserPtr<void>(uintptr_t(arg)));
    }
    uint32_t create_bo(uint64_t size)
    {
        qaic_create_bo c{};
        c.size = size;
        EXPECT_EQ(ioctl(DRM_IOCTL_QAIC_CREATE_BO, &c), 0);
        return c.handle;
    }
    uint64_t mmap_offset(uint32_t handle)
    {
        qaic_mmap_bo m{};
        m.handle = handle;
        EXPECT_EQ(ioctl(DRM_IOCTL_QAIC_MMAP_BO, &m), 0);
        return m.offset;
    }

    int fd = -1;
    qaic::QaicDevice *qdev = nullptr;
    kernel::RefPtr<accel::File> file;
};

// What the driver and the device see (the sg table's chunks) is what a mapping of the fd
// that mmap_source gives shows, in order, and the reverse; the fd is sealed at the BO's size
// and shows nothing of another BO.
TEST_F(BoMemfd, MmapSourceIsTheBosOwnSealedMemfd)
{
    // Three chunks: 4 MiB, 8 KiB, 4 KiB.
    uint64_t size = 4 * 1024 * 1024 + 3 * kPage;
    uint32_t h = create_bo(size), other = create_bo(kPage);
    auto src = accel::mmap_source(*file, mmap_offset(h), size);
    ASSERT_FALSE(src.is_error());
    EXPECT_EQ(src.value().offset, 0u);
    int memfd = src.value().fd;
    struct stat st;
    ASSERT_EQ(fstat(memfd, &st), 0);
    EXPECT_EQ(uint64_t(st.st_size), size);
    EXPECT_EQ(fcntl(memfd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    EXPECT_EQ(ftruncate(memfd, 0), -1);
    EXPECT_EQ(errno, EPERM);

    auto bo = qaic::lookup_bo(*file, h);
    ASSERT_FALSE(bo.is_error());
    const auto &sg = bo.value()->sgt().entries;
    ASSERT_GE(sg.size(), 2u);
    uint64_t pos = 0;
    for (const auto &e : sg) {
        auto *w = static_cast<uint64_t *>(e.cpu_addr);
        for (uint64_t i = 0; i < e.length / 8; ++i)
            w[i] = pos + i * 8;
        pos += e.length;
    }
    auto *m = static_cast<uint64_t *>(
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
    ASSERT_NE(m, MAP_FAILED);
    for (uint64_t i = 0; i < size / 8; ++i)
        ASSERT_EQ(m[i], i * 8) << "byte " << i * 8;
    for (uint64_t i = 0; i < size / 8; ++i)
        m[i] = ~(i * 8);
    pos = 0;
    for (const auto &e : sg) {
        auto *w = static_cast<const uint64_t *>(e.cpu_addr);
        for (uint64_t i = 0; i < e.length / 8; ++i)
            ASSERT_EQ(w[i], ~(pos + i * 8)) << "byte " << pos + i * 8;
        pos += e.length;
    }
    ::munmap(m, size);

    auto other_src = accel::mmap_source(*file, mmap_offset(other), kPage);
    ASSERT_FALSE(other_src.is_error());
    EXPECT_NE(other_src.value().fd, memfd);
    ASSERT_EQ(fstat(other_src.value().fd, &st), 0);
    EXPECT_EQ(uint64_t(st.st_size), kPage);
    auto *o = static_cast<const uint8_t *>(
        ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, other_src.value().fd, 0));
    ASSERT_NE(o, MAP_FAILED);
    for (uint64_t i = 0; i < kPage; ++i)
        ASSERT_EQ(o[i], 0) << "byte " << i;
    ::munmap(const_cast<uint8_t *>(o), kPage);

    // Another file holds no handle to the BO.
    auto stranger = accel::open_minor(0);
    ASSERT_FALSE(stranger.is_error());
    EXPECT_EQ(accel::mmap_source(*stranger.value(), mmap_offset(h), size).code(), -EACCES);
}

// Each allocation of CREATE_BO fails in turn, the memfd and its mapping in the pool's range
// among them: ENOMEM, and no pool memory, fd or handle is left behind.
TEST_F(BoMemfd, EachCreateBoFailureIsEnomemAndLeavesNothing)
{
    uint64_t free_before = qdev->pool->free_bytes();
    int fds_before = open_fds();
    size_t handles_before = file->handle_count();
    for (unsigned nth = 1;; ++nth) {
        SCOPED_TRACE(nth);
        ASSERT_LT(nth, 100u) << "CREATE_BO makes more allocations than expected";
        qaic_create_bo c{};
        c.size = 3 * kPage;
        int r;
        bool fired;
        {
            kernel::FailNthAlloc inject(nth);
            EXPECT_NO_THROW(r = ioctl(DRM_IOCTL_QAIC_CREATE_BO, &c));
            fired = inject.fired();
        }
        if (!fired) {
            ASSERT_EQ(r, 0);
            EXPECT_GE(nth, 4u) << "the chunk list, the memfd, its mapping at least";
            drm_gem_close g{};
            g.handle = c.handle;
            EXPECT_EQ(ioctl(DRM_IOCTL_GEM_CLOSE, &g), 0);
            break;
        }
        ASSERT_EQ(r, -ENOMEM);
        EXPECT_EQ(qdev->pool->free_bytes(), free_before);
        EXPECT_EQ(open_fds(), fds_before);
        EXPECT_EQ(file->handle_count(), handles_before);
    }
    EXPECT_EQ(qdev->pool->free_bytes(), free_before);
    EXPECT_EQ(open_fds(), fds_before);
}

// A process out of fds: the memfd cannot be made, and CREATE_BO says ENOMEM (EMFILE is no
// errno of its), with nothing left behind.
TEST_F(BoMemfd, NoFdLeftIsCreateBoEnomem)
{
    uint64_t free_before = qdev->pool->free_bytes();
    rlimit saved;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
    int lowest = dup(0);
    ASSERT_GE(lowest, 0);
    close(lowest);
    rlimit none = saved;
    none.rlim_cur = rlim_t(lowest); // no fd can be opened
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &none), 0);
    qaic_create_bo c{};
    c.size = kPage;
    int r = ioctl(DRM_IOCTL_QAIC_CREATE_BO, &c);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
    EXPECT_EQ(r, -ENOMEM);
    EXPECT_EQ(qdev->pool->free_bytes(), free_before);
    EXPECT_EQ(ioctl(DRM_IOCTL_QAIC_CREATE_BO, &c), 0);
}

} // namespace
