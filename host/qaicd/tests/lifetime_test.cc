// SPDX-License-Identifier: GPL-2.0-only
// The lifetime of a file served by qaicd: fork and dup share it, its last close releases it,
// and a client killed in the middle of its jobs is released as a close would release it.
#include "qaicd_test.h"

#include <fstream>

namespace {

using namespace qaicd_test;

using QaicdLifetime = Qaicd;

// A forked child calls on the same open file: its handles are the parent's, and the other
// way round (a private copy of the device would hand out the same numbers twice).
TEST_F(QaicdLifetime, ForkSharesTheFile)
{
    int fd = open_file();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    uint32_t mine;
    ASSERT_EQ(create_bo(fd, kPage, &mine), 0);
    Pipe p;
    pid_t child = spawn([&] {
        uint32_t theirs = 0;
        p.put(create_bo(fd, kPage, &theirs));
        p.put(theirs);
        p.put(gem_close(fd, mine)); // the parent's BO, closed by the child
        return 0;
    });
    ASSERT_GT(child, 0);
    EXPECT_EQ(p.get_or(-1), 0) << "the child's CREATE_BO";
    auto theirs = uint32_t(p.get_or(0));
    EXPECT_EQ(p.get_or(-1), 0) << "the child's GEM_CLOSE of the parent's handle";
    EXPECT_EQ(reap(child), 0);
    EXPECT_NE(theirs, mine);
    // The child's BO is ours; ours is gone.
    EXPECT_EQ(mmap_offset(fd, theirs, nullptr), 0);
    EXPECT_EQ(mmap_offset(fd, mine, nullptr), -ENOENT);
    EXPECT_EQ(gem_close(fd, mine), -EINVAL);
    uint32_t next;
    ASSERT_EQ(create_bo(fd, kPage, &next), 0);
    EXPECT_NE(next, theirs);
    EXPECT_EQ(gem_close(fd, theirs), 0);
    EXPECT_EQ(gem_close(fd, next), 0);
    EXPECT_EQ(qaic_close(fd), 0);
}

// The file lives while any copy of its fd does: a dup, or a forked child's.
// A forked child does not inherit its parent's slots (libqaic maps them MADV_DONTFORK): their
// pages are holes in the child, which the child may map again, and the child's close of the
// file must leave what it mapped there alone.
TEST_F(QaicdLifetime, ForkedChildsMappingsInItsParentsSlotPagesStay)
{
    int fd = open_file();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    uint32_t h;
    ASSERT_EQ(create_bo(fd, kPage, &h), 0); // this thread's channel and its slot
    uintptr_t slot = 0;
    {
        std::ifstream maps("/proc/self/maps");
        for (std::string line; std::getline(maps, line);)
            if (line.find("qaicd-slot") != std::string::npos)
                slot = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    }
    ASSERT_NE(slot, 0u) << "no slot mapped";
    pid_t child = spawn([&] {
        void *p = mmap(reinterpret_cast<void *>(slot), kPage, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p != reinterpret_cast<void *>(slot))
            return 1; // the slot was inherited after all
        std::memset(p, 0x5a, kPage);
        uint32_t theirs;
        if (create_bo(fd, kPage, &theirs) != 0 || qaic_close(fd) != 0)
            return 2;
        return static_cast<unsigned char *>(p)[kPage - 1] == 0x5a ? 0 : 3;
    });
    ASSERT_GT(child, 0);
    EXPECT_EQ(reap(child), 0) << "1: the slot was inherited, 2: the child's calls failed, "
                                 "3 or 128+SIGSEGV: its mapping went with the file";
    EXPECT_EQ(gem_close(fd, h), 0);
    EXPECT_EQ(qaic_close(fd), 0);
}

TEST_F(QaicdLifetime, DupAndForkKeepTheFileOpen)
{
    HostStats start = steady_counts();
    int fd = open_file();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    uint32_t dbc, bo;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(create_bo(fd, 1 << 20, &bo), 0);
    HostStats open = steady_counts(1, 1);
    EXPECT_EQ(open.files, start.files + 1);
    EXPECT_EQ(open.dbcs_in_use, start.dbcs_in_use + 1);
    EXPECT_GE(open.bo_bytes, start.bo_bytes + (1 << 20));

    int copy = dup(fd);
    ASSERT_GE(copy, 0);
    Pipe go, done;
    pid_t child = spawn([&] {
        int64_t v;
        go.get(&v); // the parent closed both of its fds
        done.put(mmap_offset(fd, bo, nullptr));
        return 0;
    });
    ASSERT_GT(child, 0);
    ASSERT_EQ(qaic_close(fd), 0);
    // No file was released: only libqaic's channel of this process went.
    HostStats dup_only = steady_counts(1, 0);
    EXPECT_EQ(dup_only.files, open.files);
    EXPECT_EQ(dup_only.dbcs_in_use, open.dbcs_in_use);
    EXPECT_EQ(dup_only.bo_bytes, open.bo_bytes);
    ASSERT_EQ(::close(copy), 0);
    go.put(1);
    EXPECT_EQ(done.get_or(-1), 0) << "the child's MMAP_BO on the file the parent closed";
    EXPECT_EQ(reap(child), 0);
    // The child's exit was the last close.
    EXPECT_TRUE(counts_return_to(start));
}

TEST_F(QaicdLifetime, LastCloseReleasesEverything)
{
    HostStats start = steady_counts();
    int fd = open_file();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    uint32_t dbc[2];
    ASSERT_EQ(activate(fd, 64, &dbc[0]), 0);
    ASSERT_EQ(activate(fd, 64, &dbc[1]), 0);
    std::vector<uint32_t> bos;
    for (int i = 0; i < 4; ++i) {
        uint32_t h;
        ASSERT_EQ(create_bo(fd, 1 << 20, &h), 0);
        uint64_t at = 16 * kMiB + i * kMiB;
        ASSERT_EQ(attach(fd, h, dbc[i % 2], kDirToDev, {slice(0, 1 << 20, at)}), 0);
        ASSERT_EQ(execute(fd, dbc[i % 2], h, kDirToDev), 0);
        bos.push_back(h);
    }
    EXPECT_EQ(wait_bo(fd, bos[0], dbc[0]), 0);
    // Another thread's call: libqaic hands it the idle channel of this one.
    std::thread([&] { EXPECT_EQ(wait_bo(fd, bos[1], dbc[1]), 0); }).join();
    HostStats busy = steady_counts(1, 1);
    EXPECT_EQ(busy.files, start.files + 1);
    EXPECT_EQ(busy.channels, start.channels + 1);
    EXPECT_EQ(busy.dbcs_in_use, start.dbcs_in_use + 2);
    EXPECT_GE(busy.bo_bytes, start.bo_bytes + 4 * (1 << 20));
    // Jobs may still run: the close releases them too.
    ASSERT_EQ(qaic_close(fd), 0);
    EXPECT_TRUE(counts_return_to(start));
}

// The last close returns after the release, whichever of the daemon's threads sees the end of
// the connection first (the closer's kClosed or the main thread's hangup): the DBCs of the
// closed file are free for the next activation at once, every time.
TEST_F(QaicdLifetime, LastCloseReturnsAfterTheRelease)
{
    int keep = open_file();
    ASSERT_GE(keep, 0) << std::strerror(errno);
    for (int round = 0; round < 400; ++round) {
        SCOPED_TRACE(round);
        int fd = open_file();
        ASSERT_GE(fd, 0) << std::strerror(errno);
        std::vector<uint32_t> all = activate_all(fd);
        ASSERT_GE(all.size(), 1u);
        ASSERT_EQ(qaic_close(fd), 0);
        std::vector<uint32_t> again = activate_all(keep);
        ASSERT_EQ(again.size(), all.size());
        for (uint32_t id : again)
            ASSERT_EQ(deactivate(keep, id), 0);
    }
    EXPECT_EQ(qaic_close(keep), 0);
}

// Whether process pid sleeps (state S or D in /proc).
bool process_sleeps(pid_t pid)
{
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() &&
           (stat[paren + 2] == 'S' || stat[paren + 2] == 'D');
}

// A client killed while its WAIT_BO sleeps in the daemon (a hung DBC, no hang recovery for
// minutes): the call ends at once, as a killed task's sleep does, and its file is released.
TEST_F(QaicdLifetime, ClientKilledInWaitBoIsReleased)
{
    ParamGuard guard("exec_timeout_ms", kDefaultExecTimeoutMs);
    ASSERT_EQ(qaic_sim_set_param("exec_timeout_ms", 600000), 0);
    HostStats start = steady_counts();
    Pipe ready;
    pid_t child = spawn([&] {
        int fd = qaic_open(path.c_str());
        uint32_t dbc, bo;
        if (fd < 0 || activate(fd, 16, &dbc) != 0 || create_bo(fd, kPage, &bo) != 0 ||
            attach(fd, bo, dbc, kDirToDev, {slice(0, kPage, 16 * kMiB)}) != 0 ||
            qaic_sim_inject(fd, QAIC_SIM_HANG, dbc, 0) != 0 || execute(fd, dbc, bo, kDirToDev) != 0)
            return 1;
        ready.put(1);
        wait_bo(fd, bo, dbc, 600000);
        return 2;
    });
    ASSERT_GT(child, 0);
    int64_t v;
    ASSERT_TRUE(ready.get(&v));
    // Its next sleep is the answer to WAIT_BO.
    auto deadline = Clock::now() + std::chrono::milliseconds(kBoundMs);
    while (!process_sleeps(child) && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    HostStats waiting = steady_counts(1, 1);
    EXPECT_EQ(waiting.dbcs_in_use, 1u);
    ::kill(child, SIGKILL);
    EXPECT_EQ(reap(child), 128 + SIGKILL);
    EXPECT_TRUE(counts_return_to(start));
}

// One client: a DBC, a BO of big slices executed over and over, until it is killed.
// Each of 16 clients in a row writes its own part of device memory: engines of killed
// clients still finishing an element never write the bytes a newer one writes.
int busy_client(const std::string &path, int n, Pipe &ready)
{
    constexpr uint64_t kBo = 4 * kMiB, kSlice = kMiB;
    uint64_t at = 64 * kMiB + (n % 16) * kBo;
    int fd = qaic_open(path.c_str());
    uint32_t dbc, bo;
    if (fd < 0 || activate(fd, 64, &dbc) != 0 || create_bo(fd, kBo, &bo) != 0)
        return 1;
    std::vector<qaic_attach_slice_entry> slices;
    for (uint64_t off = 0; off < kBo; off += kSlice)
        slices.push_back(slice(off, kSlice, at + off));
    if (attach(fd, bo, dbc, kDirToDev, slices) != 0 || execute(fd, dbc, bo, kDirToDev) != 0)
        return 2;
    ready.put(1);
    for (;;) {
        if (wait_bo(fd, bo, dbc) != 0 || execute(fd, dbc, bo, kDirToDev) != 0)
            return 3;
    }
}

// 1000 clients killed with SIGKILL while their DMAs run: each is released as a close is, and
// afterwards the daemon holds what it held before (files, channels, DBCs, BO memory, fds,
// threads).
TEST_F(QaicdLifetime, ClientsKilledMidJobLeaveNothingBehind)
{
    constexpr int kKills = 1000;
    HostStats start = steady_counts();
    auto t0 = Clock::now();
    int not_ready = 0;
    for (int i = 0; i < kKills; ++i) {
        Pipe ready;
        pid_t child = spawn([&] { return busy_client(path, i, ready); });
        ASSERT_GT(child, 0);
        int64_t v;
        bool running = ready.get(&v);
        not_ready += !running;
        ::kill(child, SIGKILL);
        int status = reap(child);
        if (running) {
            ASSERT_EQ(status, 128 + SIGKILL) << "kill " << i;
        }
    }
    std::printf("# %d clients killed mid-job in %lld ms\n", kKills, (long long)ms_since(t0));
    EXPECT_EQ(not_ready, 0) << "clients that failed before their jobs ran";
    EXPECT_TRUE(counts_return_to(start));
}

} // namespace
