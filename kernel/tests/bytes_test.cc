// SPDX-License-Identifier: GPL-2.0-only
// append_bytes: what it appends, at every skew between source and destination (those it
// copies in pieces and those it copies at once), growing the buffer or not.
#include "kernel/bytes.h"

#include <cstdint>
#include <gtest/gtest.h>
#include <vector>

namespace {

TEST(Bytes, AppendBytesCopiesEveryByteAtEverySkew)
{
    std::vector<uint8_t> src(3 * 4096 + 64);
    for (size_t i = 0; i < src.size(); ++i)
        src[i] = uint8_t(i * 131 + 7);
    for (size_t head : {size_t(0), size_t(1), size_t(16), size_t(40)}) {
        for (size_t offset = 0; offset < 64; ++offset) {
            for (size_t n : {size_t(0), size_t(1), size_t(2047), size_t(2048), size_t(2049),
                             size_t(3 * 4096)}) {
                std::vector<uint8_t> out(head, 0xee);
                if (offset % 2)
                    out.reserve(head + n); // no growth on the way
                kernel::append_bytes(out, src.data() + offset, n);
                ASSERT_EQ(out.size(), head + n);
                for (size_t i = 0; i < head; ++i)
                    ASSERT_EQ(out[i], 0xee) << "head byte " << i;
                for (size_t i = 0; i < n; ++i)
                    ASSERT_EQ(out[head + i], src[offset + i])
                        << "byte " << i << " of " << n << ", source offset " << offset
                        << ", head " << head;
            }
        }
    }
}

// Appends one after another grow the buffer geometrically, not to each append's size.
TEST(Bytes, AppendBytesGrowsGeometrically)
{
    std::vector<uint8_t> page(4096, 0x5a), out;
    unsigned growths = 0;
    for (int i = 0; i < 512; ++i) {
        size_t capacity = out.capacity();
        kernel::append_bytes(out, page.data(), page.size());
        growths += out.capacity() != capacity;
    }
    EXPECT_EQ(out.size(), 512u * 4096u);
    EXPECT_LE(growths, 11u) << "2 MiB in 4 KiB appends";
}

} // namespace
