// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer: sequences of ioctls on two files of the embedded card, as a hostile user makes
// them. The input is a program of operations (one byte each, then its arguments): CREATE,
// MMAP (and a touch of the mapping), ATTACH, EXECUTE, PARTIAL_EXECUTE, WAIT (short
// timeouts), PERF_STATS, DETACH, GEM_CLOSE, VERSION, MANAGE (well-formed ACTIVATE and
// DEACTIVATE, a DMA_XFER of several messages, and raw transaction buffers), with handles and
// DBC ids drawn mostly from what earlier calls returned, and argument pointers that are valid,
// NULL, in a guard page, read-only, or run into the guard; and faults of the card in between (DMA
// errors, hangs, lost MSIs, a slow firmware, NACKs, padded or misnamed answers, subsystem
// restarts, resets).
// No MANAGE may write past the user's 4096-byte message. The card stays up across inputs
// (fast; it is reset only after an input that injected a fault); after each input both files
// are closed and the device must be as before: no BO memory and no DBC in use.
#include "fuzz/harness.h"
#include "host/machine.h"

#include <drm.h>
#include <drm/qaic_accel.h>
#include <qaic/qaic.h>
#include <qaic/qaic_sim.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace {

using fuzz::arena;
using fuzz::Input;
using fuzz::kPage;

constexpr uint32_t kMaxBo = 1 << 20; // bytes; keeps an input's memory small
// Operations per input. 64 until session 17: twice the time per input, and from the seeds
// no more coverage in five minutes than 32 reached in three (docs/testing.md).
constexpr unsigned kMaxOps = 32;
// One BO at most per operation, and one more operation inside a slow-firmware fault:
// check_bos_held keeps the BOs of an input in a 64-bit mask.
static_assert(2 * kMaxOps <= 64);

// What earlier calls returned, to draw arguments from.
struct State {
    int fd[2] = {-1, -1};
    bool faulted = false;    // a card fault was injected: undone after the input
    bool reset_needed = false; // one that leaves the card armed or busy: reset after the input
    bool misbehaved = false; // the firmware was made to answer wrongly (NACKs, padding,
                             // misnaming; silence around a reset, which fails its recovery)
    bool padded = false;     // it pads every answer
    bool silent = false;     // the firmware is silent (during one operation)
    bool silenced = false;   // it was, in this input
    bool reset = false;      // the card was reset
    bool moved_big = false;  // a DMA_XFER of 16 MiB or more ran: one per input (each costs ms)
    unsigned ops = 0;        // operations run (one run inside a slow-firmware fault counts too)
    std::vector<uint32_t> handles;
    std::vector<uint32_t> dbcs;
    // The BOs created, by file and open handle, as the number of each (a handle is reused
    // after GEM_CLOSE), and each one's size: what a mapping left in place keeps allocated.
    std::map<std::pair<unsigned, uint32_t>, unsigned> bo_of;
    std::vector<uint64_t> bo_size;
    // The mappings left in place between operations (never overlapping): the BO each maps,
    // and the file it was mapped through.
    struct Piece {
        uint8_t *start;
        size_t len;
        unsigned bo;
        unsigned file;
    };
    std::vector<Piece> pieces;

    uint32_t handle(Input &in)
    {
        uint8_t b = in.u8();
        if (handles.empty() || b >= 240)
            return b >= 250 ? in.u32() : b; // sometimes anything
        return handles[b % handles.size()];
    }
    uint32_t dbc(Input &in)
    {
        uint8_t b = in.u8();
        if (dbcs.empty() || b >= 224)
            return b >= 250 ? in.u32() : b % 20;
        return dbcs[b % dbcs.size()];
    }
};

// The inputs run before the current one: the card is kept across inputs, so a finding may
// need what they left. With UAPI_FUZZ_HISTORY=DIR a finding writes the last 64 to DIR, named
// in the order they ran; running them and then the finding's input replays it
// (uapi_fuzz DIR/* crash-...). Static: recording allocates nothing.
struct History {
    static constexpr unsigned kInputs = 64;
    static constexpr size_t kBytes = 4096; // libFuzzer's -max_len unless told otherwise
    uint8_t data[kInputs][kBytes];
    size_t size[kInputs];
    uint64_t count = 0;

