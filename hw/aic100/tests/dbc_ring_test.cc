// SPDX-License-Identifier: GPL-2.0-only
// DBC rings: data to and from the device, ring wrap-around, full rings, response ordering
// and req_id, the index registers' rules, and the counters.
#include "hw/aic100/tests/harness.h"

namespace aic100::test {
namespace {

using kernel::DmaDirection;

using DbcRing = CardTest;

TEST_F(DbcRing, ActivationSetsRegisters)
{
    EXPECT_EQ(d.dbc_rd(0, kDbcState), kDbcIdle);
    EXPECT_EQ(d.dbc_rd(0, kDbcNelem), 0u);
    auto q = d.activate(16);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->id, 0u); // the lowest idle DBC
    EXPECT_EQ(d.dbc_rd(0, kDbcState), kDbcAssigned);
    EXPECT_EQ(d.dbc_rd(0, kDbcNelem), 16u);
    for (uint64_t r : {kDbcReqHp, kDbcReqTp, kDbcRspHp, kDbcRspTp, kDbcLastError, kDbcElemsLo,
                       kDbcElemsHi, kDbcBytesLo, kDbcBytesHi, kDbcErrors, kDbcResponses})
        EXPECT_EQ(d.dbc_rd(0, r), 0u) << "reg " << r;
    DbcCounters c = d.card().dbc_counters(0);
    EXPECT_EQ(c.state, kDbcAssigned);
    EXPECT_EQ(c.nelem, 16u);
    EXPECT_EQ(c.queue_level, 0u);
}

TEST_F(DbcRing, ToDeviceTransfer)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    HostBuf src(d.pci, 3 * kPage + 100, DmaDirection::kToDevice);
    fill_pattern(src.data(), src.size(), 1);
    const uint64_t dev = 0x10000;
    DbcRsp r = d.run1(*q, to_dev(0x1234, src.iova(), dev, uint32_t(src.size())));
    EXPECT_EQ(r.req_id, 0x1234);
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_EQ(d.ddr(dev, src.size()), src.bytes());
    EXPECT_EQ(d.ddr(dev + src.size(), 64), Bytes(64, 0)); // nothing past len
    EXPECT_EQ(d.dbc_rd(q->id, kDbcReqHp), 1u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcRspTp), 1u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcRspHp), 1u);
}

TEST_F(DbcRing, FromDeviceTransfer)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    Bytes data = pattern(2 * kPage + 17, 2);
    const uint64_t dev = kDdrSize - data.size(); // the very end of DDR is usable
    ASSERT_TRUE(d.card().ddr_write(dev, data.data(), data.size()));
    HostBuf dst(d.pci, data.size() + 32, DmaDirection::kFromDevice);
    std::memset(dst.data(), 0xEE, dst.size());
    DbcRsp r = d.run1(*q, from_dev(7, dev, dst.iova(), uint32_t(data.size())));
    EXPECT_EQ(r.req_id, 7);
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_EQ(Bytes(dst.data(), dst.data() + data.size()), data);
    EXPECT_EQ(Bytes(dst.data() + data.size(), dst.data() + dst.size()), Bytes(32, 0xEE));
}

// A bidirectional mapping serves both directions; in-page offsets of the host are kept.
TEST_F(DbcRing, RoundTripThroughBidirectionalMapping)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    HostBuf buf(d.pci, 5000, DmaDirection::kBidirectional, 0x234);
    EXPECT_EQ(buf.iova() & (kPage - 1), 0x234u);
    fill_pattern(buf.data(), buf.size(), 3);
    Bytes orig = buf.bytes();
    EXPECT_EQ(d.run1(*q, to_dev(1, buf.iova(), 0x4000, 5000)).status, kRspOk);
    std::memset(buf.data(), 0, buf.size());
    EXPECT_EQ(d.run1(*q, from_dev(2, 0x4000, buf.iova(), 5000)).status, kRspOk);
    EXPECT_EQ(buf.bytes(), orig);
}

