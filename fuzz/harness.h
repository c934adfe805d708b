// SPDX-License-Identifier: GPL-2.0-only
// What the fuzz targets share: their input reader and the user memory their arguments go in.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>

namespace fuzz {

inline constexpr size_t kPage = 4096;

// A fuzzer's input, read a little at a time as the program it encodes asks; zeros once it runs
// out (so every input is a whole program).
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

// Argument memory, made once: a read-write page, a read-only page, then a guard page that no
// access may touch. A struct placed at the end of the read-write page runs into the read-only
// one (a write there faults), at the end of the read-only page into the guard. The guard stays
// mapped (PROT_NONE): an unmapped page is a hole the next mmap of any thread may fill, and a
// "bad" pointer into it then reads what was put there (session 18: a GEM_CLOSE given the
// guard closed handle 1).
struct Arena {
    uint8_t *rw, *ro, *guard;
    Arena()
    {
        auto *p = static_cast<uint8_t *>(
            mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (p == MAP_FAILED)
            std::abort();
        rw = p;
        ro = p + kPage;
        guard = p + 2 * kPage;
        mprotect(ro, kPage, PROT_READ);
        mprotect(guard, kPage, PROT_NONE);
    }
};
inline Arena &arena()
{
    static Arena a;
    return a;
}

} // namespace fuzz
