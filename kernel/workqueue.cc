// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/workqueue.h"
#include "kernel/alloc.h"

namespace kernel {

Workqueue::Workqueue() : thread_([this] { run(); }) {}

Workqueue::~Workqueue()
{
    {
        std::lock_guard lk(lock_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

bool Workqueue::queue(Work &work)
{
    {
        std::lock_guard lk(lock_);
        if (work.pending_)
            return false;
        work.pending_ = true;
        work.next_ = nullptr;
        (tail_ ? tail_->next_ : head_) = &work;
        tail_ = &work;
        ++queued_;
    }
    cv_.notify_all();
    return true;
}

void Workqueue::flush()
{
    std::unique_lock lk(lock_);
    uint64_t target = queued_;
    cv_.wait(lk, [&] { return done_ >= target; });
}

void Workqueue::run()
{
    std::unique_lock lk(lock_);
    for (;;) {
        cv_.wait(lk, [&] { return stop_ || head_; });
        if (!head_)
            return; // stopping, nothing left
        Work &work = *head_;
        head_ = work.next_;
        if (!head_)
            tail_ = nullptr;
        work.pending_ = false; // queued again from now on, it runs again
        lk.unlock();
        // Work runs in no caller's context: an exception has nobody to go to. It is logged
        // (errno_of_exception), and the worker goes on.
        try {
            work.fn_();
        } catch (...) {
            (void)errno_of_exception("workqueue");
        }
        lk.lock();
        ++done_;
        cv_.notify_all();
    }
}

} // namespace kernel
