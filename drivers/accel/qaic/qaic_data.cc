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
class DbcRing : public RingOwner {
public:
    explicit DbcRing(QaicDevice &qdev) : qdev_(qdev) {}
    void bind(Dbc &dbc) { dbc_ = &dbc; }

    uint32_t ring_free() override
    {
        uint32_t head = qdev_.pdev.read32(kBarDbc, dbc_reg(dbc_->id, kDbcReqHp));
        if (head >= dbc_->nelem)
            return 0; // gone (all ones) or nonsense: queue nothing more
        return aic100::ring_free(head, dbc_->req_tail, dbc_->nelem);
    }
    uint32_t ring_level() override { return dbc_->nelem - 1 - ring_free(); }
    void ring_write(const std::vector<DbcReq> &reqs) override
    {
        auto *ring = static_cast<DbcReq *>(dbc_->queue.cpu_addr);
        for (const DbcReq &r : reqs) {
            ring[dbc_->req_tail] = r;
            dbc_->req_tail = (dbc_->req_tail + 1) % dbc_->nelem;
        }
    }
    void ring_doorbell() override
    {
        qdev_.pdev.write32(kBarDbc, dbc_reg(dbc_->id, kDbcReqTp), dbc_->req_tail);
    }

private:
    QaicDevice &qdev_;
    Dbc *dbc_ = nullptr; // bound by dbc_start
};

class SteadyClock : public SchedClock {
public:
    Clock::time_point now() override { return Clock::now(); }
};
SteadyClock g_clock;

// The elements of one execution. resize (partial execute) trims the BO: a slice at or past
// it moves nothing but keeps its doorbell and semaphores; one it cuts is shortened.
ErrorOr<std::vector<DbcReq>> job_elements(const Bo &bo, std::optional<uint64_t> resize)
{
    std::vector<DbcReq> reqs;
    TRY(kernel::try_reserve(reqs, bo.total_elems));
    for (const Slice &s : bo.slices) {
        if (!resize || *resize >= s.entry.offset + s.entry.size) {
            reqs.insert(reqs.end(), s.reqs.begin(), s.reqs.end());
            continue;
        }
        qaic_attach_slice_entry e = s.entry;
        e.size = *resize > e.offset ? *resize - e.offset : 0;
        auto part = encode_slice(e, bo.dir, slice_sg(bo.sgt(), e.offset, e.size));
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
        for (auto &job : jobs) {
            std::lock_guard lk(job->bo->lock);
            job->bo->queued = false;
        }
    }
    void commit() { committed_ = true; }

    std::vector<RefPtr<Job>> jobs;

private:
    bool committed_ = false;
};

