// SPDX-License-Identifier: GPL-2.0-only
// Helpers of the datapath selftests (EXECUTE_BO, PARTIAL_EXECUTE_BO, WAIT_BO, PERF_STATS_BO):
// ioctl wrappers returning 0 or -errno, BOs with their mapping, byte patterns, slices with
// semaphores and doorbells, and guards that restore the sim's module parameters.
//
// Everything lives in namespace dpt so names never clash with qaic_helpers.h (namespace
// selftest), which is maintained separately: inside dpt, dpt's own names win.
#pragma once

#include "qaic_helpers.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace dpt {

using namespace selftest;

// Jobs in these tests finish within milliseconds; a WAIT this long only ends a broken test.
inline constexpr uint32_t kWaitMs = 5000;
inline constexpr uint64_t kMiB = uint64_t(1) << 20;
inline constexpr uint64_t kGiB = uint64_t(1) << 30;
// The driver's defaults (docs/uapi.md, "Module parameters"), restored by the guards below.
inline constexpr unsigned kDefaultSchedQueueDepth = 4096;
inline constexpr unsigned kDefaultWaitTimeoutMs = 5000;
inline constexpr unsigned kDefaultExecTimeoutMs = 10000;
inline constexpr unsigned kDefaultPollIntervalUs = 100;

// datapath_polling is upstream's load-time bool (mode 0400): a run-time write is refused with
// EACCES. Polling-mode cases run on a card loaded with it (scripts/run-tests.sh's polling
// pass: QAIC_PARAMS=datapath_polling=1, qaicd --param datapath_polling=1) and skip on others,
// having checked the refusal.
#define POLLING_OR_SKIP()                                                                        \
    do {                                                                                         \
        char polling_[8] = {};                                                                   \
        SIM_OR_SKIP(qaic_sim_get_param("datapath_polling", polling_, sizeof(polling_)) < 0);     \
        if (polling_[0] != 'Y') {                                                                \
            EXPECT_EQ(qaic_sim_set_param("datapath_polling", 1), -1);                            \
            EXPECT_EQ(errno, EACCES) << "datapath_polling is read-only once loaded";            \
            GTEST_SKIP() << "needs a card loaded with datapath_polling=1 (run-tests.sh's "      \
                            "polling pass)";                                                     \
        }                                                                                        \
    } while (0)

using Clock = std::chrono::steady_clock;

