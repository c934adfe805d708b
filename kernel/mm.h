// SPDX-License-Identifier: GPL-2.0-only
// Page-size arithmetic with overflow checks.
#pragma once

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

} // namespace kernel