// Each sg entry has its own IOVA; one element per entry, as a driver splits a BO.
TEST_F(DbcRing, ScatterGatherSlice)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    HostBuf src(d.pci, 4 * kPage, DmaDirection::kToDevice, 0, 4);
    fill_pattern(src.data(), src.size(), 4);
    std::vector<DbcReq> slice;
    for (unsigned i = 0; i < 4; ++i)
        slice.push_back(to_dev(9, src.iova(i), 0x100000 + i * kPage, kPage,
                               i == 3 ? kCmdGenCompletion : 0));
    d.submit(*q, slice);
    auto rs = d.collect(*q, 1);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].req_id, 9);
    EXPECT_EQ(rs[0].status, kRspOk);
    EXPECT_EQ(d.ddr(0x100000, src.size()), src.bytes());
    EXPECT_EQ(d.dbc_rd64(q->id, kDbcElemsLo), 4u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcResponses), 1u);
}

// Several laps of a 4-slot ring, in batches of up to nelem - 1: indices wrap and every
// element moves its own data.
TEST_F(DbcRing, WrapAroundOverSeveralLaps)
{
    auto q = d.activate(4);
    ASSERT_TRUE(q);
    const uint32_t kChunk = 256, kCount = 19;
    HostBuf src(d.pci, kChunk * kCount, DmaDirection::kToDevice);
    fill_pattern(src.data(), src.size(), 5);
    uint32_t sent = 0, batch = 1;
    while (sent < kCount) {
        uint32_t n = std::min(kCount - sent, batch);
        for (uint32_t i = 0; i < n; ++i, ++sent)
            d.push(*q, to_dev(uint16_t(100 + sent), src.iova() + sent * kChunk,
                              0x200000 + sent * kChunk, kChunk));
        d.ring(*q);
        auto rs = d.collect(*q, n);
        ASSERT_EQ(rs.size(), n);
        for (uint32_t i = 0; i < n; ++i) {
            EXPECT_EQ(rs[i].req_id, 100 + sent - n + i);
            EXPECT_EQ(rs[i].status, kRspOk);
        }
        EXPECT_EQ(d.dbc_rd(q->id, kDbcReqHp), sent % 4);
        EXPECT_EQ(d.dbc_rd(q->id, kDbcReqTp), sent % 4);
        EXPECT_EQ(d.dbc_rd(q->id, kDbcRspTp), sent % 4);
        batch = batch % 3 + 1;
    }
    EXPECT_EQ(d.ddr(0x200000, src.size()), src.bytes());
    EXPECT_EQ(d.dbc_rd64(q->id, kDbcElemsLo), kCount);
    EXPECT_EQ(d.dbc_rd64(q->id, kDbcBytesLo), uint64_t(kCount) * kChunk);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcResponses), kCount);
}

// A full ring: nelem - 1 elements in one doorbell, all answered without the host consuming
// a single response (the response ring holds nelem - 1 too).
TEST_F(DbcRing, FullRing)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    HostBuf src(d.pci, 7 * 512, DmaDirection::kToDevice);
    fill_pattern(src.data(), src.size(), 6);
    for (uint32_t i = 0; i < 7; ++i)
        d.push(*q, to_dev(uint16_t(i + 1), src.iova() + i * 512, 0x300000 + i * 512, 512));
    EXPECT_EQ(ring_free(d.dbc_rd(q->id, kDbcReqHp), q->req_tail, q->nelem), 0u);
    d.ring(*q);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcRspTp) == 7; }));
    EXPECT_EQ(d.dbc_rd(q->id, kDbcReqHp), 7u);
    auto rs = d.collect(*q, 7);
    ASSERT_EQ(rs.size(), 7u);
    for (uint32_t i = 0; i < 7; ++i)
        EXPECT_EQ(rs[i].req_id, i + 1);
    EXPECT_EQ(d.ddr(0x300000, src.size()), src.bytes());
}

