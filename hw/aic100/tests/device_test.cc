// SPDX-License-Identifier: GPL-2.0-only
// BAR0 device registers, register access rules (alignment, unused offsets, read-only
// registers) and the message-channel registers, as a driver's probe sees them.
#include "hw/aic100/tests/harness.h"

namespace aic100::test {
namespace {

TEST(Device, IdentityRegisters)
{
    MiniDriver d(CardConfig{3, kDdrSize});
    EXPECT_EQ(d.rd(kRegDevId), kDevIdValue);
    EXPECT_EQ(d.rd(kRegDevId), 0xA1000100u);
    EXPECT_EQ(d.rd(kRegNumDbc), 3u);
    EXPECT_EQ(d.rd(kRegDdrSizeMb), 1024u);
    EXPECT_EQ(d.rd(kRegFwVersion), 5u << 16 | 0u);
    EXPECT_EQ(d.rd(kRegMsiMode), kMsiShared);
}

TEST(Device, DefaultConfigFollowsKconfig)
{
    MiniDriver d{CardConfig{}};
    EXPECT_EQ(d.rd(kRegNumDbc), unsigned(CONFIG_QAIC_SIM_NUM_DBC));
    EXPECT_EQ(d.rd(kRegDdrSizeMb), unsigned(CONFIG_QAIC_SIM_DDR_SIZE_MB));
    ASSERT_TRUE(d.wait_online());
    // The last DBC exists, the next one does not.
    EXPECT_EQ(d.dbc_rd(CONFIG_QAIC_SIM_NUM_DBC - 1, kDbcState), kDbcIdle);
}

TEST(Device, BootsToOnline)
{
    MiniDriver d(small_config());
    // Construction starts the firmware: BOOT until it is up, then ONLINE, never OFFLINE.
    uint32_t st = d.rd(kRegDevStatus);
    EXPECT_TRUE(st == kDevBoot || st == kDevOnline) << st;
    ASSERT_TRUE(d.wait_online());
    EXPECT_EQ(d.card().status(), kDevOnline);
}

TEST(Device, UnalignedAccessReadsAllOnesAndIgnoresWrites)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    for (uint64_t off : {1, 2, 3, 5, 0x15, 0x101, 0x203, 0xFFF})
        EXPECT_EQ(d.rd(off), kRegGone) << "BAR0 " << off;
    for (uint64_t reg : {kDbcReqHp + 1, kDbcState + 2, kDbcSem0 + 3})
        EXPECT_EQ(d.dbc_rd(0, reg), kRegGone) << "DBC reg " << reg;
    EXPECT_EQ(d.pci.read32(kBarDbc, 0x7), kRegGone);

