// SPDX-License-Identifier: GPL-2.0-only
// Buffer objects: CREATE_BO, MMAP_BO, ATTACH_SLICE_BO, DETACH_SLICE_BO, and the release of
// a DBC's BOs.
#include "drivers/accel/qaic/qaic.h"
#include "drivers/accel/qaic/qaic_slice.h"
#include "kernel/alloc.h"
#include "kernel/mm.h"

#include <cstdio>
#include <sys/mman.h>

namespace qaic {
namespace {

// More slices than this can never fit a ring (65536 elements at most, one stays empty).
constexpr uint32_t kMaxSlices = 65535;

kernel::DmaDirection dma_dir(uint32_t dir)
{
    return dir == 1 ? kernel::DmaDirection::kToDevice : kernel::DmaDirection::kFromDevice;
}

// Drops the slicing of a BO whose DBC it was attached to: unmaps it for the device (which
// waits for DMA in flight) and forgets the slices. Caller holds bo.lock.
void detach_locked(Bo &bo)
{
    bo.dma_unmap();
    bo.slices.clear();
    bo.total_elems = 0;
    bo.sliced = false;
    bo.queued = false;
}

} // namespace

// ---------------------------------------------------------------------------- Bo

ErrorOr<RefPtr<Bo>> lookup_bo(accel::File &file, uint32_t handle)
{
    RefPtr<accel::GemObject> obj = TRY(file.lookup(handle));
    return RefPtr<Bo>::share(static_cast<Bo *>(obj.get()));
}

Bo::Bo(QaicDevice &qdev, uint64_t size, PagePool::Pages pages)
    : GemObject(qdev, size), pages_(std::move(pages))
{
    for (const PagePool::Chunk &c : pages_.chunks())
        sgt_.entries.push_back({pages_.addr(c), c.length, 0});
}

Bo::~Bo()
{
    dma_unmap(); // before pages_ goes: the device may not reach freed chunks
}

QaicDevice &Bo::qdev() const
{
    return to_qdev(device());
}

ErrorOr<void> Bo::dma_map(uint32_t dir)
{
    TRY(qdev().pdev.dma_map_sgtable(sgt_, dma_dir(dir)));
    dma_mapped = true;
    this->dir = dir;
    return {};
}

void Bo::dma_unmap()
{
    if (!dma_mapped)
        return;
    qdev().pdev.dma_unmap_sgtable(sgt_, dma_dir(dir));
    dma_mapped = false;
}

// The BO's memfd holds exactly its pages, in order: one mapping of it is the BO.
ErrorOr<void> Bo::mmap(accel::Vma &vma)
{
    void *p = ::mmap(vma.addr, vma.len, vma.prot, MAP_SHARED | (vma.flags & MAP_FIXED),
                     pages_.fd(), 0);
    if (p == MAP_FAILED)
        return Error(-errno);
    vma.addr = p;
    return {};
}

ErrorOr<accel::MmapFd> Bo::mmap_fd() const
{
    return accel::MmapFd{pages_.fd_for_another_process(), 0};
}

// ---------------------------------------------------------------------------- ioctls

ErrorOr<void> create_bo_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_create_bo *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    if (args->pad)
        return Error(-EINVAL);
    auto size = kernel::page_align(args->size);
    if (!size || *size == 0)
        return Error(-EINVAL);
    if (!qdev.online)
        return Error(-ENODEV);
    // Memory comes zeroed: a new memfd reads zero until first written.
    PagePool::Pages pages = TRY(qdev.pool->alloc(*size));
    RefPtr<Bo> bo = TRY(kernel::try_make_ref<Bo>(qdev, *size, std::move(pages)));
    args->handle = TRY(file.handle_create(bo));
    return {};
}

ErrorOr<void> mmap_bo_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_mmap_bo *>(data);
    if (args->pad)
        return Error(-EINVAL);
    if (!to_qdev(file.device()).online)
        return Error(-ENODEV);
    RefPtr<Bo> bo = TRY(lookup_bo(file, args->handle));
    args->offset = TRY(bo->mmap_offset());
    return {};
}

