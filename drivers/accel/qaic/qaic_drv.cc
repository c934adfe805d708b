// SPDX-License-Identifier: GPL-2.0-only
// Driver glue: the accel driver description, its ioctl table, file open/close, probe/remove.
#include "drivers/accel/qaic/qaic.h"

#include <atomic>
#include <drm/qaic_accel.h>

namespace qaic {
namespace {

// Entry i serves DRM_COMMAND_BASE + i. Handlers arrive with the BO manager and control path
// (MANAGE, CREATE/MMAP/ATTACH/DETACH) and the datapath (EXECUTE, WAIT, PERF_STATS); a null
// handler answers -EINVAL, as DRM does for an ioctl without a function.
constexpr accel::IoctlDesc kIoctls[] = {
    {DRM_IOCTL_QAIC_MANAGE, nullptr, "DRM_IOCTL_QAIC_MANAGE"},
    {DRM_IOCTL_QAIC_CREATE_BO, nullptr, "DRM_IOCTL_QAIC_CREATE_BO"},
    {DRM_IOCTL_QAIC_MMAP_BO, nullptr, "DRM_IOCTL_QAIC_MMAP_BO"},
    {DRM_IOCTL_QAIC_ATTACH_SLICE_BO, nullptr, "DRM_IOCTL_QAIC_ATTACH_SLICE_BO"},
    {DRM_IOCTL_QAIC_EXECUTE_BO, nullptr, "DRM_IOCTL_QAIC_EXECUTE_BO"},
    {DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO, nullptr, "DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO"},
    {DRM_IOCTL_QAIC_WAIT_BO, nullptr, "DRM_IOCTL_QAIC_WAIT_BO"},
    {DRM_IOCTL_QAIC_PERF_STATS_BO, nullptr, "DRM_IOCTL_QAIC_PERF_STATS_BO"},
    {DRM_IOCTL_QAIC_DETACH_SLICE_BO, nullptr, "DRM_IOCTL_QAIC_DETACH_SLICE_BO"},
};

constexpr bool table_in_order()
{
    for (size_t i = 0; i < std::size(kIoctls); ++i)
        if (_IOC_NR(kIoctls[i].cmd) != DRM_COMMAND_BASE + i)
            return false;
    return true;
}
static_assert(table_in_order(), "kIoctls[i] must serve DRM_COMMAND_BASE + i");

kernel::ErrorOr<void> qaic_open(accel::Device &, accel::File &file)
{
    static std::atomic<uint32_t> next_user{1};
    auto usr = std::make_unique<QaicUser>();
    usr->handle = next_user.fetch_add(1, std::memory_order_relaxed);
    file.set_priv(std::move(usr));
    return {};
}

void qaic_postclose(accel::Device &, accel::File &) {}

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

} // namespace

QaicDevice::QaicDevice() : accel::Device(kDriver) {}

kernel::ErrorOr<kernel::RefPtr<QaicDevice>> probe()
{
    auto qdev = kernel::make_ref<QaicDevice>();
    TRY(qdev->register_device());
    return qdev;
}

void remove(QaicDevice &qdev)
{
    qdev.unplug();
}

} // namespace qaic
