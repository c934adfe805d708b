// SPDX-License-Identifier: MIT
// The device-file C ABI: a table from fds to open files, and the choice of backend.
#include "qaic/qaic.h"
#include "qaic/qaic_sim.h"
#include "userspace/lib/backend.h"

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <sys/mman.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#define QAIC_EXPORT extern "C" __attribute__((visibility("default")))

namespace libqaic {
namespace {

struct FdTable {
    std::shared_mutex lock;
    std::unordered_map<int, std::shared_ptr<OpenFile>> files;
};

// Never destroyed, so an fd used from another static destructor at exit still works.
FdTable &fds()
{
    static auto *t = new FdTable();
    return *t;
}

std::shared_ptr<OpenFile> lookup(int fd)
{
    std::shared_lock lock(fds().lock);
    auto it = fds().files.find(fd);
    return it == fds().files.end() ? nullptr : it->second;
}

int fail(int negative_errno)
{
    errno = -negative_errno;
    return -1;
}

// The errno a system call would give for the exception being handled (call it in a catch
// block). The kernel side answers its own failures; this is for one that still got here.
int escaped_errno()
{
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return -ENOMEM;
    } catch (const std::length_error &) {
        return -ENOMEM;
    } catch (const std::system_error &e) {
        // An errno only from the categories that hold errnos.
        bool os = e.code().category() == std::generic_category() ||
                  e.code().category() == std::system_category();
        return os && e.code().value() > 0 ? -e.code().value() : -EIO;
    } catch (...) {
        return -EIO;
    }
}

// An entry of the C ABI: body returns a result >= 0 or a negative errno, and no exception
// crosses the ABI. Returns the result, or -1 with errno set.
template <typename F> int entry(F &&body)
{
    int ret;
    try {
        ret = body();
    } catch (...) {
        ret = escaped_errno();
    }
    return ret < 0 ? fail(ret) : ret;
}

// qaicd's socket for its first card, where a daemon started without --dir puts it: the
// user's own daemon first, then the system's.
std::vector<std::string> default_daemon_sockets()
{
    std::vector<std::string> paths;
    if (const char *xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg && geteuid() != 0)
        paths.push_back(std::string(xdg) + "/qaic/accel0");
    paths.push_back("/run/qaic/accel0");
    return paths;
}

// NULL: $QAIC_DEVICE, else the first real qaic node, else a running qaicd's default socket,
// else the embedded card.
std::string choose_device(const char *device)
{
    if (device)
        return device;
    if (const char *env = std::getenv("QAIC_DEVICE"); env && *env)
        return env;
    for (int n = 0; n < 64; ++n) {
        std::string path = "/dev/accel/accel" + std::to_string(n);
        if (node_is_qaic(path.c_str()))
            return path;
    }
    for (const std::string &path : default_daemon_sockets())
        if (is_daemon_socket(path.c_str()))
            return path;
    return "sim";
}

int open_device(const char *device, std::unique_ptr<OpenFile> *file)
{
    std::string dev = choose_device(device);
    if (dev == "sim")
        return open_sim(file);
    if (is_daemon_socket(dev.c_str())) {
        int ret = open_daemon(dev.c_str(), file);
        // A default socket left by a daemon that is gone: on to the embedded card.
        if (ret == -ENODEV && !device && !std::getenv("QAIC_DEVICE"))
            return open_sim(file);
        return ret;
    }
    return open_node(dev.c_str(), file);
}

} // namespace
} // namespace libqaic

using namespace libqaic;

QAIC_EXPORT int qaic_open(const char *device)
{
    return entry([&] {
        std::unique_ptr<OpenFile> file;
        int ret = open_device(device, &file);
        if (ret < 0)
            return ret;
        int fd = file->fd();
        std::unique_lock lock(fds().lock);
        auto &slot = fds().files[fd];
        if (slot)
            slot->disown_fd(); // the user close(2)d it instead of qaic_close()
        slot = std::move(file);
        return fd;
    });
}

QAIC_EXPORT int qaic_close(int fd)
{
    return entry([&] {
        std::shared_ptr<OpenFile> file;
        {
            std::unique_lock lock(fds().lock);
            auto it = fds().files.find(fd);
            if (it == fds().files.end())
                return -EBADF;
            file = std::move(it->second);
            fds().files.erase(it);
        }
        // An ioctl in flight on another thread keeps the file until it returns, like fput().
        return 0;
    });
}

QAIC_EXPORT int qaic_ioctl(int fd, unsigned long request, void *arg)
{
    return entry([&] {
        auto file = lookup(fd);
        return file ? file->ioctl(request, arg) : -EBADF;
    });
}

QAIC_EXPORT void *qaic_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    void *p = nullptr;
    int ret = entry([&] {
        auto file = lookup(fd);
        if (!file)
            return -EBADF;
        int err = 0;
        p = file->mmap(addr, len, prot, flags, offset, &err);
        return p ? 0 : std::min(err, -EIO); // a backend failing without saying why: EIO
    });
    return ret < 0 ? MAP_FAILED : p;
}

QAIC_EXPORT int qaic_munmap(void *addr, size_t len)
{
    return entry([&] {
        int err = 0;
        if (sim_munmap(addr, len, &err))
            return err;
        return munmap(addr, len) == 0 ? 0 : -errno;
    });
}

QAIC_EXPORT int qaic_sim_inject(int fd, enum qaic_sim_fault fault, unsigned arg0, unsigned arg1)
{
    return entry([&] {
        auto file = lookup(fd);
        return file ? std::min(file->sim_inject(unsigned(fault), arg0, arg1), 0) : -EBADF;
    });
}

