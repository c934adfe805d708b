// SPDX-License-Identifier: GPL-2.0-only
// Busy polling (PciDev::busy_poll): a host thread waiting for a DBC's completions executes the
// DBC's elements itself, exactly as the engine would, and leaves to the engine whatever could
// block or outlast the wait. While a thread busy-polls, doorbells do not wake a sleeping
// engine; the engine looks at its ring again when the grace period ends.
#include "hw/aic100/firmware.h"
#include "hw/aic100/tests/harness.h"

#include <atomic>
#include <functional>
#include <thread>

namespace aic100::test {
namespace {

using kernel::DmaDirection;

// Ten minutes: longer than any test, so an element the engine runs here was not left to the
// end of the grace period.
constexpr unsigned kLongGraceUs = 600'000'000;

class BusyPoll : public ::testing::Test {
protected:
    explicit BusyPoll(unsigned grace_us = kLongGraceUs) : d(config(grace_us)) {}

    static CardConfig config(unsigned grace_us)
    {
        CardConfig c = small_config();
        c.idle_poll_us = 0; // engines go straight to sleep: no race with their polls
        c.busy_poll_grace_us = grace_us;
        return c;
    }
    void SetUp() override
    {
        ASSERT_TRUE(d.bring_up());
        auto qq = d.activate(16);
        ASSERT_TRUE(qq);
        q = *qq;
        fill_pattern(src.data(), src.size(), 7);
    }

    unsigned vec() const { return dbc_msi_vector(q.id); }
    // MSIs of q whose handler ran on this thread.
    uint64_t mine() { return d.msi_count_on(vec(), std::this_thread::get_id()); }
    DbcCounters counters() { return d.card().dbc_counters(q.id); }
    // The waiter: busy-polls until done() holds (never, by default) or the budget is spent.
    void busy_poll(const std::function<bool()> &done = [] { return false; },
                   Duration budget = kTimeout)
    {
        d.pci.busy_poll(q.id, done, Clock::now() + budget);
    }
    // Copies page i of src to DDR page i, with a completion.
    DbcReq copy(uint16_t req_id, unsigned page)
    {
        return to_dev(req_id, src.iova() + page * kPage, uint64_t(page) * kPage, kPage);
    }
    Bytes page(unsigned i) { return Bytes(src.data() + i * kPage, src.data() + (i + 1) * kPage); }
    bool engine_asleep() { return d.card().engine_asleep(q.id); }
    // Brings the engine into the sleep of a busy-polled DBC's engine: it ran an element after
    // a busy poll began, then ran out of work. A doorbell then leaves it asleep. The engine
    // must first be asleep with nothing pending (not, say, woken by the activation): a
    // doorbell then wakes it, and it runs the element, not this thread.
    void engine_to_timed_sleep()
    {
        ASSERT_TRUE(d.wait_until([&] { return engine_asleep(); }));
        busy_poll();
        ASSERT_EQ(d.run1(q, copy(100, 15)).status, kRspOk);
        ASSERT_TRUE(d.wait_until([&] { return engine_asleep(); }));
        ASSERT_EQ(counters().deferred_doorbells, 0u);
    }
    // Copies page 0 to DDR page 0 through a doorbell that must leave the engine asleep.
    void submit_deferred()
    {
        uint64_t deferred = counters().deferred_doorbells;
        d.submit(q, {copy(1, 0)});
        EXPECT_EQ(counters().deferred_doorbells, deferred + 1);
    }

