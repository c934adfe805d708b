// SPDX-License-Identifier: GPL-2.0-only
// Fault injection (CONFIG_QAIC_FAULT_INJECTION): DMA errors, hung engines, lost MSIs, a
// silent or NACKing firmware, a reset on a message, surprise removal and subsystem restart.
// Without the option every case skips.
#include "hw/aic100/tests/harness.h"

#include <functional>

namespace aic100::test {
namespace {

using kernel::DmaDirection;

#ifdef CONFIG_QAIC_FAULT_INJECTION
#define FAULT(call) (call)
constexpr bool kFaults = true;
#else
#define FAULT(call) ((void)0)
constexpr bool kFaults = false;
#endif

class Faults : public CardTest {
protected:
    void SetUp() override
    {
        if (!kFaults)
            GTEST_SKIP() << "CONFIG_QAIC_FAULT_INJECTION is off";
        CardTest::SetUp();
    }
    Card &card() { return d.card(); }
};

// Replaces the handler of one vector with one that records a register read inside the
// handler. The card raises an MSI synchronously on the thread that caused it, so what the
// handler reads names the event the MSI announced.
class MsiProbe {
public:
    MsiProbe(MiniDriver &d, unsigned vec, std::function<uint32_t()> probe) : d_(d), vec_(vec)
    {
        d.release_irq(vec);
        EXPECT_FALSE(d.pci.request_irq(vec, [this, probe] {
                              uint32_t v = probe();
                              std::lock_guard lk(m_);
                              seen_.push_back(v);
                              cv_.notify_all();
                          }).is_error());
    }
    ~MsiProbe() { d_.pci.free_irq(vec_); }
    bool wait_seen(uint32_t v)
    {
        std::unique_lock lk(m_);
        return cv_.wait_for(lk, kTimeout, [&] {
            return std::find(seen_.begin(), seen_.end(), v) != seen_.end();
        });
    }
    bool seen(uint32_t v)
    {
        std::lock_guard lk(m_);
        return std::find(seen_.begin(), seen_.end(), v) != seen_.end();
    }

private:
    MiniDriver &d_;
    unsigned vec_;
    std::mutex m_;
    std::condition_variable cv_;
    std::vector<uint32_t> seen_;
};

TEST_F(Faults, InjectedDmaError)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    HostBuf src(d.pci, 4 * 256, DmaDirection::kToDevice);
    fill_pattern(src.data(), src.size(), 51);
    FAULT(card().inject_dma_error(q->id, 2));
    std::vector<DbcReq> rs;
    for (uint16_t i = 0; i < 4; ++i)
        rs.push_back(to_dev(i + 1, src.iova() + i * 256, 0x10000 + i * 256, 256));
    d.submit(*q, rs);
    auto got = d.collect(*q, 4);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].status, kRspOk);
    EXPECT_EQ(got[1].req_id, 2);
    EXPECT_EQ(got[1].status, kRspInjected);
    EXPECT_EQ(got[2].status, kRspOk);
    EXPECT_EQ(got[3].status, kRspOk);
    Bytes ddr = d.ddr(0x10000, 1024);
    EXPECT_TRUE(std::equal(ddr.begin(), ddr.begin() + 256, src.data()));
    EXPECT_EQ(Bytes(ddr.begin() + 256, ddr.begin() + 512), Bytes(256, 0)); // moved nothing
    EXPECT_TRUE(std::equal(ddr.begin() + 512, ddr.end(), src.data() + 512));
    EXPECT_EQ(d.dbc_rd(q->id, kDbcErrors), 1u);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcLastError), kRspInjected);
    // One injection only: later elements are fine.
    EXPECT_EQ(d.run1(*q, to_dev(9, src.iova(), 0x10000, 256)).status, kRspOk);
}

// An injected failure inside a slice is latched to the slice's completion.
TEST_F(Faults, InjectedErrorInSlice)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    FAULT(card().inject_dma_error(q->id, 1));
    d.submit(*q, {elem(3, 0), elem(3, 0), elem(3, kCmdGenCompletion), elem(4, kCmdGenCompletion)});
    auto got = d.collect(*q, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].req_id, 3);
    EXPECT_EQ(got[0].status, kRspInjected);
    EXPECT_EQ(got[1].status, kRspOk);
}

