// SPDX-License-Identifier: GPL-2.0-only
// DRM_IOCTL_QAIC_WAIT_BO and DRM_IOCTL_QAIC_PERF_STATS_BO.
#include "datapath_helpers.h"

#include <sys/mman.h>

namespace dpt {
namespace {

constexpr uint64_t kDev = 32 * kMiB;

// A file with a DBC, a to-device BO `in` and a BO `blocker` whose job blocks the DBC.
class WaitBo : public Datapath {
protected:
    void SetUp() override
    {
        Datapath::SetUp();
        ASSERT_NO_FATAL_FAILURE(make(in, kPage));
        ASSERT_NO_FATAL_FAILURE(make(blocker, kPage));
        ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, {slice(0, kPage, kDev)}), 0);
        ASSERT_EQ(attach(fd, blocker.handle(), dbc, kDirToDev,
                         {blocking_slice(0, kPage, kDev + kPage)}),
                  0);
    }
    void TearDown() override
    {
        in.reset();
        blocker.reset();
        Datapath::TearDown();
    }

    int raw_wait(uint32_t handle, uint32_t timeout, uint32_t dbc_id, uint32_t pad)
    {
        qaic_wait w{handle, timeout, dbc_id, pad};
        return ioctl_err(fd, DRM_IOCTL_QAIC_WAIT_BO, &w);
    }

    Bo in, blocker;
};

TEST_F(WaitBo, PadIsEinval)
{
    ASSERT_EQ(run_bo(in, kDirToDev), 0);
    EXPECT_EQ(raw_wait(in.handle(), 100, dbc, 1), -EINVAL);
    EXPECT_EQ(raw_wait(in.handle(), 100, dbc, 0x80000000), -EINVAL);
    EXPECT_EQ(raw_wait(in.handle(), 100, dbc, 0), 0);
}

// Checked before the handle.
TEST_F(WaitBo, DbcOutOfRangeIsEinval)
{
    std::vector<uint32_t> ids = {0x10000, UINT32_MAX};
    int n = qaic_sim_num_dbc(fd);
    if (n > 0)
        ids.push_back(uint32_t(n));
    for (uint32_t id : ids) {
        SCOPED_TRACE(id);
        EXPECT_EQ(raw_wait(in.handle(), 100, id, 0), -EINVAL);
        EXPECT_EQ(raw_wait(0xDEAD, 100, id, 0), -EINVAL);
    }
}

TEST_F(WaitBo, UnknownHandleIsEnoent)
{
    Bo gone;
    ASSERT_NO_FATAL_FAILURE(make(gone, kPage));
    uint32_t closed = gone.handle();
    gone.reset();
    for (uint32_t h : {0u, closed, 0xFFFFFFFFu})
        EXPECT_EQ(wait_bo(fd, h, dbc, 100), -ENOENT) << h;
}

TEST_F(WaitBo, DbcNotActivatedIsEperm)
{
    ASSERT_EQ(run_bo(in, kDirToDev), 0);
    uint32_t other = selftest::other_dbc(fd, dbc);
    EXPECT_EQ(wait_bo(fd, in.handle(), other, 100), -EPERM);
    ASSERT_EQ(deactivate(fd, dbc), 0);
    EXPECT_EQ(wait_bo(fd, in.handle(), dbc, 100), -EPERM);
}

TEST_F(WaitBo, AnotherFilesDbcIsEperm)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    uint32_t dbc2;
    ASSERT_EQ(activate(fd2, 16, &dbc2), 0);
    ASSERT_EQ(run_bo(in, kDirToDev), 0);
    EXPECT_EQ(wait_bo(fd, in.handle(), dbc2, 100), -EPERM);
    EXPECT_EQ(qaic_close(fd2), 0);
}

// A BO never executed (sliced or not) has nothing to wait for: 0 at once, whatever the timeout.
TEST_F(WaitBo, NeverExecutedReturnsAtOnce)
{
    Bo plain;
    ASSERT_NO_FATAL_FAILURE(make(plain, kPage));
    auto start = Clock::now();
    EXPECT_EQ(wait_bo(fd, in.handle(), dbc, 60000), 0);
    EXPECT_EQ(wait_bo(fd, plain.handle(), dbc, 60000), 0);
    EXPECT_EQ(wait_bo(fd, blocker.handle(), dbc, 60000), 0);
    EXPECT_LT(ms_since(start), 30000) << "WAIT waited for a BO that was never queued";
}

