// SPDX-License-Identifier: GPL-2.0-only
// DRM_IOCTL_QAIC_MMAP_BO, qaic_mmap and qaic_munmap of BOs.
#include "qaic_helpers.h"

#include <atomic>
#include <thread>

namespace {

using namespace selftest;

// A fixture with one BO of kSize bytes and its fake offset.
class MmapFixture : public Qaic {
protected:
    static constexpr size_t kSize = 4 * kPage;

    void SetUp() override
    {
        Qaic::SetUp();
        ASSERT_EQ(create_bo(fd, kSize, &bo), 0);
        ASSERT_EQ(mmap_offset(fd, bo, &offset), 0);
    }

    void *map(size_t len, int flags = MAP_SHARED, uint64_t off = 0)
    {
        return qaic_mmap(nullptr, len, PROT_READ | PROT_WRITE, flags, fd,
                         off_t(off ? off : offset));
    }

    uint32_t bo = 0;
    uint64_t offset = 0;
};

// MMAP_BO and qaic_mmap of the fixture's BO; qaic_munmap of its mappings.
class MmapBo : public MmapFixture {};
class MunmapBo : public MmapFixture {};

// errno of a qaic_mmap expected to fail.
int mmap_errno(void *p)
{
    return p == MAP_FAILED ? errno : 0;
}

TEST_F(MmapBo, OffsetIsPageAlignedAndStable)
{
    EXPECT_NE(offset, 0u);
    EXPECT_EQ(offset % kPage, 0u);
    uint64_t again;
    ASSERT_EQ(mmap_offset(fd, bo, &again), 0);
    EXPECT_EQ(again, offset);
}

TEST_F(MmapBo, OffsetsOfDifferentBosDiffer)
{
    uint32_t bo2;
    uint64_t off2;
    ASSERT_EQ(create_bo(fd, kPage, &bo2), 0);
    ASSERT_EQ(mmap_offset(fd, bo2, &off2), 0);
    EXPECT_NE(off2, offset);
}

TEST_F(MmapBo, WriteAndReadBack)
{
    auto *p = static_cast<uint32_t *>(map(kSize));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    for (size_t i = 0; i < kSize / 4; ++i)
        p[i] = uint32_t(i * 2654435761u);
    for (size_t i = 0; i < kSize / 4; ++i)
        ASSERT_EQ(p[i], uint32_t(i * 2654435761u)) << "word " << i;
    EXPECT_EQ(qaic_munmap(p, kSize), 0);
    // The data lives in the BO, not in the mapping.
    p = static_cast<uint32_t *>(map(kSize));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    EXPECT_EQ(p[kSize / 4 - 1], uint32_t((kSize / 4 - 1) * 2654435761u));
    EXPECT_EQ(qaic_munmap(p, kSize), 0);
}

TEST_F(MmapBo, TwoMappingsShareTheData)
{
    auto *a = static_cast<uint8_t *>(map(kSize));
    ASSERT_NE(a, MAP_FAILED) << std::strerror(errno);
    auto *b = static_cast<uint8_t *>(map(kSize));
    ASSERT_NE(b, MAP_FAILED) << std::strerror(errno);
    EXPECT_NE(a, b);
    a[0] = 1;
    a[kSize - 1] = 2;
    EXPECT_EQ(b[0], 1);
    EXPECT_EQ(b[kSize - 1], 2);
    b[kPage + 5] = 3;
    EXPECT_EQ(a[kPage + 5], 3);
    EXPECT_EQ(qaic_munmap(a, kSize), 0);
    EXPECT_EQ(b[0], 1);
    EXPECT_EQ(qaic_munmap(b, kSize), 0);
}

TEST_F(MmapBo, PrefixOfTheBo)
{
    // len may be less than the BO (and is rounded up to pages).
    auto *p = static_cast<uint8_t *>(map(kPage + 1));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    p[2 * kPage - 1] = 7;
    EXPECT_EQ(qaic_munmap(p, 2 * kPage), 0);
}

TEST_F(MmapBo, LenBeyondTheBoIsEinval)
{
    EXPECT_EQ(mmap_errno(map(kSize + 1)), EINVAL);
    EXPECT_EQ(mmap_errno(map(kSize + kPage)), EINVAL);
    EXPECT_EQ(mmap_errno(map(SIZE_MAX)), EINVAL);
}

TEST_F(MmapBo, LenZeroIsEinval)
{
    EXPECT_EQ(mmap_errno(map(0)), EINVAL);
}

TEST_F(MmapBo, MapPrivateIsEinval)
{
    EXPECT_EQ(mmap_errno(map(kSize, MAP_PRIVATE)), EINVAL);
}

TEST_F(MmapBo, WrongOffsetIsEinval)
{
    EXPECT_EQ(mmap_errno(map(kPage, MAP_SHARED, offset + kPage)), EINVAL); // inside the BO
    EXPECT_EQ(mmap_errno(map(kPage, MAP_SHARED, offset + 1)), EINVAL);     // unaligned
    EXPECT_EQ(mmap_errno(map(kPage, MAP_SHARED, offset + kSize)), EINVAL); // past it
    EXPECT_EQ(mmap_errno(map(kPage, MAP_SHARED, offset - kPage)), EINVAL);
}

TEST_F(MmapBo, OffsetOfAnotherFilesBoIsEacces)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    uint32_t bo2;
    uint64_t off2;
    ASSERT_EQ(create_bo(fd2, kPage, &bo2), 0);
    ASSERT_EQ(mmap_offset(fd2, bo2, &off2), 0);
    errno = 0;
    EXPECT_EQ(qaic_mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(off2)),
              MAP_FAILED);
    EXPECT_EQ(errno, EACCES);
    // And the other way round.
    errno = 0;
    EXPECT_EQ(qaic_mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd2, off_t(offset)), MAP_FAILED);
    EXPECT_EQ(errno, EACCES);
    EXPECT_EQ(qaic_close(fd2), 0);
}

