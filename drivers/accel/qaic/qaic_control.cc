// SPDX-License-Identifier: GPL-2.0-only
// The control path: the control channel to the firmware, MANAGE (the user's transactions
// encoded to wire messages, sent, and the responses decoded back over the user's buffer),
// DBC activation bookkeeping and TERMINATE when a user goes away.
#include "drivers/accel/qaic/qaic.h"
#include "drivers/accel/qaic/qaic_manage.h"
#include "kernel/bytes.h"
#include "kernel/mm.h"
#include "kernel/printk.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <utility>

namespace qaic {
namespace {

using namespace aic100;
using kernel::append;
using kernel::load;

constexpr uint32_t kCtrlNelem = 16;

void write64(kernel::PciDev &pdev, unsigned bar, uint64_t reg, uint64_t value)
{
    pdev.write32(bar, reg, uint32_t(value));
    pdev.write32(bar, reg + 4, uint32_t(value >> 32));
}

} // namespace

// ---------------------------------------------------------------------------- channel

ErrorOr<void> ChannelRings::alloc(kernel::PciDev &pdev, uint32_t n, uint32_t h2d_slot_size,
                                  uint32_t d2h_slot_size)
{
    h2d = TRY(pdev.dma_alloc_coherent(size_t(n) * h2d_slot_size));
    auto r = pdev.dma_alloc_coherent(size_t(n) * d2h_slot_size);
    if (r.is_error()) {
        pdev.dma_free_coherent(h2d);
        return r.error();
    }
    d2h = r.value();
    nelem = n;
    return {};
}

ErrorOr<void> ChannelRings::program(kernel::PciDev &pdev, unsigned bar, uint64_t base) const
{
    write64(pdev, bar, base + kChH2dBaseLo, h2d.dma_addr);
    write64(pdev, bar, base + kChD2hBaseLo, d2h.dma_addr);
    pdev.write32(bar, base + kChNelem, nelem);
    pdev.write32(bar, base + kChEnable, 1);
    if (pdev.read32(bar, base + kChEnable) != 1)
        return Error(-EIO);
    return {};
}

void ChannelRings::free(kernel::PciDev &pdev, unsigned bar, uint64_t base)
{
    pdev.write32(bar, base + kChEnable, 0);
    pdev.dma_free_coherent(h2d);
    pdev.dma_free_coherent(d2h);
}

ErrorOr<void> ControlChannel::init()
{
    return rings_.alloc(qdev_.pdev, kCtrlNelem, kCtrlReqSlotSize, kCtrlRspSlotSize);
}

ErrorOr<void> ControlChannel::start()
{
    TRY(reinit());
    programmed_.store(true, std::memory_order_release);
    return {};
}

ErrorOr<void> ControlChannel::reinit()
{
    std::lock_guard pl(program_lock_);
    {
        std::lock_guard lk(lock_);
        h2d_tail_ = d2h_head_ = 0;
    }
    auto r = rings_.program(qdev_.pdev, qdev_.bar_dev, kCtrlChannel);
    programs_.fetch_add(1, std::memory_order_acq_rel);
    return r;
}

void ControlChannel::reset_seen(uint64_t seen)
{
    auto hook = test_hooks.reset_seen.load();
    if (hook)
        hook(qdev_, 0);
    {
        std::lock_guard pl(program_lock_);
        if (programs_.load(std::memory_order_acquire) == seen)
            qdev_.device_reset_detected();
    }
    if (hook)
        hook(qdev_, 1);
}

void ControlChannel::fini()
{
    programmed_.store(false, std::memory_order_release);
    qdev_.pdev.write32(qdev_.bar_dev, kCtrlChannel + kChEnable, 0);
    fail_all(-ENODEV);
    rings_.free(qdev_.pdev, qdev_.bar_dev, kCtrlChannel);
}

ControlChannel::ControlChannel(QaicDevice &qdev)
    : qdev_(qdev), late_work_([this] {
          std::lock_guard manage_lock(qdev_.manage_lock);
          run_late_answers();
      })
{
}

void ControlChannel::fail_all(int err)
{
    bool late = false;
    {
        std::lock_guard lk(lock_);
        epoch_.fetch_add(1, std::memory_order_acq_rel);
        for (auto &[seq, w] : waiters_) {
            w->err = err;
            w->done = true;
        }
        waiters_.clear();
        late = !late_.empty();
        while (!late_.empty()) {
            auto node = late_.extract(late_.begin());
            node.mapped().err = err;
            node.key() = ++arrivals_;
            late_ready_.insert(std::move(node));
        }
    }
    wq_.wake_up_all();
    if (late)
        queue_late_answers();
}

void ControlChannel::queue_late_answers()
{
    qdev_.wq.queue(late_work_);
}

void ControlChannel::run_late_answers()
{
    for (;;) {
        LateMap::node_type next;
        {
            std::lock_guard lk(lock_);
            if (late_ready_.empty())
                return;
            next = late_ready_.extract(late_ready_.begin());
        }
        Late &l = next.mapped();
        ErrorOr<std::vector<uint8_t>> answer = l.err ? ErrorOr<std::vector<uint8_t>>(Error(l.err))
                                                     : ErrorOr<std::vector<uint8_t>>(std::move(l.rsp));
        // As on the workqueue, where they ran before: out of the sweep, and an exception is
        // logged, not passed to whichever MANAGE runs them.
        kernel::NoFailNthAlloc not_the_callers;
        try {
            l.handler(std::move(answer));
        } catch (...) {
            (void)kernel::errno_of_exception("late control answer");
        }
    }
}

ErrorOr<void> ControlChannel::check_device()
{
    uint64_t programs = programs_.load(std::memory_order_acquire);
    uint32_t enabled = qdev_.pdev.read32(qdev_.bar_dev, kCtrlChannel + kChEnable);
    if (enabled == kRegGone) {
        qdev_.mark_gone();
        return REJECT(-ENODEV, "the control channel reads all ones: the device is gone");
    }
    if (enabled != 1) {
        reset_seen(programs);
        return REJECT(-EIO, "the device forgot the control channel: it was reset");
    }
    return {};
}

ErrorOr<std::vector<uint8_t>> ControlChannel::transact(std::vector<uint8_t> msg, uint64_t *epoch,
                                                        LateAnswer late, kernel::Sleep how)
{
    kernel::PciDev &pdev = qdev_.pdev;
    auto timeout = std::chrono::microseconds(qdev_.params.control_resp_timeout_us);
    Waiter w;
    uint32_t seq;
    // The table entries this message may need, and room for its answer, made before it
    // goes: once the device has it, nothing may fail for memory (an answer nobody waits for,
    // or a late answer lost, would leave the device running what the caller was told
    // failed), and the MSI's handler that takes the answer in allocates nothing.
    decltype(waiters_)::node_type waiter_node;
    LateMap::node_type late_node;
    TRY(kernel::try_alloc([&] {
        decltype(waiters_) w1;
        LateMap l1;
        w1.try_emplace(0);
        waiter_node = w1.extract(w1.begin());
        w.rsp.reserve(kCtrlRspSlotSize);
        if (late) {
            l1.try_emplace(0);
            late_node = l1.extract(l1.begin());
            late_node.mapped().rsp.reserve(kCtrlRspSlotSize);
        }
    }));
    // A reset whose interrupt was lost is found here, before the message goes nowhere.
    TRY(check_device());
    {
        std::unique_lock lk(lock_);
        // The firmware consumes slots quickly; a full ring means it stopped answering.
        uint32_t head = 0;
        auto room = [&] {
            head = pdev.read32(qdev_.bar_dev, kCtrlChannel + kChH2dHead);
            return head == kRegGone || ring_free(head, h2d_tail_, rings_.nelem) > 0;
        };
        if (!room()) {
            lk.unlock();
            auto r = wq_.wait_event_timeout([&] { return room(); }, timeout, how);
            lk.lock();
            if (r.code() == -EINTR)
                return REJECT(-EINTR, "the caller was killed waiting for room in the control "
                                      "ring");
            if (r.is_error())
                return REJECT(r.code(), "no room in the control ring: the firmware takes no "
                                        "messages");
        }
        if (head == kRegGone) {
            lk.unlock();
            qdev_.mark_gone();
            return REJECT(-ENODEV, "the control ring reads all ones: the device is gone");
        }
        // Checked last, under the lock the waiter is registered with, after any wait for
        // room (a reset makes room): a reset's fail_all() runs either after this waiter is
        // registered, and fails it, or before, and then online is false here.
        if (!qdev_.online)
            return REJECT(-ENODEV, "the device went offline (reset or gone)");
        seq = ++seq_;
        frame_message(msg, seq, crc_required());
        qaic_dbg(kernel::kDebugControl, "control message %u sent: %zu bytes, user %u", seq,
                 msg.size(), load<WireMsgHdr>(msg.data()).handle);
        std::memcpy(static_cast<uint8_t *>(rings_.h2d.cpu_addr) +
                        size_t(h2d_tail_) * kCtrlReqSlotSize,
                    msg.data(), msg.size());
        h2d_tail_ = (h2d_tail_ + 1) % rings_.nelem;
        waiter_node.key() = seq;
        waiter_node.mapped() = &w;
        waiters_.insert(std::move(waiter_node));
        if (epoch)
            *epoch = epoch_.load(std::memory_order_relaxed);
        pdev.write32(qdev_.bar_dev, kCtrlChannel + kChH2dTail, h2d_tail_);
    }
    // A device model may serve the message on this thread meanwhile (the simulator's
    // firmware does): no thread wakeup on either side. Real hardware does its own work.
    if (qdev_.params.control_busy_poll)
        pdev.busy_poll(kBusyPollControl, [&] { return w.done.load(); },
                       std::chrono::steady_clock::now() + timeout);
    auto r = wq_.wait_event_timeout([&] { return w.done.load(); }, timeout, how);
    if (r.is_error()) {
        // Timed out or interrupted (the caller's process died). Silence may mean lost
        // interrupts: what the device answered meanwhile is drained as its MSI would have
        // (as NVMe's timeout handler polls its queue), this message's answer among them, or
        // the answers left in the ring fill it and the device, waiting for room, answers
        // nothing more (found by uapi_fuzz). It may also mean a reset or a removal whose
        // interrupt was lost: irq() finds those too, and fails this waiter.
        irq();
        std::unique_lock lk(lock_);
        if (!w.done) {
            // Not answered yet: the answer, if it comes, goes to late. Under the lock irq()
            // takes: an answer finds either the waiter or its late entry.
            waiters_.erase(seq);
            if (late) {
                late_node.key() = seq;
                late_node.mapped().handler = std::move(late);
                late_.insert(std::move(late_node));
            }
            lk.unlock();
            TRY(check_device());
            if (r.code() == -EINTR)
                return REJECT(-EINTR, "control message %u: the caller was killed waiting for "
                                      "its answer", seq);
            return REJECT(r.code(), "control message %u: no answer in %lld us", seq,
                          (long long)timeout.count());
        }
        if (!w.err && r.code() == -ETIMEDOUT)
            pr_warn("control message %u was answered, but no interrupt came within the timeout",
                    seq);
    }
    if (w.err)
        return REJECT(w.err, "control message %u: the device was %s before it answered", seq,
                      w.err == -ENODEV ? "removed" : "reset");
    TRY(check_response(w.rsp, crc_required()));
    qaic_dbg(kernel::kDebugControl, "control message %u answered (%zu bytes)", seq,
             w.rsp.size());
    return std::move(w.rsp);
}

void ControlChannel::irq()
{
    if (!programmed_.load(std::memory_order_acquire))
        return; // not our channel yet (the device's boot MSI): nothing to drain or to miss
    kernel::PciDev &pdev = qdev_.pdev;
    uint64_t programs = programs_.load(std::memory_order_acquire);
    uint32_t enabled = pdev.read32(qdev_.bar_dev, kCtrlChannel + kChEnable);
    if (enabled == kRegGone) {
        qdev_.mark_gone();
        return;
    }
    if (enabled != 1) {
        // The device forgot our channel: it was reset under us.
        reset_seen(programs);
        return;
    }
    bool late = false;
    {
        std::lock_guard lk(lock_);
        uint32_t tail = pdev.read32(qdev_.bar_dev, kCtrlChannel + kChD2hTail);
        if (tail >= rings_.nelem)
            return;
        while (d2h_head_ != tail) {
            const uint8_t *slot =
                static_cast<const uint8_t *>(rings_.d2h.cpu_addr) + size_t(d2h_head_) * kCtrlRspSlotSize;
            auto h = load<WireMsgHdr>(slot);
            // The header's len is the device's word: never read past the slot.
            uint32_t len = std::min<uint32_t>(std::max<uint32_t>(h.len, sizeof(h)), kCtrlRspSlotSize);
            // Into the room each message made for its answer: no allocation here.
            if (auto it = waiters_.find(h.sequence_number); it != waiters_.end()) {
                it->second->rsp.assign(slot, slot + len);
                it->second->done = true;
                waiters_.erase(it);
            } else if (auto lt = late_.find(h.sequence_number); lt != late_.end()) {
                auto node = late_.extract(lt);
                node.mapped().rsp.assign(slot, slot + len);
                node.key() = ++arrivals_;
                late_ready_.insert(std::move(node));
                late = true;
            } // else: a late answer nobody needs
            d2h_head_ = (d2h_head_ + 1) % rings_.nelem;
        }
        pdev.write32(qdev_.bar_dev, kCtrlChannel + kChD2hHead, d2h_head_);
    }
    wq_.wake_up_all();
    if (late)
        queue_late_answers();
}

// ---------------------------------------------------------------------------- MANAGE

namespace {

// What one MANAGE call set in motion, released whatever the outcome: with the call, or, when
// the call timed out (or its process died) on a message that offered rings or gave DBCs
// back, once that message's late answer has been dealt with.
struct ManageCtx {
    QaicDevice &qdev;
    uint32_t usr; // the user's handle: the file may be closed before a late answer comes
    uint64_t epoch = 0; // the control channel's epoch when the first message was sent
    // DMA_XFER: bounce copy of the user's data, mapped for the device. Unmapped in the
    // destructor's body, before the members (and so the pages) go.
    PagePool::Pages bounce;
    kernel::SgTable bounce_sgt;
    bool bounce_mapped = false;
    size_t next_pair = 0; // first address/size pair not yet sent
    uint32_t xfer_tag = 0;
    uint32_t chunk_id = 0;
    // ACTIVATE: the ring buffers offered to the device, in request order; an entry taken over
    // by a DBC is cleared, the rest are freed with the context.
    std::vector<kernel::DmaCoherent> queues;
    std::vector<uint32_t> queue_nelem; // each ring's queue_size: its buffer is page-rounded
    std::vector<QaicDevice::DbcRuntime> runtimes; // each ring's scheduler, made ahead
    size_t next_queue = 0; // the next activation answer takes this one
    // DEACTIVATE: the DBCs asked for, each answered at most once.
    std::vector<uint32_t> deactivating;