// A finished execution's result stays: WAIT after it returns at once, as often as asked, and
// also once the BO is detached.
TEST_F(WaitBo, FinishedExecutionKeepsItsResult)
{
    ASSERT_EQ(execute(fd, dbc, in.handle(), kDirToDev), 0);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(wait_bo(fd, in.handle(), dbc), 0) << i;
    ASSERT_EQ(detach(fd, in.handle()), 0);
    EXPECT_EQ(wait_bo(fd, in.handle(), dbc), 0);
}

TEST_F(WaitBo, TimeoutIsEtimedout)
{
    ASSERT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd, dbc, in.handle(), kDirToDev), 0); // queued behind it
    for (uint32_t h : {blocker.handle(), in.handle()}) {
        auto start = Clock::now();
        EXPECT_EQ(wait_bo(fd, h, dbc, 50), -ETIMEDOUT);
        EXPECT_GE(ms_since(start), 50);
    }
    // Still queued: a second WAIT times out again.
    EXPECT_EQ(wait_bo(fd, blocker.handle(), dbc, 1), -ETIMEDOUT);
    ASSERT_EQ(deactivate(fd, dbc), 0);
}

// timeout 0 means wait_exec_default_timeout_ms.
TEST_F(WaitBo, TimeoutZeroUsesTheDefault)
{
    ParamGuard guard("wait_exec_default_timeout_ms", kDefaultWaitTimeoutMs);
    SIM_OR_SKIP(qaic_sim_set_param("wait_exec_default_timeout_ms", 100));
    ASSERT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), 0);
    auto start = Clock::now();
    EXPECT_EQ(wait_bo(fd, blocker.handle(), dbc, 0), -ETIMEDOUT);
    int64_t ms = ms_since(start);
    EXPECT_GE(ms, 100);
    // Far below the 5000 ms default: the parameter was used.
    EXPECT_LT(ms, 4000);
    ASSERT_EQ(deactivate(fd, dbc), 0);
}

// DEACTIVATE from another thread while a WAIT sleeps on a queued job: EPERM for every waiter.
TEST_F(WaitBo, DbcReleasedWhileWaitingIsEperm)
{
    ASSERT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd, dbc, in.handle(), kDirToDev), 0);
    Blocked w1([&] { return wait_bo(fd, blocker.handle(), dbc, 20000); });
    Blocked w2([&] { return wait_bo(fd, blocker.handle(), dbc, 20000); });
    Blocked w3([&] { return wait_bo(fd, in.handle(), dbc, 20000); });
    ASSERT_TRUE(w1.park() && w2.park() && w3.park());
    EXPECT_FALSE(w1.done() || w2.done() || w3.done());
    auto start = Clock::now();
    ASSERT_EQ(deactivate(fd, dbc), 0);
    EXPECT_EQ(w1.join(), -EPERM);
    EXPECT_EQ(w2.join(), -EPERM);
    EXPECT_EQ(w3.join(), -EPERM);
    EXPECT_LT(ms_since(start), 15000) << "the waiters ran into their timeout";
    // The DBC is gone, and the BOs' slicing with it.
    EXPECT_EQ(wait_bo(fd, in.handle(), dbc), -EPERM);
    EXPECT_EQ(execute(fd, dbc, in.handle(), kDirToDev), -EPERM);
    EXPECT_EQ(detach(fd, in.handle()), -EINVAL);
}

