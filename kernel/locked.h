// SPDX-License-Identifier: GPL-2.0-only
// Locked<T>: data reachable only while holding its mutex, through with(lambda) or a guard
// from lock(). Makes "forgot to take the lock" impossible to write.
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

    // The data for as long as the guard lives, for sections that return from inside (TRY)
    // or hold the lock across calls. A function that needs the lock held takes a T&: only a
    // guard gives one.
    class Guard {
    public:
        explicit Guard(Locked &l) : lock_(l.mutex_), value_(&l.value_) {}
        // Not copied nor moved: a guard is the lock, held where it was taken (lock()'s
        // result is the guard itself, elided).
        Guard(const Guard &) = delete;
        Guard &operator=(const Guard &) = delete;
        T *operator->() const { return value_; }
        T &operator*() const { return *value_; }

    private:
        std::unique_lock<Mutex> lock_;
        T *value_;
    };
    [[nodiscard]] Guard lock() { return Guard(*this); }

private:
    mutable Mutex mutex_;
    T value_;
};

} // namespace kernel
