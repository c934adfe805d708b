// SPDX-License-Identifier: GPL-2.0-only
// Bounded busy-polling, for waits expected to end sooner than a sleeping thread takes to wake
// (tens of microseconds in a VM, where an idle vCPU halts). A poller gives up early when it
// notices it was preempted: another thread wanted this CPU, and polling on would only delay
// it (under load a poller that keeps its CPU makes everything slower, not faster).
#pragma once

#include <chrono>
#include <thread>

namespace kernel {

// A gap this long between two polls means another thread ran on this CPU meanwhile.
constexpr std::chrono::microseconds kPreemptionGap{10};

// Polls pred until it holds (true), or budget has passed, or another thread took the CPU
// (false). Each poll yields: a thread that is runnable on this CPU (often the very one that
// will make pred true) runs at once instead of waiting for the poller's time slice to end.
template <typename Pred> bool spin_until(Pred pred, std::chrono::nanoseconds budget)
{
    using Clock = std::chrono::steady_clock;
    if (budget <= budget.zero())
        return pred();
    auto start = Clock::now(), last = start;
    for (;;) {
        if (pred())
            return true;
        std::this_thread::yield();
        auto now = Clock::now();
        if (now - start >= budget || now - last >= kPreemptionGap)
            return pred();
        last = now;
    }
}

} // namespace kernel