TEST_F(MmapBo, PadIsEinval)
{
    qaic_mmap_bo m{};
    m.handle = bo;
    m.pad = 1;
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_MMAP_BO, &m), -EINVAL);
}

TEST_F(MmapBo, UnknownHandleIsEnoent)
{
    uint64_t off;
    EXPECT_EQ(mmap_offset(fd, 0, &off), -ENOENT);
    EXPECT_EQ(mmap_offset(fd, bo + 1000, &off), -ENOENT);
}

// A mapping holds the BO: after GEM_CLOSE its pages are still there, shared with nobody new.
TEST_F(MmapBo, MappingKeepsTheBoAliveAfterGemClose)
{
    auto *p = static_cast<uint8_t *>(map(kSize));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    std::memset(p, 0x5A, kSize);
    ASSERT_EQ(gem_close(fd, bo), 0);
    for (size_t i = 0; i < kSize; ++i)
        ASSERT_EQ(p[i], 0x5A) << "byte " << i;
    p[kSize - 1] = 0x11;
    EXPECT_EQ(p[kSize - 1], 0x11);
    // The file holds no handle to it any more, so it may not map it again.
    EXPECT_EQ(mmap_errno(map(kSize)), EACCES);
    // Its memory is not handed to a new BO while mapped.
    uint32_t h2;
    ASSERT_EQ(create_bo(fd, kSize, &h2), 0);
    auto *q = static_cast<uint8_t *>(map_bo(fd, h2, kSize));
    ASSERT_NE(q, MAP_FAILED) << std::strerror(errno);
    std::memset(q, 0, kSize);
    EXPECT_EQ(p[0], 0x5A);
    EXPECT_EQ(qaic_munmap(q, kSize), 0);
    EXPECT_EQ(qaic_munmap(p, kSize), 0);
    // Gone for good now: its offset leads nowhere.
    EXPECT_EQ(mmap_errno(map(kSize)), EINVAL);
}

// A mapping also holds the file: closing the fd leaves the mapping usable until munmap.
TEST_F(MmapBo, MappingKeepsTheFileAlive)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    uint32_t h;
    ASSERT_EQ(create_bo(fd2, kSize, &h), 0);
    auto *p = static_cast<uint8_t *>(map_bo(fd2, h, kSize));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    ASSERT_EQ(qaic_close(fd2), 0);
    p[0] = 9;
    p[kSize - 1] = 10;
    EXPECT_EQ(p[0] + p[kSize - 1], 19);
    EXPECT_EQ(qaic_munmap(p, kSize), 0);
}

// Whether any page of [p, p + len) is mapped (mincore fails with ENOMEM on a hole).
bool fully_unmapped(const void *p, size_t len)
{
    for (size_t off = 0; off < len; off += kPage) {
        unsigned char vec;
        if (mincore(const_cast<char *>(static_cast<const char *>(p)) + off, kPage, &vec) == 0 ||
            errno != ENOMEM)
            return false;
    }
    return true;
}

