// SPDX-License-Identifier: MIT
// The daemon backend: a device file served by qaicd over a Unix socket (host/wire.h).
//
// The fd the user gets is the connection itself, so dup, fork and SCM_RIGHTS share the one
// open file, and its last close is the file's release. Calls go through channels: socket
// pairs this process makes and hands to qaicd over the connection, one per calling thread at a
// time, kept in a pool. A channel belongs to the process that made it (qaicd touches that
// process's memory): a forked child drops its parent's channels and makes its own. Mappings
// of the file's objects share the connection with the user's fd (a mapping holds its file).
#include "userspace/lib/backend.h"

#include "drivers/accel/accel.h"
#include "host/wire.h"
#include "kernel/uaccess.h"
#include "qaic/qaic_sim.h"

#include <algorithm>
#include <asm/ioctl.h>
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

// One reply of at most len bytes, and the fd that came with it (or -1). Returns the length,
// 0 when qaicd is gone, or -errno.
ssize_t receive(int sock, void *buf, size_t len, int *fd)
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
        n = ::recvmsg(sock, &h, MSG_CMSG_CLOEXEC);
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
    if (!wire::send_message(sock, &probe.hello, sizeof(probe.hello), fd))
        return -ENODEV;
    ssize_t n = receive(reply_sock, w, sizeof(*w), nullptr);
    if (n != ssize_t(sizeof(*w)))
        return -ENODEV;
    if (w->ret < 0 && w->reason[0]) {
        w->reason[sizeof(w->reason) - 1] = '\0';
        std::fprintf(stderr, "libqaic: %s: %s\n", path, w->reason);
    }
    return w->ret;
}

// A connection to qaicd (one open file) with this process's channels to it. The user's
// DaemonFile and every mapping of the file's objects share it: a mapping holds the file as a
// VMA's vm_file does, so the connection stays open until qaic_close and the last munmap.
class Conn {
public:
    Conn(int fd, std::string path);
    ~Conn();
    int fd() const { return fd_; }
    // The user close(2)d the fd and its number was reused: never close it again.
    void disown() { fd_ = -1; }

    // One request and its reply on a channel of this thread's own: 0 with *rep filled (and,
    // when rep->ret is 0, extra_len bytes into extra and the fd that came, if fd), or -ENODEV
    // when qaicd is gone, -ENOMEM / -EMFILE when no channel could be made.
    int call(const void *req, size_t len, wire::Reply *rep, void *extra, size_t extra_len, int *fd)
    {
        size_t got = 0;
        int ret = call_var(req, len, rep, extra, extra_len, &got, fd);
        return ret == 0 && extra && rep->ret == 0 && got != extra_len ? -EIO : ret;
    }
    // The same, for replies that carry up to extra_cap bytes after the Reply (*extra_got).
    int call_var(const void *req, size_t len, wire::Reply *rep, void *extra, size_t extra_cap,
                 size_t *extra_got, int *fd);

    // fork: the child closes its copies of our channels (they name the parent, whose memory
    // qaicd would touch), and the lock, which the forking thread held, is free again.
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
    int take_channel();
    void give_channel(int ch);
    void drop_channel(int ch);
    int new_channel();

    int fd_;
    std::string path_;
    std::mutex lock_;
    std::set<int> channels_; // this process's channels to qaicd
    std::vector<int> idle_;  // of them, those no thread is calling through
};

// Every connection of this process, for fork.
struct Registry {
    std::mutex lock;
    std::set<Conn *> conns;
};
Registry &registry()
{
    static auto *r = new Registry(); // never destroyed: files may close in static destructors
    return *r;
}

Conn::Conn(int fd, std::string path) : fd_(fd), path_(std::move(path))
{
    std::lock_guard l(registry().lock);
    registry().conns.insert(this);
}

// The last close of the connection releases the file in qaicd before it returns, as the last
// close(2) of a device fd does: a DBC it held is free for the next activation on return.
Conn::~Conn()
{
    {
        std::lock_guard l(registry().lock);
        registry().conns.erase(this);
    }
    if (fd_ >= 0) {
        int ch = take_channel(); // before the close: a channel is attached through fd_
        ::close(fd_);
        fd_ = -1;
        if (ch >= 0) {
            wire::Header closed{wire::kMagic, uint32_t(wire::Op::kClosed)};
            wire::Reply rep;
            if (wire::send_message(ch, &closed, sizeof(closed)))
                (void)receive(ch, &rep, sizeof(rep), nullptr);
        }
    }
    for (int ch : channels_)
        ::close(ch);
}

int Conn::call_var(const void *req, size_t len, wire::Reply *rep, void *extra, size_t extra_cap,
                   size_t *extra_got, int *fd)
{
    int ch = take_channel();
    if (ch < 0)
        return ch;
    alignas(8) unsigned char buf[sizeof(wire::Reply) + wire::kMaxMessage];
    size_t cap = sizeof(wire::Reply) + std::min<size_t>(extra_cap, wire::kMaxMessage);
    ssize_t n = wire::send_message(ch, req, len) ? receive(ch, buf, cap, fd) : -ENODEV;
    if (n < ssize_t(sizeof(wire::Reply))) {
        drop_channel(ch);
        return n == -ENOMEM ? -ENOMEM : -ENODEV;
    }
    give_channel(ch);
    std::memcpy(rep, buf, sizeof(*rep));
    *extra_got = size_t(n) - sizeof(wire::Reply);
    if (extra)
        std::memcpy(extra, buf + sizeof(wire::Reply), *extra_got);
    return 0;
}

