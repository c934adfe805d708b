// SPDX-License-Identifier: MIT
// The "sim" backend: hosts the kernel side (accel core, qaic driver and the simulated card)
// inside this process, on the embedded host's machine (host/machine.h).
#include "userspace/lib/backend.h"

#ifdef CONFIG_QAIC_SIM
#include "drivers/accel/accel.h"
#include "host/machine.h"
#include "kernel/alloc.h"
#include "qaic/qaic_sim.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vector>

namespace libqaic {
namespace {

host::Machine &machine()
{
    return host::Machine::embedded();
}

// ---- the allocation-failure sweep (set_alloc_failure_sweep)

// Set before the first open, read-only afterwards.
void (*sweep_finding)(const char *what) = nullptr;

// What a call that failed must not have taken: the memory and DBCs the driver holds, and
// per DBC whether the card has it assigned, and its ring size. (Not the SSR state the card
// steps through on its own, nor the elements it took: completions move queued jobs to the
// ring meanwhile; a BO left queued shows when the call is made again.) A card probed by a
// failed open stays (the device is there whether an open of it works).
using CardView = std::vector<std::pair<std::string, unsigned long long>>;

CardView card_view()
{
    host::CardStats st = machine().stats(0);
    CardView v{{"probed", st.minor >= 0}, {"bo_bytes", st.bo_bytes}, {"dbcs_in_use", st.dbcs_in_use}};
    for (int dbc = 0, n = machine().num_dbc(0); dbc < n; ++dbc) {
        qaic_sim_dbc_status d{};
        if (machine().dbc_status(0, unsigned(dbc), &d) != 0)
            continue;
        std::string name = "dbc" + std::to_string(dbc);
        v.push_back({name + " assigned", d.state != 0});
        v.push_back({name + " nelem", d.nelem});
    }
    return v;
}

// "name before -> after" for each entry that grew: memory or DBCs taken, a DBC assigned.
// Only growth counts: what other files' work frees meanwhile (a job finishing after its file
// closed drops the last reference to its BO; a late answer's DBC is taken back) shrinks the
// view on the driver's own threads, which a call that ran alone does not exclude.
std::string growth(const CardView &before, const CardView &after)
{
    std::string s;
    for (size_t i = 0; i < before.size() && i < after.size(); ++i)
        if (after[i].second > before[i].second)
            s += (s.empty() ? "" : ", ") + before[i].first + " " + std::to_string(before[i].second) +
                 " -> " + std::to_string(after[i].second);
    return s;
}

void sweep_report(const std::string &what, unsigned nth, const std::string &problem)
{
    std::string msg = what + ": allocation " + std::to_string(nth) + " made to fail: " + problem;
    sweep_finding(msg.c_str());
}

// Calls of the sweep running (and closes), and started so far: the card is compared only
// across a call that ran alone from start to end (another thread's calls change it
// meanwhile). The card's and the driver's own threads are not counted: a test whose firmware
// answers late, or restarts subsystems, can still change the card during a call.
std::atomic<unsigned> sweep_running{0};
std::atomic<uint64_t> sweep_started{0};

// Runs call (a result >= 0 or a negative errno) as the sweep does, or once when it is off.
// what() names the call in a finding (made only then: the calls are hot paths).
template <typename F, typename W> int sweep(W &&what, F &&call)
{
    if (!sweep_finding)
        return call();
    sweep_running.fetch_add(1);
    struct Done {
        ~Done() { sweep_running.fetch_sub(1); }
    } done;
    for (unsigned nth = 1;; ++nth) {
        uint64_t started = sweep_started.fetch_add(1) + 1;
        CardView before = card_view();
        bool alone = sweep_running.load() == 1;
        int ret;
        bool fired;
        try {
            kernel::FailNthAlloc inject(nth);
            ret = call();
            fired = inject.fired();
        } catch (...) {
            sweep_report(what(), nth, "an exception crossed the entry");
            throw;
        }
        if (!fired || ret >= 0)
            return ret; // no allocation failed, or the call absorbed the failure
        if (ret != -ENOMEM)
            sweep_report(what(), nth, "answered errno " + std::to_string(-ret) + ", not ENOMEM");
        else if (std::string grew = growth(before, card_view());
                 before[0].second && !grew.empty() && alone && sweep_running.load() == 1 &&
                 sweep_started.load() == started)
            sweep_report(what(), nth, "answered ENOMEM but took " + grew);
    }
}

// An open of the simulated card. The fd is an eventfd: a real, unique descriptor.
class SimFile : public OpenFile {
public:
    SimFile(int fd, kernel::RefPtr<accel::File> file) : fd_(fd), file_(std::move(file)) {}
    ~SimFile() override
    {
        if (sweep_finding) { // a close changes the card too
            sweep_running.fetch_add(1);
            sweep_started.fetch_add(1);
        }
        file_ = nullptr;
        if (sweep_finding)
            sweep_running.fetch_sub(1);
        if (fd_ >= 0)
            ::close(fd_);
    }
    int fd() const override { return fd_; }
    void disown_fd() override { fd_ = -1; }
    int ioctl(unsigned long request, void *arg) override
    {
        auto name = [request] {
            char s[32];
            std::snprintf(s, sizeof(s), "ioctl 0x%lx", request);
            return std::string(s);
        };
        return sweep(name, [&] {
            return accel::ioctl(*file_, request, kernel::UserPtr<void>(uintptr_t(arg)));
        });
    }
    void *mmap(void *addr, size_t len, int prot, int flags, off_t offset, int *err) override
    {
        if (offset < 0) {
            *err = -EINVAL;
            return nullptr;
        }
        void *p = nullptr;
        *err = sweep([] { return std::string("mmap"); }, [&] {
            auto r = accel::mmap(*file_, addr, len, prot, flags, uint64_t(offset));
            if (r.is_error())
                return r.code();
            p = r.value();
            return 0;
        });
        return *err ? nullptr : p;
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
    int sim_pci_id() override { return machine().pci_id(0); }
    int sim_ras_counts(struct qaic_sim_ras_counts *c) override
    {
        return machine().ras_counts(0, c);
    }
    long long sim_read_coredump(void *buf, unsigned long long len) override
    {
        return machine().read_coredump(0, kernel::UserPtr<void>(uintptr_t(buf)), len);
    }

private:
    int fd_;
    kernel::RefPtr<accel::File> file_;
};

} // namespace

int open_sim(std::unique_ptr<OpenFile> *out)
{
    kernel::RefPtr<accel::File> opened;
    int ret = sweep([] { return std::string("open"); }, [&] {
        auto file = machine().open(0);
        if (file.is_error())
            return file.code();
        opened = file.release_value();
        return 0;
    });
    if (ret < 0)
        return ret;
    int fd = eventfd(0, EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    *out = std::make_unique<SimFile>(fd, std::move(opened));
    return 0;
}

void set_alloc_failure_sweep(void (*finding)(const char *what))
{
    sweep_finding = finding;
}

int sim_replug()
{
    return machine().replug(0);
}

int sim_set_param(const char *name, unsigned value)
{
    return machine().set_param(0, name, value);
}

int sim_read_attr(const char *attr, std::string *out)
{
    auto r = machine().read_attr(0, attr);
    if (r.is_error())
        return r.code();
    *out = r.release_value();
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
int sim_replug()
{
    return -ENODEV;
}
int sim_set_param(const char *, unsigned)
{
    return -ENODEV;
}
int sim_read_attr(const char *, std::string *)
{
    return -ENODEV;
}
bool sim_munmap(void *, size_t, int *)
{
    return false;
}
void set_alloc_failure_sweep(void (*)(const char *)) {}
} // namespace libqaic

#endif
