// SPDX-License-Identifier: GPL-2.0-only
#include "drivers/accel/qaic/qaic_manage.h"
#include "kernel/bytes.h"
#include "kernel/printk.h"

#include <cstring>

namespace qaic {
namespace {

using kernel::load;

// The fixed size of each user transaction type; 0 for passthrough (variable).
kernel::ErrorOr<uint32_t> user_trans_size(uint32_t type)
{
    switch (type) {
    case QAIC_TRANS_PASSTHROUGH_FROM_USR: return 0u;
    case QAIC_TRANS_DMA_XFER_FROM_USR: return uint32_t(sizeof(qaic_manage_trans_dma_xfer));
    case QAIC_TRANS_ACTIVATE_FROM_USR:
        return uint32_t(sizeof(qaic_manage_trans_activate_to_dev));
    case QAIC_TRANS_DEACTIVATE_FROM_USR: return uint32_t(sizeof(qaic_manage_trans_deactivate));
    case QAIC_TRANS_STATUS_FROM_USR: return uint32_t(sizeof(qaic_manage_trans_status_to_dev));
    default: return REJECT(-EINVAL, "transaction type %#x is not one a user may send", type);
    }
}

} // namespace

kernel::ErrorOr<std::vector<UserTrans>> parse_user_trans(const std::vector<uint8_t> &msg,
                                                          uint32_t count)
{
    std::vector<UserTrans> out;
    uint32_t pos = 0;
    for (uint32_t i = 0; i < count; ++i) {
        if (msg.size() - pos < sizeof(qaic_manage_trans_hdr))
            return REJECT(-EINVAL, "transaction %u: its header at byte %u is past len %zu", i,
                          pos, msg.size());
        auto h = load<qaic_manage_trans_hdr>(msg.data() + pos);
        uint32_t end;
        if (h.len < sizeof(qaic_manage_trans_hdr))
            return REJECT(-EINVAL, "transaction %u: len %u is less than its header's 8", i,
                          h.len);
        if (__builtin_add_overflow(pos, h.len, &end) || end > msg.size())
            return REJECT(-EINVAL, "transaction %u: len %u at byte %u is past len %zu", i, h.len,
                          pos, msg.size());
        uint32_t size = TRY(user_trans_size(h.type));
        if (size && h.len != size)
            return REJECT(-EINVAL, "transaction %u: type %#x has len %u, not %u", i, h.type,
                          h.len, size);
        if (!size && h.len % 8 != 0)
            return REJECT(-EINVAL, "transaction %u: passthrough len %u is not a multiple of 8",
                          i, h.len);
        out.push_back({h.type, pos, h.len});
        pos = end;
    }
    if (pos != msg.size())
        return REJECT(-EINVAL, "the %u transactions end at byte %u, len is %zu", count, pos,
                      msg.size());
    return out;
}

WireMsg::WireMsg(uint32_t handle) : bytes_(sizeof(aic100::WireMsgHdr))
{
    aic100::WireMsgHdr h{};
    h.handle = handle;
    h.partition_id = -1;
    std::memcpy(bytes_.data(), &h, sizeof(h));
}

kernel::ErrorOr<void> WireMsg::add(const void *trans, uint32_t len, uint32_t limit)
{
    if (size() > limit || len > limit - size())
        return REJECT(-ENOSPC, "a %u-byte transaction does not fit: the message has %u bytes "
                               "and may have %u", len, size(), limit);
    auto *p = static_cast<const uint8_t *>(trans);
    bytes_.insert(bytes_.end(), p, p + len);
    ++count_;
    return {};
}

std::vector<uint8_t> WireMsg::take()
{
    aic100::WireMsgHdr h = load<aic100::WireMsgHdr>(bytes_.data());
    h.count = count_;
    std::memcpy(bytes_.data(), &h, sizeof(h));
    return std::move(bytes_);
}

void frame_message(std::vector<uint8_t> &msg, uint32_t seq, bool crc)
{
    aic100::WireMsgHdr h = load<aic100::WireMsgHdr>(msg.data());
    h.magic = aic100::kWireMagic;
    h.sequence_number = seq;
    h.len = uint32_t(msg.size());
    h.crc32 = 0;
    std::memcpy(msg.data(), &h, sizeof(h));
    if (crc) {
        h.crc32 = aic100::wire_crc(msg.data(), h.len);
        std::memcpy(msg.data(), &h, sizeof(h));
    }
}

kernel::ErrorOr<ResponseTrans> check_response(const std::vector<uint8_t> &rsp, bool crc)
{
    if (rsp.size() < sizeof(aic100::WireMsgHdr))
        return REJECT(-EIO, "answer of %zu bytes is shorter than a message header", rsp.size());
    auto h = load<aic100::WireMsgHdr>(rsp.data());
    if (h.magic != aic100::kWireMagic)
        return REJECT(-EIO, "answer's magic is %#x", h.magic);
    if (h.len < sizeof(h) || h.len > rsp.size())
        return REJECT(-EIO, "answer's len %u is outside [%zu, %zu]", h.len, sizeof(h),
                      rsp.size());
    if (crc && h.crc32 != aic100::wire_crc(rsp.data(), h.len))
        return REJECT(-EPIPE, "answer's CRC %#x is wrong", h.crc32);
    ResponseTrans offsets;
    uint32_t pos = sizeof(h);
    for (uint32_t i = 0; i < h.count; ++i) {
        if (h.len - pos < sizeof(aic100::WireTransHdr) || offsets.count == offsets.offsets.size())
            return REJECT(-EIO, "answer's transaction %u of %u is past its len %u", i, h.count,
                          h.len);
        auto th = load<aic100::WireTransHdr>(rsp.data() + pos);
        if (th.len < sizeof(th) || th.len > h.len - pos)
            return REJECT(-EIO, "answer's transaction %u has len %u (%u bytes left)", i, th.len,
                          h.len - pos);
        offsets.offsets[offsets.count++] = pos;
        pos += th.len;
    }
    if (pos != h.len)
        return REJECT(-EIO, "answer's transactions end at byte %u, its len is %u", pos, h.len);
    return offsets;
}

} // namespace qaic
