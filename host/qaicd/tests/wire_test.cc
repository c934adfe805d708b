// SPDX-License-Identifier: GPL-2.0-only
// A hostile wire: clients that speak host/wire.h wrongly are dropped with a log line, while the
// daemon and a client opened before go on, and the daemon's counts come back to where they were.
#include "qaicd_test.h"

#include <atomic>
#include <fcntl.h>
#include <random>
#include <sys/wait.h>
#include <drm.h>
#include <sys/mman.h>
#include <sys/stat.h>

namespace {

using namespace qaicd_test;

class QaicdWire : public Qaicd {
protected:
    void SetUp() override
    {
        Qaicd::SetUp();
        other = open_file();
        ASSERT_GE(other, 0) << std::strerror(errno);
        ASSERT_EQ(create_bo(other, kPage, &other_bo), 0);
        start = steady_counts(1, 1);
        log_start = log_size();
    }
    void TearDown() override
    {
        if (other >= 0) {
            EXPECT_EQ(qaic_close(other), 0);
        }
        Qaicd::TearDown();
    }

    // What qaicd logged since the test began holds why.
    void expect_logged(const std::string &why)
    {
        EXPECT_NE(log_since(log_start).find(why), std::string::npos)
            << "no \"" << why << "\" in qaicd's log since the test began:\n"
            << log_since(log_start);
    }

    // After the test's own sockets closed: the client opened before still works, and nothing
    // of the bad client is left in the daemon.
    void expect_undisturbed()
    {
        uint32_t h;
        EXPECT_EQ(mmap_offset(other, other_bo, nullptr), 0);
        EXPECT_EQ(create_bo(other, kPage, &h), 0);
        EXPECT_EQ(gem_close(other, h), 0);
        EXPECT_TRUE(counts_return_to(start));
    }

    // A raw, opened file and one channel of it.
    void open_raw()
    {
        sock = raw_open(path);
        ASSERT_GE(sock, 0);
        ch = raw_attach(sock);
        ASSERT_GE(ch, 0);
    }
    void close_raw()
    {
        for (int *fd : {&ch, &sock}) {
            if (*fd >= 0)
                ::close(*fd);
            *fd = -1;
        }
    }