// A hung engine makes no progress; DEACTIVATE recovers the DBC for the next activation.
TEST_F(Faults, HungEngineRecoveredByDeactivate)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    FAULT(card().hang_engine(q->id));
    d.submit(*q, {elem(1, kCmdGenCompletion), elem(2, kCmdGenCompletion)});
    EXPECT_FALSE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcReqHp) != 0; }, kQuiet));
    EXPECT_EQ(d.dbc_rd(q->id, kDbcRspTp), 0u);
    EXPECT_EQ(d.card().dbc_counters(q->id).queue_level, 2u);
    EXPECT_EQ(d.card().dbc_counters(q->id).elements, 0u);

    EXPECT_EQ(d.deactivate(*q), kFwOk);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcIdle);
    auto q2 = d.activate(8);
    ASSERT_TRUE(q2);
    ASSERT_EQ(q2->id, q->id);
    DbcRsp r = d.run1(*q2, elem(5, kCmdGenCompletion));
    EXPECT_EQ(r.req_id, 5);
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_EQ(q->rsps()[0].req_id, 0); // the hung work never answered
}

// A soft reset of the DBC clears a hang too; the user keeps the DBC.
TEST_F(Faults, HungEngineRecoveredBySoftReset)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    FAULT(card().hang_engine(q->id));
    d.submit(*q, {elem(1, kCmdGenCompletion)});
    EXPECT_EQ(d.card().dbc_counters(q->id).queue_level, 1u);
    d.dbc_wr(q->id, kDbcReset, kResetMagic);
    EXPECT_EQ(d.card().dbc_counters(q->id).queue_level, 0u);
    q->req_tail = q->rsp_head = 0;
    DbcRsp r = d.run1(*q, elem(2, kCmdGenCompletion));
    EXPECT_EQ(r.req_id, 2);
    EXPECT_EQ(r.status, kRspOk);
}

// A lost DBC MSI: the responses are in the ring all the same. The MSI after the 16th
// response is raised before the 17th is written, so a handler reading RSPTP tells the two
// MSIs of a 17-element batch apart: 16 (moderation) and 17 (idle).
TEST_F(Faults, DroppedDbcMsi)
{
    auto q = d.activate(32);
    ASSERT_TRUE(q);
    const unsigned vec = dbc_msi_vector(q->id);
    MsiProbe probe(d, vec, [&] { return d.dbc_rd(q->id, kDbcRspTp); });
    FAULT(card().drop_msis(vec, 1));
    std::vector<DbcReq> rs;
    for (uint16_t i = 0; i < 17; ++i)
        rs.push_back(elem(i, kCmdGenCompletion));
    d.submit(*q, rs);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcRspTp) == 17; }));
    auto got = d.collect(*q, 17);
    ASSERT_EQ(got.size(), 17u);
    for (uint16_t i = 0; i < 17; ++i)
        EXPECT_EQ(got[i].req_id, i);
    EXPECT_TRUE(probe.wait_seen(17));
    EXPECT_FALSE(probe.seen(16));
}

// A lost control MSI. Each answer's MSI is raised before the next message is served, so a
// handler reading D2H_TAIL names the answer. When the drop is armed, at most the MSI of the
// answer before may still be on its way: of two dropped MSIs, one is the next answer's.
TEST_F(Faults, DroppedControlMsi)
{
    ASSERT_TRUE(d.transact({status_trans()})); // D2H_TAIL 1
    MsiProbe probe(d, kMsiControl, [&] { return d.rd(kCtrlChannel + kChD2hTail); });
    FAULT(card().drop_msis(kMsiControl, 2));
    for (int i = 0; i < 4; ++i)
        ASSERT_TRUE(d.transact({status_trans()})); // tails 2..5, all answered
    EXPECT_TRUE(probe.wait_seen(5));
    EXPECT_FALSE(probe.seen(2));
}

// Silent firmware: requests wait in the H2D ring unanswered. Turned back on, it serves the
// waiting request (a late answer, carrying its sequence number) and then the next one, which
// must carry the following number. (The fault table in docs/device-model.md says "consumes
// but never answers"; the card, the driver and the selftests all expect the late answer.)
TEST_F(Faults, SilentFirmware)
{
    ASSERT_TRUE(d.transact({status_trans()}));
    FAULT(card().firmware_silent(true));
    uint32_t lost = d.next_seq++;
    d.send_raw(make_msg(lost, kUser, {status_trans()}));
    EXPECT_FALSE(d.recv(kQuiet));
    EXPECT_EQ(d.rd(kCtrlChannel + kChD2hTail), 1u);
    FAULT(card().firmware_silent(false));
    uint32_t next = d.next_seq++;
    d.send_raw(make_msg(next, kUser, {status_trans()}));
    auto late = d.recv();
    ASSERT_TRUE(late);
    EXPECT_EQ(late->hdr.sequence_number, lost);
    auto r = d.recv();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->hdr.sequence_number, next);
    EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
}

