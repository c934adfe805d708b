// SPDX-License-Identifier: GPL-2.0-only
// DRM_IOCTL_QAIC_EXECUTE_BO and DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO: data moved to the device and
// back through slices, checked byte for byte against a model of device memory, and every
// errno of the two ioctls.
#include "datapath_helpers.h"

#include <sys/mman.h>

namespace dpt {
namespace {

// Device addresses of the data. Every test writes what it later reads (fresh patterns), so
// tests may share them.
constexpr uint64_t kDev = 16 * kMiB;

using Slices = std::vector<qaic_attach_slice_entry>;

// ---------------------------------------------------------------------------- round trips

// Every round trip runs twice: with WAIT_BO busy polling (the default: a waiter executes its
// DBC's elements on its own thread) and without (the card's engine threads execute them all).
class ExecuteBoRoundTrip : public Datapath, public ::testing::WithParamInterface<bool> {
protected:
    void SetUp() override
    {
        Datapath::SetUp();
        // Only the simulated card has the parameter: elsewhere "On" runs as the device does.
        if (qaic_sim_set_param("wait_busy_poll", GetParam()) != 0 && !GetParam())
            GTEST_SKIP() << "wait_busy_poll: " << std::strerror(errno);
    }
    ParamGuard restore_{"wait_busy_poll", 1};
};

INSTANTIATE_TEST_SUITE_P(WaitBusyPoll, ExecuteBoRoundTrip, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "On" : "Off"; });

// Where the elements ran: with busy polling off, never on a waiter; on, on the waiters, all
// but those whose doorbell found the engine awake or asleep without a deadline. Whether a
// waiter still finds its element queued depends on timing (through qaicd a socket round trip
// lies between EXECUTE and WAIT_BO, and an engine polling its ring often takes the element
// first), so with polling on the test runs on, a bounded number of times, until one was.
TEST_P(ExecuteBoRoundTrip, BusyPollingDecidesWhereElementsRun)
{
    std::string why;
    if (!sim_control(fd, &why))
        GTEST_SKIP() << why;
    // A 4 KiB element is copied within a microsecond of the engine's waking: through qaicd it
    // is done before WAIT_BO arrives, the waiter has nothing to poll, and so nothing tells
    // the engine to leave the next element to it. Run after run the engine wins (seen in
    // 2000 of 2000 after other tests). 1 MiB takes the engine long enough for WAIT_BO to
    // find it busy: the waiter's poll then defers the next doorbell to the waiter.
    constexpr uint64_t kSize = 1 << 20;
    Bo in;
    ASSERT_NO_FATAL_FAILURE(make(in, kSize));
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, {slice(0, kSize, kDev)}), 0);
    qaic_sim_dbc_status before{}, after{};
    ASSERT_EQ(qaic_sim_get_dbc_status(fd, dbc, &before), 0);
    auto none_polled = [&] {
        qaic_sim_dbc_status now{};
        EXPECT_EQ(qaic_sim_get_dbc_status(fd, dbc, &now), 0);
        return now.polled == before.polled;
    };
    constexpr unsigned kRuns = 50, kMaxRuns = 2000;
    unsigned runs = 0;
    while (runs < kRuns || (GetParam() && runs < kMaxRuns && none_polled())) {
        ASSERT_EQ(run_bo(in, kDirToDev), 0);
        ++runs;
    }
    ASSERT_EQ(qaic_sim_get_dbc_status(fd, dbc, &after), 0);
    EXPECT_EQ(after.elements - before.elements, runs);
    if (GetParam())
        EXPECT_GT(after.polled - before.polled, 0u);
    else
        EXPECT_EQ(after.polled, before.polled);
}

TEST_P(ExecuteBoRoundTrip, OneSlice)
{
    Shadow dev = window(kDev, 3 * kPage);
    Bo in, out;
    ASSERT_NO_FATAL_FAILURE(make(in, kPage));
    ASSERT_NO_FATAL_FAILURE(make(out, kPage, true));
    Slices s = {slice(0, kPage, kDev + kPage)};
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, s), 0);
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, s), 0);

    ASSERT_EQ(run_bo(in, kDirToDev), 0);
    dev.to_device(in.data(), s);
    ASSERT_EQ(run_bo(out, kDirFromDev), 0);
    EXPECT_TRUE(same_bytes(out.data(), in.data(), kPage));
    // Nothing around the slice was touched.
    expect_window(dev);
}

// A BO is page-rounded, but a slice moves exactly its size, from and to any byte.
TEST_P(ExecuteBoRoundTrip, UnalignedSizesOffsetsAndAddresses)
{
    Shadow dev = window(kDev, 0x6000);
    Bo in;
    ASSERT_NO_FATAL_FAILURE(make(in, 3 * kPage - 7));
    Slices s = {
        slice(0, 5000, kDev + 1),
        slice(5001, 4095, kDev + 0x2003),
        slice(3 * kPage - 8, 1, kDev + 0x5FFF), // the last byte of the window
        slice(9999, 3, kDev + 0x4001),
    };
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, s), 0);
    ASSERT_EQ(run_bo(in, kDirToDev), 0);
    dev.to_device(in.data(), s);
    expect_window(dev);

    // And back into odd places of a BO whose other bytes must stay as they were.
    Bo out;
    ASSERT_NO_FATAL_FAILURE(make(out, 2 * kPage));
    std::vector<uint8_t> before(out.data(), out.data() + out.size());
    Slices back = {slice(3, 5000, kDev + 1), slice(6000, 1, kDev + 0x5FFF),
                   slice(7001, 1000, kDev + 0x2003)};
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, back), 0);
    ASSERT_EQ(run_bo(out, kDirFromDev), 0);
    auto want = dev.from_device(before, back);
    EXPECT_TRUE(same_bytes(out.data(), want.data(), out.size()));
}

