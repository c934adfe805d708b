// SPDX-License-Identifier: MIT
// libqaic's backends: what an fd returned by qaic_open() leads to.
#pragma once

#include <cerrno>
#include <cstddef>
#include <memory>
#include <string>
#include <sys/types.h>

struct qaic_sim_dbc_status;
struct qaic_sim_ras_counts;
struct qaic_host_stats;

namespace libqaic {

// One open device file. Methods return 0 / a pointer, or a negative errno.
class OpenFile {
public:
    virtual ~OpenFile() = default;
    virtual int fd() const = 0;
    // The fd was closed behind libqaic's back and its number reused: forget it, do not close.
    virtual void disown_fd() = 0;
    virtual int ioctl(unsigned long request, void *arg) = 0;
    // Returns the address, or sets *err to a negative errno and returns nullptr.
    virtual void *mmap(void *addr, size_t len, int prot, int flags, off_t offset, int *err) = 0;
    // Test control of the simulated card behind this file (qaic_sim.h).
    virtual int sim_inject(unsigned, unsigned, unsigned) { return -ENODEV; }
    virtual int sim_dbc_status(unsigned, struct qaic_sim_dbc_status *) { return -ENODEV; }
    virtual int sim_num_dbc() { return -ENODEV; }
    virtual int sim_pci_id() { return -ENODEV; }
    virtual int sim_ras_counts(struct qaic_sim_ras_counts *) { return -ENODEV; }
    // The crash dump into buf (this process's address), read once: see qaic_sim.h.
    virtual long long sim_read_coredump(void *, unsigned long long) { return -ENODEV; }
};

// The embedded simulated card; -ENODEV when libqaic was built without it.
int open_sim(std::unique_ptr<OpenFile> *out);
// A real accel node at path.
int open_node(const char *path, std::unique_ptr<OpenFile> *out);
// Whether the node at path is driven by qaic (DRM_IOCTL_VERSION name).
bool node_is_qaic(const char *path);
// A device file served by qaicd at the socket path.
int open_daemon(const char *path, std::unique_ptr<OpenFile> *out);
bool is_daemon_socket(const char *path);
// The device file behind fd, a connection to qaicd's socket at path that another process or
// program image opened (an inherited or received fd): served through a copy of fd, which the
// caller keeps.
int adopt_daemon(int fd, const char *path, std::unique_ptr<OpenFile> *out);
// Reads this process's memory for qaicd's calls with process_vm_readv rather than the
// fault-fixup copy, whose SIGSEGV/SIGBUS handlers an unmodified program may replace (the
// preload library's choice).
void copy_own_memory_by_syscall();
// Whether fd is a connection to the qaicd socket at path.
bool is_daemon_connection(int fd, const char *path);
// A connection that carries the card's sysfs view (wire::kWatch) into *fd, past the Welcome.
int daemon_watch(const char *path, int *fd);
// qaic_sim.h's device-level calls on the card behind a qaicd socket, and qaicd's counts.
int daemon_sim_replug(const char *path);
int daemon_sim_pci_id(const char *path);
int daemon_sim_set_param(const char *path, const char *name, unsigned value);
int daemon_stats(const char *path, struct qaic_host_stats *st);
// One of the driver's files of the card (qaic_sim_read_attr) into *out.
int daemon_read_attr(const char *path, const char *attr, std::string *out);
int sim_read_attr(const char *attr, std::string *out);
// qaic_sim.h's device-level calls on the embedded card.
int sim_replug();
int sim_set_param(const char *name, unsigned value);
// The allocation-failure sweep of the embedded card (a test mode: selftests/failslab). Each
// ioctl, mmap and open is first made with its 1st, 2nd, ... allocation failing
// (kernel::FailNthAlloc), until one makes no allocation fail; that one's result is the
// caller's. A made-to-fail call must answer ENOMEM having taken nothing (no memory, no DBC,
// none assigned on the card), or succeed, having absorbed the failure; what does not is told
// to finding.
void set_alloc_failure_sweep(void (*finding)(const char *what));
// munmap through the sim backend's mapping table; false if addr is not one of its mappings
// (the caller then uses munmap(2)).
bool sim_munmap(void *addr, size_t len, int *err);

} // namespace libqaic