int Conn::take_channel()
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

void Conn::give_channel(int ch)
{
    std::lock_guard l(lock_);
    if (channels_.count(ch)) // not a parent's channel closed by a fork since
        idle_.push_back(ch);
}

void Conn::drop_channel(int ch)
{
    std::lock_guard l(lock_);
    if (channels_.erase(ch))
        ::close(ch);
}

int Conn::new_channel()
{
    if (fd_ < 0)
        return -EBADF;
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

// One mapping made through qaicd, as the accel core's mapping records hold it. qaicd holds
// the object for this process until its last piece is unmapped (kUnmap) or the process's last
// channel to the file closes (exit, exec).
class RemoteMapping : public kernel::RefCounted {
public:
    RemoteMapping(std::shared_ptr<Conn> conn, uint64_t id) : conn_(std::move(conn)), id_(id) {}
    ~RemoteMapping() override
    {
        wire::MapMsg msg{{wire::kMagic, uint32_t(wire::Op::kUnmap)}, id_};
        wire::Reply rep;
        conn_->call(&msg, sizeof(msg), &rep, nullptr, 0, nullptr); // a dead qaicd holds nothing
    }

private:
    std::shared_ptr<Conn> conn_;
    uint64_t id_;
};

class DaemonFile : public OpenFile {
public:
    explicit DaemonFile(std::shared_ptr<Conn> conn) : conn_(std::move(conn)) {}
    int fd() const override { return conn_->fd(); }
    void disown_fd() override { conn_->disown(); }

    // The argument struct travels with the call and comes back with the answer, read and
    // written here as the kernel's entry copies it: a bad pointer is EFAULT (the fault-fixup
    // copy of kernel/uaccess.h), and the driver in qaicd reads the rest of what the call names
    // in this process's memory itself.
    int ioctl(unsigned long request, void *arg) override
    {
        struct {
            wire::IoctlReq req;
            unsigned char arg[wire::kMaxInlineArg];
        } msg;
        msg.req = {{wire::kMagic, uint32_t(wire::Op::kIoctl)}, request, uint64_t(uintptr_t(arg)), 0, 0};
        size_t size = _IOC_SIZE(request);
        const kernel::UserMm &self = kernel::UserMm::self();
        if (size <= wire::kMaxInlineArg && !self.read(msg.arg, uint64_t(uintptr_t(arg)), size).is_error())
            msg.req.arg_len = uint32_t(size);
        wire::Reply rep;
        unsigned char out[wire::kMaxInlineArg];
        size_t got = 0;
        int ret = conn_->call_var(&msg, sizeof(msg.req) + msg.req.arg_len, &rep, out, sizeof(out),
                                  &got, nullptr);
        if (ret < 0)
            return ret;
        if (got != rep.value || (got && got != msg.req.arg_len))
            return -EIO;
        if (got && self.write(uint64_t(uintptr_t(arg)), out, got).is_error())
            return -EFAULT;
        return int(rep.ret);
    }

    void *mmap(void *addr, size_t len, int prot, int flags, off_t offset, int *err) override
    {
        if (offset < 0) {
            *err = -EINVAL;
            return nullptr;
        }
        wire::MmapReq req{{wire::kMagic, uint32_t(wire::Op::kMmap)}, uint64_t(offset), len, flags, 0};
        wire::Reply rep;
        uint64_t map_id = 0;
        int fd = -1;
        int ret = conn_->call(&req, sizeof(req), &rep, &map_id, sizeof(map_id), &fd);
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
        auto pin = kernel::make_ref<RemoteMapping>(conn_, map_id);
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
        int ret = conn_->call(&req, sizeof(req), &rep, nullptr, 0, nullptr);
        return ret < 0 ? ret : int(rep.ret);
    }
    int stats(wire::Stats *st)
    {
        wire::SimReq req{{wire::kMagic, uint32_t(wire::Op::kStats)}, {}, 0, {}};
        wire::Reply rep;
        int ret = conn_->call(&req, sizeof(req), &rep, st, sizeof(*st), nullptr);
        return ret < 0 ? ret : int(rep.ret);
    }

private:
    int sim(wire::Op op, std::initializer_list<unsigned> args, uint64_t *value,
            qaic_sim_dbc_status *st)
    {
        wire::SimReq req{{wire::kMagic, uint32_t(op)}, {}, 0, {}};
        std::copy(args.begin(), args.end(), req.arg);
        wire::Reply rep;
        int ret = conn_->call(&req, sizeof(req), &rep, st, st ? sizeof(*st) : 0, nullptr);
        if (ret < 0)
            return ret;
        if (value)
            *value = rep.value;
        return int(rep.ret);
    }

    std::shared_ptr<Conn> conn_;
};

void prepare_fork()
{
    registry().lock.lock();
    for (Conn *c : registry().conns)
        c->lock_for_fork();
}
void parent_after_fork()
{
    for (Conn *c : registry().conns)
        c->unlock_after_fork(false);
    registry().lock.unlock();
}
void child_after_fork()
{
    for (Conn *c : registry().conns)
        c->unlock_after_fork(true);
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
    *out = std::make_unique<DaemonFile>(std::make_shared<Conn>(fd, path));
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
    *out = std::make_unique<DaemonFile>(std::make_shared<Conn>(fd, path));
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