    int other = -1;
    uint32_t other_bo = 0;
    HostStats start{};
    size_t log_start = 0;
    int sock = -1, ch = -1;
};

TEST_F(QaicdWire, GarbageIsDropped)
{
    int s = raw_connect(path);
    ASSERT_GE(s, 0);
    const char junk[] = "GET / HTTP/1.1\r\nHost: qaic\r\n\r\n";
    ASSERT_TRUE(send_raw(s, junk, sizeof(junk)));
    EXPECT_TRUE(dropped(s));
    ::close(s);
    expect_logged("dropped a client: malformed frame");
    expect_undisturbed();
}

TEST_F(QaicdWire, WrongMagicIsDropped)
{
    int s = raw_connect(path);
    ASSERT_GE(s, 0);
    wire::Hello h = hello(wire::Op::kOpen);
    h.hdr.magic = ~wire::kMagic;
    ASSERT_TRUE(send_raw(s, &h, sizeof(h)));
    EXPECT_TRUE(dropped(s));
    ::close(s);
    expect_logged("dropped a client: malformed frame");
    expect_undisturbed();
}

TEST_F(QaicdWire, TruncatedHelloIsDropped)
{
    int s = raw_connect(path);
    ASSERT_GE(s, 0);
    wire::Hello h = hello(wire::Op::kOpen);
    ASSERT_TRUE(send_raw(s, &h, sizeof(h) - 1));
    EXPECT_TRUE(dropped(s));
    ::close(s);
    expect_logged("dropped a client: malformed frame");
    expect_undisturbed();
}

// Longer than any message: the daemon reads at most kMaxMessage bytes and sees the rest cut.
TEST_F(QaicdWire, OversizedFrameIsDropped)
{
    int s = raw_connect(path);
    ASSERT_GE(s, 0);
    std::vector<unsigned char> big(wire::kMaxMessage + 1);
    wire::Hello h = hello(wire::Op::kOpen);
    std::memcpy(big.data(), &h, sizeof(h));
    ASSERT_TRUE(send_raw(s, big.data(), big.size()));
    EXPECT_TRUE(dropped(s));
    ::close(s);
    expect_logged("dropped a client: malformed frame");
    expect_undisturbed();
}

TEST_F(QaicdWire, FdWithTheOpenIsDropped)
{
    int s = raw_connect(path);
    ASSERT_GE(s, 0);
    wire::Hello h = hello(wire::Op::kOpen);
    ASSERT_TRUE(send_raw(s, &h, sizeof(h), STDOUT_FILENO));
    EXPECT_TRUE(dropped(s));
    ::close(s);
    expect_logged("dropped a client: expected an open");
    expect_undisturbed();
}

TEST_F(QaicdWire, AttachBeforeOpenIsDropped)
{
    int s = raw_connect(path);
    ASSERT_GE(s, 0);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    wire::Hello h = hello(wire::Op::kAttach);
    ASSERT_TRUE(send_raw(s, &h, sizeof(h), sv[1]));
    ::close(sv[1]);
    EXPECT_TRUE(dropped(s));
    EXPECT_TRUE(dropped(sv[0])) << "the channel qaicd was given lives on";
    ::close(sv[0]);
    ::close(s);
    expect_logged("dropped a client: expected an open");
    expect_undisturbed();
}

TEST_F(QaicdWire, AttachOfAPipeIsDropped)
{
    int s = raw_open(path);
    ASSERT_GE(s, 0);
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    wire::Hello h = hello(wire::Op::kAttach);
    ASSERT_TRUE(send_raw(s, &h, sizeof(h), p[0]));
    ::close(p[0]);
    EXPECT_TRUE(dropped(s));
    // Its read end went with the file: the write end sees no reader any more.
    pollfd pf{p[1], 0, 0};
    EXPECT_EQ(poll(&pf, 1, kBoundMs), 1);
    EXPECT_TRUE(pf.revents & POLLERR);
    ::close(p[1]);
    ::close(s);
    expect_logged("dropped a client: a channel that is not a socketpair the sender made");
    expect_undisturbed();
}

TEST_F(QaicdWire, OtherVersionIsRefusedAndDropped)
{
    int s = raw_connect(path);
    ASSERT_GE(s, 0);
    wire::Hello h = hello(wire::Op::kOpen);
    h.version = wire::kVersion + 1;
    ASSERT_TRUE(send_raw(s, &h, sizeof(h)));
    wire::Welcome w{};
    ASSERT_EQ(recv_raw(s, &w, sizeof(w)), ssize_t(sizeof(w)));
    EXPECT_EQ(w.ret, -EPROTO);
    EXPECT_TRUE(dropped(s));
    ::close(s);
    expect_logged("dropped a client: protocol version mismatch");
    expect_undisturbed();
}

// A probe word that does not hold what the hello says: the daemon cannot be sure it reads
// this process's memory, so it refuses (EACCES, with why) and lets the client ask again.
TEST_F(QaicdWire, WrongProbeIsRefused)
{
    int s = raw_connect(path);
    ASSERT_GE(s, 0);
    wire::Hello h = hello(wire::Op::kOpen);
    h.probe_value ^= 1;
    ASSERT_TRUE(send_raw(s, &h, sizeof(h)));
    wire::Welcome w{};
    ASSERT_EQ(recv_raw(s, &w, sizeof(w)), ssize_t(sizeof(w)));
    EXPECT_EQ(w.ret, -EACCES);
    std::string why(w.reason, strnlen(w.reason, sizeof(w.reason)));
    EXPECT_NE(why.find("holds"), std::string::npos) << why;
    EXPECT_EQ(why.find("ptrace"), std::string::npos) << "the daemon could read it: " << why;
    h = hello(wire::Op::kOpen);
    ASSERT_TRUE(send_raw(s, &h, sizeof(h)));
    ASSERT_EQ(recv_raw(s, &w, sizeof(w)), ssize_t(sizeof(w)));
    EXPECT_EQ(w.ret, 0);
    // A channel's probe is checked too.
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    h = hello(wire::Op::kAttach);
    h.probe_addr = 8; // unmapped
    ASSERT_TRUE(send_raw(s, &h, sizeof(h), sv[1]));
    ::close(sv[1]);
    ASSERT_EQ(recv_raw(sv[0], &w, sizeof(w)), ssize_t(sizeof(w)));
    EXPECT_EQ(w.ret, -EACCES);
    why.assign(w.reason, strnlen(w.reason, sizeof(w.reason)));
    EXPECT_NE(why.find("cannot read the memory of pid " + std::to_string(getpid()) + " at 0x8"),
              std::string::npos) << why;
    EXPECT_EQ(why.find("ptrace"), std::string::npos) << why;
    EXPECT_TRUE(dropped(sv[0]));
    ::close(sv[0]);
    ::close(s);
    expect_undisturbed();
}

// A second kOpen on a file that is open already: only kAttach may follow.
// The client asks once more after naming the daemon with PR_SET_PTRACER; a connection whose
// probes keep failing is someone making the daemon read memory for nothing: after the third,
// it is dropped, whether the probes came with opens or with channels.
TEST_F(QaicdWire, RepeatedFailedProbesDropTheConnection)
{
    for (bool channels : {false, true}) {
        SCOPED_TRACE(channels ? "channels" : "opens");
        int s = channels ? raw_open(path) : raw_connect(path);
        ASSERT_GE(s, 0);
        for (int i = 0; i < 3; ++i) {
            wire::Hello h = hello(channels ? wire::Op::kAttach : wire::Op::kOpen);
            h.probe_value ^= 1;
            int sv[2] = {-1, -1};
            if (channels) {
                ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
            }
            ASSERT_TRUE(send_raw(s, &h, sizeof(h), sv[1]));
            if (channels)
                ::close(sv[1]);
            wire::Welcome w{};
            ASSERT_EQ(recv_raw(channels ? sv[0] : s, &w, sizeof(w)), ssize_t(sizeof(w))) << i;
            EXPECT_EQ(w.ret, -EACCES) << i;
            if (sv[0] >= 0)
                ::close(sv[0]);
        }
        EXPECT_TRUE(dropped(s));
        ::close(s);
    }
    expect_logged("dropped a client: too many failed probes");
    expect_undisturbed();
}

TEST_F(QaicdWire, SecondOpenIsDropped)
{
    int s = raw_open(path);
    ASSERT_GE(s, 0);
    wire::Hello h = hello(wire::Op::kOpen);
    ASSERT_TRUE(send_raw(s, &h, sizeof(h)));
    EXPECT_TRUE(dropped(s));
    ::close(s);
    expect_logged("dropped a client: expected a channel");
    expect_undisturbed();
}

TEST_F(QaicdWire, RequestOfTheWrongSizeDropsTheChannel)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    unsigned char buf[sizeof(wire::IoctlReq) + 8] = {};
    wire::IoctlReq req{{wire::kMagic, uint32_t(wire::Op::kIoctl)}, DRM_IOCTL_QAIC_CREATE_BO, 0};
    std::memcpy(buf, &req, sizeof(req));
    ASSERT_TRUE(send_raw(ch, buf, sizeof(buf)));
    EXPECT_TRUE(dropped(ch));
    expect_logged("bad request (op 3, " + std::to_string(sizeof(buf)) + " bytes)");
    // The file is not the channel: another channel of it still works.
    int ch2 = raw_attach(sock);
    EXPECT_GE(ch2, 0);
    ::close(ch2);
    close_raw();
    expect_undisturbed();
}

