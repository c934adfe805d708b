// SPDX-License-Identifier: GPL-2.0-only
// MANAGE's wire work: user transaction parsing, message framing and response checks.
#include "drivers/accel/qaic/qaic_manage.h"
#include "kernel/crc32.h"

#include <cstring>
#include <gtest/gtest.h>

namespace {

using qaic::check_response;
using qaic::parse_user_trans;
using qaic::WireMsg;

struct Builder {
    std::vector<uint8_t> bytes;
    uint32_t count = 0;
    Builder &trans(uint32_t type, uint32_t len)
    {
        size_t at = bytes.size();
        bytes.resize(at + std::max<uint32_t>(len, 8));
        qaic_manage_trans_hdr h{type, len};
        std::memcpy(bytes.data() + at, &h, sizeof(h));
        ++count;
        return *this;
    }
};

TEST(ParseUserTrans, EveryUserType)
{
    Builder b;
    b.trans(QAIC_TRANS_PASSTHROUGH_FROM_USR, 24)
        .trans(QAIC_TRANS_DMA_XFER_FROM_USR, 32)
        .trans(QAIC_TRANS_ACTIVATE_FROM_USR, 24)
        .trans(QAIC_TRANS_DEACTIVATE_FROM_USR, 16)
        .trans(QAIC_TRANS_STATUS_FROM_USR, 8);
    auto t = parse_user_trans(b.bytes, b.count);
    ASSERT_FALSE(t.is_error());
    ASSERT_EQ(t.value().size(), 5u);
    EXPECT_EQ(t.value()[1].offset, 24u);
    EXPECT_EQ(t.value()[4].offset, 24u + 32 + 24 + 16);
    EXPECT_EQ(t.value()[4].type, uint32_t(QAIC_TRANS_STATUS_FROM_USR));
}

TEST(ParseUserTrans, PassthroughOfJustAHeader)
{
    Builder b;
    b.trans(QAIC_TRANS_PASSTHROUGH_FROM_USR, 8);
    EXPECT_FALSE(parse_user_trans(b.bytes, 1).is_error());
}

TEST(ParseUserTrans, LengthRules)
{
    Builder shortlen;
    shortlen.trans(QAIC_TRANS_STATUS_FROM_USR, 4);
    EXPECT_EQ(parse_user_trans(shortlen.bytes, 1).code(), -EINVAL);

    Builder past;
    past.trans(QAIC_TRANS_STATUS_FROM_USR, 8);
    qaic_manage_trans_hdr big{QAIC_TRANS_PASSTHROUGH_FROM_USR, 0xFFFFFFF8};
    std::memcpy(past.bytes.data(), &big, sizeof(big)); // running length wraps 32 bits
    EXPECT_EQ(parse_user_trans(past.bytes, 1).code(), -EINVAL);

    Builder sum;
    sum.trans(QAIC_TRANS_STATUS_FROM_USR, 8);
    sum.bytes.resize(16); // 8 bytes nobody accounts for
    EXPECT_EQ(parse_user_trans(sum.bytes, 1).code(), -EINVAL);

    Builder count;
    count.trans(QAIC_TRANS_STATUS_FROM_USR, 8);
    EXPECT_EQ(parse_user_trans(count.bytes, 2).code(), -EINVAL); // fewer than count
}

TEST(ParseUserTrans, TypeRules)
{
    for (uint32_t type : {0u, 2u, 3u, 4u, 6u, 8u, 9u, 11u, 13u, 14u, 15u, 16u, 17u, 18u, 19u,
                          20u, 21u, 0x80u, 0xFFFFFFFFu}) {
        Builder b;
        b.trans(type, 8);
        EXPECT_EQ(parse_user_trans(b.bytes, 1).code(), -EINVAL) << type;
    }
}

TEST(ParseUserTrans, FixedSizes)
{
    struct {
        uint32_t type, good;
    } cases[] = {{QAIC_TRANS_DMA_XFER_FROM_USR, 32},
                 {QAIC_TRANS_ACTIVATE_FROM_USR, 24},
                 {QAIC_TRANS_DEACTIVATE_FROM_USR, 16},
                 {QAIC_TRANS_STATUS_FROM_USR, 8}};
    for (auto c : cases) {
        for (uint32_t len : {c.good - 8, c.good + 8}) {
            Builder b;
            b.trans(c.type, len);
            EXPECT_EQ(parse_user_trans(b.bytes, 1).code(), -EINVAL) << c.type << " " << len;
        }
    }
    Builder odd;
    odd.trans(QAIC_TRANS_PASSTHROUGH_FROM_USR, 12);
    EXPECT_EQ(parse_user_trans(odd.bytes, 1).code(), -EINVAL);
}

std::vector<uint8_t> status_message(uint32_t handle)
{
    WireMsg m(handle);
    aic100::WireTransHdr h{QAIC_TRANS_STATUS_TO_DEV, 8};
    EXPECT_FALSE(m.add(&h, sizeof(h)).is_error());
    return m.take();
}

TEST(WireMsg, HeaderAndTransactions)
{
    auto bytes = status_message(42);
    qaic::frame_message(bytes, 7, false);
    aic100::WireMsgHdr h;
    std::memcpy(&h, bytes.data(), sizeof(h));
    EXPECT_EQ(bytes.size(), 40u);
    EXPECT_EQ(h.magic, aic100::kWireMagic);
    EXPECT_EQ(h.sequence_number, 7u);
    EXPECT_EQ(h.len, 40u);
    EXPECT_EQ(h.count, 1u);
    EXPECT_EQ(h.handle, 42u);
    EXPECT_EQ(h.partition_id, -1);
    EXPECT_EQ(h.crc32, 0u);
    EXPECT_EQ(h.padding, 0u);
}

TEST(WireMsg, CrcCoversTheMessageWithTheCrcFieldZero)
{
    auto bytes = status_message(1);
    qaic::frame_message(bytes, 1, true);
    aic100::WireMsgHdr h;
    std::memcpy(&h, bytes.data(), sizeof(h));
    auto copy = bytes;
    std::memset(copy.data(), 0, 4);
    EXPECT_EQ(h.crc32, kernel::crc32(0, copy.data(), copy.size()));
    EXPECT_NE(h.crc32, 0u);
}

// Up to 64 KiB in all (upstream's QAIC_MANAGE_EXT_MSG_LENGTH), or up to a lower limit for
// the transactions upstream keeps within 4 KiB.
TEST(WireMsg, RefusesWhatDoesNotFit)
{
    WireMsg m(1);
    std::vector<uint8_t> t(65536 - 32);
    EXPECT_EQ(m.room(), 65536u - 32);
    EXPECT_EQ(m.add(t.data(), 4096 - 32 + 8, 4096).code(), -ENOSPC);
    EXPECT_FALSE(m.add(t.data(), 4096 - 32 - 8, 4096).is_error());
    EXPECT_EQ(m.add(t.data(), 16, 4096).code(), -ENOSPC) << "8 bytes left under 4 KiB";
    EXPECT_FALSE(m.add(t.data(), 8, 4096).is_error());
    EXPECT_EQ(m.add(t.data(), 8, 4096).code(), -ENOSPC) << "the message is 4 KiB now";
    EXPECT_FALSE(m.add(t.data(), m.room()).is_error()) << "the rest of 64 KiB";
    EXPECT_EQ(m.size(), 65536u);
    EXPECT_EQ(m.add(t.data(), 1).code(), -ENOSPC);
    EXPECT_EQ(m.add(t.data(), 8, 4096).code(), -ENOSPC) << "a message past the limit already";
    EXPECT_EQ(m.count(), 3u);
}

std::vector<uint8_t> response(std::vector<std::vector<uint8_t>> trans, bool crc)
{
    WireMsg m(1);
    for (auto &t : trans)
        EXPECT_FALSE(m.add(t.data(), uint32_t(t.size())).is_error());
    auto bytes = m.take();
    qaic::frame_message(bytes, 3, crc);
    return bytes;
}

std::vector<uint8_t> trans(uint32_t type, uint32_t len)
{
    std::vector<uint8_t> t(len);
    aic100::WireTransHdr h{type, len};
    std::memcpy(t.data(), &h, sizeof(h));
    return t;
}

TEST(CheckResponse, GoodResponseGivesOffsets)
{
    auto r = response({trans(3, 24), trans(14, 24)}, true);
    auto offs = check_response(r, true);
    ASSERT_FALSE(offs.is_error());
    ASSERT_EQ(offs.value().size(), 2u);
    EXPECT_EQ(offs.value()[0], 32u);
    EXPECT_EQ(offs.value()[1], 56u);
}

TEST(CheckResponse, BadCrcIsEpipe)
{
    auto r = response({trans(14, 24)}, true);
    r[40] ^= 1;
    EXPECT_EQ(check_response(r, true).code(), -EPIPE);
    EXPECT_FALSE(check_response(r, false).is_error()); // not checked when not required
}

TEST(CheckResponse, MalformedIsEio)
{
    auto good = response({trans(14, 24)}, false);
    auto r = good;
    r[4] = 0; // magic
    EXPECT_EQ(check_response(r, false).code(), -EIO);
    r = good;
    r.resize(20); // shorter than a header
    EXPECT_EQ(check_response(r, false).code(), -EIO);
    r = good;
    r[12] = 200; // len past the bytes received
    EXPECT_EQ(check_response(r, false).code(), -EIO);
    r = good;
    r[36] = 200; // transaction len past the message
    EXPECT_EQ(check_response(r, false).code(), -EIO);
    r = good;
    r[36] = 4; // transaction len below its header
    EXPECT_EQ(check_response(r, false).code(), -EIO);
    r = good;
    r[16] = 2; // count says two, there is one
    EXPECT_EQ(check_response(r, false).code(), -EIO);
    r = good;
    r[16] = 0; // count says none: bytes left over
    EXPECT_EQ(check_response(r, false).code(), -EIO);
}

} // namespace
