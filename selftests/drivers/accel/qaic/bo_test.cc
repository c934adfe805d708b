// SPDX-License-Identifier: GPL-2.0-only
// DRM_IOCTL_QAIC_CREATE_BO and DRM_IOCTL_GEM_CLOSE of BOs.
#include "qaic_helpers.h"

#include <set>

namespace {

using namespace selftest;

TEST_F(CreateBo, GivesAHandle)
{
    uint32_t h = 0;
    ASSERT_EQ(create_bo(fd, kPage, &h), 0);
    EXPECT_NE(h, 0u);
    EXPECT_EQ(gem_close(fd, h), 0);
}

// The size is rounded up to whole pages: the mapping may cover the rounded size, no more.
TEST_F(CreateBo, RoundsSizeUpToPages)
{
    const struct {
        uint64_t size, rounded;
    } cases[] = {{1, kPage}, {kPage - 1, kPage}, {kPage, kPage}, {kPage + 1, 2 * kPage},
                 {3 * kPage + 17, 4 * kPage}};
    for (const auto &c : cases) {
        SCOPED_TRACE(c.size);
        uint32_t h;
        ASSERT_EQ(create_bo(fd, c.size, &h), 0);
        void *p = map_bo(fd, h, c.rounded);
        ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
        EXPECT_EQ(qaic_munmap(p, c.rounded), 0);
        errno = 0;
        EXPECT_EQ(map_bo(fd, h, c.rounded + 1), MAP_FAILED);
        EXPECT_EQ(errno, EINVAL);
        EXPECT_EQ(gem_close(fd, h), 0);
    }
}

TEST_F(CreateBo, MemoryIsZeroed)
{
    const size_t size = 1 << 20;
    uint32_t h;
    ASSERT_EQ(create_bo(fd, size, &h), 0);
    auto *p = static_cast<uint8_t *>(map_bo(fd, h, size));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    for (size_t i = 0; i < size; ++i)
        ASSERT_EQ(p[i], 0) << "byte " << i;
    EXPECT_EQ(qaic_munmap(p, size), 0);
    EXPECT_EQ(gem_close(fd, h), 0);
}

// Memory a freed BO dirtied comes back zeroed in the next one.
TEST_F(CreateBo, ReusedMemoryIsZeroed)
{
    const size_t size = 256 * kPage;
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(round);
        uint32_t h;
        ASSERT_EQ(create_bo(fd, size, &h), 0);
        auto *p = static_cast<uint8_t *>(map_bo(fd, h, size));
        ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
        for (size_t i = 0; i < size; ++i)
            ASSERT_EQ(p[i], 0) << "byte " << i;
        std::memset(p, 0xA5, size);
        EXPECT_EQ(qaic_munmap(p, size), 0);
        EXPECT_EQ(gem_close(fd, h), 0);
    }
}

TEST_F(CreateBo, PadIsEinval)
{
    qaic_create_bo c{};
    c.size = kPage;
    c.pad = 1;
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_CREATE_BO, &c), -EINVAL);
}

TEST_F(CreateBo, SizeZeroIsEinval)
{
    EXPECT_EQ(create_bo(fd, 0, nullptr), -EINVAL);
}

TEST_F(CreateBo, SizeWhoseRoundingOverflowsIsEinval)
{
    EXPECT_EQ(create_bo(fd, UINT64_MAX, nullptr), -EINVAL);
    EXPECT_EQ(create_bo(fd, UINT64_MAX - kPage + 2, nullptr), -EINVAL);
}

TEST_F(CreateBo, BeyondTheMemoryLimitIsEnomem)
{
    // Rounds fine but no driver can back it: refused now, not "lazily".
    EXPECT_EQ(create_bo(fd, uint64_t(1) << 62, nullptr), -ENOMEM);
    EXPECT_EQ(create_bo(fd, UINT64_MAX - kPage + 1, nullptr), -ENOMEM);
    // A failed allocation leaves nothing behind: a normal BO still works.
    uint32_t h;
    ASSERT_EQ(create_bo(fd, kPage, &h), 0);
    EXPECT_EQ(gem_close(fd, h), 0);
}

