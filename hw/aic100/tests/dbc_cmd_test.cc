// SPDX-License-Identifier: GPL-2.0-only
// Request element fields: every cmd bit, reserved fields, zero lengths, error latching
// across a slice, and doorbells.
#include "hw/aic100/tests/harness.h"

namespace aic100::test {
namespace {

using kernel::DmaDirection;

class DbcCmd : public ActiveDbcTest {
protected:
    void SetUp() override
    {
        ActiveDbcTest::SetUp();
        src = std::make_unique<HostBuf>(d.pci, 2 * kPage, DmaDirection::kToDevice);
        dst = std::make_unique<HostBuf>(d.pci, 2 * kPage, DmaDirection::kFromDevice);
        fill_pattern(src->data(), src->size(), 11);
        std::memset(dst->data(), 0x5A, dst->size());
        ddr_fill = pattern(2 * kPage, 12);
        ASSERT_TRUE(d.card().ddr_write(kDev, ddr_fill.data(), ddr_fill.size()));
    }
    void TearDown() override
    {
        src.reset();
        dst.reset();
    }
    // Neither the DDR at kDev nor the host destination changed.
    void expect_untouched()
    {
        EXPECT_EQ(d.ddr(kDev, ddr_fill.size()), ddr_fill);
        EXPECT_EQ(dst->bytes(), Bytes(dst->size(), 0x5A));
    }
    static constexpr uint64_t kDev = 0x40000;
    std::unique_ptr<HostBuf> src, dst;
    Bytes ddr_fill;
};

TEST_F(DbcCmd, DirectionNoneMovesNothing)
{
    DbcReq r = to_dev(1, src->iova(), kDev, kPage);
    r.cmd = kCmdBulk | kCmdGenCompletion; // direction 0, len still set
    DbcRsp rsp = d.run1(q, r);
    EXPECT_EQ(rsp.status, kRspOk);
    r.cmd = kCmdGenCompletion; // BULK is only required with a direction
    EXPECT_EQ(d.run1(q, r).status, kRspOk);
    expect_untouched();
    EXPECT_EQ(d.dbc_rd64(q.id, kDbcBytesLo), 0u);
    EXPECT_EQ(d.dbc_rd64(q.id, kDbcElemsLo), 2u);
}

TEST_F(DbcCmd, DirectionThreeMalformed)
{
    DbcReq r = to_dev(1, src->iova(), kDev, kPage);
    r.cmd = 3 | kCmdBulk | kCmdGenCompletion;
    DbcRsp rsp = d.run1(q, r);
    EXPECT_EQ(rsp.req_id, 1);
    EXPECT_EQ(rsp.status, kRspMalformed);
    expect_untouched();
}

TEST_F(DbcCmd, DirectionWithoutBulkMalformed)
{
    DbcReq t = to_dev(1, src->iova(), kDev, kPage);
    t.cmd &= ~kCmdBulk;
    DbcReq f = from_dev(2, kDev, dst->iova(), kPage);
    f.cmd &= ~kCmdBulk;
    d.submit(q, {t, f});
    auto rs = d.collect(q, 2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].status, kRspMalformed);
    EXPECT_EQ(rs[1].status, kRspMalformed);
    expect_untouched();
    EXPECT_EQ(d.dbc_rd(q.id, kDbcErrors), 2u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcLastError), kRspMalformed);
}

// Without GENERATE_COMPLETION the element runs but writes no response.
TEST_F(DbcCmd, NoCompletionNoResponse)
{
    d.submit(q, {to_dev(1, src->iova(), kDev, kPage, 0), elem(2, kCmdGenCompletion)});
    auto rs = d.collect(q, 1);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].req_id, 2);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcReqHp), 2u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcRspTp), 1u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcResponses), 1u);
    EXPECT_EQ(d.ddr(kDev, kPage), Bytes(src->data(), src->data() + kPage));
}

// FORCE_MSI raises the DBC's MSI without a response; an element with neither flag raises none.
TEST_F(DbcCmd, ForceMsiWithoutResponse)
{
    const unsigned vec = dbc_msi_vector(q.id);
    d.submit(q, {elem(1, 0)});
    ASSERT_TRUE(d.wait_reqhp(q, 1));
    d.submit(q, {elem(2, kCmdForceMsi)});
    ASSERT_TRUE(d.wait_msi(vec, 1));
    ASSERT_TRUE(d.wait_reqhp(q, 2));
    // Both ran on one engine in order: an MSI for the first would have come before.
    EXPECT_EQ(d.msi_count(vec), 1u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcRspTp), 0u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcResponses), 0u);
    EXPECT_EQ(q.rsps()[0].req_id, 0);
}

