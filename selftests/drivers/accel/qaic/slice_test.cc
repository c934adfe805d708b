// SPDX-License-Identifier: GPL-2.0-only
// DRM_IOCTL_QAIC_ATTACH_SLICE_BO and DRM_IOCTL_QAIC_DETACH_SLICE_BO.
#include "qaic_helpers.h"

#include <unistd.h>

namespace {

using namespace selftest;

// A fixture with an activated DBC and a BO of kSize bytes to slice on it.
class SliceFixture : public Qaic {
protected:
    static constexpr uint64_t kSize = 16 * kPage;

    void SetUp() override
    {
        Qaic::SetUp();
        ASSERT_EQ(activate(fd, 64, &dbc), 0);
        ASSERT_EQ(create_bo(fd, kSize, &bo), 0);
    }

    // ATTACH of one entry over the whole BO after fix(entry).
    template <typename F> int attach_with(F fix)
    {
        qaic_attach_slice_entry e = slice(0, kSize);
        fix(e);
        return attach(fd, bo, dbc, kDirToDev, {e});
    }

    int attach_hdr(const qaic_attach_slice_hdr &hdr, const void *data)
    {
        qaic_attach_slice a{};
        a.hdr = hdr;
        a.data = uintptr_t(data);
        return ioctl_err(fd, DRM_IOCTL_QAIC_ATTACH_SLICE_BO, &a);
    }

    qaic_attach_slice_hdr hdr(uint32_t count = 1) const
    {
        qaic_attach_slice_hdr h{};
        h.count = count;
        h.dbc_id = dbc;
        h.handle = bo;
        h.dir = kDirToDev;
        return h;
    }

    // Each of the four semaphores of an entry, for rules that apply to every one.
    static qaic_sem &sem(qaic_attach_slice_entry &e, int i)
    {
        qaic_sem *s[] = {&e.sem0, &e.sem1, &e.sem2, &e.sem3};
        return *s[i];
    }

    uint32_t dbc = 0;
    uint32_t bo = 0;
};

// ATTACH_SLICE_BO and DETACH_SLICE_BO (with the other ways a slicing ends), one suite each.
class AttachSliceBo : public SliceFixture {};
class DetachSliceBo : public SliceFixture {};

// ---------------------------------------------------------------------------- positive

TEST_F(AttachSliceBo, AttachAndDetach)
{
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), 0);
    EXPECT_EQ(detach(fd, bo), 0);
    EXPECT_EQ(detach(fd, bo), -EINVAL);
}

TEST_F(AttachSliceBo, FromDevice)
{
    ASSERT_EQ(attach(fd, bo, dbc, kDirFromDev, {slice(0, kSize, 0x1000)}), 0);
    EXPECT_EQ(detach(fd, bo), 0);
}

// A detached BO can be attached again, in either direction.
TEST_F(AttachSliceBo, ReattachInBothDirections)
{
    for (uint32_t dir : {kDirToDev, kDirFromDev, kDirFromDev, kDirToDev}) {
        SCOPED_TRACE(dir);
        ASSERT_EQ(attach(fd, bo, dbc, dir, {slice(0, kSize)}), 0);
        ASSERT_EQ(detach(fd, bo), 0);
    }
}

TEST_F(AttachSliceBo, SeveralSlicesWithDoorbellsAndSemaphores)
{
    std::vector<qaic_attach_slice_entry> e;
    for (uint64_t i = 0; i < 4; ++i) {
        auto s = slice(i * 4 * kPage, 4 * kPage, 0x200000 + i * 0x10000);
        s.db_addr = 0x1000 + i * 8;
        s.db_len = 32;
        s.db_data = uint32_t(i + 1);
        s.sem0 = {1, 3, 1, QAIC_SEM_WAIT_GT_0, 0, 0}; // presync
        s.sem1 = {1, 3, 0, QAIC_SEM_DEC, 0, 0};
        s.sem2 = {5, 7, 0, QAIC_SEM_INC, QAIC_SEM_OUTSYNCFENCE, 0};
        e.push_back(s);
    }
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, e), 0);
    EXPECT_EQ(detach(fd, bo), 0);
}

