// SPDX-License-Identifier: GPL-2.0-only
// copy_from_user / copy_to_user and their array forms: round trips, every kind of bad address
// giving -EFAULT (null, unmapped, PROT_NONE, read-only, partly mapped, wrapping, above the user
// limit), overflow checks, and whose address space is used (current_mm, ScopedUserMm, UserMm
// of another or a dead process).
#include "kernel/uaccess.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using kernel::copy_array_from_user;
using kernel::copy_array_to_user;
using kernel::copy_from_user;
using kernel::copy_to_user;
using kernel::current_mm;
using kernel::memdup_array_user;
using kernel::ScopedUserMm;
using kernel::UserMm;
using kernel::UserPtr;

template <typename T> UserPtr<T> uptr(T *p)
{
    return UserPtr<T>(reinterpret_cast<uintptr_t>(p));
}

UserPtr<const void> usrc(const void *p)
{
    return UserPtr<const void>(reinterpret_cast<uintptr_t>(p));
}

UserPtr<void> udst(void *p)
{
    return UserPtr<void>(reinterpret_cast<uintptr_t>(p));
}

// Same as the limit in uaccess.cc: the first address above user space on x86-64.
constexpr uint64_t kUserAddrLimit = 0x00007ffffffff000ULL;

const size_t kPage = size_t(sysconf(_SC_PAGESIZE));

// Anonymous pages whose protection a test changes page by page.
class Mapping {
public:
    explicit Mapping(size_t pages) : len_(pages * kPage)
    {
        void *p = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            throw std::runtime_error("mmap failed");
        base_ = static_cast<char *>(p);
    }
    ~Mapping() { munmap(base_, len_); }
    Mapping(const Mapping &) = delete;
    Mapping &operator=(const Mapping &) = delete;

    char *page(size_t i) const { return base_ + i * kPage; }
    void protect(size_t i, int prot) const { ASSERT_EQ(mprotect(page(i), kPage, prot), 0); }
    void unmap(size_t i) const { ASSERT_EQ(munmap(page(i), kPage), 0); }

private:
    char *base_;
    size_t len_;
};

bool all_bytes(const void *p, size_t len, unsigned char v)
{
    auto *b = static_cast<const unsigned char *>(p);
    return std::all_of(b, b + len, [v](unsigned char c) { return c == v; });
}

struct Sample {
    uint64_t a;
    uint32_t b;
    uint16_t c;
    uint8_t d[6];
};

// Every copy test runs through both ways into user memory: the fault-fixup copy used for this
// process (UserMm(0)) and process_vm_readv/writev (UserMm(getpid()), as for another process).
enum class Way { FaultFixup, ProcessVm };

class Uaccess : public ::testing::TestWithParam<Way> {
protected:
    Uaccess() : mm_(GetParam() == Way::FaultFixup ? 0 : getpid()), scope_(mm_) {}
    const UserMm &mm() const { return mm_; }

private:
    UserMm mm_;
    ScopedUserMm scope_;
};
class UaccessArray : public Uaccess {};

std::string way_name(const ::testing::TestParamInfo<Way> &info)
{
    return info.param == Way::FaultFixup ? "FaultFixup" : "ProcessVm";
}
INSTANTIATE_TEST_SUITE_P(Ways, Uaccess, ::testing::Values(Way::FaultFixup, Way::ProcessVm),
                         way_name);
INSTANTIATE_TEST_SUITE_P(Ways, UaccessArray, ::testing::Values(Way::FaultFixup, Way::ProcessVm),
                         way_name);

// ----------------------------------------------------------------------------- UserPtr

TEST(UserPtr, AddressArithmetic)
{
    UserPtr<int> null;
    EXPECT_TRUE(null.is_null());
    EXPECT_EQ(null.addr(), 0u);
    UserPtr<int> p(0x1000);
    EXPECT_FALSE(p.is_null());
    EXPECT_EQ(p.byte_offset(0x10).addr(), 0x1010u);
    EXPECT_EQ(p.cast<char>().addr(), 0x1000u);
    // Wrapping is allowed here; the copy is what rejects it.
    EXPECT_EQ(UserPtr<char>(UINT64_MAX - 3).byte_offset(8).addr(), 4u);
}

// ----------------------------------------------------------------------------- round trips

