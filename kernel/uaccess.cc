// SPDX-License-Identifier: GPL-2.0-only
// Two ways into a user's memory:
//  - this process (UserMm::self(), the embedded backend): a fault-fixup copy, the user-space
//    form of the kernel's exception tables. A SIGSEGV/SIGBUS raised by the copy instruction
//    itself jumps back to the copy's caller, which answers -EFAULT. About 100 times cheaper
//    than a process_vm_readv call, and user copies sit on every ioctl's hot path.
//  - another process (a daemon host, or an explicit pid): process_vm_readv/writev.
#include "kernel/uaccess.h"
#include "kernel/printk.h"

#include <atomic>
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <ucontext.h>
#include <stdexcept>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

namespace kernel {
namespace {

thread_local const UserMm *current_user_mm = nullptr;

// Highest user address on x86-64 (TASK_SIZE) and the like: nothing above it is user memory.
constexpr uint64_t kUserAddrLimit = 0x00007ffffffff000ULL;

bool range_ok(uint64_t addr, size_t len)
{
    uint64_t end;
    return !__builtin_add_overflow(addr, uint64_t(len), &end) && end <= kUserAddrLimit;
}

// Moves len bytes between this process (local) and the user's (remote). Partial transfers
// continue where they stopped; one that makes no progress is a fault.
ErrorOr<void> transfer(pid_t pid, void *local, uint64_t remote, size_t len, bool write)
{
    size_t done = 0;
    while (done < len) {
        iovec l{static_cast<char *>(local) + done, len - done};
        iovec r{reinterpret_cast<void *>(remote + done), len - done};
        ssize_t n = write ? process_vm_writev(pid, &l, 1, &r, 1, 0)
                          : process_vm_readv(pid, &l, 1, &r, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ENOMEM)
            return Error(-ENOMEM);
        if (n <= 0)
            return Error(-EFAULT); // EFAULT, ESRCH (the process is gone), EPERM
        done += size_t(n);
    }
    return {};
}

// ---- the fault-fixup copy

// The user range whose faults the running copy answers (and, without the assembly copy,
// where such a fault returns to). A copy made by a signal handler that interrupted another
// copy nests. Initial-exec TLS: the signal handler must not call into the dynamic TLS
// allocator (libqaic.so then needs a pointer's worth of static TLS).
struct Fixup {
#if !defined(__x86_64__)
    sigjmp_buf env;
#endif
    uintptr_t user_start, user_end;
    Fixup *outer;
};
__attribute__((tls_model("initial-exec"))) thread_local Fixup *active_fixup = nullptr;

struct sigaction saved_segv, saved_bus;

// The copy: the one instruction that may fault on user memory, and whose faults the handler
// fixes up, as the kernel's exception table lists its user-access instructions: it resumes
// the copy at its fixup, which answers 1 (0: copied). Never the library memcpy: sanitizer
// runtimes intercept that and would inspect (or report) the bad user address themselves;
// being assembly, the sanitizers do not instrument it either. Resuming in place rather than
// jumping back to the caller (siglongjmp) also spares every faulting copy the sanitizers'
// no-return bookkeeping, which reads /proc/self/maps.
#if defined(__x86_64__)
extern "C" int qaic_uaccess_copy(void *dst, const void *src, size_t len);
extern "C" const char qaic_uaccess_copy_insn[], qaic_uaccess_copy_fixup[];
asm(R"(
	.pushsection .text
	.p2align 4
	.globl qaic_uaccess_copy
	.hidden qaic_uaccess_copy
	.type qaic_uaccess_copy, @function
qaic_uaccess_copy:
	mov %rdx, %rcx
	.globl qaic_uaccess_copy_insn
	.hidden qaic_uaccess_copy_insn
qaic_uaccess_copy_insn:
	rep movsb
	xor %eax, %eax
	ret
	.globl qaic_uaccess_copy_fixup
	.hidden qaic_uaccess_copy_fixup
qaic_uaccess_copy_fixup:
	mov $1, %eax
	ret
	.size qaic_uaccess_copy, .-qaic_uaccess_copy
	.popsection
)");

// A fault raised by the copy instruction (a fault leaves the instruction pointer on it).
bool at_copy_insn(const void *ctx)
{
    auto *uc = static_cast<const ucontext_t *>(ctx);
    return uintptr_t(uc->uc_mcontext.gregs[REG_RIP]) == uintptr_t(qaic_uaccess_copy_insn);
}

// Returning from the handler resumes the copy at its fixup, with the signal mask of the copy.
void resume_at_fixup(Fixup *, void *ctx)
{
    static_cast<ucontext_t *>(ctx)->uc_mcontext.gregs[REG_RIP] =
        greg_t(uintptr_t(qaic_uaccess_copy_fixup));
}
#else
// Elsewhere a byte loop in C, whose instructions are not known: any fault of this thread on
// the copy's user range while it runs is taken for the copy's (weaker: a signal handler's
// fault there is swallowed too), and goes back to the caller's sigsetjmp. Port the assembly
// above to get the instruction check.
__attribute__((noinline, no_sanitize("address", "thread"))) int qaic_uaccess_copy(
    void *dst, const void *src, size_t len)
{
    auto *d = static_cast<volatile unsigned char *>(dst);
    auto *s = static_cast<const volatile unsigned char *>(src);
    while (len--)
        *d++ = *s++;
    return 0;
}

bool at_copy_insn(const void *)
{
    return true;
}

[[noreturn]] void resume_at_fixup(Fixup *f, void *ctx)
{
    // Back to the signal mask of the copy (the kernel, or a sanitizer wrapping this handler,
    // blocked signals for it): sigsetjmp did not save the mask, which would cost a system
    // call on every copy, not only on faults.
    pthread_sigmask(SIG_SETMASK, &static_cast<ucontext_t *>(ctx)->uc_sigmask, nullptr);
    siglongjmp(f->env, 1);
}
#endif

// A fault of this thread's copy itself: raised by the kernel (not sent with kill or raise)
// at the copy instruction, for an address of the user range. Anything else (a fault on the
// kernel side of a copy, or one of a signal handler that interrupted a copy, even on a user
// address) is a bug and must crash like any other.
bool copy_fault(const Fixup *f, const siginfo_t *info, const void *ctx)
{
    auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
    return f && info->si_code > 0 && at_copy_insn(ctx) && addr >= f->user_start &&
           addr < f->user_end;
}

void on_fault(int sig, siginfo_t *info, void *ctx)
{
    if (Fixup *f = active_fixup; copy_fault(f, info, ctx)) {
        active_fixup = f->outer;
        resume_at_fixup(f, ctx);
        return;
    }
    // Not a user copy: whoever handled the signal before us decides.
    const struct sigaction &old = sig == SIGSEGV ? saved_segv : saved_bus;
    bool has_handler = old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
    if (has_handler && (old.sa_flags & SA_SIGINFO)) {
        old.sa_sigaction(sig, info, ctx);
    } else if (has_handler) {
        old.sa_handler(sig);
    } else {
        signal(sig, SIG_DFL);
        // A fault re-runs its instruction on return and then takes the default action; a
        // sent signal must be raised again.
        if (info->si_code <= 0)
            raise(sig);
    }
}

bool install_fault_fixup()
{
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, &saved_segv) == 0 && sigaction(SIGBUS, &sa, &saved_bus) == 0;
}

bool fault_fixup_ready()
{
    static const bool ready = install_fault_fixup();
    return ready;
}

// The sanitizers cannot see into the copy: tell them about the kernel side of the copy (the
// user side may fault, which is the copy's business).
#if defined(__SANITIZE_ADDRESS__)
extern "C" void __asan_loadN(const void *, size_t);
extern "C" void __asan_storeN(void *, size_t);
void check_kernel_side(void *dst, const void *src, size_t len, bool to_user)
{
    to_user ? __asan_loadN(src, len) : __asan_storeN(dst, len);
}
#elif defined(__SANITIZE_THREAD__)
extern "C" void __tsan_read_range(const void *, unsigned long);
extern "C" void __tsan_write_range(void *, unsigned long);
void check_kernel_side(void *dst, const void *src, size_t len, bool to_user)
{
    to_user ? __tsan_read_range(src, len) : __tsan_write_range(dst, len);
}
#else
void check_kernel_side(void *, const void *, size_t, bool) {}
#endif

// Copies len bytes, user memory being dst (to_user) or src: -EFAULT when a user byte faulted.
ErrorOr<void> fixup_copy(void *dst, const void *src, size_t len, bool to_user)
{
    check_kernel_side(dst, src, len, to_user);
    Fixup f;
    f.user_start = reinterpret_cast<uintptr_t>(to_user ? dst : src);
    f.user_end = f.user_start + len; // range_ok() ruled out wrapping
    f.outer = active_fixup;
#if !defined(__x86_64__)
    if (sigsetjmp(f.env, 0))
        return Error(-EFAULT); // the handler restored active_fixup
#endif
    active_fixup = &f;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    int faulted = qaic_uaccess_copy(dst, src, len);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    active_fixup = f.outer; // the handler did so already after a fault
    if (faulted)
        return Error(-EFAULT);
    return {};
}

} // namespace

