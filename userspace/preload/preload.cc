// SPDX-License-Identifier: MIT
// libqaic-preload.so: an unmodified program's /dev/accel/accelN, served by qaicd.
//
// qaic-run puts this library first in LD_PRELOAD and names the cards' sockets in
// QAIC_RUN_SOCKETS ("path0:path1:..." for accel0, accel1, ...). Opening a node connects to its
// socket; the program's fd is a copy of that connection, so dup and fork share the open file
// as they share a device file, and its last close releases the file. Each fd of ours maps to
// libqaic's open file (userspace/lib/backend_daemon.cc), which does the ioctls and mmaps. An fd
// that came from elsewhere (exec, SCM_RIGHTS) is recognised by its peer, on first use.
// Everything else goes on to the next definition: umockdev's preload (sysfs, udev, netlink),
// then libc. What interposition cannot see is in docs/design.md.
#include "userspace/lib/backend.h"

#include <algorithm>
#include <asm/ioctl.h>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <system_error>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

#define PRELOAD_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr unsigned kAccelMajor = 261; // the accel char major (drivers/accel/drm_accel.c)
constexpr unsigned kDrmIoctlBase = 'd';

// The next definitions of what we wrap, found once.
struct Next {
    int (*open)(const char *, int, ...);
    int (*open64)(const char *, int, ...);
    int (*openat)(int, const char *, int, ...);
    int (*openat64)(int, const char *, int, ...);
    FILE *(*fopen)(const char *, const char *);
    FILE *(*fopen64)(const char *, const char *);
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    void (*closefrom)(int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*ioctl)(int, unsigned long, ...);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    int (*fstat)(int, struct stat *);
    int (*fstatat)(int, const char *, struct stat *, int);
    int (*fxstat)(int, int, struct stat *);
    int (*statx)(int, const char *, int, unsigned, struct statx *);
    pid_t (*fork)();

    Next()
    {
        find(open, "open");
        find(open64, "open64");
        find(openat, "openat");
        find(openat64, "openat64");
        find(fopen, "fopen");
        find(fopen64, "fopen64");
        find(close, "close");
        find(close_range, "close_range");
        find(closefrom, "closefrom");
        find(dup, "dup");
        find(dup2, "dup2");
        find(dup3, "dup3");
        find(fcntl, "fcntl");
        find(ioctl, "ioctl");
        find(mmap, "mmap");
        find(munmap, "munmap");
        find(fstat, "fstat");
        find(fstatat, "fstatat");
        find(fxstat, "__fxstat");
        find(statx, "statx");
        find(fork, "fork");
    }
    template <typename F> static void find(F &f, const char *name)
    {
        f = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
    }
};

const Next &next()
{
    static const Next n;
    return n;
}

// libqaic's own system calls go straight on: they are ours already.
thread_local bool t_inside = false;
struct Inside {
    bool was = std::exchange(t_inside, true);
    ~Inside() { t_inside = was; }
};

// accelN's socket, by N.
// Never destroyed, as table(): a program's exit still maps and opens (a sanitizer's leak report
// symbolizing through our mmap, static destructors closing fds) once static destructors ran.
const std::vector<std::string> &sockets()
{
    static const auto *paths = [] {
        auto *v = new std::vector<std::string>;
        const char *env = std::getenv("QAIC_RUN_SOCKETS");
        for (const char *p = env; p && *p;) {
            const char *end = std::strchr(p, ':');
            v->emplace_back(p, end ? size_t(end - p) : std::strlen(p));
            p = end ? end + 1 : nullptr;
        }
        return v;
    }();
    return *paths;
}

// N for "/dev/accel/accelN" of a card we serve, else -1.
int node_minor(const char *path)
{
    static constexpr char kPrefix[] = "/dev/accel/accel";
    if (!path || std::strncmp(path, kPrefix, sizeof(kPrefix) - 1) != 0)
        return -1;
    const char *n = path + sizeof(kPrefix) - 1;
    if (*n < '0' || *n > '9' || (n[0] == '0' && n[1]))
        return -1;
    char *end = nullptr;
    unsigned long minor = std::strtoul(n, &end, 10);
    return *end == '\0' && minor < sockets().size() ? int(minor) : -1;
}

