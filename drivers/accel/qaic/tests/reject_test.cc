// SPDX-License-Identifier: GPL-2.0-only
// Every rejection says why: with the debug parameter's ioctl bit set, a refused call logs one
// line naming the operation, the rule it broke and the values that broke it, ending in the
// errno it returned. A table of rejections through the uAPI on the embedded card, each
// checked against the exact line the driver's log sink received; then the other debug
// categories, the parameter itself (range, QAIC_PARAMS syntax) and the per-site rate limit.
#include "drivers/accel/qaic/qaic.h"
#include "kernel/printk.h"
#include "selftests/drivers/accel/qaic/qaic_helpers.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <drm.h>
#include <drm/qaic_accel.h>
#include <functional>
#include <gtest/gtest.h>
#include <mutex>
#include <qaic/qaic.h>
#include <qaic/qaic_sim.h>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <vector>

namespace {

using namespace selftest;

// The driver's log, as a host's sink receives it.
std::mutex g_lines_lock;
std::vector<std::string> g_lines;

void capture(kernel::LogLevel, const char *line)
{
    std::lock_guard lk(g_lines_lock);
    g_lines.emplace_back(line);
}

std::vector<std::string> take_lines()
{
    std::lock_guard lk(g_lines_lock);
    return std::exchange(g_lines, {});
}

// The embedded card with the driver's log captured and debug set to the test's categories.
class Reasons : public testing::Test {
protected:
    void SetUp() override
    {
        fd = qaic_open("sim");
        ASSERT_GE(fd, 0) << std::strerror(errno);
        saved_ = kernel::set_log_sink(capture);
        take_lines();
    }
    void TearDown() override
    {
        EXPECT_EQ(qaic_sim_set_param("debug", 0), 0);
        kernel::set_log_sink(saved_);
        for (uint32_t id : dbcs)
            EXPECT_EQ(deactivate(fd, id), 0);
        EXPECT_EQ(qaic_close(fd), 0);
    }
    void debug(unsigned mask) { ASSERT_EQ(qaic_sim_set_param("debug", mask), 0); }
    uint32_t new_bo(uint64_t size = kPage)
    {
        uint32_t h = 0;
        EXPECT_EQ(create_bo(fd, size, &h), 0);
        return h;
    }
    uint32_t new_dbc()
    {
        uint32_t id = UINT32_MAX;
        EXPECT_EQ(activate(fd, 16, &id), 0);
        dbcs.push_back(id);
        return id;
    }

    int fd = -1;
    std::vector<uint32_t> dbcs;

private:
    kernel::LogSink saved_ = nullptr;
};

int err_of(int r)
{
    return r == 0 ? 0 : -errno;
}

// The call made the driver log exactly `line` (and nothing else), and failed with err.
void expect_reason(const std::function<int()> &call, int err, const std::string &line)
{
    take_lines();
    EXPECT_EQ(call(), err);
    EXPECT_EQ(take_lines(), std::vector<std::string>{line});
}

template <typename Entry> int execute(int fd, unsigned long cmd, uint32_t dbc, const Entry &e)
{
    qaic_execute x{};
    x.hdr.count = 1;
    x.hdr.dbc_id = dbc;
    x.data = uintptr_t(&e);
    return err_of(qaic_ioctl(fd, cmd, &x));
}

TEST_F(Reasons, DebugOffLogsNothing)
{
    debug(0);
    qaic_create_bo c{};
    EXPECT_EQ(err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_CREATE_BO, &c)), -EINVAL);
    EXPECT_TRUE(take_lines().empty());
}