// Scatter: slices at many offsets of one BO to scattered device addresses, out of order and
// overlapping (the later slice wins); gather them back in a different layout.
TEST_P(ExecuteBoRoundTrip, ScatterGather)
{
    Shadow dev = window(kDev, 0x40000);
    Bo in;
    ASSERT_NO_FATAL_FAILURE(make(in, 16 * kPage));
    Slices scatter = {
        slice(0, kPage, kDev + 0x30000),
        slice(kPage, 100, kDev),
        slice(2 * kPage + 7, 9000, kDev + 0x10003), // crosses pages at both ends
        slice(40000, 1, kDev + 0x3FFFF),
        slice(45000, 16 * kPage - 45000, kDev + 0x20000), // up to the BO's end
        slice(20000, 5000, kDev + 0x30800),               // over part of the first one
    };
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, scatter), 0);
    ASSERT_EQ(run_bo(in, kDirToDev), 0);
    dev.to_device(in.data(), scatter);

    Bo out;
    ASSERT_NO_FATAL_FAILURE(make(out, 16 * kPage));
    std::vector<uint8_t> before(out.data(), out.data() + out.size());
    Slices gather = {
        slice(0, 100, kDev),
        slice(200, 9000, kDev + 0x10003),
        slice(9300, 1, kDev + 0x3FFFF),
        slice(10000, 0x1800, kDev + 0x30000), // both overlapping pieces in one slice
        slice(20000, 16 * kPage - 45000, kDev + 0x20000),
        slice(50000, 0x800, kDev + 0x1000), // never written by the scatter
    };
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, gather), 0);
    ASSERT_EQ(run_bo(out, kDirFromDev), 0);
    auto want = dev.from_device(before, gather);
    EXPECT_TRUE(same_bytes(out.data(), want.data(), out.size()));
    expect_window(dev);
}

// The BOs of one call run in their order, and calls in theirs: a from-device BO queued after
// a to-device one reads its data, one queued before reads what was there.
TEST_P(ExecuteBoRoundTrip, JobsRunInSubmissionOrder)
{
    Shadow dev = window(kDev, kPage);
    Bo to, before, after, again;
    ASSERT_NO_FATAL_FAILURE(make(to, kPage));
    ASSERT_NO_FATAL_FAILURE(make(before, kPage, true));
    ASSERT_NO_FATAL_FAILURE(make(after, kPage, true));
    ASSERT_NO_FATAL_FAILURE(make(again, kPage, true));
    Slices s = {slice(0, kPage, kDev)};
    ASSERT_EQ(attach(fd, to.handle(), dbc, kDirToDev, s), 0);
    for (Bo *b : {&before, &after, &again})
        ASSERT_EQ(attach(fd, b->handle(), dbc, kDirFromDev, s), 0);

    ASSERT_EQ(execute(fd, dbc,
                      {{before.handle(), kDirFromDev},
                       {to.handle(), kDirToDev},
                       {after.handle(), kDirFromDev}}),
              0);
    for (Bo *b : {&before, &to, &after})
        EXPECT_EQ(wait_bo(fd, b->handle(), dbc), 0);
    EXPECT_TRUE(same_bytes(before.data(), dev.bytes().data(), kPage));
    EXPECT_TRUE(same_bytes(after.data(), to.data(), kPage));

    // Two calls without a wait between them.
    fill(to.data(), kPage, fresh_seed());
    ASSERT_EQ(execute(fd, dbc, to.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd, dbc, again.handle(), kDirFromDev), 0);
    EXPECT_EQ(wait_bo(fd, again.handle(), dbc), 0);
    EXPECT_EQ(wait_bo(fd, to.handle(), dbc), 0);
    EXPECT_TRUE(same_bytes(again.data(), to.data(), kPage));
}

// Several MiB: the BO is made of several chunks (at most 4 MiB each), so the slice becomes
// several elements; read back in pieces of other sizes.
TEST_P(ExecuteBoRoundTrip, MultiMiBBoSpansSeveralChunks)
{
    const uint64_t size = 12 * kMiB + 3 * kPage;
    Bo in, out;
    ASSERT_NO_FATAL_FAILURE(make(in, size));
    ASSERT_NO_FATAL_FAILURE(make(out, size, true));
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, {slice(0, size, kDev)}), 0);
    const uint64_t a = 5 * kMiB + 7, b = 4 * kMiB;
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev,
                     {slice(0, a, kDev), slice(a, b, kDev + a),
                      slice(a + b, size - a - b, kDev + a + b)}),
              0);
    ASSERT_EQ(run_bo(in, kDirToDev), 0);
    ASSERT_EQ(run_bo(out, kDirFromDev), 0);
    EXPECT_TRUE(same_bytes(out.data(), in.data(), size));

    qaic_perf_stats_entry st{};
    ASSERT_EQ(perf_stats(fd, dbc, in.handle(), &st), 0);
    EXPECT_GE(st.num_queue_element, 4u) << "a 12 MiB slice in chunks of at most 4 MiB";
}

// A BO over 4 GiB with slices past 4 GiB, to a device address past 4 GiB: 64-bit offsets
// and addresses all the way. Only the pages used are touched.
TEST_P(ExecuteBoRoundTrip, SlicePast4GiB)
{
    const uint64_t size = 4 * kGiB + 8 * kMiB;
    const uint64_t off = 4 * kGiB + kMiB, n = 64 * 1024;
    const uint64_t dev = 4 * kGiB + 64 * kMiB;
    Bo big;
    int err = big.create(fd, size);
    if (err == -ENOMEM)
        GTEST_SKIP() << "no memory for a " << size << "-byte BO";
    ASSERT_EQ(err, 0) << std::strerror(-err);
    fill(big.data() + off, n, fresh_seed());
    fill(big.data() + size - kPage, kPage, fresh_seed()); // the BO's last page

    Slices to = {slice(off, n, dev), slice(size - kPage, kPage, dev + n)};
    ASSERT_EQ(attach(fd, big.handle(), dbc, kDirToDev, to), 0);
    ASSERT_EQ(run_bo(big, kDirToDev), 0);
    auto got = read_dev(dev, n + kPage);
    EXPECT_TRUE(same_bytes(got.data(), big.data() + off, n));
    EXPECT_TRUE(same_bytes(got.data() + n, big.data() + size - kPage, kPage));

    // The same BO from the device, into another place past 4 GiB.
    ASSERT_EQ(detach(fd, big.handle()), 0);
    const uint64_t back = off + 2 * kMiB;
    ASSERT_EQ(attach(fd, big.handle(), dbc, kDirFromDev, {slice(back, n + kPage, dev)}), 0);
    ASSERT_EQ(run_bo(big, kDirFromDev), 0);
    EXPECT_TRUE(same_bytes(big.data() + back, big.data() + off, n));
    EXPECT_TRUE(same_bytes(big.data() + back + n, big.data() + size - kPage, kPage));
}

