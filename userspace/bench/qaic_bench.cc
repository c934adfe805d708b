// SPDX-License-Identifier: MIT
// qaic-bench: DMA throughput and submission latency of the driver, measured through the uAPI
// (libqaic's C++ layer), beside the baselines they are judged against, in the same run. What
// each benchmark measures is its --help (kHelp below), which is also its manual page.
#include <benchmark/benchmark.h>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <qaic/qaic.hpp>
#include <qaic/version.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace {

constexpr int64_t kSizes[] = {4096, 65536, 1048576, 4194304, 16777216};

qaic::Device &device()
{
    static qaic::Device dev; // $QAIC_DEVICE, a real node, else the simulated card
    return dev;
}

// One DBC with a to-device and a from-device BO of `bytes`, one slice each.
struct DmaSetup {
    qaic::Dbc dbc;
    qaic::Bo to, from;
    DmaSetup(uint64_t bytes, uint64_t dev_addr = 0)
        : dbc(device(), 64), to(device(), bytes), from(device(), bytes)
    {
        std::memset(to.data(), 0xA5, bytes);
        std::memset(from.data(), 0, bytes);
        to.attach(dbc.id(), 1, {qaic::Slice(0, bytes, dev_addr)});
        from.attach(dbc.id(), 2, {qaic::Slice(0, bytes, dev_addr)});
    }
    void transfer(qaic::Bo &bo, uint32_t dir)
    {
        dbc.execute({{&bo, dir}});
        if (int err = dbc.wait(bo, 10000))
            throw qaic::Error("DRM_IOCTL_QAIC_WAIT_BO", err);
    }
};

// Page-aligned, as BOs and device DDR are: the baseline copies what the DMA engine copies.
// (Buffers from malloc differ in page offset by its header, and the rep movsb of some CPUs,
// this machine's AMD EPYC among them, copies such a 64 KiB pair at about 2 GB/s.)
class PageBuf {
public:
    explicit PageBuf(size_t n)
        : p_(static_cast<uint8_t *>(std::aligned_alloc(4096, (n + 4095) & ~size_t(4095))),
             &std::free)
    {
        if (!p_)
            throw std::bad_alloc();
    }
    uint8_t *data() { return p_.get(); }

private:
    std::unique_ptr<uint8_t, decltype(&std::free)> p_;
};

void BM_Memcpy(benchmark::State &state)
{
    size_t n = size_t(state.range(0));
    PageBuf src(n), dst(n);
    std::memset(src.data(), 0x5A, n);
    std::memset(dst.data(), 0, n);
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data(), n);
        benchmark::DoNotOptimize(dst.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}

// Two threads hand a token back and forth through a mutex and condition variable: the cost
// of waking a sleeping thread, twice.
void BM_ThreadWake(benchmark::State &state)
{
    std::mutex m;
    std::condition_variable cv;
    int turn = 0; // 0: main's, 1: partner's, 2: stop
    std::thread partner([&] {
        std::unique_lock lk(m);
        for (;;) {
            cv.wait(lk, [&] { return turn != 0; });
            if (turn == 2)
                return;
            turn = 0;
            cv.notify_all();
        }
    });
    for (auto _ : state) {
        std::unique_lock lk(m);
        turn = 1;
        cv.notify_all();
        cv.wait(lk, [&] { return turn == 0; });
    }
    {
        std::lock_guard lk(m);
        turn = 2;
    }
    cv.notify_all();
    partner.join();
}

// Two processes hand a small message back and forth over a Unix SOCK_SEQPACKET pair, the
// kind of socket a call to qaicd travels on: the cost of one request and its reply.
void BM_SocketPingPong(benchmark::State &state)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        state.SkipWithError("socketpair failed");
        return;
    }
    pid_t echo = fork();
    if (echo == 0) {
        ::close(sv[0]);
        char buf[64];
        ssize_t n;
        while ((n = ::read(sv[1], buf, sizeof(buf))) > 0)
            if (::write(sv[1], buf, size_t(n)) != n)
                break;
        _exit(0);
    }
    ::close(sv[1]);
    char msg[32] = {1}; // the size of a request
    for (auto _ : state) {
        if (::write(sv[0], msg, sizeof(msg)) != ssize_t(sizeof(msg)) ||
            ::read(sv[0], msg, sizeof(msg)) != ssize_t(sizeof(msg))) {
            state.SkipWithError("echo process gone");
            break;
        }
    }
    ::close(sv[0]);
    if (echo > 0)
        waitpid(echo, nullptr, 0);
}

void BM_DmaToDevice(benchmark::State &state)
{
    DmaSetup s(uint64_t(state.range(0)));
    for (auto _ : state)
        s.transfer(s.to, 1);
    state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}

void BM_DmaFromDevice(benchmark::State &state)
{
    DmaSetup s(uint64_t(state.range(0)));
    s.transfer(s.to, 1); // device memory holds known data
    for (auto _ : state)
        s.transfer(s.from, 2);
    state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}

