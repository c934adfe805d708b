// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer: qaicd's wire (host/wire.h) as a hostile client speaks it. qaicd's server runs in
// this process, on a thread of its own, with one card; each input is a program of client
// actions on up to four connections to the card's socket and their channels: hellos (kOpen,
// kAttach, kControlOnly, kWatch; wrong magic, version, flags, op, length or probe), the fds
// that come with them (a socketpair, a pipe, a memfd, a stream or datagram pair, a connection
// to the daemon, two fds, nine: more than a message carries), calls on a channel's socket and
// through its slot (kIoctl, kMmap, kUnmap, kClosed, kSim*, kStats, kWake), raw frames (short,
// over-long, with fds, with another process's credentials, which root may claim), and closes
// in any order. The ioctls are those whose argument holds no user pointer the daemon would
// follow into this process (the uapi target fuzzes the rest).
//
// After each input every socket it made is closed and the daemon must be back where it was
// within 5 s (its own counts, as qaic-client status reads them): no file, channel, BO memory,
// DBC, fd or thread left of the input.
#include "fuzz/harness.h"
#include "host/machine.h"
#include "host/qaicd/server.h"
#include "host/wire.h"

#include <drm.h>
#include <drm/qaic_accel.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <pthread.h>
#include <string>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace {

using fuzz::arena;
using fuzz::Input;
using fuzz::kPage;
using Clock = std::chrono::steady_clock;

constexpr unsigned kMaxOps = 48;
constexpr unsigned kMaxConns = 4;
constexpr unsigned kMaxChannels = 4; // per connection
constexpr int kAnswerMs = 1000;      // how long a client waits for an answer it expects
constexpr auto kSettle = std::chrono::seconds(5); // for the daemon to be back after an input

[[noreturn]] void finding(const char *what, long long value)
{
    std::fprintf(stderr, "wire_fuzz: %s (%lld)\n", what, value);
    std::abort();
}

// The word each hello's probe names: the daemon reads it from this process.
const uint64_t probe_word = 0x7169616450524f42; // any value the daemon cannot guess

// The daemon: qaicd's server over a one-card machine, its socket in a fresh directory. It is
// stopped at exit as SIGTERM stops qaicd, so no thread of it runs while the process ends.
struct Daemon {
    std::string dir;
    std::string path;
    host::Machine machine{1, host::CardOptions{uint64_t(64) << 20, uint64_t(64) << 20}};
    std::unique_ptr<qaicd::Server> server;
    std::thread thread;

    Daemon()
    {
        char tmpl[] = "/tmp/qaic-wire-fuzz.XXXXXX";
        if (!mkdtemp(tmpl))
            finding("mkdtemp failed", errno);
        dir = tmpl;
        path = dir + "/accel0";
        qaicd::Options opts;
        opts.dir = dir;
        // Limits an input can reach: 4 connections and 5 channels are left after the harness's.
        opts.max_channels = 8;
        opts.max_channels_per_user = 6;
        opts.max_files_per_user = 5;
        opts.own_pid_clients = true;
        server = std::make_unique<qaicd::Server>(machine, opts);
        std::atomic<int> listening{0};
        // listen() blocks SIGTERM on the thread that calls it (and the channel threads it
        // starts), for its signalfd: the server's thread, not libFuzzer's.
        thread = std::thread([this, &listening] {
            bool ok = server->listen();
            listening = ok ? 1 : -1;
            listening.notify_one();
            if (ok)
                server->run();
        });
        listening.wait(0);
        if (listening.load() < 0)
            finding("the server cannot listen", 0);
    }
    ~Daemon()
    {
        pthread_kill(thread.native_handle(), SIGTERM);
        thread.join();
        server.reset();
        rmdir(dir.c_str());
    }
};
Daemon *daemon_ = nullptr;

int connect_card()
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", daemon_->path.c_str());
    if (connect(s, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
        close(s);
        return -1;
    }
    return s;
}

