// SPDX-License-Identifier: GPL-2.0-only
// The driver's files as tools read them (qaic_sim_read_attr, qaic_sim_get_param): debugfs's
// per-DBC fifo_size and queued follow the ring at every read, the boot log is the firmware's,
// module parameters show what was set, in upstream's formats.
#include "datapath_helpers.h"

#include <cstdio>
#include <cstdlib>
#include <qaic/qaic_sim.h>
#include <string>

namespace dpt {
namespace {

constexpr uint64_t kDev = 64 * kMiB; // device DDR the jobs write

// The file's content now; "" with a failure when it cannot be read.
std::string attr(const std::string &path)
{
    char buf[4096];
    int n = qaic_sim_read_attr(path.c_str(), buf, sizeof(buf));
    EXPECT_GE(n, 0) << path << ": " << std::strerror(errno);
    EXPECT_LT(n, int(sizeof(buf))) << path;
    return n < 0 ? std::string() : std::string(buf);
}

std::string dbc_file(uint32_t dbc, const char *leaf)
{
    char path[64];
    std::snprintf(path, sizeof(path), "debug/dbc%03u/%s", dbc, leaf);
    return path;
}

class DriverFiles : public Datapath {
protected:
    void SetUp() override
    {
        Datapath::SetUp();
        char probe[8];
        if (qaic_sim_read_attr("parameters/debug", probe, sizeof(probe)) < 0 &&
            (errno == ENODEV || errno == EOPNOTSUPP))
            GTEST_SKIP() << "no driver files to read: " << std::strerror(errno);
    }
};

// fifo_size is the ring's elements once activated; queued the elements between the device's
// head and the host's tail, read afresh each time: one more with every submission behind a
// job the device cannot finish, none once the DBC is idle again.
TEST_F(DriverFiles, QueuedFollowsEverySubmission)
{
    ParamGuard hang("exec_timeout_ms", kDefaultExecTimeoutMs);
    EXPECT_EQ(attr(dbc_file(dbc, "fifo_size")), std::to_string(kQueue) + "\n");
    uint32_t small;
    ASSERT_EQ(activate(fd, 8, &small), 0);
    EXPECT_EQ(attr(dbc_file(small, "fifo_size")), "8\n");
    EXPECT_EQ(attr(dbc_file(small, "queued")), "0\n");
    EXPECT_EQ(attr("accel/dbc" + std::to_string(small) + "_state"), "1\n");

    Bo blocker;
    std::vector<Bo> more(4);
    ASSERT_NO_FATAL_FAILURE(make(blocker, kPage));
    ASSERT_EQ(attach(fd, blocker.handle(), small, kDirToDev,
                     {blocking_slice(0, kPage, kDev + 0x100000)}),
              0);
    for (size_t i = 0; i < more.size(); ++i) {
        ASSERT_NO_FATAL_FAILURE(make(more[i], kPage));
        ASSERT_EQ(
            attach(fd, more[i].handle(), small, kDirToDev, {slice(0, kPage, kDev + i * kPage)}), 0);
    }
    ASSERT_EQ(execute(fd, small, blocker.handle(), kDirToDev), 0);
    // The blocked element is on the ring or already taken by the engine, which waits on it.
    int base = std::atoi(attr(dbc_file(small, "queued")).c_str());
    EXPECT_LE(base, 1);
    for (size_t i = 0; i < more.size(); ++i) {
        ASSERT_EQ(execute(fd, small, more[i].handle(), kDirToDev), 0);
        EXPECT_EQ(attr(dbc_file(small, "queued")), std::to_string(base + i + 1) + "\n") << i;
    }
    // Hang recovery ends the blocked job and those behind it: the ring is empty again.
    ASSERT_EQ(qaic_sim_set_param("exec_timeout_ms", 300), 0);
    EXPECT_EQ(wait_bo(fd, blocker.handle(), small), -ETIMEDOUT);
    for (Bo &bo : more)
        EXPECT_NE(wait_bo(fd, bo.handle(), small), -ETIMEDOUT);
    EXPECT_EQ(attr(dbc_file(small, "queued")), "0\n");
    ASSERT_EQ(deactivate(fd, small), 0);
    EXPECT_EQ(attr(dbc_file(small, "fifo_size")), "0\n");
    EXPECT_EQ(attr("accel/dbc" + std::to_string(small) + "_state"), "0\n");
}

// Parameters read back as their sysfs files show them; the control timeout is one value in
// three units; a load-time one refuses a write; no such parameter is EINVAL.
TEST_F(DriverFiles, ParametersShowTheirValues)
{
    ParamGuard wait("wait_exec_default_timeout_ms", 5000);
    ParamGuard resp("control_resp_timeout_ms", kDefaultRespTimeoutMs);
    char v[32];
    ASSERT_EQ(qaic_sim_set_param("wait_exec_default_timeout_ms", 1234), 0);
    EXPECT_EQ(qaic_sim_get_param("wait_exec_default_timeout_ms", v, sizeof(v)), 5);
    EXPECT_STREQ(v, "1234\n");
    ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_s", 120), 0);
    EXPECT_EQ(attr("parameters/control_resp_timeout_ms"), "120000\n");
    EXPECT_EQ(attr("parameters/control_resp_timeout_s"), "120\n");
    std::string polling = attr("parameters/datapath_polling");
    EXPECT_TRUE(polling == "Y\n" || polling == "N\n") << polling;
    EXPECT_EQ(qaic_sim_set_param("datapath_polling", polling == "Y\n" ? 0 : 1), -1);
    EXPECT_EQ(errno, EACCES);
    EXPECT_EQ(attr("parameters/datapath_polling"), polling);
    EXPECT_EQ(qaic_sim_get_param("no_such_param", v, sizeof(v)), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(qaic_sim_get_param("poll_interval_us", v, sizeof(v)), -1) << "renamed";
    EXPECT_EQ(errno, EINVAL);
    // Cut short as snprintf: the full length, what fits and a NUL.
    EXPECT_EQ(qaic_sim_get_param("wait_exec_default_timeout_ms", v, 3), 5);
    EXPECT_STREQ(v, "12");
}

// The boot log is the firmware's lines from its last boot; the RAS counters start at 0.
TEST_F(DriverFiles, BootlogAndRasCounters)
{
    std::string log = attr("debug/bootlog");
    EXPECT_NE(log.find("QSM: boot "), std::string::npos) << log;
    EXPECT_TRUE(log.ends_with("ONLINE\n")) << log;
    // The files show the counters the RAS channel keeps (earlier tests may have made them
    // count).
    qaic_sim_ras_counts ras{};
    ASSERT_EQ(qaic_sim_get_ras_counts(fd, &ras), 0);
    EXPECT_EQ(attr("device/ce_count"), std::to_string(ras.ce_count) + "\n");
    EXPECT_EQ(attr("device/ue_count"), std::to_string(ras.ue_count) + "\n");
    EXPECT_EQ(attr("device/ue_nonfatal_count"), std::to_string(ras.ue_nonfatal_count) + "\n");
    char v[8];
    EXPECT_EQ(qaic_sim_read_attr("debug/no_such_file", v, sizeof(v)), -1);
    EXPECT_EQ(errno, ENOENT);
}

} // namespace
} // namespace dpt
