// SPDX-License-Identifier: GPL-2.0-only
// Page-size arithmetic with overflow checks, and the kernel side's memory in the user's
// address space.
#pragma once

#include "kernel/result.h"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace kernel {

inline constexpr uint64_t kPageShift = 12;
inline constexpr uint64_t kPageSize = uint64_t(1) << kPageShift;

// size rounded up to a page multiple, or nothing when that does not fit in 64 bits.
constexpr std::optional<uint64_t> page_align(uint64_t size)
{
    uint64_t r;
    if (__builtin_add_overflow(size, kPageSize - 1, &r))
        return std::nullopt;
    return r & ~(kPageSize - 1);
}

constexpr bool page_aligned(uint64_t v)
{
    return (v & (kPageSize - 1)) == 0;
}

// Kernel ranges: memory of the kernel side mapped in the process it shares with its user
// when the driver runs embedded there (the BO pool's mapping, the card's DDR, coherent DMA
// buffers). A real kernel keeps such memory out of the user's address space; here the accel
// core refuses a user's mmap(MAP_FIXED) or munmap that touches a claimed range.
//
// Claims [addr, addr + len) for the kernel; -ENOMEM when the registry cannot grow.
ErrorOr<void> claim_kernel_range(const void *addr, size_t len);
// Gives back the range claimed at addr. Call it before the memory is unmapped or freed, so
// that whoever is handed the addresses next can claim them.
void release_kernel_range(const void *addr);
// Whether any byte of [addr, addr + len) lies in a claimed range; a range running past the
// end of the address space is cut there.
bool touches_kernel_range(uintptr_t addr, uint64_t len);

} // namespace kernel
