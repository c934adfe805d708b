// SPDX-License-Identifier: MIT
// libqaic's C++ layer: RAII wrappers over the device-file ABI (qaic.h) and the uAPI. Header
// only, so it adds no ABI: Device (an open file), Bo (a buffer object, mapped), Dbc (an
// activated DMA Bridge Channel), slice building, execute/wait, firmware messages, and
// ProgramBuilder for NSP programs (aic100_nsp.h). Failures throw qaic::Error naming the
// ioctl, the errno and what it means.
#pragma once

#include <qaic/aic100_nsp.h>
#include <qaic/qaic.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <drm.h>
#include <drm/qaic_accel.h>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <utility>
#include <vector>

namespace qaic {

// What an errno means for a given ioctl, in the words of docs/uapi.md.
inline const char *errno_meaning(const std::string &what, int err)
{
    bool manage = what.find("MANAGE") != std::string::npos;
    bool exec = what.find("EXECUTE") != std::string::npos;
    bool wait = what.find("WAIT") != std::string::npos;
    bool attach = what.find("ATTACH") != std::string::npos;
    switch (err) {
    case EINVAL: return "an argument breaks a validation rule (see docs/uapi.md)";
    case EFAULT: return "a user pointer in the arguments is not accessible";
    case ENOENT: return "no such file, or an unknown BO handle";
    case ENOMEM: return "the driver's memory limit or IOVA space is exhausted";
    case ENOSPC:
        return attach ? "the slices need more ring elements than the DBC's queue can hold"
                      : "the request does not fit (message size, slice count)";
    case EPERM: return "the DBC is not activated by this file, or it was released";
    case EPIPE:
        return manage ? "the device's response failed its CRC check"
                      : "the DBC is in a subsystem restart; activate again afterwards";
    case EAGAIN: return "the DBC's ring and software queue are full; wait for earlier BOs";
    case ETIMEDOUT:
        return wait ? "the BO did not complete in time (or hung and its DBC was reset)"
                    : "the device did not answer in time";
    case EIO:
        return exec || wait ? "the job failed on the device (DMA error, reset or hang)"
                            : "the device was reset, or answered with a malformed message";
    case ECANCELED: return "the device refused the request (NACK or non-zero status)";
    case ENODEV: return "the device is gone or not online";
    case EBUSY: return "the BO is queued for execution";
    case EOVERFLOW: return "count times entry size overflows";
    case EBADF: return "not a file descriptor opened by qaic_open()";
    case EACCES: return "this file holds no handle to the BO behind that offset";
    default: return "";
    }
}

class Error : public std::runtime_error {
public:
    Error(const std::string &what, int err)
        : std::runtime_error(what + ": " + (strerrorname_np(err) ? strerrorname_np(err) : "?") +
                             " (" + std::strerror(err) + ")" +
                             (*errno_meaning(what, err) ? std::string(": ") +
                                                              errno_meaning(what, err)
                                                        : std::string())),
          err_(err)
    {
    }
    int err() const { return err_; }

private:
    int err_;
};

struct Version {
    std::string name, desc, date;
    int major, minor, patchlevel;
};

struct FwStatus {
    uint16_t major, minor;
    uint32_t status;
    uint64_t flags;
};

// Firmware command opcodes and answer of PASSTHROUGH (docs/device-model.md).
// (From 0x10000 up: the first words below it are Qualcomm's NNC commands.)
enum FwOpcode : uint32_t {
    kFwImageInfo = 0x10001,
    kFwImageToDdr = 0x10002,
    kFwImageDrop = 0x10003,
    kFwLoadProgram = 0x10004,
};
struct FwAnswer {
    uint32_t status;
    std::vector<uint8_t> data;
};

#define QAIC_IOCTL(dev, req, arg) (dev).ioctl(req, arg, #req)

class Device {
public:
    // "sim", a node path, or nullptr for the default ($QAIC_DEVICE, a real node, sim).
    explicit Device(const char *path = nullptr) : fd_(qaic_open(path))
    {
        if (fd_ < 0)
            throw Error(std::string("open ") + (path ? path : "default device"), errno);
    }
    ~Device()
    {
        if (fd_ >= 0)
            qaic_close(fd_);
    }
    Device(const Device &) = delete;
    Device &operator=(const Device &) = delete;

    int fd() const { return fd_; }

    // 0 or the errno, for callers that handle failures themselves.
    int try_ioctl(unsigned long req, void *arg) { return qaic_ioctl(fd_, req, arg) ? errno : 0; }
    void ioctl(unsigned long req, void *arg, const char *name)
    {
        if (int err = try_ioctl(req, arg))
            throw Error(name, err);
    }

