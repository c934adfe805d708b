// SPDX-License-Identifier: GPL-2.0-only
// DRM_IOCTL_PRIME_HANDLE_TO_FD and DRM_IOCTL_PRIME_FD_TO_HANDLE: BOs as dma-buf fds, imported
// as handles to the same pages, with DRM's rules and errnos.
#include "datapath_helpers.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>
#include <vector>

namespace dpt {
namespace {

constexpr uint64_t kDev = 16 * kMiB;

int export_bo(int fd, uint32_t handle, uint32_t flags, int *out)
{
    drm_prime_handle p{};
    p.handle = handle;
    p.flags = flags;
    p.fd = -1;
    int err = ioctl_err(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p);
    *out = err ? -1 : p.fd;
    return err;
}

int import_fd(int fd, int buf_fd, uint32_t *handle)
{
    drm_prime_handle p{};
    p.fd = buf_fd;
    int err = ioctl_err(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p);
    *handle = err ? 0 : p.handle;
    return err;
}

ino_t inode(int fd)
{
    struct stat st {};
    EXPECT_EQ(fstat(fd, &st), 0);
    return st.st_ino;
}

bool on_qaicd()
{
    qaic_host_stats hs{};
    return qaic_host_get_stats(nullptr, &hs) == 0;
}

// A file with a DBC (for the DMA case) and a mapped BO to export.
class Prime : public Datapath {
protected:
    void SetUp() override
    {
        Datapath::SetUp();
        ASSERT_NO_FATAL_FAILURE(make(bo, 2 * kPage));
    }
    Bo bo;
};

TEST_F(Prime, UnknownFlagsAreEinval)
{
    int buf;
    EXPECT_EQ(export_bo(fd, bo.handle(), 0x4, &buf), -EINVAL);
    EXPECT_EQ(export_bo(fd, bo.handle(), 0x80000000u, &buf), -EINVAL);
}

TEST_F(Prime, UnknownHandleIsEnoent)
{
    int buf;
    EXPECT_EQ(export_bo(fd, bo.handle() + 1000, DRM_CLOEXEC, &buf), -ENOENT);
    EXPECT_EQ(export_bo(fd, 0, DRM_CLOEXEC, &buf), -ENOENT);
}

TEST_F(Prime, CloexecFollowsTheFlag)
{
    int with, without;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC | DRM_RDWR, &with), 0);
    ASSERT_EQ(export_bo(fd, bo.handle(), 0, &without), 0);
    EXPECT_EQ(fcntl(with, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_EQ(fcntl(without, F_GETFD) & FD_CLOEXEC, 0);
    close(with);
    close(without);
}

TEST_F(Prime, BadFdIsEbadf)
{
    uint32_t h;
    EXPECT_EQ(import_fd(fd, -1, &h), -EBADF);
    int closed = dup(0);
    ASSERT_GE(closed, 0);
    close(closed);
    EXPECT_EQ(import_fd(fd, closed, &h), -EBADF);
}

TEST_F(Prime, FdThatIsNoDmaBufIsEinval)
{
    uint32_t h;
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    EXPECT_EQ(import_fd(fd, p[0], &h), -EINVAL);
    close(p[0]);
    close(p[1]);
    int m = memfd_create("not-a-dma-buf", MFD_CLOEXEC);
    ASSERT_GE(m, 0);
    EXPECT_EQ(import_fd(fd, m, &h), -EINVAL);
    close(m);
    EXPECT_EQ(import_fd(fd, fd, &h), -EINVAL);
}

TEST_F(Prime, ExportTwiceIsTheSameDmaBuf)
{
    int a, b;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &a), 0);
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &b), 0);
    EXPECT_NE(a, b);
    EXPECT_EQ(inode(a), inode(b));
    close(a);
    close(b);
}

TEST_F(Prime, ExportAfterEveryFdClosedGivesAWorkingDmaBuf)
{
    int a, b;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &a), 0);
    close(a);
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &b), 0);
    int other = qaic_open(nullptr);
    ASSERT_GE(other, 0);
    uint32_t h;
    ASSERT_EQ(import_fd(other, b, &h), 0);
    auto *p = static_cast<uint8_t *>(map_bo(other, h, bo.size()));
    ASSERT_NE(p, MAP_FAILED);
    EXPECT_TRUE(same_bytes(p, bo.data(), bo.size()));
    EXPECT_EQ(qaic_munmap(p, bo.size()), 0);
    EXPECT_EQ(qaic_close(other), 0);
    close(b);
}