// The argument bytes that travel with an ioctl must be the size its cmd encodes.
TEST_F(QaicdWire, InlineArgumentOfTheWrongSizeDropsTheChannel)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    unsigned char buf[sizeof(wire::IoctlReq) + 8] = {};
    wire::IoctlReq req{{wire::kMagic, uint32_t(wire::Op::kIoctl)}, DRM_IOCTL_QAIC_CREATE_BO, 0};
    req.arg_len = 8;
    static_assert(_IOC_SIZE(DRM_IOCTL_QAIC_CREATE_BO) != 8);
    std::memcpy(buf, &req, sizeof(req));
    ASSERT_TRUE(send_raw(ch, buf, sizeof(buf)));
    EXPECT_TRUE(dropped(ch));
    expect_logged("bad request (op 3, " + std::to_string(sizeof(buf)) + " bytes)");
    close_raw();
    expect_undisturbed();
}

// An inline argument may be as large as a frame allows, but never past kMaxInlineArg: the
// daemon's buffers for it are that big (a 224-byte one once overflowed its stack).
TEST_F(QaicdWire, InlineArgumentOverTheLimitDropsTheChannel)
{
    for (uint32_t size : {wire::kMaxInlineArg + 1, 224u}) {
        ASSERT_NO_FATAL_FAILURE(open_raw());
        unsigned char buf[wire::kMaxMessage] = {};
        wire::IoctlReq req{{wire::kMagic, uint32_t(wire::Op::kIoctl)},
                           _IOC(_IOC_READ | _IOC_WRITE, 'd', 0x40, size), 0};
        req.arg_len = size;
        ASSERT_LE(sizeof(req) + size, sizeof(buf));
        std::memcpy(buf, &req, sizeof(req));
        std::memset(buf + sizeof(req), 0x41, size);
        ASSERT_TRUE(send_raw(ch, buf, sizeof(req) + size));
        EXPECT_TRUE(dropped(ch)) << size;
        expect_logged("bad request (op 3, " + std::to_string(sizeof(req) + size) + " bytes)");
        close_raw();
    }
    expect_undisturbed();
}

// A client that never reads its channel cannot hold up the daemon: the refusal of a channel
// whose socket is full is not waited for, and another client's open is answered.
TEST_F(QaicdWire, RefusedChannelWithAFullSocketHoldsUpNobody)
{
    int s = raw_open(path);
    ASSERT_GE(s, 0);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    // Fill what the daemon's end would send into (sv[0]'s receive queue).
    ASSERT_EQ(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    char junk[4096] = {};
    while (::send(sv[1], junk, sizeof(junk), MSG_NOSIGNAL) > 0) {
    }
    ASSERT_EQ(fcntl(sv[1], F_SETFL, 0), 0);
    wire::Hello h = hello(wire::Op::kAttach);
    h.probe_value ^= 1; // refused: the daemon must answer it
    ASSERT_TRUE(send_raw(s, &h, sizeof(h), sv[1]));
    // Another client's open, answered within the bound (recv_raw's poll) or not at all.
    int other_sock = raw_connect(path);
    ASSERT_GE(other_sock, 0);
    wire::Hello open = hello(wire::Op::kOpen);
    ASSERT_TRUE(send_raw(other_sock, &open, sizeof(open)));
    wire::Welcome w{};
    EXPECT_EQ(recv_raw(other_sock, &w, sizeof(w)), ssize_t(sizeof(w)))
        << "another client's open was not answered";
    EXPECT_EQ(w.ret, 0);
    ::close(other_sock);
    ::close(sv[0]);
    ::close(sv[1]);
    ::close(s);
    expect_undisturbed();
}

// A channel must be a socketpair its sender made: a connection to a listening socket (here
// the daemon's own) would have the probe read the process behind it.
TEST_F(QaicdWire, ConnectionToAServiceAsAChannelIsDropped)
{
    int s = raw_open(path);
    ASSERT_GE(s, 0);
    int conn = raw_connect(path);
    ASSERT_GE(conn, 0);
    wire::Hello h = hello(wire::Op::kAttach);
    ASSERT_TRUE(send_raw(s, &h, sizeof(h), conn));
    EXPECT_TRUE(dropped(s));
    expect_logged("a channel that is not a socketpair the sender made");
    ::close(conn);
    ::close(s);
    expect_undisturbed();
}

TEST_F(QaicdWire, UnknownOpDropsTheChannel)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    wire::SimReq req = sim_req(wire::Op(1000));
    ASSERT_TRUE(send_raw(ch, &req, sizeof(req)));
    EXPECT_TRUE(dropped(ch));
    expect_logged("bad request (op 1000");
    close_raw();
    expect_undisturbed();
}

