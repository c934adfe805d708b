// SPDX-License-Identifier: GPL-2.0-only
// The DBC engine. One thread per DBC executes request elements strictly in ring order:
// read the element through the IOMMU, validate it, run presync semaphores, move the data,
// write the doorbell, run the other semaphores, then write a response and raise the MSI.
// The DBC's lock is never held while copying data or raising an MSI.
#include "hw/aic100/dbc.h"
#include "hw/aic100/card.h"
#include "kernel/spin.h"

#include <cstdio>
#include <cstring>
#include <optional>
#include <pthread.h>
#include <sched.h>

namespace aic100 {
namespace {

constexpr unsigned kMsiModeration = 16; // responses before an MSI is forced out

unsigned db_bytes(uint8_t db_len)
{
    switch (db_len) {
    case kDb32: return 4;
    case kDb16: return 2;
    case kDb8: return 1;
    default: return 0;
    }
}

uint32_t sem_cmd(uint32_t word)
{
    return (word >> kSemCmdShift) & kSemCmdMask;
}

} // namespace

Dbc::Dbc(Card &card, unsigned id)
    : card_(card), id_(id), activity_(card.dbc_activity(id)), thread_([this] { run(); })
{
}

Dbc::~Dbc()
{
    std::unique_lock lk(lock_);
    stop_ = true;
    ++gen_;
    wake(lk);
    thread_.join();
}

uint32_t Dbc::read_reg(uint64_t off) const
{
    if (off >= kDbcSem0 && off < kDbcSem0 + 4 * kNumSems)
        return sem_value(unsigned(off - kDbcSem0) / 4);
    switch (off) {
    case kDbcReqHp: return reqhp_.load(std::memory_order_acquire);
    case kDbcReqTp: return reqtp_.load(std::memory_order_acquire);
    case kDbcRspHp: return rsphp_.load(std::memory_order_acquire);
    case kDbcRspTp: return rsptp_.load(std::memory_order_acquire);
    case kDbcState: return state_.load(std::memory_order_acquire);
    case kDbcNelem: {
        std::lock_guard lk(lock_);
        return rings_.nelem;
    }
    case kDbcLastError: return last_error_;
    case kDbcElemsLo: return uint32_t(elements_);
    case kDbcElemsHi: return uint32_t(elements_ >> 32);
    case kDbcBytesLo: return uint32_t(bytes_);
    case kDbcBytesHi: return uint32_t(bytes_ >> 32);
    case kDbcErrors: return errors_;
    case kDbcResponses: return responses_;
    default: return 0;
    }
}

void Dbc::write_reg(uint64_t off, uint32_t value)
{
    if (off == kDbcReset) {
        if (value == kResetMagic && state_ == kDbcAssigned)
            soft_reset();
        return;
    }
    if (off != kDbcReqTp && off != kDbcRspHp)
        return; // read-only or unused
    std::unique_lock lk(lock_);
    // Indices outside the ring, or on a DBC without rings, are ignored.
    if (state_ != kDbcAssigned || value >= rings_.nelem)
        return;
    (off == kDbcReqTp ? reqtp_ : rsphp_).store(value, std::memory_order_release);
    if (off == kDbcReqTp) {
        doorbell_cpu_ = sched_getcpu();
        // The thread that busy-polls this DBC rings again: it will likely run the element
        // itself, or the engine will when its timed sleep ends (run()). Waking the engine
        // would only cost the writer a thread wakeup and the engine a wasted run. An engine
        // that is awake, or already woken, sees the new tail before it sleeps again.
        if (engine_sleep_ != Sleep::kUntimed && host_polled() &&
            std::this_thread::get_id() == poller_) {
            ++deferred_doorbells_;
            return;
        }
    } else if (!rsp_waiter_) {
        return; // nobody waits for a response slot
    }
    wake(lk);
}

void Dbc::assign(uint64_t req_q, uint64_t rsp_q, uint32_t nelem, uint32_t owner)
{
    std::unique_lock lk(lock_);
    ++gen_;
    rings_ = {req_q, rsp_q, nelem};
    reqhp_ = reqtp_ = rsphp_ = rsptp_ = 0;
    host_polled_until_ = {};
    owner_ = owner;
    ++activation_;
    state_ = kDbcAssigned;
    wake(lk);
}

// What a soft reset and a release both clear: pending work, ring indices, semaphores,
// a hang, injected faults, latched errors and the deferral of doorbells to a busy poller.
void Dbc::reset_locked()
{
    ++gen_;
    host_polled_until_ = {};
    reqhp_ = reqtp_ = rsphp_ = rsptp_ = 0;
    std::memset(sems_, 0, sizeof(sems_));
    hung_ = false;
    inject_countdown_ = 0;
    msi_pending_ = false;
    err_latched_ = false;
}

void Dbc::release()
{
    std::unique_lock lk(lock_);
    reset_locked();
    rings_ = {};
    elements_ = bytes_ = polled_elements_ = deferred_doorbells_ = 0;
    errors_ = responses_ = last_error_ = 0;
    owner_ = 0;
    state_ = kDbcIdle;
    wake(lk);
}

void Dbc::soft_reset()
{
    std::unique_lock lk(lock_);
    reset_locked();
    wake(lk);
}

void Dbc::shutdown(DbcState state)
{
    std::unique_lock lk(lock_);
    ++gen_;
    state_ = state;
    wake(lk);
}

void Dbc::set_state(DbcState state)
{
    state_.store(state, std::memory_order_release);
}

void Dbc::sem_op(unsigned index, uint32_t cmd, uint32_t val)
{
    if (index >= kNumSems)
        return;
    std::unique_lock lk(lock_);
    uint32_t &s = sems_[index];
    val &= kSemValMask;
    switch (cmd) {
    case kSemInit: s = val; break;
    case kSemInc: s = (s + val) & kSemValMask; break;
    case kSemDec: s = (s - val) & kSemValMask; break;
    default: return; // waits are for engines only
    }
    wake(lk);
}

uint32_t Dbc::sem_value(unsigned index) const
{
    std::lock_guard lk(lock_);
    return index < kNumSems ? sems_[index] : 0;
}

DbcCounters Dbc::counters() const
{
    std::lock_guard lk(lock_);
    uint32_t n = rings_.nelem;
    uint32_t level = n ? (reqtp_ + n - reqhp_) % n : 0;
    return {state_,   n,          level,       elements_,        bytes_,
            errors_,  responses_, last_error_, polled_elements_, deferred_doorbells_};
}

void Dbc::inject_error(uint32_t nth)
{
    std::lock_guard lk(lock_);
    inject_countdown_ = nth;
}

void Dbc::hang()
{
    std::lock_guard lk(lock_);
    hung_ = true;
}

bool Dbc::engine_asleep() const
{
    std::lock_guard lk(lock_);
    return engine_sleep_ != Sleep::kAwake;
}

void Dbc::kick()
{
    std::unique_lock lk(lock_);
    wake(lk);
}

void Dbc::wake(std::unique_lock<std::mutex> &lk)
{
    // An engine asleep for want of work, with no thread waiting inside an element, needs
    // waking only for work or to stop: woken for anything else (an ACTIVATE's assignment, a
    // release), it would look, find nothing, and sleep again, two thread switches for nothing.
    if (engine_sleep_ == Sleep::kUntimed && element_waiters_ == 0 && !engine_ready()) {
        lk.unlock();
        return;
    }
    engine_sleep_ = Sleep::kAwake;
    lk.unlock();
    cv_.notify_all();
}

namespace {

// Moves the calling thread off CPU cpu, if its affinity allows another: the kernel migrates a
// thread at once when its own mask no longer has its CPU; the mask is then given back whole.
void move_off_cpu(int cpu)
{
    cpu_set_t all;
    if (cpu < 0 || sched_getaffinity(0, sizeof(all), &all) != 0)
        return;
    cpu_set_t others = all;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0)
        return;
    if (sched_setaffinity(0, sizeof(others), &others) == 0)
        sched_setaffinity(0, sizeof(all), &all);
}

} // namespace