    void record(const uint8_t *p, size_t n)
    {
        unsigned slot = unsigned(count++ % kInputs);
        size[slot] = std::min(n, kBytes);
        std::memcpy(data[slot], p, size[slot]);
    }
    void write(const char *dir) const
    {
        mkdir(dir, 0755); // or there already
        uint64_t first = count > kInputs ? count - kInputs : 0;
        unsigned written = 0;
        for (uint64_t i = first; i < count; ++i) {
            char path[4096];
            std::snprintf(path, sizeof(path), "%s/%02llu", dir, (unsigned long long)(i - first));
            FILE *f = std::fopen(path, "wb");
            if (!f)
                continue;
            written += std::fwrite(data[i % kInputs], 1, size[i % kInputs], f) == size[i % kInputs];
            written -= std::fclose(f) != 0;
        }
        std::fprintf(stderr, "uapi_fuzz: %u of the %llu inputs before this one written to %s\n",
                     written, (unsigned long long)(count - first), dir);
    }
};
History history;

[[noreturn]] void finding(const char *what, uint64_t value)
{
    std::fprintf(stderr, "uapi_fuzz: %s (%llu)\n", what, (unsigned long long)value);
    if (const char *dir = std::getenv("UAPI_FUZZ_HISTORY"))
        history.write(dir);
    std::abort();
}

// Where BOs are mapped: slots of a window the harness reserved (PROT_NONE), so that a mapping
// with MAP_FIXED replaces only the harness's own mappings or its reservation. A slot whose
// range another thread took while it was unmapped (between a munmap and its reservation
// again) is not used again.
struct Window {
    static constexpr unsigned kSlots = 4;
    static constexpr size_t kSlotBytes = 2 * size_t(kMaxBo); // an offset and a length, each <= kMaxBo
    uint8_t *base;
    bool broken[kSlots] = {};
    Window()
    {
        void *p = mmap(nullptr, kSlots * kSlotBytes, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            std::abort();
        base = static_cast<uint8_t *>(p);
    }
    uint8_t *slot(unsigned i) const { return base + size_t(i) * kSlotBytes; }
    unsigned slot_of(const uint8_t *p) const { return unsigned(size_t(p - base) / kSlotBytes); }
    // Unmaps a mapping of the driver's and reserves its range again.
    void unmap(uint8_t *p, size_t len)
    {
        if (qaic_munmap(p, len) != 0)
            finding("qaic_munmap of a mapping left in place failed", uint64_t(errno));
        if (mmap(p, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
                 -1, 0) != p)
            broken[slot_of(p)] = true;
    }
};
Window &window()
{
    static Window w;
    return w;
}

// Takes [start, end) out of the pieces: those inside it go, those across its ends are trimmed,
// one across both is split (as the driver's mapping records must be).
void carve(std::vector<State::Piece> &pieces, uint8_t *start, uint8_t *end)
{
    std::vector<State::Piece> out;
    for (const State::Piece &p : pieces) {
        uint8_t *p_end = p.start + p.len;
        if (p_end <= start || p.start >= end) {
            out.push_back(p);
            continue;
        }
        if (p.start < start)
            out.push_back({p.start, size_t(start - p.start), p.bo, p.file});
        if (p_end > end)
            out.push_back({end, size_t(p_end - end), p.bo, p.file});
    }
    pieces.swap(out);
}

// A MANAGE answer is copied back over the user's message, which is 4096 bytes for it
// (QAIC_MANAGE_MAX_MSG_LENGTH); the bytes after those the driver must never write, whatever
// the card answers (a card that pads its answers, say).
constexpr uint32_t kMaxManage = 4096;
constexpr unsigned kControlTimeoutUs = 100; // see LLVMFuzzerTestOneInput
constexpr uint8_t kCanary = 0xa5;
constexpr uint8_t kBigXfer = 0xb1; // DMA_XFER's selector byte for a transfer of 16 MiB or more
void set_control_timeout_us(unsigned us)
{
    if (qaic_sim_set_param("control_resp_timeout_us", us) != 0)
        finding("qaic_sim_set_param(control_resp_timeout_us) failed", uint64_t(errno));
}

void check_canary(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; ++i)
        if (p[i] != kCanary)
            finding("MANAGE wrote past the end of the user's message, at byte", i);
}

// Where an argument of len bytes goes: mostly valid memory, else one of the bad places. The
// struct is copied there first when the place is writable.
void *place(Input &in, const void *arg, size_t len)
{
    fuzz::Arena &a = arena();
    switch (in.u8() % 16) {
    case 0: return nullptr;
    case 1: return a.guard;                                         // no access
    case 2: return a.ro;                                            // read-only
    case 3: return a.ro + kPage - std::min(len, kPage) / 2;         // into the guard
    case 4: {
        uint8_t *p = a.rw + kPage - std::min(len, kPage) / 2;       // into the read-only page
        std::memcpy(p, arg, std::min(len, kPage) / 2);
        return p;
    }
    default:
        std::memcpy(a.rw, arg, std::min(len, kPage));
        return a.rw;
    }
}

bool timed_out = false; // a MANAGE of this input gave up waiting (its answer may come late)

