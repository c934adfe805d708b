// SPDX-License-Identifier: MIT
// qaic-client: the reference client. It reaches the device only through libqaic's
// device-file ABI and the uAPI, so it runs unchanged on the simulated card and on a real node.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <drm.h>
#include <drm/qaic_accel.h>
#include <qaic/qaic.h>
#include <string>

namespace {

// "DRM_IOCTL_VERSION: ENODEV (No such device)"
void report(const char *what, int err)
{
    std::fprintf(stderr, "qaic-client: %s: %s (%s)\n", what, strerrorname_np(err),
                 std::strerror(err));
}

int cmd_info(int fd)
{
    char name[64] = {}, date[64] = {}, desc[128] = {};
    drm_version v{};
    v.name = name;
    v.name_len = sizeof(name) - 1;
    v.date = date;
    v.date_len = sizeof(date) - 1;
    v.desc = desc;
    v.desc_len = sizeof(desc) - 1;
    if (qaic_ioctl(fd, DRM_IOCTL_VERSION, &v) != 0) {
        report("DRM_IOCTL_VERSION", errno);
        return 1;
    }
    std::printf("driver:  %s %d.%d.%d (%s)\n", name, v.version_major, v.version_minor,
                v.version_patchlevel, date);
    std::printf("desc:    %s\n", desc);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    CLI::App app{"qaic-client: reference client for Qualcomm Cloud AI 100 accelerators"};
    std::string device;
    app.add_option("-d,--device", device,
                   "\"sim\" for the embedded simulated card, or an accel node path "
                   "(default: $QAIC_DEVICE, a real qaic node, else sim)");
    app.require_subcommand(1);
    auto *info = app.add_subcommand("info", "driver version and device description");
    CLI11_PARSE(app, argc, argv);

    int fd = qaic_open(device.empty() ? nullptr : device.c_str());
    if (fd < 0) {
        report(("open " + (device.empty() ? std::string("default device") : device)).c_str(),
               errno);
        return 1;
    }
    if (!device.empty())
        std::printf("device:  %s\n", device.c_str());
    int ret = 1;
    if (*info)
        ret = cmd_info(fd);
    qaic_close(fd);
    return ret;
}
