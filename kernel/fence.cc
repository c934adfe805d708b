// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/fence.h"

namespace kernel {

uint64_t Fence::new_context()
{
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

bool Fence::signal(int status)
{
    std::vector<std::function<void(int)>> cbs;
    {
        std::lock_guard lk(lock_);
        if (signaled_.load(std::memory_order_relaxed))
            return false;
        status_ = status;
        signaled_.store(true, std::memory_order_release);
        cbs.swap(callbacks_);
    }
    cv_.notify_all();
    for (auto &cb : cbs)
        cb(status);
    return true;
}

void Fence::add_callback(std::function<void(int)> cb)
{
    {
        std::lock_guard lk(lock_);
        if (!signaled_.load(std::memory_order_relaxed)) {
            callbacks_.push_back(std::move(cb));
            return;
        }
    }
    cb(status_);
}

ErrorOr<int> Fence::wait(Clock::time_point deadline, Sleep how)
{
    if (!signaled()) {
        TaskSleep sleep(lock_, cv_, how); // outlives the lock: kill() locks in the other order
        std::unique_lock lk(lock_);
        TRY(WaitQueue::sleep_until(cv_, lk, sleep, deadline,
                                   [this] { return signaled_.load(std::memory_order_relaxed); }));
    }
    return status_;
}

} // namespace kernel