int call(int fd, unsigned long req, void *arg)
{
    int ret = qaic_ioctl(fd, req, arg) == 0 ? 0 : -errno;
    // Only a control message has an answer that can come late: a WAIT_BO's 1 ms timeouts,
    // the most common, leave nothing to check.
    timed_out |= ret == -ETIMEDOUT && req == DRM_IOCTL_QAIC_MANAGE;
    return ret;
}

// An array of count entries of T filled from the input, placed like an argument.
template <typename T> uint64_t array_arg(Input &in, uint32_t count, std::vector<T> &store)
{
    store.resize(std::min<uint32_t>(count, 8));
    for (T &e : store)
        in.bytes(&e, sizeof(e));
    if (store.empty())
        return in.u8() & 1 ? 0 : uint64_t(uintptr_t(arena().rw));
    static uint8_t buf[kPage];
    std::memcpy(buf, store.data(), store.size() * sizeof(T));
    switch (in.u8() % 8) {
    case 0: return 0;
    case 1: return uint64_t(uintptr_t(arena().guard));
    default: return uint64_t(uintptr_t(buf));
    }
}

void op(State &s, Input &in)
{
    ++s.ops;
    unsigned file = in.u8() & 1;
    int fd = s.fd[file];
    uint8_t code = in.u8() % 16;
    switch (code) {
    case 0: { // CREATE_BO
        qaic_create_bo c{};
        c.size = in.u8() & 1 ? in.u32() % kMaxBo : in.u64();
        if (c.size > kMaxBo)
            c.size %= kMaxBo + 1;
        c.pad = in.u8() < 8 ? in.u32() : 0;
        void *where = place(in, &c, sizeof(c));
        if (call(fd, DRM_IOCTL_QAIC_CREATE_BO, where) == 0 && where == arena().rw) {
            uint32_t h = static_cast<qaic_create_bo *>(where)->handle;
            s.handles.push_back(h);
            s.bo_of[{file, h}] = unsigned(s.bo_size.size());
            s.bo_size.push_back((c.size + kPage - 1) / kPage * kPage);
        }
        break;
    }
    case 1: { // MMAP_BO, then map it in a slot (maybe over mappings left there) and touch it
        uint32_t handle = s.handle(in);
        qaic_mmap_bo m{handle, 0, 0};
        auto *where = static_cast<qaic_mmap_bo *>(place(in, &m, sizeof(m)));
        // The mapping is read before the calls: an input is the same program however they
        // end, and whether one fails may depend on timing (ENODEV while the card recovers).
        size_t len = (size_t(in.u16()) + 1) * kPage % (kMaxBo + kPage);
        if (len == 0)
            len = kPage;
        uint8_t touch = in.u8(), how = in.u8();
        size_t offset = how & 0x80 ? size_t(in.u8()) * kPage % kMaxBo : 0;
        if (call(fd, DRM_IOCTL_QAIC_MMAP_BO, where) != 0 || where != static_cast<void *>(arena().rw))
            break;
        Window &w = window();
        unsigned slot = how % Window::kSlots;
        if (w.broken[slot])
            break;
        uint8_t *at = w.slot(slot) + offset;
        void *p = qaic_mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                            off_t(where->offset));
        if (p == MAP_FAILED)
            break;
        if (p != at)
            finding("MAP_FIXED mapped elsewhere than asked", uintptr_t(p));
        static_cast<volatile uint8_t *>(p)[0] = touch;
        carve(s.pieces, at, at + len);
        // Left in place (for later mappings to go over, and to keep its BO after the handle
        // and the file are closed) or unmapped at once.
        auto bo = s.bo_of.find({file, handle});
        if (how & 0x40 && bo != s.bo_of.end())
            s.pieces.push_back({at, len, bo->second, file});
        else
            w.unmap(at, len);
        break;
    }
    case 2: { // ATTACH_SLICE_BO
        qaic_attach_slice a{};
        a.hdr.handle = s.handle(in);
        a.hdr.dbc_id = s.dbc(in);
        a.hdr.dir = in.u8() % 4;
        a.hdr.count = in.u8() % 6;
        a.hdr.size = in.u8() & 1 ? in.u64() : 0;
        std::vector<qaic_attach_slice_entry> ents;
        a.data = array_arg(in, a.hdr.count, ents);
        call(fd, DRM_IOCTL_QAIC_ATTACH_SLICE_BO, place(in, &a, sizeof(a)));
        break;
    }
    case 3:
    case 4: { // EXECUTE_BO, PARTIAL_EXECUTE_BO
        qaic_execute e{};
        e.hdr.dbc_id = s.dbc(in);
        e.hdr.count = in.u8() % 5;
        // Sometimes a count far past the entries there are (only the first few are filled).
        uint32_t claimed = in.u8() < 8 ? in.u32() : e.hdr.count;
        if (code == 3) {
            std::vector<qaic_execute_entry> ents(e.hdr.count);
            for (auto &x : ents)
                x = {s.handle(in), uint32_t(in.u8() % 4)};
            e.data = ents.empty() ? 0 : uint64_t(uintptr_t(ents.data()));
            e.hdr.count = claimed;
            call(fd, DRM_IOCTL_QAIC_EXECUTE_BO, place(in, &e, sizeof(e)));
        } else {
            std::vector<qaic_partial_execute_entry> ents(e.hdr.count);
            for (auto &x : ents)
                x = {s.handle(in), uint32_t(in.u8() % 4), in.u8() & 1 ? in.u64() : in.u16()};
            e.data = ents.empty() ? 0 : uint64_t(uintptr_t(ents.data()));
            e.hdr.count = claimed;
            call(fd, DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO, place(in, &e, sizeof(e)));
        }
        break;
    }
    case 5: { // WAIT_BO for 1 ms, never the 5 s default
        qaic_wait w{s.handle(in), 1, s.dbc(in), in.u8() < 8 ? 1u : 0u};
        call(fd, DRM_IOCTL_QAIC_WAIT_BO, place(in, &w, sizeof(w)));
        break;
    }
    case 6: { // PERF_STATS_BO
        qaic_perf_stats p{};
        p.hdr.dbc_id = s.dbc(in);
        p.hdr.count = uint16_t(in.u8() % 5);
        std::vector<qaic_perf_stats_entry> ents(p.hdr.count);
        for (auto &x : ents)
            x.handle = s.handle(in);
        p.data = ents.empty() ? 0 : uint64_t(uintptr_t(ents.data()));
        call(fd, DRM_IOCTL_QAIC_PERF_STATS_BO, place(in, &p, sizeof(p)));
        break;
    }
    case 7: { // DETACH_SLICE_BO
        qaic_detach_slice d{s.handle(in), in.u8() < 8 ? 1u : 0u};
        call(fd, DRM_IOCTL_QAIC_DETACH_SLICE_BO, place(in, &d, sizeof(d)));
        break;
    }
    case 8: { // GEM_CLOSE
        drm_gem_close c{s.handle(in), in.u8() < 8 ? 1u : 0u};
        if (call(fd, DRM_IOCTL_GEM_CLOSE, place(in, &c, sizeof(c))) == 0)
            s.bo_of.erase({file, c.handle});
        break;
    }
    case 9: { // VERSION, with names into the arena's places
        drm_version v{};
        v.name_len = in.u8() % 64;
        v.name = static_cast<char *>(place(in, arena().rw + 2048, 0));
        call(fd, DRM_IOCTL_VERSION, place(in, &v, sizeof(v)));
        break;
    }
    case 10: { // MANAGE: ACTIVATE, well formed
        struct {
            qaic_manage_trans_activate_to_dev a;
            uint8_t rest[kMaxManage - sizeof(a)]; // the answer's room
            uint8_t canary[64];
        } buf{};
        buf.a.hdr = {QAIC_TRANS_ACTIVATE_FROM_USR, sizeof(buf.a)};
        buf.a.queue_size = 1u << (1 + in.u8() % 8);
        std::memset(buf.canary, kCanary, sizeof(buf.canary));
        qaic_manage_msg m{sizeof(buf.a), 1, uint64_t(uintptr_t(&buf))};
        int ret = call(fd, DRM_IOCTL_QAIC_MANAGE, &m);
        check_canary(buf.canary, sizeof(buf.canary));
        if (ret == 0) {
            qaic_manage_trans_activate_from_dev r;
            std::memcpy(&r, &buf, sizeof(r));
            if (r.hdr.type == QAIC_TRANS_ACTIVATE_FROM_DEV)
                s.dbcs.push_back(r.dbc_id);
        }
        break;
    }
    case 11: { // MANAGE: DEACTIVATE
        static uint8_t buf[kMaxManage];
        qaic_manage_trans_deactivate d{{QAIC_TRANS_DEACTIVATE_FROM_USR, sizeof(d)}, s.dbc(in), 0};
        std::memcpy(buf, &d, sizeof(d));
        qaic_manage_msg m{sizeof(d), 1, uint64_t(uintptr_t(buf))};
        call(fd, DRM_IOCTL_QAIC_MANAGE, &m);
        break;
    }
    case 12: { // MANAGE: raw transactions
        static uint8_t buf[kMaxManage + 64];
        uint32_t len = in.u16() % (sizeof(buf) + 1);
        in.bytes(buf, len);
        std::memset(buf + len, kCanary, sizeof(buf) - len); // the answer's room, and past it
        qaic_manage_msg m{in.u8() & 1 ? len : in.u32(), 0, 0};
        // Mostly a few transactions, sometimes up to around upstream's bound of 512.
        m.count = in.u8() < 224 ? in.u8() % 5 : in.u16() % 600;
        m.data = in.u8() < 16 ? uint64_t(uintptr_t(arena().guard)) : uint64_t(uintptr_t(buf));
        call(fd, DRM_IOCTL_QAIC_MANAGE, place(in, &m, sizeof(m)));
        check_canary(buf + std::max(len, kMaxManage), sizeof(buf) - std::max(len, kMaxManage));
        break;
    }
    case 13: { // an ioctl number around the driver's
        uint32_t nr = 0x40 + in.u8() % 24;
        unsigned long req = _IOC(in.u8() % 4, DRM_IOCTL_BASE, nr, in.u8() % 64);
        uint8_t arg[64] = {};
        in.bytes(arg, sizeof(arg));
        call(fd, req, place(in, arg, sizeof(arg)));
        break;
    }
    case 15: { // MANAGE: a DMA_XFER, up to 24 MiB (several messages), maybe after a STATUS
        // Only once the firmware pads its answers: alone, the firmware answers a DMA_XFER only
        // with the command that names its data, so it would wait out the control timeout
        // and test nothing raw MANAGE does not.
        if (!s.padded)
            break;
        static std::vector<uint8_t> data(24u << 20, 0x5a);
        static uint8_t buf[kMaxManage + 64];
        uint32_t len = 0;
        if (in.u8() & 1) {
            qaic_manage_trans_status_to_dev st{{QAIC_TRANS_STATUS_FROM_USR, sizeof(st)}};
            std::memcpy(buf, &st, sizeof(st));
            len += sizeof(st);
        }
        qaic_manage_trans_dma_xfer x{{QAIC_TRANS_DMA_XFER_FROM_USR, sizeof(x)}, 0, 0, 0, 0};
        x.tag = in.u8() % 4;
        // Mostly up to 16 KiB; 1 in 256 from 16 to 24 MiB, which takes two messages (one
        // holds 4028 pairs, of a page each: see LLVMFuzzerTestOneInput) and milliseconds to
        // copy. Not on the 0 an exhausted input reads: such inputs would all be slow.
        if (in.u8() == kBigXfer && !std::exchange(s.moved_big, true))
            x.size = (16u << 20) + uint64_t(in.u16()) * 128 % (8u << 20);
        else
            x.size = in.u16() % 16384 + 1;
        x.addr = uint64_t(uintptr_t(data.data() + data.size() - x.size));
        std::memcpy(buf + len, &x, sizeof(x));
        len += sizeof(x);
        std::memset(buf + len, kCanary, sizeof(buf) - len);
        qaic_manage_msg m{len, len == sizeof(x) ? 1u : 2u, uint64_t(uintptr_t(buf))};
        // The firmware copies the data before it answers: 2 MiB took 4-7 ms under the
        // sanitizers here, so up to 24 MiB up to 100 ms. 400 ms, not more: an input that
        // loses the answer waits it out.
        bool big = x.size > (1u << 20);
        if (big)
            set_control_timeout_us(400000);
        call(fd, DRM_IOCTL_QAIC_MANAGE, &m);
        if (big)
            set_control_timeout_us(kControlTimeoutUs);
        check_canary(buf + kMaxManage, sizeof(buf) - kMaxManage);
        break;
    }
    case 14: { // a fault of the card, between the calls; rare and small (each costs time)
        uint8_t which = in.u8();
        if (which >= 40)
            break;
        if (which >= 32) {
            // A slow firmware: silent during the next operation (what that sends times out),
            // then answering what waited, late. (A lost MSI alone does not make an answer
            // late: the timeout finds it in the ring.) One operation, not the rest of the
            // input: each message sent meanwhile costs a timeout.
            if (s.silent || qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 1, 0) != 0)
                break;
            s.faulted = s.silent = s.silenced = true;
            // A recovery that gets no answer gives the card up: as a NACK during one.
            s.misbehaved |= s.reset;
            op(s, in);
            (void)qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 0, 0);
            s.silent = false;
            break;
        }
        static const unsigned kFaults[] = {QAIC_SIM_DMA_ERROR, QAIC_SIM_HANG,    QAIC_SIM_DROP_MSI,
                                           QAIC_SIM_FW_NACK,   QAIC_SIM_SSR,     QAIC_SIM_RESET,
                                           QAIC_SIM_FW_PAD,    QAIC_SIM_FW_MISNAME};
        unsigned fault = kFaults[in.u8() % std::size(kFaults)];
        // Padding: up to the slot's end from 128 on (what overflows a user's 4096 bytes), else
        // a few answers: a full slot is about 250, each appended by the firmware and again by
        // the driver, about 80 ns each under the fuzzer's instrumentation, in every message.
        auto pad = [](uint8_t b) { return b >= 128 ? b : b % 8u; };
        unsigned arg0 = fault == QAIC_SIM_FW_PAD ? pad(in.u8())
                        : fault == QAIC_SIM_DROP_MSI || fault == QAIC_SIM_FW_NACK ||
                                fault == QAIC_SIM_FW_MISNAME || fault == QAIC_SIM_RESET
                            ? in.u8() % 3
                            : s.dbc(in);
        if (qaic_sim_inject(fd, qaic_sim_fault(fault), arg0, 1 + in.u8() % 3) == 0) {
            s.faulted = true;
            s.reset_needed |= fault == QAIC_SIM_DMA_ERROR || fault == QAIC_SIM_HANG ||
                              fault == QAIC_SIM_SSR;
            s.padded |= fault == QAIC_SIM_FW_PAD && arg0 > 0;
            s.reset |= fault == QAIC_SIM_RESET;
            s.misbehaved |= fault == QAIC_SIM_FW_NACK || fault == QAIC_SIM_FW_PAD ||
                            fault == QAIC_SIM_FW_MISNAME || (fault == QAIC_SIM_RESET && arg0) ||
                            (s.silenced && s.reset);
        }
        break;
    }
    }
}