    Version version()
    {
        char name[64] = {}, date[64] = {}, desc[256] = {};
        drm_version v{};
        v.name = name;
        v.name_len = sizeof(name) - 1;
        v.date = date;
        v.date_len = sizeof(date) - 1;
        v.desc = desc;
        v.desc_len = sizeof(desc) - 1;
        QAIC_IOCTL(*this, DRM_IOCTL_VERSION, &v);
        return {name, desc, date, v.version_major, v.version_minor, v.version_patchlevel};
    }

    // One MANAGE call: trans holds `count` transactions; returns the response transactions.
    std::vector<uint8_t> manage(const std::vector<uint8_t> &trans, uint32_t count)
    {
        std::vector<uint8_t> buf(QAIC_MANAGE_MAX_MSG_LENGTH);
        std::memcpy(buf.data(), trans.data(), trans.size());
        qaic_manage_msg msg{uint32_t(trans.size()), count, uintptr_t(buf.data())};
        QAIC_IOCTL(*this, DRM_IOCTL_QAIC_MANAGE, &msg);
        buf.resize(msg.len);
        return buf;
    }

    FwStatus status()
    {
        qaic_manage_trans_status_to_dev t{{QAIC_TRANS_STATUS_FROM_USR, sizeof(t)}};
        auto rsp = manage(bytes_of(t), 1);
        qaic_manage_trans_status_from_dev s;
        if (rsp.size() < sizeof(s))
            throw Error("DRM_IOCTL_QAIC_MANAGE (STATUS)", EIO);
        std::memcpy(&s, rsp.data(), sizeof(s));
        return {s.major, s.minor, s.status, s.status_flags};
    }

    // Sends size bytes at data to the firmware as image `tag`.
    void dma_xfer(uint32_t tag, const void *data, uint64_t size)
    {
        qaic_manage_trans_dma_xfer t{{QAIC_TRANS_DMA_XFER_FROM_USR, sizeof(t)}, tag, 0,
                                     uintptr_t(data), size};
        manage(bytes_of(t), 1);
    }

    FwAnswer passthrough(uint32_t opcode, const std::vector<uint32_t> &args)
    {
        std::vector<uint8_t> t(8 + 8 + args.size() * 4);
        t.resize((t.size() + 7) & ~size_t(7), 0);
        qaic_manage_trans_hdr h{QAIC_TRANS_PASSTHROUGH_FROM_USR, uint32_t(t.size())};
        uint32_t cmd[2] = {opcode, uint32_t(args.size() * 4)};
        std::memcpy(t.data(), &h, 8);
        std::memcpy(t.data() + 8, cmd, 8);
        std::memcpy(t.data() + 16, args.data(), args.size() * 4);
        auto rsp = manage(t, 1);
        uint32_t ans[2];
        if (rsp.size() < 16)
            throw Error("DRM_IOCTL_QAIC_MANAGE (PASSTHROUGH)", EIO);
        std::memcpy(ans, rsp.data() + 8, 8);
        if (16 + uint64_t(ans[1]) > rsp.size())
            throw Error("DRM_IOCTL_QAIC_MANAGE (PASSTHROUGH)", EIO);
        return {ans[0], std::vector<uint8_t>(rsp.begin() + 16, rsp.begin() + 16 + ans[1])};
    }

    // Loads an image into device DDR at dev_addr through the firmware.
    void load_ddr(uint32_t tag, const void *data, uint64_t size, uint64_t dev_addr)
    {
        dma_xfer(tag, data, size);
        auto a = passthrough(kFwImageToDdr,
                             {tag, 0, uint32_t(dev_addr), uint32_t(dev_addr >> 32)});
        if (a.status)
            throw Error("DRM_IOCTL_QAIC_MANAGE (IMAGE_TO_DDR)", ECANCELED);
        passthrough(kFwImageDrop, {tag, 0});
    }