TEST_P(Uaccess, CopyFromUserBytes)
{
    char src[64];
    for (size_t i = 0; i < sizeof(src); ++i)
        src[i] = char(i * 7);
    char dst[64] = {};
    ASSERT_EQ(copy_from_user(dst, usrc(src), sizeof(src)).code(), 0);
    EXPECT_EQ(std::memcmp(dst, src, sizeof(src)), 0);
}

TEST_P(Uaccess, CopyToUserBytes)
{
    char src[64];
    for (size_t i = 0; i < sizeof(src); ++i)
        src[i] = char(255 - i);
    char dst[64] = {};
    ASSERT_EQ(copy_to_user(udst(dst), src, sizeof(src)).code(), 0);
    EXPECT_EQ(std::memcmp(dst, src, sizeof(src)), 0);
}

TEST_P(Uaccess, TypedRoundTrip)
{
    Sample user{0x1122334455667788ULL, 0xdeadbeef, 0xcafe, {1, 2, 3, 4, 5, 6}};
    Sample kern{};
    ASSERT_EQ(copy_from_user(&kern, uptr(&user)).code(), 0);
    EXPECT_EQ(std::memcmp(&kern, &user, sizeof(user)), 0);

    kern.a = 1;
    kern.d[5] = 99;
    Sample back{};
    ASSERT_EQ(copy_to_user(uptr(&back), &kern).code(), 0);
    EXPECT_EQ(back.a, 1u);
    EXPECT_EQ(back.b, 0xdeadbeefu);
    EXPECT_EQ(back.d[5], 99);
}

TEST_P(Uaccess, CopyAcrossManyPages)
{
    Mapping m(16);
    for (size_t i = 0; i < 16 * kPage; ++i)
        m.page(0)[i] = char(i ^ (i >> 8));
    std::vector<char> kern(16 * kPage - 100);
    ASSERT_EQ(copy_from_user(kern.data(), usrc(m.page(0) + 50), kern.size()).code(), 0);
    EXPECT_EQ(std::memcmp(kern.data(), m.page(0) + 50, kern.size()), 0);

    std::vector<char> out(kern.size(), 0x5a);
    ASSERT_EQ(copy_to_user(udst(m.page(0) + 50), out.data(), out.size()).code(), 0);
    EXPECT_TRUE(all_bytes(m.page(0) + 50, out.size(), 0x5a));
}

// ----------------------------------------------------------------------------- bad addresses

TEST_P(Uaccess, NullIsEfault)
{
    char dst[16];
    std::memset(dst, 0xaa, sizeof(dst));
    EXPECT_EQ(copy_from_user(dst, UserPtr<const void>(), sizeof(dst)).code(), -EFAULT);
    EXPECT_TRUE(all_bytes(dst, sizeof(dst), 0));
    EXPECT_EQ(copy_to_user(UserPtr<void>(), dst, sizeof(dst)).code(), -EFAULT);

    Sample s{};
    EXPECT_EQ(copy_from_user(&s, UserPtr<Sample>()).code(), -EFAULT);
    EXPECT_EQ(copy_to_user(UserPtr<Sample>(), &s).code(), -EFAULT);
}

TEST_P(Uaccess, LowAddressesAreEfault)
{
    char dst[8];
    EXPECT_EQ(copy_from_user(dst, UserPtr<const void>(1), sizeof(dst)).code(), -EFAULT);
    EXPECT_EQ(copy_from_user(dst, UserPtr<const void>(0x1000), sizeof(dst)).code(), -EFAULT);
    EXPECT_EQ(copy_to_user(UserPtr<void>(0x1000), dst, sizeof(dst)).code(), -EFAULT);
}

TEST_P(Uaccess, ProtNonePageIsEfault)
{
    Mapping m(1);
    std::memset(m.page(0), 0x11, kPage);
    m.protect(0, PROT_NONE);
    char buf[32];
    std::memset(buf, 0xaa, sizeof(buf));
    EXPECT_EQ(copy_from_user(buf, usrc(m.page(0)), sizeof(buf)).code(), -EFAULT);
    EXPECT_TRUE(all_bytes(buf, sizeof(buf), 0));
    EXPECT_EQ(copy_to_user(udst(m.page(0)), buf, sizeof(buf)).code(), -EFAULT);
    m.protect(0, PROT_READ);
    EXPECT_TRUE(all_bytes(m.page(0), kPage, 0x11)); // the failed write changed nothing
}

