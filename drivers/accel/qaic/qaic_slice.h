// SPDX-License-Identifier: GPL-2.0-only
// Slicing math and request-element encoding: pure functions of the user's slice entries and
// the BO's DMA-mapped sg table, so they are unit-tested without a device.
#pragma once

#include "include/hw/aic100_regs.h"
#include "kernel/result.h"
#include "kernel/scatterlist.h"

#include <cstdint>
#include <drm/qaic_accel.h>
#include <optional>
#include <vector>

namespace qaic {

// Which way a BO's slices move: the uAPI's dir values.
enum class DmaDir : uint32_t { kToDevice = 1, kFromDevice = 2 };
// The direction a user's dir names, if it names one.
inline std::optional<DmaDir> dma_dir_from_user(uint32_t dir)
{
    if (dir == uint32_t(DmaDir::kToDevice) || dir == uint32_t(DmaDir::kFromDevice))
        return DmaDir(dir);
    return std::nullopt;
}

// Largest len of one request element; longer segments are split.
inline constexpr uint64_t kMaxElemLen = uint64_t(1) << 31;

// The runs of a mapped sg table covering [offset, offset + size): entries split at segment
// boundaries, with cpu and dma addresses advanced. Empty for size 0. The range must lie
// within the table (the caller validated it).
std::vector<kernel::SgEntry> slice_sg(const kernel::SgTable &sgt, uint64_t offset, uint64_t size);

// One entry's rules (upstream's plus ours): db_len in {0, 8, 16, 32} and db_addr aligned to
// it; each semaphore's val <= 0xFFF, index <= 31, presync <= 1, cmd <= 6, flags within bits
// 0-1, pad 0; at most one presync semaphore; offset + size without overflow and within the
// BO. -EINVAL otherwise, naming the entry by index.
kernel::ErrorOr<void> validate_slice_entry(unsigned index, const qaic_attach_slice_entry &e,
                                           uint64_t bo_size);

uint32_t encode_sem(const qaic_sem &s);

// Request elements of one slice moving the runs `segs` in dir:
// one per run (split at kMaxElemLen), dev_addr advancing; the presync semaphore on every
// element; the doorbell, all four semaphores and GENERATE_COMPLETION on the last; a slice of
// several elements without presync gets INSYNCFENCE (to device) or OUTSYNCFENCE (from device)
// on the last element's sem0. No runs (size 0): one zero-length element without direction
// bits that still rings the doorbell and runs the semaphores. req_id is left 0.
std::vector<aic100::DbcReq> encode_slice(const qaic_attach_slice_entry &e, DmaDir dir,
                                         const std::vector<kernel::SgEntry> &segs);

// How many elements encode_slice() produces for these runs.
uint64_t slice_elements(const std::vector<kernel::SgEntry> &segs);

} // namespace qaic
