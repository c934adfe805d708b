// SPDX-License-Identifier: GPL-2.0-only
// A mini driver for the AIC100 card tests: it talks to aic100::SimPciDev only through
// kernel::PciDev (registers, DMA mappings, MSIs), as a driver would, and reaches for the
// Card test-control API only for what a driver cannot do. Every wait has a deadline and is
// woken by MSIs, with a short poll as fallback because MSIs may be lost or folded.
#pragma once

#include "hw/aic100/sim_pci.h"
#include "include/hw/aic100_regs.h"
#include "kernel/crc32.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <drm/qaic_accel.h>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace aic100::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;
using Bytes = std::vector<uint8_t>;

// Generous: a test that reaches it has failed anyway.
inline constexpr Duration kTimeout = 10s;
// How long a negative check ("nothing arrives") watches. Never a correctness margin.
inline constexpr Duration kQuiet = 100ms;
inline constexpr uint64_t kDdrSize = uint64_t(1) << 30;
inline constexpr uint32_t kUser = 1;
inline constexpr uint32_t kPage = 4096;

inline CardConfig small_config(unsigned num_dbc = 4)
{
    return CardConfig{num_dbc, kDdrSize};
}

inline void fill_pattern(void *p, size_t len, uint32_t seed)
{
    auto *b = static_cast<uint8_t *>(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; ++i) {
        x = x * 1103515245u + 12345u;
        b[i] = uint8_t(x >> 16);
    }
}

inline Bytes pattern(size_t len, uint32_t seed)
{
    Bytes b(len);
    fill_pattern(b.data(), len, seed);
    return b;
}

