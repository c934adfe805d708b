// SPDX-License-Identifier: GPL-2.0-only
// Slicing math and request-element encoding.
#include "drivers/accel/qaic/qaic_slice.h"

#include <gtest/gtest.h>

namespace {

using aic100::DbcReq;
using kernel::SgEntry;
using kernel::SgTable;
using qaic::encode_slice;
using qaic::slice_sg;
using qaic::validate_slice_entry;

// A mapped table of runs with the given lengths; cpu and dma addresses are distinct and
// non-contiguous, so a wrong offset shows.
SgTable table(std::initializer_list<uint64_t> lengths)
{
    SgTable t;
    uint64_t cpu = 0x10000000, dma = 0x900000000;
    for (uint64_t len : lengths) {
        t.entries.push_back({reinterpret_cast<void *>(cpu), len, dma});
        cpu += len + 0x100000;
        dma += len + 0x200000;
    }
    return t;
}

uint64_t cpu(const SgEntry &e)
{
    return reinterpret_cast<uint64_t>(e.cpu_addr);
}

TEST(SliceSg, WholeTable)
{
    SgTable t = table({8192, 4096});
    auto s = slice_sg(t, 0, 12288);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].dma_addr, t.entries[0].dma_addr);
    EXPECT_EQ(s[0].length, 8192u);
    EXPECT_EQ(s[1].dma_addr, t.entries[1].dma_addr);
    EXPECT_EQ(s[1].length, 4096u);
}

TEST(SliceSg, InsideOneSegment)
{
    SgTable t = table({16384});
    auto s = slice_sg(t, 100, 1000);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].dma_addr, t.entries[0].dma_addr + 100);
    EXPECT_EQ(cpu(s[0]), cpu(t.entries[0]) + 100);
    EXPECT_EQ(s[0].length, 1000u);
}

TEST(SliceSg, SplitsAtSegmentBoundaries)
{
    SgTable t = table({4096, 4096, 4096});
    auto s = slice_sg(t, 4000, 4200);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0].dma_addr, t.entries[0].dma_addr + 4000);
    EXPECT_EQ(s[0].length, 96u);
    EXPECT_EQ(s[1].dma_addr, t.entries[1].dma_addr);
    EXPECT_EQ(s[1].length, 4096u);
    EXPECT_EQ(s[2].dma_addr, t.entries[2].dma_addr);
    EXPECT_EQ(s[2].length, 8u);
}

TEST(SliceSg, EndingExactlyAtABoundary)
{
    SgTable t = table({4096, 4096});
    auto s = slice_sg(t, 0, 4096);
    ASSERT_EQ(s.size(), 1u);
    s = slice_sg(t, 4096, 4096);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].dma_addr, t.entries[1].dma_addr);
}

TEST(SliceSg, ZeroSizeIsEmpty)
{
    SgTable t = table({4096});
    EXPECT_TRUE(slice_sg(t, 0, 0).empty());
    EXPECT_TRUE(slice_sg(t, 4096, 0).empty());
}

TEST(SliceSg, PastFourGiB)
{
    // 1280 chunks of 4 MiB = 5 GiB; a slice starting at 4 GiB + 1 MiB.
    SgTable t;
    for (uint64_t i = 0; i < 1280; ++i)
        t.entries.push_back({reinterpret_cast<void *>(0x1000 + i * (8 << 20)), 4 << 20,
                             0x100000000000 + i * (16 << 20)});
    uint64_t off = (uint64_t(4) << 30) + (1 << 20);
    auto s = slice_sg(t, off, 8 << 20);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0].dma_addr, t.entries[1024].dma_addr + (1 << 20));
    EXPECT_EQ(s[0].length, uint64_t(3) << 20);
    EXPECT_EQ(s[1].length, uint64_t(4) << 20);
    EXPECT_EQ(s[2].length, uint64_t(1) << 20);
    EXPECT_EQ(s[2].dma_addr, t.entries[1026].dma_addr);
}

