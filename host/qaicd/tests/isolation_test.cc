// SPDX-License-Identifier: GPL-2.0-only
// Clients of one qaicd side by side: a sleeping call of one never holds up another, each
// process's handles, mmap offsets and DBCs are its file's alone (the errnos two files get on
// one card), and device memory is the card's, shared by every process that uses it.
#include "qaicd_test.h"

namespace {

using namespace qaicd_test;

using QaicdIsolation = Qaicd;

constexpr uint64_t kDev = 16 * kMiB;

// A WAIT_BO sleeping on a hung DBC holds its own channel only: another client (another
// process), and another thread of the same file, create, execute and wait meanwhile.
TEST_F(QaicdIsolation, SleepingWaitNeverStallsOthers)
{
    ParamGuard guard("exec_timeout_ms", kDefaultExecTimeoutMs);
    ASSERT_EQ(qaic_sim_set_param("exec_timeout_ms", kDefaultExecTimeoutMs), 0);
    int fd = open_file();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    uint32_t dbc, hung, mine;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(create_bo(fd, kPage, &hung), 0);
    ASSERT_EQ(attach(fd, hung, dbc, kDirToDev, {slice(0, kPage, kDev)}), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_HANG, dbc, 0), 0) << std::strerror(errno);
    ASSERT_EQ(execute(fd, dbc, hung, kDirToDev), 0);
    Blocked waiter([&] { return wait_bo(fd, hung, dbc, 60000); });
    ASSERT_TRUE(waiter.park());

    // Another process: its own file, DBC and jobs.
    Pipe result;
    pid_t child = spawn([&] {
        int fd2 = qaic_open(path.c_str());
        uint32_t dbc2, bo;
        if (fd2 < 0 || activate(fd2, 16, &dbc2) != 0 || create_bo(fd2, kMiB, &bo) != 0 ||
            attach(fd2, bo, dbc2, kDirToDev, {slice(0, kMiB, kDev + kMiB)}) != 0)
            return 1;
        for (int i = 0; i < 20; ++i)
            if (int err = dpt::run(fd2, dbc2, bo, kDirToDev); err) {
                result.put(err);
                return 2;
            }
        result.put(0);
        return qaic_close(fd2) == 0 ? 0 : 3;
    });
    ASSERT_GT(child, 0);
    EXPECT_EQ(result.get_or(-ETIMEDOUT), 0);
    EXPECT_EQ(reap(child), 0);
    // This file, from another thread: a BO of its own, and the hung DBC's status.
    ASSERT_EQ(create_bo(fd, kPage, &mine), 0);
    EXPECT_EQ(gem_close(fd, mine), 0);
    EXPECT_FALSE(waiter.done()) << "the wait ended by itself: nothing was shown";
    // Hang recovery ends the wait.
    ASSERT_EQ(qaic_sim_set_param("exec_timeout_ms", 300), 0);
    EXPECT_EQ(waiter.join(), -ETIMEDOUT);
    EXPECT_EQ(qaic_close(fd), 0);
}

// Many clients and threads at once: 4 processes of 4 threads each, every thread running jobs
// of its own BO on its process's DBC; all complete, and the daemon's counts come back.
TEST_F(QaicdIsolation, ManyClientsAndThreadsAtOnce)
{
    constexpr int kProcs = 4, kThreads = 4, kRuns = 50;
    HostStats start = steady_counts();
    std::vector<pid_t> children;
    for (int p = 0; p < kProcs; ++p) {
        pid_t child = spawn([&] {
            int fd = qaic_open(path.c_str());
            uint32_t dbc;
            if (fd < 0 || activate(fd, 64, &dbc) != 0)
                return 1;
            std::atomic<int> failures{0};
            std::vector<std::thread> threads;
            for (int t = 0; t < kThreads; ++t) {
                threads.emplace_back([&, t] {
                    uint32_t bo;
                    uint64_t at = kDev + uint64_t(p * kThreads + t) * kMiB;
                    if (create_bo(fd, 64 * 1024, &bo) != 0 ||
                        attach(fd, bo, dbc, kDirToDev, {slice(0, 64 * 1024, at)}) != 0) {
                        ++failures;
                        return;
                    }
                    for (int i = 0; i < kRuns; ++i)
                        failures += dpt::run(fd, dbc, bo, kDirToDev) != 0;
                });
            }
            for (auto &t : threads)
                t.join();
            return failures == 0 && qaic_close(fd) == 0 ? 0 : 2;
        });
        ASSERT_GT(child, 0);
        children.push_back(child);
    }
    for (pid_t child : children)
        EXPECT_EQ(reap(child), 0);
    EXPECT_TRUE(counts_return_to(start));
}

