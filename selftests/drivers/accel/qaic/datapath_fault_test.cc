// SPDX-License-Identifier: GPL-2.0-only
// The datapath against a misbehaving card: DMA errors, lost MSIs, a hung DBC, a subsystem
// restart, a device reset, and polling mode. These need the sim test control (qaic_sim.h)
// and skip elsewhere.
#include "datapath_helpers.h"

#include <algorithm>

namespace dpt {
namespace {

constexpr uint64_t kDev = 48 * kMiB;

class DatapathFault : public Datapath {
protected:
    void SetUp() override
    {
        Datapath::SetUp();
        if (!sim_control(fd, &why_))
            GTEST_SKIP() << why_;
    }

    // Rounds of 8 BOs each way through a 4-element ring (PollingMode); busy: whether the
    // waiters busy-poll, checked in the DBC's counters.
    void polling_rounds(bool busy);

    // After a fault: a new activation on file f moves a page to the device and back.
    void fresh_dbc_moves_data(int f)
    {
        uint32_t d;
        ASSERT_EQ(activate(f, 16, &d), 0);
        Bo in;
        ASSERT_EQ(in.create(f, kPage), 0);
        fill(in.data(), kPage, fresh_seed());
        ASSERT_EQ(attach(f, in.handle(), d, kDirToDev, {slice(0, kPage, kDev)}), 0);
        EXPECT_EQ(dpt::run(f, d, in.handle(), kDirToDev), 0);
        std::vector<uint8_t> back;
        ASSERT_EQ(read_device(f, d, kDev, kPage, &back), 0);
        EXPECT_TRUE(same_bytes(back.data(), in.data(), kPage));
        EXPECT_EQ(deactivate(f, d), 0);
    }

    // Until the device answers again after a reset (bounded); meanwhile ioctls see ENODEV,
    // or EIO for a MANAGE the reset overtook.
    int wait_until_online()
    {
        auto deadline = Clock::now() + std::chrono::seconds(20);
        int err;
        while ((err = status(fd)) != 0 && (err == -ENODEV || err == -EIO) &&
               Clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return err;
    }

    std::string why_;
};

// Undoes MSI dropping however the test ends.
struct MsiDropGuard {
    int fd;
    unsigned source;
    ~MsiDropGuard() { qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, source, 0); }
};

// A DMA error fails its BO with EIO, moves none of the failed element's data (the other
// elements still move theirs), leaves the other BOs of the call alone, and the next
// execution succeeds. The result sticks: WAIT again gives EIO again.
TEST_F(DatapathFault, DmaErrorIsEio)
{
    Shadow dev = window(kDev, 4 * kPage);
    Bo a, b;
    ASSERT_NO_FATAL_FAILURE(make(a, 3 * kPage));
    ASSERT_NO_FATAL_FAILURE(make(b, kPage));
    std::vector<qaic_attach_slice_entry> sa = {slice(0, kPage, kDev),
                                               slice(kPage, kPage, kDev + kPage),
                                               slice(2 * kPage, kPage, kDev + 2 * kPage)};
    std::vector<qaic_attach_slice_entry> sb = {slice(0, kPage, kDev + 3 * kPage)};
    ASSERT_EQ(attach(fd, a.handle(), dbc, kDirToDev, sa), 0);
    ASSERT_EQ(attach(fd, b.handle(), dbc, kDirToDev, sb), 0);
    qaic_sim_dbc_status before{};
    ASSERT_EQ(qaic_sim_get_dbc_status(fd, dbc, &before), 0);

    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DMA_ERROR, dbc, 2)); // a's second element
    ASSERT_EQ(execute(fd, dbc, {{a.handle(), kDirToDev}, {b.handle(), kDirToDev}}), 0);
    EXPECT_EQ(wait_bo(fd, a.handle(), dbc), -EIO);
    EXPECT_EQ(wait_bo(fd, b.handle(), dbc), 0);
    EXPECT_EQ(wait_bo(fd, a.handle(), dbc), -EIO);
    dev.to_device(a.data(), {sa[0], sa[2]});
    dev.to_device(b.data(), sb);
    expect_window(dev);
    qaic_sim_dbc_status after{};
    ASSERT_EQ(qaic_sim_get_dbc_status(fd, dbc, &after), 0);
    EXPECT_EQ(after.errors, before.errors + 1);
    EXPECT_EQ(after.last_error, 5u) << "INJECTED";

