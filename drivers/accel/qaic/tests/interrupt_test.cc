// SPDX-License-Identifier: GPL-2.0-only
// A dying client's calls return at once: a host serving other processes runs each call under
// the client's kernel::Task and kills it when the client dies. WAIT_BO on a hung engine and
// MANAGE on a silent firmware then end with EINTR long before their timeouts, the file's
// release still finishes under the killed task, and a MANAGE answer that comes after the
// kill is handled as one that comes after a timeout. On the embedded simulated card, through
// the uAPI; the driver's own state is read where the uAPI cannot show it.
#include "drivers/accel/qaic/qaic.h"
#include "kernel/task.h"
#include "selftests/drivers/accel/qaic/qaic_helpers.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <drm.h>
#include <drm/qaic_accel.h>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <qaic/qaic.h>
#include <qaic/qaic_sim.h>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kPage = 4096;
// The timeouts a kill must cut short. A call that reaches one missed its kill's wakeup (it
// then ends with EINTR too, so the tests check it ended well before).
constexpr unsigned kLongMs = 10000;
// The driver defaults the tests restore.
constexpr unsigned kDefaultExecTimeoutMs = 10000;
constexpr unsigned kDefaultRespTimeoutMs = 60000;

int err_of(int r)
{
    return r == 0 ? 0 : -errno;
}

// The selftests' MANAGE helpers, with the queue size these tests use.
int activate(int fd, uint32_t *dbc_id)
{
    return selftest::activate(fd, 16, dbc_id);
}
using selftest::deactivate;

int status(int fd)
{
    alignas(8) uint8_t buf[QAIC_MANAGE_MAX_MSG_LENGTH] = {};
    qaic_manage_trans_status_to_dev s{{QAIC_TRANS_STATUS_FROM_USR, sizeof(s)}};
    std::memcpy(buf, &s, sizeof(s));
    qaic_manage_msg m{sizeof(s), 1, uintptr_t(buf)};
    return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_MANAGE, &m));
}

// A one-page BO sliced on dbc_id and queued there.
int queue_bo(int fd, uint32_t dbc_id, uint32_t *handle)
{
    qaic_create_bo c{};
    c.size = kPage;
    if (int err = err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_CREATE_BO, &c)))
        return err;
    *handle = c.handle;
    qaic_attach_slice_entry s{};
    s.size = kPage;
    qaic_attach_slice a{};
    a.hdr.count = 1;
    a.hdr.dbc_id = dbc_id;
    a.hdr.handle = c.handle;
    a.hdr.dir = 1;
    a.data = uintptr_t(&s);
    if (int err = err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_ATTACH_SLICE_BO, &a)))
        return err;
    qaic_execute_entry e{c.handle, 1};
    qaic_execute ex{};
    ex.hdr.count = 1;
    ex.hdr.dbc_id = dbc_id;
    ex.data = uintptr_t(&e);
    return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_EXECUTE_BO, &ex));
}

bool all_dbcs_idle(int fd)
{
    for (int d = 0; d < qaic_sim_num_dbc(fd); ++d) {
        qaic_sim_dbc_status st{};
        if (qaic_sim_get_dbc_status(fd, unsigned(d), &st) != 0 || st.state != 0)
            return false;
    }
    return true;
}

// Whether thread tid sleeps (in a wait, most likely the one the test means).
bool sleeping(pid_t tid)
{
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() &&
           (stat[paren + 2] == 'S' || stat[paren + 2] == 'D');
}

// Runs call() on a thread of its own under task, kills the task once that thread sleeps
// (bounded; the kill is a kill wherever it lands), and returns call()'s errno.
template <typename F> int call_and_kill(kernel::Task &task, F call)
{
    std::atomic<pid_t> tid{0};
    int err = 0;
    std::thread t([&] {
        kernel::ScopedTask scope(task);
        tid = pid_t(syscall(SYS_gettid));
        err = call();
    });
    for (int i = 0; i < 5000 && !(tid && sleeping(tid)); ++i)
        std::this_thread::sleep_for(1ms);
    task.kill();
    t.join();
    return err;
}

qaic::QaicDevice &sim_device()
{
    kernel::RefPtr<accel::Device> dev = accel::find_device(0);
    EXPECT_TRUE(dev);
    return static_cast<qaic::QaicDevice &>(*dev); // the registry keeps it while it is open
}

