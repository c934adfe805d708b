// SPDX-License-Identifier: GPL-2.0-only
// qaicd's server (see server.h and host/wire.h).
#include "host/qaicd/server.h"

#include "drivers/accel/accel.h"
#include "kernel/alloc.h"
#include "kernel/printk.h"
#include "kernel/spin.h"
#include "kernel/task.h"
#include "kernel/uaccess.h"
#include "qaic/qaic_sim.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <asm/ioctl.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <climits>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 // Linux 6.5; glibc 2.36's headers predate it
#endif

namespace qaicd {

// ---------------------------------------------------------------------------- logging

// The daemon's lines and the driver's (kernel::printk) go out the same way.
namespace {
// The client whose call this thread serves: the driver's lines name it (its debug lines say
// what a client did wrong, and a daemon has many).
thread_local pid_t serving_pid = 0;
struct ServingScope {
    explicit ServingScope(pid_t pid) { serving_pid = pid; }
    ~ServingScope() { serving_pid = 0; }
};
} // namespace

void log_line(kernel::LogLevel level, const char *line)
{
    static const auto start = std::chrono::steady_clock::now();
    static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
    char client[32] = "";
    // An interrupt handled on a client's thread (busy polling) is not that client's doing.
    if (serving_pid && !kernel::in_irq())
        std::snprintf(client, sizeof(client), " [pid %d]", int(serving_pid));
    if (journal) {
        std::fprintf(stderr, "<%d>%s%s\n", int(level), line, client);
        return;
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    std::fprintf(stderr, "[%5lld.%06lld] %s%s\n", (long long)(us / 1000000),
                 (long long)(us % 1000000), line, client);
}

void log(Level level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kernel::printk(kernel::LogLevel(level), "qaicd: %s", msg);
}

namespace {

// Probes of a caller's memory that may fail in a row on one connection: a client retries once
// after PR_SET_PTRACER (each process sharing the connection: a forked child, a process it was
// passed to); more is someone making the daemon read memory for nothing.
constexpr unsigned kMaxFailedProbes = 3;

// Mappings a file's client may hold at once: each costs the daemon a record.
constexpr size_t kMaxMapsPerFile = size_t(1) << 20;

// A client that floods the daemon with bad frames must not flood its log as well.
bool log_ratelimit()
{
    static std::mutex lock;
    static auto window = std::chrono::steady_clock::now();
    static unsigned count = 0;
    std::lock_guard l(lock);
    auto now = std::chrono::steady_clock::now();
    if (now - window > std::chrono::seconds(5)) {
        window = now;
        count = 0;
    }
    return ++count <= 10;
}

#define log_client(fmt, ...)                                                                       \
    do {                                                                                           \
        if (log_ratelimit())                                                                       \
            log(Level::kWarn, fmt __VA_OPT__(, ) __VA_ARGS__);                                     \
    } while (0)

// One received message: its bytes, the fds that came with it and the sender's credentials.
struct Message {
    alignas(8) unsigned char buf[wire::kMaxMessage];
    ssize_t len = 0;
    bool truncated = false; // longer than any message, or its control data was cut
    bool ctrunc = false;    // its control data was cut (fds that could not be received)
    std::vector<int> fds;
    bool has_creds = false;
    ucred creds{};

    ~Message()
    {
        for (int fd : fds)
            ::close(fd);
    }
    // The fd that came with the message, now the caller's.
    int take_fd()
    {
        int fd = fds.back();
        fds.pop_back();
        return fd;
    }
    const wire::Header *header() const
    {
        return len >= ssize_t(sizeof(wire::Header)) ? reinterpret_cast<const wire::Header *>(buf)
                                                    : nullptr;
    }
    template <typename T> bool is(const T **out) const
    {
        if (len != ssize_t(sizeof(T)))
            return false;
        *out = reinterpret_cast<const T *>(buf);
        return true;
    }
};

// recvmsg of one message. Returns > 0, 0 at end of stream, or -errno.
ssize_t receive(int sock, Message &m, int flags)
{
    union {
        cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 8) + CMSG_SPACE(sizeof(ucred))];
    } control;
    iovec iov{m.buf, sizeof(m.buf)};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control.buf;
    h.msg_controllen = sizeof(control.buf);
    ssize_t n;
    do
        n = ::recvmsg(sock, &h, flags | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    m.len = n;
    m.ctrunc = (h.msg_flags & MSG_CTRUNC) != 0;
    m.truncated = (h.msg_flags & MSG_TRUNC) != 0 || m.ctrunc;
    for (cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_RIGHTS) {
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                m.fds.push_back(fd);
            }
        } else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
            std::memcpy(&m.creds, CMSG_DATA(c), sizeof(ucred));
            m.has_creds = true;
        }
    }
    return n;
}

// The process at the other end of a socket, as the kernel recorded it when the socket was
// connected or made: pid, uid, gid, and a pidfd that cannot name another process later.
struct Peer {
    ucred cred{};
    int pidfd = -1;
};

bool peer_of(int sock, Peer *p)
{
    socklen_t len = sizeof(p->cred);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &p->cred, &len) != 0 || p->cred.pid <= 0)
        return false;
    int pidfd = -1;
    len = sizeof(pidfd);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0)
        p->pidfd = pidfd;
    else
        p->pidfd = int(::syscall(SYS_pidfd_open, p->cred.pid, 0)); // older kernels: racy, best effort
    return true;
}

// A channel is one end of an unnamed seqpacket socketpair that the sender of kAttach made: not
// a connection to some other service, whose process the probe would then read.
bool is_socketpair_of(int sock, const Message &m, bool own_pid_ok)
{
    int type = 0, domain = 0;
    socklen_t len = sizeof(int);
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET ||
        getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
        return false;
    sockaddr_un addr{};
    for (auto get : {getsockname, getpeername}) {
        len = sizeof(addr);
        if (get(sock, reinterpret_cast<sockaddr *>(&addr), &len) != 0 || len != sizeof(sa_family_t))
            return false;
    }
    ucred cred{};
    len = sizeof(cred);
    return m.has_creds && getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
           cred.pid == m.creds.pid && (own_pid_ok || cred.pid != getpid());
}