// Another process's file: our handles are ENOENT there, our mmap offsets EACCES, our DBCs
// EPERM, as between two files of one process.
TEST_F(QaicdIsolation, AnotherProcessesHandlesOffsetsAndDbcsAreNotItsOwn)
{
    int fd = open_file();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    uint32_t dbc, bo = 0;
    uint64_t off;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    // A handle number the other file will not have (it makes one BO).
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(create_bo(fd, kPage, &bo), 0);
    ASSERT_EQ(mmap_offset(fd, bo, &off), 0);
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kPage, kDev)}), 0);

    Pipe p;
    pid_t child = spawn([&] {
        int fd2 = qaic_open(path.c_str());
        if (fd2 < 0)
            return 1;
        uint32_t theirs;
        if (create_bo(fd2, kPage, &theirs) != 0)
            return 2;
        if (theirs == bo)
            return 4;
        p.put(mmap_offset(fd2, bo, nullptr));
        p.put(gem_close(fd2, bo));
        errno = 0;
        void *m = qaic_mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, off_t(off));
        p.put(m == MAP_FAILED ? -errno : 0);
        p.put(execute(fd2, dbc, theirs, kDirToDev));
        p.put(wait_bo(fd2, theirs, dbc, 100));
        p.put(deactivate(fd2, dbc));
        return qaic_close(fd2) == 0 ? 0 : 3;
    });
    ASSERT_GT(child, 0);
    EXPECT_EQ(p.get_or(0), -ENOENT) << "MMAP_BO of another process's handle";
    EXPECT_EQ(p.get_or(0), -EINVAL) << "GEM_CLOSE of another process's handle";
    EXPECT_EQ(p.get_or(0), -EACCES) << "mmap of another process's offset";
    EXPECT_EQ(p.get_or(0), -EPERM) << "EXECUTE on another process's DBC";
    EXPECT_EQ(p.get_or(0), -EPERM) << "WAIT_BO on another process's DBC";
    EXPECT_EQ(p.get_or(0), -EPERM) << "DEACTIVATE of another process's DBC";
    EXPECT_EQ(reap(child), 0);
    // All of it is still ours.
    EXPECT_EQ(dpt::run(fd, dbc, bo, kDirToDev), 0);
    EXPECT_EQ(mmap_offset(fd, bo, nullptr), 0);
    EXPECT_EQ(qaic_close(fd), 0);
}

// What one process writes to device memory another reads back through the device, after
// the writer is gone.
TEST_F(QaicdIsolation, DeviceMemoryWrittenByOneProcessIsReadByAnother)
{
    constexpr size_t kLen = 256 * 1024;
    constexpr uint64_t kAt = 48 * kMiB;
    uint32_t seed = fresh_seed();
    pid_t writer = spawn([&] {
        int fd = qaic_open(path.c_str());
        uint32_t dbc;
        if (fd < 0 || activate(fd, 16, &dbc) != 0)
            return 1;
        auto bytes = pattern(kLen, seed);
        if (write_device(fd, dbc, kAt, bytes.data(), bytes.size()) != 0)
            return 2;
        return qaic_close(fd) == 0 ? 0 : 3;
    });
    ASSERT_GT(writer, 0);
    ASSERT_EQ(reap(writer), 0)
        << "1: open or ACTIVATE failed, 2: the write (a mapped BO's DMA), 3: close";
    int fd = open_file();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    uint32_t dbc;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    std::vector<uint8_t> got;
    ASSERT_EQ(read_device(fd, dbc, kAt, kLen, &got), 0);
    auto want = pattern(kLen, seed);
    EXPECT_TRUE(same_bytes(got.data(), want.data(), kLen));
    EXPECT_EQ(qaic_close(fd), 0);
}

} // namespace