void BM_ExecWait(benchmark::State &state)
{
    DmaSetup s(uint64_t(state.range(0)));
    for (auto _ : state)
        s.transfer(s.to, 1);
    state.SetItemsProcessed(int64_t(state.iterations()));
}

void BM_ManageStatus(benchmark::State &state)
{
    for (auto _ : state)
        benchmark::DoNotOptimize(device().status());
}

void BM_ManageActivate(benchmark::State &state)
{
    for (auto _ : state)
        qaic::Dbc dbc(device(), 64);
}

void BM_ManageDmaXfer(benchmark::State &state)
{
    std::vector<uint8_t> image(size_t(state.range(0)), 0x5a);
    for (auto _ : state)
        device().dma_xfer(1, image.data(), image.size());
    state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}

void BM_ExecPipelined(benchmark::State &state)
{
    size_t nbos = size_t(state.range(0));
    qaic::Dbc dbc(device(), uint32_t(nbos + 1));
    std::vector<qaic::Bo> bos;
    std::vector<std::pair<qaic::Bo *, uint32_t>> batch;
    bos.reserve(nbos);
    for (size_t i = 0; i < nbos; ++i) {
        bos.emplace_back(device(), 4096);
        bos.back().attach(dbc.id(), 1, {qaic::Slice(0, 4096, i * 4096)});
    }
    for (auto &bo : bos)
        batch.push_back({&bo, 1});
    for (auto _ : state) {
        dbc.execute(batch);
        // Jobs of one DBC complete in order: the last one done means all are.
        if (int err = dbc.wait(bos.back(), 10000))
            throw qaic::Error("DRM_IOCTL_QAIC_WAIT_BO", err);
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(nbos));
}

// Threads started once: each round, thread i runs job(i) once, and round() returns when all
// have. The threads outlive the rounds so the timing holds the work, not thread creation
// (which costs 100-200 us per pair of threads in this VM).
class Crew {
public:
    Crew(int n, std::function<void(int)> job) : job_(std::move(job))
    {
        for (int i = 0; i < n; ++i)
            threads_.emplace_back([this, i] { work(i); });
    }
    ~Crew()
    {
        {
            std::lock_guard lk(lock_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto &t : threads_)
            t.join();
    }

    void round()
    {
        std::unique_lock lk(lock_);
        ++round_;
        busy_ = int(threads_.size());
        cv_.notify_all();
        cv_.wait(lk, [&] { return busy_ == 0; });
        if (error_)
            std::rethrow_exception(std::exchange(error_, nullptr));
    }

private:
    void work(int i)
    {
        uint64_t seen = 0;
        std::unique_lock lk(lock_);
        for (;;) {
            cv_.wait(lk, [&] { return stop_ || round_ != seen; });
            if (stop_)
                return;
            seen = round_;
            lk.unlock();
            std::exception_ptr err;
            try {
                job_(i);
            } catch (...) {
                err = std::current_exception();
            }
            lk.lock();
            if (err)
                error_ = err;
            if (--busy_ == 0)
                cv_.notify_all();
        }
    }

    std::function<void(int)> job_;
    std::vector<std::thread> threads_;
    std::mutex lock_;
    std::condition_variable cv_;
    uint64_t round_ = 0;
    int busy_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
};

constexpr int kPerThread = 8; // transfers (or copies) per thread and round

// One thread per DBC, each making kPerThread transfers on its own DBC per round.
void BM_DmaMultiDbc(benchmark::State &state)
{
    int dbcs = int(state.range(0));
    uint64_t bytes = uint64_t(state.range(1));
    std::vector<std::unique_ptr<DmaSetup>> setups;
    for (int i = 0; i < dbcs; ++i)
        setups.push_back(std::make_unique<DmaSetup>(bytes, uint64_t(i) * bytes));
    Crew crew(dbcs, [&](int i) {
        for (int k = 0; k < kPerThread; ++k)
            setups[size_t(i)]->transfer(setups[size_t(i)]->to, 1);
    });
    for (auto _ : state)
        crew.round();
    state.SetBytesProcessed(int64_t(state.iterations()) * dbcs * kPerThread * int64_t(bytes));
}

// The baseline of BM_DmaMultiDbc: the same threads and rounds, each copying its own
// page-aligned buffers with memcpy. What the host's memory gives two copying threads bounds
// what two DBCs can give.
void BM_MemcpyThreads(benchmark::State &state)
{
    int threads = int(state.range(0));
    size_t bytes = size_t(state.range(1));
    std::vector<std::pair<PageBuf, PageBuf>> bufs;
    for (int i = 0; i < threads; ++i) {
        bufs.emplace_back(PageBuf(bytes), PageBuf(bytes));
        std::memset(bufs.back().first.data(), 0x5A, bytes);
        std::memset(bufs.back().second.data(), 0, bytes);
    }
    Crew crew(threads, [&](int i) {
        auto &[src, dst] = bufs[size_t(i)];
        for (int k = 0; k < kPerThread; ++k) {
            std::memcpy(dst.data(), src.data(), bytes);
            benchmark::ClobberMemory();
        }
    });
    for (auto _ : state)
        crew.round();
    state.SetBytesProcessed(int64_t(state.iterations()) * threads * kPerThread *
                            int64_t(bytes));
}

void sizes(benchmark::internal::Benchmark *b)
{
    for (int64_t n : kSizes)
        b->Arg(n);
}

BENCHMARK(BM_Memcpy)->Apply(sizes);
BENCHMARK(BM_ThreadWake)->UseRealTime();
BENCHMARK(BM_SocketPingPong)->UseRealTime();
BENCHMARK(BM_DmaToDevice)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_DmaFromDevice)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_ExecWait)->Arg(4096)->UseRealTime();
BENCHMARK(BM_ManageStatus)->UseRealTime();
BENCHMARK(BM_ManageActivate)->UseRealTime();
BENCHMARK(BM_ManageDmaXfer)->Arg(4096)->Arg(65536)->Arg(2097152)->UseRealTime();
BENCHMARK(BM_ExecPipelined)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();
BENCHMARK(BM_DmaMultiDbc)
    ->ArgsProduct({{1, 2}, {1048576, 4194304, 16777216}})
    ->UseRealTime();
