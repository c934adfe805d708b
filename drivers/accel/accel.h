// SPDX-License-Identifier: GPL-2.0-only
// The accel core: what drivers/accel gives a driver, as DRM's accel subsystem does.
//
//  - Driver: name, version and the driver's ioctl table, plus open/postclose hooks.
//  - Device: a registered instance with a minor (accel0, accel1, ...); unplug() makes every
//    later open and ioctl fail with -ENODEV and waits for ioctls in flight.
//  - File: one open of a device, with its GEM handle table and the driver's per-file state.
//    A File lives while anyone holds it (an fd, an ioctl in flight, a mapping); the last
//    reference releases it: postclose, then every handle is dropped.
//  - GemObject: a refcounted buffer object with a fake mmap offset. A file may map an offset
//    only while it holds a handle to the object; a mapping keeps the object alive while any
//    page of it is mapped.
//  - DmaBuf: PRIME's export of an object to an fd, imported into any file of its device as a
//    handle to the same object (accel_prime.cc).
//  - ioctl(): table-driven dispatch with DRM's size and direction rules.
#pragma once

#include "kernel/idr.h"
#include "kernel/locked.h"
#include "kernel/refcount.h"
#include "kernel/result.h"
#include "kernel/uaccess.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace accel {

using kernel::Error;
using kernel::ErrorOr;
using kernel::RefPtr;
using kernel::UserPtr;

class Device;
class DmaBuf;
class File;
class GemObject;

// One ioctl: cmd is the full encoded number the driver defines (its size and direction are
// what the handler expects); the table is indexed by cmd's nr. The handler gets a kernel copy
// of the argument, zero-filled past what the user supplied.
using IoctlHandler = ErrorOr<void> (*)(File &file, void *data);
struct IoctlDesc {
    uint32_t cmd;
    IoctlHandler func;
    const char *name;
};
#define ACCEL_IOCTL(ioctl, handler) ::accel::IoctlDesc{ioctl, handler, #ioctl}

struct Driver {
    const char *name;
    const char *desc;
    const char *date;
    int major, minor, patchlevel;
    // Entry i serves DRM_COMMAND_BASE + i; an index past the end gets -EINVAL.
    std::span<const IoctlDesc> ioctls;
    // Called when a file is opened, before it is usable; an error fails the open.
    ErrorOr<void> (*open)(Device &dev, File &file);
    // Called once when the file's last reference goes, before its handles are dropped.
    void (*postclose)(Device &dev, File &file);
};

// kobject_uevent's actions, as the kernel names them (lib/kobject_uevent.c).
enum class KobjAction { kAdd, kRemove, kChange, kMove, kOnline, kOffline };
const char *kobj_action_name(KobjAction action);

// One uevent of a device: its action and the variables it adds to the device's own
// ("DBC_ID=3"). What sysfs and the uevent netlink socket are to a kernel, a host provides with
// Device::set_uevent_sink.
struct Uevent {
    KobjAction action;
    std::vector<std::string> env;
};
// Called by the emitting thread, which may hold driver locks and may be an interrupt: a sink
// takes only leaf locks and never blocks or calls back into the driver.
using UeventSink = std::function<void(const Uevent &)>;

// Per-file state of the driver, owned by the File.
struct FilePrivate {
    virtual ~FilePrivate() = default;
};

class Device : public kernel::RefCounted {
public:
    explicit Device(const Driver &driver) : driver_(driver) {}
    ~Device() override;

    const Driver &driver() const { return driver_; }
    // accelN's N once registered, -1 before.
    int minor() const { return minor_; }

    // drm_dev_register: gives the device the lowest free minor and makes it openable.
    ErrorOr<void> register_device();
    // drm_dev_unplug: later opens and ioctls get -ENODEV; returns when no ioctl is in flight.
    // Also unregisters the minor.
    void unplug();
    bool unplugged() const { return unplugged_.load(std::memory_order_acquire); }