    MiniDriver d;
    Queue q;
    HostBuf src{d.pci, 16 * kPage, DmaDirection::kToDevice};
};

TEST_F(BusyPoll, RunsTheElementsOnTheWaitingThread)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    DbcCounters before = counters();
    uint64_t msis = mine();
    d.submit(q, {copy(1, 0), copy(2, 1), copy(3, 2)});
    busy_poll();
    // Done when it returns, each completion announced at once, on this thread.
    EXPECT_EQ(d.responses_ready(q), 3u);
    EXPECT_EQ(mine(), msis + 3);
    DbcCounters c = counters();
    EXPECT_EQ(c.elements, before.elements + 3);
    EXPECT_EQ(c.polled_elements, before.polled_elements + 3);
    EXPECT_EQ(c.deferred_doorbells, before.deferred_doorbells + 1);
    EXPECT_EQ(c.bytes, before.bytes + 3 * kPage);
    EXPECT_EQ(c.queue_level, 0u);
    auto rs = d.collect(q, 3);
    ASSERT_EQ(rs.size(), 3u);
    for (uint16_t i = 0; i < 3; ++i) {
        EXPECT_EQ(rs[i].req_id, i + 1);
        EXPECT_EQ(rs[i].status, kRspOk);
        EXPECT_EQ(d.ddr(uint64_t(i) * kPage, kPage), page(i));
    }
}

// A doorbell is left to the waiter only while the engine's sleep has an end: an engine that
// fell asleep before anyone busy-polled is still woken, not left with the work.
TEST_F(BusyPoll, AnEngineAsleepBeforeThePollStillWakes)
{
    ASSERT_TRUE(d.wait_until([&] { return engine_asleep(); }));
    busy_poll(); // nothing to do yet; doorbells are deferred from now on
    DbcRsp r = d.run1(q, copy(1, 0)); // long before the grace period ends
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_EQ(counters().deferred_doorbells, 0u);
    EXPECT_EQ(counters().polled_elements, 0u);
    EXPECT_EQ(d.ddr(0, kPage), page(0));
}

TEST_F(BusyPoll, ADeferredDoorbellWaitsForTheWaiter)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    uint64_t msis = mine();
    submit_deferred();
    EXPECT_FALSE(d.wait_until([&] { return d.responses_ready(q) > 0; }, kQuiet));
    busy_poll();
    EXPECT_EQ(d.responses_ready(q), 1u);
    EXPECT_EQ(mine(), msis + 1);
    EXPECT_EQ(counters().polled_elements, 1u);
}

// Only the polling thread's own doorbells are deferred: work another thread submits starts
// at once, long before the grace period ends.
TEST_F(BusyPoll, AnotherThreadsDoorbellWakesTheEngine)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    uint64_t deferred = counters().deferred_doorbells;
    std::thread([&] { d.submit(q, {copy(1, 0)}); }).join();
    auto rs = d.collect(q, 1);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].status, kRspOk);
    EXPECT_EQ(counters().deferred_doorbells, deferred);
    EXPECT_EQ(counters().polled_elements, 0u);
    EXPECT_EQ(d.ddr(0, kPage), page(0));
}

class BusyPollShortGrace : public BusyPoll {
protected:
    // 2 s: the grace period that starts in engine_to_timed_sleep() must outlast the rest of
    // that setup and submit_deferred()'s doorbell, even in a stalled sanitizer run.
    BusyPollShortGrace() : BusyPoll(2'000'000) {}
};

// Nobody busy-polls after the deferred doorbell: the engine runs the element when the grace
// period ends.
TEST_F(BusyPollShortGrace, TheEngineRunsWhatNoWaiterTakes)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    uint64_t msis = mine();
    submit_deferred();
    auto rs = d.collect(q, 1);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].status, kRspOk);
    EXPECT_EQ(mine(), msis);
    EXPECT_EQ(counters().polled_elements, 0u);
    EXPECT_EQ(d.ddr(0, kPage), page(0));
}

// A semaphore wait could block the waiter past its timeout: the element goes to the engine at
// once, and so does everything behind it.
TEST_F(BusyPoll, ASemaphoreWaitIsTheEnginesAtOnce)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    uint64_t msis = mine();
    DbcReq gated = copy(2, 1);
    gated.sem_cmd[0] = sem_word(1, 0, true, kSemWaitEqual, 0);
    d.submit(q, {copy(1, 0), gated, copy(3, 2)});
    busy_poll();
    EXPECT_EQ(d.responses_ready(q), 1u);
    EXPECT_EQ(mine(), msis + 1);
    // The engine was woken for the element; a second poll finds the head taken by the engine,
    // or declines the wait again.
    EXPECT_TRUE(d.wait_until([&] { return !engine_asleep(); }));
    busy_poll();
    EXPECT_EQ(d.responses_ready(q), 1u);
    d.card().sem_op(q.id, 0, kSemInc, 1);
    auto rs = d.collect(q, 3); // long before the grace period ends
    ASSERT_EQ(rs.size(), 3u);
    for (const DbcRsp &r : rs)
        EXPECT_EQ(r.status, kRspOk);
    EXPECT_EQ(mine(), msis + 1);
    EXPECT_EQ(counters().polled_elements, 1u);
    EXPECT_EQ(d.ddr(2 * kPage, kPage), page(2));
}

