// SPDX-License-Identifier: GPL-2.0-only
// The card's sysfs view on a kWatch connection (what qaic-run turns into dbc<N>_state and
// uevents): every DBC's state first, then upstream's uevents as the driver sends them:
// KOBJ_CHANGE with DBC_ID and DBC_STATE at activation, deactivation, release and each
// subsystem-restart step, and offline / online around a reset.
#include "qaicd_test.h"

#include "drivers/accel/accel.h"
#include "userspace/lib/backend.h"

#include <qaic/qaic_sim.h>

namespace {

using namespace qaicd_test;

struct Ev {
    uint32_t action = ~0u;
    int dbc = -1, state = -1;
};

class QaicdWatch : public Qaicd {
protected:
    void SetUp() override
    {
        Qaicd::SetUp();
        ASSERT_EQ(libqaic::daemon_watch(path.c_str(), &watch), 0);
    }
    void TearDown() override
    {
        if (watch >= 0)
            ::close(watch);
        Qaicd::TearDown();
    }

    // The next event (bounded); action ~0u when none came.
    Ev next()
    {
        Ev ev;
        pollfd p{watch, POLLIN, 0};
        wire::Event e;
        if (poll(&p, 1, kBoundMs) != 1 || ::recv(watch, &e, sizeof(e), 0) != ssize_t(sizeof(e)))
            return ev;
        EXPECT_EQ(e.hdr.magic, wire::kMagic);
        EXPECT_EQ(e.hdr.op, uint32_t(wire::Op::kEvent));
        EXPECT_LE(e.env_len, sizeof(e.env));
        ev.action = e.action;
        for (size_t at = 0; at < e.env_len && at < sizeof(e.env);) {
            std::string v(e.env + at, strnlen(e.env + at, sizeof(e.env) - at));
            if (v.rfind("DBC_ID=", 0) == 0)
                ev.dbc = std::stoi(v.substr(7));
            else if (v.rfind("DBC_STATE=", 0) == 0)
                ev.state = std::stoi(v.substr(10));
            at += v.size() + 1;
        }
        return ev;
    }

    // The states a watch starts with: each DBC in turn, idle but for `assigned` (1), then the
    // end of them.
    void expect_states(int assigned = -1)
    {
        for (int i = 0;; ++i) {
            Ev ev = next();
            if (ev.action == wire::kEventStatesEnd) {
                EXPECT_EQ(i, 16) << "AIC100's DBCs";
                return;
            }
            ASSERT_EQ(ev.action, wire::kEventState);
            EXPECT_EQ(ev.dbc, i);
            EXPECT_EQ(ev.state, i == assigned ? 1 : 0) << "DBC " << i;
        }
    }

    void expect_change(uint32_t dbc, int state)
    {
        Ev ev = next();
        EXPECT_EQ(ev.action, uint32_t(accel::KobjAction::kChange));
        EXPECT_EQ(ev.dbc, int(dbc));
        EXPECT_EQ(ev.state, state);
    }

    int watch = -1;
};

TEST_F(QaicdWatch, ActivationDeactivationAndTheLastClose)
{
    expect_states();
    int fd = open_file();
    ASSERT_GE(fd, 0);
    uint32_t id;
    ASSERT_EQ(selftest::activate(fd, 16, &id), 0);
    expect_change(id, 1);
    ASSERT_EQ(selftest::deactivate(fd, id), 0);
    expect_change(id, 0);
    ASSERT_EQ(selftest::activate(fd, 16, &id), 0);
    expect_change(id, 1);
    ASSERT_EQ(qaic_close(fd), 0);
    expect_change(id, 0); // the file's release gives the DBC back
}

// A new watch sees what is, not what was: an assigned DBC says 1 in the states.
TEST_F(QaicdWatch, ALaterWatchStartsFromTheStatesNow)
{
    int fd = open_file();
    ASSERT_GE(fd, 0);
    uint32_t id;
    ASSERT_EQ(selftest::activate(fd, 16, &id), 0);
    int second;
    ASSERT_EQ(libqaic::daemon_watch(path.c_str(), &second), 0);
    std::swap(watch, second);
    expect_states(int(id));
    std::swap(watch, second);
    ::close(second);
    ASSERT_EQ(qaic_close(fd), 0);
}

// Each step of a subsystem restart is a change of its own (2, 3, 4, 5); then the DBC is
// released (0).
TEST_F(QaicdWatch, SubsystemRestartSteps)
{
    expect_states();
    int fd = open_file();
    ASSERT_GE(fd, 0);
    uint32_t id;
    ASSERT_EQ(selftest::activate(fd, 16, &id), 0);
    expect_change(id, 1);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_SSR, id, 0), 0);
    for (int state : {2, 3, 4, 5, 0})
        expect_change(id, state);
    ASSERT_EQ(qaic_close(fd), 0);
}

// A reset: the device goes offline, its DBCs are released, and it comes back online.
TEST_F(QaicdWatch, ResetIsOfflineReleaseOnline)
{
    expect_states();
    int fd = open_file();
    ASSERT_GE(fd, 0);
    uint32_t id;
    ASSERT_EQ(selftest::activate(fd, 16, &id), 0);
    expect_change(id, 1);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0), 0);
    EXPECT_EQ(next().action, uint32_t(accel::KobjAction::kOffline));
    expect_change(id, 0);
    EXPECT_EQ(next().action, uint32_t(accel::KobjAction::kOnline));
    ASSERT_EQ(qaic_close(fd), 0);
}

// A watch holds no device file, and its end leaves the daemon as it was.
TEST_F(QaicdWatch, AWatchHoldsNothing)
{
    expect_states();
    HostStats before = steady_counts(0, 0);
    ::close(watch);
    watch = -1;
    // The daemon's descriptors count the stats queries' own connections, whose release is
    // asynchronous too (two equal counts in a row can still hold one on a loaded machine):
    // bounded, the count must come back to at most what it was with the watch open.
    HostStats after = steady_counts(0, 0);
    auto deadline = Clock::now() + std::chrono::milliseconds(kBoundMs);
    while (after.fds > before.fds && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        after = counts();
    }
    EXPECT_EQ(after.files, before.files);
    EXPECT_LE(after.fds, before.fds);
}

} // namespace
