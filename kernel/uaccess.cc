// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/uaccess.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>
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

ErrorOr<void> UserMm::read(void *dst, uint64_t src, size_t len) const
{
    if (len == 0)
        return {};
    auto r = range_ok(src, len) ? transfer(pid(), dst, src, len, false) : Error(-EFAULT);
    if (r.is_error())
        std::memset(dst, 0, len);
    return r;
}

ErrorOr<void> UserMm::write(uint64_t dst, const void *src, size_t len) const
{
    if (len == 0)
        return {};
    if (!range_ok(dst, len))
        return Error(-EFAULT);
    return transfer(pid(), const_cast<void *>(src), dst, len, true);
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
