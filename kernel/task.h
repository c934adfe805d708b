// SPDX-License-Identifier: GPL-2.0-only
// The task a thread serves, as `current` is in a kernel: a host serving other processes (qaicd)
// makes one Task per client and sets it around each call it runs for that client
// (ScopedTask). When the client dies, kill() is its SIGKILL: every interruptible sleep of the
// task ends at once with -EINTR (fatal_signal_pending), so its calls return and its file can
// be released. A thread without a task (the embedded host, the card's threads, workqueues)
// is never interrupted.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace kernel {

class TaskSleep;

class Task {
public:
    Task() = default;
    Task(const Task &) = delete;
    Task &operator=(const Task &) = delete;

    // From any thread: marks the task killed and wakes each of its interruptible sleeps,
    // whatever it sleeps on. Sleeps that start later end at once too. It takes the lock of
    // each thing the task sleeps on: never call it holding one (a wait's condition, say).
    void kill();
    bool killed() const { return killed_.load(std::memory_order_acquire); }
    // Whether the task is in an interruptible sleep now: a host's view of a client's call
    // waiting in the driver (as a process's state S in a syscall).
    bool sleeping()
    {
        std::lock_guard lk(lock_);
        return sleeps_ != nullptr;
    }

private:
    friend class TaskSleep;
    std::atomic<bool> killed_{false};
    std::mutex lock_; // the sleeps list; taken before a sleep's own mutex
    TaskSleep *sleeps_ = nullptr;
};

// The current thread's task, or nullptr.
Task *current_task();

// Whether the current task was killed (false without a task).
bool fatal_signal_pending();

// Sets the current thread's task for a scope (a host around a client's call).
class ScopedTask {
public:
    explicit ScopedTask(Task &task);
    ~ScopedTask();
    ScopedTask(const ScopedTask &) = delete;
    ScopedTask &operator=(const ScopedTask &) = delete;

private:
    Task *saved_;
};

// How a sleep takes a kill of its task (the kernel's TASK_UNINTERRUPTIBLE and, for the one
// signal there is here, TASK_INTERRUPTIBLE).
enum class Sleep { kUninterruptible, kInterruptible };

// One sleep on (mutex, cv) of the current thread; an interruptible one is woken by the current
// task's kill(). Construct it before locking mutex and let it go after unlocking: kill() locks
// the task, then mutex. The sleeper checks interrupted() under mutex, in its wait predicate: a
// kill that comes first is seen there, one that comes later notifies cv under mutex, so
// neither is lost.
class TaskSleep {
public:
    TaskSleep(std::mutex &mutex, std::condition_variable &cv, Sleep how);
    ~TaskSleep();
    TaskSleep(const TaskSleep &) = delete;
    TaskSleep &operator=(const TaskSleep &) = delete;

    bool interrupted() const { return task_ && task_->killed(); }

private:
    friend class Task;
    Task *task_; // nullptr: nothing interrupts this sleep
    std::mutex &mutex_;
    std::condition_variable &cv_;
    TaskSleep *next_ = nullptr;
};

} // namespace kernel