// Zero-size slices move nothing, yet the job completes and their doorbells ring.
TEST_P(ExecuteBoRoundTrip, ZeroSizeSlices)
{
    Shadow dev = window(kDev, 3 * kPage);
    Bo in;
    ASSERT_NO_FATAL_FAILURE(make(in, 2 * kPage));
    Slices s = {
        slice(0, 0, kDev),
        slice(0, kPage, kDev + kPage),
        doorbell(slice(kPage, 0, kDev + 2 * kPage), kDev + 2 * kPage + 16, 0xCAFEF00D),
        slice(2 * kPage, 0, 0), // at the very end of the BO
    };
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, s), 0);
    ASSERT_EQ(run_bo(in, kDirToDev), 0);
    dev.to_device(in.data(), s);
    expect_window(dev);

    // BOs of nothing but zero-size slices, in both directions.
    Bo z, zout;
    ASSERT_NO_FATAL_FAILURE(make(z, kPage));
    ASSERT_NO_FATAL_FAILURE(make(zout, kPage));
    std::vector<uint8_t> before(zout.data(), zout.data() + kPage);
    ASSERT_EQ(attach(fd, z.handle(), dbc, kDirToDev, {slice(0, 0, kDev), slice(kPage, 0, kDev)}),
              0);
    ASSERT_EQ(attach(fd, zout.handle(), dbc, kDirFromDev, {slice(0, 0, kDev + kPage)}), 0);
    EXPECT_EQ(run_bo(z, kDirToDev), 0);
    EXPECT_EQ(run_bo(zout, kDirFromDev), 0);
    EXPECT_TRUE(same_bytes(zout.data(), before.data(), kPage));
    expect_window(dev);
}

// Doorbells of each width write the low bytes of db_data, after the slice's own data.
TEST_P(ExecuteBoRoundTrip, DoorbellsOfEveryWidth)
{
    Shadow dev = window(kDev, kPage);
    Bo in;
    ASSERT_NO_FATAL_FAILURE(make(in, kPage));
    Slices s = {
        doorbell(slice(0, 256, kDev + 0x100), kDev + 0x104, 0x11223344, 32), // inside its data
        doorbell(slice(256, 0, 0), kDev + 0x400, 0xA1B2C3D4, 32),
        doorbell(slice(512, 16, kDev + 0x500), kDev + 0x402, 0x55667788, 16),
        doorbell(slice(600, 0, 0), kDev + 0x405, 0x99AABBCC, 8),
    };
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, s), 0);
    ASSERT_EQ(run_bo(in, kDirToDev), 0);
    dev.to_device(in.data(), s);
    expect_window(dev);
    auto got = read_dev(kDev + 0x400, 8);
    const uint8_t want[6] = {0xD4, 0xC3, 0x88, 0x77, dev.bytes()[0x404], 0xCC};
    EXPECT_TRUE(same_bytes(got.data(), want, sizeof(want)));

    // From the device: a slice reads before its doorbell writes, the next one after.
    Bo out;
    ASSERT_NO_FATAL_FAILURE(make(out, kPage));
    std::vector<uint8_t> before(out.data(), out.data() + kPage);
    Slices back = {doorbell(slice(0, 64, kDev + 0x800), kDev + 0x810, 0xDEADBEEF, 32),
                   slice(64, 64, kDev + 0x800)};
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, back), 0);
    ASSERT_EQ(run_bo(out, kDirFromDev), 0);
    auto want_out = dev.from_device(before, back);
    EXPECT_TRUE(same_bytes(out.data(), want_out.data(), kPage));
    expect_window(dev);
}

// Semaphore commands that do not block (INIT, INC, DEC with wrap-around, and waits already
// satisfied, presync or not) and fence flags: every job completes and moves its data.
TEST_P(ExecuteBoRoundTrip, SemaphoresThatDoNotBlock)
{
    Shadow dev = window(kDev, 4 * kPage);
    Bo a;
    ASSERT_NO_FATAL_FAILURE(make(a, 4 * kPage));
    Slices s(4);
    s[0] = slice(0, kPage, kDev);
    s[0].sem0 = sem(QAIC_SEM_INIT, 5, 3);
    s[1] = slice(kPage, kPage, kDev + kPage);
    s[1].sem0 = sem(QAIC_SEM_WAIT_EQUAL, 5, 3, true);
    s[1].sem1 = sem(QAIC_SEM_INC, 5, 1);
    s[2] = slice(2 * kPage, kPage, kDev + 2 * kPage);
    s[2].sem1 = sem(QAIC_SEM_WAIT_GT_EQ, 5, 4, true);
    s[2].sem2 = sem(QAIC_SEM_DEC, 5, 4);
    s[2].sem3 = sem(QAIC_SEM_INC, 6, 1);
    s[3] = slice(3 * kPage, kPage, kDev + 3 * kPage);
    s[3].sem0 = sem(QAIC_SEM_NOP, 0, 0, false, QAIC_SEM_INSYNCFENCE);
    s[3].sem1 = sem(QAIC_SEM_NOP, 0, 0, false, QAIC_SEM_OUTSYNCFENCE);
    s[3].sem2 = sem(QAIC_SEM_WAIT_EQUAL, 5, 0); // a wait after the data
    ASSERT_EQ(attach(fd, a.handle(), dbc, kDirToDev, s), 0);

    // A later job on the same DBC waits for what the first one left: sem 6 > 0.
    Bo b;
    ASSERT_NO_FATAL_FAILURE(make(b, 4 * kPage, true));
    Slices back = {slice(0, 4 * kPage, kDev)};
    back[0].sem2 = sem(QAIC_SEM_WAIT_GT_0, 6, 0, true);
    back[0].sem3 = sem(QAIC_SEM_DEC, 6, 1);
    ASSERT_EQ(attach(fd, b.handle(), dbc, kDirFromDev, back), 0);

    // Wrap-around: 0 - 1 is 4095, 4095 + 1 is 0.
    Bo c;
    ASSERT_NO_FATAL_FAILURE(make(c, kPage));
    Slices wrap = {slice(0, 0, 0), slice(0, 0, 0)};
    wrap[0].sem0 = sem(QAIC_SEM_WAIT_EQUAL, 6, 0, true);
    wrap[0].sem1 = sem(QAIC_SEM_DEC, 7, 1);
    wrap[0].sem2 = sem(QAIC_SEM_WAIT_EQUAL, 7, 4095);
    wrap[1].sem0 = sem(QAIC_SEM_INC, 7, 1);
    wrap[1].sem1 = sem(QAIC_SEM_WAIT_EQUAL, 7, 0);
    ASSERT_EQ(attach(fd, c.handle(), dbc, kDirToDev, wrap), 0);

    ASSERT_EQ(execute(fd, dbc,
                      {{a.handle(), kDirToDev},
                       {b.handle(), kDirFromDev},
                       {c.handle(), kDirToDev}}),
              0);
    EXPECT_EQ(wait_bo(fd, a.handle(), dbc), 0);
    EXPECT_EQ(wait_bo(fd, b.handle(), dbc), 0);
    EXPECT_EQ(wait_bo(fd, c.handle(), dbc), 0);
    dev.to_device(a.data(), s);
    EXPECT_TRUE(same_bytes(b.data(), a.data(), 4 * kPage));
    expect_window(dev);
}