    ManageCtx(QaicDevice &q, uint32_t u) : qdev(q), usr(u) {}
    ~ManageCtx()
    {
        if (bounce_mapped)
            qdev.pdev.dma_unmap_sgtable(bounce_sgt, kernel::DmaDirection::kToDevice);
        for (kernel::DmaCoherent &q : queues)
            if (q.cpu_addr)
                qdev.pdev.dma_free_coherent(q);
    }
    // Whether the first message changed what the device runs for users.
    bool changes_dbcs() const { return !queues.empty() || !deactivating.empty(); }
};

std::atomic<uint32_t> g_chunk_ids{0};

// Copies the user's data into bounce pages mapped for the device. Called before the manage
// lock is taken: the user's memory may fault slowly, and only this call may wait for it.
ErrorOr<void> prepare_dma_xfer(ManageCtx &ctx, const qaic_manage_trans_dma_xfer &t)
{
    uint64_t end;
    // pad is not checked, as upstream does not: Qualcomm's runtime puts its count (1) there.
    if (t.size == 0)
        return REJECT(-EINVAL, "DMA_XFER: size is 0");
    if (__builtin_add_overflow(t.addr, t.size, &end))
        return REJECT(-EINVAL, "DMA_XFER: addr %#llx + size %llu overflows",
                      (unsigned long long)t.addr, (unsigned long long)t.size);
    if (!ctx.bounce.empty())
        return REJECT(-EINVAL, "a second DMA_XFER: one per message");
    auto size = kernel::page_align(t.size);
    if (!size)
        return REJECT(-EINVAL, "DMA_XFER: size %llu overflows when rounded up to a page",
                      (unsigned long long)t.size);
    // Chunks of at most 2^dma_xfer_chunk_order pages: many address/size pairs for big
    // transfers, which is what makes multi-message transfers happen.
    ctx.bounce = TRY(ctx.qdev.pool->alloc(*size, ctx.qdev.params.dma_xfer_chunk_order,
                                          PagePool::Backing::kPrivate));
    uint64_t done = 0;
    for (const PagePool::Chunk &c : ctx.bounce.chunks()) {
        uint64_t len = std::min<uint64_t>(c.length, t.size - done);
        TRY(kernel::copy_from_user(ctx.bounce.addr(c), kernel::UserPtr<const void>(t.addr + done),
                                   len));
        ctx.bounce_sgt.entries.push_back({ctx.bounce.addr(c), len, 0});
        done += len;
    }
    TRY(ctx.qdev.pdev.dma_map_sgtable(ctx.bounce_sgt, kernel::DmaDirection::kToDevice));
    ctx.bounce_mapped = true;
    ctx.xfer_tag = t.tag;
    return {};
}

// Upstream keeps this much of a request free after a DMA_XFER's pairs, for the transactions
// that follow it in the message.
constexpr uint32_t kDmaXferSpare = 1024;

// Appends the pairs not sent yet to msg as one DMA_XFER_TO_DEV, as many as upstream puts in
// one request: up to 64 KiB, keeping kDmaXferSpare bytes free when they do not all fit. The
// rest go in further messages, each as full, once the firmware asks (DMA_XFER_CONT).
ErrorOr<void> add_dma_xfer(ManageCtx &ctx, WireMsg &msg)
{
    uint32_t room = msg.room();
    if (room < sizeof(WireDmaXfer) + sizeof(WireAddrSize))
        return REJECT(-ENOMEM, "DMA_XFER: the message has %u bytes left, too few for a pair",
                      room);
    size_t left = ctx.bounce_sgt.entries.size() - ctx.next_pair;
    size_t fit = room - sizeof(WireDmaXfer) < kDmaXferSpare + sizeof(WireAddrSize)
                     ? 1
                     : (room - sizeof(WireDmaXfer) - kDmaXferSpare) / sizeof(WireAddrSize);
    size_t n = std::min(left, fit);
    bool more = n < left;
    if (more && !ctx.chunk_id)
        ctx.chunk_id = 1 + g_chunk_ids.fetch_add(1) % 0x7fffffff;
    std::vector<uint8_t> t;
    WireDmaXfer x{{QAIC_TRANS_DMA_XFER_TO_DEV, uint32_t(sizeof(WireDmaXfer) + n * sizeof(WireAddrSize))},
                  ctx.xfer_tag, uint32_t(n), ctx.chunk_id, more ? kDmaXferMore : 0};
    append(t, x);
    for (size_t i = 0; i < n; ++i) {
        const kernel::SgEntry &e = ctx.bounce_sgt.entries[ctx.next_pair + i];
        append(t, WireAddrSize{e.dma_addr, e.length});
    }
    ctx.next_pair += n;
    return msg.add(t.data(), uint32_t(t.size()));
}

ErrorOr<void> encode_activate(ManageCtx &ctx, WireMsg &msg,
                              const qaic_manage_trans_activate_to_dev &t)
{
    // As upstream: an ACTIVATE must fit the first 4 KiB of the message (after a DMA_XFER's
    // pairs it may not), checked before its own fields.
    if (msg.size() + sizeof(WireActivateToDev) > QAIC_MANAGE_MAX_MSG_LENGTH)
        return REJECT(-ENOSPC, "ACTIVATE: the message has %u bytes already, %u with it is "
                               "past %u", msg.size(),
                      msg.size() + uint32_t(sizeof(WireActivateToDev)), QAIC_MANAGE_MAX_MSG_LENGTH);
    // Above 65536 elements the device refuses; don't allocate a ring it must refuse.
    if (t.queue_size == 0)
        return REJECT(-EINVAL, "ACTIVATE: queue_size is 0");
    if (t.pad)
        return REJECT(-EINVAL, "ACTIVATE: pad is %#x, not 0", t.pad);
    if (t.queue_size > 65536)
        return REJECT(-EINVAL, "ACTIVATE: queue_size %u is over 65536", t.queue_size);
    uint64_t size = queue_buf_size(t.queue_size);
    // Room first: once the ring is allocated nothing may throw before ctx owns it.
    TRY(kernel::try_alloc([&] {
        ctx.queues.reserve(ctx.queues.size() + 1);
        ctx.queue_nelem.reserve(ctx.queue_nelem.size() + 1);
        ctx.runtimes.reserve(ctx.runtimes.size() + 1);
    }));
    QaicDevice::DbcRuntime rt = TRY(ctx.qdev.make_dbc_runtime());
    kernel::DmaCoherent q = TRY(ctx.qdev.pdev.dma_alloc_coherent(size));
    ctx.queues.push_back(q);
    ctx.queue_nelem.push_back(t.queue_size);
    ctx.runtimes.push_back(std::move(rt));
    WireActivateToDev w{{QAIC_TRANS_ACTIVATE_TO_DEV, sizeof(WireActivateToDev)},
                        q.dma_addr,
                        q.dma_addr + size - uint64_t(t.queue_size) * sizeof(DbcRsp),
                        t.queue_size,
                        t.queue_size,
                        uint32_t(size),
                        t.options};
    return msg.add(&w, sizeof(w), QAIC_MANAGE_MAX_MSG_LENGTH);
}

ErrorOr<void> encode_deactivate(ManageCtx &ctx, WireMsg &msg, const qaic_manage_trans_deactivate &t)
{
    if (t.dbc_id >= ctx.qdev.num_dbc())
        return REJECT(-EINVAL, "DEACTIVATE: DBC %u does not exist (the device has %u)",
                      t.dbc_id, ctx.qdev.num_dbc());
    if (t.pad)
        return REJECT(-EINVAL, "DEACTIVATE: pad is %#x, not 0", t.pad);
    Dbc &dbc = *ctx.qdev.dbcs[t.dbc_id];
    {
        auto d = dbc.state.lock();
        if (!d->owned_by(ctx.usr))
            return REJECT(-EPERM, "DEACTIVATE: DBC %u is not activated by this file", t.dbc_id);
    }
    WireDeactivateToDev w{{QAIC_TRANS_DEACTIVATE_FROM_USR, sizeof(WireDeactivateToDev)}, t.dbc_id, 0};
    TRY(msg.add(&w, sizeof(w)));
    ctx.deactivating.push_back(t.dbc_id);
    return {};
}

// Encodes the user's transactions into the first wire message. DMA_XFER data was copied in
// by prepare_dma_xfer() already.
ErrorOr<WireMsg> encode_message(ManageCtx &ctx, const std::vector<uint8_t> &user,
                                const std::vector<UserTrans> &trans)
{
    WireMsg msg(ctx.usr);
    for (size_t i = 0; i < trans.size(); ++i) {
        const uint8_t *p = user.data() + trans[i].offset;
        switch (trans[i].type) {
        case QAIC_TRANS_PASSTHROUGH_FROM_USR: {
            std::vector<uint8_t> t(p, p + trans[i].len);
            auto h = load<WireTransHdr>(t.data());
            h.type = QAIC_TRANS_PASSTHROUGH_TO_DEV;
            std::memcpy(t.data(), &h, sizeof(h));
            TRY(msg.add(t.data(), trans[i].len));
            break;
        }
        case QAIC_TRANS_DMA_XFER_FROM_USR:
            TRY(add_dma_xfer(ctx, msg));
            break;
        case QAIC_TRANS_ACTIVATE_FROM_USR:
            TRY(encode_activate(ctx, msg, load<qaic_manage_trans_activate_to_dev>(p)));
            break;
        case QAIC_TRANS_DEACTIVATE_FROM_USR:
            TRY(encode_deactivate(ctx, msg, load<qaic_manage_trans_deactivate>(p)));
            break;
        case QAIC_TRANS_STATUS_FROM_USR: {
            // As upstream, within the first 4 KiB of the message.
            WireTransHdr h{QAIC_TRANS_STATUS_TO_DEV, sizeof(WireTransHdr)};
            TRY(msg.add(&h, sizeof(h), QAIC_MANAGE_MAX_MSG_LENGTH));
            break;
        }
        }
    }
    return msg;
}

// The user's answers. They replace the user's message, whose buffer is
// QAIC_MANAGE_MAX_MSG_LENGTH bytes: a device that answers more (summed over every message of
// a call) makes the call fail with -ENOSPC, and nothing is written past the buffer.
struct Answers {
    std::vector<uint8_t> bytes;
    uint32_t count = 0;
    bool overflow = false;

