/* SPDX-License-Identifier: MIT */
/*
 * libqaic: test control of the embedded simulated card ("sim"). Not part of the uAPI and not
 * available on real hardware (calls fail with ENODEV there): selftests use it to inject faults
 * and skip what needs it elsewhere. Returns 0, or -1 with errno set.
 */
#ifndef QAIC_QAIC_SIM_H
#define QAIC_QAIC_SIM_H

#include <stddef.h>

#if defined(__cplusplus)
extern "C" {
#endif

enum qaic_sim_fault {
	QAIC_SIM_DMA_ERROR = 1, /* arg0: DBC, arg1: the arg1-th element from now fails */
	QAIC_SIM_HANG = 2,      /* arg0: DBC stops executing until released */
	QAIC_SIM_DROP_MSI = 3,  /* arg0: source (0 control, 1 + id a DBC), arg1: count lost */
	QAIC_SIM_FW_SILENT = 4, /* arg0: 1 firmware stops answering control messages, 0 resumes */
	QAIC_SIM_FW_NACK = 5,   /* arg0: the next arg0 control messages are NACKed */
	QAIC_SIM_REMOVE = 6,    /* surprise removal of the card */
	QAIC_SIM_SSR = 7,       /* arg0: DBC goes through a subsystem restart */
	QAIC_SIM_RESET = 8,     /* full device reset with work in flight; arg0: the first arg0
	                         * control messages after it are NACKed (with
	                         * CONFIG_QAIC_FAULT_INJECTION) */
	QAIC_SIM_RESET_ON_MESSAGE = 9, /* arg0 >= 1: the device resets when it receives the
	                                * arg0-th control message from now, unanswered */
	QAIC_SIM_FW_PAD = 10,   /* arg0: every control response carries arg0 unasked-for STATUS
	                         * answers (as many as fit), 0 stops it */
	QAIC_SIM_FW_MISNAME = 11, /* arg0: the next arg0 DEACTIVATE answers name the wrong DBC */
	QAIC_SIM_FW_FAIL_ALLOC = 12, /* arg0 >= 1: the arg0-th allocation the firmware makes while
	                              * it serves the next control message fails (out of memory) */
	QAIC_SIM_RAS = 13,      /* the card detects an error and reports it on its RAS channel:
	                         * arg0 = source (QAIC_SIM_RAS_SRC_*) | type (QAIC_SIM_RAS_CE,
	                         * _UE, _UE_NONFATAL) << 8; arg1: 0 a well-formed report, else the
	                         * field it gets wrong (QAIC_SIM_RAS_BAD_*) */
	QAIC_SIM_DUMP_FAULT = 14, /* the next subsystem restart's crash dump misbehaves:
	                           * arg0 = QAIC_SIM_DUMP_*, arg1: the chunk read it hits (1: the
	                           * first) where that matters */
};

/* QAIC_SIM_RAS's sources and error types (upstream qaic_ras.c's). */
enum qaic_sim_ras_source {
	QAIC_SIM_RAS_SRC_SOC_MEM = 0, QAIC_SIM_RAS_SRC_PCIE = 1, QAIC_SIM_RAS_SRC_DDR = 2,
	QAIC_SIM_RAS_SRC_SYS_BUS1 = 3, QAIC_SIM_RAS_SRC_SYS_BUS2 = 4, QAIC_SIM_RAS_SRC_NSP_MEM = 5,
	QAIC_SIM_RAS_SRC_TSENS = 6,
};
enum qaic_sim_ras_type {
	QAIC_SIM_RAS_CE = 0,          /* correctable */
	QAIC_SIM_RAS_UE = 1,          /* uncorrectable, fatal: the driver resets the card */
	QAIC_SIM_RAS_UE_NONFATAL = 2, /* uncorrectable, non-fatal */
};
/* A malformed RAS report: the field it gets wrong. */
enum qaic_sim_ras_bad {
	QAIC_SIM_RAS_BAD_MAGIC = 1, QAIC_SIM_RAS_BAD_VERSION_ZERO = 2,
	QAIC_SIM_RAS_BAD_VERSION_NEW = 3, QAIC_SIM_RAS_BAD_NOT_PUSH = 4, QAIC_SIM_RAS_BAD_LEN = 5,
	QAIC_SIM_RAS_BAD_ERR_TYPE = 6, QAIC_SIM_RAS_BAD_SOURCE = 7,
	QAIC_SIM_RAS_BAD_THRESHOLD = 8, /* a temperature report past "critical" */
};
/* QAIC_SIM_DUMP_FAULT's misbehaviours (docs/device-model.md, "Faults"). */
enum qaic_sim_dump_fault {
	QAIC_SIM_DUMP_OK = 0,
	QAIC_SIM_DUMP_STALL = 1,        /* the arg1-th read and all after go unanswered */
	QAIC_SIM_DUMP_OVERSIZE = 2,     /* the arg1-th read gets 8 bytes more than asked */
	QAIC_SIM_DUMP_EMPTY_CHUNK = 3,  /* the arg1-th read gets no data */
	QAIC_SIM_DUMP_BAD_TABLE_LEN = 4, /* the offer's table length is not whole entries */
	QAIC_SIM_DUMP_ZERO_ENTRY = 5,   /* the table lists a region of 0 bytes */
	QAIC_SIM_DUMP_DONE_NACK = 6,    /* the card calls the finished dump bad */
	QAIC_SIM_DUMP_WRONG_DBC = 7,    /* the arg1-th read is answered for another DBC */
	QAIC_SIM_DUMP_NONE = 8,         /* no dump is offered */
	QAIC_SIM_DUMP_HUGE_ENTRY = 9,   /* the table lists a region of 2^62 bytes */
	QAIC_SIM_DUMP_POWER_UP_EARLY = 10, /* at the arg1-th read the card gives up the transfer
	                                    * and powers the subsystem up */
};

/* Injects a fault into the card behind fd (an fd of "sim"). EOPNOTSUPP when libqaic was built
 * without CONFIG_QAIC_FAULT_INJECTION (RESET works regardless), EINVAL for a bad fault, DBC
 * or count, EBADF for an unknown fd, ENODEV for a real node. */
int qaic_sim_inject(int fd, enum qaic_sim_fault fault, unsigned arg0, unsigned arg1);

/* Counters and state of one DBC of the card behind fd, as status tools read them from its
 * registers (docs/device-model.md). EINVAL for a DBC out of range. */
struct qaic_sim_dbc_status {
	unsigned state;       /* 0 IDLE, 1 ASSIGNED, 2-5 subsystem restart */
	unsigned nelem;       /* ring size, 0 when idle */
	unsigned queue_level; /* request elements not yet executed */
	unsigned errors;      /* elements that failed */
	unsigned responses;   /* responses written */
	unsigned last_error;  /* last non-zero response status */
	unsigned long long elements; /* executed since activation */
	unsigned long long bytes;    /* moved since activation */
	unsigned long long polled;   /* of the elements, executed on busy-polling waiters (WAIT_BO) */
	unsigned long long deferred_doorbells; /* doorbells left to a busy-polling waiter */
};
int qaic_sim_get_dbc_status(int fd, unsigned dbc, struct qaic_sim_dbc_status *status);
/* Number of DBCs of the card behind fd. */
int qaic_sim_num_dbc(int fd);
/* PCI ids of the card behind fd, vendor << 16 | device (0x17cba100 for an AIC100, 0x17cba080
 * for an AIC080, 0x17cba110 for an AIC200: its profile). */
int qaic_sim_pci_id(int fd);

/* The driver's RAS counters of the card behind fd (upstream's sysfs ce_count, ue_count,
 * ue_nonfatal_count): reports of each kind since the driver was bound, saturating. */
struct qaic_sim_ras_counts {
	unsigned ce_count;          /* correctable */
	unsigned ue_count;          /* uncorrectable (fatal: each reset the card) */
	unsigned ue_nonfatal_count; /* uncorrectable, non-fatal */
};
int qaic_sim_get_ras_counts(int fd, struct qaic_sim_ras_counts *counts);

/* The crash dump of the card behind fd (its devcoredump: what the driver collected at its
 * last subsystem restart), read once. With buf NULL and len 0: the dump's size, the dump kept.
 * Else the whole dump is copied to buf and freed (a second read finds none); returns its size.
 * -1 with ENOENT when there is none, ENOSPC when len is less than its size (kept), EFAULT
 * (kept). Through qaicd it needs the daemon's own user, root, or --test-control (EPERM). */
long long qaic_sim_read_coredump(int fd, void *buf, unsigned long long len);

/* The two calls below act on the card qaic_open(NULL) would open: the embedded card, or the
 * card behind a qaicd socket ($QAIC_DEVICE or qaicd's default socket). Through qaicd they need
 * a daemon started with --test-control (EPERM otherwise), except for the "debug" parameter,
 * which the daemon's own user and root may set. */

/* After QAIC_SIM_REMOVE: plugs in a fresh simulated card; later opens use it. */
int qaic_sim_replug(void);

/* Sets a driver module parameter of the simulated device at run time, as a write of its
 * /sys/module/qaic/parameters file does, such as "control_resp_timeout_s" (the list:
 * docs/uapi.md, "Module parameters"); "debug", the driver's debug message categories, is
 * module-wide and may be set before the first open too. EINVAL for an unknown name or a
 * value out of range, EACCES for one upstream makes read-only once loaded (mode 0400:
 * datapath_polling, given at load with QAIC_PARAMS or qaicd --param), ENODEV before the
 * first open of "sim". */
int qaic_sim_set_param(const char *name, unsigned value);

/* The driver's files of the card qaic_open(NULL) would open, as tools read them in sysfs,
 * debugfs and /sys/module/qaic/parameters (docs/uapi.md, "sysfs, debugfs and module
 * parameters"), by path under their roots: "accel/dbc0_state", "device/ce_count",
 * "debug/bootlog", "debug/dbc000/queued", "parameters/datapath_polling"; "" (embedded card and
 * qaicd only) lists them, one "<mode in octal> <path>" line each. The content is made at
 * the call, as a read of the file makes it. Copies at most len - 1 bytes and a NUL into buf
 * and returns the content's full length (as snprintf: a result >= len was cut short), or -1
 * with errno: ENOENT no such file, ENODEV no card. On a real node it reads the node's own
 * files (debugfs needs root). */
int qaic_sim_read_attr(const char *path, char *buf, size_t len);
/* A module parameter's value as /sys/module/qaic/parameters/<name> shows it ("5000\n", a
 * bool's "Y\n" or "N\n"): qaic_sim_read_attr("parameters/<name>"); EINVAL for no such
 * parameter. */
int qaic_sim_get_param(const char *name, char *buf, size_t len);

/* What qaicd holds, for status tools and leak checks: a client that closed or died leaves
 * every count as it was before it opened. */
struct qaic_host_stats {
	unsigned files;       /* open device files (client connections) */
	unsigned channels;    /* client threads' channels being served */
	unsigned dbcs_in_use; /* activated DBCs, over every card */
	unsigned sleeping_calls; /* clients' calls asleep in the driver (a WAIT_BO waiting) */
	unsigned long long bo_bytes;  /* host memory of BOs and DMA bounce buffers, every card */
	unsigned long long fds;       /* the daemon's open file descriptors (the query's too) */
	unsigned long long threads;   /* the daemon's threads (the query's channel's too) */
	unsigned long long rss_bytes; /* the daemon's resident memory */
};
/* The counts of the qaicd serving device (a socket path; NULL: the device qaic_open(NULL)
 * would open). ENODEV when that is not a running qaicd. */
int qaic_host_get_stats(const char *device, struct qaic_host_stats *stats);

#if defined(__cplusplus)
}
#endif

#endif /* QAIC_QAIC_SIM_H */
