// SPDX-License-Identifier: GPL-2.0-only
// The uAPI selftests under allocation-failure injection, the kernel's failslab for this
// driver: linked with the selftests into tests/qaic_selftest_failslab, on libqaic.a. Every
// ioctl, mmap and open of the embedded card is first made with each of its allocations
// failing in turn (libqaic's sweep, userspace/lib/backend_sim.cc): operator new counts here
// too, so every allocation the driver, the accel core and the host make on the caller's
// thread is one the sweep fails. A made-to-fail call must answer ENOMEM having taken
// nothing; what does not fails the test that made the call.
#include "selftests/failslab/failslab.h"
#include "kernel/alloc.h"
#include "userspace/lib/backend.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

namespace {

void *allocate(size_t size, size_t align)
{
    if (kernel::alloc_should_fail())
        throw std::bad_alloc();
    size = size ? size : 1;
    for (;;) {
        void *p = nullptr;
        if (align <= alignof(std::max_align_t) ? (p = std::malloc(size)) != nullptr
                                               : posix_memalign(&p, align, size) == 0)
            return p;
        std::new_handler handler = std::get_new_handler();
        if (!handler)
            throw std::bad_alloc();
        handler();
    }
}

void *allocate_nothrow(size_t size, size_t align) noexcept
{
    try {
        return allocate(size, align);
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
}

void report(const char *what)
{
    ADD_FAILURE() << "allocation-failure sweep: " << what;
}

const bool sweeping = (libqaic::set_alloc_failure_sweep(report), true);

} // namespace

failslab::SweepOff::SweepOff()
{
    libqaic::set_alloc_failure_sweep(nullptr);
}

failslab::SweepOff::~SweepOff()
{
    libqaic::set_alloc_failure_sweep(report);
}

// The replaceable allocation functions, all of them: a form left out would pair the
// sanitizers' operator delete with our malloc.
void *operator new(size_t n) { return allocate(n, 0); }
void *operator new[](size_t n) { return allocate(n, 0); }
void *operator new(size_t n, std::align_val_t a) { return allocate(n, size_t(a)); }
void *operator new[](size_t n, std::align_val_t a) { return allocate(n, size_t(a)); }
void *operator new(size_t n, const std::nothrow_t &) noexcept { return allocate_nothrow(n, 0); }
void *operator new[](size_t n, const std::nothrow_t &) noexcept { return allocate_nothrow(n, 0); }
void *operator new(size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
    return allocate_nothrow(n, size_t(a));
}
void *operator new[](size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
    return allocate_nothrow(n, size_t(a));
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, size_t) noexcept { std::free(p); }
void operator delete[](void *p, size_t) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { std::free(p); }
