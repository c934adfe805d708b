// SPDX-License-Identifier: GPL-2.0-only
// Driver glue: the accel driver description and ioctl table, file open/close, probe/remove,
// interrupts, and recovery after a device reset.
#include "drivers/accel/qaic/qaic.h"
#include "drivers/accel/qaic/qaic_manage.h"
#include "kernel/printk.h"

#include <chrono>
#include <cstring>
#include <thread>

namespace qaic {
namespace {

using namespace aic100;

// Entry i serves DRM_COMMAND_BASE + i. EXECUTE, PARTIAL_EXECUTE, WAIT and PERF_STATS arrive
// with the datapath; until then their entries have no handler and answer -EINVAL, as DRM
// does for an ioctl without a function.
constexpr accel::IoctlDesc kIoctls[] = {
    ACCEL_IOCTL(DRM_IOCTL_QAIC_MANAGE, manage_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_CREATE_BO, create_bo_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_MMAP_BO, mmap_bo_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_QAIC_ATTACH_SLICE_BO, attach_slice_bo_ioctl),
    {DRM_IOCTL_QAIC_EXECUTE_BO, nullptr, "DRM_IOCTL_QAIC_EXECUTE_BO"},
    {DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO, nullptr, "DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO"},
    {DRM_IOCTL_QAIC_WAIT_BO, nullptr, "DRM_IOCTL_QAIC_WAIT_BO"},
    {DRM_IOCTL_QAIC_PERF_STATS_BO, nullptr, "DRM_IOCTL_QAIC_PERF_STATS_BO"},
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
    static std::atomic<uint32_t> next_user{1};
    if (!to_qdev(dev).online)
        return Error(-ENODEV);
    auto usr = std::make_unique<QaicUser>();
    usr->handle = next_user.fetch_add(1, std::memory_order_relaxed);
    file.set_priv(std::move(usr));
    return {};
}

void qaic_postclose(accel::Device &dev, accel::File &file)
{
    release_usr(to_qdev(dev), to_usr(file));
}

const accel::Driver kDriver = {
    .name = kDriverName,
    .desc = kDriverDesc,
    .date = "20260101",
    .major = 0,
    .minor = 1,
    .patchlevel = 0,
    .ioctls = kIoctls,
    .open = qaic_open,
    .postclose = qaic_postclose,
};

// Asks the firmware for its status with a CRC-less lone STATUS, the one message it accepts
// without a CRC, to learn whether it requires CRCs.
ErrorOr<void> query_crc_requirement(QaicDevice &qdev)
{
    qdev.ctrl.set_crc_required(false);
    WireMsg msg(0);
    WireTransHdr h{QAIC_TRANS_STATUS_TO_DEV, sizeof(WireTransHdr)};
    TRY(msg.add(&h, sizeof(h)));
    std::vector<uint8_t> rsp = TRY(qdev.ctrl.transact(msg.take()));
    std::vector<uint32_t> offs = TRY(check_response(rsp, false));
    WireStatusFromDev s{};
    if (offs.size() != 1 || rsp.size() - offs[0] < sizeof(s))
        return Error(-EIO);
    std::memcpy(&s, rsp.data() + offs[0], sizeof(s));
    if (s.hdr.type != QAIC_TRANS_STATUS_FROM_DEV)
        return Error(-EIO);
    qdev.ctrl.set_crc_required(s.status_flags & kStatusFlagCrcRequired);
    return {};
}

} // namespace

QaicDevice::QaicDevice(kernel::PciDev &pdev) : accel::Device(kDriver), pdev(pdev) {}

ErrorOr<void> Params::set(const char *name, uint32_t value)
{
    if (value == 0)
        return Error(-EINVAL);
    if (std::strcmp(name, "control_resp_timeout_ms") == 0)
        control_resp_timeout_ms = value;
    else if (std::strcmp(name, "boot_timeout_ms") == 0)
        boot_timeout_ms = value;
    else
        return Error(-EINVAL);
    return {};
}

void QaicDevice::mark_gone()
{
    online = false;
    ctrl.fail_all(-ENODEV);
}

QaicDevice::~QaicDevice() = default;

ErrorOr<void> QaicDevice::bring_up()
{
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(params.boot_timeout_ms);
    for (;;) {
        uint32_t st = pdev.read32(kBarDev, kRegDevStatus);
        if (st == kRegGone) {
            mark_gone();
            return Error(-ENODEV);
        }
        if (st == kDevOnline)
            break;
        if (std::chrono::steady_clock::now() > deadline)
            return Error(-ETIMEDOUT);
        std::this_thread::sleep_for(std::chrono::milliseconds(1)); // register poll interval
    }
    if (num_vectors > 1)
        pdev.write32(kBarDev, kRegMsiMode, kMsiPerVector);
    TRY(ctrl.reinit());
    online = true;
    auto r = query_crc_requirement(*this);
    if (r.is_error())
        online = false;
    return r;
}

void QaicDevice::device_reset_detected()
{
    online = false;
    ctrl.fail_all(-EIO);
    if (resetting.exchange(true))
        return;
    wq.queue([this] {
        // The device forgot every DBC it ran: release ours, then bring the device up again.
        for (auto &dbc : dbcs)
            release_dbc(*dbc);
        if (auto r = bring_up(); r.is_error())
            pr_err("device did not come back after reset (%d)", r.code());
        resetting = false;
    });
}

ErrorOr<RefPtr<QaicDevice>> probe(kernel::PciDev &pdev)
{
    if (pdev.read32(kBarDev, kRegDevId) != kDevIdValue)
        return Error(-ENODEV);
    uint32_t num_dbc = pdev.read32(kBarDev, kRegNumDbc);
    if (num_dbc == 0 || num_dbc > 16)
        return Error(-ENODEV);

    auto qdev = kernel::make_ref<QaicDevice>(pdev);
    for (unsigned id = 0; id < num_dbc; ++id) {
        qdev->dbcs.push_back(std::make_unique<Dbc>());
        qdev->dbcs.back()->id = id;
    }
    qdev->pool = TRY(PagePool::create(uint64_t(CONFIG_QAIC_BO_MEMORY_MB) << 20));

    // One vector per DBC plus control; a platform that grants fewer gets the shared vector.
    unsigned want = 1 + num_dbc;
    auto nvec = pdev.alloc_irq_vectors(1, want);
    if (nvec.is_error())
        return nvec.error();
    qdev->num_vectors = nvec.value() == want ? want : 1;
    QaicDevice *raw = qdev.get();
    if (auto r = pdev.request_irq(0, [raw] { raw->ctrl.irq(); }); r.is_error()) {
        pdev.free_irq_vectors();
        return r.error();
    }
    auto fail = [&](Error e) {
        qdev->online = false;
        pdev.free_irq(0);
        pdev.free_irq_vectors();
        qdev->ctrl.fini();
        return e;
    };
    if (auto r = qdev->ctrl.init(); r.is_error()) {
        pdev.free_irq(0);
        pdev.free_irq_vectors();
        return r.error();
    }
    if (auto r = qdev->bring_up(); r.is_error())
        return fail(r.error());
    if (auto r = qdev->register_device(); r.is_error())
        return fail(r.error());
    return qdev;
}

void remove(QaicDevice &qdev)
{
    qdev.online = false;
    qdev.ctrl.fail_all(-ENODEV); // nobody may sit in a control wait while we unplug
    qdev.unplug();
    qdev.wq.flush();
    qdev.pdev.free_irq(0);
    qdev.pdev.free_irq_vectors();
    // Nothing may reach the device after this: rings freed, every BO unmapped.
    for (auto &dbc : qdev.dbcs)
        qdev.release_dbc(*dbc);
    qdev.ctrl.fini();
}

} // namespace qaic
