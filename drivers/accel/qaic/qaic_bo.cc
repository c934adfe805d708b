// SPDX-License-Identifier: GPL-2.0-only
// Buffer objects: CREATE_BO, MMAP_BO, ATTACH_SLICE_BO, DETACH_SLICE_BO, and the release of
// a DBC's BOs.
#include "drivers/accel/qaic/qaic.h"
#include "drivers/accel/qaic/qaic_slice.h"
#include "kernel/alloc.h"
#include "kernel/mm.h"
#include "kernel/printk.h"

#include <cstdio>
#include <sys/mman.h>

namespace qaic {
namespace {

// More slices than this can never fit a ring (65536 elements at most, one stays empty).
constexpr uint32_t kMaxSlices = 65535;

kernel::DmaDirection dma_dir(DmaDir dir)
{
    return dir == DmaDir::kToDevice ? kernel::DmaDirection::kToDevice
                                    : kernel::DmaDirection::kFromDevice;
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
    dma_unmap(*slicing.lock()); // before pages_ goes: the device may not reach freed chunks
}

QaicDevice &Bo::qdev() const
{
    return to_qdev(device());
}

ErrorOr<void> Bo::dma_map(BoSlicing &s, DmaDir dir)
{
    TRY(qdev().pdev.dma_map_sgtable(sgt_, dma_dir(dir)));
    s.dma_mapped = true;
    s.dir = dir;
    return {};
}

void Bo::dma_unmap(BoSlicing &s)
{
    if (!s.dma_mapped)
        return;
    qdev().pdev.dma_unmap_sgtable(sgt_, dma_dir(s.dir));
    s.dma_mapped = false;
}

void Bo::detach(BoSlicing &s)
{
    dma_unmap(s);
    s.slices.clear();
    s.total_elems = 0;
    s.sliced = false;
    s.queued = false;
}

// The BO's memfd holds exactly its pages, in order: one mapping of it is the BO.
ErrorOr<void> Bo::mmap(accel::Vma &vma)
{
    void *p = ::mmap(vma.addr, vma.len, vma.prot, MAP_SHARED | (vma.flags & MAP_FIXED),
                     pages_.fd(), 0);
    if (p == MAP_FAILED)
        return REJECT(-errno, "mmap(2) of the BO's memfd failed");
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
        return REJECT(-EINVAL, "pad is %#x, not 0", args->pad);
    auto size = kernel::page_align(args->size);
    if (!size)
        return REJECT(-EINVAL, "size %llu overflows when rounded up to a page",
                      (unsigned long long)args->size);
    if (*size == 0)
        return REJECT(-EINVAL, "size is 0");
    TRY(qdev.check_online());
    // BOs only dma-bufs closed since held give their memory back first.
    qdev.reap_dma_bufs();
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
        return REJECT(-EINVAL, "pad is %#x, not 0", args->pad);
    TRY(to_qdev(file.device()).check_online());
    RefPtr<Bo> bo = TRY(lookup_bo(file, args->handle));
    args->offset = TRY(bo->mmap_offset());
    return {};
}

ErrorOr<void> attach_slice_bo_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_attach_slice *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    const qaic_attach_slice_hdr &hdr = args->hdr;

    size_t bytes;
    if (hdr.count == 0)
        return REJECT(-EINVAL, "count is 0");
    if (__builtin_mul_overflow(size_t(hdr.count), sizeof(qaic_attach_slice_entry), &bytes))
        return REJECT(-EINVAL, "count %u entries overflow a size", hdr.count);
    std::optional<DmaDir> dir = dma_dir_from_user(hdr.dir);
    if (!dir)
        return REJECT(-EINVAL, "dir %u is not 1 (to device) or 2 (from device)", hdr.dir);
    if (args->data == 0)
        return REJECT(-EINVAL, "data is NULL");
    if (hdr.dbc_id >= qdev.num_dbc())
        return REJECT(-EINVAL, "DBC %u does not exist (the device has %u)", hdr.dbc_id,
                      qdev.num_dbc());
    if (hdr.count > kMaxSlices)
        return REJECT(-ENOSPC, "%u slices are more than a ring can ever hold (%u)", hdr.count,
                      kMaxSlices);
    TRY(qdev.check_online());

