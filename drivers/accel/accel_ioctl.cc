// SPDX-License-Identifier: GPL-2.0-only
// Table-driven ioctl dispatch with DRM's rules, and the generic ioctls of an accel file.
#include "drivers/accel/accel.h"
#include "kernel/printk.h"

#include <algorithm>
#include <cstring>
#include <drm.h>
#include <vector>

namespace accel {
namespace {

// DRM_IOCTL_VERSION: each string is copied up to the user's buffer length; the lengths
// returned are the full ones, so userspace can size its buffers and ask again.
ErrorOr<void> copy_field(UserPtr<char> buf, __kernel_size_t *buf_len, const char *value)
{
    size_t len = std::strlen(value);
    size_t n = std::min<size_t>(len, *buf_len);
    *buf_len = len;
    if (n && !buf.is_null())
        TRY(kernel::copy_to_user(buf.cast<void>(), value, n));
    return {};
}

ErrorOr<void> version_ioctl(File &file, void *data)
{
    auto *v = static_cast<drm_version *>(data);
    const Driver &drv = file.device().driver();
    v->version_major = drv.major;
    v->version_minor = drv.minor;
    v->version_patchlevel = drv.patchlevel;
    TRY(copy_field(UserPtr<char>(uintptr_t(v->name)), &v->name_len, drv.name));
    TRY(copy_field(UserPtr<char>(uintptr_t(v->date)), &v->date_len, drv.date));
    TRY(copy_field(UserPtr<char>(uintptr_t(v->desc)), &v->desc_len, drv.desc));
    return {};
}

// DRM_IOCTL_GEM_CLOSE: -EINVAL for a handle the file does not hold. The object lives on while
// anything else (a mapping, a slice, a queued job) holds it.
ErrorOr<void> gem_close_ioctl(File &file, void *data)
{
    auto *args = static_cast<drm_gem_close *>(data);
    return file.handle_delete(args->handle);
}

// The generic ioctls an accel file supports; every other core nr gets -EINVAL.
constexpr IoctlDesc kCoreIoctls[] = {
    ACCEL_IOCTL(DRM_IOCTL_VERSION, version_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_GEM_CLOSE, gem_close_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_PRIME_HANDLE_TO_FD, prime_handle_to_fd_ioctl),
    ACCEL_IOCTL(DRM_IOCTL_PRIME_FD_TO_HANDLE, prime_fd_to_handle_ioctl),
};

const IoctlDesc *find_ioctl(const Device &dev, unsigned nr)
{
    if (nr >= DRM_COMMAND_BASE && nr < DRM_COMMAND_END) {
        auto table = dev.driver().ioctls;
        unsigned index = nr - DRM_COMMAND_BASE;
        return index < table.size() ? &table[index] : nullptr;
    }
    for (const IoctlDesc &d : kCoreIoctls)
        if (_IOC_NR(d.cmd) == nr)
            return &d;
    return nullptr;
}

// The handler inside the device. An exception is a failure the handler did not answer
// itself: it becomes an errno here, the last line of defence, and the section ends with it.
int call_handler(const IoctlDesc &desc, File &file, void *kdata, bool core)
{
    DeviceSection section(file.device());
    if (!section)
        return REJECT(-ENODEV, "the device is gone").code();
    try {
        // dma-bufs whose last fd was closed since are released first: before the core's
        // calls (PRIME, GEM_CLOSE), not before the driver's, whose datapath must not pay a
        // system call for them (a driver reaps where it allocates).
        if (core)
            file.device().reap_dma_bufs();
        return desc.func(file, kdata).code();
    } catch (...) {
        return kernel::errno_of_exception(desc.name);
    }
}

} // namespace

int ioctl(File &file, unsigned long cmd, UserPtr<void> arg)
{
    Device &dev = file.device();
    const IoctlDesc *desc = find_ioctl(dev, _IOC_NR(cmd));
    if (!desc || !desc->func) {
        kernel::OpScope op("ioctl");
        return REJECT(-EINVAL, "no ioctl has nr %#x", unsigned(_IOC_NR(cmd))).code();
    }
    kernel::OpScope op(desc->name);

    // Sizes come from the user's cmd: a shorter struct (older userspace) is zero-extended, a
    // longer one truncated; only directions both sides agree on are copied.
    size_t drv_size = _IOC_SIZE(desc->cmd);
    size_t in_size = _IOC_SIZE(cmd), out_size = in_size;
    if (!(cmd & desc->cmd & IOC_IN))
        in_size = 0;
    if (!(cmd & desc->cmd & IOC_OUT))
        out_size = 0;
    size_t ksize = std::max({in_size, out_size, drv_size});

    alignas(8) unsigned char stack_data[128];
    std::vector<unsigned char> heap_data;
    unsigned char *kdata = stack_data;
    if (ksize > sizeof(stack_data)) {
        if (kernel::try_resize(heap_data, ksize).is_error())
            return -ENOMEM; // said by try_resize
        kdata = heap_data.data();
    }
    // A failed copy says why itself (kernel/uaccess.cc).
    if (kernel::copy_from_user(kdata, arg.cast<const void>(), in_size).is_error())
        return -EFAULT;
    std::memset(kdata + in_size, 0, ksize - in_size);

    int ret = call_handler(*desc, file, kdata, _IOC_NR(cmd) < DRM_COMMAND_BASE);
    // As DRM does, the argument is copied back even when the handler failed, so partial
    // results (a MANAGE response after a NACK) reach the user.
    if (kernel::copy_to_user(arg, kdata, out_size).is_error())
        ret = -EFAULT;
    return ret;
}

} // namespace accel