// Whether the daemon can read the caller's memory: the probe word must hold what the caller
// says it holds. The reason is for the user when it cannot.
int probe_memory(const kernel::UserMm &mm, const wire::Hello &hello, char *reason, size_t size)
{
    uint64_t value = 0;
    auto r = mm.read(&value, hello.probe_addr, sizeof(value));
    if (!r.is_error() && value == hello.probe_value)
        return 0;
    auto addr = (unsigned long long)hello.probe_addr;
    if (!r.is_error()) {
        std::snprintf(reason, size,
                      "the probe word of pid %d at %#llx holds %#llx, not the %#llx its hello names",
                      int(mm.pid()), addr, (unsigned long long)value,
                      (unsigned long long)hello.probe_value);
        return -EACCES;
    }
    // The copy says only that it failed: ask the kernel why, once more, for the reason.
    iovec local{&value, sizeof(value)};
    iovec remote{reinterpret_cast<void *>(uintptr_t(hello.probe_addr)), sizeof(value)};
    bool denied = process_vm_readv(mm.pid(), &local, 1, &remote, 1, 0) < 0 && errno == EPERM;
    if (denied)
        std::snprintf(reason, size,
                      "qaicd (pid %d, uid %u) cannot read the memory of pid %d: ptrace access is "
                      "denied (another user, or Yama's ptrace_scope)",
                      getpid(), geteuid(), int(mm.pid()));
    else
        std::snprintf(reason, size, "qaicd cannot read the memory of pid %d at %#llx, its probe word",
                      int(mm.pid()), addr);
    return -EACCES;
}

uint64_t count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    uint64_t n = 0;
    while (dirent *e = readdir(d))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

uint64_t status_field(const char *key)
{
    FILE *f = std::fopen("/proc/self/status", "re");
    if (!f)
        return 0;
    char line[256];
    uint64_t v = 0;
    size_t klen = std::strlen(key);
    while (std::fgets(line, sizeof(line), f)) {
        if (std::strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = std::strtoull(line + klen + 1, nullptr, 10);
            break;
        }
    }
    std::fclose(f);
    return v;
}

// A kIoctl request's own checks: len is the bytes that came (the request and its inline arg).
bool ioctl_request_ok(const wire::IoctlReq &r, size_t len)
{
    return r.hdr.magic == wire::kMagic && r.hdr.op == uint32_t(wire::Op::kIoctl) &&
           r.arg_len <= wire::kMaxInlineArg && len == sizeof(r) + r.arg_len &&
           (r.arg_len == 0 || r.arg_len == _IOC_SIZE(r.cmd));
}

// A channel's slot: a page of a memfd sealed at its size (the client cannot shrink it under
// our mapping), mapped here. The memfd, for the client, or -1 when there is none to be had:
// the channel then takes every call on its socket.
int make_slot(wire::Slot **slot)
{
    int fd = memfd_create("qaicd-slot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    void *p = MAP_FAILED;
    if (ftruncate(fd, wire::kSlotSize) == 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
        p = ::mmap(nullptr, wire::kSlotSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        ::close(fd);
        return -1;
    }
    *slot = static_cast<wire::Slot *>(p);
    return fd;
}

} // namespace

// ---------------------------------------------------------------------------- files, channels

// One connection to a card's socket: one open file once kOpen is accepted.
struct Server::File : std::enable_shared_from_this<File> {
    int sock;
    unsigned card;
    Source src{Source::kFile, this};
    uid_t uid;           // the connecting process's
    bool opened = false; // main thread only
    bool closed = false; // main thread only
    unsigned failed_probes = 0; // main thread only
    std::atomic<bool> control{false}; // a kControlOnly connection: no device file
    uint64_t watch_id = 0;            // a kWatch connection's Machine::watch (main thread)
    std::mutex lock;
    kernel::RefPtr<accel::File> file; // null once the last client copy of the socket closed
    bool releasing = false;           // a thread is dropping what it took from file and maps
    std::condition_variable released; // ... and says so when done
    std::vector<int> channel_socks;   // to shut down when the file closes
    // Client processes' mappings of the file's objects: each pins its object for the
    // process that made it (wire::MapMsg), until it unmaps or its last channel here ends.
    struct MapRef {
        kernel::RefPtr<accel::GemObject> obj;
        pid_t pid;
    };
    std::map<uint64_t, MapRef> maps;
    uint64_t next_map_id = 1;
    std::map<pid_t, unsigned> channels_of; // live channels per client process

    // The open file, with a reference for one request (fget): null once closed.
    kernel::RefPtr<accel::File> get()
    {
        std::lock_guard l(lock);
        return file;
    }
};

// One channel: a client process's thread calls through it; its thread serves it.
struct Server::Channel {
    int sock;
    std::shared_ptr<File> file;
    Peer peer;
    kernel::UserMm mm;
    kernel::Task task;
    Source src{Source::kChannel, this};
    std::thread thread;
    std::atomic<bool> done{false};
    bool watched = false; // in epoll for hangups (main thread only)
    // The slot (wire::Slot), its thread's alone: null when the channel has none.
    wire::Slot *slot = nullptr;
    uint32_t seen = 0;       // the number of the last request taken from it
    bool poll_next = true;   // the client's last call came soon after our answer before it
    std::chrono::steady_clock::time_point answered; // when we answered that one

    Channel(int s, std::shared_ptr<File> f, Peer p)
        : sock(s), file(std::move(f)), peer(p), mm(p.cred.pid, p.pidfd)
    {
    }
    ~Channel()
    {
        if (slot)
            ::munmap(slot, wire::kSlotSize);
        ::close(sock);
        if (peer.pidfd >= 0)
            ::close(peer.pidfd);
    }
};

Server::Server(host::Machine &machine, Options opts) : machine_(machine), opts_(std::move(opts))
{
    signal_src_.ptr = this;
    reaper_src_.ptr = this;
}

Server::~Server()
{
    shutdown_all();
    for (auto &l : listeners_) {
        ::close(l->fd);
        if (!l->path.empty())
            ::unlink(l->path.c_str());
    }
    if (epoll_ >= 0)
        ::close(epoll_);
    if (signal_fd_ >= 0)
        ::close(signal_fd_);
    if (reaper_fd_ >= 0)
        ::close(reaper_fd_);
}

bool Server::watch(int fd, uint32_t events, Source *src)
{
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = src;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) == 0)
        return true;
    log(Level::kErr, "epoll: %s", std::strerror(errno));
    return false;
}

