// SPDX-License-Identifier: GPL-2.0-only
// Subsystem restart: the SSR channel's events. A DBC in restart fails its jobs with -EPIPE
// and refuses work; once powered up again the device has released it, and so do we: the
// user must activate again.
#include "drivers/accel/qaic/qaic.h"
#include "kernel/printk.h"

#include <cstring>

namespace qaic {
namespace {

using namespace aic100;
constexpr uint32_t kSsrNelem = 16;

} // namespace

ErrorOr<void> QaicDevice::ssr_init()
{
    return ssr_rings_.alloc(pdev, kSsrNelem, kSsrSlotSize, kSsrSlotSize);
}

ErrorOr<void> QaicDevice::ssr_reinit()
{
    {
        std::lock_guard lk(ssr_lock_);
        ssr_h2d_tail_ = ssr_d2h_head_ = 0;
    }
    return ssr_rings_.program(pdev, bar_dev, kSsrChannel);
}

void QaicDevice::ssr_fini()
{
    ssr_rings_.free(pdev, bar_dev, kSsrChannel);
}

// Runs in interrupt context (the card's firmware thread): bookkeeping, the DBC's release, and
// the acknowledgements.
void QaicDevice::ssr_irq()
{
    std::vector<SsrEventMsg> events;
    {
        std::lock_guard lk(ssr_lock_);
        uint32_t tail = pdev.read32(bar_dev, kSsrChannel + kChD2hTail);
        // A reset disables the channel and clears its tail: the ring then holds only stale
        // events, which must not be replayed. Enable is read after the tail, under ssr_lock_,
        // which ssr_reinit() takes to rewind our head before enabling: "enabled" vouches
        // for the tail.
        if (tail >= kSsrNelem || pdev.read32(bar_dev, kSsrChannel + kChEnable) != 1)
            return;
        // Most control MSIs carry no SSR event: the head register is written only when events
        // were taken (a write is a doorbell to the firmware, which wakes it).
        if (ssr_d2h_head_ == tail)
            return;
        while (ssr_d2h_head_ != tail) {
            SsrEventMsg ev;
            std::memcpy(&ev, static_cast<uint8_t *>(ssr_rings_.d2h.cpu_addr) +
                                 size_t(ssr_d2h_head_) * kSsrSlotSize,
                        sizeof(ev));
            events.push_back(ev);
            ssr_d2h_head_ = (ssr_d2h_head_ + 1) % kSsrNelem;
        }
        pdev.write32(bar_dev, kSsrChannel + kChD2hHead, ssr_d2h_head_);
    }
    for (const SsrEventMsg &ev : events) {
        if (ev.cmd != kSsrEvent || ev.dbc_id >= num_dbc())
            continue;
        Dbc &dbc = *dbcs[ev.dbc_id];
        qaic_dbg(kernel::kDebugCard, "DBC %u: subsystem restart event %u", ev.dbc_id, ev.event);
        if (ev.event >= kSsrBeforeShutdown && ev.event <= kSsrAfterPowerUp)
            set_dbc_state(dbc, DbcSysfsState(ev.event), true); // event codes are the states
        if (ev.event == kSsrBeforeShutdown) {
            std::lock_guard fin(dbc.finish_lock);
            JobList jobs;
            {
                auto d = dbc.state.lock();
                d->in_ssr = true;
                if (d->sched)
                    jobs = d->sched->take_all();
                dbc.update_busy(*d);
                d->req_tail = d->rsp_head = 0;
            }
            finish_jobs(jobs, -EPIPE);
        }
        // The device releases the DBC once this last event is acknowledged; release ours
        // first, so an ACTIVATE right after the ack finds both sides idle. (Safe here: the
        // engine is stopped, and unmapping waits only for DMA copies, never for this thread.)
        if (ev.event == kSsrAfterPowerUp)
            release_dbc(dbc, -EPIPE);
        SsrEventRsp ack{kSsrEventRsp, ev.dbc_id, ev.event};
        std::lock_guard lk(ssr_lock_);
        std::memcpy(static_cast<uint8_t *>(ssr_rings_.h2d.cpu_addr) + size_t(ssr_h2d_tail_) * kSsrSlotSize,
                    &ack, sizeof(ack));
        ssr_h2d_tail_ = (ssr_h2d_tail_ + 1) % kSsrNelem;
        pdev.write32(bar_dev, kSsrChannel + kChH2dTail, ssr_h2d_tail_);
    }
}

} // namespace qaic
