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
#include "kernel/alloc.h"
#include "kernel/spin.h"
#include "kernel/uaccess.h"
#include "qaic/qaic_sim.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <asm/ioctl.h>
#include <cerrno>
#include <cstdio>
#include <cstddef>
#include <cstring>
#include <drm.h>
#include <fcntl.h>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <poll.h>
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

bool is_wake(const void *buf, ssize_t n)
{
    wire::Header h;
    if (n != ssize_t(sizeof(h)))
        return false;
    std::memcpy(&h, buf, sizeof(h));
    return h.magic == wire::kMagic && h.op == uint32_t(wire::Op::kWake);
}

// One reply of at most len bytes, and the fd that came with it (or -1). Returns the length,
// 0 when qaicd is gone, or -errno.
ssize_t receive(int sock, void *buf, size_t len, int *fd, int flags = 0)
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
    bool reset = false;
    for (;;) {
        h.msg_controllen = sizeof(control.buf); // recvmsg shrank it to what the last one had
        n = ::recvmsg(sock, &h, MSG_CMSG_CLOEXEC | flags);
        if (n < 0 && errno == EINTR)
            continue; // the call goes on in qaicd: wait for its answer
        if (n < 0 && errno == ECONNRESET && !reset) {
            // qaicd closed with our message unread: the reset comes first, then what it
            // said before closing (a refusal's Welcome), if anything.
            reset = true;
            flags |= MSG_DONTWAIT;
            continue;
        }
        if (!is_wake(buf, n))
            break;    // (a wake is for a slot call that found its answer without it)
    }
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
          const char *path, int *fd_out = nullptr)
{
    Probe probe(op, flags);
    // A refused connection is told why before qaicd closes it: a hello that finds it closed
    // may still find the answer.
    bool sent = wire::send_message(sock, &probe.hello, sizeof(probe.hello), fd);
    ssize_t n = receive(reply_sock, w, sizeof(*w), fd_out, sent ? 0 : MSG_DONTWAIT);
    if (n != ssize_t(sizeof(*w))) {
        if (fd_out && *fd_out >= 0)
            ::close(*fd_out);
        if (fd_out)
            *fd_out = -1;
        return -ENODEV;
    }
    if (w->ret < 0 && w->reason[0]) {
        w->reason[sizeof(w->reason) - 1] = '\0';
        std::fprintf(stderr, "libqaic: %s: %s\n", path, w->reason);
    }
    return w->ret;
}

// A channel: a socket to qaicd, and the slot qaicd shares with us on it (wire::Slot), through
// which ioctls go without a message while both ends are awake.
struct Channel {
    int sock;
    wire::Slot *slot = nullptr; // null: every call on the socket
    uint32_t seq = 0;           // the number of our latest request in the slot
    // How long the last slot call of each ioctl number took to be answered (us, 0: none yet):
    // an EXECUTE is answered in microseconds, a WAIT_BO when its job is done.
    std::array<uint32_t, 64> answer_us{};
};

// Where a connection's slots are mapped: address space reserved when the connection opens.
// A thread's first call makes its channel, and its slot must not take fresh address space: an
// address the user has just unmapped stays unmapped through its ioctl (EFAULT), as it does
// with a kernel's device file. The slots are not inherited by a forked child
// (MADV_DONTFORK): the child's copy of the area has holes there, never used again.
class SlotArea {
public:
    static constexpr size_t kSlots = 256; // more channels than this call on their sockets