// No fd left for the caller: EMFILE (get_unused_fd_flags), and nothing half-done.
TEST_F(Prime, NoFreeFdIsEmfile)
{
    int first;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &first), 0); // the dma-buf exists
    int lowest = dup(0);
    ASSERT_GE(lowest, 0);
    close(lowest);
    rlimit old;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    rlimit tight = old;
    tight.rlim_cur = rlim_t(lowest); // every number below is taken: no new fd
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
    int buf;
    int err = export_bo(fd, bo.handle(), DRM_CLOEXEC, &buf);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    EXPECT_EQ(err, -EMFILE);
    // Still one dma-buf, still exportable and importable.
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &buf), 0);
    EXPECT_EQ(inode(buf), inode(first));
    uint32_t h;
    EXPECT_EQ(import_fd(fd, buf, &h), 0);
    EXPECT_EQ(h, bo.handle());
    close(buf);
    close(first);
}

TEST_F(Prime, ImportIntoTheExporterGivesItsHandle)
{
    int buf;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &buf), 0);
    uint32_t h;
    ASSERT_EQ(import_fd(fd, buf, &h), 0);
    EXPECT_EQ(h, bo.handle());
    close(buf);
}

TEST_F(Prime, ImportIntoAnotherFileSharesThePages)
{
    int buf;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &buf), 0);
    int other = qaic_open(nullptr);
    ASSERT_GE(other, 0);
    uint32_t h, again;
    ASSERT_EQ(import_fd(other, buf, &h), 0);
    ASSERT_EQ(import_fd(other, buf, &again), 0);
    EXPECT_EQ(again, h); // the file knows the dma-buf
    auto *p = static_cast<uint8_t *>(map_bo(other, h, bo.size()));
    ASSERT_NE(p, MAP_FAILED);
    EXPECT_TRUE(same_bytes(p, bo.data(), bo.size()));
    fill(p, bo.size(), fresh_seed()); // written through the importer's mapping
    EXPECT_TRUE(same_bytes(bo.data(), p, bo.size()));
    // Exporting the imported handle gives the same dma-buf.
    int back;
    ASSERT_EQ(export_bo(other, h, DRM_CLOEXEC, &back), 0);
    EXPECT_EQ(inode(back), inode(buf));
    close(back);
    EXPECT_EQ(qaic_munmap(p, bo.size()), 0);
    EXPECT_EQ(qaic_close(other), 0);
    close(buf);
}

TEST_F(Prime, ImportAfterTheExporterClosedItsHandle)
{
    auto want = std::vector<uint8_t>(bo.data(), bo.data() + bo.size());
    int buf;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &buf), 0);
    bo.reset(); // unmapped, GEM_CLOSE: the dma-buf holds the object
    uint32_t h;
    ASSERT_EQ(import_fd(fd, buf, &h), 0);
    auto *p = static_cast<uint8_t *>(map_bo(fd, h, want.size()));
    ASSERT_NE(p, MAP_FAILED);
    EXPECT_TRUE(same_bytes(p, want.data(), want.size()));
    EXPECT_EQ(qaic_munmap(p, want.size()), 0);
    close(buf);
}

TEST_F(Prime, ClosedFdLeavesTheImportersHandle)
{
    int buf;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &buf), 0);
    int other = qaic_open(nullptr);
    ASSERT_GE(other, 0);
    uint32_t h;
    ASSERT_EQ(import_fd(other, buf, &h), 0);
    close(buf);
    auto want = std::vector<uint8_t>(bo.data(), bo.data() + bo.size());
    bo.reset(); // the importer's handle is the last holder
    auto *p = static_cast<uint8_t *>(map_bo(other, h, want.size()));
    ASSERT_NE(p, MAP_FAILED);
    EXPECT_TRUE(same_bytes(p, want.data(), want.size()));
    EXPECT_EQ(qaic_munmap(p, want.size()), 0);
    EXPECT_EQ(qaic_close(other), 0);
}

TEST_F(Prime, LastReferenceFreesTheMemory)
{
    if (!on_qaicd())
        GTEST_SKIP() << "BO memory in use is counted by qaicd only (qaic_host_get_stats)";
    qaic_host_stats before{}, held{}, after{};
    ASSERT_EQ(qaic_host_get_stats(nullptr, &before), 0);
    uint32_t big;
    ASSERT_EQ(create_bo(fd, 1 * kMiB, &big), 0);
    int buf;
    ASSERT_EQ(export_bo(fd, big, DRM_CLOEXEC, &buf), 0);
    ASSERT_EQ(gem_close(fd, big), 0);
    ASSERT_EQ(qaic_host_get_stats(nullptr, &held), 0);
    EXPECT_GE(held.bo_bytes, before.bo_bytes + kMiB) << "the dma-buf holds the BO";
    close(buf);
    ASSERT_EQ(qaic_host_get_stats(nullptr, &after), 0);
    EXPECT_EQ(after.bo_bytes, before.bo_bytes);
}