// The waiter stops once its wait is over; the work behind goes to the engine at once.
TEST_F(BusyPoll, StopsOnceTheWaitIsOver)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    uint64_t msis = mine();
    d.submit(q, {copy(1, 0), copy(2, 1), copy(3, 2)});
    busy_poll([&] { return mine() > msis; });
    auto rs = d.collect(q, 3);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(mine(), msis + 1);
    EXPECT_EQ(counters().polled_elements, 1u);
    EXPECT_EQ(d.ddr(2 * kPage, kPage), page(2));
}

// 4 MiB at the nominal 10 GB/s takes 400 us: too long for a waiter with 1 us left.
TEST_F(BusyPoll, LeavesWhatWouldOutlastTheWait)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    constexpr uint32_t kBig = 4 << 20;
    HostBuf big(d.pci, kBig, DmaDirection::kToDevice);
    fill_pattern(big.data(), kBig, 9);
    uint64_t msis = mine();
    d.submit(q, {to_dev(1, big.iova(), kBig, kBig)});
    busy_poll([] { return false; }, std::chrono::microseconds(1));
    auto rs = d.collect(q, 1);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].status, kRspOk);
    EXPECT_EQ(mine(), msis);
    EXPECT_EQ(counters().polled_elements, 0u);
    EXPECT_EQ(d.ddr(kBig, kBig), big.bytes());
}

// With the response ring full the waiter leaves the element to the engine, which waits for
// the host to free a slot.
TEST_F(BusyPoll, AFullResponseRingIsTheEngines)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    std::vector<DbcReq> batch;
    for (uint16_t i = 0; i < 15; ++i) // a 16-element ring holds 15
        batch.push_back(copy(i + 1, i % 4));
    d.submit(q, batch);
    busy_poll();
    ASSERT_EQ(d.responses_ready(q), 15u);
    d.submit(q, {copy(16, 4)});
    busy_poll();
    EXPECT_EQ(counters().polled_elements, 15u);
    EXPECT_TRUE(d.wait_until([&] { return !engine_asleep(); }));
    auto first = d.collect(q, 15); // frees the slots: the engine answers the last one
    ASSERT_EQ(first.size(), 15u);
    auto last = d.collect(q, 1);
    ASSERT_EQ(last.size(), 1u);
    EXPECT_EQ(last[0].req_id, 16);
    EXPECT_EQ(last[0].status, kRspOk);
    EXPECT_EQ(counters().polled_elements, 15u);
    EXPECT_EQ(d.ddr(4 * kPage, kPage), page(4));
}

// A bad element fails for the waiter exactly as for the engine, and the next one still runs.
TEST_F(BusyPoll, ErrorsAreReportedAsTheEngineReportsThem)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    uint64_t msis = mine();
    DbcReq unmapped = to_dev(1, uint64_t(1) << 47, 0, kPage); // outside every mapping
    DbcReq bad_db = copy(2, 1);
    bad_db.db_len = kDb32;
    bad_db.db_addr = 2; // misaligned
    d.submit(q, {unmapped, bad_db, copy(3, 2)});
    busy_poll();
    EXPECT_EQ(mine(), msis + 3);
    auto rs = d.collect(q, 3);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(rs[0].status, kRspIommuFault);
    EXPECT_EQ(rs[1].status, kRspMalformed);
    EXPECT_EQ(rs[2].status, kRspOk);
    EXPECT_EQ(counters().errors, 2u);
    EXPECT_EQ(counters().polled_elements, 3u);
}