// kOpen and kAttach belong on the file socket, not on a channel.
TEST_F(QaicdWire, HelloOnAChannelDropsIt)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    wire::Hello h = hello(wire::Op::kOpen);
    ASSERT_TRUE(send_raw(ch, &h, sizeof(h)));
    EXPECT_TRUE(dropped(ch));
    expect_logged("bad request (op 1");
    close_raw();
    expect_undisturbed();
}

TEST_F(QaicdWire, FdWithARequestDropsTheChannel)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    wire::SimReq req = sim_req(wire::Op::kSimNumDbc);
    ASSERT_TRUE(send_raw(ch, &req, sizeof(req), STDOUT_FILENO));
    EXPECT_TRUE(dropped(ch));
    expect_logged("dropped a channel of pid");
    expect_logged("malformed frame");
    close_raw();
    expect_undisturbed();
}

// A kIoctl of PRIME_FD_TO_HANDLE on a raw channel, with `fds` in SCM_RIGHTS and `number` as
// the caller's number of the first; the reply (its ret), the handle in *handle.
struct PrimeCall {
    wire::IoctlReq req;
    drm_prime_handle arg;
};

bool send_prime(int ch, drm_prime_handle *arg, int number, std::initializer_list<int> fds)
{
    PrimeCall c{};
    c.req = {{wire::kMagic, uint32_t(wire::Op::kIoctl)}, DRM_IOCTL_PRIME_FD_TO_HANDLE,
             uint64_t(uintptr_t(arg)), sizeof(*arg), number};
    c.arg = *arg;
    union {
        cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 2)];
    } control;
    constexpr size_t kLen = sizeof(c.req) + sizeof(c.arg); // without the struct's padding
    iovec iov{&c, kLen};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (fds.size()) {
        m.msg_control = control.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(cm), fds.begin(), sizeof(int) * fds.size());
    }
    return ::sendmsg(ch, &m, MSG_NOSIGNAL) == ssize_t(kLen);
}

int64_t prime_reply(int ch, uint32_t *handle)
{
    struct {
        wire::Reply rep;
        drm_prime_handle arg;
    } r{};
    ssize_t n = recv_raw(ch, &r, sizeof(r));
    if (n < ssize_t(sizeof(r.rep)))
        return INT64_MIN;
    if (n == ssize_t(sizeof(r.rep) + sizeof(r.arg)))
        *handle = r.arg.handle;
    return r.rep.ret;
}

// The dma-buf of other's BO, an fd of ours.
int export_other(int other, uint32_t bo)
{
    drm_prime_handle p{};
    p.handle = bo;
    p.flags = DRM_CLOEXEC;
    return qaic_ioctl(other, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p) == 0 ? p.fd : -1;
}

// The fd that comes with a call is the one its number names, and only that number reaches it.
TEST_F(QaicdWire, PrimeImportGetsOnlyTheFdThatCameUnderItsNumber)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    uint32_t bo;
    ASSERT_EQ(create_bo(other, kPage, &bo), 0);
    int buf = export_other(other, bo);
    ASSERT_GE(buf, 0) << std::strerror(errno);
    drm_prime_handle arg{};
    arg.fd = buf;
    uint32_t handle = 0;
    ASSERT_TRUE(send_prime(ch, &arg, buf + 1, {buf})); // the call names another number
    EXPECT_EQ(prime_reply(ch, &handle), -EBADF);
    ASSERT_TRUE(send_prime(ch, &arg, buf, {}));        // the number, but no fd with it
    EXPECT_EQ(prime_reply(ch, &handle), -EBADF);
    ASSERT_TRUE(send_prime(ch, &arg, buf, {buf}));
    EXPECT_EQ(prime_reply(ch, &handle), 0);
    EXPECT_NE(handle, 0u);
    ::close(buf);
    EXPECT_EQ(gem_close(other, bo), 0);
    close_raw();
    expect_undisturbed();
}

