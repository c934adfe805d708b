// SPDX-License-Identifier: GPL-2.0-only
// Subsystem restart: the SSR channel's events. A DBC in restart fails its jobs with -EPIPE
// and refuses work; once powered up again the device has released it, and so do we: the
// user must activate again. Before that the device may offer the crashed subsystem's dump,
// which the driver reads chunk by chunk and keeps as a device coredump (upstream qaic_ssr.c).
#include "drivers/accel/qaic/qaic.h"
#include "kernel/alloc.h"
#include "kernel/bytes.h"
#include "kernel/printk.h"

#include <algorithm>
#include <cstring>

namespace qaic {
namespace {

using namespace aic100;
using kernel::load;
constexpr uint32_t kSsrNelem = 16;
// Bounds on what a device may make the driver allocate for one dump: its table (upstream
// allocates whatever the device asks) and the whole file.
constexpr uint64_t kDumpMaxTable = uint64_t(1) << 20;
constexpr uint64_t kDumpMaxFile = uint64_t(64) << 20;

} // namespace

ErrorOr<void> QaicDevice::ssr_init()
{
    TRY(kernel::try_resize(dump_inbox_, kSsrSlotSize));
    TRY(kernel::try_resize(dump_msg_, kSsrSlotSize));
    return ssr_rings_.alloc(pdev, kSsrNelem, kSsrSlotSize, kSsrSlotSize);
}

ErrorOr<void> QaicDevice::ssr_reinit()
{
    // A reset ends any collection: the device forgot it.
    {
        std::lock_guard dl(dump_lock_);
        if (dump_.active)
            pr_warn("accel%d: crash dump of DBC %u lost: the device was reset", minor(),
                    dump_.dbc_id);
        dump_ = DumpXfer{};
        std::lock_guard il(inbox_lock_);
        inbox_full_ = inbox_overrun_ = false;
    }
    {
        std::lock_guard lk(ssr_lock_);
        ssr_h2d_tail_ = ssr_d2h_head_ = 0;
    }
    return ssr_rings_.program(pdev, bar_dev, kSsrChannel);
}

bool QaicDevice::ssr_send_locked(const void *msg, size_t len)
{
    uint32_t head = pdev.read32(bar_dev, kSsrChannel + kChH2dHead);
    if (head >= kSsrNelem || ring_free(head, ssr_h2d_tail_, kSsrNelem) == 0)
        return false;
    uint8_t *slot = static_cast<uint8_t *>(ssr_rings_.h2d.cpu_addr) +
                    size_t(ssr_h2d_tail_) * kSsrSlotSize;
    std::memcpy(slot, msg, len);
    std::memset(slot + len, 0, kSsrSlotSize - len);
    ssr_h2d_tail_ = (ssr_h2d_tail_ + 1) % kSsrNelem;
    pdev.write32(bar_dev, kSsrChannel + kChH2dTail, ssr_h2d_tail_);
    return true;
}

bool QaicDevice::dump_in_progress()
{
    std::lock_guard dl(dump_lock_);
    return dump_.active;
}

void QaicDevice::ssr_fini()
{
    ssr_rings_.free(pdev, bar_dev, kSsrChannel);
}

// Runs in interrupt context (the card's firmware thread): bookkeeping, the DBC's release, and
// the acknowledgements.
void QaicDevice::ssr_irq()
{
    // Events in the ring's order, each with what it is; at most a ring's worth.
    SsrEventMsg events[kSsrNelem];
    unsigned nevents = 0;
    bool dump_msgs = false;
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
            const uint8_t *slot = static_cast<uint8_t *>(ssr_rings_.d2h.cpu_addr) +
                                  size_t(ssr_d2h_head_) * kSsrSlotSize;
            ssr_d2h_head_ = (ssr_d2h_head_ + 1) % kSsrNelem;
            if (load<uint32_t>(slot) == kSsrEvent) {
                std::memcpy(&events[nevents++], slot, sizeof(SsrEventMsg));
                continue;
            }
            // A dump message, for the work: one at a time, as the protocol goes (each
            // answers a request of ours); one more before it was handled breaks it.
            std::lock_guard il(inbox_lock_);
            if (inbox_full_) {
                inbox_overrun_ = true;
            } else {
                std::memcpy(dump_inbox_.data(), slot, kSsrSlotSize);
                inbox_full_ = true;
            }
            dump_msgs = true;
        }
        pdev.write32(bar_dev, kSsrChannel + kChD2hHead, ssr_d2h_head_);
    }
    if (dump_msgs)
        wq.queue(dump_work_);
    for (unsigned i = 0; i < nevents; ++i) {
        const SsrEventMsg &ev = events[i];
        if (ev.dbc_id >= num_dbc())
            continue;
        uint32_t ack_event = ev.event;
        // The device powers the subsystem up again while its dump is still being read: the
        // dump is abandoned and the event NACKed, as upstream does (the device ends the
        // restart all the same). Once DONE was sent the reading is over: the answer to it
        // came before this event and waits for the work, which keeps the dump.
        if (ev.event == kSsrAfterPowerUp) {
            std::lock_guard dl(dump_lock_);
            if (dump_.active && dump_.dbc_id == ev.dbc_id && !dump_.reading_done) {
                pr_warn("accel%d: crash dump of DBC %u abandoned: the subsystem powered up "
                        "during the transfer",
                        minor(), ev.dbc_id);
                dump_ = DumpXfer{};
                ack_event = kSsrNack;
            }
        }
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
        SsrEventRsp ack{kSsrEventRsp, ev.dbc_id, ack_event};
        std::lock_guard lk(ssr_lock_);
        if (!ssr_send_locked(&ack, sizeof(ack)))
            pr_warn("accel%d: SSR channel full: event %u of DBC %u not acknowledged", minor(),
                    ev.event, ev.dbc_id);
    }
}