    // Misaligned writes to MSI_MODE and DEV_RESET are ignored.
    d.pci.write32(kBarDev, kRegMsiMode + 1, kMsiPerVector);
    d.pci.write32(kBarDev, kRegMsiMode + 2, kMsiPerVector);
    EXPECT_EQ(d.rd(kRegMsiMode), kMsiShared);
    d.pci.write32(kBarDev, kRegDevReset + 1, kResetMagic);
    EXPECT_EQ(d.rd(kRegDevStatus), kDevOnline);
}

TEST(Device, UnusedOffsetsReadZero)
{
    MiniDriver d(small_config(4));
    ASSERT_TRUE(d.wait_online());
    for (uint64_t off : {0x020, 0x024, 0x080, 0x0FC, 0x118, 0x11C, 0x130, 0x1FC, 0x218, 0x31C,
                         0x3FC, 0x800, 0xA24, 0xA30, 0xFFC})
        EXPECT_EQ(d.rd(off), 0u) << "BAR0 " << off;
    EXPECT_EQ(d.rd(kRegDevReset), 0u); // write-only
    // BAR2 below the DBC block, holes in a DBC's block, DBCs that do not exist.
    EXPECT_EQ(d.pci.read32(kBarDbc, 0), 0u);
    EXPECT_EQ(d.pci.read32(kBarDbc, kDbcRegsBase - 4), 0u);
    for (uint64_t reg : {0x38, 0x3C, 0xC0, 0xFFC})
        EXPECT_EQ(d.dbc_rd(0, reg), 0u) << "DBC reg " << reg;
    EXPECT_EQ(d.dbc_rd(0, kDbcReset), 0u); // write-only
    EXPECT_EQ(d.dbc_rd(4, kDbcState), 0u);
    EXPECT_EQ(d.dbc_rd(15, kDbcNelem), 0u);
    // Other BARs have nothing.
    EXPECT_EQ(d.pci.read32(1, kRegDevId), 0u);
    EXPECT_EQ(d.pci.read32(3, 0), 0u);
    EXPECT_EQ(d.pci.read32(kBarDbc, kRegDevId), 0u);

    // Writes to unused offsets are ignored and do not disturb anything.
    d.wr(0x020, 0xDEADBEEF);
    d.wr(0x31C, 0xDEADBEEF);
    d.dbc_wr(0, 0x38, 0xDEADBEEF);
    d.dbc_wr(7, kDbcReqTp, 1);
    EXPECT_EQ(d.rd(0x020), 0u);
    EXPECT_EQ(d.rd(0x31C), 0u);
    EXPECT_EQ(d.dbc_rd(0, 0x38), 0u);
}

// The boot log: lines the firmware wrote while it booted, read a word at a time through the
// window; a reset empties it and the next boot writes its own.
TEST(Device, BootLogThroughTheWindow)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    auto read_log = [&] {
        uint32_t len = d.rd(kRegBootLogLen);
        EXPECT_LE(len, kBootLogSize);
        std::string log(len, '\0');
        for (uint32_t at = 0; at < len; at += 4) {
            uint32_t w = d.rd(kBootLogWindow + at);
            std::memcpy(log.data() + at, &w, std::min<uint32_t>(4, len - at));
        }
        return log;
    };
    std::string log = read_log();
    EXPECT_EQ(log, d.card().boot_log_text());
    EXPECT_TRUE(log.starts_with("QSM: boot 1: firmware 5.0 starting\n")) << log;
    EXPECT_TRUE(log.ends_with("ready: ONLINE\n")) << log;
    EXPECT_EQ(d.rd(kBootLogWindow + ((uint32_t(log.size()) + 7) & ~3u)), 0u) << "past the log";
    d.wr(kRegBootLogLen, 0); // read-only
    d.wr(kBootLogWindow, 0);
    EXPECT_EQ(read_log(), log);

    d.wr(kRegDevReset, kResetMagic);
    ASSERT_TRUE(d.wait_online());
    EXPECT_TRUE(read_log().starts_with("QSM: boot 2: firmware")) << read_log();
}