bool Server::listen()
{
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    reaper_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_ < 0 || reaper_fd_ < 0) {
        log(Level::kErr, "cannot make the event loop: %s", std::strerror(errno));
        return false;
    }
    if (!opts_.listen_fds.empty()) {
        for (size_t i = 0; i < opts_.listen_fds.size() && i < opts_.cards; ++i) {
            listeners_.push_back(std::make_unique<Listener>(Listener{opts_.listen_fds[i], unsigned(i), {}}));
            log(Level::kInfo, "accel%zu: serving the socket passed by the service manager", i);
        }
    } else {
        if (::mkdir(opts_.dir.c_str(), 0755) != 0 && errno != EEXIST) {
            log(Level::kErr, "cannot make %s: %s", opts_.dir.c_str(), std::strerror(errno));
            return false;
        }
        for (unsigned i = 0; i < opts_.cards; ++i) {
            std::string path = opts_.dir + "/accel" + std::to_string(i);
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            if (path.size() >= sizeof(addr.sun_path)) {
                log(Level::kErr, "%s: path too long for a socket", path.c_str());
                return false;
            }
            std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
            int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0) {
                log(Level::kErr, "socket: %s", std::strerror(errno));
                return false;
            }
            // A socket left by a daemon that died is replaced; a live one is not ours to take.
            int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
            if (probe >= 0 && connect(probe, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0) {
                ::close(probe);
                ::close(fd);
                log(Level::kErr, "%s: another qaicd serves it", path.c_str());
                return false;
            }
            if (probe >= 0)
                ::close(probe);
            ::unlink(path.c_str());
            // Created 0660 from the start: no moment in which anyone else could connect.
            mode_t old = umask(0117);
            int r = bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr));
            umask(old);
            if (r != 0 || (opts_.group != gid_t(-1) && chown(path.c_str(), uid_t(-1), opts_.group) != 0) ||
                ::listen(fd, 128) != 0) {
                log(Level::kErr, "%s: %s", path.c_str(), std::strerror(errno));
                ::close(fd);
                return false;
            }
            listeners_.push_back(std::make_unique<Listener>(Listener{fd, i, path}));
            log(Level::kInfo, "accel%u: listening on %s", i, path.c_str());
        }
    }
    for (auto &l : listeners_) {
        listener_srcs_.push_back(std::make_unique<Source>(Source{Source::kListener, l.get()}));
        watch(l->fd, EPOLLIN, listener_srcs_.back().get());
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) {
        log(Level::kErr, "signalfd: %s", std::strerror(errno));
        return false;
    }
    watch(signal_fd_, EPOLLIN, &signal_src_);
    watch(reaper_fd_, EPOLLIN, &reaper_src_);
    return true;
}

// The peers a device node's mode would let in: our own user, root, and the socket's group.
bool Server::peer_allowed(int sock, const char *what)
{
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return false;
    if (cred.uid == 0 || cred.uid == geteuid())
        return true;
    gid_t group = opts_.group != gid_t(-1) ? opts_.group : getegid();
    if (cred.gid == group)
        return true;
    static thread_local std::vector<gid_t> groups(NGROUPS_MAX);
    len = socklen_t(groups.size() * sizeof(gid_t));
    if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
        for (size_t i = 0; i < len / sizeof(gid_t); ++i)
            if (groups[i] == group)
                return true;
    }
    log_client("%s: refused pid %d uid %u: not in group %u", what, cred.pid, cred.uid, group);
    return false;
}

void Server::accept_on(Listener &l)
{
    for (;;) {
        int sock = accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (sock < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of fds or memory: stop accepting until a file closes.
                log_client("accept: %s; new clients wait", std::strerror(errno));
                for (auto &src : listener_srcs_)
                    epoll_ctl(epoll_, EPOLL_CTL_DEL, static_cast<Listener *>(src->ptr)->fd, nullptr);
                accept_paused_ = true;
            }
            return;
        }
        ucred cred{};
        socklen_t len = sizeof(cred);
        if (!peer_allowed(sock, "open") || getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            ::close(sock);
            continue;
        }
        // A user's connections are bounded, as inotify bounds a user's instances: one user
        // must not take every fd the daemon has. The refusal is said before the close.
        if (files_of_user_[cred.uid] >= opts_.max_files_per_user) {
            char reason[192];
            std::snprintf(reason, sizeof(reason), "qaicd serves %u connections of uid %u already",
                          opts_.max_files_per_user, cred.uid);
            log_client("open: refused pid %d: %s", cred.pid, reason);
            send_welcome(sock, -EMFILE, 0, reason);
            ::close(sock);
            continue;
        }
        // Each kAttach then says who sent it (is_socketpair_of).
        int one = 1;
        setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
        auto f = std::make_shared<File>();
        f->sock = sock;
        f->card = l.card;
        f->uid = cred.uid;
        files_.push_back(f);
        ++files_of_user_[cred.uid];
        watch(sock, EPOLLIN | EPOLLRDHUP, &f->src);
    }
}

// From the main thread the send never waits (MSG_DONTWAIT): a client that does not read its
// socket loses its answer, and holds up nobody.
void Server::send_welcome(int sock, int ret, unsigned minor, const char *reason, int fd)
{
    wire::Welcome w{};
    w.ret = ret;
    w.version = wire::kVersion;
    w.daemon_pid = getpid();
    w.minor = minor;
    std::snprintf(w.reason, sizeof(w.reason), "%s", reason ? reason : "");
    wire::send_message(sock, &w, sizeof(w), fd, std::this_thread::get_id() == main_thread_ ? MSG_DONTWAIT : 0);
}

