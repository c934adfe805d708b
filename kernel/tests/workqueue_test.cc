// SPDX-License-Identifier: GPL-2.0-only
// Workqueue and its embedded work items: order, queueing a pending item, running again when
// queued while running, flush, and what the queue's end runs.
#include "kernel/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Lets a work that waits for it end, however the test ends: the queue's end runs it out.
struct Release {
    std::atomic<bool> &flag;
    ~Release() { flag = true; }
};

TEST(Workqueue, RunsWorkInQueueOrder)
{
    std::vector<int> ran;
    std::mutex lock;
    auto note = [&](int i) {
        std::lock_guard lk(lock);
        ran.push_back(i);
    };
    kernel::Work a([&] { note(1); }), b([&] { note(2); }), c([&] { note(3); });
    kernel::Workqueue wq;
    EXPECT_TRUE(wq.queue(a));
    EXPECT_TRUE(wq.queue(b));
    EXPECT_TRUE(wq.queue(c));
    wq.flush();
    EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
}

TEST(Workqueue, QueueingPendingWorkDoesNothing)
{
    std::atomic<bool> release{false};
    std::atomic<int> blocker_runs{0}, runs{0};
    kernel::Work blocker([&] {
        ++blocker_runs;
        while (!release)
            std::this_thread::sleep_for(100us);
    });
    kernel::Work w([&] { ++runs; });
    kernel::Workqueue wq;
    Release at_end{release};
    ASSERT_TRUE(wq.queue(blocker));
    ASSERT_TRUE(wq.queue(w)); // pending behind the blocker
    EXPECT_FALSE(wq.queue(w));
    EXPECT_FALSE(wq.queue(w));
    release = true;
    wq.flush();
    EXPECT_EQ(runs, 1);
    EXPECT_EQ(blocker_runs, 1);
}

TEST(Workqueue, WorkQueuedWhileItRunsRunsAgain)
{
    std::atomic<bool> started{false}, release{false};
    std::atomic<int> runs{0};
    kernel::Work w([&] {
        if (++runs == 1) {
            started = true;
            while (!release)
                std::this_thread::sleep_for(100us);
        }
    });
    kernel::Workqueue wq;
    Release at_end{release};
    ASSERT_TRUE(wq.queue(w));
    while (!started)
        std::this_thread::sleep_for(100us);
    EXPECT_TRUE(wq.queue(w)); // what it works on may have changed since it began
    release = true;
    wq.flush();
    EXPECT_EQ(runs, 2);
}

TEST(Workqueue, EndRunsWhatIsQueued)
{
    std::atomic<int> runs{0};
    kernel::Work a([&] { ++runs; }), b([&] { ++runs; });
    {
        kernel::Workqueue wq;
        wq.queue(a);
        wq.queue(b);
    }
    EXPECT_EQ(runs, 2);
}

TEST(Workqueue, AnExceptionIsLoggedAndTheWorkerGoesOn)
{
    std::atomic<int> runs{0};
    kernel::Work bad([] { throw std::runtime_error("work failed"); });
    kernel::Work good([&] { ++runs; });
    kernel::Workqueue wq;
    wq.queue(bad);
    wq.queue(good);
    wq.flush();
    EXPECT_EQ(runs, 1);
    EXPECT_TRUE(wq.queue(bad)); // not pending any more: it ran
    wq.flush();
}

} // namespace