TEST_F(Reasons, CoreAndBoRejections)
{
    debug(kernel::kDebugIoctl);
    qaic_create_bo c{};
    c.size = kPage;
    c.pad = 1;
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_CREATE_BO, &c)); }, -EINVAL,
                  "qaic: CREATE_BO: pad is 0x1, not 0 -> EINVAL");
    c.pad = 0;
    c.size = 0;
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_CREATE_BO, &c)); }, -EINVAL,
                  "qaic: CREATE_BO: size is 0 -> EINVAL");
    c.size = UINT64_MAX;
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_CREATE_BO, &c)); }, -EINVAL,
                  "qaic: CREATE_BO: size 18446744073709551615 overflows when rounded up to a "
                  "page -> EINVAL");

    qaic_mmap_bo m{};
    m.handle = 999999;
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_MMAP_BO, &m)); }, -ENOENT,
                  "qaic: MMAP_BO: BO 999999: no such handle in this file -> ENOENT");
    expect_reason([&] { return gem_close(fd, 999999); }, -EINVAL,
                  "qaic: GEM_CLOSE: BO 999999: no such handle in this file -> EINVAL");

    unsigned long bad_nr = DRM_IOWR(DRM_COMMAND_BASE + 0x30, qaic_wait);
    expect_reason([&] { return err_of(qaic_ioctl(fd, bad_nr, &m)); }, -EINVAL,
                  "qaic: ioctl: no ioctl has nr 0x70 -> EINVAL");
    expect_reason(
        [&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_MMAP_BO, reinterpret_cast<void *>(8))); },
        -EFAULT, "qaic: MMAP_BO: user memory at 0x8 (16 bytes) is not readable -> EFAULT");

    uint32_t bo = new_bo();
    expect_reason([&] { return detach(fd, bo); }, -EINVAL,
                  "qaic: DETACH_SLICE_BO: BO " + std::to_string(bo) + " is not sliced -> EINVAL");
    expect_reason(
        [&] {
            return qaic_mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -errno
                                                                                          : 0;
        },
        -EINVAL, "qaic: mmap: flags 0x2 are not MAP_SHARED: BOs are only shared -> EINVAL");
    expect_reason(
        [&] {
            return qaic_mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 1ull << 40) == MAP_FAILED
                       ? -errno
                       : 0;
        },
        -EINVAL, "qaic: mmap: offset 0x10000000000 is no BO's -> EINVAL");
    EXPECT_EQ(gem_close(fd, bo), 0);
}

TEST_F(Reasons, AttachRejections)
{
    uint32_t bo = new_bo(2 * kPage);
    uint32_t dbc = new_dbc();
    debug(kernel::kDebugIoctl);
    std::string pre = "qaic: ATTACH_SLICE_BO: ";
    expect_reason([&] { return attach(fd, bo, dbc, 3, {slice(0, kPage)}); }, -EINVAL,
                  pre + "dir 3 is not 1 (to device) or 2 (from device) -> EINVAL");
    expect_reason([&] { return attach(fd, bo, dbc, kDirToDev, {}); }, -EINVAL,
                  pre + "count is 0 -> EINVAL");
    uint32_t other = dbc == 0 ? 1 : 0;
    expect_reason([&] { return attach(fd, bo, other, kDirToDev, {slice(0, kPage)}); }, -EINVAL,
                  pre + "DBC " + std::to_string(other) + " is not activated by this file -> "
                                                         "EINVAL");
    auto e = slice(0, kPage);
    e.sem1.index = 32;
    expect_reason([&] { return attach(fd, bo, dbc, kDirToDev, {slice(0, kPage), e}); }, -EINVAL,
                  pre + "entry 1: sem1.index 32 is over 31 -> EINVAL");
    e = slice(0, kPage);
    e.db_len = 3;
    expect_reason([&] { return attach(fd, bo, dbc, kDirToDev, {e}); }, -EINVAL,
                  pre + "entry 0: db_len 3 is not 0, 8, 16 or 32 -> EINVAL");
    expect_reason([&] { return attach(fd, bo, dbc, kDirToDev, {slice(kPage, 2 * kPage)}); },
                  -EINVAL,
                  pre + "entry 0: offset 4096 + size 8192 is past the BO's 8192 bytes -> EINVAL");
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kPage)}), 0);
    expect_reason([&] { return attach(fd, bo, dbc, kDirToDev, {slice(0, kPage)}); }, -EINVAL,
                  pre + "BO " + std::to_string(bo) + " is already sliced (for DBC " +
                      std::to_string(dbc) + ") -> EINVAL");
}

