// SPDX-License-Identifier: GPL-2.0-only
// MANAGE's wire work as functions of bytes, unit-tested without a device: parsing and
// validating the user's transactions, framing wire messages (magic, sequence, CRC), and
// checking the device's responses.
#pragma once

#include "include/hw/aic100_regs.h"
#include "kernel/result.h"

#include <cstdint>
#include <drm/qaic_accel.h>
#include <array>
#include <vector>

namespace qaic {

inline constexpr uint32_t kManageMaxTrans = 512;
// Upstream's QAIC_MANAGE_EXT_MSG_LENGTH: a message to the device may hold up to 64 KiB
// (passthrough and DMA_XFER); its answer, and what ACTIVATE and STATUS are added to, stay
// within QAIC_MANAGE_MAX_MSG_LENGTH (4 KiB), the user's buffer.
inline constexpr uint32_t kManageExtMsgLength = 65536;
static_assert(kManageExtMsgLength == aic100::kCtrlReqSlotSize);
static_assert(QAIC_MANAGE_MAX_MSG_LENGTH == aic100::kCtrlRspSlotSize);

// One user transaction: its type and where it lies in the user's buffer.
struct UserTrans {
    uint32_t type;
    uint32_t offset;
    uint32_t len;
};

// Splits the user's message (len bytes, count transactions, as copied in) into transactions:
// each header's len >= 8 and within the message (overflow-checked), each type one a user may
// send (PASSTHROUGH, DMA_XFER, ACTIVATE, DEACTIVATE, STATUS *_FROM_USR), the lengths adding up
// to the message's len, and each type's fixed size or (passthrough) multiple of 8. -EINVAL.
kernel::ErrorOr<std::vector<UserTrans>> parse_user_trans(const std::vector<uint8_t> &msg,
                                                          uint32_t count);

// Fills a wire message's header: magic, sequence number, len, and the CRC when crc is set.
void frame_message(std::vector<uint8_t> &msg, uint32_t seq, bool crc);

// Where each transaction of a response message starts. Fixed capacity (a slot holds no more
// transactions): once the device acted on a message, reading its answer must not fail for
// memory.
struct ResponseTrans {
    std::array<uint32_t, aic100::kCtrlRspSlotSize / sizeof(aic100::WireTransHdr)> offsets;
    uint32_t count = 0;
    const uint32_t *begin() const { return offsets.data(); }
    const uint32_t *end() const { return offsets.data() + count; }
    size_t size() const { return count; }
    uint32_t operator[](size_t i) const { return offsets[i]; }
};

// Checks a response message: length within the slot and matching its header, magic, and the
// CRC when required (-EPIPE); each transaction within bounds (-EIO). Returns the
// transactions' offsets. Allocates nothing.
kernel::ErrorOr<ResponseTrans> check_response(const std::vector<uint8_t> &rsp, bool crc);

// A wire message under construction.
class WireMsg {
public:
    WireMsg(uint32_t handle);
    // Appends a transaction; -ENOSPC when the message would grow past `limit` bytes
    // (upstream: 64 KiB for passthrough and DMA_XFER, 4 KiB for ACTIVATE and STATUS).
    kernel::ErrorOr<void> add(const void *trans, uint32_t len,
                              uint32_t limit = kManageExtMsgLength);
    uint32_t size() const { return uint32_t(bytes_.size()); }
    uint32_t room() const { return kManageExtMsgLength - size(); }
    uint32_t count() const { return count_; }
    std::vector<uint8_t> take();

private:
    std::vector<uint8_t> bytes_;
    uint32_t count_ = 0;
};

} // namespace qaic
