// SPDX-License-Identifier: GPL-2.0-only
#include "drivers/accel/qaic/qaic_sched.h"
#include "kernel/printk.h"

namespace qaic {

// ---------------------------------------------------------------------------- JobList

void JobList::push_back(kernel::RefPtr<Job> job)
{
    Job *raw = job.get();
    if (tail_)
        tail_->next = std::move(job);
    else
        head_ = std::move(job);
    tail_ = raw;
    ++size_;
}

kernel::RefPtr<Job> JobList::pop_front()
{
    kernel::RefPtr<Job> job = std::move(head_);
    if (!job)
        return job;
    head_ = std::move(job->next);
    if (!head_)
        tail_ = nullptr;
    --size_;
    return job;
}

void JobList::splice_back(JobList &other)
{
    if (other.empty())
        return;
    Job *other_tail = other.tail_;
    if (tail_)
        tail_->next = std::move(other.head_);
    else
        head_ = std::move(other.head_);
    tail_ = other_tail;
    size_ += other.size_;
    other.tail_ = nullptr;
    other.size_ = 0;
}

// Unlinks one job at a time: a long list is not released by recursion.
void JobList::clear()
{
    while (!empty())
        (void)pop_front();
}

// ---------------------------------------------------------------------------- DbcScheduler

// Writes a job's elements to the ring; the job is already tracked in ring_jobs_.
void DbcScheduler::write(Job &job, bool ring_was_idle)
{
    job.queue_level_before = ring_.ring_level();
    ring_.ring_write(job.reqs);
    job.submitted = clock_.now();
    if (ring_was_idle)
        last_progress_ = job.submitted; // an idle ring starts its hang clock now
}

void DbcScheduler::push(kernel::RefPtr<Job> job)
{
    bool idle = ring_jobs_.empty();
    Job &j = *job;
    ring_jobs_.push_back(std::move(job));
    write(j, idle);
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
        return REJECT(-EAGAIN, "the DBC's software queue holds %zu jobs (sched_queue_depth "
                               "%zu): no room for %zu more",
                      queue_.size(), max_queued_, jobs.size() - direct);

    for (const auto &job : jobs) {
        job->req_id = next_req_id_++;
        for (aic100::DbcReq &r : job->reqs) {
            r.req_id = job->req_id;
            r.seq_id = uint8_t(job->req_id);
        }
    }
    for (size_t i = 0; i < jobs.size(); ++i) {
        if (i < direct)
            push(jobs[i]);
        else
            queue_.push_back(jobs[i]);
    }
    if (direct)
        ring_.ring_doorbell();
    return {};
}

bool DbcScheduler::refill()
{
    bool moved = false;
    while (!queue_.empty() && queue_.front()->reqs.size() <= ring_.ring_free()) {
        push(queue_.pop_front());
        moved = true;
    }
    return moved;
}

kernel::RefPtr<Job> DbcScheduler::complete(uint16_t req_id, uint16_t status)
{
    // Responses arrive in ring order, so the job is the oldest in flight; a stray req_id
    // (a device bug) is ignored rather than completing the wrong job.
    Job *job = ring_jobs_.front();
    if (!job || job->req_id != req_id)
        return nullptr;
    last_progress_ = clock_.now();
    if (status && !job->first_error)
        job->first_error = status;
    QAIC_CHECK(job->slices_done < job->slices, "job %u: completion %u of %u slices", req_id,
               job->slices_done + 1, job->slices);
    if (++job->slices_done != job->slices)
        return nullptr;
    job->completed = last_progress_;
    kernel::RefPtr<Job> done = ring_jobs_.pop_front();
    if (refill())
        ring_.ring_doorbell();
    return done;
}

JobList DbcScheduler::take_all()
{
    JobList all;
    all.splice_back(ring_jobs_);
    all.splice_back(queue_);
    return all;
}

bool DbcScheduler::hung(kernel::Duration timeout)
{
    return !ring_jobs_.empty() && clock_.now() - last_progress_ > timeout;
}

} // namespace qaic
