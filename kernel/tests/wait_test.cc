// SPDX-License-Identifier: GPL-2.0-only
// WaitQueue and Completion: immediate returns, timeouts, wakeups from other threads, huge
// timeouts, and the counting rules of complete / complete_all / reinit.
#include "kernel/wait.h"

#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using kernel::Clock;
using kernel::Completion;
using kernel::Duration;
using kernel::kWaitForever;
using kernel::WaitQueue;

// Long enough never to pass on a loaded machine; a test that hits it has failed anyway.
constexpr Duration kLong = std::chrono::seconds(10);

// Gives a thread that is about to wait the chance to block first; correctness never depends
// on it, it only makes the "already sleeping" path the likely one.
void let_waiter_block()
{
    std::this_thread::sleep_for(20ms);
}

TEST(WaitQueue, TrueConditionReturnsAtOnce)
{
    WaitQueue wq;
    int evaluations = 0;
    auto start = Clock::now();
    auto r = wq.wait_event_timeout(
        [&] {
            ++evaluations;
            return true;
        },
        kLong);
    EXPECT_EQ(r.code(), 0);
    EXPECT_LT(Clock::now() - start, 1s);
    EXPECT_EQ(evaluations, 1);
}

TEST(WaitQueue, TrueConditionWithZeroOrNegativeTimeout)
{
    WaitQueue wq;
    EXPECT_EQ(wq.wait_event_timeout([] { return true; }, Duration::zero()).code(), 0);
    EXPECT_EQ(wq.wait_event_timeout([] { return true; }, -1s).code(), 0);
    EXPECT_EQ(wq.wait_event_timeout([] { return true; }, kWaitForever).code(), 0);
}

TEST(WaitQueue, FalseConditionTimesOut)
{
    WaitQueue wq;
    constexpr Duration timeout = 50ms;
    auto start = Clock::now();
    auto r = wq.wait_event_timeout([] { return false; }, timeout);
    auto elapsed = Clock::now() - start;
    EXPECT_EQ(r.code(), -ETIMEDOUT);
    EXPECT_GE(elapsed, timeout);
}

TEST(WaitQueue, ZeroAndNegativeTimeoutsFailAtOnce)
{
    WaitQueue wq;
    auto start = Clock::now();
    EXPECT_EQ(wq.wait_event_timeout([] { return false; }, Duration::zero()).code(), -ETIMEDOUT);
    EXPECT_EQ(wq.wait_event_timeout([] { return false; }, -5s).code(), -ETIMEDOUT);
    EXPECT_EQ(wq.wait_event_timeout([] { return false; }, Duration::min()).code(), -ETIMEDOUT);
    EXPECT_LT(Clock::now() - start, 1s);
}

TEST(WaitQueue, ConditionTrueAtDeadlineCounts)
{
    // The condition is checked once more when the time is up: a late "true" is a success.
    WaitQueue wq;
    auto deadline = Clock::now() + 30ms;
    auto r = wq.wait_event_timeout([&] { return Clock::now() >= deadline; }, 30ms);
    EXPECT_EQ(r.code(), 0);
}

TEST(WaitQueue, WokenByAnotherThread)
{
    WaitQueue wq;
    std::atomic<bool> ready = false;
    std::thread waker([&] {
        let_waiter_block();
        ready = true;
        wq.wake_up_all();
    });
    auto r = wq.wait_event_timeout([&] { return ready.load(); }, kLong);
    waker.join();
    EXPECT_EQ(r.code(), 0);
    EXPECT_TRUE(ready);
}

TEST(WaitQueue, WakeUpWithoutConditionKeepsSleeping)
{
    // Wake-ups while the condition is false are not a reason to return.
    WaitQueue wq;
    std::atomic<bool> ready = false;
    std::thread waker([&] {
        for (int i = 0; i < 1000; ++i) {
            wq.wake_up_all();
            std::this_thread::yield();
        }
        ready = true;
        wq.wake_up_all();
    });
    auto r = wq.wait_event_timeout([&] { return ready.load(); }, kLong);
    bool ready_on_return = ready.load();
    waker.join();
    EXPECT_EQ(r.code(), 0);
    EXPECT_TRUE(ready_on_return);
}

