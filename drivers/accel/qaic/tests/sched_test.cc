// SPDX-License-Identifier: GPL-2.0-only
// The DBC job scheduler against a fake ring and a fake clock.
#include "drivers/accel/qaic/qaic_sched.h"

#include <gtest/gtest.h>

namespace {

using kernel::RefPtr;
using qaic::DbcScheduler;
using qaic::Job;
using namespace std::chrono_literals;

// A ring of `nelem` slots the test drains by hand, like a device that is told when to run.
class FakeRing : public qaic::RingOwner {
public:
    explicit FakeRing(uint32_t nelem) : nelem(nelem) {}
    uint32_t ring_free() override { return nelem - 1 - level; }
    uint32_t ring_level() override { return level; }
    void ring_write(const std::vector<aic100::DbcReq> &reqs) override
    {
        for (const auto &r : reqs)
            written.push_back(r);
        level += uint32_t(reqs.size());
    }
    void ring_doorbell() override { ++doorbells; }
    // The device consumed n elements.
    void consume(uint32_t n) { level -= n; }

    uint32_t nelem;
    uint32_t level = 0;
    int doorbells = 0;
    std::vector<aic100::DbcReq> written;
};

class FakeClock : public qaic::SchedClock {
public:
    kernel::Clock::time_point now() override { return t; }
    void advance(kernel::Duration d) { t += std::chrono::duration_cast<kernel::Clock::duration>(d); }
    kernel::Clock::time_point t{std::chrono::seconds(1000)};
};

RefPtr<Job> job(uint32_t elems, uint32_t slices = 1)
{
    auto j = kernel::make_ref<Job>();
    j->reqs.resize(elems);
    j->slices = slices;
    j->fence = kernel::make_ref<kernel::Fence>(1, 1);
    return j;
}

class Sched : public testing::Test {
protected:
    FakeRing ring{8}; // 7 usable slots
    FakeClock clock;
    DbcScheduler sched{ring, clock, 4};
};

TEST_F(Sched, JobsThatFitGoStraightToTheRingWithOneDoorbell)
{
    auto a = job(2), b = job(3);
    ASSERT_FALSE(sched.submit({a, b}).is_error());
    EXPECT_EQ(sched.in_flight(), 2u);
    EXPECT_EQ(sched.queued(), 0u);
    EXPECT_EQ(ring.doorbells, 1);
    EXPECT_EQ(ring.written.size(), 5u);
    EXPECT_EQ(a->queue_level_before, 0u);
    EXPECT_EQ(b->queue_level_before, 2u);
}

TEST_F(Sched, ReqIdsAreConsecutiveAndStampEveryElement)
{
    auto a = job(2), b = job(1);
    ASSERT_FALSE(sched.submit({a, b}).is_error());
    EXPECT_EQ(b->req_id, uint16_t(a->req_id + 1));
    for (const auto &r : a->reqs)
        EXPECT_EQ(r.req_id, a->req_id);
    EXPECT_EQ(ring.written[2].req_id, b->req_id);
}

TEST_F(Sched, OverflowGoesToTheQueueInOrder)
{
    auto a = job(5), b = job(3), c = job(1);
    ASSERT_FALSE(sched.submit({a, b, c}).is_error());
    // b does not fit after a; c would, but must not overtake b.
    EXPECT_EQ(sched.in_flight(), 1u);
    EXPECT_EQ(sched.queued(), 2u);
    ring.consume(5);
    EXPECT_EQ(sched.complete(a->req_id, 0), a);
    EXPECT_EQ(sched.in_flight(), 2u); // b and c moved to the ring
    EXPECT_EQ(sched.queued(), 0u);
    EXPECT_EQ(ring.doorbells, 2);
}

TEST_F(Sched, LaterSubmissionsQueueBehindQueuedJobs)
{
    ASSERT_FALSE(sched.submit({job(7)}).is_error());
    ASSERT_FALSE(sched.submit({job(1)}).is_error());
    EXPECT_EQ(sched.queued(), 1u);
}

TEST_F(Sched, PastTheBoundIsEagainAndNothingChanges)
{
    ASSERT_FALSE(sched.submit({job(7)}).is_error());
    ASSERT_FALSE(sched.submit({job(1), job(1), job(1)}).is_error());
    auto a = job(1), b = job(1);
    uint16_t next = 0;
    {
        // One more fits the bound of 4, two do not: all-or-nothing.
        EXPECT_EQ(sched.submit({a, b}).code(), -EAGAIN);
        EXPECT_EQ(sched.queued(), 3u);
        EXPECT_EQ(a->req_id, 0u);
        auto c = job(1);
        ASSERT_FALSE(sched.submit({c}).is_error());
        next = c->req_id;
    }
    EXPECT_EQ(next, 4u); // the refused call consumed no req_ids
}

TEST_F(Sched, ZeroDepthQueueIsUpstreamsEagain)
{
    DbcScheduler strict(ring, clock, 0);
    ASSERT_FALSE(strict.submit({job(6)}).is_error());
    EXPECT_EQ(strict.submit({job(2)}).code(), -EAGAIN);
    ASSERT_FALSE(strict.submit({job(1)}).is_error());
}

TEST_F(Sched, AJobCompletesWhenEverySliceHas)
{
    auto a = job(3, 3);
    ASSERT_FALSE(sched.submit({a}).is_error());
    EXPECT_FALSE(sched.complete(a->req_id, 0));
    EXPECT_FALSE(sched.complete(a->req_id, 5));
    EXPECT_EQ(sched.complete(a->req_id, 0), a);
    EXPECT_EQ(a->first_error, 5u); // an error in any slice sticks
    EXPECT_TRUE(sched.idle());
}

TEST_F(Sched, StrayReqIdsAreIgnored)
{
    auto a = job(1), b = job(1);
    ASSERT_FALSE(sched.submit({a, b}).is_error());
    EXPECT_FALSE(sched.complete(b->req_id, 0)); // not the oldest
    EXPECT_FALSE(sched.complete(999, 0));
    EXPECT_EQ(sched.in_flight(), 2u);
    EXPECT_EQ(a->slices_done, 0u);
}

TEST_F(Sched, TimestampsComeFromTheClock)
{
    auto a = job(1);
    a->received = clock.t;
    clock.advance(3us);
    ASSERT_FALSE(sched.submit({a}).is_error());
    EXPECT_EQ(a->submitted - a->received, std::chrono::microseconds(3));
    clock.advance(40us);
    ASSERT_EQ(sched.complete(a->req_id, 0), a);
    EXPECT_EQ(a->completed - a->submitted, std::chrono::microseconds(40));
}

TEST_F(Sched, HangDetectionFollowsProgress)
{
    EXPECT_FALSE(sched.hung(1s)); // idle is never hung
    auto a = job(1, 2), b = job(1);
    ASSERT_FALSE(sched.submit({a, b}).is_error());
    clock.advance(900ms);
    EXPECT_FALSE(sched.hung(1s));
    (void)sched.complete(a->req_id, 0); // progress, though a is not done
    clock.advance(900ms);
    EXPECT_FALSE(sched.hung(1s));
    clock.advance(200ms);
    EXPECT_TRUE(sched.hung(1s));
}

TEST_F(Sched, HangClockStartsWhenAnIdleRingGetsWork)
{
    clock.advance(1h);
    ASSERT_FALSE(sched.submit({job(1)}).is_error());
    EXPECT_FALSE(sched.hung(1s));
}

TEST_F(Sched, TakeAllReturnsInFlightThenQueuedInOrder)
{
    auto a = job(7), b = job(1), c = job(1);
    ASSERT_FALSE(sched.submit({a, b, c}).is_error());
    auto all = sched.take_all();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all.pop_front(), a);
    EXPECT_EQ(all.pop_front(), b);
    EXPECT_EQ(all.pop_front(), c);
    EXPECT_TRUE(all.empty());
    EXPECT_TRUE(sched.idle());
}

TEST_F(Sched, ReqIdsWrapAt16Bits)
{
    FakeRing big(70000);
    DbcScheduler s(big, clock, 0);
    for (int i = 0; i < 65535; ++i) {
        auto j = job(1);
        ASSERT_FALSE(s.submit({j}).is_error());
        big.consume(1);
        ASSERT_EQ(s.complete(j->req_id, 0), j);
    }
    auto j = job(1);
    ASSERT_FALSE(s.submit({j}).is_error());
    EXPECT_EQ(j->req_id, 65535u);
    auto k = job(1);
    ASSERT_FALSE(s.submit({k}).is_error());
    EXPECT_EQ(k->req_id, 0u);
}

} // namespace