// Sends STATUS until the card answers, with no recovery under way and the card still online
// after it, for at most `budget`: 0, or the last error (-EBUSY: answered, but recovering or
// given up). An answer alone is not enough: a recovery that began before it may go on to a
// pass of its own (a reset came during the last one), and that pass, run with the inputs'
// short timeout, may give the card up; or the recovery under way when the message went (the
// card is online during its last question) may give it up before the answer comes. With
// stop_if_given_up, a card offline with no recovery under way ends the wait at once (-ENODEV):
// given up, or a reset being found just then; the caller resets it either way.
int status_until_answered(int fd, std::chrono::milliseconds budget = std::chrono::seconds(5),
                          bool stop_if_given_up = false)
{
    int err = 0;
    auto deadline = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < deadline) {
        if (stop_if_given_up) {
            host::CardStats st = host::Machine::embedded().stats(0);
            if (!st.recovering && !st.online)
                return -ENODEV;
        }
        static uint8_t buf[kMaxManage]; // the answer is copied back over the message
        qaic_manage_trans_status_to_dev st{{QAIC_TRANS_STATUS_FROM_USR, sizeof(st)}};
        std::memcpy(buf, &st, sizeof(st));
        qaic_manage_msg m{sizeof(st), 1, uint64_t(uintptr_t(buf))};
        if ((err = call(fd, DRM_IOCTL_QAIC_MANAGE, &m)) == 0) {
            host::CardStats st = host::Machine::embedded().stats(0);
            if (!st.recovering && st.online)
                return 0;
            err = -EBUSY;
        }
        usleep(20);
    }
    return err;
}

