// SPDX-License-Identifier: GPL-2.0-only
#include "drivers/accel/qaic/qaic_sched.h"

namespace qaic {

// Writes a job's elements to the ring; the job is already tracked in ring_jobs_.
void DbcScheduler::write(Job &job, bool ring_was_idle)
{
    job.queue_level_before = ring_.ring_level();
    ring_.ring_write(job.reqs);
    job.submitted = clock_.now();
    if (ring_was_idle)
        last_progress_ = job.submitted; // an idle ring starts its hang clock now
}

void DbcScheduler::push(const kernel::RefPtr<Job> &job)
{
    bool idle = ring_jobs_.empty();
    ring_jobs_.push_back(job);
    write(*job, idle);
}

kernel::ErrorOr<void> DbcScheduler::submit(const std::vector<kernel::RefPtr<Job>> &jobs)
{
    // Decide first, act after: how many go to the ring now, and do the rest fit the queue?
    size_t direct = 0;
    if (queue_.empty()) {
        uint32_t room = ring_.ring_free();
        while (direct < jobs.size() && jobs[direct]->reqs.size() <= room)
            room -= uint32_t(jobs[direct++]->reqs.size());
    }
    if (queue_.size() + (jobs.size() - direct) > max_queued_)
        return kernel::Error(-EAGAIN);

    // The bookkeeping grows first: when memory runs out, nothing has reached the ring.
    size_t in_flight = ring_jobs_.size();
    auto to_ring = jobs.begin() + ptrdiff_t(direct);
    TRY(kernel::try_append(ring_jobs_, jobs.begin(), to_ring));
    if (auto r = kernel::try_append(queue_, to_ring, jobs.end()); r.is_error()) {
        ring_jobs_.resize(in_flight);
        return r;
    }

    for (const auto &job : jobs) {
        job->req_id = next_req_id_++;
        for (aic100::DbcReq &r : job->reqs) {
            r.req_id = job->req_id;
            r.seq_id = uint8_t(job->req_id);
        }
    }
    for (size_t i = 0; i < direct; ++i)
        write(*jobs[i], in_flight == 0 && i == 0);
    if (direct)
        ring_.ring_doorbell();
    return {};
}

bool DbcScheduler::refill()
{
    bool moved = false;
    while (!queue_.empty() && queue_.front()->reqs.size() <= ring_.ring_free()) {
        push(queue_.front());
        queue_.pop_front();
        moved = true;
    }
    return moved;
}

std::vector<kernel::RefPtr<Job>> DbcScheduler::complete(uint16_t req_id, uint16_t status)
{
    std::vector<kernel::RefPtr<Job>> done;
    // Responses arrive in ring order, so the job is the oldest in flight; a stray req_id
    // (a device bug) is ignored rather than completing the wrong job.
    if (ring_jobs_.empty() || ring_jobs_.front()->req_id != req_id)
        return done;
    auto &job = ring_jobs_.front();
    last_progress_ = clock_.now();
    if (status && !job->first_error)
        job->first_error = status;
    if (++job->slices_done == job->slices) {
        job->completed = last_progress_;
        done.push_back(job);
        ring_jobs_.pop_front();
        if (refill())
            ring_.ring_doorbell();
    }
    return done;
}

std::vector<kernel::RefPtr<Job>> DbcScheduler::take_all()
{
    std::vector<kernel::RefPtr<Job>> all(ring_jobs_.begin(), ring_jobs_.end());
    all.insert(all.end(), queue_.begin(), queue_.end());
    ring_jobs_.clear();
    queue_.clear();
    return all;
}

bool DbcScheduler::hung(kernel::Duration timeout)
{
    return !ring_jobs_.empty() && clock_.now() - last_progress_ > timeout;
}

} // namespace qaic
