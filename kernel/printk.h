// SPDX-License-Identifier: GPL-2.0-only
// Kernel-style log messages. pr_debug prints only with CONFIG_QAIC_DEBUG.
//
// Lines go to the host's log sink: stderr as "qaic: ..." by default (the embedded host, where
// the client's own stderr is the log), or whatever a host sets (qaicd writes printk-style
// lines with timestamps or journal levels).
#pragma once

namespace kernel {

enum class LogLevel { kErr = 3, kWarn = 4, kInfo = 6, kDebug = 7 };

void printk(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Receives each formatted line (no trailing newline). Set once, before the driver runs.
using LogSink = void (*)(LogLevel level, const char *line);
void set_log_sink(LogSink sink);

} // namespace kernel

#define pr_err(fmt, ...) ::kernel::printk(::kernel::LogLevel::kErr, "qaic: error: " fmt __VA_OPT__(, ) __VA_ARGS__)
#define pr_warn(fmt, ...) ::kernel::printk(::kernel::LogLevel::kWarn, "qaic: warning: " fmt __VA_OPT__(, ) __VA_ARGS__)
#define pr_info(fmt, ...) ::kernel::printk(::kernel::LogLevel::kInfo, "qaic: " fmt __VA_OPT__(, ) __VA_ARGS__)
#ifdef CONFIG_QAIC_DEBUG
#define pr_debug(fmt, ...) ::kernel::printk(::kernel::LogLevel::kDebug, "qaic: debug: " fmt __VA_OPT__(, ) __VA_ARGS__)
#else
#define pr_debug(fmt, ...)                                                                         \
    do {                                                                                           \
    } while (0)
#endif
