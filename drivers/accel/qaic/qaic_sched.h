// SPDX-License-Identifier: GPL-2.0-only
// The job scheduler of one DBC. Each executed BO is a Job with a fence. A job goes straight
// to the request ring when there is room, otherwise into a bounded software queue that is
// fed, in order, as completions free ring space. It is written against an owner interface
// (the ring) and a clock, so it is unit-tested without a card. Not locked: the DBC's lock
// serialises every call.
#pragma once

#include "include/hw/aic100_regs.h"
#include "kernel/fence.h"
#include "kernel/refcount.h"
#include "kernel/result.h"
#include "kernel/wait.h"

#include <cstdint>
#include <deque>
#include <vector>

namespace qaic {

class Bo;

struct Job : kernel::RefCounted {
    Job(); // out of line, where Bo is complete (qaic_data.cc)
    ~Job() override;

    kernel::RefPtr<Bo> bo; // held while the job runs
    kernel::RefPtr<kernel::Fence> fence;
    std::vector<aic100::DbcReq> reqs; // the BO's elements for this execution
    uint32_t dbc_id = 0;              // the DBC it runs on
    uint32_t slices = 0;              // completions to expect (one per slice)
    uint64_t bytes = 0;               // data the elements move
    uint16_t req_id = 0;
    // Completion bookkeeping.
    uint32_t slices_done = 0;
    uint16_t first_error = 0; // first non-zero response status
    // PERF_STATS.
    kernel::Clock::time_point received, submitted, completed;
    uint32_t queue_level_before = 0;
};

// What the scheduler drives: a request ring.
class RingOwner {
public:
    virtual ~RingOwner() = default;
    virtual uint32_t ring_free() = 0;  // request slots free now
    virtual uint32_t ring_level() = 0; // request slots in use now
    // Writes elements at the tail (not yet visible to the device).
    virtual void ring_write(const std::vector<aic100::DbcReq> &reqs) = 0;
    // Makes everything written visible: the doorbell.
    virtual void ring_doorbell() = 0;
};

class SchedClock {
public:
    virtual ~SchedClock() = default;
    virtual kernel::Clock::time_point now() = 0;
};

class DbcScheduler {
public:
    DbcScheduler(RingOwner &ring, SchedClock &clock, size_t max_queued)
        : ring_(ring), clock_(clock), max_queued_(max_queued)
    {
    }

    // Takes all jobs or none: -EAGAIN when they would overflow the software queue, -ENOMEM
    // when its bookkeeping cannot grow. Jobs get consecutive req_ids; those that fit go to
    // the ring at once, with one doorbell.
    kernel::ErrorOr<void> submit(const std::vector<kernel::RefPtr<Job>> &jobs);

    // One response from the device. Returns the jobs it finished (all slices completed, or
    // an unknown req_id: none); refills the ring from the queue.
    std::vector<kernel::RefPtr<Job>> complete(uint16_t req_id, uint16_t status);

    // Takes every job (in flight and queued) out: for reset, release or hang recovery.
    std::vector<kernel::RefPtr<Job>> take_all();

    // True when the oldest job in flight has made no progress for `timeout`.
    bool hung(kernel::Duration timeout);

    size_t max_queued() const { return max_queued_; }
    size_t in_flight() const { return ring_jobs_.size(); }
    size_t queued() const { return queue_.size(); }
    bool idle() const { return ring_jobs_.empty() && queue_.empty(); }

private:
    void write(Job &job, bool ring_was_idle);
    void push(const kernel::RefPtr<Job> &job);
    // Moves queued jobs to the ring while they fit; true if any moved.
    bool refill();

    RingOwner &ring_;
    SchedClock &clock_;
    const size_t max_queued_;
    uint16_t next_req_id_ = 0;
    std::deque<kernel::RefPtr<Job>> ring_jobs_; // on the ring, in order
    std::deque<kernel::RefPtr<Job>> queue_;     // waiting for room
    kernel::Clock::time_point last_progress_{};
};

} // namespace qaic