    template <typename T> static std::vector<uint8_t> bytes_of(const T &v)
    {
        auto *p = reinterpret_cast<const uint8_t *>(&v);
        return std::vector<uint8_t>(p, p + sizeof(T));
    }

private:
    int fd_;
};

// A slice of a BO, as qaic_attach_slice_entry with friendlier construction.
struct Slice {
    qaic_attach_slice_entry e{};
    Slice(uint64_t offset, uint64_t size, uint64_t dev_addr)
    {
        e.offset = offset;
        e.size = size;
        e.dev_addr = dev_addr;
    }
    Slice &doorbell(uint64_t addr, uint32_t data, uint32_t bits = 32)
    {
        e.db_addr = addr;
        e.db_data = data;
        e.db_len = bits;
        return *this;
    }
    // Semaphore slot i (0-3).
    Slice &sem(int i, uint8_t cmd, uint8_t index, uint16_t val, bool presync = false,
               uint8_t flags = 0)
    {
        qaic_sem s{val, index, uint8_t(presync), cmd, flags, 0};
        (i == 0 ? e.sem0 : i == 1 ? e.sem1 : i == 2 ? e.sem2 : e.sem3) = s;
        return *this;
    }
};

class Bo {
public:
    Bo(Device &dev, uint64_t size) : dev_(&dev), size_(size)
    {
        qaic_create_bo c{size, 0, 0};
        QAIC_IOCTL(dev, DRM_IOCTL_QAIC_CREATE_BO, &c);
        handle_ = c.handle;
    }
    ~Bo() { release(); }
    Bo(Bo &&o) noexcept
        : dev_(o.dev_), size_(o.size_), handle_(std::exchange(o.handle_, 0)),
          map_(std::exchange(o.map_, nullptr))
    {
    }
    Bo &operator=(Bo &&o) noexcept
    {
        release();
        dev_ = o.dev_;
        size_ = o.size_;
        handle_ = std::exchange(o.handle_, 0);
        map_ = std::exchange(o.map_, nullptr);
        return *this;
    }

    uint32_t handle() const { return handle_; }
    uint64_t size() const { return size_; }

    // The BO's memory, mapped on first use.
    uint8_t *data()
    {
        if (!map_) {
            qaic_mmap_bo m{handle_, 0, 0};
            QAIC_IOCTL(*dev_, DRM_IOCTL_QAIC_MMAP_BO, &m);
            void *p = qaic_mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, dev_->fd(),
                                off_t(m.offset));
            if (p == MAP_FAILED)
                throw Error("qaic_mmap", errno);
            map_ = static_cast<uint8_t *>(p);
        }
        return map_;
    }

    // dir: 1 to device, 2 from device.
    void attach(uint32_t dbc_id, uint32_t dir, const std::vector<Slice> &slices)
    {
        std::vector<qaic_attach_slice_entry> ents;
        for (const Slice &s : slices)
            ents.push_back(s.e);
        qaic_attach_slice a{};
        a.hdr = {uint32_t(ents.size()), dbc_id, handle_, dir, size_};
        a.data = uintptr_t(ents.data());
        QAIC_IOCTL(*dev_, DRM_IOCTL_QAIC_ATTACH_SLICE_BO, &a);
    }
    void detach()
    {
        qaic_detach_slice d{handle_, 0};
        QAIC_IOCTL(*dev_, DRM_IOCTL_QAIC_DETACH_SLICE_BO, &d);
    }

private:
    void release()
    {
        if (map_)
            qaic_munmap(map_, size_);
        if (handle_) {
            drm_gem_close c{handle_, 0};
            dev_->try_ioctl(DRM_IOCTL_GEM_CLOSE, &c);
        }
        map_ = nullptr;
        handle_ = 0;
    }

    Device *dev_;
    uint64_t size_;
    uint32_t handle_ = 0;
    uint8_t *map_ = nullptr;
};

// An activated DMA Bridge Channel; deactivated when destroyed.
class Dbc {
public:
    Dbc(Device &dev, uint32_t queue_size) : dev_(dev)
    {
        qaic_manage_trans_activate_to_dev t{{QAIC_TRANS_ACTIVATE_FROM_USR, sizeof(t)}, queue_size,
                                            0, 0, 0};
        auto rsp = dev.manage(Device::bytes_of(t), 1);
        qaic_manage_trans_activate_from_dev a;
        if (rsp.size() < sizeof(a))
            throw Error("DRM_IOCTL_QAIC_MANAGE (ACTIVATE)", EIO);
        std::memcpy(&a, rsp.data(), sizeof(a));
        id_ = a.dbc_id;
    }
    ~Dbc()
    {
        qaic_manage_trans_deactivate t{{QAIC_TRANS_DEACTIVATE_FROM_USR, sizeof(t)}, id_, 0};
        std::vector<uint8_t> buf(QAIC_MANAGE_MAX_MSG_LENGTH);
        std::memcpy(buf.data(), &t, sizeof(t));
        qaic_manage_msg msg{sizeof(t), 1, uintptr_t(buf.data())};
        dev_.try_ioctl(DRM_IOCTL_QAIC_MANAGE, &msg);
    }
    Dbc(const Dbc &) = delete;
    Dbc &operator=(const Dbc &) = delete;

    uint32_t id() const { return id_; }

