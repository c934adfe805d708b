// SPDX-License-Identifier: GPL-2.0-only
// A message channel of the card (control or SSR): two rings of fixed-size slots in host
// memory, H2D and D2H (each ring its own slot size), with head/tail registers (see
// aic100_regs.h, kCh*).
#pragma once

#include "hw/aic100/iommu.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

namespace aic100 {

class MsgChannel {
public:
    // len_at: where a message's u32 length is in an H2D slot, so that only the message is
    // read (a 64 KiB control slot mostly carries a few dozen bytes); none: the whole slot.
    MsgChannel(Iommu &iommu, uint32_t h2d_slot_size, uint32_t d2h_slot_size,
               std::optional<uint32_t> len_at = std::nullopt)
        : iommu_(iommu), h2d_slot_size_(h2d_slot_size), d2h_slot_size_(d2h_slot_size),
          len_at_(len_at)
    {
    }

    uint32_t read_reg(uint64_t off) const;
    // Returns true when the write may have made work for the device.
    bool write_reg(uint64_t off, uint32_t value);
    void reset();

    bool enabled() const { return enable_.load(std::memory_order_acquire); }
    bool h2d_pending() const;
    bool d2h_full() const;
    // Reads the message in the H2D slot at the head and consumes the slot: the whole slot,
    // or with len_at the message's length (at least len_at + 4 bytes, at most the slot).
    RspStatus pop_h2d(std::vector<uint8_t> &out);
    // Writes a message into the D2H slot at the tail (zero-padded) and publishes it.
    RspStatus push_d2h(const void *msg, size_t len);

private:
    Iommu &iommu_;
    const uint32_t h2d_slot_size_, d2h_slot_size_;
    const std::optional<uint32_t> len_at_;
    std::atomic<uint32_t> h2d_lo_{0}, h2d_hi_{0}, d2h_lo_{0}, d2h_hi_{0}, nelem_{0};
    std::atomic<bool> enable_{false};
    std::atomic<uint32_t> h2d_head_{0}, h2d_tail_{0}, d2h_head_{0}, d2h_tail_{0};
};

} // namespace aic100
