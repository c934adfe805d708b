// SPDX-License-Identifier: GPL-2.0-only
// Scatter-gather tables: a buffer as a list of physically contiguous runs of host memory,
// and, once DMA-mapped, the IOVA the device uses for each run.
#pragma once

#include <cstdint>
#include <vector>

namespace kernel {

struct SgEntry {
    void *cpu_addr;    // start of the run in host memory
    uint64_t length;   // bytes
    uint64_t dma_addr; // IOVA of the run, valid while the table is mapped
};

struct SgTable {
    std::vector<SgEntry> entries;
    uint64_t total_length() const
    {
        uint64_t n = 0;
        for (const SgEntry &e : entries)
            n += e.length;
        return n;
    }
};

} // namespace kernel
