// SPDX-License-Identifier: GPL-2.0-only
// Locked<T>: data reachable only while holding its mutex, through with(lambda).
// Makes "forgot to take the lock" impossible to write.
#pragma once

#include <mutex>
#include <utility>

namespace kernel {

template <typename T, typename Mutex = std::mutex> class Locked {
public:
    template <typename... Args> explicit Locked(Args &&...args) : value_(std::forward<Args>(args)...)
    {
    }

    template <typename F> decltype(auto) with(F &&f)
    {
        std::lock_guard lock(mutex_);
        return std::forward<F>(f)(value_);
    }
    template <typename F> decltype(auto) with(F &&f) const
    {
        std::lock_guard lock(mutex_);
        return std::forward<F>(f)(value_);
    }

private:
    mutable Mutex mutex_;
    T value_;
};

} // namespace kernel