// Sends one message with its fds, and with another process's credentials when forged (root
// may claim any pid). Never waits: a daemon that stops reading must not stall the harness.
void send_frame(int sock, const void *data, size_t len, const std::vector<int> &fds, bool forged)
{
    union {
        cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 16) + CMSG_SPACE(sizeof(ucred))];
    } control{};
    iovec iov{const_cast<void *>(data), len};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control.buf;
    size_t used = 0;
    cmsghdr *c = nullptr;
    if (!fds.empty() || forged) {
        h.msg_controllen = sizeof(control.buf);
        c = CMSG_FIRSTHDR(&h);
    }
    if (!fds.empty()) {
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
        used += CMSG_SPACE(sizeof(int) * fds.size());
        c = CMSG_NXTHDR(&h, c);
    }
    if (forged) {
        ucred cred{getppid(), 0, 0};
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(sizeof(cred));
        std::memcpy(CMSG_DATA(c), &cred, sizeof(cred));
        used += CMSG_SPACE(sizeof(cred));
    }
    h.msg_controllen = used;
    (void)!sendmsg(sock, &h, MSG_NOSIGNAL | MSG_DONTWAIT);
}

// Waits up to ms for one message: its length, 0 at the end of the stream, -1 for none. The
// first fd that came with it goes to *fd (or is closed when fd is null), the rest are closed.
// A signal does not end the wait: libFuzzer's -timeout alarm interrupts this thread's poll
// every few seconds (an early -1 here once read as a daemon that did not answer).
ssize_t await(int sock, void *buf, size_t cap, int *fd, int ms)
{
    if (fd)
        *fd = -1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
        pollfd p{sock, POLLIN, 0};
        int r = poll(&p, 1, ms);
        if (r == 1)
            break;
        if (r == 0 || errno != EINTR)
            return -1;
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        ms = int(std::max<int64_t>(left.count(), 0));
    }
    union {
        cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 8)];
    } control;
    iovec iov{buf, cap};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control.buf;
    h.msg_controllen = sizeof(control.buf);
    ssize_t n = recvmsg(sock, &h, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    for (cmsghdr *c = CMSG_FIRSTHDR(&h); n >= 0 && c; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
            int got;
            std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (fd && *fd < 0)
                *fd = got;
            else
                close(got);
        }
    }
    return n < 0 ? -1 : n;
}

struct Channel {
    int sock = -1;
    wire::Slot *slot = nullptr;
    uint32_t seq = 0;
};

struct Conn {
    int sock = -1;
    bool opened = false;
    std::vector<Channel> chans;
};

// What the input made and what earlier answers returned, to draw arguments from.
struct State {
    Conn conns[kMaxConns];
    std::vector<int> extra_fds; // other ends of pairs, kept open while the input runs
    std::vector<uint32_t> handles;
    std::vector<uint64_t> offsets;
    std::vector<uint64_t> map_ids;

    Conn *conn(Input &in) { return &conns[in.u8() % kMaxConns]; }
    Channel *chan(Input &in)
    {
        Conn &c = *conn(in);
        uint8_t b = in.u8();
        return c.chans.empty() ? nullptr : &c.chans[b % c.chans.size()];
    }
    template <typename T> T pick(Input &in, const std::vector<T> &from)
    {
        uint8_t b = in.u8();
        if (from.empty() || b >= 240)
            return b >= 250 ? T(in.u64()) : T(b);
        return from[b % from.size()];
    }
};

// The fds a hello carries: what the daemon expects (a seqpacket socketpair whose other end
// becomes the channel), or something else. *chan_end: the end kept when it is a socketpair.
std::vector<int> hello_fds(State &s, uint8_t kind, int *chan_end)
{
    *chan_end = -1;
    std::vector<int> fds;
    int sv[2];
    auto pair = [&](int type) {
        if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) == 0) {
            fds.push_back(sv[0]);
            s.extra_fds.push_back(sv[1]);
        }
    };
    switch (kind % 10) {
    case 0: // none
        break;
    case 1:
        if (pipe2(sv, O_CLOEXEC) == 0) {
            fds.push_back(sv[0]);
            s.extra_fds.push_back(sv[1]);
        }
        break;
    case 2: {
        int m = memfd_create("wire-fuzz", MFD_CLOEXEC);
        if (m >= 0)
            fds.push_back(m);
        break;
    }
    case 3:
        pair(SOCK_STREAM);
        break;
    case 4:
        pair(SOCK_DGRAM);
        break;
    case 5: {
        int c = connect_card(); // a connection, not a pair: it has a name
        if (c >= 0)
            fds.push_back(c);
        break;
    }
    case 6: // two pairs
        pair(SOCK_SEQPACKET);
        pair(SOCK_SEQPACKET);
        break;
    case 7: // more fds than the daemon's control buffer takes
        for (int i = 0; i < 9; ++i)
            pair(SOCK_SEQPACKET);
        break;
    default: // a channel
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
            fds.push_back(sv[0]);
            *chan_end = sv[1];
        }
        break;
    }
    return fds;
}

