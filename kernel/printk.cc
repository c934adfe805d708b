// SPDX-License-Identifier: GPL-2.0-only
// Kernel-style log messages and debug categories (printk.h).
#include "kernel/printk.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace kernel {
namespace {

void stderr_sink(LogLevel, const char *line)
{
    std::fprintf(stderr, "%s\n", line);
}

std::atomic<LogSink> sink{stderr_sink};
// Bumped by each set_debug_mask: rate limits restart.
std::atomic<uint64_t> debug_generation{0};

thread_local const char *op_name = nullptr;

int64_t monotonic_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

} // namespace

#ifdef CONFIG_QAIC_DEBUG
std::atomic<uint32_t> debug_mask{kDebugAll};
#else
std::atomic<uint32_t> debug_mask{0};
#endif

void printk(LogLevel level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sink.load(std::memory_order_acquire)(level, line);
}

LogSink set_log_sink(LogSink s)
{
    return sink.exchange(s ? s : stderr_sink, std::memory_order_acq_rel);
}

ErrorOr<void> set_debug_mask(uint32_t mask)
{
    if (mask & ~kDebugAll)
        return Error(-EINVAL);
    debug_mask.store(mask, std::memory_order_relaxed);
    debug_generation.fetch_add(1, std::memory_order_relaxed);
    return {};
}

bool Ratelimit::allow(int64_t now_ns, unsigned *suppressed)
{
    std::lock_guard lk(lock_);
    *suppressed = 0;
    uint64_t generation = debug_generation.load(std::memory_order_relaxed);
    if (generation != generation_ || now_ns - begin_ns_ >= kRatelimitIntervalNs) {
        // What was dropped under an earlier setting is not this one's to report.
        *suppressed = generation == generation_ ? missed_ : 0;
        generation_ = generation;
        begin_ns_ = now_ns;
        printed_ = missed_ = 0;
    }
    if (printed_ < kRatelimitBurst) {
        ++printed_;
        return true;
    }
    ++missed_;
    return false;
}

const char *errno_name(int negative_errno)
{
    const char *name = strerrorname_np(-negative_errno);
    return name ? name : "?";
}

OpScope::OpScope(const char *name) : saved_(op_name)
{
    op_name = name;
}

OpScope::~OpScope()
{
    op_name = saved_;
}

// Named as userspace knows it: "EXECUTE_BO" for DRM_IOCTL_QAIC_EXECUTE_BO, "VERSION" for
// DRM_IOCTL_VERSION.
const char *current_op()
{
    if (!op_name)
        return "device";
    for (const char *prefix : {"DRM_IOCTL_QAIC_", "DRM_IOCTL_"})
        if (std::strncmp(op_name, prefix, std::strlen(prefix)) == 0)
            return op_name + std::strlen(prefix);
    return op_name;
}

bool in_irq()
{
    return op_name == kIrqOp;
}

void invariant_violated(const char *file, int line, const char *cond, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    printk(LogLevel::kErr, "qaic: error: invariant %s broken at %s:%d: %s", cond, file, line,
           msg);
}

// "qaic: <op>: " then the message; a line that would not fit is cut (lines are for people).
void debug_print(Ratelimit &rl, int err, const char *fmt, ...)
{
    unsigned suppressed = 0;
    if (!rl.allow(monotonic_ns(), &suppressed))
        return;
    const char *op = current_op();
    if (suppressed)
        printk(LogLevel::kDebug, "qaic: %s: %u debug messages suppressed", op, suppressed);
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err)
        printk(LogLevel::kDebug, "qaic: %s: %s -> %s", op, msg, errno_name(err));
    else
        printk(LogLevel::kDebug, "qaic: %s: %s", op, msg);
}

} // namespace kernel
