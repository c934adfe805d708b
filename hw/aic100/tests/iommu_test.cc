// SPDX-License-Identifier: GPL-2.0-only
// The IOMMU as DBC transfers see it: faults outside mappings and past their ends, the
// direction permissions, DDR ranges, the request ring itself unreadable, IOVA layout, and
// unmapping with DMA in flight. The host is never touched by a failed DMA.
#include "hw/aic100/tests/harness.h"
#include "kernel/mm.h"

namespace aic100::test {
namespace {

using kernel::DmaDirection;

class Iommu : public ActiveDbcTest {
protected:
    void SetUp() override
    {
        ActiveDbcTest::SetUp();
        ddr_fill = pattern(4 * kPage, 31);
        ASSERT_TRUE(d.card().ddr_write(kDev, ddr_fill.data(), ddr_fill.size()));
    }
    void expect_ddr_untouched() { EXPECT_EQ(d.ddr(kDev, ddr_fill.size()), ddr_fill); }
    static constexpr uint64_t kDev = 0x100000;
    Bytes ddr_fill;
};

TEST_F(Iommu, IovaLayout)
{
    HostBuf a(d.pci, 100, DmaDirection::kToDevice, 0x10);
    HostBuf b(d.pci, 3 * kPage, DmaDirection::kToDevice, 0);
    HostBuf c(d.pci, 2 * kPage, DmaDirection::kToDevice, 0x800, 2);
    EXPECT_GE(a.iova(), 0x100000u);
    EXPECT_EQ(a.iova() & (kPage - 1), 0x10u);
    EXPECT_EQ(b.iova() & (kPage - 1), 0u);
    EXPECT_EQ(c.iova(0) & (kPage - 1), 0x800u);
    EXPECT_EQ(c.iova(1) & (kPage - 1), 0x800u); // the second entry starts a page later
    // A guard page follows every mapping.
    EXPECT_GE(b.iova(), (a.iova() & ~uint64_t(kPage - 1)) + 2 * kPage);
    EXPECT_GE(c.iova(0), b.iova() + 4 * kPage);
    EXPECT_GE(c.iova(1), c.iova(0) + 3 * kPage);
    // A freed IOVA is not handed out again right away.
    uint64_t old = a.iova();
    a.unmap();
    HostBuf e(d.pci, 100, DmaDirection::kToDevice, 0x10);
    EXPECT_NE(e.iova(), old);
}

// Running out of IOVA space: -ENOMEM with nothing of the table left mapped. The IOMMU never
// touches host memory until a DMA, so huge mappings of a dummy page cost nothing.
TEST_F(Iommu, IovaSpaceExhausted)
{
    alignas(kPage) static uint8_t dummy[kPage];
    HostBuf small(d.pci, kPage, DmaDirection::kToDevice);
    kernel::SgTable sgt{{{small.data(), kPage, 0}, {dummy, uint64_t(1) << 48, 0}}};
    EXPECT_EQ(d.pci.dma_map_sgtable(sgt, DmaDirection::kToDevice).code(), -ENOMEM);
    // The first entry was mapped, then undone: its IOVA faults.
    ASSERT_NE(sgt.entries[0].dma_addr, 0u);
    EXPECT_EQ(d.run1(q, to_dev(1, sgt.entries[0].dma_addr, kDev, 16)).status, kRspIommuFault);
    // The small buffer's own mapping is untouched.
    EXPECT_EQ(d.run1(q, to_dev(2, small.iova(), kDev, 16)).status, kRspOk);
}

// When the cursor reaches the end of the 48-bit space, allocation starts over from the
// bottom, first fit, skipping mappings still in use.
TEST_F(Iommu, IovaCursorWrapsAround)
{
    alignas(kPage) static uint8_t dummy[kPage];
    const uint64_t kEnd = uint64_t(1) << 48;
    HostBuf first(d.pci, kPage, DmaDirection::kToDevice);
    // A big mapping, then one reaching to just below the end of the space.
    kernel::SgTable big{{{dummy, uint64_t(1) << 40, 0}}};
    ASSERT_FALSE(d.pci.dma_map_sgtable(big, DmaDirection::kToDevice).is_error());
    uint64_t cursor = big.entries[0].dma_addr + (uint64_t(1) << 40) + kPage;
    kernel::SgTable rest{{{dummy, kEnd - cursor - 2 * kPage, 0}}};
    ASSERT_FALSE(d.pci.dma_map_sgtable(rest, DmaDirection::kToDevice).is_error());
    EXPECT_EQ(rest.entries[0].dma_addr, cursor);
    // Free the big one: the next mapping cannot fit at the top and lands in its hole.
    d.pci.dma_unmap_sgtable(big, DmaDirection::kToDevice);
    HostBuf next(d.pci, 2 * kPage, DmaDirection::kToDevice);
    EXPECT_GT(next.iova(), first.iova());
    EXPECT_LT(next.iova(), cursor);
    fill_pattern(next.data(), next.size(), 34);
    EXPECT_EQ(d.run1(q, to_dev(1, next.iova(), 0x300000, 2 * kPage)).status, kRspOk);
    EXPECT_EQ(d.ddr(0x300000, 2 * kPage), next.bytes());
    d.pci.dma_unmap_sgtable(rest, DmaDirection::kToDevice);
}

TEST_F(Iommu, CoherentMemory)
{
    EXPECT_TRUE(d.pci.dma_alloc_coherent(0).is_error());
    auto c = d.pci.dma_alloc_coherent(3 * kPage + 1);
    ASSERT_FALSE(c.is_error());
    kernel::DmaCoherent buf = c.value();
    EXPECT_EQ(buf.size, 3 * kPage + 1);
    EXPECT_EQ(buf.dma_addr & (kPage - 1), 0u);
    auto *p = static_cast<uint8_t *>(buf.cpu_addr);
    EXPECT_TRUE(std::all_of(p, p + buf.size, [](uint8_t x) { return x == 0; }));
    // Read and write: both directions work on it.
    fill_pattern(p, 4096, 32);
    EXPECT_EQ(d.run1(q, to_dev(1, buf.dma_addr, 0x200000, 4096)).status, kRspOk);
    EXPECT_EQ(d.run1(q, from_dev(2, 0x200000, buf.dma_addr + 4096, 4096)).status, kRspOk);
    EXPECT_TRUE(std::equal(p, p + 4096, p + 4096));
    // The host memory is the kernel side's while allocated.
    auto host = uintptr_t(buf.cpu_addr);
    EXPECT_TRUE(kernel::touches_kernel_range(host, 4 * kPage));
    // After dma_free_coherent its IOVA faults.
    uint64_t iova = buf.dma_addr;
    d.pci.dma_free_coherent(buf);
    EXPECT_FALSE(kernel::touches_kernel_range(host, 4 * kPage));
    EXPECT_EQ(buf.cpu_addr, nullptr);
    EXPECT_EQ(d.run1(q, to_dev(3, iova, kDev, 16)).status, kRspIommuFault);
    expect_ddr_untouched();
}

// The card's DDR lives in the host's address space: it is a kernel range while it exists.
TEST_F(Iommu, DdrIsAKernelRange)
{
    Ddr &ddr = d.card().ddr();
    EXPECT_TRUE(kernel::touches_kernel_range(uintptr_t(ddr.at(0)), 1));
    EXPECT_TRUE(kernel::touches_kernel_range(uintptr_t(ddr.at(ddr.size() - 1)), 1));
    uintptr_t start;
    {
        Ddr other(uint64_t(1) << 20);
        start = uintptr_t(other.at(0));
        EXPECT_TRUE(kernel::touches_kernel_range(start, other.size()));
    }
    EXPECT_FALSE(kernel::touches_kernel_range(start, uint64_t(1) << 20));
}

TEST_F(Iommu, OutsideEveryMapping)
{
    HostBuf dst(d.pci, kPage, DmaDirection::kFromDevice);
    std::memset(dst.data(), 0x77, dst.size());
    for (uint64_t iova : {uint64_t(0), uint64_t(0x10), uint64_t(0xFFFFF),
                          dst.iova() + kPage, uint64_t(1) << 47, ~uint64_t(0) - 8}) {
        EXPECT_EQ(d.run1(q, to_dev(1, iova, kDev, 16)).status, kRspIommuFault) << iova;
        EXPECT_EQ(d.run1(q, from_dev(2, kDev, iova, 16)).status, kRspIommuFault) << iova;
    }
    expect_ddr_untouched();
    EXPECT_EQ(dst.bytes(), Bytes(kPage, 0x77));
}

// A range must lie inside one mapping: not before its first byte (in-page offset), not past
// its last byte, not into the guard page or the next mapping.
TEST_F(Iommu, PastTheEndOfAMapping)
{
    HostBuf src(d.pci, 1000, DmaDirection::kBidirectional, 0x100);
    HostBuf next(d.pci, kPage, DmaDirection::kBidirectional);
    std::memset(src.data(), 0x33, src.size());
    std::memset(next.data(), 0x44, next.size());
    EXPECT_EQ(d.run1(q, to_dev(1, src.iova(), kDev, 1001)).status, kRspIommuFault);
    EXPECT_EQ(d.run1(q, to_dev(2, src.iova() + 999, kDev, 2)).status, kRspIommuFault);
    EXPECT_EQ(d.run1(q, to_dev(3, src.iova() - 1, kDev, 2)).status, kRspIommuFault);
    EXPECT_EQ(d.run1(q, to_dev(4, src.iova(), kDev, uint32_t(next.iova() - src.iova() + 8)))
                  .status,
              kRspIommuFault);
    EXPECT_EQ(d.run1(q, from_dev(5, kDev, src.iova() + 1, 1000)).status, kRspIommuFault);
    expect_ddr_untouched();
    EXPECT_EQ(src.bytes(), Bytes(1000, 0x33));
    EXPECT_EQ(next.bytes(), Bytes(kPage, 0x44));
    // The exact range is fine.
    EXPECT_EQ(d.run1(q, to_dev(6, src.iova(), kDev, 1000)).status, kRspOk);
    EXPECT_EQ(d.run1(q, to_dev(7, src.iova() + 999, kDev, 1)).status, kRspOk);
}

// Every sg entry is its own mapping: one element may not span two.
TEST_F(Iommu, NoDmaAcrossSgEntries)
{
    HostBuf src(d.pci, 2 * kPage, DmaDirection::kToDevice, 0, 2);
    EXPECT_EQ(d.run1(q, to_dev(1, src.iova(0), kDev, 2 * kPage)).status, kRspIommuFault);
    EXPECT_EQ(d.run1(q, to_dev(2, src.iova(0) + kPage - 8, kDev, 16)).status, kRspIommuFault);
    expect_ddr_untouched();
}

TEST_F(Iommu, ToDeviceMappingIsReadOnly)
{
    HostBuf buf(d.pci, kPage, DmaDirection::kToDevice);
    std::memset(buf.data(), 0x66, buf.size());
    EXPECT_EQ(d.run1(q, from_dev(1, kDev, buf.iova(), kPage)).status, kRspIommuPerm);
    EXPECT_EQ(buf.bytes(), Bytes(kPage, 0x66));
    EXPECT_EQ(d.dbc_rd(q.id, kDbcLastError), kRspIommuPerm);
}

TEST_F(Iommu, FromDeviceMappingIsWriteOnly)
{
    HostBuf buf(d.pci, kPage, DmaDirection::kFromDevice);
    std::memset(buf.data(), 0x67, buf.size());
    EXPECT_EQ(d.run1(q, to_dev(1, buf.iova(), kDev, kPage)).status, kRspIommuPerm);
    expect_ddr_untouched();
    EXPECT_EQ(buf.bytes(), Bytes(kPage, 0x67));
}

TEST_F(Iommu, DdrRange)
{
    HostBuf src(d.pci, kPage, DmaDirection::kToDevice);
    HostBuf dst(d.pci, kPage, DmaDirection::kFromDevice);
    fill_pattern(src.data(), kPage, 33);
    std::memset(dst.data(), 0x55, dst.size());
    Bytes tail_before = d.ddr(kDdrSize - 100, 100);
    struct Case {
        uint64_t addr;
        uint32_t len;
    } cases[] = {{kDdrSize - 100, kPage}, {kDdrSize, 1}, {kDdrSize + kPage, 16},
                 {~uint64_t(0) - 16, 32}, {~uint64_t(0), 1}};
    uint16_t id = 1;
    for (const Case &c : cases) {
        EXPECT_EQ(d.run1(q, to_dev(id++, src.iova(), c.addr, c.len)).status, kRspDdrRange)
            << c.addr;
        EXPECT_EQ(d.run1(q, from_dev(id++, c.addr, dst.iova(), c.len)).status, kRspDdrRange)
            << c.addr;
    }
    EXPECT_EQ(d.ddr(kDdrSize - 100, 100), tail_before);
    EXPECT_EQ(dst.bytes(), Bytes(kPage, 0x55));
}

// The request ring itself unreadable: the slot is consumed and answered with req_id 0.
TEST_F(Iommu, UnreadableRequestRing)
{
    // A 2-slot ring fits one page: requests at the start, responses in its last 8 bytes.
    // Mapping just those 8 bytes leaves the request ring outside the mapping.
    const uint32_t n = 2;
    const uint32_t buf_len = uint32_t(queue_buf_size(n));
    ASSERT_EQ(buf_len, kPage);
    HostBuf rsp(d.pci, 8, DmaDirection::kBidirectional, kPage - 8);
    std::memset(rsp.data(), 0xCC, 8);
    uint64_t req_q = rsp.iova() - (kPage - 8);
    auto r = d.transact({activate_trans(req_q, rsp.iova(), n, n, buf_len)});
    ASSERT_TRUE(r);
    auto a = r->as<WireActivateFromDev>(0);
    ASSERT_EQ(a.status, kFwOk);
    unsigned id = a.dbc_id;
    d.dbc_wr(id, kDbcReqTp, 1);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(id, kDbcRspTp) == 1; }));
    EXPECT_EQ(d.dbc_rd(id, kDbcReqHp), 1u);
    DbcRsp got = load<DbcRsp>(rsp.data());
    EXPECT_EQ(got.req_id, 0);
    EXPECT_EQ(got.status, kRspIommuFault);
    EXPECT_EQ(d.dbc_rd(id, kDbcErrors), 1u);
    EXPECT_EQ(d.dbc_rd(id, kDbcResponses), 1u);
    EXPECT_EQ(d.dbc_rd(id, kDbcLastError), kRspIommuFault);
    // Second lap: slot 1.
    d.dbc_wr(id, kDbcRspHp, 1);
    d.dbc_wr(id, kDbcReqTp, 0);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(id, kDbcRspTp) == 0; }));
    got = load<DbcRsp>(rsp.data() + 4);
    EXPECT_EQ(got.req_id, 0);
    EXPECT_EQ(got.status, kRspIommuFault);
}

