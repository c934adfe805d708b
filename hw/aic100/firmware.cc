// SPDX-License-Identifier: GPL-2.0-only
#include "hw/aic100/firmware.h"
#include "hw/aic100/card.h"
#include "hw/aic100/nsp.h"
#include "kernel/alloc.h"
#include "kernel/bytes.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>
#include <drm/qaic_accel.h>

namespace aic100 {
namespace {

using kernel::append;
using kernel::load;

} // namespace

Firmware::Firmware(Card &card)
    : card_(card), ctrl_(card.iommu(), kCtrlReqSlotSize, kCtrlRspSlotSize, offsetof(WireMsgHdr, len)),
      ssr_(card.iommu(), kSsrSlotSize, kSsrSlotSize),
      ras_(card.iommu(), kRasSlotSize, kRasSlotSize),
      activated_(make_activated(card.num_dbc())), answer_room_(make_answer_room()),
      thread_([this] { run(); })
{
}

std::vector<unsigned> Firmware::make_activated(unsigned num_dbc)
{
    std::vector<unsigned> v;
    v.reserve(num_dbc);
    return v;
}

Firmware::Bytes Firmware::make_answer_room()
{
    Bytes b;
    b.reserve(2 * kCtrlRspSlotSize);
    return b;
}

Firmware::~Firmware()
{
    {
        std::lock_guard lk(lock_);
        stop_ = true;
        ++epoch_;
    }
    cv_.notify_all();
    thread_.join();
}

void Firmware::kick()
{
    { std::lock_guard lk(lock_); }
    cv_.notify_all();
}

void Firmware::reset(uint32_t nacks)
{
    {
        std::lock_guard lk(lock_);
        // Again under the lock: a boot being served (the reset before this one) must not
        // leave the card ONLINE after this reset has begun.
        card_.status_.store(kDevBoot, std::memory_order_release);
        ++epoch_;
        // Under the firmware's lock: a transaction being served cannot assign a DBC after
        // the release and survive the reset.
        for (unsigned id = 0; id < card_.num_dbc(); ++id)
            card_.dbc(id).release();
        ctrl_.reset();
        ssr_.reset();
        images_.clear();
        xfers_.clear();
        nnc_elfs_.clear();
        nnc_consts_.clear();
        nnc_pending_.clear();
        nnc_activations_.clear();
        nnc_groups_.clear();
        ras_.reset();
        ssr_queue_.clear();
        ssr_waiting_ack_ = false;
        ras_queue_.clear();
        have_seq_ = false;
        silent_ = false;
        nack_count_ = nacks;
        pad_count_ = 0;
        misname_count_ = 0;
        boot_pending_ = true;
        boot_done_at_ = Clock::now() + std::chrono::milliseconds(card_.config().boot_ms);
    }
    cv_.notify_all();
}

void Firmware::set_silent(bool silent)
{
    {
        std::lock_guard lk(lock_);
        silent_ = silent;
    }
    cv_.notify_all();
}

void Firmware::nack_next(uint32_t count)
{
    std::lock_guard lk(lock_);
    nack_count_ = count;
}

void Firmware::reset_on_message(uint32_t nth)
{
    std::lock_guard lk(lock_);
    reset_countdown_ = nth;
}

void Firmware::pad_answers(uint32_t count)
{
    std::lock_guard lk(lock_);
    pad_count_ = count;
}

void Firmware::misname_deactivate(uint32_t count)
{
    std::lock_guard lk(lock_);
    misname_count_ = count;
}

void Firmware::fail_allocation(unsigned nth)
{
    std::lock_guard lk(lock_);
    fail_nth_ = nth;
}

void Firmware::start_ssr(unsigned dbc_id)
{
    {
        std::lock_guard lk(lock_);
        ssr_queue_.push_back({dbc_id, 0});
        ssr_queue_.back().fault = std::exchange(dump_fault_, 0);
        ssr_queue_.back().nth = std::exchange(dump_nth_, 0);
    }
    cv_.notify_all();
}

void Firmware::ssr_dump_fault(uint32_t fault, uint32_t nth)
{
    std::lock_guard lk(lock_);
    dump_fault_ = fault;
    dump_nth_ = nth;
}

std::vector<uint8_t> Firmware::serve(const std::vector<uint8_t> &msg)
{
    std::lock_guard lk(lock_);
    if (msg.size() < sizeof(WireMsgHdr) || msg.size() > kCtrlReqSlotSize)
        return {};
    // As the ring hands it over: as many bytes as the header says, zero past the message.
    uint32_t said = load<WireMsgHdr>(msg.data()).len;
    Bytes slot(std::clamp<size_t>(said, sizeof(WireMsgHdr), kCtrlReqSlotSize), 0);
    std::memcpy(slot.data(), msg.data(), std::min(msg.size(), slot.size()));
    // In the answer's room, as on the ring; the caller gets a copy of the answer.
    answer(slot, answer_room_);
    return answer_room_;
}

uint32_t Firmware::next_sequence() const
{
    std::lock_guard lk(lock_);
    return have_seq_ ? last_seq_ + 1 : 0;
}

uint64_t Firmware::held_bytes() const
{
    std::lock_guard lk(lock_);
    return image_bytes() + nnc_bytes() + xfers_.size();
}

bool Firmware::has_work() const
{
    if (card_.gone())
        return false;
    return boot_pending_ || (!silent_ && ctrl_.h2d_pending()) || ssr_.h2d_pending() ||
           (!ssr_queue_.empty() && !ssr_waiting_ack_) || !ras_queue_.empty();
}

void Firmware::run()
{
    std::unique_lock lk(lock_);
    boot_done_at_ = Clock::now() + std::chrono::milliseconds(card_.config().boot_ms);
    auto ready = [&] { return stop_ || (has_work() && !serving_); };
    for (;;) {
        while (!ready()) {
            if (Clock::now() < host_polled_until_) {
                sleep_ = Sleep::kTimed;
                cv_.wait_until(lk, host_polled_until_);
            } else {
                sleep_ = Sleep::kUntimed; // doorbells must wake it
                cv_.wait(lk);
            }
            sleep_ = Sleep::kAwake;
        }
        if (stop_)
            return;
        serving_ = true;
        serve_step(lk);
        serving_ = false;
    }
}

void Firmware::serve_step(std::unique_lock<std::mutex> &lk)
{
    if (boot_pending_) {
        // The boot takes its time; a reset or the card's end meanwhile starts or ends it anew.
        uint64_t epoch = epoch_;
        if (cv_.wait_until(lk, boot_done_at_, [&] { return stop_ || epoch_ != epoch; }))
            return;
        boot_pending_ = false;
        boot_log();
        card_.status_.store(kDevOnline, std::memory_order_release);
        lk.unlock();
        card_.raise_control_msi();
        lk.lock();
        return;
    }
    if (ssr_.h2d_pending())
        serve_ssr_acks(lk);
    if (!ssr_queue_.empty() && !ssr_waiting_ack_)
        advance_ssr(lk);
    if (!ras_queue_.empty()) {
        RasMsg msg = ras_queue_.front();
        ras_queue_.pop_front();
        if (ras_.enabled()) // no host listening: the report is lost, as on a real card
            post_d2h(ras_, &msg, sizeof(msg), lk);
    }
    if (!silent_ && ctrl_.h2d_pending())
        serve_control(lk);
}

void Firmware::boot_log()
{
    // What the firmware reports as it comes up, one line per stage, as the host's driver
    // collects it (debugfs bootlog).
    char line[128];
    ++boots_;
    std::snprintf(line, sizeof(line), "QSM: boot %llu: firmware %u.%u starting",
                  (unsigned long long)boots_, unsigned(kFwMajor), unsigned(kFwMinor));
    card_.boot_log(line);
    std::snprintf(line, sizeof(line), "QSM: DDR %llu MiB trained",
                  (unsigned long long)(card_.ddr().size() >> 20));
    card_.boot_log(line);
    std::snprintf(line, sizeof(line), "QSM: %u DMA bridge channels idle", card_.num_dbc());
    card_.boot_log(line);
    card_.boot_log("QSM: control and SSR channels ready: ONLINE");
}

void Firmware::control_written(uint64_t off)
{
    std::unique_lock lk(lock_);
    bool wake = true;
    if (off == kChD2hHead)
        wake = d2h_waiter_;
    else if (off == kChH2dTail)
        wake = !(sleep_ != Sleep::kUntimed && Clock::now() < host_polled_until_ &&
                 std::this_thread::get_id() == poller_);
    lk.unlock();
    if (wake)
        cv_.notify_all();
}

void Firmware::busy_poll(const std::function<bool()> &done, Clock::time_point deadline)
{
    kernel::NoFailNthAlloc device_memory; // what the firmware allocates is the card's
    std::unique_lock lk(lock_);
    if (stop_ || card_.gone())
        return;
    host_polled_until_ = Clock::now() + std::chrono::microseconds(card_.config().busy_poll_grace_us);
    poller_ = std::this_thread::get_id();
    if (serving_)
        return; // the firmware's thread is at it
    serving_ = true;
    // Room for the answer first: the message is taken off the ring only when its answer
    // cannot make this thread wait.
    while (!stop_ && !card_.gone() && !boot_pending_ && !silent_ && ctrl_.h2d_pending() &&
           !ctrl_.d2h_full()) {
        serve_control(lk);
        lk.unlock();
        bool over = done();
        lk.lock();
        if (over || Clock::now() >= deadline)
            break;
    }
    serving_ = false;
    bool more = has_work(); // an SSR step, a boot, a message left: the thread's
    lk.unlock();
    if (more)
        cv_.notify_all();
}

bool Firmware::asleep() const
{
    std::lock_guard lk(lock_);
    return sleep_ != Sleep::kAwake;
}

// Writes a D2H message once the host has room for it, then raises the control MSI.
void Firmware::post_d2h(MsgChannel &ch, const void *msg, size_t len,
                        std::unique_lock<std::mutex> &lk)
{
    uint64_t epoch = epoch_;
    d2h_waiter_ = true;
    cv_.wait(lk, [&] { return stop_ || epoch != epoch_ || card_.gone() || !ch.d2h_full(); });
    d2h_waiter_ = false;
    if (stop_ || epoch != epoch_ || card_.gone())
        return;
    if (ch.push_d2h(msg, len) != kRspOk)
        return; // the host gave us a ring we cannot write: nothing to tell it with
    lk.unlock();
    card_.raise_control_msi();
    lk.lock();
}

void Firmware::serve_control(std::unique_lock<std::mutex> &lk)
{
    Bytes req;
    if (ctrl_.pop_h2d(req) != kRspOk)
        return; // unreadable slot: dropped, like a bus error on the read
    if (req.size() < sizeof(WireMsgHdr))
        req.resize(sizeof(WireMsgHdr)); // a length under the header's: refused below
    if (reset_countdown_ && --reset_countdown_ == 0) {
        lk.unlock();
        card_.reset(); // the message is lost with everything else
        lk.lock();
        return;
    }
    // The answer is framed in the room kept from the last one (another thread serving a
    // message meanwhile, while this one waits for room in the ring, makes its own).
    Bytes rsp = std::move(answer_room_);
    {
        std::optional<kernel::FailNthAlloc> inject;
        if (fail_nth_)
            inject.emplace(std::exchange(fail_nth_, 0u));
        answer(req, rsp);
        if (inject)
            allocation_failed_.store(inject->fired(), std::memory_order_release);
    }
    if (!rsp.empty())
        post_d2h(ctrl_, rsp.data(), rsp.size(), lk);
    answer_room_ = std::move(rsp);
}

// ---------------------------------------------------------------------------- messages

void Firmware::nack(const WireMsgHdr &req_hdr, uint32_t status, uint32_t index, Bytes &out)
{
    out.resize(sizeof(WireMsgHdr));
    WireNack n{{kTransNack, sizeof(WireNack)}, status, index};
    append(out, n);
    WireMsgHdr h = req_hdr;
    h.magic = kWireMagic;
    h.len = uint32_t(out.size());
    h.count = 1;
    h.crc32 = 0;
    std::memcpy(out.data(), &h, sizeof(h));
    h.crc32 = wire_crc(out.data(), h.len);
    std::memcpy(out.data(), &h, sizeof(h));
}

// Out of memory where no transaction catches it (the answer's room) refuses the message as a
// whole: a message always has an answer, unless not even a NACK fits (the host times out).
void Firmware::answer(const Bytes &req, Bytes &out) noexcept
{
    try {
        handle_message(req, out);
        return;
    } catch (const std::bad_alloc &) {
    }
    try {
        nack(load<WireMsgHdr>(req.data()), kFwNoResources, UINT32_MAX, out);
    } catch (const std::bad_alloc &) {
        out.clear();
    }
}

void Firmware::handle_message(const Bytes &req, Bytes &out)
{
    // NACKs are framed in out too: in the room kept, they need no memory.
    out.clear();
    auto nack = [&](const WireMsgHdr &hdr, uint32_t status, uint32_t index) {
        this->nack(hdr, status, index, out);
    };
    WireMsgHdr h = load<WireMsgHdr>(req.data());
    if (h.magic != kWireMagic)
        return nack(h, kFwBadMagic, UINT32_MAX);
    if (h.len < sizeof(WireMsgHdr) || h.len > req.size() || h.count == 0)
        return nack(h, kFwBadLength, UINT32_MAX);

    // CRC is required; a message without one (crc32 == 0) is accepted only when it is a lone
    // STATUS request, so a driver can learn that CRCs are required.
    bool lone_status = h.count == 1 && h.len == sizeof(WireMsgHdr) + sizeof(WireTransHdr) &&
                       load<WireTransHdr>(req.data() + sizeof(WireMsgHdr)).type ==
                           QAIC_TRANS_STATUS_TO_DEV;
    if (!(h.crc32 == 0 && lone_status) && h.crc32 != wire_crc(req.data(), h.len))
        return nack(h, kFwBadCrc, UINT32_MAX);
    if (have_seq_ && h.sequence_number != last_seq_ + 1)
        return nack(h, kFwBadSequence, UINT32_MAX);
    have_seq_ = true;
    last_seq_ = h.sequence_number;
    if (nack_count_) {
        --nack_count_;
        return nack(h, kFwInjected, UINT32_MAX);
    }

    // The framing is checked before any transaction runs: a message refused as a whole must
    // have had no effect.
    uint32_t pos = sizeof(WireMsgHdr);
    for (uint32_t i = 0; i < h.count; ++i) {
        if (h.len - pos < sizeof(WireTransHdr))
            return nack(h, kFwBadLength, i);
        WireTransHdr th = load<WireTransHdr>(req.data() + pos);
        if (th.len < sizeof(WireTransHdr) || th.len > h.len - pos)
            return nack(h, kFwBadLength, i);
        pos += th.len;
    }
    if (pos != h.len)
        return nack(h, kFwBadLength, UINT32_MAX);

    // A message takes effect whole or not at all: DBCs it activated before a transaction
    // failed are released again, so a NACK never hides an activation. The answer's room is
    // made first (kept from the last answer, mostly), a slot and what the last transaction
    // may add past it before it is refused: nothing after a transaction took effect can fail
    // for memory outside a transaction.
    if (out.capacity() < 2 * kCtrlRspSlotSize &&
        kernel::try_reserve(out, 2 * kCtrlRspSlotSize).is_error())
        return nack(h, kFwNoResources, UINT32_MAX);
    out.resize(sizeof(WireMsgHdr));
    uint32_t count = 0;
    pos = sizeof(WireMsgHdr);
    activated_.clear(); // room for every DBC: an activation cannot fail to be recorded
    nnc_made_.clear();
    nnc_vc_setup_ = {};
    auto refuse = [&](uint32_t st, uint32_t index) {
        for (unsigned id : activated_)
            card_.dbc(id).release();
        nnc_undo_message(h.handle);
        return nack(h, st, index);
    };
    for (uint32_t i = 0; i < h.count; ++i) {
        uint32_t tlen = load<WireTransHdr>(req.data() + pos).len;
        size_t before = out.size();
        uint32_t st;
        // Out of memory (a process out of address space): refused as any failed transaction
        // is, its message undone.
        try {
            st = handle_transaction(h.handle, req.data() + pos, tlen, out);
        } catch (const std::bad_alloc &) {
            st = kFwNoResources;
        }
        if (st == kFwOk && out.size() > kCtrlRspSlotSize)
            st = kFwBadLength; // the answers would not fit one response message
        if (st != kFwOk)
            return refuse(st, i);
        if (out.size() != before)
            ++count;
        pos += tlen;
    }
    bool nnc_answered;
    try {
        nnc_answered = nnc_end_message(h.handle, out);
    } catch (const std::bad_alloc &) {
        return refuse(kFwNoResources, UINT32_MAX);
    }
    if (nnc_answered) {
        ++count;
        if (out.size() > kCtrlRspSlotSize)
            return refuse(kFwBadLength, UINT32_MAX);
    }
    // A misbehaving firmware: unasked-for STATUS answers, as many as the slot holds.
    for (uint32_t i = 0; i < pad_count_ && out.size() + sizeof(WireStatusFromDev) <= kCtrlRspSlotSize;
         ++i, ++count)
        append(out, WireStatusFromDev{{QAIC_TRANS_STATUS_FROM_DEV, sizeof(WireStatusFromDev)},
                                      kFwMajor, kFwMinor, kFwOk, kStatusFlagCrcRequired});

    WireMsgHdr rh = h;
    rh.len = uint32_t(out.size());
    rh.count = count;
    rh.crc32 = 0;
    std::memcpy(out.data(), &rh, sizeof(rh));
    rh.crc32 = wire_crc(out.data(), rh.len);
    std::memcpy(out.data(), &rh, sizeof(rh));
}

uint32_t Firmware::handle_transaction(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out)
{
    switch (load<WireTransHdr>(t).type) {
    case QAIC_TRANS_PASSTHROUGH_TO_DEV: return do_passthrough(user, t, len, out);
    case QAIC_TRANS_DMA_XFER_TO_DEV: return do_dma_xfer(user, t, len, out);
    case QAIC_TRANS_ACTIVATE_TO_DEV: return do_activate(user, t, len, out);
    case QAIC_TRANS_DEACTIVATE_FROM_USR: return do_deactivate(user, t, len, out);
    case QAIC_TRANS_TERMINATE_TO_DEV: return do_terminate(user, t, len, out);
    case QAIC_TRANS_STATUS_TO_DEV: {
        if (len != sizeof(WireTransHdr))
            return kFwBadLength;
        WireStatusFromDev s{{QAIC_TRANS_STATUS_FROM_DEV, sizeof(WireStatusFromDev)},
                            kFwMajor, kFwMinor, kFwOk, kStatusFlagCrcRequired};
        append(out, s);
        return kFwOk;
    }
    default: return kFwBadTransaction;
    }
}

uint64_t Firmware::image_bytes() const
{
    uint64_t n = nnc_bytes();
    for (const auto &[key, img] : images_)
        n += img.data.size();
    return n;
}

void Firmware::drop_user_images(uint32_t user)
{
    for (auto it = images_.begin(); it != images_.end();)
        it = it->first.first == user ? images_.erase(it) : std::next(it);
    xfers_.erase(user);
    nnc_drop_user(user);
}

uint32_t Firmware::do_dma_xfer(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out)
{
    if (len < sizeof(WireDmaXfer))
        return kFwBadLength;
    WireDmaXfer x = load<WireDmaXfer>(t);
    if (uint64_t(len) != sizeof(WireDmaXfer) + uint64_t(x.count) * sizeof(WireAddrSize) ||
        (x.flags & ~kDmaXferMore) || ((x.flags & kDmaXferMore) && !x.dma_chunk_id))
        return kFwBadLength;

    // A transfer that fails drops what it brought so far, the image and the NNC load waiting
    // for it. Out of memory (a process out of address space) is NO_RESOURCES, as the image
    // store's own limit.
    auto drop = [&](uint32_t status) {
        images_.erase({user, x.tag});
        xfers_.erase(user);
        nnc_drop_pending(user);
        return status;
    };
    Xfer *xf;
    Image *img;
    bool continuing;
    try {
        // A chunked transfer continues only the transfer it started; anything else starts anew.
        xf = &xfers_[user];
        continuing = x.dma_chunk_id && xf->chunk_id == x.dma_chunk_id;
        if (continuing && xf->tag != x.tag)
            return kFwBadTransaction;
        img = &images_[{user, x.tag}];
    } catch (const std::bad_alloc &) {
        return drop(kFwNoResources);
    }
    if (!continuing) {
        *xf = {x.dma_chunk_id, x.tag, 0};
        img->data.clear();
    }

    uint64_t budget = kImageMemory - std::min(kImageMemory, image_bytes());
    // Room for the whole message at once: grown run by run, an image was moved nine times on
    // its way to 2 MiB.
    uint64_t wanted = 0;
    for (uint32_t i = 0; i < x.count && wanted <= budget; ++i)
        wanted += std::min(budget + 1, load<WireAddrSize>(t + sizeof(WireDmaXfer) +
                                                          i * sizeof(WireAddrSize)).size);
    bool reserved = wanted <= budget;
    if (reserved &&
        kernel::try_alloc([&] { img->data.reserve(img->data.size() + wanted); }).is_error())
        return drop(kFwNoResources);
    for (uint32_t i = 0; i < x.count; ++i) {
        WireAddrSize e = load<WireAddrSize>(t + sizeof(WireDmaXfer) + i * sizeof(WireAddrSize));
        if (e.size > budget)
            return drop(kFwNoResources);
        // Appended as read: zeroing the room first would write every byte twice.
        bool room = true;
        RspStatus st = card_.iommu().access(e.addr, e.size, kPermRead, [&](void *host) {
            auto *from = static_cast<const uint8_t *>(host);
            // Within the room made above nothing allocates: no allocation point per pair (a
            // sweep failing each in turn would be quadratic in the pairs).
            if (reserved)
                kernel::append_bytes(img->data, from, e.size);
            else
                room = room && !kernel::try_alloc([&] {
                                   kernel::append_bytes(img->data, from, e.size);
                               }).is_error();
        });
        if (st != kRspOk || !room)
            return drop(room ? kFwDmaFault : kFwNoResources);
        budget -= e.size;
        xf->bytes += e.size;
    }
    if (x.flags & kDmaXferMore) {
        WireDmaXferCont c{{QAIC_TRANS_DMA_XFER_CONT, sizeof(WireDmaXferCont)}, x.dma_chunk_id, 0,
                          xf->bytes};
        append(out, c);
    } else {
        xfers_.erase(user);
        nnc_data(user, x.tag, out); // an NNC load waiting for this data is answered now
    }
    return kFwOk;
}

uint32_t Firmware::do_passthrough(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out)
{
    const uint8_t *payload = t + sizeof(WireTransHdr);
    uint32_t payload_len = len - uint32_t(sizeof(WireTransHdr));
    if (payload_len >= 4 && load<uint32_t>(payload) < kFwOpBase)
        return do_nnc(user, payload, payload_len, out);
    // Answer: PASSTHROUGH_FROM_DEV, then status:u32, data_len:u32, data, padded to 8 bytes.
    auto answer = [&](uint32_t status, const void *data, uint32_t data_len) {
        uint32_t body = 8 + data_len;
        uint32_t total = uint32_t(sizeof(WireTransHdr)) + ((body + 7) & ~7u);
        append(out, WireTransHdr{QAIC_TRANS_PASSTHROUGH_FROM_DEV, total});
        append(out, status);
        append(out, data_len);
        auto *p = static_cast<const uint8_t *>(data);
        out.insert(out.end(), p, p + data_len);
        out.resize(out.size() + (total - sizeof(WireTransHdr) - body), 0);
        return kFwOk;
    };
    if (len < sizeof(WireTransHdr) + sizeof(FwCmdHdr))
        return answer(kFwBadCommand, nullptr, 0);
    FwCmdHdr cmd = load<FwCmdHdr>(t + sizeof(WireTransHdr));
    const uint8_t *args = t + sizeof(WireTransHdr) + sizeof(FwCmdHdr);
    uint32_t room = len - uint32_t(sizeof(WireTransHdr) + sizeof(FwCmdHdr));
    if (cmd.arg_len > room)
        return answer(kFwBadCommand, nullptr, 0);

    switch (cmd.opcode) {
    case kFwOpImageInfo: {
        if (cmd.arg_len < 4)
            return answer(kFwBadCommand, nullptr, 0);
        auto it = images_.find({user, load<uint32_t>(args)});
        if (it == images_.end())
            return answer(kFwBadCommand, nullptr, 0);
        struct {
            uint64_t size;
            uint32_t crc;
            uint32_t pad;
        } info{it->second.data.size(),
               kernel::crc32(0, it->second.data.data(), it->second.data.size()), 0};
        return answer(kFwOk, &info, sizeof(info));
    }
    case kFwOpImageToDdr: {
        if (cmd.arg_len < 16)
            return answer(kFwBadCommand, nullptr, 0);
        auto it = images_.find({user, load<uint32_t>(args)});
        uint64_t dev_addr = load<uint64_t>(args + 8);
        if (it == images_.end() || !card_.ddr().contains(dev_addr, it->second.data.size()))
            return answer(kFwBadCommand, nullptr, 0);
        // An empty image (a DMA_XFER without runs) copies nothing: memcpy from an empty
        // vector's null data() is undefined even for no bytes (found by firmware_fuzz).
        if (!it->second.data.empty())
            std::memcpy(card_.ddr().at(dev_addr), it->second.data.data(), it->second.data.size());
        return answer(kFwOk, nullptr, 0);
    }
    case kFwOpImageDrop: {
        if (cmd.arg_len < 4 || !images_.erase({user, load<uint32_t>(args)}))
            return answer(kFwBadCommand, nullptr, 0);
        return answer(kFwOk, nullptr, 0);
    }
    case kFwOpLoadProgram: {
        // Refusals NACK the message: a program that does not load must not look loaded.
        if (cmd.arg_len < 8)
            return kFwBadCommand;
        auto it = images_.find({user, load<uint32_t>(args)});
        uint32_t dbc_id = load<uint32_t>(args + 4);
        if (it == images_.end())
            return kFwBadCommand;
        if (dbc_id >= card_.num_dbc() || card_.dbc(dbc_id).state() != kDbcAssigned ||
            card_.dbc(dbc_id).owner() != user)
            return kFwNotOwner;
        if (uint32_t st = card_.nsp().load(dbc_id, it->second.data); st != kFwOk)
            return st;
        return answer(kFwOk, nullptr, 0);
    }
    default: return answer(kFwBadCommand, nullptr, 0);
    }
}

uint32_t Firmware::do_activate(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out)
{
    if (len != sizeof(WireActivateToDev))
        return kFwBadLength;
    WireActivateToDev a = load<WireActivateToDev>(t);
    if (nnc_activate_refused())
        return kFwOk; // its NNC ACTIVATE was refused: the passthrough's answer alone
    WireActivateFromDev r{{QAIC_TRANS_ACTIVATE_FROM_DEV, sizeof(WireActivateFromDev)}, kFwOk, 0,
                          a.options};
    uint32_t n = a.req_q_size;
    bool geometry_ok = n >= 2 && n <= 65536 && a.rsp_q_size == n &&
                       a.buf_len == queue_buf_size(n) && a.req_q_addr % 64 == 0 &&
                       a.rsp_q_addr == a.req_q_addr + a.buf_len - uint64_t(n) * sizeof(DbcRsp);
    if (!geometry_ok) {
        r.status = kFwBadTransaction;
    } else {
        r.status = kFwNoResources;
        for (unsigned id = 0; id < card_.num_dbc(); ++id) {
            Dbc &dbc = card_.dbc(id);
            if (dbc.state() == kDbcIdle && dbc.owner() == 0) {
                dbc.assign(a.req_q_addr, a.rsp_q_addr, n, user);
                activated_.push_back(id);
                r.status = kFwOk;
                r.dbc_id = id;
                break;
            }
        }
    }
    nnc_vc_assigned(r.status, r.dbc_id, out);
    append(out, r);
    return kFwOk;
}

uint32_t Firmware::do_deactivate(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out)
{
    if (len != sizeof(WireDeactivateToDev))
        return kFwBadLength;
    WireDeactivateToDev d = load<WireDeactivateToDev>(t);
    WireDeactivateFromDev r{{QAIC_TRANS_DEACTIVATE_FROM_DEV, sizeof(WireDeactivateFromDev)},
                            kFwOk, d.dbc_id};
    if (d.dbc_id >= card_.num_dbc())
        r.status = kFwBadTransaction;
    else if (card_.dbc(d.dbc_id).state() != kDbcAssigned || card_.dbc(d.dbc_id).owner() != user)
        r.status = kFwNotOwner;
    else
        card_.dbc(d.dbc_id).release();
    if (misname_count_) {
        --misname_count_;
        r.dbc_id = (d.dbc_id + 1) % card_.num_dbc(); // a misbehaving firmware names another
    }
    append(out, r);
    return kFwOk;
}

uint32_t Firmware::do_terminate(uint32_t, const uint8_t *t, uint32_t len, Bytes &out)
{
    if (len != sizeof(WireTerminateToDev))
        return kFwBadLength;
    WireTerminateToDev term = load<WireTerminateToDev>(t);
    for (unsigned id = 0; id < card_.num_dbc(); ++id)
        if (card_.dbc(id).owner() == term.handle && card_.dbc(id).state() == kDbcAssigned)
            card_.dbc(id).release();
    drop_user_images(term.handle);
    append(out, WireTerminateFromDev{{QAIC_TRANS_TERMINATE_FROM_DEV, sizeof(WireTerminateFromDev)},
                                     kFwOk, 0});
    return kFwOk;
}

// ---------------------------------------------------------------------------- SSR

// One step of the restart at the head of the queue: move the DBC to the next state and tell
// the host; the next step waits for the host's acknowledgement. In BEFORE_POWER_UP, once
// acknowledged, the crash dump is offered and transferred before the last step. Without an
// enabled SSR channel the steps run without events, and no dump is offered.
void Firmware::advance_ssr(std::unique_lock<std::mutex> &lk)
{
    Ssr &s = ssr_queue_.front();
    Dbc &dbc = card_.dbc(s.dbc_id);
    if (s.event == 0 && dbc.state() != kDbcAssigned) {
        ssr_queue_.pop_front(); // nothing running there to restart
        return;
    }
    if (s.event == kSsrBeforePowerUp && s.dump == Dump::kNotYet && ssr_.enabled() &&
        s.fault != kDumpNone) {
        offer_dump(s, lk);
        return;
    }
    uint32_t next = s.event == 0 ? kSsrBeforeShutdown : s.event + 1;
    if (next > kSsrAfterPowerUp) {
        dbc.release();
        ssr_queue_.pop_front();
        return;
    }
    if (next == kSsrBeforeShutdown) {
        take_snapshot(s); // the crashed subsystem as it was
        dbc.shutdown(kDbcBeforeShutdown);
    } else {
        dbc.set_state(DbcState(next)); // event codes 2..5 match DBC states 2..5
    }
    s.event = next;
    if (!ssr_.enabled())
        return;
    SsrEventMsg msg{kSsrEvent, s.dbc_id, next};
    ssr_waiting_ack_ = true;
    post_d2h(ssr_, &msg, sizeof(msg), lk);
}

// The crash dump: a table of three regions (the DBC's registers, a crash log, the first
// kSsrDumpDdrBytes of DDR), laid out from kSsrDumpBase, all copied now.
void Firmware::take_snapshot(Ssr &s)
{
    if (s.fault == kDumpNone)
        return;
    Dbc &dbc = card_.dbc(s.dbc_id);
    std::vector<uint8_t> regs;
    for (uint64_t off = 0; off < kDbcSem0 + 4 * kNumSems; off += 4)
        append(regs, dbc.read_reg(off));
    char log[256];
    int n = std::snprintf(log, sizeof(log),
                          "qaic-sim firmware: DBC %u subsystem crashed (owner %u, state %u), "
                          "restarting\n",
                          s.dbc_id, dbc.owner(), uint32_t(dbc.state()));
    std::vector<uint8_t> text(log, log + std::min<size_t>(size_t(n), sizeof(log) - 1));
    std::vector<uint8_t> ddr(std::min<uint64_t>(kSsrDumpDdrBytes, card_.ddr().size()));
    if (!card_.ddr_read(0, ddr.data(), ddr.size()))
        ddr.assign(ddr.size(), 0);
    const std::vector<uint8_t> *regions[] = {&regs, &text, &ddr};
    const char *descs[] = {"DBC registers", "crash log", "DDR"};
    const char *files[] = {"dbc_regs.bin", "crash_log.txt", "ddr.bin"};
    std::vector<uint8_t> table;
    uint64_t at = kSsrDumpBase + 3 * sizeof(SsrDumpTableEntry);
    for (unsigned i = 0; i < 3; ++i) {
        SsrDumpTableEntry e{};
        e.save_perf = 0;
        e.mem_base = at;
        e.len = regions[i]->size();
        std::snprintf(e.desc, sizeof(e.desc), "%s", descs[i]);
        std::snprintf(e.filename, sizeof(e.filename), "%s", files[i]);
        if (s.fault == kDumpZeroEntry && i == 1)
            e.len = 0;
        if (s.fault == kDumpHugeEntry && i == 2)
            e.len = uint64_t(1) << 62;
        append(table, e);
        at += regions[i]->size();
    }
    s.snapshot = std::move(table);
    for (auto *r : regions)
        s.snapshot.insert(s.snapshot.end(), r->begin(), r->end());
}

void Firmware::offer_dump(Ssr &s, std::unique_lock<std::mutex> &lk)
{
    SsrDebugTransferInfo info{};
    info.hdr = {kSsrDebugTransferInfo, sizeof(info), s.dbc_id};
    info.tbl_addr = kSsrDumpBase;
    info.tbl_len = 3 * sizeof(SsrDumpTableEntry);
    if (s.fault == kDumpBadTableLen)
        info.tbl_len -= 8;
    s.dump = Dump::kOffered;
    ssr_waiting_ack_ = true; // on the host's answer, then its reads, then DONE
    post_d2h(ssr_, &info, sizeof(info), lk);
}

// A dump request of the host (INFO_RSP, MEMORY_READ, DONE) for the restart at the queue's head.
void Firmware::serve_dump_request(Ssr &s, const Bytes &slot, std::unique_lock<std::mutex> &lk)
{
    SsrDumpHdr hdr = load<SsrDumpHdr>(slot.data());
    if (hdr.dbc_id != s.dbc_id)
        return;
    if (hdr.cmd == kSsrDebugTransferInfoRsp && s.dump == Dump::kOffered) {
        bool ready = load<SsrDebugTransferInfoRsp>(slot.data()).ret == 0;
        s.dump = ready ? Dump::kTransfer : Dump::kDone;
        ssr_waiting_ack_ = ready;
        return;
    }
    if (hdr.cmd == kSsrDebugTransferDone && s.dump == Dump::kTransfer) {
        SsrDebugTransferDoneRsp rsp{{kSsrDebugTransferDoneRsp, sizeof(rsp), s.dbc_id},
                                    s.fault == kDumpDoneNack ? 1u : 0u};
        s.dump = Dump::kDone;
        ssr_waiting_ack_ = false;
        post_d2h(ssr_, &rsp, sizeof(rsp), lk);
        return;
    }
    if (hdr.cmd != kSsrMemoryRead || s.dump != Dump::kTransfer)
        return;
    SsrMemoryRead rd = load<SsrMemoryRead>(slot.data());
    uint32_t nth = ++s.reads;
    bool hit = nth >= s.nth;
    if (s.fault == kDumpStall && hit)
        return; // the firmware died for good: no answer, nor any later step
    if (s.fault == kDumpPowerUpEarly && hit) {
        s.dump = Dump::kDone; // on to AFTER_POWER_UP, the read unanswered
        ssr_waiting_ack_ = false;
        return;
    }
    // What is asked, within the snapshot and one chunk; anything else gets no data.
    uint64_t len = 0;
    if (rd.addr >= kSsrDumpBase && rd.addr - kSsrDumpBase <= s.snapshot.size() &&
        rd.len <= kSsrMemReadChunk && rd.len <= s.snapshot.size() - (rd.addr - kSsrDumpBase))
        len = rd.len;
    if (s.fault == kDumpEmptyChunk && hit)
        len = 0;
    Bytes rsp(sizeof(SsrMemoryReadRsp) + kSsrMemReadChunk, 0);
    if (len)
        std::memcpy(rsp.data() + sizeof(SsrMemoryReadRsp),
                    s.snapshot.data() + (rd.addr - kSsrDumpBase), len);
    uint32_t dbc = s.dbc_id;
    if (s.fault == kDumpWrongDbc && hit)
        dbc = (dbc + 1) % card_.num_dbc();
    if (s.fault == kDumpOversize && hit)
        len = std::min<uint64_t>(len + 8, kSsrMemReadChunk); // more than asked
    SsrMemoryReadRsp h{{kSsrMemoryReadRsp, uint32_t(sizeof(h) + len), dbc}, 0};
    std::memcpy(rsp.data(), &h, sizeof(h));
    post_d2h(ssr_, rsp.data(), sizeof(h) + len, lk);
}

void Firmware::serve_ssr_acks(std::unique_lock<std::mutex> &lk)
{
    Bytes slot;
    if (ssr_.pop_h2d(slot) != kRspOk)
        return;
    uint32_t cmd = load<uint32_t>(slot.data());
    if (ssr_queue_.empty())
        return;
    if (cmd != kSsrEventRsp) {
        serve_dump_request(ssr_queue_.front(), slot, lk);
        return;
    }
    SsrEventRsp rsp = load<SsrEventRsp>(slot.data());
    // A NACK of AFTER_POWER_UP (the host was still collecting the dump) ends the restart
    // as an ack does.
    if (ssr_waiting_ack_ && rsp.dbc_id == ssr_queue_.front().dbc_id &&
        (rsp.event == ssr_queue_.front().event ||
         (rsp.event == kSsrNack && ssr_queue_.front().event == kSsrAfterPowerUp)))
        ssr_waiting_ack_ = false;
}

// ---------------------------------------------------------------------------- RAS

void Firmware::raise_ras(uint32_t source, uint32_t err_type, uint32_t malform)
{
    RasMsg m{};
    m.magic = kRasMagic;
    m.ver = kRasVersion;
    m.type = kRasPush;
    m.len = sizeof(RasMsg) - kRasHdrSize;
    m.source = source;
    m.err_type = err_type;
    m.err_threshold = 1;
    m.intr_num = 32 + source;
    // A syndrome for the source, with values a reader can tell apart.
    auto put32 = [&](size_t at, uint32_t v) { std::memcpy(m.syndrome + at, &v, 4); };
    switch (source) {
    case kRasSocMem: {
        uint64_t addr = 0x1000 + err_type;
        std::memcpy(m.syndrome, &addr, 8);
        break;
    }
    case kRasPcie:
        put32(0, 1);  // bad TLP
        put32(24, 2); // FC timeout
        put32(48, 0xB0000000); // UE address
        break;
    case kRasDdr:
        put32(0, 1);          // count
        put32(40, 0x200000);  // address lsb
        break;
    case kRasTsens:
        put32(0, err_type == kRasCe ? 1 : 2); // upper, or critical
        put32(4, err_type == kRasCe ? 95 : 125);
        break;
    case kRasNspMem:
        put32(0, 0x4000);
        m.syndrome[32] = 0; // NSP 0
        break;
    default: break;
    }
    switch (malform) {
    case kRasBadMagic: m.magic = 0xAA55; break;
    case kRasVersionZero: m.ver = 0; break;
    case kRasVersionNew: m.ver = kRasVersion + 1; break;
    case kRasNotPush: m.type = kRasResp; break;
    case kRasBadLen: m.len = sizeof(RasMsg); break;
    case kRasBadErrType: m.err_type = kRasErrTypeMax; break;
    case kRasBadSource: m.source = kRasSourceMax; break;
    case kRasBadThreshold:
        m.source = kRasTsens;
        put32(0, kRasTsensLevels);
        break;
    default: break;
    }
    {
        std::lock_guard lk(lock_);
        m.seq_num = ras_seq_++;
        // No host listening: the report is lost. Reports pile up only while the host is slow
        // to read them: a bounded backlog, the oldest kept.
        if (!ras_.enabled() || ras_queue_.size() >= kChMaxNelem)
            return;
        ras_queue_.push_back(m);
    }
    cv_.notify_all();
}

} // namespace aic100