const UserMm &UserMm::self()
{
    static const UserMm mm(0);
    return mm;
}

// pid 0 is this process, looked up per call so a forked child reads its own memory.
pid_t UserMm::pid() const
{
    return pid_ ? pid_ : getpid();
}

ErrorOr<int> UserMm::fd_get(int number) const
{
    if (!pid_) {
        if (number < 0 || fcntl(number, F_GETFD) < 0)
            return REJECT(-EBADF, "fd %d is not open", number);
        return number;
    }
    if (!fds_ || fds_->in_fd < 0 || number != fds_->in_number)
        return REJECT(-EBADF, "fd %d of pid %d did not come with the call", number, int(pid_));
    return fds_->in_fd;
}

ErrorOr<int> UserMm::fd_install(int fd, bool cloexec) const
{
    if (!pid_) {
        if (!cloexec && fcntl(fd, F_SETFD, 0) != 0) {
            int err = errno;
            ::close(fd);
            return REJECT(-err, "fcntl(F_SETFD) failed");
        }
        return fd;
    }
    // A call carries one fd back, on the channel's socket (not in a slot).
    if (!fds_ || fds_->out_fd >= 0) {
        ::close(fd);
        return REJECT(-EINVAL, "pid %d's call cannot carry an fd back (made through a slot?)",
                      int(pid_));
    }
    fds_->out_fd = fd;
    return fd;
}