    // drm_dev_enter/exit: a section during which unplug() waits. enter() fails once unplugged.
    bool enter();
    void exit();

    // kobject_uevent_env: the device's sink (if any) gets the event. An event that cannot be
    // built (out of memory) is lost, as the kernel's may be.
    void uevent(KobjAction action, std::initializer_list<std::string_view> env) noexcept;
    // Set before register_device(), as the device model's class is set before device_add().
    void set_uevent_sink(UeventSink sink) { uevent_sink_ = std::move(sink); }

    // Fake mmap offsets of this device's objects.
    ErrorOr<uint64_t> add_mmap_offset(GemObject &obj);
    void remove_mmap_offset(GemObject &obj);
    // The object at exactly `offset` spanning at least `len` bytes that `file` may map:
    // -EINVAL if none is there or it is too small, -EACCES if the file holds no handle to it.
    ErrorOr<RefPtr<GemObject>> lookup_mmap_offset(const File &file, uint64_t offset, uint64_t len);

    // PRIME: releases the dma-bufs whose every user fd was closed since the last look (the
    // kernel's dma_buf_release, which here runs at the device's next core ioctl (PRIME,
    // GEM_CLOSE, VERSION), when its driver allocates memory (qaic: CREATE_BO) and when a host
    // reads its counts). Cheap when the device has none; else a system call.
    void reap_dma_bufs();

private:
    friend class DmaBuf;
    friend ErrorOr<void> prime_handle_to_fd_ioctl(File &file, void *data);
    friend ErrorOr<void> prime_fd_to_handle_ioctl(File &file, void *data);
    // A dma-buf as the device tracks it: `held` is the reference its user fds hold together,
    // set while any is open (pinned: always, once the count could no longer be trusted).
    struct DmaBufEntry {
        DmaBuf *buf;
        RefPtr<DmaBuf> held;
        unsigned user_opens = 0;
        bool pinned = false;
    };
    // Under prime_lock_: reads the opens and closes of the dma-bufs' files so far; the
    // references to drop go to `drop`, for after the lock.
    void reap_locked(std::vector<RefPtr<DmaBuf>> &drop);
    // Unplug: every dma-buf's user fds stop holding it.
    void release_dma_bufs();
    // Under prime_lock_, in an embedded child's private copy of the device: the inotify
    // instance is its parent's (reading it would take the parent's events), so the child makes
    // its own, and the dma-bufs it inherited stay held (its copy, its fds).
    ErrorOr<void> prime_own_inotify_locked();

    const Driver &driver_;
    int minor_ = -1;
    std::atomic<bool> unplugged_{false};
    std::shared_mutex srcu_; // held shared by ioctls in flight
    UeventSink uevent_sink_;

    struct OffsetNode {
        GemObject *obj; // no reference: the object removes its node before it dies
        uint64_t pages;
    };
    std::mutex offsets_lock_;
    std::map<uint64_t, OffsetNode> offsets_; // by start page
    uint64_t next_offset_page_;

    // PRIME (accel_prime.cc). Taken after a file's prime lock; only leaf locks under it.
    std::mutex prime_lock_;
    int prime_inotify_ = -1; // opens and closes of the dma-bufs' files; made at first export
    pid_t prime_pid_ = 0;    // the process that made prime_inotify_
    std::map<std::pair<uint64_t, uint64_t>, DmaBufEntry> dma_bufs_; // by the file's st_dev, st_ino
    std::map<int, std::pair<uint64_t, uint64_t>> dma_buf_watches_;  // inotify wd -> key
    std::atomic<bool> has_dma_bufs_{false};
};

// drm_dev_enter/exit by scope: a section is left however the code inside it ends.
class DeviceSection {
public:
    explicit DeviceSection(Device &dev) : dev_(dev), entered_(dev.enter()) {}
    ~DeviceSection()
    {
        if (entered_)
            dev_.exit();
    }
    DeviceSection(const DeviceSection &) = delete;
    DeviceSection &operator=(const DeviceSection &) = delete;
    // false: the device is unplugged, nothing may be done in it.
    explicit operator bool() const { return entered_; }

private:
    Device &dev_;
    bool entered_;
};

