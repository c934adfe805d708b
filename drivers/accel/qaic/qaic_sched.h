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
    // The next job of the one JobList this job is on (ring, queue, or finished).
    kernel::RefPtr<Job> next;
};

// Jobs linked through Job::next, in order. Moving jobs between lists allocates nothing: the
// interrupt handler, recovery and teardown move them, and none of those may fail for memory.
class JobList {
public:
    JobList() = default;
    JobList(JobList &&other) noexcept { splice_back(other); }
    JobList &operator=(JobList &&other) noexcept
    {
        clear();
        splice_back(other);
        return *this;
    }
    ~JobList() { clear(); }

    bool empty() const { return !head_; }
    size_t size() const { return size_; }
    Job *front() const { return head_.get(); }
    void push_back(kernel::RefPtr<Job> job);
    kernel::RefPtr<Job> pop_front();
    // Moves every job of other to the end of this list.
    void splice_back(JobList &other);
    void clear();

private:
    kernel::RefPtr<Job> head_;
    Job *tail_ = nullptr;
    size_t size_ = 0;
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

    // Takes all jobs or none: -EAGAIN when they would overflow the software queue. Jobs get
    // consecutive req_ids; those that fit go to the ring at once, with one doorbell.
    kernel::ErrorOr<void> submit(const std::vector<kernel::RefPtr<Job>> &jobs);

    // One response from the device. Returns the job it finished (all slices completed), or
    // null (more slices to come, or an unknown req_id); refills the ring from the queue.
    // Allocates nothing, as all below.
    kernel::RefPtr<Job> complete(uint16_t req_id, uint16_t status);

    // Takes every job (in flight, then queued) out: for reset, release or hang recovery.
    JobList take_all();

    // True when the oldest job in flight has made no progress for `timeout`.
    bool hung(kernel::Duration timeout);

    size_t max_queued() const { return max_queued_; }
    size_t in_flight() const { return ring_jobs_.size(); }
    size_t queued() const { return queue_.size(); }
    bool idle() const { return ring_jobs_.empty() && queue_.empty(); }

private:
    void write(Job &job, bool ring_was_idle);
    void push(kernel::RefPtr<Job> job);
    // Moves queued jobs to the ring while they fit; true if any moved.
    bool refill();

    RingOwner &ring_;
    SchedClock &clock_;
    const size_t max_queued_;
    uint16_t next_req_id_ = 0;
    JobList ring_jobs_; // on the ring, in order
    JobList queue_;     // waiting for room
    kernel::Clock::time_point last_progress_{};
};

} // namespace qaic
