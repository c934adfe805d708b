// SPDX-License-Identifier: GPL-2.0-only
// The generic DRM ioctls of a qaic file and the dispatch rules every ioctl shares.
#include "selftest.h"

#include <sys/mman.h>
#include <unistd.h>
#include <atomic>
#include <thread>
#include <vector>

namespace {

using selftest::ioctl_err;
using selftest::DrmVersion;
using selftest::GemClose;
using selftest::IoctlDispatch;
using selftest::Qaic;

TEST_F(DrmVersion, NamesTheDriver)
{
    char name[32] = {}, desc[64] = {}, date[32] = {};
    drm_version v{};
    v.name = name;
    v.name_len = sizeof(name) - 1;
    v.desc = desc;
    v.desc_len = sizeof(desc) - 1;
    v.date = date;
    v.date_len = sizeof(date) - 1;
    ASSERT_EQ(ioctl_err(fd, DRM_IOCTL_VERSION, &v), 0);
    EXPECT_STREQ(name, "qaic");
    EXPECT_STREQ(desc, "Qualcomm Cloud AI Accelerators");
    EXPECT_EQ(v.name_len, 4u);
    EXPECT_EQ(v.desc_len, strlen("Qualcomm Cloud AI Accelerators"));
}

TEST_F(DrmVersion, WithNoBuffersReportsLengths)
{
    drm_version v{};
    ASSERT_EQ(ioctl_err(fd, DRM_IOCTL_VERSION, &v), 0);
    EXPECT_EQ(v.name_len, 4u);
    EXPECT_EQ(v.desc_len, strlen("Qualcomm Cloud AI Accelerators"));
}

TEST_F(DrmVersion, TruncatesToTheBuffer)
{
    char name[8];
    memset(name, 'x', sizeof(name));
    drm_version v{};
    v.name = name;
    v.name_len = 2;
    ASSERT_EQ(ioctl_err(fd, DRM_IOCTL_VERSION, &v), 0);
    EXPECT_EQ(name[0], 'q');
    EXPECT_EQ(name[1], 'a');
    EXPECT_EQ(name[2], 'x');
    EXPECT_EQ(v.name_len, 4u);
}

TEST_F(DrmVersion, BadStringPointerIsEfault)
{
    drm_version v{};
    v.desc = reinterpret_cast<char *>(16);
    v.desc_len = 8;
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_VERSION, &v), -EFAULT);
}

TEST_F(GemClose, UnknownHandleIsEinval)
{
    drm_gem_close c{};
    c.handle = 0;
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_GEM_CLOSE, &c), -EINVAL);
    c.handle = 12345;
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_GEM_CLOSE, &c), -EINVAL);
}

TEST_F(IoctlDispatch, DriverIndexPastTheTableIsEinval)
{
    uint64_t arg[4] = {};
    for (unsigned nr = DRM_COMMAND_BASE + 9; nr < DRM_COMMAND_END; ++nr)
        EXPECT_EQ(ioctl_err(fd, DRM_IOWR(nr, uint64_t[4]), arg), -EINVAL) << "nr " << nr;
}

TEST_F(IoctlDispatch, UnsupportedCoreIoctlIsEinval)
{
    drm_unique u{};
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_GET_UNIQUE, &u), -EINVAL);
}

// Every implemented ioctl refuses a bad argument pointer with EFAULT, whether the pointer is
// null, unmapped, or (for ioctls that write back) read-only.
struct IoctlCase {
    const char *name;
    unsigned long request;
};
const IoctlCase kImplemented[] = {
    {"DRM_IOCTL_VERSION", DRM_IOCTL_VERSION},
    {"DRM_IOCTL_GEM_CLOSE", DRM_IOCTL_GEM_CLOSE},
    {"DRM_IOCTL_QAIC_MANAGE", DRM_IOCTL_QAIC_MANAGE},
    {"DRM_IOCTL_QAIC_CREATE_BO", DRM_IOCTL_QAIC_CREATE_BO},
    {"DRM_IOCTL_QAIC_MMAP_BO", DRM_IOCTL_QAIC_MMAP_BO},
    {"DRM_IOCTL_QAIC_ATTACH_SLICE_BO", DRM_IOCTL_QAIC_ATTACH_SLICE_BO},
    {"DRM_IOCTL_QAIC_DETACH_SLICE_BO", DRM_IOCTL_QAIC_DETACH_SLICE_BO},
};

class BadPointer : public Qaic, public testing::WithParamInterface<IoctlCase> {};

TEST_P(BadPointer, NullIsEfault)
{
    EXPECT_EQ(ioctl_err(fd, GetParam().request, nullptr), -EFAULT);
}

TEST_P(BadPointer, UnmappedIsEfault)
{
    long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(nullptr, size_t(page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    ASSERT_EQ(munmap(p, size_t(page)), 0);
    EXPECT_EQ(ioctl_err(fd, GetParam().request, p), -EFAULT);
}

TEST_P(BadPointer, StraddlingIntoAnUnmappedPageIsEfault)
{
    long page = sysconf(_SC_PAGESIZE);
    auto *p = static_cast<char *>(mmap(nullptr, size_t(2 * page), PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    ASSERT_EQ(munmap(p + page, size_t(page)), 0);
    // The argument starts 4 bytes before the hole.
    EXPECT_EQ(ioctl_err(fd, GetParam().request, p + page - 4), -EFAULT);
    munmap(p, size_t(page));
}

TEST_P(BadPointer, ReadOnlyIsEfaultWhenWrittenBack)
{
    if (!(_IOC_DIR(GetParam().request) & _IOC_READ))
        GTEST_SKIP() << "write-only ioctl: nothing is copied back";
    long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(nullptr, size_t(page), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    EXPECT_EQ(ioctl_err(fd, GetParam().request, p), -EFAULT);
    munmap(p, size_t(page));
}

INSTANTIATE_TEST_SUITE_P(Implemented, BadPointer, testing::ValuesIn(kImplemented),
                         [](const auto &info) { return std::string(info.param.name); });

TEST_F(IoctlDispatch, FromManyThreads)
{
    // Concurrent callers on one file each get a correct, private result.
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                char name[8] = {};
                drm_version v{};
                v.name = name;
                v.name_len = sizeof(name) - 1;
                if (ioctl_err(fd, DRM_IOCTL_VERSION, &v) != 0 || strcmp(name, "qaic") != 0)
                    ++bad;
            }
        });
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(bad.load(), 0);
}

} // namespace
