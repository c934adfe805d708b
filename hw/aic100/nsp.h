// SPDX-License-Identifier: GPL-2.0-only
// The NSP program executor: programs (qaic/aic100_nsp.h) bound to DBCs by the firmware, run
// on the card's compute thread when their DBC writes the start doorbell, computing on device
// DDR and signalling the DBC's semaphores.
#pragma once

#include "include/hw/aic100_regs.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

struct aic100_nsp_instr;

namespace aic100 {

class Card;

class Nsp {
public:
    explicit Nsp(Card &card);
    ~Nsp();

    // Validates a program image and binds it to DBC dbc_id for its current activation:
    // kFwOk, or kFwBadProgram. A later activation of the DBC drops the binding.
    uint32_t load(unsigned dbc_id, const std::vector<uint8_t> &image);
    // Whether image is a program load() takes: kFwOk, or kFwBadProgram.
    uint32_t check(const std::vector<uint8_t> &image) const;
    // A DBC wrote a doorbell: start a run if it is its program's start doorbell.
    void doorbell(unsigned dbc_id, uint64_t addr);
    // Device reset: forget every program and pending run.
    void reset();

private:
    struct Program {
        uint64_t activation; // the DBC activation it belongs to
        uint64_t doorbell_addr;
        std::vector<aic100_nsp_instr> instrs;
    };
    void run();
    bool live(unsigned dbc_id, uint64_t activation) const;
    void execute(unsigned dbc_id, const Program &p);

    Card &card_;
    mutable std::mutex lock_;
    std::condition_variable cv_;
    std::atomic<bool> stop_{false}; // set under lock_; read by a run without it
    // A DBC's program and the runs its doorbells asked for: counted, not queued, so memory
    // does not grow with doorbells rung while the NSP is busy.
    struct Runs {
        std::shared_ptr<const Program> program; // bound to the DBC, or null
        uint64_t activation = 0;                // of the pending runs
        uint64_t pending = 0;                   // doorbells not run yet
        bool queued = false;                    // in turns_
    };
    std::vector<Runs> dbcs_;   // by DBC id
    std::deque<unsigned> turns_; // DBCs with runs pending, each once: they take turns
    std::thread thread_;
};

} // namespace aic100
