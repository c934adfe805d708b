// SPDX-License-Identifier: GPL-2.0-only
// The accel core with a fake driver: registry, files, handles, dispatch rules, offsets, mmap.
#include "drivers/accel/accel.h"
#include "kernel/mm.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <drm.h>
#include <fcntl.h>
#include <future>
#include <gtest/gtest.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using accel::File;
using ErrorOrFile = kernel::ErrorOr<kernel::RefPtr<File>>;
using kernel::RefPtr;
using kernel::UserPtr;

// A driver argument: 16 bytes in, the handler writes its own view of it back.
struct test_arg {
    uint64_t in;
    uint64_t out;
};
#define TEST_IOCTL_RW DRM_IOWR(DRM_COMMAND_BASE + 0, struct test_arg)
#define TEST_IOCTL_W DRM_IOW(DRM_COMMAND_BASE + 1, struct test_arg)
#define TEST_IOCTL_NOFUNC DRM_IOW(DRM_COMMAND_BASE + 2, struct test_arg)
#define TEST_IOCTL_PAST_END DRM_IOW(DRM_COMMAND_BASE + 3, struct test_arg)

struct Seen {
    test_arg arg;
    int calls;
};
Seen g_seen;

kernel::ErrorOr<void> rw_handler(File &, void *data)
{
    auto *a = static_cast<test_arg *>(data);
    g_seen = {*a, g_seen.calls + 1};
    a->out = a->in + 1;
    if (a->in == 99)
        return kernel::Error(-EIO); // a failing handler still has its result copied back
    if (a->in == 98)
        throw std::bad_alloc(); // an allocation that failed without answering -ENOMEM
    if (a->in == 97)
        throw std::runtime_error("driver bug");
    return {};
}

constexpr accel::IoctlDesc kTestIoctls[] = {
    ACCEL_IOCTL(TEST_IOCTL_RW, rw_handler),
    ACCEL_IOCTL(TEST_IOCTL_W, rw_handler),
    {TEST_IOCTL_NOFUNC, nullptr, "TEST_IOCTL_NOFUNC"},
};

int g_opens, g_postcloses;
bool g_fail_open, g_throw_open;
kernel::ErrorOr<void> test_open(accel::Device &, File &)
{
    if (g_fail_open)
        return kernel::Error(-ENOMEM);
    if (g_throw_open)
        throw std::bad_alloc();
    ++g_opens;
    return {};
}
void test_postclose(accel::Device &, File &)
{
    ++g_postcloses;
}

const accel::Driver kTestDriver = {
    .name = "testdrv",
    .desc = "accel core test driver",
    .date = "20260102",
    .major = 3,
    .minor = 4,
    .patchlevel = 5,
    .ioctls = kTestIoctls,
    .open = test_open,
    .postclose = test_postclose,
};

// A buffer object backed by a memfd, mapped with mmap(2).
class MemfdObject : public accel::GemObject {
public:
    MemfdObject(accel::Device &dev, uint64_t size, int *live)
        : GemObject(dev, size), live_(live), fd_(memfd_create("test-bo", MFD_CLOEXEC))
    {
        EXPECT_EQ(ftruncate(fd_, off_t(size)), 0);
        ++*live_;
    }
    ~MemfdObject() override
    {
        ::close(fd_);
        --*live_;
    }
    kernel::ErrorOr<void> mmap(accel::Vma &vma) override
    {
        void *p = ::mmap(vma.addr, vma.len, vma.prot, vma.flags, fd_, 0);
        if (p == MAP_FAILED)
            return kernel::Error(-errno);
        vma.addr = p;
        return {};
    }
    kernel::ErrorOr<accel::MmapFd> mmap_fd() const override { return accel::MmapFd{fd_, 0}; }
    void close(File &) override { ++closes; }
    int closes = 0;

private:
    int *live_;
    int fd_;
};

class AccelCore : public testing::Test {
protected:
    void SetUp() override
    {
        g_seen = {};
        g_opens = g_postcloses = 0;
        g_fail_open = g_throw_open = false;
        dev = kernel::make_ref<accel::Device>(kTestDriver);
        ASSERT_FALSE(dev->register_device().is_error());
        file = open_file();
    }
    void TearDown() override
    {
        file = nullptr;
        dev->unplug();
        dev = nullptr;
        EXPECT_EQ(live, 0) << "GEM objects leaked";
    }
    RefPtr<File> open_file()
    {
        auto f = accel::open_minor(dev->minor());
        EXPECT_FALSE(f.is_error());
        return f.is_error() ? nullptr : f.release_value();
    }
    RefPtr<MemfdObject> new_object(uint64_t size)
    {
        return kernel::make_ref<MemfdObject>(*dev, size, &live);
    }
    // A handle of file's to a new object only that handle holds.
    uint32_t new_handle(uint64_t size = 4096) { return file->handle_create(new_object(size)).value(); }
    int do_ioctl(File &f, unsigned long cmd, void *arg)
    {
        return accel::ioctl(f, cmd, UserPtr<void>(uintptr_t(arg)));
    }

