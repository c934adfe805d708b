// SPDX-License-Identifier: GPL-2.0-only
// Fallible allocation on the kernel side, and allocation-failure injection.
//
// A kernel allocation can fail; in C++ that is an exception (std::bad_alloc), which must never
// reach the uAPI. Code that can answer -ENOMEM where the allocation happens uses the helpers
// here (try_alloc and its forms, try_make_ref). Whatever still throws is turned into an errno
// at the entries (errno_of_exception), the last line of defence.
//
// Failure injection, the kernel's failslab for one thread: while a FailNthAlloc lives, the
// nth allocation that asks alloc_should_fail() on this thread fails as if memory had run out
// (the helpers answer -ENOMEM, make_ref throws std::bad_alloc as operator new would). Tests
// use it to reach every allocation failure of a path; it costs one thread-local read.
#pragma once

#include "kernel/printk.h"
#include "kernel/result.h"

#include <cstddef>
#include <new>
#include <stdexcept>

namespace kernel {

class FailNthAlloc {
public:
    // nth = 1: the next allocation fails.
    explicit FailNthAlloc(unsigned nth);
    ~FailNthAlloc();
    FailNthAlloc(const FailNthAlloc &) = delete;
    FailNthAlloc &operator=(const FailNthAlloc &) = delete;

    // The nth allocation came (and failed).
    bool fired() const;
};

// Suspends this thread's injected failure while it lives (the countdown neither runs nor
// fires): for device code that runs on a driver's thread (a device model lending itself
// the thread, kernel::PciDev::busy_poll), whose memory is the device's, not the driver's.
class NoFailNthAlloc {
public:
    NoFailNthAlloc();
    ~NoFailNthAlloc();
    NoFailNthAlloc(const NoFailNthAlloc &) = delete;
    NoFailNthAlloc &operator=(const NoFailNthAlloc &) = delete;

private:
    unsigned saved_countdown_;
    bool saved_fired_;
};

// Counts one allocation of this thread; true if it must fail.
bool alloc_should_fail();

// The negative errno for the exception being handled (call it in a catch block): -ENOMEM for
// an allocation failure, the error of a std::system_error (a thread that could not start),
// -EIO for anything else. Logs where it was caught: an exception at an entry is a path that
// should have answered the error itself.
int errno_of_exception(const char *where);

// Runs an allocating step (a container's reserve, resize, insert...) and answers -ENOMEM
// instead of throwing when memory runs out, or when an injected failure says it does. The
// step must leave its object as it was when it throws, as std::vector's end insertions do.
template <typename F> ErrorOr<void> try_alloc(F &&step)
{
    if (alloc_should_fail())
        return REJECT(-ENOMEM, "out of memory (injected)");
    try {
        step();
    } catch (const std::bad_alloc &) {
        return REJECT(-ENOMEM, "out of memory");
    } catch (const std::length_error &) {
        return REJECT(-ENOMEM, "a size past what a container can hold");
    }
    return {};
}

template <typename V> ErrorOr<void> try_reserve(V &v, size_t n)
{
    return try_alloc([&] { v.reserve(n); });
}

template <typename V> ErrorOr<void> try_resize(V &v, size_t n)
{
    return try_alloc([&] { v.resize(n); });
}

// Appends [first, last) at the end of c (std::vector, std::deque): -ENOMEM leaves it as it was.
template <typename C, typename It> ErrorOr<void> try_append(C &c, It first, It last)
{
    return try_alloc([&] { c.insert(c.end(), first, last); });
}

} // namespace kernel