    void put(const void *p, size_t len)
    {
        if (len > QAIC_MANAGE_MAX_MSG_LENGTH - bytes.size()) {
            overflow = true;
            return;
        }
        auto *b = static_cast<const uint8_t *>(p);
        bytes.insert(bytes.end(), b, b + len);
        ++count;
    }
};

// The DBC a DEACTIVATE answer names must be one the message asked for, once: a device that
// names another (maybe another user's) releases nothing.
bool take_deactivating(ManageCtx &ctx, uint32_t dbc_id)
{
    auto it = std::find(ctx.deactivating.begin(), ctx.deactivating.end(), dbc_id);
    if (it == ctx.deactivating.end())
        return false;
    ctx.deactivating.erase(it);
    return true;
}

// The device ran a DEACTIVATE of ctx's: releases the DBC, if the file still owns it and the
// device was not reset since the message was sent (then it was released by the recovery, and
// maybe handed out again). Returns whether it did.
bool release_deactivated(ManageCtx &ctx, uint32_t dbc_id)
{
    Dbc &dbc = *ctx.qdev.dbcs[dbc_id];
    {
        auto d = dbc.state.lock();
        if (ctx.qdev.ctrl.epoch() != ctx.epoch || !d->owned_by(ctx.usr))
            return false;
    }
    ctx.qdev.release_dbc(dbc, -EPERM);
    return true;
}

// What decoding a response message found so far: whether the firmware asked for the rest
// of a DMA transfer, the first rule the answer broke (-EIO, -ENODEV), and whether the
// firmware refused a transaction (-ECANCELED). Every transaction is decoded even after one
// was found wrong, so the DBC table never misses what the device did; the call logs one
// line, the reason of the errno it returns.
struct Decoded {
    bool cont = false;
    int err = 0;
    int refused = 0;
    // Why, for the one line the call logs: the reason of the errno it returns.
    char err_why[160] = "", refused_why[160] = "";
    void fail(int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)))
    {
        va_list ap;
        va_start(ap, fmt);
        note(&err, e, err_why, fmt, ap);
        va_end(ap);
    }
    void refuse(const char *fmt, ...) __attribute__((format(printf, 2, 3)))
    {
        va_list ap;
        va_start(ap, fmt);
        note(&refused, -ECANCELED, refused_why, fmt, ap);
        va_end(ap);
    }

private:
    // The first of each kind wins (its errno is the one the call may return).
    static void note(int *slot, int e, char (&why)[160], const char *fmt, va_list ap)
    {
        if (*slot)
            return;
        *slot = e;
        if (kernel::debug_on(kernel::kDebugIoctl))
            std::vsnprintf(why, sizeof(why), fmt, ap);
    }
};