void close_fds(const std::vector<int> &fds)
{
    for (int fd : fds)
        close(fd);
}

void hello(State &s, Input &in)
{
    Conn &c = *s.conn(in);
    if (c.sock < 0)
        return;
    uint8_t m = in.u8(); // which rule this hello breaks, if any
    static const uint32_t kFlags[] = {0, wire::kControlOnly, wire::kControlOnly | wire::kWatch, 0};
    wire::Hello h{};
    h.hdr.magic = m & 1 ? in.u32() : wire::kMagic;
    h.hdr.op = m & 2 ? in.u8() % 16 : uint32_t(c.opened ? wire::Op::kAttach : wire::Op::kOpen);
    h.version = m & 4 ? in.u32() : wire::kVersion;
    h.flags = m & 8 ? in.u32() : c.opened ? 0 : kFlags[in.u8() % 4];
    h.probe_addr = m & 16 ? uint64_t(uintptr_t(arena().ro)) : uint64_t(uintptr_t(&probe_word));
    h.probe_value = m & 32 ? in.u64() : probe_word;
    unsigned char frame[300] = {};
    std::memcpy(frame, &h, sizeof(h));
    size_t len = sizeof(h);
    if (m & 64) {
        len = in.u16() % sizeof(frame);
        if (len > sizeof(h))
            in.bytes(frame + sizeof(h), len - sizeof(h));
    }
    int chan_end;
    // A kAttach mostly brings its channel, the others mostly nothing; either sometimes other fds.
    uint8_t kind = in.u8();
    if (h.hdr.op == uint32_t(wire::Op::kAttach))
        kind = kind < 192 ? 9 : kind;
    else
        kind = kind < 32 ? kind : 0;
    std::vector<int> fds = hello_fds(s, kind, &chan_end);
    send_frame(c.sock, frame, len, fds, m & 128);
    close_fds(fds);
    wire::Welcome w{};
    if (chan_end < 0) {
        if (h.hdr.op == uint32_t(wire::Op::kOpen) &&
            await(c.sock, &w, sizeof(w), nullptr, kAnswerMs) == ssize_t(sizeof(w)) && w.ret == 0)
            c.opened = true;
        return;
    }
    Channel ch{chan_end};
    int slot_fd = -1;
    if (await(chan_end, &w, sizeof(w), &slot_fd, kAnswerMs) == ssize_t(sizeof(w)) && w.ret == 0 &&
        slot_fd >= 0) {
        void *p = mmap(nullptr, wire::kSlotSize, PROT_READ | PROT_WRITE, MAP_SHARED, slot_fd, 0);
        if (p != MAP_FAILED)
            ch.slot = static_cast<wire::Slot *>(p);
    }
    if (slot_fd >= 0)
        close(slot_fd);
    if (c.chans.size() < kMaxChannels) {
        c.chans.push_back(ch);
    } else {
        if (ch.slot)
            munmap(ch.slot, wire::kSlotSize);
        close(chan_end);
    }
}

// An ioctl request whose argument the daemon may follow only into the arena: the argument
// struct comes inline, and the pointers in it (VERSION's) name arena places.
struct IoctlCall {
    wire::IoctlReq req;
    unsigned char arg[wire::kMaxInlineArg];
};

uint64_t arena_place(Input &in, size_t len)
{
    fuzz::Arena &a = arena();
    switch (in.u8() % 8) {
    case 0:
        return 0;
    case 1:
        return uint64_t(uintptr_t(a.guard));
    case 2:
        return uint64_t(uintptr_t(a.ro));
    case 3:
        return uint64_t(uintptr_t(a.rw + kPage - len / 2)); // into the read-only page
    default:
        return uint64_t(uintptr_t(a.rw));
    }
}

