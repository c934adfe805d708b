// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/task.h"

namespace kernel {

namespace {
thread_local Task *current = nullptr;
} // namespace

void Task::kill()
{
    killed_.store(true, std::memory_order_release);
    std::lock_guard lk(lock_);
    for (TaskSleep *s = sleeps_; s; s = s->next_) {
        // Under the sleep's mutex: the sleeper is either before its predicate check (and
        // sees killed_) or waiting on cv (and gets this notification).
        std::lock_guard sleep_lock(s->mutex_);
        s->cv_.notify_all();
    }
}

Task *current_task()
{
    return current;
}

bool fatal_signal_pending()
{
    return current && current->killed();
}

ScopedTask::ScopedTask(Task &task) : saved_(current)
{
    current = &task;
}

ScopedTask::~ScopedTask()
{
    current = saved_;
}

TaskSleep::TaskSleep(std::mutex &mutex, std::condition_variable &cv, Sleep how)
    : task_(how == Sleep::kInterruptible ? current : nullptr), mutex_(mutex), cv_(cv)
{
    if (!task_)
        return;
    std::lock_guard lk(task_->lock_);
    next_ = task_->sleeps_;
    task_->sleeps_ = this;
}

TaskSleep::~TaskSleep()
{
    if (!task_)
        return;
    // kill() holds lock_ while it touches this sleep: once unlinked, nothing does.
    std::lock_guard lk(task_->lock_);
    for (TaskSleep **p = &task_->sleeps_; *p; p = &(*p)->next_) {
        if (*p == this) {
            *p = next_;
            break;
        }
    }
}

} // namespace kernel
