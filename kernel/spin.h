// SPDX-License-Identifier: GPL-2.0-only
// Bounded busy-polling, for waits expected to end sooner than a sleeping thread takes to wake
// (tens of microseconds in a VM, where an idle vCPU halts). A poller gives up early when it
// notices it was preempted: another thread wanted this CPU, and polling on would only delay
// it (under load a poller that keeps its CPU makes everything slower, not faster).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <sched.h>
#include <thread>

namespace kernel {

// A gap this long between two polls means another thread ran on this CPU meanwhile.
constexpr std::chrono::microseconds kPreemptionGap{10};

// The CPU's hint that this is a polling loop (x86 PAUSE): it spares the sibling hyperthread.
inline void cpu_relax()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Polls pred until it holds (true), or budget has passed, or another thread took the CPU
// (false). Every polls_per_yield polls it yields: a thread that is runnable on this CPU (often
// the very one that will make pred true) runs at once instead of waiting for the poller's time
// slice to end. For a word another process writes (a shared ring's), yield only every
// kSharedWordPollsPerYield polls, with a pause between: a yield costs more here (about a microsecond) than the word
// takes to cross from another CPU.
inline constexpr unsigned kSharedWordPollsPerYield = 64;

template <typename Pred>
bool spin_until(Pred pred, std::chrono::nanoseconds budget, unsigned polls_per_yield = 1)
{
    using Clock = std::chrono::steady_clock;
    if (budget <= budget.zero())
        return pred();
    auto start = Clock::now(), last = start;
    for (unsigned i = 1;; ++i) {
        if (pred())
            return true;
        if (i % polls_per_yield) {
            cpu_relax();
            continue;
        }
        std::this_thread::yield();
        auto now = Clock::now();
        if (now - start >= budget || now - last >= kPreemptionGap)
            return pred();
        last = now;
    }
}

// Whether a stream of device work (a DBC) is active: busy now, or idle only since recently.
// A back-to-back submitter leaves its DBC idle for a few microseconds between a completion and
// its next submission; its two threads (submitter and engine) still take turns on a CPU.
class Activity {
public:
    void set_busy() { idle_since_.store(kBusy, std::memory_order_relaxed); }
    void set_idle() { idle_since_.store(now_ns(), std::memory_order_relaxed); }
    bool recent(int64_t now) const
    {
        int64_t since = idle_since_.load(std::memory_order_relaxed);
        return since == kBusy || now - since < kWindowNs;
    }
    static int64_t now_ns()
    {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }

private:
    static constexpr int64_t kBusy = INT64_MAX;
    static constexpr int64_t kWindowNs = 1000000; // 1 ms
    std::atomic<int64_t> idle_since_{INT64_MIN / 2}; // long idle
};

// The CPUs this process may run on (its affinity mask, e.g. under taskset or a container's
// cpuset), counted once.
inline unsigned usable_cpus()
{
    static const unsigned n = [] {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
            return unsigned(CPU_COUNT(&set));
        return std::max(1u, std::thread::hardware_concurrency());
    }();
    return n;
}

// Whether polling pays: every active stream keeps about one CPU busy (its engine and its
// submitter take turns; a waiting submitter that polls keeps a second one), so polls are for
// when the active streams and the pollers already at it leave this poller a CPU of its own.
inline bool cpu_to_spare(unsigned active_streams, unsigned other_pollers)
{
    return 2 * active_streams + other_pollers <= usable_cpus();
}

} // namespace kernel
