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

// Every operand of an instruction lies in DDR (f32 operands 4-aligned); reserved fields 0.
bool valid(const aic100_nsp_instr &in, const Ddr &ddr)
{
    if (in.flags || in.reserved[0] || in.reserved[1] || in.reserved[2])
        return false;
    auto f32 = [&](uint64_t addr, uint64_t bytes) {
        return bytes && addr % 4 == 0 && ddr.contains(addr, bytes);
    };
    switch (in.opcode) {
    case AIC100_NSP_GEMM:
        return in.m && in.n && in.k && f32(in.a, f32_bytes(in.m, in.k)) &&
               f32(in.b, f32_bytes(in.k, in.n)) && f32(in.c, f32_bytes(in.m, in.n)) &&
               (in.d == 0 || f32(in.d, f32_bytes(in.n)));
    case AIC100_NSP_ADD:
    case AIC100_NSP_MUL:
        return f32(in.a, f32_bytes(in.n)) && f32(in.b, f32_bytes(in.n)) &&
               f32(in.c, f32_bytes(in.n));
    case AIC100_NSP_RELU:
        return f32(in.a, f32_bytes(in.n)) && f32(in.c, f32_bytes(in.n));
    case AIC100_NSP_SOFTMAX:
        return f32(in.a, f32_bytes(in.m, in.n)) && f32(in.c, f32_bytes(in.m, in.n));
    case AIC100_NSP_COPY:
        return in.n && ddr.contains(in.a, in.n) && ddr.contains(in.c, in.n) &&
               (in.a + in.n <= in.c || in.c + in.n <= in.a);
    case AIC100_NSP_SEM:
        return in.m < kNumSems && in.n >= kSemInit && in.n <= kSemDec && in.k <= kSemValMask;
    default:
        return false;
    }
}

std::vector<float> load_f32(Ddr &ddr, uint64_t addr, uint64_t count)
{
    std::vector<float> v(count);
    std::memcpy(v.data(), ddr.at(addr), count * 4);
    return v;
}

void store_f32(Ddr &ddr, uint64_t addr, const std::vector<float> &v)
{
    std::memcpy(ddr.at(addr), v.data(), v.size() * 4);
}

} // namespace

Nsp::Nsp(Card &card) : card_(card), thread_([this] { run(); }) {}

Nsp::~Nsp()
{
    {
        std::lock_guard lk(lock_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

uint32_t Nsp::load(unsigned dbc_id, const std::vector<uint8_t> &image)
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
    auto p = std::make_shared<Program>();
    p->activation = card_.dbc(dbc_id).activation();
    p->doorbell_addr = h.doorbell_addr;
    p->instrs.resize(h.count);
    std::memcpy(p->instrs.data(), image.data() + sizeof(h), h.count * sizeof(aic100_nsp_instr));
    for (const aic100_nsp_instr &in : p->instrs)
        if (!valid(in, card_.ddr()))
            return kFwBadProgram;
    std::lock_guard lk(lock_);
    programs_[dbc_id] = std::move(p);
    return kFwOk;
}

void Nsp::doorbell(unsigned dbc_id, uint64_t addr)
{
    {
        std::lock_guard lk(lock_);
        auto it = programs_.find(dbc_id);
        if (it == programs_.end() || it->second->doorbell_addr != addr)
            return;
        if (it->second->activation != card_.dbc(dbc_id).activation()) {
            programs_.erase(it); // the DBC was released and activated again since
            return;
        }
        runs_.emplace_back(dbc_id, it->second);
    }
    cv_.notify_all();
}

void Nsp::reset()
{
    std::lock_guard lk(lock_);
    programs_.clear();
    runs_.clear();
}

void Nsp::run()
{
    std::unique_lock lk(lock_);
    for (;;) {
        cv_.wait(lk, [&] { return stop_ || (!runs_.empty() && !card_.gone()); });
        if (stop_)
            return;
        auto [dbc_id, program] = runs_.front();
        runs_.pop_front();
        lk.unlock();
        execute(dbc_id, *program);
        lk.lock();
    }
}

void Nsp::execute(unsigned dbc_id, const Program &p)
{
    Ddr &ddr = card_.ddr();
    for (const aic100_nsp_instr &in : p.instrs) {
        if (card_.gone() || card_.dbc(dbc_id).activation() != p.activation)
            return; // released or reset mid-run: the rest of the run is lost
        switch (in.opcode) {
        case AIC100_NSP_GEMM: {
            auto a = load_f32(ddr, in.a, uint64_t(in.m) * in.k);
            auto b = load_f32(ddr, in.b, uint64_t(in.k) * in.n);
            std::vector<float> c(uint64_t(in.m) * in.n, 0.0f);
            if (in.d) {
                auto d = load_f32(ddr, in.d, in.n);
                for (uint32_t i = 0; i < in.m; ++i)
                    std::copy(d.begin(), d.end(), c.begin() + uint64_t(i) * in.n);
            }
            // i-k-j order: the inner loop streams rows of b and c.
            for (uint32_t i = 0; i < in.m; ++i)
                for (uint32_t kk = 0; kk < in.k; ++kk) {
                    float aik = a[uint64_t(i) * in.k + kk];
                    const float *brow = &b[uint64_t(kk) * in.n];
                    float *crow = &c[uint64_t(i) * in.n];
                    for (uint32_t j = 0; j < in.n; ++j)
                        crow[j] += aik * brow[j];
                }
            store_f32(ddr, in.c, c);
            break;
        }
        case AIC100_NSP_ADD:
        case AIC100_NSP_MUL: {
            auto a = load_f32(ddr, in.a, in.n);
            auto b = load_f32(ddr, in.b, in.n);
            for (uint32_t i = 0; i < in.n; ++i)
                a[i] = in.opcode == AIC100_NSP_ADD ? a[i] + b[i] : a[i] * b[i];
            store_f32(ddr, in.c, a);
            break;
        }
        case AIC100_NSP_RELU: {
            auto a = load_f32(ddr, in.a, in.n);
            for (float &x : a)
                x = std::max(x, 0.0f);
            store_f32(ddr, in.c, a);
            break;
        }
        case AIC100_NSP_SOFTMAX: {
            auto a = load_f32(ddr, in.a, uint64_t(in.m) * in.n);
            for (uint32_t i = 0; i < in.m; ++i) {
                float *row = &a[uint64_t(i) * in.n];
                float mx = *std::max_element(row, row + in.n);
                float sum = 0;
                for (uint32_t j = 0; j < in.n; ++j)
                    sum += row[j] = std::exp(row[j] - mx);
                for (uint32_t j = 0; j < in.n; ++j)
                    row[j] /= sum;
            }
            store_f32(ddr, in.c, a);
            break;
        }
        case AIC100_NSP_COPY:
            std::memcpy(ddr.at(in.c), ddr.at(in.a), in.n);
            break;
        case AIC100_NSP_SEM:
            card_.sem_op(dbc_id, in.m, in.n, in.k);
            break;
        }
    }
}

} // namespace aic100
