// SPDX-License-Identifier: GPL-2.0-only
// A message channel of the card (control or SSR): two rings of fixed-size slots in host
// memory, H2D and D2H, with head/tail registers (see aic100_regs.h, kCh*).
#pragma once

#include "hw/aic100/iommu.h"

#include <atomic>
#include <cstdint>
#include <vector>

namespace aic100 {

class MsgChannel {
public:
    MsgChannel(Iommu &iommu, uint32_t slot_size) : iommu_(iommu), slot_size_(slot_size) {}

    uint32_t read_reg(uint64_t off) const;
    // Returns true when the write may have made work for the device.
    bool write_reg(uint64_t off, uint32_t value);
    void reset();

    uint32_t slot_size() const { return slot_size_; }
    bool enabled() const { return enable_.load(std::memory_order_acquire); }
    bool h2d_pending() const;
    bool d2h_full() const;
    // Reads the H2D slot at the head (slot_size bytes) and consumes it.
    RspStatus pop_h2d(std::vector<uint8_t> &out);
    // Writes a message into the D2H slot at the tail (zero-padded) and publishes it.
    RspStatus push_d2h(const void *msg, size_t len);

private:
    Iommu &iommu_;
    const uint32_t slot_size_;
    std::atomic<uint32_t> h2d_lo_{0}, h2d_hi_{0}, d2h_lo_{0}, d2h_hi_{0}, nelem_{0};
    std::atomic<bool> enable_{false};
    std::atomic<uint32_t> h2d_head_{0}, h2d_tail_{0}, d2h_head_{0}, d2h_tail_{0};
};

} // namespace aic100