qaic_attach_slice_entry entry(uint64_t offset, uint64_t size)
{
    qaic_attach_slice_entry e{};
    e.offset = offset;
    e.size = size;
    return e;
}

TEST(ValidateSliceEntry, AcceptsAPlainEntry)
{
    EXPECT_FALSE(validate_slice_entry(0, entry(0, 4096), 4096).is_error());
    EXPECT_FALSE(validate_slice_entry(0, entry(4096, 0), 4096).is_error());
}

TEST(ValidateSliceEntry, Doorbell)
{
    auto e = entry(0, 4096);
    for (uint32_t len : {0u, 8u, 16u, 32u}) {
        e.db_len = len;
        e.db_addr = 0x1000;
        EXPECT_FALSE(validate_slice_entry(0, e, 4096).is_error()) << len;
    }
    e.db_len = 7;
    EXPECT_EQ(validate_slice_entry(0, e, 4096).code(), -EINVAL);
    e.db_len = 64;
    EXPECT_EQ(validate_slice_entry(0, e, 4096).code(), -EINVAL);
    e.db_len = 16;
    e.db_addr = 0x1001;
    EXPECT_EQ(validate_slice_entry(0, e, 4096).code(), -EINVAL);
    e.db_len = 32;
    e.db_addr = 0x1002;
    EXPECT_EQ(validate_slice_entry(0, e, 4096).code(), -EINVAL);
    e.db_len = 8;
    EXPECT_FALSE(validate_slice_entry(0, e, 4096).is_error());
}

TEST(ValidateSliceEntry, Semaphores)
{
    auto check = [](auto mutate) {
        auto e = entry(0, 4096);
        mutate(e.sem2);
        return validate_slice_entry(0, e, 4096).code();
    };
    EXPECT_EQ(check([](qaic_sem &s) { s.val = 0xFFF; }), 0);
    EXPECT_EQ(check([](qaic_sem &s) { s.val = 0x1000; }), -EINVAL);
    EXPECT_EQ(check([](qaic_sem &s) { s.index = 31; }), 0);
    EXPECT_EQ(check([](qaic_sem &s) { s.index = 32; }), -EINVAL);
    EXPECT_EQ(check([](qaic_sem &s) { s.presync = 2; }), -EINVAL);
    EXPECT_EQ(check([](qaic_sem &s) { s.cmd = QAIC_SEM_WAIT_GT_0; }), 0);
    EXPECT_EQ(check([](qaic_sem &s) { s.cmd = 7; }), -EINVAL);
    EXPECT_EQ(check([](qaic_sem &s) { s.flags = 3; }), 0);
    EXPECT_EQ(check([](qaic_sem &s) { s.flags = 4; }), -EINVAL);
    EXPECT_EQ(check([](qaic_sem &s) { s.pad = 1; }), -EINVAL);
}

TEST(ValidateSliceEntry, OnePresyncAtMost)
{
    auto e = entry(0, 4096);
    e.sem0.presync = 1;
    EXPECT_FALSE(validate_slice_entry(0, e, 4096).is_error());
    e.sem3.presync = 1;
    EXPECT_EQ(validate_slice_entry(0, e, 4096).code(), -EINVAL);
}

TEST(ValidateSliceEntry, RangeWithinTheBo)
{
    EXPECT_EQ(validate_slice_entry(0, entry(1, 4096), 4096).code(), -EINVAL);
    EXPECT_EQ(validate_slice_entry(0, entry(0, 4097), 4096).code(), -EINVAL);
    EXPECT_EQ(validate_slice_entry(0, entry(4097, 0), 4096).code(), -EINVAL);
    EXPECT_EQ(validate_slice_entry(0, entry(UINT64_MAX, 2), UINT64_MAX).code(), -EINVAL);
    EXPECT_EQ(validate_slice_entry(0, entry(2, UINT64_MAX), UINT64_MAX).code(), -EINVAL);
    uint64_t big = uint64_t(5) << 30;
    EXPECT_FALSE(validate_slice_entry(0, entry(uint64_t(4) << 30, 1 << 30), big).is_error());
}