// More work than the ring holds: the software queue takes the rest and feeds the ring as
// it drains, in order.
TEST_P(ExecuteBoRoundTrip, MoreWorkThanTheRingHolds)
{
    uint32_t small;
    ASSERT_EQ(activate(fd, 4, &small), 0); // 3 elements in flight at most
    constexpr int kBos = 12;
    std::vector<Bo> in(kBos), out(kBos);
    std::vector<qaic_execute_entry> ins, outs;
    for (int i = 0; i < kBos; ++i) {
        uint64_t dev = kDev + uint64_t(i) * 2 * kPage;
        ASSERT_NO_FATAL_FAILURE(make(in[i], 2 * kPage));
        ASSERT_NO_FATAL_FAILURE(make(out[i], 2 * kPage, true));
        ASSERT_EQ(attach(fd, in[i].handle(), small, kDirToDev,
                         {slice(0, kPage, dev), slice(kPage, kPage, dev + kPage)}),
                  0);
        ASSERT_EQ(attach(fd, out[i].handle(), small, kDirFromDev,
                         {slice(kPage, kPage, dev + kPage), slice(0, kPage, dev)}),
                  0);
        ins.push_back({in[i].handle(), kDirToDev});
        outs.push_back({out[i].handle(), kDirFromDev});
    }
    // All to-device BOs in one call, the from-device ones in a call each, no waits between.
    ASSERT_EQ(execute(fd, small, ins), 0);
    for (auto &e : outs)
        ASSERT_EQ(execute(fd, small, {e}), 0);
    for (int i = 0; i < kBos; ++i) {
        EXPECT_EQ(wait_bo(fd, in[i].handle(), small), 0) << i;
        EXPECT_EQ(wait_bo(fd, out[i].handle(), small), 0) << i;
        EXPECT_TRUE(same_bytes(out[i].data(), in[i].data(), 2 * kPage)) << i;
    }
    EXPECT_EQ(deactivate(fd, small), 0);
}

// A BO executes again and again, each time with what its mapping holds then.
TEST_P(ExecuteBoRoundTrip, ReexecutionMovesCurrentData)
{
    Bo in, out;
    ASSERT_NO_FATAL_FAILURE(make(in, kPage));
    ASSERT_NO_FATAL_FAILURE(make(out, kPage, true));
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, {slice(0, kPage, kDev)}), 0);
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, {slice(0, kPage, kDev)}), 0);
    for (int i = 0; i < 5; ++i) {
        fill(in.data(), kPage, fresh_seed());
        ASSERT_EQ(run_bo(in, kDirToDev), 0);
        std::memset(out.data(), 0, kPage);
        ASSERT_EQ(run_bo(out, kDirFromDev), 0);
        EXPECT_TRUE(same_bytes(out.data(), in.data(), kPage)) << "round " << i;
    }
}

// ---------------------------------------------------------------------------- partial

// A to-device BO of three slices (each with a doorbell, the last raising semaphore 7) laid
// over device memory at kDev + offset, so "moved" and "not moved" show byte for byte.
class PartialExecuteBo : public Datapath {
protected:
    static constexpr uint64_t kSize = 4 * kPage;
    static constexpr uint64_t kDb = kDev + 0x10000;

    void SetUp() override
    {
        Datapath::SetUp();
        ASSERT_NO_FATAL_FAILURE(make(bo, kSize));
        slices = {
            doorbell(slice(0, 4096, kDev), kDb, 0x0D0B0000),
            doorbell(slice(4096, 5904, kDev + 4096), kDb + 4, 0x0D0B0001),
            doorbell(slice(10000, kSize - 10000, kDev + 10000), kDb + 8, 0x0D0B0002),
        };
        slices[2].sem1 = sem(QAIC_SEM_INC, 7, 1);
        ASSERT_EQ(attach(fd, bo.handle(), dbc, kDirToDev, slices), 0);
        dev = std::make_unique<Shadow>(window(kDev, 0x10000 + 16));
    }
    void TearDown() override
    {
        bo.reset();
        Datapath::TearDown();
    }

    // PARTIAL_EXECUTE with resize, then the whole window must be as the model says.
    void check(uint64_t resize)
    {
        fill(bo.data(), kSize, fresh_seed());
        ASSERT_EQ(partial_execute(fd, dbc, bo.handle(), kDirToDev, resize), 0);
        ASSERT_EQ(wait_bo(fd, bo.handle(), dbc), 0);
        dev->to_device(bo.data(), slices, resize);
        expect_window(*dev);
    }

    Bo bo;
    Slices slices;
    std::unique_ptr<Shadow> dev;
};

TEST_F(PartialExecuteBo, ResizeZeroMovesNothingButRingsTheDoorbells)
{
    std::vector<uint8_t> old(dev->bytes().begin(), dev->bytes().begin() + kSize);
    ASSERT_NO_FATAL_FAILURE(check(0));
    auto got = read_dev(kDev, kSize);
    EXPECT_TRUE(same_bytes(got.data(), old.data(), kSize)) << "resize 0 moved data";
    auto db = read_dev(kDb, 12);
    const uint32_t want[3] = {0x0D0B0000, 0x0D0B0001, 0x0D0B0002};
    EXPECT_TRUE(same_bytes(db.data(), want, sizeof(want)));
}

TEST_F(PartialExecuteBo, ResizeInsideASliceMovesItsFirstPart)
{
    ASSERT_NO_FATAL_FAILURE(check(6000));
    ASSERT_NO_FATAL_FAILURE(check(1));
    ASSERT_NO_FATAL_FAILURE(check(kSize - 1));
}