int caught_errno();

// ---------------------------------------------------------------------------- driver files

// The card whose PCI function is bdf ("0000:01:00.0" is accel0: qaic-run's numbering).
int card_of_bdf(std::string_view bdf)
{
    for (unsigned i = 0; i < sockets().size(); ++i) {
        char want[16];
        std::snprintf(want, sizeof(want), "0000:%02x:00.0", i + 1);
        if (bdf == want)
            return int(i);
    }
    return -1;
}

// A file of the driver's that sysfs or debugfs would make at each read, as a card and the
// driver's path of it (QaicDevice::read_attr): debugfs's under /sys/kernel/debug/accel/<bdf>/,
// the module's parameters (those of accel0's driver), the PCI device's RAS counters. -1 for
// any other path, which goes on to umockdev's testbed (dbc<N>_state is kept current there).
int driver_file(const char *path, std::string *attr)
{
    if (!path || sockets().empty())
        return -1;
    std::string_view p = path;
    constexpr std::string_view kDebug = "/sys/kernel/debug/accel/";
    constexpr std::string_view kParams = "/sys/module/qaic/parameters/";
    if (p.starts_with(kDebug)) {
        std::string_view rest = p.substr(kDebug.size());
        size_t slash = rest.find('/');
        if (slash == std::string_view::npos)
            return -1;
        int card = card_of_bdf(rest.substr(0, slash));
        if (card >= 0)
            *attr = "debug/" + std::string(rest.substr(slash + 1));
        return card;
    }
    if (p.starts_with(kParams) && p.size() > kParams.size()) {
        *attr = "parameters/" + std::string(p.substr(kParams.size()));
        return 0;
    }
    // .../<bdf>/<counter>, or /sys/class/accel/accelN/device/<counter>.
    size_t last = p.rfind('/');
    if (last == std::string_view::npos || !p.starts_with("/sys/"))
        return -1;
    std::string_view leaf = p.substr(last + 1), dir = p.substr(0, last);
    if (leaf != "ce_count" && leaf != "ue_count" && leaf != "ue_nonfatal_count")
        return -1;
    int card = -1;
    constexpr std::string_view kClass = "/sys/class/accel/accel";
    if (dir.starts_with(kClass) && dir.ends_with("/device")) {
        std::string_view n = dir.substr(kClass.size(), dir.size() - kClass.size() - 7);
        bool digits = !n.empty() && n.size() < 4 &&
                      n.find_first_not_of("0123456789") == std::string_view::npos;
        if (digits && unsigned(std::atoi(std::string(n).c_str())) < sockets().size())
            card = std::atoi(std::string(n).c_str());
    } else {
        card = card_of_bdf(dir.substr(dir.rfind('/') + 1));
    }
    if (card >= 0)
        *attr = "device/" + std::string(leaf);
    return card;
}

constexpr int kNotOurs = -2;