TEST_P(Uaccess, UnmappedPageIsEfault)
{
    Mapping m(3);
    m.unmap(1);
    char buf[32];
    std::memset(buf, 0xaa, sizeof(buf));
    EXPECT_EQ(copy_from_user(buf, usrc(m.page(1) + 100), sizeof(buf)).code(), -EFAULT);
    EXPECT_TRUE(all_bytes(buf, sizeof(buf), 0));
    EXPECT_EQ(copy_to_user(udst(m.page(1) + 100), buf, sizeof(buf)).code(), -EFAULT);
    // The pages around the hole still work.
    EXPECT_EQ(copy_to_user(udst(m.page(2)), buf, sizeof(buf)).code(), 0);
    EXPECT_EQ(copy_from_user(buf, usrc(m.page(0)), sizeof(buf)).code(), 0);
}

TEST_P(Uaccess, ReadRunningIntoUnmappedPageIsEfaultAndZeroFills)
{
    Mapping m(2);
    std::memset(m.page(0), 0x33, kPage);
    m.unmap(1);
    // 16 readable bytes, then the hole: the readable part must not be left in dst either.
    char buf[48];
    std::memset(buf, 0xaa, sizeof(buf));
    EXPECT_EQ(copy_from_user(buf, usrc(m.page(1) - 16), sizeof(buf)).code(), -EFAULT);
    EXPECT_TRUE(all_bytes(buf, sizeof(buf), 0));
    // The readable part on its own is fine.
    EXPECT_EQ(copy_from_user(buf, usrc(m.page(1) - 16), 16).code(), 0);
    EXPECT_TRUE(all_bytes(buf, 16, 0x33));
}

TEST_P(Uaccess, ReadRunningIntoProtNonePageIsEfaultAndZeroFills)
{
    Mapping m(2);
    std::memset(m.page(0), 0x44, 2 * kPage);
    m.protect(1, PROT_NONE);
    std::vector<char> buf(kPage + 1, char(0xaa));
    EXPECT_EQ(copy_from_user(buf.data(), usrc(m.page(0)), buf.size()).code(), -EFAULT);
    EXPECT_TRUE(all_bytes(buf.data(), buf.size(), 0));
}

TEST_P(Uaccess, WriteRunningIntoUnmappedPageIsEfault)
{
    Mapping m(2);
    m.unmap(1);
    char buf[48];
    std::memset(buf, 0x55, sizeof(buf));
    EXPECT_EQ(copy_to_user(udst(m.page(1) - 16), buf, sizeof(buf)).code(), -EFAULT);
}

TEST_P(Uaccess, ReadOnlyPage)
{
    Mapping m(1);
    std::memset(m.page(0), 0x66, kPage);
    m.protect(0, PROT_READ);
    char buf[32];
    std::memset(buf, 0x77, sizeof(buf));
    EXPECT_EQ(copy_to_user(udst(m.page(0) + 8), buf, sizeof(buf)).code(), -EFAULT);
    EXPECT_TRUE(all_bytes(m.page(0), kPage, 0x66));
    // Reading it is allowed.
    ASSERT_EQ(copy_from_user(buf, usrc(m.page(0) + 8), sizeof(buf)).code(), 0);
    EXPECT_TRUE(all_bytes(buf, sizeof(buf), 0x66));
}

TEST_P(Uaccess, WriteRunningIntoReadOnlyPageIsEfault)
{
    Mapping m(2);
    std::memset(m.page(0), 0, 2 * kPage);
    m.protect(1, PROT_READ);
    char buf[64];
    std::memset(buf, 0x77, sizeof(buf));
    EXPECT_EQ(copy_to_user(udst(m.page(1) - 32), buf, sizeof(buf)).code(), -EFAULT);
    EXPECT_TRUE(all_bytes(m.page(1), kPage, 0));
}

