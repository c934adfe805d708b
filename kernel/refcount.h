// SPDX-License-Identifier: GPL-2.0-only
// Intrusive reference counting (kref) and RefPtr<T>, the owning pointer that holds one reference.
// Objects shared between files, the scheduler and the card's completion path (GEM objects,
// files, devices) derive from RefCounted so any holder can keep them alive.
#pragma once

#include "kernel/alloc.h"

#include <atomic>
#include <cassert>
#include <cstdint>
#include <utility>

namespace kernel {

class RefCounted {
public:
    RefCounted() = default;
    RefCounted(const RefCounted &) = delete;
    RefCounted &operator=(const RefCounted &) = delete;

    void get() const
    {
        [[maybe_unused]] uint32_t old = refs_.fetch_add(1, std::memory_order_relaxed);
        assert(old > 0 && "get() on a released object");
    }
    // Takes a reference only while the object is still alive (kref_get_unless_zero), for
    // lookups in tables that hold no reference of their own.
    bool get_unless_zero() const
    {
        uint32_t n = refs_.load(std::memory_order_relaxed);
        while (n != 0)
            if (refs_.compare_exchange_weak(n, n + 1, std::memory_order_acquire))
                return true;
        return false;
    }
    // Drops a reference; the last one destroys the object.
    void put() const
    {
        uint32_t old = refs_.fetch_sub(1, std::memory_order_acq_rel);
        QAIC_CHECK(old > 0, "put() of an object with no reference left");
        if (old == 1)
            delete this;
    }
    uint32_t refcount() const { return refs_.load(std::memory_order_relaxed); }

protected:
    virtual ~RefCounted() = default;

private:
    mutable std::atomic<uint32_t> refs_{1};
};

template <typename T> class RefPtr {
public:
    RefPtr() = default;
    RefPtr(std::nullptr_t) {}
    // Takes over the reference a new object starts with.
    static RefPtr adopt(T *p) { return RefPtr(p, false); }
    // Takes a new reference to an object someone else keeps alive.
    static RefPtr share(T *p) { return RefPtr(p, true); }

    RefPtr(const RefPtr &o) : p_(o.p_)
    {
        if (p_)
            p_->get();
    }
    RefPtr(RefPtr &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    template <typename U> RefPtr(RefPtr<U> o) : p_(o.leak()) {}
    RefPtr &operator=(RefPtr o) noexcept
    {
        std::swap(p_, o.p_);
        return *this;
    }
    ~RefPtr()
    {
        if (p_)
            p_->put();
    }

    T *get() const { return p_; }
    T *operator->() const { return p_; }
    T &operator*() const { return *p_; }
    explicit operator bool() const { return p_ != nullptr; }
    bool operator==(const RefPtr &o) const { return p_ == o.p_; }
    // Gives up ownership of the reference without dropping it.
    T *leak() { return std::exchange(p_, nullptr); }

private:
    RefPtr(T *p, bool take) : p_(p)
    {
        if (p_ && take)
            p_->get();
    }
    T *p_ = nullptr;
};

// A new object, throwing std::bad_alloc as new does (an injected failure too).
template <typename T, typename... Args> RefPtr<T> make_ref(Args &&...args)
{
    if (alloc_should_fail())
        throw std::bad_alloc();
    return RefPtr<T>::adopt(new T(std::forward<Args>(args)...));
}

// A new object, or -ENOMEM.
template <typename T, typename... Args> ErrorOr<RefPtr<T>> try_make_ref(Args &&...args)
{
    if (alloc_should_fail())
        return REJECT(-ENOMEM, "out of memory (injected)");
    T *p = new (std::nothrow) T(std::forward<Args>(args)...);
    if (!p)
        return REJECT(-ENOMEM, "out of memory");
    return RefPtr<T>::adopt(p);
}

} // namespace kernel
