// SPDX-License-Identifier: MIT
// The sample model: a 784-256-10 MLP (ReLU, softmax) with deterministic weights, its layout
// in device DDR, its NSP program, and the host reference it is verified against.
#pragma once

#include <cstdint>
#include <vector>

namespace mlp {

inline constexpr uint32_t kIn = 784, kHidden = 256, kOut = 10;

// Device DDR layout. The doorbell that starts the program sits in its own page.
struct Layout {
    static constexpr uint64_t kDoorbell = 0x1000;
    static constexpr uint64_t kWeights = 0x100000; // w1, b1, w2, b2, contiguous
    static constexpr uint64_t kInput = 0x1000000;
    static constexpr uint64_t kHidden = 0x2000000;
    static constexpr uint64_t kLogits = 0x3000000;
    static constexpr uint64_t kProbs = 0x4000000;
    static constexpr uint32_t kDoneSem = 0; // the program signals it, the output slice waits
};

struct Weights {
    std::vector<float> w1, b1, w2, b2; // w1[784 x 256], b1[256], w2[256 x 10], b2[10]
    // The weights image as loaded into DDR at Layout::kWeights.
    std::vector<uint8_t> image() const;
    uint64_t w1_addr() const { return Layout::kWeights; }
    uint64_t b1_addr() const { return w1_addr() + w1.size() * 4; }
    uint64_t w2_addr() const { return b1_addr() + b1.size() * 4; }
    uint64_t b2_addr() const { return w2_addr() + w2.size() * 4; }
};

// Weights from a seed: the same seed always gives the same model.
Weights make_weights(uint64_t seed);
// The inputs of one batch: batch rows of 784 values in [0, 1), from a seed.
std::vector<float> make_input(uint64_t seed, uint32_t batch);
// The program computing probabilities for `batch` rows, signalling Layout::kDoneSem.
std::vector<uint8_t> make_program(const Weights &w, uint32_t batch);
// What the device must produce: softmax(relu(x w1 + b1) w2 + b2), row by row.
std::vector<float> reference(const Weights &w, const std::vector<float> &input, uint32_t batch);

// Compares outputs with the reference; returns the index of the first value off by more than
// tolerance, or -1.
long first_mismatch(const std::vector<float> &out, const std::vector<float> &ref,
                    float tolerance = 1e-5f);

} // namespace mlp
