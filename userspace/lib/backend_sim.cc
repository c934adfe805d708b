// SPDX-License-Identifier: MIT
// The "sim" backend: hosts the kernel side (accel core, qaic driver and the simulated card)
// inside this process. This file plays the platform's part (the PCI core that probes the
// driver for the card), so it is the one place that sees both drivers/ and hw/.
#include "userspace/lib/backend.h"

#ifdef CONFIG_QAIC_SIM
#include "drivers/accel/accel.h"
#include "drivers/accel/qaic/qaic.h"
#include "hw/aic100/sim_pci.h"

#include <cerrno>
#include <mutex>
#include <sys/eventfd.h>
#include <unistd.h>

namespace libqaic {
namespace {

// The process's one simulated card and the driver bound to it, brought up on first open and
// taken down at exit.
class SimHost {
public:
    static SimHost &get()
    {
        static SimHost host;
        return host;
    }

    // The device's minor: the card is powered on and the driver probed on first use.
    kernel::ErrorOr<int> minor()
    {
        std::lock_guard lock(lock_);
        if (!qdev_) {
            auto pci = std::make_unique<aic100::SimPciDev>();
            qdev_ = TRY(qaic::probe(*pci));
            pci_ = std::move(pci);
        }
        return qdev_->minor();
    }

    // Driver first, then the card: after remove() the driver no longer touches the bus.
    ~SimHost()
    {
        if (qdev_)
            qaic::remove(*qdev_);
        pci_.reset();
    }

private:
    std::mutex lock_;
    std::unique_ptr<aic100::SimPciDev> pci_;
    kernel::RefPtr<qaic::QaicDevice> qdev_;
};

// An open of the simulated card. The fd is an eventfd: a real, unique descriptor.
class SimFile : public OpenFile {
public:
    SimFile(int fd, kernel::RefPtr<accel::File> file) : fd_(fd), file_(std::move(file)) {}
    ~SimFile() override
    {
        file_ = nullptr;
        if (fd_ >= 0)
            ::close(fd_);
    }
    int fd() const override { return fd_; }
    void disown_fd() override { fd_ = -1; }
    int ioctl(unsigned long request, void *arg) override
    {
        return accel::ioctl(*file_, request, kernel::UserPtr<void>(uintptr_t(arg)));
    }
    void *mmap(void *addr, size_t len, int prot, int flags, off_t offset, int *err) override
    {
        if (offset < 0) {
            *err = -EINVAL;
            return nullptr;
        }
        auto r = accel::mmap(*file_, addr, len, prot, flags, uint64_t(offset));
        if (r.is_error()) {
            *err = r.code();
            return nullptr;
        }
        return r.value();
    }

private:
    int fd_;
    kernel::RefPtr<accel::File> file_;
};

} // namespace

int open_sim(std::unique_ptr<OpenFile> *out)
{
    auto minor = SimHost::get().minor();
    if (minor.is_error())
        return minor.code();
    auto file = accel::open_minor(minor.value());
    if (file.is_error())
        return file.code();
    int fd = eventfd(0, EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    *out = std::make_unique<SimFile>(fd, file.release_value());
    return 0;
}

bool sim_munmap(void *addr, size_t len, int *err)
{
    // accel::munmap handles every range: its own mappings and, for the rest, munmap(2).
    *err = accel::munmap(addr, len).code();
    return true;
}

} // namespace libqaic

#else // !CONFIG_QAIC_SIM

namespace libqaic {
int open_sim(std::unique_ptr<OpenFile> *)
{
    return -ENODEV;
}
bool sim_munmap(void *, size_t, int *)
{
    return false;
}
} // namespace libqaic

#endif