    // The next execution of the same BO works.
    fill(a.data(), a.size(), fresh_seed());
    EXPECT_EQ(run_bo(a, kDirToDev), 0);
    dev.to_device(a.data(), sa);
    expect_window(dev);

    // From the device: the failed element writes nothing into the BO.
    Bo out;
    ASSERT_NO_FATAL_FAILURE(make(out, kPage));
    std::vector<uint8_t> old(out.data(), out.data() + kPage);
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, {slice(0, kPage, kDev)}), 0);
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DMA_ERROR, dbc, 1));
    EXPECT_EQ(run_bo(out, kDirFromDev), -EIO);
    EXPECT_TRUE(same_bytes(out.data(), old.data(), kPage));
    EXPECT_EQ(run_bo(out, kDirFromDev), 0);
    EXPECT_TRUE(same_bytes(out.data(), dev.bytes().data(), kPage));
}

// Lost completion MSIs delay jobs but never lose them: the watchdog drains the DBC.
TEST_F(DatapathFault, LostMsiStillCompletes)
{
    Bo in, out;
    ASSERT_NO_FATAL_FAILURE(make(in, 2 * kPage));
    ASSERT_NO_FATAL_FAILURE(make(out, 2 * kPage, true));
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, {slice(0, 2 * kPage, kDev)}), 0);
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, {slice(0, 2 * kPage, kDev)}), 0);
    MsiDropGuard guard{fd, 1 + dbc};
    for (int i = 0; i < 3; ++i) {
        SCOPED_TRACE(i);
        SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 1 + dbc, 1));
        fill(in.data(), in.size(), fresh_seed());
        ASSERT_EQ(run_bo(in, kDirToDev), 0);
        SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 1 + dbc, 1));
        ASSERT_EQ(run_bo(out, kDirFromDev), 0);
        EXPECT_TRUE(same_bytes(out.data(), in.data(), in.size()));
    }
    // Every MSI of a batch lost.
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 1 + dbc, 1000));
    fill(in.data(), in.size(), fresh_seed());
    ASSERT_EQ(execute(fd, dbc, {{in.handle(), kDirToDev}, {out.handle(), kDirFromDev}}), 0);
    EXPECT_EQ(wait_bo(fd, in.handle(), dbc), 0);
    EXPECT_EQ(wait_bo(fd, out.handle(), dbc), 0);
    EXPECT_TRUE(same_bytes(out.data(), in.data(), in.size()));
}

