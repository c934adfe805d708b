// SPDX-License-Identifier: GPL-2.0-only
// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib's crc32() computes it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kernel {

// crc of the first len bytes at data, continuing from a previous crc (0 to start).
uint32_t crc32(uint32_t crc, const void *data, size_t len);

} // namespace kernel