void Server::on_file_message(const std::shared_ptr<File> &f)
{
    for (;;) {
        Message m;
        ssize_t n = receive(f->sock, m, MSG_DONTWAIT);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            close_file(f, nullptr);
            return;
        }
        const wire::Header *h = m.header();
        const wire::Hello *hello = nullptr;
        if (m.ctrunc && f->opened && m.len == ssize_t(sizeof(wire::Hello)) && h &&
            h->magic == wire::kMagic && h->op == uint32_t(wire::Op::kAttach)) {
            // Out of fds here, the channel was lost on the way: its maker sees the end of it
            // (ENODEV for that call); the file and its other channels go on.
            log_client("accel%u: a channel lost on the way in: out of fds", f->card);
            continue;
        }
        if (m.truncated || !h || h->magic != wire::kMagic || !m.is(&hello)) {
            close_file(f, "malformed frame");
            return;
        }
        if (!f->opened) {
            if (h->op != uint32_t(wire::Op::kOpen) || !m.fds.empty() ||
                (hello->flags != 0 && hello->flags != wire::kControlOnly &&
                 hello->flags != (wire::kControlOnly | wire::kWatch))) {
                close_file(f, "expected an open");
                return;
            }
            if (hello->version != wire::kVersion) {
                send_welcome(f->sock, -EPROTO, 0, "libqaic and qaicd are different versions");
                close_file(f, "protocol version mismatch");
                return;
            }
            Peer peer;
            if (!peer_of(f->sock, &peer)) {
                close_file(f, "no peer credentials");
                return;
            }
            kernel::UserMm mm(peer.cred.pid, peer.pidfd);
            char reason[192];
            int ret = probe_memory(mm, *hello, reason, sizeof(reason));
            if (peer.pidfd >= 0)
                ::close(peer.pidfd);
            if (ret < 0) {
                // The client may name us with PR_SET_PTRACER and ask again; a few times.
                log_client("accel%u: %s", f->card, reason);
                send_welcome(f->sock, ret, 0, reason);
                if (++f->failed_probes >= kMaxFailedProbes) {
                    close_file(f, "too many failed probes");
                    return;
                }
                continue;
            }
            f->opened = true;
            f->failed_probes = 0;
            if (hello->flags & wire::kControlOnly) {
                f->control = true;
                send_welcome(f->sock, 0, 0, nullptr);
                if ((hello->flags & wire::kWatch) && !start_watch(f)) {
                    close_file(f, nullptr);
                    return;
                }
                continue;
            }
            kernel::ErrorOr<kernel::RefPtr<accel::File>> file = [&] {
                ServingScope serving(peer.cred.pid);
                return machine_.open(f->card);
            }();
            if (file.is_error()) {
                send_welcome(f->sock, file.code(), 0, "the card cannot be opened");
                close_file(f, nullptr);
                return;
            }
            unsigned minor = unsigned(file.value()->device().minor());
            {
                std::lock_guard l(f->lock);
                f->file = file.release_value();
            }
            ++nr_files_;
            send_welcome(f->sock, 0, minor, nullptr);
            continue;
        }
        if (h->op != uint32_t(wire::Op::kAttach) || m.fds.size() != 1 || hello->flags) {
            close_file(f, "expected a channel");
            return;
        }
        int sock = m.take_fd();
        if (!is_socketpair_of(sock, m, opts_.own_pid_clients)) {
            ::close(sock);
            close_file(f, "a channel that is not a socketpair the sender made");
            return;
        }
        if (attach(f, sock, *hello)) {
            f->failed_probes = 0;
        } else if (++f->failed_probes >= kMaxFailedProbes) {
            close_file(f, "too many failed probes");
            return;
        }
    }
}

// false when the caller's memory could not be read: a failed probe.
bool Server::attach(const std::shared_ptr<File> &f, int sock, const wire::Hello &hello)
{
    Peer peer;
    if (!peer_allowed(sock, "channel") || !peer_of(sock, &peer)) {
        ::close(sock);
        return true;
    }
    std::unique_ptr<Channel> ch;
    try {
        ch = std::make_unique<Channel>(sock, f, peer); // owns the socket and the pidfd
    } catch (...) {
        ::close(sock);
        if (peer.pidfd >= 0)
            ::close(peer.pidfd);
        throw;
    }
    char reason[192] = "";
    int ret = probe_memory(ch->mm, hello, reason, sizeof(reason));
    bool probed = ret == 0;
    if (ret == 0 && live_channels_.load() >= opts_.max_channels) {
        ret = -EAGAIN;
        std::snprintf(reason, sizeof(reason), "qaicd serves %u channels already", opts_.max_channels);
    }
    if (ret == 0 && channels_of_user_[peer.cred.uid] >= opts_.max_channels_per_user) {
        ret = -EAGAIN;
        std::snprintf(reason, sizeof(reason), "qaicd serves %u channels of uid %u already",
                      opts_.max_channels_per_user, peer.cred.uid);
    }
    int one = 1;
    if (ret == 0 && setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0)
        ret = -errno;
    if (ret < 0) {
        log_client("accel%u: channel refused: %s", f->card, reason);
        send_welcome(sock, ret, 0, reason);
        return probed; // ch closes the socket
    }
    Channel *c = ch.get();
    {
        std::lock_guard l(channels_lock_);
        channels_.push_back(std::move(ch));
    }
    {
        std::lock_guard l(f->lock);
        f->channel_socks.push_back(sock);
        ++f->channels_of[c->peer.cred.pid];
    }
    ++live_channels_;
    ++channels_of_user_[c->peer.cred.uid];
    try {
        c->thread = std::thread([this, c] { serve(*c); });
    } catch (const std::system_error &e) {
        // No thread to serve it: the client's call fails with EAGAIN, as a kernel out of
        // memory for a task would answer.
        log_client("accel%u: no thread for a channel: %s", f->card, e.what());
        send_welcome(sock, -EAGAIN, 0, "qaicd cannot start a thread");
        c->done = true; // reap_channels() takes it out of the counts
        uint64_t one64 = 1;
        (void)!::write(reaper_fd_, &one64, sizeof(one64));
        return true;
    }
    c->watched = watch(sock, EPOLLRDHUP, &c->src);
    return true;
}

// kUnmap: the caller's mapping goes; -EINVAL for an id that is not the caller's (a forked
// child unmapping what its parent holds, or a confused client).
wire::Reply Server::do_unmap(Channel &ch, const wire::MapMsg &req)
{
    std::lock_guard l(ch.file->lock);
    auto it = ch.file->maps.find(req.map_id);
    if (it == ch.file->maps.end() || it->second.pid != ch.peer.cred.pid)
        return {-EINVAL, 0};
    ch.file->maps.erase(it);
    return {0, 0};
}