// Slices need not cover the BO, and may overlap.
TEST_F(AttachSliceBo, SlicesAnywhereInTheBo)
{
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev,
                     {slice(100, 1), slice(kSize - 1, 1), slice(0, kSize), slice(4097, 8000)}),
              0);
    EXPECT_EQ(detach(fd, bo), 0);
}

TEST_F(AttachSliceBo, SizeZeroSliceIsOk)
{
    auto e = slice(0, 0);
    e.db_len = 8;
    e.db_addr = 0x3;
    e.db_data = 0xAB;
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {e}), 0);
    EXPECT_EQ(detach(fd, bo), 0);
    // At the very end of the BO too.
    EXPECT_EQ(attach(fd, bo, dbc, kDirFromDev, {slice(kSize, 0)}), 0);
    EXPECT_EQ(detach(fd, bo), 0);
}

// hdr.size is deprecated: the BO's own size counts, whatever it says.
TEST_F(AttachSliceBo, HdrSizeIsIgnored)
{
    auto e = slice(0, kSize);
    for (uint64_t size : {uint64_t(0), uint64_t(1), kSize + 1, UINT64_MAX}) {
        SCOPED_TRACE(size);
        auto h = hdr();
        h.size = size;
        ASSERT_EQ(attach_hdr(h, &e), 0);
        ASSERT_EQ(detach(fd, bo), 0);
    }
}

TEST_F(AttachSliceBo, ExtremeValidFields)
{
    EXPECT_EQ(attach_with([](qaic_attach_slice_entry &e) {
                  e.sem0 = {0xFFF, 31, 1, QAIC_SEM_WAIT_GT_0,
                            QAIC_SEM_INSYNCFENCE | QAIC_SEM_OUTSYNCFENCE, 0};
                  e.sem1 = {0xFFF, 31, 0, QAIC_SEM_WAIT_GT_0, 3, 0};
                  e.sem2 = {0, 0, 0, QAIC_SEM_NOP, 0, 0};
                  e.sem3 = {0xFFF, 0, 0, QAIC_SEM_INIT, 0, 0};
                  e.dev_addr = UINT64_MAX; // the device checks addresses, not ATTACH
                  e.db_addr = UINT64_MAX - 3;
                  e.db_len = 32;
                  e.db_data = UINT32_MAX;
              }),
              0);
    EXPECT_EQ(detach(fd, bo), 0);
}

TEST_F(AttachSliceBo, EveryDoorbellWidthAligned)
{
    const struct {
        uint32_t len;
        uint64_t addr;
    } ok[] = {{0, 0x1001}, {8, 0x1001}, {16, 0x1002}, {32, 0x1004}, {32, 0}};
    for (const auto &c : ok) {
        SCOPED_TRACE(c.len);
        ASSERT_EQ(attach_with([&](qaic_attach_slice_entry &e) {
                      e.db_len = c.len;
                      e.db_addr = c.addr;
                  }),
                  0);
        ASSERT_EQ(detach(fd, bo), 0);
    }
}

TEST_F(AttachSliceBo, SeveralBosOnOneDbc)
{
    uint32_t bo2;
    ASSERT_EQ(create_bo(fd, kPage, &bo2), 0);
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), 0);
    ASSERT_EQ(attach(fd, bo2, dbc, kDirFromDev, {slice(0, kPage)}), 0);
    EXPECT_EQ(detach(fd, bo2), 0);
    EXPECT_EQ(detach(fd, bo), 0);
}

TEST_F(AttachSliceBo, AttachToAnotherDbcAfterDetach)
{
    uint32_t dbc2;
    ASSERT_EQ(activate(fd, 64, &dbc2), 0);
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), 0);
    ASSERT_EQ(detach(fd, bo), 0);
    ASSERT_EQ(attach(fd, bo, dbc2, kDirToDev, {slice(0, kSize)}), 0);
    EXPECT_EQ(detach(fd, bo), 0);
}

// The ring keeps one slot empty: a BO may use up to queue_size - 1 elements.
TEST_F(AttachSliceBo, ElementsUpToTheRingsCapacity)
{
    uint32_t small;
    ASSERT_EQ(activate(fd, 3, &small), 0);
    EXPECT_EQ(attach(fd, bo, small, kDirToDev, {slice(0, kPage), slice(kPage, kPage)}), 0);
    EXPECT_EQ(detach(fd, bo), 0);
}

