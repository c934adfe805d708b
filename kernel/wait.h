// SPDX-License-Identifier: GPL-2.0-only
// Sleeping and waking: WaitQueue (wait_event_timeout / wake_up_all) and Completion.
// Timeouts are std::chrono durations on the steady clock; a waiter that times out gets
// -ETIMEDOUT, never a half-done state. Interruptible forms end with -EINTR once the current
// task (kernel/task.h) is killed; a condition that holds wins over a kill.
#pragma once

#include "kernel/result.h"
#include "kernel/task.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace kernel {

using Clock = std::chrono::steady_clock;
using Duration = std::chrono::nanoseconds;
inline constexpr Duration kWaitForever = Duration::max();

// Waiters sleep until a condition they check becomes true. A waker first makes the condition
// true (under its own lock or with atomics), then calls wake_up_all(); the queue's mutex
// orders the two so no wakeup is lost.
class WaitQueue {
public:
    // Sleeps until cond() is true (0) or the timeout passes (-ETIMEDOUT); an interruptible
    // sleep ends too once the current task is killed (-EINTR). cond() runs under the queue's
    // mutex, so it must not take locks held around wake_up_all().
    template <typename Cond>
    ErrorOr<void> wait_event_timeout(Cond &&cond, Duration timeout,
                                     Sleep how = Sleep::kUninterruptible)
    {
        TaskSleep sleep(mutex_, cv_, how); // outlives the lock: kill() locks in the other order
        std::unique_lock lock(mutex_);
        return sleep_until(cv_, lock, sleep, deadline_after(timeout), cond);
    }
    template <typename Cond>
    ErrorOr<void> wait_event_interruptible_timeout(Cond &&cond, Duration timeout)
    {
        return wait_event_timeout(std::forward<Cond>(cond), timeout, Sleep::kInterruptible);
    }

    template <typename Cond> void wait_event(Cond &&cond)
    {
        (void)wait_event_timeout(std::forward<Cond>(cond), kWaitForever);
    }

    void wake_up_all()
    {
        std::lock_guard lock(mutex_);
        cv_.notify_all();
    }

    // Now + timeout, saturated: a huge timeout means "forever" instead of a clock overflow.
    static Clock::time_point deadline_after(Duration timeout)
    {
        auto now = Clock::now();
        if (timeout >= Clock::time_point::max() - now)
            return Clock::time_point::max();
        return now + std::chrono::duration_cast<Clock::duration>(timeout);
    }

    // Sleeps on cv until cond() holds (0), the deadline passes (-ETIMEDOUT) or sleep is
    // interrupted (-EINTR). lock holds cv's mutex, locked after sleep was made.
    template <typename Cond>
    static ErrorOr<void> sleep_until(std::condition_variable &cv, std::unique_lock<std::mutex> &lock,
                                     const TaskSleep &sleep, Clock::time_point deadline,
                                     Cond &&cond)
    {
        bool met = false;
        auto woken = [&] { return (met = cond()) || sleep.interrupted(); };
        if (deadline == Clock::time_point::max())
            cv.wait(lock, woken);
        else
            cv.wait_until(lock, deadline, woken);
        if (met)
            return {};
        return Error(sleep.interrupted() ? -EINTR : -ETIMEDOUT);
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
};

// A one-shot (or counted) event: complete() releases one waiter, complete_all() every waiter
// now and later, until reinit().
class Completion {
public:
    void complete()
    {
        std::lock_guard lock(mutex_);
        if (done_ != kAll)
            ++done_;
        cv_.notify_one();
    }
    void complete_all()
    {
        std::lock_guard lock(mutex_);
        done_ = kAll;
        cv_.notify_all();
    }
    void reinit()
    {
        std::lock_guard lock(mutex_);
        done_ = 0;
    }
    bool done() const
    {
        std::lock_guard lock(mutex_);
        return done_ != 0;
    }

    // 0 when completed, -ETIMEDOUT when the timeout passed first.
    ErrorOr<void> wait_timeout(Duration timeout) { return sleep(timeout, Sleep::kUninterruptible); }
    // The same, or -EINTR once the current task is killed (the completion is left for others).
    ErrorOr<void> wait_interruptible_timeout(Duration timeout)
    {
        return sleep(timeout, Sleep::kInterruptible);
    }
    void wait() { (void)wait_timeout(kWaitForever); }

private:
    static constexpr uint32_t kAll = UINT32_MAX;

    ErrorOr<void> sleep(Duration timeout, Sleep how)
    {
        TaskSleep sleep(mutex_, cv_, how); // outlives the lock: kill() locks in the other order
        std::unique_lock lock(mutex_);
        TRY(WaitQueue::sleep_until(cv_, lock, sleep, WaitQueue::deadline_after(timeout),
                                   [this] { return done_ != 0; }));
        if (done_ != kAll)
            --done_;
        return {};
    }

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    uint32_t done_ = 0;
};

} // namespace kernel
