// SPDX-License-Identifier: GPL-2.0-only
#include "hw/aic100/nsp.h"
#include "hw/aic100/card.h"
#include "qaic/aic100_nsp.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace aic100 {
namespace {

// Byte size of n f32 elements, or 0 on overflow.
uint64_t f32_bytes(uint64_t a, uint64_t b = 1)
{
    uint64_t n;
    if (__builtin_mul_overflow(a, b, &n) || __builtin_mul_overflow(n, uint64_t(4), &n))
        return 0;
    return n;
}

// The byte ranges [a, a + an) and [c, c + cn) share no byte (both lie in DDR: no overflow).
bool apart(uint64_t a, uint64_t an, uint64_t c, uint64_t cn)
{
    return a + an <= c || c + cn <= a;
}

// An output computed element by element straight into DDR: exactly on its input (in place)
// or apart from it; a partial overlap would read results as inputs.
bool in_place_or_apart(uint64_t in, uint64_t out, uint64_t bytes)
{
    return in == out || apart(in, bytes, out, bytes);
}

// Every operand of an instruction lies in DDR (f32 operands 4-aligned); reserved fields 0;
// outputs overlap inputs only as the executor below computes them correctly.
bool valid(const aic100_nsp_instr &in, const Ddr &ddr)
{
    if (in.flags || in.reserved[0] || in.reserved[1] || in.reserved[2])
        return false;
    auto f32 = [&](uint64_t addr, uint64_t bytes) {
        return bytes && addr % 4 == 0 && ddr.contains(addr, bytes);
    };
    switch (in.opcode) {
    case AIC100_NSP_GEMM: {
        uint64_t a = f32_bytes(in.m, in.k), b = f32_bytes(in.k, in.n),
                 c = f32_bytes(in.m, in.n), d = f32_bytes(in.n);
        // A chunk of c is stored while later rows still read a, all of b and d: c
        // overlaps none of them.
        return in.m && in.n && in.k && f32(in.a, a) && f32(in.b, b) && f32(in.c, c) &&
               apart(in.a, a, in.c, c) && apart(in.b, b, in.c, c) &&
               (in.d == 0 || (f32(in.d, d) && apart(in.d, d, in.c, c)));
    }
    case AIC100_NSP_ADD:
    case AIC100_NSP_MUL: {
        uint64_t n = f32_bytes(in.n);
        return f32(in.a, n) && f32(in.b, n) && f32(in.c, n) &&
               in_place_or_apart(in.a, in.c, n) && in_place_or_apart(in.b, in.c, n);
    }
    case AIC100_NSP_RELU:
        return f32(in.a, f32_bytes(in.n)) && f32(in.c, f32_bytes(in.n)) &&
               in_place_or_apart(in.a, in.c, f32_bytes(in.n));
    case AIC100_NSP_SOFTMAX: {
        uint64_t n = f32_bytes(in.m, in.n);
        return f32(in.a, n) && f32(in.c, n) && in_place_or_apart(in.a, in.c, n);
    }
    case AIC100_NSP_COPY:
        return in.n && ddr.contains(in.a, in.n) && ddr.contains(in.c, in.n) &&
               apart(in.a, in.n, in.c, in.n);
    case AIC100_NSP_SEM:
        return in.m < kNumSems && in.n >= kSemInit && in.n <= kSemDec && in.k <= kSemValMask;
    default:
        return false;
    }
}

// The executor computes on DDR in chunks of this many f32 values, in buffers of its own
// stack: host memory does not grow with a program's operands.
constexpr uint64_t kChunk = 1024;
// Elements of work between two checks whether the run may go on: a few microseconds, so
// a run stops promptly, and the check (a few atomic loads) costs nothing measurable.
constexpr uint64_t kCheckEvery = 1 << 16;

const float *f32_at(Ddr &ddr, uint64_t addr)
{
    return reinterpret_cast<const float *>(ddr.at(addr));
}

// Stores bytes at DDR addr, unless DDR already holds them: lazily backed DDR that a program
// rewrites with its own contents (zeros, most often) stays unbacked.
void store(Ddr &ddr, uint64_t addr, const void *src, uint64_t bytes)
{
    if (std::memcmp(ddr.at(addr), src, bytes))
        std::memcpy(ddr.at(addr), src, bytes);
}

// Calls f(first, len) for consecutive chunks of [0, n) of at most `step`, and go_on(len)
// after each: false once go_on says the run must stop.
template <typename GoOn, typename F> bool chunks(uint64_t n, uint64_t step, GoOn &go_on, F &&f)
{
    for (uint64_t first = 0; first < n; first += step) {
        uint64_t len = std::min(step, n - first);
        f(first, len);
        if (!go_on(len))
            return false;
    }
    return true;
}

// Each instruction below returns false when the run must stop, leaving its output partly
// written.

// i, j-chunk, k order: each chunk of a row of c is summed in a buffer, in the order a whole
// row would be (d, then a[i][0] * b[0], a[i][1] * b[1], ...).
template <typename GoOn> bool gemm(Ddr &ddr, const aic100_nsp_instr &in, GoOn &go_on)
{
    const float *a = f32_at(ddr, in.a), *b = f32_at(ddr, in.b);
    float acc[kChunk];
    for (uint64_t i = 0; i < in.m; ++i)
        for (uint64_t j0 = 0; j0 < in.n; j0 += kChunk) {
            uint64_t len = std::min<uint64_t>(kChunk, in.n - j0);
            if (in.d)
                std::memcpy(acc, f32_at(ddr, in.d) + j0, len * 4);
            else
                std::fill_n(acc, len, 0.0f);
            for (uint64_t kk = 0; kk < in.k; ++kk) {
                float aik = a[i * in.k + kk];
                const float *brow = b + kk * in.n + j0;
                for (uint64_t j = 0; j < len; ++j)
                    acc[j] += aik * brow[j];
                if (!go_on(len))
                    return false;
            }
            store(ddr, in.c + (i * in.n + j0) * 4, acc, len * 4);
        }
    return true;
}

// ADD, MUL, RELU: c may be a or b itself, so each chunk is computed before it is stored.
template <typename GoOn> bool elementwise(Ddr &ddr, const aic100_nsp_instr &in, GoOn &go_on)
{
    const float *a = f32_at(ddr, in.a), *b = f32_at(ddr, in.b);
    float out[kChunk];
    return chunks(in.n, kChunk, go_on, [&](uint64_t i0, uint64_t len) {
        if (in.opcode == AIC100_NSP_RELU)
            for (uint64_t i = 0; i < len; ++i)
                out[i] = std::max(a[i0 + i], 0.0f);
        else if (in.opcode == AIC100_NSP_ADD)
            for (uint64_t i = 0; i < len; ++i)
                out[i] = a[i0 + i] + b[i0 + i];
        else
            for (uint64_t i = 0; i < len; ++i)
                out[i] = a[i0 + i] * b[i0 + i];
        store(ddr, in.c + i0 * 4, out, len * 4);
    });
}

// Three passes over each row (max, sum, result), so c may be a itself.
template <typename GoOn> bool softmax(Ddr &ddr, const aic100_nsp_instr &in, GoOn &go_on)
{
    float out[kChunk];
    for (uint64_t r = 0; r < in.m; ++r) {
        const float *row = f32_at(ddr, in.a) + r * in.n;
        float mx = row[0], sum = 0;
        bool done = chunks(in.n, kChunk, go_on, [&](uint64_t j0, uint64_t len) {
                        for (uint64_t j = j0; j < j0 + len; ++j)
                            if (mx < row[j]) // as std::max_element: the first maximum
                                mx = row[j];
                    }) &&
                    chunks(in.n, kChunk, go_on, [&](uint64_t j0, uint64_t len) {
                        for (uint64_t j = j0; j < j0 + len; ++j)
                            sum += std::exp(row[j] - mx);
                    }) &&
                    chunks(in.n, kChunk, go_on, [&](uint64_t j0, uint64_t len) {
                        for (uint64_t j = 0; j < len; ++j)
                            out[j] = std::exp(row[j0 + j] - mx) / sum;
                        store(ddr, in.c + (r * in.n + j0) * 4, out, len * 4);
                    });
        if (!done)
            return false;
    }
    return true;
}

// COPY: n bytes, the ranges apart.
template <typename GoOn> bool copy(Ddr &ddr, const aic100_nsp_instr &in, GoOn &go_on)
{
    return chunks(in.n, kChunk * 4, go_on, [&](uint64_t off, uint64_t len) {
        store(ddr, in.c + off, ddr.at(in.a + off), len);
    });
}

} // namespace