template <typename T> T load(const uint8_t *p)
{
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

template <typename T> void append(Bytes &out, const T &v)
{
    auto *p = reinterpret_cast<const uint8_t *>(&v);
    out.insert(out.end(), p, p + sizeof(T));
}

// Runs f at scope exit: cleanup on every path, failed ASSERTs included.
template <typename F> struct ScopeExit {
    F f;
    ~ScopeExit() { f(); }
};
template <typename F> ScopeExit(F) -> ScopeExit<F>;

// Page-aligned host memory (at an optional in-page offset), DMA-mapped as `chunks` sg entries
// of equal size, each with its own IOVA.
class HostBuf {
public:
    HostBuf(kernel::PciDev &pci, size_t len, kernel::DmaDirection dir, size_t offset = 0,
            unsigned chunks = 1)
        : pci_(pci), dir_(dir), len_(len)
    {
        size_t alloc = (offset + len + kPage - 1) / kPage * kPage;
        base_ = static_cast<uint8_t *>(std::aligned_alloc(kPage, alloc));
        std::memset(base_, 0, alloc);
        data_ = base_ + offset;
        size_t per = len / chunks;
        for (unsigned i = 0; i < chunks; ++i) {
            size_t n = i + 1 == chunks ? len - per * i : per;
            sgt_.entries.push_back({data_ + per * i, n, 0});
        }
        mapped_ = !pci_.dma_map_sgtable(sgt_, dir_).is_error();
        EXPECT_TRUE(mapped_);
    }
    ~HostBuf()
    {
        unmap();
        std::free(base_);
    }
    HostBuf(const HostBuf &) = delete;
    HostBuf &operator=(const HostBuf &) = delete;

    uint8_t *data() { return data_; }
    size_t size() const { return len_; }
    uint64_t iova(unsigned chunk = 0) const { return sgt_.entries[chunk].dma_addr; }
    const kernel::SgTable &sgt() const { return sgt_; }
    void unmap()
    {
        if (mapped_)
            pci_.dma_unmap_sgtable(sgt_, dir_);
        mapped_ = false;
    }
    Bytes bytes() const { return Bytes(data_, data_ + len_); }

private:
    kernel::PciDev &pci_;
    kernel::DmaDirection dir_;
    size_t len_;
    uint8_t *base_;
    uint8_t *data_;
    kernel::SgTable sgt_;
    bool mapped_ = false;
};

// One transaction of a control message: its type and the body after the 8-byte header.
struct Trans {
    uint32_t type;
    Bytes body;
};

template <typename T> Trans trans_of(const T &wire)
{
    // Wire structs start with their WireTransHdr; the body is the rest.
    auto *p = reinterpret_cast<const uint8_t *>(&wire);
    return {load<WireTransHdr>(p).type, Bytes(p + sizeof(WireTransHdr), p + sizeof(T))};
}

inline uint32_t message_crc(const Bytes &msg)
{
    Bytes copy = msg;
    std::memset(copy.data(), 0, 4);
    return kernel::crc32(0, copy.data(), copy.size());
}

// Recomputes the header's crc32 over the message as it now stands.
inline void seal_crc(Bytes &msg)
{
    uint32_t crc = message_crc(msg);
    std::memcpy(msg.data(), &crc, 4);
}

inline Bytes make_msg(uint32_t seq, uint32_t handle, const std::vector<Trans> &ts, bool crc = true)
{
    Bytes m(sizeof(WireMsgHdr));
    for (const Trans &t : ts) {
        append(m, WireTransHdr{t.type, uint32_t(sizeof(WireTransHdr) + t.body.size())});
        m.insert(m.end(), t.body.begin(), t.body.end());
    }
    WireMsgHdr h{0, kWireMagic, seq, uint32_t(m.size()), uint32_t(ts.size()), handle, -1, 0};
    std::memcpy(m.data(), &h, sizeof(h));
    if (crc)
        seal_crc(m);
    return m;
}

// A parsed D2H control message.
struct Reply {
    WireMsgHdr hdr{};
    bool crc_ok = false;
    std::vector<Bytes> trans; // each whole, header included

    uint32_t type(size_t i) const { return load<WireTransHdr>(trans.at(i).data()).type; }
    template <typename T> T as(size_t i) const
    {
        T v{};
        std::memcpy(&v, trans.at(i).data(), std::min(sizeof(T), trans.at(i).size()));
        return v;
    }
    bool is_nack() const { return trans.size() == 1 && type(0) == kTransNack; }
    WireNack nack() const { return as<WireNack>(0); }
};

inline Reply parse_reply(const uint8_t *slot, uint32_t slot_size)
{
    Reply r;
    r.hdr = load<WireMsgHdr>(slot);
    uint32_t len = std::min(std::max<uint32_t>(r.hdr.len, sizeof(WireMsgHdr)), slot_size);
    r.crc_ok = r.hdr.crc32 == message_crc(Bytes(slot, slot + len));
    uint32_t pos = sizeof(WireMsgHdr);
    for (uint32_t i = 0; i < r.hdr.count && len - pos >= sizeof(WireTransHdr); ++i) {
        auto th = load<WireTransHdr>(slot + pos);
        if (th.len < sizeof(WireTransHdr) || th.len > len - pos)
            break;
        r.trans.emplace_back(slot + pos, slot + pos + th.len);
        pos += th.len;
    }
    return r;
}

// Body of a PASSTHROUGH_TO_DEV transaction.
inline Trans passthrough(uint32_t opcode, const Bytes &args)
{
    Trans t{QAIC_TRANS_PASSTHROUGH_TO_DEV, {}};
    append(t.body, FwCmdHdr{opcode, uint32_t(args.size())});
    t.body.insert(t.body.end(), args.begin(), args.end());
    return t;
}

inline Trans image_info(uint32_t tag)
{
    Bytes a;
    append(a, tag);
    append(a, uint32_t(0));
    return passthrough(kFwOpImageInfo, a);
}

inline Trans image_to_ddr(uint32_t tag, uint64_t dev_addr)
{
    Bytes a;
    append(a, tag);
    append(a, uint32_t(0));
    append(a, dev_addr);
    return passthrough(kFwOpImageToDdr, a);
}

inline Trans dma_xfer(uint32_t tag, uint32_t chunk_id, uint32_t flags,
                      const std::vector<WireAddrSize> &runs)
{
    WireDmaXfer x{{QAIC_TRANS_DMA_XFER_TO_DEV, 0}, tag, uint32_t(runs.size()), chunk_id, flags};
    Trans t = trans_of(x);
    for (const WireAddrSize &r : runs)
        append(t.body, r);
    return t;
}

inline Trans activate_trans(uint64_t req_q, uint64_t rsp_q, uint32_t req_n, uint32_t rsp_n,
                            uint32_t buf_len, uint32_t options = 0)
{
    return trans_of(WireActivateToDev{{QAIC_TRANS_ACTIVATE_TO_DEV, 0}, req_q, rsp_q, req_n, rsp_n,
                                      buf_len, options});
}

inline Trans deactivate_trans(uint32_t dbc_id)
{
    return trans_of(WireDeactivateToDev{{QAIC_TRANS_DEACTIVATE_FROM_USR, 0}, dbc_id, 0});
}

inline Trans terminate_trans(uint32_t handle)
{
    return trans_of(WireTerminateToDev{{QAIC_TRANS_TERMINATE_TO_DEV, 0}, handle, 0});
}

inline Trans status_trans()
{
    return {QAIC_TRANS_STATUS_TO_DEV, {}};
}

// PASSTHROUGH_FROM_DEV answer: status, data_len, data.
struct FwAnswer {
    uint32_t status;
    uint32_t data_len;
    Bytes data;
};
inline FwAnswer fw_answer(const Reply &r, size_t i)
{
    const Bytes &t = r.trans.at(i);
    FwAnswer a{load<uint32_t>(t.data() + 8), load<uint32_t>(t.data() + 12), {}};
    a.data.assign(t.begin() + 16, t.begin() + 16 + std::min<size_t>(a.data_len, t.size() - 16));
    return a;
}

// The two rings of a message channel.
struct Channel {
    uint64_t regs = 0; // kCtrlChannel or kSsrChannel
    uint32_t h2d_slot = 0, d2h_slot = 0, nelem = 0;
    kernel::DmaCoherent h2d{}, d2h{};
    uint32_t h2d_tail = 0, d2h_head = 0;
};

// A DBC activated for a user: one coherent buffer with both rings.
struct Queue {
    unsigned id = 0;
    uint32_t nelem = 0;
    kernel::DmaCoherent buf{};
    uint32_t req_tail = 0, rsp_head = 0;

    uint32_t buf_len() const { return uint32_t(queue_buf_size(nelem)); }
    uint64_t req_iova() const { return buf.dma_addr; }
    uint64_t rsp_iova() const { return buf.dma_addr + buf_len() - uint64_t(nelem) * 4; }
    DbcReq *reqs() { return static_cast<DbcReq *>(buf.cpu_addr); }
    DbcRsp *rsps()
    {
        return reinterpret_cast<DbcRsp *>(static_cast<uint8_t *>(buf.cpu_addr) + buf_len() -
                                          size_t(nelem) * 4);
    }
};

// Element builders.
inline DbcReq elem(uint16_t req_id, uint8_t cmd)
{
    DbcReq r{};
    r.req_id = req_id;
    r.cmd = cmd;
    return r;
}
inline DbcReq to_dev(uint16_t req_id, uint64_t iova, uint64_t ddr, uint32_t len,
                     uint8_t flags = kCmdGenCompletion)
{
    DbcReq r = elem(req_id, kCmdToDevice | kCmdBulk | flags);
    r.src_addr = iova;
    r.dest_addr = ddr;
    r.len = len;
    return r;
}
inline DbcReq from_dev(uint16_t req_id, uint64_t ddr, uint64_t iova, uint32_t len,
                       uint8_t flags = kCmdGenCompletion)
{
    DbcReq r = elem(req_id, kCmdFromDevice | kCmdBulk | flags);
    r.src_addr = ddr;
    r.dest_addr = iova;
    r.len = len;
    return r;
}

// Holds MSI handlers of one vector, i.e. the card thread that raised the MSI, until opened.
class Gate {
public:
    void enter()
    {
        std::unique_lock lk(m_);
        ++arrived_;
        cv_.notify_all();
        cv_.wait(lk, [&] { return open_; });
    }
    bool wait_arrived(unsigned n, Duration timeout = kTimeout)
    {
        std::unique_lock lk(m_);
        return cv_.wait_for(lk, timeout, [&] { return arrived_ >= n; });
    }
    void open()
    {
        std::lock_guard lk(m_);
        open_ = true;
        cv_.notify_all();
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool open_ = false;
    unsigned arrived_ = 0;
};

class MiniDriver {
public:
    explicit MiniDriver(CardConfig cfg = small_config()) : sim(cfg), pci(sim) {}
    ~MiniDriver() { teardown(); }
    MiniDriver(const MiniDriver &) = delete;
    MiniDriver &operator=(const MiniDriver &) = delete;

    SimPciDev sim;
    kernel::PciDev &pci;
    Card &card() { return sim.card(); }

    // ---- registers
    uint32_t rd(uint64_t off) { return pci.read32(kBarDev, off); }
    void wr(uint64_t off, uint32_t v) { pci.write32(kBarDev, off, v); }
    uint32_t dbc_rd(unsigned id, uint64_t reg) { return pci.read32(kBarDbc, dbc_reg(id, reg)); }
    void dbc_wr(unsigned id, uint64_t reg, uint32_t v)
    {
        pci.write32(kBarDbc, dbc_reg(id, reg), v);
    }
    uint64_t dbc_rd64(unsigned id, uint64_t lo)
    {
        return dbc_rd(id, lo) | uint64_t(dbc_rd(id, lo + 4)) << 32;
    }

    // ---- interrupts
    // Allocates up to 1 + NUM_DBC vectors and asks for per-vector MSIs when it got them all.
    bool setup_irqs()
    {
        unsigned want = 1 + rd(kRegNumDbc);
        auto n = pci.alloc_irq_vectors(1, want);
        if (n.is_error())
            return false;
        nvec_ = n.value();
        for (unsigned v = 0; v < nvec_; ++v)
            if (pci.request_irq(v, [this, v] { on_msi(v); }).is_error())
                return false;
        requested_.assign(nvec_, true);
        if (nvec_ == want)
            wr(kRegMsiMode, kMsiPerVector);
        return true;
    }
    unsigned vectors() const { return nvec_; }
    void release_irq(unsigned v)
    {
        pci.free_irq(v);
        requested_.at(v) = false;
    }
    void rerequest_irq(unsigned v)
    {
        ASSERT_FALSE(pci.request_irq(v, [this, v] { on_msi(v); }).is_error());
        requested_.at(v) = true;
    }
    uint64_t msi_count(unsigned v)
    {
        std::lock_guard lk(irq_mu_);
        return counts_[v];
    }
    // MSIs on vector v whose handler ran on thread t (the thread that raised them, or the
    // one running the vector's handler then).
    uint64_t msi_count_on(unsigned v, std::thread::id t)
    {
        std::lock_guard lk(irq_mu_);
        return by_thread_[{v, t}];
    }
    bool wait_msi(unsigned v, uint64_t n, Duration timeout = kTimeout)
    {
        std::unique_lock lk(irq_mu_);
        return irq_cv_.wait_for(lk, timeout, [&] { return counts_[v] >= n; });
    }
    // Waits for n MSIs on vector v, then for its handler to return: MSIs raised from now on
    // are not folded into that run (SimPciDev::run_handler) and each counts once.
    bool settle_msi(unsigned v, uint64_t n)
    {
        if (!wait_msi(v, n))
            return false;
        pci.synchronize_irq(v);
        return true;
    }
    // From now on handlers of vector v block at the returned gate until it opens (teardown
    // opens it too). The gate lives as long as the driver.
    Gate &hold_vector(unsigned v)
    {
        std::lock_guard lk(irq_mu_);
        auto &g = gates_[v];
        if (!g)
            g = std::make_unique<Gate>();
        return *g;
    }

    // Re-evaluates pred after every MSI and at least every millisecond, until the deadline.
    template <typename Pred> bool wait_until(Pred pred, Duration timeout = kTimeout)
    {
        auto deadline = Clock::now() + timeout;
        for (;;) {
            uint64_t seen;
            {
                std::lock_guard lk(irq_mu_);
                seen = total_;
            }
            if (pred())
                return true;
            if (Clock::now() >= deadline)
                return false;
            std::unique_lock lk(irq_mu_);
            irq_cv_.wait_for(lk, 1ms, [&] { return total_ != seen; });
        }
    }

    bool wait_online() { return wait_until([&] { return rd(kRegDevStatus) == kDevOnline; }); }

    // ONLINE, MSIs, control channel: what probe() does.
    bool bring_up(uint32_t ctrl_nelem = 8)
    {
        return wait_online() && setup_irqs() &&
               enable_channel(ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, ctrl_nelem);
    }

    // ---- message channels
    bool enable_channel(Channel &ch, uint64_t regs, uint32_t h2d_slot, uint32_t d2h_slot,
                        uint32_t nelem)
    {
        ch.regs = regs;
        ch.h2d_slot = h2d_slot;
        ch.d2h_slot = d2h_slot;
        ch.nelem = nelem;
        ch.h2d_tail = ch.d2h_head = 0;
        if (!ch.h2d.cpu_addr) {
            ch.h2d = coherent(size_t(h2d_slot) * nelem);
            ch.d2h = coherent(size_t(d2h_slot) * nelem);
        }
        wr(regs + kChH2dBaseLo, uint32_t(ch.h2d.dma_addr));
        wr(regs + kChH2dBaseHi, uint32_t(ch.h2d.dma_addr >> 32));
        wr(regs + kChD2hBaseLo, uint32_t(ch.d2h.dma_addr));
        wr(regs + kChD2hBaseHi, uint32_t(ch.d2h.dma_addr >> 32));
        wr(regs + kChNelem, nelem);
        wr(regs + kChEnable, 1);
        return rd(regs + kChEnable) == 1;
    }
    // Copies msg into the next H2D slot and rings the doorbell.
    void post(Channel &ch, const void *msg, size_t len)
    {
        ASSERT_LE(len, ch.h2d_slot);
        auto *slot = static_cast<uint8_t *>(ch.h2d.cpu_addr) + size_t(ch.h2d_tail) * ch.h2d_slot;
        std::memset(slot, 0, ch.h2d_slot);
        std::memcpy(slot, msg, len);
        ch.h2d_tail = (ch.h2d_tail + 1) % ch.nelem;
        wr(ch.regs + kChH2dTail, ch.h2d_tail);
    }
    bool d2h_ready(Channel &ch) { return rd(ch.regs + kChD2hTail) != ch.d2h_head; }
    // Consumes the next D2H slot: returns a copy of it, or nullopt on timeout.
    std::optional<Bytes> take(Channel &ch, Duration timeout = kTimeout)
    {
        if (!wait_until([&] { return d2h_ready(ch); }, timeout))
            return std::nullopt;
        auto *slot = static_cast<uint8_t *>(ch.d2h.cpu_addr) + size_t(ch.d2h_head) * ch.d2h_slot;
        Bytes b(slot, slot + ch.d2h_slot);
        ch.d2h_head = (ch.d2h_head + 1) % ch.nelem;
        wr(ch.regs + kChD2hHead, ch.d2h_head);
        return b;
    }
    bool h2d_consumed(Channel &ch)
    {
        return wait_until([&] { return rd(ch.regs + kChH2dHead) == ch.h2d_tail; });
    }

    // ---- control messages
    uint32_t next_seq = 1;
    Channel ctrl;
    uint64_t ctrl_replies = 0; // each came with one control MSI

    void send_raw(const Bytes &msg) { post(ctrl, msg.data(), msg.size()); }
    std::optional<Reply> recv(Duration timeout = kTimeout)
    {
        auto b = take(ctrl, timeout);
        if (!b)
            return std::nullopt;
        ++ctrl_replies;
        return parse_reply(b->data(), kCtrlRspSlotSize);
    }
    // Sends the transactions with the next sequence number and a CRC; returns the answer.
    std::optional<Reply> transact(const std::vector<Trans> &ts, uint32_t handle = kUser)
    {
        uint32_t seq = next_seq++;
        send_raw(make_msg(seq, handle, ts));
        auto r = recv();
        EXPECT_TRUE(r.has_value()) << "no answer to message " << seq;
        if (r) {
            EXPECT_EQ(r->hdr.sequence_number, seq);
            EXPECT_TRUE(r->crc_ok);
        }
        return r;
    }

    // ---- DBCs
    // Activates a DBC with rings of nelem; returns it, or nullopt (with a failure) if refused.
    std::optional<Queue> activate(uint32_t nelem, uint32_t handle = kUser)
    {
        Queue q;
        q.nelem = nelem;
        q.buf = coherent(queue_buf_size(nelem));
        auto r = transact({activate_trans(q.req_iova(), q.rsp_iova(), nelem, nelem,
                                          q.buf_len())},
                          handle);
        if (!r || r->trans.size() != 1 || r->type(0) != QAIC_TRANS_ACTIVATE_FROM_DEV) {
            ADD_FAILURE() << "ACTIVATE not answered";
            return std::nullopt;
        }
        auto a = r->as<WireActivateFromDev>(0);
        if (a.status != kFwOk) {
            ADD_FAILURE() << "ACTIVATE status " << a.status;
            return std::nullopt;
        }
        q.id = a.dbc_id;
        return q;
    }
    uint32_t deactivate(const Queue &q, uint32_t handle = kUser)
    {
        auto r = transact({deactivate_trans(q.id)}, handle);
        if (!r || r->trans.size() != 1 || r->type(0) != QAIC_TRANS_DEACTIVATE_FROM_DEV)
            return ~0u;
        return r->as<WireDeactivateFromDev>(0).status;
    }

    // Writes an element at the host's tail (not yet visible to the device).
    void push(Queue &q, const DbcReq &r)
    {
        q.reqs()[q.req_tail] = r;
        q.req_tail = (q.req_tail + 1) % q.nelem;
    }
    void ring(Queue &q) { dbc_wr(q.id, kDbcReqTp, q.req_tail); }
    void submit(Queue &q, const std::vector<DbcReq> &rs)
    {
        for (const DbcReq &r : rs)
            push(q, r);
        ring(q);
    }
    uint32_t responses_ready(Queue &q)
    {
        uint32_t tail = dbc_rd(q.id, kDbcRspTp);
        return (tail + q.nelem - q.rsp_head) % q.nelem;
    }
    // Waits for n responses, consumes them (RSPHP) and returns them.
    std::vector<DbcRsp> collect(Queue &q, uint32_t n, Duration timeout = kTimeout)
    {
        std::vector<DbcRsp> out;
        if (!wait_until([&] { return responses_ready(q) >= n; }, timeout)) {
            ADD_FAILURE() << "DBC " << q.id << ": " << responses_ready(q) << " of " << n
                          << " responses";
            return out;
        }
        for (uint32_t i = 0; i < n; ++i) {
            out.push_back(q.rsps()[q.rsp_head]);
            q.rsp_head = (q.rsp_head + 1) % q.nelem;
        }
        dbc_wr(q.id, kDbcRspHp, q.rsp_head);
        return out;
    }
    // One element with a completion: submit, wait, return its response.
    DbcRsp run1(Queue &q, const DbcReq &r)
    {
        submit(q, {r});
        auto rs = collect(q, 1);
        return rs.empty() ? DbcRsp{0xFFFF, 0xFFFF} : rs[0];
    }
    bool wait_reqhp(Queue &q, uint32_t v)
    {
        return wait_until([&] { return dbc_rd(q.id, kDbcReqHp) == v; });
    }

    Bytes ddr(uint64_t addr, size_t len)
    {
        Bytes b(len);
        EXPECT_TRUE(card().ddr_read(addr, b.data(), len));
        return b;
    }

    // Coherent memory owned by the driver, freed at teardown.
    kernel::DmaCoherent coherent(size_t len)
    {
        auto c = pci.dma_alloc_coherent(len);
        EXPECT_FALSE(c.is_error());
        if (c.is_error())
            return {};
        coherent_.push_back(c.value());
        return c.value();
    }

private:
    void on_msi(unsigned v)
    {
        Gate *g;
        {
            std::lock_guard lk(irq_mu_);
            ++counts_[v];
            ++total_;
            ++by_thread_[{v, std::this_thread::get_id()}];
            auto it = gates_.find(v);
            g = it == gates_.end() ? nullptr : it->second.get();
        }
        irq_cv_.notify_all();
        if (g)
            g->enter();
    }

    void teardown()
    {
        {
            std::lock_guard lk(irq_mu_);
            for (auto &[v, g] : gates_)
                if (g)
                    g->open();
        }
        for (unsigned v = 0; v < requested_.size(); ++v)
            if (requested_[v])
                pci.free_irq(v);
        if (nvec_)
            pci.free_irq_vectors();
        for (kernel::DmaCoherent &c : coherent_)
            pci.dma_free_coherent(c);
    }

    std::mutex irq_mu_;
    std::condition_variable irq_cv_;
    std::map<unsigned, uint64_t> counts_;
    std::map<std::pair<unsigned, std::thread::id>, uint64_t> by_thread_;
    std::map<unsigned, std::unique_ptr<Gate>> gates_;
    uint64_t total_ = 0;
    unsigned nvec_ = 0;
    std::vector<bool> requested_;
    std::vector<kernel::DmaCoherent> coherent_;
};

// Fixture: a brought-up small card (4 DBCs, 1 GiB DDR) with per-vector MSIs and a control
// channel.
class CardTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(d.bring_up()); }
    MiniDriver d{small_config()};
};

// A card brought up with one DBC activated (16-element rings) in q.
class ActiveDbcTest : public CardTest {
protected:
    void SetUp() override
    {
        CardTest::SetUp();
        auto qq = d.activate(16);
        ASSERT_TRUE(qq);
        q = *qq;
    }
    Queue q;
};

} // namespace aic100::test
