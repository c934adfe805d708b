// SPDX-License-Identifier: GPL-2.0-only
// The NSP executor driven as a driver would: programs sent as images and bound with
// LOAD_PROGRAM, runs started by a DBC's doorbell element, their end seen through a semaphore
// an output element waits on. Host memory does not grow with a program's operands nor with
// waiting runs, a long instruction stops when its DBC goes away, operands overlap only in
// place.
#include "hw/aic100/tests/harness.h"
#include "qaic/aic100_nsp.h"

#include <cmath>
#include <fstream>
#include <string>

namespace aic100::test {
namespace {

using kernel::DmaDirection;

constexpr uint64_t kDoorbell = 0x1000;

aic100_nsp_instr instr(uint32_t opcode, uint64_t a, uint64_t b, uint64_t c, uint64_t dd,
                       uint32_t m, uint32_t n, uint32_t k)
{
    aic100_nsp_instr in{};
    in.opcode = opcode;
    in.a = a;
    in.b = b;
    in.c = c;
    in.d = dd;
    in.m = m;
    in.n = n;
    in.k = k;
    return in;
}
aic100_nsp_instr gemm(uint64_t a, uint64_t b, uint64_t c, uint64_t bias, uint32_t m, uint32_t n,
                      uint32_t k)
{
    return instr(AIC100_NSP_GEMM, a, b, c, bias, m, n, k);
}
aic100_nsp_instr eltwise(uint32_t op, uint64_t a, uint64_t b, uint64_t c, uint32_t n)
{
    return instr(op, a, b, c, 0, 0, n, 0);
}
aic100_nsp_instr softmax(uint64_t a, uint64_t c, uint32_t rows, uint32_t cols)
{
    return instr(AIC100_NSP_SOFTMAX, a, 0, c, 0, rows, cols, 0);
}
aic100_nsp_instr sem_inc(uint32_t index)
{
    return instr(AIC100_NSP_SEM, 0, 0, 0, 0, index, kSemInc, 1);
}

Bytes image(const std::vector<aic100_nsp_instr> &instrs, uint64_t doorbell = kDoorbell)
{
    Bytes b;
    append(b, aic100_nsp_header{AIC100_NSP_MAGIC, AIC100_NSP_VERSION, uint32_t(instrs.size()), 0,
                                doorbell, 0});
    for (const aic100_nsp_instr &in : instrs)
        append(b, in);
    return b;
}

uint64_t proc_status_kib(const char *key)
{
    std::ifstream f("/proc/self/status");
    std::string k;
    uint64_t v = 0;
    while (f >> k)
        if (k == key && f >> v)
            return v;
    return 0;
}

// Restarts the peak RSS (VmHWM) at the current RSS; false where the kernel does not let us.
bool reset_peak_rss()
{
    {
        std::ofstream clear("/proc/self/clear_refs");
        clear << "5";
        if (!clear.flush())
            return false;
    }
    return proc_status_kib("VmHWM:") <= proc_status_kib("VmRSS:") + 1024;
}

std::vector<float> ramp(size_t n, float scale, float offset = 0)
{
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = float(int(i % 29) - 14) * scale + offset;
    return v;
}

class NspRun : public CardTest {
protected:
    // Sends the program as image 9 and binds it to q: the firmware's NACK status, or kFwOk.
    uint32_t load(const Queue &q, const Bytes &img)
    {
        HostBuf buf(d.pci, img.size(), DmaDirection::kToDevice);
        std::memcpy(buf.data(), img.data(), img.size());
        Bytes args;
        append(args, uint32_t(9));
        append(args, uint32_t(q.id));
        auto r = d.transact({dma_xfer(9, 0, 0, {{buf.iova(), img.size()}}),
                             passthrough(kFwOpLoadProgram, args)});
        if (!r)
            return ~0u;
        return r->is_nack() ? r->nack().status : kFwOk;
    }
    // An element that rings the program's doorbell, answered once it did.
    void start(Queue &q, uint64_t doorbell = kDoorbell)
    {
        DbcReq r = elem(1, kCmdGenCompletion);
        r.db_addr = doorbell;
        r.db_len = kDb32;
        r.db_data = 1;
        ASSERT_EQ(d.run1(q, r).status, kRspOk);
    }
    // An element waiting for the program to signal semaphore 0, consuming the signal: true
    // once answered, false if nothing signalled within the timeout.
    bool signalled(Queue &q, Duration timeout = kTimeout)
    {
        DbcReq r = elem(2, kCmdGenCompletion);
        r.sem_cmd[0] = sem_word(0, 0, true, kSemWaitGt0, 0);
        r.sem_cmd[1] = sem_word(1, 0, false, kSemDec, 0);
        d.submit(q, {r});
        if (!d.wait_until([&] { return d.responses_ready(q) >= 1; }, timeout))
            return false;
        auto rs = d.collect(q, 1);
        return rs.size() == 1 && rs[0].status == kRspOk;
    }
    void put(uint64_t addr, const std::vector<float> &v)
    {
        ASSERT_TRUE(d.card().ddr_write(addr, v.data(), v.size() * 4));
    }
    std::vector<float> get(uint64_t addr, size_t n)
    {
        std::vector<float> v(n);
        EXPECT_TRUE(d.card().ddr_read(addr, v.data(), n * 4));
        return v;
    }
    // A program that only signals, on a fresh DBC: it runs once the NSP is free.
    bool other_program_runs()
    {
        auto q2 = d.activate(8);
        if (!q2 || load(*q2, image({sem_inc(0)}, kDoorbell + 4)) != kFwOk)
            return false;
        start(*q2, kDoorbell + 4);
        return signalled(*q2);
    }
};

// Results at and across the executor's chunk boundaries, in every operand layout it accepts
// (disjoint, and an output exactly on an input), equal to the host's computed in the same
// order.
TEST_F(NspRun, ResultsAcrossChunks)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    const uint32_t m = 3, n = 5000, k = 7, rows = 2;
    constexpr uint64_t kA = 0x100000, kB = 0x200000, kC = 0x300000, kD = 0x400000,
                       kE = 0x500000;
    auto a = ramp(size_t(m) * k, 0.5f), b = ramp(size_t(k) * n, 0.25f, 0.1f),
         bias = ramp(n, 1.0f, 0.3f), x = ramp(n * rows, 0.7f, 0.05f);
    put(kA, a);
    put(kB, b);
    put(kD, bias);
    put(kE, x);
    ASSERT_EQ(load(*q, image({gemm(kA, kB, kC, kD, m, n, k),
                              eltwise(AIC100_NSP_ADD, kE, kD, kE + 0x100000, n),
                              eltwise(AIC100_NSP_MUL, kE, kD, kE + 0x140000, n),
                              eltwise(AIC100_NSP_RELU, kE, 0, kE + 0x180000, n),
                              softmax(kE, kE + 0x200000, rows, n),
                              // in place: c on a, c on b, relu and softmax on their input
                              eltwise(AIC100_NSP_ADD, kD, kE, kD, n),
                              eltwise(AIC100_NSP_MUL, kE, kD, kD, n),
                              softmax(kE, kE, rows, n),
                              eltwise(AIC100_NSP_RELU, kE, 0, kE, n), sem_inc(0)})),
              kFwOk);
    start(*q);
    ASSERT_TRUE(signalled(*q));