// The decode_* functions, one per transaction type the device may answer, mirror the
// encode_* ones. Each gets the transaction (header h, bytes p, checked to lie within the
// message), and appends what the user sees to out. Caller holds the manage lock.

void decode_passthrough(const uint8_t *p, const WireTransHdr &h, Answers &out)
{
    out.put(p, h.len);
}

// Answers change the DBC table only if the device was not reset since the message was sent
// (ctx.epoch): a reset's recovery releases every DBC without the manage lock, so an older
// answer would revive a DBC the device has forgotten. A ring the device may use for a DBC the
// driver cannot take (an answer naming a DBC that is not there or is taken) is kept
// (QaicDevice::lost_rings) until the device is reset.
void decode_activate(ManageCtx &ctx, const uint8_t *p, const WireTransHdr &h, Answers &out,
                     Decoded &res)
{
    QaicDevice &qdev = ctx.qdev;
    if (h.len != sizeof(WireActivateFromDev))
        return res.fail(-EIO, "ACTIVATE answer of %u bytes, not %zu", h.len,
                        sizeof(WireActivateFromDev));
    if (ctx.next_queue >= ctx.queues.size())
        return res.fail(-EIO, "an ACTIVATE answer beyond the %zu asked for", ctx.queues.size());
    auto a = load<WireActivateFromDev>(p);
    qaic_manage_trans_activate_from_dev u{{QAIC_TRANS_ACTIVATE_FROM_DEV, sizeof(u)}, a.status,
                                          a.dbc_id, a.options};
    out.put(&u, sizeof(u));
    uint32_t nelem = ctx.queue_nelem[ctx.next_queue];
    QaicDevice::DbcRuntime &rt = ctx.runtimes[ctx.next_queue];
    kernel::DmaCoherent &q = ctx.queues[ctx.next_queue++];
    auto keep = [&] { qdev.keep_lost_ring(std::exchange(q, {}), ctx.epoch); };
    if (a.status) // the ring stays in ctx and is freed with it
        return res.refuse("the firmware refused ACTIVATE (status %u)", a.status);
    if (a.dbc_id >= qdev.num_dbc()) {
        keep();
        return res.fail(-ENODEV, "ACTIVATE answer names DBC %u (the device has %u)",
                        a.dbc_id, qdev.num_dbc());
    }
    Dbc &dbc = *qdev.dbcs[a.dbc_id];
    auto d = dbc.state.lock();
    if (qdev.ctrl.epoch() != ctx.epoch) // it forgot this DBC and the ring
        return res.fail(-EIO, "ACTIVATE answered for DBC %u, but the device was reset "
                        "since", a.dbc_id);
    if (d->in_use) {
        keep();
        return res.fail(-EIO, "ACTIVATE answer hands out DBC %u, which is taken", a.dbc_id);
    }
    d->queue = std::exchange(q, {}); // the DBC owns the ring now
    d->nelem = nelem;
    d->in_use = true;
    d->in_ssr = false;
    d->usr = ctx.usr;
    qdev.set_dbc_state(dbc, kDbcStateAssigned);
    qdev.dbc_start(dbc, *d, std::move(rt));
    qaic_dbg(kernel::kDebugControl, "DBC %u activated for user %u, %u elements", dbc.id,
             ctx.usr, nelem);
}