// NACK injection: the next n messages are refused (INJECTED) without running, but they
// passed the sequence check and used their numbers. Messages failing earlier checks do not
// count.
TEST_F(Faults, InjectedNacks)
{
    auto buf = d.coherent(queue_buf_size(4));
    FAULT(card().firmware_nack(2));
    Bytes bad = make_msg(d.next_seq, kUser, {status_trans()});
    bad[0] ^= 1;
    d.send_raw(bad);
    auto r = d.recv();
    ASSERT_TRUE(r && r->is_nack());
    EXPECT_EQ(r->nack().status, kFwBadCrc);
    for (int i = 0; i < 2; ++i) {
        r = d.transact({activate_trans(buf.dma_addr, buf.dma_addr + kPage - 16, 4, 4, kPage)});
        ASSERT_TRUE(r && r->is_nack());
        EXPECT_EQ(r->nack().status, kFwInjected);
        EXPECT_EQ(r->nack().trans_index, 0xFFFFFFFFu);
    }
    EXPECT_EQ(d.dbc_rd(0, kDbcState), kDbcIdle);
    r = d.transact({status_trans()});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
}

// A reset on the n-th message: messages before it are answered; that one is lost, the
// device resets (DBCs released, channel off) and boots; the fault is spent, so the message
// that the reset interrupted can be sent again on the new channel and is answered.
TEST_F(Faults, ResetOnMessage)
{
    auto q = d.activate(8); // message 1
    ASSERT_TRUE(q);
    FAULT(card().reset_on_message(2));
    ASSERT_TRUE(d.transact({status_trans()}));
    uint64_t msis = d.msi_count(kMsiControl);
    d.send_raw(make_msg(d.next_seq++, kUser, {status_trans()}));
    ASSERT_TRUE(d.wait_msi(kMsiControl, msis + 1)); // ONLINE again
    EXPECT_EQ(d.rd(kRegDevStatus), kDevOnline);
    EXPECT_EQ(d.rd(kCtrlChannel + kChEnable), 0u);
    EXPECT_EQ(d.rd(kCtrlChannel + kChD2hTail), 0u); // no answer
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcIdle);
    d.wr(kRegMsiMode, kMsiPerVector);
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 8));
    d.next_seq = 1;
    for (int i = 0; i < 3; ++i) {
        auto r = d.transact({status_trans()});
        ASSERT_TRUE(r);
        EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    }
}

// Surprise removal: every register reads all ones, writes are ignored, and nothing more
// happens: a waiting engine released by the NSP does not move data, the firmware serves
// nothing, no MSIs.
TEST_F(Faults, RemovedDevice)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    HostBuf dst(d.pci, kPage, DmaDirection::kFromDevice);
    std::memset(dst.data(), 0x3C, kPage);
    DbcReq held = from_dev(2, 0, dst.iova(), kPage);
    held.sem_cmd[0] = sem_word(1, 0, true, kSemWaitEqual, 0);
    d.submit(*q, {elem(1, kCmdGenCompletion), held});
    ASSERT_TRUE(d.wait_msi(dbc_msi_vector(q->id), 1)); // the engine reached the wait

    FAULT(card().remove_device());
    for (uint64_t off : {kRegDevId, kRegDevStatus, kRegNumDbc, kRegDdrSizeMb, kRegMsiMode,
                         kRegFwVersion, uint64_t(0x300), uint64_t(0x2), kCtrlChannel + kChEnable,
                         kCtrlChannel + kChD2hTail, kSsrChannel + kChNelem})
        EXPECT_EQ(d.rd(off), kRegGone) << "BAR0 " << off;
    for (uint64_t reg : {kDbcReqHp, kDbcRspTp, kDbcState, kDbcNelem, kDbcElemsLo, kDbcSem0,
                         uint64_t(0xFFC)})
        EXPECT_EQ(d.dbc_rd(q->id, reg), kRegGone) << "DBC reg " << reg;
    EXPECT_EQ(d.dbc_rd(3, kDbcState), kRegGone);
    EXPECT_EQ(d.pci.read32(kBarDbc, 0), kRegGone);

    // Writes go nowhere.
    d.wr(kRegMsiMode, kMsiShared);
    d.dbc_wr(q->id, kDbcRspHp, 1);
    d.push(*q, elem(3, kCmdGenCompletion));
    d.ring(*q);
    d.send_raw(make_msg(d.next_seq++, kUser, {status_trans()}));
    d.card().sem_op(q->id, 0, kSemInit, 1); // the NSP lets the waiting element go

    EXPECT_FALSE(d.wait_until([&] { return d.card().dbc_counters(q->id).elements != 1; },
                              kQuiet));
    DbcCounters c = d.card().dbc_counters(q->id);
    EXPECT_EQ(c.responses, 1u);
    EXPECT_EQ(c.state, kDbcAssigned);
    EXPECT_EQ(dst.bytes(), Bytes(kPage, 0x3C));
    EXPECT_EQ(q->rsps()[1].req_id, 0);
    auto *slot = static_cast<uint8_t *>(d.ctrl.d2h.cpu_addr) + d.ctrl.d2h_head * kCtrlRspSlotSize;
    EXPECT_TRUE(std::all_of(slot, slot + kCtrlRspSlotSize, [](uint8_t b) { return b == 0; }));
    EXPECT_EQ(d.msi_count(dbc_msi_vector(q->id)), 1u);
    // The test-control API still sees the card.
    EXPECT_EQ(d.card().status(), kDevOnline);
    EXPECT_TRUE(d.card().gone());
}