    std::vector<float> c(size_t(m) * n);
    for (uint32_t i = 0; i < m; ++i)
        for (uint32_t j = 0; j < n; ++j) {
            float acc = bias[j];
            for (uint32_t x2 = 0; x2 < k; ++x2)
                acc += a[i * k + x2] * b[size_t(x2) * n + j];
            c[size_t(i) * n + j] = acc;
        }
    EXPECT_EQ(get(kC, c.size()), c);
    auto want_softmax = [&](std::vector<float> v) {
        for (uint32_t r = 0; r < rows; ++r) {
            float *row = &v[size_t(r) * n];
            float mx = *std::max_element(row, row + n), sum = 0;
            for (uint32_t j = 0; j < n; ++j)
                sum += row[j] = std::exp(row[j] - mx);
            for (uint32_t j = 0; j < n; ++j)
                row[j] /= sum;
        }
        return v;
    };
    std::vector<float> add(n), mul(n), relu(n), in_place_add(n), in_place_mul(n);
    for (uint32_t i = 0; i < n; ++i) {
        add[i] = x[i] + bias[i];
        mul[i] = x[i] * bias[i];
        relu[i] = std::max(x[i], 0.0f);
        in_place_add[i] = bias[i] + x[i];
        in_place_mul[i] = x[i] * in_place_add[i];
    }
    EXPECT_EQ(get(kE + 0x100000, n), add);
    EXPECT_EQ(get(kE + 0x140000, n), mul);
    EXPECT_EQ(get(kE + 0x180000, n), relu);
    EXPECT_EQ(get(kE + 0x200000, size_t(rows) * n), want_softmax(x));
    EXPECT_EQ(get(kD, n), in_place_mul);
    auto sm = want_softmax(x);
    for (float &v : sm)
        v = std::max(v, 0.0f);
    EXPECT_EQ(get(kE, size_t(rows) * n), sm);
}

// An output that partly overlaps an input (or, for GEMM, any input) has no defined result
// when computed in place: such programs are refused.
TEST_F(NspRun, PartlyOverlappingOperandsAreRefused)
{
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    constexpr uint64_t kA = 0x100000, kB = 0x200000;
    for (const aic100_nsp_instr &in : {
             gemm(kA, kB, kA, 0, 4, 4, 4),              // c on a
             gemm(kA, kB, kB + 16, 0, 4, 4, 4),         // c inside b
             gemm(kA, kB, kB - 60, 0, 4, 4, 4),         // c's end on b's start
             gemm(kA, kB, 0x300000, 0x300000 + 8, 4, 4, 4), // d inside c
             eltwise(AIC100_NSP_ADD, kA, kB, kA + 4, 16),
             eltwise(AIC100_NSP_MUL, kA, kB, kB - 4, 16),
             eltwise(AIC100_NSP_RELU, kA, 0, kA - 60, 16),
             softmax(kA, kA + 16, 2, 8),
         })
        EXPECT_EQ(load(*q, image({in})), kFwBadProgram) << "opcode " << in.opcode;
    // Disjoint neighbours and exact in-place outputs load.
    EXPECT_EQ(load(*q, image({gemm(kA, kA + 64, kA + 128, kA + 192, 4, 4, 4)})), kFwOk);
    EXPECT_EQ(load(*q, image({eltwise(AIC100_NSP_ADD, kA, kA, kA, 16)})), kFwOk);
    EXPECT_EQ(load(*q, image({softmax(kA, kA, 2, 8)})), kFwOk);
}

// A RELU over 2^30 floats: the run computes on device DDR, so the process's peak memory does
// not grow with the operands (untouched DDR reads as zeros and a store of what DDR already
// holds leaves it untouched).
TEST(NspMemory, HugeRunUsesNoHostMemory)
{
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "TSan records every DDR read in its shadow memory: 16 GiB for this run";
#endif
    MiniDriver d(CardConfig{2, uint64_t(16) << 30});
    ASSERT_TRUE(d.bring_up());
    auto q = d.activate(8);
    ASSERT_TRUE(q);
    constexpr uint64_t kN = uint64_t(1) << 30, kA = uint64_t(4) << 30, kC = uint64_t(8) << 30;
    float edge[] = {-1.0f, 2.0f};
    ASSERT_TRUE(d.card().ddr_write(kA, edge, sizeof(edge)));
    ASSERT_TRUE(d.card().ddr_write(kA + kN * 4 - sizeof(edge), edge, sizeof(edge)));

    HostBuf buf(d.pci, sizeof(aic100_nsp_header) + 2 * sizeof(aic100_nsp_instr),
                DmaDirection::kToDevice);
    Bytes img = image({eltwise(AIC100_NSP_RELU, kA, 0, kC, uint32_t(kN)), sem_inc(0)});
    std::memcpy(buf.data(), img.data(), img.size());
    Bytes args;
    append(args, uint32_t(9));
    append(args, uint32_t(q->id));
    auto r = d.transact({dma_xfer(9, 0, 0, {{buf.iova(), img.size()}}),
                         passthrough(kFwOpLoadProgram, args)});
    ASSERT_TRUE(r && !r->is_nack());

    // Peak RSS from here on (VmHWM restarts at VmRSS).
    if (!reset_peak_rss())
        GTEST_SKIP() << "this kernel cannot reset the peak RSS (/proc/self/clear_refs)";
    uint64_t rss = proc_status_kib("VmRSS:");

    DbcReq go = elem(1, kCmdGenCompletion);
    go.db_addr = kDoorbell;
    go.db_len = kDb32;
    go.db_data = 1;
    DbcReq done = elem(2, kCmdGenCompletion);
    done.sem_cmd[0] = sem_word(0, 0, true, kSemWaitGt0, 0);
    d.submit(*q, {go, done});
    auto rs = d.collect(*q, 2, std::chrono::minutes(5));
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[1].status, kRspOk);
    EXPECT_LT(proc_status_kib("VmHWM:"), rss + (256 << 10)) << "peak RSS grew with a 4 GiB run";