// An fd of the file's content now, as sysfs and debugfs make it at open: a snapshot in a memfd,
// read from the card's qaicd. Only for reading; -1 with errno; kNotOurs for a path the driver
// has no file at (a directory, or nothing): the testbed answers for it.
int open_driver_file(unsigned card, const std::string &attr, int flags)
{
    if (flags & O_DIRECTORY)
        return kNotOurs;
    if ((flags & O_ACCMODE) != O_RDONLY) {
        errno = EACCES; // the snapshot is not the file: writes are not served
        return -1;
    }
    Inside in;
    try {
        std::string content;
        int ret = libqaic::daemon_read_attr(sockets()[card].c_str(), attr.c_str(), &content);
        if (ret == -ENOENT)
            return kNotOurs;
        if (ret < 0) {
            errno = -ret;
            return -1;
        }
        int fd = memfd_create("qaic-sysfs", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
        if (fd < 0)
            return -1;
        size_t done = 0;
        while (done < content.size()) {
            ssize_t n = ::write(fd, content.data() + done, content.size() - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                int err = n < 0 ? errno : EIO;
                next().close(fd);
                errno = err;
                return -1;
            }
            done += size_t(n);
        }
        lseek(fd, 0, SEEK_SET);
        return fd;
    } catch (...) {
        errno = caught_errno();
        return -1;
    }
}

struct Node {
    std::shared_ptr<libqaic::OpenFile> file; // shared by the fds of one open file
    unsigned minor;
};

struct Table {
    // A plain mutex: a fork holds it across, and the child's thread may release it (an rwlock
    // knows its writer by thread id, which the child's thread does not have).
    std::mutex lock;
    std::unordered_map<int, Node> fds;
};
Table &table()
{
    static auto *t = new Table(); // never destroyed: fds are closed from static destructors
    return *t;
}

__attribute__((constructor)) void preload_init()
{
    // The program's signal handlers are its own: libqaic reads its memory by system call,
    // never through a SIGSEGV handler of ours.
    libqaic::copy_own_memory_by_syscall();
}

bool find_node(int fd, Node *out)
{
    std::lock_guard l(table().lock);
    auto it = table().fds.find(fd);
    if (it == table().fds.end())
        return false;
    *out = it->second;
    return true;
}

// The errno for an exception from libqaic (allocation failure, mostly).
int caught_errno()
{
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return ENOMEM;
    } catch (const std::system_error &e) {
        return e.code().value() > 0 ? e.code().value() : EIO;
    } catch (...) {
        return EIO;
    }
}

// fd as ours: a known one, or a connection to one of our sockets that this program image did
// not open (inherited across exec, received): adopted now.
bool lookup(int fd, Node *out, bool adopt)
{
    if (fd < 0)
        return false;
    if (find_node(fd, out))
        return true;
    if (!adopt || sockets().empty())
        return false;
    Inside in;
    for (unsigned minor = 0; minor < sockets().size(); ++minor) {
        if (!libqaic::is_daemon_connection(fd, sockets()[minor].c_str()))
            continue;
        try {
            std::unique_ptr<libqaic::OpenFile> file;
            if (libqaic::adopt_daemon(fd, sockets()[minor].c_str(), &file) < 0)
                return false;
            std::lock_guard l(table().lock);
            auto [it, fresh] = table().fds.try_emplace(fd, Node{std::move(file), minor});
            *out = it->second; // another thread may have adopted it first: that one
            return true;
        } catch (...) {
            return false;
        }
    }
    return false;
}

// Forgets fd (closed or replaced); the open file goes with its last fd, after the caller's
// close, as a device file is released by the last close(2).
std::shared_ptr<libqaic::OpenFile> forget(int fd)
{
    std::lock_guard l(table().lock);
    auto it = table().fds.find(fd);
    if (it == table().fds.end())
        return nullptr;
    auto file = std::move(it->second.file);
    table().fds.erase(it);
    return file;
}

void release(std::shared_ptr<libqaic::OpenFile> file)
{
    Inside in;
    file.reset();
}

// newfd is now a copy of oldfd (dup, fcntl F_DUPFD): the same open file if oldfd is ours.
int duplicated(int oldfd, int newfd)
{
    if (newfd < 0 || newfd == oldfd) // dup2(fd, fd) changes nothing
        return newfd;
    auto replaced = forget(newfd);
    Node n;
    if (lookup(oldfd, &n, false)) {
        try {
            std::lock_guard l(table().lock);
            table().fds[newfd] = n;
        } catch (...) {
            next().close(newfd); // not recorded: not handed out either
            errno = ENOMEM;
            newfd = -1;
        }
    }
    if (replaced)
        release(std::move(replaced));
    return newfd;
}