// EXECUTE and PARTIAL_EXECUTE: T is qaic_execute_entry or qaic_partial_execute_entry.
template <typename T> ErrorOr<void> execute(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_execute *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    auto received = Clock::now();
    if (args->hdr.count == 0)
        return Error(-EINVAL);
    size_t bytes;
    if (__builtin_mul_overflow(size_t(args->hdr.count), sizeof(T), &bytes))
        return Error(-EOVERFLOW);
    if (args->hdr.dbc_id >= qdev.num_dbc())
        return Error(-EINVAL);
    if (!qdev.online)
        return Error(-ENODEV);
    Dbc &dbc = *qdev.dbcs[args->hdr.dbc_id];
    {
        // Before the entries are copied, so that no file makes the driver allocate for a DBC
        // it does not own, or for more BOs than the DBC could ever take: each BO needs a ring
        // slot (nelem - 1 of them) or a place in the software queue. The copy is made
        // without the lock (user memory may be slow); ownership is checked again after it.
        std::lock_guard lk(dbc.lock);
        if (!dbc.in_use || dbc.usr != to_usr(file).handle)
            return Error(-EPERM);
        if (args->hdr.count > uint64_t(dbc.nelem - 1) + dbc.sched->max_queued())
            return Error(-E2BIG);
    }
    std::vector<T> entries =
        TRY(kernel::memdup_array_user(kernel::UserPtr<T>(args->data), args->hdr.count));

    // The whole submission happens under the DBC's lock, so concurrent submitters can never
    // interleave their elements on the ring.
    std::lock_guard dbc_lock(dbc.lock);
    if (!dbc.in_use || dbc.usr != to_usr(file).handle)
        return Error(-EPERM);
    if (dbc.in_ssr)
        return Error(-EPIPE);
    if (qdev.pdev.read32(kBarDbc, dbc_reg(dbc.id, kDbcReqHp)) == kRegGone ||
        qdev.pdev.read32(kBarDbc, dbc_reg(dbc.id, kDbcReqTp)) == kRegGone)
        return Error(-ENODEV);

    // Declared after dbc_lock: staged BOs are unmarked under it, before it is dropped.
    StagedJobs staged;
    TRY(kernel::try_reserve(staged.jobs, entries.size()));
    for (const T &ent : entries) {
        RefPtr<Bo> bo = TRY(lookup_bo(file, ent.handle));
        std::lock_guard lk(bo->lock);
        // Ours: the BO must be sliced on this DBC and executed in its attached direction;
        // a BO given twice is queued by its first entry.
        bool valid = bo->sliced && !bo->queued && bo->dbc_id == dbc.id && ent.dir == bo->dir;
        std::optional<uint64_t> resize;
        if constexpr (std::is_same_v<T, qaic_partial_execute_entry>) {
            valid = valid && ent.resize <= bo->size();
            resize = ent.resize;
        }
        if (!valid)
            return Error(-EINVAL);
        RefPtr<Job> job = TRY(kernel::try_make_ref<Job>());
        job->fence = TRY(kernel::try_make_ref<kernel::Fence>(dbc.fence_context,
                                                             dbc.fence_seqno + 1));
        ++dbc.fence_seqno;
        job->dbc_id = dbc.id;
        job->reqs = TRY(job_elements(*bo, resize));
        job->slices = uint32_t(bo->slices.size());
        for (const DbcReq &r : job->reqs)
            job->bytes += (r.cmd & kCmdDirMask) ? r.len : 0;
        job->received = received;
        bo->queued = true;
        job->bo = bo;
        staged.jobs.push_back(std::move(job)); // reserved: cannot throw
    }
    TRY(dbc.sched->submit(staged.jobs));
    staged.commit();
    dbc.update_busy();
    for (auto &job : staged.jobs) {
        std::lock_guard lk(job->bo->lock);
        job->bo->job = job;
    }
    return {};
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

void QaicDevice::dbc_start(Dbc &dbc, DbcRuntime rt)
{
    dbc.req_tail = dbc.rsp_head = 0;
    dbc.fence_context = kernel::Fence::new_context();
    static_cast<DbcRing &>(*rt.ring).bind(dbc);
    dbc.ring = std::move(rt.ring);
    dbc.sched = std::move(rt.sched);
}

JobList QaicDevice::dbc_stop(Dbc &dbc)
{
    JobList jobs;
    if (dbc.sched)
        jobs = dbc.sched->take_all();
    dbc.sched.reset();
    dbc.ring.reset();
    dbc.update_busy();
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
            std::lock_guard lk(bo->lock);
            bo->queued = false;
            bo->done = job;
        }
        job->fence->signal(status);
    }
}

void QaicDevice::dbc_irq(unsigned id)
{
    Dbc &dbc = *dbcs[id];
    std::lock_guard fin(dbc.finish_lock);
    JobList done;
    {
        std::lock_guard lk(dbc.lock);
        if (!dbc.in_use || !dbc.sched)
            return;
        uint32_t tail = pdev.read32(kBarDbc, dbc_reg(id, kDbcRspTp));
        if (tail >= dbc.nelem)
            return; // gone or garbage: the watchdog notices
        auto *rsp = reinterpret_cast<const DbcRsp *>(static_cast<const uint8_t *>(
                                                         dbc.queue.cpu_addr) +
                                                     dbc.queue.size -
                                                     size_t(dbc.nelem) * sizeof(DbcRsp));
        if (dbc.rsp_head == tail)
            return;
        while (dbc.rsp_head != tail) {
            DbcRsp r = rsp[dbc.rsp_head];
            if (RefPtr<Job> finished = dbc.sched->complete(r.req_id, r.status))
                done.push_back(std::move(finished));
            dbc.rsp_head = (dbc.rsp_head + 1) % dbc.nelem;
        }
        dbc.update_busy();
        pdev.write32(kBarDbc, dbc_reg(id, kDbcRspHp), dbc.rsp_head);
    }
    finish_jobs(done, 0);
}