// A DBC that makes no progress for exec_timeout_ms is reset: the hung job fails with
// ETIMEDOUT, the jobs behind it with EIO, and the DBC works again. Other DBCs never notice.
TEST_F(DatapathFault, HungDbcIsRecovered)
{
    ParamGuard guard("exec_timeout_ms", kDefaultExecTimeoutMs);
    SIM_OR_SKIP(qaic_sim_set_param("exec_timeout_ms", kDefaultExecTimeoutMs));
    uint32_t dbc2;
    ASSERT_EQ(activate(fd, 16, &dbc2), 0);
    Shadow dev = window(kDev, 3 * kPage);
    Bo a, b, c;
    for (Bo *bo : {&a, &b, &c})
        ASSERT_NO_FATAL_FAILURE(make(*bo, kPage));
    std::vector<qaic_attach_slice_entry> sa = {slice(0, kPage, kDev)},
                                         sb = {slice(0, kPage, kDev + kPage)},
                                         sc = {slice(0, kPage, kDev + 2 * kPage)};
    ASSERT_EQ(attach(fd, a.handle(), dbc, kDirToDev, sa), 0);
    ASSERT_EQ(attach(fd, b.handle(), dbc, kDirToDev, sb), 0);
    ASSERT_EQ(attach(fd, c.handle(), dbc, kDirToDev, sc), 0);

    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_HANG, dbc, 0));
    auto start = Clock::now();
    ASSERT_EQ(execute(fd, dbc, a.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd, dbc, {{b.handle(), kDirToDev}, {c.handle(), kDirToDev}}), 0);
    // Short only now: a stalled test must not see the DBC recovered before b and c queue.
    ASSERT_EQ(qaic_sim_set_param("exec_timeout_ms", 300), 0);
    // Meanwhile another DBC moves data.
    {
        Bo x, y;
        ASSERT_NO_FATAL_FAILURE(make(x, kPage));
        ASSERT_NO_FATAL_FAILURE(make(y, kPage, true));
        ASSERT_EQ(attach(fd, x.handle(), dbc2, kDirToDev, {slice(0, kPage, kDev + 8 * kPage)}), 0);
        ASSERT_EQ(attach(fd, y.handle(), dbc2, kDirFromDev, {slice(0, kPage, kDev + 8 * kPage)}),
                  0);
        EXPECT_EQ(dpt::run(fd, dbc2, x.handle(), kDirToDev), 0);
        EXPECT_EQ(dpt::run(fd, dbc2, y.handle(), kDirFromDev), 0);
        EXPECT_TRUE(same_bytes(y.data(), x.data(), kPage));
    }
    EXPECT_EQ(wait_bo(fd, a.handle(), dbc), -ETIMEDOUT);
    EXPECT_EQ(wait_bo(fd, b.handle(), dbc), -EIO);
    EXPECT_EQ(wait_bo(fd, c.handle(), dbc), -EIO);
    EXPECT_GE(ms_since(start), 300);
    // Nothing of theirs reached the device; now they all run.
    expect_window(dev);
    ASSERT_EQ(execute(fd, dbc,
                      {{a.handle(), kDirToDev}, {b.handle(), kDirToDev}, {c.handle(), kDirToDev}}),
              0);
    for (Bo *bo : {&a, &b, &c})
        EXPECT_EQ(wait_bo(fd, bo->handle(), dbc), 0);
    dev.to_device(a.data(), sa);
    dev.to_device(b.data(), sb);
    dev.to_device(c.data(), sc);
    expect_window(dev);
    EXPECT_EQ(deactivate(fd, dbc2), 0);
}

// One subsystem restart of a freshly activated DBC with jobs in flight: they fail with
// EPIPE, then the DBC is released (EPERM, BOs detached). A thread calls EXECUTE all along:
// EINVAL (the BO is queued) before, EPIPE during the restart, EPERM after. The restart takes
// microseconds, so whether that thread ran during it is up to the scheduler: *saw_epipe.
void ssr_once(int fd, bool *saw_epipe)
{
    uint32_t dbc;
    ASSERT_EQ(activate(fd, 1024, &dbc), 0);
    Bo blocker, in;
    ASSERT_EQ(blocker.create(fd, kPage), 0);
    ASSERT_EQ(in.create(fd, kPage), 0);
    ASSERT_EQ(attach(fd, blocker.handle(), dbc, kDirToDev, {blocking_slice(0, 0, 0)}), 0);
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, {slice(0, kPage, kDev)}), 0);
    ASSERT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd, dbc, in.handle(), kDirToDev), 0);
    // More jobs behind them: failing them all keeps the driver in the restart a bit longer.
    std::vector<qaic_execute_entry> more(500);
    for (auto &e : more) {
        ASSERT_EQ(create_bo(fd, kPage, &e.handle), 0);
        ASSERT_EQ(attach(fd, e.handle, dbc, kDirToDev, {slice(0, 0, 0)}), 0);
        e.dir = kDirToDev;
    }
    ASSERT_EQ(execute(fd, dbc, more), 0);

    Blocked waiter([&] { return wait_bo(fd, blocker.handle(), dbc, 20000); });
    ASSERT_TRUE(waiter.park());
    std::vector<int> seen;
    std::atomic<bool> started{false};
    std::thread hammer([&] {
        auto deadline = Clock::now() + std::chrono::seconds(20);
        int last = 1;
        while (Clock::now() < deadline) {
            int r = execute(fd, dbc, blocker.handle(), kDirToDev);
            if (r != last)
                seen.push_back(r);
            last = r;
            started = true;
            if (r == -EPERM || r == 0)
                break;
        }
    });
    while (!started)
        std::this_thread::yield();
    int err = qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0);
    int inject_errno = errno;
    if (err) {
        EXPECT_EQ(deactivate(fd, dbc), 0); // lets both threads end
    }
    EXPECT_EQ(waiter.join(), err ? -EPERM : -EPIPE);
    hammer.join();
    ASSERT_EQ(err, 0) << "QAIC_SIM_SSR: " << std::strerror(inject_errno);

    std::string got;
    for (int r : seen)
        got += std::to_string(r) + " ";
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back(), -EPERM) << "EXECUTE across the restart gave, in order: " << got;
    const std::vector<int> order = {-EINVAL, -EPIPE, -EPERM};
    size_t at = 0;
    for (int r : seen) {
        while (at < order.size() && order[at] != r)
            ++at;
        EXPECT_LT(at, order.size()) << "EXECUTE across the restart gave, in order: " << got;
    }
    *saw_epipe = std::find(seen.begin(), seen.end(), -EPIPE) != seen.end();

    // Released: the BOs lost their slicing, and the DBC must be activated again.
    EXPECT_EQ(execute(fd, dbc, in.handle(), kDirToDev), -EPERM);
    EXPECT_EQ(wait_bo(fd, in.handle(), dbc), -EPERM);
    EXPECT_EQ(detach(fd, in.handle()), -EINVAL);
    for (auto &e : more)
        EXPECT_EQ(gem_close(fd, e.handle), 0);
}

