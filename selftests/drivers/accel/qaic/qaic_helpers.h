// SPDX-License-Identifier: GPL-2.0-only
// Small wrappers of the qaic ioctls for the uAPI selftests: each returns 0 or -errno, so a
// test compares with the exact errno. Nothing here reaches past libqaic and the uAPI header,
// except the sim test control (qaic_sim.h), which skips on backends that lack it.
#pragma once

#include "selftest.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <qaic/qaic_sim.h>
#include <string>
#include <sys/mman.h>
#include <sys/types.h>
#include <vector>

namespace selftest {

inline constexpr size_t kPage = 4096;
inline constexpr uint32_t kDirToDev = 1;
inline constexpr uint32_t kDirFromDev = 2;

// Firmware status codes and commands (docs/device-model.md), as users see them in
// ACTIVATE_FROM_DEV and PASSTHROUGH_FROM_DEV answers.
inline constexpr uint32_t kFwOk = 0;
inline constexpr uint32_t kFwBadCommand = 9;
inline constexpr uint32_t kFwImageInfo = 0x10001; // ours: from 0x10000, above NNC's commands
inline constexpr uint32_t kFwImageToDdr = 0x10002;
inline constexpr uint32_t kFwImageDrop = 0x10003;

// The driver's default control_resp_timeout_ms, restored after tests that shorten it.
inline constexpr unsigned kDefaultRespTimeoutMs = 60000;
// Its default dma_xfer_chunk_order (64 KiB bounce chunks).
inline constexpr unsigned kDefaultDmaXferChunkOrder = 4;

// CRC-32 as zlib's crc32() computes it (reflected, polynomial 0xEDB88320), bit by bit: the
// tests check the firmware's image CRC against an implementation of their own.
inline uint32_t crc32(const void *data, size_t len)
{
    auto *p = static_cast<const uint8_t *>(data);
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; ++i) {
        crc ^= p[i];
        for (int b = 0; b < 8; ++b)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

// ---------------------------------------------------------------------------- BOs

inline int create_bo(int fd, uint64_t size, uint32_t *handle)
{
    qaic_create_bo c{};
    c.size = size;
    int err = ioctl_err(fd, DRM_IOCTL_QAIC_CREATE_BO, &c);
    if (handle)
        *handle = err ? 0 : c.handle;
    return err;
}

inline int gem_close(int fd, uint32_t handle)
{
    drm_gem_close c{};
    c.handle = handle;
    return ioctl_err(fd, DRM_IOCTL_GEM_CLOSE, &c);
}

inline int mmap_offset(int fd, uint32_t handle, uint64_t *offset)
{
    qaic_mmap_bo m{};
    m.handle = handle;
    int err = ioctl_err(fd, DRM_IOCTL_QAIC_MMAP_BO, &m);
    if (offset)
        *offset = err ? 0 : m.offset;
    return err;
}

// MMAP_BO + a shared read/write mapping of the BO's first len bytes; MAP_FAILED on error.
inline void *map_bo(int fd, uint32_t handle, size_t len)
{
    uint64_t off;
    if (int err = mmap_offset(fd, handle, &off); err) {
        errno = -err;
        return MAP_FAILED;
    }
    return qaic_mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(off));
}

// ---------------------------------------------------------------------------- MANAGE

// A MANAGE buffer: transactions appended in order, sent as one message, the response read
// back from the same 4096 bytes the driver writes it over.
class Manage {
public:
    Manage() { std::memset(buf_, 0, sizeof(buf_)); }

    void add_raw(const void *p, size_t n)
    {
        std::memcpy(buf_ + len_, p, n);
        len_ += uint32_t(n);
        ++count_;
    }
    template <typename T> void add(const T &t) { add_raw(&t, sizeof(t)); }

    // The firmware command opcode with args, as a PASSTHROUGH_FROM_USR transaction.
    void add_fw_command(uint32_t opcode, const void *args, uint32_t arg_len)
    {
        uint32_t body = 8 + arg_len;
        qaic_manage_trans_hdr h{QAIC_TRANS_PASSTHROUGH_FROM_USR, uint32_t(8 + ((body + 7) & ~7u))};
        uint8_t t[QAIC_MANAGE_MAX_MSG_LENGTH] = {};
        std::memcpy(t, &h, sizeof(h));
        std::memcpy(t + 8, &opcode, 4);
        std::memcpy(t + 12, &arg_len, 4);
        if (arg_len)
            std::memcpy(t + 16, args, arg_len);
        add_raw(t, h.len);
    }