IoctlCall ioctl_call(State &s, Input &in)
{
    static const unsigned long kCmds[] = {
        DRM_IOCTL_QAIC_CREATE_BO, DRM_IOCTL_QAIC_MMAP_BO,         DRM_IOCTL_GEM_CLOSE,
        DRM_IOCTL_QAIC_WAIT_BO,   DRM_IOCTL_QAIC_DETACH_SLICE_BO, DRM_IOCTL_VERSION};
    IoctlCall c{};
    uint8_t which = in.u8() % (std::size(kCmds) + 1);
    // Past the table: a number no driver or DRM core handler takes, of any direction and size.
    c.req.cmd = which < std::size(kCmds)
                    ? kCmds[which]
                    : _IOC(in.u8() % 4, DRM_IOCTL_BASE, 0x50 + in.u8() % 16, in.u8());
    size_t size = _IOC_SIZE(c.req.cmd);
    c.req.hdr = {wire::kMagic, uint32_t(wire::Op::kIoctl)};
    in.bytes(c.arg, std::min(size, sizeof(c.arg)));
    switch (c.req.cmd) {
    case DRM_IOCTL_QAIC_CREATE_BO: {
        auto *a = reinterpret_cast<qaic_create_bo *>(c.arg);
        a->size %= 1 << 20;
        break;
    }
    case DRM_IOCTL_QAIC_MMAP_BO:
        reinterpret_cast<qaic_mmap_bo *>(c.arg)->handle = s.pick(in, s.handles);
        break;
    case DRM_IOCTL_GEM_CLOSE:
        reinterpret_cast<drm_gem_close *>(c.arg)->handle = s.pick(in, s.handles);
        break;
    case DRM_IOCTL_QAIC_WAIT_BO: {
        auto *a = reinterpret_cast<qaic_wait *>(c.arg);
        a->handle = s.pick(in, s.handles);
        a->timeout = a->timeout % 3; // never the 5 s default: the harness waits 1 s at most
        if (a->timeout == 0)
            a->timeout = 1;
        break;
    }
    case DRM_IOCTL_QAIC_DETACH_SLICE_BO:
        reinterpret_cast<qaic_detach_slice *>(c.arg)->handle = s.pick(in, s.handles);
        break;
    case DRM_IOCTL_VERSION: {
        auto *v = reinterpret_cast<drm_version *>(c.arg);
        v->name_len %= 64;
        v->date_len %= 64;
        v->desc_len %= 64;
        v->name = reinterpret_cast<char *>(arena_place(in, v->name_len));
        v->date = reinterpret_cast<char *>(arena_place(in, v->date_len));
        v->desc = reinterpret_cast<char *>(arena_place(in, v->desc_len));
        break;
    }
    }
    c.req.arg = arena_place(in, size);
    // The daemon reads the struct from the caller's memory when it did not come inline.
    if (c.req.arg == uint64_t(uintptr_t(arena().rw)))
        std::memcpy(arena().rw, c.arg, std::min(size, sizeof(c.arg)));
    else if (c.req.arg == uint64_t(uintptr_t(arena().rw + kPage - size / 2)))
        std::memcpy(arena().rw + kPage - size / 2, c.arg, std::min(size, sizeof(c.arg)) / 2);
    c.req.arg_len = uint32_t(size <= wire::kMaxInlineArg ? size : 0);
    uint8_t bad = in.u8(); // a request breaking the rules
    if (bad < 8)
        c.req.arg_len = in.u8();
    else if (bad < 12)
        c.req.hdr.magic = in.u32();
    else if (bad < 16)
        c.req.hdr.op = in.u8() % 16;
    return c;
}

// What an ioctl's answer returns for later calls: a CREATE_BO's handle, an MMAP_BO's offset.
void note_answer(State &s, const IoctlCall &c, const wire::Reply &rep, const unsigned char *out)
{
    if (rep.ret != 0 || rep.value != c.req.arg_len || c.req.arg_len == 0)
        return;
    if (c.req.cmd == DRM_IOCTL_QAIC_CREATE_BO && s.handles.size() < 64)
        s.handles.push_back(reinterpret_cast<const qaic_create_bo *>(out)->handle);
    else if (c.req.cmd == DRM_IOCTL_QAIC_MMAP_BO && s.offsets.size() < 64)
        s.offsets.push_back(reinterpret_cast<const qaic_mmap_bo *>(out)->offset);
}

void ioctl_on_socket(State &s, Input &in, Channel &ch)
{
    IoctlCall c = ioctl_call(s, in);
    size_t len = sizeof(c.req) + std::min<size_t>(c.req.arg_len, sizeof(c.arg));
    send_frame(ch.sock, &c, len, {}, false);
    alignas(8) unsigned char buf[wire::kMaxMessage];
    ssize_t n = await(ch.sock, buf, sizeof(buf), nullptr, kAnswerMs);
    wire::Reply rep;
    if (n >= ssize_t(sizeof(rep))) {
        std::memcpy(&rep, buf, sizeof(rep));
        note_answer(s, c, rep, buf + sizeof(rep));
    }
}

