// SPDX-License-Identifier: GPL-2.0-only
// MSIs: vector allocation, per-vector and shared routing, masking with replay on unmask,
// free_irq, and interrupt moderation.
#include "hw/aic100/tests/harness.h"

#include <atomic>
#include <thread>

namespace aic100::test {
namespace {

TEST(Msi, VectorAllocation)
{
    MiniDriver d(small_config(4));
    ASSERT_TRUE(d.wait_online());
    kernel::PciDev &pci = d.pci;
    // No more than 1 + NUM_DBC vectors exist.
    auto n = pci.alloc_irq_vectors(1, 64);
    ASSERT_FALSE(n.is_error());
    EXPECT_EQ(n.value(), 5u);
    EXPECT_EQ(pci.alloc_irq_vectors(1, 5).code(), -EBUSY);
    EXPECT_EQ(pci.request_irq(5, [] {}).code(), -EINVAL);
    EXPECT_FALSE(pci.request_irq(4, [] {}).is_error());
    EXPECT_EQ(pci.request_irq(4, [] {}).code(), -EBUSY);
    pci.free_irq(4);
    EXPECT_FALSE(pci.request_irq(4, [] {}).is_error());
    pci.free_irq(4);
    pci.free_irq(99); // out of range: harmless
    pci.free_irq_vectors();
    // A limited platform: fewer vectors, or an error below the minimum.
    d.sim.limit_msi_vectors(1);
    EXPECT_EQ(pci.alloc_irq_vectors(2, 5).code(), -ENOSPC);
    n = pci.alloc_irq_vectors(1, 5);
    ASSERT_FALSE(n.is_error());
    EXPECT_EQ(n.value(), 1u);
    pci.free_irq_vectors();
}

// Per-vector mode: DBC id raises vector 1 + id and no other DBC's vector.
TEST(Msi, PerVectorRouting)
{
    MiniDriver d(small_config(4));
    ASSERT_TRUE(d.bring_up());
    ASSERT_EQ(d.vectors(), 5u);
    EXPECT_EQ(d.rd(kRegMsiMode), kMsiPerVector);
    // Every control answer comes with an MSI on vector 0.
    ASSERT_TRUE(d.transact({status_trans()}));
    EXPECT_TRUE(d.wait_msi(kMsiControl, d.ctrl_replies));

    std::vector<Queue> qs;
    for (int i = 0; i < 3; ++i) {
        auto q = d.activate(4);
        ASSERT_TRUE(q);
        qs.push_back(*q);
    }
    d.run1(qs[2], elem(1, kCmdGenCompletion));
    EXPECT_TRUE(d.wait_msi(dbc_msi_vector(2), 1));
    d.run1(qs[0], elem(1, kCmdGenCompletion | kCmdForceMsi));
    EXPECT_TRUE(d.wait_msi(dbc_msi_vector(0), 1));
    EXPECT_EQ(d.msi_count(dbc_msi_vector(1)), 0u);
    EXPECT_EQ(d.msi_count(dbc_msi_vector(3)), 0u);
}

// One vector granted: the driver leaves MSI_MODE shared and every source raises vector 0.
// The control channel accounts for at most one MSI per answer plus the boot MSI, so a count
// beyond that must come from the DBC.
TEST(Msi, SharedModeWithOneVector)
{
    MiniDriver d(small_config(4));
    d.sim.limit_msi_vectors(1);
    ASSERT_TRUE(d.bring_up());
    ASSERT_EQ(d.vectors(), 1u);
    EXPECT_EQ(d.rd(kRegMsiMode), kMsiShared);
    auto q = d.activate(32);
    ASSERT_TRUE(q);
    ASSERT_TRUE(d.activate(4));
    ASSERT_TRUE(d.settle_msi(0, d.ctrl_replies));
    // 17 responses: two MSIs that cannot be folded (moderation after 16, then idle).
    std::vector<DbcReq> rs;
    for (uint16_t i = 0; i < 17; ++i)
        rs.push_back(elem(i, kCmdGenCompletion));
    d.submit(*q, rs);
    EXPECT_TRUE(d.wait_msi(0, d.ctrl_replies + 2));
    auto got = d.collect(*q, 17);
    ASSERT_EQ(got.size(), 17u);
    EXPECT_EQ(got[16].req_id, 16);
}

// Shared mode is the reset value: a driver with all vectors that never writes MSI_MODE still
// gets everything on vector 0.
TEST(Msi, SharedModeIsTheDefault)
{
    MiniDriver d(small_config(2));
    ASSERT_TRUE(d.wait_online());
    ASSERT_TRUE(d.setup_irqs());
    d.wr(kRegMsiMode, kMsiShared);
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 4));
    auto q = d.activate(32);
    ASSERT_TRUE(q);
    ASSERT_TRUE(d.settle_msi(0, d.ctrl_replies));
    std::vector<DbcReq> rs;
    for (uint16_t i = 0; i < 17; ++i)
        rs.push_back(elem(i, kCmdGenCompletion));
    d.submit(*q, rs);
    EXPECT_TRUE(d.wait_msi(0, d.ctrl_replies + 2));
    EXPECT_EQ(d.collect(*q, 17).size(), 17u);
    EXPECT_EQ(d.msi_count(dbc_msi_vector(q->id)), 0u);
}