// With the response ring full the engine waits for the host before it writes the next
// response, and resumes when RSPHP moves.
TEST_F(DbcRing, FullResponseRingStallsEngine)
{
    auto q = d.activate(4);
    ASSERT_TRUE(q);
    d.submit(*q, {elem(1, kCmdGenCompletion), elem(2, kCmdGenCompletion),
                  elem(3, kCmdGenCompletion)});
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcRspTp) == 3; }));
    d.submit(*q, {elem(4, kCmdGenCompletion), elem(5, kCmdGenCompletion)});
    // Element 4 cannot complete: no response slot. Give it a moment to (wrongly) go on.
    EXPECT_FALSE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcRspTp) != 3; }, kQuiet));
    EXPECT_EQ(d.dbc_rd(q->id, kDbcReqHp), 3u);
    auto rs = d.collect(*q, 3); // frees the slots: RSPHP = 3
    ASSERT_EQ(rs.size(), 3u);
    rs = d.collect(*q, 2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].req_id, 4);
    EXPECT_EQ(rs[1].req_id, 5);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcReqHp), 1u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcRspTp), 1u);
}

TEST_F(DbcRing, IndexWritesOutsideRingIgnored)
{
    auto q = d.activate(4);
    ASSERT_TRUE(q);
    d.dbc_wr(q->id, kDbcReqTp, 4);
    d.dbc_wr(q->id, kDbcReqTp, 0xFFFFFFFF);
    d.dbc_wr(q->id, kDbcRspHp, 4);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcReqTp), 0u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcRspHp), 0u);
    // RSPHP reads back what the host wrote, RSPTP is the device's.
    d.dbc_wr(q->id, kDbcRspHp, 2);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcRspHp), 2u);
    d.dbc_wr(q->id, kDbcRspHp, 0);
    // A valid doorbell after the ignored ones works, and nothing ran in between.
    EXPECT_EQ(d.card().dbc_counters(q->id).elements, 0u);
    DbcRsp r = d.run1(*q, elem(11, kCmdGenCompletion));
    EXPECT_EQ(r.req_id, 11);
    EXPECT_EQ(d.dbc_rd64(q->id, kDbcElemsLo), 1u);
}

TEST_F(DbcRing, DoorbellsOnIdleDbcIgnored)
{
    auto q = d.activate(4);
    ASSERT_TRUE(q);
    // DBC 1 is idle: a ring's worth of elements would be there, but it has no rings.
    d.dbc_wr(1, kDbcReqTp, 1);
    d.dbc_wr(1, kDbcRspHp, 1);
    EXPECT_EQ(d.dbc_rd(1, kDbcReqTp), 0u);
    EXPECT_EQ(d.dbc_rd(1, kDbcRspHp), 0u);
    EXPECT_EQ(d.dbc_rd(1, kDbcNelem), 0u);
    // After deactivation the same holds for DBC 0.
    EXPECT_EQ(d.deactivate(*q), kFwOk);
    d.push(*q, elem(1, kCmdGenCompletion));
    d.ring(*q);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcReqTp), 0u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcIdle);
    EXPECT_EQ(d.card().dbc_counters(q->id).elements, 0u);
    EXPECT_EQ(q->rsps()[0].req_id, 0);
}

TEST_F(DbcRing, ResponsesInRingOrderWithReqIds)
{
    auto q = d.activate(32);
    ASSERT_TRUE(q);
    std::vector<DbcReq> rs;
    for (uint16_t id : {0xFFFF, 0, 1, 0x8000, 42, 42, 7})
        rs.push_back(elem(id, kCmdGenCompletion));
    d.submit(*q, rs);
    auto got = d.collect(*q, uint32_t(rs.size()));
    ASSERT_EQ(got.size(), rs.size());
    for (size_t i = 0; i < rs.size(); ++i) {
        EXPECT_EQ(got[i].req_id, rs[i].req_id);
        EXPECT_EQ(got[i].status, kRspOk);
    }
}