TEST_F(DbcCmd, ForceMsiWithCompletion)
{
    const unsigned vec = dbc_msi_vector(q.id);
    DbcRsp r = d.run1(q, elem(3, kCmdGenCompletion | kCmdForceMsi));
    EXPECT_EQ(r.req_id, 3);
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_TRUE(d.wait_msi(vec, 1));
}

TEST_F(DbcCmd, ReservedCmdBitsMalformed)
{
    std::vector<DbcReq> rs;
    for (uint8_t bit : {0x04, 0x20, 0x40}) {
        DbcReq r = to_dev(bit, src->iova(), kDev, kPage);
        r.cmd |= bit;
        rs.push_back(r);
    }
    DbcReq r = elem(0x64, kCmdGenCompletion | kCmdReservedMask);
    rs.push_back(r);
    d.submit(q, rs);
    auto got = d.collect(q, uint32_t(rs.size()));
    ASSERT_EQ(got.size(), rs.size());
    for (size_t i = 0; i < rs.size(); ++i) {
        EXPECT_EQ(got[i].req_id, rs[i].req_id);
        EXPECT_EQ(got[i].status, kRspMalformed) << "cmd " << int(rs[i].cmd);
    }
    expect_untouched();
}

TEST_F(DbcCmd, ReservedFieldsMalformed)
{
    std::vector<DbcReq> rs;
    for (int field = 0; field < 4; ++field) {
        DbcReq r = to_dev(uint16_t(field), src->iova(), kDev, kPage);
        switch (field) {
        case 0: r.resv = 1u << 31; break;
        case 1: r.resv2 = 1; break;
        case 2: r.resv3 = 0x80; break;
        case 3: r.resv4 = 0x100; break;
        }
        rs.push_back(r);
    }
    d.submit(q, rs);
    auto got = d.collect(q, 4);
    ASSERT_EQ(got.size(), 4u);
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(got[i].status, kRspMalformed) << "field " << i;
    expect_untouched();
}

TEST_F(DbcCmd, BadDoorbellWidthMalformed)
{
    std::vector<DbcReq> rs;
    for (uint8_t code : {0x01, 0x7F, 0x83, 0xFF}) {
        DbcReq r = to_dev(code, src->iova(), kDev, kPage);
        r.db_len = code;
        r.db_addr = 0x1000;
        r.db_data = 0xFFFFFFFF;
        rs.push_back(r);
    }
    d.submit(q, rs);
    auto got = d.collect(q, 4);
    ASSERT_EQ(got.size(), 4u);
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(got[i].status, kRspMalformed) << "db_len " << int(rs[i].db_len);
    expect_untouched();
    EXPECT_EQ(d.ddr(0x1000, 4), Bytes(4, 0));
}

// len 0 moves nothing: it touches neither the host nor DDR, whatever the addresses.
TEST_F(DbcCmd, ZeroLength)
{
    d.submit(q, {to_dev(1, src->iova(), kDev, 0), from_dev(2, kDev, dst->iova(), 0),
                 to_dev(3, 0, kDdrSize + kPage, 0)});
    auto rs = d.collect(q, 3);
    ASSERT_EQ(rs.size(), 3u);
    for (const DbcRsp &r : rs)
        EXPECT_EQ(r.status, kRspOk) << r.req_id;
    expect_untouched();
    EXPECT_EQ(d.dbc_rd64(q.id, kDbcBytesLo), 0u);
}

// ---------------------------------------------------------------------------- latching

// An element failing in the middle of a slice is reported by the slice's completion (same
// req_id); the engine carries on with the rest of the slice and with the next slice.
TEST_F(DbcCmd, ErrorLatchedToSliceCompletion)
{
    d.submit(q, {to_dev(7, src->iova(), kDev, 512, 0),
                 to_dev(7, 0x10, kDev + 512, 512, 0), // outside every mapping
                 to_dev(7, src->iova() + 1024, kDev + 1024, 512),
                 to_dev(8, src->iova() + 2048, kDev + 2048, 512)});
    auto rs = d.collect(q, 2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].req_id, 7);
    EXPECT_EQ(rs[0].status, kRspIommuFault);
    EXPECT_EQ(rs[1].req_id, 8);
    EXPECT_EQ(rs[1].status, kRspOk);
    // Elements before and after the failure moved their data; the failed one did not.
    Bytes ddr = d.ddr(kDev, 2560);
    EXPECT_TRUE(std::equal(ddr.begin(), ddr.begin() + 512, src->data()));
    EXPECT_TRUE(std::equal(ddr.begin() + 512, ddr.begin() + 1024, ddr_fill.begin() + 512));
    EXPECT_TRUE(std::equal(ddr.begin() + 1024, ddr.begin() + 1536, src->data() + 1024));
    EXPECT_TRUE(std::equal(ddr.begin() + 2048, ddr.end(), src->data() + 2048));
    EXPECT_EQ(d.dbc_rd(q.id, kDbcErrors), 1u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcLastError), kRspIommuFault);
}

