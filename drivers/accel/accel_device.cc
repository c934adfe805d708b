// SPDX-License-Identifier: GPL-2.0-only
// Device registry (minors), unplug, and the fake mmap offset space of a device.
#include "drivers/accel/accel.h"
#include "kernel/idr.h"
#include "kernel/locked.h"
#include "kernel/mm.h"
#include "kernel/printk.h"

#include <unistd.h>

namespace accel {
namespace {

// Minors, as the accel subsystem numbers /dev/accel/accelN. The registry holds no reference:
// a device unregisters in unplug() or its destructor.
constexpr uint32_t kMaxMinors = 64;
kernel::Locked<kernel::Idr<Device *>> &minors()
{
    // Never destroyed: devices may unregister from static destructors at exit.
    static auto *idr = new kernel::Locked<kernel::Idr<Device *>>();
    return *idr;
}

// Fake offsets start at 4 GiB, as DRM_FILE_PAGE_OFFSET_START does, and span 2^44 pages.
constexpr uint64_t kOffsetStartPage = (uint64_t(1) << 32) >> kernel::kPageShift;
constexpr uint64_t kOffsetEndPage = kOffsetStartPage + (uint64_t(1) << 44);

} // namespace

Device::~Device()
{
    if (minor_ >= 0)
        minors().with([&](auto &idr) { (void)idr.remove(uint32_t(minor_)); });
    if (prime_inotify_ >= 0)
        ::close(prime_inotify_);
}

ErrorOr<void> Device::register_device()
{
    if (minor_ >= 0)
        return Error(-EBUSY);
    next_offset_page_ = kOffsetStartPage;
    minor_ = int(TRY(minors().with([&](auto &idr) { return idr.alloc(this, 0, kMaxMinors); })));
    return {};
}

const char *kobj_action_name(KobjAction action)
{
    switch (action) {
    case KobjAction::kAdd: return "add";
    case KobjAction::kRemove: return "remove";
    case KobjAction::kChange: return "change";
    case KobjAction::kMove: return "move";
    case KobjAction::kOnline: return "online";
    case KobjAction::kOffline: return "offline";
    }
    return "change";
}

void Device::uevent(KobjAction action, std::initializer_list<std::string_view> env) noexcept
{
    if (!uevent_sink_)
        return;
    try {
        Uevent ev{action, {}};
        for (std::string_view v : env)
            ev.env.emplace_back(v);
        uevent_sink_(ev);
    } catch (...) {
        // lost, as kobject_uevent_env's -ENOMEM loses it
    }
}

void Device::unplug()
{
    unplugged_.store(true, std::memory_order_release);
    {
        // Wait for every ioctl in flight: they hold srcu_ shared.
        std::unique_lock wait_for_readers(srcu_);
        if (minor_ >= 0)
            minors().with([&](auto &idr) { (void)idr.remove(uint32_t(minor_)); });
        minor_ = -1;
    }
    // The user's dma-buf fds stay open, but nothing can import them any more: their objects
    // go with the files' handles.
    release_dma_bufs();
}

bool Device::enter()
{
    if (unplugged())
        return false;
    srcu_.lock_shared();
    if (unplugged()) {
        srcu_.unlock_shared();
        return false;
    }
    return true;
}

void Device::exit()
{
    srcu_.unlock_shared();
}

RefPtr<Device> find_device(int minor)
{
    if (minor < 0)
        return nullptr;
    return minors().with([&](auto &idr) -> RefPtr<Device> {
        Device **dev = idr.find(uint32_t(minor));
        if (!dev || !(*dev)->get_unless_zero())
            return nullptr;
        return RefPtr<Device>::adopt(*dev);
    });
}

// ---------------------------------------------------------------------------- mmap offsets

ErrorOr<uint64_t> Device::add_mmap_offset(GemObject &obj)
{
    uint64_t pages = (obj.size() + kernel::kPageSize - 1) >> kernel::kPageShift;
    if (pages == 0)
        return REJECT(-EINVAL, "an object of 0 pages has no mmap offset");
    std::lock_guard lock(offsets_lock_);
    // Offsets are handed out upwards and never reused, so a stale offset can never reach a
    // newer object; 2^44 pages (64 PiB) of offset space outlast any process.
    if (pages > kOffsetEndPage - next_offset_page_)
        return REJECT(-ENOSPC, "the device's mmap offsets are used up (%llu pages asked)",
                      (unsigned long long)pages);
    uint64_t start = next_offset_page_;
    next_offset_page_ += pages;
    offsets_.emplace(start, OffsetNode{&obj, pages});
    return start;
}

void Device::remove_mmap_offset(GemObject &obj)
{
    std::lock_guard lock(offsets_lock_);
    offsets_.erase(obj.offset_page_);
}

ErrorOr<RefPtr<GemObject>> Device::lookup_mmap_offset(const File &file, uint64_t offset,
                                                      uint64_t len)
{
    if (!kernel::page_aligned(offset))
        return REJECT(-EINVAL, "offset %#llx is not page-aligned", (unsigned long long)offset);
    RefPtr<GemObject> obj;
    {
        std::lock_guard lock(offsets_lock_);
        auto it = offsets_.find(offset >> kernel::kPageShift);
        if (it == offsets_.end())
            return REJECT(-EINVAL, "offset %#llx is no BO's", (unsigned long long)offset);
        OffsetNode &node = it->second;
        if (len > node.pages << kernel::kPageShift)
            return REJECT(-EINVAL, "length %llu is past the BO's %llu bytes",
                          (unsigned long long)len,
                          (unsigned long long)(node.pages << kernel::kPageShift));
        if (!node.obj->get_unless_zero())
            return REJECT(-EINVAL, "offset %#llx: its BO is being freed",
                          (unsigned long long)offset);
        obj = RefPtr<GemObject>::adopt(node.obj);
    }
    // Outside offsets_lock_: mmap_offset() takes the object's lock, then offsets_lock_; and
    // dropping the last reference here removes the offset, which takes offsets_lock_.
    if (!obj->mmap_allowed(file))
        return REJECT(-EACCES, "offset %#llx: this file holds no handle to its BO",
                      (unsigned long long)offset);
    return obj;
}

} // namespace accel