void decode_deactivate(ManageCtx &ctx, const uint8_t *p, const WireTransHdr &h, Decoded &res)
{
    if (h.len != sizeof(WireDeactivateFromDev))
        return res.fail(-EIO, "DEACTIVATE answer of %u bytes, not %zu", h.len,
                        sizeof(WireDeactivateFromDev));
    auto d = load<WireDeactivateFromDev>(p);
    if (!take_deactivating(ctx, d.dbc_id)) // maybe another user's
        return res.fail(-EIO, "DEACTIVATE answer names DBC %u, which was not asked for", d.dbc_id);
    if (d.status)
        return res.refuse("the firmware refused DEACTIVATE of DBC %u "
                          "(status %u)", d.dbc_id, d.status);
    if (!release_deactivated(ctx, d.dbc_id))
        return res.fail(-EIO, "DBC %u deactivated, but it was released or the device "
                        "reset meanwhile", d.dbc_id);
    qaic_dbg(kernel::kDebugControl, "DBC %u deactivated", d.dbc_id);
}

void decode_status(ManageCtx &ctx, const uint8_t *p, const WireTransHdr &h, Answers &out,
                   Decoded &res)
{
    if (h.len != sizeof(WireStatusFromDev))
        return res.fail(-EIO, "STATUS answer of %u bytes, not %zu", h.len,
                        sizeof(WireStatusFromDev));
    auto st = load<WireStatusFromDev>(p);
    qaic_manage_trans_status_from_dev u{{QAIC_TRANS_STATUS_FROM_DEV, sizeof(u)}, st.major,
                                        st.minor, st.status, st.status_flags};
    out.put(&u, sizeof(u));
    ctx.qdev.ctrl.set_crc_required(st.status_flags & kStatusFlagCrcRequired);
    if (st.status)
        res.refuse("the firmware answered STATUS with status %u", st.status);
}