// ---------------------------------------------------------------------------- SSR

class Ssr : public Faults {
protected:
    void SetUp() override
    {
        Faults::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        ASSERT_TRUE(d.enable_channel(ssr, kSsrChannel, kSsrSlotSize, kSsrSlotSize, 8));
    }
    // The next event; a crash dump offered meanwhile is declined (the dump's own tests
    // below take it), which lets the walk go on.
    std::optional<SsrEventMsg> event()
    {
        auto b = d.take(ssr);
        if (b && load<uint32_t>(b->data()) == kSsrDebugTransferInfo) {
            SsrDumpHdr h = load<SsrDumpHdr>(b->data());
            SsrDebugTransferInfoRsp no{{kSsrDebugTransferInfoRsp, sizeof(no), h.dbc_id}, 1};
            d.post(ssr, &no, sizeof(no));
            b = d.take(ssr);
        }
        if (!b)
            return std::nullopt;
        return load<SsrEventMsg>(b->data());
    }
    // Walks a restart of dbc to its dump offer (events acked), and says yes to it.
    std::optional<SsrDebugTransferInfo> to_offer(unsigned dbc)
    {
        for (uint32_t ev = kSsrBeforeShutdown; ev <= kSsrBeforePowerUp; ++ev) {
            auto e = event();
            if (!e || e->event != ev)
                return std::nullopt;
            ack(dbc, ev);
        }
        auto b = d.take(ssr);
        if (!b || load<uint32_t>(b->data()) != kSsrDebugTransferInfo)
            return std::nullopt;
        return load<SsrDebugTransferInfo>(b->data());
    }
    void answer_offer(unsigned dbc, uint32_t ret)
    {
        SsrDebugTransferInfoRsp r{{kSsrDebugTransferInfoRsp, sizeof(r), dbc}, ret};
        d.post(ssr, &r, sizeof(r));
    }
    // MEMORY_READ of [addr, addr + len): the answer's header and data, or nothing.
    std::optional<std::pair<SsrDumpHdr, Bytes>> read(unsigned dbc, uint64_t addr, uint64_t len,
                                                     Duration timeout = kTimeout)
    {
        SsrMemoryRead r{{kSsrMemoryRead, sizeof(r), dbc}, 0, addr, len};
        d.post(ssr, &r, sizeof(r));
        auto b = d.take(ssr, timeout);
        if (!b)
            return std::nullopt;
        SsrDumpHdr h = load<SsrDumpHdr>(b->data());
        if (h.len < sizeof(SsrMemoryReadRsp) || h.len > b->size())
            return std::make_pair(h, Bytes{});
        return std::make_pair(h, Bytes(b->begin() + sizeof(SsrMemoryReadRsp), b->begin() + h.len));
    }
    void ack(unsigned dbc, uint32_t ev, uint32_t cmd = kSsrEventRsp)
    {
        SsrEventRsp r{cmd, dbc, ev};
        d.post(ssr, &r, sizeof(r));
    }
    Channel ssr;
};