// A kWatch connection: the card's DBC states, then its uevents, sent as they come on the
// driver's thread, without blocking it. A watcher that does not keep up is cut off (it sees
// the end and may watch again); what it missed is never sent late, out of order.
bool Server::start_watch(const std::shared_ptr<File> &f)
{
    File *file = f.get(); // close_file() unwatches before the file can go
    auto send = [file](uint32_t action, std::span<const std::string> env) {
        wire::Event e{{wire::kMagic, uint32_t(wire::Op::kEvent)}, action, 0, {}};
        for (const std::string &v : env) {
            if (e.env_len + v.size() + 1 > sizeof(e.env))
                return; // no uevent of ours is this long
            std::memcpy(e.env + e.env_len, v.c_str(), v.size() + 1);
            e.env_len += uint32_t(v.size() + 1);
        }
        std::lock_guard l(file->lock);
        if (file->sock >= 0 && !wire::send_message(file->sock, &e, sizeof(e), -1, MSG_DONTWAIT))
            ::shutdown(file->sock, SHUT_RDWR);
    };
    auto id = machine_.watch(
        f->card, [send](const accel::Uevent &ev) { send(uint32_t(ev.action), ev.env); },
        [&](std::span<const int> states) {
            for (size_t i = 0; i < states.size(); ++i) {
                // short enough for std::string's own buffer: nothing allocated here
                std::array<std::string, 2> env{"DBC_ID=" + std::to_string(i), "DBC_STATE=" + std::to_string(states[i])};
                send(wire::kEventState, env);
            }
            send(wire::kEventStatesEnd, {});
        });
    if (id.is_error())
        return false;
    f->watch_id = id.value();
    return true;
}

void Server::close_file(const std::shared_ptr<File> &f, const char *why)
{
    if (why)
        log_client("accel%u: dropped a client: %s", f->card, why);
    if (f->watch_id)
        machine_.unwatch(f->card, std::exchange(f->watch_id, 0)); // before the socket goes
    epoll_ctl(epoll_, EPOLL_CTL_DEL, f->sock, nullptr);
    f->closed = true;
    {
        std::lock_guard l(f->lock);
        ::close(f->sock); // under the lock: do_closed() polls it
        f->sock = -1;
    }
    release_file(*f);
    {
        // A channel's thread releasing the file ends the channels itself when it is done.
        std::lock_guard l(f->lock);
        if (!f->releasing)
            end_channels(*f);
    }
    if (--files_of_user_[f->uid] == 0)
        files_of_user_.erase(f->uid);
    graveyard_.push_back(f); // events of this batch may still name it
    files_.remove(f);        // last: f may be a reference into files_
    resume_accepting();
}

// Drops the daemon's references to the file and its objects (the file is released here
// unless a call in flight still holds it), then ends the file's channels but the caller's.
// Either thread; a second call does nothing, or with caller (a kClosed), returns only once
// the first has finished. Ending the channels only then keeps a closer's kClosed from seeing
// the end of its channel before the release is over.
void Server::release_file(File &f, const Channel *caller)
{
    kernel::RefPtr<accel::File> file;
    std::map<uint64_t, File::MapRef> maps;
    {
        std::unique_lock l(f.lock);
        if (!f.file) {
            if (caller)
                f.released.wait(l, [&] { return !f.releasing; });
            return;
        }
        file = std::move(f.file);
        maps.swap(f.maps);
        f.releasing = true;
        --nr_files_;
    }
    maps.clear(); // the objects first: the file goes with its last handle to them
    file = nullptr;
    {
        std::lock_guard l(f.lock);
        f.releasing = false;
        // The caller's channel answers it; close_file ends it, unless it ran meanwhile.
        end_channels(f, caller && f.sock >= 0 ? caller->sock : -1);
    }
    f.released.notify_all();
}

// Their threads see the end after any call in flight. Under f.lock.
void Server::end_channels(File &f, int except)
{
    for (int s : f.channel_socks)
        if (s != except)
            ::shutdown(s, SHUT_RDWR);
}

// kClosed: the caller closed its copy of the connection just before. If no copy is left (the
// connection has hung up), the file is released now, on the caller's time, as the last
// close(2) of a device fd does. If the main thread saw the hangup first and is releasing it,
// the answer waits for that: either way the caller's close returns after the release.
wire::Reply Server::do_closed(Channel &ch)
{
    File &f = *ch.file;
    bool last;
    {
        std::lock_guard l(f.lock);
        pollfd p{f.sock, POLLRDHUP, 0};
        last = f.sock < 0 || (::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP)));
    }
    if (last)
        release_file(f, &ch);
    return {0, 0};
}

// Out of fds, accepting paused: a file or channel that went gave some back.
void Server::resume_accepting()
{
    if (!accept_paused_)
        return;
    for (auto &src : listener_srcs_)
        watch(static_cast<Listener *>(src->ptr)->fd, EPOLLIN, src.get());
    accept_paused_ = false;
}

// A channel's thread: its requests, one at a time, until the client closes it, dies, or breaks
// the protocol.
void Server::serve(Channel &ch)
{
    try {
        serve_requests(ch);
    } catch (const std::exception &e) {
        // The driver answers its own failures; this is the daemon's (out of memory for a
        // reply): the channel ends, and its client's call fails with ENODEV.
        log_client("accel%u: dropped a channel of pid %d: %s", ch.file->card, ch.peer.cred.pid,
                   e.what());
    }
    ch.done = true;
    uint64_t one = 1;
    (void)!::write(reaper_fd_, &one, sizeof(one));
}

