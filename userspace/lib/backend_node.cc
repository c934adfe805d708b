// SPDX-License-Identifier: MIT
// The real-node backend: /dev/accel/accelN through the syscalls and libdrm.
#include "userspace/lib/backend.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>

namespace libqaic {
namespace {

class NodeFile : public OpenFile {
public:
    explicit NodeFile(int fd) : fd_(fd) {}
    ~NodeFile() override
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    int fd() const override { return fd_; }
    void disown_fd() override { fd_ = -1; }
    int ioctl(unsigned long request, void *arg) override
    {
        // drmIoctl restarts on EINTR and EAGAIN, as every libdrm user does.
        return drmIoctl(fd_, request, arg) == 0 ? 0 : -errno;
    }
    void *mmap(void *addr, size_t len, int prot, int flags, off_t offset, int *err) override
    {
        void *p = ::mmap(addr, len, prot, flags, fd_, offset);
        if (p == MAP_FAILED) {
            *err = -errno;
            return nullptr;
        }
        return p;
    }

private:
    int fd_;
};

} // namespace

int open_node(const char *path, std::unique_ptr<OpenFile> *out)
{
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    *out = std::make_unique<NodeFile>(fd);
    return 0;
}

bool node_is_qaic(const char *path)
{
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    char name[16] = {};
    drm_version v{};
    v.name = name;
    v.name_len = sizeof(name) - 1;
    bool is_qaic = drmIoctl(fd, DRM_IOCTL_VERSION, &v) == 0 && std::strcmp(name, "qaic") == 0;
    ::close(fd);
    return is_qaic;
}

} // namespace libqaic
