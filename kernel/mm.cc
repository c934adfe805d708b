// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/mm.h"
#include "kernel/alloc.h"
#include "kernel/locked.h"

#include <map>

namespace kernel {
namespace {

// start -> end of every claimed range; claimed ranges never overlap. Never destroyed: memory
// of the kernel side may be released during static destruction at exit.
Locked<std::map<uintptr_t, uintptr_t>> &kernel_ranges()
{
    static auto *ranges = new Locked<std::map<uintptr_t, uintptr_t>>();
    return *ranges;
}

} // namespace

ErrorOr<void> claim_kernel_range(const void *addr, size_t len)
{
    auto start = reinterpret_cast<uintptr_t>(addr);
    return try_alloc([&] { kernel_ranges().with([&](auto &r) { r.emplace(start, start + len); }); });
}

void release_kernel_range(const void *addr)
{
    kernel_ranges().with([&](auto &r) { r.erase(reinterpret_cast<uintptr_t>(addr)); });
}

bool touches_kernel_range(uintptr_t addr, uint64_t len)
{
    if (len == 0)
        return false;
    uintptr_t end;
    if (__builtin_add_overflow(addr, len, &end))
        end = UINTPTR_MAX;
    return kernel_ranges().with([&](auto &r) {
        // Sorted and disjoint: the last range starting before `end` reaches furthest.
        auto it = r.lower_bound(end);
        return it != r.begin() && std::prev(it)->second > addr;
    });
}

} // namespace kernel