// The whole walk: events 2, 3, 4, 5, each acknowledged; STATE follows; the pending work is
// lost; then IDLE and the user activates again.
TEST_F(Ssr, WalkWithAcks)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    d.submit(*q, {elem(1, kCmdGenCompletion), [] {
                      DbcReq r = elem(2, kCmdGenCompletion);
                      r.sem_cmd[0] = sem_word(1, 0, true, kSemWaitEqual, 0);
                      return r;
                  }()});
    ASSERT_TRUE(d.wait_msi(dbc_msi_vector(q->id), 1));
    uint64_t ctrl_msis = d.msi_count(kMsiControl);

    FAULT(card().subsystem_restart(q->id));
    for (uint32_t ev = kSsrBeforeShutdown; ev <= kSsrAfterPowerUp; ++ev) {
        auto e = event();
        ASSERT_TRUE(e) << "event " << ev;
        EXPECT_EQ(e->cmd, kSsrEvent);
        EXPECT_EQ(e->dbc_id, q->id);
        EXPECT_EQ(e->event, ev);
        // The firmware waits for the ack, so the state is stable here.
        EXPECT_EQ(d.dbc_rd(q->id, kDbcState), ev);
        EXPECT_TRUE(d.wait_msi(kMsiControl, ctrl_msis + 1)) << "event " << ev;
        ctrl_msis = d.msi_count(kMsiControl);
        if (ev == kSsrBeforeShutdown) {
            // The engine stopped: doorbells are ignored, the user cannot deactivate.
            d.push(*q, elem(3, kCmdGenCompletion));
            d.ring(*q);
            EXPECT_EQ(d.dbc_rd(q->id, kDbcReqTp), 2u);
            EXPECT_EQ(d.deactivate(*q), kFwNotOwner);
            d.card().sem_op(q->id, 0, kSemInit, 1);
        }
        ack(q->id, ev);
    }
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcState) == kDbcIdle; }));
    EXPECT_EQ(d.dbc_rd(q->id, kDbcNelem), 0u);
    EXPECT_EQ(q->rsps()[1].req_id, 0); // the waiting element was lost
    EXPECT_FALSE(d.take(ssr, kQuiet));  // no fifth event
    auto q2 = d.activate(8);
    ASSERT_TRUE(q2);
    EXPECT_EQ(q2->id, q->id);
    EXPECT_EQ(d.run1(*q2, elem(7, kCmdGenCompletion)).req_id, 7);
}

// An acknowledgement for another event or DBC is consumed and ignored.
TEST_F(Ssr, WrongAcksIgnored)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    FAULT(card().subsystem_restart(q->id));
    auto e = event();
    ASSERT_TRUE(e);
    ASSERT_EQ(e->event, kSsrBeforeShutdown);
    ack(q->id, kSsrAfterShutdown);
    ack(q->id + 1, kSsrBeforeShutdown);
    ack(q->id, kSsrBeforeShutdown, kSsrEvent);
    ASSERT_TRUE(d.h2d_consumed(ssr));
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcBeforeShutdown);
    EXPECT_FALSE(d.d2h_ready(ssr));
    ack(q->id, kSsrBeforeShutdown);
    e = event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->event, kSsrAfterShutdown);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcAfterShutdown);
}

// A device reset in the middle of a restart forgets it: the DBC is released, and a later
// restart starts again with BEFORE_SHUTDOWN.
TEST_F(Ssr, ResetDuringRestart)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    FAULT(card().subsystem_restart(q->id));
    auto e = event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->event, kSsrBeforeShutdown);
    d.wr(kRegDevReset, kResetMagic);
    ASSERT_TRUE(d.wait_online());
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcIdle);
    EXPECT_EQ(d.rd(kSsrChannel + kChEnable), 0u);

    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 8));
    ASSERT_TRUE(d.enable_channel(ssr, kSsrChannel, kSsrSlotSize, kSsrSlotSize, 8));
    ack(q->id, kSsrBeforeShutdown); // a stale ack: nobody waits for it
    ASSERT_TRUE(d.h2d_consumed(ssr));
    auto q2 = d.activate(8);
    ASSERT_TRUE(q2);
    ASSERT_EQ(q2->id, q->id);
    FAULT(card().subsystem_restart(q2->id));
    e = event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->dbc_id, q2->id);
    EXPECT_EQ(e->event, kSsrBeforeShutdown);
    EXPECT_EQ(d.dbc_rd(q2->id, kDbcState), kDbcBeforeShutdown);
}

// Without an SSR channel the steps run without events, to IDLE.
TEST_F(Faults, SsrWithoutChannel)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    FAULT(card().subsystem_restart(q->id));
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcState) == kDbcIdle; }));
    EXPECT_EQ(d.deactivate(*q), kFwNotOwner);
    ASSERT_TRUE(d.activate(8));
}

