/* SPDX-License-Identifier: MIT */
/*
 * The NSP program format of the simulated AIC100 card: a public contract between program
 * builders (libqaic's qaic::ProgramBuilder, your own tools) and the card, which includes this
 * header too. docs/device-model.md ("NSP programs") describes it in prose.
 *
 * A program is a header followed by `count` 64-byte instructions, little-endian. It is sent to
 * the firmware as an image (MANAGE DMA_XFER) and bound to an activated DBC with the firmware
 * command LOAD_PROGRAM. A doorbell write by that DBC to `doorbell_addr` starts one run:
 * the instructions execute in order on device DDR (f32 data, row-major), and SEM instructions
 * signal the DBC's semaphores, typically releasing an output slice's presync wait.
 */
#ifndef QAIC_AIC100_NSP_H
#define QAIC_AIC100_NSP_H

#include <stdint.h>

#define AIC100_NSP_MAGIC 0x3150534E /* "NSP1" */
#define AIC100_NSP_VERSION 1
#define AIC100_NSP_MAX_INSTR 4096

struct aic100_nsp_header {
	uint32_t magic;         /* AIC100_NSP_MAGIC */
	uint32_t version;       /* AIC100_NSP_VERSION */
	uint32_t count;         /* instructions that follow, 1..AIC100_NSP_MAX_INSTR */
	uint32_t reserved;      /* 0 */
	uint64_t doorbell_addr; /* device address whose doorbell write starts a run (4-aligned) */
	uint64_t reserved2;     /* 0 */
};

enum aic100_nsp_opcode {
	AIC100_NSP_GEMM = 1,    /* c[m x n] = a[m x k] * b[k x n] (+ d[n] per row if d != 0) */
	AIC100_NSP_ADD = 2,     /* c[i] = a[i] + b[i], i < n */
	AIC100_NSP_MUL = 3,     /* c[i] = a[i] * b[i], i < n */
	AIC100_NSP_RELU = 4,    /* c[i] = max(a[i], 0), i < n */
	AIC100_NSP_SOFTMAX = 5, /* each of m rows of n: c = exp(a - max) / sum */
	AIC100_NSP_COPY = 6,    /* n bytes from a to c (may not overlap) */
	AIC100_NSP_SEM = 7,     /* semaphore m of the bound DBC: cmd n (1 INIT, 2 INC, 3 DEC), value k */
};

struct aic100_nsp_instr {
	uint32_t opcode;   /* enum aic100_nsp_opcode */
	uint32_t flags;    /* 0 */
	uint64_t a, b, c, d; /* device addresses of the operands (0: unused) */
	uint32_t m, n, k;  /* dimensions (element counts; bytes for COPY) */
	uint32_t reserved[3]; /* 0 */
};

#if defined(__cplusplus)
static_assert(sizeof(struct aic100_nsp_header) == 32, "nsp header layout");
static_assert(sizeof(struct aic100_nsp_instr) == 64, "nsp instruction layout");
#endif

#endif /* QAIC_AIC100_NSP_H */
