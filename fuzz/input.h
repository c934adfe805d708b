// SPDX-License-Identifier: GPL-2.0-only
// A fuzzer's input, read a little at a time as the program it encodes asks; zeros once it runs
// out (so every input is a whole program).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fuzz {

struct Input {
    const uint8_t *p;
    size_t n;

    uint8_t u8()
    {
        if (!n)
            return 0;
        --n;
        return *p++;
    }
    uint16_t u16() { return uint16_t(u8() | u8() << 8); }
    uint32_t u32() { return uint32_t(u16() | uint32_t(u16()) << 16); }
    uint64_t u64() { return u32() | uint64_t(u32()) << 32; }
    void bytes(void *dst, size_t len)
    {
        size_t k = std::min(len, n);
        std::memcpy(dst, p, k);
        std::memset(static_cast<uint8_t *>(dst) + k, 0, len - k);
        p += k;
        n -= k;
    }
};

} // namespace fuzz