// Counters through registers and dbc_counters, including the queue level while the engine is
// held by a semaphore wait.
TEST_F(DbcRing, Counters)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    HostBuf src(d.pci, 3000, DmaDirection::kToDevice);
    DbcReq held = elem(1, kCmdGenCompletion);
    held.sem_cmd[0] = sem_word(1, 0, true, kSemWaitEqual, 0);
    d.submit(*q, {held, to_dev(2, src.iova(), 0, 3000), to_dev(3, src.iova(), 0, 1000, 0),
                  elem(4, kCmdGenCompletion)});
    DbcCounters c = d.card().dbc_counters(q->id);
    EXPECT_EQ(c.queue_level, 4u);
    EXPECT_EQ(c.elements, 0u);
    d.card().sem_op(q->id, 0, kSemInit, 1);
    auto rsp = d.collect(*q, 3);
    ASSERT_EQ(rsp.size(), 3u);
    // A failing element counts as executed and as an error, and moves no bytes.
    d.submit(*q, {to_dev(5, 0x10, 0, 8)});
    rsp = d.collect(*q, 1);
    ASSERT_EQ(rsp.size(), 1u);
    EXPECT_EQ(rsp[0].status, kRspIommuFault);

    c = d.card().dbc_counters(q->id);
    EXPECT_EQ(c.state, kDbcAssigned);
    EXPECT_EQ(c.nelem, 8u);
    EXPECT_EQ(c.queue_level, 0u);
    EXPECT_EQ(c.elements, 5u);
    EXPECT_EQ(c.bytes, 4000u);
    EXPECT_EQ(c.errors, 1u);
    EXPECT_EQ(c.responses, 4u);
    EXPECT_EQ(c.last_error, kRspIommuFault);
    EXPECT_EQ(d.dbc_rd64(q->id, kDbcElemsLo), 5u);
    EXPECT_EQ(d.dbc_rd64(q->id, kDbcBytesLo), 4000u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcErrors), 1u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcResponses), 4u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcLastError), kRspIommuFault);

    // LAST_ERROR keeps the last non-zero status through later successes.
    EXPECT_EQ(d.run1(*q, elem(6, kCmdGenCompletion)).status, kRspOk);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcLastError), kRspIommuFault);

    // Counters start over with the next activation.
    EXPECT_EQ(d.deactivate(*q), kFwOk);
    auto q2 = d.activate(8);
    ASSERT_TRUE(q2);
    ASSERT_EQ(q2->id, q->id);
    c = d.card().dbc_counters(q2->id);
    EXPECT_EQ(c.elements + c.bytes + c.errors + c.responses + c.last_error, 0u);
}

// Soft reset (RESET register): the element being executed and the pending ones are dropped
// without responses, indices and semaphores go to 0, the DBC stays ASSIGNED with its rings,
// and the host carries on from index 0.
TEST_F(DbcRing, SoftReset)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    DbcReq held = elem(2, kCmdGenCompletion);
    held.sem_cmd[0] = sem_word(1, 0, true, kSemWaitEqual, 0);
    d.submit(*q, {elem(1, kCmdGenCompletion), held, elem(3, kCmdGenCompletion)});
    ASSERT_TRUE(d.wait_msi(dbc_msi_vector(q->id), 1)); // at the wait
    d.card().sem_op(q->id, 5, kSemInit, 9);

    d.dbc_wr(q->id, kDbcReset, kResetMagic + 1); // wrong value: ignored
    EXPECT_EQ(d.dbc_rd(q->id, kDbcReqHp), 1u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcSem0 + 4 * 5), 9u);
    d.dbc_wr(q->id, kDbcReset, kResetMagic);
    for (uint64_t r : {kDbcReqHp, kDbcReqTp, kDbcRspHp, kDbcRspTp, kDbcSem0, kDbcSem0 + 4 * 5})
        EXPECT_EQ(d.dbc_rd(q->id, r), 0u) << "reg " << r;
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcAssigned);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcNelem), 8u);
    d.card().sem_op(q->id, 0, kSemInit, 1); // too late for the dropped element

    q->req_tail = q->rsp_head = 0;
    DbcRsp r = d.run1(*q, elem(4, kCmdGenCompletion));
    EXPECT_EQ(r.req_id, 4);
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_EQ(q->rsps()[1].req_id, 0); // never answered: slot 1 untouched

    // On an idle DBC the register does nothing.
    d.dbc_wr(1, kDbcReset, kResetMagic);
    EXPECT_EQ(d.dbc_rd(1, kDbcState), kDbcIdle);
}

} // namespace
} // namespace aic100::test
