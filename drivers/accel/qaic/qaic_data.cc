// SPDX-License-Identifier: GPL-2.0-only
// The datapath: EXECUTE_BO, PARTIAL_EXECUTE_BO, WAIT_BO, PERF_STATS_BO, the DBC interrupt
// handler that completes jobs, polling mode and the watchdog that recovers hung DBCs.
#include "drivers/accel/qaic/qaic.h"
#include "drivers/accel/qaic/qaic_slice.h"
#include "kernel/printk.h"
#include "kernel/task.h"

#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

namespace qaic {
namespace {

using namespace aic100;
using kernel::Clock;

// The DBC's request ring as the scheduler sees it.
// The scheduler calls it only from inside the DBC's state (it owns the ring), so always with
// the state locked.
class DbcRing : public RingOwner {
public:
    explicit DbcRing(QaicDevice &qdev) : qdev_(qdev) {}
    void bind(unsigned id, DbcState &s)
    {
        id_ = id;
        s_ = &s;
    }

    uint32_t ring_free() override
    {
        uint32_t head = qdev_.pdev.read32(qdev_.bar_dbc, dbc_reg(id_, kDbcReqHp));
        if (head >= s_->nelem)
            return 0; // gone (all ones) or nonsense: queue nothing more
        return aic100::ring_free(head, s_->req_tail, s_->nelem);
    }
    uint32_t ring_level() override { return s_->nelem - 1 - ring_free(); }
    void ring_write(const std::vector<DbcReq> &reqs) override
    {
        auto *ring = static_cast<DbcReq *>(s_->queue.cpu_addr);
        QAIC_CHECK(s_->req_tail < s_->nelem, "DBC %u: request tail %u past the ring's %u", id_,
                   s_->req_tail, s_->nelem);
        QAIC_CHECK(reqs.size() < s_->nelem, "DBC %u: %zu elements written to a ring of %u",
                   id_, reqs.size(), s_->nelem);
        for (const DbcReq &r : reqs) {
            ring[s_->req_tail] = r;
            s_->req_tail = (s_->req_tail + 1) % s_->nelem;
        }
    }
    void ring_doorbell() override
    {
        qdev_.pdev.write32(qdev_.bar_dbc, dbc_reg(id_, kDbcReqTp), s_->req_tail);
    }

private:
    QaicDevice &qdev_;
    unsigned id_ = 0;
    DbcState *s_ = nullptr; // bound by dbc_start
};

class SteadyClock : public SchedClock {
public:
    Clock::time_point now() override { return Clock::now(); }
};
SteadyClock g_clock;

// The elements of one execution. resize (partial execute) trims the BO: a slice at or past
// it moves nothing but keeps its doorbell and semaphores; one it cuts is shortened.
ErrorOr<std::vector<DbcReq>> job_elements(const Bo &bo, const BoSlicing &s,
                                          std::optional<uint64_t> resize)
{
    std::vector<DbcReq> reqs;
    TRY(kernel::try_reserve(reqs, s.total_elems));
    for (const Slice &sl : s.slices) {
        if (!resize || *resize >= sl.entry.offset + sl.entry.size) {
            reqs.insert(reqs.end(), sl.reqs.begin(), sl.reqs.end());
            continue;
        }
        qaic_attach_slice_entry e = sl.entry;
        e.size = *resize > e.offset ? *resize - e.offset : 0;
        auto part = encode_slice(e, s.dir, slice_sg(bo.sgt(), e.offset, e.size));
        reqs.insert(reqs.end(), part.begin(), part.end());
    }
    return reqs;
}

// The jobs of one call while it is built: each one's BO is marked queued. Unless the call
// commits (the scheduler took them), leaving the scope unmarks them, however it is left.
class StagedJobs {
public:
    StagedJobs() = default;
    StagedJobs(const StagedJobs &) = delete;
    StagedJobs &operator=(const StagedJobs &) = delete;
    ~StagedJobs()
    {
        if (committed_)
            return;
        for (auto &job : jobs)
            job->bo->slicing.lock()->queued = false;
    }
    void commit() { committed_ = true; }