QAIC_EXPORT int qaic_sim_get_dbc_status(int fd, unsigned dbc, struct qaic_sim_dbc_status *status)
{
    return entry([&] {
        auto file = lookup(fd);
        if (!file)
            return -EBADF;
        if (!status)
            return -EFAULT;
        return std::min(file->sim_dbc_status(dbc, status), 0);
    });
}

QAIC_EXPORT int qaic_sim_get_ras_counts(int fd, struct qaic_sim_ras_counts *counts)
{
    return entry([&] {
        auto file = lookup(fd);
        if (!file)
            return -EBADF;
        if (!counts)
            return -EFAULT;
        return std::min(file->sim_ras_counts(counts), 0);
    });
}

QAIC_EXPORT long long qaic_sim_read_coredump(int fd, void *buf, unsigned long long len)
{
    long long ret;
    try {
        auto file = lookup(fd);
        ret = file ? file->sim_read_coredump(buf, len) : -EBADF;
    } catch (...) {
        ret = escaped_errno();
    }
    return ret < 0 ? fail(int(ret)) : ret;
}

QAIC_EXPORT int qaic_sim_num_dbc(int fd)
{
    return entry([&] {
        auto file = lookup(fd);
        return file ? file->sim_num_dbc() : -EBADF;
    });
}

QAIC_EXPORT int qaic_sim_pci_id(int fd)
{
    return entry([&] {
        auto file = lookup(fd);
        return file ? file->sim_pci_id() : -EBADF;
    });
}

QAIC_EXPORT int qaic_sim_replug(void)
{
    return entry([] {
        std::string dev = choose_device(nullptr);
        return std::min(is_daemon_socket(dev.c_str()) ? daemon_sim_replug(dev.c_str()) : sim_replug(), 0);
    });
}

QAIC_EXPORT int qaic_sim_set_param(const char *name, unsigned value)
{
    return entry([&] {
        if (!name)
            return -EINVAL;
        std::string dev = choose_device(nullptr);
        return std::min(is_daemon_socket(dev.c_str()) ? daemon_sim_set_param(dev.c_str(), name, value)
                                                      : sim_set_param(name, value),
                        0);
    });
}

namespace {

// The file behind a driver path on a real node's system: its sysfs, debugfs and module
// directories, as the kernel lays them out. "" when the path names none.
std::string real_attr_path(const std::string &node, std::string_view attr)
{
    size_t at = node.rfind("accel");
    if (at == std::string::npos || node.find('/') == std::string::npos)
        return {};
    std::string name = node.substr(at); // accelN
    std::string cls = "/sys/class/accel/" + name;
    auto under = [&](std::string_view prefix) { return attr.starts_with(prefix); };
    if (under("accel/"))
        return cls + "/" + std::string(attr.substr(6));
    if (under("device/"))
        return cls + "/" + std::string(attr);
    if (under("parameters/"))
        return "/sys/module/qaic/" + std::string(attr);
    if (under("debug/")) {
        // debugfs names the device by its PCI function (drm_dev's unique name).
        char target[PATH_MAX];
        ssize_t n = readlink((cls + "/device").c_str(), target, sizeof(target) - 1);
        if (n <= 0)
            return {};
        target[n] = '\0';
        std::string fn = target;
        return "/sys/kernel/debug/accel/" + fn.substr(fn.rfind('/') + 1) + "/" +
               std::string(attr.substr(6));
    }
    return {};
}

int read_real_attr(const std::string &node, const char *attr, std::string *out)
{
    if (!*attr)
        return -EOPNOTSUPP; // the index is the simulated driver's
    std::string file = real_attr_path(node, attr);
    if (file.empty())
        return -ENOENT;
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[4096];
    int err = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? -errno : 0;
            break;
        }
        out->append(buf, size_t(n));
    }
    ::close(fd);
    return err;
}

} // namespace

QAIC_EXPORT int qaic_sim_read_attr(const char *path, char *buf, size_t len)
{
    return entry([&] {
        if (!path || (!buf && len))
            return -EFAULT;
        std::string dev = choose_device(nullptr);
        std::string content;
        int ret = dev == "sim"                    ? sim_read_attr(path, &content)
                  : is_daemon_socket(dev.c_str()) ? daemon_read_attr(dev.c_str(), path, &content)
                                                  : read_real_attr(dev, path, &content);
        if (ret < 0)
            return ret;
        if (content.size() > size_t(INT_MAX))
            return -EOVERFLOW;
        if (len) {
            size_t n = std::min(content.size(), len - 1);
            std::memcpy(buf, content.data(), n);
            buf[n] = '\0';
        }
        return int(content.size());
    });
}

QAIC_EXPORT int qaic_sim_get_param(const char *name, char *buf, size_t len)
{
    if (!name || !*name || std::strchr(name, '/')) {
        errno = EINVAL;
        return -1;
    }
    std::string path = std::string("parameters/") + name;
    int n = qaic_sim_read_attr(path.c_str(), buf, len);
    if (n < 0 && errno == ENOENT)
        errno = EINVAL; // as qaic_sim_set_param: no parameter of that name
    return n;
}

QAIC_EXPORT int qaic_host_get_stats(const char *device, struct qaic_host_stats *stats)
{
    return entry([&] {
        if (!stats)
            return -EFAULT;
        std::string dev = choose_device(device);
        return is_daemon_socket(dev.c_str()) ? std::min(daemon_stats(dev.c_str(), stats), 0) : -ENODEV;
    });
}
