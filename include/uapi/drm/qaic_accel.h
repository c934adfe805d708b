/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * uAPI of the qaic accel driver (Qualcomm Cloud AI 100 class accelerators).
 *
 * ABI-identical to the upstream Linux header of the same name: every ioctl number, struct,
 * field, type and constant matches, so a client built against this header runs unchanged on
 * upstream's driver and on ours. Unlike upstream's, it compiles in userspace on its own
 * (C11 and C++17) with libdrm's drm.h on the include path.
 *
 * All structs are little-endian with natural alignment and explicit padding; every pad field
 * must be zero. docs/uapi.md describes every ioctl, field and errno.
 */
#ifndef _QAIC_ACCEL_H_
#define _QAIC_ACCEL_H_

#include "drm.h"

#if defined(__cplusplus)
extern "C" {
#endif

/* Largest MANAGE message in bytes, counting qaic_manage_msg's len and count fields. */
#define QAIC_MANAGE_MAX_MSG_LENGTH 0x1000

/* qaic_sem.flags: fence the DMA against the NSP in one direction or the other. */
#define QAIC_SEM_INSYNCFENCE	2	/* this element's inbound DMA waits for earlier work */
#define QAIC_SEM_OUTSYNCFENCE	1	/* outbound DMA waits until the NSP wrote its data */

/* qaic_sem.cmd: what the DBC does with semaphore `index`. */
#define QAIC_SEM_NOP		0	/* nothing */
#define QAIC_SEM_INIT		1	/* set the semaphore to val */
#define QAIC_SEM_INC		2	/* add val */
#define QAIC_SEM_DEC		3	/* subtract val */
#define QAIC_SEM_WAIT_EQUAL	4	/* block the DBC until it equals val */
#define QAIC_SEM_WAIT_GT_EQ	5	/* block the DBC until it is >= val */
#define QAIC_SEM_WAIT_GT_0	6	/* block the DBC until it is > 0 */

/*
 * Transaction types in a MANAGE message. Userspace sends only the *_FROM_USR types and
 * receives PASSTHROUGH_FROM_DEV, ACTIVATE_FROM_DEV and STATUS_FROM_DEV back; the rest name
 * the driver<->device wire forms and are listed for completeness of the numbering.
 */
enum qaic_manage_transaction_type {
	QAIC_TRANS_UNDEFINED = 0,
	QAIC_TRANS_PASSTHROUGH_FROM_USR = 1,
	QAIC_TRANS_PASSTHROUGH_TO_USR = 2,
	QAIC_TRANS_PASSTHROUGH_FROM_DEV = 3,
	QAIC_TRANS_PASSTHROUGH_TO_DEV = 4,
	QAIC_TRANS_DMA_XFER_FROM_USR = 5,
	QAIC_TRANS_DMA_XFER_TO_DEV = 6,
	QAIC_TRANS_ACTIVATE_FROM_USR = 7,
	QAIC_TRANS_ACTIVATE_FROM_DEV = 8,
	QAIC_TRANS_ACTIVATE_TO_DEV = 9,
	QAIC_TRANS_DEACTIVATE_FROM_USR = 10,
	QAIC_TRANS_DEACTIVATE_FROM_DEV = 11,
	QAIC_TRANS_STATUS_FROM_USR = 12,
	QAIC_TRANS_STATUS_TO_USR = 13,
	QAIC_TRANS_STATUS_FROM_DEV = 14,
	QAIC_TRANS_STATUS_TO_DEV = 15,
	QAIC_TRANS_TERMINATE_FROM_DEV = 16,
	QAIC_TRANS_TERMINATE_TO_DEV = 17,
	QAIC_TRANS_DMA_XFER_CONT = 18,
	QAIC_TRANS_VALIDATE_PARTITION_FROM_DEV = 19,
	QAIC_TRANS_VALIDATE_PARTITION_TO_DEV = 20,
	QAIC_TRANS_TYPE_MAX,
};

/* Common header of every MANAGE transaction. */
struct qaic_manage_trans_hdr {
	__u32 type;	/* enum qaic_manage_transaction_type */
	__u32 len;	/* bytes of this transaction, header included */
};

/* Opaque firmware message, sent as is (PASSTHROUGH_FROM_USR) or received (_FROM_DEV). */
struct qaic_manage_trans_passthrough {
	struct qaic_manage_trans_hdr hdr;
	__u8 data[];	/* payload, little-endian; hdr.len is a multiple of 8 */
};

/* Copy a user buffer into device memory (DMA_XFER_FROM_USR). */
struct qaic_manage_trans_dma_xfer {
	struct qaic_manage_trans_hdr hdr;
	__u32 tag;	/* firmware-defined name of the destination */
	__u32 pad;	/* ignored (upstream does not check it; Qualcomm's runtime sets it to 1) */
	__u64 addr;	/* user address of the data */
	__u64 size;	/* bytes at addr; non-zero, addr + size must not wrap */
};

/* Ask the device for a DMA Bridge Channel (ACTIVATE_FROM_USR). */
struct qaic_manage_trans_activate_to_dev {
	struct qaic_manage_trans_hdr hdr;
	__u32 queue_size;	/* elements in each of the request and response queues */
	__u32 eventfd;		/* unused, kept for ABI */
	__u32 options;		/* firmware-defined activation options */
	__u32 pad;		/* must be zero */
};

/* The device's answer to an activation (ACTIVATE_FROM_DEV). */
struct qaic_manage_trans_activate_from_dev {
	struct qaic_manage_trans_hdr hdr;
	__u32 status;	/* 0 on success, firmware error code otherwise */
	__u32 dbc_id;	/* the DBC now owned by the caller */
	__u64 options;	/* firmware-defined options in effect */
};

/* Give a DBC back (DEACTIVATE_FROM_USR). */
struct qaic_manage_trans_deactivate {
	struct qaic_manage_trans_hdr hdr;
	__u32 dbc_id;	/* a DBC the caller owns */
	__u32 pad;	/* must be zero */
};

/* Ask the firmware for its status (STATUS_FROM_USR). */
struct qaic_manage_trans_status_to_dev {
	struct qaic_manage_trans_hdr hdr;
};

/* The firmware's status (STATUS_FROM_DEV). */
struct qaic_manage_trans_status_from_dev {
	struct qaic_manage_trans_hdr hdr;
	__u16 major;		/* control protocol major version */
	__u16 minor;		/* control protocol minor version */
	__u32 status;		/* 0 on success */
	__u64 status_flags;	/* bit 0: the device requires message CRCs */
};

/* DRM_IOCTL_QAIC_MANAGE argument: a batch of transactions for the firmware. */
struct qaic_manage_msg {
	__u32 len;	/* total bytes of the transactions at data */
	__u32 count;	/* number of transactions */
	__u64 data;	/* user pointer; the response overwrites this buffer (4096 bytes) */
};

/* DRM_IOCTL_QAIC_CREATE_BO argument. */
struct qaic_create_bo {
	__u64 size;	/* in: bytes, rounded up to the page size */
	__u32 handle;	/* out: GEM handle of the new, zeroed BO */
	__u32 pad;	/* must be zero */
};

/* DRM_IOCTL_QAIC_MMAP_BO argument. */
struct qaic_mmap_bo {
	__u32 handle;	/* in: BO to map */
	__u32 pad;	/* must be zero */
	__u64 offset;	/* out: fake offset to pass to mmap() on this file */
};

/* One semaphore operation of a slice; packed into a 32-bit word of the DMA element. */
struct qaic_sem {
	__u16 val;	/* operand, 12 bits */
	__u8  index;	/* semaphore 0..31 of the DBC */
	__u8  presync;	/* 1: run before the transfer, 0: after it */
	__u8  cmd;	/* QAIC_SEM_* command */
	__u8  flags;	/* QAIC_SEM_INSYNCFENCE / QAIC_SEM_OUTSYNCFENCE */
	__u16 pad;	/* must be zero */
};

/* One slice of a BO: a range moved to or from device memory as one DMA request. */
struct qaic_attach_slice_entry {
	__u64 size;		/* bytes of the slice; 0 moves no data */
	struct qaic_sem sem0;	/* semaphore operations of the slice */
	struct qaic_sem sem1;
	struct qaic_sem sem2;
	struct qaic_sem sem3;
	__u64 dev_addr;		/* device address of the slice's data */
	__u64 db_addr;		/* device address the doorbell is written to */
	__u32 db_data;		/* value written to db_addr */
	__u32 db_len;		/* doorbell width in bits: 32, 16, 8, or 0 for none */
	__u64 offset;		/* start of the slice from the start of the BO */
};

/* Header of DRM_IOCTL_QAIC_ATTACH_SLICE_BO. */
struct qaic_attach_slice_hdr {
	__u32 count;	/* number of slice entries at data */
	__u32 dbc_id;	/* DBC the BO will execute on; the caller must own it */
	__u32 handle;	/* BO to slice */
	__u32 dir;	/* 1: to device, 2: from device */
	__u64 size;	/* deprecated and ignored: the BO's own size is used */
};

/* DRM_IOCTL_QAIC_ATTACH_SLICE_BO argument. */
struct qaic_attach_slice {
	struct qaic_attach_slice_hdr hdr;
	__u64 data;	/* user pointer to hdr.count struct qaic_attach_slice_entry */
};

/* One BO of DRM_IOCTL_QAIC_EXECUTE_BO. */
struct qaic_execute_entry {
	__u32 handle;	/* sliced BO to queue */
	__u32 dir;	/* 1: to device, 2: from device */
};

/* One BO of DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO. */
struct qaic_partial_execute_entry {
	__u32 handle;	/* sliced BO to queue */
	__u32 dir;	/* 1: to device, 2: from device */
	__u64 resize;	/* bytes of the BO to move, <= its size; 0 moves none */
};

/* Header of the execute ioctls. */
struct qaic_execute_hdr {
	__u32 count;	/* number of entries at data */
	__u32 dbc_id;	/* DBC to queue the BOs on */
};

/* DRM_IOCTL_QAIC_EXECUTE_BO and DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO argument. */
struct qaic_execute {
	struct qaic_execute_hdr hdr;
	__u64 data;	/* user pointer to execute entries (partial entries for PARTIAL) */
};

/* DRM_IOCTL_QAIC_WAIT_BO argument. */
struct qaic_wait {
	__u32 handle;	/* BO to wait for */
	__u32 timeout;	/* milliseconds; 0 means the driver default (5000) */
	__u32 dbc_id;	/* DBC the BO was queued on */
	__u32 pad;	/* must be zero */
};

/* Header of DRM_IOCTL_QAIC_PERF_STATS_BO. */
struct qaic_perf_stats_hdr {
	__u16 count;	/* number of entries at data */
	__u16 pad;	/* must be zero */
	__u32 dbc_id;	/* DBC the BOs are sliced on */
};

/* DRM_IOCTL_QAIC_PERF_STATS_BO argument. */
struct qaic_perf_stats {
	struct qaic_perf_stats_hdr hdr;
	__u64 data;	/* user pointer to hdr.count struct qaic_perf_stats_entry */
};

/* Timing of a BO's last execution. */
struct qaic_perf_stats_entry {
	__u32 handle;			/* in: BO */
	__u32 queue_level_before;	/* out: ring elements in use when it was queued */
	__u32 num_queue_element;	/* out: ring elements it used */
	__u32 submit_latency_us;	/* out: ioctl entry to doorbell */
	__u32 device_latency_us;	/* out: doorbell to completion */
	__u32 pad;			/* out: zero */
};

/* DRM_IOCTL_QAIC_DETACH_SLICE_BO argument. */
struct qaic_detach_slice {
	__u32 handle;	/* BO whose slicing is removed */
	__u32 pad;	/* must be zero */
};

/* Driver ioctl indices, relative to DRM_COMMAND_BASE. */
#define DRM_QAIC_MANAGE				0x00
#define DRM_QAIC_CREATE_BO			0x01
#define DRM_QAIC_MMAP_BO			0x02
#define DRM_QAIC_ATTACH_SLICE_BO		0x03
#define DRM_QAIC_EXECUTE_BO			0x04
#define DRM_QAIC_PARTIAL_EXECUTE_BO		0x05
#define DRM_QAIC_WAIT_BO			0x06
#define DRM_QAIC_PERF_STATS_BO			0x07
#define DRM_QAIC_DETACH_SLICE_BO		0x08

#define DRM_IOCTL_QAIC_MANAGE		DRM_IOWR(DRM_COMMAND_BASE + DRM_QAIC_MANAGE, struct qaic_manage_msg)
#define DRM_IOCTL_QAIC_CREATE_BO	DRM_IOWR(DRM_COMMAND_BASE + DRM_QAIC_CREATE_BO, struct qaic_create_bo)
#define DRM_IOCTL_QAIC_MMAP_BO		DRM_IOWR(DRM_COMMAND_BASE + DRM_QAIC_MMAP_BO, struct qaic_mmap_bo)
#define DRM_IOCTL_QAIC_ATTACH_SLICE_BO	DRM_IOW(DRM_COMMAND_BASE + DRM_QAIC_ATTACH_SLICE_BO, struct qaic_attach_slice)
#define DRM_IOCTL_QAIC_EXECUTE_BO	DRM_IOW(DRM_COMMAND_BASE + DRM_QAIC_EXECUTE_BO, struct qaic_execute)
#define DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO	DRM_IOW(DRM_COMMAND_BASE + DRM_QAIC_PARTIAL_EXECUTE_BO, struct qaic_execute)
#define DRM_IOCTL_QAIC_WAIT_BO		DRM_IOW(DRM_COMMAND_BASE + DRM_QAIC_WAIT_BO, struct qaic_wait)
#define DRM_IOCTL_QAIC_PERF_STATS_BO	DRM_IOWR(DRM_COMMAND_BASE + DRM_QAIC_PERF_STATS_BO, struct qaic_perf_stats)
#define DRM_IOCTL_QAIC_DETACH_SLICE_BO	DRM_IOW(DRM_COMMAND_BASE + DRM_QAIC_DETACH_SLICE_BO, struct qaic_detach_slice)

#if defined(__cplusplus)
}
#endif

#endif /* _QAIC_ACCEL_H_ */