// An fd that comes with an ioctl that takes none is closed unused; the channel goes on.
TEST_F(QaicdWire, FdWithAnotherIoctlIsClosedUnused)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    struct {
        wire::IoctlReq req;
        drm_gem_close arg;
    } c{};
    c.req = {{wire::kMagic, uint32_t(wire::Op::kIoctl)}, DRM_IOCTL_GEM_CLOSE,
             uint64_t(uintptr_t(&c.arg)), sizeof(c.arg), p[0]};
    c.arg.handle = 12345;
    ASSERT_TRUE(send_raw(ch, &c, sizeof(c), p[0]));
    wire::Reply rep{};
    ASSERT_GE(recv_raw(ch, &rep, sizeof(rep)), ssize_t(sizeof(rep)));
    EXPECT_EQ(rep.ret, -EINVAL);
    ::close(p[0]);
    // The daemon's copy of the read end is gone: our write end sees no reader.
    pollfd pf{p[1], 0, 0};
    EXPECT_EQ(poll(&pf, 1, kBoundMs), 1);
    EXPECT_TRUE(pf.revents & POLLERR);
    ::close(p[1]);
    close_raw();
    expect_undisturbed();
}

TEST_F(QaicdWire, TwoFdsWithAnIoctlDropTheChannel)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    uint32_t bo;
    ASSERT_EQ(create_bo(other, kPage, &bo), 0);
    int buf = export_other(other, bo);
    ASSERT_GE(buf, 0) << std::strerror(errno);
    drm_prime_handle arg{};
    arg.fd = buf;
    ASSERT_TRUE(send_prime(ch, &arg, buf, {buf, buf}));
    EXPECT_TRUE(dropped(ch));
    expect_logged("malformed frame");
    ::close(buf);
    EXPECT_EQ(gem_close(other, bo), 0);
    close_raw();
    expect_undisturbed();
}

// A client that dies holding the only fd of a dma-buf (its file closed with it) leaves
// nothing: the BO goes with the dma-buf's last fd.
TEST_F(QaicdWire, DmaBufOfADeadClientIsReleased)
{
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int fd = qaic_open(path.c_str());
        uint32_t h = 0;
        bool ok = fd >= 0 && create_bo(fd, 1 << 20, &h) == 0;
        drm_prime_handle p{};
        p.handle = h;
        ok = ok && qaic_ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p) == 0 && gem_close(fd, h) == 0;
        _exit(ok ? 0 : 1); // neither the file nor the dma-buf closed
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    expect_undisturbed();
}

// A channel names the memory qaicd reads: another process (here a forked child, which has
// the same addresses) may not call through it.
TEST_F(QaicdWire, ChannelUsedByAnotherProcessIsDropped)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    qaic_create_bo c{};
    c.size = kPage;
    wire::IoctlReq req{{wire::kMagic, uint32_t(wire::Op::kIoctl)}, DRM_IOCTL_QAIC_CREATE_BO,
                       uint64_t(uintptr_t(&c))};
    pid_t child = spawn([&] { return send_raw(ch, &req, sizeof(req)) ? 0 : 1; });
    ASSERT_GT(child, 0);
    EXPECT_EQ(reap(child), 0);
    EXPECT_TRUE(dropped(ch));
    expect_logged("a call from pid " + std::to_string(child));
    EXPECT_EQ(c.handle, 0u) << "the call was served";
    close_raw();
    expect_undisturbed();
}

// A client that asks and hangs up before the answer: what the call made is released with
// the file, and the daemon does not die of writing to a closed socket.
TEST_F(QaicdWire, RequestThenCloseWithoutReading)
{
    for (int i = 0; i < 50; ++i) {
        ASSERT_NO_FATAL_FAILURE(open_raw());
        static qaic_create_bo c;
        c = {};
        c.size = 1 << 20;
        wire::IoctlReq req{{wire::kMagic, uint32_t(wire::Op::kIoctl)}, DRM_IOCTL_QAIC_CREATE_BO,
                           uint64_t(uintptr_t(&c))};
        ASSERT_TRUE(send_raw(ch, &req, sizeof(req)));
        close_raw();
    }
    expect_undisturbed();
}

// qaicd --profile: each card answers kSimPciId with its profile's ids, to any client (no
// --test-control needed), through libqaic and raw on the wire alike.
TEST_F(QaicdWire, PciIdIsTheCardsProfile)
{
    std::string dir2 = dir + "/profiles";
    ASSERT_EQ(mkdir(dir2.c_str(), 0700), 0);
    {
        Daemon d2;
        ASSERT_TRUE(d2.start(dir2, log, {"--cards", "3", "--profile", "aic200,aic080"}));
        const int want[] = {0x17cba110, 0x17cba080, 0x17cba080};
        for (int n = 0; n < 3; ++n) {
            SCOPED_TRACE(n);
            std::string path = dir2 + "/accel" + std::to_string(n);
            int fd = qaic_open(path.c_str());
            ASSERT_GE(fd, 0) << std::strerror(errno);
            EXPECT_EQ(qaic_sim_pci_id(fd), want[n]);
            EXPECT_EQ(qaic_sim_num_dbc(fd), CONFIG_QAIC_SIM_NUM_DBC);
            EXPECT_EQ(qaic_close(fd), 0);
            int ctl = raw_open(path);
            ASSERT_GE(ctl, 0);
            int slot = -1;
            int c = raw_attach_with_slot(ctl, &slot);
            ASSERT_GE(c, 0);
            if (slot >= 0)
                ::close(slot); // the call goes as a message on the channel's socket
            wire::SimReq req = sim_req(wire::Op::kSimPciId);
            ASSERT_TRUE(send_raw(c, &req, sizeof(req)));
            alignas(8) unsigned char buf[wire::kMaxMessage];
            ASSERT_EQ(recv_raw(c, buf, sizeof(buf)), ssize_t(sizeof(wire::Reply)));
            wire::Reply r;
            std::memcpy(&r, buf, sizeof(r));
            EXPECT_EQ(r.ret, 0);
            EXPECT_EQ(r.value, uint64_t(want[n]));
            ::close(c);
            ::close(ctl);
        }
        EXPECT_TRUE(d2.stop());
    }
    for (int n = 0; n < 3; ++n)
        ::unlink((dir2 + "/accel" + std::to_string(n)).c_str());
    ::rmdir(dir2.c_str());
    expect_undisturbed();
}

