// SPDX-License-Identifier: GPL-2.0-only
// Fences (dma_fence): the completion of one piece of device work, with an error status.
// A fence belongs to a context (a timeline, e.g. one DBC) and has a sequence number in it.
// It is signaled once; waiters and callbacks learn the status (0 or a negative errno).
#pragma once

#include "kernel/refcount.h"
#include "kernel/result.h"
#include "kernel/wait.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace kernel {

class Fence : public RefCounted {
public:
    Fence(uint64_t context, uint64_t seqno) : context_(context), seqno_(seqno) {}

    uint64_t context() const { return context_; }
    uint64_t seqno() const { return seqno_; }

    // Signals with status (0 or a negative errno); later calls do nothing. Returns whether
    // this call signaled.
    bool signal(int status = 0);
    bool signaled() const { return signaled_.load(std::memory_order_acquire); }
    // The status once signaled (0 before).
    int status() const { return signaled() ? status_ : 0; }

    // Runs cb(status) when the fence signals, or right away if it has.
    void add_callback(std::function<void(int)> cb);

    // Waits until signaled (the fence's status) or until deadline (-ETIMEDOUT). (Callers
    // expecting the fence within a thread wakeup's cost poll signaled() first:
    // kernel::spin_until.)
    ErrorOr<int> wait_until(Clock::time_point deadline)
    {
        return wait(deadline, Sleep::kUninterruptible);
    }
    // The same, or -EINTR once the current task is killed (dma_fence_wait_timeout, intr).
    ErrorOr<int> wait_interruptible_until(Clock::time_point deadline)
    {
        return wait(deadline, Sleep::kInterruptible);
    }

    // A context number no other timeline uses.
    static uint64_t new_context();

private:
    ErrorOr<int> wait(Clock::time_point deadline, Sleep how);

    const uint64_t context_, seqno_;
    std::atomic<bool> signaled_{false};
    int status_ = 0; // written before signaled_ is published
    std::mutex lock_;
    std::condition_variable cv_;
    std::vector<std::function<void(int)>> callbacks_;
};

} // namespace kernel