// As munmap(2): part of a mapping may be unmapped; the rest stays, still holding the BO.
TEST_F(MunmapBo, PartOfAMappingUnmapsOnlyThatPart)
{
    auto *p = static_cast<uint8_t *>(map(kSize));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    for (size_t i = 0; i < kSize; ++i)
        p[i] = uint8_t(i / kPage + 1);
    ASSERT_EQ(gem_close(fd, bo), 0);
    EXPECT_EQ(qaic_munmap(p, kPage), 0);             // the head
    EXPECT_EQ(qaic_munmap(p + 2 * kPage, kPage), 0); // the middle: two pieces remain
    EXPECT_TRUE(fully_unmapped(p, kPage));
    EXPECT_TRUE(fully_unmapped(p + 2 * kPage, kPage));
    EXPECT_EQ(p[kPage], 2);
    EXPECT_EQ(p[2 * kPage - 1], 2);
    EXPECT_EQ(p[3 * kPage], 4);
    EXPECT_EQ(p[kSize - 1], 4);
    // The pieces hold the BO: its offset is still there (EACCES: no handle, not EINVAL).
    EXPECT_EQ(mmap_errno(map(kPage)), EACCES);
    EXPECT_EQ(qaic_munmap(p + 3 * kPage, kPage), 0);
    EXPECT_EQ(p[kPage], 2);
    EXPECT_EQ(mmap_errno(map(kPage)), EACCES);
    // A range over holes and the last piece, as munmap(2) allows.
    EXPECT_EQ(qaic_munmap(p, kSize), 0);
    EXPECT_TRUE(fully_unmapped(p, kSize));
    EXPECT_EQ(mmap_errno(map(kPage)), EINVAL); // the BO is gone
}

TEST_F(MunmapBo, RulesAreMunmaps)
{
    auto *p = static_cast<uint8_t *>(map(kSize));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    errno = 0;
    EXPECT_EQ(qaic_munmap(p + 1, kPage), -1);
    EXPECT_EQ(errno, EINVAL);
    errno = 0;
    EXPECT_EQ(qaic_munmap(p, 0), -1);
    EXPECT_EQ(errno, EINVAL);
    // Still whole and working.
    p[kSize - 1] = 1;
    EXPECT_EQ(p[kSize - 1], 1);
    EXPECT_EQ(qaic_munmap(p, kSize), 0);
}

// qaic_mmap with MAP_FIXED over the user's own memory maps the BO there.
TEST_F(MmapBo, MapFixedOverOwnMemory)
{
    void *mine =
        mmap(nullptr, 2 * kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mine, MAP_FAILED);
    auto *at = static_cast<uint8_t *>(mine) + kPage;
    auto *p = static_cast<uint8_t *>(
        qaic_mmap(at, kSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, off_t(offset)));
    ASSERT_EQ(p, at) << std::strerror(errno);
    p[0] = 0x42;
    auto *q = static_cast<uint8_t *>(map(kSize));
    ASSERT_NE(q, MAP_FAILED) << std::strerror(errno);
    EXPECT_EQ(q[0], 0x42);
    EXPECT_EQ(qaic_munmap(q, kSize), 0);
    EXPECT_EQ(qaic_munmap(p, kSize), 0);
    EXPECT_EQ(munmap(mine, 2 * kSize), 0);
}

TEST_F(MmapBo, MapFixedAtAnUnalignedAddressIsEinval)
{
    auto *p = static_cast<uint8_t *>(map(kSize));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    errno = 0;
    EXPECT_EQ(qaic_mmap(p + 1, kPage, PROT_READ, MAP_SHARED | MAP_FIXED, fd, off_t(offset)),
              MAP_FAILED);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(qaic_munmap(p, kSize), 0);
}