void Server::serve_requests(Channel &ch)
{
    int slot_fd = opts_.slots ? make_slot(&ch.slot) : -1;
    send_welcome(ch.sock, 0, 0, nullptr, slot_fd);
    if (slot_fd >= 0)
        ::close(slot_fd);
    for (;;) {
        Next next = next_call(ch);
        if (next == Next::kEnd)
            break;
        if (next == Next::kSlotCall) {
            if (!serve_slot_call(ch))
                break;
            continue;
        }
        Message m;
        ssize_t n = receive(ch.sock, m, MSG_DONTWAIT);
        if (n == -EAGAIN)
            continue;
        if (n <= 0)
            break;
        const wire::Header *h = m.header();
        // One fd may come with a kIoctl (a dma-buf to import); nothing else carries any.
        bool fds_ok = m.fds.empty() ||
                      (m.fds.size() == 1 && h && h->op == uint32_t(wire::Op::kIoctl));
        if (m.truncated || !fds_ok || !h || h->magic != wire::kMagic) {
            log_client("accel%u: dropped a channel of pid %d: malformed frame", ch.file->card,
                       ch.peer.cred.pid);
            break;
        }
        // A channel serves the process that made it: its memory is the one we touch.
        if (!m.has_creds || m.creds.pid != ch.peer.cred.pid) {
            log_client("accel%u: dropped a channel of pid %d: a call from pid %d", ch.file->card,
                       ch.peer.cred.pid, m.has_creds ? m.creds.pid : 0);
            break;
        }
        wire::Reply reply{-EINVAL, 0};
        int fd = -1;
        alignas(8) unsigned char extra[wire::kMaxInlineArg];
        static_assert(sizeof(extra) >= sizeof(wire::Stats) &&
                      sizeof(extra) >= sizeof(qaic_sim_dbc_status) &&
                      sizeof(extra) >= sizeof(qaic_sim_ras_counts));
        size_t extra_len = 0;
        const wire::IoctlReq *ioctl_req;
        const wire::MmapReq *mmap_req;
        const wire::SimReq *sim_req;
        const wire::MapMsg *map_req;
        const wire::CoredumpReq *dump_req;
        bool ok = true;
        switch (wire::Op(h->op)) {
        case wire::Op::kIoctl:
            ioctl_req = reinterpret_cast<const wire::IoctlReq *>(m.buf);
            ok = m.len >= ssize_t(sizeof(*ioctl_req)) && ioctl_request_ok(*ioctl_req, size_t(m.len));
            if (ok) {
                kernel::UserMm::FdPass fds;
                if (!m.fds.empty()) {
                    fds.in_number = ioctl_req->fd_number;
                    fds.in_fd = m.fds.front();
                }
                reply = do_ioctl(ch, *ioctl_req, m.buf + sizeof(*ioctl_req), extra, &fds);
                extra_len = size_t(reply.value);
                fd = fds.out_fd;
            }
            break;
        case wire::Op::kMmap:
            if ((ok = m.is(&mmap_req))) {
                uint64_t map_id = 0;
                reply = do_mmap(ch, *mmap_req, &fd, &map_id);
                if (reply.ret == 0) {
                    std::memcpy(extra, &map_id, sizeof(map_id));
                    extra_len = sizeof(map_id);
                }
            }
            break;
        case wire::Op::kWake:
            if ((ok = m.len == ssize_t(sizeof(wire::Header))))
                continue; // the slot says what, if anything, is asked: no answer
            break;
        case wire::Op::kClosed:
            if ((ok = m.len == ssize_t(sizeof(wire::Header))))
                reply = do_closed(ch);
            break;
        case wire::Op::kUnmap:
            if ((ok = m.is(&map_req)))
                reply = do_unmap(ch, *map_req);
            break;
        case wire::Op::kSimReadAttr:
            if ((ok = m.is(&sim_req)))
                reply = do_read_attr(ch, *sim_req, &fd);
            break;
        case wire::Op::kSimInject:
        case wire::Op::kSimDbcStatus:
        case wire::Op::kSimNumDbc:
        case wire::Op::kSimPciId:
        case wire::Op::kSimReplug:
        case wire::Op::kSimSetParam:
        case wire::Op::kSimRasCounts:
        case wire::Op::kStats:
            if ((ok = m.is(&sim_req)))
                reply = do_sim(ch, wire::Op(h->op), *sim_req, extra, &extra_len);
            break;
        case wire::Op::kSimCoredump:
            if ((ok = m.is(&dump_req)))
                reply = do_coredump(ch, *dump_req);
            break;
        default:
            ok = false;
        }
        if (!ok) {
            log_client("accel%u: dropped a channel of pid %d: bad request (op %u, %zd bytes)",
                       ch.file->card, ch.peer.cred.pid, h->op, m.len);
            break;
        }
        unsigned char out[sizeof(reply) + sizeof(extra)];
        std::memcpy(out, &reply, sizeof(reply));
        std::memcpy(out + sizeof(reply), extra, extra_len);
        bool sent = wire::send_message(ch.sock, out, sizeof(reply) + extra_len, fd);
        if (fd >= 0)
            ::close(fd);
        if (!sent)
            break;
    }
}

// Waits for the channel's next call: on the slot, or a message on the socket (a kWake, or a
// request that has no slot form), or the end of the channel. It polls the slot first while the
// client calls back to back (its last call came within kSlotPoll of our answer before it) and
// a CPU is left for the client (one per polling thread), then sleeps on the socket.
Server::Next Server::next_call(Channel &ch)
{
    using Clock = std::chrono::steady_clock;
    // A channel whose client hung up, whose file was closed (its socket shut, seen by the main
    // thread as a hangup) or whose daemon is stopping has its task killed: it ends here, however
    // busily its slot is written (by a process the page was lent to, say).
    if (ch.task.killed())
        return Next::kEnd;
    wire::Slot *s = ch.slot;
    auto posted = [&] { return wire::word(s->req_seq).load() != ch.seen; };
    auto arrived = [&] {
        ch.poll_next = Clock::now() - ch.answered < wire::kSlotPoll;
        return Next::kSlotCall;
    };
    if (s) {
        bool hit = posted();
        if (!hit && ch.poll_next) {
            if (slot_pollers_.fetch_add(1) + 1 < kernel::usable_cpus())
                hit = kernel::spin_until(posted, wire::kSlotPoll, kernel::kSharedWordPollsPerYield);
            slot_pollers_.fetch_sub(1);
        }
        if (hit)
            return arrived();
    }
    for (;;) {
        if (s) {
            wire::word(s->daemon_sleeping).store(1);
            if (posted()) {
                wire::word(s->daemon_sleeping).store(0);
                return arrived();
            }
        }
        pollfd p{ch.sock, POLLIN, 0};
        int r = ::poll(&p, 1, -1);
        if (s)
            wire::word(s->daemon_sleeping).store(0);
        if (r < 0 && errno == EINTR)
            continue;
        if (s && posted())
            return arrived();
        if (r == 1 && (p.revents & POLLIN))
            return Next::kMessage;
        return Next::kEnd; // hung up
    }
}

// One call from the slot. The request is copied out of the page once; everything after works
// on that copy, and the answer goes back into the page. false: the channel must end.
bool Server::serve_slot_call(Channel &ch)
{
    wire::Slot &s = *ch.slot;
    uint32_t seq = wire::word(s.req_seq).load();
    ch.seen = seq;
    wire::Slot::Call call;
    wire::copy_from_slot(&call, s.call);
    if (!ioctl_request_ok(call.req, sizeof(call.req) + std::min(call.req.arg_len, wire::kMaxInlineArg))) {
        log_client("accel%u: dropped a channel of pid %d: bad request in its slot (op %u)",
                   ch.file->card, ch.peer.cred.pid, call.req.hdr.op);
        return false;
    }
    wire::Slot::Answer a;
    a.rep = do_ioctl(ch, call.req, call.arg, a.out);
    std::memset(a.out + a.rep.value, 0, sizeof(a.out) - a.rep.value);
    wire::copy_to_slot(&s.answer, a);
    wire::word(s.rsp_seq).store(seq);
    ch.answered = std::chrono::steady_clock::now();
    if (wire::word(s.client_sleeping).load()) {
        wire::Header wake{wire::kMagic, uint32_t(wire::Op::kWake)};
        // A full socket holds a wake the client has yet to read: one is enough.
        wire::send_message(ch.sock, &wake, sizeof(wake), -1, MSG_DONTWAIT);
    }
    return true;
}

