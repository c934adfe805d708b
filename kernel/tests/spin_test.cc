// SPDX-License-Identifier: GPL-2.0-only
// spin_until (true as soon as the condition holds, false when the budget runs out, no polling
// with a zero budget, several polls per yield), Activity (busy, recently idle, long idle) and cpu_to_spare.
#include "kernel/spin.h"

#include <atomic>
#include <gtest/gtest.h>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kernel::Activity;
using kernel::spin_until;

TEST(SpinUntil, TrueAtOnceWhenTheConditionHolds)
{
    int polls = 0;
    EXPECT_TRUE(spin_until([&] { return ++polls > 0; }, 1s));
    EXPECT_EQ(polls, 1);
}

TEST(SpinUntil, ZeroBudgetChecksOnce)
{
    int polls = 0;
    EXPECT_FALSE(spin_until([&] { return ++polls > 1; }, 0ns));
    EXPECT_EQ(polls, 1);
}

TEST(SpinUntil, FalseWhenTheBudgetRunsOut)
{
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(spin_until([] { return false; }, 2ms));
    // It may stop early (preempted), never much later than the budget.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(SpinUntil, SeesAnotherThreadsStore)
{
    std::atomic<bool> flag{false};
    std::thread setter([&] { flag.store(true, std::memory_order_release); });
    // A poll may end early when this thread is preempted: poll again until the store shows.
    bool seen = false;
    for (int i = 0; i < 100000 && !seen; ++i)
        seen = spin_until([&] { return flag.load(std::memory_order_acquire); }, 10ms);
    setter.join();
    EXPECT_TRUE(seen);
}

// With several polls per yield (a word another process writes), the budget and preemption
// are looked at only at each yield: however early it stops (it may, when preempted), it stops
// after a whole number of rounds of 64 polls, then polls once more.
TEST(SpinUntil, SeveralPollsPerYield)
{
    unsigned polls = 0;
    EXPECT_FALSE(spin_until([&] { return ++polls == 0; }, 2ms, kernel::kSharedWordPollsPerYield));
    EXPECT_GT(polls, 1u);
    EXPECT_EQ(polls % kernel::kSharedWordPollsPerYield, 1u) << polls << " polls";
}

TEST(Activity, StartsLongIdle)
{
    Activity a;
    EXPECT_FALSE(a.recent(Activity::now_ns()));
}

TEST(Activity, BusyIsRecentForever)
{
    Activity a;
    a.set_busy();
    EXPECT_TRUE(a.recent(Activity::now_ns()));
    EXPECT_TRUE(a.recent(Activity::now_ns() + 3600'000'000'000LL));
}

TEST(Activity, IdleStaysRecentForAMillisecond)
{
    Activity a;
    a.set_busy();
    int64_t before = Activity::now_ns();
    a.set_idle();
    int64_t after = Activity::now_ns();
    // Idle since some time in [before, after]: recent until at least before + 1 ms, and
    // certainly over by after + 1 ms.
    EXPECT_TRUE(a.recent(after));
    EXPECT_TRUE(a.recent(before + 999'000));
    EXPECT_FALSE(a.recent(after + 1'000'000));
}

TEST(CpuToSpare, TwoCpusPerActiveStreamPlusOnePerPoller)
{
    unsigned ncpu = kernel::usable_cpus();
    ASSERT_GE(ncpu, 1u);
    EXPECT_TRUE(kernel::cpu_to_spare(0, 0));
    EXPECT_EQ(kernel::cpu_to_spare(1, 0), ncpu >= 2);
    EXPECT_EQ(kernel::cpu_to_spare(2, 0), ncpu >= 4);
    EXPECT_EQ(kernel::cpu_to_spare(1, 1), ncpu >= 3);
    EXPECT_FALSE(kernel::cpu_to_spare(ncpu, 0));
}

} // namespace
