// SPDX-License-Identifier: GPL-2.0-only
// Tasks and interruptible sleeps: a kill before or during an interruptible wait (WaitQueue,
// Completion, Fence) ends it with -EINTR at once, whatever it sleeps on; uninterruptible
// waits, threads without a task and tasks never killed behave as before.
#include "kernel/fence.h"
#include "kernel/task.h"
#include "kernel/wait.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <gtest/gtest.h>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using kernel::Clock;
using kernel::Completion;
using kernel::Fence;
using kernel::RefPtr;
using kernel::ScopedTask;
using kernel::Task;
using kernel::WaitQueue;

// Long enough never to pass on a loaded machine: a wait that reaches it missed its kill's
// wakeup (it then ends with -EINTR too, so the tests check it ended well before).
constexpr auto kLong = 10s;

// The three interruptible sleeps, each on an object of its own that nothing else wakes.
struct Sleeper {
    const char *name;
    std::function<int()> wait; // the wait's errno (0: woken by its condition)
};

std::vector<Sleeper> sleepers()
{
    auto wq = std::make_shared<WaitQueue>();
    auto c = std::make_shared<Completion>();
    RefPtr<Fence> f = kernel::make_ref<Fence>(Fence::new_context(), 1);
    return {
        {"WaitQueue",
         [wq] {
             return wq->wait_event_interruptible_timeout([] { return false; }, kLong).code();
         }},
        {"Completion", [c] { return c->wait_interruptible_timeout(kLong).code(); }},
        {"Fence",
         [f] { return f->wait_interruptible_until(WaitQueue::deadline_after(kLong)).code(); }},
    };
}

TEST(Task, NoTaskByDefault)
{
    EXPECT_EQ(kernel::current_task(), nullptr);
    EXPECT_FALSE(kernel::fatal_signal_pending());
}

TEST(Task, ScopedTaskSetsAndRestores)
{
    Task a, b;
    {
        ScopedTask sa(a);
        EXPECT_EQ(kernel::current_task(), &a);
        {
            ScopedTask sb(b);
            EXPECT_EQ(kernel::current_task(), &b);
            b.kill();
            EXPECT_TRUE(kernel::fatal_signal_pending());
        }
        EXPECT_EQ(kernel::current_task(), &a);
        EXPECT_FALSE(kernel::fatal_signal_pending());
    }
    EXPECT_EQ(kernel::current_task(), nullptr);
}

TEST(Task, KillBeforeTheWaitIsNotLost)
{
    Task task;
    task.kill();
    ScopedTask scope(task);
    for (Sleeper &s : sleepers()) {
        auto start = Clock::now();
        EXPECT_EQ(s.wait(), -EINTR) << s.name;
        EXPECT_LT(Clock::now() - start, kLong) << s.name;
    }
}

// The kill comes from another thread at any point of the wait, from before the sleeper
// registers to long after it sleeps: every round ends in -EINTR, none by the timeout.
TEST(Task, KillDuringTheWaitWakesIt)
{
    for (Sleeper &s : sleepers()) {
        for (int round = 0; round < 200; ++round) {
            Task task;
            int err = 0;
            auto start = Clock::now();
            std::thread t([&] {
                ScopedTask scope(task);
                err = s.wait();
            });
            if (round % 50 == 0)
                std::this_thread::sleep_for(20ms); // most likely asleep by now
            else
                std::this_thread::sleep_for(std::chrono::microseconds(round % 50 * 10));
            task.kill();
            t.join();
            ASSERT_EQ(err, -EINTR) << s.name << " round " << round;
            ASSERT_LT(Clock::now() - start, kLong) << s.name << " round " << round;
        }
    }
}

