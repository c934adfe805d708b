// SPDX-License-Identifier: GPL-2.0-only
// One DMA Bridge Channel: its registers, its request/response rings in host memory, its 32
// semaphores, and the engine thread that executes request elements in ring order.
#pragma once

#include "include/hw/aic100_regs.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace kernel {
class Activity;
}

namespace aic100 {

class Card;

struct DbcCounters {
    uint32_t state;
    uint32_t nelem;
    uint32_t queue_level; // request elements written by the host, not yet executed
    uint64_t elements;    // executed since activation
    uint64_t bytes;       // moved since activation
    uint32_t errors;      // elements that failed
    uint32_t responses;   // responses written
    uint32_t last_error;  // last non-zero response status
    // Sim platform: elements executed by busy-polling host threads, and REQTP writes that
    // left the engine asleep because a host thread busy-polled (Dbc::busy_poll).
    uint64_t polled_elements;
    uint64_t deferred_doorbells;
};

class Dbc {
public:
    using Clock = std::chrono::steady_clock;

    Dbc(Card &card, unsigned id);
    ~Dbc();
    Dbc(const Dbc &) = delete;
    Dbc &operator=(const Dbc &) = delete;

    unsigned id() const { return id_; }
    uint32_t read_reg(uint64_t off) const;
    void write_reg(uint64_t off, uint32_t value);

    // Firmware side. assign() starts serving the rings; release() abandons every pending
    // element (no responses), clears semaphores and counters and returns the DBC to IDLE.
    void assign(uint64_t req_q, uint64_t rsp_q, uint32_t nelem, uint32_t owner);
    void release();
    // Soft reset (kDbcReset): pending elements are abandoned without responses, the ring
    // indices and semaphores go to 0, a hang clears; the DBC stays assigned to its owner.
    void soft_reset();
    // SSR: stop executing (work abandoned) and report the given state.
    void shutdown(DbcState state);
    void set_state(DbcState state);
    DbcState state() const { return DbcState(state_.load(std::memory_order_acquire)); }
    uint32_t owner() const { return owner_.load(std::memory_order_acquire); }
    // Counts activations: an NSP program belongs to one.
    uint64_t activation() const { return activation_.load(std::memory_order_acquire); }

    // Semaphores, also driven by the NSP and the test-control API.
    void sem_op(unsigned index, uint32_t cmd, uint32_t val);
    uint32_t sem_value(unsigned index) const;

    DbcCounters counters() const;

    // Fault injection: fail the nth element executed from now (1 = the next one); stop
    // answering until the DBC is released.
    void inject_error(uint32_t nth);
    void hang();

    // Wakes the engine to re-check the device state (gone, reset).
    void kick();

    // A host thread waiting for this DBC's completions lends itself to the engine: it
    // executes elements in ring order, exactly as the engine would, until done() holds, the
    // ring is empty, or the next element could block (a semaphore wait, a full response ring)
    // or outlast the deadline; those go to the engine thread at once. Nothing is executed
    // while the engine is executing an element, and nothing at all happens on a DBC that is
    // not assigned or hung. done() runs before each element without the DBC's lock; it may
    // access the registers.
    void busy_poll(const std::function<bool()> &done, Clock::time_point deadline);
    // The engine thread sleeps for want of work, and nothing has woken it since.
    bool engine_asleep() const;

private:
    struct Rings {
        uint64_t req = 0, rsp = 0;
        uint32_t nelem = 0;
    };

    void run();
    // Executes the element at REQHP and answers it; the caller has set running_. Returns
    // false, with nothing done, if busy_poll_deadline is given and may_busy_poll declines it.
    bool run_element(std::unique_lock<std::mutex> &lk, const Clock::time_point *busy_poll_deadline);
    bool may_busy_poll(const DbcReq &r, bool unreadable, Clock::time_point deadline) const;
    void reset_locked(); // under lock_
    // Wakes the engine (and any other waiter on cv_), releasing lk. The engine counts as
    // awake from here on: it looks at its ring, under lock_, before it sleeps again.
    void wake(std::unique_lock<std::mutex> &lk);
    bool serving() const;     // assigned, not hung, device present: the rings are served
    bool host_polled() const; // within a busy poll's grace period (under lock_)
    bool work_ready() const;
    bool engine_ready() const; // the idle engine has something to do (under lock_)
    // Out of work: polls the request ring for a while before the engine sleeps.
    void idle_poll(std::unique_lock<std::mutex> &lk);
    RspStatus validate(const DbcReq &r) const;
    // Executes one element; false if the DBC was reset meanwhile (the element is abandoned).
    bool execute(const DbcReq &r, uint64_t gen, std::unique_lock<std::mutex> &lk, RspStatus *st,
                 uint64_t *bytes);
    bool run_sem(uint32_t word, uint64_t gen, std::unique_lock<std::mutex> &lk);
    RspStatus transfer(const DbcReq &r);
    void flush_msi(std::unique_lock<std::mutex> &lk);
    // Work started in generation gen must stop: the DBC was released or reset meanwhile, or
    // the device is gone (a removed device moves no more data).
    bool abandoned(uint64_t gen) const;

    Card &card_;
    const unsigned id_;

    mutable std::mutex lock_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool running_ = false; // a thread (the engine or a busy-polling waiter) owns the ring head
    bool rsp_waiter_ = false; // the engine waits for a free response slot
    unsigned element_waiters_ = 0; // threads waiting inside an element (a semaphore, a slot)
    // Until then poller_ is taken to busy-poll this DBC: its doorbells do not wake an engine
    // that sleeps no longer than that (run()).
    Clock::time_point host_polled_until_{};
    std::thread::id poller_;
    enum class Sleep { kAwake, kTimed, kUntimed };
    Sleep engine_sleep_ = Sleep::kAwake; // the engine's sleep for want of work, until woken
    uint64_t gen_ = 0; // bumped by release/shutdown: in-flight work of an older gen is dropped
    Rings rings_;
    uint32_t sems_[kNumSems] = {};
    bool hung_ = false;
    uint32_t inject_countdown_ = 0;
    bool msi_pending_ = false;
    int doorbell_cpu_ = -1; // where the last REQTP write ran (idle_poll)
    unsigned responses_since_msi_ = 0;
    // An error stays latched until the response for its req_id reports it.
    bool err_latched_ = false;
    uint16_t err_req_id_ = 0;
    uint16_t err_status_ = 0;

    std::atomic<uint32_t> state_{kDbcIdle};
    std::atomic<uint32_t> owner_{0};
    std::atomic<uint64_t> activation_{0};
    std::atomic<uint32_t> reqhp_{0}, reqtp_{0}, rsphp_{0}, rsptp_{0};
    std::atomic<uint64_t> elements_{0}, bytes_{0};
    uint64_t polled_elements_ = 0, deferred_doorbells_ = 0; // under lock_
    std::atomic<uint32_t> errors_{0}, responses_{0}, last_error_{0};

    kernel::Activity &activity_; // the card's record of this DBC (Card::idle_poll_budget)
    std::thread thread_;
};

} // namespace aic100