// The QTimer counts 19.2 MHz ticks; a time sync message written into the mailbox and rung is
// taken when its signature and type are upstream's, counted as rejected otherwise.
TEST(Device, QtimerAndTimesyncMailbox)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    auto qtimer = [&] { return uint64_t(d.rd(kRegQtimerHi)) << 32 | d.rd(kRegQtimerLo); };
    auto start = std::chrono::steady_clock::now(); // before t0: the span covers t0 to t1
    uint64_t t0 = qtimer();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    uint64_t t1 = qtimer();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    EXPECT_GE(t1 - t0, uint64_t(20000) * 192 / 10 - 192) << "at least 20 ms of ticks";
    EXPECT_LE(t1 - t0, uint64_t(us) * 192 / 10 + 192) << "no more than the time that passed";

    auto send = [&](TimesyncMsg m) {
        uint32_t w[6];
        std::memcpy(w, &m, sizeof(m));
        for (unsigned i = 0; i < 6; ++i)
            d.wr(kTsMailbox + 4 * i, w[i]);
        d.wr(kTsMailbox + kTsDoorbell, 1);
    };
    TimesyncMsg m{};
    m.signature = kTsSignature;
    m.msg_type = kTsSyncReq;
    m.tv_sec = 1700000000;
    m.tv_usec = 250000;
    send(m);
    TimesyncStatus ts = d.card().timesync();
    EXPECT_EQ(ts.syncs, 1u);
    EXPECT_EQ(ts.offset_us, 1700000000250000);
    for (auto bad : {TimesyncMsg{0x55ab, 0, 0, kTsSyncReq, 0, 1, 0},
                     TimesyncMsg{kTsSignature, 0, 0, 2, 0, 1, 0},
                     TimesyncMsg{kTsSignature, 0, 0, kTsSyncReq, 0, 1, 1000000}})
        send(bad);
    ts = d.card().timesync();
    EXPECT_EQ(ts.syncs, 1u);
    EXPECT_EQ(ts.rejected, 3u);
    EXPECT_EQ(ts.offset_us, 1700000000250000) << "a refused message changes nothing";
    EXPECT_EQ(d.rd(kTsMailbox), 0u) << "write-only";
}

TEST(Device, ReadOnlyRegistersIgnoreWrites)
{
    MiniDriver d(small_config(4));
    ASSERT_TRUE(d.wait_online());
    d.wr(kRegDevId, 0);
    d.wr(kRegDevStatus, kDevOffline);
    d.wr(kRegNumDbc, 9);
    d.wr(kRegDdrSizeMb, 1);
    d.wr(kRegFwVersion, 0);
    EXPECT_EQ(d.rd(kRegDevId), kDevIdValue);
    EXPECT_EQ(d.rd(kRegDevStatus), kDevOnline);
    EXPECT_EQ(d.rd(kRegNumDbc), 4u);
    EXPECT_EQ(d.rd(kRegDdrSizeMb), 1024u);
    EXPECT_EQ(d.rd(kRegFwVersion), 5u << 16);
    for (uint64_t reg : {kDbcReqHp, kDbcRspTp, kDbcState, kDbcNelem, kDbcLastError, kDbcElemsLo,
                         kDbcBytesLo, kDbcErrors, kDbcResponses, kDbcSem0})
        d.dbc_wr(0, reg, 5);
    for (uint64_t reg : {kDbcReqHp, kDbcRspTp, kDbcState, kDbcNelem, kDbcLastError, kDbcElemsLo,
                         kDbcBytesLo, kDbcErrors, kDbcResponses, kDbcSem0})
        EXPECT_EQ(d.dbc_rd(0, reg), 0u) << "DBC reg " << reg;
}

TEST(Device, MsiModeAcceptsOnlyItsTwoValues)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    d.wr(kRegMsiMode, kMsiPerVector);
    EXPECT_EQ(d.rd(kRegMsiMode), kMsiPerVector);
    d.wr(kRegMsiMode, 2);
    EXPECT_EQ(d.rd(kRegMsiMode), kMsiPerVector);
    d.wr(kRegMsiMode, kMsiShared);
    EXPECT_EQ(d.rd(kRegMsiMode), kMsiShared);
}

TEST(Device, ResetNeedsTheMagic)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.bring_up());
    auto q = d.activate(4);
    ASSERT_TRUE(q);
    d.wr(kRegDevReset, kResetMagic + 1);
    d.wr(kRegDevReset, 1);
    EXPECT_EQ(d.rd(kRegDevStatus), kDevOnline);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcAssigned);
    EXPECT_EQ(d.rd(kCtrlChannel + kChEnable), 1u);
}

// ---------------------------------------------------------------------------- channels