TEST_P(Uaccess, WrappingRangeIsEfault)
{
    char buf[32];
    std::memset(buf, 0xaa, sizeof(buf));
    EXPECT_EQ(copy_from_user(buf, UserPtr<const void>(UINT64_MAX - 15), sizeof(buf)).code(),
              -EFAULT);
    EXPECT_TRUE(all_bytes(buf, sizeof(buf), 0));
    EXPECT_EQ(copy_to_user(UserPtr<void>(UINT64_MAX - 15), buf, sizeof(buf)).code(), -EFAULT);
    EXPECT_EQ(copy_to_user(UserPtr<void>(UINT64_MAX), buf, 1).code(), -EFAULT);

    // A valid start whose end wraps around to a small address: rejected before anything is
    // read from the (much shorter) kernel buffer.
    Mapping m(1);
    uint64_t start = reinterpret_cast<uintptr_t>(m.page(0));
    size_t wrapping_len = size_t(0 - start) + 16;
    EXPECT_EQ(copy_to_user(udst(m.page(0)), buf, wrapping_len).code(), -EFAULT);
}

TEST_P(Uaccess, AboveUserLimitIsEfault)
{
    char buf[16];
    const uint64_t addrs[] = {kUserAddrLimit, kUserAddrLimit + 0x1000, 0x0000800000000000ULL,
                              0xffff800000000000ULL, 0xffffffffff600000ULL /* x86-64 vsyscall */};
    for (uint64_t addr : addrs) {
        std::memset(buf, 0xaa, sizeof(buf));
        EXPECT_EQ(copy_from_user(buf, UserPtr<const void>(addr), 8).code(), -EFAULT) << addr;
        EXPECT_TRUE(all_bytes(buf, 8, 0)) << addr;
        EXPECT_EQ(copy_to_user(UserPtr<void>(addr), buf, 8).code(), -EFAULT) << addr;
    }
}

TEST_P(Uaccess, LastUserPageIsReachable)
{
    // The page just below the limit is user memory; a range crossing the limit is not.
    void *want = reinterpret_cast<void *>(kUserAddrLimit - kPage);
    void *p = mmap(want, kPage, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || p != want) {
        if (p != MAP_FAILED)
            munmap(p, kPage);
        GTEST_SKIP() << "cannot map the last user page here";
    }
    std::memset(p, 0x12, kPage);
    char buf[16];
    EXPECT_EQ(copy_from_user(buf, UserPtr<const void>(kUserAddrLimit - 16), 16).code(), 0);
    EXPECT_TRUE(all_bytes(buf, 16, 0x12));
    EXPECT_EQ(copy_to_user(UserPtr<void>(kUserAddrLimit - 16), buf, 16).code(), 0);
    EXPECT_EQ(copy_from_user(buf, UserPtr<const void>(kUserAddrLimit - 8), 16).code(), -EFAULT);
    EXPECT_EQ(copy_to_user(UserPtr<void>(kUserAddrLimit - 8), buf, 16).code(), -EFAULT);
    munmap(p, kPage);
}

TEST_P(Uaccess, ZeroLengthIsOkEvenForBadPointers)
{
    char buf[4] = {1, 2, 3, 4};
    const uint64_t addrs[] = {0, 1, kUserAddrLimit, UINT64_MAX};
    for (uint64_t addr : addrs) {
        EXPECT_EQ(copy_from_user(buf, UserPtr<const void>(addr), 0).code(), 0) << addr;
        EXPECT_EQ(copy_to_user(UserPtr<void>(addr), buf, 0).code(), 0) << addr;
    }
    EXPECT_EQ(buf[0], 1); // nothing was zero-filled either
    EXPECT_EQ(buf[3], 4);
    Mapping m(1);
    m.protect(0, PROT_NONE);
    EXPECT_EQ(copy_from_user(buf, usrc(m.page(0)), 0).code(), 0);
    EXPECT_EQ(copy_to_user(udst(m.page(0)), buf, 0).code(), 0);
}

TEST_P(Uaccess, PastEndOfFileIsEfault)
{
    // A shared file mapping whose file was truncated under it: the kernel raises SIGBUS.
    int fd = memfd_create("uaccess-test", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, off_t(2 * kPage)), 0);
    void *p = mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(p, MAP_FAILED);
    char *base = static_cast<char *>(p);
    std::memset(base, 0x21, 2 * kPage);
    ASSERT_EQ(ftruncate(fd, off_t(kPage)), 0);
    char buf[32];
    std::memset(buf, 0xaa, sizeof(buf));
    EXPECT_EQ(copy_from_user(buf, usrc(base + kPage), sizeof(buf)).code(), -EFAULT);
    EXPECT_TRUE(all_bytes(buf, sizeof(buf), 0));
    EXPECT_EQ(copy_to_user(udst(base + kPage), buf, sizeof(buf)).code(), -EFAULT);
    EXPECT_EQ(copy_from_user(buf, usrc(base + kPage - 16), sizeof(buf)).code(), -EFAULT);
    EXPECT_EQ(copy_from_user(buf, usrc(base + kPage - 16), 16).code(), 0); // before EOF
    EXPECT_TRUE(all_bytes(buf, 16, 0x21));
    munmap(p, 2 * kPage);
    close(fd);
}