    std::vector<RefPtr<Job>> jobs;

private:
    bool committed_ = false;
};

// EXECUTE and PARTIAL_EXECUTE in three phases (as ivpu's create / prepare / submit):
// execute_check finds the DBC and bounds the call before anything is copied or allocated,
// execute_prepare turns the entries into jobs, submit_jobs hands them to the DBC's scheduler.
// T is qaic_execute_entry or qaic_partial_execute_entry.

// The header's rules. Before the entries are copied, so that no file makes the driver
// allocate for a DBC it does not own, or for more BOs than the DBC could ever take: each BO
// needs a ring slot (nelem - 1 of them) or a place in the software queue. The copy is made
// without the lock (user memory may be slow); ownership is checked again after it.
template <typename T> ErrorOr<Dbc *> execute_check(accel::File &file, const qaic_execute_hdr &hdr)
{
    QaicDevice &qdev = to_qdev(file.device());
    if (hdr.count == 0)
        return REJECT(-EINVAL, "count is 0");
    size_t bytes;
    if (__builtin_mul_overflow(size_t(hdr.count), sizeof(T), &bytes))
        return REJECT(-EOVERFLOW, "count %u entries overflow a size", hdr.count);
    if (hdr.dbc_id >= qdev.num_dbc())
        return REJECT(-EINVAL, "DBC %u does not exist (the device has %u)", hdr.dbc_id,
                      qdev.num_dbc());
    TRY(qdev.check_online());
    Dbc &dbc = *qdev.dbcs[hdr.dbc_id];
    auto d = dbc.state.lock();
    if (!d->owned_by(file))
        return REJECT(-EPERM, "DBC %u is not activated by this file", dbc.id);
    if (hdr.count > uint64_t(d->nelem - 1) + d->sched->max_queued())
        return REJECT(-E2BIG, "%u entries are more than DBC %u's ring (%u) and queue (%zu) hold",
                      hdr.count, dbc.id, d->nelem - 1, d->sched->max_queued());
    return &dbc;
}

// One job per entry, staged, with the DBC's state locked (d) for the whole call: concurrent
// submitters can never interleave their elements on the ring.
template <typename T>
ErrorOr<void> execute_prepare(accel::File &file, Dbc &dbc, DbcState &d,
                              const std::vector<T> &entries, Clock::time_point received,
                              StagedJobs &staged)
{
    QaicDevice &qdev = to_qdev(file.device());
    if (!d.owned_by(file))
        return REJECT(-EPERM, "DBC %u was released meanwhile", dbc.id);
    if (d.in_ssr)
        return REJECT(-EPIPE, "DBC %u is in a subsystem restart", dbc.id);
    if (qdev.pdev.read32(qdev.bar_dbc, dbc_reg(dbc.id, kDbcReqHp)) == kRegGone ||
        qdev.pdev.read32(qdev.bar_dbc, dbc_reg(dbc.id, kDbcReqTp)) == kRegGone)
        return REJECT(-ENODEV, "DBC %u's registers read all ones: the device is gone", dbc.id);

    TRY(kernel::try_reserve(staged.jobs, entries.size()));
    for (unsigned i = 0; i < entries.size(); ++i) {
        const T &ent = entries[i];
        RefPtr<Bo> bo = TRY(lookup_bo(file, ent.handle));
        auto s = bo->slicing.lock();
        QAIC_CHECK(!s->sliced || (s->dma_mapped && !s->slices.empty()),
                   "BO %u is sliced but not mapped for the device, or has no slices", ent.handle);
        // Ours: the BO must be sliced on this DBC and executed in its attached direction;
        // a BO given twice is queued by its first entry.
        if (!s->sliced)
            return REJECT(-EINVAL, "entry %u: BO %u is not sliced", i, ent.handle);
        if (s->queued)
            return REJECT(-EINVAL, "entry %u: BO %u is already queued (given twice, or still "
                                   "running)", i, ent.handle);
        if (s->dbc_id != dbc.id)
            return REJECT(-EINVAL, "entry %u: BO %u is sliced for DBC %u, not %u", i, ent.handle,
                          s->dbc_id, dbc.id);
        if (ent.dir != uint32_t(s->dir))
            return REJECT(-EINVAL, "entry %u: dir %u is not BO %u's attached dir %u", i, ent.dir,
                          ent.handle, uint32_t(s->dir));
        std::optional<uint64_t> resize;
        if constexpr (std::is_same_v<T, qaic_partial_execute_entry>) {
            if (ent.resize > bo->size())
                return REJECT(-EINVAL, "entry %u: resize %llu is past BO %u's %llu bytes", i,
                              (unsigned long long)ent.resize, ent.handle,
                              (unsigned long long)bo->size());
            resize = ent.resize;
        }
        RefPtr<Job> job = TRY(kernel::try_make_ref<Job>());
        job->fence = TRY(kernel::try_make_ref<kernel::Fence>(d.fence_context,
                                                             d.fence_seqno + 1));
        ++d.fence_seqno;
        job->dbc_id = dbc.id;
        job->reqs = TRY(job_elements(*bo, *s, resize));
        job->slices = uint32_t(s->slices.size());
        for (const DbcReq &r : job->reqs)
            job->bytes += (r.cmd & kCmdDirMask) ? r.len : 0;
        job->received = received;
        s->queued = true;
        job->bo = bo;
        staged.jobs.push_back(std::move(job)); // reserved: cannot throw
    }
    return {};
}

ErrorOr<void> submit_jobs(Dbc &dbc, DbcState &d, StagedJobs &staged)
{
    TRY(d.sched->submit(staged.jobs));
    staged.commit();
    dbc.update_busy(d);
    for (auto &job : staged.jobs)
        job->bo->slicing.lock()->job = job;
    qaic_dbg(kernel::kDebugDatapath, "DBC %u: %zu jobs submitted, %u elements on the ring",
             dbc.id, staged.jobs.size(), d.ring->ring_level());
    return {};
}

template <typename T> ErrorOr<void> execute(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_execute *>(data);
    auto received = Clock::now();
    Dbc &dbc = *TRY(execute_check<T>(file, args->hdr));
    std::vector<T> entries =
        TRY(kernel::memdup_array_user(kernel::UserPtr<T>(args->data), args->hdr.count));
    auto d = dbc.state.lock();
    // Declared after the lock: staged BOs are unmarked under it, before it is dropped.
    StagedJobs staged;
    TRY(execute_prepare(file, dbc, *d, entries, received, staged));
    return submit_jobs(dbc, *d, staged);
}

} // namespace

// ---------------------------------------------------------------------------- jobs

Job::Job() = default;
Job::~Job() = default;

ErrorOr<QaicDevice::DbcRuntime> QaicDevice::make_dbc_runtime()
{
    DbcRuntime rt;
    TRY(kernel::try_alloc([&] {
        rt.ring = std::make_unique<DbcRing>(*this);
        rt.sched = std::make_unique<DbcScheduler>(*rt.ring, g_clock, params.sched_queue_depth);
    }));
    return rt;
}

void QaicDevice::dbc_start(Dbc &dbc, DbcState &s, DbcRuntime rt)
{
    s.req_tail = s.rsp_head = 0;
    s.fence_context = kernel::Fence::new_context();
    static_cast<DbcRing &>(*rt.ring).bind(dbc.id, s);
    s.ring = std::move(rt.ring);
    s.sched = std::move(rt.sched);
}

JobList QaicDevice::dbc_stop(Dbc &dbc, DbcState &s)
{
    JobList jobs;
    if (s.sched)
        jobs = s.sched->take_all();
    s.sched.reset();
    s.ring.reset();
    dbc.update_busy(s);
    return jobs;
}

// A job is done: its BO may be queued again, then waiters learn the status. A job whose
// device work failed reports -EIO: nothing completes silently with lost data.
void QaicDevice::finish_jobs(JobList &jobs, int err)
{
    auto now = Clock::now();
    while (RefPtr<Job> job = jobs.pop_front()) {
        int status = err ? err : job->first_error ? -EIO : 0;
        // A job ended without a completion (recovery, release) ends now; one that never
        // reached the ring counts as reaching it now: its latencies stay real durations.
        if (job->completed == Clock::time_point{}) {
            if (job->submitted == Clock::time_point{})
                job->submitted = now;
            job->completed = now;
        }
        RefPtr<Bo> bo = std::move(job->bo);
        {
            auto s = bo->slicing.lock();
            s->queued = false;
            s->done = job;
        }
        if (status)
            qaic_dbg(kernel::kDebugDatapath, "DBC %u: job %u finished with %s", job->dbc_id,
                     job->req_id, kernel::errno_name(status));
        job->fence->signal(status);
    }
}

void QaicDevice::dbc_irq(unsigned id)
{
    Dbc &dbc = *dbcs[id];
    std::lock_guard fin(dbc.finish_lock);
    JobList done;
    {
        auto d = dbc.state.lock();
        if (!d->in_use || !d->sched)
            return;
        uint32_t tail = pdev.read32(bar_dbc, dbc_reg(id, kDbcRspTp));
        if (tail >= d->nelem)
            return; // gone or garbage: the watchdog notices
        auto *rsp = reinterpret_cast<const DbcRsp *>(static_cast<const uint8_t *>(
                                                         d->queue.cpu_addr) +
                                                     d->queue.size -
                                                     size_t(d->nelem) * sizeof(DbcRsp));
        if (d->rsp_head == tail)
            return;
        QAIC_CHECK(d->rsp_head < d->nelem, "DBC %u: response head %u past the ring's %u", id,
                   d->rsp_head, d->nelem);
        while (d->rsp_head != tail) {
            DbcRsp r = rsp[d->rsp_head];
            if (RefPtr<Job> finished = d->sched->complete(r.req_id, r.status))
                done.push_back(std::move(finished));
            d->rsp_head = (d->rsp_head + 1) % d->nelem;
        }
        dbc.update_busy(*d);
        pdev.write32(bar_dbc, dbc_reg(id, kDbcRspHp), d->rsp_head);
    }
    finish_jobs(done, 0);
}

void QaicDevice::dbc_recover(Dbc &dbc)
{
    std::lock_guard fin(dbc.finish_lock);
    JobList jobs;
    {
        auto d = dbc.state.lock();
        if (!d->in_use || !d->sched || !d->sched->hung(std::chrono::milliseconds(
                                                           params.exec_timeout_ms)))
            return;
        pr_warn("DBC %u: no progress for %u ms, resetting it", dbc.id,
                params.exec_timeout_ms.load());
        jobs = d->sched->take_all();
        qaic_dbg(kernel::kDebugCard, "DBC %u hung: %zu jobs fail", dbc.id, jobs.size());
        dbc.update_busy(*d);
        pdev.write32(bar_dbc, dbc_reg(dbc.id, kDbcReset), kResetMagic);
        d->req_tail = d->rsp_head = 0;
    }
    // The oldest job is the one that hung; the others never got their turn.
    JobList hung;
    hung.push_back(jobs.pop_front());
    finish_jobs(hung, -ETIMEDOUT);
    finish_jobs(jobs, -EIO);
}

// One thread per device: in polling mode it drains every DBC each poll interval; always, at
// least every 100 ms, it drains (catching lost MSIs) and recovers hung DBCs.
void QaicDevice::start_datapath_thread()
{
    datapath_thread_ = std::thread([this] {
        std::unique_lock lk(datapath_lock_);
        while (!datapath_stop_) {
            bool polling = params.datapath_polling != 0;
            auto period = polling
                              ? std::chrono::microseconds(params.datapath_poll_interval_us.load())
                                  : std::chrono::microseconds(100000);
            datapath_cv_.wait_for(lk, period, [&] { return datapath_stop_; });
            if (datapath_stop_)
                break;
            lk.unlock();
            if (online) {
                for (auto &dbc : dbcs) {
                    dbc_irq(dbc->id);
                    dbc_recover(*dbc);
                }
            }
            lk.lock();
        }
    });
}

void QaicDevice::stop_datapath_thread()
{
    {
        std::lock_guard lk(datapath_lock_);
        datapath_stop_ = true;
    }
    datapath_cv_.notify_all();
    if (datapath_thread_.joinable())
        datapath_thread_.join();
}

// WAIT_BO's policy, in three stages that each end when the job is done or the caller's
// task is killed (its process died, so its file can be released at once: -EINTR).
//  1. Busy polling (NAPI's, for a DMA queue): a simulated device runs the job's elements on
//     this thread, which would otherwise only wait for them. In polling mode the MSIs it
//     raises are not handled, so the waiter reaps the responses itself.
//  2. Spinning while the job can be expected to finish soon: the base spin plus the job's
//     transfer time at a nominal 20 GB/s (capped at 2 ms). Waking a sleeping thread costs
//     tens of microseconds here, more than a megabyte-sized copy's tail. It pays only with a
//     CPU to spare: not while other DBCs' engines and submitters, or other spinners, need
//     the CPUs.
//  3. Sleeping on the job's fence until the deadline.
ErrorOr<void> QaicDevice::wait_job(Job &job, std::chrono::milliseconds timeout)
{
    auto deadline = kernel::WaitQueue::deadline_after(timeout);
    auto over = [&] { return job.fence->signaled() || kernel::fatal_signal_pending(); };
    if (params.wait_busy_poll && !over()) {
        bool reap = params.datapath_polling != 0;
        pdev.busy_poll(job.dbc_id, [&] {
            if (reap)
                dbc_irq(job.dbc_id);
            return over();
        }, deadline);
    }
    auto spin = std::chrono::microseconds(
        std::min<uint64_t>({params.wait_spin_us + job.bytes / 20000, 2000,
                            uint64_t(timeout.count()) * 1000}));
    spin_if_spare(over, spin);
    auto waited = job.fence->wait_interruptible_until(deadline);
    if (waited.code() == -ETIMEDOUT)
        return REJECT(-ETIMEDOUT, "DBC %u: the BO's job did not finish within %lld ms",
                      job.dbc_id, (long long)timeout.count());
    if (waited.is_error())
        return REJECT(waited.code(), "DBC %u: the caller was killed waiting for the BO's job",
                      job.dbc_id);
    if (int status = waited.value())
        return REJECT(status, "DBC %u: the BO's job failed (%s)", job.dbc_id,
                      status == -EIO          ? "the device reported an error, or was reset"
                      : status == -ETIMEDOUT  ? "its DBC hung and was reset"
                      : status == -EPIPE      ? "its DBC went through a subsystem restart"
                      : status == -EPERM      ? "its DBC was deactivated"
                      : status == -ENODEV     ? "the device is gone"
                                              : "see the errno");
    return {};
}

// ---------------------------------------------------------------------------- ioctls

ErrorOr<void> execute_bo_ioctl(accel::File &file, void *data)
{
    return execute<qaic_execute_entry>(file, data);
}

ErrorOr<void> partial_execute_bo_ioctl(accel::File &file, void *data)
{
    return execute<qaic_partial_execute_entry>(file, data);
}

ErrorOr<void> wait_bo_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_wait *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    if (args->pad)
        return REJECT(-EINVAL, "pad is %#x, not 0", args->pad);
    if (args->dbc_id >= qdev.num_dbc())
        return REJECT(-EINVAL, "DBC %u does not exist (the device has %u)", args->dbc_id,
                      qdev.num_dbc());
    TRY(qdev.check_online());
    RefPtr<Bo> bo = TRY(lookup_bo(file, args->handle));
    Dbc &dbc = *qdev.dbcs[args->dbc_id];
    {
        auto d = dbc.state.lock();
        if (!d->owned_by(file))
            return REJECT(-EPERM, "DBC %u is not activated by this file", dbc.id);
        if (d->in_ssr)
            return REJECT(-EPIPE, "DBC %u is in a subsystem restart", dbc.id);
    }
    RefPtr<Job> job = bo->slicing.lock()->job;
    if (!job)
        return {}; // never queued
    uint32_t ms = args->timeout ? args->timeout : qdev.params.wait_exec_default_timeout_ms.load();
    return qdev.wait_job(*job, std::chrono::milliseconds(ms));
}

