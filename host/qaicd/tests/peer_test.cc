// SPDX-License-Identifier: GPL-2.0-only
// Peers: the socket's mode and group decide who may open the card, as a /dev/accel node's do,
// and a daemon that cannot read a client's memory refuses the open with a reason, never hangs.
// These tests change uids, so they need root (CI runs as root); elsewhere they skip.
#include "qaicd_test.h"

namespace {

using namespace qaicd_test;

constexpr gid_t kGroup = 4242; // any group: qaicd takes a number as well as a name

class QaicdPeer : public Qaicd {
protected:
    void SetUp() override
    {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root to change uids";
        Qaicd::SetUp();
    }

    // A client as kNobody with groups: qaic_open's errno (0 when it opened and created a BO).
    int open_as_nobody(const std::vector<gid_t> &groups)
    {
        pid_t child = spawn([&] {
            if (!become_nobody(groups))
                return 200;
            int fd = qaic_open(path.c_str());
            if (fd < 0)
                return errno;
            uint32_t h;
            return create_bo(fd, kPage, &h) == 0 && qaic_close(fd) == 0 ? 0 : 201;
        });
        return child < 0 ? -1 : reap(child);
    }
};

TEST_F(QaicdPeer, OtherUserCannotConnect)
{
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    EXPECT_EQ(open_as_nobody({}), EACCES);
    EXPECT_EQ(open_as_nobody({kGroup}), EACCES) << "a group the socket does not have";
}

TEST_F(QaicdPeer, MemberOfTheGroupMayOpen)
{
    ASSERT_TRUE(daemon.stop());
    ASSERT_TRUE(daemon.start(dir, log, {"--test-control", "--group", std::to_string(kGroup)}));
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, kGroup);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    EXPECT_EQ(open_as_nobody({kGroup}), 0);
    EXPECT_EQ(open_as_nobody({}), EACCES);
}

// One user's clients may take only their share of the channels: past it a new channel is
// refused with EAGAIN, while another user's clients still get theirs.
TEST_F(QaicdPeer, ChannelsAreLimitedPerUser)
{
    ASSERT_TRUE(daemon.stop());
    ASSERT_TRUE(daemon.start(dir, log, {"--test-control", "--group", std::to_string(kGroup),
                                        "--max-channels-per-user", "2"}));
    int s = raw_open(path);
    ASSERT_GE(s, 0);
    int a = raw_attach(s), b = raw_attach(s);
    EXPECT_GE(a, 0);
    EXPECT_GE(b, 0);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    wire::Hello h = hello(wire::Op::kAttach);
    ASSERT_TRUE(send_raw(s, &h, sizeof(h), sv[1]));
    ::close(sv[1]);
    wire::Welcome w{};
    ASSERT_EQ(recv_raw(sv[0], &w, sizeof(w)), ssize_t(sizeof(w)));
    EXPECT_EQ(w.ret, -EAGAIN);
    EXPECT_NE(std::string(w.reason).find("channels of uid 0"), std::string::npos) << w.reason;
    ::close(sv[0]);
    EXPECT_EQ(open_as_nobody({kGroup}), 0) << "another user's client got no channel";
    for (int fd : {a, b, s})
        ::close(fd);
}