// A restart of an idle DBC does nothing; restarts queue up and run one after the other.
TEST_F(Ssr, IdleDbcAndQueuedRestarts)
{
    auto q0 = d.activate(4);
    auto q1 = d.activate(4);
    ASSERT_TRUE(q0 && q1);
    FAULT(card().subsystem_restart(3)); // idle
    FAULT(card().subsystem_restart(q1->id));
    FAULT(card().subsystem_restart(q0->id));
    for (unsigned id : {q1->id, q0->id}) {
        for (uint32_t ev = kSsrBeforeShutdown; ev <= kSsrAfterPowerUp; ++ev) {
            auto e = event();
            ASSERT_TRUE(e);
            EXPECT_EQ(e->dbc_id, id);
            EXPECT_EQ(e->event, ev);
            ack(id, ev);
        }
    }
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q0->id, kDbcState) == kDbcIdle; }));
    EXPECT_EQ(d.dbc_rd(q1->id, kDbcState), kDbcIdle);
    EXPECT_EQ(d.dbc_rd(3, kDbcState), kDbcIdle);
}

// The crash dump: offered in BEFORE_POWER_UP after its ack; the table lists three regions
// (registers, log, DDR), each read in chunks; DONE is answered good; then AFTER_POWER_UP.
TEST_F(Ssr, DumpTransfer)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    Bytes ddr = pattern(64, 7);
    ASSERT_TRUE(d.card().ddr_write(0, ddr.data(), ddr.size()));
    FAULT(card().subsystem_restart(q->id));
    auto info = to_offer(q->id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->hdr.len, sizeof(SsrDebugTransferInfo));
    EXPECT_EQ(info->hdr.dbc_id, q->id);
    ASSERT_EQ(info->tbl_len, 3 * sizeof(SsrDumpTableEntry));
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcBeforePowerUp);
    answer_offer(q->id, 0);
    auto t = read(q->id, info->tbl_addr, info->tbl_len);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->first.cmd, kSsrMemoryReadRsp);
    ASSERT_EQ(t->second.size(), info->tbl_len);
    std::vector<SsrDumpTableEntry> table;
    for (size_t at = 0; at < t->second.size(); at += sizeof(SsrDumpTableEntry))
        table.push_back(load<SsrDumpTableEntry>(t->second.data() + at));
    EXPECT_STREQ(table[0].filename, "dbc_regs.bin");
    EXPECT_STREQ(table[1].filename, "crash_log.txt");
    EXPECT_STREQ(table[2].filename, "ddr.bin");
    EXPECT_EQ(table[2].len, kSsrDumpDdrBytes);
    std::vector<Bytes> regions;
    for (auto &e : table) {
        ASSERT_GT(e.len, 0u);
        Bytes got;
        while (got.size() < e.len) {
            uint64_t n = std::min<uint64_t>(kSsrMemReadChunk, e.len - got.size());
            auto c = read(q->id, e.mem_base + got.size(), n);
            ASSERT_TRUE(c);
            ASSERT_EQ(c->second.size(), n);
            got.insert(got.end(), c->second.begin(), c->second.end());
        }
        regions.push_back(got);
    }
    // The DBC's registers as they were at the crash: still ASSIGNED, its ring size.
    EXPECT_EQ(load<uint32_t>(regions[0].data() + kDbcState), kDbcAssigned);
    EXPECT_EQ(load<uint32_t>(regions[0].data() + kDbcNelem), 8u);
    EXPECT_NE(std::string(regions[1].begin(), regions[1].end()).find("crashed"), std::string::npos);
    EXPECT_EQ(Bytes(regions[2].begin(), regions[2].begin() + 64), ddr);
    // A read outside the dump gets no data.
    auto bad = read(q->id, info->tbl_addr - 8, 16);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->first.len, sizeof(SsrMemoryReadRsp));
    SsrDebugTransferDone done{{kSsrDebugTransferDone, sizeof(done), q->id}, 0};
    d.post(ssr, &done, sizeof(done));
    auto b = d.take(ssr);
    ASSERT_TRUE(b);
    auto dr = load<SsrDebugTransferDoneRsp>(b->data());
    EXPECT_EQ(dr.hdr.cmd, kSsrDebugTransferDoneRsp);
    EXPECT_EQ(dr.ret, 0u);
    auto e = event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->event, kSsrAfterPowerUp);
    // NACKing the last event (the host still collecting) ends the restart as an ack does.
    ack(q->id, kSsrNack);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcState) == kDbcIdle; }));
}