void decode_dma_xfer_cont(const ManageCtx &ctx, const uint8_t *p, const WireTransHdr &h,
                          Decoded &res)
{
    if (h.len != sizeof(WireDmaXferCont))
        return res.fail(-EIO, "DMA_XFER_CONT of %u bytes, not %zu", h.len, sizeof(WireDmaXferCont));
    uint32_t chunk = load<WireDmaXferCont>(p).dma_chunk_id;
    if (!ctx.chunk_id || chunk != ctx.chunk_id)
        return res.fail(-EIO, "DMA_XFER_CONT for chunk %u, the transfer's is %u", chunk,
                        ctx.chunk_id);
    res.cont = true;
}

// Decodes one response message into user-visible transactions (appended to out). Returns
// whether the firmware asked for the rest of a DMA transfer, or the first error (then the
// refusal, then -ENOSPC for answers too long for the user's buffer).
ErrorOr<bool> decode_response(ManageCtx &ctx, const std::vector<uint8_t> &rsp, Answers &out)
{
    ResponseTrans offsets = TRY(check_response(rsp, ctx.qdev.ctrl.crc_required()));
    Decoded res;
    for (uint32_t off : offsets) {
        const uint8_t *p = rsp.data() + off;
        auto h = load<WireTransHdr>(p);
        switch (h.type) {
        case QAIC_TRANS_PASSTHROUGH_FROM_DEV: decode_passthrough(p, h, out); break;
        case QAIC_TRANS_ACTIVATE_FROM_DEV: decode_activate(ctx, p, h, out, res); break;
        case QAIC_TRANS_DEACTIVATE_FROM_DEV: decode_deactivate(ctx, p, h, res); break;
        case QAIC_TRANS_STATUS_FROM_DEV: decode_status(ctx, p, h, out, res); break;
        case QAIC_TRANS_DMA_XFER_CONT: decode_dma_xfer_cont(ctx, p, h, res); break;
        case kTransNack: res.refuse("the firmware NACKed the message"); break;
        default: res.fail(-EIO, "answer has transaction type %#x", h.type);
        }
    }
    if (res.err)
        return REJECT(res.err, "%s", res.err_why);
    if (out.overflow)
        return REJECT(-ENOSPC, "the answers are longer than the user's %u-byte buffer",
                      QAIC_MANAGE_MAX_MSG_LENGTH);
    if (res.refused)
        return REJECT(res.refused, "%s", res.refused_why);
    return res.cont;
}