    // Sends len/count as given (defaults: what was added); afterwards len()/count() are the
    // response's.
    int send(int fd) { return send(fd, len_, count_); }
    int send(int fd, uint32_t len, uint32_t count)
    {
        qaic_manage_msg m{};
        m.len = len;
        m.count = count;
        m.data = uintptr_t(buf_);
        int err = ioctl_err(fd, DRM_IOCTL_QAIC_MANAGE, &m);
        len_ = m.len;
        count_ = m.count;
        return err;
    }

    uint32_t len() const { return len_; }
    uint32_t count() const { return count_; }
    uint8_t *data() { return buf_; }
    template <typename T> T at(size_t offset) const
    {
        T t;
        std::memcpy(&t, buf_ + offset, sizeof(t));
        return t;
    }

private:
    alignas(8) uint8_t buf_[QAIC_MANAGE_MAX_MSG_LENGTH];
    uint32_t len_ = 0;
    uint32_t count_ = 0;
};

inline qaic_manage_trans_activate_to_dev activate_trans(uint32_t queue_size)
{
    qaic_manage_trans_activate_to_dev a{};
    a.hdr = {QAIC_TRANS_ACTIVATE_FROM_USR, sizeof(a)};
    a.queue_size = queue_size;
    return a;
}

inline qaic_manage_trans_deactivate deactivate_trans(uint32_t dbc_id)
{
    qaic_manage_trans_deactivate d{};
    d.hdr = {QAIC_TRANS_DEACTIVATE_FROM_USR, sizeof(d)};
    d.dbc_id = dbc_id;
    return d;
}

inline qaic_manage_trans_dma_xfer dma_xfer_trans(uint32_t tag, const void *addr, uint64_t size)
{
    qaic_manage_trans_dma_xfer x{};
    x.hdr = {QAIC_TRANS_DMA_XFER_FROM_USR, sizeof(x)};
    x.tag = tag;
    x.addr = uintptr_t(addr);
    x.size = size;
    return x;
}

// ACTIVATE: the new DBC's id, and the device's status when it refused (ECANCELED).
inline int activate(int fd, uint32_t queue_size, uint32_t *dbc_id, uint32_t *status = nullptr)
{
    Manage m;
    m.add(activate_trans(queue_size));
    int err = m.send(fd);
    bool answered = (err == 0 || err == -ECANCELED) && m.count() == 1;
    auto a = m.at<qaic_manage_trans_activate_from_dev>(0);
    if (dbc_id)
        *dbc_id = answered ? a.dbc_id : UINT32_MAX;
    if (status)
        *status = answered ? a.status : 0;
    return err;
}

inline int deactivate(int fd, uint32_t dbc_id)
{
    Manage m;
    m.add(deactivate_trans(dbc_id));
    return m.send(fd);
}

inline int status(int fd, qaic_manage_trans_status_from_dev *out = nullptr)
{
    Manage m;
    qaic_manage_trans_status_to_dev s{{QAIC_TRANS_STATUS_FROM_USR, sizeof(s)}};
    m.add(s);
    int err = m.send(fd);
    if (err == 0 && out)
        *out = m.at<qaic_manage_trans_status_from_dev>(0);
    return err;
}

// DMA_XFER of size bytes at p into the firmware image tag.
inline int dma_xfer(int fd, uint32_t tag, const void *p, uint64_t size)
{
    Manage m;
    m.add(dma_xfer_trans(tag, p, size));
    return m.send(fd);
}

// One firmware command through PASSTHROUGH; its answer's status and data.
inline int fw_command(int fd, uint32_t opcode, const void *args, uint32_t arg_len,
                      uint32_t *fw_status, std::vector<uint8_t> *data = nullptr)
{
    Manage m;
    m.add_fw_command(opcode, args, arg_len);
    int err = m.send(fd);
    if (err)
        return err;
    auto h = m.at<qaic_manage_trans_hdr>(0);
    if (m.count() != 1 || h.type != QAIC_TRANS_PASSTHROUGH_FROM_DEV || h.len < 16)
        return -EPROTO; // not what the spec promises: the caller's EXPECT fails
    *fw_status = m.at<uint32_t>(8);
    uint32_t data_len = m.at<uint32_t>(12);
    if (16 + data_len > h.len)
        return -EPROTO;
    if (data)
        data->assign(m.data() + 16, m.data() + 16 + data_len);
    return 0;
}

struct ImageInfo {
    uint64_t size;
    uint32_t crc;
};

// IMAGE_INFO of image tag: -ENOENT when the firmware answers BAD_COMMAND (no such image).
inline int image_info(int fd, uint32_t tag, ImageInfo *info)
{
    uint32_t args[2] = {tag, 0};
    uint32_t st = 0;
    std::vector<uint8_t> d;
    if (int err = fw_command(fd, kFwImageInfo, args, sizeof(args), &st, &d); err)
        return err;
    if (st == kFwBadCommand)
        return -ENOENT;
    if (st != kFwOk || d.size() != 16)
        return -EPROTO;
    std::memcpy(&info->size, d.data(), 8);
    std::memcpy(&info->crc, d.data() + 8, 4);
    return 0;
}

// A DBC of the device other than dbc: the next one, wrapping at the device's count (as the
// sim reports it; 16, every known card's, on a backend that cannot tell).
inline uint32_t other_dbc(int fd, uint32_t dbc)
{
    int n = qaic_sim_num_dbc(fd);
    uint32_t count = n > 1 ? uint32_t(n) : 16;
    return (dbc + 1) % count;
}

// Activates DBCs until the device has none left; returns their ids.
inline std::vector<uint32_t> activate_all(int fd, uint32_t queue_size = 16)
{
    std::vector<uint32_t> ids;
    uint32_t id;
    // Bounded: a device has at most 16 DBCs (hardware limit); more means something is wrong.
    while (ids.size() < 64 && activate(fd, queue_size, &id) == 0)
        ids.push_back(id);
    return ids;
}

// ---------------------------------------------------------------------------- slicing

inline qaic_attach_slice_entry slice(uint64_t offset, uint64_t size, uint64_t dev_addr = 0)
{
    qaic_attach_slice_entry e{};
    e.offset = offset;
    e.size = size;
    e.dev_addr = dev_addr;
    return e;
}

inline int attach(int fd, uint32_t handle, uint32_t dbc_id, uint32_t dir,
                  const std::vector<qaic_attach_slice_entry> &entries)
{
    qaic_attach_slice a{};
    a.hdr.count = uint32_t(entries.size());
    a.hdr.dbc_id = dbc_id;
    a.hdr.handle = handle;
    a.hdr.dir = dir;
    a.data = uintptr_t(entries.data());
    return ioctl_err(fd, DRM_IOCTL_QAIC_ATTACH_SLICE_BO, &a);
}

inline int detach(int fd, uint32_t handle)
{
    qaic_detach_slice d{};
    d.handle = handle;
    return ioctl_err(fd, DRM_IOCTL_QAIC_DETACH_SLICE_BO, &d);
}

// ---------------------------------------------------------------------------- sim control

// Removes the embedded card (bringing one up first if none is) and plugs in a new one, so the
// next qaic_open("sim") probes it: 0, -EOPNOTSUPP when removal is compiled out, or -errno.
inline int replug_sim_card()
{
    int fd = qaic_open("sim");
    if (fd < 0)
        return -errno;
    int err = qaic_sim_inject(fd, QAIC_SIM_REMOVE, 0, 0) == 0 ? 0 : -errno;
    qaic_close(fd);
    if (err)
        return err;
    return qaic_sim_replug() == 0 ? 0 : -errno;
}

// The sim-only control calls fail with ENODEV on a real node and EOPNOTSUPP when compiled
// out: those cases skip, any other failure fails.
#define SIM_OR_SKIP(call)                                                                        \
    do {                                                                                         \
        if ((call) != 0) {                                                                       \
            int sim_err_ = errno;                                                                \
            if (sim_err_ == ENODEV || sim_err_ == EOPNOTSUPP)                                    \
                GTEST_SKIP() << #call << ": " << std::strerror(sim_err_);                        \
            FAIL() << #call << ": " << std::strerror(sim_err_);                                  \
        }                                                                                        \
    } while (0)

// Restores a module parameter when it goes, however the test ends.
class ParamGuard {
public:
    ParamGuard(const char *name, unsigned restore) : name_(name), restore_(restore) {}
    ParamGuard(const ParamGuard &) = delete;
    ParamGuard &operator=(const ParamGuard &) = delete;
    ~ParamGuard() { qaic_sim_set_param(name_, restore_); }

private:
    const char *name_;
    unsigned restore_;
};

// Undoes the firmware faults and the timeout a test set, whatever way the test ends, so a
// failing test cannot leave the next ones (or its own fd's close) with a silent firmware.
struct FirmwareFaultGuard {
    int fd;
    ~FirmwareFaultGuard()
    {
        qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 0, 0);
        qaic_sim_inject(fd, QAIC_SIM_FW_NACK, 0, 0);
        qaic_sim_inject(fd, QAIC_SIM_FW_PAD, 0, 0);
        qaic_sim_inject(fd, QAIC_SIM_FW_MISNAME, 0, 0);
        qaic_sim_set_param("control_resp_timeout_ms", kDefaultRespTimeoutMs);
    }
};

// Whether thread tid of this process sleeps (state S or D in /proc): a thread that entered a
// blocking ioctl and sleeps in it is parked where the test wants it.
inline bool sleeping(pid_t tid)
{
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size())
        return false;
    char state = stat[paren + 2];
    return state == 'S' || state == 'D';
}

} // namespace selftest