// A subsystem restart: jobs fail with EPIPE, EXECUTE gets EPIPE during it, the DBC is
// released, and a new activation works. Restarts are repeated (bounded) until EXECUTE was
// seen to run during one.
TEST_F(DatapathFault, SubsystemRestart)
{
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 1 + dbc, 0)); // a no-op: FI built in?
    bool saw_epipe = false;
    int attempts = 0;
    auto start = Clock::now();
    while (!saw_epipe && attempts < 200 && ms_since(start) < 10000) {
        ++attempts;
        ASSERT_NO_FATAL_FAILURE(ssr_once(fd, &saw_epipe));
    }
    EXPECT_TRUE(saw_epipe) << "EXECUTE never ran during any of " << attempts << " restarts";
    fresh_dbc_moves_data(fd);
}

// A device reset's cases, a suite of their own on the same fixture.
class DeviceReset : public DatapathFault {};

// A device reset with work in flight: every job fails with EIO (on every file), ioctls get
// ENODEV until the device is back, every DBC is released, and new work runs.
TEST_F(DeviceReset, FailsJobsWithEio)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    uint32_t dbc2;
    ASSERT_EQ(activate(fd2, 16, &dbc2), 0);
    Bo blocker, in, theirs;
    ASSERT_NO_FATAL_FAILURE(make(blocker, kPage));
    ASSERT_NO_FATAL_FAILURE(make(in, kPage));
    ASSERT_EQ(theirs.create(fd2, kPage), 0);
    ASSERT_EQ(attach(fd, blocker.handle(), dbc, kDirToDev, {blocking_slice(0, 0, 0)}), 0);
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, {slice(0, kPage, kDev)}), 0);
    ASSERT_EQ(attach(fd2, theirs.handle(), dbc2, kDirToDev, {blocking_slice(0, 0, 0)}), 0);
    ASSERT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd, dbc, in.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd2, dbc2, theirs.handle(), kDirToDev), 0);

    Blocked w1([&] { return wait_bo(fd, blocker.handle(), dbc, 20000); });
    Blocked w2([&] { return wait_bo(fd, in.handle(), dbc, 20000); });
    Blocked w3([&] { return wait_bo(fd2, theirs.handle(), dbc2, 20000); });
    ASSERT_TRUE(w1.park() && w2.park() && w3.park());
    int err = qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0);
    int inject_errno = errno;
    EXPECT_EQ(w1.join(), -EIO);
    EXPECT_EQ(w2.join(), -EIO);
    EXPECT_EQ(w3.join(), -EIO);
    ASSERT_EQ(err, 0) << std::strerror(inject_errno);
    ASSERT_EQ(wait_until_online(), 0);

    // Every DBC was released.
    EXPECT_EQ(execute(fd, dbc, in.handle(), kDirToDev), -EPERM);
    EXPECT_EQ(wait_bo(fd, in.handle(), dbc), -EPERM);
    EXPECT_EQ(detach(fd, in.handle()), -EINVAL);
    EXPECT_EQ(deactivate(fd2, dbc2), -EPERM);
    theirs.reset();
    EXPECT_EQ(qaic_close(fd2), 0);

    uint32_t again;
    ASSERT_EQ(activate(fd, 16, &again), 0);
    ASSERT_EQ(attach(fd, in.handle(), again, kDirToDev, {slice(0, kPage, kDev)}), 0);
    EXPECT_EQ(dpt::run(fd, again, in.handle(), kDirToDev), 0);
    std::vector<uint8_t> back;
    ASSERT_EQ(read_device(fd, again, kDev, kPage, &back), 0);
    EXPECT_TRUE(same_bytes(back.data(), in.data(), kPage));
}