TEST(Channel, EnableNeedsGeometry)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    auto h2d = d.coherent(kCtrlReqSlotSize * 4);
    auto d2h = d.coherent(kCtrlReqSlotSize * 4);
    const uint64_t c = kCtrlChannel;

    // Nothing set.
    d.wr(c + kChEnable, 1);
    EXPECT_EQ(d.rd(c + kChEnable), 0u);
    // NELEM out of range, then one base missing.
    d.wr(c + kChH2dBaseLo, uint32_t(h2d.dma_addr));
    d.wr(c + kChH2dBaseHi, uint32_t(h2d.dma_addr >> 32));
    d.wr(c + kChD2hBaseLo, uint32_t(d2h.dma_addr));
    d.wr(c + kChD2hBaseHi, uint32_t(d2h.dma_addr >> 32));
    for (uint32_t n : {0u, 1u, 257u, 0xFFFFFFFFu}) {
        d.wr(c + kChNelem, n);
        d.wr(c + kChEnable, 1);
        EXPECT_EQ(d.rd(c + kChEnable), 0u) << "nelem " << n;
    }
    d.wr(c + kChNelem, 4);
    d.wr(c + kChD2hBaseLo, 0);
    d.wr(c + kChD2hBaseHi, 0);
    d.wr(c + kChEnable, 1);
    EXPECT_EQ(d.rd(c + kChEnable), 0u);
    // Everything set: registers read back, enabled with indices at 0.
    d.wr(c + kChD2hBaseLo, uint32_t(d2h.dma_addr));
    d.wr(c + kChD2hBaseHi, uint32_t(d2h.dma_addr >> 32));
    d.wr(c + kChEnable, 1);
    EXPECT_EQ(d.rd(c + kChEnable), 1u);
    EXPECT_EQ(d.rd(c + kChH2dBaseLo) | uint64_t(d.rd(c + kChH2dBaseHi)) << 32, h2d.dma_addr);
    EXPECT_EQ(d.rd(c + kChD2hBaseLo) | uint64_t(d.rd(c + kChD2hBaseHi)) << 32, d2h.dma_addr);
    EXPECT_EQ(d.rd(c + kChNelem), 4u);
    for (uint64_t r : {kChH2dHead, kChH2dTail, kChD2hHead, kChD2hTail})
        EXPECT_EQ(d.rd(c + r), 0u);
}

TEST(Channel, NelemBoundsAccepted)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    Channel a, b;
    EXPECT_TRUE(d.enable_channel(a, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 2));
    EXPECT_TRUE(d.enable_channel(b, kSsrChannel, kSsrSlotSize, kSsrSlotSize, kChMaxNelem));
}

TEST(Channel, GeometryFixedWhileEnabledAndIndicesBounded)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    Channel ch;
    ASSERT_TRUE(d.enable_channel(ch, kSsrChannel, kSsrSlotSize, kSsrSlotSize, 4));
    const uint64_t s = kSsrChannel;
    uint32_t lo = d.rd(s + kChH2dBaseLo);
    d.wr(s + kChH2dBaseLo, lo + kPage);
    d.wr(s + kChD2hBaseHi, 7);
    d.wr(s + kChNelem, 8);
    EXPECT_EQ(d.rd(s + kChH2dBaseLo), lo);
    EXPECT_EQ(d.rd(s + kChD2hBaseHi), uint32_t(ch.d2h.dma_addr >> 32));
    EXPECT_EQ(d.rd(s + kChNelem), 4u);
    // Index writes at or past NELEM are ignored; device-owned indices are read-only.
    d.wr(s + kChH2dTail, 4);
    d.wr(s + kChD2hHead, 9);
    d.wr(s + kChH2dHead, 2);
    d.wr(s + kChD2hTail, 2);
    EXPECT_EQ(d.rd(s + kChH2dTail), 0u);
    EXPECT_EQ(d.rd(s + kChD2hHead), 0u);
    EXPECT_EQ(d.rd(s + kChH2dHead), 0u);
    EXPECT_EQ(d.rd(s + kChD2hTail), 0u);

    // Disabled, the geometry is writable again; re-enabling resets the indices.
    d.wr(s + kChEnable, 0);
    EXPECT_EQ(d.rd(s + kChEnable), 0u);
    d.wr(s + kChNelem, 8);
    EXPECT_EQ(d.rd(s + kChNelem), 8u);
    d.wr(s + kChNelem, 4);
    d.wr(s + kChEnable, 1);
    EXPECT_EQ(d.rd(s + kChEnable), 1u);
}