TEST_F(PartialExecuteBo, ResizeAtSliceBoundaries)
{
    ASSERT_NO_FATAL_FAILURE(check(4096));
    ASSERT_NO_FATAL_FAILURE(check(10000));
}

TEST_F(PartialExecuteBo, ResizeOfTheWholeBoMovesAll)
{
    ASSERT_NO_FATAL_FAILURE(check(kSize));
}

// A full EXECUTE after a partial one moves everything again: resize does not stick.
TEST_F(PartialExecuteBo, ExecuteAfterPartialMovesAll)
{
    ASSERT_NO_FATAL_FAILURE(check(3000));
    fill(bo.data(), kSize, fresh_seed());
    ASSERT_EQ(run_bo(bo, kDirToDev), 0);
    dev->to_device(bo.data(), slices);
    expect_window(*dev);
}

// Slices past resize still run their semaphores: a job waiting for semaphore 7 (raised by
// the last slice) completes.
TEST_F(PartialExecuteBo, SemaphoresRunPastResize)
{
    ASSERT_NO_FATAL_FAILURE(check(0));
    Bo waiter;
    ASSERT_NO_FATAL_FAILURE(make(waiter, kPage));
    qaic_attach_slice_entry e = slice(0, 0, 0);
    e.sem0 = sem(QAIC_SEM_WAIT_GT_0, 7, 0, true);
    ASSERT_EQ(attach(fd, waiter.handle(), dbc, kDirToDev, {e}), 0);
    ASSERT_EQ(execute(fd, dbc, waiter.handle(), kDirToDev), 0);
    EXPECT_EQ(wait_bo(fd, waiter.handle(), dbc, 2000), 0) << "semaphore 7 was not raised";
}

// resize 0 sends each slice as one zero-length element.
TEST_F(PartialExecuteBo, ResizeZeroUsesOneElementPerSlice)
{
    ASSERT_NO_FATAL_FAILURE(check(0));
    qaic_perf_stats_entry st{};
    ASSERT_EQ(perf_stats(fd, dbc, bo.handle(), &st), 0);
    EXPECT_EQ(st.num_queue_element, 3u);
}

TEST_F(PartialExecuteBo, ResizeOverTheBoSizeIsEinval)
{
    for (uint64_t resize : {kSize + 1, kSize + kPage, uint64_t(UINT64_MAX)}) {
        SCOPED_TRACE(resize);
        EXPECT_EQ(partial_execute(fd, dbc, bo.handle(), kDirToDev, resize), -EINVAL);
    }
    // With a good BO before it in the same call: nothing is queued.
    Bo other;
    ASSERT_NO_FATAL_FAILURE(make(other, kPage));
    ASSERT_EQ(attach(fd, other.handle(), dbc, kDirToDev, {slice(0, kPage, kDev + 0x20000)}), 0);
    qaic_partial_execute_entry good{other.handle(), kDirToDev, kPage};
    qaic_partial_execute_entry bad{bo.handle(), kDirToDev, kSize + 1};
    EXPECT_EQ(partial_execute(fd, dbc, {good, bad}), -EINVAL);
    EXPECT_EQ(detach(fd, other.handle()), 0) << "the good BO was left queued";
    // Both still work.
    ASSERT_NO_FATAL_FAILURE(check(kSize));
}

// The BO's size is its page-rounded size: resize may reach it, not pass it.
TEST_F(PartialExecuteBo, ResizeLimitIsThePageRoundedSize)
{
    Bo odd;
    ASSERT_NO_FATAL_FAILURE(make(odd, 10000)); // 12288 bytes
    Shadow small = window(kDev + 0x20000, 10000);
    Slices s = {slice(0, 10000, kDev + 0x20000)};
    ASSERT_EQ(attach(fd, odd.handle(), dbc, kDirToDev, s), 0);
    EXPECT_EQ(partial_execute(fd, dbc, odd.handle(), kDirToDev, 3 * kPage + 1), -EINVAL);
    ASSERT_EQ(partial_execute(fd, dbc, odd.handle(), kDirToDev, 3 * kPage), 0);
    ASSERT_EQ(wait_bo(fd, odd.handle(), dbc), 0);
    small.to_device(odd.data(), s);
    expect_window(small);
}

// From the device, only the first resize bytes of the BO are written.
TEST_F(PartialExecuteBo, FromDevice)
{
    ASSERT_NO_FATAL_FAILURE(check(kSize)); // known device content
    Bo out;
    ASSERT_NO_FATAL_FAILURE(make(out, 4 * kPage));
    Slices s = {slice(0, 2 * kPage, kDev), slice(2 * kPage, 2 * kPage, kDev + 2 * kPage)};
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, s), 0);
    for (uint64_t resize : {uint64_t(0), uint64_t(5000), 2 * kPage, uint64_t(12000)}) {
        SCOPED_TRACE(resize);
        fill(out.data(), out.size(), fresh_seed());
        std::vector<uint8_t> before(out.data(), out.data() + out.size());
        ASSERT_EQ(partial_execute(fd, dbc, out.handle(), kDirFromDev, resize), 0);
        ASSERT_EQ(wait_bo(fd, out.handle(), dbc), 0);
        auto want = dev->from_device(before, s, resize);
        EXPECT_TRUE(same_bytes(out.data(), want.data(), out.size()));
    }
}

// ---------------------------------------------------------------------------- errnos

