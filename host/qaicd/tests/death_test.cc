// SPDX-License-Identifier: GPL-2.0-only
// The daemon's death: a dead or stopped qaicd is ENODEV for every call on its files (never
// SIGPIPE, never a hang), and a new qaicd on the same folder serves new opens.
#include "qaicd_test.h"

namespace {

using namespace qaicd_test;

using QaicdDeath = Qaicd;

// Every call on fd fails with ENODEV; closing it does not.
void expect_gone(int fd, uint32_t bo, uint32_t dbc)
{
    uint32_t h;
    EXPECT_EQ(create_bo(fd, kPage, &h), -ENODEV);
    EXPECT_EQ(mmap_offset(fd, bo, nullptr), -ENODEV);
    EXPECT_EQ(execute(fd, dbc, bo, kDirToDev), -ENODEV);
    EXPECT_EQ(wait_bo(fd, bo, dbc, 1), -ENODEV);
    EXPECT_EQ(activate(fd, 16, nullptr), -ENODEV);
    errno = 0;
    EXPECT_EQ(qaic_mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
    EXPECT_EQ(errno, ENODEV);
    qaic_sim_dbc_status st;
    EXPECT_EQ(qaic_sim_get_dbc_status(fd, dbc, &st), -1);
    EXPECT_EQ(errno, ENODEV);
    // From another thread too: a new channel cannot be made either.
    std::thread([&] { EXPECT_EQ(create_bo(fd, kPage, &h), -ENODEV); }).join();
    EXPECT_EQ(qaic_close(fd), 0);
}

// A file with a DBC, and a BO on it whose job never ends (the DBC hangs).
struct HungJob {
    int fd = -1;
    uint32_t dbc = 0, bo = 0;
};

void hang_a_job(const std::string &path, HungJob *j)
{
    j->fd = qaic_open(path.c_str());
    ASSERT_GE(j->fd, 0) << std::strerror(errno);
    ASSERT_EQ(activate(j->fd, 16, &j->dbc), 0);
    ASSERT_EQ(create_bo(j->fd, kPage, &j->bo), 0);
    ASSERT_EQ(attach(j->fd, j->bo, j->dbc, kDirToDev, {slice(0, kPage, 16 * kMiB)}), 0);
    ASSERT_EQ(qaic_sim_inject(j->fd, QAIC_SIM_HANG, j->dbc, 0), 0) << std::strerror(errno);
    ASSERT_EQ(execute(j->fd, j->dbc, j->bo, kDirToDev), 0);
}

TEST_F(QaicdDeath, KilledDaemonEndsASleepingWaitWithEnodev)
{
    HungJob j;
    ASSERT_NO_FATAL_FAILURE(hang_a_job(path, &j));
    // Long enough that only the daemon's death can end it within the test.
    Blocked waiter([&] { return wait_bo(j.fd, j.bo, j.dbc, 60000); });
    ASSERT_TRUE(waiter.park());
    EXPECT_FALSE(waiter.done()) << "the wait on a hung DBC ended by itself";
    daemon.kill();
    EXPECT_EQ(waiter.join(), -ENODEV);
    expect_gone(j.fd, j.bo, j.dbc);
    // Opens fail too, until a daemon serves the folder again.
    errno = 0;
    EXPECT_EQ(qaic_open(path.c_str()), -1);
    EXPECT_EQ(errno, ENODEV);
    HostStats st;
    EXPECT_EQ(qaic_host_get_stats(path.c_str(), &st), -1);
    EXPECT_EQ(errno, ENODEV);
}

// The socket a killed daemon left is replaced by the next daemon, which serves new opens.
TEST_F(QaicdDeath, RestartedDaemonServesNewOpens)
{
    int old = open_file();
    ASSERT_GE(old, 0) << std::strerror(errno);
    uint32_t h;
    ASSERT_EQ(create_bo(old, kPage, &h), 0);
    daemon.kill();
    ASSERT_TRUE(daemon.start(dir, log, {"--test-control"}));
    // The old file is gone for good: the new daemon does not know it.
    EXPECT_EQ(mmap_offset(old, h, nullptr), -ENODEV);
    EXPECT_EQ(qaic_close(old), 0);
    int fd = open_file();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    uint32_t dbc, bo;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(create_bo(fd, kPage, &bo), 0);
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kPage, 16 * kMiB)}), 0);
    EXPECT_EQ(dpt::run(fd, dbc, bo, kDirToDev), 0);
    EXPECT_EQ(qaic_close(fd), 0);
}

// SIGTERM with files open and DBCs active: qaicd releases them, exits 0, and the clients'
// next calls are ENODEV.
TEST_F(QaicdDeath, SigtermWithFilesOpenExitsCleanly)
{
    int fds[3];
    uint32_t dbcs[3], bos[3];
    for (int i = 0; i < 3; ++i) {
        fds[i] = open_file();
        ASSERT_GE(fds[i], 0) << std::strerror(errno);
        ASSERT_EQ(activate(fds[i], 16, &dbcs[i]), 0);
        ASSERT_EQ(create_bo(fds[i], kMiB, &bos[i]), 0);
        // Apart in device memory: engines writing the same bytes at once would be a race.
        uint64_t at = 16 * kMiB + i * kMiB;
        ASSERT_EQ(attach(fds[i], bos[i], dbcs[i], kDirToDev, {slice(0, kMiB, at)}), 0);
        ASSERT_EQ(execute(fds[i], dbcs[i], bos[i], kDirToDev), 0);
    }
    // One of them shared with a child, which is still around when the daemon stops.
    Pipe go, result;
    pid_t child = spawn([&] {
        int64_t v;
        go.get(&v);
        uint32_t h;
        result.put(create_bo(fds[0], kPage, &h));
        return 0;
    });
    ASSERT_GT(child, 0);
    ASSERT_TRUE(daemon.stop()) << read_file(log);
    EXPECT_NE(read_file(log).find("releasing every file"), std::string::npos);
    go.put(1);
    EXPECT_EQ(result.get_or(0), -ENODEV);
    EXPECT_EQ(reap(child), 0);
    for (int i = 0; i < 3; ++i) {
        SCOPED_TRACE(i);
        expect_gone(fds[i], bos[i], dbcs[i]);
    }
    EXPECT_EQ(access(path.c_str(), F_OK), -1) << "the stopped daemon left its socket";
}

} // namespace