// ---------------------------------------------------------------------------- crash dumps

void QaicDevice::dump_work()
{
    for (;;) {
        bool overrun;
        {
            std::lock_guard il(inbox_lock_);
            if (!inbox_full_)
                return;
            std::swap(dump_inbox_, dump_msg_);
            inbox_full_ = false;
            overrun = std::exchange(inbox_overrun_, false);
        }
        std::lock_guard dl(dump_lock_);
        if (overrun && dump_.active) {
            dump_abandon("the device sent dump messages nobody asked for");
            continue;
        }
        if (auto r = dump_message(dump_msg_.data()); r.is_error())
            dump_abandon("the device's dump transfer broke the protocol");
    }
}

// Upstream resets the device when a collection under way goes wrong: the best effort was
// made. Caller holds dump_lock_.
void QaicDevice::dump_abandon(const char *why)
{
    pr_err("accel%d: crash dump of DBC %u abandoned (%s): resetting the device", minor(),
           dump_.dbc_id, why);
    dump_ = DumpXfer{};
    queue_device_reset();
}

// Asks for the next chunk: of the table, then of each region; DEBUG_TRANSFER_DONE after the
// last. Caller holds dump_lock_.
ErrorOr<void> QaicDevice::dump_next_read()
{
    DumpXfer &d = dump_;
    SsrMemoryRead rd{};
    rd.hdr = {kSsrMemoryRead, sizeof(rd), d.dbc_id};
    if (d.tbl_off < d.tbl_len) {
        rd.addr = d.tbl_dev + d.tbl_off;
        rd.len = std::min<uint64_t>(kSsrMemReadChunk, d.tbl_len - d.tbl_off);
    } else if (d.file_off < d.file.size()) {
        SsrDumpTableEntry e = load<SsrDumpTableEntry>(d.table.data() + d.entry * sizeof(e));
        rd.addr = e.mem_base + d.entry_off;
        rd.len = std::min<uint64_t>(kSsrMemReadChunk, e.len - d.entry_off);
    } else {
        SsrDebugTransferDone done{{kSsrDebugTransferDone, sizeof(done), d.dbc_id}, 0};
        std::lock_guard lk(ssr_lock_);
        if (!ssr_send_locked(&done, sizeof(done)))
            return Error(-EIO);
        d.reading_done = true;
        return {};
    }
    d.asked = rd.len;
    std::lock_guard lk(ssr_lock_);
    if (!ssr_send_locked(&rd, sizeof(rd)))
        return Error(-EIO);
    return {};
}