    int live = 0;
    RefPtr<accel::Device> dev;
    RefPtr<File> file;
};

TEST_F(AccelCore, RegisterGivesLowestFreeMinor)
{
    auto second = kernel::make_ref<accel::Device>(kTestDriver);
    ASSERT_FALSE(second->register_device().is_error());
    EXPECT_NE(second->minor(), dev->minor());
    EXPECT_EQ(accel::find_device(second->minor()), second);
    EXPECT_EQ(second->register_device().code(), -EBUSY);
    int freed = second->minor();
    second->unplug();
    EXPECT_EQ(second->minor(), -1);
    EXPECT_FALSE(accel::find_device(freed));
    auto third = kernel::make_ref<accel::Device>(kTestDriver);
    ASSERT_FALSE(third->register_device().is_error());
    EXPECT_EQ(third->minor(), freed);
    third->unplug();
}

TEST_F(AccelCore, OpenUnknownMinorIsEnodev)
{
    EXPECT_EQ(accel::open_minor(63).code(), -ENODEV);
    EXPECT_EQ(accel::open_minor(-1).code(), -ENODEV);
}

TEST_F(AccelCore, OpenAndPostcloseHooks)
{
    EXPECT_EQ(g_opens, 1);
    auto f2 = open_file();
    EXPECT_EQ(g_opens, 2);
    f2 = nullptr;
    EXPECT_EQ(g_postcloses, 1);
    g_fail_open = true;
    EXPECT_EQ(accel::open_minor(dev->minor()).code(), -ENOMEM);
    EXPECT_EQ(g_postcloses, 1); // a failed open is owed no postclose, as in DRM
}

TEST_F(AccelCore, UnplugFailsOpenAndIoctl)
{
    int minor = dev->minor();
    dev->unplug();
    EXPECT_EQ(accel::open_minor(minor).code(), -ENODEV);
    test_arg a{1, 0};
    EXPECT_EQ(do_ioctl(*file, TEST_IOCTL_RW, &a), -ENODEV);
    EXPECT_EQ(g_seen.calls, 0);
}

// unplug() returns once nothing is inside the device. One that never returns would hang the
// binary at exit too: fail and end it instead.
void expect_unplug_returns(accel::Device &dev)
{
    std::promise<void> done;
    std::future<void> returned = done.get_future();
    std::thread t([&] {
        dev.unplug();
        done.set_value();
    });
    if (returned.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
        ADD_FAILURE() << "unplug() blocked: something left the device entered";
        std::fflush(nullptr);
        std::_Exit(1);
    }
    t.join();
}

// No exception leaves an ioctl: it becomes an errno (ENOMEM for an allocation), the
// argument is still copied back, and the device is left as it was entered.
TEST_F(AccelCore, AnExceptionInAHandlerIsAnErrnoAndLeavesTheDevice)
{
    test_arg a{98, 0};
    int r = 0;
    EXPECT_NO_THROW(r = do_ioctl(*file, TEST_IOCTL_RW, &a));
    EXPECT_EQ(r, -ENOMEM);
    a = {97, 0};
    EXPECT_NO_THROW(r = do_ioctl(*file, TEST_IOCTL_RW, &a));
    EXPECT_EQ(r, -EIO);
    EXPECT_EQ(a.out, 98u);
    expect_unplug_returns(*dev);
}

TEST_F(AccelCore, AnExceptionInTheOpenHookIsAnErrnoAndLeavesTheDevice)
{
    g_throw_open = true;
    ErrorOrFile f = kernel::Error(-EINVAL);
    EXPECT_NO_THROW(f = accel::open_minor(dev->minor()));
    EXPECT_EQ(f.code(), -ENOMEM);
    EXPECT_EQ(g_postcloses, 0);
    expect_unplug_returns(*dev);
}

TEST_F(AccelCore, ReadWriteIoctlCopiesBothWays)
{
    test_arg a{41, 0};
    EXPECT_EQ(do_ioctl(*file, TEST_IOCTL_RW, &a), 0);
    EXPECT_EQ(g_seen.arg.in, 41u);
    EXPECT_EQ(a.out, 42u);
}

