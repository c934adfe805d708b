// SPDX-License-Identifier: GPL-2.0-only
// DBC semaphores: the arithmetic commands, waits that block only their own engine until the
// NSP (Card::sem_op) releases them, presync versus post ordering, and malformed words.
#include "hw/aic100/tests/harness.h"

namespace aic100::test {
namespace {

using kernel::DmaDirection;

class Sem : public ActiveDbcTest {
protected:
    // An element that only runs semaphore words, with a completion.
    static DbcReq sems(uint16_t id, std::initializer_list<uint32_t> words)
    {
        DbcReq r = elem(id, kCmdGenCompletion);
        int i = 0;
        for (uint32_t w : words)
            r.sem_cmd[i++] = w;
        return r;
    }
    uint32_t sem_reg(unsigned i) { return d.dbc_rd(q.id, kDbcSem0 + 4 * i); }
    // The engine is waiting: an MSI for the elements before the wait was flushed before it
    // blocked, so once it arrived the engine has reached the wait.
    void wait_blocked(uint64_t msis)
    {
        ASSERT_TRUE(d.wait_msi(dbc_msi_vector(q.id), msis));
    }
};

TEST_F(Sem, InitIncDec)
{
    EXPECT_EQ(d.run1(q, sems(1, {sem_word(100, 3, false, kSemInit, 0)})).status, kRspOk);
    EXPECT_EQ(sem_reg(3), 100u);
    EXPECT_EQ(d.run1(q, sems(2, {sem_word(23, 3, false, kSemInc, 0)})).status, kRspOk);
    EXPECT_EQ(sem_reg(3), 123u);
    EXPECT_EQ(d.run1(q, sems(3, {sem_word(20, 3, false, kSemDec, 0)})).status, kRspOk);
    EXPECT_EQ(sem_reg(3), 103u);
    EXPECT_EQ(d.card().sem_value(q.id, 3), 103u);
    EXPECT_EQ(sem_reg(2), 0u);
    EXPECT_EQ(sem_reg(4), 0u);
}

TEST_F(Sem, ArithmeticIsModulo4096)
{
    d.submit(q, {sems(1, {sem_word(1, 0, false, kSemInit, 0), sem_word(2, 0, false, kSemDec, 0)}),
                 sems(2, {sem_word(4095, 1, false, kSemInit, 0),
                          sem_word(3, 1, false, kSemInc, 0)}),
                 sems(3, {sem_word(0xFFF, 2, false, kSemInc, 0),
                          sem_word(0xFFF, 2, false, kSemInc, 0)})});
    auto rs = d.collect(q, 3);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(sem_reg(0), 4095u);
    EXPECT_EQ(sem_reg(1), 2u);
    EXPECT_EQ(sem_reg(2), 4094u);
}

TEST_F(Sem, EveryRegisterReadable)
{
    for (unsigned i = 0; i < kNumSems; ++i)
        d.card().sem_op(q.id, i, kSemInit, 100 * i + 1);
    for (unsigned i = 0; i < kNumSems; ++i)
        EXPECT_EQ(sem_reg(i), 100 * i + 1) << "sem " << i;
    // Index 31 is addressable from an element too.
    EXPECT_EQ(d.run1(q, sems(1, {sem_word(5, 31, false, kSemDec, 0)})).status, kRspOk);
    EXPECT_EQ(sem_reg(31), 3096u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcSem0 + 4 * kNumSems), 0u); // past the last one
}

// The test-control API applies INIT/INC/DEC with the same arithmetic; waits are no-ops.
TEST_F(Sem, NspOperations)
{
    d.card().sem_op(q.id, 5, kSemInit, 0x1FFF); // only the low 12 bits
    EXPECT_EQ(sem_reg(5), 0xFFFu);
    d.card().sem_op(q.id, 5, kSemInc, 2);
    EXPECT_EQ(sem_reg(5), 1u);
    d.card().sem_op(q.id, 5, kSemDec, 3);
    EXPECT_EQ(sem_reg(5), 4094u);
    d.card().sem_op(q.id, 5, kSemWaitEqual, 0);
    EXPECT_EQ(sem_reg(5), 4094u);
    d.card().sem_op(q.id, kNumSems, kSemInit, 1); // out of range: ignored
}

// Words run in order sem0..sem3 within a phase, and every presync word before the transfer
// and before any post word, wherever it sits.
TEST_F(Sem, OrderOfWords)
{
    d.submit(q, {sems(1, {sem_word(2, 0, false, kSemInit, 0), sem_word(3, 0, false, kSemInc, 0)}),
                 sems(2, {sem_word(3, 1, false, kSemInc, 0), sem_word(2, 1, false, kSemInit, 0)}),
                 sems(3, {sem_word(5, 2, false, kSemInit, 0), sem_word(1, 2, true, kSemInc, 0)}),
                 sems(4, {sem_word(1, 3, false, kSemInc, 0), 0, 0,
                          sem_word(5, 3, true, kSemInit, 0)})});
    auto rs = d.collect(q, 4);
    ASSERT_EQ(rs.size(), 4u);
    EXPECT_EQ(sem_reg(0), 5u);
    EXPECT_EQ(sem_reg(1), 2u);
    EXPECT_EQ(sem_reg(2), 5u); // presync INC 1, then post INIT 5
    EXPECT_EQ(sem_reg(3), 6u); // presync INIT 5, then post INC 1
}

// A presync wait holds the element before its transfer: DDR is untouched while it waits.
TEST_F(Sem, PresyncWaitEqualBlocksBeforeTransfer)
{
    HostBuf src(d.pci, kPage, DmaDirection::kToDevice);
    fill_pattern(src.data(), src.size(), 21);
    DbcReq r = to_dev(2, src.iova(), 0x1000, kPage);
    r.sem_cmd[1] = sem_word(5, 3, true, kSemWaitEqual, 0);
    d.submit(q, {elem(1, kCmdGenCompletion), r, elem(3, kCmdGenCompletion)});
    wait_blocked(1);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcRspTp), 1u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcReqHp), 1u);
    EXPECT_EQ(d.ddr(0x1000, kPage), Bytes(kPage, 0));

    d.card().sem_op(q.id, 3, kSemInit, 6); // not equal: still waiting
    d.card().sem_op(q.id, 3, kSemInit, 4);
    EXPECT_EQ(d.ddr(0x1000, kPage), Bytes(kPage, 0));
    EXPECT_EQ(d.dbc_rd(q.id, kDbcReqHp), 1u);
    d.card().sem_op(q.id, 3, kSemInc, 1);
    auto rs = d.collect(q, 3);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(rs[1].req_id, 2);
    EXPECT_EQ(rs[1].status, kRspOk);
    EXPECT_EQ(rs[2].req_id, 3);
    EXPECT_EQ(d.ddr(0x1000, kPage), src.bytes());
}

