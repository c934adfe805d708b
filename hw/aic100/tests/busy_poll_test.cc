// SPDX-License-Identifier: GPL-2.0-only
// Busy polling (PciDev::busy_poll): a host thread waiting for a DBC's completions executes the
// DBC's elements itself, exactly as the engine would, and leaves to the engine whatever could
// block or outlast the wait. While a thread busy-polls, doorbells do not wake a sleeping
// engine; the engine looks at its ring again when the grace period ends.
#include "hw/aic100/tests/harness.h"

#include <functional>

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
    // a busy poll began, then ran out of work. A doorbell then leaves it asleep.
    void engine_to_timed_sleep()
    {
        busy_poll();
        ASSERT_EQ(d.run1(q, copy(100, 15)).status, kRspOk);
        ASSERT_TRUE(d.wait_until([&] { return engine_asleep(); }));
    }

    MiniDriver d;
    Queue q;
    HostBuf src{d.pci, 16 * kPage, DmaDirection::kToDevice};
};

TEST_F(BusyPoll, RunsTheElementsOnTheWaitingThread)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    uint64_t msis = d.msi_count(vec());
    d.submit(q, {copy(1, 0), copy(2, 1), copy(3, 2)});
    busy_poll();
    // Done when it returns, and answered from this thread: the MSI handler ran on it.
    EXPECT_EQ(d.responses_ready(q), 3u);
    EXPECT_GT(d.msi_count(vec()), msis);
    EXPECT_EQ(d.msi_thread(vec()), std::this_thread::get_id());
    auto rs = d.collect(q, 3);
    ASSERT_EQ(rs.size(), 3u);
    for (uint16_t i = 0; i < 3; ++i) {
        EXPECT_EQ(rs[i].req_id, i + 1);
        EXPECT_EQ(rs[i].status, kRspOk);
        EXPECT_EQ(d.ddr(uint64_t(i) * kPage, kPage), page(i));
    }
    DbcCounters c = d.card().dbc_counters(q.id);
    EXPECT_EQ(c.elements, 4u); // with engine_to_timed_sleep's
    EXPECT_EQ(c.bytes, 4u * kPage);
    EXPECT_EQ(c.queue_level, 0u);
}

// A doorbell is left to the waiter only while the engine's sleep has an end: an engine that
// fell asleep before anyone busy-polled is still woken, not left with the work.
TEST_F(BusyPoll, AnEngineAsleepBeforeThePollStillWakes)
{
    ASSERT_TRUE(d.wait_until([&] { return engine_asleep(); }));
    busy_poll(); // nothing to do yet; doorbells are deferred from now on
    DbcRsp r = d.run1(q, copy(1, 0));
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_NE(d.msi_thread(vec()), std::this_thread::get_id());
    EXPECT_EQ(d.ddr(0, kPage), page(0));
}

TEST_F(BusyPoll, ADeferredDoorbellWaitsForTheWaiter)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    d.submit(q, {copy(1, 0)});
    EXPECT_FALSE(d.wait_until([&] { return d.responses_ready(q) > 0; }, kQuiet));
    busy_poll();
    EXPECT_EQ(d.responses_ready(q), 1u);
    EXPECT_EQ(d.msi_thread(vec()), std::this_thread::get_id());
}

class BusyPollShortGrace : public BusyPoll {
protected:
    BusyPollShortGrace() : BusyPoll(2000) {}
};

// Nobody busy-polls after the doorbell: the engine runs the element when the grace period
// ends.
TEST_F(BusyPollShortGrace, TheEngineRunsWhatNoWaiterTakes)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    DbcRsp r = d.run1(q, copy(1, 0));
    EXPECT_EQ(r.status, kRspOk);
    EXPECT_NE(d.msi_thread(vec()), std::this_thread::get_id());
    EXPECT_EQ(d.ddr(0, kPage), page(0));
}

