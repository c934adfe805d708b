// SPDX-License-Identifier: GPL-2.0-only
#include "hw/aic100/sim_pci.h"
#include "hw/aic100/firmware.h"
#include "kernel/mm.h"
#include "kernel/printk.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace aic100 {
namespace {
constexpr size_t kPage = 4096;
uint8_t perm_for(kernel::DmaDirection dir)
{
    switch (dir) {
    case kernel::DmaDirection::kToDevice: return kPermRead;
    case kernel::DmaDirection::kFromDevice: return kPermWrite;
    default: return kPermRW;
    }
}
} // namespace

SimPciDev::SimPciDev(CardConfig cfg) : card_(std::make_unique<Card>(cfg))
{
    card_->set_msi_sink([this](unsigned vector) { deliver(vector); });
}

SimPciDev::~SimPciDev()
{
    card_.reset();
}

kernel::ErrorOr<void> SimPciDev::enable_device()
{
    if (!card_->ddr().mapped())
        return kernel::Error(-ENOMEM);
    return {};
}

uint32_t SimPciDev::read_config32(uint64_t offset)
{
    return card_->config_read(offset);
}

uint32_t SimPciDev::read32(unsigned bar, uint64_t offset)
{
    return card_->mmio_read(bar, offset);
}

void SimPciDev::write32(unsigned bar, uint64_t offset, uint32_t value)
{
    card_->mmio_write(bar, offset, value);
}

kernel::ErrorOr<kernel::DmaCoherent> SimPciDev::dma_alloc_coherent(size_t size)
{
    if (size == 0)
        return kernel::Error(-EINVAL);
    size_t len = (size + kPage - 1) & ~(kPage - 1);
    void *p = std::aligned_alloc(kPage, len);
    if (!p)
        return kernel::Error(-ENOMEM);
    if (auto claimed = kernel::claim_kernel_range(p, len); claimed.is_error()) {
        std::free(p);
        return claimed.error();
    }
    std::memset(p, 0, len);
    auto iova = card_->iommu().map(p, len, kPermRW);
    if (iova.is_error()) {
        kernel::release_kernel_range(p);
        std::free(p);
        return iova.error();
    }
    return kernel::DmaCoherent{p, iova.value(), size};
}

void SimPciDev::dma_free_coherent(kernel::DmaCoherent &buf)
{
    if (!buf.cpu_addr)
        return;
    card_->iommu().unmap(buf.dma_addr);
    kernel::release_kernel_range(buf.cpu_addr);
    std::free(buf.cpu_addr);
    buf = {};
}

kernel::ErrorOr<void> SimPciDev::dma_map_sgtable(kernel::SgTable &sgt, kernel::DmaDirection dir)
{
    uint8_t perm = perm_for(dir);
    for (size_t i = 0; i < sgt.entries.size(); ++i) {
        auto iova = card_->iommu().map(sgt.entries[i].cpu_addr, sgt.entries[i].length, perm);
        if (iova.is_error()) {
            while (i--)
                card_->iommu().unmap(sgt.entries[i].dma_addr);
            return iova.error();
        }
        sgt.entries[i].dma_addr = iova.value();
    }
    return {};
}

void SimPciDev::dma_unmap_sgtable(kernel::SgTable &sgt, kernel::DmaDirection)
{
    for (kernel::SgEntry &e : sgt.entries) {
        card_->iommu().unmap(e.dma_addr);
        e.dma_addr = 0;
    }
}

// As the PCI core does: MSI-X when the device has the capability (up to its table size), else
// MSI (up to its multiple-message capability); the card routes its sources to the vectors.
kernel::ErrorOr<unsigned> SimPciDev::alloc_irq_vectors(unsigned min, unsigned max)
{
    const PciProfile &p = card_->profile();
    unsigned n = std::min({max, p.vectors, 1 + card_->num_dbc(), msi_limit_});
    if (n < min || n == 0)
        return kernel::Error(-ENOSPC);
    std::lock_guard lk(irq_lock_);
    if (!vectors_.empty())
        return kernel::Error(-EBUSY);
    vectors_.resize(n);
    irq_type_ = p.msix ? IrqType::kMsix : IrqType::kMsi;
    return n;
}

