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