// The first failure of a slice is the one reported, even if the completing element fails
// differently.
TEST_F(DbcCmd, FirstErrorOfSliceWins)
{
    DbcReq bad_last = to_dev(9, src->iova(), kDev, kPage);
    bad_last.resv2 = 1;
    d.submit(q, {to_dev(9, src->iova(), kDdrSize, 1, 0), bad_last, elem(10, kCmdGenCompletion)});
    auto rs = d.collect(q, 2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].req_id, 9);
    EXPECT_EQ(rs[0].status, kRspDdrRange);
    EXPECT_EQ(rs[1].status, kRspOk); // the latch was cleared by the report
    EXPECT_EQ(d.dbc_rd(q.id, kDbcErrors), 2u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcLastError), kRspMalformed);
}

// ---------------------------------------------------------------------------- doorbells

class Doorbell : public DbcCmd {
protected:
    // Runs one element ringing a doorbell of the given width at addr; returns its status.
    uint16_t ring_db(uint8_t code, uint64_t addr, uint32_t data = 0x11223344)
    {
        DbcReq r = elem(0x0DB, kCmdGenCompletion);
        r.db_len = code;
        r.db_addr = addr;
        r.db_data = data;
        return d.run1(q, r).status;
    }
};

TEST_F(Doorbell, WritesOnlyItsWidth)
{
    const uint64_t a = 0x80000;
    std::vector<uint8_t> ff(16, 0xAA);
    ASSERT_TRUE(d.card().ddr_write(a, ff.data(), ff.size()));
    EXPECT_EQ(ring_db(kDb32, a), kRspOk);
    EXPECT_EQ(ring_db(kDb16, a + 4), kRspOk);
    EXPECT_EQ(ring_db(kDb8, a + 9), kRspOk); // 8-bit needs no alignment
    Bytes want = {0x44, 0x33, 0x22, 0x11, 0x44, 0x33, 0xAA, 0xAA,
                  0xAA, 0x44, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA};
    EXPECT_EQ(d.ddr(a, 16), want);
}

TEST_F(Doorbell, AfterDataOfTheSameElement)
{
    // The doorbell lands on the last word of the transferred range: it must win.
    DbcReq r = to_dev(1, src->iova(), kDev, 64);
    r.db_len = kDb32;
    r.db_addr = kDev + 60;
    r.db_data = 0xCAFEF00D;
    EXPECT_EQ(d.run1(q, r).status, kRspOk);
    Bytes got = d.ddr(kDev, 64);
    EXPECT_TRUE(std::equal(got.begin(), got.begin() + 60, src->data()));
    EXPECT_EQ(load<uint32_t>(got.data() + 60), 0xCAFEF00Du);
}

TEST_F(Doorbell, MisalignedMalformed)
{
    EXPECT_EQ(ring_db(kDb32, 0x80002), kRspMalformed);
    EXPECT_EQ(ring_db(kDb32, 0x80001), kRspMalformed);
    EXPECT_EQ(ring_db(kDb16, 0x80001), kRspMalformed);
    EXPECT_EQ(d.ddr(0x80000, 8), Bytes(8, 0));
}

TEST_F(Doorbell, OutsideDdrRange)
{
    EXPECT_EQ(ring_db(kDb32, kDdrSize), kRspDdrRange);
    EXPECT_EQ(ring_db(kDb16, kDdrSize), kRspDdrRange);
    EXPECT_EQ(ring_db(kDb8, kDdrSize), kRspDdrRange);
    EXPECT_EQ(ring_db(kDb32, ~uint64_t(3)), kRspDdrRange);
    // The last word of DDR is fine.
    EXPECT_EQ(ring_db(kDb32, kDdrSize - 4), kRspOk);
    EXPECT_EQ(load<uint32_t>(d.ddr(kDdrSize - 4, 4).data()), 0x11223344u);
}

// Validation comes before any side effect: a bad doorbell stops the data, and a failed data
// transfer rings no doorbell.
TEST_F(Doorbell, FailedElementHasNoSideEffects)
{
    DbcReq r = to_dev(1, src->iova(), kDev, kPage);
    r.db_len = kDb32;
    r.db_addr = kDdrSize;
    EXPECT_EQ(d.run1(q, r).status, kRspDdrRange);
    expect_untouched();

    r = to_dev(2, src->iova(), kDev, uint32_t(src->size() + 1)); // runs off the mapping
    r.db_len = kDb32;
    r.db_addr = 0x90000;
    r.db_data = 0xFFFFFFFF;
    EXPECT_EQ(d.run1(q, r).status, kRspIommuFault);
    expect_untouched();
    EXPECT_EQ(d.ddr(0x90000, 4), Bytes(4, 0));
}

} // namespace
} // namespace aic100::test