    float got[2];
    ASSERT_TRUE(d.card().ddr_read(kC, got, sizeof(got)));
    EXPECT_EQ(got[0], 0.0f);
    EXPECT_EQ(got[1], 2.0f);
    ASSERT_TRUE(d.card().ddr_read(kC + kN * 4 - sizeof(got), got, sizeof(got)));
    EXPECT_EQ(got[0], 0.0f);
    EXPECT_EQ(got[1], 2.0f);
}

// A GEMM of 2^39 multiply-adds runs for minutes. Once its DBC is released (or the device
// reset), it stops within the instruction: the NSP runs the next program. The SEM before it
// shows the run has reached it.
class LongGemm : public NspRun {
protected:
    void SetUp() override
    {
        NspRun::SetUp();
        auto qq = d.activate(8);
        ASSERT_TRUE(qq);
        q = *qq;
        constexpr uint32_t kDim = 8192;
        constexpr uint64_t kMat = uint64_t(kDim) * kDim * 4, kA = 0x100000;
        ASSERT_EQ(load(q, image({sem_inc(1),
                                 gemm(kA, kA + kMat, kA + 2 * kMat, 0, kDim, kDim, kDim),
                                 sem_inc(0)})),
                  kFwOk);
        start(q);
        ASSERT_TRUE(d.wait_until([&] { return d.dbc_rd(q.id, kDbcSem0 + 4) == 1; }));
    }
    Queue q;
};