// A process that is alive (or a zombie) still owns its pid: it cannot name another process.
bool UserMm::alive() const
{
    return pidfd_ < 0 || syscall(SYS_pidfd_send_signal, pidfd_, 0, nullptr, 0) == 0;
}

ErrorOr<void> UserMm::read(void *dst, uint64_t src, size_t len) const
{
    if (len == 0)
        return {};
    if (in_window(src, len)) {
        std::memcpy(dst, window_->bytes + (src - window_->addr), len);
        return {};
    }
    ErrorOr<void> r = Error(-EFAULT);
    if (range_ok(src, len)) {
        if (pid_ == 0 && fault_fixup_ready())
            r = fixup_copy(dst, reinterpret_cast<const void *>(src), len, false);
        else if (alive())
            r = transfer(pid(), dst, src, len, false);
        // Still there after the copy: the bytes were our process's, not a successor's.
        if (!r.is_error() && pid_ != 0 && !alive())
            r = Error(-EFAULT);
    }
    if (r.is_error()) {
        std::memset(dst, 0, len);
        return REJECT(r.code(), "user memory at %#llx (%zu bytes) is not readable",
                      (unsigned long long)src, len);
    }
    return r;
}

ErrorOr<void> UserMm::write(uint64_t dst, const void *src, size_t len) const
{
    if (len == 0)
        return {};
    if (in_window(dst, len)) {
        std::memcpy(window_->bytes + (dst - window_->addr), src, len);
        window_->written = true;
        return {};
    }
    ErrorOr<void> r = Error(-EFAULT);
    if (range_ok(dst, len)) {
        if (pid_ == 0 && fault_fixup_ready())
            r = fixup_copy(reinterpret_cast<void *>(dst), src, len, true);
        else if (alive())
            r = transfer(pid(), const_cast<void *>(src), dst, len, true);
    }
    if (r.is_error())
        return REJECT(r.code(), "user memory at %#llx (%zu bytes) is not writable",
                      (unsigned long long)dst, len);
    return r;
}

const UserMm &current_mm()
{
    return current_user_mm ? *current_user_mm : UserMm::self();
}

ScopedUserMm::ScopedUserMm(const UserMm &mm) : saved_(current_user_mm)
{
    current_user_mm = &mm;
}

ScopedUserMm::~ScopedUserMm()
{
    current_user_mm = saved_;
}

} // namespace kernel
