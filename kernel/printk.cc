// SPDX-License-Identifier: GPL-2.0-only
// Kernel-style log messages (printk.h).
#include "kernel/printk.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace kernel {
namespace {

void stderr_sink(LogLevel, const char *line)
{
    std::fprintf(stderr, "%s\n", line);
}

std::atomic<LogSink> sink{stderr_sink};

} // namespace

void printk(LogLevel level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sink.load(std::memory_order_acquire)(level, line);
}

void set_log_sink(LogSink s)
{
    sink.store(s ? s : stderr_sink, std::memory_order_release);
}

} // namespace kernel