ErrorOr<void> attach_slice_bo_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_attach_slice *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    QaicUser &usr = to_usr(file);
    const qaic_attach_slice_hdr &hdr = args->hdr;

    size_t bytes;
    if (hdr.count == 0 ||
        __builtin_mul_overflow(size_t(hdr.count), sizeof(qaic_attach_slice_entry), &bytes))
        return Error(-EINVAL);
    if ((hdr.dir != 1 && hdr.dir != 2) || args->data == 0 || hdr.dbc_id >= qdev.num_dbc())
        return Error(-EINVAL);
    if (hdr.count > kMaxSlices)
        return Error(-ENOSPC);
    if (!qdev.online)
        return Error(-ENODEV);

    std::vector<qaic_attach_slice_entry> entries = TRY(kernel::memdup_array_user(
        kernel::UserPtr<qaic_attach_slice_entry>(args->data), hdr.count));
    RefPtr<Bo> bo = TRY(lookup_bo(file, hdr.handle));
    for (const qaic_attach_slice_entry &e : entries)
        TRY(validate_slice_entry(e, bo->size())); // hdr.size is deprecated: the BO's size counts

    Dbc &dbc = *qdev.dbcs[hdr.dbc_id];
    std::lock_guard dbc_lock(dbc.lock);
    if (!dbc.in_use || dbc.usr != usr.handle)
        return Error(-EINVAL);
    if (dbc.in_ssr)
        return Error(-EPIPE);
    std::lock_guard bo_lock(bo->lock);
    if (bo->sliced)
        return Error(-EINVAL);

    // The ring can hold nelem - 1 elements: a BO needing more could never be queued.
    uint64_t elems = 0;
    for (const qaic_attach_slice_entry &e : entries)
        elems += slice_elements(slice_sg(bo->sgt(), e.offset, e.size));
    if (elems > dbc.nelem - 1)
        return Error(-ENOSPC);

    // Everything that allocates comes before the BO changes: the DBC's list node, then the
    // slices (encoded from the DMA addresses, so after the mapping, which failing undoes).
    std::list<RefPtr<Bo>> node;
    TRY(kernel::try_alloc([&] { node.push_back(bo); }));
    TRY(bo->dma_map(hdr.dir));
    std::vector<Slice> slices;
    auto encoded = kernel::try_alloc([&] {
        slices.reserve(entries.size());
        for (const qaic_attach_slice_entry &e : entries)
            slices.push_back({e, encode_slice(e, hdr.dir, slice_sg(bo->sgt(), e.offset, e.size))});
    });
    if (encoded.is_error()) {
        bo->dma_unmap();
        return encoded.error();
    }
    bo->slices = std::move(slices);
    bo->total_elems = elems;
    bo->dbc_id = hdr.dbc_id;
    bo->sliced = true;
    dbc.bos.splice(dbc.bos.end(), node);
    return {};
}

ErrorOr<void> detach_slice_bo_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_detach_slice *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    if (args->pad)
        return Error(-EINVAL);
    if (!qdev.online)
        return Error(-ENODEV);
    RefPtr<Bo> bo = TRY(lookup_bo(file, args->handle));
    uint32_t dbc_id;
    {
        std::lock_guard lk(bo->lock);
        if (!bo->sliced)
            return Error(-EINVAL);
        dbc_id = bo->dbc_id;
    }
    Dbc &dbc = *qdev.dbcs[dbc_id];
    std::lock_guard dbc_lock(dbc.lock);
    if (!dbc.in_use || dbc.usr != to_usr(file).handle)
        return Error(-EINVAL);
    {
        std::lock_guard lk(bo->lock);
        // Re-check: the DBC may have been released and the BO detached meanwhile.
        if (!bo->sliced || bo->dbc_id != dbc_id)
            return Error(-EINVAL);
        if (bo->queued)
            return Error(-EBUSY);
        detach_locked(*bo);
    }
    dbc.bos.remove(bo);
    return {};
}

// ---------------------------------------------------------------------------- DBC release

void QaicDevice::release_dbc(Dbc &dbc, int err)
{
    std::list<RefPtr<Bo>> bos;
    kernel::DmaCoherent queue;
    {
        std::lock_guard fin(dbc.finish_lock);
        JobList jobs;
        {
            std::lock_guard lk(dbc.lock);
            jobs = dbc_stop(dbc);
            bos.swap(dbc.bos);
            queue = dbc.queue;
            dbc.queue = {};
            dbc.nelem = 0;
            dbc.in_use = false;
            dbc.in_ssr = false;
            dbc.usr = 0;
            set_dbc_state(dbc, kDbcStateIdle);
        }
        finish_jobs(jobs, err);
    }
    for (RefPtr<Bo> &bo : bos) {
        std::lock_guard lk(bo->lock);
        detach_locked(*bo);
    }
    if (queue.cpu_addr)
        pdev.dma_free_coherent(queue);
}

void QaicDevice::set_dbc_state(Dbc &dbc, DbcSysfsState state, bool only_if_active)
{
    // Under the state lock to the end: the uevents of one DBC go out in the order of its
    // states.
    std::lock_guard lk(dbc.state_lock);
    int old = dbc.sysfs_state.load(std::memory_order_relaxed);
    if (old == state || (only_if_active && old == kDbcStateIdle))
        return;
    dbc.sysfs_state.store(state, std::memory_order_relaxed);
    char id[24], st[24];
    std::snprintf(id, sizeof(id), "DBC_ID=%u", dbc.id);
    std::snprintf(st, sizeof(st), "DBC_STATE=%d", int(state));
    uevent(accel::KobjAction::kChange, {id, st});
}

} // namespace qaic