inline int64_t ms_since(Clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// ---------------------------------------------------------------------------- ioctls

inline int execute(int fd, uint32_t dbc, const std::vector<qaic_execute_entry> &ents)
{
    qaic_execute e{};
    e.hdr.count = uint32_t(ents.size());
    e.hdr.dbc_id = dbc;
    e.data = uintptr_t(ents.data());
    return ioctl_err(fd, DRM_IOCTL_QAIC_EXECUTE_BO, &e);
}

inline int execute(int fd, uint32_t dbc, uint32_t handle, uint32_t dir)
{
    return execute(fd, dbc, {{handle, dir}});
}

inline int partial_execute(int fd, uint32_t dbc,
                           const std::vector<qaic_partial_execute_entry> &ents)
{
    qaic_execute e{};
    e.hdr.count = uint32_t(ents.size());
    e.hdr.dbc_id = dbc;
    e.data = uintptr_t(ents.data());
    return ioctl_err(fd, DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO, &e);
}

inline int partial_execute(int fd, uint32_t dbc, uint32_t handle, uint32_t dir, uint64_t resize)
{
    qaic_partial_execute_entry p{};
    p.handle = handle;
    p.dir = dir;
    p.resize = resize;
    return partial_execute(fd, dbc, {p});
}

inline int wait_bo(int fd, uint32_t handle, uint32_t dbc, uint32_t timeout_ms = kWaitMs)
{
    qaic_wait w{};
    w.handle = handle;
    w.timeout = timeout_ms;
    w.dbc_id = dbc;
    return ioctl_err(fd, DRM_IOCTL_QAIC_WAIT_BO, &w);
}

// EXECUTE then WAIT: the first error.
inline int run(int fd, uint32_t dbc, uint32_t handle, uint32_t dir)
{
    if (int err = execute(fd, dbc, handle, dir); err)
        return err;
    return wait_bo(fd, handle, dbc);
}

inline int perf_stats(int fd, uint32_t dbc, std::vector<qaic_perf_stats_entry> &ents)
{
    qaic_perf_stats p{};
    p.hdr.count = uint16_t(ents.size());
    p.hdr.dbc_id = dbc;
    p.data = uintptr_t(ents.data());
    return ioctl_err(fd, DRM_IOCTL_QAIC_PERF_STATS_BO, &p);
}

inline int perf_stats(int fd, uint32_t dbc, uint32_t handle, qaic_perf_stats_entry *out)
{
    std::vector<qaic_perf_stats_entry> v(1);
    v[0].handle = handle;
    int err = perf_stats(fd, dbc, v);
    *out = v[0];
    return err;
}

// ---------------------------------------------------------------------------- slices

inline qaic_sem sem(uint8_t cmd, uint8_t index, uint16_t val, bool presync = false,
                    uint8_t flags = 0)
{
    qaic_sem s{};
    s.cmd = cmd;
    s.index = index;
    s.val = val;
    s.presync = presync ? 1 : 0;
    s.flags = flags;
    return s;
}

inline qaic_attach_slice_entry doorbell(qaic_attach_slice_entry e, uint64_t db_addr,
                                        uint32_t db_data, uint32_t db_len = 32)
{
    e.db_addr = db_addr;
    e.db_data = db_data;
    e.db_len = db_len;
    return e;
}

// A slice whose element waits (presync WAIT_GT_0) on semaphore sem_index, which nothing
// raises: the DBC's engine blocks on it, and every job behind it stays queued, until the
// DBC is released or reset.
inline qaic_attach_slice_entry blocking_slice(uint64_t offset, uint64_t size, uint64_t dev_addr,
                                              uint8_t sem_index = 31)
{
    qaic_attach_slice_entry e = slice(offset, size, dev_addr);
    e.sem0 = sem(QAIC_SEM_WAIT_GT_0, sem_index, 0, true);
    return e;
}

// ---------------------------------------------------------------------------- data

// A reproducible byte pattern: every (seed, offset) gives its own byte.
inline uint8_t pattern_byte(uint32_t seed, uint64_t i)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t(seed) << 32 | seed);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return uint8_t(x);
}

// A seed no earlier use in this process had: DDR keeps its contents across tests, so data
// that merely survived from before can never pass for data a test just moved.
inline uint32_t fresh_seed()
{
    static std::atomic<uint32_t> next{0x51ED};
    return next.fetch_add(1, std::memory_order_relaxed);
}

inline void fill(uint8_t *p, size_t n, uint32_t seed, uint64_t first = 0)
{
    for (size_t i = 0; i < n; ++i)
        p[i] = pattern_byte(seed, first + i);
}

inline std::vector<uint8_t> pattern(size_t n, uint32_t seed)
{
    std::vector<uint8_t> v(n);
    fill(v.data(), n, seed);
    return v;
}

// Byte-for-byte comparison that names the first difference instead of dumping buffers.
inline testing::AssertionResult same_bytes(const void *got, const void *want, size_t n)
{
    auto *g = static_cast<const uint8_t *>(got);
    auto *w = static_cast<const uint8_t *>(want);
    if (std::memcmp(g, w, n) == 0)
        return testing::AssertionSuccess();
    size_t i = 0;
    while (g[i] == w[i])
        ++i;
    size_t bad = 0;
    for (size_t j = i; j < n; ++j)
        bad += g[j] != w[j];
    return testing::AssertionFailure()
           << bad << " of " << n << " bytes differ, the first at offset " << i << ": got 0x"
           << std::hex << unsigned(g[i]) << ", want 0x" << unsigned(w[i]);
}

// The tests' model of device memory [base, base + size): what executions leave there, and
// what from-device executions must bring back. Slices apply in order (the engine runs them
// in ring order), each followed by its doorbell; only a BO's first `resize` bytes move.
class Shadow {
public:
    Shadow(uint64_t base, std::vector<uint8_t> init) : base_(base), mem_(std::move(init)) {}

    const std::vector<uint8_t> &bytes() const { return mem_; }
    uint64_t base() const { return base_; }

    void to_device(const uint8_t *bo, const std::vector<qaic_attach_slice_entry> &slices,
                   uint64_t resize = UINT64_MAX)
    {
        for (const qaic_attach_slice_entry &e : slices) {
            uint64_t n = moved(e, resize);
            if (n)
                std::memcpy(at(e.dev_addr, n), bo + e.offset, n);
            ring(e);
        }
    }

