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

void Workqueue::queue(std::function<void()> work)
{
    {
        std::lock_guard lk(lock_);
        works_.push_back(std::move(work));
        ++queued_;
    }
    cv_.notify_all();
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
        cv_.wait(lk, [&] { return stop_ || !works_.empty(); });
        if (works_.empty())
            return; // stopping, nothing left
        auto work = std::move(works_.front());
        works_.pop_front();
        lk.unlock();
        // Work runs in no caller's context: an exception has nobody to go to. It is logged
        // (errno_of_exception), and the worker goes on.
        try {
            work();
        } catch (...) {
            (void)errno_of_exception("workqueue");
        }
        lk.lock();
        ++done_;
        cv_.notify_all();
    }
}

} // namespace kernel