void Dbc::idle_poll(std::unique_lock<std::mutex> &lk)
{
    // A busy-polling host thread runs the next element itself; an engine that polls too
    // would only race it for the element.
    if (stop_ || !serving() || host_polled())
        return;
    auto budget = card_.idle_poll_budget();
    if (budget == budget.zero())
        return;
    // On the CPU of the thread that rang the doorbell a poll would only take turns with it,
    // and the scheduler has no reason to separate two threads that stay runnable.
    if (int cpu = sched_getcpu(); cpu == doorbell_cpu_)
        move_off_cpu(cpu);
    // Only a doorbell ends the poll early; anything else (release, reset, stop) is seen by
    // the caller's checks under the lock at most one budget later.
    lk.unlock();
    kernel::spin_until([this] { return reqtp_.load(std::memory_order_acquire) !=
                                       reqhp_.load(std::memory_order_relaxed); },
                       budget);
    lk.lock();
}

bool Dbc::serving() const
{
    return state_ == kDbcAssigned && !hung_ && !card_.gone();
}

bool Dbc::host_polled() const
{
    return Clock::now() < host_polled_until_;
}

bool Dbc::work_ready() const
{
    return serving() && rings_.nelem &&
           reqhp_.load(std::memory_order_relaxed) != reqtp_.load(std::memory_order_relaxed);
}