// One task served by several threads at once (a client's threads sharing a connection): one
// kill wakes all of them, whatever they sleep on.
TEST(Task, KillWakesEverySleepOfTheTask)
{
    Task task;
    std::vector<Sleeper> all = sleepers();
    std::vector<int> errs(all.size(), 0);
    std::vector<std::thread> threads;
    auto start = Clock::now();
    for (size_t i = 0; i < all.size(); ++i)
        threads.emplace_back([&, i] {
            ScopedTask scope(task);
            errs[i] = all[i].wait();
        });
    std::this_thread::sleep_for(20ms);
    task.kill();
    for (auto &t : threads)
        t.join();
    EXPECT_LT(Clock::now() - start, kLong);
    for (size_t i = 0; i < all.size(); ++i)
        EXPECT_EQ(errs[i], -EINTR) << all[i].name;
}

// Another task's kill, and a kill of a task whose thread sleeps uninterruptibly (a release
// draining), change nothing: those waits end as they would have.
TEST(Task, UninterruptibleAndOtherTasksSleepsAreNotWoken)
{
    Task mine, other;
    other.kill();
    ScopedTask scope(mine);
    WaitQueue wq;
    EXPECT_EQ(wq.wait_event_interruptible_timeout([] { return false; }, 30ms).code(), -ETIMEDOUT);
    mine.kill();
    EXPECT_EQ(wq.wait_event_timeout([] { return false; }, 30ms).code(), -ETIMEDOUT);
    Completion c;
    EXPECT_EQ(c.wait_timeout(30ms).code(), -ETIMEDOUT);
    RefPtr<Fence> f = kernel::make_ref<Fence>(Fence::new_context(), 1);
    EXPECT_EQ(f->wait_until(WaitQueue::deadline_after(30ms)).code(), -ETIMEDOUT);
    // And they still end with their condition.
    c.complete();
    EXPECT_EQ(c.wait_timeout(kLong).code(), 0);
    f->signal(-EIO);
    EXPECT_EQ(f->wait_until(WaitQueue::deadline_after(kLong)).value(), -EIO);
}

TEST(Task, NeverKilledWaitsEndNormally)
{
    Task task;
    ScopedTask scope(task);
    WaitQueue wq;
    EXPECT_EQ(wq.wait_event_interruptible_timeout([] { return false; }, 30ms).code(), -ETIMEDOUT);
    Completion c;
    EXPECT_EQ(c.wait_interruptible_timeout(30ms).code(), -ETIMEDOUT);
    RefPtr<Fence> f = kernel::make_ref<Fence>(Fence::new_context(), 1);
    EXPECT_EQ(f->wait_interruptible_until(WaitQueue::deadline_after(30ms)).code(), -ETIMEDOUT);

    std::atomic<bool> ready{false};
    std::thread waker([&] {
        std::this_thread::sleep_for(10ms);
        ready = true;
        wq.wake_up_all();
        c.complete();
        f->signal(-EIO);
    });
    EXPECT_EQ(wq.wait_event_interruptible_timeout([&] { return ready.load(); }, kLong).code(), 0);
    EXPECT_EQ(c.wait_interruptible_timeout(kLong).code(), 0);
    EXPECT_EQ(f->wait_interruptible_until(WaitQueue::deadline_after(kLong)).value(), -EIO);
    waker.join();
}

// A condition that holds wins over a kill, as wait_event_interruptible checks it first.
TEST(Task, ConditionThatHoldsWinsOverAKill)
{
    Task task;
    task.kill();
    ScopedTask scope(task);
    WaitQueue wq;
    EXPECT_EQ(wq.wait_event_interruptible_timeout([] { return true; }, kLong).code(), 0);
    RefPtr<Fence> f = kernel::make_ref<Fence>(Fence::new_context(), 1);
    f->signal();
    EXPECT_EQ(f->wait_interruptible_until(WaitQueue::deadline_after(kLong)).value(), 0);
    Completion c;
    c.complete();
    EXPECT_EQ(c.wait_interruptible_timeout(kLong).code(), 0);
    EXPECT_FALSE(c.done()); // taken
}

} // namespace
