// SPDX-License-Identifier: GPL-2.0-only
// The simulated card on its bus: a kernel::PciDev whose BARs, DMA mappings and MSIs lead to
// an aic100::Card. This is the platform's half of the bus boundary (the PCI core, the IOMMU
// driver and the interrupt controller, all in one).
#pragma once

#include "hw/aic100/card.h"
#include "kernel/pci.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace aic100 {

class SimPciDev : public kernel::PciDev {
public:
    explicit SimPciDev(CardConfig cfg = {});
    ~SimPciDev() override;

    Card &card() { return *card_; }

    // -ENOMEM when the card's DDR could not be mapped.
    kernel::ErrorOr<void> enable_device() override;
    uint32_t read_config32(uint64_t offset) override;
    uint32_t read32(unsigned bar, uint64_t offset) override;
    void write32(unsigned bar, uint64_t offset, uint32_t value) override;
    kernel::ErrorOr<kernel::DmaCoherent> dma_alloc_coherent(size_t size) override;
    void dma_free_coherent(kernel::DmaCoherent &buf) override;
    kernel::ErrorOr<void> dma_map_sgtable(kernel::SgTable &sgt, kernel::DmaDirection dir) override;
    void dma_unmap_sgtable(kernel::SgTable &sgt, kernel::DmaDirection dir) override;
    kernel::ErrorOr<unsigned> alloc_irq_vectors(unsigned min, unsigned max) override;
    void free_irq_vectors() override;
    IrqType irq_type() const override;
    kernel::ErrorOr<void> request_irq(unsigned vector, kernel::IrqHandler handler) override;
    void free_irq(unsigned vector) override;
    void disable_irq(unsigned vector) override;
    void synchronize_irq(unsigned vector) override;
    void enable_irq(unsigned vector) override;
    void busy_poll(unsigned queue, const std::function<bool()> &done,
                   std::chrono::steady_clock::time_point deadline) override;

    // Test control: restrict how many MSI vectors the platform grants (1: the shared fallback).
    void limit_msi_vectors(unsigned n) { msi_limit_ = n; }

private:
    struct Vector {
        kernel::IrqHandler handler;
        bool masked = false;
        bool pending = false; // raised while masked, or while its handler ran
        bool running = false; // its handler runs (on one thread at a time)
    };
    void deliver(unsigned vector);
    void run_handler(std::unique_lock<std::mutex> &lk, Vector &v);

    mutable std::mutex irq_lock_;
    std::condition_variable irq_idle_;
    std::vector<Vector> vectors_;
    IrqType irq_type_ = IrqType::kNone;
    unsigned msi_limit_ = ~0u;
    // Declared last, destroyed first: the card's threads stop before anything they call.
    std::unique_ptr<Card> card_;
};

} // namespace aic100
