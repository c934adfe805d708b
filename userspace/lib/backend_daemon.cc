// SPDX-License-Identifier: MIT
// The daemon backend: a device file served by qaicd over a Unix socket (host/wire.h).
//
// The fd the user gets is the connection itself, so dup, fork and SCM_RIGHTS share the one
// open file, and its last close is the file's release. Calls go through channels: socket
// pairs this process makes and hands to qaicd over the connection, one per calling thread at a
// time, kept in a pool. A channel belongs to the process that made it (qaicd touches that
// process's memory): a forked child drops its parent's channels and makes its own.
#include "userspace/lib/backend.h"

#include "drivers/accel/accel.h"
#include "host/wire.h"
#include "kernel/spin.h"
#include "qaic/qaic_sim.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <pthread.h>
#include <set>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace libqaic {
namespace {

constexpr std::chrono::microseconds kReplySpin{50};

bool send_all(int sock, const void *data, size_t len, int fd = -1)
{
    union {
        cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    iovec iov{const_cast<void *>(data), len};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    if (fd >= 0) {
        h.msg_control = control.buf;
        h.msg_controllen = sizeof(control.buf);
        cmsghdr *c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do
        n = ::sendmsg(sock, &h, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == ssize_t(len);
}

// One reply of at most len bytes, and the fd that came with it (or -1). Returns the length,
// 0 when qaicd is gone, or -errno.
ssize_t receive(int sock, void *buf, size_t len, int *fd, int flags)
{
    union {
        cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    iovec iov{buf, len};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control.buf;
    h.msg_controllen = sizeof(control.buf);
    ssize_t n;
    do
        n = ::recvmsg(sock, &h, flags | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR); // the call goes on in qaicd: wait for its answer
    if (n < 0)
        return -errno;
    int got = -1;
    for (cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            std::memcpy(&got, CMSG_DATA(c), sizeof(int));
    if (fd)
        *fd = got;
    else if (got >= 0)
        ::close(got);
    return n;
}

// A hello whose probe word qaicd reads in this process to prove it can.
struct Probe {
    uint64_t word;
    wire::Hello hello;
    Probe(wire::Op op, uint32_t flags)
    {
        word = 0x71616963'70726f62ull ^ uint64_t(uintptr_t(this));
        hello = {{wire::kMagic, uint32_t(op)}, wire::kVersion, flags, uint64_t(uintptr_t(&word)), word};
    }
};

// Sends a hello on sock (with fd) and reads the welcome on reply_sock; a refusal's reason goes
// to stderr, for the user.
int greet(int sock, int reply_sock, wire::Op op, uint32_t flags, int fd, wire::Welcome *w,
          const char *path)
{
    Probe probe(op, flags);
    if (!send_all(sock, &probe.hello, sizeof(probe.hello), fd))
        return -ENODEV;
    ssize_t n = receive(reply_sock, w, sizeof(*w), nullptr, 0);
    if (n != ssize_t(sizeof(*w)))
        return -ENODEV;
    if (w->ret < 0 && w->reason[0]) {
        w->reason[sizeof(w->reason) - 1] = '\0';
        std::fprintf(stderr, "libqaic: %s: %s\n", path, w->reason);
    }
    return w->ret;
}

class DaemonFile;

// A hold on the connection for mappings: a mapping pins its file, as a VMA's vm_file does, so
// the file outlives qaic_close while anything of it stays mapped.
struct ConnHold {
    int fd; // a duplicate of the connection
    explicit ConnHold(int f) : fd(f) {}
    ~ConnHold() { ::close(fd); }
};

// One mapping made through qaicd, as the accel core's mapping records hold it: the last piece
// unmapped tells qaicd, which then lets the object go.
class RemoteMapping;
struct MapRegistry {
    std::mutex lock;
    std::set<RemoteMapping *> maps;
};
MapRegistry &map_registry()
{
    static auto *r = new MapRegistry(); // never destroyed, as the mapping table
    return *r;
}

void send_map_message(int conn, wire::Op op, uint64_t map_id)
{
    wire::MapMsg msg{{wire::kMagic, uint32_t(op)}, map_id};
    send_all(conn, &msg, sizeof(msg)); // a daemon that is gone holds nothing any more
}

class RemoteMapping : public kernel::RefCounted {
public:
    RemoteMapping(std::shared_ptr<ConnHold> conn, uint64_t id) : conn_(std::move(conn)), id_(id)
    {
        std::lock_guard l(map_registry().lock);
        map_registry().maps.insert(this);
    }
    ~RemoteMapping() override
    {
        {
            std::lock_guard l(map_registry().lock);
            map_registry().maps.erase(this);
        }
        send_map_message(conn_->fd, wire::Op::kUnmap, id_);
    }
    // A forked child holds the mapping too: one more unmap will come for it.
    void share_after_fork() { send_map_message(conn_->fd, wire::Op::kMapShare, id_); }

private:
    std::shared_ptr<ConnHold> conn_;
    uint64_t id_;
};

// Every daemon file of this process, for fork: a child must not use its parent's channels.
struct Registry {
    std::mutex lock;
    std::set<DaemonFile *> files;
};
Registry &registry()
{
    static auto *r = new Registry(); // never destroyed: files may close in static destructors
    return *r;
}

class DaemonFile : public OpenFile {
public:
    DaemonFile(int fd, std::string path) : fd_(fd), path_(std::move(path))
    {
        std::lock_guard l(registry().lock);
        registry().files.insert(this);
    }
    ~DaemonFile() override
    {
        {
            std::lock_guard l(registry().lock);
            registry().files.erase(this);
        }
        for (int ch : channels_)
            ::close(ch);
        if (fd_ >= 0)
            ::close(fd_);
    }
    int fd() const override { return fd_; }
    void disown_fd() override { fd_ = -1; }

    int ioctl(unsigned long request, void *arg) override
    {
        wire::IoctlReq req{{wire::kMagic, uint32_t(wire::Op::kIoctl)}, request, uint64_t(uintptr_t(arg))};
        wire::Reply rep;
        int ret = call(&req, sizeof(req), &rep, nullptr, 0, nullptr);
        return ret < 0 ? ret : int(rep.ret);
    }

    void *mmap(void *addr, size_t len, int prot, int flags, off_t offset, int *err) override
    {
        if (offset < 0) {
            *err = -EINVAL;
            return nullptr;
        }
        std::shared_ptr<ConnHold> conn = conn_hold();
        if (!conn) {
            *err = -EMFILE;
            return nullptr;
        }
        wire::MmapReq req{{wire::kMagic, uint32_t(wire::Op::kMmap)}, uint64_t(offset), len, prot, flags};
        wire::Reply rep;
        uint64_t map_id = 0;
        int fd = -1;
        int ret = call(&req, sizeof(req), &rep, &map_id, sizeof(map_id), &fd);
        if (ret == 0 && rep.ret == 0 && fd < 0)
            ret = -EIO;
        if (ret < 0 || rep.ret < 0) {
            if (fd >= 0)
                ::close(fd);
            *err = ret < 0 ? ret : int(rep.ret);
            return nullptr;
        }
        // The object's own pages, recorded as the accel core records its mappings: munmap of
        // any part works as for the embedded card, and the last page gone lets the object go.
        auto pin = kernel::make_ref<RemoteMapping>(std::move(conn), map_id);
        auto p = accel::mmap_foreign(addr, len, flags, std::move(pin), [&]() -> kernel::ErrorOr<void *> {
            void *m = ::mmap(addr, len, prot, flags, fd, off_t(rep.value));
            if (m == MAP_FAILED)
                return kernel::Error(-errno);
            return m;
        });
        ::close(fd);
        if (p.is_error()) {
            *err = p.code();
            return nullptr;
        }
        return p.value();
    }

    int sim_inject(unsigned fault, unsigned arg0, unsigned arg1) override
    {
        return sim(wire::Op::kSimInject, {fault, arg0, arg1}, nullptr, nullptr);
    }
    int sim_dbc_status(unsigned dbc, struct qaic_sim_dbc_status *st) override
    {
        return sim(wire::Op::kSimDbcStatus, {dbc, 0, 0}, nullptr, st);
    }
    int sim_num_dbc() override
    {
        uint64_t n = 0;
        int ret = sim(wire::Op::kSimNumDbc, {0, 0, 0}, &n, nullptr);
        return ret < 0 ? ret : int(n);
    }
    int sim_replug() { return sim(wire::Op::kSimReplug, {0, 0, 0}, nullptr, nullptr); }
    int sim_set_param(const char *name, unsigned value)
    {
        wire::SimReq req{{wire::kMagic, uint32_t(wire::Op::kSimSetParam)}, {value, 0, 0}, 0, {}};
        if (std::strlen(name) >= sizeof(req.name))
            return -EINVAL;
        std::strcpy(req.name, name);
        wire::Reply rep;
        int ret = call(&req, sizeof(req), &rep, nullptr, 0, nullptr);
        return ret < 0 ? ret : int(rep.ret);
    }
    int stats(wire::Stats *st)
    {
        wire::SimReq req{{wire::kMagic, uint32_t(wire::Op::kStats)}, {}, 0, {}};
        wire::Reply rep;
        int ret = call(&req, sizeof(req), &rep, st, sizeof(*st), nullptr);
        return ret < 0 ? ret : int(rep.ret);
    }

    // fork: the child closes its copies of our channels (they name the parent), and the
    // lock, which the forking thread held, is free again.
    void lock_for_fork() { lock_.lock(); }
    void unlock_after_fork(bool child)
    {
        if (child) {
            for (int ch : channels_)
                ::close(ch);
            channels_.clear();
            idle_.clear();
        }
        lock_.unlock();
    }

private:
    int sim(wire::Op op, std::initializer_list<unsigned> args, uint64_t *value,
            qaic_sim_dbc_status *st)
    {
        wire::SimReq req{{wire::kMagic, uint32_t(op)}, {}, 0, {}};
        std::copy(args.begin(), args.end(), req.arg);
        wire::Reply rep;
        int ret = call(&req, sizeof(req), &rep, st, st ? sizeof(*st) : 0, nullptr);
        if (ret < 0)
            return ret;
        if (value)
            *value = rep.value;
        return int(rep.ret);
    }

    // One request and its reply on a channel of this thread's own. -ENODEV when qaicd is gone.
    int call(const void *req, size_t len, wire::Reply *rep, void *extra, size_t extra_len, int *fd)
    {
        int ch = take_channel();
        if (ch < 0)
            return ch;
        alignas(8) unsigned char buf[sizeof(wire::Reply) + sizeof(wire::Stats) + sizeof(qaic_sim_dbc_status)];
        ssize_t n = -ENODEV;
        if (send_all(ch, req, len)) {
            // Most calls are answered within microseconds, sooner than a sleeping thread
            // wakes: look for the reply a little before sleeping.
            n = -EAGAIN;
            kernel::spin_until(
                [&] {
                    return (n = receive(ch, buf, sizeof(wire::Reply) + extra_len, fd,
                                        MSG_DONTWAIT)) != -EAGAIN;
                },
                kReplySpin);
            if (n == -EAGAIN)
                n = receive(ch, buf, sizeof(wire::Reply) + extra_len, fd, 0);
        }
        if (n < ssize_t(sizeof(wire::Reply))) {
            drop_channel(ch);
            if (fd && *fd >= 0)
                ::close(*fd);
            return n == -ENOMEM ? -ENOMEM : -ENODEV;
        }
        std::memcpy(rep, buf, sizeof(*rep));
        if (extra && rep->ret == 0) {
            if (size_t(n) != sizeof(wire::Reply) + extra_len) {
                give_channel(ch);
                return -EIO;
            }
            std::memcpy(extra, buf + sizeof(wire::Reply), extra_len);
        }
        give_channel(ch);
        return 0;
    }

    int take_channel()
    {
        {
            std::lock_guard l(lock_);
            if (!idle_.empty()) {
                int ch = idle_.back();
                idle_.pop_back();
                return ch;
            }
        }
        return new_channel();
    }
    void give_channel(int ch)
    {
        std::lock_guard l(lock_);
        if (channels_.count(ch)) // not a parent's channel closed by a fork since
            idle_.push_back(ch);
    }
    void drop_channel(int ch)
    {
        std::lock_guard l(lock_);
        if (channels_.erase(ch))
            ::close(ch);
    }

    int new_channel()
    {
        for (int attempt = 0;; ++attempt) {
            int sv[2];
            if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
                return errno == EMFILE || errno == ENFILE ? -EMFILE : -ENOMEM;
            wire::Welcome w{};
            int ret = greet(fd_, sv[0], wire::Op::kAttach, 0, sv[1], &w, path_.c_str());
            ::close(sv[1]);
            if (ret == 0) {
                std::lock_guard l(lock_);
                channels_.insert(sv[0]);
                return sv[0];
            }
            ::close(sv[0]);
            if (ret != -EACCES || attempt > 0)
                return ret;
            prctl(PR_SET_PTRACER, (unsigned long)w.daemon_pid, 0, 0, 0);
        }
    }

    // The hold every mapping of this file shares; null when no fd is left to make one.
    std::shared_ptr<ConnHold> conn_hold()
    {
        std::lock_guard l(lock_);
        if (!conn_hold_) {
            int dup = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
            if (dup < 0)
                return nullptr;
            conn_hold_ = std::make_shared<ConnHold>(dup);
        }
        return conn_hold_;
    }

    int fd_;
    std::string path_;
    std::shared_ptr<ConnHold> conn_hold_;
    std::mutex lock_;
    std::set<int> channels_; // this process's channels to qaicd
    std::vector<int> idle_;  // of them, those no thread is calling through
};

void prepare_fork()
{
    registry().lock.lock();
    for (DaemonFile *f : registry().files)
        f->lock_for_fork();
    map_registry().lock.lock();
}
void parent_after_fork()
{
    map_registry().lock.unlock();
    for (DaemonFile *f : registry().files)
        f->unlock_after_fork(false);
    registry().lock.unlock();
}
// The child inherits the mappings (and the holds on their files): qaicd counts it as one more
// holder of each.
void child_after_fork()
{
    for (RemoteMapping *m : map_registry().maps)
        m->share_after_fork();
    map_registry().lock.unlock();
    for (DaemonFile *f : registry().files)
        f->unlock_after_fork(true);
    registry().lock.unlock();
}

// Connects to the card's socket and opens its device file (or, with kControlOnly, only the
// card's test control and the daemon's counts). When qaicd cannot read this process's memory,
// names it as our ptracer (Yama's PR_SET_PTRACER) and asks once more.
int connect_open(const char *path, uint32_t flags, int *fd_out)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    std::strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno == EMFILE || errno == ENFILE ? -errno : -ENOMEM;
    if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
        int e = errno;
        ::close(fd);
        // No daemon behind the socket is no device; a socket we may not use is EACCES.
        return e == ECONNREFUSED || e == ENOENT ? -ENODEV : -e;
    }
    static std::once_flag atfork;
    std::call_once(atfork, [] { pthread_atfork(prepare_fork, parent_after_fork, child_after_fork); });
    int ret;
    for (int attempt = 0;; ++attempt) {
        wire::Welcome w{};
        ret = greet(fd, fd, wire::Op::kOpen, flags, -1, &w, path);
        if (ret == -EACCES && attempt == 0) {
            prctl(PR_SET_PTRACER, (unsigned long)w.daemon_pid, 0, 0, 0);
            continue;
        }
        break;
    }
    if (ret < 0) {
        ::close(fd);
        return ret;
    }
    *fd_out = fd;
    return 0;
}

} // namespace

bool is_daemon_socket(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int open_daemon(const char *path, std::unique_ptr<OpenFile> *out)
{
    int fd;
    int ret = connect_open(path, 0, &fd);
    if (ret < 0)
        return ret;
    *out = std::make_unique<DaemonFile>(fd, path);
    return 0;
}

namespace {
// A connection for the card's test control and the daemon's counts only: it opens no device
// file, so it works on a removed card too.
int open_control(const char *path, std::unique_ptr<DaemonFile> *out)
{
    int fd;
    int ret = connect_open(path, wire::kControlOnly, &fd);
    if (ret < 0)
        return ret;
    *out = std::make_unique<DaemonFile>(fd, path);
    return 0;
}
} // namespace

int daemon_sim_replug(const char *path)
{
    std::unique_ptr<DaemonFile> f;
    int ret = open_control(path, &f);
    return ret < 0 ? ret : f->sim_replug();
}

int daemon_sim_set_param(const char *path, const char *name, unsigned value)
{
    std::unique_ptr<DaemonFile> f;
    int ret = open_control(path, &f);
    return ret < 0 ? ret : f->sim_set_param(name, value);
}

int daemon_stats(const char *path, struct qaic_host_stats *st)
{
    std::unique_ptr<DaemonFile> f;
    int ret = open_control(path, &f);
    if (ret < 0)
        return ret;
    wire::Stats ws;
    ret = f->stats(&ws);
    if (ret == 0)
        *st = {ws.files, ws.channels, ws.dbcs_in_use, ws.bo_bytes, ws.fds, ws.threads, ws.rss_bytes};
    return ret;
}

} // namespace libqaic
