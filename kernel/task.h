// SPDX-License-Identifier: GPL-2.0-only
// MERGE: placeholder until the interruptible-waits branch lands.
#pragma once
namespace kernel {
class Task {
public:
    void kill() {}
};
class ScopedTask {
public:
    explicit ScopedTask(Task &) {}
};
} // namespace kernel