// Re-enabling a channel starts both rings over at slot 0.
TEST(Channel, ReenableResetsIndices)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.bring_up());
    ASSERT_TRUE(d.transact({status_trans()}));
    ASSERT_TRUE(d.transact({status_trans()}));
    EXPECT_EQ(d.rd(kCtrlChannel + kChH2dHead), 2u);
    EXPECT_EQ(d.rd(kCtrlChannel + kChD2hTail), 2u);
    d.wr(kCtrlChannel + kChEnable, 0);
    EXPECT_EQ(d.rd(kCtrlChannel + kChH2dTail), 2u); // disabling keeps them
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 8));
    for (uint64_t r : {kChH2dHead, kChH2dTail, kChD2hHead, kChD2hTail})
        EXPECT_EQ(d.rd(kCtrlChannel + r), 0u) << "reg " << r;
    ASSERT_TRUE(d.transact({status_trans()}));
    EXPECT_EQ(d.rd(kCtrlChannel + kChD2hTail), 1u);
}

TEST(Channel, DisabledChannelIsNotServed)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.bring_up());
    d.wr(kCtrlChannel + kChEnable, 0);
    // The doorbell is ignored while disabled: the message is never read.
    d.send_raw(make_msg(1, kUser, {status_trans()}));
    EXPECT_EQ(d.rd(kCtrlChannel + kChH2dTail), 0u);
    EXPECT_FALSE(d.recv(kQuiet));
    EXPECT_EQ(d.rd(kCtrlChannel + kChH2dHead), 0u);
}

// The device waits while the D2H ring is full and resumes when the host consumes a slot.
TEST(Channel, FullD2hRingHoldsBackResponses)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.wait_online());
    ASSERT_TRUE(d.setup_irqs());
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 4));
    for (uint32_t seq = 1; seq <= 3; ++seq)
        d.send_raw(make_msg(seq, kUser, {status_trans()}));
    ASSERT_TRUE(d.wait_until([&] { return d.rd(kCtrlChannel + kChD2hTail) == 3; }));
    d.send_raw(make_msg(4, kUser, {status_trans()}));
    // The fourth request is consumed, but its answer has no slot (one always stays empty).
    ASSERT_TRUE(d.h2d_consumed(d.ctrl));
    EXPECT_EQ(d.rd(kCtrlChannel + kChD2hTail), 3u);
    for (uint32_t seq = 1; seq <= 4; ++seq) {
        auto r = d.recv();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->hdr.sequence_number, seq);
        EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    }
    EXPECT_EQ(d.rd(kCtrlChannel + kChD2hTail), 0u); // wrapped: 4 % 4
}

// D2H slots are zero-padded past the message.
TEST(Channel, D2hSlotIsZeroPadded)
{
    MiniDriver d(small_config());
    ASSERT_TRUE(d.bring_up());
    std::memset(d.ctrl.d2h.cpu_addr, 0xA5, kCtrlRspSlotSize);
    d.send_raw(make_msg(1, kUser, {status_trans()}));
    auto b = d.take(d.ctrl);
    ASSERT_TRUE(b);
    uint32_t len = load<WireMsgHdr>(b->data()).len;
    ASSERT_EQ(len, sizeof(WireMsgHdr) + sizeof(WireStatusFromDev));
    for (size_t i = len; i < kCtrlRspSlotSize; ++i)
        ASSERT_EQ((*b)[i], 0) << "byte " << i;
}

} // namespace
} // namespace aic100::test