// A WAIT on one DBC is not disturbed by another DBC of the file going away.
TEST_F(WaitBo, ReleaseOfAnotherDbcLeavesWaitersAlone)
{
    uint32_t dbc2;
    ASSERT_EQ(activate(fd, 16, &dbc2), 0);
    Bo other;
    ASSERT_NO_FATAL_FAILURE(make(other, kPage));
    ASSERT_EQ(attach(fd, other.handle(), dbc2, kDirToDev, {blocking_slice(0, kPage, kDev)}), 0);
    ASSERT_EQ(execute(fd, dbc2, other.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), 0);
    Blocked w([&] { return wait_bo(fd, blocker.handle(), dbc, 300); });
    ASSERT_TRUE(w.park());
    ASSERT_EQ(deactivate(fd, dbc2), 0);
    EXPECT_EQ(w.join(), -ETIMEDOUT);
    ASSERT_EQ(deactivate(fd, dbc), 0);
}

// ---------------------------------------------------------------------------- PERF_STATS

// BO `a`: three one-page slices and a zero-size one, four elements whatever the memory
// layout (no slice crosses a page).
class PerfStatsBo : public Datapath {
protected:
    void SetUp() override
    {
        Datapath::SetUp();
        ASSERT_NO_FATAL_FAILURE(make(a, 3 * kPage));
        ASSERT_EQ(attach(fd, a.handle(), dbc, kDirToDev,
                         {slice(0, kPage, kDev), slice(kPage, kPage, kDev + kPage),
                          slice(2 * kPage, kPage, kDev + 2 * kPage), slice(kPage, 0, kDev)}),
                  0);
    }
    void TearDown() override
    {
        a.reset();
        Datapath::TearDown();
    }

    int raw(uint16_t count, uint16_t pad, uint32_t dbc_id, const void *data)
    {
        qaic_perf_stats p{};
        p.hdr.count = count;
        p.hdr.pad = pad;
        p.hdr.dbc_id = dbc_id;
        p.data = uintptr_t(data);
        return ioctl_err(fd, DRM_IOCTL_QAIC_PERF_STATS_BO, &p);
    }

    // Stats of one BO's last execution.
    qaic_perf_stats_entry stats(const Bo &bo, uint32_t dbc_id)
    {
        qaic_perf_stats_entry e{};
        EXPECT_EQ(perf_stats(fd, dbc_id, bo.handle(), &e), 0);
        EXPECT_EQ(e.handle, bo.handle());
        EXPECT_EQ(e.pad, 0u);
        return e;
    }

    Bo a;
};

TEST_F(PerfStatsBo, CountZeroIsEinval)
{
    qaic_perf_stats_entry e{};
    e.handle = a.handle();
    EXPECT_EQ(raw(0, 0, dbc, &e), -EINVAL);
    EXPECT_EQ(raw(0, 0, dbc, nullptr), -EINVAL);
}

TEST_F(PerfStatsBo, PadIsEinval)
{
    qaic_perf_stats_entry e{};
    e.handle = a.handle();
    EXPECT_EQ(raw(1, 1, dbc, &e), -EINVAL);
    EXPECT_EQ(raw(1, 0x8000, dbc, &e), -EINVAL);
    EXPECT_EQ(raw(1, 0, dbc, &e), 0);
}

TEST_F(PerfStatsBo, DbcOutOfRangeIsEinval)
{
    qaic_perf_stats_entry e{};
    e.handle = a.handle();
    std::vector<uint32_t> ids = {0x10000, UINT32_MAX};
    int n = qaic_sim_num_dbc(fd);
    if (n > 0)
        ids.push_back(uint32_t(n));
    for (uint32_t id : ids) {
        EXPECT_EQ(raw(1, 0, id, &e), -EINVAL) << id;
        EXPECT_EQ(raw(1, 0, id, nullptr), -EINVAL) << id;
    }
}