    // Queues BOs in order, each with its attached direction.
    void execute(const std::vector<std::pair<Bo *, uint32_t>> &bos)
    {
        std::vector<qaic_execute_entry> ents;
        for (auto &[bo, dir] : bos)
            ents.push_back({bo->handle(), dir});
        qaic_execute e{{uint32_t(ents.size()), id_}, uintptr_t(ents.data())};
        QAIC_IOCTL(dev_, DRM_IOCTL_QAIC_EXECUTE_BO, &e);
    }
    // 0 when the BO's last execution succeeded, else the errno (ETIMEDOUT, EIO, ...).
    int wait(const Bo &bo, uint32_t timeout_ms = 0)
    {
        qaic_wait w{bo.handle(), timeout_ms, id_, 0};
        return dev_.try_ioctl(DRM_IOCTL_QAIC_WAIT_BO, &w);
    }
    qaic_perf_stats_entry perf_stats(const Bo &bo)
    {
        qaic_perf_stats_entry e{};
        e.handle = bo.handle();
        qaic_perf_stats p{{1, 0, id_}, uintptr_t(&e)};
        QAIC_IOCTL(dev_, DRM_IOCTL_QAIC_PERF_STATS_BO, &p);
        return e;
    }
    // Binds the NSP program `image` (sent as firmware image `tag`) to this DBC.
    void load_program(uint32_t tag, const std::vector<uint8_t> &image)
    {
        dev_.dma_xfer(tag, image.data(), image.size());
        auto a = dev_.passthrough(kFwLoadProgram, {tag, id_});
        if (a.status)
            throw Error("DRM_IOCTL_QAIC_MANAGE (LOAD_PROGRAM)", ECANCELED);
    }

private:
    Device &dev_;
    uint32_t id_ = 0;
};

// Builds an NSP program image (aic100_nsp.h). Addresses are device DDR addresses.
class ProgramBuilder {
public:
    explicit ProgramBuilder(uint64_t doorbell_addr) : doorbell_(doorbell_addr) {}

    ProgramBuilder &gemm(uint64_t a, uint64_t b, uint64_t c, uint64_t bias, uint32_t m,
                         uint32_t n, uint32_t k)
    {
        return add_instr(AIC100_NSP_GEMM, a, b, c, bias, m, n, k);
    }
    ProgramBuilder &add(uint64_t a, uint64_t b, uint64_t c, uint32_t n)
    {
        return add_instr(AIC100_NSP_ADD, a, b, c, 0, 0, n, 0);
    }
    ProgramBuilder &mul(uint64_t a, uint64_t b, uint64_t c, uint32_t n)
    {
        return add_instr(AIC100_NSP_MUL, a, b, c, 0, 0, n, 0);
    }
    ProgramBuilder &relu(uint64_t a, uint64_t c, uint32_t n)
    {
        return add_instr(AIC100_NSP_RELU, a, 0, c, 0, 0, n, 0);
    }
    ProgramBuilder &softmax(uint64_t a, uint64_t c, uint32_t rows, uint32_t cols)
    {
        return add_instr(AIC100_NSP_SOFTMAX, a, 0, c, 0, rows, cols, 0);
    }
    ProgramBuilder &copy(uint64_t src, uint64_t dst, uint32_t bytes)
    {
        return add_instr(AIC100_NSP_COPY, src, 0, dst, 0, 0, bytes, 0);
    }
    // cmd: QAIC_SEM_INIT, QAIC_SEM_INC or QAIC_SEM_DEC on the DBC's semaphore `index`.
    ProgramBuilder &sem(uint32_t index, uint32_t cmd, uint32_t val)
    {
        return add_instr(AIC100_NSP_SEM, 0, 0, 0, 0, index, cmd, val);
    }

    std::vector<uint8_t> build() const
    {
        aic100_nsp_header h{AIC100_NSP_MAGIC, AIC100_NSP_VERSION, uint32_t(instrs_.size()), 0,
                            doorbell_, 0};
        std::vector<uint8_t> out(sizeof(h) + instrs_.size() * sizeof(aic100_nsp_instr));
        std::memcpy(out.data(), &h, sizeof(h));
        std::memcpy(out.data() + sizeof(h), instrs_.data(),
                    instrs_.size() * sizeof(aic100_nsp_instr));
        return out;
    }

private:
    ProgramBuilder &add_instr(uint32_t op, uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                              uint32_t m, uint32_t n, uint32_t k)
    {
        aic100_nsp_instr in{};
        in.opcode = op;
        in.a = a;
        in.b = b;
        in.c = c;
        in.d = d;
        in.m = m;
        in.n = n;
        in.k = k;
        instrs_.push_back(in);
        return *this;
    }

    uint64_t doorbell_;
    std::vector<aic100_nsp_instr> instrs_;
};

} // namespace qaic