    // The BO's content after a from-device execution, given its content before.
    std::vector<uint8_t> from_device(std::vector<uint8_t> bo,
                                     const std::vector<qaic_attach_slice_entry> &slices,
                                     uint64_t resize = UINT64_MAX)
    {
        for (const qaic_attach_slice_entry &e : slices) {
            uint64_t n = moved(e, resize);
            if (n)
                std::memcpy(bo.data() + e.offset, at(e.dev_addr, n), n);
            ring(e);
        }
        return bo;
    }

private:
    static uint64_t moved(const qaic_attach_slice_entry &e, uint64_t resize)
    {
        if (resize >= e.offset + e.size)
            return e.size;
        return resize > e.offset ? resize - e.offset : 0;
    }
    uint8_t *at(uint64_t dev_addr, uint64_t n)
    {
        // A test bug, not a driver bug: the model must cover every address the test uses.
        if (dev_addr < base_ || dev_addr + n > base_ + mem_.size())
            std::abort();
        return mem_.data() + (dev_addr - base_);
    }
    void ring(const qaic_attach_slice_entry &e)
    {
        if (e.db_len && e.db_addr >= base_ && e.db_addr + e.db_len / 8 <= base_ + mem_.size())
            std::memcpy(at(e.db_addr, e.db_len / 8), &e.db_data, e.db_len / 8); // little-endian
    }

    uint64_t base_;
    std::vector<uint8_t> mem_;
};

// ---------------------------------------------------------------------------- BOs

// A BO with a shared mapping of its first map_len bytes; unmapped and closed when it goes.
class Bo {
public:
    Bo() = default;
    Bo(const Bo &) = delete;
    Bo &operator=(const Bo &) = delete;
    Bo(Bo &&o) noexcept { *this = std::move(o); }
    Bo &operator=(Bo &&o) noexcept
    {
        std::swap(fd_, o.fd_);
        std::swap(handle_, o.handle_);
        std::swap(size_, o.size_);
        std::swap(map_, o.map_);
        std::swap(map_len_, o.map_len_);
        return *this;
    }
    ~Bo() { reset(); }

    // 0 or -errno; map_len 0 maps the whole BO (its page-rounded size).
    int create(int fd, uint64_t size, uint64_t map_len = 0)
    {
        reset();
        fd_ = fd;
        if (int err = create_bo(fd, size, &handle_); err)
            return err;
        size_ = (size + kPage - 1) & ~uint64_t(kPage - 1);
        map_len_ = map_len ? map_len : size_;
        void *p = map_bo(fd, handle_, map_len_);
        if (p == MAP_FAILED) {
            map_len_ = 0;
            return -errno;
        }
        map_ = static_cast<uint8_t *>(p);
        return 0;
    }

    // Unmaps (the mapping would keep the file alive) and closes the handle.
    void reset()
    {
        if (map_)
            qaic_munmap(map_, map_len_);
        if (handle_)
            gem_close(fd_, handle_);
        map_ = nullptr;
        map_len_ = 0;
        handle_ = 0;
        size_ = 0;
    }

    uint32_t handle() const { return handle_; }
    uint64_t size() const { return size_; }
    uint8_t *data() const { return map_; }
    uint8_t &operator[](uint64_t i) const { return map_[i]; }

private:
    int fd_ = -1;
    uint32_t handle_ = 0;
    uint64_t size_ = 0;
    uint8_t *map_ = nullptr;
    uint64_t map_len_ = 0;
};

// Device memory through the datapath alone: a to-device BO of `bytes` copied to dev_addr,
// or a from-device BO read from it. DDR keeps its contents, so tests write before they read.
inline int write_device(int fd, uint32_t dbc, uint64_t dev_addr, const void *bytes, size_t n)
{
    Bo bo;
    if (int err = bo.create(fd, n); err)
        return err;
    std::memcpy(bo.data(), bytes, n);
    if (int err = attach(fd, bo.handle(), dbc, kDirToDev, {slice(0, n, dev_addr)}); err)
        return err;
    return run(fd, dbc, bo.handle(), kDirToDev);
}

inline int read_device(int fd, uint32_t dbc, uint64_t dev_addr, size_t n, std::vector<uint8_t> *out)
{
    Bo bo;
    if (int err = bo.create(fd, n); err)
        return err;
    if (int err = attach(fd, bo.handle(), dbc, kDirFromDev, {slice(0, n, dev_addr)}); err)
        return err;
    if (int err = run(fd, dbc, bo.handle(), kDirFromDev); err)
        return err;
    out->assign(bo.data(), bo.data() + n);
    return 0;
}

