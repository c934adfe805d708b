// SPDX-License-Identifier: GPL-2.0-only
// Workqueue: deferred work run in order on one worker thread, for what must not run in
// interrupt context (the card's threads) or under the caller's locks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace kernel {

class Workqueue {
public:
    Workqueue();
    // Runs the work already queued, then stops.
    ~Workqueue();
    Workqueue(const Workqueue &) = delete;
    Workqueue &operator=(const Workqueue &) = delete;

    void queue(std::function<void()> work);
    // Returns once every work queued before the call has run (flush_workqueue). Must not be
    // called from a work item.
    void flush();

private:
    void run();

    std::mutex lock_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> works_;
    uint64_t queued_ = 0, done_ = 0;
    bool stop_ = false;
    std::thread thread_;
};

} // namespace kernel