// An MSI raised while the vector is masked is delivered by enable_irq. The firmware raises
// the MSI for an answer (running the handler on its own thread) before it serves the next
// message: once answer 1 is there, no earlier handler is still running, and once answer 2 is
// there, the MSI for answer 1 was raised.
TEST(Msi, MaskedMsiReplayedOnEnable)
{
    MiniDriver d(small_config(2));
    ASSERT_TRUE(d.bring_up());
    d.pci.disable_irq(kMsiControl);
    d.send_raw(make_msg(d.next_seq++, kUser, {status_trans()}));
    ASSERT_TRUE(d.wait_until([&] { return d.rd(kCtrlChannel + kChD2hTail) == 1; }));
    uint64_t before = d.msi_count(kMsiControl);
    d.send_raw(make_msg(d.next_seq++, kUser, {status_trans()}));
    ASSERT_TRUE(d.wait_until([&] { return d.rd(kCtrlChannel + kChD2hTail) == 2; }));
    EXPECT_EQ(d.msi_count(kMsiControl), before);
    d.pci.enable_irq(kMsiControl); // runs the handler before it returns
    EXPECT_GE(d.msi_count(kMsiControl), before + 1);
    ASSERT_TRUE(d.recv());
    ASSERT_TRUE(d.recv());
}

// Same for a DBC vector. Moderation makes the timing certain: the MSI after the 16th
// response is raised before the 17th response is written.
TEST(Msi, MaskedDbcMsiReplayedOnEnable)
{
    MiniDriver d(small_config(2));
    ASSERT_TRUE(d.bring_up());
    auto q = d.activate(32);
    ASSERT_TRUE(q);
    const unsigned vec = dbc_msi_vector(q->id);
    d.pci.disable_irq(vec);
    std::vector<DbcReq> rs;
    for (uint16_t i = 0; i < 17; ++i)
        rs.push_back(elem(i, kCmdGenCompletion));
    d.submit(*q, rs);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcRspTp) == 17; }));
    EXPECT_EQ(d.msi_count(vec), 0u);
    d.pci.enable_irq(vec);
    EXPECT_GE(d.msi_count(vec), 1u);
    // Masking is per vector: the control vector kept working meanwhile.
    ASSERT_TRUE(d.transact({status_trans()}));
}

// After free_irq no handler runs on that vector; a new request_irq gets MSIs again.
TEST(Msi, FreedVectorGetsNothing)
{
    MiniDriver d(small_config(2));
    ASSERT_TRUE(d.bring_up());
    auto q = d.activate(4);
    ASSERT_TRUE(q);
    const unsigned vec = dbc_msi_vector(q->id);
    d.release_irq(vec);
    d.submit(*q, {elem(1, kCmdGenCompletion | kCmdForceMsi)});
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcRspTp) == 1; }));
    EXPECT_EQ(d.msi_count(vec), 0u);
    d.collect(*q, 1);
    d.rerequest_irq(vec);
    d.submit(*q, {elem(2, kCmdGenCompletion)});
    EXPECT_TRUE(d.wait_msi(vec, 1));
    EXPECT_EQ(d.collect(*q, 1).at(0).req_id, 2);
}

// free_irq returns only once a running handler has finished.
TEST(Msi, FreeIrqWaitsForRunningHandler)
{
    MiniDriver d(small_config(2));
    ASSERT_TRUE(d.bring_up());
    auto q = d.activate(4);
    ASSERT_TRUE(q);
    const unsigned vec = dbc_msi_vector(q->id);
    d.release_irq(vec);
    std::mutex m;
    std::condition_variable cv;
    bool entered = false, open = false;
    std::atomic<bool> freed{false};
    bool freed_inside = true;
    ASSERT_FALSE(d.pci.request_irq(vec, [&] {
                     std::unique_lock lk(m);
                     entered = true;
                     cv.notify_all();
                     cv.wait(lk, [&] { return open; });
                     freed_inside = freed.load();
                 }).is_error());
    auto release = [&] {
        std::lock_guard lk(m);
        open = true;
        cv.notify_all();
    };
    ScopeExit cleanup{[&] {
        release();
        d.pci.free_irq(vec); // no-op once freed
    }};
    d.submit(*q, {elem(1, kCmdForceMsi)});
    {
        std::unique_lock lk(m);
        ASSERT_TRUE(cv.wait_for(lk, kTimeout, [&] { return entered; }));
    }
    std::thread t([&] {
        d.pci.free_irq(vec);
        freed = true;
    });
    // While the handler is held (on the engine's thread), free_irq must not return.
    EXPECT_FALSE(d.wait_until([&] { return freed.load(); }, kQuiet));
    release();
    t.join();
    EXPECT_FALSE(freed_inside);
}

// Interrupt moderation: a long batch raises an MSI after every 16 responses, not only at
// the end.
TEST(Msi, ModerationEverySixteenResponses)
{
    MiniDriver d(small_config(2));
    ASSERT_TRUE(d.bring_up());
    auto q = d.activate(64);
    ASSERT_TRUE(q);
    const unsigned vec = dbc_msi_vector(q->id);
    std::vector<DbcReq> rs;
    for (uint16_t i = 0; i < 40; ++i)
        rs.push_back(elem(i, kCmdGenCompletion));
    d.submit(*q, rs);
    auto got = d.collect(*q, 40);
    ASSERT_EQ(got.size(), 40u);
    // After 16, after 32, and when the engine went idle after 40.
    EXPECT_TRUE(d.wait_msi(vec, 3));
}

} // namespace
} // namespace aic100::test