// A MANAGE that timed out still took effect on the card when its answer came late (a
// firmware silent for a while, or slow for want of CPU). Unless the firmware was made to
// misbehave, every DBC the card has assigned must then be one the driver knows is in use:
// once the late answers are in (the next answered message brings them) and dealt with (on
// the driver's own time, within a second), as the driver takes back a DBC whose ACTIVATE its
// caller gave up on. After a reset the input made, the card may have been given up instead:
// its recovery asked with the inputs' 100 us timeout, and three questions can all lapse for
// want of CPU (the driver then rightly gives the card up; undo_faults resets it).
void check_late_answers(int fd, bool reset)
{
    (void)qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 0, 0);
    (void)qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 0, 0);
    // As after a reset (undo_faults): a card that works answers, within 5 s of tries that get
    // 1 s each, whatever MSIs were lost (a reset's among them).
    set_control_timeout_us(1000000);
    int err = status_until_answered(fd, std::chrono::seconds(5), reset);
    set_control_timeout_us(kControlTimeoutUs);
    if (err == -ENODEV && reset)
        return;
    if (err != 0)
        finding("a card without firmware misbehaviour did not answer STATUS within 5 s",
                uint64_t(-err));
    int n = qaic_sim_num_dbc(fd);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (;;) {
        uint64_t known = host::Machine::embedded().stats(0).dbcs_in_use_mask;
        int unknown = -1;
        for (int i = 0; i < n && i < 64 && unknown < 0; ++i) {
            qaic_sim_dbc_status st{};
            if (qaic_sim_get_dbc_status(fd, unsigned(i), &st) == 0 && st.state == 1 &&
                !(known >> i & 1))
                unknown = i;
        }
        if (unknown < 0)
            return;
        if (std::chrono::steady_clock::now() > deadline)
            finding("a DBC assigned on the card that the driver does not know of", unsigned(unknown));
        usleep(50);
    }
}