// Files opened while the device recovers from a reset: each open works or fails with ENODEV
// (the open of a file on a device that is not online), never worse; afterwards files work.
TEST_F(DeviceReset, OpensDuringResetRecovery)
{
    int refused = 0;
    for (int round = 0; round < 5; ++round) {
        ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0), 0) << std::strerror(errno);
        for (int i = 0; i < 200; ++i) {
            int f = qaic_open(nullptr);
            if (f < 0) {
                ASSERT_EQ(errno, ENODEV) << std::strerror(errno);
                ++refused;
            } else {
                EXPECT_EQ(qaic_close(f), 0);
            }
        }
        ASSERT_EQ(wait_until_online(), 0);
    }
    RecordProperty("refused_opens", refused);

    int f = qaic_open(nullptr);
    ASSERT_GE(f, 0) << std::strerror(errno);
    fresh_dbc_moves_data(f);
    EXPECT_EQ(qaic_close(f), 0);
}

// A restart of DBC id, waited for until the driver and the card both released it (bounded).
void restart_and_wait(int fd, uint32_t id)
{
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_SSR, id, 0), 0) << std::strerror(errno);
    auto deadline = Clock::now() + std::chrono::seconds(10);
    qaic_sim_dbc_status st{};
    while ((execute(fd, id, 0, kDirToDev) != -EPERM ||
            qaic_sim_get_dbc_status(fd, id, &st) != 0 || st.state != 0) &&
           Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    ASSERT_EQ(execute(fd, id, 0, kDirToDev), -EPERM);
    ASSERT_EQ(st.state, 0u);
}

// A reset that hits while the driver recovers from another: the device resets again when
// the recovery's first control message reaches it, and the recovery's reset detection is
// dropped. The driver must notice and recover again, not stay offline.
TEST_F(DeviceReset, ResetDuringRecovery)
{
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_RESET_ON_MESSAGE, 1, 0));
    EXPECT_EQ(qaic_sim_inject(fd, QAIC_SIM_RESET_ON_MESSAGE, 0, 0), -1); // the 0th: none
    EXPECT_EQ(errno, EINVAL);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0), 0);
    ASSERT_EQ(wait_until_online(), 0);
    fresh_dbc_moves_data(fd);
}

// The SSR channel's ring keeps old events in memory. A reset must not make the driver take
// them for new ones: here the ring is full of restart events of the very DBC that has a job
// in flight when the reset comes, and that job must fail with EIO, not EPIPE.
TEST_F(DeviceReset, DoesNotReplayOldRestartEvents)
{
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 1 + dbc, 0)); // a no-op: FI built in?
    // A reset first: the channel starts over at slot 0.
    ASSERT_EQ(deactivate(fd, dbc), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0), 0);
    ASSERT_EQ(wait_until_online(), 0);
    // Five restarts of one DBC: four events each, the ring of 16 slots wraps once.
    uint32_t id = 0;
    for (int i = 0; i < 5; ++i) {
        uint32_t got;
        ASSERT_EQ(activate(fd, 16, &got), 0);
        if (i == 0)
            id = got;
        ASSERT_EQ(got, id) << "the lowest free DBC changed";
        ASSERT_NO_FATAL_FAILURE(restart_and_wait(fd, id));
    }

    uint32_t again;
    ASSERT_EQ(activate(fd, 16, &again), 0);
    ASSERT_EQ(again, id);
    Bo blocker;
    ASSERT_NO_FATAL_FAILURE(make(blocker, kPage));
    ASSERT_EQ(attach(fd, blocker.handle(), id, kDirToDev, {blocking_slice(0, 0, 0)}), 0);
    ASSERT_EQ(execute(fd, id, blocker.handle(), kDirToDev), 0);
    Blocked w([&] { return wait_bo(fd, blocker.handle(), id, 20000); });
    ASSERT_TRUE(w.park());
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0), 0);
    EXPECT_EQ(w.join(), -EIO);
    ASSERT_EQ(wait_until_online(), 0);
    // Nothing replayed later either: a new activation keeps working.
    ASSERT_EQ(activate(fd, 16, &again), 0);
    ASSERT_EQ(attach(fd, blocker.handle(), again, kDirToDev, {slice(0, kPage, kDev)}), 0);
    EXPECT_EQ(dpt::run(fd, again, blocker.handle(), kDirToDev), 0);
    EXPECT_EQ(deactivate(fd, again), 0);
}