// One message of the device's dump transfer. Caller holds dump_lock_. An error abandons the
// collection under way; messages that fit no collection are dropped.
ErrorOr<void> QaicDevice::dump_message(const uint8_t *msg)
{
    DumpXfer &d = dump_;
    SsrDumpHdr hdr = load<SsrDumpHdr>(msg);
    if (hdr.cmd == kSsrDebugTransferInfo) {
        SsrDebugTransferInfo info = load<SsrDebugTransferInfo>(msg);
        // Ready, or not (ret 1): upstream's checks, and ours on the size.
        std::vector<uint8_t> table;
        bool ok = false;
        const char *why = "";
        if (hdr.len != sizeof(info) || hdr.dbc_id >= num_dbc())
            why = "a malformed offer";
        else if (d.active && !d.reading_done)
            why = "another dump is being collected";
        else if (dbcs[hdr.dbc_id]->sysfs_state.load() != kDbcStateBeforePowerUp)
            why = "the DBC is not in BEFORE_POWER_UP";
        else if (info.tbl_len == 0 || info.tbl_len % sizeof(SsrDumpTableEntry) ||
                 info.tbl_len > kDumpMaxTable)
            why = "a table of a bad size";
        else if (kernel::try_resize(table, info.tbl_len).is_error())
            why = "no memory for the table";
        else
            ok = true;
        if (!ok) {
            pr_warn("accel%d: crash dump of DBC %u refused: %s (table of %llu bytes)", minor(),
                    hdr.dbc_id, why, (unsigned long long)info.tbl_len);
        } else {
            // A dump whose DONE was never answered: the device has moved on without it.
            if (d.active)
                pr_warn("accel%d: crash dump of DBC %u dropped: its DONE was not answered",
                        minor(), d.dbc_id);
            d = DumpXfer{};
            d.table = std::move(table);
            d.active = true;
            d.dbc_id = hdr.dbc_id;
            d.tbl_dev = info.tbl_addr;
            d.tbl_len = info.tbl_len;
            qaic_dbg(kernel::kDebugCard, "DBC %u: collecting a crash dump (table of %llu bytes)",
                     hdr.dbc_id, (unsigned long long)info.tbl_len);
        }
        if (hdr.dbc_id >= num_dbc())
            return {};
        SsrDebugTransferInfoRsp rsp{{kSsrDebugTransferInfoRsp, sizeof(rsp), hdr.dbc_id},
                                    ok ? 0u : 1u};
        {
            std::lock_guard lk(ssr_lock_);
            if (!ssr_send_locked(&rsp, sizeof(rsp)))
                return ok ? Error(-EIO) : ErrorOr<void>{};
        }
        return ok ? dump_next_read() : ErrorOr<void>{};
    }
    if (!d.active)
        return {}; // nothing asked: a stale or stray message
    if (hdr.dbc_id != d.dbc_id)
        return Error(-EINVAL);
    if (hdr.cmd == kSsrDebugTransferDoneRsp) {
        if (!d.reading_done)
            return Error(-EINVAL);
        uint32_t ret = load<SsrDebugTransferDoneRsp>(msg).ret;
        DumpXfer x = std::exchange(d, DumpXfer{});
        if (ret != 0) {
            pr_warn("accel%d: crash dump of DBC %u discarded: the device says it is bad (%u)",
                    minor(), x.dbc_id, ret);
            return {};
        }
        if (!online) // the device is going: nobody is left to read it
            return {};
        uint64_t size = x.file.size();
        auto id = kernel::devcoredumps().add(this, std::move(x.file));
        // As devcoredump, quietly: one dump per device waits for its reader (-EBUSY).
        if (id.is_error())
            qaic_dbg(kernel::kDebugCard, "DBC %u: crash dump (%llu bytes) discarded (%d)",
                     x.dbc_id, (unsigned long long)size, id.code());
        else
            qaic_dbg(kernel::kDebugCard, "DBC %u: crash dump kept as devcd%u (%llu bytes)",
                     x.dbc_id, id.value(), (unsigned long long)size);
        return {};
    }
    if (hdr.cmd != kSsrMemoryReadRsp || d.reading_done)
        return Error(-EINVAL);
    // The data: at least a byte (no progress would loop), at most what was asked.
    if (hdr.len < sizeof(SsrMemoryReadRsp) || hdr.len > kSsrSlotSize)
        return Error(-EINVAL);
    uint64_t n = hdr.len - sizeof(SsrMemoryReadRsp);
    if (n == 0 || n > d.asked)
        return Error(-EINVAL);
    const uint8_t *data = msg + sizeof(SsrMemoryReadRsp);
    if (d.tbl_off < d.tbl_len) {
        std::memcpy(d.table.data() + d.tbl_off, data, n);
        d.tbl_off += n;
        if (d.tbl_off == d.tbl_len) {
            // The whole table: every region non-empty, the file within bounds.
            uint64_t size = sizeof(SsrDumpFileMeta) + d.tbl_len;
            for (uint64_t at = 0; at < d.tbl_len; at += sizeof(SsrDumpTableEntry)) {
                SsrDumpTableEntry e = load<SsrDumpTableEntry>(d.table.data() + at);
                if (e.len == 0 || e.len > kDumpMaxFile - size)
                    return Error(-EINVAL);
                size += e.len;
            }
            TRY(kernel::try_resize(d.file, size));
            SsrDumpFileMeta meta{kSsrDumpMagic, kSsrDumpVersion, size, d.tbl_len};
            std::memcpy(d.file.data(), &meta, sizeof(meta));
            std::memcpy(d.file.data() + sizeof(meta), d.table.data(), d.tbl_len);
            d.file_off = sizeof(meta) + d.tbl_len;
        }
    } else {
        std::memcpy(d.file.data() + d.file_off, data, n);
        d.file_off += n;
        d.entry_off += n;
        SsrDumpTableEntry e = load<SsrDumpTableEntry>(d.table.data() + d.entry * sizeof(e));
        if (d.entry_off == e.len) {
            ++d.entry;
            d.entry_off = 0;
        }
    }
    return dump_next_read();
}

ErrorOr<kernel::CoredumpInfo> QaicDevice::coredump() const
{
    return kernel::devcoredumps().find(this);
}

ErrorOr<size_t> QaicDevice::coredump_read(unsigned id, uint64_t off, std::span<uint8_t> out) const
{
    return kernel::devcoredumps().read(id, off, out);
}

void QaicDevice::coredump_dismiss(unsigned id) const
{
    kernel::devcoredumps().dismiss(id);
}

ErrorOr<std::vector<uint8_t>> QaicDevice::coredump_take() const
{
    return kernel::devcoredumps().take(this);
}

} // namespace qaic