// Whether the card and the driver agree on every DBC: assigned on the card exactly when the
// driver holds it for a user.
bool dbcs_agree(int fd)
{
    int n = qaic_sim_num_dbc(fd);
    uint64_t known = host::Machine::embedded().stats(0).dbcs_in_use_mask;
    for (int i = 0; i < n && i < 64; ++i) {
        qaic_sim_dbc_status st{};
        if (qaic_sim_get_dbc_status(fd, unsigned(i), &st) != 0 ||
            (st.state == 1) != bool(known >> i & 1))
            return false;
    }
    return true;
}

// Every BO something still holds is allocated (BO memory in use covers them; there may be
// more: a DBC holds the BOs attached to it, a CREATE whose answer could not be written leaves
// a handle nobody knows). A mapping holds its BO, and the file it was made through (as a VMA
// holds its object and its struct file: the file is released at its last munmap), and an open
// file the BOs of its handles. With open_files, both files are open; else both are closed
// and only the files mapped are left. Checked after each operation, so that a finding names
// the operation, and after the files are closed.
void check_bos_held(const State &s, const char *when, bool open_files)
{
    uint64_t held = 0, files = open_files ? 3 : 0; // bit i: BO i, file i
    for (const State::Piece &p : s.pieces) {
        held |= uint64_t(1) << p.bo;
        files |= uint64_t(1) << p.file;
    }
    for (const auto &[key, bo] : s.bo_of)
        if (files >> key.first & 1)
            held |= uint64_t(1) << bo;
    uint64_t bytes = 0;
    for (unsigned bo = 0; bo < s.bo_size.size(); ++bo)
        if (held >> bo & 1)
            bytes += s.bo_size[bo];
    uint64_t in_use = host::Machine::embedded().stats(0).bo_bytes;
    if (in_use >= bytes)
        return;
    std::fprintf(stderr, "uapi_fuzz: %s, after operation %u: BO memory in use %llu, held %llu:",
                 when, s.ops, (unsigned long long)in_use, (unsigned long long)bytes);
    for (unsigned bo = 0; bo < s.bo_size.size(); ++bo)
        if (held >> bo & 1)
            std::fprintf(stderr, " BO %u (%llu bytes)", bo, (unsigned long long)s.bo_size[bo]);
    for (const auto &[key, bo] : s.bo_of)
        std::fprintf(stderr, "; file %u handle %u: BO %u", key.first, key.second, bo);
    for (const State::Piece &p : s.pieces)
        std::fprintf(stderr, "; mapping of BO %u through file %u, %zu bytes", p.bo, p.file, p.len);
    std::fputc('\n', stderr);
    finding("a BO something holds was freed: BO memory in use", in_use);
}

