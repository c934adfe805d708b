// SPDX-License-Identifier: GPL-2.0-only
// Driver glue: the accel driver description and ioctl table, file open/close, probe/remove,
// interrupts, and recovery after a device reset.
#include "drivers/accel/qaic/qaic.h"
#include "drivers/accel/qaic/qaic_manage.h"
#include "kernel/alloc.h"
#include "kernel/bytes.h"
#include "kernel/printk.h"

#include <qaic/version.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

namespace qaic {
namespace {

using namespace aic100;
using kernel::load;

// Entry i serves DRM_COMMAND_BASE + i.
constexpr accel::IoctlDesc kIoctls[] = {
    ACCEL_IOCTL(DRM_IOCTL_QAIC_MANAGE, manage_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_CREATE_BO, create_bo_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_MMAP_BO, mmap_bo_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_ATTACH_SLICE_BO, attach_slice_bo_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_EXECUTE_BO, execute_bo_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO, partial_execute_bo_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_WAIT_BO, wait_bo_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_PERF_STATS_BO, perf_stats_bo_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_DETACH_SLICE_BO, detach_slice_bo_ioctl),
};

constexpr bool table_in_order()
{
    for (size_t i = 0; i < std::size(kIoctls); ++i)
        if (_IOC_NR(kIoctls[i].cmd) != DRM_COMMAND_BASE + i)
            return false;
    return true;
}
static_assert(table_in_order(), "kIoctls[i] must serve DRM_COMMAND_BASE + i");

ErrorOr<void> qaic_open(accel::Device &dev, accel::File &file)
{
    QaicDevice &qdev = to_qdev(dev);
    TRY(qdev.check_online()); // the core owes no postclose for a failed open
    auto usr = std::make_unique<QaicUser>();
    // Unique among open files: the firmware knows a user's DBCs and images by this handle.
    // Cyclic, so a closed file's handle (whose TERMINATE may still be on its way) comes back
    // as late as possible.
    usr->handle = TRY(qdev.usr_handles.with([](auto &idr) { return idr.alloc_cyclic(true, 1); }));
    file.set_priv(std::move(usr));
    return {};
}

void qaic_postclose(accel::Device &dev, accel::File &file)
{
    QaicDevice &qdev = to_qdev(dev);
    release_usr(qdev, to_usr(file));
    qdev.usr_handles.with([&](auto &idr) { (void)idr.remove(to_usr(file).handle); });
}

const accel::Driver kDriver = {
    .name = kDriverName,
    .desc = kDriverDesc,
    .date = QAIC_VERSION_DATE,
    .major = QAIC_VERSION_MAJOR,
    .minor = QAIC_VERSION_MINOR,
    .patchlevel = QAIC_VERSION_PATCH,
    .ioctls = kIoctls,
    .open = qaic_open,
    .postclose = qaic_postclose,
};

// Asks the firmware for its status with a lone STATUS, the one message it accepts without a
// CRC, to learn whether it requires CRCs. The framing in force is kept (no CRC at probe, the
// known requirement after a reset): users' messages sent meanwhile must not go out without a
// CRC the firmware wants, since it refuses them without counting their sequence numbers.
ErrorOr<void> query_crc_requirement(QaicDevice &qdev)
{
    WireMsg msg(0);
    WireTransHdr h{QAIC_TRANS_STATUS_TO_DEV, sizeof(WireTransHdr)};
    TRY(msg.add(&h, sizeof(h)));
    std::vector<uint8_t> rsp = TRY(qdev.ctrl.transact(msg.take()));
    ResponseTrans offs = TRY(check_response(rsp, false));
    WireStatusFromDev s{};
    if (offs.size() != 1)
        return Error(-EIO);
    if (load<WireTransHdr>(rsp.data() + offs[0]).type == kTransNack)
        return Error(-ECANCELED);
    if (rsp.size() - offs[0] < sizeof(s))
        return Error(-EIO);
    std::memcpy(&s, rsp.data() + offs[0], sizeof(s));
    if (s.hdr.type != QAIC_TRANS_STATUS_FROM_DEV)
        return Error(-EIO);
    qdev.ctrl.set_crc_required(s.status_flags & kStatusFlagCrcRequired);
    return {};
}

} // namespace

QaicDevice::QaicDevice(kernel::PciDev &pdev) : accel::Device(kDriver), pdev(pdev) {}

namespace {

// A parameter: a field of every device's Params, or (module) one value for every device,
// set and read through its own functions.
struct ParamDesc {
    const char *name;
    std::atomic<uint32_t> Params::*field;
    ErrorOr<void> (*module)(uint32_t value);
    uint32_t (*module_value)();
    uint32_t min, max;
    uint32_t unit = 1;     // the field's units per unit of the name's
    unsigned mode = 0600;  // upstream's module_param permission: 0400 is load-time only
    bool is_bool = false;  // upstream's bool: shown Y/N, given in the kernel's spellings
};

uint32_t debug_value()
{
    return kernel::debug_mask.load(std::memory_order_relaxed);
}

// Upstream's first (datapath_polling ... timesync_delay_ms, in its units), then ours.
// control_resp_timeout_s/_ms/_us are one value: each name shows it in its unit, rounded down.
const ParamDesc kParams[] = {
    {"datapath_polling", &Params::datapath_polling, nullptr, nullptr, 0, 1, 1, 0400, true},
    {"wait_exec_default_timeout_ms", &Params::wait_exec_default_timeout_ms, nullptr, nullptr,
     1, 600000},
    {"datapath_poll_interval_us", &Params::datapath_poll_interval_us, nullptr, nullptr, 10,
     1000000},
    {"control_resp_timeout_s", &Params::control_resp_timeout_us, nullptr, nullptr, 1, 600,
     1000000},
    {"mhi_timeout_ms", &Params::mhi_timeout_ms, nullptr, nullptr, 1, 600000},
    {"timesync_delay_ms", &Params::timesync_delay_ms, nullptr, nullptr, 1, 3600000},
    {"control_resp_timeout_ms", &Params::control_resp_timeout_us, nullptr, nullptr, 1, 600000,
     1000},
    {"control_resp_timeout_us", &Params::control_resp_timeout_us, nullptr, nullptr, 1,
     600000000},
    {"exec_timeout_ms", &Params::exec_timeout_ms, nullptr, nullptr, 1, 600000},
    {"sched_queue_depth", &Params::sched_queue_depth, nullptr, nullptr, 0, 1 << 20},
    {"wait_spin_us", &Params::wait_spin_us, nullptr, nullptr, 0, 10000},
    {"wait_busy_poll", &Params::wait_busy_poll, nullptr, nullptr, 0, 1},
    {"control_busy_poll", &Params::control_busy_poll, nullptr, nullptr, 0, 1},
    {"dma_xfer_chunk_order", &Params::dma_xfer_chunk_order, nullptr, nullptr, 0,
     PagePool::kMaxOrder},
    {"debug", nullptr, kernel::set_debug_mask, debug_value, 0, kernel::kDebugAll},
};

const ParamDesc *lookup_param(std::string_view name)
{
    for (const ParamDesc &p : kParams)
        if (name == p.name)
            return &p;
    return nullptr;
}

ErrorOr<const ParamDesc *> find_param(std::string_view name, uint32_t value)
{
    const ParamDesc *p = lookup_param(name);
    if (!p)
        return REJECT(-EINVAL, "no parameter is named %.*s", int(name.size()), name.data());
    if (value < p->min || value > p->max)
        return REJECT(-EINVAL, "parameter %s: %u is outside [%u, %u]", p->name, value, p->min,
                      p->max);
    return p;
}

// The kernel's kstrtobool: the first character decides (y Y t T 1 / n N f F 0), "on" and
// "off" by their second; anything else is not a bool.
ErrorOr<uint32_t> parse_bool(std::string_view s)
{
    if (!s.empty()) {
        switch (s[0]) {
        case 'y': case 'Y': case 't': case 'T': case '1':
            return 1u;
        case 'n': case 'N': case 'f': case 'F': case '0':
            return 0u;
        case 'o': case 'O':
            if (s.size() > 1 && (s[1] == 'n' || s[1] == 'N'))
                return 1u;
            if (s.size() > 1 && (s[1] == 'f' || s[1] == 'F'))
                return 0u;
            break;
        default:
            break;
        }
    }
    return REJECT(-EINVAL, "'%.*s' is not a bool (y/n, Y/N, 1/0, on/off)", int(s.size()),
                  s.data());
}

ErrorOr<void> store(Params &params, const ParamDesc &p, uint32_t value)
{
    if (p.module)
        return p.module(value);
    (params.*(p.field)).store(value * p.unit);
    return {};
}

} // namespace

ErrorOr<void> Params::set(const char *name, uint32_t value)
{
    const ParamDesc *p = TRY(find_param(name, value));
    // Upstream's store of a 0400 parameter: a user's open for writing fails with EACCES
    // (root's write, through an attribute without a store, with EIO).
    if (!(p->mode & 0200))
        return REJECT(-EACCES, "parameter %s is read-only once loaded (mode 0%o): give it at "
                               "load (QAIC_PARAMS, qaicd --param)",
                      p->name, p->mode);
    return store(*this, *p, value);
}

ErrorOr<void> Params::load(const char *name, uint32_t value)
{
    return store(*this, *TRY(find_param(name, value)), value);
}

ErrorOr<std::string> Params::get(std::string_view name) const
{
    const ParamDesc *p = lookup_param(name);
    if (!p)
        return REJECT(-EINVAL, "no parameter is named %.*s", int(name.size()), name.data());
    uint32_t v = p->module_value ? p->module_value() : (this->*(p->field)).load() / p->unit;
    std::string out;
    TRY(kernel::try_alloc([&] {
        out = p->is_bool ? (v ? "Y\n" : "N\n") : std::to_string(v) + "\n";
    }));
    return out;
}

ErrorOr<std::vector<Params::Entry>> Params::list() const
{
    std::vector<Entry> out;
    for (const ParamDesc &p : kParams) {
        std::string v = TRY(get(p.name));
        TRY(kernel::try_alloc([&] { out.push_back({p.name, std::move(v), p.mode}); }));
    }
    return out;
}

bool Params::module_wide(std::string_view name)
{
    const ParamDesc *p = lookup_param(name);
    return p && p->module != nullptr;
}

ErrorOr<void> Params::set_module(const char *name, uint32_t value)
{
    // The name alone first: a device's parameter (or no parameter) is for the device to
    // judge, after the caller has found one.
    if (!module_wide(name))
        return Error(-ENOENT);
    const ParamDesc *p = TRY(find_param(name, value));
    return p->module(value);
}

ErrorOr<std::vector<ParamSetting>> Params::parse(std::string_view text)
{
    std::vector<ParamSetting> out;
    kernel::OpScope op("parameters");
    while (!text.empty()) {
        size_t end = text.find_first_of(", \t\n");
        std::string_view item = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (item.empty())
            continue;
        size_t eq = item.find('=');
        std::string_view name = item.substr(0, eq);
        const ParamDesc *desc = lookup_param(name);
        uint32_t value = 0;
        if (desc && desc->is_bool) {
            // As the kernel's command line: a bool's bare name sets it.
            value = eq == std::string_view::npos ? 1 : TRY(parse_bool(item.substr(eq + 1)));
        } else {
            if (eq == std::string_view::npos)
                return REJECT(-EINVAL, "'%.*s' is not name=value", int(item.size()),
                              item.data());
            // As C literals: 0x hex, a leading 0 octal, else decimal.
            std::string_view num = item.substr(eq + 1);
            int base = 10;
            if (num.size() > 2 && num[0] == '0' && (num[1] == 'x' || num[1] == 'X')) {
                base = 16;
                num.remove_prefix(2);
            } else if (num.size() > 1 && num[0] == '0') {
                base = 8;
                num.remove_prefix(1);
            }
            auto conv = std::from_chars(num.data(), num.data() + num.size(), value, base);
            if (num.empty() || conv.ec != std::errc() || conv.ptr != num.data() + num.size())
                return REJECT(-EINVAL, "'%.*s': the value is not a number up to %u",
                              int(item.size()), item.data(), UINT32_MAX);
        }
        TRY(find_param(name, value));
        TRY(kernel::try_alloc([&] { out.push_back({std::string(name), value}); }));
    }
    return out;
}

ErrorOr<void> QaicDevice::check_online() const
{
    if (online.load(std::memory_order_acquire))
        return {};
    return REJECT(-ENODEV, "the device is not online (booting, being reset, or gone)");
}

void QaicDevice::mark_gone()
{
    qaic_dbg(kernel::kDebugCard, "accel%d: registers read all ones: the device is gone",
             minor());
    online = false;
    ctrl.fail_all(-ENODEV);
}

QaicDevice::~QaicDevice() = default;

ErrorOr<void> QaicDevice::bring_up()
{
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(params.mhi_timeout_ms);
    // The register is polled at 10 us first, the interval doubling up to 1 ms: a card that
    // boots at once (a reset's recovery) is back within microseconds, not a millisecond.
    std::chrono::microseconds interval{10};
    for (;;) {
        uint32_t st = pdev.read32(bar_dev, kRegDevStatus);
        if (st == kRegGone) {
            mark_gone();
            return Error(-ENODEV);
        }
        if (st == kDevOnline)
            break;
        if (std::chrono::steady_clock::now() > deadline)
            return Error(-ETIMEDOUT);
        std::this_thread::sleep_for(interval);
        interval = std::min<std::chrono::microseconds>(2 * interval, std::chrono::milliseconds(1));
    }
    collect_boot_log();
    if (num_vectors > 1)
        pdev.write32(bar_dev, kRegMsiMode, kMsiPerVector);
    TRY(ctrl.reinit());
    TRY(ssr_reinit());
    TRY(ras_reinit());
    online = true;
    if (auto hook = test_hooks.recovery_reprogrammed.load())
        hook(*this);
    // A NACK refuses the message and a timeout loses only its answer; neither resets the
    // channel: ask again on the same rings.
    constexpr int kTries = 3;
    ErrorOr<void> r;
    for (int i = 0; i < kTries; ++i) {
        r = query_crc_requirement(*this);
        if (!r.is_error() || (r.code() != -ECANCELED && r.code() != -ETIMEDOUT))
            break;
    }
    if (r.is_error())
        online = false;
    return r;
}

void QaicDevice::device_reset_detected()
{
    online = false;
    ctrl.fail_all(-EIO);
    qaic_dbg(kernel::kDebugCard, "accel%d: the device was reset", minor());
    if (resetting.exchange(true))
        return; // the recovery that runs looks for this reset before it ends
    uevent(accel::KobjAction::kOffline, {});
    wq.queue(recover_work);
}

void QaicDevice::keep_lost_ring(kernel::DmaCoherent ring, uint64_t epoch)
{
    // MANAGE reserved room before its message went; a late answer may find that room taken
    // by the rings of messages since, and need more.
    bool kept = lost_rings.with([&](std::vector<LostRing> &v) {
        if (v.size() == v.capacity() &&
            kernel::try_alloc([&] { v.reserve(2 * v.size() + 1); }).is_error())
            return false;
        v.push_back({ring, epoch});
        return true;
    });
    if (!kept)
        pr_err("no memory to list a ring the device may use: its %zu bytes stay allocated", ring.size);
}

void QaicDevice::free_lost_rings(uint64_t before_epoch)
{
    lost_rings.with([&](std::vector<LostRing> &v) {
        std::erase_if(v, [&](LostRing &l) {
            if (l.epoch >= before_epoch)
                return false;
            pdev.dma_free_coherent(l.ring);
            return true;
        });
    });
}

void QaicDevice::recover()
{
    constexpr unsigned kPasses = 3; // a device that keeps failing its bring-up stays offline
    recovering = true;
    for (unsigned pass = 1;; ++pass) {
        // The device forgot every DBC it ran: release ours, then bring the device up again.
        // The reset's detection began a new epoch: what was offered in older ones is forgotten
        // too, once the device is back.
        uint64_t reset_epoch = ctrl.epoch();
        for (auto &dbc : dbcs)
            release_dbc(*dbc, -EIO);
        auto r = bring_up();
        if (!r.is_error())
            free_lost_rings(reset_epoch);
        resetting = false;
        // A reset detected during this pass was dropped. If the device has come back from
        // one (ONLINE, but without our channel), go again; if it still boots, its ONLINE MSI
        // comes after resetting was cleared and recovers. Only a reset may restart bring-up:
        // programming an enabled channel again would rewind our ring indices but not the
        // device's.
        bool again = pdev.read32(bar_dev, kRegDevStatus) == kDevOnline &&
                     pdev.read32(bar_dev, kCtrlChannel + kChEnable) != 1;
        if (!again || pass == kPasses) {
            if (r.is_error() || again)
                pr_err("device did not come back after reset (%d)", r.is_error() ? r.code() : -EIO);
            else
                uevent(accel::KobjAction::kOnline, {});
            recovering = false;
            return;
        }
        pr_warn("device reset again during recovery: recovering again");
        if (resetting.exchange(true)) {
            recovering = false;
            return; // a reset detected just now queued a recovery of its own
        }
    }
}

namespace {

// Upstream's qaic_ids and their configs: the AIC080 and AIC100 are one family with BARs 0, 2
// and 4; the AIC200 adds BAR1, which holds what BAR0 holds on the others. All have 16 DBCs.
constexpr DeviceConfig kDeviceConfigs[] = {
    {0xa080, "AIC080", Family::kAic100, 0x15, 0, 2, 16},
    {0xa100, "AIC100", Family::kAic100, 0x15, 0, 2, 16},
    {0xa110, "AIC200", Family::kAic200, 0x17, 1, 2, 16},
};
constexpr uint16_t kVendorQcom = 0x17cb;

} // namespace

const DeviceConfig *match_device(uint16_t vendor, uint16_t device)
{
    if (vendor != kVendorQcom)
        return nullptr;
    for (const DeviceConfig &c : kDeviceConfigs)
        if (c.device == device)
            return &c;
    return nullptr;
}

ErrorOr<RefPtr<QaicDevice>> probe(kernel::PciDev &pdev, uint64_t bo_memory, accel::UeventSink uevents,
                                  std::span<const ParamSetting> params)
{
    // The PCI core's match: a device of the id table, with that entry's config.
    const DeviceConfig *config = match_device(kernel::pci_vendor(pdev), kernel::pci_device(pdev));
    if (!config)
        return REJECT(-ENODEV, "PCI device %04x:%04x is not one qaic drives",
                      kernel::pci_vendor(pdev), kernel::pci_device(pdev));
    // Upstream looks at the six standard BARs only (an SR-IOV capability adds resources past
    // them), and wants exactly the config's.
    unsigned bars = kernel::pci_select_mem_bars(pdev) & 0x3f;
    if (bars != config->bar_mask)
        return REJECT(-EINVAL, "%s: expected BARs %#x, the device has %#x", config->name,
                      config->bar_mask, bars);
    TRY(pdev.enable_device());
    if (pdev.read32(config->dev_bar, kRegDevId) != kDevIdValue)
        return REJECT(-ENODEV, "%s: BAR%u does not hold the device registers", config->name,
                      config->dev_bar);
    // Our model's card may say it has fewer DBCs (a smaller simulated card); never more than
    // the driver serves for the device.
    uint32_t num_dbc = pdev.read32(config->dev_bar, kRegNumDbc);
    if (num_dbc == 0 || num_dbc == kRegGone)
        return REJECT(-ENODEV, "%s: the device is gone or reports no DBCs", config->name);
    num_dbc = std::min(num_dbc, config->num_dbc);

    auto qdev = kernel::make_ref<QaicDevice>(pdev);
    qdev->config = config;
    qdev->bar_dev = config->dev_bar;
    qdev->bar_dbc = config->dbc_bar;
    // The device's parameters as the host loads the module with them, before anything uses
    // them (mhi_timeout_ms, control_resp_timeout_*); module-wide ones are the host's to set.
    for (const ParamSetting &p : params)
        if (!Params::module_wide(p.name))
            TRY(qdev->params.load(p.name.c_str(), p.value));
    qdev->set_uevent_sink(std::move(uevents));
    for (unsigned id = 0; id < num_dbc; ++id) {
        qdev->dbcs.push_back(std::make_unique<Dbc>());
        qdev->dbcs.back()->id = id;
    }
    // The pool goes with the device object, not with the binding: BOs that users still hold
    // after remove() give their pages back to it.
    qdev->pool = TRY(PagePool::create(bo_memory ? bo_memory : uint64_t(CONFIG_QAIC_BO_MEMORY_MB) << 20));

    QaicDevice *raw = qdev.get();
    kernel::Devres &devres = qdev->devres;
    // Each step below records its undo in devres as soon as it has succeeded. However probe
    // ends before it succeeds (an error or an exception), the record runs backwards, as in
    // remove(): no interrupt or thread may outlive the device it points to.
    struct ReleaseUnlessBound {
        kernel::Devres &devres;
        bool bound = false;
        ~ReleaseUnlessBound()
        {
            if (!bound)
                devres.release_all();
        }
    } unwind{devres};
    // Recorded first, so run last: the late-answer handlers that ctrl.fini() queues when it
    // fails every waiter.
    TRY(devres.add([raw] { raw->wq.flush(); }));
    // The channels' rings come before the interrupt handlers that read them, so that the
    // handlers are freed before the rings.
    TRY(qdev->ctrl.init());
    TRY(devres.add([raw] { raw->ctrl.fini(); }));
    TRY(qdev->ssr_init());
    TRY(devres.add([raw] { raw->ssr_fini(); }));
    TRY(qdev->ras_init());
    TRY(devres.add([raw] { raw->ras_fini(); }));
    // Its crash dumps go with the device (after the work that may store one has run).
    TRY(devres.add([raw] { kernel::devcoredumps().remove_device(raw); }));
    // DBC rings come and go with MANAGE, lost rings with their answers: what is left of
    // them goes once no interrupt or poll can reach a DBC, and before the channels. Nothing
    // may reach the device after this: rings freed, every BO unmapped.
    TRY(devres.add([raw] {
        for (auto &dbc : raw->dbcs)
            raw->release_dbc(*dbc, -ENODEV);
        raw->free_lost_rings(UINT64_MAX);
    }));
    // Run once the interrupts are gone, before the channels go: work their handlers queued
    // at the last moment (a crash dump's next read, a fatal RAS report's reset) has run.
    TRY(devres.add([raw] { raw->wq.flush(); }));

    // One vector per DBC plus control; a platform that grants fewer gets the shared vector.
    unsigned want = 1 + num_dbc;
    qdev->num_vectors = TRY(pdev.alloc_irq_vectors(1, want)) == want ? want : 1;
    TRY(devres.add([raw] { raw->pdev.free_irq_vectors(); }));
    qdev->irq_type = pdev.irq_type();
    // The control vector also carries SSR events; alone (shared mode) it carries everything.
    TRY(pdev.request_irq(0, [raw] {
        raw->ctrl.irq();
        raw->ssr_irq();
        raw->ras_irq();
        if (raw->num_vectors == 1 && !raw->params.datapath_polling)
            for (auto &dbc : raw->dbcs)
                raw->dbc_irq(dbc->id);
    }));
    TRY(devres.add([raw] { raw->pdev.free_irq(0); }));
    for (unsigned id = 0; qdev->num_vectors > 1 && id < num_dbc; ++id) {
        unsigned vector = dbc_msi_vector(id);
        TRY(pdev.request_irq(vector, [raw, id] {
            // In polling mode the datapath thread completes jobs; MSIs are ignored.
            if (!raw->params.datapath_polling)
                raw->dbc_irq(id);
        }));
        TRY(devres.add([raw, vector] { raw->pdev.free_irq(vector); }));
    }
    if (auto hook = test_hooks.irqs_requested.load())
        hook(*qdev);
    // The thread polls nothing while the device is offline; started before the channel, so
    // that it is stopped after the work a programmed channel may queue has finished.
    qdev->start_datapath_thread();
    TRY(devres.add([raw] { raw->stop_datapath_thread(); }));
    // Sends nothing until the device is online. (Its undo recorded first: stopping a thread
    // never started is nothing.)
    TRY(devres.add([raw] { raw->stop_timesync(); }));
    qdev->start_timesync();
    TRY(qdev->ctrl.start());
    // From here the control interrupt may queue work (a reset's recovery), and once the
    // device is online so may users' MANAGEs (late answers). Offline first; that work then
    // finishes before the datapath thread and the interrupts go.
    TRY(devres.add([raw] {
        raw->online = false;
        raw->wq.flush();
    }));
    TRY(qdev->bring_up());
    // Registration is probe's last step and its undo (unplug) remove()'s own first one, not
    // a recorded action (as drm_dev_register and drm_dev_unplug are not managed upstream):
    // a registered device has users, whose calls remove() fails and waits out before anything
    // recorded is released.
    TRY(qdev->register_device());
    unwind.bound = true;
    return qdev;
}

void remove(QaicDevice &qdev)
{
    qdev.online = false;
    qdev.ctrl.fail_all(-ENODEV); // nobody may sit in a control wait while we unplug
    // Nor in WAIT_BO: every job fails with -ENODEV before unplug waits for ioctls.
    for (auto &dbc : qdev.dbcs) {
        std::lock_guard fin(dbc->finish_lock);
        JobList jobs;
        {
            auto d = dbc->state.lock();
            if (d->sched)
                jobs = d->sched->take_all();
            dbc->update_busy(*d);
        }
        QaicDevice::finish_jobs(jobs, -ENODEV);
    }
    qdev.unplug();
    // Then what probe acquired, backwards: queued work finished, the datapath thread, the
    // interrupts and their vectors, DBC and lost rings, the SSR and control channels, and
    // the late answers the last fail_all() queued.
    qdev.devres.release_all();
}

} // namespace qaic
