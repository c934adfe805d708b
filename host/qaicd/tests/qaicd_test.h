// SPDX-License-Identifier: GPL-2.0-only
// The fixture of qaicd's own tests: a private qaicd (the one built next to this binary) on a
// socket in a fresh folder, its log in a file the tests read, QAIC_DEVICE naming its socket,
// and helpers for what the tests do around it: the daemon's counts, forked clients, raw wire.
#pragma once

#include "host/wire.h"
#include "selftests/drivers/accel/qaic/datapath_helpers.h"

#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace qaicd_test {

using namespace dpt;

// Waits for qaicd's answers, exits and counts: only a broken daemon or test takes this long.
inline constexpr int kBoundMs = 20000;
inline constexpr uid_t kNobody = 65534;

// The qaicd of this build: bin/ next to tests/.
inline std::string qaicd_binary()
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return "qaicd";
    exe[n] = '\0';
    return std::string(dirname(exe)) + "/../bin/qaicd";
}

inline std::string read_file(const std::string &path)
{
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// The exit of child pid within ms: its exit status, 128 + signal when a signal ended it, or
// -1 when it was still running (it is killed then, and reaped).
inline int reap(pid_t pid, int ms = kBoundMs)
{
    auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0)
            return -1;
        if (Clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

// A forked process running body, whose int is its exit status. The child leaves with _exit:
// nothing of the test program's (gtest, static destructors) runs twice.
template <typename F> pid_t spawn(F body)
{
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        _exit(body());
    return pid;
}

// Drops every privilege to uid and gid kNobody, with groups as its supplementary groups.
inline bool become_nobody(const std::vector<gid_t> &groups)
{
    if (setgroups(groups.size(), groups.data()) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
        setresuid(kNobody, kNobody, kNobody) != 0)
        return false;
    // A changed uid makes the process undumpable; a kernel's ptrace rules, not that, should
    // decide who may read its memory.
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return true;
}

// Ints a child sends its parent, so that the parent's assertions name each value.
class Pipe {
public:
    Pipe()
    {
        if (pipe2(fds_, O_CLOEXEC) != 0)
            fds_[0] = fds_[1] = -1;
    }
    ~Pipe()
    {
        for (int fd : fds_)
            if (fd >= 0)
                ::close(fd);
    }
    Pipe(const Pipe &) = delete;
    Pipe &operator=(const Pipe &) = delete;

    void put(int64_t v) { (void)!::write(fds_[1], &v, sizeof(v)); }
    // The next value within ms; false at EOF or timeout. The parent closes its write end first.
    bool get(int64_t *v, int ms = kBoundMs)
    {
        close_write();
        pollfd p{fds_[0], POLLIN, 0};
        if (poll(&p, 1, ms) != 1)
            return false;
        return ::read(fds_[0], v, sizeof(*v)) == ssize_t(sizeof(*v));
    }
    int64_t get_or(int64_t dflt)
    {
        int64_t v;
        return get(&v) ? v : dflt;
    }
    void close_write()
    {
        if (fds_[1] >= 0)
            ::close(fds_[1]);
        fds_[1] = -1;
    }

private:
    int fds_[2];
};

// ---------------------------------------------------------------------------- the daemon

class Daemon {
public:
    ~Daemon() { kill(); }

    // Starts qaicd serving dir/accel0 (its stderr appended to log), as kNobody if asked, and
    // waits (bounded) until it serves.
    testing::AssertionResult start(const std::string &dir, const std::string &log,
                                   std::vector<std::string> args = {}, bool as_nobody = false)
    {
        size_t before = read_file(log).size();
        int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (logfd < 0)
            return testing::AssertionFailure() << log << ": " << std::strerror(errno);
        std::string bin = qaicd_binary();
        args.insert(args.begin(), {bin, "--dir", dir});
        std::vector<char *> argv;
        for (auto &a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_ = spawn([&] {
            if (dup2(logfd, STDERR_FILENO) < 0 || (as_nobody && !become_nobody({})))
                return 126;
            execv(bin.c_str(), argv.data());
            return 127;
        });
        ::close(logfd);
        if (pid_ < 0)
            return testing::AssertionFailure() << "fork: " << std::strerror(errno);
        // It logs that it serves once its sockets listen.
        auto deadline = Clock::now() + std::chrono::milliseconds(kBoundMs);
        while (read_file(log).find("qaicd: serving", before) == std::string::npos) {
            int status;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return testing::AssertionFailure() << bin << " exited (status " << status
                                                   << "); its log:\n" << read_file(log);
            }
            if (Clock::now() > deadline)
                return testing::AssertionFailure() << bin << " did not come up; its log:\n"
                                                   << read_file(log);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        return testing::AssertionSuccess();
    }

    // SIGTERM: qaicd must release everything and exit 0.
    testing::AssertionResult stop()
    {
        if (pid_ < 0)
            return testing::AssertionFailure() << "no qaicd running";
        ::kill(pid_, SIGTERM);
        int status = reap(pid_);
        pid_ = -1;
        if (status != 0)
            return testing::AssertionFailure() << "qaicd's exit after SIGTERM: " << status;
        return testing::AssertionSuccess();
    }

    // SIGKILL, as a crash.
    void kill()
    {
        if (pid_ < 0)
            return;
        ::kill(pid_, SIGKILL);
        reap(pid_);
        pid_ = -1;
    }

    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
};

// ---------------------------------------------------------------------------- counts

using HostStats = qaic_host_stats;

inline std::string describe(const HostStats &s)
{
    std::ostringstream o;
    o << "files " << s.files << ", channels " << s.channels << ", dbcs_in_use " << s.dbcs_in_use
      << ", bo_bytes " << s.bo_bytes << ", fds " << s.fds << ", threads " << s.threads;
    return o.str();
}

inline bool same_counts(const HostStats &a, const HostStats &b)
{
    return a.files == b.files && a.channels == b.channels && a.dbcs_in_use == b.dbcs_in_use &&
           a.bo_bytes == b.bo_bytes && a.fds == b.fds && a.threads == b.threads;
}

// ---------------------------------------------------------------------------- fixture

class Qaicd : public testing::Test {
protected:
    void SetUp() override
    {
        // A client must never die of SIGPIPE, whatever the daemon does: leave it deadly.
        signal(SIGPIPE, SIG_DFL);
        char tmpl[] = "/tmp/qaicd-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
        dir = tmpl;
        // Other users may reach the socket; its own mode decides whether they may connect.
        ASSERT_EQ(chmod(dir.c_str(), 0711), 0);
        path = dir + "/accel0";
        log = dir + "/qaicd.log";
        setenv("QAIC_DEVICE", path.c_str(), 1);
        ASSERT_TRUE(daemon.start(dir, log, {"--test-control"}));
        // The first open powers the card on and probes it (its threads, its fds): leak checks
        // count from a card that is up.
        int fd = open_file();
        ASSERT_GE(fd, 0) << std::strerror(errno);
        ASSERT_EQ(qaic_close(fd), 0);
    }

    void TearDown() override
    {
        if (daemon.pid() > 0) {
            EXPECT_TRUE(daemon.stop()) << "its log:\n" << read_file(log);
        }
        unsetenv("QAIC_DEVICE");
        ::unlink(path.c_str());
        ::unlink(log.c_str());
        ::rmdir(dir.c_str());
    }

    HostStats counts()
    {
        HostStats st{};
        EXPECT_EQ(qaic_host_get_stats(path.c_str(), &st), 0) << std::strerror(errno);
        return st;
    }

    // The counts once `files` files with `channels` channels are open and two readings in a
    // row agree (bounded): what a client that comes and goes must leave as it found it.
    HostStats steady_counts(unsigned files = 0, unsigned channels = 0)
    {
        auto deadline = Clock::now() + std::chrono::milliseconds(kBoundMs);
        HostStats prev{}, now{};
        while (Clock::now() < deadline) {
            now = counts();
            if (now.files == files && now.channels == channels && same_counts(now, prev))
                return now;
            prev = now;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        ADD_FAILURE() << "the counts did not settle at " << files << " files and " << channels
                      << " channels: " << describe(now);
        return now;
    }

    // Waits (bounded) until the daemon's counts are want's again: what a closed or dead
    // client held is released asynchronously, as a kernel's last fput is.
    testing::AssertionResult counts_return_to(const HostStats &want)
    {
        auto deadline = Clock::now() + std::chrono::milliseconds(kBoundMs);
        HostStats now{};
        while (Clock::now() < deadline) {
            if (qaic_host_get_stats(path.c_str(), &now) != 0)
                return testing::AssertionFailure()
                       << "qaic_host_get_stats: " << std::strerror(errno);
            if (same_counts(now, want))
                return testing::AssertionSuccess();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return testing::AssertionFailure() << "counts " << describe(now) << "; at the start "
                                           << describe(want);
    }

    // The log from byte `from` on.
    std::string log_since(size_t from)
    {
        std::string all = read_file(log);
        return all.substr(std::min(from, all.size()));
    }
    size_t log_size() { return read_file(log).size(); }

    // The next file this process opens on the daemon.
    int open_file() { return qaic_open(path.c_str()); }

    std::string dir, path, log;
    Daemon daemon;
};

// ---------------------------------------------------------------------------- raw wire

// The word qaicd's probe reads in this process (forked children have it at the same place).
inline uint64_t g_probe_word = 0x7161696374657374ull;

inline wire::Hello hello(wire::Op op, uint32_t flags = 0)
{
    return {{wire::kMagic, uint32_t(op)}, wire::kVersion, flags, uint64_t(uintptr_t(&g_probe_word)),
            g_probe_word};
}

inline int raw_connect(const std::string &path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock >= 0 && connect(sock, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
        ::close(sock);
        return -1;
    }
    return sock;
}

// One message, with fd in SCM_RIGHTS if fd >= 0.
inline bool send_raw(int sock, const void *data, size_t len, int fd = -1)
{
    return wire::send_message(sock, data, len, fd);
}

// One message within ms: its length, 0 at the end of the stream, -ETIMEDOUT, or -errno.
inline ssize_t recv_raw(int sock, void *buf, size_t len, int ms = kBoundMs)
{
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, ms) != 1)
        return -ETIMEDOUT;
    ssize_t n = ::recv(sock, buf, len, MSG_DONTWAIT);
    return n < 0 ? -errno : n;
}

// Whether qaicd closed its end of sock (bounded), without a message before the end.
inline testing::AssertionResult dropped(int sock)
{
    alignas(8) unsigned char buf[wire::kMaxMessage];
    ssize_t n = recv_raw(sock, buf, sizeof(buf));
    if (n == 0 || n == -ECONNRESET)
        return testing::AssertionSuccess();
    return testing::AssertionFailure() << "qaicd kept the socket: recv gave " << n;
}

// kOpen on a fresh connection; the socket, or -1.
inline int raw_open(const std::string &path)
{
    int sock = raw_connect(path);
    wire::Hello h = hello(wire::Op::kOpen);
    wire::Welcome w{};
    if (sock < 0 || !send_raw(sock, &h, sizeof(h)) ||
        recv_raw(sock, &w, sizeof(w)) != ssize_t(sizeof(w)) || w.ret != 0) {
        if (sock >= 0)
            ::close(sock);
        return -1;
    }
    return sock;
}

// A channel of the open file sock (kAttach), with the memfd of its slot that came with the
// Welcome (-1 when none came); this process's end of the channel, or -1.
inline int raw_attach_with_slot(int sock, int *slot_fd)
{
    *slot_fd = -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    wire::Hello h = hello(wire::Op::kAttach);
    bool sent = send_raw(sock, &h, sizeof(h), sv[1]);
    ::close(sv[1]);
    wire::Welcome w{};
    union {
        cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    iovec iov{&w, sizeof(w)};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control.buf;
    m.msg_controllen = sizeof(control.buf);
    pollfd p{sv[0], POLLIN, 0};
    ssize_t n = sent && poll(&p, 1, kBoundMs) == 1 ? recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC) : -1;
    if (n > 0)
        if (cmsghdr *c = CMSG_FIRSTHDR(&m); c && c->cmsg_type == SCM_RIGHTS)
            std::memcpy(slot_fd, CMSG_DATA(c), sizeof(int));
    if (n != ssize_t(sizeof(w)) || w.ret != 0) {
        if (*slot_fd >= 0)
            ::close(*slot_fd);
        *slot_fd = -1;
        ::close(sv[0]);
        return -1;
    }
    return sv[0];
}

// A channel of the open file sock, without its slot: calls on it go on the socket.
inline int raw_attach(int sock)
{
    int slot_fd;
    int ch = raw_attach_with_slot(sock, &slot_fd);
    if (slot_fd >= 0)
        ::close(slot_fd);
    return ch;
}

inline wire::SimReq sim_req(wire::Op op, uint32_t arg0 = 0)
{
    wire::SimReq r{};
    r.hdr = {wire::kMagic, uint32_t(op)};
    r.arg[0] = arg0;
    return r;
}

} // namespace qaicd_test