// ---------------------------------------------------------------------------- header rules

TEST_F(AttachSliceBo, CountZeroIsEinval)
{
    auto e = slice(0, kSize);
    EXPECT_EQ(attach_hdr(hdr(0), &e), -EINVAL);
}

TEST_F(AttachSliceBo, DirNotOneOrTwoIsEinval)
{
    auto e = slice(0, kSize);
    for (uint32_t dir : {0u, 3u, 4u, UINT32_MAX}) {
        auto h = hdr();
        h.dir = dir;
        EXPECT_EQ(attach_hdr(h, &e), -EINVAL) << dir;
    }
}

TEST_F(AttachSliceBo, DataZeroIsEinval)
{
    EXPECT_EQ(attach_hdr(hdr(), nullptr), -EINVAL);
}

TEST_F(AttachSliceBo, DbcIdOutOfRangeIsEinval)
{
    auto e = slice(0, kSize);
    for (uint32_t id : {16u, 17u, 0x10000u, UINT32_MAX}) {
        auto h = hdr();
        h.dbc_id = id;
        EXPECT_EQ(attach_hdr(h, &e), -EINVAL) << id;
    }
}

// Ours: no ring holds more than 65535 slices; refused before the entries are read.
TEST_F(AttachSliceBo, CountOver65535IsEnospc)
{
    auto e = slice(0, kSize);
    EXPECT_EQ(attach_hdr(hdr(65536), &e), -ENOSPC);
    EXPECT_EQ(attach_hdr(hdr(UINT32_MAX), &e), -ENOSPC);
}

TEST_F(AttachSliceBo, UnreadableEntriesAreEfault)
{
    EXPECT_EQ(attach_hdr(hdr(), reinterpret_cast<void *>(16)), -EFAULT);

    long page = sysconf(_SC_PAGESIZE);
    auto *p = static_cast<uint8_t *>(mmap(nullptr, size_t(2 * page), PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    ASSERT_EQ(munmap(p + page, size_t(page)), 0);
    // Two entries, the second running into the hole.
    auto e = slice(0, kPage);
    uint8_t *at = p + page - sizeof(e) - 8;
    std::memcpy(at, &e, sizeof(e));
    EXPECT_EQ(attach_hdr(hdr(2), at), -EFAULT);
    munmap(p, size_t(page));
    // Nothing was attached.
    EXPECT_EQ(detach(fd, bo), -EINVAL);
}

TEST_F(AttachSliceBo, UnknownHandleIsEnoent)
{
    EXPECT_EQ(attach(fd, 0, dbc, kDirToDev, {slice(0, kPage)}), -ENOENT);
    EXPECT_EQ(attach(fd, bo + 1000, dbc, kDirToDev, {slice(0, kPage)}), -ENOENT);
}

// ---------------------------------------------------------------------------- entry rules

TEST_F(AttachSliceBo, DoorbellLenNotAWidthIsEinval)
{
    for (uint32_t len : {1u, 7u, 9u, 24u, 64u, UINT32_MAX})
        EXPECT_EQ(attach_with([&](qaic_attach_slice_entry &e) { e.db_len = len; }), -EINVAL)
            << len;
}

TEST_F(AttachSliceBo, MisalignedDoorbellIsEinval)
{
    const struct {
        uint32_t len;
        uint64_t addr;
    } bad[] = {{16, 0x1001}, {16, 0x1003}, {32, 0x1001}, {32, 0x1002}, {32, 0x1003}};
    for (const auto &c : bad)
        EXPECT_EQ(attach_with([&](qaic_attach_slice_entry &e) {
                      e.db_len = c.len;
                      e.db_addr = c.addr;
                  }),
                  -EINVAL)
            << c.len << " at " << c.addr;
}

TEST_F(AttachSliceBo, SemaphoreValueOver12BitsIsEinval)
{
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(attach_with([&](qaic_attach_slice_entry &e) { sem(e, i).val = 0x1000; }),
                  -EINVAL)
            << "sem" << i;
}

TEST_F(AttachSliceBo, SemaphoreIndexOver31IsEinval)
{
    for (int i = 0; i < 4; ++i)
        for (uint8_t index : {32, 255})
            EXPECT_EQ(attach_with([&](qaic_attach_slice_entry &e) { sem(e, i).index = index; }),
                      -EINVAL)
                << "sem" << i;
}

TEST_F(AttachSliceBo, SemaphorePresyncOver1IsEinval)
{
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(attach_with([&](qaic_attach_slice_entry &e) { sem(e, i).presync = 2; }),
                  -EINVAL)
            << "sem" << i;
}

TEST_F(AttachSliceBo, SemaphoreCmdOver6IsEinval)
{
    for (int i = 0; i < 4; ++i)
        for (uint8_t cmd : {7, 255})
            EXPECT_EQ(attach_with([&](qaic_attach_slice_entry &e) { sem(e, i).cmd = cmd; }),
                      -EINVAL)
                << "sem" << i;
}

TEST_F(AttachSliceBo, SemaphoreFlagsOutsideBits0To1AreEinval)
{
    for (int i = 0; i < 4; ++i)
        for (uint8_t flags : {4, 7, 0x80})
            EXPECT_EQ(attach_with([&](qaic_attach_slice_entry &e) { sem(e, i).flags = flags; }),
                      -EINVAL)
                << "sem" << i;
}

TEST_F(AttachSliceBo, SemaphorePadIsEinval)
{
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(attach_with([&](qaic_attach_slice_entry &e) { sem(e, i).pad = 1; }), -EINVAL)
            << "sem" << i;
}

TEST_F(AttachSliceBo, TwoPresyncSemaphoresAreEinval)
{
    for (int i = 0; i < 4; ++i)
        for (int j = i + 1; j < 4; ++j)
            EXPECT_EQ(attach_with([&](qaic_attach_slice_entry &e) {
                          sem(e, i).presync = 1;
                          sem(e, j).presync = 1;
                      }),
                      -EINVAL)
                << "sem" << i << " and sem" << j;
}

TEST_F(AttachSliceBo, OffsetPlusSizeOverflowIsEinval)
{
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(UINT64_MAX, 2)}), -EINVAL);
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(kPage, UINT64_MAX)}), -EINVAL);
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(UINT64_MAX - kPage + 1, kPage)}), -EINVAL);
}