TEST_F(PerfStatsBo, UnreadableEntriesAreEfault)
{
    EXPECT_EQ(raw(1, 0, dbc, nullptr), -EFAULT);
    long page = sysconf(_SC_PAGESIZE);
    auto *p = static_cast<uint8_t *>(mmap(nullptr, size_t(2 * page), PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    ASSERT_EQ(munmap(p + page, size_t(page)), 0);
    auto *last = reinterpret_cast<qaic_perf_stats_entry *>(p + page) - 1;
    *last = {};
    last->handle = a.handle();
    EXPECT_EQ(raw(2, 0, dbc, last), -EFAULT); // the second entry is past the mapping
    // Readable but not writable: the results cannot be copied back.
    ASSERT_EQ(mprotect(p, size_t(page), PROT_READ), 0);
    EXPECT_EQ(raw(1, 0, dbc, last), -EFAULT);
    munmap(p, size_t(page));
}

TEST_F(PerfStatsBo, UnknownHandleIsEnoent)
{
    std::vector<qaic_perf_stats_entry> v(2);
    v[0].handle = a.handle();
    for (uint32_t h : {0u, 0xFFFFFFFFu}) {
        v[1].handle = h;
        EXPECT_EQ(perf_stats(fd, dbc, v), -ENOENT) << h;
    }
}

TEST_F(PerfStatsBo, BoNotSlicedIsEinval)
{
    Bo plain;
    ASSERT_NO_FATAL_FAILURE(make(plain, kPage));
    qaic_perf_stats_entry e{};
    EXPECT_EQ(perf_stats(fd, dbc, plain.handle(), &e), -EINVAL);
    ASSERT_EQ(detach(fd, a.handle()), 0);
    EXPECT_EQ(perf_stats(fd, dbc, a.handle(), &e), -EINVAL);
}

TEST_F(PerfStatsBo, BoSlicedOnAnotherDbcIsEinval)
{
    uint32_t dbc2;
    ASSERT_EQ(activate(fd, 16, &dbc2), 0);
    Bo there;
    ASSERT_NO_FATAL_FAILURE(make(there, kPage));
    ASSERT_EQ(attach(fd, there.handle(), dbc2, kDirToDev, {slice(0, kPage, kDev)}), 0);
    qaic_perf_stats_entry e{};
    EXPECT_EQ(perf_stats(fd, dbc, there.handle(), &e), -EINVAL);
    std::vector<qaic_perf_stats_entry> v(2);
    v[0].handle = a.handle();
    v[1].handle = there.handle();
    EXPECT_EQ(perf_stats(fd, dbc, v), -EINVAL);
    EXPECT_EQ(perf_stats(fd, dbc2, there.handle(), &e), 0);
    EXPECT_EQ(deactivate(fd, dbc2), 0);
}

// No execution yet: all zero; the output fields are overwritten whatever they held.
TEST_F(PerfStatsBo, NeverExecutedIsAllZero)
{
    qaic_perf_stats_entry e;
    std::memset(&e, 0xA5, sizeof(e));
    e.handle = a.handle();
    ASSERT_EQ(perf_stats(fd, dbc, a.handle(), &e), 0);
    EXPECT_EQ(e.handle, a.handle());
    EXPECT_EQ(e.queue_level_before, 0u);
    EXPECT_EQ(e.num_queue_element, 0u);
    EXPECT_EQ(e.submit_latency_us, 0u);
    EXPECT_EQ(e.device_latency_us, 0u);
    EXPECT_EQ(e.pad, 0u);
}

// After an execution: its element count, and latencies within the time the test saw pass.
TEST_F(PerfStatsBo, AfterAnExecution)
{
    auto start = Clock::now();
    ASSERT_EQ(run_bo(a, kDirToDev), 0);
    auto wall = uint64_t(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
    auto e = stats(a, dbc);
    EXPECT_EQ(e.num_queue_element, 4u);
    EXPECT_LT(e.queue_level_before, kQueue);
    EXPECT_LE(uint64_t(e.submit_latency_us) + e.device_latency_us, wall + 1);
}

// Several BOs in one call: the second reached the ring behind the first one's elements.
TEST_F(PerfStatsBo, SeveralBosInOneCall)
{
    Bo b;
    ASSERT_NO_FATAL_FAILURE(make(b, kPage));
    ASSERT_EQ(attach(fd, b.handle(), dbc, kDirToDev, {slice(0, kPage, kDev + 8 * kPage)}), 0);
    auto start = Clock::now();
    ASSERT_EQ(execute(fd, dbc, {{a.handle(), kDirToDev}, {b.handle(), kDirToDev}}), 0);
    ASSERT_EQ(wait_bo(fd, a.handle(), dbc), 0);
    ASSERT_EQ(wait_bo(fd, b.handle(), dbc), 0);
    auto wall = uint64_t(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());

    std::vector<qaic_perf_stats_entry> v(2);
    v[0].handle = a.handle();
    v[1].handle = b.handle();
    ASSERT_EQ(perf_stats(fd, dbc, v), 0);
    EXPECT_EQ(v[0].handle, a.handle());
    EXPECT_EQ(v[1].handle, b.handle());
    EXPECT_EQ(v[0].num_queue_element, 4u);
    EXPECT_EQ(v[1].num_queue_element, 1u);
    // One doorbell for both: the device saw none of a's elements before b was queued.
    EXPECT_EQ(v[1].queue_level_before, v[0].queue_level_before + 4);
    for (auto &e : v)
        EXPECT_LE(uint64_t(e.submit_latency_us) + e.device_latency_us, wall + 1);
}

// The stats are those of the last *finished* execution: a newer one still queued does not
// hide them.
TEST_F(PerfStatsBo, StatsOfTheLastFinishedExecution)
{
    ASSERT_EQ(run_bo(a, kDirToDev), 0);
    auto first = stats(a, dbc);
    ASSERT_EQ(first.num_queue_element, 4u);

    Bo blocker;
    ASSERT_NO_FATAL_FAILURE(make(blocker, kPage));
    ASSERT_EQ(attach(fd, blocker.handle(), dbc, kDirToDev, {blocking_slice(0, 0, 0)}), 0);
    ASSERT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), 0);
    ASSERT_EQ(partial_execute(fd, dbc, a.handle(), kDirToDev, 0), 0); // queued behind it
    auto now = stats(a, dbc);
    EXPECT_EQ(now.num_queue_element, first.num_queue_element);
    EXPECT_EQ(now.queue_level_before, first.queue_level_before);
    EXPECT_EQ(now.submit_latency_us, first.submit_latency_us);
    EXPECT_EQ(now.device_latency_us, first.device_latency_us);
    // Nothing finished for the blocker yet.
    auto b = stats(blocker, dbc);
    EXPECT_EQ(b.num_queue_element, 0u);
    ASSERT_EQ(deactivate(fd, dbc), 0);
}

// Jobs ended by hang recovery finished too: their stats count the elements ahead of them,
// and their latencies stay within the time that passed.
TEST_F(PerfStatsBo, JobsEndedByHangRecovery)
{
    ParamGuard hang("exec_timeout_ms", kDefaultExecTimeoutMs);
    SIM_OR_SKIP(qaic_sim_set_param("exec_timeout_ms", kDefaultExecTimeoutMs));
    Bo blocker;
    ASSERT_NO_FATAL_FAILURE(make(blocker, kPage));
    ASSERT_EQ(attach(fd, blocker.handle(), dbc, kDirToDev, {blocking_slice(0, 0, 0)}), 0);
    auto start = Clock::now();
    ASSERT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd, dbc, a.handle(), kDirToDev), 0);
    // Short only now: a stalled test must not see the DBC recovered before a queues.
    ASSERT_EQ(qaic_sim_set_param("exec_timeout_ms", 200), 0);
    EXPECT_EQ(wait_bo(fd, blocker.handle(), dbc), -ETIMEDOUT);
    EXPECT_EQ(wait_bo(fd, a.handle(), dbc), -EIO);
    auto wall = uint64_t(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
    auto k = stats(blocker, dbc);
    auto e = stats(a, dbc);
    EXPECT_EQ(k.num_queue_element, 1u);
    EXPECT_EQ(e.num_queue_element, 4u);
    EXPECT_EQ(e.queue_level_before, k.queue_level_before + 1);
    for (auto *s : {&k, &e})
        EXPECT_LE(uint64_t(s->submit_latency_us) + s->device_latency_us, wall + 1);
    // The DBC works again.
    EXPECT_EQ(run_bo(a, kDirToDev), 0);
    EXPECT_EQ(stats(a, dbc).num_queue_element, 4u);
}

} // namespace
} // namespace dpt