// The ioctl in the caller's address space, its argument struct from the bytes that came with
// it (arg_in); value in the reply: how many bytes of arg_out the caller must write back.
wire::Reply Server::do_ioctl(Channel &ch, const wire::IoctlReq &req, const unsigned char *arg_in,
                             unsigned char *arg_out, kernel::UserMm::FdPass *fds)
{
    kernel::RefPtr<accel::File> file = ch.file->get();
    if (!file)
        return {-EBADF, 0};
    std::memcpy(arg_out, arg_in, req.arg_len);
    kernel::UserMm::ArgWindow window{req.arg, req.arg_len, arg_out, false};
    ch.mm.set_arg_window(req.arg_len ? &window : nullptr);
    ch.mm.set_fd_pass(fds);
    int ret;
    {
        kernel::ScopedUserMm mm(ch.mm);
        kernel::ScopedTask task(ch.task);
        ServingScope serving(ch.peer.cred.pid);
        ret = accel::ioctl(*file, req.cmd, kernel::UserPtr<void>(req.arg));
    }
    ch.mm.set_arg_window(nullptr);
    ch.mm.set_fd_pass(nullptr);
    // An fd the call gave the caller goes back only with a success (fd_install is its last
    // step, as in DRM): otherwise nobody would learn its number.
    if (ret < 0 && fds && fds->out_fd >= 0) {
        ::close(fds->out_fd);
        fds->out_fd = -1;
    }
    return {ret, window.written ? req.arg_len : 0};
}

wire::Reply Server::do_mmap(Channel &ch, const wire::MmapReq &req, int *fd_out,
                           uint64_t *map_id_out)
{
    kernel::RefPtr<accel::File> file = ch.file->get();
    if (!file)
        return {-EBADF, 0};
    // accel::mmap's rules: the client maps the object's fd itself, with these flags.
    ServingScope serving(ch.peer.cred.pid);
    if ((req.flags & MAP_TYPE) != MAP_SHARED)
        return {REJECT(-EINVAL, "flags %#x are not MAP_SHARED: BOs are only shared", req.flags)
                    .code(),
                0};
    auto src = accel::mmap_source(*file, req.offset, req.len);
    if (src.is_error())
        return {src.code(), 0};
    // A copy of the object's fd for the client: the pages stay as long as anything maps them,
    // however soon the object goes.
    uint64_t map_id;
    {
        std::lock_guard l(ch.file->lock);
        if (ch.file->maps.size() >= kMaxMapsPerFile)
            return {-ENOMEM, 0};
        map_id = ch.file->next_map_id++;
        if (kernel::try_alloc([&] {
                ch.file->maps.emplace(map_id, File::MapRef{src.value().obj, ch.peer.cred.pid});
            }).is_error())
            return {-ENOMEM, 0};
    }
    int fd = fcntl(src.value().fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        do_unmap(ch, wire::MapMsg{{wire::kMagic, uint32_t(wire::Op::kUnmap)}, map_id});
        return {-ENOMEM, 0};
    }
    *fd_out = fd;
    *map_id_out = map_id;
    return {0, src.value().offset};
}

wire::Reply Server::do_read_attr(Channel &ch, const wire::SimReq &req, int *fd)
{
    char path[sizeof(req.name) + 1];
    std::memcpy(path, req.name, sizeof(req.name));
    path[sizeof(path) - 1] = '\0';
    // A snapshot, as sysfs makes one at open: the client reads it at its pace.
    auto content = machine_.read_attr(ch.file->card, path);
    if (content.is_error())
        return {content.code(), 0};
    const std::string &text = content.value();
    int mfd = memfd_create("qaicd-attr", MFD_CLOEXEC);
    if (mfd < 0)
        return {-errno, 0};
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(mfd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? -errno : -EIO;
            ::close(mfd);
            return {err, 0};
        }
        done += size_t(n);
    }
    *fd = mfd;
    return {0, text.size()};
}

wire::Reply Server::do_sim(Channel &ch, wire::Op op, const wire::SimReq &req, void *extra,
                           size_t *extra_len)
{
    unsigned card = ch.file->card;
    switch (op) {
    case wire::Op::kSimDbcStatus: {
        qaic_sim_dbc_status st{};
        int ret = machine_.dbc_status(card, req.arg[0], &st);
        if (ret == 0) {
            std::memcpy(extra, &st, sizeof(st));
            *extra_len = sizeof(st);
        }
        return {ret, 0};
    }
    case wire::Op::kSimRasCounts: {
        qaic_sim_ras_counts c{};
        int ret = machine_.ras_counts(card, &c);
        if (ret == 0) {
            std::memcpy(extra, &c, sizeof(c));
            *extra_len = sizeof(c);
        }
        return {ret, 0};
    }
    case wire::Op::kSimNumDbc: {
        int n = machine_.num_dbc(card);
        return n < 0 ? wire::Reply{n, 0} : wire::Reply{0, uint64_t(n)};
    }
    case wire::Op::kSimPciId: {
        int id = machine_.pci_id(card);
        return id < 0 ? wire::Reply{id, 0} : wire::Reply{0, uint64_t(id)};
    }
    case wire::Op::kStats: {
        wire::Stats st = stats();
        std::memcpy(extra, &st, sizeof(st));
        *extra_len = sizeof(st);
        return {0, 0};
    }
    default:
        break;
    }
    char name[sizeof(req.name) + 1]; // kSimSetParam's, terminated
    std::memcpy(name, req.name, sizeof(req.name));
    name[sizeof(req.name)] = '\0';
    // Module-wide parameters (debug) are the daemon's owner's, as a module's are root's: what
    // the daemon logs is not for any client to decide (the log is shared, and filling it
    // costs everyone).
    if (op == wire::Op::kSimSetParam && qaic::Params::module_wide(name) &&
        (ch.peer.cred.uid == 0 || ch.peer.cred.uid == geteuid()))
        return {machine_.set_param(card, name, req.arg[0]), 0};
    // What changes the card for every client is for test setups only.
    if (!opts_.test_control)
        return {-EPERM, 0};
    switch (op) {
    case wire::Op::kSimInject:
        return {machine_.inject(card, req.arg[0], req.arg[1], req.arg[2]), 0};
    case wire::Op::kSimReplug:
        return {machine_.replug(card), 0};
    case wire::Op::kSimSetParam:
        return {machine_.set_param(card, name, req.arg[0]), 0};
    default:
        return {-EINVAL, 0};
    }
}

