// SPDX-License-Identifier: GPL-2.0-only
// PRIME: an object exported as a dma-buf fd, and a dma-buf fd imported as a handle.
//
// A dma-buf is a file of its own: an empty, sealed memfd that the device opens once (its own
// description, kept until the dma-buf is released) and reopens through /proc for each fd it
// hands out. The device watches that file with inotify: every open of a description of it (a
// reopen by the user included) and every last close of one is an event, in order, so the
// device knows how many of the user's descriptions are open, in whatever process; when the
// last one closes, the user's hold on the dma-buf goes, as a dma-buf's last fput releases it.
// The events are read when the device is next called (reap_dma_bufs), so a close is seen
// before any later call. The file's st_dev and st_ino name the dma-buf when an fd comes back.
// Its pages are the object's own: an import is a handle to the same object.
#include "drivers/accel/accel.h"
#include "kernel/alloc.h"
#include "kernel/printk.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <drm.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace accel {
namespace {

using Key = std::pair<uint64_t, uint64_t>;

ErrorOr<Key> key_of(int fd)
{
    struct stat st;
    if (::fstat(fd, &st) != 0)
        return REJECT(-EBADF, "fstat of fd %d failed", fd);
    return Key{uint64_t(st.st_dev), uint64_t(st.st_ino)};
}

void proc_path(char (&path)[40], int fd)
{
    std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
}

// A dma-buf's file, not yet known to the device: an empty memfd nobody can write, grow or
// map writable (its pages are the object's, never this file's).
ErrorOr<RefPtr<DmaBuf>> new_dma_buf(GemObject &obj, int *fd_out, Key *key_out)
{
    int fd = ::memfd_create("dmabuf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return REJECT(-errno, "no file for a dma-buf (memfd_create failed)");
    if (::fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
        int err = errno;
        ::close(fd);
        return REJECT(-err, "sealing a dma-buf's file failed");
    }
    auto key = key_of(fd);
    auto buf = kernel::try_make_ref<DmaBuf>(RefPtr<GemObject>::share(&obj));
    if (key.is_error() || buf.is_error()) {
        ::close(fd);
        return Error(key.is_error() ? key.code() : buf.code());
    }
    *fd_out = fd;
    *key_out = key.value();
    return buf.release_value();
}

} // namespace

DmaBuf::~DmaBuf()
{
    if (registered_) {
        Device &dev = obj_->device();
        std::lock_guard l(dev.prime_lock_);
        auto it = dev.dma_bufs_.find(key_);
        if (it != dev.dma_bufs_.end() && it->second.buf == this)
            dev.dma_bufs_.erase(it);
        // (A forked child that has not made its own instance yet leaves its parent's alone.)
        if (wd_ >= 0 && dev.prime_pid_ == getpid()) {
            dev.dma_buf_watches_.erase(wd_);
            ::inotify_rm_watch(dev.prime_inotify_, wd_);
        }
        if (obj_->dma_buf_ == this)
            obj_->dma_buf_ = nullptr;
        if (dev.dma_bufs_.empty()) {
            // No dma-buf left: nor the instance that follows them (a host counts its fds).
            dev.has_dma_bufs_.store(false, std::memory_order_release);
            if (dev.prime_inotify_ >= 0)
                ::close(dev.prime_inotify_); // (a child's copy of its parent's: only ours)
            dev.prime_inotify_ = -1;
        }
    }
    if (fd_ >= 0)
        ::close(fd_);
}

ErrorOr<void> Device::prime_own_inotify_locked()
{
    if (prime_inotify_ >= 0 && prime_pid_ == getpid())
        return {};
    int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (in < 0)
        return REJECT(-errno, "no inotify instance to follow dma-bufs with");
    if (prime_inotify_ >= 0) {
        ::close(prime_inotify_); // our copy of the parent's instance
        dma_buf_watches_.clear();
        for (auto &[key, d] : dma_bufs_) {
            d.buf->wd_ = -1;
            d.pinned = true;
            if (!d.held && d.buf->get_unless_zero())
                d.held = RefPtr<DmaBuf>::adopt(d.buf);
        }
    }
    prime_inotify_ = in;
    prime_pid_ = getpid();
    return {};
}

void Device::reap_locked(std::vector<RefPtr<DmaBuf>> &drop)
{
    if (prime_inotify_ < 0 || prime_own_inotify_locked().is_error())
        return;
    alignas(inotify_event) char events[4096];
    for (;;) {
        ssize_t n = ::read(prime_inotify_, events, sizeof(events));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; // EAGAIN: every event so far is read
        for (char *p = events; p < events + n;) {
            inotify_event e;
            std::memcpy(&e, p, sizeof(e));
            p += sizeof(e) + e.len;
            if (e.mask & IN_Q_OVERFLOW) {
                // Events were lost: no count can be trusted, so no dma-buf of now is released
                // before unplug (a leak bounded by what exists, never a use after free).
                pr_warn("accel%d: dma-buf events lost; its dma-bufs stay until unplug",
                                minor_);
                for (auto &[key, d] : dma_bufs_) {
                    d.pinned = true;
                    if (!d.held && d.buf->get_unless_zero())
                        d.held = RefPtr<DmaBuf>::adopt(d.buf);
                }
                continue;
            }
            auto w = dma_buf_watches_.find(e.wd);
            if (w == dma_buf_watches_.end())
                continue;
            auto it = dma_bufs_.find(w->second);
            if (it == dma_bufs_.end())
                continue;
            DmaBufEntry &d = it->second;
            if (e.mask & IN_OPEN) {
                // After unplug nothing takes a hold again (release_dma_bufs dropped them).
                if (d.user_opens++ == 0 && !d.held && !unplugged() && d.buf->get_unless_zero())
                    d.held = RefPtr<DmaBuf>::adopt(d.buf);
            } else if (e.mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)) {
                if (d.user_opens && --d.user_opens == 0 && !d.pinned && d.held) {
                    // Out of memory for the list: the hold stays (until unplug), nothing breaks.
                    try {
                        drop.push_back(std::move(d.held));
                    } catch (const std::bad_alloc &) {
                    }
                }
            }
        }
    }
}