int open_node(unsigned minor, int flags)
{
    Inside in;
    try {
        std::unique_ptr<libqaic::OpenFile> file;
        int ret = libqaic::open_daemon(sockets()[minor].c_str(), &file);
        if (ret < 0) {
            errno = -ret;
            return -1;
        }
        int fd = next().fcntl(file->fd(), (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
        if (fd < 0)
            return -1;
        std::lock_guard l(table().lock);
        table().fds[fd] = Node{std::move(file), minor};
        return fd;
    } catch (...) {
        errno = caught_errno();
        return -1;
    }
}

// What stat says of the node: a character device 261:minor (times and owner: the
// connection's).
void node_stat(unsigned minor, struct stat *st)
{
    st->st_mode = S_IFCHR | 0666;
    st->st_rdev = makedev(kAccelMajor, minor);
    st->st_size = 0;
    st->st_blocks = 0;
    st->st_blksize = 4096;
}

mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode_t(va_arg(ap, unsigned)) : 0;
}

// What the open wrappers serve: a card's node, or one of the driver's files at path (its fd, or
// -1 with errno); kNotOurs for every other path, and for libqaic's own opens.
int open_ours(const char *path, int flags)
{
    if (t_inside)
        return kNotOurs;
    if (int minor = node_minor(path); minor >= 0)
        return open_node(unsigned(minor), flags);
    std::string attr;
    if (int card = driver_file(path, &attr); card >= 0)
        return open_driver_file(unsigned(card), attr, flags);
    return kNotOurs;
}

} // namespace

// ---------------------------------------------------------------------------- open

PRELOAD_EXPORT int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (int fd = open_ours(path, flags); fd != kNotOurs)
        return fd;
    return next().open(path, flags, mode);
}

PRELOAD_EXPORT int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (int fd = open_ours(path, flags); fd != kNotOurs)
        return fd;
    return next().open64(path, flags, mode);
}

PRELOAD_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (int fd = open_ours(path, flags); fd != kNotOurs)
        return fd;
    return next().openat(dirfd, path, flags, mode);
}

PRELOAD_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (int fd = open_ours(path, flags); fd != kNotOurs)
        return fd;
    return next().openat64(dirfd, path, flags, mode);
}

// _FORTIFY_SOURCE's forms (a constant flags without O_CREAT). They go on to the plain calls:
// umockdev 0.17 wraps those, not these, and would let /sys escape its testbed.
PRELOAD_EXPORT int __open_2(const char *path, int flags)
{
    return open(path, flags);
}
PRELOAD_EXPORT int __open64_2(const char *path, int flags)
{
    return open64(path, flags);
}
PRELOAD_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    return openat(dirfd, path, flags);
}
PRELOAD_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    return openat64(dirfd, path, flags);
}

// fopen's own open is inside libc, out of our reach: umockdev wraps fopen for the same reason.
// Ours comes first in LD_PRELOAD, so a driver file is ours and every other path goes on to
// umockdev's (the testbed), then libc's.
static FILE *fopen_driver_file(const char *path, const char *mode, bool *served)
{
    std::string attr;
    int card = t_inside ? -1 : driver_file(path, &attr);
    *served = card >= 0;
    if (!*served)
        return nullptr;
    if (!mode || mode[0] != 'r' || std::strchr(mode, '+')) {
        errno = EACCES; // the snapshot is not the file: writes are not served
        return nullptr;
    }
    int flags = O_RDONLY | (std::strchr(mode, 'e') ? O_CLOEXEC : 0);
    int fd = open_driver_file(unsigned(card), attr, flags);
    *served = fd != kNotOurs;
    if (fd < 0)
        return nullptr;
    FILE *f = fdopen(fd, mode);
    if (!f) {
        int err = errno;
        next().close(fd);
        errno = err;
    }
    return f;
}

PRELOAD_EXPORT FILE *fopen(const char *path, const char *mode)
{
    bool served;
    FILE *f = fopen_driver_file(path, mode, &served);
    return served ? f : next().fopen(path, mode);
}