TEST_F(Reasons, ExecuteRejections)
{
    uint32_t bo = new_bo();
    uint32_t a = new_dbc(), b = new_dbc();
    ASSERT_EQ(attach(fd, bo, a, kDirToDev, {slice(0, kPage)}), 0);
    debug(kernel::kDebugIoctl);
    std::string h = std::to_string(bo);
    qaic_execute_entry ent{bo, kDirToDev};
    // The issue's own example: a BO sliced for one DBC, executed on another.
    expect_reason([&] { return execute(fd, DRM_IOCTL_QAIC_EXECUTE_BO, b, ent); }, -EINVAL,
                  "qaic: EXECUTE_BO: entry 0: BO " + h + " is sliced for DBC " +
                      std::to_string(a) + ", not " + std::to_string(b) + " -> EINVAL");
    ent.dir = kDirFromDev;
    expect_reason([&] { return execute(fd, DRM_IOCTL_QAIC_EXECUTE_BO, a, ent); }, -EINVAL,
                  "qaic: EXECUTE_BO: entry 0: dir 2 is not BO " + h +
                      "'s attached dir 1 -> EINVAL");
    qaic_partial_execute_entry pent{bo, kDirToDev, 2 * kPage};
    expect_reason([&] { return execute(fd, DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO, a, pent); },
                  -EINVAL,
                  "qaic: PARTIAL_EXECUTE_BO: entry 0: resize 8192 is past BO " + h +
                      "'s 4096 bytes -> EINVAL");
    qaic_execute x{};
    x.hdr.dbc_id = a;
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_EXECUTE_BO, &x)); }, -EINVAL,
                  "qaic: EXECUTE_BO: count is 0 -> EINVAL");
    uint32_t free_dbc = 0;
    while (free_dbc == a || free_dbc == b)
        ++free_dbc;
    ent.dir = kDirToDev;
    expect_reason([&] { return execute(fd, DRM_IOCTL_QAIC_EXECUTE_BO, free_dbc, ent); }, -EPERM,
                  "qaic: EXECUTE_BO: DBC " + std::to_string(free_dbc) +
                      " is not activated by this file -> EPERM");

    qaic_wait w{bo, 0, a, 1};
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_WAIT_BO, &w)); }, -EINVAL,
                  "qaic: WAIT_BO: pad is 0x1, not 0 -> EINVAL");
    qaic_perf_stats_entry pe{};
    pe.handle = bo;
    qaic_perf_stats ps{};
    ps.hdr.count = 1;
    ps.hdr.dbc_id = b;
    ps.data = uintptr_t(&pe);
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_PERF_STATS_BO, &ps)); },
                  -EINVAL,
                  "qaic: PERF_STATS_BO: entry 0: BO " + h + " is sliced for DBC " +
                      std::to_string(a) + ", not " + std::to_string(b) + " -> EINVAL");
}

// A wait that ends without the job: the deadline, with the time it waited.
TEST_F(Reasons, WaitThatTimesOut)
{
    uint32_t bo = new_bo();
    uint32_t dbc = new_dbc();
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kPage)}), 0);
    int r = qaic_sim_inject(fd, QAIC_SIM_HANG, dbc, 0);
    if (r != 0 && errno == EOPNOTSUPP)
        GTEST_SKIP() << "fault injection is compiled out";
    ASSERT_EQ(r, 0);
    qaic_execute_entry ent{bo, kDirToDev};
    ASSERT_EQ(execute(fd, DRM_IOCTL_QAIC_EXECUTE_BO, dbc, ent), 0);
    debug(kernel::kDebugIoctl);
    qaic_wait w{bo, 20, dbc, 0};
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_WAIT_BO, &w)); }, -ETIMEDOUT,
                  "qaic: WAIT_BO: DBC " + std::to_string(dbc) +
                      ": the BO's job did not finish within 20 ms -> ETIMEDOUT");
}