bool Dbc::engine_ready() const
{
    return stop_ || (work_ready() && !running_);
}

bool Dbc::abandoned(uint64_t gen) const
{
    return gen != gen_ || card_.gone();
}

void Dbc::flush_msi(std::unique_lock<std::mutex> &lk)
{
    if (!msi_pending_)
        return;
    msi_pending_ = false;
    responses_since_msi_ = 0;
    lk.unlock();
    card_.raise_dbc_msi(id_);
    lk.lock();
}

RspStatus Dbc::validate(const DbcReq &r) const
{
    if (r.resv || r.resv2 || r.resv3 || r.resv4 || (r.cmd & kCmdReservedMask))
        return kRspMalformed;
    uint8_t dir = r.cmd & kCmdDirMask;
    if (dir == kCmdDirMask || (dir && !(r.cmd & kCmdBulk)))
        return kRspMalformed;
    if (r.db_len != kDbNone) {
        unsigned w = db_bytes(r.db_len);
        if (!w || r.db_addr % w)
            return kRspMalformed;
        if (!card_.ddr().contains(r.db_addr, w))
            return kRspDdrRange;
    }
    // A word with cmd 0 may still carry fence flags; enable must match "cmd != 0".
    for (uint32_t word : r.sem_cmd) {
        uint32_t cmd = sem_cmd(word);
        if ((word & kSemReservedMask) || cmd > kSemWaitGt0 || bool(word & kSemEnable) != (cmd != 0))
            return kRspMalformed;
    }
    return kRspOk;
}

// Blocks the engine (and only this DBC's engine) until a wait is satisfied.
bool Dbc::run_sem(uint32_t word, uint64_t gen, std::unique_lock<std::mutex> &lk)
{
    unsigned index = (word >> kSemIndexShift) & kSemIndexMask;
    uint32_t val = word & kSemValMask;
    uint32_t cmd = sem_cmd(word);
    if (cmd < kSemWaitEqual) {
        uint32_t &s = sems_[index];
        s = cmd == kSemInit ? val : cmd == kSemInc ? (s + val) & kSemValMask
                                                   : (s - val) & kSemValMask;
        return true;
    }
    auto satisfied = [&] {
        uint32_t s = sems_[index];
        return cmd == kSemWaitEqual ? s == val : cmd == kSemWaitGtEq ? s >= val : s > 0;
    };
    if (!satisfied()) {
        flush_msi(lk); // completions before the wait must not be held back by it
        activity_.set_idle(); // asleep: its CPU is free for others to poll on
        ++element_waiters_;
        cv_.wait(lk, [&] { return abandoned(gen) || satisfied(); });
        --element_waiters_;
        activity_.set_busy();
    }
    return !abandoned(gen);
}