void QaicDevice::dbc_recover(Dbc &dbc)
{
    std::lock_guard fin(dbc.finish_lock);
    JobList jobs;
    {
        std::lock_guard lk(dbc.lock);
        if (!dbc.in_use || !dbc.sched || !dbc.sched->hung(std::chrono::milliseconds(
                                                             params.exec_timeout_ms)))
            return;
        pr_warn("DBC %u: no progress for %u ms, resetting it", dbc.id,
                params.exec_timeout_ms.load());
        jobs = dbc.sched->take_all();
        dbc.update_busy();
        pdev.write32(kBarDbc, dbc_reg(dbc.id, kDbcReset), kResetMagic);
        dbc.req_tail = dbc.rsp_head = 0;
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
            auto period = polling ? std::chrono::microseconds(params.poll_interval_us.load())
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
    if (args->pad || args->dbc_id >= qdev.num_dbc())
        return Error(-EINVAL);
    if (!qdev.online)
        return Error(-ENODEV);
    RefPtr<Bo> bo = TRY(lookup_bo(file, args->handle));
    Dbc &dbc = *qdev.dbcs[args->dbc_id];
    {
        std::lock_guard lk(dbc.lock);
        if (!dbc.in_use || dbc.usr != to_usr(file).handle)
            return Error(-EPERM);
        if (dbc.in_ssr)
            return Error(-EPIPE);
    }
    RefPtr<Job> job;
    {
        std::lock_guard lk(bo->lock);
        job = bo->job;
    }
    if (!job)
        return {}; // never queued
    uint32_t ms = args->timeout ? args->timeout : qdev.params.wait_exec_default_timeout_ms.load();
    auto deadline = kernel::WaitQueue::deadline_after(std::chrono::milliseconds(ms));
    // Every stage of the wait ends when the caller's task is killed (its process died), so
    // its file can be released at once: -EINTR.
    auto over = [&] { return job->fence->signaled() || kernel::fatal_signal_pending(); };
    // Busy polling (NAPI's, for a DMA queue): a simulated device runs the job's elements on
    // this thread, which would otherwise only wait for them. In polling mode the MSIs it
    // raises are not handled, so the waiter reaps the responses itself.
    if (qdev.params.wait_busy_poll && !over()) {
        bool reap = qdev.params.datapath_polling != 0;
        qdev.pdev.busy_poll(job->dbc_id, [&] {
            if (reap)
                qdev.dbc_irq(job->dbc_id);
            return over();
        }, deadline);
    }
    // Spin while the job can be expected to finish soon: the base spin plus the job's
    // transfer time at a nominal 20 GB/s (capped at 2 ms). Waking a sleeping thread costs
    // tens of microseconds here, more than a megabyte-sized copy's tail.
    // Spinning pays only with a CPU to spare: not while other DBCs' engines and submitters,
    // or other spinners, need the CPUs.
    auto spin = std::chrono::microseconds(std::min<uint64_t>(
        {qdev.params.wait_spin_us + job->bytes / 20000, 2000, uint64_t(ms) * 1000}));
    qdev.spin_if_spare(over, spin);
    auto status_or = job->fence->wait_interruptible_until(deadline);
    int status = TRY(status_or);
    if (status)
        return Error(status);
    return {};
}

ErrorOr<void> perf_stats_bo_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_perf_stats *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    if (args->hdr.count == 0 || args->hdr.pad || args->hdr.dbc_id >= qdev.num_dbc())
        return Error(-EINVAL);
    if (!qdev.online)
        return Error(-ENODEV);
    kernel::UserPtr<qaic_perf_stats_entry> uptr(args->data);
    std::vector<qaic_perf_stats_entry> ents =
        TRY(kernel::memdup_array_user(uptr, args->hdr.count));
    auto us = [](Clock::duration d) {
        return uint32_t(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    };
    for (qaic_perf_stats_entry &e : ents) {
        RefPtr<Bo> bo = TRY(lookup_bo(file, e.handle));
        std::lock_guard lk(bo->lock);
        if (!bo->sliced || bo->dbc_id != args->hdr.dbc_id)
            return Error(-EINVAL);
        uint32_t handle = e.handle;
        e = {};
        e.handle = handle;
        if (const Job *job = bo->done.get()) {
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