// A request ring the device cannot read: the waiter consumes the slot and answers it with
// req_id 0, as the engine does (iommu_test.cc, UnreadableRequestRing).
TEST_F(BusyPoll, AnUnreadableRingSlotIsAnsweredAsByTheEngine)
{
    // A 2-slot ring in one page, of which only the last 8 bytes (the responses) are mapped.
    const uint32_t n = 2;
    HostBuf rsp(d.pci, 8, DmaDirection::kBidirectional, kPage - 8);
    uint64_t req_q = rsp.iova() - (kPage - 8);
    auto r = d.transact({activate_trans(req_q, rsp.iova(), n, n, uint32_t(queue_buf_size(n)))});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->as<WireActivateFromDev>(0).status, kFwOk);
    unsigned id = r->as<WireActivateFromDev>(0).dbc_id;
    auto poll = [&] { d.pci.busy_poll(id, [] { return false; }, Clock::now() + kTimeout); };
    ASSERT_TRUE(d.wait_until([&] { return d.card().engine_asleep(id); }));
    poll(); // the grace period starts; slot 0's doorbell still wakes the engine
    d.dbc_wr(id, kDbcReqTp, 1);
    ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(id, kDbcRspTp) == 1; }));
    d.dbc_wr(id, kDbcRspHp, 1);
    ASSERT_TRUE(d.wait_until([&] { return d.card().engine_asleep(id); })); // with a deadline
    d.dbc_wr(id, kDbcReqTp, 0); // slot 1, deferred
    poll();
    EXPECT_EQ(d.dbc_rd(id, kDbcRspTp), 0u);
    DbcRsp got = load<DbcRsp>(rsp.data() + 4);
    EXPECT_EQ(got.req_id, 0);
    EXPECT_EQ(got.status, kRspIommuFault);
    DbcCounters c = d.card().dbc_counters(id);
    EXPECT_EQ(c.polled_elements, 1u);
    EXPECT_EQ(c.deferred_doorbells, 1u);
    EXPECT_EQ(c.errors, 2u);
}

// A busy poll touches only its own queue: idle DBCs, unknown queues and other DBCs' work are
// left alone.
TEST_F(BusyPoll, OtherQueuesAreLeftAlone)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    d.submit(q, {copy(1, 0)});
    for (unsigned queue : {q.id + 1, 4u, 1000u, ~0u})
        d.pci.busy_poll(queue, [] { return false; }, Clock::now() + kTimeout);
    EXPECT_EQ(d.responses_ready(q), 0u);
    EXPECT_EQ(counters().polled_elements, 0u);
    busy_poll();
    EXPECT_EQ(d.responses_ready(q), 1u);
}

// Two waiters and the engine compete for one DBC while the host keeps submitting: every
// element runs exactly once, in order, with its data. (Run under ThreadSanitizer in CI.)
TEST_F(BusyPoll, TwoWaitersAndTheEngineShareADbc)
{
    std::atomic<bool> stop{false};
    auto poller = [&] {
        while (!stop.load())
            d.pci.busy_poll(q.id, [] { return false; }, Clock::now() + kTimeout);
    };
    std::thread a(poller), b(poller);
    uint16_t id = 1;
    bool ok = true;
    for (int round = 0; round < 50 && ok; ++round) {
        std::vector<DbcReq> batch;
        for (unsigned i = 0; i < 6; ++i, ++id)
            batch.push_back(copy(id, (round + i) % 16));
        d.submit(q, batch);
        auto rs = d.collect(q, 6);
        ok = rs.size() == 6;
        for (unsigned i = 0; ok && i < 6; ++i)
            ok = rs[i].req_id == batch[i].req_id && rs[i].status == kRspOk;
    }
    stop = true;
    a.join();
    b.join();
    EXPECT_TRUE(ok);
    EXPECT_EQ(counters().elements, 300u);
    EXPECT_EQ(counters().errors, 0u);
    for (unsigned p = 0; p < 16; ++p)
        EXPECT_EQ(d.ddr(uint64_t(p) * kPage, kPage), page(p)) << p;
}

