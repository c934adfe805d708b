// SPDX-License-Identifier: GPL-2.0-only
// Files: open, release, and the per-file GEM handle table.
#include "drivers/accel/accel.h"
#include "kernel/alloc.h"
#include "kernel/printk.h"

#include <new>
#include <vector>

namespace accel {

ErrorOr<RefPtr<File>> open_minor(int minor)
{
    kernel::OpScope op("open");
    RefPtr<Device> dev = find_device(minor);
    if (!dev)
        return REJECT(-ENODEV, "no device has minor %d", minor);
    DeviceSection section(*dev);
    if (!section)
        return REJECT(-ENODEV, "accel%d is gone", minor);
    try {
        // As in DRM, a file whose open failed gets no postclose.
        auto file = TRY(kernel::try_make_ref<File>(dev));
        if (dev->driver().open)
            TRY(dev->driver().open(*dev, *file));
        file->opened_ = true;
        return file;
    } catch (...) {
        return Error(kernel::errno_of_exception("open"));
    }
}

// The last reference is gone: nobody can reach the file any more. postclose lets the driver
// tear down its state (which may still need the handles), then the handles go.
File::~File()
{
    // A destructor may not throw: a postclose that fails half-way is logged, and the
    // handles still go.
    if (opened_ && dev_->driver().postclose) {
        try {
            dev_->driver().postclose(*dev_, *this);
        } catch (...) {
            (void)kernel::errno_of_exception("postclose");
        }
    }
    auto handles = handles_.with([](auto &idr) { return idr.take_all(); });
    for (auto &[handle, obj] : handles)
        drop_handle(handle, std::move(obj));
    prime_.clear(); // nobody else can reach the file: no lock
    priv_.reset();
}

ErrorOr<uint32_t> File::handle_create(RefPtr<GemObject> obj)
{
    obj->allow_mmap(*this);
    // Handles are allocated cyclically from 1: a closed handle is reused as late as possible,
    // so a stale handle in userspace finds nothing rather than somebody else's buffer.
    auto h = handles_.with([&](auto &idr) { return idr.alloc_cyclic(obj, 1); });
    if (h.is_error())
        obj->revoke_mmap(*this);
    return h;
}

ErrorOr<RefPtr<GemObject>> File::lookup(uint32_t handle) const
{
    return handles_.with([&](auto &idr) -> ErrorOr<RefPtr<GemObject>> {
        const RefPtr<GemObject> *obj = idr.find(handle);
        if (!obj)
            return REJECT(-ENOENT, "BO %u: no such handle in this file", handle);
        return *obj;
    });
}

ErrorOr<void> File::handle_delete(uint32_t handle)
{
    auto obj = handles_.with([&](auto &idr) { return idr.remove(handle); });
    if (obj.is_error())
        return REJECT(-EINVAL, "BO %u: no such handle in this file", handle);
    drop_handle(handle, obj.release_value());
    // drm_gem_remove_prime_handles: the file forgets the dma-bufs it knew by this handle. They
    // are released after the lock (a release takes the device's prime lock, which is fine
    // under ours, but not needed there).
    std::vector<PrimeMember> gone;
    {
        std::lock_guard l(prime_lock_);
        for (auto it = prime_.begin(); it != prime_.end();) {
            if (it->second.handle == handle) {
                try {
                    gone.push_back(std::move(it->second));
                } catch (const std::bad_alloc &) {
                    // Released under the lock instead: allowed by the lock order.
                }
                it = prime_.erase(it);
            } else {
                ++it;
            }
        }
    }
    return {};
}

size_t File::handle_count() const
{
    return handles_.with([](const auto &idr) { return idr.size(); });
}

// Outside the handle table's lock: the driver's close hook may take its own locks.
void File::drop_handle(uint32_t, RefPtr<GemObject> obj)
{
    obj->close(*this);
    obj->revoke_mmap(*this);
}

} // namespace accel
