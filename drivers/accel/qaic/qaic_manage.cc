// SPDX-License-Identifier: GPL-2.0-only
#include "drivers/accel/qaic/qaic_manage.h"
#include "kernel/bytes.h"

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
    default: return kernel::Error(-EINVAL);
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
            return kernel::Error(-EINVAL);
        auto h = load<qaic_manage_trans_hdr>(msg.data() + pos);
        uint32_t end;
        if (h.len < sizeof(qaic_manage_trans_hdr) || __builtin_add_overflow(pos, h.len, &end) ||
            end > msg.size())
            return kernel::Error(-EINVAL);
        uint32_t size = TRY(user_trans_size(h.type));
        if (size ? h.len != size : h.len % 8 != 0)
            return kernel::Error(-EINVAL);
        out.push_back({h.type, pos, h.len});
        pos = end;
    }
    if (pos != msg.size())
        return kernel::Error(-EINVAL);
    return out;
}

WireMsg::WireMsg(uint32_t handle) : bytes_(sizeof(aic100::WireMsgHdr))
{
    aic100::WireMsgHdr h{};
    h.handle = handle;
    h.partition_id = -1;
    std::memcpy(bytes_.data(), &h, sizeof(h));
}

kernel::ErrorOr<void> WireMsg::add(const void *trans, uint32_t len)
{
    if (len > room())
        return kernel::Error(-ENOSPC);
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
        return kernel::Error(-EIO);
    auto h = load<aic100::WireMsgHdr>(rsp.data());
    if (h.magic != aic100::kWireMagic || h.len < sizeof(h) || h.len > rsp.size())
        return kernel::Error(-EIO);
    if (crc && h.crc32 != aic100::wire_crc(rsp.data(), h.len))
        return kernel::Error(-EPIPE);
    ResponseTrans offsets;
    uint32_t pos = sizeof(h);
    for (uint32_t i = 0; i < h.count; ++i) {
        if (h.len - pos < sizeof(aic100::WireTransHdr) || offsets.count == offsets.offsets.size())
            return kernel::Error(-EIO);
        auto th = load<aic100::WireTransHdr>(rsp.data() + pos);
        if (th.len < sizeof(th) || th.len > h.len - pos)
            return kernel::Error(-EIO);
        offsets.offsets[offsets.count++] = pos;
        pos += th.len;
    }
    if (pos != h.len)
        return kernel::Error(-EIO);
    return offsets;
}

} // namespace qaic
