// SPDX-License-Identifier: MIT
#include "userspace/client/mlp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <qaic/qaic.hpp>

namespace mlp {
namespace {

// splitmix64: a tiny, well-known deterministic generator; good enough for test data.
struct Rng {
    uint64_t s;
    uint64_t next()
    {
        uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    float uniform() { return float(next() >> 40) / float(1 << 24); } // [0, 1)
};

std::vector<float> fill(Rng &rng, size_t n, float scale)
{
    std::vector<float> v(n);
    for (float &x : v)
        x = (rng.uniform() * 2 - 1) * scale;
    return v;
}

// Same arithmetic, in the same order, as the NSP's GEMM: bias first, then i-k-j.
void gemm(const float *a, const float *b, const float *bias, float *c, uint32_t m, uint32_t n,
          uint32_t k)
{
    for (uint32_t i = 0; i < m; ++i) {
        std::copy(bias, bias + n, c + uint64_t(i) * n);
        for (uint32_t kk = 0; kk < k; ++kk) {
            float aik = a[uint64_t(i) * k + kk];
            for (uint32_t j = 0; j < n; ++j)
                c[uint64_t(i) * n + j] += aik * b[uint64_t(kk) * n + j];
        }
    }
}

} // namespace

std::vector<uint8_t> Weights::image() const
{
    std::vector<uint8_t> out;
    for (const auto *v : {&w1, &b1, &w2, &b2}) {
        size_t at = out.size();
        out.resize(at + v->size() * 4);
        std::memcpy(out.data() + at, v->data(), v->size() * 4);
    }
    return out;
}

Weights make_weights(uint64_t seed)
{
    Rng rng{seed};
    Weights w;
    w.w1 = fill(rng, size_t(kIn) * kHidden, 0.08f);
    w.b1 = fill(rng, kHidden, 0.05f);
    w.w2 = fill(rng, size_t(kHidden) * kOut, 0.2f);
    w.b2 = fill(rng, kOut, 0.05f);
    return w;
}

std::vector<float> make_input(uint64_t seed, uint32_t batch)
{
    Rng rng{seed ^ 0x5EED5EED};
    std::vector<float> v(size_t(batch) * kIn);
    for (float &x : v)
        x = rng.uniform();
    return v;
}

std::vector<uint8_t> make_program(const Weights &w, uint32_t batch)
{
    qaic::ProgramBuilder p(Layout::kDoorbell);
    p.gemm(Layout::kInput, w.w1_addr(), Layout::kHidden, w.b1_addr(), batch, kHidden, kIn)
        .relu(Layout::kHidden, Layout::kHidden, batch * kHidden)
        .gemm(Layout::kHidden, w.w2_addr(), Layout::kLogits, w.b2_addr(), batch, kOut, kHidden)
        .softmax(Layout::kLogits, Layout::kProbs, batch, kOut)
        .sem(Layout::kDoneSem, QAIC_SEM_INC, 1);
    return p.build();
}

std::vector<float> reference(const Weights &w, const std::vector<float> &input, uint32_t batch)
{
    std::vector<float> hidden(size_t(batch) * kHidden), out(size_t(batch) * kOut);
    gemm(input.data(), w.w1.data(), w.b1.data(), hidden.data(), batch, kHidden, kIn);
    for (float &x : hidden)
        x = std::max(x, 0.0f);
    gemm(hidden.data(), w.w2.data(), w.b2.data(), out.data(), batch, kOut, kHidden);
    for (uint32_t i = 0; i < batch; ++i) {
        float *row = &out[size_t(i) * kOut];
        float mx = *std::max_element(row, row + kOut);
        float sum = 0;
        for (uint32_t j = 0; j < kOut; ++j)
            sum += row[j] = std::exp(row[j] - mx);
        for (uint32_t j = 0; j < kOut; ++j)
            row[j] /= sum;
    }
    return out;
}

long first_mismatch(const std::vector<float> &out, const std::vector<float> &ref, float tolerance)
{
    if (out.size() != ref.size())
        return 0;
    for (size_t i = 0; i < out.size(); ++i)
        if (!(std::fabs(out[i] - ref[i]) <= tolerance)) // NaN counts as a mismatch
            return long(i);
    return -1;
}

} // namespace mlp
