// SPDX-License-Identifier: GPL-2.0-only
// Full device reset (DEV_RESET, or the platform's Card::reset) with work in flight: BOOT then
// ONLINE, DBCs released without responses, channels disabled and cleared, firmware state
// and sequence numbers forgotten, MSI_MODE shared; IOMMU mappings and DDR survive.
#include "hw/aic100/tests/harness.h"

namespace aic100::test {
namespace {

using kernel::DmaDirection;

using Reset = CardTest;

TEST_F(Reset, WithWorkInFlight)
{
    // Work everywhere: a DBC waiting on a semaphore, another merely assigned, an image, an
    // SSR channel, sequence numbers in use.
    d.next_seq = 40;
    HostBuf src(d.pci, kPage, DmaDirection::kToDevice);
    fill_pattern(src.data(), kPage, 61);
    ASSERT_TRUE(d.transact({dma_xfer(1, 0, 0, {{src.iova(), kPage}})}));
    auto q = d.activate(8);
    auto q2 = d.activate(8);
    ASSERT_TRUE(q && q2);
    EXPECT_EQ(d.run1(*q, to_dev(1, src.iova(), 0x5000, kPage)).status, kRspOk);
    ASSERT_TRUE(d.wait_msi(dbc_msi_vector(q->id), 1)); // idle: nothing folds into the next
    DbcReq held = to_dev(2, src.iova(), 0x9000, kPage);
    held.sem_cmd[0] = sem_word(1, 0, true, kSemWaitEqual, 0);
    d.submit(*q, {elem(3, kCmdGenCompletion), held, elem(4, kCmdGenCompletion)});
    ASSERT_TRUE(d.wait_msi(dbc_msi_vector(q->id), 2)); // at the wait
    Channel ssr;
    ASSERT_TRUE(d.enable_channel(ssr, kSsrChannel, kSsrSlotSize, kSsrSlotSize, 4));

    // Hold the firmware's thread in the control MSI handler, so it cannot boot again before
    // the test has looked at the device in BOOT.
    Gate &gate = d.hold_vector(kMsiControl);
    d.send_raw(make_msg(d.next_seq++, kUser, {status_trans()}));
    ASSERT_TRUE(gate.wait_arrived(1));

    d.wr(kRegDevReset, kResetMagic);
    EXPECT_EQ(d.rd(kRegDevStatus), kDevBoot);
    EXPECT_EQ(d.rd(kRegMsiMode), kMsiShared);
    for (unsigned id = 0; id < 4; ++id) {
        EXPECT_EQ(d.dbc_rd(id, kDbcState), kDbcIdle) << id;
        EXPECT_EQ(d.dbc_rd(id, kDbcNelem), 0u) << id;
        EXPECT_EQ(d.dbc_rd(id, kDbcReqTp), 0u) << id;
        EXPECT_EQ(d.dbc_rd(id, kDbcSem0), 0u) << id;
    }
    for (uint64_t ch : {kCtrlChannel, kSsrChannel})
        for (uint64_t r : {kChH2dBaseLo, kChH2dBaseHi, kChD2hBaseLo, kChD2hBaseHi, kChNelem,
                           kChEnable, kChH2dHead, kChH2dTail, kChD2hHead, kChD2hTail})
            EXPECT_EQ(d.rd(ch + r), 0u) << "channel " << ch << " reg " << r;

    uint64_t msis = d.msi_count(kMsiControl);
    gate.open();
    ASSERT_TRUE(d.wait_online());
    EXPECT_TRUE(d.wait_msi(kMsiControl, msis + 1)); // ONLINE comes with a control MSI

    // The released work never answers, even when its semaphore is set now.
    d.card().sem_op(q->id, 0, kSemInit, 1);
    EXPECT_EQ(q->rsps()[2].req_id, 0);
    EXPECT_EQ(q->rsps()[3].req_id, 0);
    EXPECT_EQ(d.ddr(0x9000, kPage), Bytes(kPage, 0));

    // The driver sets the device up again: any sequence number starts over.
    d.wr(kRegMsiMode, kMsiPerVector);
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 8));
    d.next_seq = 7;
    auto r = d.transact({status_trans()});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    // Images are gone.
    auto info = d.transact({image_info(1)});
    ASSERT_TRUE(info);
    EXPECT_EQ(fw_answer(*info, 0).status, kFwBadCommand);
    // Mappings and DDR survived: the old host buffer still works, DDR kept its data.
    EXPECT_EQ(d.ddr(0x5000, kPage), src.bytes());
    auto q3 = d.activate(8);
    ASSERT_TRUE(q3);
    EXPECT_EQ(q3->id, 0u);
    EXPECT_EQ(d.run1(*q3, to_dev(5, src.iova(), 0xA000, kPage)).status, kRspOk);
    EXPECT_EQ(d.ddr(0xA000, kPage), src.bytes());
}

// The platform's reset does the same as the register.
TEST_F(Reset, PlatformReset)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    ASSERT_TRUE(d.transact({status_trans()}));
    d.card().reset();
    ASSERT_TRUE(d.wait_online());
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcIdle);
    EXPECT_EQ(d.rd(kCtrlChannel + kChEnable), 0u);
    EXPECT_EQ(d.rd(kRegMsiMode), kMsiShared);
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 8));
    d.next_seq = 1000;
    ASSERT_TRUE(d.transact({status_trans()}));
}

// A firmware waiting for room in a full D2H ring is not stuck by it across a reset.
TEST(ResetFw, WhileWaitingForD2hRoom)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    ASSERT_TRUE(d.setup_irqs());
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 2));
    d.send_raw(make_msg(1, kUser, {status_trans()}));
    ASSERT_TRUE(d.wait_until([&] { return d.rd(kCtrlChannel + kChD2hTail) == 1; }));
    d.send_raw(make_msg(2, kUser, {status_trans()}));
    ASSERT_TRUE(d.h2d_consumed(d.ctrl)); // its answer waits for a free slot
    d.wr(kRegDevReset, kResetMagic);
    ASSERT_TRUE(d.wait_online());
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 2));
    d.next_seq = 1;
    auto r = d.transact({status_trans()});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->hdr.sequence_number, 1u);
}

// A reset while the firmware serves an ACTIVATE: whatever the interleaving, no DBC may stay
// assigned after the reset (the host was told nothing, and the firmware forgot the user).
TEST(ResetFw, RacingActivate)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    ASSERT_TRUE(d.setup_irqs());
    Queue q;
    q.nelem = 4;
    q.buf = d.coherent(queue_buf_size(4));
    for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 4));
        d.send_raw(make_msg(1, kUser, {activate_trans(q.req_iova(), q.rsp_iova(), 4, 4,
                                                      q.buf_len())}));
        d.wr(kRegDevReset, kResetMagic);
        ASSERT_TRUE(d.wait_online());
        for (unsigned id = 0; id < 4; ++id)
            ASSERT_EQ(d.dbc_rd(id, kDbcState), kDbcIdle) << "round " << i << " DBC " << id;
    }
}

} // namespace
} // namespace aic100::test