// With datapath_polling = 1 completions are polled instead of signalled: data still moves,
// also through a ring smaller than the work, whether the waiters busy-poll (and so reap the
// completions themselves) or not.
TEST_F(DatapathFault, PollingMode)
{
    POLLING_OR_SKIP();
    ParamGuard busy_guard("wait_busy_poll", 1);
    for (unsigned busy : {1u, 0u}) {
        SCOPED_TRACE(busy ? "busy polling" : "no busy polling");
        ASSERT_EQ(qaic_sim_set_param("wait_busy_poll", busy), 0);
        ASSERT_NO_FATAL_FAILURE(polling_rounds(busy != 0));
    }
}

void DatapathFault::polling_rounds(bool busy)
{
    uint32_t small;
    ASSERT_EQ(activate(fd, 4, &small), 0);
    constexpr int kBos = 8;
    std::vector<Bo> in(kBos), out(kBos);
    std::vector<qaic_execute_entry> all;
    for (int i = 0; i < kBos; ++i) {
        uint64_t dev = kDev + uint64_t(i) * kPage;
        ASSERT_NO_FATAL_FAILURE(make(in[i], kPage));
        ASSERT_NO_FATAL_FAILURE(make(out[i], kPage, true));
        ASSERT_EQ(attach(fd, in[i].handle(), small, kDirToDev, {slice(0, kPage, dev)}), 0);
        ASSERT_EQ(attach(fd, out[i].handle(), small, kDirFromDev, {slice(0, kPage, dev)}), 0);
        all.push_back({in[i].handle(), kDirToDev});
        all.push_back({out[i].handle(), kDirFromDev});
    }
    qaic_sim_dbc_status st{};
    for (int round = 0; round < 3; ++round) {
        SCOPED_TRACE(round);
        for (int i = 0; i < kBos; ++i)
            fill(in[i].data(), kPage, fresh_seed());
        ASSERT_EQ(execute(fd, small, all), 0);
        for (int i = 0; i < kBos; ++i) {
            EXPECT_EQ(wait_bo(fd, in[i].handle(), small), 0);
            EXPECT_EQ(wait_bo(fd, out[i].handle(), small), 0);
            EXPECT_TRUE(same_bytes(out[i].data(), in[i].data(), kPage)) << i;
        }
    }
    // Whether a waiter gets to an element before the engine does is up to the scheduler: the
    // engine defers to a busy-polling thread only for a grace period after its last poll, and
    // the polling thread refills the ring above only every poll interval. Jobs that fit the
    // ring, submitted right after the last wait, are the waiter's to run unless the engine is
    // still awake: with busy polling, such rounds go on until one was (10 s at most).
    ASSERT_EQ(qaic_sim_get_dbc_status(fd, small, &st), 0);
    uint64_t elements = st.elements;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    unsigned rounds = 0;
    while (rounds < 3 || (busy && st.polled == 0 && std::chrono::steady_clock::now() < until)) {
        ASSERT_EQ(execute(fd, small, {all[0], all[1]}), 0);
        EXPECT_EQ(wait_bo(fd, in[0].handle(), small), 0);
        EXPECT_EQ(wait_bo(fd, out[0].handle(), small), 0);
        ++rounds;
        ASSERT_EQ(qaic_sim_get_dbc_status(fd, small, &st), 0);
    }
    EXPECT_TRUE(same_bytes(out[0].data(), in[0].data(), kPage));
    EXPECT_EQ(st.elements, elements + rounds * 2) << "3 rounds of the whole ring, then " << rounds;
    if (busy)
        EXPECT_GT(st.polled, 0u) << rounds << " rounds";
    else
        EXPECT_EQ(st.polled, 0u);
    EXPECT_EQ(deactivate(fd, small), 0);
}

} // namespace
} // namespace dpt