TEST_F(CreateBo, HandlesAreDistinct)
{
    std::set<uint32_t> seen;
    for (int i = 0; i < 64; ++i) {
        uint32_t h;
        ASSERT_EQ(create_bo(fd, kPage, &h), 0);
        EXPECT_NE(h, 0u);
        EXPECT_TRUE(seen.insert(h).second) << "handle " << h << " given twice";
    }
    for (uint32_t h : seen)
        EXPECT_EQ(gem_close(fd, h), 0);
}

// Ours: handles are allocated cyclically, so a closed handle is not handed out again soon.
TEST_F(CreateBo, DoesNotReuseAClosedHandle)
{
    if (!on_sim())
        GTEST_SKIP() << "cyclic handle allocation is this driver's, upstream DRM reuses";
    uint32_t a, b;
    ASSERT_EQ(create_bo(fd, kPage, &a), 0);
    ASSERT_EQ(gem_close(fd, a), 0);
    ASSERT_EQ(create_bo(fd, kPage, &b), 0);
    EXPECT_NE(a, b);
    EXPECT_EQ(gem_close(fd, b), 0);
}

// Handles are per file: two files each count from their own start and see only their own.
TEST_F(CreateBo, HandlesArePerFile)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    uint32_t h;
    ASSERT_EQ(create_bo(fd2, kPage, &h), 0);
    EXPECT_EQ(h, 1u) << "handles start at 1 in every file";
    uint64_t off;
    EXPECT_EQ(mmap_offset(fd, h, &off), -ENOENT);
    EXPECT_EQ(gem_close(fd, h), -EINVAL);
    EXPECT_EQ(mmap_offset(fd2, h, &off), 0);
    EXPECT_EQ(qaic_close(fd2), 0);
}

TEST_F(CreateBo, ManyBos)
{
    std::vector<uint32_t> handles;
    for (int i = 0; i < 2000; ++i) {
        uint32_t h;
        ASSERT_EQ(create_bo(fd, kPage * (1 + i % 8), &h), 0) << "BO " << i;
        handles.push_back(h);
    }
    std::set<uint32_t> distinct(handles.begin(), handles.end());
    EXPECT_EQ(distinct.size(), handles.size());
    for (uint32_t h : handles)
        ASSERT_EQ(gem_close(fd, h), 0);
}

// Closing the file releases every BO it still holds: their memory is available again.
TEST_F(FileClose, ReleasesTheFilesBos)
{
    // Each round holds 1 GiB without closing it; 16 rounds exceed the 8 GiB pool unless each
    // closed file gives its BOs back. The memory is never touched, so this costs nothing.
    for (int round = 0; round < 16; ++round) {
        int fd2 = qaic_open(nullptr);
        ASSERT_GE(fd2, 0);
        EXPECT_EQ(create_bo(fd2, uint64_t(1) << 30, nullptr), 0) << "round " << round;
        ASSERT_EQ(qaic_close(fd2), 0);
    }
}

TEST_F(GemClose, ReleasesTheHandle)
{
    uint32_t h;
    ASSERT_EQ(create_bo(fd, kPage, &h), 0);
    ASSERT_EQ(gem_close(fd, h), 0);
    EXPECT_EQ(gem_close(fd, h), -EINVAL);
    uint64_t off;
    EXPECT_EQ(mmap_offset(fd, h, &off), -ENOENT);
}

// Upstream DRM ignores drm_gem_close.pad.
TEST_F(GemClose, PadIsIgnored)
{
    uint32_t h;
    ASSERT_EQ(create_bo(fd, kPage, &h), 0);
    drm_gem_close c{};
    c.handle = h;
    c.pad = 0xFFFFFFFF;
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_GEM_CLOSE, &c), 0);
    EXPECT_EQ(gem_close(fd, h), -EINVAL);
}

} // namespace