RspStatus Dbc::transfer(const DbcReq &r)
{
    uint8_t dir = r.cmd & kCmdDirMask;
    if (!dir || !r.len)
        return kRspOk;
    Ddr &ddr = card_.ddr();
    if (dir == kCmdToDevice) {
        if (!ddr.contains(r.dest_addr, r.len))
            return kRspDdrRange;
        return card_.iommu().access(r.src_addr, r.len, kPermRead, [&](void *host) {
            std::memcpy(ddr.at(r.dest_addr), host, r.len);
        });
    }
    if (!ddr.contains(r.src_addr, r.len))
        return kRspDdrRange;
    return card_.iommu().access(r.dest_addr, r.len, kPermWrite, [&](void *host) {
        std::memcpy(host, ddr.at(r.src_addr), r.len);
    });
}

bool Dbc::execute(const DbcReq &r, uint64_t gen, std::unique_lock<std::mutex> &lk,
                  RspStatus *st, uint64_t *bytes)
{
    *bytes = 0;
    *st = validate(r);
    if (*st != kRspOk)
        return true;
    if (inject_countdown_ && --inject_countdown_ == 0) {
        *st = kRspInjected;
        return true;
    }
    for (uint32_t word : r.sem_cmd)
        if (sem_cmd(word) && (word & kSemPresync) && !run_sem(word, gen, lk))
            return false;

    lk.unlock();
    *st = transfer(r);
    if (*st == kRspOk && r.db_len != kDbNone) {
        unsigned w = db_bytes(r.db_len);
        std::memcpy(card_.ddr().at(r.db_addr), &r.db_data, w); // little-endian low bytes
        card_.doorbell(id_, r.db_addr, r.db_data);
    }
    lk.lock();
    if (abandoned(gen))
        return false;
    if (*st != kRspOk)
        return true; // a failed element rings no doorbell and runs no more semaphores
    *bytes = (r.cmd & kCmdDirMask) ? r.len : 0;
    for (uint32_t word : r.sem_cmd)
        if (sem_cmd(word) && !(word & kSemPresync) && !run_sem(word, gen, lk))
            return false;
    return true;
}

void Dbc::run()
{
    char name[16];
    snprintf(name, sizeof(name), "aic100-dbc%u", id_);
    pthread_setname_np(pthread_self(), name); // for top, perf sched and debuggers
    std::unique_lock lk(lock_);
    for (;;) {
        if (!engine_ready()) {
            flush_msi(lk);
            activity_.set_idle();
            idle_poll(lk);
            // While a host thread busy-polls, its doorbells do not wake the engine: it looks
            // again when the grace period ends, so none of them waits longer than that.
            while (!engine_ready()) {
                if (host_polled()) {
                    engine_sleep_ = Sleep::kTimed;
                    cv_.wait_until(lk, Clock::time_point(host_polled_until_));
                } else {
                    engine_sleep_ = Sleep::kUntimed; // doorbells must wake it
                    cv_.wait(lk);
                }
                engine_sleep_ = Sleep::kAwake;
            }
            activity_.set_busy();
        }
        if (stop_)
            return;
        running_ = true;
        run_element(lk, nullptr);
        running_ = false;
    }
}

void Dbc::busy_poll(const std::function<bool()> &done, Clock::time_point deadline)
{
    std::unique_lock lk(lock_);
    if (stop_ || !serving())
        return; // no work will run here: nothing to wait for, nothing to defer
    auto grace = std::chrono::microseconds(card_.config().busy_poll_grace_us);
    host_polled_until_ = Clock::now() + grace;
    poller_ = std::this_thread::get_id();
    if (running_)
        return; // the engine (or another waiter) is at it
    running_ = true;
    activity_.set_busy();
    bool declined = false;
    auto more = [&] { return !stop_ && work_ready(); };
    while (more()) {
        // running_ keeps the ring head ours while done() runs unlocked (it may reap
        // completions through the registers).
        lk.unlock();
        bool over = done();
        lk.lock();
        if (over || !more())
            break;
        if (!run_element(lk, &deadline)) {
            declined = true;
            break;
        }
        flush_msi(lk); // the waiter learns of its completion at once
    }
    running_ = false;
    activity_.set_idle();
    // An element the waiter may not run is the engine's at once; so is work behind the
    // waiter's own, which must not wait for the grace period.
    host_polled_until_ = declined ? Clock::time_point{} : Clock::now() + grace;
    if (work_ready())
        wake(lk);
}