// Gives a DBC the device assigned to usr back to the device: true once the device runs nothing
// for usr on it (deactivated, or no longer usr's: its TERMINATE came first, or a reset).
bool take_back_dbc(const ManageCtx &ctx, uint32_t dbc_id)
{
    QaicDevice &qdev = ctx.qdev;
    WireMsg msg(ctx.usr);
    WireDeactivateToDev w{{QAIC_TRANS_DEACTIVATE_FROM_USR, sizeof(w)}, dbc_id, 0};
    if (msg.add(&w, sizeof(w)).is_error())
        return false;
    auto rsp = qdev.ctrl.transact(msg.take());
    if (rsp.is_error())
        return qdev.ctrl.epoch() != ctx.epoch; // reset or removed meanwhile
    auto offs = check_response(rsp.value(), qdev.ctrl.crc_required());
    if (offs.is_error() || offs.value().size() != 1)
        return false;
    auto d = load<WireDeactivateFromDev>(rsp.value().data() + offs.value()[0]);
    return d.hdr.type == QAIC_TRANS_DEACTIVATE_FROM_DEV && d.hdr.len == sizeof(d) &&
           d.dbc_id == dbc_id && (d.status == kFwOk || d.status == kFwNotOwner);
}

// The answer to a first message whose MANAGE timed out or was interrupted, or why none will
// come. Its caller was told ETIMEDOUT or EINTR, so it takes effect as if it had not run: DBCs
// the device assigned are taken back before their rings are freed (with ctx), and DBCs it
// deactivated are released.
void late_answer(ManageCtx &ctx, ErrorOr<std::vector<uint8_t>> answer)
{
    QaicDevice &qdev = ctx.qdev;
    if (answer.is_error())
        return; // reset or gone: the device runs nothing of it
    if (qdev.ctrl.epoch() != ctx.epoch)
        return; // reset since
    auto offs = check_response(answer.value(), qdev.ctrl.crc_required());
    if (offs.is_error()) {
        // What it did is unknown: nothing it may have given the device is freed.
        pr_err("unreadable late answer for user %u (%d): keeping its rings", ctx.usr, offs.code());
        for (kernel::DmaCoherent &q : ctx.queues)
            qdev.keep_lost_ring(q, ctx.epoch);
        ctx.queues.clear();
        return;
    }
    for (uint32_t off : offs.value()) {
        auto h = load<WireTransHdr>(answer.value().data() + off);
        if (h.type == QAIC_TRANS_ACTIVATE_FROM_DEV && h.len == sizeof(WireActivateFromDev) &&
            ctx.next_queue < ctx.queues.size()) {
            auto a = load<WireActivateFromDev>(answer.value().data() + off);
            kernel::DmaCoherent &q = ctx.queues[ctx.next_queue++];
            if (a.status == kFwOk && !take_back_dbc(ctx, a.dbc_id)) {
                pr_err("DBC %u of user %u could not be taken back: keeping its rings", a.dbc_id,
                       ctx.usr);
                qdev.keep_lost_ring(std::exchange(q, {}), ctx.epoch);
            }
        } else if (h.type == QAIC_TRANS_DEACTIVATE_FROM_DEV &&
                   h.len == sizeof(WireDeactivateFromDev)) {
            auto d = load<WireDeactivateFromDev>(answer.value().data() + off);
            if (!d.status && take_deactivating(ctx, d.dbc_id))
                (void)release_deactivated(ctx, d.dbc_id);
        }
    }
}

} // namespace

TestHooks test_hooks;