// Opens accelN: -ENODEV when there is no such device or it is unplugged; -ENOMEM. No
// exception leaves it.
ErrorOr<RefPtr<File>> open_minor(int minor);
// The registered device with this minor, with a reference; null if there is none.
RefPtr<Device> find_device(int minor);

class File : public kernel::RefCounted {
public:
    explicit File(RefPtr<Device> dev) : dev_(std::move(dev)) {}
    ~File() override;

    Device &device() const { return *dev_; }

    template <typename T> T &priv() const { return static_cast<T &>(*priv_); }
    void set_priv(std::unique_ptr<FilePrivate> priv) { priv_ = std::move(priv); }

    // drm_gem_handle_create: a new handle (>= 1) for obj, holding a reference to it.
    ErrorOr<uint32_t> handle_create(RefPtr<GemObject> obj);
    // The object behind handle, with a reference; -ENOENT for an unknown handle.
    ErrorOr<RefPtr<GemObject>> lookup(uint32_t handle) const;
    // drm_gem_handle_delete: -EINVAL for an unknown handle.
    ErrorOr<void> handle_delete(uint32_t handle);
    size_t handle_count() const;

private:
    friend ErrorOr<RefPtr<File>> open_minor(int minor);
    friend ErrorOr<void> prime_handle_to_fd_ioctl(File &file, void *data);
    friend ErrorOr<void> prime_fd_to_handle_ioctl(File &file, void *data);
    void drop_handle(uint32_t handle, RefPtr<GemObject> obj);

    bool opened_ = false; // the driver's open hook succeeded: postclose is owed

    RefPtr<Device> dev_;
    std::unique_ptr<FilePrivate> priv_;
    kernel::Locked<kernel::Idr<RefPtr<GemObject>>> handles_;
    // drm_prime_file_private: each dma-buf this file exported or imported, holding it, and the
    // file's handle for it; an entry goes with its handle. Taken before the device's prime lock.
    struct PrimeMember {
        RefPtr<DmaBuf> buf;
        uint32_t handle;
    };
    std::mutex prime_lock_;
    std::map<const DmaBuf *, PrimeMember> prime_;
};

// Where an object's pages are for a process that maps them itself: an fd of the object's
// (valid while the object lives; dup(2) or SCM_RIGHTS makes a copy that keeps the pages) and
// the byte offset of the object's first page in it.
struct MmapFd {
    int fd;
    uint64_t offset;
};

// Where and how a GEM object is being mapped into the user's address space.
struct Vma {
    void *addr; // hint, or the fixed address with MAP_FIXED; set to the result by mmap()
    size_t len; // bytes, a multiple of the page size, at most the object's size
    int prot;
    int flags;
};

class GemObject : public kernel::RefCounted {
public:
    GemObject(Device &dev, uint64_t size) : dev_(RefPtr<Device>::share(&dev)), size_(size) {}
    ~GemObject() override;

    Device &device() const { return *dev_; }
    uint64_t size() const { return size_; }

    // drm_gem_create_mmap_offset + drm_vma_node_offset_addr: the object's fake offset, made
    // on first use.
    ErrorOr<uint64_t> mmap_offset();

    // Maps the object's first vma.len bytes; sets vma.addr. Drivers without mappable objects
    // leave the default.
    virtual ErrorOr<void> mmap(Vma &vma);
    // The fd and offset another process maps to see the object, as mmap() maps them here.
    // Drivers without mappable objects leave the default (-ENODEV).
    virtual ErrorOr<MmapFd> mmap_fd() const;
    // A file dropped its handle to this object (drm_gem_object_funcs.close).
    virtual void close(File &) {}

private:
    friend class Device;
    friend class File;
    // drm_vma_node_allow/revoke: a file may map the object while it holds handles to it.
    void allow_mmap(const File &file);
    void revoke_mmap(const File &file);
    bool mmap_allowed(const File &file);