kernel::PciDev::IrqType SimPciDev::irq_type() const
{
    std::lock_guard lk(irq_lock_);
    return irq_type_;
}

void SimPciDev::free_irq_vectors()
{
    std::unique_lock lk(irq_lock_);
    for (Vector &v : vectors_)
        v.handler = nullptr;
    irq_idle_.wait(lk, [&] {
        for (const Vector &v : vectors_)
            if (v.running)
                return false;
        return true;
    });
    vectors_.clear();
    irq_type_ = IrqType::kNone;
}

kernel::ErrorOr<void> SimPciDev::request_irq(unsigned vector, kernel::IrqHandler handler)
{
    std::lock_guard lk(irq_lock_);
    if (vector >= vectors_.size())
        return kernel::Error(-EINVAL);
    if (vectors_[vector].handler)
        return kernel::Error(-EBUSY);
    vectors_[vector] = Vector{std::move(handler)};
    return {};
}

void SimPciDev::free_irq(unsigned vector)
{
    std::unique_lock lk(irq_lock_);
    if (vector >= vectors_.size())
        return;
    Vector &v = vectors_[vector];
    v.handler = nullptr;
    v.pending = false;
    irq_idle_.wait(lk, [&] { return !v.running; });
}

void SimPciDev::disable_irq(unsigned vector)
{
    std::lock_guard lk(irq_lock_);
    if (vector < vectors_.size())
        vectors_[vector].masked = true;
}

void SimPciDev::synchronize_irq(unsigned vector)
{
    std::unique_lock lk(irq_lock_);
    if (vector < vectors_.size())
        irq_idle_.wait(lk, [&] { return !vectors_[vector].running; });
}

void SimPciDev::enable_irq(unsigned vector)
{
    std::unique_lock lk(irq_lock_);
    if (vector >= vectors_.size())
        return;
    Vector &v = vectors_[vector];
    v.masked = false;
    if (v.pending && v.handler) {
        v.pending = false;
        run_handler(lk, v);
    }
}

// The waiter's thread runs the DBC's engine work; the MSIs it raises run their handlers on it.
void SimPciDev::busy_poll(unsigned queue, const std::function<bool()> &done,
                          std::chrono::steady_clock::time_point deadline)
{
    if (queue == kBusyPollControl)
        card_->firmware().busy_poll(done, deadline);
    else if (queue < card_->num_dbc())
        card_->dbc(queue).busy_poll(done, deadline);
}

// An MSI from the card: the handler runs on the raising thread (an engine, the firmware, or a
// busy-polling waiter), like a hard IRQ. A masked vector remembers the interrupt for
// enable_irq().
void SimPciDev::deliver(unsigned vector)
{
    std::unique_lock lk(irq_lock_);
    if (vector >= vectors_.size())
        return; // no vectors allocated: MSIs go nowhere
    Vector &v = vectors_[vector];
    if (!v.handler)
        return;
    if (v.masked) {
        v.pending = true;
        return;
    }
    run_handler(lk, v);
}

// One handler at a time per vector, as for a Linux edge IRQ: an MSI that arrives while its
// handler runs on another thread marks the vector pending, and that handler runs once more.
void SimPciDev::run_handler(std::unique_lock<std::mutex> &lk, Vector &v)
{
    if (v.running) {
        v.pending = true;
        return;
    }
    v.running = true;
    do {
        v.pending = false;
        kernel::IrqHandler h = v.handler;
        lk.unlock();
        {
            // The driver's lines from here are the interrupt's, whichever thread runs it (a
            // busy-polling waiter's among them), not that thread's call's.
            kernel::OpScope op(kernel::kIrqOp);
            h();
        }
        lk.lock();
    } while (v.pending && !v.masked && v.handler);
    v.running = false;
    irq_idle_.notify_all();
}

} // namespace aic100