// A semaphore wait could block the waiter past its timeout: the element goes to the engine at
// once, and so does everything behind it.
TEST_F(BusyPoll, ASemaphoreWaitIsTheEnginesAtOnce)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    DbcReq gated = copy(2, 1);
    gated.sem_cmd[0] = sem_word(1, 0, true, kSemWaitEqual, 0);
    d.submit(q, {copy(1, 0), gated, copy(3, 2)});
    busy_poll();
    EXPECT_EQ(d.responses_ready(q), 1u);
    // The engine took the element and waits on the semaphore (no longer asleep for want of
    // work); a second poll finds the head taken.
    EXPECT_TRUE(d.wait_until([&] { return !engine_asleep(); }));
    busy_poll();
    EXPECT_EQ(d.responses_ready(q), 1u);
    d.card().sem_op(q.id, 0, kSemInc, 1);
    auto rs = d.collect(q, 3); // long before the grace period ends
    ASSERT_EQ(rs.size(), 3u);
    for (const DbcRsp &r : rs)
        EXPECT_EQ(r.status, kRspOk);
    EXPECT_NE(d.msi_thread(vec()), std::this_thread::get_id());
    EXPECT_EQ(d.ddr(2 * kPage, kPage), page(2));
}

// The waiter stops once its wait is over; the work behind goes to the engine at once.
TEST_F(BusyPoll, StopsOnceTheWaitIsOver)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    uint64_t msis = d.msi_count(vec());
    d.submit(q, {copy(1, 0), copy(2, 1), copy(3, 2)});
    busy_poll([&] { return d.msi_count(vec()) > msis; });
    auto rs = d.collect(q, 3);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_NE(d.msi_thread(vec()), std::this_thread::get_id());
    EXPECT_EQ(d.ddr(2 * kPage, kPage), page(2));
}

// 4 MiB at the nominal 10 GB/s takes 400 us: too long for a waiter with 1 us left.
TEST_F(BusyPoll, LeavesWhatWouldOutlastTheWait)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    constexpr uint32_t kBig = 4 << 20;
    HostBuf big(d.pci, kBig, DmaDirection::kToDevice);
    fill_pattern(big.data(), kBig, 9);
    d.submit(q, {to_dev(1, big.iova(), kBig, kBig)});
    busy_poll([] { return false; }, std::chrono::microseconds(1));
    auto rs = d.collect(q, 1);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].status, kRspOk);
    EXPECT_NE(d.msi_thread(vec()), std::this_thread::get_id());
    EXPECT_EQ(d.ddr(kBig, kBig), big.bytes());
}

// A bad element fails for the waiter exactly as for the engine, and the next one still runs.
TEST_F(BusyPoll, ErrorsAreReportedAsTheEngineReportsThem)
{
    ASSERT_NO_FATAL_FAILURE(engine_to_timed_sleep());
    DbcReq unmapped = to_dev(1, uint64_t(1) << 47, 0, kPage); // outside every mapping
    DbcReq bad_db = copy(2, 1);
    bad_db.db_len = kDb32;
    bad_db.db_addr = 2; // misaligned
    d.submit(q, {unmapped, bad_db, copy(3, 2)});
    busy_poll();
    auto rs = d.collect(q, 3);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(rs[0].status, kRspIommuFault);
    EXPECT_EQ(rs[1].status, kRspMalformed);
    EXPECT_EQ(rs[2].status, kRspOk);
    EXPECT_EQ(d.msi_thread(vec()), std::this_thread::get_id());
    EXPECT_EQ(d.card().dbc_counters(q.id).errors, 2u);
}

// Queues that are not an activated DBC are left alone.
TEST_F(BusyPoll, OtherQueuesAreIgnored)
{
    d.submit(q, {copy(1, 0)});
    auto rs = d.collect(q, 1);
    ASSERT_EQ(rs.size(), 1u);
    for (unsigned queue : {q.id + 1, 4u, 1000u, ~0u})
        d.pci.busy_poll(queue, [] { return false; }, Clock::now() + kTimeout);
    EXPECT_EQ(d.card().dbc_counters(q.id).elements, 1u);
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
    EXPECT_EQ(d.card().dbc_counters(q.id).queue_level, 1u);
}
#endif

} // namespace
} // namespace aic100::test
