// SPDX-License-Identifier: GPL-2.0-only
// Device coredumps (the kernel's drivers/base/devcoredump.c, dev_coredumpv): a driver hands
// over the dump of a crashed device; it is kept for userspace as devcd<N>, read (at any
// offset, as /sys/class/devcoredump/devcd<N>/data) until dismissed (a write to data) or until
// kTimeout passes, then freed. One dump per device at a time: a new one while the last is
// unread is discarded. Memory is bounded: a dump that would take the total past the store's
// limit is discarded too.
#pragma once

#include "kernel/result.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <vector>

namespace kernel {

struct CoredumpInfo {
    unsigned id = 0;   // devcd<id>
    uint64_t size = 0; // bytes of data
};

class DevCoredumps {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::minutes kTimeout{5};          // DEVCD_TIMEOUT
    static constexpr uint64_t kDefaultMaxBytes = uint64_t(256) << 20; // over every dump

    explicit DevCoredumps(uint64_t max_bytes = kDefaultMaxBytes) : max_bytes_(max_bytes) {}

    // dev_coredumpv: keeps data as dev's dump and returns its id. The data is freed instead,
    // with -EBUSY when dev has a dump not yet dismissed, -ENOSPC when it would take the store
    // past its limit, -EINVAL when it is empty.
    ErrorOr<unsigned> add(const void *dev, std::vector<uint8_t> data);
    // dev's dump: -ENOENT when it has none.
    ErrorOr<CoredumpInfo> find(const void *dev);
    // Copies the dump's bytes from off into out: the bytes copied (0 past the end), -ENOENT
    // for a dump that is gone.
    ErrorOr<size_t> read(unsigned id, uint64_t off, std::span<uint8_t> out);
    // Read-once: dev's dump whole, and it is gone (-ENOENT: none).
    ErrorOr<std::vector<uint8_t>> take(const void *dev);
    // A write to data: the dump is freed (nothing when it is gone already).
    void dismiss(unsigned id);
    // The device goes: its dump with it.
    void remove_device(const void *dev);
    // Bytes held over every dump.
    uint64_t bytes();
    // Tests: how long an unread dump lives.
    void set_timeout(std::chrono::milliseconds timeout);

private:
    struct Entry {
        const void *dev;
        std::vector<uint8_t> data;
        Clock::time_point expires;
    };
    // Frees the dumps whose time is up. Caller holds lock_.
    void expire();

    std::mutex lock_;
    std::map<unsigned, Entry> dumps_; // by id
    unsigned next_id_ = 1;
    uint64_t bytes_ = 0;
    const uint64_t max_bytes_;
    std::chrono::milliseconds timeout_ = kTimeout;
};

// The host's store (the devcoredump class): shared by every device.
DevCoredumps &devcoredumps();

} // namespace kernel