// Deactivation while a waiter busy-polls big transfers: the DBC is released cleanly (no
// responses for abandoned work), and works again after a new activation. (The engine may
// still be finishing an abandoned copy then; whoever is first runs the new element.)
TEST_F(BusyPoll, ReleaseWhileAWaiterPolls)
{
    constexpr uint32_t kBig = 1 << 20;
    HostBuf big(d.pci, kBig, DmaDirection::kToDevice);
    std::atomic<bool> stop{false};
    std::thread poller([&] {
        while (!stop.load())
            d.pci.busy_poll(q.id, [] { return false; }, Clock::now() + kTimeout);
    });
    std::vector<DbcReq> batch;
    for (uint16_t i = 0; i < 15; ++i)
        batch.push_back(to_dev(i + 1, big.iova(), uint64_t(i) * kBig, kBig));
    d.submit(q, batch);
    EXPECT_EQ(d.deactivate(q), uint32_t(kFwOk));
    EXPECT_EQ(counters().state, uint32_t(kDbcIdle));
    EXPECT_EQ(counters().elements, 0u);
    stop = true;
    poller.join();
    auto again = d.activate(16);
    ASSERT_TRUE(again);
    q = *again;
    d.submit(q, {copy(1, 0)});
    busy_poll([&] { return d.responses_ready(q) > 0; });
    auto rs = d.collect(q, 1);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].status, kRspOk);
    EXPECT_EQ(d.ddr(0, kPage), page(0));
}

#ifdef CONFIG_QAIC_FAULT_INJECTION
// A hung engine answers nothing, however the host waits.
TEST_F(BusyPoll, AHungEngineStaysHung)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    d.card().hang_engine(q.id);
    d.submit(q, {copy(1, 0)});
    busy_poll();
    EXPECT_EQ(d.responses_ready(q), 0u);
    EXPECT_EQ(counters().queue_level, 1u);
    EXPECT_EQ(counters().polled_elements, 0u);
}
#endif

// The control channel busy-polled (PciDev::busy_poll with kBusyPollControl): the host thread
// that waits for an answer serves its message itself, and its doorbells leave the firmware's
// thread asleep while that sleeps no longer than the grace period. Another thread's doorbell
// wakes the firmware's thread as before.
class FirmwareBusyPoll : public ::testing::Test {
protected:
    FirmwareBusyPoll() : d(config()) {}
    static CardConfig config()
    {
        CardConfig c = small_config();
        c.busy_poll_grace_us = kLongGraceUs;
        return c;
    }
    void SetUp() override { ASSERT_TRUE(d.bring_up()); }

    void busy_poll()
    {
        d.pci.busy_poll(kBusyPollControl, [&] { return d.d2h_ready(d.ctrl); }, Clock::now() + kTimeout);
    }
    Bytes status_msg() { return make_msg(d.next_seq++, kUser, {status_trans()}); }
    uint64_t mine() { return d.msi_count_on(kMsiControl, std::this_thread::get_id()); }
    bool fw_asleep() { return d.card().firmware().asleep(); }

    MiniDriver d;
};

TEST_F(FirmwareBusyPoll, TheWaiterServesItsOwnMessage)
{
    busy_poll(); // nothing to serve: the grace period begins for this thread
    // Another thread's doorbell wakes the firmware's thread, which answers, then sleeps until
    // the grace period ends at the latest.
    std::thread([&] { d.send_raw(status_msg()); }).join();
    ASSERT_TRUE(d.recv());
    ASSERT_TRUE(d.wait_until([&] { return fw_asleep(); }));
    uint64_t before = mine();
    for (int i = 0; i < 3; ++i) {
        d.send_raw(status_msg());
        busy_poll();
        auto r = d.recv();
        ASSERT_TRUE(r);
        EXPECT_TRUE(r->crc_ok);
        EXPECT_TRUE(fw_asleep());
    }
    EXPECT_EQ(mine(), before + 3) << "each answer's MSI was raised on the waiting thread";
}

TEST_F(FirmwareBusyPoll, OffAMessageGoesToTheFirmwaresThread)
{
    uint64_t before = mine();
    d.send_raw(status_msg());
    ASSERT_TRUE(d.recv());
    EXPECT_EQ(mine(), before); // nobody busy-polled: the firmware's thread served it
}

} // namespace
} // namespace aic100::test