    std::vector<qaic_attach_slice_entry> entries = TRY(kernel::memdup_array_user(
        kernel::UserPtr<qaic_attach_slice_entry>(args->data), hdr.count));
    RefPtr<Bo> bo = TRY(lookup_bo(file, hdr.handle));
    for (unsigned i = 0; i < entries.size(); ++i) // hdr.size is deprecated: the BO's size counts
        TRY(validate_slice_entry(i, entries[i], bo->size()));

    Dbc &dbc = *qdev.dbcs[hdr.dbc_id];
    auto d = dbc.state.lock();
    if (!d->owned_by(file))
        return REJECT(-EINVAL, "DBC %u is not activated by this file", dbc.id);
    if (d->in_ssr)
        return REJECT(-EPIPE, "DBC %u is in a subsystem restart", dbc.id);
    auto s = bo->slicing.lock();
    if (s->sliced)
        return REJECT(-EINVAL, "BO %u is already sliced (for DBC %u)", hdr.handle, s->dbc_id);

    // The ring can hold nelem - 1 elements: a BO needing more could never be queued.
    uint64_t elems = 0;
    for (const qaic_attach_slice_entry &e : entries)
        elems += slice_elements(slice_sg(bo->sgt(), e.offset, e.size));
    if (elems > d->nelem - 1)
        return REJECT(-ENOSPC, "the slices need %llu ring elements, DBC %u's ring holds %u",
                      (unsigned long long)elems, dbc.id, d->nelem - 1);

    // Everything that allocates comes before the BO changes: the DBC's list node, then the
    // slices (encoded from the DMA addresses, so after the mapping, which failing undoes).
    std::list<RefPtr<Bo>> node;
    TRY(kernel::try_alloc([&] { node.push_back(bo); }));
    TRY(bo->dma_map(*s, *dir));
    std::vector<Slice> slices;
    auto encoded = kernel::try_alloc([&] {
        slices.reserve(entries.size());
        for (const qaic_attach_slice_entry &e : entries)
            slices.push_back({e, encode_slice(e, *dir, slice_sg(bo->sgt(), e.offset, e.size))});
    });
    if (encoded.is_error()) {
        bo->dma_unmap(*s);
        return encoded.error();
    }
    s->slices = std::move(slices);
    s->total_elems = elems;
    s->dbc_id = hdr.dbc_id;
    s->sliced = true;
    d->bos.splice(d->bos.end(), node);
    return {};
}

ErrorOr<void> detach_slice_bo_ioctl(accel::File &file, void *data)
{
    auto *args = static_cast<qaic_detach_slice *>(data);
    QaicDevice &qdev = to_qdev(file.device());
    if (args->pad)
        return REJECT(-EINVAL, "pad is %#x, not 0", args->pad);
    TRY(qdev.check_online());
    RefPtr<Bo> bo = TRY(lookup_bo(file, args->handle));
    uint32_t dbc_id;
    {
        auto s = bo->slicing.lock();
        if (!s->sliced)
            return REJECT(-EINVAL, "BO %u is not sliced", args->handle);
        dbc_id = s->dbc_id;
    }
    Dbc &dbc = *qdev.dbcs[dbc_id];
    auto d = dbc.state.lock();
    if (!d->owned_by(file))
        return REJECT(-EINVAL, "BO %u is sliced for DBC %u, which this file has not activated",
                      args->handle, dbc_id);
    {
        auto s = bo->slicing.lock();
        // Re-check: the DBC may have been released and the BO detached meanwhile.
        if (!s->sliced || s->dbc_id != dbc_id)
            return REJECT(-EINVAL, "BO %u was detached meanwhile (its DBC was released)",
                          args->handle);
        if (s->queued)
            return REJECT(-EBUSY, "BO %u is queued for execution", args->handle);
        bo->detach(*s);
    }
    d->bos.remove(bo);
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
            auto d = dbc.state.lock();
            jobs = dbc_stop(dbc, *d);
            bos.swap(d->bos);
            queue = d->queue;
            d->queue = {};
            d->nelem = 0;
            d->in_use = false;
            d->in_ssr = false;
            d->usr = 0;
            set_dbc_state(dbc, kDbcStateIdle);
        }
        finish_jobs(jobs, err);
    }
    for (RefPtr<Bo> &bo : bos)
        bo->detach(*bo->slicing.lock());
    if (queue.cpu_addr)
        pdev.dma_free_coherent(queue);
}

bool DbcState::owned_by(const accel::File &file) const
{
    return owned_by(file.priv<QaicUser>().handle);
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
