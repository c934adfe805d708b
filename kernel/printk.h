// SPDX-License-Identifier: GPL-2.0-only
// Kernel-style log messages, and the driver's debug messages by category (DRM's drm.debug).
//
// Lines go to the host's log sink: stderr as "qaic: ..." by default (the embedded host, where
// the client's own stderr is the log), or whatever a host sets (qaicd writes printk-style
// lines with timestamps or journal levels).
//
// Debug messages print when their category's bit is set in the `debug` parameter
// (debug_mask): off, each costs one relaxed load and a branch, its arguments unevaluated. On,
// each call site prints at most kRatelimitBurst lines per kRatelimitInterval, then says how
// many it suppressed, so a client looping on a bad call cannot flood the log.
#pragma once

#include "kernel/result.h"

#include <atomic>
#include <cstdint>
#include <mutex>

namespace kernel {

enum class LogLevel { kErr = 3, kWarn = 4, kInfo = 6, kDebug = 7 };

void printk(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Receives each formatted line (no trailing newline). Set before the driver logs; a test may
// set it again, and restore the previous one it returned.
using LogSink = void (*)(LogLevel level, const char *line);
LogSink set_log_sink(LogSink sink);

// The categories of the `debug` parameter's bits.
enum DebugCategory : uint32_t {
    kDebugIoctl = 0x1,    // why an ioctl (or open, mmap) was refused: the rule and the values
    kDebugControl = 0x2,  // control messages (MANAGE) sent and answered
    kDebugDatapath = 0x4, // submissions to DBCs and their completions
    kDebugCard = 0x8,     // card faults: resets, subsystem restarts, hangs, lost interrupts
};
inline constexpr uint32_t kDebugAll = 0xf;

// The `debug` parameter: module-wide, as drm.debug is (every card of the process). Its
// default is 0, or every category with CONFIG_QAIC_DEBUG.
extern std::atomic<uint32_t> debug_mask;
inline bool debug_on(uint32_t category)
{
    return debug_mask.load(std::memory_order_relaxed) & category;
}
// Sets it from a value in range (a mask of kDebug* bits); -EINVAL otherwise. Every call
// site's rate limit starts afresh: who sets it wants the lines from now on.
ErrorOr<void> set_debug_mask(uint32_t mask);

// One call site's rate limit (the kernel's ratelimit_state with its default 10 per 5 s).
inline constexpr int64_t kRatelimitIntervalNs = 5'000'000'000;
inline constexpr unsigned kRatelimitBurst = 10;
class Ratelimit {
public:
    constexpr Ratelimit() = default;
    // Whether a line may print at now_ns; *suppressed is set to the lines refused since the
    // last one printed, when a new interval begins (the caller says so first).
    bool allow(int64_t now_ns, unsigned *suppressed);

private:
    std::mutex lock_;
    int64_t begin_ns_ = 0;
    unsigned printed_ = 0, missed_ = 0;
    // The debug setting the interval began under; none yet, so the first line starts one.
    uint64_t generation_ = UINT64_MAX;
};

// "EINVAL" for -EINVAL ("?" for what is no errno).
const char *errno_name(int negative_errno);

// The operation the calling thread is in, named in its debug lines ("EXECUTE_BO"): set by the
// accel core for each ioctl, open and mmap, and by the bus around interrupt handlers
// (kIrqOp), for as long as the scope lives.
class OpScope {
public:
    explicit OpScope(const char *name);
    ~OpScope();
    OpScope(const OpScope &) = delete;
    OpScope &operator=(const OpScope &) = delete;

private:
    const char *saved_;
};
const char *current_op();
inline constexpr const char kIrqOp[] = "irq";
// Whether the thread runs an interrupt handler (in_interrupt()): its lines are the device's,
// not those of the call the thread may be serving (a busy-polling waiter's).
bool in_irq();

// Prints one debug line through rl: "qaic: <op>: <message>", and for a refusal (err, a
// negative errno; 0 for none) " -> EINVAL" after it.
void debug_print(Ratelimit &rl, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// An internal invariant broke at file:line: logged as an error ("invariant ... broken", what
// make check-debug looks for); the driver goes on (as the kernel's WARN_ON). See QAIC_CHECK.
void invariant_violated(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

} // namespace kernel

#define pr_err(fmt, ...) ::kernel::printk(::kernel::LogLevel::kErr, "qaic: error: " fmt __VA_OPT__(, ) __VA_ARGS__)
#define pr_warn(fmt, ...) ::kernel::printk(::kernel::LogLevel::kWarn, "qaic: warning: " fmt __VA_OPT__(, ) __VA_ARGS__)
#define pr_info(fmt, ...) ::kernel::printk(::kernel::LogLevel::kInfo, "qaic: " fmt __VA_OPT__(, ) __VA_ARGS__)

// A debug line of a category (kernel::kDebug*), rate-limited per call site.
#define qaic_dbg(category, fmt, ...)                                                               \
    do {                                                                                           \
        if (::kernel::debug_on(category)) [[unlikely]] {                                           \
            static ::kernel::Ratelimit qaic_rl_;                                                   \
            ::kernel::debug_print(qaic_rl_, 0, fmt __VA_OPT__(, ) __VA_ARGS__);                    \
        }                                                                                          \
    } while (0)

// An internal invariant, checked with CONFIG_QAIC_DEBUG (kernel::invariant_violated). Without
// it the check is compiled, so it keeps up with the code, but never runs.
#ifdef CONFIG_QAIC_DEBUG
#define QAIC_CHECK(cond, fmt, ...)                                                                 \
    do {                                                                                           \
        if (!(cond)) [[unlikely]]                                                                  \
            ::kernel::invariant_violated(__FILE__, __LINE__, #cond,                                \
                                         fmt __VA_OPT__(, ) __VA_ARGS__);                          \
    } while (0)
#else
#define QAIC_CHECK(cond, fmt, ...)                                                                 \
    do {                                                                                           \
        if (false && !(cond))                                                                      \
            ::kernel::invariant_violated(__FILE__, __LINE__, #cond,                                \
                                         fmt __VA_OPT__(, ) __VA_ARGS__);                          \
    } while (0)
#endif

// Refuses the current operation with err (a negative errno): yields kernel::Error(err), and
// with debug's ioctl bit set logs the rule that refused it and the values that broke it,
// e.g. return REJECT(-EINVAL, "entry %u: BO %u is sliced for DBC %u, not %u", ...);
#define REJECT(err, fmt, ...)                                                                      \
    ([&, qaic_err_ = int(err)]() -> ::kernel::Error {                                              \
        if (::kernel::debug_on(::kernel::kDebugIoctl)) [[unlikely]] {                              \
            static ::kernel::Ratelimit qaic_rl_;                                                   \
            ::kernel::debug_print(qaic_rl_, qaic_err_, fmt __VA_OPT__(, ) __VA_ARGS__);            \
        }                                                                                          \
        return ::kernel::Error(qaic_err_);                                                         \
    }())