ErrorOr<void> perf_stats_bo_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_perf_stats *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    if (args->hdr.count == 0)
        return REJECT(-EINVAL, "count is 0");
    if (args->hdr.pad)
        return REJECT(-EINVAL, "pad is %#x, not 0", args->hdr.pad);
    if (args->hdr.dbc_id >= qdev.num_dbc())
        return REJECT(-EINVAL, "DBC %u does not exist (the device has %u)", args->hdr.dbc_id,
                      qdev.num_dbc());
    TRY(qdev.check_online());
    kernel::UserPtr<qaic_perf_stats_entry> uptr(args->data);
    std::vector<qaic_perf_stats_entry> ents =
        TRY(kernel::memdup_array_user(uptr, args->hdr.count));
    auto us = [](Clock::duration d) {
        return uint32_t(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    };
    for (unsigned i = 0; i < ents.size(); ++i) {
        qaic_perf_stats_entry &e = ents[i];
        RefPtr<Bo> bo = TRY(lookup_bo(file, e.handle));
        auto s = bo->slicing.lock();
        if (!s->sliced)
            return REJECT(-EINVAL, "entry %u: BO %u is not sliced", i, e.handle);
        if (s->dbc_id != args->hdr.dbc_id)
            return REJECT(-EINVAL, "entry %u: BO %u is sliced for DBC %u, not %u", i, e.handle,
                          s->dbc_id, args->hdr.dbc_id);
        uint32_t handle = e.handle;
        e = {};
        e.handle = handle;
        if (const Job *job = s->done.get()) {
            e.queue_level_before = job->queue_level_before;
            e.num_queue_element = uint32_t(job->reqs.size());
            e.submit_latency_us = us(job->submitted - job->received);
            e.device_latency_us = us(job->completed - job->submitted);
        }
    }
    TRY(kernel::copy_array_to_user(uptr, ents.data(), ents.size()));
    return {};
}

} // namespace qaic