TEST(EncodeSem, BitLayout)
{
    qaic_sem s{0xABC, 0x15, 1, QAIC_SEM_WAIT_GT_EQ, QAIC_SEM_INSYNCFENCE, 0};
    uint32_t w = qaic::encode_sem(s);
    EXPECT_EQ(w & 0xFFF, 0xABCu);
    EXPECT_EQ((w >> 16) & 0x1F, 0x15u);
    EXPECT_EQ((w >> 22) & 1, 1u);
    EXPECT_EQ((w >> 24) & 7, uint32_t(QAIC_SEM_WAIT_GT_EQ));
    EXPECT_EQ((w >> 29) & 3, uint32_t(QAIC_SEM_INSYNCFENCE));
    EXPECT_EQ(w >> 31, 1u);
    EXPECT_EQ(w & 0x0080F000, 0u);
    qaic_sem nop{5, 3, 0, QAIC_SEM_NOP, 0, 0};
    EXPECT_EQ(qaic::encode_sem(nop) >> 31, 0u); // enable only with a command
}

TEST(EncodeSlice, ToDeviceOneSegment)
{
    SgTable t = table({8192});
    auto e = entry(0, 8192);
    e.dev_addr = 0x40000;
    e.db_addr = 0x100;
    e.db_len = 16;
    e.db_data = 0xBEEF;
    e.sem1 = {7, 3, 0, QAIC_SEM_INC, 0, 0};
    auto reqs = encode_slice(e, qaic::DmaDir::kToDevice, slice_sg(t, 0, 8192));
    ASSERT_EQ(reqs.size(), 1u);
    const DbcReq &r = reqs[0];
    EXPECT_EQ(r.cmd, aic100::kCmdBulk | aic100::kCmdToDevice | aic100::kCmdGenCompletion);
    EXPECT_EQ(r.src_addr, t.entries[0].dma_addr);
    EXPECT_EQ(r.dest_addr, 0x40000u);
    EXPECT_EQ(r.len, 8192u);
    EXPECT_EQ(r.db_addr, 0x100u);
    EXPECT_EQ(r.db_len, aic100::kDb16);
    EXPECT_EQ(r.db_data, 0xBEEFu);
    EXPECT_EQ(r.sem_cmd[1], qaic::encode_sem(e.sem1));
    EXPECT_EQ(r.sem_cmd[0], 0u);
    EXPECT_EQ(r.req_id, 0u);
    EXPECT_EQ(r.resv | r.resv2 | r.resv3 | r.resv4, 0u);
}

TEST(EncodeSlice, FromDeviceSeveralSegmentsAdvanceDevAddr)
{
    SgTable t = table({4096, 8192, 4096});
    auto e = entry(2048, 12288);
    e.dev_addr = 0x1000000;
    e.db_len = 32;
    e.db_addr = 0x200;
    e.db_data = 0x12345678;
    e.sem0 = {1, 0, 0, QAIC_SEM_INC, 0, 0};
    auto reqs = encode_slice(e, qaic::DmaDir::kFromDevice, slice_sg(t, e.offset, e.size));
    ASSERT_EQ(reqs.size(), 3u);
    uint64_t dev = 0x1000000;
    uint64_t lens[] = {2048, 8192, 2048};
    for (size_t i = 0; i < 3; ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(reqs[i].cmd & aic100::kCmdDirMask, aic100::kCmdFromDevice);
        EXPECT_TRUE(reqs[i].cmd & aic100::kCmdBulk);
        EXPECT_EQ(reqs[i].src_addr, dev);
        EXPECT_EQ(reqs[i].len, lens[i]);
        dev += lens[i];
        bool last = i == 2;
        EXPECT_EQ(bool(reqs[i].cmd & aic100::kCmdGenCompletion), last);
        EXPECT_EQ(reqs[i].db_len, last ? aic100::kDb32 : aic100::kDbNone);
        EXPECT_EQ(reqs[i].db_data, last ? 0x12345678u : 0u);
    }
    EXPECT_EQ(reqs[0].dest_addr, t.entries[0].dma_addr + 2048);
    EXPECT_EQ(reqs[1].dest_addr, t.entries[1].dma_addr);
    EXPECT_EQ(reqs[2].dest_addr, t.entries[2].dma_addr);
    // No presync, several elements, from device: OUTSYNCFENCE on the last element's sem0,
    // merged with the user's sem0.
    uint32_t fence = uint32_t(QAIC_SEM_OUTSYNCFENCE) << 29;
    EXPECT_EQ(reqs[2].sem_cmd[0], qaic::encode_sem(e.sem0) | fence);
    EXPECT_EQ(reqs[0].sem_cmd[0], 0u);
}

