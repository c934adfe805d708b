// SPDX-License-Identifier: GPL-2.0-only
// Files: open, release, and the per-file GEM handle table.
#include "drivers/accel/accel.h"

namespace accel {

ErrorOr<RefPtr<File>> open_minor(int minor)
{
    RefPtr<Device> dev = find_device(minor);
    if (!dev || !dev->enter())
        return Error(-ENODEV);
    auto file = kernel::make_ref<File>(dev);
    ErrorOr<void> r = dev->driver().open ? dev->driver().open(*dev, *file) : ErrorOr<void>();
    dev->exit();
    if (r.is_error())
        return r.error();
    return file;
}

// The last reference is gone: nobody can reach the file any more. postclose lets the driver
// tear down its state (which may still need the handles), then the handles go.
File::~File()
{
    if (dev_->driver().postclose)
        dev_->driver().postclose(*dev_, *this);
    std::map<uint32_t, RefPtr<GemObject>> handles;
    {
        std::lock_guard lock(handles_lock_);
        handles.swap(handles_);
    }
    for (auto &[handle, obj] : handles)
        drop_handle(handle, std::move(obj));
    priv_.reset();
}

ErrorOr<uint32_t> File::handle_create(RefPtr<GemObject> obj)
{
    obj->allow_mmap(*this);
    std::lock_guard lock(handles_lock_);
    // Handles are allocated cyclically from 1: a closed handle is reused as late as possible,
    // so a stale handle in userspace finds nothing rather than somebody else's buffer.
    for (uint64_t tries = 0; tries <= UINT32_MAX; ++tries) {
        uint32_t h = next_handle_;
        next_handle_ = next_handle_ == UINT32_MAX ? 1 : next_handle_ + 1;
        if (handles_.try_emplace(h, obj).second)
            return h;
    }
    obj->revoke_mmap(*this);
    return Error(-ENOSPC);
}

ErrorOr<RefPtr<GemObject>> File::lookup(uint32_t handle) const
{
    std::lock_guard lock(handles_lock_);
    auto it = handles_.find(handle);
    if (it == handles_.end())
        return Error(-ENOENT);
    return it->second;
}

ErrorOr<void> File::handle_delete(uint32_t handle)
{
    RefPtr<GemObject> obj;
    {
        std::lock_guard lock(handles_lock_);
        auto it = handles_.find(handle);
        if (it == handles_.end())
            return Error(-EINVAL);
        obj = std::move(it->second);
        handles_.erase(it);
    }
    drop_handle(handle, std::move(obj));
    return {};
}

size_t File::handle_count() const
{
    std::lock_guard lock(handles_lock_);
    return handles_.size();
}

// Outside handles_lock_: the driver's close hook may take its own locks.
void File::drop_handle(uint32_t, RefPtr<GemObject> obj)
{
    obj->close(*this);
    obj->revoke_mmap(*this);
}

} // namespace accel
