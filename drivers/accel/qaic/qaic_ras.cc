// SPDX-License-Identifier: GPL-2.0-only
// RAS: the card's error reports on its RAS channel (upstream's QAIC_STATUS MHI channel). Each
// is checked field by field (the bytes come from the device: a malformed report is logged
// and dropped), logged as one decoded line, and counted; a fatal uncorrectable error resets
// the device, as upstream does.
#include "drivers/accel/qaic/qaic.h"
#include "kernel/bytes.h"
#include "kernel/printk.h"

#include <climits>
#include <cstdio>
#include <cstring>

namespace qaic {
namespace {

using namespace aic100;
using kernel::load;
constexpr uint32_t kRasNelem = 16;

const char *const kErrTypeName[] = {"Correctable", "Uncorrectable", "Uncorrectable Non-Fatal"};
const char *const kErrClass[] = {"Warning", "Fatal", "Warning"};
const char *const kSourceName[] = {"SoC Memory",          "PCIE",       "DDR",
                                   "System Bus source 1", "System Bus source 2",
                                   "NSP Memory",          "Temperature Sensors"};
const char *const kThresholdName[] = {"lower", "upper", "critical"};
static_assert(std::size(kSourceName) == kRasSourceMax);
static_assert(std::size(kThresholdName) == kRasTsensLevels);

template <typename T> T syn(const RasMsg &m, size_t at)
{
    static_assert(sizeof(T) <= sizeof(m.syndrome));
    return load<T>(m.syndrome + at);
}

// The syndrome's main fields for the source, as upstream prints them.
void decode_syndrome(const RasMsg &m, char *buf, size_t n)
{
    switch (m.source) {
    case kRasSocMem:
        std::snprintf(buf, n, "address 0x%llx", (unsigned long long)syn<uint64_t>(m, 0));
        break;
    case kRasPcie:
        if (m.err_type == kRasCe)
            std::snprintf(buf, n,
                          "bad TLP %u, bad DLLP %u, replay rollover %u, replay timeout %u, "
                          "receive error %u, internal CE %u%s",
                          syn<uint32_t>(m, 0), syn<uint32_t>(m, 4), syn<uint32_t>(m, 8),
                          syn<uint32_t>(m, 12), syn<uint32_t>(m, 16), syn<uint32_t>(m, 20),
                          m.ver > 1 ? (m.syndrome[53] & 1 ? ", power break ON"
                                                          : ", power break OFF")
                                    : "");
        else if (m.err_type == kRasUe)
            std::snprintf(buf, n, "index %u, address 0x%x", m.syndrome[52], syn<uint32_t>(m, 48));
        else
            std::snprintf(buf, n,
                          "FC timeout %u, poisoned TLP %u, ECRC error %u, unsupported request "
                          "%u, completer abort %u, completion timeout %u",
                          syn<uint32_t>(m, 24), syn<uint32_t>(m, 28), syn<uint32_t>(m, 32),
                          syn<uint32_t>(m, 36), syn<uint32_t>(m, 40), syn<uint32_t>(m, 44));
        break;
    case kRasDdr:
        std::snprintf(buf, n, "instance %u, count %u, address msb 0x%x lsb 0x%x",
                      syn<uint16_t>(m, 48), syn<uint32_t>(m, 0), syn<uint16_t>(m, 44),
                      syn<uint32_t>(m, 40));
        break;
    case kRasSysBus1:
        std::snprintf(buf, n, "instance %u, %s, err_type %u", m.syndrome[24],
                      syn<uint32_t>(m, 0) ? "Slave" : "Master", syn<uint32_t>(m, 4));
        break;
    case kRasSysBus2:
        std::snprintf(buf, n, "instance %u, error code %u", m.syndrome[35], m.syndrome[32]);
        break;
    case kRasNspMem:
        std::snprintf(buf, n, "NSP ID %u, address 0x%x", m.syndrome[32], syn<uint32_t>(m, 0));
        break;
    case kRasTsens:
        std::snprintf(buf, n, "%s threshold, %d deg C", kThresholdName[syn<uint32_t>(m, 0)],
                      syn<int32_t>(m, 4));
        break;
    default: buf[0] = '\0';
    }
}

void saturating_inc(std::atomic<uint32_t> &c)
{
    uint32_t v = c.load(std::memory_order_relaxed);
    while (v != UINT32_MAX && !c.compare_exchange_weak(v, v + 1, std::memory_order_relaxed)) {
    }
}

} // namespace

ErrorOr<void> QaicDevice::ras_init()
{
    return ras_rings_.alloc(pdev, kRasNelem, kRasSlotSize, kRasSlotSize);
}

ErrorOr<void> QaicDevice::ras_reinit()
{
    {
        std::lock_guard lk(ras_lock_);
        ras_d2h_head_ = 0;
    }
    return ras_rings_.program(pdev, bar_dev, kRasChannel);
}

void QaicDevice::ras_fini()
{
    ras_rings_.free(pdev, bar_dev, kRasChannel);
}

RasCounts QaicDevice::ras_counts() const
{
    return {ce_count_.load(std::memory_order_relaxed), ue_count_.load(std::memory_order_relaxed),
            ue_nonfatal_count_.load(std::memory_order_relaxed)};
}

void QaicDevice::queue_device_reset()
{
    wq.queue(reset_work_);
}

// Runs in interrupt context (the card's firmware thread): parses, logs and counts without
// allocating; a reset is left to the workqueue.
void QaicDevice::ras_irq()
{
    // At most a ring's worth per interrupt: a card that keeps posting cannot hold the handler.
    RasMsg msgs[kRasNelem];
    unsigned count = 0;
    {
        std::lock_guard lk(ras_lock_);
        uint32_t tail = pdev.read32(bar_dev, kRasChannel + kChD2hTail);
        // As for SSR: a reset clears the tail and disables the channel; "enabled", read after
        // the tail under the lock ras_reinit() takes, vouches for it.
        if (tail >= kRasNelem || pdev.read32(bar_dev, kRasChannel + kChEnable) != 1 ||
            ras_d2h_head_ == tail)
            return;
        while (ras_d2h_head_ != tail && count < kRasNelem) {
            std::memcpy(&msgs[count++], static_cast<uint8_t *>(ras_rings_.d2h.cpu_addr) +
                                            size_t(ras_d2h_head_) * kRasSlotSize,
                        sizeof(RasMsg));
            ras_d2h_head_ = (ras_d2h_head_ + 1) % kRasNelem;
        }
        pdev.write32(bar_dev, kRasChannel + kChD2hHead, ras_d2h_head_);
    }
    bool fatal = false;
    for (unsigned i = 0; i < count; ++i) {
        const RasMsg &m = msgs[i];
        int dev = minor();
        if (m.magic != kRasMagic) {
            pr_warn("accel%d: dropping RAS message with invalid magic 0x%x", dev, m.magic);
            continue;
        }
        if (m.ver == 0 || m.ver > kRasVersion) {
            pr_warn("accel%d: dropping RAS message with invalid version %u", dev, m.ver);
            continue;
        }
        if (m.type != kRasPush) {
            pr_warn("accel%d: dropping non-PUSH RAS message (type %u)", dev, m.type);
            continue;
        }
        if (m.len != sizeof(RasMsg) - kRasHdrSize) {
            pr_warn("accel%d: dropping RAS message with invalid len %u", dev, m.len);
            continue;
        }
        if (m.err_type >= kRasErrTypeMax) {
            pr_warn("accel%d: dropping RAS message with err type %u", dev, m.err_type);
            continue;
        }
        // Upstream counts these two without a decoded line; we drop them (docs/uapi.md).
        if (m.source >= kRasSourceMax) {
            pr_warn("accel%d: dropping RAS message with unknown source %u", dev, m.source);
            continue;
        }
        if (m.source == kRasTsens && syn<uint32_t>(m, 0) >= kRasTsensLevels) {
            pr_warn("accel%d: dropping RAS message with invalid temp threshold %u", dev,
                    syn<uint32_t>(m, 0));
            continue;
        }
        const char *cls = kErrClass[m.err_type];
        if (m.source == kRasTsens)
            cls = m.err_type != kRasCe ? "Fatal" : syn<uint32_t>(m, 0) ? "Critical" : "Warning";
        char syndrome[256];
        decode_syndrome(m, syndrome, sizeof(syndrome));
        if (m.err_type == kRasUe)
            pr_err("accel%d: RAS event: class %s: %s error from %s, threshold %u, "
                   "syndrome: %s",
                   dev, cls, kErrTypeName[m.err_type], kSourceName[m.source],
                   m.err_threshold, syndrome);
        else
            pr_warn("accel%d: RAS event: class %s: %s error from %s, threshold %u, "
                    "syndrome: %s",
                    dev, cls, kErrTypeName[m.err_type], kSourceName[m.source],
                    m.err_threshold, syndrome);
        switch (m.err_type) {
        case kRasCe: saturating_inc(ce_count_); break;
        case kRasUe: saturating_inc(ue_count_); fatal = true; break;
        default: saturating_inc(ue_nonfatal_count_); break;
        }
    }
    // Uncorrectable errors are fatal: the device is reset (upstream: mhi_soc_reset).
    if (fatal) {
        pr_err("accel%d: fatal RAS error: resetting the device", minor());
        queue_device_reset();
    }
}

} // namespace qaic
