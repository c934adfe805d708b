// SPDX-License-Identifier: GPL-2.0-only
// What the driver shows tools outside its ioctls: sysfs attributes of the accel and PCI
// devices, debugfs files, module parameters (each made afresh at every read, as show
// functions are), the firmware's boot log they include, and the periodic time sync.
#include "drivers/accel/qaic/qaic.h"
#include "kernel/alloc.h"
#include "kernel/printk.h"

#include <chrono>
#include <cstdio>
#include <cstring>

namespace qaic {
namespace {

using namespace aic100;

constexpr const char *kRasFiles[] = {"ce_count", "ue_count", "ue_nonfatal_count"};

// "dbc<NNN>/<leaf>" under debug/, as upstream names the per-DBC directories; -1 otherwise.
int debugfs_dbc(std::string_view rest, std::string_view leaf)
{
    if (rest.size() != 7 + leaf.size() || rest.substr(0, 3) != "dbc" || rest[6] != '/' ||
        rest.substr(7) != leaf)
        return -1;
    int id = 0;
    for (char c : rest.substr(3, 3)) {
        if (c < '0' || c > '9')
            return -1;
        id = id * 10 + (c - '0');
    }
    return id;
}

// "dbc<N>_state" (sysfs, no leading zeros); -1 otherwise.
int sysfs_dbc_state(std::string_view name)
{
    if (name.size() < 10 || name.substr(0, 3) != "dbc" || !name.ends_with("_state"))
        return -1;
    std::string_view num = name.substr(3, name.size() - 9);
    if (num.empty() || num.size() > 3 || (num.size() > 1 && num[0] == '0'))
        return -1;
    int id = 0;
    for (char c : num) {
        if (c < '0' || c > '9')
            return -1;
        id = id * 10 + (c - '0');
    }
    return id;
}

ErrorOr<std::string> decimal(int64_t v)
{
    std::string out;
    TRY(kernel::try_alloc([&] { out = std::to_string(v) + "\n"; }));
    return out;
}

} // namespace

ErrorOr<std::vector<QaicDevice::AttrFile>> QaicDevice::attr_files() const
{
    std::vector<AttrFile> out;
    auto add = [&](std::string path, unsigned mode) {
        return kernel::try_alloc([&] { out.push_back({std::move(path), mode}); });
    };
    for (unsigned id = 0; id < num_dbc(); ++id)
        TRY(add("accel/dbc" + std::to_string(id) + "_state", 0444));
    for (const char *f : kRasFiles)
        TRY(add(std::string("device/") + f, 0444));
    TRY(add("debug/bootlog", 0400));
    for (unsigned id = 0; id < num_dbc() && id < 256; ++id) {
        char dir[16];
        std::snprintf(dir, sizeof(dir), "debug/dbc%03u/", id);
        TRY(add(std::string(dir) + "fifo_size", 0400));
        TRY(add(std::string(dir) + "queued", 0400));
    }
    for (Params::Entry &e : TRY(params.list()))
        TRY(add("parameters/" + e.name, e.mode)); // upstream's module_param perm
    return out;
}

ErrorOr<std::string> QaicDevice::read_attr(std::string_view path)
{
    auto no_such = [&] {
        return REJECT(-ENOENT, "no file %.*s", int(path.size()), path.data());
    };
    if (path.starts_with("parameters/")) {
        auto v = params.get(path.substr(11));
        if (v.is_error() && v.code() == -EINVAL)
            return no_such();
        return v;
    }
    if (path.starts_with("accel/")) {
        int id = sysfs_dbc_state(path.substr(6));
        if (id < 0 || unsigned(id) >= num_dbc())
            return no_such();
        return decimal(dbcs[id]->sysfs_state.load(std::memory_order_relaxed));
    }
    if (path.starts_with("device/")) {
        RasCounts r = ras_counts();
        std::string_view f = path.substr(7);
        if (f == kRasFiles[0])
            return decimal(r.ce);
        if (f == kRasFiles[1])
            return decimal(r.ue);
        if (f == kRasFiles[2])
            return decimal(r.ue_nonfatal);
        return no_such();
    }
    if (!path.starts_with("debug/"))
        return no_such();
    std::string_view rest = path.substr(6);
    if (rest == "bootlog") {
        std::string out;
        TRY(boot_log_.with([&](const BootLog &log) {
            return kernel::try_alloc([&] { out.assign(log.text, log.len); });
        }));
        return out;
    }
    if (int id = debugfs_dbc(rest, "fifo_size"); id >= 0 && unsigned(id) < num_dbc())
        return decimal(dbcs[id]->state.lock()->nelem);
    if (int id = debugfs_dbc(rest, "queued"); id >= 0 && unsigned(id) < num_dbc()) {
        // Elements between the device's head and our tail, from the registers, as upstream
        // reads them: 0 when the device is gone.
        uint32_t nelem = dbcs[id]->state.lock()->nelem;
        uint32_t head = pdev.read32(bar_dbc, dbc_reg(id, kDbcReqHp));
        uint32_t tail = pdev.read32(bar_dbc, dbc_reg(id, kDbcReqTp));
        if (head == kRegGone || tail == kRegGone)
            return decimal(0);
        return decimal(head > tail ? int64_t(nelem) - head + tail : int64_t(tail) - head);
    }
    return no_such();
}

void QaicDevice::collect_boot_log()
{
    uint32_t len = pdev.read32(bar_dev, kRegBootLogLen);
    if (len == kRegGone)
        return;
    len = std::min(len, kBootLogSize);
    boot_log_.with([&](BootLog &log) {
        for (uint32_t at = 0; at < len; at += 4) {
            uint32_t w = pdev.read32(bar_dev, kBootLogWindow + at);
            std::memcpy(log.text + at, &w, std::min<uint32_t>(4, len - at));
        }
        log.len = len;
    });
}

void QaicDevice::send_timesync()
{
    // Upstream's message: the offset of host UTC from the device's QTimer time, in seconds
    // and microseconds.
    // The high word again after the low one: a low word that wrapped between the two reads
    // is read again under the new high word.
    uint32_t hi = pdev.read32(bar_dev, kRegQtimerHi);
    uint32_t lo = pdev.read32(bar_dev, kRegQtimerLo);
    if (uint32_t again = pdev.read32(bar_dev, kRegQtimerHi); again != hi) {
        hi = again;
        lo = pdev.read32(bar_dev, kRegQtimerLo);
    }
    if (lo == kRegGone && hi == kRegGone)
        return;
    uint64_t qtimer = uint64_t(hi) << 32 | lo;
    uint64_t device_us = qtimer * 10 / 192; // 19.2 MHz ticks, as upstream converts them
    uint64_t host_us = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
    uint64_t offset = host_us - device_us;
    TimesyncMsg m{};
    m.signature = kTsSignature;
    m.msg_type = kTsSyncReq;
    m.tv_sec = offset / 1000000;
    m.tv_usec = offset % 1000000;
    uint32_t words[sizeof(m) / 4];
    std::memcpy(words, &m, sizeof(m));
    for (unsigned i = 0; i < sizeof(m) / 4; ++i)
        pdev.write32(bar_dev, kTsMailbox + 4 * i, words[i]);
    pdev.write32(bar_dev, kTsMailbox + kTsDoorbell, 1);
}

void QaicDevice::start_timesync()
{
    timesync_thread_ = std::thread([this] {
        std::unique_lock lk(timesync_lock_);
        while (!timesync_stop_) {
            // The period as the parameter says now: a change takes effect from the next one.
            auto period = std::chrono::milliseconds(params.timesync_delay_ms.load());
            if (timesync_cv_.wait_for(lk, period, [this] { return timesync_stop_; }))
                break;
            if (online.load(std::memory_order_acquire))
                send_timesync();
        }
    });
}

void QaicDevice::stop_timesync()
{
    {
        std::lock_guard lk(timesync_lock_);
        timesync_stop_ = true;
    }
    timesync_cv_.notify_all();
    if (timesync_thread_.joinable())
        timesync_thread_.join();
}

} // namespace qaic
