// SPDX-License-Identifier: MIT
// The "sim" backend: hosts the kernel side (accel core, qaic driver and the simulated card)
// inside this process, on the embedded host's machine (host/machine.h).
#include "userspace/lib/backend.h"

#ifdef CONFIG_QAIC_SIM
#include "drivers/accel/accel.h"
#include "host/machine.h"

#include <cerrno>
#include <sys/eventfd.h>
#include <unistd.h>

namespace libqaic {
namespace {

host::Machine &machine()
{
    return host::Machine::embedded();
}

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
        return machine().inject(0, fault, arg0, arg1);
    }
    int sim_dbc_status(unsigned dbc, struct qaic_sim_dbc_status *st) override
    {
        return machine().dbc_status(0, dbc, st);
    }
    int sim_num_dbc() override { return machine().num_dbc(0); }

private:
    int fd_;
    kernel::RefPtr<accel::File> file_;
};

} // namespace

int open_sim(std::unique_ptr<OpenFile> *out)
{
    auto file = machine().open(0);
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
    return machine().replug(0);
}

int sim_set_param(const char *name, unsigned value)
{
    return machine().set_param(0, name, value);
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