PRELOAD_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    bool served;
    FILE *f = fopen_driver_file(path, mode, &served);
    return served ? f : next().fopen64(path, mode);
}

// ---------------------------------------------------------------------------- close, dup

PRELOAD_EXPORT int close(int fd)
{
    if (t_inside)
        return next().close(fd);
    auto file = forget(fd);
    int ret = next().close(fd);
    int err = errno;
    if (file)
        release(std::move(file));
    errno = err;
    return ret;
}

// Forgets the fds of ours in [first, last] that the caller is about to close. Throws
// (bad_alloc) before it forgets anything.
static std::vector<std::shared_ptr<libqaic::OpenFile>> forget_range(unsigned first, unsigned last)
{
    std::vector<std::shared_ptr<libqaic::OpenFile>> gone;
    std::lock_guard l(table().lock);
    gone.reserve(table().fds.size());
    for (auto it = table().fds.begin(); it != table().fds.end();) {
        if (unsigned(it->first) >= first && unsigned(it->first) <= last) {
            gone.push_back(std::move(it->second.file));
            it = table().fds.erase(it);
        } else {
            ++it;
        }
    }
    return gone;
}

// Closes [first, last] with close_fds (close_range or closefrom), then releases the open
// files whose last fds they were. Without memory to hold them first, they are forgotten one
// by one after the close instead.
template <typename Close> static int close_fds(unsigned first, unsigned last, Close close_fds)
{
    std::vector<std::shared_ptr<libqaic::OpenFile>> gone;
    bool held = true;
    try {
        gone = forget_range(first, last);
    } catch (...) {
        held = false;
    }
    int ret = close_fds();
    int err = errno;
    for (auto &f : gone)
        release(std::move(f));
    while (!held) {
        std::shared_ptr<libqaic::OpenFile> f;
        {
            std::lock_guard l(table().lock);
            auto it = std::find_if(table().fds.begin(), table().fds.end(), [&](const auto &e) {
                return unsigned(e.first) >= first && unsigned(e.first) <= last;
            });
            if (it == table().fds.end())
                break;
            f = std::move(it->second.file);
            table().fds.erase(it);
        }
        release(std::move(f));
    }
    errno = err;
    return ret;
}

PRELOAD_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (t_inside || (flags & CLOSE_RANGE_CLOEXEC))
        return next().close_range(first, last, flags);
    return close_fds(first, last, [&] { return next().close_range(first, last, flags); });
}

PRELOAD_EXPORT void closefrom(int lowfd)
{
    if (t_inside || lowfd < 0)
        return next().closefrom(lowfd);
    close_fds(unsigned(lowfd), ~0u, [&] {
        next().closefrom(lowfd);
        return 0;
    });
}

PRELOAD_EXPORT int dup(int fd)
{
    int ret = next().dup(fd);
    return t_inside ? ret : duplicated(fd, ret);
}

PRELOAD_EXPORT int dup2(int oldfd, int newfd)
{
    int ret = next().dup2(oldfd, newfd);
    return t_inside ? ret : duplicated(oldfd, ret);
}

PRELOAD_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    int ret = next().dup3(oldfd, newfd, flags);
    return t_inside ? ret : duplicated(oldfd, ret);
}

static int fcntl_impl(int fd, int cmd, va_list ap)
{
    void *arg = va_arg(ap, void *); // every command's argument fits a pointer's register
    int ret = next().fcntl(fd, cmd, arg);
    if (!t_inside && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        return duplicated(fd, ret);
    return ret;
}

PRELOAD_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int ret = fcntl_impl(fd, cmd, ap);
    va_end(ap);
    return ret;
}

PRELOAD_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int ret = fcntl_impl(fd, cmd, ap);
    va_end(ap);
    return ret;
}

