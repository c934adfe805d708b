// SPDX-License-Identifier: GPL-2.0-only
// Workqueue: deferred work run in order on one worker thread, for what must not run in
// interrupt context (the card's threads) or under the caller's locks. A work item is embedded
// in what it works for (the kernel's struct work_struct): queueing it takes no memory, so an
// interrupt handler may queue work whatever the allocator does.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace kernel {

class Work {
public:
    explicit Work(std::function<void()> fn) : fn_(std::move(fn)) {}
    Work(const Work &) = delete;
    Work &operator=(const Work &) = delete;

private:
    friend class Workqueue;
    std::function<void()> fn_;
    Work *next_ = nullptr;
    bool pending_ = false; // queued and not yet started (under the queue's lock)
};

class Workqueue {
public:
    Workqueue();
    // Runs the work already queued, then stops.
    ~Workqueue();
    Workqueue(const Workqueue &) = delete;
    Workqueue &operator=(const Workqueue &) = delete;

    // Queues work to run once more (queue_work): false, and nothing done, if it is queued
    // already and has not started. Work that is running when queued again runs again after.
    // work must outlive its last run (flush(), or the queue's end).
    bool queue(Work &work);
    // Returns once every work queued before the call has run (flush_workqueue). Must not be
    // called from a work item.
    void flush();

private:
    void run();

    std::mutex lock_;
    std::condition_variable cv_;
    Work *head_ = nullptr, *tail_ = nullptr; // pending, in queue order
    uint64_t queued_ = 0, done_ = 0;
    bool stop_ = false;
    std::thread thread_;
};

} // namespace kernel
