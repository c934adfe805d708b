// SPDX-License-Identifier: GPL-2.0-only
// NSP programs through the uAPI: loading (and refusing bad programs), every operation's
// result checked against the host, and the doorbell/semaphore handshake with slices.
#include "selftest.h"

#include <cmath>
#include <qaic/qaic.hpp>

namespace {

constexpr uint64_t kDoorbell = 0x1000;
constexpr uint64_t kA = 0x100000, kB = 0x200000, kC = 0x300000, kD = 0x400000;

class Nsp : public testing::Test {
protected:
    void SetUp() override
    {
        if (!selftest::on_sim())
            GTEST_SKIP() << "NSP programs of the simulated card's format";
        dev = std::make_unique<qaic::Device>(nullptr);
        dbc = std::make_unique<qaic::Dbc>(*dev, 16);
    }

    // Writes floats to device address `addr` through a to-device slice.
    void put(uint64_t addr, const std::vector<float> &v)
    {
        uint64_t bytes = v.size() * 4;
        qaic::Bo bo(*dev, bytes);
        std::memcpy(bo.data(), v.data(), bytes);
        bo.attach(dbc->id(), 1, {qaic::Slice(0, bytes, addr)});
        dbc->execute({{&bo, 1}});
        ASSERT_EQ(dbc->wait(bo, 5000), 0);
    }
    // Reads n floats from `addr`, after the program signalled semaphore 0 (presync wait),
    // consuming the signal.
    std::vector<float> get_after_run(uint64_t addr, size_t n)
    {
        qaic::Bo bo(*dev, n * 4);
        bo.attach(dbc->id(), 2,
                  {qaic::Slice(0, n * 4, addr)
                       .sem(0, QAIC_SEM_WAIT_GT_0, 0, 0, true)
                       .sem(1, QAIC_SEM_DEC, 0, 1)});
        dbc->execute({{&bo, 2}});
        EXPECT_EQ(dbc->wait(bo, 5000), 0);
        std::vector<float> out(n);
        std::memcpy(out.data(), bo.data(), n * 4);
        return out;
    }
    // Rings the program's doorbell with a zero-size slice.
    void start()
    {
        qaic::Bo bo(*dev, 4096);
        bo.attach(dbc->id(), 1, {qaic::Slice(0, 0, 0).doorbell(kDoorbell, 1)});
        dbc->execute({{&bo, 1}});
        ASSERT_EQ(dbc->wait(bo, 5000), 0);
    }
    void load(const qaic::ProgramBuilder &p) { dbc->load_program(7, p.build()); }
    int load_err(const std::vector<uint8_t> &image)
    {
        try {
            dbc->load_program(7, image);
        } catch (const qaic::Error &e) {
            return e.err();
        }
        return 0;
    }