// ---------------------------------------------------------------------------- sim control

// Whether the sim test control is there: false (and the reason) on other backends.
inline bool sim_control(int fd, std::string *why)
{
    qaic_sim_dbc_status st{};
    if (qaic_sim_get_dbc_status(fd, 0, &st) == 0)
        return true;
    *why = std::string("no sim test control: ") + std::strerror(errno);
    return false;
}

inline pid_t gettid_()
{
    return pid_t(syscall(SYS_gettid));
}

// A thread running one blocking call; park() returns once it sleeps inside it (bounded).
class Blocked {
public:
    template <typename F> explicit Blocked(F call)
        : thread_([this, call] {
              tid_ = gettid_();
              ++in_call_;
              result_ = call();
              --in_call_;
              done_ = true;
          })
    {
    }
    ~Blocked()
    {
        if (thread_.joinable())
            thread_.join();
    }

    // True once the thread sleeps in its call (or finished it already). Through qaicd the
    // calling thread sleeps as soon as its request is on its way, before the driver has it:
    // there the call sleeps in the driver once the daemon counts every Blocked call in flight
    // among its calls asleep.
    bool park()
    {
        auto deadline = Clock::now() + std::chrono::seconds(10);
        while (Clock::now() < deadline) {
            if (done_ || (tid_ && sleeping(tid_) && asleep_in_daemon(in_call_.load())))
                return true;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        return false;
    }
    bool done() const { return done_; }
    int join()
    {
        thread_.join();
        return result_;
    }

private:
    // Whether n calls sleep in the driver of the qaicd that $QAIC_DEVICE names (true when it
    // names none: then a sleeping thread is asleep in the driver).
    static bool asleep_in_daemon(unsigned n)
    {
        const char *dev = std::getenv("QAIC_DEVICE");
        struct stat st;
        if (!dev || stat(dev, &st) != 0 || !S_ISSOCK(st.st_mode))
            return true;
        qaic_host_stats hs{};
        return qaic_host_get_stats(dev, &hs) == 0 && hs.sleeping_calls >= n;
    }

    static inline std::atomic<unsigned> in_call_{0}; // Blocked threads in their calls
    std::atomic<pid_t> tid_{0};
    std::atomic<bool> done_{false};
    int result_ = 0;
    std::thread thread_;
};

// ---------------------------------------------------------------------------- fixture

// A file with one DBC activated. Its ring is big enough for the largest slicing used here.
class Datapath : public Qaic {
protected:
    static constexpr uint32_t kQueue = 4096;

    void SetUp() override
    {
        Qaic::SetUp();
        ASSERT_EQ(activate(fd, kQueue, &dbc), 0);
    }

    // A mapped BO of size bytes, filled with a fresh pattern unless `zero`.
    void make(Bo &bo, uint64_t size, bool zero = false)
    {
        int err = bo.create(fd, size);
        ASSERT_EQ(err, 0) << std::strerror(-err);
        if (!zero)
            fill(bo.data(), bo.size(), fresh_seed());
    }

    int run_bo(const Bo &bo, uint32_t dir) { return dpt::run(fd, dbc, bo.handle(), dir); }
    int write_dev(uint64_t dev_addr, const std::vector<uint8_t> &v)
    {
        return write_device(fd, dbc, dev_addr, v.data(), v.size());
    }
    std::vector<uint8_t> read_dev(uint64_t dev_addr, size_t n)
    {
        std::vector<uint8_t> v;
        int err = read_device(fd, dbc, dev_addr, n, &v);
        EXPECT_EQ(err, 0) << "reading back " << n << " bytes at device 0x" << std::hex << dev_addr;
        if (err)
            v.assign(n, 0);
        return v;
    }

    // Fills device memory [base, base + size) with a fresh pattern: the model to check against.
    Shadow window(uint64_t base, size_t size)
    {
        auto init = pattern(size, fresh_seed());
        EXPECT_EQ(write_dev(base, init), 0);
        return Shadow(base, std::move(init));
    }
    void expect_window(const Shadow &s)
    {
        auto got = read_dev(s.base(), s.bytes().size());
        EXPECT_TRUE(same_bytes(got.data(), s.bytes().data(), got.size()));
    }

    uint32_t dbc = 0;
};

} // namespace dpt
