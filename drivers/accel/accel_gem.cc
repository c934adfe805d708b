// SPDX-License-Identifier: GPL-2.0-only
// GEM objects, their fake mmap offsets, and the mappings of them (VMAs).
#include "drivers/accel/accel.h"
#include "kernel/alloc.h"
#include "kernel/locked.h"
#include "kernel/mm.h"
#include "kernel/printk.h"

#include <new>
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

ErrorOr<MmapFd> GemObject::mmap_fd() const
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

// A live mapped range of an object; like a vm_area_struct it pins the object and the file.
// A mapping split by MAP_FIXED or a partial munmap leaves pieces that each hold both.
struct Mapping {
    size_t len = 0;
    RefPtr<GemObject> obj;
    RefPtr<File> file;
    RefPtr<kernel::RefCounted> pin; // what a foreign mapping holds instead (mmap_foreign)
};
using MappingTable = std::map<uintptr_t, Mapping>; // by start address, never overlapping

// Process-wide: every range mapped through mmap() below. Its lock is the mmap_lock: held
// across the mmap(2)/munmap(2) that changes a range and the table update, so the table and
// the address space agree for every other caller.
kernel::Locked<MappingTable> &mappings()
{
    // Never destroyed: mappings may outlive static destructors at exit. In static storage:
    // an empty table allocates nothing, so the first mmap cannot fail making it.
    alignas(kernel::Locked<MappingTable>) static unsigned char storage[sizeof(kernel::Locked<MappingTable>)];
    static auto *m = new (storage) kernel::Locked<MappingTable>();
    return *m;
}

// A table node allocated ahead, so that nothing can fail once the address space changed.
ErrorOr<MappingTable::node_type> new_node()
{
    try {
        MappingTable one;
        one.try_emplace(0);
        return one.extract(one.begin());
    } catch (const std::bad_alloc &) {
        return REJECT(-ENOMEM, "out of memory");
    }
}

// Takes [start, end) out of the table: records inside it move to `gone`, records across its
// ends are trimmed. One record spanning the whole range becomes two pieces; the second
// uses `spare`. Allocates nothing.
void carve(MappingTable &m, uintptr_t start, uintptr_t end, MappingTable &gone,
           MappingTable::node_type &spare)
{
    auto it = m.lower_bound(start);
    if (it != m.begin()) {
        auto &[prev_start, prev] = *std::prev(it);
        uintptr_t prev_end = prev_start + prev.len;
        if (prev_end > start) {
            if (prev_end > end) {
                spare.key() = end;
                spare.mapped() = Mapping{prev_end - end, prev.obj, prev.file, prev.pin};
                m.insert(std::move(spare));
            }
            prev.len = start - prev_start;
        }
    }
    while ((it = m.lower_bound(start)) != m.end() && it->first < end) {
        auto node = m.extract(it);
        uintptr_t node_end = node.key() + node.mapped().len;
        if (node_end <= end) {
            gone.insert(std::move(node));
        } else {
            node.mapped().len = node_end - end;
            node.key() = end;
            m.insert(std::move(node));
        }
    }
}

// The object a file may map at `offset` for `len` bytes, and that length rounded up to
// pages: the checks every mapping of an object passes, wherever it is mapped.
struct MmapTarget {
    RefPtr<GemObject> obj;
    uint64_t len;
};
ErrorOr<MmapTarget> lookup_for_mmap(File &file, uint64_t offset, uint64_t len)
{
    auto aligned_len = kernel::page_align(len);
    if (len == 0)
        return REJECT(-EINVAL, "length is 0");
    if (!aligned_len)
        return REJECT(-EINVAL, "length %llu overflows when rounded up to a page",
                      (unsigned long long)len);
    DeviceSection section(file.device());
    if (!section)
        return REJECT(-ENODEV, "the device is gone");
    RefPtr<GemObject> obj = TRY(file.device().lookup_mmap_offset(file, offset, *aligned_len));
    return MmapTarget{std::move(obj), *aligned_len};
}

} // namespace

ErrorOr<MmapSource> mmap_source(File &file, uint64_t offset, uint64_t len)
{
    kernel::OpScope op("mmap");
    MmapTarget target = TRY(lookup_for_mmap(file, offset, len));
    MmapFd where = TRY(target.obj->mmap_fd());
    return MmapSource{std::move(target.obj), where.fd, where.offset};
}