// Whether a waiting host thread may execute r now: only if it cannot block (no semaphore
// waits, a free response slot) and should be done before the waiter's deadline.
bool Dbc::may_busy_poll(const DbcReq &r, bool unreadable, Clock::time_point deadline) const
{
    if ((r.cmd & kCmdGenCompletion) || unreadable)
        if (ring_free(rsphp_, rsptp_, rings_.nelem) == 0)
            return false;
    if (!unreadable)
        for (uint32_t word : r.sem_cmd)
            if (sem_cmd(word) >= kSemWaitEqual)
                return false;
    // At a nominal 10 GB/s, well below a memcpy here: an estimate that errs on the safe side.
    auto copy = std::chrono::nanoseconds((r.cmd & kCmdDirMask) && !unreadable ? r.len / 10 : 0);
    return Clock::now() + copy < deadline;
}

bool Dbc::run_element(std::unique_lock<std::mutex> &lk, const Clock::time_point *busy_poll_deadline)
{
    uint64_t gen = gen_;
    Rings rings = rings_;
    uint32_t idx = reqhp_.load(std::memory_order_relaxed);

    lk.unlock();
    DbcReq req{};
    RspStatus st = card_.iommu().access(rings.req + uint64_t(idx) * sizeof(DbcReq),
                                        sizeof(DbcReq), kPermRead,
                                        [&](void *host) { std::memcpy(&req, host, sizeof(req)); });
    lk.lock();
    if (abandoned(gen))
        return true;
    bool unreadable = st != kRspOk;
    if (busy_poll_deadline && !may_busy_poll(req, unreadable, *busy_poll_deadline))
        return false;

    uint64_t bytes = 0;
    if (!unreadable && !execute(req, gen, lk, &st, &bytes))
        return true; // released or shut down meanwhile: the element is abandoned
    ++elements_;
    if (busy_poll_deadline)
        ++polled_elements_;
    bytes_ += bytes;
    if (st != kRspOk) {
        ++errors_;
        last_error_ = st;
        if (!err_latched_ || err_req_id_ != req.req_id) {
            err_latched_ = true;
            err_req_id_ = req.req_id;
            err_status_ = st;
        }
    }

    std::optional<uint32_t> answered_tail; // RSPTP after this element's response
    if ((req.cmd & kCmdGenCompletion) || unreadable) {
        // Wait for a free response slot; the host frees them from its MSI handler.
        auto rsp_room = [&] {
            return abandoned(gen) || ring_free(rsphp_, rsptp_, rings.nelem) > 0;
        };
        if (!rsp_room()) {
            flush_msi(lk);
            activity_.set_idle();
            rsp_waiter_ = true;
            ++element_waiters_;
            cv_.wait(lk, rsp_room);
            --element_waiters_;
            rsp_waiter_ = false;
            activity_.set_busy();
        }
        if (abandoned(gen))
            return true;
        DbcRsp rsp{req.req_id, uint16_t(st)};
        if (err_latched_ && err_req_id_ == req.req_id) {
            rsp.status = err_status_;
            err_latched_ = false;
        }
        uint32_t tail = rsptp_.load(std::memory_order_relaxed);
        lk.unlock();
        RspStatus wst = card_.iommu().access(
            rings.rsp + uint64_t(tail) * sizeof(DbcRsp), sizeof(DbcRsp), kPermWrite,
            [&](void *host) { std::memcpy(host, &rsp, sizeof(rsp)); });
        lk.lock();
        if (abandoned(gen))
            return true;
        if (wst == kRspOk) {
            ++responses_;
            msi_pending_ = true;
            ++responses_since_msi_;
            answered_tail = (tail + 1) % rings.nelem;
        } else {
            ++errors_;
            last_error_ = wst;
        }
    }
    if (req.cmd & kCmdForceMsi)
        msi_pending_ = true;
    reqhp_.store((idx + 1) % rings.nelem, std::memory_order_release);
    // RSPTP last: a host that sees the response also sees its element consumed (REQHP) and
    // counted.
    if (answered_tail)
        rsptp_.store(*answered_tail, std::memory_order_release);
    if (msi_pending_ && responses_since_msi_ >= kMsiModeration)
        flush_msi(lk);
    return true;
}

} // namespace aic100
