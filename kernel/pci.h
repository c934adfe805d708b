// SPDX-License-Identifier: GPL-2.0-only
// The bus boundary as the driver sees it: a PCI device with BARs, DMA through the platform's
// IOMMU, MSI vectors and reset. The driver touches its device only through this interface;
// the simulated card (hw/aic100) implements it, and so could a VFIO-backed real device.
#pragma once

#include "kernel/result.h"
#include "kernel/scatterlist.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace kernel {

enum class DmaDirection {
    kBidirectional = 0,
    kToDevice = 1,   // the device may only read
    kFromDevice = 2, // the device may only write
};

// Host memory the device reaches at `dma_addr`, for rings and messages (dma_alloc_coherent).
struct DmaCoherent {
    void *cpu_addr = nullptr;
    uint64_t dma_addr = 0;
    size_t size = 0;
};

// Runs in interrupt context: on the device's own thread, so it must not wait for the device.
using IrqHandler = std::function<void()>;

class PciDev {
public:
    virtual ~PciDev() = default;

    // pci_enable_device: the first thing a probe does; -ENOMEM when the platform cannot
    // give the device its resources.
    virtual ErrorOr<void> enable_device() { return {}; }

    // Configuration space (pci_read_config_dword), at a 4-byte aligned offset below 256: the
    // ids the driver's table matches, the BARs, the capabilities.
    virtual uint32_t read_config32(uint64_t offset) = 0;

    virtual uint32_t read32(unsigned bar, uint64_t offset) = 0;
    virtual void write32(unsigned bar, uint64_t offset, uint32_t value) = 0;

    // Zeroed host memory mapped for the device in both directions; -ENOMEM.
    virtual ErrorOr<DmaCoherent> dma_alloc_coherent(size_t size) = 0;
    virtual void dma_free_coherent(DmaCoherent &buf) = 0;
    // Maps every entry (sets dma_addr) with the permission the direction implies; -ENOMEM
    // when the IOVA space is exhausted, with nothing left mapped.
    virtual ErrorOr<void> dma_map_sgtable(SgTable &sgt, DmaDirection dir) = 0;
    // Returns once the device can no longer reach the pages (no DMA of it is in flight).
    virtual void dma_unmap_sgtable(SgTable &sgt, DmaDirection dir) = 0;

    // Allocates between min and max vectors, MSI-X when the device has the capability, else
    // MSI (pci_alloc_irq_vectors with PCI_IRQ_MSI | PCI_IRQ_MSIX); returns how many.
    virtual ErrorOr<unsigned> alloc_irq_vectors(unsigned min, unsigned max) = 0;
    // Which kind alloc_irq_vectors() enabled (kNone before it and after free_irq_vectors()).
    enum class IrqType { kNone, kMsi, kMsix };
    virtual IrqType irq_type() const = 0;
    virtual void free_irq_vectors() = 0;
    virtual ErrorOr<void> request_irq(unsigned vector, IrqHandler handler) = 0;
    // Returns once the handler is not running and will not run again.
    virtual void free_irq(unsigned vector) = 0;
    // Masks / unmasks a vector; an MSI raised while masked is delivered on unmask.
    virtual void disable_irq(unsigned vector) = 0;
    virtual void enable_irq(unsigned vector) = 0;
    // Returns once no handler of the vector runs: every MSI raised before the call has been
    // handled (synchronize_irq).
    virtual void synchronize_irq(unsigned vector) = 0;

    // The calling thread is about to wait for completions of the device's queue `queue` (for
    // AIC100 a DBC, or its control channel: kBusyPollControl) until done() holds or deadline
    // passes. A device model may use the thread meanwhile to make progress on that queue,
    // interrupts included, the way NAPI busy polling runs a NIC's poll routine in a waiting
    // thread. It calls done() between steps, holding none of its locks (done() may access the
    // device), and returns when done() holds or it has nothing it may do. Real hardware does
    // its work itself: the default does nothing.
    virtual void busy_poll(unsigned queue, const std::function<bool()> &done,
                           std::chrono::steady_clock::time_point deadline)
    {
        (void)queue, (void)done, (void)deadline;
    }
};

inline uint16_t pci_vendor(PciDev &pdev) { return uint16_t(pdev.read_config32(0x00)); }
inline uint16_t pci_device(PciDev &pdev) { return uint16_t(pdev.read_config32(0x00) >> 16); }

// pci_select_bars(pdev, IORESOURCE_MEM): bit i for each implemented memory BAR i (a 64-bit
// BAR sets only its first register's bit). The platform assigned every BAR the device
// implements, so a BAR register reading 0 is one it does not.
inline unsigned pci_select_mem_bars(PciDev &pdev)
{
    unsigned mask = 0;
    for (unsigned i = 0; i < 6; ++i) {
        uint32_t bar = pdev.read_config32(0x10 + 4 * i);
        if (bar == 0 || (bar & 1))
            continue; // unimplemented, or I/O space
        mask |= 1u << i;
        if ((bar & 0x6) == 0x4)
            ++i; // 64-bit: the next register holds the high half
    }
    return mask;
}

} // namespace kernel