// Requests queued on one channel before any answer is read are answered, in order.
TEST_F(QaicdWire, QueuedRequestsAreAnsweredInOrder)
{
    ASSERT_NO_FATAL_FAILURE(open_raw());
    wire::SimReq bad = sim_req(wire::Op::kSimDbcStatus, 1000); // no such DBC: EINVAL
    wire::SimReq num = sim_req(wire::Op::kSimNumDbc);
    for (int i = 0; i < 8; ++i)
        ASSERT_TRUE(send_raw(ch, i % 2 ? &num : &bad, sizeof(bad)));
    for (int i = 0; i < 8; ++i) {
        SCOPED_TRACE(i);
        alignas(8) unsigned char buf[wire::kMaxMessage];
        ASSERT_EQ(recv_raw(ch, buf, sizeof(buf)), ssize_t(sizeof(wire::Reply)));
        wire::Reply r;
        std::memcpy(&r, buf, sizeof(r));
        if (i % 2) {
            EXPECT_EQ(r.ret, 0);
            EXPECT_EQ(r.value, uint64_t(qaic_sim_num_dbc(other)));
        } else {
            EXPECT_EQ(r.ret, -EINVAL);
        }
    }
    EXPECT_EQ(log_since(log_start).find("dropped"), std::string::npos);
    close_raw();
    expect_undisturbed();
}

// ---------------------------------------------------------------------------- the slot

// A raw channel whose slot (wire::Slot) is mapped here as libqaic maps it: what a client that
// writes anything into its slot can make of the daemon.
class QaicdSlot : public QaicdWire {
protected:
    void TearDown() override
    {
        unmap_slot();
        QaicdWire::TearDown();
    }

    void open_slot()
    {
        sock = raw_open(path);
        ASSERT_GE(sock, 0);
        ch = raw_attach_with_slot(sock, &slot_fd);
        ASSERT_GE(ch, 0);
        ASSERT_GE(slot_fd, 0) << "no slot came with the channel";
        void *p = mmap(nullptr, wire::kSlotSize, PROT_READ | PROT_WRITE, MAP_SHARED, slot_fd, 0);
        ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
        slot = static_cast<wire::Slot *>(p);
    }
    void unmap_slot()
    {
        if (slot)
            munmap(slot, wire::kSlotSize);
        if (slot_fd >= 0)
            ::close(slot_fd);
        slot = nullptr;
        slot_fd = -1;
    }