    SlotArea()
    {
        void *p = ::mmap(nullptr, kSlots * wire::kSlotSize, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        base_ = p == MAP_FAILED ? nullptr : static_cast<unsigned char *>(p);
        state_.fill(base_ ? kFree : kLost);
    }
    // Unmaps what is still ours: not the lost pages, which may hold someone else's mapping by
    // now (a forked child's holes).
    ~SlotArea()
    {
        for (size_t i = 0; i < kSlots;) {
            size_t j = i;
            while (j < kSlots && state_[j] != kLost)
                ++j;
            if (j > i)
                ::munmap(base_ + i * wire::kSlotSize, (j - i) * wire::kSlotSize);
            i = j + 1;
        }
    }
    SlotArea(const SlotArea &) = delete;
    SlotArea &operator=(const SlotArea &) = delete;

    // Maps the slot whose memfd came with a channel's Welcome (fd); null when there was none
    // or the area is full: that channel's calls then all go on its socket.
    wire::Slot *map(int fd)
    {
        if (fd < 0)
            return nullptr;
        size_t i = 0;
        while (i < kSlots && state_[i] != kFree)
            ++i;
        if (i == kSlots)
            return nullptr;
        void *p = ::mmap(base_ + i * wire::kSlotSize, wire::kSlotSize, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_FIXED, fd, 0);
        if (p == MAP_FAILED) {
            state_[i] = kLost; // a failed MAP_FIXED may have unmapped the reservation
            return nullptr;
        }
        state_[i] = kUsed;
        auto *slot = static_cast<wire::Slot *>(p);
        if (::madvise(p, wire::kSlotSize, MADV_DONTFORK) != 0) {
            unmap(slot);
            return nullptr;
        }
        return slot;
    }
    // The slot's page goes back to the reservation.
    void unmap(wire::Slot *slot)
    {
        size_t i = size_t(reinterpret_cast<unsigned char *>(slot) - base_) / wire::kSlotSize;
        void *p = ::mmap(slot, wire::kSlotSize, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
        state_[i] = p == MAP_FAILED ? kLost : kFree;
    }
    // In a forked child: the slots in use were not inherited; their pages are holes that
    // anything may map from now on.
    void forget_after_fork()
    {
        for (auto &st : state_)
            if (st == kUsed)
                st = kLost;
    }

private:
    enum State : unsigned char { kFree, kUsed, kLost };
    unsigned char *base_;
    std::array<State, kSlots> state_;
};

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
    // send_fd: an fd to send with the request (SCM_RIGHTS), or -1. A call with an fd either
    // way goes on the channel's socket.
    int call_var(const void *req, size_t len, wire::Reply *rep, void *extra, size_t extra_cap,
                 size_t *extra_got, int *fd, int send_fd = -1);

    // fork: the child forgets our channels (they name the parent, whose memory qaicd would
    // touch; their slots are not even mapped in the child), and the lock, which the forking
    // thread held, is free again.
    void lock_for_fork() { lock_.lock(); }
    void unlock_after_fork(bool child)
    {
        if (child) {
            for (auto &[p, ch] : channels_)
                ::close(ch->sock);
            channels_.clear();
            idle_.clear();
            slots_.forget_after_fork();
        }
        lock_.unlock();
    }

private:
    int take_channel(Channel **out);
    void give_channel(Channel *ch);
    void drop_channel(Channel *ch);
    int new_channel(Channel **out);
    void release_channel(Channel &ch); // under lock_
    ssize_t slot_call(Channel &ch, const void *req, size_t len, void *buf, size_t cap);

    int fd_;
    std::string path_;
    std::mutex lock_;
    SlotArea slots_;
    // This process's channels. (Keyed by the object, not its socket's number: a user who
    // closes our fds must not make two channels one.)
    std::map<Channel *, std::unique_ptr<Channel>> channels_;
    std::vector<Channel *> idle_; // of them, those no thread is calling through
};

void Conn::release_channel(Channel &ch)
{
    if (ch.slot)
        slots_.unmap(ch.slot);
    ch.slot = nullptr;
    ::close(ch.sock);
}

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
        Channel *ch = nullptr;
        take_channel(&ch); // before the close: a channel is attached through fd_
        ::close(fd_);
        fd_ = -1;
        if (ch) {
            wire::Header closed{wire::kMagic, uint32_t(wire::Op::kClosed)};
            wire::Reply rep;
            if (wire::send_message(ch->sock, &closed, sizeof(closed)))
                (void)receive(ch->sock, &rep, sizeof(rep), nullptr);
        }
    }
    for (auto &[p, ch] : channels_)
        release_channel(*ch);
}

