/* SPDX-License-Identifier: MIT */
/*
 * libqaic: the device-file ABI of qaic accelerators.
 *
 * These five calls behave like open(2), close(2), ioctl(2), mmap(2) and munmap(2): they
 * return -1 (MAP_FAILED for qaic_mmap) and set errno on failure. The fd is a real file
 * descriptor in every backend; pass it only to these calls. An fd libqaic did not open gives
 * EBADF. Requests and argument structs are those of <drm/qaic_accel.h> and libdrm's <drm.h>.
 *
 * Devices:
 *   "sim"                 the simulated AIC100 card embedded in this process (one per process;
 *                         every open is a new file on the same device)
 *   "DIR/accelN"          a card served by qaicd at that socket: the fd is the connection,
 *                         so dup, fork and SCM_RIGHTS share the open file, as with a node
 *   "/dev/accel/accelN"   a real accel node, through open(2), libdrm's drmIoctl and mmap(2)
 *   NULL                  $QAIC_DEVICE if set, else the first /dev/accel node whose
 *                         DRM_IOCTL_VERSION name is "qaic", else a running qaicd's default
 *                         socket ($XDG_RUNTIME_DIR/qaic/accel0, /run/qaic/accel0), else "sim"
 */
#ifndef QAIC_QAIC_H
#define QAIC_QAIC_H

#include <stddef.h>
#include <sys/types.h>

#if defined(__cplusplus)
extern "C" {
#endif

int qaic_open(const char *device);
int qaic_close(int fd);
int qaic_ioctl(int fd, unsigned long request, void *arg);
void *qaic_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset);
int qaic_munmap(void *addr, size_t len);

#if defined(__cplusplus)
}
#endif

#endif /* QAIC_QAIC_H */