TEST_F(Sem, WaitGtEq)
{
    DbcReq r = sems(2, {sem_word(4, 7, true, kSemWaitGtEq, 0)});
    d.submit(q, {elem(1, kCmdGenCompletion), r});
    wait_blocked(1);
    d.card().sem_op(q.id, 7, kSemInc, 3);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcReqHp), 1u);
    d.card().sem_op(q.id, 7, kSemInit, 9); // greater releases it
    auto rs = d.collect(q, 2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[1].req_id, 2);
    EXPECT_EQ(rs[1].status, kRspOk);
}

TEST_F(Sem, WaitGt0)
{
    // The val field is ignored by WAIT_GT_0.
    DbcReq r = sems(2, {sem_word(100, 8, true, kSemWaitGt0, 0)});
    d.submit(q, {elem(1, kCmdGenCompletion), r});
    wait_blocked(1);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcReqHp), 1u);
    d.card().sem_op(q.id, 8, kSemInc, 1);
    auto rs = d.collect(q, 2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[1].status, kRspOk);
}

// Satisfied waits do not block, and the engine's own INC can satisfy a later wait.
TEST_F(Sem, SatisfiedWaitsPass)
{
    d.submit(q, {sems(1, {sem_word(0, 0, true, kSemWaitEqual, 0)}),
                 sems(2, {sem_word(0, 0, true, kSemWaitGtEq, 0)}),
                 sems(3, {sem_word(2, 1, false, kSemInc, 0)}),
                 sems(4, {sem_word(0, 1, true, kSemWaitGt0, 0), sem_word(2, 1, true,
                                                                         kSemWaitEqual, 0)})});
    auto rs = d.collect(q, 4);
    ASSERT_EQ(rs.size(), 4u);
    for (const DbcRsp &r : rs)
        EXPECT_EQ(r.status, kRspOk);
}