TEST_F(AttachSliceBo, SlicePastTheBoIsEinval)
{
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize + 1)}), -EINVAL);
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(kSize, 1)}), -EINVAL);
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(kSize - 1, 2)}), -EINVAL);
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(kSize + 1, 0)}), -EINVAL);
    // 64-bit arithmetic: an offset that would look in range cut to 32 bits.
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(uint64_t(1) << 32, 1)}), -EINVAL);
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, (uint64_t(1) << 32) + kPage)}), -EINVAL);
}

// One bad entry among good ones fails the whole ATTACH: nothing is sliced.
TEST_F(AttachSliceBo, OneBadEntryFailsTheAttach)
{
    std::vector<qaic_attach_slice_entry> e = {slice(0, kPage), slice(kPage, kPage),
                                              slice(2 * kPage, kPage), slice(3 * kPage, kPage)};
    e[2].db_len = 12;
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, e), -EINVAL);
    EXPECT_EQ(detach(fd, bo), -EINVAL);
    e[2].db_len = 0;
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, e), 0);
    EXPECT_EQ(detach(fd, bo), 0);
}

// ---------------------------------------------------------------------------- check order

TEST_F(AttachSliceBo, UnknownHandleIsCheckedBeforeTheEntries)
{
    auto e = slice(0, kSize);
    e.db_len = 7;
    EXPECT_EQ(attach(fd, bo + 1000, dbc, kDirToDev, {e}), -ENOENT);
}

TEST_F(AttachSliceBo, EntriesAreCheckedBeforeTheRingCapacity)
{
    uint32_t small;
    ASSERT_EQ(activate(fd, 2, &small), 0);
    auto bad = slice(kPage, kPage);
    bad.sem0.pad = 1;
    EXPECT_EQ(attach(fd, bo, small, kDirToDev, {slice(0, kPage), bad}), -EINVAL);
}

// ---------------------------------------------------------------------------- state rules