TEST(WaitQueue, WakeUpAllWakesEveryWaiter)
{
    WaitQueue wq;
    std::atomic<bool> go = false;
    std::atomic<int> woken = 0;
    std::vector<std::thread> waiters;
    for (int i = 0; i < 4; ++i)
        waiters.emplace_back([&] {
            if (wq.wait_event_timeout([&] { return go.load(); }, kLong).code() == 0)
                woken.fetch_add(1);
        });
    let_waiter_block();
    go = true;
    wq.wake_up_all();
    for (auto &t : waiters)
        t.join();
    EXPECT_EQ(woken, 4);
}

TEST(WaitQueue, WaitEventForever)
{
    WaitQueue wq;
    int value = 0; // guarded by m
    std::mutex m;
    std::thread waker([&] {
        let_waiter_block();
        {
            std::lock_guard g(m);
            value = 3;
        }
        wq.wake_up_all();
    });
    wq.wait_event([&] {
        std::lock_guard g(m);
        return value == 3;
    });
    waker.join();
    std::lock_guard g(m);
    EXPECT_EQ(value, 3);
}

TEST(WaitQueue, MaxTimeoutDoesNotOverflow)
{
    EXPECT_EQ(WaitQueue::deadline_after(Duration::max()), Clock::time_point::max());
    EXPECT_EQ(WaitQueue::deadline_after(Duration::max() - 1ns), Clock::time_point::max());
    auto remaining = Clock::time_point::max() - Clock::now();
    EXPECT_EQ(WaitQueue::deadline_after(remaining), Clock::time_point::max());

    auto before = Clock::now();
    auto d = WaitQueue::deadline_after(1h);
    auto after = Clock::now();
    EXPECT_GE(d, before + 1h);
    EXPECT_LE(d, after + 1h);
    EXPECT_LT(WaitQueue::deadline_after(-1s), Clock::now());
}

TEST(WaitQueue, MaxTimeoutWaitsAndWakes)
{
    // Duration::max() and a timeout just below it both mean "until woken", not "already past".
    for (Duration timeout : {Duration::max(), Duration::max() - 1ns}) {
        WaitQueue wq;
        std::atomic<bool> ready = false;
        std::thread waker([&] {
            let_waiter_block();
            ready = true;
            wq.wake_up_all();
        });
        EXPECT_EQ(wq.wait_event_timeout([&] { return ready.load(); }, timeout).code(), 0);
        EXPECT_TRUE(ready);
        waker.join();
    }
}

TEST(WaitQueue, LargeFiniteTimeoutWaitsAndWakes)
{
    // Hundreds of years fit in the clock; the deadline is computed, not saturated.
    WaitQueue wq;
    std::atomic<bool> ready = false;
    std::thread waker([&] {
        let_waiter_block();
        ready = true;
        wq.wake_up_all();
    });
    constexpr Duration centuries = std::chrono::hours(24 * 365 * 200);
    EXPECT_EQ(wq.wait_event_timeout([&] { return ready.load(); }, centuries).code(), 0);
    waker.join();
}

TEST(Completion, StartsNotDone)
{
    Completion c;
    EXPECT_FALSE(c.done());
    EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), -ETIMEDOUT);
}

TEST(Completion, CompleteBeforeWait)
{
    Completion c;
    c.complete();
    EXPECT_TRUE(c.done());
    EXPECT_TRUE(c.done()); // done() does not consume
    EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), 0);
    EXPECT_FALSE(c.done());
    EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), -ETIMEDOUT);
}

TEST(Completion, CompleteCountsEachCall)
{
    Completion c;
    c.complete();
    c.complete();
    c.complete();
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), 0) << i;
    EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), -ETIMEDOUT);
    EXPECT_FALSE(c.done());
}