    std::unique_ptr<qaic::Device> dev;
    std::unique_ptr<qaic::Dbc> dbc;
};

std::vector<float> ramp(size_t n, float scale, float offset = 0)
{
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = float(int(i % 17) - 8) * scale + offset;
    return v;
}

TEST_F(Nsp, GemmWithBias)
{
    const uint32_t m = 3, n = 5, k = 4;
    auto a = ramp(m * k, 0.5f), b = ramp(k * n, 0.25f, 0.1f), d = ramp(n, 1.0f);
    put(kA, a);
    put(kB, b);
    put(kD, d);
    load(qaic::ProgramBuilder(kDoorbell).gemm(kA, kB, kC, kD, m, n, k).sem(0, QAIC_SEM_INC, 1));
    start();
    auto c = get_after_run(kC, m * n);
    for (uint32_t i = 0; i < m; ++i)
        for (uint32_t j = 0; j < n; ++j) {
            float want = d[j];
            for (uint32_t x = 0; x < k; ++x)
                want += a[i * k + x] * b[x * n + j];
            EXPECT_NEAR(c[i * n + j], want, 1e-5) << i << "," << j;
        }
}

TEST_F(Nsp, ElementwiseOps)
{
    const uint32_t n = 37;
    auto a = ramp(n, 0.5f), b = ramp(n, -0.25f, 2.0f);
    put(kA, a);
    put(kB, b);
    load(qaic::ProgramBuilder(kDoorbell)
             .add(kA, kB, kC, n)
             .mul(kA, kB, kD, n)
             .relu(kA, kA + 0x10000, n)
             .copy(kC, kC + 0x10000, n * 4)
             .sem(0, QAIC_SEM_INC, 4));
    start();
    auto sum = get_after_run(kC + 0x10000, n); // the copy of the sum
    auto prod = get_after_run(kD, n);
    auto relu = get_after_run(kA + 0x10000, n);
    for (uint32_t i = 0; i < n; ++i) {
        EXPECT_FLOAT_EQ(sum[i], a[i] + b[i]);
        EXPECT_FLOAT_EQ(prod[i], a[i] * b[i]);
        EXPECT_FLOAT_EQ(relu[i], std::max(a[i], 0.0f));
    }
}

TEST_F(Nsp, SoftmaxRows)
{
    const uint32_t rows = 4, cols = 10;
    auto a = ramp(rows * cols, 0.7f);
    put(kA, a);
    load(qaic::ProgramBuilder(kDoorbell).softmax(kA, kC, rows, cols).sem(0, QAIC_SEM_INC, 1));
    start();
    auto c = get_after_run(kC, rows * cols);
    for (uint32_t r = 0; r < rows; ++r) {
        float mx = *std::max_element(&a[r * cols], &a[r * cols] + cols), sum = 0;
        for (uint32_t j = 0; j < cols; ++j)
            sum += std::exp(a[r * cols + j] - mx);
        float total = 0;
        for (uint32_t j = 0; j < cols; ++j) {
            EXPECT_NEAR(c[r * cols + j], std::exp(a[r * cols + j] - mx) / sum, 1e-6);
            total += c[r * cols + j];
        }
        EXPECT_NEAR(total, 1.0f, 1e-5);
    }
}

TEST_F(Nsp, EveryDoorbellIsOneRun)
{
    put(kA, {1.0f});
    put(kB, {1.0f});
    // Each run adds 1 to the value at kA.
    load(qaic::ProgramBuilder(kDoorbell).add(kA, kB, kA, 1).sem(0, QAIC_SEM_INC, 1));
    for (int i = 0; i < 5; ++i) {
        start();
        EXPECT_FLOAT_EQ(get_after_run(kA, 1)[0], float(2 + i));
    }
}

TEST_F(Nsp, OtherDoorbellsDoNotStartIt)
{
    put(kA, {0.0f});
    load(qaic::ProgramBuilder(kDoorbell).sem(0, QAIC_SEM_INC, 1));
    qaic::Bo bo(*dev, 4096);
    bo.attach(dbc->id(), 1, {qaic::Slice(0, 0, 0).doorbell(kDoorbell + 4, 1)});
    dbc->execute({{&bo, 1}});
    ASSERT_EQ(dbc->wait(bo, 5000), 0);
    // No run: an output waiting on the semaphore times out.
    qaic::Bo out(*dev, 4096);
    out.attach(dbc->id(), 2, {qaic::Slice(0, 4, kA).sem(0, QAIC_SEM_WAIT_GT_0, 0, 0, true)});
    dbc->execute({{&out, 2}});
    EXPECT_EQ(dbc->wait(out, 200), ETIMEDOUT);
    // The engine stays blocked on the output (elements run in order, so not even the real
    // doorbell could get past it now); deactivation in TearDown fails the job.
}

std::vector<uint8_t> program_with(void (*mutate)(aic100_nsp_header &, aic100_nsp_instr &))
{
    auto image = qaic::ProgramBuilder(kDoorbell).gemm(kA, kB, kC, 0, 2, 2, 2).build();
    aic100_nsp_header h;
    aic100_nsp_instr in;
    std::memcpy(&h, image.data(), sizeof(h));
    std::memcpy(&in, image.data() + sizeof(h), sizeof(in));
    mutate(h, in);
    std::memcpy(image.data(), &h, sizeof(h));
    std::memcpy(image.data() + sizeof(h), &in, sizeof(in));
    return image;
}

TEST_F(Nsp, BadProgramsAreRefused)
{
    using H = aic100_nsp_header;
    using I = aic100_nsp_instr;
    EXPECT_EQ(load_err(program_with([](H &, I &) {})), 0);
    EXPECT_EQ(load_err(program_with([](H &h, I &) { h.magic = 0; })), ECANCELED);
    EXPECT_EQ(load_err(program_with([](H &h, I &) { h.version = 2; })), ECANCELED);
    EXPECT_EQ(load_err(program_with([](H &h, I &) { h.count = 2; })), ECANCELED); // size
    EXPECT_EQ(load_err(program_with([](H &h, I &) { h.reserved = 1; })), ECANCELED);
    EXPECT_EQ(load_err(program_with([](H &h, I &) { h.doorbell_addr = 2; })), ECANCELED);
    EXPECT_EQ(load_err(program_with([](H &h, I &) { h.doorbell_addr = ~0ull - 3; })),
              ECANCELED);
    EXPECT_EQ(load_err(program_with([](H &, I &i) { i.opcode = 99; })), ECANCELED);
    EXPECT_EQ(load_err(program_with([](H &, I &i) { i.flags = 1; })), ECANCELED);
    EXPECT_EQ(load_err(program_with([](H &, I &i) { i.reserved[2] = 1; })), ECANCELED);
    EXPECT_EQ(load_err(program_with([](H &, I &i) { i.m = 0; })), ECANCELED);
    EXPECT_EQ(load_err(program_with([](H &, I &i) { i.a = 2; })), ECANCELED); // misaligned
    EXPECT_EQ(load_err(program_with([](H &, I &i) { i.c = ~0ull - 7; })), ECANCELED);
    // m * k * 4 overflows 64 bits: must not wrap into a small, valid-looking range.
    EXPECT_EQ(load_err(program_with([](H &, I &i) {
                  i.m = 0xFFFFFFFF;
                  i.k = 0xFFFFFFFF;
              })),
              ECANCELED);
    EXPECT_EQ(load_err({1, 2, 3}), ECANCELED);
    auto sem_bad = qaic::ProgramBuilder(kDoorbell).sem(32, QAIC_SEM_INC, 1).build();
    EXPECT_EQ(load_err(sem_bad), ECANCELED);
    auto overlap = qaic::ProgramBuilder(kDoorbell).copy(kA, kA + 8, 64).build();
    EXPECT_EQ(load_err(overlap), ECANCELED);
    // Outputs computed in place: exactly on an input or apart from it; GEMM's apart.
    auto shifted = qaic::ProgramBuilder(kDoorbell).add(kA, kB, kA + 4, 16).build();
    EXPECT_EQ(load_err(shifted), ECANCELED);
    auto gemm_on_b = qaic::ProgramBuilder(kDoorbell).gemm(kA, kB, kB, 0, 2, 2, 2).build();
    EXPECT_EQ(load_err(gemm_on_b), ECANCELED);
}

TEST_F(Nsp, ProgramOnAnotherUsersDbcIsRefused)
{
    qaic::Device other(nullptr);
    auto image = qaic::ProgramBuilder(kDoorbell).sem(0, QAIC_SEM_INC, 1).build();
    other.dma_xfer(3, image.data(), image.size());
    try {
        other.passthrough(qaic::kFwLoadProgram, {3, dbc->id()});
        ADD_FAILURE() << "loaded a program onto another file's DBC";
    } catch (const qaic::Error &e) {
        EXPECT_EQ(e.err(), ECANCELED);
    }
}

TEST_F(Nsp, ProgramDiesWithItsActivation)
{
    load(qaic::ProgramBuilder(kDoorbell).sem(0, QAIC_SEM_INC, 1));
    uint32_t id = dbc->id();
    dbc.reset(); // deactivate
    dbc = std::make_unique<qaic::Dbc>(*dev, 16);
    ASSERT_EQ(dbc->id(), id); // the lowest idle DBC again
    start();                 // no program any more: nothing signals
    qaic::Bo out(*dev, 4096);
    out.attach(dbc->id(), 2, {qaic::Slice(0, 4, kA).sem(0, QAIC_SEM_WAIT_GT_0, 0, 0, true)});
    dbc->execute({{&out, 2}});
    EXPECT_EQ(dbc->wait(out, 200), ETIMEDOUT);
}

} // namespace