// A file with a DBC, a to-device BO `in` and a from-device BO `out` sliced on it.
// One page of the test's memory with nothing mapped after it: entries placed at its end
// straddle into an address the driver cannot read.
class PageBeforeAHole {
public:
    PageBeforeAHole()
    {
        void *p = mmap(nullptr, 2 * size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (p == MAP_FAILED)
            return;
        munmap(static_cast<uint8_t *>(p) + size_, size_);
        base_ = static_cast<uint8_t *>(p);
    }
    ~PageBeforeAHole()
    {
        if (base_)
            munmap(base_, size_);
    }
    bool ok() const { return base_ != nullptr; }
    uint8_t *end() const { return base_ + size_; } // the first unmapped byte

private:
    size_t size_ = size_t(sysconf(_SC_PAGESIZE));
    uint8_t *base_ = nullptr;
};

class ExecuteBo : public Datapath {
protected:
    void SetUp() override
    {
        Datapath::SetUp();
        ASSERT_NO_FATAL_FAILURE(make(in, kPage));
        ASSERT_NO_FATAL_FAILURE(make(out, kPage, true));
        ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, {slice(0, kPage, kDev)}), 0);
        ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, {slice(0, kPage, kDev)}), 0);
    }
    void TearDown() override
    {
        in.reset();
        out.reset();
        Datapath::TearDown();
    }

    // Both BOs still work, data and all.
    void expect_round_trip()
    {
        fill(in.data(), kPage, fresh_seed());
        EXPECT_EQ(run_bo(in, kDirToDev), 0);
        EXPECT_EQ(run_bo(out, kDirFromDev), 0);
        EXPECT_TRUE(same_bytes(out.data(), in.data(), kPage));
    }

    // EXECUTE and PARTIAL_EXECUTE of raw arguments.
    int raw(unsigned long request, uint32_t count, uint32_t dbc_id, const void *data)
    {
        qaic_execute e{};
        e.hdr.count = count;
        e.hdr.dbc_id = dbc_id;
        e.data = uintptr_t(data);
        return ioctl_err(fd, request, &e);
    }

    Bo in, out;
};

constexpr unsigned long kExecIoctls[] = {DRM_IOCTL_QAIC_EXECUTE_BO,
                                         DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO};

TEST_F(ExecuteBo, CountZeroIsEinval)
{
    qaic_partial_execute_entry e{in.handle(), kDirToDev, 0};
    for (unsigned long req : kExecIoctls) {
        EXPECT_EQ(raw(req, 0, dbc, &e), -EINVAL);
        EXPECT_EQ(raw(req, 0, dbc, nullptr), -EINVAL);
    }
    expect_round_trip();
}

// Checked before the entries are read.
TEST_F(ExecuteBo, DbcOutOfRangeIsEinval)
{
    qaic_partial_execute_entry e{in.handle(), kDirToDev, kPage};
    std::vector<uint32_t> ids = {0x10000, UINT32_MAX};
    int n = qaic_sim_num_dbc(fd);
    if (n > 0)
        ids.push_back(uint32_t(n)); // the first id past the last DBC
    for (unsigned long req : kExecIoctls) {
        for (uint32_t id : ids) {
            SCOPED_TRACE(id);
            EXPECT_EQ(raw(req, 1, id, &e), -EINVAL);
            EXPECT_EQ(raw(req, 1, id, nullptr), -EINVAL);
        }
    }
}

// Entries that cannot be read: EFAULT. A DBC this file does not own is EPERM before that:
// its entries are never copied.
TEST_F(ExecuteBo, UnreadableEntriesAreEfault)
{
    PageBeforeAHole mem;
    ASSERT_TRUE(mem.ok());
    // One good entry at the end of the mapped page, the second one past it.
    auto *straddle = mem.end() - sizeof(qaic_execute_entry);
    qaic_execute_entry good{in.handle(), kDirToDev};
    std::memcpy(straddle, &good, sizeof(good));
    auto *pstraddle = mem.end() - sizeof(qaic_partial_execute_entry);
    qaic_partial_execute_entry pgood{in.handle(), kDirToDev, kPage};

    uint32_t other = selftest::other_dbc(fd, dbc); // not activated by anyone here
    for (uint32_t id : {dbc, other}) {
        SCOPED_TRACE(id);
        int want = id == dbc ? -EFAULT : -EPERM;
        EXPECT_EQ(raw(DRM_IOCTL_QAIC_EXECUTE_BO, 1, id, nullptr), want);
        EXPECT_EQ(raw(DRM_IOCTL_QAIC_EXECUTE_BO, 1, id, mem.end()), want);
        EXPECT_EQ(raw(DRM_IOCTL_QAIC_EXECUTE_BO, 2, id, straddle), want);
        EXPECT_EQ(raw(DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO, 1, id, nullptr), want);
        std::memcpy(pstraddle, &pgood, sizeof(pgood));
        EXPECT_EQ(raw(DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO, 2, id, pstraddle), want);
    }
    // The good entry before the fault was not queued.
    expect_round_trip();
}

// A count no call can ever need (more BOs than the DBC's ring and software queue hold
// together) is E2BIG, and a DBC this file did not activate EPERM, both before the entries
// are copied: 2^27 entries behind a 16-byte buffer must not make the driver allocate and
// zero gigabytes (nor report EFAULT after doing so).
TEST_F(ExecuteBo, CountBeyondTheQueueIsE2bigBeforeTheCopy)
{
    qaic_partial_execute_entry one{in.handle(), kDirToDev, kPage};
    uint32_t other = selftest::other_dbc(fd, dbc); // not activated by anyone here
    for (unsigned long req : kExecIoctls) {
        SCOPED_TRACE(req);
        EXPECT_EQ(raw(req, 1u << 27, dbc, &one), -E2BIG);
        EXPECT_EQ(raw(req, UINT32_MAX, dbc, &one), -E2BIG);
        EXPECT_EQ(raw(req, 1u << 27, other, &one), -EPERM);
        EXPECT_EQ(raw(req, UINT32_MAX, other, &one), -EPERM);
    }
    expect_round_trip();
}

// The bound is the DBC's: ring slots (queue size - 1) plus sched_queue_depth jobs. One entry
// more than that is E2BIG; a count within it is looked at (here: EFAULT, the entries
// cannot all be read).
TEST_F(ExecuteBo, CountBoundIsTheRingPlusTheSoftwareQueue)
{
    ParamGuard depth("sched_queue_depth", kDefaultSchedQueueDepth);
    SIM_OR_SKIP(qaic_sim_set_param("sched_queue_depth", 3));
    uint32_t small;
    ASSERT_EQ(activate(fd, 8, &small), 0); // 7 ring slots; the depth is taken at activation
    // One entry at the end of a page whose next page is unmapped.
    PageBeforeAHole mem;
    ASSERT_TRUE(mem.ok());
    auto *last = mem.end() - sizeof(qaic_partial_execute_entry);
    for (unsigned long req : kExecIoctls) {
        SCOPED_TRACE(req);
        EXPECT_EQ(raw(req, 7 + 3 + 1, small, last), -E2BIG);
        EXPECT_EQ(raw(req, 7 + 3, small, last), -EFAULT);
    }
    ASSERT_EQ(deactivate(fd, small), 0);
}