void Device::reap_dma_bufs()
{
    if (!has_dma_bufs_.load(std::memory_order_acquire))
        return;
    std::vector<RefPtr<DmaBuf>> drop; // released after the lock: a release takes it
    std::lock_guard l(prime_lock_);
    reap_locked(drop);
}

void Device::release_dma_bufs()
{
    for (;;) {
        RefPtr<DmaBuf> one; // released after the lock
        std::lock_guard l(prime_lock_);
        for (auto &[key, d] : dma_bufs_) {
            if (d.held) {
                d.pinned = false;
                one = std::move(d.held);
                break;
            }
        }
        if (!one)
            return;
    }
}

// DRM_IOCTL_PRIME_HANDLE_TO_FD: the object's dma-buf (the one it has, else a new one) as a new
// fd of the caller's. The file remembers the dma-buf with the handle, as for an import.
ErrorOr<void> prime_handle_to_fd_ioctl(File &file, void *data)
{
    auto *args = static_cast<drm_prime_handle *>(data);
    if (args->flags & ~uint32_t(DRM_CLOEXEC | DRM_RDWR))
        return REJECT(-EINVAL, "flags %#x: only DRM_CLOEXEC and DRM_RDWR are defined",
                      args->flags);
    RefPtr<GemObject> obj;             // released after every lock
    std::vector<RefPtr<DmaBuf>> drop; // released after every lock
    RefPtr<DmaBuf> buf, spare;        // spare: ours, when another export won the race
    // The handle is looked up under the file's prime lock, as DRM does: a GEM_CLOSE of it
    // removes its prime entries under that lock, after the handle is gone, so an entry made
    // here is always for a live handle.
    std::lock_guard file_lock(file.prime_lock_);
    obj = TRY(file.lookup(args->handle));
    Device &dev = obj->device();
    {
        std::lock_guard l(dev.prime_lock_);
        dev.reap_locked(drop);
        if (obj->dma_buf_ && obj->dma_buf_->get_unless_zero())
            buf = RefPtr<DmaBuf>::adopt(obj->dma_buf_);
    }
    if (!buf) {
        int fd = -1;
        Key key;
        spare = TRY(new_dma_buf(*obj, &fd, &key));
        spare->fd_ = fd;
        spare->key_ = key;
        std::lock_guard l(dev.prime_lock_);
        if (obj->dma_buf_ && obj->dma_buf_->get_unless_zero()) {
            buf = RefPtr<DmaBuf>::adopt(obj->dma_buf_);
        } else {
            TRY(dev.prime_own_inotify_locked());
            char path[40];
            proc_path(path, fd);
            int wd = ::inotify_add_watch(dev.prime_inotify_, path, IN_OPEN | IN_CLOSE);
            if (wd < 0)
                return REJECT(errno == ENOSPC ? -ENOSPC : -ENOMEM,
                              "cannot follow a new dma-buf (inotify_add_watch failed)");
            auto added = kernel::try_alloc([&] {
                dev.dma_buf_watches_.emplace(wd, key);
                dev.dma_bufs_.emplace(key, Device::DmaBufEntry{spare.get(), nullptr});
            });
            if (added.is_error()) {
                dev.dma_buf_watches_.erase(wd);
                ::inotify_rm_watch(dev.prime_inotify_, wd);
                return REJECT(-ENOMEM, "out of memory for a dma-buf");
            }
            spare->wd_ = wd;
            spare->registered_ = true;
            obj->dma_buf_ = spare.get();
            dev.has_dma_bufs_.store(true, std::memory_order_release);
            buf = std::move(spare);
        }
    }

    // The caller's own description of the file (EMFILE, ENFILE as for any new fd); the
    // device counts it before this call lets go of the dma-buf.
    char path[40];
    proc_path(path, buf->fd_);
    int fd = ::open(path, ((args->flags & DRM_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    int open_err = errno;
    {
        std::lock_guard l(dev.prime_lock_);
        dev.reap_locked(drop);
    }
    if (fd < 0)
        return REJECT(-open_err, "no fd for the dma-buf");
    if (!file.prime_.count(buf.get())) {
        auto added = kernel::try_alloc(
            [&] { file.prime_.emplace(buf.get(), File::PrimeMember{buf, args->handle}); });
        if (added.is_error()) {
            ::close(fd);
            return REJECT(-ENOMEM, "out of memory for the file's dma-buf list");
        }
    }
    args->fd = TRY(kernel::current_mm().fd_install(fd, args->flags & DRM_CLOEXEC));
    return {};
}

// DRM_IOCTL_PRIME_FD_TO_HANDLE: the file's handle for a dma-buf of this device: the one it has
// (it exported or imported it before), else a new handle to the dma-buf's own object.
ErrorOr<void> prime_fd_to_handle_ioctl(File &file, void *data)
{
    auto *args = static_cast<drm_prime_handle *>(data);
    Device &dev = file.device();
    int kfd = TRY(kernel::current_mm().fd_get(args->fd));
    Key key = TRY(key_of(kfd));

    std::vector<RefPtr<DmaBuf>> drop; // released after every lock
    RefPtr<DmaBuf> buf;
    std::lock_guard file_lock(file.prime_lock_);
    {
        std::lock_guard l(dev.prime_lock_);
        dev.reap_locked(drop);
        auto it = dev.dma_bufs_.find(key);
        if (it != dev.dma_bufs_.end() && it->second.buf->get_unless_zero())
            buf = RefPtr<DmaBuf>::adopt(it->second.buf);
    }
    // Only this device's dma-bufs can be imported: see docs/uapi.md for other files.
    if (!buf)
        return REJECT(-EINVAL, "fd %d is not a dma-buf of accel%d", args->fd, dev.minor());
    if (auto m = file.prime_.find(buf.get()); m != file.prime_.end()) {
        args->handle = m->second.handle;
        return {};
    }
    // The list's node first: once the handle exists, nothing may fail.
    decltype(file.prime_) one;
    auto made = kernel::try_alloc([&] { one.emplace(buf.get(), File::PrimeMember{buf, 0}); });
    if (made.is_error())
        return REJECT(-ENOMEM, "out of memory for the file's dma-buf list");
    auto node = one.extract(one.begin());
    node.mapped().handle = TRY(file.handle_create(RefPtr<GemObject>::share(&buf->object())));
    args->handle = node.mapped().handle;
    file.prime_.insert(std::move(node));
    return {};
}

} // namespace accel
