// SPDX-License-Identifier: GPL-2.0-only
// Reading and writing packed little-endian structures in byte buffers (wire messages,
// device rings) without alignment or aliasing assumptions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace kernel {

template <typename T> T load(const uint8_t *p)
{
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

template <typename T> void append(std::vector<uint8_t> &out, const T &v)
{
    auto *p = reinterpret_cast<const uint8_t *>(&v);
    out.insert(out.end(), p, p + sizeof(T));
}

// Appends [p, p + n) to out (as out.insert(out.end(), ...), growing it geometrically). glibc's
// memcpy moves from about 2 KiB up to its non-temporal threshold with rep movsb, which on
// AMD CPUs with FSRM (this machine's EPYC) runs about 12 times slower when the destination is
// 1 to 31 bytes past the source modulo 64, as from a page into a malloc'd buffer, which
// starts 16 bytes into its page (docs/performance.md). Such a copy goes in pieces below that
// threshold, which memcpy moves with vector instructions at full speed.
inline void append_bytes(std::vector<uint8_t> &out, const uint8_t *p, size_t n)
{
    if (out.capacity() - out.size() < n)
        out.reserve(std::max(out.size() + n, 2 * out.capacity()));
    size_t skew = size_t(uintptr_t(out.data() + out.size()) - uintptr_t(p)) % 64;
    size_t piece = skew > 0 && skew < 32 ? 2048 : n;
    for (size_t done = 0; done < n; done += piece)
        out.insert(out.end(), p + done, p + done + std::min(piece, n - done));
}

} // namespace kernel