// After dma_unmap_sgtable returns, DMA through the old IOVA faults and leaves the memory
// alone; mapping the memory again gives a new IOVA that works.
TEST_F(Iommu, UnmappedMemoryFaults)
{
    HostBuf buf(d.pci, kPage, DmaDirection::kBidirectional);
    std::memset(buf.data(), 0x11, kPage);
    uint64_t old = buf.iova();
    EXPECT_EQ(d.run1(q, to_dev(1, old, kDev, kPage)).status, kRspOk);
    buf.unmap();
    EXPECT_EQ(d.run1(q, to_dev(2, old, kDev + kPage, kPage)).status, kRspIommuFault);
    EXPECT_EQ(d.run1(q, from_dev(3, kDev, old, kPage)).status, kRspIommuFault);
    EXPECT_EQ(buf.bytes(), Bytes(kPage, 0x11));
    EXPECT_EQ(d.ddr(kDev + kPage, kPage), Bytes(ddr_fill.begin() + kPage,
                                                 ddr_fill.begin() + 2 * kPage));
    // Unmapping an IOVA that is not mapped is harmless.
    kernel::SgTable stale{{{buf.data(), kPage, old}}};
    d.pci.dma_unmap_sgtable(stale, DmaDirection::kBidirectional);
}

// Unmapping while the device writes into the mapping: dma_unmap_sgtable returns only once
// the DMA is over, so the memory can be freed at once (ASan and TSan watch that free). To
// make the unmap meet the DMA, the element waits on a semaphore that the MSI handler,
// running on the engine's thread just before the engine blocks, sets and then tells the test
// to unmap: the engine starts the transfer as the test thread wakes up. The element either
// completed or faulted; it never wrote after the unmap.
TEST_F(Iommu, UnmapWaitsForDmaInFlight)
{
    const uint32_t len = 4u << 20;
    const unsigned vec = dbc_msi_vector(q.id);
    std::mutex m;
    std::condition_variable cv;
    bool armed = false;
    d.release_irq(vec);
    ASSERT_FALSE(d.pci.request_irq(vec, [&] {
                     std::lock_guard lk(m);
                     if (!armed)
                         return;
                     d.card().sem_op(q.id, 0, kSemInc, 1);
                     armed = false;
                     cv.notify_all();
                 }).is_error());
    ScopeExit release{[&] { d.pci.free_irq(vec); }};
    for (uint16_t round = 0; round < 8; ++round) {
        auto *host = static_cast<uint8_t *>(std::aligned_alloc(kPage, len));
        kernel::SgTable sgt{{{host, len, 0}}};
        ASSERT_FALSE(d.pci.dma_map_sgtable(sgt, DmaDirection::kFromDevice).is_error());
        DbcReq r = from_dev(round, 0, sgt.entries[0].dma_addr, len);
        r.sem_cmd[0] = sem_word(round + 1, 0, true, kSemWaitEqual, 0);
        {
            std::lock_guard lk(m);
            armed = true;
        }
        d.submit(q, {elem(100, kCmdGenCompletion), r});
        {
            std::unique_lock lk(m);
            ASSERT_TRUE(cv.wait_for(lk, kTimeout, [&] { return !armed; }));
        }
        d.pci.dma_unmap_sgtable(sgt, DmaDirection::kFromDevice);
        std::free(host);
        auto rs = d.collect(q, 2);
        ASSERT_EQ(rs.size(), 2u);
        EXPECT_TRUE(rs[1].status == kRspOk || rs[1].status == kRspIommuFault) << rs[1].status;
    }
}

} // namespace
} // namespace aic100::test