    // Writes call into the slot as request number seq, and wakes the daemon if it sleeps.
    void post(const wire::Slot::Call &call, uint32_t seq)
    {
        wire::copy_to_slot(&slot->call, call);
        wire::word(slot->req_seq).store(seq);
        if (wire::word(slot->daemon_sleeping).load()) {
            wire::Header wake{wire::kMagic, uint32_t(wire::Op::kWake)};
            send_raw(ch, &wake, sizeof(wake));
        }
    }
    // Waits (bounded) for the answer to request seq, into *a.
    testing::AssertionResult answer(uint32_t seq, wire::Slot::Answer *a)
    {
        auto deadline = Clock::now() + std::chrono::milliseconds(kBoundMs);
        while (wire::word(slot->rsp_seq).load() != seq) {
            if (Clock::now() > deadline)
                return testing::AssertionFailure() << "no answer to request " << seq;
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        wire::copy_from_slot(a, slot->answer);
        return testing::AssertionSuccess();
    }

    static wire::Slot::Call ioctl_call(uint64_t cmd, const void *arg, uint32_t arg_len)
    {
        wire::Slot::Call call{};
        call.req = {{wire::kMagic, uint32_t(wire::Op::kIoctl)}, cmd, uint64_t(uintptr_t(arg)), arg_len, 0};
        if (arg)
            std::memcpy(call.arg, arg, std::min<size_t>(arg_len, sizeof(call.arg)));
        return call;
    }

    int slot_fd = -1;
    wire::Slot *slot = nullptr;
};

// The client cannot shrink the page under the daemon's mapping (which would make the daemon's
// next look at it a SIGBUS), nor grow it, nor lift the seals.
TEST_F(QaicdSlot, ComesSealedAtItsSize)
{
    ASSERT_NO_FATAL_FAILURE(open_slot());
    struct stat st;
    ASSERT_EQ(fstat(slot_fd, &st), 0);
    EXPECT_EQ(st.st_size, off_t(wire::kSlotSize));
    int seals = fcntl(slot_fd, F_GET_SEALS);
    EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    EXPECT_EQ(ftruncate(slot_fd, 0), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(ftruncate(slot_fd, 2 * wire::kSlotSize), -1);
    EXPECT_EQ(errno, EPERM);
    close_raw();
    expect_undisturbed();
}

// Calls go through the slot one after another, each answered with its own number, its errno
// and the argument struct as the driver left it.
TEST_F(QaicdSlot, CallsGoThroughIt)
{
    ASSERT_NO_FATAL_FAILURE(open_slot());
    qaic_create_bo c{};
    c.size = kPage;
    ASSERT_NO_FATAL_FAILURE(post(ioctl_call(DRM_IOCTL_QAIC_CREATE_BO, &c, sizeof(c)), 1));
    wire::Slot::Answer a;
    ASSERT_TRUE(answer(1, &a));
    EXPECT_EQ(a.rep.ret, 0);
    ASSERT_EQ(a.rep.value, sizeof(c));
    std::memcpy(&c, a.out, sizeof(c));
    EXPECT_NE(c.handle, 0u);
    // An argument struct that could not be read comes with no bytes: the driver reads the
    // client's memory itself, and finds nothing there.
    ASSERT_NO_FATAL_FAILURE(post(ioctl_call(DRM_IOCTL_QAIC_CREATE_BO, nullptr, 0), 2));
    ASSERT_TRUE(answer(2, &a));
    EXPECT_EQ(a.rep.ret, -EFAULT);
    EXPECT_EQ(a.rep.value, 0u);
    EXPECT_EQ(log_since(log_start).find("dropped"), std::string::npos);
    close_raw();
    expect_undisturbed();
}

// What the daemon copies out of the slot is checked as a message on the socket is: a bad
// request there drops the channel with a log line, and nothing else.
TEST_F(QaicdSlot, BadRequestInItDropsTheChannel)
{
    qaic_create_bo c{};
    c.size = kPage;
    struct Case {
        const char *what;
        void (*spoil)(wire::Slot::Call &);
    } cases[] = {
        {"wrong magic", [](wire::Slot::Call &k) { k.req.hdr.magic ^= 1; }},
        {"not an ioctl", [](wire::Slot::Call &k) { k.req.hdr.op = uint32_t(wire::Op::kMmap); }},
        {"argument over the limit", [](wire::Slot::Call &k) { k.req.arg_len = wire::kMaxInlineArg + 1; }},
        {"argument of another size", [](wire::Slot::Call &k) { k.req.arg_len = 8; }},
        {"argument of 4 GiB", [](wire::Slot::Call &k) { k.req.arg_len = UINT32_MAX; }},
    };
    for (const Case &k : cases) {
        SCOPED_TRACE(k.what);
        ASSERT_NO_FATAL_FAILURE(open_slot());
        wire::Slot::Call call = ioctl_call(DRM_IOCTL_QAIC_CREATE_BO, &c, sizeof(c));
        k.spoil(call);
        ASSERT_NO_FATAL_FAILURE(post(call, 1));
        EXPECT_TRUE(dropped(ch));
        close_raw();
        unmap_slot();
    }
    expect_logged("bad request in its slot");
    expect_undisturbed();
}

// A client that writes whatever it likes into its slot, whenever it likes (the request while
// the daemon copies it, the numbers, the answer), harms nobody but itself: its calls are
// served or its channel is dropped, and the daemon and its other clients go on. Every pointer
// it writes is a kernel-half address, never mapped in this process: the calls cannot write
// into the test's own memory.
TEST_F(QaicdSlot, ScribblingOnItHarmsOnlyItsChannel)
{
    static const uint64_t cmds[] = {DRM_IOCTL_QAIC_CREATE_BO, DRM_IOCTL_QAIC_MMAP_BO,
                                    DRM_IOCTL_QAIC_EXECUTE_BO, DRM_IOCTL_QAIC_WAIT_BO,
                                    DRM_IOCTL_QAIC_MANAGE, DRM_IOCTL_QAIC_PERF_STATS_BO,
                                    DRM_IOCTL_GEM_CLOSE, DRM_IOCTL_QAIC_ATTACH_SLICE_BO};
    std::mt19937_64 rng(20261206);
    unsigned answered = 0, channels = 0;
    auto until = Clock::now() + std::chrono::milliseconds(300);
    while (Clock::now() < until) {
        ASSERT_NO_FATAL_FAILURE(open_slot());
        ++channels;
        std::atomic<bool> stop{false};
        // Another thread of the client writes random words into the request meanwhile.
        std::thread scribbler([&, seed = rng()] {
            std::mt19937_64 r(seed);
            auto *words = reinterpret_cast<uint64_t *>(&slot->call.arg);
            while (!stop.load())
                std::atomic_ref<uint64_t>(words[r() % (sizeof(slot->call.arg) / 8)])
                    .store(r() | (uint64_t(1) << 63), std::memory_order_relaxed);
        });
        for (uint32_t seq = 1; seq < 200; ++seq) {
            uint64_t cmd = cmds[rng() % std::size(cmds)];
            uint32_t len = rng() % 8 ? uint32_t(_IOC_SIZE(cmd)) : uint32_t(rng() % 256);
            wire::Slot::Call call{};
            call.req = {{wire::kMagic, uint32_t(wire::Op::kIoctl)}, cmd, rng() | (uint64_t(1) << 63), len, 0};
            for (auto &w : reinterpret_cast<uint64_t(&)[sizeof(call.arg) / 8]>(call.arg))
                w = rng() | (uint64_t(1) << 63);
            post(call, seq);
            // A number written out of turn now and then: the daemon takes any change as a
            // call, and answers with that number.
            uint32_t expect = seq;
            if (rng() % 16 == 0) {
                expect = uint32_t(rng()) | 0x80000000u; // never one of the loop's own
                wire::word(slot->req_seq).store(expect);
                if (wire::word(slot->daemon_sleeping).load()) {
                    wire::Header wake{wire::kMagic, uint32_t(wire::Op::kWake)};
                    send_raw(ch, &wake, sizeof(wake));
                }
            }
            pollfd p{ch, POLLIN, 0};
            auto deadline = Clock::now() + std::chrono::milliseconds(kBoundMs);
            while (wire::word(slot->rsp_seq).load() != expect && Clock::now() < deadline &&
                   !(poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR))))
                std::this_thread::yield();
            if (wire::word(slot->rsp_seq).load() != expect)
                break; // dropped: a new channel
            ++answered;
        }
        stop = true;
        scribbler.join();
        close_raw();
        unmap_slot();
    }
    EXPECT_GT(answered, 0u) << "over " << channels << " channels";
    expect_undisturbed();
}