// A call through the slot: the request in the shared page, its number published, a kWake when
// the daemon sleeps; then the answer's number, or the channel's end.
void ioctl_in_slot(State &s, Input &in, Channel &ch)
{
    if (!ch.slot)
        return;
    IoctlCall c = ioctl_call(s, in);
    wire::Slot &slot = *ch.slot;
    std::memcpy(static_cast<void *>(&slot.call), &c, sizeof(c));
    uint32_t seq = ++ch.seq;
    wire::word(slot.req_seq).store(seq);
    wire::Header wake{wire::kMagic, uint32_t(wire::Op::kWake)};
    if (wire::word(slot.daemon_sleeping).load())
        send_frame(ch.sock, &wake, sizeof(wake), {}, false);
    auto deadline = Clock::now() + std::chrono::milliseconds(kAnswerMs);
    while (wire::word(slot.rsp_seq).load() != seq && Clock::now() < deadline) {
        pollfd p{ch.sock, POLLIN, 0};
        if (poll(&p, 1, 1) == 1) {
            unsigned char drop[wire::kMaxMessage];
            if ((p.revents & (POLLHUP | POLLERR)) ||
                await(ch.sock, drop, sizeof(drop), nullptr, 0) == 0)
                return; // the daemon dropped the channel
        }
    }
    if (wire::word(slot.rsp_seq).load() == seq) {
        wire::Slot::Answer a;
        std::memcpy(static_cast<void *>(&a), &slot.answer, sizeof(a));
        note_answer(s, c, a.rep, a.out);
    }
}

void mmap_call(State &s, Input &in, Channel &ch)
{
    wire::MmapReq r{{wire::kMagic, uint32_t(wire::Op::kMmap)},
                    s.pick(in, s.offsets),
                    (uint64_t(in.u8()) + 1) * kPage,
                    in.u8() < 16 ? int32_t(in.u32()) : MAP_SHARED,
                    0};
    send_frame(ch.sock, &r, sizeof(r), {}, false);
    alignas(8) unsigned char buf[wire::kMaxMessage];
    int fd;
    ssize_t n = await(ch.sock, buf, sizeof(buf), &fd, kAnswerMs);
    wire::Reply rep;
    if (n == ssize_t(sizeof(rep) + sizeof(uint64_t))) {
        std::memcpy(&rep, buf, sizeof(rep));
        uint64_t id;
        std::memcpy(&id, buf + sizeof(rep), sizeof(id));
        if (rep.ret == 0 && s.map_ids.size() < 64)
            s.map_ids.push_back(id);
        // Map what came as the client library would, and touch it.
        void *p =
            fd >= 0 ? mmap(nullptr, r.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(rep.value))
                    : MAP_FAILED;
        if (p != MAP_FAILED) {
            static_cast<volatile uint8_t *>(p)[0] = in.u8();
            munmap(p, r.len);
        }
    }
    if (fd >= 0)
        close(fd);
}

// One request on a channel's socket, answered (a kWake is not).
template <typename T> void call(Channel &ch, const T &req)
{
    send_frame(ch.sock, &req, sizeof(req), {}, false);
    alignas(8) unsigned char buf[wire::kMaxMessage];
    await(ch.sock, buf, sizeof(buf), nullptr, kAnswerMs);
}