// Ends the faults an input left armed. After lost MSIs alone, with no MANAGE timed out, that is
// all: the card and the driver must go on from there as they are (the next inputs, and the checks
// after them, say whether they can). After a reset the input made, or a firmware made to answer
// wrongly, that is all too if the card answers within 50 ms, with no recovery under way, agrees
// with the driver on every DBC, and the driver keeps no ring for it: as a reset would leave them (a
// reset costs about 0.3 ms, and such inputs were two thirds of a grown corpus). Otherwise (a card
// given up is not waited for) the card is reset (which ends hangs and DMA errors still armed,
// whatever a misbehaving firmware made the two disagree on, and the rings an ACTIVATE whose DBC
// could not be taken, or taken back, left with the driver until then: kept into the next input,
// they were freed there, and such an input and the next allocated and freed unequal counts, which
// libFuzzer takes for a possible leak: each ran again and scanned for leaks, until after 1,000 such
// scans (a few minutes) it stopped looking for leaks at all). The next input starts from a card
// that works. It must be back within 5 s; one whose firmware answered wrongly during a recovery may
// have been given up for dead (the driver gives up on a device whose answers it cannot read), and
// is replaced by a fresh one. The recovery gets 1 s per control message, not the inputs' 100 us: on
// a loaded machine three such tries can all lapse for want of CPU, and the driver rightly gives the
// card up.
// Returns whether it was replaced (the files are then closed).
bool undo_faults(State &s)
{
    int fd = s.fd[0];
    for (qaic_sim_fault f : {QAIC_SIM_FW_SILENT, QAIC_SIM_FW_NACK, QAIC_SIM_FW_PAD, QAIC_SIM_FW_MISNAME})
        (void)qaic_sim_inject(fd, f, 0, 0);
    for (unsigned source = 0; source < 3; ++source)
        (void)qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, source, 0);
    if (!s.reset_needed && !timed_out) {
        if (!s.reset && !s.misbehaved)
            return false;
        set_control_timeout_us(1000000);
        bool settled = status_until_answered(fd, std::chrono::milliseconds(50), true) == 0 &&
                       dbcs_agree(fd) && host::Machine::embedded().stats(0).lost_rings == 0;
        set_control_timeout_us(kControlTimeoutUs);
        if (settled)
            return false;
    }
    set_control_timeout_us(1000000);
    (void)qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0);
    int err = status_until_answered(fd);
    if (err == 0) {
        set_control_timeout_us(kControlTimeoutUs);
        return false;
    }
    if (!s.misbehaved)
        finding("a card without firmware misbehaviour did not answer STATUS within 5 s of a reset",
                uint64_t(-err));
    if (qaic_sim_inject(fd, QAIC_SIM_REMOVE, 0, 0) != 0)
        finding("QAIC_SIM_REMOVE failed", uint64_t(errno));
    for (int f : s.fd)
        if (qaic_close(f) != 0)
            finding("qaic_close failed", uint64_t(errno));
    if (qaic_sim_replug() != 0)
        finding("qaic_sim_replug failed", uint64_t(errno));
    return true;
}

} // namespace