TEST_F(AccelCore, WriteOnlyIoctlCopiesNothingBack)
{
    test_arg a{41, 7};
    EXPECT_EQ(do_ioctl(*file, TEST_IOCTL_W, &a), 0);
    EXPECT_EQ(g_seen.calls, 1);
    EXPECT_EQ(a.out, 7u);
}

TEST_F(AccelCore, FailedHandlerStillCopiesOut)
{
    test_arg a{99, 0};
    EXPECT_EQ(do_ioctl(*file, TEST_IOCTL_RW, &a), -EIO);
    EXPECT_EQ(a.out, 100u);
}

TEST_F(AccelCore, ShorterUserStructIsZeroExtended)
{
    // An older userspace that knows only the first 8 bytes: the handler sees zeros after them,
    // and only 8 bytes are written back.
    struct {
        uint64_t in;
        uint64_t canary;
    } a{5, 0xdeadbeef};
    unsigned long cmd = DRM_IOWR(DRM_COMMAND_BASE + 0, uint64_t);
    EXPECT_EQ(do_ioctl(*file, cmd, &a), 0);
    EXPECT_EQ(g_seen.arg.in, 5u);
    EXPECT_EQ(g_seen.arg.out, 0u);
    EXPECT_EQ(a.canary, 0xdeadbeefu);
}

TEST_F(AccelCore, LongerUserStructIsTruncatedToWhatIsCopied)
{
    struct {
        test_arg arg;
        uint64_t extra;
    } a{{1, 0}, 123};
    unsigned long cmd = DRM_IOWR(DRM_COMMAND_BASE + 0, decltype(a));
    EXPECT_EQ(do_ioctl(*file, cmd, &a), 0);
    EXPECT_EQ(a.arg.out, 2u);
    EXPECT_EQ(a.extra, 123u); // the kernel copy of the user's extra bytes, unchanged
}

TEST_F(AccelCore, DirectionBothSidesMustAgree)
{
    // The user claims IOW for an IOWR ioctl: nothing is copied back.
    test_arg a{10, 0};
    EXPECT_EQ(do_ioctl(*file, DRM_IOW(DRM_COMMAND_BASE + 0, struct test_arg), &a), 0);
    EXPECT_EQ(a.out, 0u);
    // The user claims IOR: nothing is copied in, the handler sees zeros, the result comes back.
    a = {10, 0};
    EXPECT_EQ(do_ioctl(*file, DRM_IOR(DRM_COMMAND_BASE + 0, struct test_arg), &a), 0);
    EXPECT_EQ(g_seen.arg.in, 0u);
    EXPECT_EQ(a.out, 1u);
}

TEST_F(AccelCore, UnknownIoctlsAreEinval)
{
    test_arg a{};
    EXPECT_EQ(do_ioctl(*file, TEST_IOCTL_NOFUNC, &a), -EINVAL);
    EXPECT_EQ(do_ioctl(*file, TEST_IOCTL_PAST_END, &a), -EINVAL);
    EXPECT_EQ(do_ioctl(*file, DRM_IOWR(DRM_COMMAND_END, struct test_arg), &a), -EINVAL);
    EXPECT_EQ(do_ioctl(*file, DRM_IOCTL_GET_UNIQUE, &a), -EINVAL);
    EXPECT_EQ(g_seen.calls, 0);
}

TEST_F(AccelCore, BadArgumentPointerIsEfault)
{
    EXPECT_EQ(do_ioctl(*file, TEST_IOCTL_RW, nullptr), -EFAULT);
    EXPECT_EQ(g_seen.calls, 0);
    void *ro = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(ro, MAP_FAILED);
    // Readable but not writable: the handler runs, the copy back fails.
    EXPECT_EQ(do_ioctl(*file, TEST_IOCTL_RW, ro), -EFAULT);
    EXPECT_EQ(g_seen.calls, 1);
    munmap(ro, 4096);
}

TEST_F(AccelCore, VersionReportsDriverAndFullLengths)
{
    char name[4] = {}, desc[64] = {};
    drm_version v{};
    v.name = name;
    v.name_len = 3; // shorter than "testdrv"
    v.desc = desc;
    v.desc_len = sizeof(desc);
    EXPECT_EQ(do_ioctl(*file, DRM_IOCTL_VERSION, &v), 0);
    EXPECT_EQ(v.version_major, 3);
    EXPECT_EQ(v.version_minor, 4);
    EXPECT_EQ(v.version_patchlevel, 5);
    EXPECT_STREQ(name, "tes");
    EXPECT_EQ(v.name_len, strlen("testdrv"));
    EXPECT_STREQ(desc, "accel core test driver");
    EXPECT_EQ(v.date_len, 8u);
    EXPECT_EQ(v.date, nullptr);
}

