// SPDX-License-Identifier: GPL-2.0-only
#include "drivers/accel/qaic/qaic_slice.h"
#include "kernel/printk.h"

namespace qaic {
namespace {

uint8_t db_code(uint32_t db_len)
{
    switch (db_len) {
    case 32: return aic100::kDb32;
    case 16: return aic100::kDb16;
    case 8: return aic100::kDb8;
    default: return aic100::kDbNone;
    }
}

kernel::ErrorOr<void> validate_sem(unsigned entry, const char *name, const qaic_sem &s)
{
    if (s.val > aic100::kSemValMask)
        return REJECT(-EINVAL, "entry %u: %s.val %u is over %u", entry, name, s.val,
                      aic100::kSemValMask);
    if (s.index > 31)
        return REJECT(-EINVAL, "entry %u: %s.index %u is over 31", entry, name, s.index);
    if (s.presync > 1)
        return REJECT(-EINVAL, "entry %u: %s.presync %u is not 0 or 1", entry, name, s.presync);
    if (s.cmd > QAIC_SEM_WAIT_GT_0)
        return REJECT(-EINVAL, "entry %u: %s.cmd %u is not a semaphore command (0-%u)", entry,
                      name, s.cmd, QAIC_SEM_WAIT_GT_0);
    if (s.flags & ~(QAIC_SEM_INSYNCFENCE | QAIC_SEM_OUTSYNCFENCE))
        return REJECT(-EINVAL, "entry %u: %s.flags %#x has bits other than the sync fences",
                      entry, name, s.flags);
    if (s.pad)
        return REJECT(-EINVAL, "entry %u: %s.pad is %u, not 0", entry, name, s.pad);
    return {};
}

} // namespace

std::vector<kernel::SgEntry> slice_sg(const kernel::SgTable &sgt, uint64_t offset, uint64_t size)
{
    std::vector<kernel::SgEntry> out;
    uint64_t pos = 0; // BO offset of the current entry
    for (const kernel::SgEntry &e : sgt.entries) {
        if (size == 0)
            break;
        uint64_t end = pos + e.length;
        if (offset < end) {
            uint64_t skip = offset - pos;
            uint64_t take = std::min(e.length - skip, size);
            out.push_back({static_cast<char *>(e.cpu_addr) + skip, take, e.dma_addr + skip});
            offset += take;
            size -= take;
        }
        pos = end;
    }
    return out;
}

kernel::ErrorOr<void> validate_slice_entry(unsigned index, const qaic_attach_slice_entry &e,
                                           uint64_t bo_size)
{
    if (e.db_len != 0 && e.db_len != 8 && e.db_len != 16 && e.db_len != 32)
        return REJECT(-EINVAL, "entry %u: db_len %u is not 0, 8, 16 or 32", index, e.db_len);
    if (e.db_len && e.db_addr % (e.db_len / 8))
        return REJECT(-EINVAL, "entry %u: db_addr %#llx is not aligned to db_len %u", index,
                      (unsigned long long)e.db_addr, e.db_len);
    int presync = 0;
    const char *names[] = {"sem0", "sem1", "sem2", "sem3"};
    const qaic_sem *sems[] = {&e.sem0, &e.sem1, &e.sem2, &e.sem3};
    for (int i = 0; i < 4; ++i) {
        TRY(validate_sem(index, names[i], *sems[i]));
        presync += sems[i]->presync;
    }
    if (presync > 1)
        return REJECT(-EINVAL, "entry %u: %d semaphores are presync, at most one may be", index,
                      presync);
    uint64_t end;
    if (__builtin_add_overflow(e.offset, e.size, &end))
        return REJECT(-EINVAL, "entry %u: offset %llu + size %llu overflows", index,
                      (unsigned long long)e.offset, (unsigned long long)e.size);
    if (end > bo_size)
        return REJECT(-EINVAL, "entry %u: offset %llu + size %llu is past the BO's %llu bytes",
                      index, (unsigned long long)e.offset, (unsigned long long)e.size,
                      (unsigned long long)bo_size);
    return {};
}

uint32_t encode_sem(const qaic_sem &s)
{
    return aic100::sem_word(s.val, s.index, s.presync, s.cmd, s.flags);
}

uint64_t slice_elements(const std::vector<kernel::SgEntry> &segs)
{
    uint64_t n = 0;
    for (const kernel::SgEntry &e : segs)
        n += (e.length + kMaxElemLen - 1) / kMaxElemLen;
    return n ? n : 1;
}

std::vector<aic100::DbcReq> encode_slice(const qaic_attach_slice_entry &e, DmaDir dir,
                                         const std::vector<kernel::SgEntry> &segs)
{
    const qaic_sem *sems[4] = {&e.sem0, &e.sem1, &e.sem2, &e.sem3};
    uint32_t words[4];
    int presync = -1;
    for (int i = 0; i < 4; ++i) {
        words[i] = encode_sem(*sems[i]);
        if (sems[i]->presync)
            presync = i;
    }
    uint8_t dir_bits = dir == DmaDir::kToDevice ? aic100::kCmdToDevice : aic100::kCmdFromDevice;

    std::vector<aic100::DbcReq> reqs;
    uint64_t dev_addr = e.dev_addr;
    for (const kernel::SgEntry &seg : segs) {
        for (uint64_t done = 0; done < seg.length;) {
            uint64_t len = std::min(seg.length - done, kMaxElemLen);
            aic100::DbcReq r{};
            r.cmd = aic100::kCmdBulk | dir_bits;
            uint64_t host = seg.dma_addr + done;
            r.src_addr = dir == DmaDir::kToDevice ? host : dev_addr;
            r.dest_addr = dir == DmaDir::kToDevice ? dev_addr : host;
            r.len = uint32_t(len);
            if (presync >= 0)
                r.sem_cmd[presync] = words[presync];
            reqs.push_back(r);
            dev_addr += len;
            done += len;
        }
    }
    if (reqs.empty()) {
        aic100::DbcReq r{};
        r.cmd = aic100::kCmdBulk; // zero-size slice: no direction, nothing moves
        reqs.push_back(r);
    }

    aic100::DbcReq &last = reqs.back();
    last.cmd |= aic100::kCmdGenCompletion;
    last.db_addr = e.db_len ? e.db_addr : 0;
    last.db_len = db_code(e.db_len);
    last.db_data = e.db_len ? e.db_data : 0;
    for (int i = 0; i < 4; ++i)
        last.sem_cmd[i] = words[i];
    if (reqs.size() > 1 && presync < 0) {
        uint32_t fence =
            dir == DmaDir::kToDevice ? aic100::kSemFlagInSyncFence : aic100::kSemFlagOutSyncFence;
        last.sem_cmd[0] |= fence << aic100::kSemFlagsShift;
    }
    return reqs;
}

} // namespace qaic
