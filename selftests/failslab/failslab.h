// SPDX-License-Identifier: GPL-2.0-only
// The allocation-failure sweep's controls, for tests of tests/qaic_selftest_failslab that do
// not go through it.
#pragma once

namespace failslab {

// Turns the sweep off while it lives: for a test that injects its own failure, whose calls
// the sweep cannot judge (a MANAGE meant to time out answers ETIMEDOUT, not ENOMEM).
class SweepOff {
public:
    SweepOff();
    ~SweepOff();
    SweepOff(const SweepOff &) = delete;
    SweepOff &operator=(const SweepOff &) = delete;
};

} // namespace failslab