TEST_F(AccelCore, VersionWithBadStringPointerIsEfault)
{
    drm_version v{};
    v.name = reinterpret_cast<char *>(8);
    v.name_len = 16;
    EXPECT_EQ(do_ioctl(*file, DRM_IOCTL_VERSION, &v), -EFAULT);
}

TEST_F(AccelCore, HandlesStartAtOneAndAreNotReused)
{
    auto obj = new_object(4096);
    uint32_t h1 = file->handle_create(obj).value();
    uint32_t h2 = file->handle_create(obj).value();
    EXPECT_EQ(h1, 1u);
    EXPECT_NE(h1, h2);
    EXPECT_EQ(file->handle_delete(h1).code(), 0);
    uint32_t h3 = file->handle_create(obj).value();
    EXPECT_NE(h3, h1);
    EXPECT_NE(h3, h2);
    EXPECT_EQ(file->lookup(h1).code(), -ENOENT);
    EXPECT_EQ(file->lookup(h2).value(), RefPtr<accel::GemObject>(obj));
    EXPECT_EQ(file->handle_count(), 2u);
}

TEST_F(AccelCore, GemCloseDropsTheHandleAndCallsClose)
{
    auto obj = new_object(4096);
    uint32_t h = file->handle_create(obj).value();
    drm_gem_close c{h, 0};
    EXPECT_EQ(do_ioctl(*file, DRM_IOCTL_GEM_CLOSE, &c), 0);
    EXPECT_EQ(obj->closes, 1);
    EXPECT_EQ(do_ioctl(*file, DRM_IOCTL_GEM_CLOSE, &c), -EINVAL);
    c.handle = 0;
    EXPECT_EQ(do_ioctl(*file, DRM_IOCTL_GEM_CLOSE, &c), -EINVAL);
    EXPECT_EQ(obj->refcount(), 1u); // only ours is left
}

TEST_F(AccelCore, HandlesAreFileLocal)
{
    auto obj = new_object(4096);
    uint32_t h = file->handle_create(obj).value();
    auto other = open_file();
    EXPECT_EQ(other->lookup(h).code(), -ENOENT);
    EXPECT_EQ(other->handle_delete(h).code(), -EINVAL);
}

TEST_F(AccelCore, ClosingTheFileDropsItsHandles)
{
    int live_before = live;
    {
        auto obj = new_object(4096);
        ASSERT_FALSE(file->handle_create(obj).is_error());
    }
    EXPECT_EQ(live, live_before + 1);
    file = nullptr;
    EXPECT_EQ(live, live_before);
    EXPECT_EQ(g_postcloses, 1);
}

// PRIME in the core: a dma-buf holds its object past every handle while an fd of it is open;
// the last close is seen at the device's next call, which releases it, and the object with it.
TEST_F(AccelCore, DmaBufHoldsItsObjectUntilItsLastFdCloses)
{
    int live_before = live;
    uint32_t h = new_handle();
    drm_prime_handle p{h, DRM_CLOEXEC, -1};
    ASSERT_EQ(do_ioctl(*file, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p), 0);
    int first = p.fd;
    int copy = dup(first);
    ASSERT_GE(copy, 0);
    drm_gem_close c{h, 0};
    ASSERT_EQ(do_ioctl(*file, DRM_IOCTL_GEM_CLOSE, &c), 0);
    ::close(first);
    dev->reap_dma_bufs();
    EXPECT_EQ(live, live_before + 1) << "a copy of the fd is still open";
    auto other = open_file();
    drm_prime_handle in{0, 0, copy};
    ASSERT_EQ(do_ioctl(*other, DRM_IOCTL_PRIME_FD_TO_HANDLE, &in), 0);
    EXPECT_EQ(other->lookup(in.handle).value()->size(), 4096u);
    ::close(copy);
    dev->reap_dma_bufs();
    EXPECT_EQ(live, live_before + 1) << "the importer's handle holds it";
    drm_gem_close oc{in.handle, 0};
    ASSERT_EQ(do_ioctl(*other, DRM_IOCTL_GEM_CLOSE, &oc), 0);
    EXPECT_EQ(live, live_before);
}