TEST_F(AttachSliceBo, AlreadySlicedIsEinval)
{
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), 0);
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), -EINVAL);
    EXPECT_EQ(attach(fd, bo, dbc, kDirFromDev, {slice(0, kPage)}), -EINVAL);
    uint32_t dbc2;
    ASSERT_EQ(activate(fd, 64, &dbc2), 0);
    EXPECT_EQ(attach(fd, bo, dbc2, kDirToDev, {slice(0, kSize)}), -EINVAL);
    EXPECT_EQ(detach(fd, bo), 0);
}

TEST_F(AttachSliceBo, DbcNotActivatedIsEinval)
{
    ASSERT_EQ(deactivate(fd, dbc), 0);
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), -EINVAL);
}

TEST_F(AttachSliceBo, DbcOfAnotherFileIsEinval)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    uint32_t other;
    ASSERT_EQ(activate(fd2, 64, &other), 0);
    EXPECT_EQ(attach(fd, bo, other, kDirToDev, {slice(0, kSize)}), -EINVAL);
    // Nor may the other file slice its BO on our DBC.
    uint32_t bo2;
    ASSERT_EQ(create_bo(fd2, kPage, &bo2), 0);
    EXPECT_EQ(attach(fd2, bo2, dbc, kDirToDev, {slice(0, kPage)}), -EINVAL);
    EXPECT_EQ(qaic_close(fd2), 0);
}

// Ours: slices needing more elements than the ring can ever hold (queue_size - 1).
TEST_F(AttachSliceBo, MoreElementsThanTheRingHoldsIsEnospc)
{
    uint32_t small;
    ASSERT_EQ(activate(fd, 2, &small), 0);
    EXPECT_EQ(attach(fd, bo, small, kDirToDev, {slice(0, kPage), slice(kPage, kPage)}), -ENOSPC);
    // One element fits.
    EXPECT_EQ(attach(fd, bo, small, kDirToDev, {slice(0, kPage)}), 0);
    EXPECT_EQ(detach(fd, bo), 0);
}

// A 9 MiB BO has at least three scatter-gather segments (4 MiB at most each): one slice
// over all of it takes at least three elements.
TEST_F(AttachSliceBo, OneSliceOverSeveralSegmentsNeedsSeveralElements)
{
    uint32_t big, three;
    ASSERT_EQ(create_bo(fd, 9 << 20, &big), 0);
    ASSERT_EQ(activate(fd, 3, &three), 0);
    EXPECT_EQ(attach(fd, big, three, kDirToDev, {slice(0, 9 << 20)}), -ENOSPC);
    EXPECT_EQ(attach(fd, big, dbc, kDirToDev, {slice(0, 9 << 20)}), 0);
    EXPECT_EQ(detach(fd, big), 0);
}

// ---------------------------------------------------------------------------- DETACH

TEST_F(DetachSliceBo, PadIsEinval)
{
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), 0);
    qaic_detach_slice d{};
    d.handle = bo;
    d.pad = 1;
    EXPECT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_DETACH_SLICE_BO, &d), -EINVAL);
    EXPECT_EQ(detach(fd, bo), 0);
}

TEST_F(DetachSliceBo, UnslicedBoIsEinval)
{
    EXPECT_EQ(detach(fd, bo), -EINVAL);
}

TEST_F(DetachSliceBo, UnknownHandleIsEnoent)
{
    EXPECT_EQ(detach(fd, 0), -ENOENT);
    EXPECT_EQ(detach(fd, bo + 1000), -ENOENT);
}