TEST(EncodeSlice, PresyncOnEveryElementAndNoFence)
{
    SgTable t = table({4096, 4096});
    auto e = entry(0, 8192);
    e.sem2 = {0, 4, 1, QAIC_SEM_WAIT_GT_0, 0, 0};
    e.sem3 = {1, 4, 0, QAIC_SEM_DEC, 0, 0};
    auto reqs = encode_slice(e, qaic::DmaDir::kToDevice, slice_sg(t, 0, 8192));
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].sem_cmd[2], qaic::encode_sem(e.sem2));
    EXPECT_EQ(reqs[0].sem_cmd[3], 0u);
    EXPECT_EQ(reqs[1].sem_cmd[2], qaic::encode_sem(e.sem2));
    EXPECT_EQ(reqs[1].sem_cmd[3], qaic::encode_sem(e.sem3));
    EXPECT_EQ(reqs[1].sem_cmd[0], 0u); // a presync semaphore replaces the fence
}

TEST(EncodeSlice, ToDeviceFenceIsInsync)
{
    SgTable t = table({4096, 4096});
    auto reqs = encode_slice(entry(0, 8192), qaic::DmaDir::kToDevice, slice_sg(t, 0, 8192));
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[1].sem_cmd[0], uint32_t(QAIC_SEM_INSYNCFENCE) << 29);
}

TEST(EncodeSlice, ZeroSizeIsOneZeroLengthElementWithoutDirection)
{
    auto e = entry(0, 0);
    e.db_len = 8;
    e.db_addr = 0x33;
    e.db_data = 0x1FF;
    e.sem0 = {2, 1, 0, QAIC_SEM_INIT, 0, 0};
    auto reqs = encode_slice(e, qaic::DmaDir::kFromDevice, {});
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].cmd & aic100::kCmdDirMask, 0);
    EXPECT_TRUE(reqs[0].cmd & aic100::kCmdGenCompletion);
    EXPECT_EQ(reqs[0].len, 0u);
    EXPECT_EQ(reqs[0].db_len, aic100::kDb8);
    EXPECT_EQ(reqs[0].db_addr, 0x33u);
    EXPECT_EQ(reqs[0].sem_cmd[0], qaic::encode_sem(e.sem0));
    EXPECT_EQ(qaic::slice_elements({}), 1u);
}

TEST(EncodeSlice, HugeSegmentsAreSplit)
{
    SgTable t;
    t.entries.push_back({reinterpret_cast<void *>(0x1000), uint64_t(5) << 30, 0x100000000});
    auto segs = slice_sg(t, 0, uint64_t(5) << 30);
    EXPECT_EQ(qaic::slice_elements(segs), 3u);
    auto reqs = encode_slice(entry(0, uint64_t(5) << 30), qaic::DmaDir::kToDevice, segs);
    ASSERT_EQ(reqs.size(), 3u);
    EXPECT_EQ(reqs[0].len, uint32_t(1) << 31);
    EXPECT_EQ(reqs[1].src_addr, 0x100000000u + (uint64_t(1) << 31));
    EXPECT_EQ(reqs[1].dest_addr, uint64_t(1) << 31);
    EXPECT_EQ(reqs[2].len, uint32_t(1) << 30);
}

} // namespace