void raw_frame(State &s, Input &in)
{
    Conn &c = *s.conn(in);
    Channel *ch = in.u8() & 1 ? nullptr : s.chan(in);
    int sock = ch ? ch->sock : c.sock;
    if (sock < 0)
        return;
    unsigned char frame[300];
    size_t len = in.u16() % sizeof(frame);
    in.bytes(frame, len);
    if (len >= sizeof(wire::Header) && in.u8() & 1) {
        wire::Header h{wire::kMagic, uint32_t(in.u8() % 16)};
        std::memcpy(frame, &h, sizeof(h));
    }
    // An ioctl the daemon would run takes a number no handler has: its argument's pointers
    // would name this process's memory, not an arena's.
    wire::IoctlReq req;
    if (len >= sizeof(req)) {
        std::memcpy(&req, frame, sizeof(req));
        if (req.hdr.op == uint32_t(wire::Op::kIoctl)) {
            req.cmd = (req.cmd & ~uint64_t(_IOC_NRMASK << _IOC_NRSHIFT)) | (0x50 + req.cmd % 16)
                                                                               << _IOC_NRSHIFT;
            std::memcpy(frame, &req, sizeof(req));
        }
    }
    uint8_t with = in.u8();
    int ignored = -1;
    std::vector<int> fds = with < 32 ? hello_fds(s, with, &ignored) : std::vector<int>{};
    if (ignored >= 0)
        s.extra_fds.push_back(ignored);
    send_frame(sock, frame, len, fds, with >= 224);
    close_fds(fds);
    wire::Header wake{wire::kMagic, uint32_t(wire::Op::kWake)};
    if (len == sizeof(wake) && std::memcmp(frame, &wake, sizeof(wake)) == 0)
        return;
    alignas(8) unsigned char buf[wire::kMaxMessage];
    int fd;
    await(sock, buf, sizeof(buf), &fd, 100);
    if (fd >= 0)
        close(fd);
}

void close_channel(Channel &ch)
{
    if (ch.slot)
        munmap(ch.slot, wire::kSlotSize);
    ch.slot = nullptr;
    if (ch.sock >= 0)
        close(ch.sock);
    ch.sock = -1;
}

void op(State &s, Input &in)
{
    switch (in.u8() % 12) {
    case 0: { // connect
        Conn &c = *s.conn(in);
        if (c.sock < 0)
            c.sock = connect_card();
        break;
    }
    case 1:
    case 2:
        hello(s, in);
        break;
    case 3:
        if (Channel *ch = s.chan(in))
            ioctl_on_socket(s, in, *ch);
        break;
    case 4:
        if (Channel *ch = s.chan(in))
            ioctl_in_slot(s, in, *ch);
        break;
    case 5:
        if (Channel *ch = s.chan(in))
            mmap_call(s, in, *ch);
        break;
    case 6:
        if (Channel *ch = s.chan(in))
            call(*ch,
                 wire::MapMsg{{wire::kMagic, uint32_t(wire::Op::kUnmap)}, s.pick(in, s.map_ids)});
        break;
    case 7:
        if (Channel *ch = s.chan(in))
            call(*ch, wire::Header{wire::kMagic, uint32_t(wire::Op::kClosed)});
        break;
    case 8:
        if (Channel *ch = s.chan(in)) {
            // The test-control requests (kSimInject .. kStats) and the RAS counters'.
            static constexpr wire::Op kSimOps[] = {
                wire::Op::kSimInject,   wire::Op::kSimDbcStatus, wire::Op::kSimNumDbc,
                wire::Op::kSimReplug,   wire::Op::kSimSetParam,  wire::Op::kStats,
                wire::Op::kSimRasCounts};
            wire::SimReq r{};
            r.hdr = {wire::kMagic, uint32_t(kSimOps[in.u8() % std::size(kSimOps)])};
            for (uint32_t &a : r.arg)
                a = in.u32();
            in.bytes(r.name, sizeof(r.name));
            call(*ch, r);
        }
        break;
    case 9:
        raw_frame(s, in);
        break;
    case 10: { // a connection closes; its channels live on until they close
        Conn &c = *s.conn(in);
        if (c.sock >= 0)
            close(c.sock);
        c.sock = -1;
        break;
    }
    case 11: { // a channel closes
        Conn &c = *s.conn(in);
        if (!c.chans.empty()) {
            size_t i = in.u8() % c.chans.size();
            close_channel(c.chans[i]);
            c.chans.erase(c.chans.begin() + long(i));
        }
        break;
    }
    }
}

// The harness's own connection, for the daemon's counts: a kControlOnly file and a channel.
struct Control {
    int file = -1;
    int chan = -1;