// Post-transfer words run after the data and the doorbell: while a post wait holds the
// element, its data and doorbell are already in DDR but there is no response yet.
TEST_F(Sem, PostWaitBlocksAfterTransfer)
{
    HostBuf src(d.pci, kPage, DmaDirection::kToDevice);
    fill_pattern(src.data(), src.size(), 22);
    DbcReq r = to_dev(2, src.iova(), 0x2000, kPage);
    r.db_len = kDb32;
    r.db_addr = 0x8000;
    r.db_data = 0x600D;
    r.sem_cmd[0] = sem_word(1, 4, false, kSemWaitEqual, 0);
    r.sem_cmd[1] = sem_word(7, 5, false, kSemInit, 0); // after the wait
    d.submit(q, {elem(1, kCmdGenCompletion), r});
    wait_blocked(1);
    ASSERT_TRUE(d.wait_until([&] { return d.ddr(0x8000, 4) == Bytes{0x0D, 0x60, 0, 0}; }));
    EXPECT_EQ(d.ddr(0x2000, kPage), src.bytes());
    EXPECT_EQ(d.dbc_rd(q.id, kDbcRspTp), 1u);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcReqHp), 1u);
    EXPECT_EQ(sem_reg(5), 0u);
    d.card().sem_op(q.id, 4, kSemInit, 1);
    auto rs = d.collect(q, 2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[1].req_id, 2);
    EXPECT_EQ(rs[1].status, kRspOk);
    EXPECT_EQ(sem_reg(5), 7u);
}

// A wait blocks only its own DBC's engine.
TEST_F(Sem, WaitDoesNotBlockOtherDbcs)
{
    auto q2 = d.activate(8);
    ASSERT_TRUE(q2);
    ASSERT_NE(q2->id, q.id);
    d.submit(q, {elem(1, kCmdGenCompletion), sems(2, {sem_word(1, 0, true, kSemWaitEqual, 0)})});
    wait_blocked(1);

    HostBuf src(d.pci, kPage, DmaDirection::kToDevice);
    fill_pattern(src.data(), src.size(), 23);
    DbcRsp r = d.run1(*q2, to_dev(5, src.iova(), 0x3000, kPage));
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_EQ(d.ddr(0x3000, kPage), src.bytes());
    // The same semaphore index on the other DBC is a different semaphore.
    EXPECT_EQ(d.run1(*q2, sems(6, {sem_word(1, 0, false, kSemInit, 0)})).status, kRspOk);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcReqHp), 1u);
    EXPECT_EQ(d.card().sem_value(q.id, 0), 0u);

    d.card().sem_op(q.id, 0, kSemInit, 1);
    auto rs = d.collect(q, 2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[1].req_id, 2);
}

// The fence flags order against the NSP; in this in-order engine they change nothing.
TEST_F(Sem, FenceFlagsAccepted)
{
    uint32_t both = kSemFlagInSyncFence | kSemFlagOutSyncFence;
    DbcRsp r = d.run1(q, sems(1, {sem_word(3, 9, false, kSemInit, kSemFlagInSyncFence),
                                  sem_word(1, 9, false, kSemInc, kSemFlagOutSyncFence),
                                  sem_word(0, 9, true, kSemWaitEqual, both)}));
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_EQ(sem_reg(9), 4u);
}