TEST_F(Prime, DmaIntoAnImportedBoIsSeenByTheExporter)
{
    int buf;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC | DRM_RDWR, &buf), 0);
    int other = qaic_open(nullptr);
    ASSERT_GE(other, 0);
    uint32_t h;
    ASSERT_EQ(import_fd(other, buf, &h), 0);
    uint32_t other_dbc;
    ASSERT_EQ(activate(other, kQueue, &other_dbc), 0);
    auto data = pattern(kPage, fresh_seed());
    ASSERT_EQ(write_device(other, other_dbc, kDev, data.data(), data.size()), 0);
    ASSERT_EQ(attach(other, h, other_dbc, kDirFromDev, {slice(kPage, kPage, kDev)}), 0);
    ASSERT_EQ(run(other, other_dbc, h, kDirFromDev), 0);
    EXPECT_TRUE(same_bytes(bo.data() + kPage, data.data(), kPage));
    EXPECT_EQ(qaic_close(other), 0);
    close(buf);
}

// Exports, imports and closes from many threads at once: one dma-buf throughout (the exporter
// keeps it), and each importing file's handle stays the same.
TEST_F(Prime, ExportImportAndCloseFromManyThreads)
{
    int first;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &first), 0);
    ino_t ino = inode(first);
    constexpr int kThreads = 4, kRounds = 200;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            int own = qaic_open(nullptr);
            if (own < 0) {
                ++failures;
                return;
            }
            uint32_t handle = 0;
            for (int i = 0; i < kRounds; ++i) {
                int buf;
                uint32_t h = 0;
                struct stat st {};
                if (export_bo(fd, bo.handle(), DRM_CLOEXEC, &buf) != 0) {
                    ++failures;
                    break;
                }
                bool ok = fstat(buf, &st) == 0 && st.st_ino == ino &&
                          import_fd(own, buf, &h) == 0 && (!handle || h == handle);
                handle = h;
                close(buf);
                if (!ok) {
                    ++failures;
                    break;
                }
            }
            if (handle && gem_close(own, handle) != 0)
                ++failures;
            if (qaic_close(own) != 0)
                ++failures;
        });
    }
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(failures.load(), 0);
    close(first);
}

TEST_F(Prime, AnotherProcessImportsAndWrites)
{
    if (!on_qaicd())
        GTEST_SKIP() << "a forked child's embedded card is its own copy: the pages are shared "
                        "across processes only through qaicd";
    int buf;
    ASSERT_EQ(export_bo(fd, bo.handle(), DRM_CLOEXEC, &buf), 0);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    uint8_t seed = uint8_t(fresh_seed());
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(sv[0]);
        int got = -1;
        char c;
        iovec iov{&c, 1};
        union {
            cmsghdr align;
            char b[CMSG_SPACE(sizeof(int))];
        } ctl;
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = ctl.b;
        m.msg_controllen = sizeof(ctl.b);
        if (recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC) != 1 || !CMSG_FIRSTHDR(&m))
            _exit(2);
        std::memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
        int dev = qaic_open(nullptr);
        uint32_t h;
        if (dev < 0 || import_fd(dev, got, &h) != 0)
            _exit(3);
        auto *p = static_cast<uint8_t *>(map_bo(dev, h, kPage));
        if (p == MAP_FAILED)
            _exit(4);
        std::memset(p, seed, kPage);
        qaic_munmap(p, kPage);
        qaic_close(dev);
        close(got);
        _exit(0);
    }
    close(sv[1]);
    char c = 'x';
    iovec iov{&c, 1};
    union {
        cmsghdr align;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.b;
    m.msg_controllen = sizeof(ctl.b);
    cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &buf, sizeof(int));
    ASSERT_EQ(sendmsg(sv[0], &m, 0), 1);
    close(buf); // the child's copy is the dma-buf's only fd now
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    close(sv[0]);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    std::vector<uint8_t> want(kPage, seed);
    EXPECT_TRUE(same_bytes(bo.data(), want.data(), kPage));
}

} // namespace
} // namespace dpt
