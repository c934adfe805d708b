// SPDX-License-Identifier: GPL-2.0-only
// The datapath under concurrency: threads sharing a DBC, threads on their own DBCs and files,
// WAIT and PERF_STATS racing executions, and files closed with jobs in flight while others
// work. Every byte moved is checked.
#include "datapath_helpers.h"

namespace dpt {
namespace {

constexpr uint64_t kDev = 64 * kMiB;
constexpr uint64_t kStride = 64 * 1024; // device memory of one worker

// One worker's round trips on (fd, dbc): a to-device BO of two slices and a from-device BO
// reading them back in the other order, at the worker's own device addresses. Returns the
// number of failed rounds; the details go to gtest.
int round_trips(int fd, uint32_t dbc, uint64_t dev, int rounds)
{
    Bo in, out;
    if (in.create(fd, 2 * kPage) || out.create(fd, 2 * kPage)) {
        ADD_FAILURE() << "BOs for a worker: " << std::strerror(errno);
        return rounds;
    }
    int err = attach(fd, in.handle(), dbc, kDirToDev,
                     {slice(0, kPage, dev), slice(kPage, kPage, dev + kPage)});
    if (!err)
        err = attach(fd, out.handle(), dbc, kDirFromDev,
                     {slice(kPage, kPage, dev + kPage), slice(0, kPage, dev)});
    if (err) {
        ADD_FAILURE() << "ATTACH for a worker: " << err;
        return rounds;
    }
    int failed = 0;
    for (int i = 0; i < rounds; ++i) {
        fill(in.data(), in.size(), fresh_seed());
        std::memset(out.data(), 0, out.size());
        int e1, e2, e3 = 0;
        if (i % 2) { // both in one call: they run in order
            e1 = execute(fd, dbc, {{in.handle(), kDirToDev}, {out.handle(), kDirFromDev}});
            e2 = e1 ? e1 : wait_bo(fd, in.handle(), dbc);
            e3 = e1 ? e1 : wait_bo(fd, out.handle(), dbc);
        } else {
            e1 = dpt::run(fd, dbc, in.handle(), kDirToDev);
            e2 = e1 ? e1 : dpt::run(fd, dbc, out.handle(), kDirFromDev);
        }
        bool same = std::memcmp(in.data(), out.data(), in.size()) == 0;
        if (e1 || e2 || e3 || !same) {
            ADD_FAILURE() << "round " << i << " on DBC " << dbc << ": " << e1 << " " << e2 << " "
                          << e3 << (same ? "" : ", data differs");
            ++failed;
        }
    }
    return failed;
}

class DatapathConcurrency : public Datapath {};

// Threads sharing one DBC, each with its own BOs: all data arrives, nothing interleaves.
TEST_F(DatapathConcurrency, ThreadsShareOneDbc)
{
    constexpr int kThreads = 4, kRounds = 25;
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back(
            [&, t] { failed += round_trips(fd, dbc, kDev + t * kStride, kRounds); });
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(failed, 0);
}

// Threads on DBCs of their own, in this file and in files of their own.
TEST_F(DatapathConcurrency, ThreadsOnSeparateDbcsAndFiles)
{
    constexpr int kSameFile = 3, kOwnFile = 2, kRounds = 25;
    std::vector<uint32_t> dbcs(kSameFile);
    for (auto &d : dbcs)
        ASSERT_EQ(activate(fd, 64, &d), 0);
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kSameFile; ++t)
        threads.emplace_back(
            [&, t] { failed += round_trips(fd, dbcs[t], kDev + t * kStride, kRounds); });
    for (int t = 0; t < kOwnFile; ++t) {
        threads.emplace_back([&, t] {
            int own = qaic_open(nullptr);
            uint32_t d;
            if (own < 0 || activate(own, 64, &d) != 0) {
                ADD_FAILURE() << "a file of its own: " << std::strerror(errno);
                ++failed;
            } else {
                failed += round_trips(own, d, kDev + (kSameFile + t) * kStride, kRounds);
            }
            if (own >= 0) {
                EXPECT_EQ(qaic_close(own), 0);
            }
        });
    }
    // The fixture's DBC works meanwhile too.
    failed += round_trips(fd, dbc, kDev + (kSameFile + kOwnFile) * kStride, kRounds);
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(failed, 0);
    for (uint32_t d : dbcs)
        EXPECT_EQ(deactivate(fd, d), 0);
}

// WAIT and PERF_STATS of a BO while another thread keeps executing it: WAIT gives the result
// of an execution (always 0 here), PERF_STATS all zero or a finished execution's stats.
TEST_F(DatapathConcurrency, WaitAndPerfStatsRaceExecutions)
{
    Bo bo;
    ASSERT_NO_FATAL_FAILURE(make(bo, 3 * kPage));
    ASSERT_EQ(attach(fd, bo.handle(), dbc, kDirToDev,
                     {slice(0, kPage, kDev), slice(kPage, kPage, kDev + kPage),
                      slice(2 * kPage, kPage, kDev + 2 * kPage)}),
              0);
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::thread runner([&] {
        for (int i = 0; i < 200; ++i) {
            int err = execute(fd, dbc, bo.handle(), kDirToDev);
            if (!err)
                err = wait_bo(fd, bo.handle(), dbc);
            if (err) {
                ADD_FAILURE() << "execution " << i << ": " << err;
                ++bad;
            }
        }
        stop = true;
    });
    std::thread waiter([&] {
        while (!stop) {
            if (int err = wait_bo(fd, bo.handle(), dbc); err) {
                ADD_FAILURE() << "WAIT: " << err;
                ++bad;
            }
        }
    });
    int samples = 0;
    do { // at least once, even if the runner is through before this thread gets here
        qaic_perf_stats_entry e{};
        if (int err = perf_stats(fd, dbc, bo.handle(), &e); err || e.handle != bo.handle() ||
                                                           (e.num_queue_element != 0 &&
                                                            e.num_queue_element != 3)) {
            ADD_FAILURE() << "PERF_STATS: " << err << ", " << e.num_queue_element << " elements";
            ++bad;
        }
        ++samples;
    } while (!stop);
    runner.join();
    waiter.join();
    EXPECT_EQ(bad, 0);
    EXPECT_GT(samples, 0);
}

// Jobs of one DBC finish in order, however many threads reap its completions: once the last
// BO of a call is done, every earlier one is too, and the call can be made again at once
// (EXECUTE refuses a BO still queued with EINVAL). In polling mode every busy-polling waiter
// reaps: here the main thread waits for the last BO while two others wait for earlier ones,
// and the datapath thread polls at its shortest interval, so batches are reaped side by side.
TEST_F(DatapathConcurrency, JobsFinishInOrderWhoeverReaps)
{
    POLLING_OR_SKIP();
    ParamGuard interval("datapath_poll_interval_us", kDefaultPollIntervalUs);
    ASSERT_EQ(qaic_sim_set_param("datapath_poll_interval_us", 10), 0);
    constexpr int kBos = 64, kRounds = 500;
    std::vector<Bo> bos(kBos);
    std::vector<qaic_execute_entry> all;
    for (int i = 0; i < kBos; ++i) {
        ASSERT_NO_FATAL_FAILURE(make(bos[i], kPage));
        ASSERT_EQ(attach(fd, bos[i].handle(), dbc, kDirToDev, {slice(0, kPage, kDev + i * kPage)}),
                  0);
        all.push_back({bos[i].handle(), kDirToDev});
    }
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    auto reaper = [&](int first) {
        for (int i = first; !stop; i = (i + 7) % (kBos - 1))
            if (int err = wait_bo(fd, bos[i].handle(), dbc); err && err != -ETIMEDOUT)
                ++bad;
    };
    std::thread r1(reaper, 0), r2(reaper, 3);
    for (int round = 0; round < kRounds; ++round) {
        int err = execute(fd, dbc, all);
        if (!err)
            err = wait_bo(fd, bos.back().handle(), dbc);
        if (err) {
            ADD_FAILURE() << "round " << round << ": " << err;
            break;
        }
    }
    stop = true;
    r1.join();
    r2.join();
    EXPECT_EQ(bad, 0);
}

// Files closed with jobs in flight (data moving, a job blocked on a semaphore, more queued
// behind it), again and again, while another file moves data: no crash, nothing leaked (the
// DBCs come back, the BO memory too), and the other file's work is unaffected.
TEST_F(DatapathConcurrency, CloseWithJobsInFlight)
{
    std::string why;
    bool sim = sim_control(fd, &why);
    // A BO of most of the pool's memory fits before (else the check is moot) and after.
    uint64_t probe = 0;
#ifdef CONFIG_QAIC_BO_MEMORY_MB
    if (sim) {
        probe = (uint64_t(CONFIG_QAIC_BO_MEMORY_MB) << 20) - kGiB;
        uint32_t h;
        if (create_bo(fd, probe, &h) == 0) {
            EXPECT_EQ(gem_close(fd, h), 0);
        } else {
            probe = 0; // earlier tests hold memory: no baseline
        }
    }
#endif

    std::atomic<int> rounds{0}, failed{0};
    // Stopped and joined however the loop below ends: a failed ASSERT in it reports the
    // failure instead of terminating the binary with a joinable thread.
    std::jthread other([&](std::stop_token stop) {
        while (!stop.stop_requested()) {
            failed += round_trips(fd, dbc, kDev, 2);
            rounds += 2;
        }
    });

    constexpr int kIterations = 20;
    for (int i = 0; i < kIterations; ++i) {
        SCOPED_TRACE(i);
        int f = qaic_open(nullptr);
        ASSERT_GE(f, 0);
        uint32_t d;
        ASSERT_EQ(activate(f, 64, &d), 0);
        uint32_t big, blocker, small[4], huge;
        ASSERT_EQ(create_bo(f, 4 * kMiB, &big), 0);
        ASSERT_EQ(create_bo(f, 64 * kMiB, &huge), 0); // never touched: memory to leak
        ASSERT_EQ(create_bo(f, kPage, &blocker), 0);
        ASSERT_EQ(attach(f, big, d, kDirToDev, {slice(0, 4 * kMiB, kDev + kStride)}), 0);
        ASSERT_EQ(attach(f, huge, d, kDirFromDev, {slice(0, kMiB, kDev + kStride)}), 0);
        ASSERT_EQ(attach(f, blocker, d, kDirToDev, {blocking_slice(0, 0, 0)}), 0);
        std::vector<qaic_execute_entry> behind;
        for (uint32_t &h : small) {
            ASSERT_EQ(create_bo(f, kPage, &h), 0);
            ASSERT_EQ(attach(f, h, d, kDirToDev, {slice(0, kPage, kDev + 2 * kStride)}), 0);
            behind.push_back({h, kDirToDev});
        }
        ASSERT_EQ(execute(f, d, {{big, kDirToDev}, {huge, kDirFromDev}}), 0);
        bool waiter = i % 5 == 4;
        if (i % 2 || waiter) {
            ASSERT_EQ(execute(f, d, blocker, kDirToDev), 0);
        }
        ASSERT_EQ(execute(f, d, behind), 0);
        if (waiter) {
            // A WAIT in flight keeps the file open until it returns.
            Blocked w([&] { return wait_bo(f, blocker, d, 50); });
            ASSERT_TRUE(w.park());
            EXPECT_EQ(qaic_close(f), 0);
            EXPECT_EQ(w.join(), -ETIMEDOUT);
        } else {
            EXPECT_EQ(qaic_close(f), 0);
        }
    }
    other.request_stop();
    other.join();
    EXPECT_EQ(failed, 0);
    EXPECT_GT(rounds, 0);

    if (sim) {
        // Every DBC but ours is free again, on the card too.
        int n = qaic_sim_num_dbc(fd);
        ASSERT_GT(n, 0);
        for (int id = 0; id < n; ++id) {
            qaic_sim_dbc_status st{};
            ASSERT_EQ(qaic_sim_get_dbc_status(fd, unsigned(id), &st), 0);
            EXPECT_EQ(st.state, uint32_t(id) == dbc ? 1u : 0u) << "DBC " << id;
        }
    }
    if (probe) {
        uint32_t h;
        EXPECT_EQ(create_bo(fd, probe, &h), 0) << "BO memory leaked";
        if (h) {
            EXPECT_EQ(gem_close(fd, h), 0);
        }
    }
}

} // namespace
} // namespace dpt