ErrorOr<void> manage_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_manage_msg *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    if (args->len > QAIC_MANAGE_MAX_MSG_LENGTH)
        return REJECT(-EINVAL, "len %u is over %u", args->len, QAIC_MANAGE_MAX_MSG_LENGTH);
    if (args->count > kManageMaxTrans)
        return REJECT(-EINVAL, "count %u is over %u", args->count, kManageMaxTrans);
    if (args->count == 0)
        return REJECT(-EINVAL, "count is 0");
    if (args->len < sizeof(qaic_manage_trans_hdr))
        return REJECT(-EINVAL, "len %u is less than a transaction header's 8", args->len);
    if (!qdev.online) {
        // A recovery that gave up (the device was reset again and again under it) left the
        // device offline, and the interrupt of the reset that followed came while it ran: that
        // reset is found here, as a lost interrupt is when a message is sent, and recovered.
        if (!qdev.resetting)
            TRY(qdev.ctrl.check_device());
        return REJECT(-ENODEV, "the device is not online (booting, being reset, or gone)");
    }

    std::vector<uint8_t> user =
        TRY(kernel::memdup_array_user(kernel::UserPtr<uint8_t>(args->data), args->len));
    std::vector<UserTrans> trans = TRY(parse_user_trans(user, args->count));

    // Shared with a late-answer handler should the first message time out.
    auto ctx = std::make_shared<ManageCtx>(qdev, to_usr(file).handle);
    // Everything read from user memory is read before the device-wide lock.
    for (const UserTrans &t : trans)
        if (t.type == QAIC_TRANS_DMA_XFER_FROM_USR)
            TRY(prepare_dma_xfer(*ctx, load<qaic_manage_trans_dma_xfer>(user.data() + t.offset)));

    std::lock_guard manage_lock(qdev.manage_lock);
    WireMsg first = TRY(encode_message(*ctx, user, trans));
    if (first.count() == 0)
        return REJECT(-EINVAL, "no transaction for the device (only DMA_XFER pairs, all "
                               "sent)");

    // What decoding the answers needs, made before the device acts on the message.
    Answers out;
    TRY(kernel::try_reserve(out.bytes, QAIC_MANAGE_MAX_MSG_LENGTH));
    TRY(qdev.lost_rings.with(
        [&](auto &v) { return kernel::try_reserve(v, v.size() + ctx->queues.size()); }));
    ControlChannel::LateAnswer late;
    if (ctx->changes_dbcs())
        late = [ctx](ErrorOr<std::vector<uint8_t>> answer) { late_answer(*ctx, std::move(answer)); };
    // The waits for answers end when the caller's process dies (-EINTR), as after a timeout.
    std::vector<uint8_t> rsp = TRY(qdev.ctrl.transact(first.take(), &ctx->epoch, std::move(late),
                                                      kernel::Sleep::kInterruptible));
    // The device answered earlier messages first: late answers that came before this one
    // take effect before it does (a DEACTIVATE whose caller gave up freed the DBC that this
    // ACTIVATE may be given).
    qdev.ctrl.run_late_answers();
    if (auto hook = test_hooks.manage_answered.load())
        hook(qdev);
    ErrorOr<bool> more = decode_response(*ctx, rsp, out);
    // Further messages carry the rest of a DMA transfer the firmware asked for.
    while (!more.is_error() && more.value()) {
        if (ctx->next_pair >= ctx->bounce_sgt.entries.size()) {
            more = REJECT(-EIO, "the firmware asked for more of a DMA transfer that was all "
                                "sent");
            break;
        }
        WireMsg next(ctx->usr);
        if (auto r = add_dma_xfer(*ctx, next); r.is_error()) {
            more = r.error();
            break;
        }
        auto r = qdev.ctrl.transact(next.take(), nullptr, {}, kernel::Sleep::kInterruptible);
        if (r.is_error()) {
            more = r.error();
            break;
        }
        more = decode_response(*ctx, r.value(), out);
    }
    if (!more.is_error() && ctx->next_pair < ctx->bounce_sgt.entries.size())
        more = REJECT(-EIO, "the firmware stopped asking after %zu of %zu address/size pairs",
                      ctx->next_pair, ctx->bounce_sgt.entries.size());

    // The response replaces the user's transactions, also after a NACK.
    if (more.is_error() && more.error().code() != -ECANCELED)
        return more.error();
    TRY(kernel::copy_to_user(kernel::UserPtr<void>(args->data), out.bytes.data(),
                             out.bytes.size()));
    args->len = uint32_t(out.bytes.size());
    args->count = out.count;
    if (more.is_error())
        return more.error();
    return {};
}

// ---------------------------------------------------------------------------- user teardown

void release_usr(QaicDevice &qdev, QaicUser &usr)
{
    std::lock_guard manage_lock(qdev.manage_lock);
    bool owns_dbc = false;
    for (auto &dbc : qdev.dbcs) {
        auto d = dbc->state.lock();
        owns_dbc |= d->owned_by(usr.handle);
    }
    if (qdev.online) {
        WireMsg msg(usr.handle);
        WireTerminateToDev t{{QAIC_TRANS_TERMINATE_TO_DEV, sizeof(t)}, usr.handle, 0};
        (void)msg.add(&t, sizeof(t));
        auto r = qdev.ctrl.transact(msg.take());
        if (r.is_error() && owns_dbc)
            pr_warn("TERMINATE for user %u failed (%d); releasing its DBCs anyway", usr.handle,
                    r.error().code());
    }
    // Whatever the device answered, it no longer runs anything for this user that we track.
    for (auto &dbc : qdev.dbcs) {
        bool mine;
        {
            auto d = dbc->state.lock();
            mine = d->owned_by(usr.handle);
        }
        if (mine)
            qdev.release_dbc(*dbc, -EPERM);
    }
}

} // namespace qaic
