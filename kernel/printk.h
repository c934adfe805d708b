// SPDX-License-Identifier: GPL-2.0-only
// Kernel-style log messages to stderr. pr_debug prints only with CONFIG_QAIC_DEBUG.
#pragma once

#include <cstdio>

#define pr_err(fmt, ...) std::fprintf(stderr, "qaic: error: " fmt "\n" __VA_OPT__(, ) __VA_ARGS__)
#define pr_warn(fmt, ...) std::fprintf(stderr, "qaic: warning: " fmt "\n" __VA_OPT__(, ) __VA_ARGS__)
#define pr_info(fmt, ...) std::fprintf(stderr, "qaic: " fmt "\n" __VA_OPT__(, ) __VA_ARGS__)
#ifdef CONFIG_QAIC_DEBUG
#define pr_debug(fmt, ...) std::fprintf(stderr, "qaic: debug: " fmt "\n" __VA_OPT__(, ) __VA_ARGS__)
#else
#define pr_debug(fmt, ...)                                                                         \
    do {                                                                                           \
    } while (0)
#endif