TEST_F(LongGemm, StopsWhenItsDbcIsReleased)
{
    ASSERT_EQ(d.deactivate(q), kFwOk);
    EXPECT_TRUE(other_program_runs());
}

TEST_F(LongGemm, StopsOnDeviceReset)
{
    d.wr(kRegDevReset, kResetMagic);
    ASSERT_TRUE(d.wait_online());
    ASSERT_TRUE(d.enable_channel(d.ctrl, kCtrlChannel, kCtrlReqSlotSize, kCtrlRspSlotSize, 8));
    d.next_seq = 1;
    EXPECT_TRUE(other_program_runs());
}

// Doorbells rung while the NSP is busy are runs: every one of them runs, on each DBC.
TEST_F(LongGemm, WaitingRunsAllRun)
{
    auto q2 = d.activate(8), q3 = d.activate(8);
    ASSERT_TRUE(q2 && q3);
    ASSERT_EQ(load(*q2, image({sem_inc(0)}, kDoorbell + 4)), kFwOk);
    ASSERT_EQ(load(*q3, image({sem_inc(0)}, kDoorbell + 8)), kFwOk);
    for (int i = 0; i < 3; ++i) {
        start(*q2, kDoorbell + 4);
        start(*q3, kDoorbell + 8);
    }
    EXPECT_EQ(d.dbc_rd(q2->id, kDbcSem0), 0u); // behind the GEMM
    ASSERT_EQ(d.deactivate(q), kFwOk);
    EXPECT_TRUE(d.wait_until([&] {
        return d.dbc_rd(q2->id, kDbcSem0) == 3 && d.dbc_rd(q3->id, kDbcSem0) == 3;
    }));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(d.dbc_rd(q2->id, kDbcSem0), 3u);
    EXPECT_EQ(d.dbc_rd(q3->id, kDbcSem0), 3u);
}

// While the GEMM holds the NSP, another DBC rings its program's doorbell 2^22 times: the
// runs wait, counted, without the process's memory growing with them; once the GEMM's DBC
// is released they run.
TEST_F(LongGemm, WaitingRunsUseNoMemory)
{
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "TSan's own records grow with the 2^22 elements the card executes";
#endif
    constexpr uint32_t kRing = 65536;
    auto q2 = d.activate(kRing);
    ASSERT_TRUE(q2);
    ASSERT_EQ(load(*q2, image({sem_inc(0)}, kDoorbell + 4)), kFwOk);
    DbcReq ring = elem(1, 0);
    ring.db_addr = kDoorbell + 4;
    ring.db_len = kDb32;
    ring.db_data = 1;
    for (uint32_t i = 0; i < kRing; ++i)
        q2->reqs()[i] = ring;

    if (!reset_peak_rss())
        GTEST_SKIP() << "this kernel cannot reset the peak RSS (/proc/self/clear_refs)";
    uint64_t rss = proc_status_kib("VmRSS:");
    for (int round = 0; round < 64; ++round) {
        q2->req_tail = (q2->req_tail + kRing - 1) % kRing;
        d.ring(*q2);
        ASSERT_TRUE(d.wait_reqhp(*q2, q2->req_tail));
    }
    EXPECT_LT(proc_status_kib("VmHWM:"), rss + (32 << 10)) << "peak RSS grew with the runs";

    ASSERT_EQ(d.deactivate(q), kFwOk);
    EXPECT_TRUE(d.wait_until([&] { return d.dbc_rd(q2->id, kDbcSem0) != 0; }));
}

} // namespace
} // namespace aic100::test
