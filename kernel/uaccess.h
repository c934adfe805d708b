// SPDX-License-Identifier: GPL-2.0-only
// User memory access. A user address is a UserPtr<T>: it has no operator* or ->, so the driver
// cannot dereference it by mistake. Data crosses only through copy_from_user / copy_to_user,
// which return -EFAULT for any address the user's process cannot access (unmapped, wrong
// permission, wrapping), never a crash.
//
// The copies go to the address space of the process the driver serves (UserMm). For this very
// process (the embedded sim backend) that is a fault-fixup copy: SIGSEGV/SIGBUS handlers,
// installed at the first copy and passing every other fault on to the handler that was there
// before, turn a fault of the copy instruction on the user's range into -EFAULT. For another
// process (a daemon host) it is process_vm_readv/writev on its pid.
#pragma once

#include "kernel/alloc.h"
#include "kernel/result.h"

#include <cstddef>
#include <cstdint>
#include <sys/types.h>
#include <vector>

namespace kernel {

template <typename T> class UserPtr {
public:
    UserPtr() = default;
    explicit UserPtr(uint64_t addr) : addr_(addr) {}

    uint64_t addr() const { return addr_; }
    bool is_null() const { return addr_ == 0; }
    template <typename U> UserPtr<U> cast() const { return UserPtr<U>(addr_); }
    // The address n bytes further on. Wrapping is not an error here: the copy rejects it.
    UserPtr byte_offset(uint64_t n) const { return UserPtr(addr_ + n); }

private:
    uint64_t addr_ = 0;
};

// A user process's address space.
class UserMm {
public:
    // pid 0 is this process through the fault-fixup copy; any other pid, getpid() included,
    // goes through process_vm_readv/writev. With a pidfd of that process, a copy is refused
    // (-EFAULT) once the process is gone: a read counts only if the process is still there
    // after it; a write is made only if it is there just before (a pid freed and reused by
    // another process within that instant is the one window left: there is no
    // process_vm_writev by pidfd).
    explicit UserMm(pid_t pid, int pidfd = -1) : pid_(pid), pidfd_(pidfd) {}
    // This process (pid 0).
    static const UserMm &self();

    pid_t pid() const;
    // Copies len bytes; -EFAULT if any byte is inaccessible (dst is then zero-filled, as
    // copy_from_user leaves no stale kernel data behind).
    ErrorOr<void> read(void *dst, uint64_t src, size_t len) const;
    ErrorOr<void> write(uint64_t dst, const void *src, size_t len) const;

    // An ioctl's argument struct that came with the request (qaicd: the client read it when it
    // called, as a kernel reads it at syscall entry). Copies wholly inside [addr, addr + len)
    // use `bytes` instead of the process's memory: reads come from it, writes go to it (and
    // set `written`), for the host to send back with the answer. One request at a time: set
    // it around the call, then clear it (nullptr).
    struct ArgWindow {
        uint64_t addr = 0;
        size_t len = 0;
        unsigned char *bytes = nullptr;
        bool written = false;
    };
    void set_arg_window(ArgWindow *w) { window_ = w; }

    // The process's file descriptors, as far as an ioctl handles them (fget and fd_install of
    // a dma-buf). For this process they are its own. For another process (qaicd) an fd
    // travels with the request and the answer (SCM_RIGHTS): the host lends the call the one
    // that came with it, and sends on the one the call installs. One request at a time, set
    // around the call like the window.
    struct FdPass {
        int in_number = -1; // the caller's number of the fd that came with the call
        int in_fd = -1;     // that fd, ours; borrowed for the call
        int out_fd = -1;    // what fd_install gave the caller: ours, the host sends and closes it
    };
    void set_fd_pass(FdPass *p) { fds_ = p; }
    // An fd of ours for the caller's fd `number`, valid during the call (fget): -EBADF if the
    // caller has no such fd (or, for another process, sent none with the call).
    ErrorOr<int> fd_get(int number) const;
    // Hands `fd` (ours, O_CLOEXEC; it is taken in every case) to the caller, close-on-exec
    // or not: the caller's number for it. For another process the number is the host's to
    // fill in (the caller's library learns it when the fd arrives, and sets close-on-exec).
    ErrorOr<int> fd_install(int fd, bool cloexec) const;

private:
    bool alive() const;
    bool in_window(uint64_t addr, size_t len) const
    {
        return window_ && addr >= window_->addr && len <= window_->len &&
               addr - window_->addr <= window_->len - len;
    }

    pid_t pid_;
    int pidfd_;
    ArgWindow *window_ = nullptr;
    FdPass *fds_ = nullptr;
};

// The address space of the process the current thread is serving (the kernel's current->mm).
// Defaults to this process; a host serving another process sets it with ScopedUserMm.
const UserMm &current_mm();

class ScopedUserMm {
public:
    explicit ScopedUserMm(const UserMm &mm);
    ~ScopedUserMm();
    ScopedUserMm(const ScopedUserMm &) = delete;
    ScopedUserMm &operator=(const ScopedUserMm &) = delete;

private:
    const UserMm *saved_;
};

inline ErrorOr<void> copy_from_user(void *dst, UserPtr<const void> src, size_t len)
{
    return current_mm().read(dst, src.addr(), len);
}
inline ErrorOr<void> copy_to_user(UserPtr<void> dst, const void *src, size_t len)
{
    return current_mm().write(dst.addr(), src, len);
}

// One object.
template <typename T> ErrorOr<void> copy_from_user(T *dst, UserPtr<T> src)
{
    return copy_from_user(dst, src.template cast<const void>(), sizeof(T));
}
template <typename T> ErrorOr<void> copy_to_user(UserPtr<T> dst, const T *src)
{
    return copy_to_user(dst.template cast<void>(), src, sizeof(T));
}

// n objects; -EOVERFLOW when n * sizeof(T) does not fit (the kernel's copy_array_from_user).
template <typename T> ErrorOr<void> copy_array_from_user(T *dst, UserPtr<T> src, size_t n)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, sizeof(T), &bytes))
        return REJECT(-EOVERFLOW, "%zu objects of %zu bytes overflow a size", n, sizeof(T));
    return copy_from_user(dst, src.template cast<const void>(), bytes);
}
template <typename T> ErrorOr<void> copy_array_to_user(UserPtr<T> dst, const T *src, size_t n)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, sizeof(T), &bytes))
        return REJECT(-EOVERFLOW, "%zu objects of %zu bytes overflow a size", n, sizeof(T));
    return copy_to_user(dst.template cast<void>(), src, bytes);
}

// A kernel copy of n user objects (memdup_array_user): -EOVERFLOW, -ENOMEM or -EFAULT.
// Callers cap n first; this only refuses what cannot be represented or allocated.
template <typename T> ErrorOr<std::vector<T>> memdup_array_user(UserPtr<T> src, size_t n)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, sizeof(T), &bytes))
        return REJECT(-EOVERFLOW, "%zu objects of %zu bytes overflow a size", n, sizeof(T));
    std::vector<T> v;
    TRY(try_resize(v, n));
    TRY(copy_from_user(v.data(), src.template cast<const void>(), bytes));
    return v;
}

} // namespace kernel