TEST_F(Sem, BadWordsMalformed)
{
    const uint32_t good = sem_word(1, 2, false, kSemInc, 0);
    std::vector<uint32_t> bad = {
        good | 1u << 12,                          // reserved bits 15:12
        good | 1u << 15,
        good | 1u << 23,                          // reserved bit 23
        good & ~kSemEnable,                       // a command without enable
        kSemEnable,                               // enable without a command
        kSemEnable | 7u << kSemCmdShift,          // command 7
        7u << kSemCmdShift,                       // command 7 without enable
        kSemEnable | kSemFlagInSyncFence << kSemFlagsShift, // enable on a no-op word
    };
    std::vector<DbcReq> rs;
    for (size_t i = 0; i < bad.size(); ++i) {
        // The good word first: validation precedes every side effect.
        DbcReq r = sems(uint16_t(i), {good, 0, 0, bad[i]});
        rs.push_back(r);
    }
    d.submit(q, rs);
    auto got = d.collect(q, uint32_t(rs.size()));
    ASSERT_EQ(got.size(), rs.size());
    for (size_t i = 0; i < rs.size(); ++i)
        EXPECT_EQ(got[i].status, kRspMalformed) << std::hex << "word 0x" << bad[i];
    EXPECT_EQ(sem_reg(2), 0u);
}

// A word with cmd 0 is no operation, with or without fence flags (a driver puts a fence on
// the last element of a slice that has no semaphores).
TEST_F(Sem, NoOpWordsWithFlags)
{
    DbcRsp r = d.run1(q, sems(1, {kSemFlagInSyncFence << kSemFlagsShift,
                                  kSemFlagOutSyncFence << kSemFlagsShift, 0,
                                  (kSemFlagInSyncFence | kSemFlagOutSyncFence) << kSemFlagsShift}));
    EXPECT_EQ(r.status, kRspOk);
    for (unsigned i = 0; i < kNumSems; ++i)
        EXPECT_EQ(sem_reg(i), 0u);
}

// Semaphores start at 0 with every activation.
TEST_F(Sem, ClearedByReactivation)
{
    d.card().sem_op(q.id, 1, kSemInit, 77);
    EXPECT_EQ(d.run1(q, sems(1, {sem_word(9, 30, false, kSemInit, 0)})).status, kRspOk);
    EXPECT_EQ(d.deactivate(q), kFwOk);
    EXPECT_EQ(sem_reg(1), 0u);
    auto q2 = d.activate(4);
    ASSERT_TRUE(q2);
    ASSERT_EQ(q2->id, q.id);
    for (unsigned i = 0; i < kNumSems; ++i)
        EXPECT_EQ(d.dbc_rd(q2->id, kDbcSem0 + 4 * i), 0u) << "sem " << i;
}

// Deactivating a DBC whose engine waits drops the element: no response ever comes, even
// when the semaphore changes afterwards.
TEST_F(Sem, DeactivateReleasesBlockedEngine)
{
    d.submit(q, {elem(1, kCmdGenCompletion), sems(2, {sem_word(1, 0, true, kSemWaitEqual, 0)}),
                 elem(3, kCmdGenCompletion)});
    wait_blocked(1);
    EXPECT_EQ(d.deactivate(q), kFwOk);
    EXPECT_EQ(d.dbc_rd(q.id, kDbcState), kDbcIdle);
    d.card().sem_op(q.id, 0, kSemInit, 1);
    // The DBC can be used again at once.
    auto q2 = d.activate(4);
    ASSERT_TRUE(q2);
    EXPECT_EQ(d.run1(*q2, elem(4, kCmdGenCompletion)).req_id, 4);
    EXPECT_EQ(q.rsps()[1].req_id, 0);
    EXPECT_EQ(q.rsps()[2].req_id, 0);
}

} // namespace
} // namespace aic100::test