    friend class DmaBuf;
    friend ErrorOr<void> prime_handle_to_fd_ioctl(File &file, void *data);

    RefPtr<Device> dev_;
    uint64_t size_;
    DmaBuf *dma_buf_ = nullptr; // obj->dma_buf: its live dma-buf, under the device's prime lock
    std::mutex lock_;
    uint64_t offset_page_ = 0;                     // 0: no offset yet
    std::map<const File *, unsigned> mmap_allowed_; // handles per file
};

// drm_prime's dma-buf of an object: a file of its own (a sealed, empty memfd) that the user
// holds as fds and may pass to any process. The device counts the opens and closes of that
// file (inotify): the dma-buf lives while any user fd of it is open or a file holds a handle
// it exported or imported, and holds its object as long.
class DmaBuf : public kernel::RefCounted {
public:
    ~DmaBuf() override;
    GemObject &object() const { return *obj_; }

    // Made by PRIME_HANDLE_TO_FD only; public for try_make_ref.
    explicit DmaBuf(RefPtr<GemObject> obj) : obj_(std::move(obj)) {}

private:
    friend class Device;
    friend ErrorOr<void> prime_handle_to_fd_ioctl(File &file, void *data);

    RefPtr<GemObject> obj_;
    int fd_ = -1; // the device's own open of the file, which the user's fds are reopens of
    int wd_ = -1;
    std::pair<uint64_t, uint64_t> key_{};
    bool registered_ = false; // in the device's tables (set under its prime lock)
};

// DRM_IOCTL_PRIME_HANDLE_TO_FD and DRM_IOCTL_PRIME_FD_TO_HANDLE (the core's ioctl table).
ErrorOr<void> prime_handle_to_fd_ioctl(File &file, void *data);
ErrorOr<void> prime_fd_to_handle_ioctl(File &file, void *data);

// The DRM ioctl entry: dispatch by cmd's nr to the core's or the driver's table; copy the
// argument in (IOW) and out (IOR) per DRM's rules. Returns 0 or a negative errno; no
// exception leaves it (one from a handler becomes an errno, see kernel/alloc.h).
int ioctl(File &file, unsigned long cmd, UserPtr<void> arg);

// mmap of a fake offset on file: MAP_SHARED only; len > 0, page-aligned offset, the range
// within the object. The mapping holds the object and the file while any page of it stays
// mapped; a mapping placed over part of an older one (MAP_FIXED) trims or splits it, as the
// kernel does with VMAs. -EPERM for MAP_FIXED over a kernel range (kernel/mm.h).
ErrorOr<void *> mmap(File &file, void *addr, size_t len, int prot, int flags, uint64_t offset);
// For a host whose objects' pages another process provides (libqaic's qaicd backend maps a
// BO's memfd itself): map() runs under the mapping lock and the range it maps, len bytes
// rounded up to pages, is recorded as a mapping holding `pin`, replacing what it overlaps, as
// mmap() records its own. munmap() below then trims, splits and drops it like any other.
ErrorOr<void *> mmap_foreign(void *addr, size_t len, int flags, RefPtr<kernel::RefCounted> pin,
                             const std::function<ErrorOr<void *>()> &map);
// For a host that maps objects into another process (qaicd): the lookup and rules of mmap()
// above for `offset` and `len` (the same errnos, before anything is mapped), then the object,
// with a reference the caller holds while it hands the fd on, and where to map it from.
struct MmapSource {
    RefPtr<GemObject> obj;
    int fd;
    uint64_t offset;
};
ErrorOr<MmapSource> mmap_source(File &file, uint64_t offset, uint64_t len);

// Unmaps [addr, addr + len) as munmap(2) does (-EINVAL for an unaligned addr or len 0):
// mappings made by mmap() above may be unmapped in part; each piece left holds its object.
// -EPERM for a range touching a kernel range.
ErrorOr<void> munmap(void *addr, size_t len);

} // namespace accel