    Control()
    {
        file = connect_card();
        wire::Hello h{{wire::kMagic, uint32_t(wire::Op::kOpen)},
                      wire::kVersion,
                      wire::kControlOnly,
                      uint64_t(uintptr_t(&probe_word)),
                      probe_word};
        wire::Welcome w{};
        if (file < 0 || !wire::send_message(file, &h, sizeof(h)) ||
            await(file, &w, sizeof(w), nullptr, 5000) != ssize_t(sizeof(w)) || w.ret != 0)
            finding("the harness's control connection was refused", w.ret);
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
            finding("socketpair failed", errno);
        h.hdr.op = uint32_t(wire::Op::kAttach);
        h.flags = 0;
        int slot_fd;
        if (!wire::send_message(file, &h, sizeof(h), sv[0]) ||
            await(sv[1], &w, sizeof(w), &slot_fd, 5000) != ssize_t(sizeof(w)) || w.ret != 0)
            finding("the harness's control channel was refused", w.ret);
        close(sv[0]);
        if (slot_fd >= 0)
            close(slot_fd);
        chan = sv[1];
    }
    wire::Stats stats()
    {
        wire::SimReq r{};
        r.hdr = {wire::kMagic, uint32_t(wire::Op::kStats)};
        if (!wire::send_message(chan, &r, sizeof(r)))
            finding("the control channel was dropped", errno);
        alignas(8) unsigned char buf[sizeof(wire::Reply) + sizeof(wire::Stats)];
        if (await(chan, buf, sizeof(buf), nullptr, 5000) != ssize_t(sizeof(buf)))
            finding("no answer to kStats within 5 s", 0);
        wire::Stats st;
        std::memcpy(&st, buf + sizeof(wire::Reply), sizeof(st));
        return st;
    }
};
Control *control = nullptr;
wire::Stats baseline;

// The process's fds less its pipes: libFuzzer keeps a pipe to the symbolizer from the first
// function it names on; no fd of the daemon's is a pipe.
uint64_t fds_not_pipes()
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        finding("cannot read /proc/self/fd", errno);
    uint64_t n = 0;
    while (dirent *e = readdir(d)) {
        char link[64];
        ssize_t len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
        n += e->d_name[0] != '.' && !(len >= 5 && std::memcmp(link, "pipe:", 5) == 0);
    }
    closedir(d);
    return n - 1; // less the one reading it
}

bool settled(const wire::Stats &st)
{
    return st.files == 0 && st.channels == 0 && st.dbcs_in_use == 0 && st.bo_bytes == 0 &&
           st.fds == baseline.fds && st.threads == baseline.threads;
}

wire::Stats stats()
{
    wire::Stats st = control->stats();
    st.fds = fds_not_pipes();
    return st;
}

// Waits for the daemon to be back where it was (it reaps channels and releases files on its
// own threads, after the closes).
void check_settled()
{
    auto deadline = Clock::now() + kSettle;
    wire::Stats st;
    while (!settled(st = stats())) {
        if (Clock::now() > deadline) {
            std::fprintf(
                stderr,
                "wire_fuzz: files %u channels %u dbcs %u bo_bytes %llu fds %llu (was %llu) "
                "threads %llu (was %llu)\n",
                st.files, st.channels, st.dbcs_in_use, (unsigned long long)st.bo_bytes,
                (unsigned long long)st.fds, (unsigned long long)baseline.fds,
                (unsigned long long)st.threads, (unsigned long long)baseline.threads);
            finding("the daemon kept what a finished input's clients held", 0);
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

void stop_daemon()
{
    delete control;
    control = nullptr;
    delete daemon_;
    daemon_ = nullptr;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    daemon_ = new Daemon;
    control = new Control;
    // The card's threads start at its first open: open it once before the baseline is taken.
    int s = connect_card();
    wire::Hello h{{wire::kMagic, uint32_t(wire::Op::kOpen)},
                  wire::kVersion,
                  0,
                  uint64_t(uintptr_t(&probe_word)),
                  probe_word};
    wire::Welcome w{};
    if (s < 0 || !wire::send_message(s, &h, sizeof(h)) ||
        await(s, &w, sizeof(w), nullptr, 5000) != ssize_t(sizeof(w)) || w.ret != 0)
        finding("the card cannot be opened", w.ret);
    close(s);
    auto deadline = Clock::now() + kSettle;
    while (control->stats().files != 0)
        if (Clock::now() > deadline)
            finding("the first open's file was never released", 0);
    std::atexit(stop_daemon);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    // The baseline is taken at the first input: libFuzzer starts its own threads after
    // LLVMFuzzerInitialize.
    static bool first = true;
    if (std::exchange(first, false))
        baseline = stats();
    Input in{data, size};
    State s;
    for (unsigned i = 0; i < kMaxOps && in.n; ++i)
        op(s, in);
    for (Conn &c : s.conns) {
        for (Channel &ch : c.chans)
            close_channel(ch);
        if (c.sock >= 0)
            close(c.sock);
    }
    close_fds(s.extra_fds);
    check_settled();
    return 0;
}