// A BO mapped with MAP_FIXED over the start of another BO's mapping replaces only those
// pages: the rest of the old mapping still shows the old BO, which lives on (after its
// GEM_CLOSE) until its last page is unmapped, and a new BO never shares its pages.
TEST_F(MmapOwnBo, MapFixedOverPartOfAMappingKeepsTheRestOfTheBo)
{
    const size_t big = 1 << 20;
    uint32_t h1, h2, h3;
    ASSERT_EQ(create_bo(fd, big, &h1), 0);
    ASSERT_EQ(create_bo(fd, kPage, &h2), 0);
    auto *p = static_cast<uint8_t *>(map_bo(fd, h1, big));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    std::memset(p, 0x5A, big);
    ASSERT_EQ(gem_close(fd, h1), 0); // the mapping alone holds BO1
    uint64_t off2;
    ASSERT_EQ(mmap_offset(fd, h2, &off2), 0);
    void *q = qaic_mmap(p, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, off_t(off2));
    ASSERT_EQ(q, p) << std::strerror(errno);
    EXPECT_EQ(p[0], 0); // BO2, new
    for (size_t i = kPage; i < big; ++i)
        ASSERT_EQ(p[i], 0x5A) << "BO1's byte " << i << " lost";

    // Another file's new BO reads zero, and the old addresses do not reach it.
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    std::memset(p + kPage, 0xA5, big - kPage);
    ASSERT_EQ(create_bo(fd2, big, &h3), 0);
    auto *r = static_cast<uint8_t *>(map_bo(fd2, h3, big));
    ASSERT_NE(r, MAP_FAILED) << std::strerror(errno);
    for (size_t i = 0; i < big; ++i)
        ASSERT_EQ(r[i], 0) << "new BO's byte " << i;
    std::memset(r, 0x3C, big);
    for (size_t i = kPage; i < big; ++i)
        ASSERT_EQ(p[i], 0xA5) << "byte " << i;
    EXPECT_EQ(qaic_munmap(r, big), 0);
    EXPECT_EQ(qaic_close(fd2), 0);
    EXPECT_EQ(qaic_munmap(p, big), 0); // both mappings at once
    EXPECT_TRUE(fully_unmapped(p, big));
}

// MAP_FIXED into the middle of a mapping splits it; each piece can be unmapped on its own.
TEST_F(MmapBo, MapFixedIntoTheMiddleSplitsTheMapping)
{
    auto *p = static_cast<uint8_t *>(map(kSize));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    std::memset(p, 0x77, kSize);
    uint32_t h2;
    uint64_t off2;
    ASSERT_EQ(create_bo(fd, kPage, &h2), 0);
    ASSERT_EQ(mmap_offset(fd, h2, &off2), 0);
    ASSERT_EQ(gem_close(fd, bo), 0);
    auto *mid = p + kPage;
    ASSERT_EQ(qaic_mmap(mid, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, off_t(off2)),
              mid)
        << std::strerror(errno);
    EXPECT_EQ(mid[0], 0);
    EXPECT_EQ(p[0], 0x77);
    EXPECT_EQ(p[2 * kPage], 0x77);
    EXPECT_EQ(qaic_munmap(p, kPage), 0); // the head piece, whole
    EXPECT_EQ(p[kSize - 1], 0x77);
    EXPECT_EQ(mmap_errno(map(kPage)), EACCES); // the tail piece holds the BO
    EXPECT_EQ(qaic_munmap(mid, kPage), 0);
    EXPECT_EQ(qaic_munmap(p + 2 * kPage, kSize - 2 * kPage), 0);
    EXPECT_EQ(mmap_errno(map(kPage)), EINVAL);
}

TEST_F(MunmapBo, ALenRoundingToTheMappingWorks)
{
    auto *p = static_cast<uint8_t *>(map(kSize));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    EXPECT_EQ(qaic_munmap(p, kSize - kPage + 1), 0); // rounds up to the whole mapping
}

// A BO of several 4 MiB chunks still maps as one contiguous range.
TEST_F(MmapOwnBo, LargeBoMapsContiguously)
{
    const size_t size = 9 << 20;
    uint32_t h;
    ASSERT_EQ(create_bo(fd, size, &h), 0);
    auto *p = static_cast<uint64_t *>(map_bo(fd, h, size));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    for (size_t i = 0; i < size / 8; ++i)
        p[i] = i ^ 0x9E3779B97F4A7C15ull;
    EXPECT_EQ(qaic_munmap(p, size), 0);
    p = static_cast<uint64_t *>(map_bo(fd, h, size));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    for (size_t i = 0; i < size / 8; ++i)
        ASSERT_EQ(p[i], i ^ 0x9E3779B97F4A7C15ull) << "word " << i;
    EXPECT_EQ(qaic_munmap(p, size), 0);
    EXPECT_EQ(gem_close(fd, h), 0);
}

// Concurrent BO life cycles on one file: each thread sees only its own data.
TEST_F(CreateBo, BosFromManyThreads)
{
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                uint32_t h;
                if (create_bo(fd, 2 * kPage, &h) != 0) {
                    ++bad;
                    continue;
                }
                auto *p = static_cast<uint8_t *>(map_bo(fd, h, 2 * kPage));
                if (p == MAP_FAILED) {
                    ++bad;
                } else {
                    std::memset(p, t + 1, 2 * kPage);
                    if (p[0] != t + 1 || p[2 * kPage - 1] != t + 1)
                        ++bad;
                    if (qaic_munmap(p, 2 * kPage) != 0)
                        ++bad;
                }
                if (gem_close(fd, h) != 0)
                    ++bad;
            }
        });
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(bad.load(), 0);
}

} // namespace
