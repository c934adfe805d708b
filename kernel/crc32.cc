// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/crc32.h"

#include <zlib.h>

namespace kernel {

// zlib's, as the kernel has its own optimised crc32_le: every control message is summed twice
// (by the sender and the receiver), up to 4 KiB each.
uint32_t crc32(uint32_t crc, const void *data, size_t len)
{
    return uint32_t(::crc32_z(crc, static_cast<const Bytef *>(data), len));
}

} // namespace kernel
