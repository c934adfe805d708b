// SPDX-License-Identifier: GPL-2.0-only
// Reading and writing packed little-endian structures in byte buffers (wire messages,
// device rings) without alignment or aliasing assumptions.
#pragma once

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

} // namespace kernel