// The dump faults of test control, as the host sees them.
TEST_F(Ssr, DumpFaults)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    auto restart = [&](uint32_t fault, uint32_t nth) {
        FAULT(card().ssr_dump_fault(fault, nth));
        FAULT(card().subsystem_restart(q->id));
    };
    // A bad table length.
    restart(kDumpBadTableLen, 0);
    auto info = to_offer(q->id);
    ASSERT_TRUE(info);
    EXPECT_NE(info->tbl_len % sizeof(SsrDumpTableEntry), 0u);
    answer_offer(q->id, 1); // declined: on to AFTER_POWER_UP
    auto e = event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->event, kSsrAfterPowerUp);
    ack(q->id, kSsrAfterPowerUp);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcState) == kDbcIdle; }));

    struct Case {
        uint32_t fault;
        std::function<void(const SsrDumpHdr &, const Bytes &)> check;
    };
    std::vector<Case> cases = {
        {kDumpOversize, [&](auto &h, auto &data) { EXPECT_EQ(data.size(), 24u); (void)h; }},
        {kDumpEmptyChunk, [&](auto &h, auto &data) { EXPECT_TRUE(data.empty()); (void)h; }},
        {kDumpWrongDbc, [&](auto &h, auto &) { EXPECT_NE(h.dbc_id, q->id); }},
    };
    for (auto &c : cases) {
        q = d.activate(8);
        ASSERT_TRUE(q);
        restart(c.fault, 1);
        info = to_offer(q->id);
        ASSERT_TRUE(info) << c.fault;
        answer_offer(q->id, 0);
        auto r = read(q->id, info->tbl_addr, 16);
        ASSERT_TRUE(r) << c.fault;
        c.check(r->first, r->second);
        d.wr(kRegDevReset, kResetMagic); // what a host does with such a device
        ASSERT_TRUE(d.wait_online());
        ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 8));
        ASSERT_TRUE(d.enable_channel(ssr, kSsrChannel, kSsrSlotSize, kSsrSlotSize, 8));
    }
    // A stall: the read is never answered.
    q = d.activate(8);
    ASSERT_TRUE(q);
    restart(kDumpStall, 1);
    info = to_offer(q->id);
    ASSERT_TRUE(info);
    answer_offer(q->id, 0);
    EXPECT_FALSE(read(q->id, info->tbl_addr, 16, kQuiet));
    // A zero-length region, a huge one, a NACKed DONE, and no dump at all.
    d.wr(kRegDevReset, kResetMagic);
    ASSERT_TRUE(d.wait_online());
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 8));
    ASSERT_TRUE(d.enable_channel(ssr, kSsrChannel, kSsrSlotSize, kSsrSlotSize, 8));
    for (uint32_t fault : {kDumpZeroEntry, kDumpHugeEntry}) {
        q = d.activate(8);
        ASSERT_TRUE(q);
        restart(fault, 0);
        info = to_offer(q->id);
        ASSERT_TRUE(info);
        answer_offer(q->id, 0);
        auto t = read(q->id, info->tbl_addr, info->tbl_len);
        ASSERT_TRUE(t);
        ASSERT_EQ(t->second.size(), info->tbl_len);
        auto e1 = load<SsrDumpTableEntry>(t->second.data() + sizeof(SsrDumpTableEntry));
        auto e2 = load<SsrDumpTableEntry>(t->second.data() + 2 * sizeof(SsrDumpTableEntry));
        if (fault == kDumpZeroEntry)
            EXPECT_EQ(e1.len, 0u);
        else
            EXPECT_EQ(e2.len, uint64_t(1) << 62);
        SsrDebugTransferDone done{{kSsrDebugTransferDone, sizeof(done), q->id}, 0};
        d.post(ssr, &done, sizeof(done));
        ASSERT_TRUE(d.take(ssr));
        e = event();
        ASSERT_TRUE(e);
        EXPECT_EQ(e->event, kSsrAfterPowerUp);
        ack(q->id, kSsrAfterPowerUp);
        ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcState) == kDbcIdle; }));
    }
    q = d.activate(8);
    ASSERT_TRUE(q);
    restart(kDumpDoneNack, 0);
    info = to_offer(q->id);
    ASSERT_TRUE(info);
    answer_offer(q->id, 0);
    SsrDebugTransferDone done{{kSsrDebugTransferDone, sizeof(done), q->id}, 0};
    d.post(ssr, &done, sizeof(done));
    auto b = d.take(ssr);
    ASSERT_TRUE(b);
    EXPECT_EQ(load<SsrDebugTransferDoneRsp>(b->data()).ret, 1u);
    e = event();
    ASSERT_TRUE(e);
    ack(q->id, kSsrAfterPowerUp);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcState) == kDbcIdle; }));
    // Giving up at the second read: AFTER_POWER_UP comes instead of its answer.
    q = d.activate(8);
    ASSERT_TRUE(q);
    restart(kDumpPowerUpEarly, 2);
    info = to_offer(q->id);
    ASSERT_TRUE(info);
    answer_offer(q->id, 0);
    ASSERT_TRUE(read(q->id, info->tbl_addr, 16));
    SsrMemoryRead rd{{kSsrMemoryRead, sizeof(rd), q->id}, 0, info->tbl_addr, 16};
    d.post(ssr, &rd, sizeof(rd));
    e = event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->event, kSsrAfterPowerUp);
    ack(q->id, kSsrNack);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q->id, kDbcState) == kDbcIdle; }));
    q = d.activate(8);
    ASSERT_TRUE(q);
    restart(kDumpNone, 0);
    for (uint32_t ev = kSsrBeforeShutdown; ev <= kSsrAfterPowerUp; ++ev) {
        auto b2 = d.take(ssr);
        ASSERT_TRUE(b2);
        ASSERT_EQ(load<uint32_t>(b2->data()), kSsrEvent) << "no offer comes";
        ack(q->id, ev);
    }
}