// Leaks are looked for after inputs (libFuzzer's -detect_leaks), not at exit: at exit the
// card of the last input may still be recovering from a reset on a driver thread, which
// LeakSanitizer's final check cannot stop. Allocations record two frames, not 30: the stack
// walk was a quarter of the time (a finding's input run again with
// ASAN_OPTIONS=malloc_context_size=30 has them whole).
extern "C" const char *__asan_default_options()
{
    return "leak_check_at_exit=0:malloc_context_size=2";
}

// qaic_sim_set_param acts on the card qaic_open(NULL) would open: named, it is not looked for
// among 64 /dev/accel nodes at every call.
extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    setenv("QAIC_DEVICE", "sim", 1);
    // Timed sleeps end on time: the default 50 us of slack is half the control timeout.
    prctl(PR_SET_TIMERSLACK, 1000UL);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Input in{data, size};
    State s;
    timed_out = false;
    for (int &fd : s.fd) {
        fd = qaic_open("sim");
        if (fd < 0)
            finding("qaic_open(\"sim\") failed", uint64_t(errno));
    }
    // A control message the card loses (a NACK, a reset whose MSI was dropped) costs its
    // timeout: 100 us here, not the minute a real card gets (again after a card was replaced:
    // a new one starts with the default). The simulated firmware serves a message on the
    // caller's thread (control_busy_poll), and its MSI comes on that thread too: an answer
    // that is not lost is there when the wait begins. With 20 ms, 40% of a grown corpus's
    // time went to such waits; with 1 ms, 40% of the time from the seeds once the late-answer
    // check had made lost MSIs interesting (docs/testing.md). A recovery whose questions all
    // time out for want of CPU gives the card up, and the next MANAGE that finds it reset
    // again takes it up (docs/design.md).
    // A DMA_XFER's bounce pages go as a pair each (dma_xfer_chunk_order 0), as a user's
    // scattered pages do upstream: continuation messages from about 16 MiB, not 252.
    static bool card_is_new = true;
    if (std::exchange(card_is_new, false) &&
        (qaic_sim_set_param("control_resp_timeout_us", kControlTimeoutUs) != 0 ||
         qaic_sim_set_param("dma_xfer_chunk_order", 0) != 0))
        finding("qaic_sim_set_param failed", uint64_t(errno));
    for (unsigned i = 0; i < kMaxOps && in.n; ++i) {
        op(s, in);
        check_bos_held(s, "with both files open", true);
    }
    if (timed_out && !s.misbehaved)
        check_late_answers(s.fd[0], s.reset);
    bool replaced = s.faulted && undo_faults(s);
    card_is_new = replaced;
    for (int fd : s.fd)
        if (!replaced && qaic_close(fd) != 0)
            finding("qaic_close failed", uint64_t(errno));
    // Both files closed: what their mappings hold is still allocated. Not after a replaced
    // card: the pieces map the old one's.
    if (!replaced)
        check_bos_held(s, "after both files were closed", false);
    for (const State::Piece &p : s.pieces)
        window().unmap(p.start, p.len);
    // Both files closed and nothing mapped: what they held is back.
    host::CardStats st = host::Machine::embedded().stats(0);
    if (st.dbcs_in_use != 0)
        finding("DBCs in use after every file closed", st.dbcs_in_use);
    if (st.bo_bytes != 0)
        finding("BO memory in use after every file closed", st.bo_bytes);
    history.record(data, size);
    return 0;
}