TEST_P(Uaccess, FaultLeavesTheSignalMaskAsItWas)
{
    // A fault handled inside a copy must not leave signals blocked (a later SIGSEGV or SIGBUS
    // would then kill the process) nor unblock what the caller blocked.
    sigset_t block, before, after;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &before), 0);
    ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
    char buf[8];
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(copy_from_user(buf, UserPtr<const void>(8), sizeof(buf)).code(), -EFAULT);
        ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
        for (int sig = 1; sig < SIGRTMIN; ++sig)
            EXPECT_EQ(sigismember(&after, sig), sigismember(&before, sig)) << "signal " << sig;
    }
    ASSERT_EQ(pthread_sigmask(SIG_UNBLOCK, &block, nullptr), 0);
}

TEST_P(Uaccess, FaultsOnManyThreadsAtOnce)
{
    // Faulting copies on some threads never disturb good copies on others (or their own next).
    Mapping m(2);
    std::memset(m.page(0), 0x5c, kPage);
    m.protect(1, PROT_NONE);
    constexpr int kThreads = 4, kRounds = 2000;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            ScopedUserMm scope(mm()); // the address space is per thread
            char buf[64];
            for (int i = 0; i < kRounds; ++i) {
                bool bad = (i + t) % 3 == 0;
                const char *src = bad ? m.page(1) - 8 : m.page(0) + 64;
                int rc = copy_from_user(buf, usrc(src), sizeof(buf)).code();
                if (rc != (bad ? -EFAULT : 0) || !all_bytes(buf, sizeof(buf), bad ? 0 : 0x5c))
                    ++wrong;
            }
        });
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(wrong.load(), 0);
}

using UaccessDeathTest = Uaccess;
INSTANTIATE_TEST_SUITE_P(Ways, UaccessDeathTest, ::testing::Values(Way::FaultFixup), way_name);

TEST_P(UaccessDeathTest, FaultsOutsideCopiesAreNotSwallowed)
{
    // The fixup handlers are installed by the first copy; a crash elsewhere must still crash
    // (default action, or the sanitizer's report), not loop or be turned into a return.
    auto crashed = [](int status) {
        return WIFSIGNALED(status) ? WTERMSIG(status) == SIGSEGV : WEXITSTATUS(status) != 0;
    };
    EXPECT_EXIT(
        {
            alarm(20); // a swallowed fault would spin on the faulting instruction
            char buf[8];
            (void)copy_from_user(buf, UserPtr<const void>(8), sizeof(buf));
            volatile uintptr_t bad = 8; // opaque to the compiler
            *reinterpret_cast<volatile int *>(bad) = 1;
            std::exit(0);
        },
        crashed, "");
}

TEST_P(UaccessDeathTest, KernelSideFaultsAreNotTurnedIntoEfault)
{
    // Only faults on the user side of a copy are the user's; a bad kernel buffer is a driver
    // bug and must crash (or be reported by the sanitizer), not fail with EFAULT.
    auto crashed = [](int status) {
        return WIFSIGNALED(status) ? WTERMSIG(status) == SIGSEGV : WEXITSTATUS(status) != 0;
    };
    char user[8] = {};
    EXPECT_EXIT(
        {
            alarm(20);
            volatile uintptr_t bad = 8;
            (void)copy_to_user(udst(user), reinterpret_cast<const void *>(bad), sizeof(user));
            std::exit(0);
        },
        crashed, "");
}