TEST_F(Reasons, ManageRejections)
{
    debug(kernel::kDebugIoctl);
    Manage m;
    m.add(activate_trans(0));
    expect_reason([&] { return m.send(fd); }, -EINVAL,
                  "qaic: MANAGE: ACTIVATE: queue_size is 0 -> EINVAL");
    Manage d;
    d.add(deactivate_trans(5));
    expect_reason([&] { return d.send(fd); }, -EPERM,
                  "qaic: MANAGE: DEACTIVATE: DBC 5 is not activated by this file -> EPERM");
    qaic_manage_msg none{8, 0, 0};
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_MANAGE, &none)); }, -EINVAL,
                  "qaic: MANAGE: count is 0 -> EINVAL");
    alignas(8) uint8_t buf[16] = {};
    qaic_manage_trans_hdr bad{0x7f, 16};
    std::memcpy(buf, &bad, sizeof(bad));
    qaic_manage_msg msg{16, 1, uintptr_t(buf)};
    expect_reason([&] { return err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_MANAGE, &msg)); }, -EINVAL,
                  "qaic: MANAGE: transaction type 0x7f is not one a user may send -> EINVAL");
}

// The other categories: control messages, datapath, card faults.
TEST_F(Reasons, CategoriesLogTheirOwnEvents)
{
    debug(kernel::kDebugControl);
    ASSERT_EQ(status(fd), 0);
    auto lines = take_lines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("control message"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find(" sent: "), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find(" answered "), std::string::npos) << lines[1];

    uint32_t bo = new_bo();
    uint32_t dbc = new_dbc();
    ASSERT_EQ(attach(fd, bo, dbc, kDirToDev, {slice(0, kPage)}), 0);
    debug(kernel::kDebugDatapath);
    take_lines();
    qaic_execute_entry ent{bo, kDirToDev};
    ASSERT_EQ(execute(fd, DRM_IOCTL_QAIC_EXECUTE_BO, dbc, ent), 0);
    lines = take_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].rfind("qaic: EXECUTE_BO: DBC " + std::to_string(dbc) + ": 1 jobs submitted",
                             0),
              0u)
        << lines[0];
    qaic_wait w{bo, 0, dbc, 0};
    ASSERT_EQ(err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_WAIT_BO, &w)), 0);

    debug(kernel::kDebugCard);
    int r = qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0);
    if (r != 0 && errno == EOPNOTSUPP)
        GTEST_SKIP() << "fault injection is compiled out";
    ASSERT_EQ(r, 0);
    // The card's SSR interrupt is handled on the driver's own thread: wait (bounded) for it.
    std::string want = "qaic: irq: DBC " + std::to_string(dbc) + ": subsystem restart event 2";
    bool seen = false;
    for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         !seen && std::chrono::steady_clock::now() < end;) {
        for (const std::string &l : take_lines())
            seen |= l == want;
        if (!seen)
            std::this_thread::yield();
    }
    EXPECT_TRUE(seen) << want;
    dbcs.clear(); // the restart releases it
}

TEST(DebugParam, RangeAndModuleWide)
{
    EXPECT_EQ(qaic_sim_set_param("debug", 0x10), -1);
    EXPECT_EQ(errno, EINVAL);
    ASSERT_EQ(qaic_sim_set_param("debug", 0xf), 0);
    EXPECT_EQ(kernel::debug_mask.load(), 0xfu);
    ASSERT_EQ(qaic_sim_set_param("debug", 0), 0);
    // Module-wide: it needs no card, as a module parameter needs no device.
    EXPECT_EQ(qaic::Params::set_module("debug", 1).code(), 0);
    EXPECT_EQ(qaic::Params::set_module("exec_timeout_ms", 1).code(), -ENOENT);
    EXPECT_EQ(qaic::Params::set_module("debug", 0).code(), 0);
}