// The card's crash dump, read once into the client's memory. A dump is the device's memory:
// for the daemon's own user and root (as devcoredump's data is root's), or a test setup.
wire::Reply Server::do_coredump(Channel &ch, const wire::CoredumpReq &req)
{
    if (!opts_.test_control && ch.peer.cred.uid != 0 && ch.peer.cred.uid != geteuid())
        return {-EPERM, 0};
    int64_t ret;
    {
        kernel::ScopedUserMm mm(ch.mm);
        kernel::ScopedTask task(ch.task);
        ServingScope serving(ch.peer.cred.pid);
        ret = machine_.read_coredump(ch.file->card, kernel::UserPtr<void>(req.addr), req.len);
    }
    return ret < 0 ? wire::Reply{ret, 0} : wire::Reply{0, uint64_t(ret)};
}

wire::Stats Server::stats()
{
    wire::Stats st{};
    st.files = nr_files_.load();
    {
        std::lock_guard l(channels_lock_);
        for (auto &ch : channels_) {
            st.channels += !ch->done.load() && !ch->file->control.load();
            st.sleeping_calls += ch->task.sleeping();
        }
    }
    for (unsigned i = 0; i < machine_.cards(); ++i) {
        host::CardStats c = machine_.stats(i);
        st.dbcs_in_use += c.dbcs_in_use;
        st.bo_bytes += c.bo_bytes;
    }
    st.fds = count_dir("/proc/self/fd") - 1; // less the one reading it
    st.threads = status_field("Threads");
    st.rss_bytes = status_field("VmRSS") << 10;
    return st;
}

// Joins the threads of channels that ended. Main thread, after a batch of events.
void Server::reap_channels()
{
    uint64_t n;
    (void)!::read(reaper_fd_, &n, sizeof(n));
    std::list<std::unique_ptr<Channel>> ended;
    {
        std::lock_guard l(channels_lock_);
        for (auto it = channels_.begin(); it != channels_.end();) {
            if ((*it)->done.load())
                ended.splice(ended.end(), channels_, it++);
            else
                ++it;
        }
    }
    for (auto &ch : ended) {
        if (ch->thread.joinable())
            ch->thread.join();
        if (ch->watched)
            epoll_ctl(epoll_, EPOLL_CTL_DEL, ch->sock, nullptr);
        {
            File &f = *ch->file;
            std::lock_guard l(f.lock);
            auto &socks = f.channel_socks;
            socks.erase(std::remove(socks.begin(), socks.end(), ch->sock), socks.end());
            // The process's last channel to the file: it exited or exec'd, its mappings too.
            pid_t pid = ch->peer.cred.pid;
            if (--f.channels_of[pid] == 0) {
                f.channels_of.erase(pid);
                std::erase_if(f.maps, [&](const auto &m) { return m.second.pid == pid; });
            }
        }
        --live_channels_;
        if (--channels_of_user_[ch->peer.cred.uid] == 0)
            channels_of_user_.erase(ch->peer.cred.uid);
    }
    // ~Channel closes the sockets after they left epoll and their file's list.
    if (!ended.empty())
        resume_accepting();
}

// SIGTERM: every file is released as its close would release it; calls in flight are
// interrupted as a dying process's are.
void Server::shutdown_all()
{
    while (!files_.empty())
        close_file(files_.front(), nullptr);
    graveyard_.clear();
    {
        std::lock_guard l(channels_lock_);
        for (auto &ch : channels_) {
            ::shutdown(ch->sock, SHUT_RDWR);
            ch->task.kill();
        }
    }
    for (;;) {
        {
            std::lock_guard l(channels_lock_);
            if (channels_.empty())
                break;
        }
        std::unique_ptr<Channel> ch;
        {
            std::lock_guard l(channels_lock_);
            ch = std::move(channels_.front());
            channels_.pop_front();
        }
        if (ch->thread.joinable())
            ch->thread.join();
        --live_channels_;
    }
}

int Server::run()
{
    log(Level::kInfo, "serving %u card%s (pid %d)", opts_.cards, opts_.cards == 1 ? "" : "s",
        getpid());
    epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(epoll_, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log(Level::kErr, "epoll_wait: %s", std::strerror(errno));
            return 1;
        }
        bool stop = false, reap = false;
        for (int i = 0; i < n; ++i) {
            auto *src = static_cast<Source *>(evs[i].data.ptr);
            switch (src->kind) {
            case Source::kListener:
                // Out of memory for a new client's records: that client waits or retries.
                try {
                    if (!accept_paused_)
                        accept_on(*static_cast<Listener *>(src->ptr));
                } catch (const std::exception &e) {
                    log_client("accept: %s", e.what());
                }
                break;
            case Source::kFile: {
                auto *f = static_cast<File *>(src->ptr);
                if (f->closed)
                    break;
                // Out of memory for one client's request: that client is dropped, no other.
                auto file = f->shared_from_this();
                try {
                    on_file_message(file);
                } catch (const std::exception &e) {
                    if (!file->closed)
                        close_file(file, e.what());
                }
                break;
            }
            case Source::kChannel: {
                // The client hung up or died: a call it is sleeping in ends now.
                auto *ch = static_cast<Channel *>(src->ptr);
                ch->task.kill();
                epoll_ctl(epoll_, EPOLL_CTL_DEL, ch->sock, nullptr);
                ch->watched = false;
                break;
            }
            case Source::kSignal: {
                signalfd_siginfo si;
                while (::read(signal_fd_, &si, sizeof(si)) == sizeof(si))
                    log(Level::kInfo, "%s: releasing every file and stopping",
                        strsignal(int(si.ssi_signo)));
                stop = true;
                break;
            }
            case Source::kReaper:
                reap = true;
                break;
            }
        }
        graveyard_.clear();
        if (reap)
            reap_channels();
        if (stop)
            break;
    }
    shutdown_all();
    log(Level::kInfo, "stopped");
    return 0;
}

} // namespace qaicd
