// SPDX-License-Identifier: GPL-2.0-only
// GEM objects, their fake mmap offsets, and the mappings of them (VMAs).
#include "drivers/accel/accel.h"
#include "kernel/locked.h"
#include "kernel/mm.h"

#include <sys/mman.h>

namespace accel {

GemObject::~GemObject()
{
    if (offset_page_)
        dev_->remove_mmap_offset(*this);
}

ErrorOr<uint64_t> GemObject::mmap_offset()
{
    std::lock_guard lock(lock_);
    if (!offset_page_)
        offset_page_ = TRY(dev_->add_mmap_offset(*this));
    return offset_page_ << kernel::kPageShift;
}

ErrorOr<void> GemObject::mmap(Vma &)
{
    return Error(-ENODEV);
}

void GemObject::allow_mmap(const File &file)
{
    std::lock_guard lock(lock_);
    ++mmap_allowed_[&file];
}

void GemObject::revoke_mmap(const File &file)
{
    std::lock_guard lock(lock_);
    auto it = mmap_allowed_.find(&file);
    if (it != mmap_allowed_.end() && --it->second == 0)
        mmap_allowed_.erase(it);
}

bool GemObject::mmap_allowed(const File &file)
{
    std::lock_guard lock(lock_);
    return mmap_allowed_.count(&file) != 0;
}

// ---------------------------------------------------------------------------- mappings
namespace {

// A live mapping of an object; like a vm_area_struct it pins the object and the file.
struct Mapping {
    size_t len;
    RefPtr<GemObject> obj;
    RefPtr<File> file;
};

// Process-wide: every mapping made through mmap() below, by start address.
kernel::Locked<std::map<uintptr_t, Mapping>> &mappings()
{
    // Never destroyed: mappings may outlive static destructors at exit.
    static auto *m = new kernel::Locked<std::map<uintptr_t, Mapping>>();
    return *m;
}

} // namespace

ErrorOr<void *> mmap(File &file, void *addr, size_t len, int prot, int flags, uint64_t offset)
{
    if (len == 0 || (flags & MAP_TYPE) != MAP_SHARED)
        return Error(-EINVAL);
    auto aligned_len = kernel::page_align(len);
    if (!aligned_len)
        return Error(-EINVAL);
    Device &dev = file.device();
    if (!dev.enter())
        return Error(-ENODEV);
    auto obj = dev.lookup_mmap_offset(file, offset, *aligned_len);
    dev.exit();
    if (obj.is_error())
        return obj.error();

    Vma vma{addr, size_t(*aligned_len), prot, flags};
    TRY(obj.value()->mmap(vma));
    mappings().with([&](auto &m) {
        m[reinterpret_cast<uintptr_t>(vma.addr)] =
            Mapping{vma.len, obj.release_value(), RefPtr<File>::share(&file)};
    });
    return vma.addr;
}

ErrorOr<void> munmap(void *addr, size_t len)
{
    auto start = reinterpret_cast<uintptr_t>(addr);
    auto aligned_len = kernel::page_align(len);
    uintptr_t end;
    if (len == 0 || !kernel::page_aligned(start) || !aligned_len ||
        __builtin_add_overflow(start, *aligned_len, &end))
        return Error(-EINVAL);

    // Take the mappings out of the table first; their references drop after the munmap, once
    // the pages are no longer reachable through these addresses.
    std::vector<Mapping> gone;
    TRY(mappings().with([&](auto &m) -> ErrorOr<void> {
        auto first = m.upper_bound(start);
        if (first != m.begin() && std::prev(first)->first + std::prev(first)->second.len > start)
            --first;
        auto last = first;
        for (; last != m.end() && last->first < end; ++last)
            if (last->first < start || last->first + last->second.len > end)
                return Error(-EINVAL); // part of a mapping
        for (auto it = first; it != last; ++it)
            gone.push_back(std::move(it->second));
        m.erase(first, last);
        return {};
    }));
    if (::munmap(addr, *aligned_len) != 0)
        return Error(-errno);
    return {};
}

} // namespace accel
