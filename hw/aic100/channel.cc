// SPDX-License-Identifier: GPL-2.0-only
#include "hw/aic100/channel.h"

#include <algorithm>
#include <cstring>

namespace aic100 {

uint32_t MsgChannel::read_reg(uint64_t off) const
{
    switch (off) {
    case kChH2dBaseLo: return h2d_lo_;
    case kChH2dBaseHi: return h2d_hi_;
    case kChD2hBaseLo: return d2h_lo_;
    case kChD2hBaseHi: return d2h_hi_;
    case kChNelem: return nelem_;
    case kChEnable: return enable_ ? 1 : 0;
    case kChH2dHead: return h2d_head_.load(std::memory_order_acquire);
    case kChH2dTail: return h2d_tail_.load(std::memory_order_acquire);
    case kChD2hHead: return d2h_head_.load(std::memory_order_acquire);
    case kChD2hTail: return d2h_tail_.load(std::memory_order_acquire);
    default: return 0;
    }
}

bool MsgChannel::write_reg(uint64_t off, uint32_t value)
{
    // Ring geometry is fixed while enabled; an index past the ring is ignored.
    bool on = enabled();
    switch (off) {
    case kChH2dBaseLo: if (!on) h2d_lo_ = value; return false;
    case kChH2dBaseHi: if (!on) h2d_hi_ = value; return false;
    case kChD2hBaseLo: if (!on) d2h_lo_ = value; return false;
    case kChD2hBaseHi: if (!on) d2h_hi_ = value; return false;
    case kChNelem: if (!on) nelem_ = value; return false;
    case kChEnable:
        if (value & 1) {
            uint32_t n = nelem_;
            bool ok = n >= 2 && n <= kChMaxNelem && (h2d_lo_ | h2d_hi_) && (d2h_lo_ | d2h_hi_);
            if (!on && ok) {
                h2d_head_ = h2d_tail_ = d2h_head_ = d2h_tail_ = 0;
                enable_.store(true, std::memory_order_release);
            }
        } else {
            enable_.store(false, std::memory_order_release);
        }
        return true;
    case kChH2dTail:
        if (on && value < nelem_)
            h2d_tail_.store(value, std::memory_order_release);
        return true;
    case kChD2hHead:
        if (on && value < nelem_)
            d2h_head_.store(value, std::memory_order_release);
        return true;
    default: return false;
    }
}

void MsgChannel::reset()
{
    enable_ = false;
    h2d_lo_ = h2d_hi_ = d2h_lo_ = d2h_hi_ = nelem_ = 0;
    h2d_head_ = h2d_tail_ = d2h_head_ = d2h_tail_ = 0;
}

bool MsgChannel::h2d_pending() const
{
    return enabled() && h2d_head_.load(std::memory_order_acquire) !=
                            h2d_tail_.load(std::memory_order_acquire);
}

bool MsgChannel::d2h_full() const
{
    uint32_t n = nelem_;
    return !enabled() || ring_free(d2h_head_.load(std::memory_order_acquire),
                                   d2h_tail_.load(std::memory_order_acquire), n) == 0;
}

RspStatus MsgChannel::pop_h2d(std::vector<uint8_t> &out)
{
    uint32_t head = h2d_head_.load(std::memory_order_relaxed);
    uint64_t slot = (uint64_t(h2d_hi_) << 32 | h2d_lo_) + uint64_t(head) * h2d_slot_size_;
    RspStatus st = iommu_.access(slot, h2d_slot_size_, kPermRead, [&](void *host) {
        auto *p = static_cast<const uint8_t *>(host);
        uint32_t len = h2d_slot_size_;
        if (len_at_) {
            uint32_t said;
            std::memcpy(&said, p + *len_at_, sizeof(said));
            // The length is the host's word: never less than holds it, never past the slot.
            len = std::min(std::max(said, *len_at_ + uint32_t(sizeof(said))), h2d_slot_size_);
        }
        out.assign(p, p + len);
    });
    h2d_head_.store((head + 1) % nelem_, std::memory_order_release);
    return st;
}

RspStatus MsgChannel::push_d2h(const void *msg, size_t len)
{
    uint32_t tail = d2h_tail_.load(std::memory_order_relaxed);
    uint64_t base = uint64_t(d2h_hi_) << 32 | d2h_lo_;
    if (len > d2h_slot_size_)
        return kRspMalformed;
    RspStatus st = iommu_.access(base + uint64_t(tail) * d2h_slot_size_, d2h_slot_size_,
                                 kPermWrite, [&](void *host) {
                                     std::memcpy(host, msg, len);
                                     std::memset(static_cast<char *>(host) + len, 0,
                                                 d2h_slot_size_ - len);
                                 });
    if (st == kRspOk)
        d2h_tail_.store((tail + 1) % nelem_, std::memory_order_release);
    return st;
}

} // namespace aic100
