// SPDX-License-Identifier: GPL-2.0-only
#include "hw/aic100/iommu.h"
#include "kernel/alloc.h"

#include <memory>
#include <new>

namespace aic100 {
namespace {
constexpr uint64_t kPage = 4096;
constexpr uint64_t round_up(uint64_t v)
{
    return (v + kPage - 1) & ~(kPage - 1);
}
} // namespace

Iommu::~Iommu()
{
    for (auto &[iova, m] : map_)
        delete m;
}

kernel::ErrorOr<uint64_t> Iommu::map(void *host, uint64_t len, uint8_t perm)
{
    if (len == 0 || len > kIovaEnd)
        return kernel::Error(-EINVAL);
    // The in-page offset of host is kept, as an IOMMU maps whole pages.
    uint64_t offset = reinterpret_cast<uintptr_t>(host) & (kPage - 1);
    uint64_t span = round_up(offset + len) + kGuard;
    std::lock_guard lock(lock_);
    // First fit from a cursor that moves on, so a freed IOVA is reused as late as possible
    // and a stale IOVA from a buggy driver faults instead of hitting someone else's pages.
    for (int pass = 0; pass < 2; ++pass) {
        uint64_t start = pass == 0 ? cursor_ : kIovaStart;
        while (start + span <= kIovaEnd) {
            auto next = map_.lower_bound(start);
            if (next != map_.begin()) {
                auto prev = std::prev(next);
                const Mapping *pm = prev->second;
                uint64_t prev_end = prev->first + round_up(offset_of(pm) + pm->len) + kGuard;
                if (prev_end > start) {
                    start = prev_end;
                    continue;
                }
            }
            if (next != map_.end() && next->first < start + span) {
                // Collides with the next mapping: try again right after it.
                const Mapping *nm = next->second;
                start = next->first + round_up(offset_of(nm) + nm->len) + kGuard;
                continue;
            }
            // Out of memory is -ENOMEM, with nothing mapped or leaked: the driver unwinds
            // the entries it mapped before.
            std::unique_ptr<Mapping> m(new (std::nothrow) Mapping{host, len, perm});
            if (!m || kernel::try_alloc([&] { map_.emplace(start, m.get()); }).is_error())
                return kernel::Error(-ENOMEM);
            m.release();
            cursor_ = start + span;
            return start + offset;
        }
    }
    return kernel::Error(-ENOMEM);
}

void Iommu::unmap(uint64_t iova)
{
    std::unique_lock lock(lock_);
    auto it = map_.find(iova & ~(kPage - 1));
    if (it == map_.end())
        return;
    Mapping *m = it->second;
    map_.erase(it);
    m->removed = true;
    unpinned_.wait(lock, [m] { return m->users == 0; });
    delete m;
}

RspStatus Iommu::pin(uint64_t iova, uint64_t len, uint8_t perm, Mapping **out, void **host)
{
    std::lock_guard lock(lock_);
    auto it = map_.upper_bound(iova);
    if (it == map_.begin())
        return kRspIommuFault;
    --it;
    Mapping *m = it->second;
    uint64_t start = it->first + offset_of(m); // IOVA of the first mapped byte
    uint64_t end;
    if (iova < start || __builtin_add_overflow(iova, len, &end) || end > start + m->len)
        return kRspIommuFault;
    if ((m->perm & perm) != perm)
        return kRspIommuPerm;
    ++m->users;
    *out = m;
    *host = static_cast<char *>(m->host) + (iova - start);
    return kRspOk;
}

void Iommu::unpin(Mapping *m)
{
    std::lock_guard lock(lock_);
    if (--m->users == 0 && m->removed)
        unpinned_.notify_all();
}

} // namespace aic100