Nsp::Nsp(Card &card) : card_(card), dbcs_(card.num_dbc()), thread_([this] { run(); }) {}

Nsp::~Nsp()
{
    {
        std::lock_guard lk(lock_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

uint32_t Nsp::check(const std::vector<uint8_t> &image) const
{
    aic100_nsp_header h;
    if (image.size() < sizeof(h))
        return kFwBadProgram;
    std::memcpy(&h, image.data(), sizeof(h));
    if (h.magic != AIC100_NSP_MAGIC || h.version != AIC100_NSP_VERSION || h.count == 0 ||
        h.count > AIC100_NSP_MAX_INSTR || h.reserved || h.reserved2 ||
        image.size() != sizeof(h) + uint64_t(h.count) * sizeof(aic100_nsp_instr) ||
        h.doorbell_addr % 4 || !card_.ddr().contains(h.doorbell_addr, 4))
        return kFwBadProgram;
    for (uint32_t i = 0; i < h.count; ++i) {
        aic100_nsp_instr in;
        std::memcpy(&in, image.data() + sizeof(h) + i * sizeof(in), sizeof(in));
        if (!valid(in, card_.ddr()))
            return kFwBadProgram;
    }
    return kFwOk;
}

uint32_t Nsp::load(unsigned dbc_id, const std::vector<uint8_t> &image)
{
    if (uint32_t st = check(image); st != kFwOk)
        return st;
    aic100_nsp_header h;
    std::memcpy(&h, image.data(), sizeof(h));
    auto p = std::make_shared<Program>();
    p->activation = card_.dbc(dbc_id).activation();
    p->doorbell_addr = h.doorbell_addr;
    p->instrs.resize(h.count);
    std::memcpy(p->instrs.data(), image.data() + sizeof(h), h.count * sizeof(aic100_nsp_instr));
    std::lock_guard lk(lock_);
    dbcs_[dbc_id].program = std::move(p);
    return kFwOk;
}

void Nsp::doorbell(unsigned dbc_id, uint64_t addr)
{
    {
        std::lock_guard lk(lock_);
        Runs &r = dbcs_[dbc_id];
        if (!r.program || r.program->doorbell_addr != addr)
            return;
        uint64_t activation = card_.dbc(dbc_id).activation();
        if (r.program->activation != activation) {
            r.program = nullptr; // the DBC was released and activated again since
            return;
        }
        if (r.activation != activation) {
            r.activation = activation; // runs left from an earlier activation are void
            r.pending = 0;
        }
        ++r.pending;
        if (!r.queued) {
            r.queued = true;
            turns_.push_back(dbc_id);
        }
    }
    cv_.notify_all();
}

void Nsp::reset()
{
    std::lock_guard lk(lock_);
    for (Runs &r : dbcs_)
        r = {};
    turns_.clear();
}

void Nsp::run()
{
    std::unique_lock lk(lock_);
    for (;;) {
        cv_.wait(lk, [&] { return stop_ || (!turns_.empty() && !card_.gone()); });
        if (stop_)
            return;
        unsigned dbc_id = turns_.front();
        turns_.pop_front();
        Runs &r = dbcs_[dbc_id];
        r.queued = false;
        if (!r.pending || !r.program || r.program->activation != r.activation ||
            !live(dbc_id, r.activation)) {
            r.pending = 0; // the DBC was released: its runs are lost
            continue;
        }
        if (--r.pending) {
            r.queued = true; // its next run after one of every other DBC waiting
            turns_.push_back(dbc_id);
        }
        std::shared_ptr<const Program> program = r.program;
        lk.unlock();
        execute(dbc_id, *program);
        lk.lock();
    }
}

// A run goes on while its DBC serves the activation its program belongs to.
bool Nsp::live(unsigned dbc_id, uint64_t activation) const
{
    const Dbc &dbc = card_.dbc(dbc_id);
    return !stop_.load(std::memory_order_relaxed) && !card_.gone() &&
           dbc.state() == kDbcAssigned && dbc.activation() == activation;
}

void Nsp::execute(unsigned dbc_id, const Program &p)
{
    Ddr &ddr = card_.ddr();
    uint64_t work = 0;
    auto go_on = [&](uint64_t done) {
        work += done;
        if (work < kCheckEvery)
            return true;
        work = 0;
        return live(dbc_id, p.activation);
    };
    for (const aic100_nsp_instr &in : p.instrs) {
        // Released, shut down or reset, between instructions or within one (go_on): the
        // rest of the run is lost.
        if (!live(dbc_id, p.activation))
            return;
        bool done = true;
        switch (in.opcode) {
        case AIC100_NSP_GEMM: done = gemm(ddr, in, go_on); break;
        case AIC100_NSP_ADD:
        case AIC100_NSP_MUL:
        case AIC100_NSP_RELU: done = elementwise(ddr, in, go_on); break;
        case AIC100_NSP_SOFTMAX: done = softmax(ddr, in, go_on); break;
        case AIC100_NSP_COPY: done = copy(ddr, in, go_on); break;
        case AIC100_NSP_SEM: card_.sem_op(dbc_id, in.m, in.n, in.k); break;
        }
        if (!done)
            return;
    }
}

} // namespace aic100