BENCHMARK(BM_MemcpyThreads)
    ->ArgsProduct({{1, 2}, {1048576, 4194304, 16777216}})
    ->UseRealTime();

// Which host the driver ran on, for the report's targets: "qaicd" when $QAIC_DEVICE names a
// socket, else "embedded" (or a real node's path).
std::string host_of_device()
{
    const char *dev = std::getenv("QAIC_DEVICE");
    struct stat st;
    if (dev && *dev && stat(dev, &st) == 0 && S_ISSOCK(st.st_mode))
        return "qaicd";
    if (dev && *dev && std::strcmp(dev, "sim") != 0)
        return dev;
    return "embedded";
}

} // namespace

// The manual page is made from this text (help2man): usage, description, then options.
constexpr char kHelp[] = R"(Usage: qaic-bench [OPTION]...
Measures the qaic driver's DMA throughput and submission latency through the uAPI, beside the
baselines they are judged against, in the same run (Google Benchmark).

The device is the one libqaic's qaic_open(NULL) opens: $QAIC_DEVICE if set, else a qaic accel
node, else a running qaicd's default socket, else "sim" (the simulated card embedded in the
process). The results' context names the host the driver ran on (qaic_host: embedded, qaicd or
a node).

Benchmarks (BYTES, BOS, DBCS, N: their arguments):
  BM_Memcpy/BYTES            host memcpy (bytes per second): the DMA engine's baseline
  BM_ThreadWake              two-thread block and wake round trip: submission's baseline
  BM_SocketPingPong          two-process round trip over the kind of socket qaicd uses
  BM_DmaToDevice/BYTES       one BO, one slice, execute and wait (bytes per second)
  BM_DmaFromDevice/BYTES     the same, from the device
  BM_ExecWait/4096           the round trip of one small job (time per job)
  BM_ManageStatus            MANAGE with one STATUS: a firmware round trip
  BM_ManageActivate          a DBC activated and deactivated: two round trips and its rings
  BM_ManageDmaXfer/BYTES     MANAGE DMA_XFER of an image: bounce pages, one round trip
  BM_ExecPipelined/BOS       BOS 4 KiB BOs per EXECUTE, wait for the last (items per second)
  BM_DmaMultiDbc/DBCS/BYTES  one thread per DBC, concurrently (aggregate bytes per second)
  BM_MemcpyThreads/N/BYTES   its baseline: N threads copying at once

Options (Google Benchmark's, of which these are the common ones):
  --benchmark_filter=REGEX   run only the benchmarks whose names match REGEX
  --benchmark_list_tests     list the benchmarks with their arguments, run none
  --benchmark_format=FORMAT  console (the default), json or csv on standard output
  --benchmark_out=FILE       also write the results to FILE
  --benchmark_out_format=FORMAT
                             json (the default), console or csv for --benchmark_out
  --benchmark_repetitions=N  run each benchmark N times, with mean, median and deviation
  --benchmark_min_time=TIME  run each for at least TIME (e.g. 2s)
  --help                     print this help and exit
  --version                  print the version and exit
)";

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0) {
            std::fputs(kHelp, stdout);
            return 0;
        }
        if (std::strcmp(argv[i], "--version") == 0) {
            std::puts("qaic-bench " QAIC_VERSION);
            return 0;
        }
    }

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::AddCustomContext("qaic_host", host_of_device());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