// A userfaultfd that only user-mode faults reach; -1 where the system offers none.
int user_mode_uffd()
{
    int fd = int(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
    uffdio_api api{};
    api.api = UFFD_API;
    if (fd >= 0 && ioctl(fd, UFFDIO_API, &api) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

const volatile char *g_touch; // what the SIGUSR1 handler below reads

void touch_handler(int)
{
    (void)*g_touch;
}

// The death test's child: returns (exit 0) only if the handler's fault was swallowed.
[[noreturn]] void handler_faults_inside_a_copy()
{
    alarm(20);
    Mapping m(2);
    m.protect(1, PROT_NONE);
    int uffd = user_mode_uffd();
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uintptr_t>(m.page(0));
    reg.range.len = kPage;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (uffd < 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
        std::exit(0);
    g_touch = m.page(1);
    struct sigaction sa {};
    sa.sa_handler = touch_handler;
    sigaction(SIGUSR1, &sa, nullptr);
    std::vector<char> buf(2 * kPage);
    std::thread copier([&] { (void)copy_from_user(buf.data(), usrc(m.page(0)), buf.size()); });
    uffd_msg msg;
    if (read(uffd, &msg, sizeof(msg)) == ssize_t(sizeof(msg))) // the copier is in the fault
        pthread_kill(copier.native_handle(), SIGUSR1);
    copier.join();
    std::exit(0);
}

TEST_P(UaccessDeathTest, FaultsOfAHandlerThatInterruptedACopyAreNotSwallowed)
{
    // Only the copy instruction's own faults are the copy's. A signal handler that runs while
    // a copy is in progress and faults at its own instruction, even on an address of the
    // copy's user range, has a bug: it must crash, not be jumped out of with the copy
    // failing EFAULT. The copy is held on its instruction by a userfaultfd page that is never
    // filled; the handler reads the PROT_NONE page after it, in the same user range.
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "TSan defers asynchronous signals: no handler runs inside the copy";
#endif
    int probe = user_mode_uffd();
    if (probe < 0)
        GTEST_SKIP() << "no userfaultfd: " << std::strerror(errno);
    close(probe);
    auto crashed = [](int status) {
        return WIFSIGNALED(status) ? WTERMSIG(status) == SIGSEGV : WEXITSTATUS(status) != 0;
    };
    EXPECT_EXIT(handler_faults_inside_a_copy(), crashed, "");
}

// ----------------------------------------------------------------------------- arrays

TEST_P(UaccessArray, RoundTrip)
{
    std::vector<uint32_t> user(1000);
    for (size_t i = 0; i < user.size(); ++i)
        user[i] = uint32_t(i * 2654435761u);
    std::vector<uint32_t> kern(user.size());
    ASSERT_EQ(copy_array_from_user(kern.data(), uptr(user.data()), user.size()).code(), 0);
    EXPECT_EQ(kern, user);

    for (auto &v : kern)
        v = ~v;
    std::vector<uint32_t> back(user.size());
    ASSERT_EQ(copy_array_to_user(uptr(back.data()), kern.data(), kern.size()).code(), 0);
    EXPECT_EQ(back, kern);
}

TEST_P(UaccessArray, ZeroCountIsOkEvenForBadPointers)
{
    uint64_t v = 7;
    EXPECT_EQ(copy_array_from_user(&v, UserPtr<uint64_t>(), 0).code(), 0);
    EXPECT_EQ(copy_array_to_user(UserPtr<uint64_t>(UINT64_MAX), &v, 0).code(), 0);
    EXPECT_EQ(v, 7u);
}

TEST_P(UaccessArray, BadPointerIsEfault)
{
    uint64_t v[4] = {1, 2, 3, 4};
    EXPECT_EQ(copy_array_from_user(v, UserPtr<uint64_t>(), 4).code(), -EFAULT);
    EXPECT_TRUE(all_bytes(v, sizeof(v), 0));
    EXPECT_EQ(copy_array_to_user(UserPtr<uint64_t>(), v, 4).code(), -EFAULT);
}

TEST_P(UaccessArray, MultiplicationOverflowIsEoverflow)
{
    uint64_t v[2] = {5, 6};
    std::vector<uint64_t> user(2);
    // n * 8 wraps to 0 and to 8: neither may turn into a short or empty copy.
    const size_t counts[] = {SIZE_MAX / 8 + 1, SIZE_MAX / 8 + 2, SIZE_MAX};
    for (size_t n : counts) {
        EXPECT_EQ(copy_array_from_user(v, uptr(user.data()), n).code(), -EOVERFLOW) << n;
        EXPECT_EQ(copy_array_to_user(uptr(user.data()), v, n).code(), -EOVERFLOW) << n;
        EXPECT_EQ(copy_array_from_user(v, UserPtr<uint64_t>(), n).code(), -EOVERFLOW) << n;
    }
    EXPECT_EQ(v[0], 5u); // the kernel buffer was not touched
    EXPECT_EQ(v[1], 6u);

    struct Big {
        char bytes[3];
    };
    Big b[1];
    EXPECT_EQ(copy_array_from_user(b, UserPtr<Big>(0x1000), SIZE_MAX / 3 + 1).code(), -EOVERFLOW);
}

TEST_P(UaccessArray, MemdupCopies)
{
    std::vector<uint16_t> user(300);
    for (size_t i = 0; i < user.size(); ++i)
        user[i] = uint16_t(i * 3);
    auto r = memdup_array_user(uptr(user.data()), user.size());
    ASSERT_FALSE(r.is_error()) << r.code();
    EXPECT_EQ(r.value(), user);
}

TEST_P(UaccessArray, MemdupBigBuffer)
{
    constexpr size_t kBytes = 8u << 20;
    Mapping m(kBytes / kPage);
    auto *words = reinterpret_cast<uint64_t *>(m.page(0));
    for (size_t i = 0; i < kBytes / 8; ++i)
        words[i] = i * 0x9e3779b97f4a7c15ULL;
    auto r = memdup_array_user(uptr(words), kBytes / 8);
    ASSERT_FALSE(r.is_error()) << r.code();
    ASSERT_EQ(r.value().size(), kBytes / 8);
    EXPECT_EQ(std::memcmp(r.value().data(), words, kBytes), 0);
}

TEST_P(UaccessArray, MemdupZeroCount)
{
    auto r = memdup_array_user(UserPtr<uint32_t>(), 0);
    ASSERT_FALSE(r.is_error()) << r.code();
    EXPECT_TRUE(r.value().empty());
}

TEST_P(UaccessArray, MemdupErrors)
{
    EXPECT_EQ(memdup_array_user(UserPtr<uint32_t>(), 4).code(), -EFAULT);
    EXPECT_EQ(memdup_array_user(UserPtr<uint64_t>(0x1000), SIZE_MAX / 8 + 1).code(), -EOVERFLOW);
    EXPECT_EQ(memdup_array_user(UserPtr<uint64_t>(), SIZE_MAX).code(), -EOVERFLOW);
    // Representable in bytes but more than a vector can hold: refused before any allocation.
    EXPECT_EQ(memdup_array_user(UserPtr<uint32_t>(0x1000), SIZE_MAX / 4).code(), -ENOMEM);

    Mapping m(2);
    m.protect(1, PROT_NONE);
    EXPECT_EQ(memdup_array_user(uptr(m.page(0)), kPage + 1).code(), -EFAULT);
}

// ----------------------------------------------------------------------------- address spaces

TEST(UserMm, SelfIsThisProcess)
{
    EXPECT_EQ(UserMm::self().pid(), getpid());
    EXPECT_EQ(UserMm(0).pid(), getpid());
    EXPECT_EQ(UserMm(getpid()).pid(), getpid());
    EXPECT_EQ(&current_mm(), &UserMm::self());

    // Naming this process by its pid works like self().
    UserMm mine(getpid());
    uint64_t v = 0x0102030405060708ULL, out = 0;
    ASSERT_EQ(mine.read(&out, reinterpret_cast<uintptr_t>(&v), sizeof(v)).code(), 0);
    EXPECT_EQ(out, v);
    uint64_t in = 42;
    ASSERT_EQ(mine.write(reinterpret_cast<uintptr_t>(&out), &in, sizeof(in)).code(), 0);
    EXPECT_EQ(out, 42u);
}

TEST(UserMm, ScopedUserMmSwitchesAndRestores)
{
    UserMm outer(getpid());
    UserMm inner(getpid());
    ASSERT_EQ(&current_mm(), &UserMm::self());
    {
        ScopedUserMm a(outer);
        EXPECT_EQ(&current_mm(), &outer);
        {
            ScopedUserMm b(inner);
            EXPECT_EQ(&current_mm(), &inner);
        }
        EXPECT_EQ(&current_mm(), &outer);
    }
    EXPECT_EQ(&current_mm(), &UserMm::self());
}

TEST(UserMm, ScopedUserMmIsPerThread)
{
    UserMm other(getpid());
    ScopedUserMm scope(other);
    const UserMm *seen = nullptr;
    std::thread t([&] { seen = &current_mm(); });
    t.join();
    EXPECT_EQ(seen, &UserMm::self());
    EXPECT_EQ(&current_mm(), &other);
}

// A pid that existed and is gone: a child that exited and was reaped.
pid_t reaped_pid()
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return pid;
}

TEST(UserMm, DeadProcessIsEfault)
{
    pid_t dead = reaped_pid();
    ASSERT_GT(dead, 0);
    UserMm mm(dead);
    EXPECT_EQ(mm.pid(), dead);
    uint64_t v = 1, out;
    std::memset(&out, 0xaa, sizeof(out));
    EXPECT_EQ(mm.read(&out, reinterpret_cast<uintptr_t>(&v), sizeof(v)).code(), -EFAULT);
    EXPECT_EQ(out, 0u);
    EXPECT_EQ(mm.write(reinterpret_cast<uintptr_t>(&out), &v, sizeof(v)).code(), -EFAULT);
    EXPECT_EQ(out, 0u);

    // Through current_mm(), as the driver sees it.
    {
        ScopedUserMm scope(mm);
        Sample s{};
        Sample user{1, 2, 3, {}};
        EXPECT_EQ(copy_from_user(&s, uptr(&user)).code(), -EFAULT);
        EXPECT_EQ(copy_to_user(uptr(&user), &s).code(), -EFAULT);
        EXPECT_EQ(memdup_array_user(uptr(&v), 1).code(), -EFAULT);
    }
    // Back to this process.
    EXPECT_EQ(copy_from_user(&out, uptr(&v)).code(), 0);
    EXPECT_EQ(out, 1u);
}

// Written by a forked child only; its address is the same in parent and child.
char g_child_buf[64];

TEST(UserMm, OtherProcess)
{
    int to_child[2], to_parent[2];
    ASSERT_EQ(pipe(to_child), 0);
    ASSERT_EQ(pipe(to_parent), 0);
    std::memset(g_child_buf, 'p', sizeof(g_child_buf));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // Child: change its copy, tell the parent, wait, then check what the parent wrote.
        std::memset(g_child_buf, 'c', sizeof(g_child_buf));
        char x = 0;
        if (write(to_parent[1], &x, 1) != 1 || read(to_child[0], &x, 1) != 1)
            _exit(2);
        _exit(g_child_buf[0] == 'w' && g_child_buf[63] == 'w' ? 0 : 1);
    }
    close(to_child[0]);
    close(to_parent[1]);
    char x;
    ASSERT_EQ(read(to_parent[0], &x, 1), 1);

    // process_vm_readv on a child may be refused by a ptrace policy; that is not ours to test.
    char probe;
    iovec l{&probe, 1}, r{g_child_buf, 1};
    bool allowed = process_vm_readv(pid, &l, 1, &r, 1, 0) == 1;
    int probe_errno = errno;

    UserMm child(pid);
    char buf[64];
    auto got = child.read(buf, reinterpret_cast<uintptr_t>(g_child_buf), sizeof(buf));
    char w[64];
    std::memset(w, 'w', sizeof(w));
    auto put = child.write(reinterpret_cast<uintptr_t>(g_child_buf), w, sizeof(w));
    ASSERT_EQ(write(to_child[1], &x, 1), 1);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    close(to_child[1]);
    close(to_parent[0]);
    if (!allowed)
        GTEST_SKIP() << "process_vm_readv on a child is not permitted here: "
                     << strerror(probe_errno);

    ASSERT_EQ(got.code(), 0);
    EXPECT_TRUE(all_bytes(buf, sizeof(buf), 'c')); // the child's memory, not ours
    EXPECT_TRUE(all_bytes(g_child_buf, sizeof(g_child_buf), 'p'));
    EXPECT_EQ(put.code(), 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the child did not see the parent's write";
}

TEST(UserMm, ForkedChildUsesItsOwnMemory)
{
    // self() names "this process" per call, so after fork the child copies from itself.
    std::memset(g_child_buf, 'p', sizeof(g_child_buf));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::memset(g_child_buf, 'c', sizeof(g_child_buf));
        char out[64];
        if (UserMm::self().pid() != getpid())
            _exit(1);
        if (copy_from_user(out, usrc(g_child_buf), sizeof(out)).is_error())
            _exit(2);
        _exit(out[0] == 'c' && out[63] == 'c' ? 0 : 3);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

} // namespace