// A reopen of the dma-buf's file through /proc is one more open of it, counted as such.
TEST_F(AccelCore, DmaBufCountsReopensThroughProc)
{
    int live_before = live;
    uint32_t h = new_handle();
    drm_prime_handle p{h, DRM_CLOEXEC, -1};
    ASSERT_EQ(do_ioctl(*file, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p), 0);
    std::string proc = "/proc/self/fd/" + std::to_string(p.fd);
    int reopened = ::open(proc.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(reopened, 0);
    drm_gem_close c{h, 0};
    ASSERT_EQ(do_ioctl(*file, DRM_IOCTL_GEM_CLOSE, &c), 0);
    ::close(p.fd);
    dev->reap_dma_bufs();
    EXPECT_EQ(live, live_before + 1);
    ::close(reopened);
    dev->reap_dma_bufs();
    EXPECT_EQ(live, live_before);
}

// An embedded host's forked child has a private copy of the device: its calls must not read
// the parent's events (here, the close the parent made just before the fork).
TEST_F(AccelCore, ForkedChildLeavesTheParentsDmaBufEventsAlone)
{
    int live_before = live;
    uint32_t h = new_handle();
    drm_prime_handle p{h, DRM_CLOEXEC, -1};
    ASSERT_EQ(do_ioctl(*file, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p), 0);
    drm_gem_close c{h, 0};
    ASSERT_EQ(do_ioctl(*file, DRM_IOCTL_GEM_CLOSE, &c), 0);
    ::close(p.fd); // its event waits in the queue
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dev->reap_dma_bufs();
        auto obj = new_object(4096);
        uint32_t ch = file->handle_create(obj).value();
        drm_prime_handle cp{ch, DRM_CLOEXEC, -1};
        int r = do_ioctl(*file, DRM_IOCTL_PRIME_HANDLE_TO_FD, &cp);
        ::close(cp.fd);
        dev->reap_dma_bufs();
        _exit(r == 0 ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    dev->reap_dma_bufs();
    EXPECT_EQ(live, live_before);
}

// Unplug: the user's fds hold nothing any more; the object goes with the files' handles.
TEST_F(AccelCore, UnplugReleasesTheDmaBufs)
{
    int live_before = live;
    uint32_t h = new_handle();
    drm_prime_handle p{h, DRM_CLOEXEC, -1};
    ASSERT_EQ(do_ioctl(*file, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p), 0);
    file = nullptr;
    EXPECT_EQ(live, live_before + 1);
    dev->unplug();
    EXPECT_EQ(live, live_before);
    ::close(p.fd);
}

TEST_F(AccelCore, MmapOffsetsAreStableAndDistinct)
{
    auto a = new_object(8192), b = new_object(4096);
    uint64_t oa = a->mmap_offset().value(), ob = b->mmap_offset().value();
    EXPECT_EQ(a->mmap_offset().value(), oa);
    EXPECT_NE(oa, ob);
    EXPECT_EQ(oa % 4096, 0u);
    EXPECT_GE(oa, uint64_t(1) << 32);
}

TEST_F(AccelCore, MmapMapsTheObjectAndKeepsItAlive)
{
    auto obj = new_object(8192);
    uint32_t h = file->handle_create(obj).value();
    uint64_t off = obj->mmap_offset().value();
    auto p = accel::mmap(*file, nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, off);
    ASSERT_FALSE(p.is_error());
    auto *bytes = static_cast<unsigned char *>(p.value());
    bytes[8191] = 0x5a;
    // Close the handle and drop our reference: the mapping keeps the object.
    accel::GemObject *raw = obj.get();
    obj = nullptr;
    ASSERT_FALSE(file->handle_delete(h).is_error());
    EXPECT_EQ(live, 1);
    EXPECT_EQ(raw->refcount(), 1u);
    EXPECT_EQ(bytes[8191], 0x5a);
    ASSERT_FALSE(accel::munmap(p.value(), 8192).is_error());
    EXPECT_EQ(live, 0);
}

TEST_F(AccelCore, MmapKeepsTheFileAlive)
{
    auto obj = new_object(4096);
    ASSERT_FALSE(file->handle_create(obj).is_error());
    auto p = accel::mmap(*file, nullptr, 4096, PROT_READ, MAP_SHARED, obj->mmap_offset().value());
    ASSERT_FALSE(p.is_error());
    file = nullptr;
    EXPECT_EQ(g_postcloses, 0); // like vm_file, the mapping holds the file
    ASSERT_FALSE(accel::munmap(p.value(), 4096).is_error());
    EXPECT_EQ(g_postcloses, 1);
}

TEST_F(AccelCore, MmapRules)
{
    auto obj = new_object(8192);
    ASSERT_FALSE(file->handle_create(obj).is_error());
    uint64_t off = obj->mmap_offset().value();
    int rw = PROT_READ | PROT_WRITE;
    EXPECT_EQ(accel::mmap(*file, nullptr, 8193, rw, MAP_SHARED, off).code(), -EINVAL);
    EXPECT_EQ(accel::mmap(*file, nullptr, 0, rw, MAP_SHARED, off).code(), -EINVAL);
    EXPECT_EQ(accel::mmap(*file, nullptr, SIZE_MAX, rw, MAP_SHARED, off).code(), -EINVAL);
    EXPECT_EQ(accel::mmap(*file, nullptr, 4096, rw, MAP_PRIVATE, off).code(), -EINVAL);
    EXPECT_EQ(accel::mmap(*file, nullptr, 4096, rw, MAP_SHARED, off + 4096).code(), -EINVAL);
    EXPECT_EQ(accel::mmap(*file, nullptr, 4096, rw, MAP_SHARED, off + 1).code(), -EINVAL);
    EXPECT_EQ(accel::mmap(*file, nullptr, 4096, rw, MAP_SHARED, 0).code(), -EINVAL);
    // A length that rounds up to the object's size is fine.
    auto p = accel::mmap(*file, nullptr, 8000, rw, MAP_SHARED, off);
    ASSERT_FALSE(p.is_error());
    ASSERT_FALSE(accel::munmap(p.value(), 8000).is_error());
}

TEST_F(AccelCore, AnotherFilesOffsetIsNotUsable)
{
    auto obj = new_object(4096);
    uint32_t h = file->handle_create(obj).value();
    uint64_t off = obj->mmap_offset().value();
    auto other = open_file();
    EXPECT_EQ(accel::mmap(*other, nullptr, 4096, PROT_READ, MAP_SHARED, off).code(), -EACCES);
    // Once this file closes its handle, it cannot map the object either.
    ASSERT_FALSE(file->handle_delete(h).is_error());
    EXPECT_EQ(accel::mmap(*file, nullptr, 4096, PROT_READ, MAP_SHARED, off).code(), -EACCES);
}

// As munmap(2): part of a mapping may go; each remaining piece holds the object and the file.
TEST_F(AccelCore, PartialMunmapKeepsTheRestMapped)
{
    auto obj = new_object(3 * 4096);
    uint32_t h = file->handle_create(obj).value();
    auto p = accel::mmap(*file, nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
                         obj->mmap_offset().value());
    ASSERT_FALSE(p.is_error());
    auto *base = static_cast<char *>(p.value());
    base[4096] = 1;
    obj = nullptr;
    ASSERT_FALSE(file->handle_delete(h).is_error());
    file = nullptr;
    EXPECT_EQ(accel::munmap(base + 1, 4096).code(), -EINVAL);
    EXPECT_EQ(accel::munmap(base, 0).code(), -EINVAL);
    ASSERT_FALSE(accel::munmap(base + 2 * 4096, 4096).is_error()); // the tail
    ASSERT_FALSE(accel::munmap(base, 4096).is_error());            // the head
    EXPECT_EQ(live, 1);
    EXPECT_EQ(g_postcloses, 0);
    EXPECT_EQ(base[4096], 1);
    ASSERT_FALSE(accel::munmap(base, 3 * 4096).is_error()); // holes around the last piece
    EXPECT_EQ(live, 0);
    EXPECT_EQ(g_postcloses, 1);
}

// MAP_FIXED over the middle of a mapping splits it: both pieces keep the first object (and
// its file) until each is unmapped; the new mapping holds the second.
TEST_F(AccelCore, MapFixedOverPartOfAMappingSplitsIt)
{
    auto first = new_object(3 * 4096), second = new_object(4096);
    uint32_t h1 = file->handle_create(first).value(), h2 = file->handle_create(second).value();
    int rw = PROT_READ | PROT_WRITE;
    auto p = accel::mmap(*file, nullptr, 3 * 4096, rw, MAP_SHARED, first->mmap_offset().value());
    ASSERT_FALSE(p.is_error());
    auto *base = static_cast<char *>(p.value());
    std::memset(base, 0x11, 3 * 4096);
    auto q = accel::mmap(*file, base + 4096, 4096, rw, MAP_SHARED | MAP_FIXED,
                         second->mmap_offset().value());
    ASSERT_FALSE(q.is_error());
    EXPECT_EQ(q.value(), base + 4096);
    EXPECT_EQ(base[4096], 0);
    EXPECT_EQ(first->refcount(), 4u); // ours, the handle's, two pieces
    EXPECT_EQ(second->refcount(), 3u);
    first = second = nullptr;
    ASSERT_FALSE(file->handle_delete(h1).is_error());
    ASSERT_FALSE(file->handle_delete(h2).is_error());
    file = nullptr;
    EXPECT_EQ(live, 2);
    ASSERT_FALSE(accel::munmap(base, 4096).is_error());
    EXPECT_EQ(live, 2);
    EXPECT_EQ(base[2 * 4096], 0x11);
    ASSERT_FALSE(accel::munmap(base + 4096, 4096).is_error());
    EXPECT_EQ(live, 1);
    EXPECT_EQ(g_postcloses, 0);
    ASSERT_FALSE(accel::munmap(base + 2 * 4096, 4096).is_error());
    EXPECT_EQ(live, 0);
    EXPECT_EQ(g_postcloses, 1);
}

// A mapping replacing several whole mappings and the ends of two others.
TEST_F(AccelCore, MapFixedOverSeveralMappings)
{
    auto big = new_object(8 * 4096), small = new_object(4096);
    ASSERT_FALSE(file->handle_create(big).is_error());
    ASSERT_FALSE(file->handle_create(small).is_error());
    // Eight pages: [small][small][small][small] laid over a mapping of big, then big again
    // over pages 1..6.
    auto p =
        accel::mmap(*file, nullptr, 8 * 4096, PROT_READ, MAP_SHARED, big->mmap_offset().value());
    ASSERT_FALSE(p.is_error());
    auto *base = static_cast<char *>(p.value());
    for (int i = 0; i < 8; ++i)
        ASSERT_FALSE(accel::mmap(*file, base + i * 4096, 4096, PROT_READ, MAP_SHARED | MAP_FIXED,
                                 small->mmap_offset().value())
                         .is_error());
    EXPECT_EQ(big->refcount(), 2u);
    EXPECT_EQ(small->refcount(), 10u);
    ASSERT_FALSE(accel::mmap(*file, base + 4096, 6 * 4096, PROT_READ, MAP_SHARED | MAP_FIXED,
                             big->mmap_offset().value())
                     .is_error());
    EXPECT_EQ(big->refcount(), 3u);
    EXPECT_EQ(small->refcount(), 4u);
    ASSERT_FALSE(accel::munmap(base, 8 * 4096).is_error());
    EXPECT_EQ(big->refcount(), 2u);
    EXPECT_EQ(small->refcount(), 2u);
}

// A kernel range (the driver's memory in the user's address space): a user MAP_FIXED or
// munmap touching any page of it is refused with EPERM and leaves it as it was; the user's
// own pages next to it stay the user's to map over.
TEST_F(AccelCore, KernelRangesCannotBeMappedOverOrUnmapped)
{
    auto obj = new_object(2 * 4096);
    ASSERT_FALSE(file->handle_create(obj).is_error());
    uint64_t off = obj->mmap_offset().value();
    int rw = PROT_READ | PROT_WRITE, fixed = MAP_SHARED | MAP_FIXED;
    void *area = ::mmap(nullptr, 4 * 4096, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(area, MAP_FAILED);
    auto *k = static_cast<char *>(area) + 4096; // pages 1 and 2 are the kernel's
    std::memset(k, 0x6B, 2 * 4096);
    ASSERT_FALSE(kernel::claim_kernel_range(k, 2 * 4096).is_error());
    EXPECT_EQ(accel::mmap(*file, k, 4096, rw, fixed, off).code(), -EPERM);
    EXPECT_EQ(accel::mmap(*file, k - 4096, 2 * 4096, rw, fixed, off).code(), -EPERM);
    EXPECT_EQ(accel::mmap(*file, k + 4096, 2 * 4096, rw, fixed, off).code(), -EPERM);
    EXPECT_EQ(accel::munmap(k + 4096, 4096).code(), -EPERM);
    EXPECT_EQ(accel::munmap(area, 4 * 4096).code(), -EPERM);
    // Malformed arguments are EINVAL first, as mmap(2) and munmap(2) say.
    EXPECT_EQ(accel::mmap(*file, k + 1, 4096, rw, fixed, off).code(), -EINVAL);
    EXPECT_EQ(accel::munmap(k + 1, 4096).code(), -EINVAL);
    for (int i = 0; i < 2 * 4096; ++i)
        ASSERT_EQ(k[i], 0x6B) << "byte " << i;
    // Without MAP_FIXED the address is a hint, placed elsewhere.
    auto hint = accel::mmap(*file, k, 4096, rw, MAP_SHARED, off);
    ASSERT_FALSE(hint.is_error());
    EXPECT_NE(hint.value(), k);
    // The user's pages around it.
    auto before = accel::mmap(*file, k - 4096, 4096, rw, fixed, off);
    auto after = accel::mmap(*file, k + 2 * 4096, 4096, rw, fixed, off);
    ASSERT_FALSE(before.is_error());
    ASSERT_FALSE(after.is_error());
    EXPECT_EQ(before.value(), k - 4096);
    EXPECT_EQ(after.value(), k + 2 * 4096);
    EXPECT_FALSE(accel::munmap(hint.value(), 4096).is_error());
    EXPECT_FALSE(accel::munmap(before.value(), 4096).is_error());
    EXPECT_FALSE(accel::munmap(after.value(), 4096).is_error());
    kernel::release_kernel_range(k);
    EXPECT_FALSE(accel::munmap(k, 2 * 4096).is_error());
}

TEST_F(AccelCore, ObjectsWithoutMmapSupportGiveEnodev)
{
    auto obj = kernel::make_ref<accel::GemObject>(*dev, 4096);
    ASSERT_FALSE(file->handle_create(obj).is_error());
    EXPECT_EQ(accel::mmap(*file, nullptr, 4096, PROT_READ, MAP_SHARED, obj->mmap_offset().value())
                  .code(),
              -ENODEV);
    EXPECT_EQ(accel::mmap_source(*file, obj->mmap_offset().value(), 4096).code(), -ENODEV);
}

// ---------------------------------------------------------------------------- mmap_source

// What a host maps into another process: the object, held, and its fd and offset; a mapping
// of them shows the object's bytes as mmap() does.
TEST_F(AccelCore, MmapSourceIsTheObjectsFd)
{
    auto obj = new_object(2 * 4096);
    ASSERT_FALSE(file->handle_create(obj).is_error());
    uint64_t off = obj->mmap_offset().value();
    auto src = accel::mmap_source(*file, off, 2 * 4096);
    ASSERT_FALSE(src.is_error());
    EXPECT_EQ(src.value().obj.get(), obj.get());
    EXPECT_EQ(obj->refcount(), 3u); // ours, the handle's, the source's
    EXPECT_EQ(src.value().offset, 0u);
    auto p = accel::mmap(*file, nullptr, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, off);
    ASSERT_FALSE(p.is_error());
    static_cast<char *>(p.value())[4096 + 7] = 0x42;
    void *other = ::mmap(nullptr, 2 * 4096, PROT_READ, MAP_SHARED, src.value().fd,
                         off_t(src.value().offset));
    ASSERT_NE(other, MAP_FAILED);
    EXPECT_EQ(static_cast<char *>(other)[4096 + 7], 0x42);
    ::munmap(other, 2 * 4096);
    ASSERT_FALSE(accel::munmap(p.value(), 2 * 4096).is_error());
}

// The same rules as mmap() for the same arguments, with the same errnos.
TEST_F(AccelCore, MmapSourceRulesAreMmaps)
{
    auto obj = new_object(8192);
    uint32_t h = file->handle_create(obj).value();
    uint64_t off = obj->mmap_offset().value();
    EXPECT_EQ(accel::mmap_source(*file, off, 8193).code(), -EINVAL);
    EXPECT_EQ(accel::mmap_source(*file, off, 0).code(), -EINVAL);
    EXPECT_EQ(accel::mmap_source(*file, off, SIZE_MAX).code(), -EINVAL);
    EXPECT_EQ(accel::mmap_source(*file, off + 4096, 4096).code(), -EINVAL);
    EXPECT_EQ(accel::mmap_source(*file, off + 1, 4096).code(), -EINVAL);
    EXPECT_EQ(accel::mmap_source(*file, 0, 4096).code(), -EINVAL);
    EXPECT_FALSE(accel::mmap_source(*file, off, 8000).is_error()); // rounds up to the size
    auto other = open_file();
    EXPECT_EQ(accel::mmap_source(*other, off, 4096).code(), -EACCES);
    ASSERT_FALSE(file->handle_delete(h).is_error());
    EXPECT_EQ(accel::mmap_source(*file, off, 4096).code(), -EACCES);
    ASSERT_FALSE(file->handle_create(obj).is_error());
    dev->unplug();
    EXPECT_EQ(accel::mmap_source(*file, off, 4096).code(), -ENODEV);
    EXPECT_EQ(accel::mmap(*file, nullptr, 4096, PROT_READ, MAP_SHARED, off).code(), -ENODEV);
}

} // namespace