// The driver's debug parameter is the daemon owner's, as drm.debug is root's: another user's
// client may not set it (nor any other parameter) without --test-control; the owner may, and
// its refused calls are then explained in the daemon's log with the client's pid.
TEST_F(QaicdPeer, OnlyTheOwnerSetsDebug)
{
    ASSERT_TRUE(daemon.stop());
    ASSERT_TRUE(daemon.start(dir, log, {"--group", std::to_string(kGroup)}));
    auto set_param = [&](bool as_nobody, const char *name, unsigned value) {
        pid_t child = spawn([&] {
            if (as_nobody && !become_nobody({kGroup}))
                return 200;
            setenv("QAIC_DEVICE", path.c_str(), 1);
            return qaic_sim_set_param(name, value) == 0 ? 0 : errno;
        });
        return child < 0 ? -1 : reap(child);
    };
    EXPECT_EQ(set_param(true, "debug", 1), EPERM);
    EXPECT_EQ(set_param(true, "exec_timeout_ms", 500), EPERM);
    EXPECT_EQ(set_param(false, "exec_timeout_ms", 500), EPERM) << "needs --test-control";
    EXPECT_EQ(set_param(false, "debug", 0x10), EINVAL) << "out of range";
    ASSERT_EQ(set_param(false, "debug", 1), 0);
    pid_t child = spawn([&] {
        int fd = qaic_open(path.c_str());
        uint32_t h;
        return fd >= 0 && create_bo(fd, 0, &h) == -EINVAL && qaic_close(fd) == 0 ? 0 : 201;
    });
    ASSERT_GT(child, 0);
    EXPECT_EQ(reap(child), 0);
    EXPECT_NE(read_file(log).find("qaic: CREATE_BO: size is 0 -> EINVAL [pid " +
                                  std::to_string(child) + "]"),
              std::string::npos)
        << read_file(log);
    EXPECT_EQ(set_param(false, "debug", 0), 0);
}

// One user's connections are bounded too (as inotify bounds a user's instances): past the
// limit an open fails with EMFILE and says why, another user's open still succeeds, and a
// closed connection makes room again.
TEST_F(QaicdPeer, FilesAreLimitedPerUser)
{
    ASSERT_TRUE(daemon.stop());
    ASSERT_TRUE(daemon.start(dir, log, {"--test-control", "--group", std::to_string(kGroup),
                                        "--max-files-per-user", "2"}));
    int a = open_file(), b = open_file();
    ASSERT_GE(a, 0) << std::strerror(errno);
    ASSERT_GE(b, 0) << std::strerror(errno);
    EXPECT_EQ(open_file(), -1);
    EXPECT_EQ(errno, EMFILE);
    EXPECT_NE(read_file(log).find("connections of uid 0 already"), std::string::npos);
    EXPECT_EQ(open_as_nobody({kGroup}), 0) << "another user's client could not open";
    EXPECT_EQ(qaic_close(a), 0);
    // The close is seen by the daemon asynchronously, as a socket's end is.
    int c = -1;
    auto deadline = Clock::now() + std::chrono::milliseconds(kBoundMs);
    while ((c = open_file()) < 0 && errno == EMFILE && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_GE(c, 0) << std::strerror(errno);
    for (int fd : {b, c}) {
        if (fd >= 0) {
            EXPECT_EQ(qaic_close(fd), 0);
        }
    }
}

// A qaicd running as another user cannot read root's memory: the open fails with EACCES and
// says why on stderr, after asking once more with the daemon named as ptracer.
TEST_F(QaicdPeer, DaemonThatCannotReadTheClientRefusesTheOpen)
{
    ASSERT_TRUE(daemon.stop());
    ASSERT_EQ(chown(dir.c_str(), kNobody, kNobody), 0);
    ASSERT_TRUE(daemon.start(dir, log, {}, true));
    std::string err = dir + "/client.err";
    pid_t child = spawn([&] {
        int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (e < 0 || dup2(e, STDERR_FILENO) < 0)
            return 200;
        int fd = qaic_open(path.c_str());
        return fd < 0 ? errno : 0;
    });
    ASSERT_GT(child, 0);
    EXPECT_EQ(reap(child), EACCES);
    std::string msg = read_file(err);
    EXPECT_NE(msg.find("cannot read the memory of pid " + std::to_string(child)), std::string::npos)
        << "stderr: " << msg;
    EXPECT_NE(read_file(log).find("cannot read the memory"), std::string::npos);
    ::unlink(err.c_str());
    // The daemon goes on serving those it can.
    EXPECT_EQ(open_as_nobody({}), 0);
}

} // namespace