// WAIT_BO on a job its hung engine never runs, with a timeout far beyond the test's, ends with
// EINTR when its task is killed; closing the file under the killed task releases the DBC on
// both sides and every BO page.
TEST(Interrupt, WaitBoOnAHungEngineEndsWithEintrWhenKilled)
{
    int fd = qaic_open("sim");
    ASSERT_GE(fd, 0) << std::strerror(errno);
    qaic::QaicDevice &qdev = sim_device();
    uint64_t free_before = qdev.pool->free_bytes();
    // The hung job must stay queued: no watchdog recovery while the test waits.
    ASSERT_EQ(qaic_sim_set_param("exec_timeout_ms", 600000), 0);
    uint32_t dbc, bo;
    ASSERT_EQ(activate(fd, &dbc), 0);
    if (qaic_sim_inject(fd, QAIC_SIM_HANG, dbc, 0) != 0 && errno == EOPNOTSUPP) {
        EXPECT_EQ(qaic_close(fd), 0);
        GTEST_SKIP() << "no fault injection";
    }
    ASSERT_EQ(queue_bo(fd, dbc, &bo), 0);

    kernel::Task task;
    auto start = Clock::now();
    int err = call_and_kill(task, [&] {
        qaic_wait w{bo, kLongMs, dbc, 0};
        return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_WAIT_BO, &w));
    });
    EXPECT_EQ(err, -EINTR);
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(kLongMs));

    // The dying client's file is released on the host's thread, still under its task.
    {
        kernel::ScopedTask scope(task);
        EXPECT_EQ(qaic_close(fd), 0);
    }
    EXPECT_EQ(qaic_sim_set_param("exec_timeout_ms", kDefaultExecTimeoutMs), 0);
    int other = qaic_open("sim");
    ASSERT_GE(other, 0) << std::strerror(errno);
    EXPECT_TRUE(all_dbcs_idle(other)) << "a DBC stayed assigned on the card";
    EXPECT_EQ(qdev.pool->free_bytes(), free_before) << "BO pages were not freed";
    for (auto &d : qdev.dbcs)
        EXPECT_FALSE(d->state.lock()->in_use) << "the driver still holds a DBC";
    EXPECT_EQ(qaic_close(other), 0);
}

// An ACTIVATE the firmware does not answer ends with EINTR when its task is killed. When the
// firmware answers after all, the answer is handled as after a timeout: the DBC the card
// assigned is taken back, and every DBC can be activated again.
TEST(Interrupt, ManageOnASilentFirmwareEndsWithEintrWhenKilled)
{
    int fd = qaic_open("sim");
    ASSERT_GE(fd, 0) << std::strerror(errno);
    qaic::QaicDevice &qdev = sim_device();
    if (qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 1, 0) != 0 && errno == EOPNOTSUPP) {
        EXPECT_EQ(qaic_close(fd), 0);
        GTEST_SKIP() << "no fault injection";
    }
    ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_ms", kLongMs), 0);

    kernel::Task task;
    uint32_t id;
    auto start = Clock::now();
    int err = call_and_kill(task, [&] { return activate(fd, &id); });
    EXPECT_EQ(err, -EINTR);
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(kLongMs));

    ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_ms", kDefaultRespTimeoutMs), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 0, 0), 0);
    // Answered in order: the ACTIVATE has run on the card once this STATUS is answered.
    EXPECT_EQ(status(fd), 0);
    // The late answer is handled on the driver's own time: bounded wait until the card's DBCs
    // are all idle again.
    auto deadline = Clock::now() + 20s;
    while (!all_dbcs_idle(fd) && Clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(all_dbcs_idle(fd)) << "a DBC stayed assigned on the card";
    int n = qaic_sim_num_dbc(fd);
    std::vector<uint32_t> ids;
    for (int i = 0; i < n; ++i) {
        ASSERT_EQ(activate(fd, &id), 0) << "DBC " << i << " of " << n;
        ids.push_back(id);
    }
    for (uint32_t d : ids)
        EXPECT_EQ(deactivate(fd, d), 0);
    EXPECT_TRUE(qdev.lost_rings.with([](auto &v) { return v.empty(); }));
    EXPECT_EQ(qaic_close(fd), 0);
}

} // namespace