// A DBC this file did not activate: EPERM, before any entry is looked at.
TEST_F(ExecuteBo, DbcNotActivatedIsEperm)
{
    uint32_t other = selftest::other_dbc(fd, dbc);
    EXPECT_EQ(execute(fd, other, in.handle(), kDirToDev), -EPERM);
    EXPECT_EQ(execute(fd, other, 0xDEAD, kDirToDev), -EPERM);
    EXPECT_EQ(partial_execute(fd, other, in.handle(), kDirToDev, 0), -EPERM);
    // A DBC given back.
    ASSERT_EQ(deactivate(fd, dbc), 0);
    EXPECT_EQ(execute(fd, dbc, in.handle(), kDirToDev), -EPERM);
    EXPECT_EQ(partial_execute(fd, dbc, in.handle(), kDirToDev, 0), -EPERM);
}

TEST_F(ExecuteBo, AnotherFilesDbcIsEperm)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    uint32_t dbc2;
    ASSERT_EQ(activate(fd2, 16, &dbc2), 0);
    {
        Bo theirs;
        ASSERT_EQ(theirs.create(fd2, kPage), 0);
        ASSERT_EQ(attach(fd2, theirs.handle(), dbc2, kDirToDev, {slice(0, kPage, kDev)}), 0);
        EXPECT_EQ(execute(fd, dbc2, in.handle(), kDirToDev), -EPERM);
        EXPECT_EQ(execute(fd, dbc2, theirs.handle(), kDirToDev), -EPERM);
        EXPECT_EQ(partial_execute(fd, dbc2, in.handle(), kDirToDev, 0), -EPERM);
        // Its owner runs it.
        EXPECT_EQ(dpt::run(fd2, dbc2, theirs.handle(), kDirToDev), 0);
    }
    EXPECT_EQ(qaic_close(fd2), 0);
    expect_round_trip();
}

TEST_F(ExecuteBo, UnknownHandleIsEnoent)
{
    Bo gone;
    ASSERT_NO_FATAL_FAILURE(make(gone, kPage));
    uint32_t closed = gone.handle();
    gone.reset();
    for (uint32_t h : {0u, closed, 0xFFFFFFFFu}) {
        SCOPED_TRACE(h);
        EXPECT_EQ(execute(fd, dbc, h, kDirToDev), -ENOENT);
        EXPECT_EQ(partial_execute(fd, dbc, h, kDirToDev, 0), -ENOENT);
        // After a good entry: that one is not left queued.
        EXPECT_EQ(execute(fd, dbc, {{in.handle(), kDirToDev}, {h, kDirToDev}}), -ENOENT);
    }
    expect_round_trip();
}

TEST_F(ExecuteBo, BoNotSlicedIsEinval)
{
    Bo plain;
    ASSERT_NO_FATAL_FAILURE(make(plain, kPage));
    EXPECT_EQ(execute(fd, dbc, plain.handle(), kDirToDev), -EINVAL);
    EXPECT_EQ(partial_execute(fd, dbc, plain.handle(), kDirToDev, 0), -EINVAL);
    EXPECT_EQ(execute(fd, dbc, {{in.handle(), kDirToDev}, {plain.handle(), kDirToDev}}), -EINVAL);
    // Detached is not sliced either.
    ASSERT_EQ(detach(fd, out.handle()), 0);
    EXPECT_EQ(execute(fd, dbc, out.handle(), kDirFromDev), -EINVAL);
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, {slice(0, kPage, kDev)}), 0);
    expect_round_trip();
}

// The same BO twice in one call is EINVAL, and the call leaves nothing queued: both BOs can
// be detached (not EBUSY) and executed afterwards.
TEST_F(ExecuteBo, SameBoTwiceInOneCallIsEinval)
{
    EXPECT_EQ(execute(fd, dbc, {{in.handle(), kDirToDev}, {in.handle(), kDirToDev}}), -EINVAL);
    EXPECT_EQ(execute(fd, dbc,
                      {{out.handle(), kDirFromDev},
                       {in.handle(), kDirToDev},
                       {in.handle(), kDirToDev}}),
              -EINVAL);
    qaic_partial_execute_entry p{in.handle(), kDirToDev, 0};
    EXPECT_EQ(partial_execute(fd, dbc, {p, p}), -EINVAL);
    // Never executed: WAIT has nothing to wait for.
    EXPECT_EQ(wait_bo(fd, in.handle(), dbc, 1), 0);
    EXPECT_EQ(wait_bo(fd, out.handle(), dbc, 1), 0);
    EXPECT_EQ(detach(fd, in.handle()), 0);
    EXPECT_EQ(detach(fd, out.handle()), 0);
    ASSERT_EQ(attach(fd, in.handle(), dbc, kDirToDev, {slice(0, kPage, kDev)}), 0);
    ASSERT_EQ(attach(fd, out.handle(), dbc, kDirFromDev, {slice(0, kPage, kDev)}), 0);
    expect_round_trip();
    // And once more, without the detach: the BOs are executable right after the failure.
    EXPECT_EQ(execute(fd, dbc, {{in.handle(), kDirToDev}, {in.handle(), kDirToDev}}), -EINVAL);
    expect_round_trip();
}

// A BO whose earlier execution has not finished is EINVAL (also inside a call with others,
// which stay unqueued).
TEST_F(ExecuteBo, AlreadyQueuedIsEinval)
{
    Bo blocker;
    ASSERT_NO_FATAL_FAILURE(make(blocker, kPage));
    ASSERT_EQ(attach(fd, blocker.handle(), dbc, kDirToDev, {blocking_slice(0, kPage, kDev)}), 0);
    ASSERT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), 0);
    EXPECT_EQ(execute(fd, dbc, blocker.handle(), kDirToDev), -EINVAL);
    EXPECT_EQ(partial_execute(fd, dbc, blocker.handle(), kDirToDev, 0), -EINVAL);
    EXPECT_EQ(execute(fd, dbc, {{in.handle(), kDirToDev}, {blocker.handle(), kDirToDev}}),
              -EINVAL);
    EXPECT_EQ(detach(fd, in.handle()), 0) << "the other BO was left queued";
    EXPECT_EQ(detach(fd, blocker.handle()), -EBUSY);
    // Queued behind the blocked one, `out` is "already queued" too.
    ASSERT_EQ(execute(fd, dbc, out.handle(), kDirFromDev), 0);
    EXPECT_EQ(execute(fd, dbc, out.handle(), kDirFromDev), -EINVAL);
    EXPECT_EQ(wait_bo(fd, out.handle(), dbc, 20), -ETIMEDOUT);
    // Giving the DBC back ends them.
    ASSERT_EQ(deactivate(fd, dbc), 0);
    EXPECT_EQ(wait_bo(fd, blocker.handle(), dbc, 1000), -EPERM);
}