TEST(DebugParam, ParseTakesNameValueLists)
{
    auto p = qaic::Params::parse("debug=0x3, exec_timeout_ms=500\twait_spin_us=0");
    ASSERT_FALSE(p.is_error());
    ASSERT_EQ(p.value().size(), 3u);
    EXPECT_EQ(p.value()[0].name, "debug");
    EXPECT_EQ(p.value()[0].value, 3u);
    EXPECT_EQ(p.value()[1].name, "exec_timeout_ms");
    EXPECT_EQ(p.value()[1].value, 500u);
    EXPECT_EQ(p.value()[2].value, 0u);
    EXPECT_TRUE(qaic::Params::parse("").value().empty());
    for (const char *bad : {"debug", "debug=", "debug=x", "debug=16", "debug=-1", "nosuch=1",
                            "debug=4294967296", "exec_timeout_ms=0"})
        EXPECT_EQ(qaic::Params::parse(bad).code(), -EINVAL) << bad;
}

TEST(Ratelimit, TenPerIntervalThenACountOfTheRest)
{
    kernel::Ratelimit rl;
    unsigned suppressed = 0;
    int64_t t = 1'000'000'000;
    for (unsigned i = 0; i < kernel::kRatelimitBurst; ++i)
        EXPECT_TRUE(rl.allow(t + i, &suppressed)) << i;
    EXPECT_FALSE(rl.allow(t + 100, &suppressed));
    EXPECT_FALSE(rl.allow(t + kernel::kRatelimitIntervalNs - 1, &suppressed));
    EXPECT_EQ(suppressed, 0u);
    EXPECT_TRUE(rl.allow(t + kernel::kRatelimitIntervalNs, &suppressed));
    EXPECT_EQ(suppressed, 2u) << "the next interval's first line reports what was dropped";
    EXPECT_TRUE(rl.allow(t + kernel::kRatelimitIntervalNs + 1, &suppressed));
    EXPECT_EQ(suppressed, 0u);
    // Setting debug starts every limit afresh, and what an earlier setting dropped is not
    // reported under the new one.
    for (unsigned i = 0; i < 2 * kernel::kRatelimitBurst; ++i)
        (void)rl.allow(t + kernel::kRatelimitIntervalNs + 2, &suppressed);
    ASSERT_FALSE(rl.allow(t + kernel::kRatelimitIntervalNs + 3, &suppressed));
    ASSERT_EQ(kernel::set_debug_mask(0).code(), 0);
    EXPECT_TRUE(rl.allow(t + kernel::kRatelimitIntervalNs + 4, &suppressed));
    EXPECT_EQ(suppressed, 0u);
}

// The control category shows each message's size: a DMA_XFER of 40 MiB, a pair per page, goes
// as upstream sizes it, pairs filling each request up to 64 KiB less the 1 KiB kept free:
// 4028 pairs (32 + 24 + 4028 * 16 = 64504 bytes), 4028 more, then the last 2184 (35000).
TEST_F(Reasons, ControlLinesShowADmaXferSizedAsUpstream)
{
    ParamGuard order("dma_xfer_chunk_order", kDefaultDmaXferChunkOrder);
    ASSERT_EQ(qaic_sim_set_param("dma_xfer_chunk_order", 0), 0);
    std::vector<uint8_t> data(40u << 20, 0x3c);
    debug(kernel::kDebugControl);
    ASSERT_EQ(dma_xfer(fd, 1, data.data(), data.size()), 0);
    std::vector<std::string> sizes;
    for (const std::string &l : take_lines())
        if (auto at = l.find(" sent: "); at != std::string::npos)
            sizes.push_back(l.substr(at + 7, l.find(' ', at + 7) - at - 7));
    EXPECT_EQ(sizes, (std::vector<std::string>{"64504", "64504", "35000"}));
}

TEST_F(Reasons, ARepeatedRejectionIsRateLimited)
{
    debug(kernel::kDebugIoctl);
    qaic_wait w{0, 0, 999, 0};
    for (int i = 0; i < 25; ++i)
        EXPECT_EQ(err_of(qaic_ioctl(fd, DRM_IOCTL_QAIC_WAIT_BO, &w)), -EINVAL);
    EXPECT_EQ(take_lines().size(), kernel::kRatelimitBurst);
}

} // namespace