// A fork while another thread changes the table must not leave the child's locked: the
// table is held across it. libqaic's own fork handlers run inside: their system calls go
// straight on.
PRELOAD_EXPORT pid_t fork()
{
    if (t_inside)
        return next().fork();
    Inside in;
    std::lock_guard l(table().lock);
    return next().fork();
}

// ---------------------------------------------------------------------------- ioctl, mmap

PRELOAD_EXPORT int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    Node n;
    if (t_inside || !lookup(fd, &n, _IOC_TYPE(request) == kDrmIoctlBase))
        return next().ioctl(fd, request, arg);
    Inside in;
    int ret;
    try {
        ret = n.file->ioctl(request, arg);
    } catch (...) {
        ret = -caught_errno();
    }
    if (ret < 0) {
        errno = -ret;
        return -1;
    }
    return ret;
}

PRELOAD_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    Node n;
    if (t_inside || (flags & MAP_ANONYMOUS) || !lookup(fd, &n, true))
        return next().mmap(addr, len, prot, flags, fd, offset);
    Inside in;
    int err = 0;
    void *p = nullptr;
    try {
        p = n.file->mmap(addr, len, prot, flags, offset, &err);
    } catch (...) {
        err = -caught_errno();
    }
    if (!p) {
        errno = err < 0 ? -err : EIO;
        return MAP_FAILED;
    }
    return p;
}

PRELOAD_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    return mmap(addr, len, prot, flags, fd, offset);
}

// Through libqaic's mapping records: a device mapping pins its object until its last page is
// unmapped, and any other range goes to munmap(2) from there.
PRELOAD_EXPORT int munmap(void *addr, size_t len)
{
    if (t_inside)
        return next().munmap(addr, len);
    Inside in;
    int err = 0;
    try {
        if (!libqaic::sim_munmap(addr, len, &err))
            return next().munmap(addr, len);
    } catch (...) {
        err = -caught_errno();
    }
    if (err < 0) {
        errno = -err;
        return -1;
    }
    return 0;
}

// ---------------------------------------------------------------------------- stat

PRELOAD_EXPORT int fstat(int fd, struct stat *st)
{
    Node n;
    int ret = next().fstat(fd, st);
    if (ret == 0 && !t_inside && S_ISSOCK(st->st_mode) && lookup(fd, &n, true))
        node_stat(n.minor, st);
    return ret;
}

PRELOAD_EXPORT int fstat64(int fd, struct stat64 *st)
{
    static_assert(sizeof(struct stat64) == sizeof(struct stat), "stat64 is stat on this ABI");
    return fstat(fd, reinterpret_cast<struct stat *>(st));
}

PRELOAD_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
    Node n;
    int ret = next().fxstat(ver, fd, st);
    if (ret == 0 && !t_inside && S_ISSOCK(st->st_mode) && lookup(fd, &n, true))
        node_stat(n.minor, st);
    return ret;
}

PRELOAD_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
    return __fxstat(ver, fd, reinterpret_cast<struct stat *>(st));
}

PRELOAD_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    Node n;
    int ret = next().fstatat(dirfd, path, st, flags);
    if (ret == 0 && !t_inside && (flags & AT_EMPTY_PATH) && path[0] == '\0' &&
        S_ISSOCK(st->st_mode) && lookup(dirfd, &n, true))
        node_stat(n.minor, st);
    return ret;
}

PRELOAD_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    return fstatat(dirfd, path, reinterpret_cast<struct stat *>(st), flags);
}

PRELOAD_EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
    Node n;
    int ret = next().statx(dirfd, path, flags, mask, stx);
    if (ret == 0 && !t_inside && (flags & AT_EMPTY_PATH) && path[0] == '\0' &&
        S_ISSOCK(stx->stx_mode) && lookup(dirfd, &n, true)) {
        stx->stx_mode = S_IFCHR | 0666;
        stx->stx_rdev_major = kAccelMajor;
        stx->stx_rdev_minor = n.minor;
        stx->stx_size = 0;
        stx->stx_blocks = 0;
        stx->stx_blksize = 4096;
    }
    return ret;
}