// Qualcomm's runtime header declares PART_DEV as _IOWR('d', 0x48, {u32 partition_id; u16
// remove; u16 pad}) = 0xC0086448: upstream's DETACH_SLICE_BO number (0x40086448, _IOW) with
// the read bit added. DRM, and the accel core here, find the handler by number alone, so the
// call runs DETACH_SLICE_BO on the same 8 bytes: partition_id is taken for a BO handle, remove
// and pad for pad, and the direction bits copy the struct back unchanged. Partitions never work
// on an upstream driver; a runtime that tries gets these answers.
TEST_F(DetachSliceBo, VendorPartDevRunsDetach)
{
    struct PartDev {
        uint32_t partition_id;
        uint16_t remove;
        uint16_t pad;
    };
    constexpr unsigned long kPartDev = _IOWR(DRM_IOCTL_BASE, DRM_COMMAND_BASE + 0x08, PartDev);
    static_assert(kPartDev == 0xC0086448 && kPartDev != DRM_IOCTL_QAIC_DETACH_SLICE_BO);
    PartDev p{bo + 1000, 0, 0};
    EXPECT_EQ(ioctl_err(fd, kPartDev, &p), -ENOENT) << "create, partition id not a handle";
    p = {bo, 1, 0};
    EXPECT_EQ(ioctl_err(fd, kPartDev, &p), -EINVAL) << "remove: taken for a non-zero pad";
    // Create with a partition id that happens to be a sliced BO's handle detaches that BO.
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), 0);
    p = {bo, 0, 0};
    EXPECT_EQ(ioctl_err(fd, kPartDev, &p), 0);
    EXPECT_EQ(p.partition_id, bo);
    EXPECT_EQ(detach(fd, bo), -EINVAL) << "the BO was detached by PART_DEV";
}

// Deactivating the DBC detaches its BOs; they can be attached again elsewhere.
TEST_F(DetachSliceBo, DeactivateDetachesTheDbcsBos)
{
    uint32_t bo2;
    ASSERT_EQ(create_bo(fd, kPage, &bo2), 0);
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), 0);
    ASSERT_EQ(attach(fd, bo2, dbc, kDirFromDev, {slice(0, kPage)}), 0);
    ASSERT_EQ(deactivate(fd, dbc), 0);
    EXPECT_EQ(detach(fd, bo), -EINVAL);
    EXPECT_EQ(detach(fd, bo2), -EINVAL);
    uint32_t dbc2;
    ASSERT_EQ(activate(fd, 64, &dbc2), 0);
    EXPECT_EQ(attach(fd, bo, dbc2, kDirToDev, {slice(0, kSize)}), 0);
    EXPECT_EQ(attach(fd, bo2, dbc2, kDirToDev, {slice(0, kPage)}), 0);
    EXPECT_EQ(detach(fd, bo), 0);
    EXPECT_EQ(detach(fd, bo2), 0);
}

// The BO's DBC went away and another file now holds a DBC of that id: not ours to detach.
TEST_F(DetachSliceBo, AfterTheDbcWentToAnotherFileIsEinval)
{
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), 0);
    ASSERT_EQ(deactivate(fd, dbc), 0);
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    std::vector<uint32_t> theirs = activate_all(fd2);
    ASSERT_NE(std::find(theirs.begin(), theirs.end(), dbc), theirs.end());
    EXPECT_EQ(detach(fd, bo), -EINVAL);
    EXPECT_EQ(qaic_close(fd2), 0);
}

// GEM_CLOSE of a sliced BO drops the handle; the slicing goes with the DBC.
TEST_F(DetachSliceBo, GemCloseOfASlicedBo)
{
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), 0);
    EXPECT_EQ(gem_close(fd, bo), 0);
    EXPECT_EQ(gem_close(fd, bo), -EINVAL);
    EXPECT_EQ(detach(fd, bo), -ENOENT);
    EXPECT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kSize)}), -ENOENT);
    uint64_t off;
    EXPECT_EQ(mmap_offset(fd, bo, &off), -ENOENT);
    EXPECT_EQ(deactivate(fd, dbc), 0);
}

// Closing a file with sliced BOs on its DBCs releases everything; the DBCs are free again.
TEST_F(DetachSliceBo, CloseWithSlicedBos)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    uint32_t d, h;
    ASSERT_EQ(activate(fd2, 64, &d), 0);
    ASSERT_EQ(create_bo(fd2, kSize, &h), 0);
    ASSERT_EQ(attach(fd2, h, d, kDirFromDev, {slice(0, kSize)}), 0);
    ASSERT_EQ(qaic_close(fd2), 0);
    std::vector<uint32_t> mine = activate_all(fd);
    EXPECT_NE(std::find(mine.begin(), mine.end(), d), mine.end()) << "DBC " << d << " not freed";
    EXPECT_EQ(attach(fd, bo, d, kDirToDev, {slice(0, kSize)}), 0);
}

} // namespace