// ---------------------------------------------------------------------------- RAS

class Ras : public Faults {
protected:
    void SetUp() override
    {
        Faults::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        ASSERT_TRUE(d.enable_channel(ras, kRasChannel, kRasSlotSize, kRasSlotSize, 4));
    }
    Channel ras;
};

// Each error goes out as one well-formed PUSH, in order, with a control MSI; a malformed one
// spoils exactly the field it names.
TEST_F(Ras, Messages)
{
    uint64_t msis = d.msi_count(kMsiControl);
    FAULT(card().ras_error(kRasDdr, kRasCe));
    FAULT(card().ras_error(kRasTsens, kRasUe));
    auto a = d.take(ras);
    auto b = d.take(ras);
    ASSERT_TRUE(a && b);
    EXPECT_TRUE(d.wait_msi(kMsiControl, msis + 2));
    RasMsg m1 = load<RasMsg>(a->data()), m2 = load<RasMsg>(b->data());
    EXPECT_EQ(m1.magic, kRasMagic);
    EXPECT_EQ(m1.ver, kRasVersion);
    EXPECT_EQ(m1.type, kRasPush);
    EXPECT_EQ(m1.len, sizeof(RasMsg) - kRasHdrSize);
    EXPECT_EQ(m1.source, kRasDdr);
    EXPECT_EQ(m1.err_type, kRasCe);
    EXPECT_EQ(m2.seq_num, m1.seq_num + 1);
    EXPECT_EQ(m2.source, kRasTsens);
    EXPECT_EQ(m2.err_type, kRasUe);
    EXPECT_EQ(load<uint32_t>(m2.syndrome), 2u); // critical threshold

    const std::pair<uint32_t, std::function<bool(const RasMsg &)>> bad[] = {
        {kRasBadMagic, [](auto &m) { return m.magic != kRasMagic; }},
        {kRasVersionZero, [](auto &m) { return m.ver == 0; }},
        {kRasVersionNew, [](auto &m) { return m.ver > kRasVersion; }},
        {kRasNotPush, [](auto &m) { return m.type != kRasPush; }},
        {kRasBadLen, [](auto &m) { return m.len != sizeof(RasMsg) - kRasHdrSize; }},
        {kRasBadErrType, [](auto &m) { return m.err_type >= kRasErrTypeMax; }},
        {kRasBadSource, [](auto &m) { return m.source >= kRasSourceMax; }},
        {kRasBadThreshold,
         [](auto &m) { return m.source == kRasTsens && load<uint32_t>(m.syndrome) >= 3; }},
    };
    for (auto &[how, spoiled] : bad) {
        FAULT(card().ras_error(kRasSocMem, kRasCe, how));
        auto c = d.take(ras);
        ASSERT_TRUE(c) << how;
        EXPECT_TRUE(spoiled(load<RasMsg>(c->data()))) << how;
    }
}

// Without a RAS channel (or across a reset) errors are lost, not kept for later.
TEST_F(Faults, RasWithoutChannelIsLost)
{
    FAULT(card().ras_error(kRasPcie, kRasCe));
    Channel ras;
    ASSERT_TRUE(d.enable_channel(ras, kRasChannel, kRasSlotSize, kRasSlotSize, 4));
    FAULT(card().ras_error(kRasDdr, kRasUeNonFatal));
    auto b = d.take(ras);
    ASSERT_TRUE(b);
    EXPECT_EQ(load<RasMsg>(b->data()).source, kRasDdr); // the first is not delivered late
    EXPECT_FALSE(d.take(ras, kQuiet));
}

} // namespace
} // namespace aic100::test