int Conn::call_var(const void *req, size_t len, wire::Reply *rep, void *extra, size_t extra_cap,
                   size_t *extra_got, int *fd, int send_fd)
{
    Channel *ch = nullptr;
    int ret = take_channel(&ch);
    if (ret < 0)
        return ret;
    alignas(8) unsigned char buf[sizeof(wire::Reply) + wire::kMaxMessage];
    size_t cap = sizeof(wire::Reply) + std::min<size_t>(extra_cap, wire::kMaxMessage);
    wire::Header h;
    std::memcpy(&h, req, sizeof(h));
    ssize_t n;
    // A call with an fd either way goes on the socket: a slot carries none.
    if (ch->slot && h.op == uint32_t(wire::Op::kIoctl) && send_fd < 0 && !fd)
        n = slot_call(*ch, req, len, buf, cap);
    else
        n = wire::send_message(ch->sock, req, len, send_fd) ? receive(ch->sock, buf, cap, fd)
                                                            : -ENODEV;
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

// A kIoctl through the slot (wire::Slot): the request in, then the answer polled for while it
// comes soon, else slept for on the socket (qaicd sends a wake). The answer's bytes into buf,
// as receive() puts a reply; -ENODEV when qaicd is gone.
ssize_t Conn::slot_call(Channel &ch, const void *req, size_t len, void *buf, size_t cap)
{
    using Clock = std::chrono::steady_clock;
    wire::Slot &s = *ch.slot;
    wire::Slot::Call call{};
    if (len > sizeof(call))
        return -ENODEV;
    std::memcpy(&call, req, len);
    wire::copy_to_slot(&s.call, call);
    uint32_t seq = ++ch.seq;
    auto start = Clock::now();
    wire::word(s.req_seq).store(seq);
    // Poll for the answer while it can be expected soon: for up to twice as long as this ioctl
    // took the last time (at least kSlotPoll, at most kSlotPollMax; longer ones sleep at once),
    // as the driver's WAIT_BO spins for its job's transfer time. And only while the daemon's
    // thread runs (it polled for our request): one we must wake may need the very CPU we
    // would poll on.
    uint32_t &last_us = ch.answer_us[_IOC_NR(call.req.cmd) % ch.answer_us.size()];
    auto budget = std::max<std::chrono::microseconds>(wire::kSlotPoll, std::chrono::microseconds(2 * uint64_t(last_us)));
    bool poll = budget <= wire::kSlotPollMax;
    if (wire::word(s.daemon_sleeping).load()) {
        wire::Header wake{wire::kMagic, uint32_t(wire::Op::kWake)};
        if (!wire::send_message(ch.sock, &wake, sizeof(wake), -1, MSG_DONTWAIT) && errno != EAGAIN)
            return -ENODEV;
        poll = false;
    }
    auto answered = [&] { return wire::word(s.rsp_seq).load() == seq; };
    if (!(poll && kernel::spin_until(answered, budget, kernel::kSharedWordPollsPerYield))) {
        wire::word(s.client_sleeping).store(1);
        while (!answered()) {
            pollfd p{ch.sock, POLLIN, 0};
            if (::poll(&p, 1, -1) < 0) {
                if (errno == EINTR)
                    continue; // the call goes on in qaicd: wait for its answer
                return -ENODEV;
            }
            if (!(p.revents & POLLIN))
                return -ENODEV; // qaicd hung up
            // Only wakes come on the socket during a slot call.
            alignas(8) unsigned char msg[wire::kMaxMessage];
            ssize_t n = ::recv(ch.sock, msg, sizeof(msg), MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                return -ENODEV;
            if (n >= 0 && !is_wake(msg, n))
                return -ENODEV;
        }
        wire::word(s.client_sleeping).store(0);
    }
    auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    last_us = uint32_t(std::clamp<int64_t>(took.count(), 1, INT32_MAX));
    wire::Slot::Answer a;
    wire::copy_from_slot(&a, s.answer);
    if (a.rep.value > sizeof(a.out) || sizeof(a.rep) + a.rep.value > cap)
        return -ENODEV;
    std::memcpy(buf, &a.rep, sizeof(a.rep));
    std::memcpy(static_cast<unsigned char *>(buf) + sizeof(a.rep), a.out, size_t(a.rep.value));
    return ssize_t(sizeof(a.rep) + a.rep.value);
}

int Conn::take_channel(Channel **out)
{
    {
        std::lock_guard l(lock_);
        if (!idle_.empty()) {
            *out = idle_.back();
            idle_.pop_back();
            return 0;
        }
    }
    return new_channel(out);
}

void Conn::give_channel(Channel *ch)
{
    std::lock_guard l(lock_);
    if (channels_.count(ch)) // not a parent's channel forgotten by a fork since
        idle_.push_back(ch);
}

void Conn::drop_channel(Channel *ch)
{
    std::lock_guard l(lock_);
    auto it = channels_.find(ch);
    if (it != channels_.end()) {
        release_channel(*ch);
        channels_.erase(it);
    }
}

int Conn::new_channel(Channel **out)
{
    if (fd_ < 0)
        return -EBADF;
    for (int attempt = 0;; ++attempt) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
            return errno == EMFILE || errno == ENFILE ? -EMFILE : -ENOMEM;
        wire::Welcome w{};
        int slot_fd = -1;
        int ret = greet(fd_, sv[0], wire::Op::kAttach, 0, sv[1], &w, path_.c_str(), &slot_fd);
        ::close(sv[1]);
        if (ret == 0) {
            std::unique_ptr<Channel> ch(new (std::nothrow) Channel{sv[0]});
            std::lock_guard l(lock_);
            if (ch)
                ch->slot = slots_.map(slot_fd);
            if (slot_fd >= 0)
                ::close(slot_fd);
            if (!ch) {
                ::close(sv[0]);
                return -ENOMEM;
            }
            if (kernel::try_alloc([&] { channels_.emplace(ch.get(), nullptr); }).is_error()) {
                release_channel(*ch);
                return -ENOMEM;
            }
            *out = ch.get();
            channels_[*out] = std::move(ch);
            return 0;
        }
        if (slot_fd >= 0)
            ::close(slot_fd);
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

// How this process's own memory is read for qaicd's calls (set once, before any file opens).
std::atomic<bool> syscall_copies{false};

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
        kernel::UserMm by_syscall(getpid());
        const kernel::UserMm &self = syscall_copies.load(std::memory_order_relaxed) ? by_syscall
                                                                                   : kernel::UserMm::self();
        if (size <= wire::kMaxInlineArg && !self.read(msg.arg, uint64_t(uintptr_t(arg)), size).is_error())
            msg.req.arg_len = uint32_t(size);
        // PRIME's fds cross with the call (wire.h): the dma-buf an import names goes with it,
        // the one an export makes comes back, and its number here replaces the daemon's in the
        // argument. (An fd that is not open goes as none: the driver says EBADF.)
        drm_prime_handle prime{};
        // (By nr, as the driver dispatches: a caller's struct may be longer than DRM's.)
        bool is_prime = _IOC_TYPE(request) == DRM_IOCTL_BASE && msg.req.arg_len >= sizeof(prime) &&
                        (_IOC_NR(request) == _IOC_NR(DRM_IOCTL_PRIME_FD_TO_HANDLE) ||
                         _IOC_NR(request) == _IOC_NR(DRM_IOCTL_PRIME_HANDLE_TO_FD));
        if (is_prime)
            std::memcpy(&prime, msg.arg, sizeof(prime));
        bool import = is_prime && _IOC_NR(request) == _IOC_NR(DRM_IOCTL_PRIME_FD_TO_HANDLE);
        int send_fd = import && prime.fd >= 0 && fcntl(prime.fd, F_GETFD) >= 0 ? prime.fd : -1;
        msg.req.fd_number = send_fd;
        wire::Reply rep;
        unsigned char out[wire::kMaxInlineArg];
        size_t got = 0;
        int got_fd = -1;
        bool want_fd = is_prime && !import;
        int ret = conn_->call_var(&msg, sizeof(msg.req) + msg.req.arg_len, &rep, out, sizeof(out),
                                  &got, want_fd ? &got_fd : nullptr, send_fd);
        if (ret == 0 && (got != rep.value || (got && got != msg.req.arg_len)))
            ret = -EIO;
        if (ret == 0 && want_fd && rep.ret == 0) {
            // Received close-on-exec; DRM_CLOEXEC says whether it stays so. An fd that did not
            // arrive found no room here (the kernel drops what it cannot install): EMFILE, as
            // the kernel's get_unused_fd_flags says.
            if (got_fd < 0) {
                ret = -EMFILE;
            } else if (got < sizeof(prime) ||
                       (!(prime.flags & DRM_CLOEXEC) && fcntl(got_fd, F_SETFD, 0) != 0)) {
                ret = -EIO;
            } else {
                int32_t number = got_fd;
                std::memcpy(out + offsetof(drm_prime_handle, fd), &number, sizeof(number));
                got_fd = -1; // the user's now
            }
        }
        if (got_fd >= 0)
            ::close(got_fd);
        if (ret < 0)
            return ret;
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
    int sim_pci_id() override
    {
        uint64_t id = 0;
        int ret = sim(wire::Op::kSimPciId, {0, 0, 0}, &id, nullptr);
        return ret < 0 ? ret : int(id);
    }
    int sim_ras_counts(struct qaic_sim_ras_counts *c) override
    {
        wire::SimReq req{{wire::kMagic, uint32_t(wire::Op::kSimRasCounts)}, {}, 0, {}};
        wire::Reply rep;
        int ret = conn_->call(&req, sizeof(req), &rep, c, sizeof(*c), nullptr);
        return ret < 0 ? ret : int(rep.ret);
    }
    long long sim_read_coredump(void *buf, unsigned long long len) override
    {
        wire::CoredumpReq req{{wire::kMagic, uint32_t(wire::Op::kSimCoredump)}, uintptr_t(buf),
                              len};
        wire::Reply rep;
        int ret = conn_->call(&req, sizeof(req), &rep, nullptr, 0, nullptr);
        if (ret < 0)
            return ret;
        return rep.ret < 0 ? rep.ret : (long long)rep.value;
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
    // The content into *out (std::string: the caller's); -errno.
    int read_attr(const char *path, std::string *out)
    {
        wire::SimReq req{{wire::kMagic, uint32_t(wire::Op::kSimReadAttr)}, {}, 0, {}};
        if (std::strlen(path) >= sizeof(req.name))
            return -ENOENT; // no file has so long a path
        std::strcpy(req.name, path);
        wire::Reply rep;
        int fd = -1;
        int ret = conn_->call(&req, sizeof(req), &rep, nullptr, 0, &fd);
        if (ret < 0 || rep.ret < 0) {
            if (fd >= 0)
                ::close(fd);
            return ret < 0 ? ret : int(rep.ret);
        }
        if (fd < 0)
            return -EIO;
        try {
            out->resize(rep.value);
        } catch (const std::bad_alloc &) {
            ::close(fd);
            return -ENOMEM;
        }
        ssize_t n = ::pread(fd, out->data(), out->size(), 0);
        int err = n < 0 ? -errno : 0;
        ::close(fd);
        if (err)
            return err;
        out->resize(size_t(n));
        return 0;
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

void copy_own_memory_by_syscall()
{
    syscall_copies.store(true, std::memory_order_relaxed);
}

int adopt_daemon(int fd, const char *path, std::unique_ptr<OpenFile> *out)
{
    // The connection's own copy: the caller's fd may be closed or replaced while mappings
    // still need the connection.
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return errno == EMFILE ? -EMFILE : -EBADF;
    static std::once_flag atfork;
    std::call_once(atfork, [] { pthread_atfork(prepare_fork, parent_after_fork, child_after_fork); });
    std::shared_ptr<Conn> conn;
    try {
        conn = std::make_shared<Conn>(own, path);
    } catch (...) {
        ::close(own);
        throw;
    }
    *out = std::make_unique<DaemonFile>(std::move(conn)); // from here the Conn closes it
    return 0;
}

bool is_daemon_connection(int fd, const char *path)
{
    sockaddr_un peer{};
    socklen_t len = sizeof(peer);
    int type = 0;
    socklen_t tlen = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_SEQPACKET ||
        getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &len) != 0 || peer.sun_family != AF_UNIX)
        return false;
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    return std::strlen(path) == strnlen(peer.sun_path, n) && std::strncmp(peer.sun_path, path, n) == 0;
}

int daemon_watch(const char *path, int *fd)
{
    return connect_open(path, wire::kControlOnly | wire::kWatch, fd);
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

int daemon_sim_pci_id(const char *path)
{
    std::unique_ptr<DaemonFile> f;
    int ret = open_control(path, &f);
    return ret < 0 ? ret : f->sim_pci_id();
}

int daemon_sim_set_param(const char *path, const char *name, unsigned value)
{
    std::unique_ptr<DaemonFile> f;
    int ret = open_control(path, &f);
    return ret < 0 ? ret : f->sim_set_param(name, value);
}

int daemon_read_attr(const char *path, const char *attr, std::string *out)
{
    std::unique_ptr<DaemonFile> f;
    int ret = open_control(path, &f);
    return ret < 0 ? ret : f->read_attr(attr, out);
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
        *st = {ws.files, ws.channels, ws.dbcs_in_use, ws.sleeping_calls, ws.bo_bytes, ws.fds,
               ws.threads, ws.rss_bytes};
    return ret;
}

} // namespace libqaic
