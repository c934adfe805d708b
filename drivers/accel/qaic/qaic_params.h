// SPDX-License-Identifier: GPL-2.0-only
// The driver's parameters (upstream's module_param): their values, and the settings a host
// passes at load time (QAIC_PARAMS, qaicd --param).
#pragma once

#include "kernel/result.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qaic {

using kernel::ErrorOr;

// One parameter as a host was asked to set it.
struct ParamSetting {
    std::string name;
    uint32_t value;
};

// Module parameters (upstream's module_param), under upstream's names and units where upstream
// has the parameter. debug (the categories of kernel/printk.h) is module-wide, as drm.debug
// is; the others are per device. Upstream's permissions decide what may change at run time:
// datapath_polling (0400) only at load, the rest (0600) at any time.
struct Params {
    // MANAGE: -ETIMEDOUT after this. Set as upstream's control_resp_timeout_s, or finer in
    // ms or us (ours): a fuzzer's lost answers each cost it, and a millisecond is ten
    // answers under ASan. One value, in us.
    std::atomic<uint32_t> control_resp_timeout_us{60000000};
    // Probe and reset: the device must come ONLINE within this (upstream's MHI controller
    // timeout, which bounds the device's power-up state transitions).
    std::atomic<uint32_t> mhi_timeout_ms{2000};
    std::atomic<uint32_t> wait_exec_default_timeout_ms{5000}; // WAIT_BO with timeout 0
    std::atomic<uint32_t> exec_timeout_ms{10000}; // a job without progress this long is hung
    std::atomic<uint32_t> sched_queue_depth{4096}; // jobs queued in software per DBC
    std::atomic<uint32_t> datapath_polling{0};     // 1: poll responses instead of MSIs
    std::atomic<uint32_t> datapath_poll_interval_us{100}; // polling period (watchdog tick / 1000)
    std::atomic<uint32_t> timesync_delay_ms{1000}; // period of the host time sent to the device
    std::atomic<uint32_t> wait_spin_us{50};        // WAIT_BO spins this long before sleeping
    std::atomic<uint32_t> wait_busy_poll{1};       // WAIT_BO lends its thread to the device
    std::atomic<uint32_t> control_busy_poll{1};    // MANAGE lends its thread to the device
    // DMA_XFER bounce chunks: at most 2^this pages each, one address/size pair per chunk.
    // 0 gives a pair per page, as a user's scattered pages give upstream's driver.
    std::atomic<uint32_t> dma_xfer_chunk_order{4};

    // A run-time write (sysfs's store), by name (a module-wide one, such as debug, for every
    // device): -EINVAL for an unknown name or an out-of-range value, -EACCES for a
    // parameter settable only at load (mode 0400: a write of its sysfs file fails so).
    ErrorOr<void> set(const char *name, uint32_t value);
    // The same at load time (QAIC_PARAMS, --param): every parameter may be given.
    ErrorOr<void> load(const char *name, uint32_t value);
    // The value as its sysfs file shows it ("%u\n"; a bool's "Y\n" or "N\n"); -EINVAL for an
    // unknown name. A module-wide parameter's is the module's.
    ErrorOr<std::string> get(std::string_view name) const;
    // Every parameter, in the order of the table, with its value (get()) and mode.
    struct Entry {
        std::string name;
        std::string value;
        unsigned mode; // 0600 or 0400, as upstream's module_param
    };
    ErrorOr<std::vector<Entry>> list() const;
    // Sets a module-wide parameter, which needs no device: -ENOENT for any other name (a
    // device's own, or none), -EINVAL for a value out of range.
    static ErrorOr<void> set_module(const char *name, uint32_t value);
    static bool module_wide(std::string_view name);
    // Parses "name=value[,name=value...]" (commas or blanks between; values decimal, 0x hex
    // or 0 octal; a bool's also y/n/Y/N and the rest of the kernel's spellings, and a bare
    // name sets a bool), each checked against the table: a host's QAIC_PARAMS or --param.
    static ErrorOr<std::vector<ParamSetting>> parse(std::string_view text);
};

} // namespace qaic
