// SPDX-License-Identifier: GPL-2.0-only
// The platform IOMMU in front of the card: host memory is reachable by the device only
// through IOVA ranges the host mapped, each with read and/or write permission. Mappings are
// separated by unmapped guard pages, so a DMA running off the end of one faults.
#pragma once

#include "include/hw/aic100_regs.h"
#include "kernel/result.h"

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>

namespace aic100 {

enum IommuPerm : uint8_t { kPermRead = 1, kPermWrite = 2, kPermRW = 3 };

class Iommu {
public:
    Iommu() = default;
    ~Iommu();
    Iommu(const Iommu &) = delete;
    Iommu &operator=(const Iommu &) = delete;

    // Maps len bytes at host to a new IOVA range (page-aligned start); -ENOMEM when the IOVA
    // space has no room, -EINVAL for len 0.
    kernel::ErrorOr<uint64_t> map(void *host, uint64_t len, uint8_t perm);
    // Removes the mapping that starts at iova. Returns once no DMA through it is in flight,
    // so the host may free the memory afterwards.
    void unmap(uint64_t iova);

    // The device accesses [iova, iova + len) with perm: calls fn(host_pointer) with the whole
    // range translated and pinned, or returns the fault. The range must lie in one mapping.
    template <typename Fn> RspStatus access(uint64_t iova, uint64_t len, uint8_t perm, Fn &&fn)
    {
        Mapping *m = nullptr;
        void *host = nullptr;
        RspStatus st = pin(iova, len, perm, &m, &host);
        if (st != kRspOk)
            return st;
        fn(host);
        unpin(m);
        return kRspOk;
    }

private:
    struct Mapping {
        void *host;
        uint64_t len;
        uint8_t perm;
        unsigned users = 0; // DMAs in flight
        bool removed = false;
    };
    static uint64_t offset_of(const Mapping *m) { return uintptr_t(m->host) & 4095; }
    RspStatus pin(uint64_t iova, uint64_t len, uint8_t perm, Mapping **m, void **host);
    void unpin(Mapping *m);

    mutable std::mutex lock_;
    std::condition_variable unpinned_;
    std::map<uint64_t, Mapping *> map_; // by start IOVA
    uint64_t cursor_ = kIovaStart;

    static constexpr uint64_t kIovaStart = 0x100000;            // IOVA 0 is never valid
    static constexpr uint64_t kIovaEnd = uint64_t(1) << 48;      // 48-bit IOVA space
    static constexpr uint64_t kGuard = 4096;
};

} // namespace aic100
