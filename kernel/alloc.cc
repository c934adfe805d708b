// SPDX-License-Identifier: GPL-2.0-only
// Allocation-failure injection (per thread) and the errno of an escaped exception.
#include "kernel/alloc.h"
#include "kernel/printk.h"

#include <system_error>
#include <utility>

namespace kernel {
namespace {

// Allocations to go until the injected failure (0: none armed); whether it happened.
thread_local unsigned fail_countdown = 0;
thread_local bool fail_fired = false;

} // namespace

FailNthAlloc::FailNthAlloc(unsigned nth)
{
    fail_countdown = nth;
    fail_fired = false;
}

FailNthAlloc::~FailNthAlloc()
{
    fail_countdown = 0;
}

bool FailNthAlloc::fired() const
{
    return fail_fired;
}

NoFailNthAlloc::NoFailNthAlloc()
    : saved_countdown_(std::exchange(fail_countdown, 0u)), saved_fired_(fail_fired)
{
}

NoFailNthAlloc::~NoFailNthAlloc()
{
    fail_countdown = saved_countdown_;
    fail_fired = saved_fired_;
}

bool alloc_should_fail()
{
    if (fail_countdown == 0 || --fail_countdown != 0)
        return false;
    fail_fired = true;
    return true;
}

int errno_of_exception(const char *where)
{
    int err = -EIO;
    const char *what = "unknown exception";
    try {
        throw;
    } catch (const std::bad_alloc &e) {
        err = -ENOMEM;
        what = e.what();
    } catch (const std::length_error &e) {
        err = -ENOMEM;
        what = e.what();
    } catch (const std::system_error &e) {
        int code = e.code().value();
        err = e.code().category() == std::generic_category() ||
                      e.code().category() == std::system_category()
                  ? (code > 0 ? -code : -EIO)
                  : -EIO;
        what = e.what();
    } catch (const std::exception &e) {
        what = e.what();
    } catch (...) {
    }
    pr_warn("%s: %s, answered with errno %d", where, what, -err);
    return err;
}

} // namespace kernel