// Ours: a BO sliced on another DBC of the same file is EINVAL; on its own DBC it runs.
TEST_F(ExecuteBo, SlicedOnAnotherDbcIsEinval)
{
    uint32_t dbc2;
    ASSERT_EQ(activate(fd, 16, &dbc2), 0);
    Bo there;
    ASSERT_NO_FATAL_FAILURE(make(there, kPage));
    ASSERT_EQ(attach(fd, there.handle(), dbc2, kDirToDev, {slice(0, kPage, kDev + kPage)}), 0);
    EXPECT_EQ(execute(fd, dbc, there.handle(), kDirToDev), -EINVAL);
    EXPECT_EQ(partial_execute(fd, dbc, there.handle(), kDirToDev, 0), -EINVAL);
    EXPECT_EQ(execute(fd, dbc2, in.handle(), kDirToDev), -EINVAL);
    EXPECT_EQ(execute(fd, dbc2, there.handle(), kDirToDev), 0);
    EXPECT_EQ(wait_bo(fd, there.handle(), dbc2), 0);
    auto got = read_dev(kDev + kPage, kPage);
    EXPECT_TRUE(same_bytes(got.data(), there.data(), kPage));
    EXPECT_EQ(deactivate(fd, dbc2), 0);
    expect_round_trip();
}

// Ours: the direction must be the one the BO was attached with.
TEST_F(ExecuteBo, WrongDirectionIsEinval)
{
    for (uint32_t dir : {0u, kDirFromDev, 3u, 0xFFFFFFFFu}) {
        SCOPED_TRACE(dir);
        EXPECT_EQ(execute(fd, dbc, in.handle(), dir), -EINVAL);
        EXPECT_EQ(partial_execute(fd, dbc, in.handle(), dir, 0), -EINVAL);
    }
    EXPECT_EQ(execute(fd, dbc, out.handle(), kDirToDev), -EINVAL);
    EXPECT_EQ(execute(fd, dbc, {{in.handle(), kDirToDev}, {out.handle(), kDirToDev}}), -EINVAL);
    expect_round_trip();
}

// With no software queue (sched_queue_depth 0) a call that does not fit the ring is EAGAIN,
// and none of its BOs is queued, not even those that would have fit. The ring is held full
// by a job blocked on a semaphore; hang recovery (a short exec_timeout_ms) clears it.
TEST_F(ExecuteBo, RingFullIsEagainAndQueuesNothing)
{
    ParamGuard depth("sched_queue_depth", kDefaultSchedQueueDepth);
    ParamGuard hang("exec_timeout_ms", kDefaultExecTimeoutMs);
    SIM_OR_SKIP(qaic_sim_set_param("sched_queue_depth", 0));
    uint32_t small;
    ASSERT_EQ(activate(fd, 8, &small), 0); // 7 elements; the depth is taken at activation

    Bo blocker, filler, c, d;
    ASSERT_NO_FATAL_FAILURE(make(blocker, kPage));
    ASSERT_NO_FATAL_FAILURE(make(filler, kPage));
    ASSERT_NO_FATAL_FAILURE(make(c, kPage));
    ASSERT_NO_FATAL_FAILURE(make(d, kPage));
    ASSERT_EQ(attach(fd, blocker.handle(), small, kDirToDev,
                     {blocking_slice(0, kPage, kDev + 0x100000)}),
              0);
    ASSERT_EQ(attach(fd, filler.handle(), small, kDirToDev, Slices(5, slice(0, 0, 0))), 0);
    ASSERT_EQ(attach(fd, c.handle(), small, kDirToDev, {slice(0, kPage, kDev)}), 0);
    ASSERT_EQ(attach(fd, d.handle(), small, kDirToDev, {slice(0, kPage, kDev + kPage)}), 0);

    auto start = Clock::now();
    ASSERT_EQ(execute(fd, small, blocker.handle(), kDirToDev), 0);
    ASSERT_EQ(execute(fd, small, filler.handle(), kDirToDev), 0); // 6 of 7 slots in use
    EXPECT_EQ(execute(fd, small, {{c.handle(), kDirToDev}, {d.handle(), kDirToDev}}), -EAGAIN);
    EXPECT_EQ(execute(fd, small, {{d.handle(), kDirToDev}, {c.handle(), kDirToDev}}), -EAGAIN);
    qaic_partial_execute_entry pc{c.handle(), kDirToDev, kPage}, pd{d.handle(), kDirToDev, kPage};
    EXPECT_EQ(partial_execute(fd, small, {pc, pd}), -EAGAIN);
    // Neither reached the ring: nothing to wait for, nothing busy.
    EXPECT_EQ(wait_bo(fd, c.handle(), small, 1), 0);
    EXPECT_EQ(wait_bo(fd, d.handle(), small, 1), 0);

    // Hang recovery ends the blocked job (ETIMEDOUT) and the one behind it (EIO). Only now
    // is the timeout short: a stalled test must not see the ring emptied before its checks.
    ASSERT_EQ(qaic_sim_set_param("exec_timeout_ms", 300), 0);
    EXPECT_EQ(wait_bo(fd, blocker.handle(), small), -ETIMEDOUT);
    EXPECT_EQ(wait_bo(fd, filler.handle(), small), -EIO);
    EXPECT_GE(ms_since(start), 300);

    // The refused BOs were never queued: they run now, data and all.
    ASSERT_EQ(execute(fd, small, {{c.handle(), kDirToDev}, {d.handle(), kDirToDev}}), 0);
    EXPECT_EQ(wait_bo(fd, c.handle(), small), 0);
    EXPECT_EQ(wait_bo(fd, d.handle(), small), 0);
    auto got = read_dev(kDev, 2 * kPage);
    EXPECT_TRUE(same_bytes(got.data(), c.data(), kPage));
    EXPECT_TRUE(same_bytes(got.data() + kPage, d.data(), kPage));
    EXPECT_EQ(deactivate(fd, small), 0);
}

} // namespace
} // namespace dpt