TEST(Completion, TimeoutElapses)
{
    Completion c;
    constexpr Duration timeout = 40ms;
    auto start = Clock::now();
    EXPECT_EQ(c.wait_timeout(timeout).code(), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - start, timeout);
    // A timed-out wait leaves nothing behind: a later complete() is still there for the next.
    c.complete();
    EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), 0);
}

TEST(Completion, CompleteAllReleasesEveryWait)
{
    Completion c;
    c.complete_all();
    for (int i = 0; i < 100; ++i)
        ASSERT_EQ(c.wait_timeout(Duration::zero()).code(), 0) << i;
    EXPECT_TRUE(c.done());
    c.complete(); // complete() after complete_all() does not end the "all" state
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(c.wait_timeout(Duration::zero()).code(), 0) << i;
    EXPECT_TRUE(c.done());
    c.wait();
}

TEST(Completion, ReinitResets)
{
    Completion c;
    c.complete_all();
    c.reinit();
    EXPECT_FALSE(c.done());
    EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), -ETIMEDOUT);

    c.complete();
    c.complete();
    c.reinit(); // pending completions are dropped too
    EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), -ETIMEDOUT);

    c.complete(); // after reinit, counting starts afresh
    EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), 0);
    EXPECT_EQ(c.wait_timeout(Duration::zero()).code(), -ETIMEDOUT);
}

TEST(Completion, CompleteWakesBlockedWaiter)
{
    Completion c;
    std::thread completer([&] {
        let_waiter_block();
        c.complete();
    });
    EXPECT_EQ(c.wait_timeout(kLong).code(), 0);
    completer.join();
    EXPECT_FALSE(c.done());
}

TEST(Completion, WaitForever)
{
    Completion c;
    std::thread completer([&] {
        let_waiter_block();
        c.complete();
    });
    c.wait();
    completer.join();
    EXPECT_FALSE(c.done());
    std::thread completer2([&] {
        let_waiter_block();
        c.complete();
    });
    EXPECT_EQ(c.wait_timeout(Duration::max()).code(), 0);
    completer2.join();
}

TEST(Completion, OneCompleteReleasesOneWaiter)
{
    // Two waiters, one complete(): exactly one succeeds whatever the order of events, since
    // the completion is counted whether or not anyone is waiting yet.
    Completion c;
    std::atomic<int> ok = 0, timed_out = 0;
    auto waiter = [&] {
        int r = c.wait_timeout(500ms).code();
        if (r == 0)
            ok.fetch_add(1);
        else if (r == -ETIMEDOUT)
            timed_out.fetch_add(1);
    };
    std::thread a(waiter), b(waiter);
    let_waiter_block();
    c.complete();
    a.join();
    b.join();
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(timed_out, 1);
}

// n threads waiting on c (kLong); each counts a successful wait in ok.
std::vector<std::thread> start_waiters(Completion &c, int n, std::atomic<int> &ok)
{
    std::vector<std::thread> waiters;
    for (int i = 0; i < n; ++i)
        waiters.emplace_back([&] {
            if (c.wait_timeout(kLong).code() == 0)
                ok.fetch_add(1);
        });
    return waiters;
}

TEST(Completion, EachCompleteReleasesOneOfManyWaiters)
{
    Completion c;
    constexpr int kWaiters = 6;
    std::atomic<int> ok = 0;
    std::vector<std::thread> waiters = start_waiters(c, kWaiters, ok);
    let_waiter_block();
    for (int i = 0; i < kWaiters; ++i)
        c.complete();
    for (auto &t : waiters)
        t.join();
    EXPECT_EQ(ok, kWaiters);
    EXPECT_FALSE(c.done()); // every completion was consumed exactly once
}

TEST(Completion, CompleteAllWakesAllWaiters)
{
    Completion c;
    constexpr int kWaiters = 5;
    std::atomic<int> ok = 0;
    std::vector<std::thread> waiters = start_waiters(c, kWaiters, ok);
    let_waiter_block();
    c.complete_all();
    for (auto &t : waiters)
        t.join();
    EXPECT_EQ(ok, kWaiters);
    EXPECT_TRUE(c.done());
}

} // namespace
