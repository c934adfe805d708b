// SPDX-License-Identifier: MIT
// The "sim" backend: hosts the kernel side (accel core, qaic driver and the simulated card)
// inside this process. This file plays the platform's part (the PCI core that probes the
// driver for the card, and removes it on surprise removal), so it is the one place that sees
// both drivers/ and hw/.
#include "userspace/lib/backend.h"

#ifdef CONFIG_QAIC_SIM
#include "drivers/accel/accel.h"
#include "drivers/accel/qaic/qaic.h"
#include "hw/aic100/sim_pci.h"
#include "qaic/qaic_sim.h"

#include <cerrno>
#include <mutex>
#include <sys/eventfd.h>
#include <vector>
#include <unistd.h>

namespace libqaic {
namespace {

// The process's simulated card and the driver bound to it, brought up on first open and
// taken down at exit. A removed card stays removed until replug().
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
        if (removed_)
            return kernel::Error(-ENODEV);
        if (!qdev_) {
            auto pci = std::make_unique<aic100::SimPciDev>();
            qdev_ = TRY(qaic::probe(*pci));
            pci_ = std::move(pci);
        }
        return qdev_->minor();
    }

    int inject(unsigned fault, unsigned arg0, unsigned arg1)
    {
        std::lock_guard lock(lock_);
        if (!pci_ || removed_)
            return -ENODEV;
        aic100::Card &card = pci_->card();
        bool dbc_ok = arg0 < card.num_dbc();
        switch (fault) {
        case QAIC_SIM_RESET:
            card.reset();
            return 0;
#ifdef CONFIG_QAIC_FAULT_INJECTION
        case QAIC_SIM_DMA_ERROR:
            if (!dbc_ok || arg1 == 0)
                return -EINVAL;
            card.inject_dma_error(arg0, arg1);
            return 0;
        case QAIC_SIM_HANG:
            if (!dbc_ok)
                return -EINVAL;
            card.hang_engine(arg0);
            return 0;
        case QAIC_SIM_DROP_MSI:
            if (arg0 > card.num_dbc())
                return -EINVAL;
            card.drop_msis(arg0, arg1);
            return 0;
        case QAIC_SIM_FW_SILENT:
            card.firmware_silent(arg0 != 0);
            return 0;
        case QAIC_SIM_FW_NACK:
            card.firmware_nack(arg0);
            return 0;
        case QAIC_SIM_RESET_ON_MESSAGE:
            if (arg0 == 0)
                return -EINVAL;
            card.reset_on_message(arg0);
            return 0;
        case QAIC_SIM_FW_PAD:
            card.firmware_pad_answers(arg0);
            return 0;
        case QAIC_SIM_FW_MISNAME:
            card.firmware_misname_deactivate(arg0);
            return 0;
        case QAIC_SIM_SSR:
            if (!dbc_ok)
                return -EINVAL;
            card.subsystem_restart(arg0);
            return 0;
        case QAIC_SIM_REMOVE:
            // Surprise removal: the card vanishes, then the PCI core removes the driver.
            card.remove_device();
            qaic::remove(*qdev_);
            removed_ = true;
            return 0;
#else
        case QAIC_SIM_DMA_ERROR:
        case QAIC_SIM_HANG:
        case QAIC_SIM_DROP_MSI:
        case QAIC_SIM_FW_SILENT:
        case QAIC_SIM_FW_NACK:
        case QAIC_SIM_RESET_ON_MESSAGE:
        case QAIC_SIM_FW_PAD:
        case QAIC_SIM_FW_MISNAME:
        case QAIC_SIM_SSR:
        case QAIC_SIM_REMOVE:
            (void)dbc_ok;
            (void)arg1;
            return -EOPNOTSUPP;
#endif
        default:
            return -EINVAL;
        }
    }

    int dbc_status(unsigned dbc, struct qaic_sim_dbc_status *st)
    {
        std::lock_guard lock(lock_);
        if (!pci_ || removed_)
            return -ENODEV;
        if (dbc >= pci_->card().num_dbc())
            return -EINVAL;
        aic100::DbcCounters c = pci_->card().dbc_counters(dbc);
        *st = {c.state,      c.nelem,    c.queue_level,     c.errors,
               c.responses,  c.last_error, c.elements,     c.bytes,
               c.polled_elements, c.deferred_doorbells};
        return 0;
    }

    int num_dbc()
    {
        std::lock_guard lock(lock_);
        if (!pci_ || removed_)
            return -ENODEV;
        return int(pci_->card().num_dbc());
    }

    // A fresh card after a removal. The removed card is kept until exit: files still open on
    // the old device may hold driver objects that once pointed at it.
    int replug()
    {
        std::lock_guard lock(lock_);
        if (!removed_)
            return 0;
        removed_ = false;
        qdev_ = nullptr;
        removed_cards_.push_back(std::move(pci_));
        return 0;
    }

    int set_param(const char *name, unsigned value)
    {
        std::lock_guard lock(lock_);
        if (!qdev_ || removed_)
            return -ENODEV;
        return qdev_->params.set(name, value).code();
    }

    // Driver first, then the card: after remove() the driver no longer touches the bus.
    ~SimHost()
    {
        if (qdev_ && !removed_)
            qaic::remove(*qdev_);
        qdev_ = nullptr;
        pci_.reset();
    }

private:
    std::mutex lock_;
    bool removed_ = false;
    std::unique_ptr<aic100::SimPciDev> pci_;
    std::vector<std::unique_ptr<aic100::SimPciDev>> removed_cards_;
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
    int sim_inject(unsigned fault, unsigned arg0, unsigned arg1) override
    {
        return SimHost::get().inject(fault, arg0, arg1);
    }
    int sim_dbc_status(unsigned dbc, struct qaic_sim_dbc_status *st) override
    {
        return SimHost::get().dbc_status(dbc, st);
    }
    int sim_num_dbc() override { return SimHost::get().num_dbc(); }

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

int sim_replug()
{
    return SimHost::get().replug();
}

int sim_set_param(const char *name, unsigned value)
{
    return SimHost::get().set_param(name, value);
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
int sim_replug()
{
    return -ENODEV;
}
int sim_set_param(const char *, unsigned)
{
    return -ENODEV;
}
bool sim_munmap(void *, size_t, int *)
{
    return false;
}
} // namespace libqaic

#endif
