// SPDX-License-Identifier: GPL-2.0-only
// RAS counters and crash dumps through qaicd: the counts for any client, the dump written into
// the reading client's memory, read once; the dump for the daemon's own user and root (as
// devcoredump's data is root's) or a test setup.
#include "qaicd_test.h"

#include <chrono>
#include <thread>

namespace {

using namespace qaicd_test;

constexpr gid_t kGroup = 4243;

using QaicdRas = Qaicd;

template <typename Pred> bool wait_for(Pred pred)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

TEST_F(QaicdRas, CountsAndDumpReadOnceIntoTheClient)
{
    int fd = open_file();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    qaic_sim_ras_counts before{};
    ASSERT_EQ(qaic_sim_get_ras_counts(fd, &before), 0) << std::strerror(errno);
    unsigned ce = QAIC_SIM_RAS_SRC_PCIE | QAIC_SIM_RAS_CE << 8;
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RAS, ce, 0), 0);
    qaic_sim_ras_counts now{};
    ASSERT_TRUE(wait_for([&] {
        return qaic_sim_get_ras_counts(fd, &now) == 0 && now.ce_count == before.ce_count + 1;
    }));

    uint32_t dbc;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0), 0);
    long long size = -1;
    ASSERT_TRUE(wait_for([&] { return (size = qaic_sim_read_coredump(fd, nullptr, 0)) > 0; }));
    // An address the client cannot write: refused, the dump kept.
    EXPECT_EQ(qaic_sim_read_coredump(fd, reinterpret_cast<void *>(8), uint64_t(size)), -1);
    EXPECT_EQ(errno, EFAULT);
    std::vector<uint8_t> buf(static_cast<size_t>(size));
    ASSERT_EQ(qaic_sim_read_coredump(fd, buf.data(), buf.size()), size) << std::strerror(errno);
    uint64_t meta[4];
    std::memcpy(meta, buf.data(), sizeof(meta));
    EXPECT_EQ(meta[0], 0x1234567890abcdefull);
    EXPECT_EQ(meta[1], 1u);
    EXPECT_EQ(meta[2], uint64_t(size));
    EXPECT_EQ(qaic_sim_read_coredump(fd, buf.data(), buf.size()), -1);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_EQ(qaic_close(fd), 0);
}

// Without --test-control: another user reads the counters, not the dump; the owner reads it.
TEST_F(QaicdRas, DumpIsTheOwnersWithoutTestControl)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root to change uids";
    ASSERT_TRUE(daemon.stop());
    ASSERT_TRUE(daemon.start(dir, log, {"--group", std::to_string(kGroup)}));
    int fd = open_file();
    ASSERT_GE(fd, 0);
    pid_t child = spawn([&] {
        if (!become_nobody({kGroup}))
            return 200;
        int f = qaic_open(path.c_str());
        if (f < 0)
            return 201;
        qaic_sim_ras_counts c{};
        if (qaic_sim_get_ras_counts(f, &c) != 0)
            return 202;
        uint8_t b[64];
        int err = qaic_sim_read_coredump(f, b, sizeof(b)) == -1 ? errno : 0;
        qaic_close(f);
        return err;
    });
    ASSERT_GT(child, 0);
    EXPECT_EQ(reap(child), EPERM);
    errno = 0;
    EXPECT_EQ(qaic_sim_read_coredump(fd, nullptr, 0), -1);
    EXPECT_EQ(errno, ENOENT) << "the owner may look (there is none)";
    EXPECT_EQ(qaic_close(fd), 0);
}

} // namespace