static ErrorOr<void *> do_mmap(File &file, void *addr, size_t len, int prot, int flags, uint64_t offset)
{
    if (len == 0)
        return REJECT(-EINVAL, "length is 0");
    if ((flags & MAP_TYPE) != MAP_SHARED)
        return REJECT(-EINVAL, "flags %#x are not MAP_SHARED: BOs are only shared", flags);
    MmapTarget target = TRY(lookup_for_mmap(file, offset, len));
    // A fixed address may not replace the kernel side's memory; a hint there is only a hint.
    auto fixed_at = reinterpret_cast<uintptr_t>(addr);
    if ((flags & MAP_FIXED) && !kernel::page_aligned(fixed_at))
        return REJECT(-EINVAL, "MAP_FIXED address %#llx is not page-aligned",
                      (unsigned long long)fixed_at);
    if ((flags & MAP_FIXED) && kernel::touches_kernel_range(fixed_at, target.len))
        return REJECT(-EPERM, "MAP_FIXED range at %#llx covers the driver's own memory",
                      (unsigned long long)fixed_at);

    auto node = TRY(new_node());
    auto spare = TRY(new_node());
    MappingTable gone; // what the new mapping replaced; dropped after the lock
    Vma vma{addr, size_t(target.len), prot, flags};
    TRY(mappings().with([&](MappingTable &m) -> ErrorOr<void> {
        // On failure the old records stay: a range that mmap(2) may have unmapped anyway
        // keeps its object until munmap, never the reverse.
        TRY(target.obj->mmap(vma));
        // Whatever was mapped there before is gone, MAP_FIXED or not: a record left by a
        // munmap(2) behind our back must not outlive its addresses either.
        auto start = reinterpret_cast<uintptr_t>(vma.addr);
        carve(m, start, start + vma.len, gone, spare);
        node.key() = start;
        node.mapped() = Mapping{vma.len, std::move(target.obj), RefPtr<File>::share(&file), nullptr};
        m.insert(std::move(node));
        return {};
    }));
    return vma.addr;
}

ErrorOr<void *> mmap_foreign(void *addr, size_t len, int flags, RefPtr<kernel::RefCounted> pin,
                             const std::function<ErrorOr<void *>()> &map)
{
    auto fixed_at = reinterpret_cast<uintptr_t>(addr);
    auto aligned_len = kernel::page_align(len);
    if (len == 0 || !aligned_len)
        return REJECT(-EINVAL, "length %zu is 0 or overflows when rounded up to a page", len);
    if ((flags & MAP_FIXED) && kernel::touches_kernel_range(fixed_at, *aligned_len))
        return REJECT(-EPERM, "MAP_FIXED range at %#llx covers the driver's own memory",
                      (unsigned long long)fixed_at);
    auto node = TRY(new_node());
    auto spare = TRY(new_node());
    MappingTable gone;
    return mappings().with([&](MappingTable &m) -> ErrorOr<void *> {
        void *p = TRY(map());
        auto start = reinterpret_cast<uintptr_t>(p);
        carve(m, start, start + *aligned_len, gone, spare);
        node.key() = start;
        node.mapped() = Mapping{size_t(*aligned_len), nullptr, nullptr, std::move(pin)};
        m.insert(std::move(node));
        return p;
    });
}

static ErrorOr<void> do_munmap(void *addr, size_t len)
{
    auto start = reinterpret_cast<uintptr_t>(addr);
    auto aligned_len = kernel::page_align(len);
    uintptr_t end;
    if (len == 0)
        return REJECT(-EINVAL, "length is 0");
    if (!kernel::page_aligned(start))
        return REJECT(-EINVAL, "address %#llx is not page-aligned", (unsigned long long)start);
    if (!aligned_len || __builtin_add_overflow(start, *aligned_len, &end))
        return REJECT(-EINVAL, "address %#llx + length %zu overflows", (unsigned long long)start,
                      len);
    if (kernel::touches_kernel_range(start, *aligned_len))
        return REJECT(-EPERM, "range at %#llx covers the driver's own memory",
                      (unsigned long long)start);

    auto spare = TRY(new_node());
    // The references of what is unmapped drop after the lock, once the pages are no longer
    // reachable through these addresses.
    MappingTable gone;
    return mappings().with([&](MappingTable &m) -> ErrorOr<void> {
        if (::munmap(addr, *aligned_len) != 0)
            return REJECT(-errno, "munmap(2) failed");
        carve(m, start, end, gone, spare);
        return {};
    });
}

// The entries: an exception is a failure the path did not answer itself, an errno here (the
// last line of defence, as for ioctls). Both leave the table as it was when they throw.
ErrorOr<void *> mmap(File &file, void *addr, size_t len, int prot, int flags, uint64_t offset)
{
    kernel::OpScope op("mmap");
    try {
        return do_mmap(file, addr, len, prot, flags, offset);
    } catch (...) {
        return Error(kernel::errno_of_exception("mmap"));
    }
}

ErrorOr<void> munmap(void *addr, size_t len)
{
    kernel::OpScope op("munmap");
    try {
        return do_munmap(addr, len);
    } catch (...) {
        return Error(kernel::errno_of_exception("munmap"));
    }
}

} // namespace accel