// A slot written without pause (by the client, or by a process it lent the page to) does not
// keep its channel alive past the channel's end: once the client hangs up, the channel goes
// (its thread and its count), and a daemon told to stop meanwhile still stops.
TEST_F(QaicdSlot, ABusySlotDoesNotOutliveItsChannel)
{
    ASSERT_NO_FATAL_FAILURE(open_slot());
    std::atomic<bool> stop{false};
    std::atomic<unsigned> answered{0};
    std::thread writer([&] {
        drm_gem_close c{}; // handle 0: EINVAL, at once
        wire::Slot::Call call = ioctl_call(DRM_IOCTL_GEM_CLOSE, &c, sizeof(c));
        for (uint32_t seq = 1; !stop.load(); ++seq) {
            post(call, seq);
            answered += wire::word(slot->rsp_seq).load() != 0;
        }
    });
    auto deadline = Clock::now() + std::chrono::milliseconds(kBoundMs);
    while (answered.load() < 100 && Clock::now() < deadline)
        std::this_thread::yield();
    EXPECT_GE(answered.load(), 100u) << "the slot was not being served";
    ASSERT_EQ(shutdown(ch, SHUT_RDWR), 0); // the client hangs up; the page stays written
    ::close(sock);
    sock = -1;
    EXPECT_TRUE(counts_return_to(start)) << "the channel outlived its client";
    EXPECT_TRUE(daemon.stop()) << "qaicd did not stop with a busy slot; its log:\n" << read_file(log);
    stop = true;
    writer.join();
}

// A thread's first call makes its channel and maps its slot, but takes no fresh address space
// (libqaic reserved it at the open): an address just unmapped stays unmapped through the call,
// which fails with EFAULT, as with a device file.
TEST_F(QaicdSlot, AThreadsFirstCallMapsNothingNew)
{
    for (int i = 0; i < 20; ++i) {
        int err = 0;
        bool still_unmapped = false;
        std::thread t([&] {
            void *p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED || munmap(p, kPage) != 0)
                return;
            err = ioctl_err(other, DRM_IOCTL_QAIC_CREATE_BO, p);
            still_unmapped = msync(p, kPage, MS_ASYNC) == -1 && errno == ENOMEM;
        });
        t.join();
        EXPECT_EQ(err, -EFAULT) << i;
        EXPECT_TRUE(still_unmapped) << i;
    }
    expect_undisturbed();
}

// qaicd --socket-calls sends no slot: every call of the channel is a message on its socket.
TEST_F(QaicdSlot, NoneWithSocketCalls)
{
    std::string dir2 = dir + "/socket-calls";
    ASSERT_EQ(mkdir(dir2.c_str(), 0700), 0);
    std::string path2 = dir2 + "/accel0";
    {
        Daemon d2;
        ASSERT_TRUE(d2.start(dir2, log, {"--socket-calls"}));
        sock = raw_open(path2);
        ASSERT_GE(sock, 0);
        ch = raw_attach_with_slot(sock, &slot_fd);
        ASSERT_GE(ch, 0);
        EXPECT_EQ(slot_fd, -1);
        close_raw();
        int fd = qaic_open(path2.c_str());
        ASSERT_GE(fd, 0) << std::strerror(errno);
        uint32_t h;
        EXPECT_EQ(create_bo(fd, kPage, &h), 0);
        EXPECT_EQ(gem_close(fd, h), 0);
        EXPECT_EQ(qaic_close(fd), 0);
        EXPECT_TRUE(d2.stop());
    }
    ::unlink(path2.c_str());
    ::rmdir(dir2.c_str());
    expect_undisturbed();
}

} // namespace
