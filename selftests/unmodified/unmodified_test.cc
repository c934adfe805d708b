// SPDX-License-Identifier: GPL-2.0-only
// An accel program as its authors write it for a real card, run under qaic-run: it knows
// nothing of libqaic or qaicd. It finds the card with libudev and libpci, opens
// /dev/accel/accelN with open(2), and drives it with ioctl(2) and mmap(2): Qualcomm's NNC
// protocol inside MANAGE (status, then load, activate, execute and deactivate of an ELF image
// that carries an NSP program), with dup, fork and exec of the fd, and the DBC's state in
// sysfs with its uevents.
#include <drm/qaic_accel.h>
#include <qaic/aic100_nsp.h>

#include <gtest/gtest.h>
#include <libudev.h>
extern "C" {
#include <pci/pci.h>
}

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr char kNode[] = "/dev/accel/accel0";
constexpr unsigned kAccelMajor = 261;
constexpr size_t kPage = 4096;

// Where the program works in device DDR.
constexpr uint64_t kDoorbell = 0x10000;
constexpr uint64_t kInput = 0x100000;
constexpr uint64_t kOutput = 0x200000;
constexpr uint32_t kFloats = 1024;
constexpr uint8_t kDoneSem = 0;

int err_of(int ret)
{
    return ret < 0 ? -errno : ret;
}

int xioctl(int fd, unsigned long req, void *arg)
{
    return err_of(ioctl(fd, req, arg));
}

uint32_t u32_at(const uint8_t *p)
{
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// ---------------------------------------------------------------------------- sysfs, udev

std::string read_text(const std::string &path)
{
    std::string s;
    if (FILE *f = std::fopen(path.c_str(), "r")) {
        char buf[256];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
            s.append(buf, n);
        std::fclose(f);
    }
    return s;
}

// The accel device's directory, as upstream's ABI names it.
std::string accel_dir()
{
    return "/sys/bus/pci/drivers/qaic/0000:01:00.0/accel/accel0";
}

std::string dbc_state(uint32_t dbc)
{
    return read_text(accel_dir() + "/dbc" + std::to_string(dbc) + "_state");
}

// A kernel uevent monitor for one subsystem.
class Monitor {
public:
    explicit Monitor(const char *subsystem)
    {
        udev_ = udev_new();
        mon_ = udev_monitor_new_from_netlink(udev_, "kernel");
        udev_monitor_filter_add_match_subsystem_devtype(mon_, subsystem, nullptr);
        udev_monitor_enable_receiving(mon_);
    }
    ~Monitor()
    {
        udev_monitor_unref(mon_);
        udev_unref(udev_);
    }
    Monitor(const Monitor &) = delete;
    Monitor &operator=(const Monitor &) = delete;

    // Reads what earlier tests left, until nothing has come for 300 ms.
    void drain()
    {
        pollfd p{udev_monitor_get_fd(mon_), POLLIN, 0};
        while (poll(&p, 1, 300) == 1)
            if (udev_device *d = udev_monitor_receive_device(mon_))
                udev_device_unref(d);
    }

    struct Event {
        std::string action; // "" when none came within 5 s
        int dbc = -1, state = -1;
    };
    Event next()
    {
        Event ev;
        pollfd p{udev_monitor_get_fd(mon_), POLLIN, 0};
        while (poll(&p, 1, 5000) == 1) {
            udev_device *d = udev_monitor_receive_device(mon_);
            if (!d)
                continue;
            const char *action = udev_device_get_action(d);
            const char *id = udev_device_get_property_value(d, "DBC_ID");
            const char *state = udev_device_get_property_value(d, "DBC_STATE");
            ev.action = action ? action : "?";
            ev.dbc = id ? std::atoi(id) : -1;
            ev.state = state ? std::atoi(state) : -1;
            udev_device_unref(d);
            break;
        }
        return ev;
    }

    // The next event, a "change" of DBC dbc: its DBC_STATE, or -1.
    int next_dbc_state(uint32_t dbc)
    {
        Event ev = next();
        EXPECT_EQ(ev.action, "change");
        EXPECT_EQ(ev.dbc, int(dbc));
        return ev.action == "change" && ev.dbc == int(dbc) ? ev.state : -1;
    }

private:
    udev *udev_;
    udev_monitor *mon_;
};

// The accel devices' monitor, one for the whole program, drained for each test: umockdev names
// each fake uevent socket by its fd number, and a monitor opened on the number of one closed
// just before lost its events (seen once in CI under TSan). A monitor must also be read: one
// whose queue fills up makes umockdev's sender fail the others too.
Monitor &accel_monitor()
{
    static auto *accel = new Monitor("accel");
    accel->drain();
    return *accel;
}

// ---------------------------------------------------------------------------- NNC

// A MANAGE as Qualcomm's runtime builds it: a zeroed 4096-byte buffer with a passthrough
// carrying the NNC request (its len 16 + the request), then `then` if then_len. The response
// is at buf + 8.
int nnc(int fd, uint8_t (&buf)[4096], const void *req, uint32_t req_len, const void *then = nullptr,
        uint32_t then_len = 0, uint32_t *count = nullptr)
{
    std::memset(buf, 0, sizeof(buf));
    qaic_manage_trans_hdr h{QAIC_TRANS_PASSTHROUGH_FROM_USR, 16 + req_len};
    std::memcpy(buf, &h, sizeof(h));
    std::memcpy(buf + 8, req, req_len);
    if (then_len)
        std::memcpy(buf + h.len, then, then_len);
    qaic_manage_msg msg{h.len + then_len, then_len ? 2u : 1u, uintptr_t(buf)};
    int err = xioctl(fd, DRM_IOCTL_QAIC_MANAGE, &msg);
    if (count)
        *count = msg.count;
    return err;
}

template <typename T> void append(std::vector<uint8_t> &out, const T &v)
{
    const auto *p = reinterpret_cast<const uint8_t *>(&v);
    out.insert(out.end(), p, p + sizeof(v));
}

// The NSP program: out[i] = in[i] * in[i], then the done semaphore raised.
std::vector<uint8_t> square_program()
{
    std::vector<uint8_t> b;
    append(b, aic100_nsp_header{AIC100_NSP_MAGIC, AIC100_NSP_VERSION, 2, 0, kDoorbell, 0});
    aic100_nsp_instr mul{};
    mul.opcode = AIC100_NSP_MUL;
    mul.a = mul.b = kInput;
    mul.c = kOutput;
    mul.n = kFloats;
    append(b, mul);
    aic100_nsp_instr sem{};
    sem.opcode = AIC100_NSP_SEM;
    sem.m = kDoneSem;
    sem.n = 2; // INC
    sem.k = 1;
    append(b, sem);
    return b;
}

// An ELF64 image whose section .qaic.nsp carries the program (docs/device-model.md).
std::vector<uint8_t> image_with(const std::vector<uint8_t> &program)
{
    static const char strtab[] = "\0.shstrtab\0.qaic.nsp";
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof(eh);
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 3;
    eh.e_shstrndx = 1;
    uint64_t strtab_at = sizeof(eh), program_at = strtab_at + sizeof(strtab);
    eh.e_shoff = program_at + program.size();
    Elf64_Shdr sh[3]{};
    sh[1] = {1, SHT_STRTAB, 0, 0, strtab_at, sizeof(strtab), 0, 0, 1, 0};
    sh[2] = {11, SHT_PROGBITS, 0, 0, program_at, program.size(), 0, 0, 8, 0};
    std::vector<uint8_t> out;
    append(out, eh);
    out.insert(out.end(), strtab, strtab + sizeof(strtab));
    out.insert(out.end(), program.begin(), program.end());
    for (const Elf64_Shdr &h : sh)
        append(out, h);
    return out;
}

// A network loaded and activated as the runtime does it (LOAD_ELF with its DMA_XFER, then
// ACTIVATE with the DBC's ring); torn down the same way.
struct Network {
    int fd = -1;
    uint32_t elf = 0, acid = 0, vcid = ~0u;

    // 0, or what failed.
    std::string load_and_activate(int dev)
    {
        fd = dev;
        uint8_t buf[4096];
        std::vector<uint8_t> image = image_with(square_program());
        uint32_t req[24] = {3, 100, uint32_t(getpid()), 0};
        std::memcpy(&req[4], "NetworkImage", 13);
        uint64_t len = image.size();
        std::memcpy(&req[20], &len, 8);
        // The second u32 is the runtime's `count` (upstream's unchecked pad): 1.
        qaic_manage_trans_dma_xfer x{{QAIC_TRANS_DMA_XFER_FROM_USR, sizeof(x)}, 100, 1,
                                     uintptr_t(image.data()), image.size()};
        if (int err = nnc(fd, buf, req, sizeof(req), &x, sizeof(x)))
            return "LOAD_ELF: " + std::string(std::strerror(-err));
        if (u32_at(buf + 8) != 4 || int32_t(u32_at(buf + 16)) != 0)
            return "LOAD_ELF answered type " + std::to_string(u32_at(buf + 8)) + " status " +
                   std::to_string(int32_t(u32_at(buf + 16)));
        elf = u32_at(buf + 12);
        int32_t act[12] = {9, getpid(), 0, int32_t(elf), 0, -1, 1, -1, 1, 0, 0, 0};
        qaic_manage_trans_activate_to_dev at{{QAIC_TRANS_ACTIVATE_FROM_USR, sizeof(at)}, 512, 0, 0, 0};
        uint32_t count = 0;
        if (int err = nnc(fd, buf, act, sizeof(act), &at, sizeof(at), &count))
            return "ACTIVATE: " + std::string(std::strerror(-err));
        if (u32_at(buf + 8) != 10 || int32_t(u32_at(buf + 12)) != 0 || count != 2)
            return "ACTIVATE answered type " + std::to_string(u32_at(buf + 8));
        acid = u32_at(buf + 16);
        vcid = u32_at(buf + 20);
        return vcid <= 15 ? "" : "virtual channel " + std::to_string(vcid);
    }

    std::string deactivate_and_unload()
    {
        uint8_t buf[4096];
        uint32_t deact[4] = {11, acid, 1, 0};
        qaic_manage_trans_deactivate dt{{QAIC_TRANS_DEACTIVATE_FROM_USR, sizeof(dt)}, vcid, 0};
        if (int err = nnc(fd, buf, deact, sizeof(deact), &dt, sizeof(dt)))
            return "DEACTIVATE: " + std::string(std::strerror(-err));
        if (u32_at(buf + 8) != 12 || int32_t(u32_at(buf + 12)) != 0)
            return "DEACTIVATE answered type " + std::to_string(u32_at(buf + 8));
        vcid = ~0u;
        uint32_t unload[2] = {7, elf};
        if (int err = nnc(fd, buf, unload, sizeof(unload)))
            return "UNLOAD_ELF: " + std::string(std::strerror(-err));
        return int32_t(u32_at(buf + 12)) == 0 ? "" : "UNLOAD_ELF status";
    }
};

// ---------------------------------------------------------------------------- BOs

struct Bo {
    int fd = -1;
    uint32_t handle = 0;
    void *map = MAP_FAILED;
    size_t size = 0;

    int create(int dev, size_t bytes)
    {
        fd = dev;
        size = bytes;
        qaic_create_bo c{bytes, 0, 0};
        if (int err = xioctl(fd, DRM_IOCTL_QAIC_CREATE_BO, &c))
            return err;
        handle = c.handle;
        return map_on(fd);
    }
    // Maps the BO through fd (any fd of the same open file).
    int map_on(int through)
    {
        qaic_mmap_bo m{handle, 0, 0};
        if (int err = xioctl(through, DRM_IOCTL_QAIC_MMAP_BO, &m))
            return err;
        map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, through, off_t(m.offset));
        return map == MAP_FAILED ? -errno : 0;
    }
    float *floats() { return static_cast<float *>(map); }
    ~Bo()
    {
        if (map != MAP_FAILED)
            munmap(map, size);
    }
};

int attach(int fd, uint32_t handle, uint32_t dbc, uint32_t dir, qaic_attach_slice_entry e)
{
    qaic_attach_slice a{};
    a.hdr.count = 1;
    a.hdr.dbc_id = dbc;
    a.hdr.handle = handle;
    a.hdr.dir = dir;
    a.data = uintptr_t(&e);
    return xioctl(fd, DRM_IOCTL_QAIC_ATTACH_SLICE_BO, &a);
}

// Input and output BOs on the network's DBC, run once: the squares of in come back.
void run_squares(int fd, uint32_t dbc)
{
    const size_t bytes = kFloats * sizeof(float);
    Bo in, out;
    ASSERT_EQ(in.create(fd, bytes), 0);
    ASSERT_EQ(out.create(fd, bytes), 0);
    for (uint32_t i = 0; i < kFloats; ++i)
        in.floats()[i] = float(i) * 0.5f - 100.0f;
    qaic_attach_slice_entry ie{};
    ie.size = bytes;
    ie.dev_addr = kInput;
    ie.db_addr = kDoorbell;
    ie.db_data = 1;
    ie.db_len = 32;
    ASSERT_EQ(attach(fd, in.handle, dbc, 1 /* to device */, ie), 0);
    qaic_attach_slice_entry oe{};
    oe.size = bytes;
    oe.dev_addr = kOutput;
    oe.sem0 = {0, kDoneSem, 1, QAIC_SEM_WAIT_GT_0, 0, 0}; // val, index, presync, cmd, flags, pad
    oe.sem1 = {1, kDoneSem, 0, QAIC_SEM_DEC, 0, 0};
    ASSERT_EQ(attach(fd, out.handle, dbc, 2 /* from device */, oe), 0);
    qaic_execute_entry ents[2] = {{in.handle, 1}, {out.handle, 2}};
    qaic_execute ex{};
    ex.hdr.count = 2;
    ex.hdr.dbc_id = dbc;
    ex.data = uintptr_t(ents);
    ASSERT_EQ(xioctl(fd, DRM_IOCTL_QAIC_EXECUTE_BO, &ex), 0);
    qaic_wait w{out.handle, 5000, dbc, 0};
    ASSERT_EQ(xioctl(fd, DRM_IOCTL_QAIC_WAIT_BO, &w), 0);
    for (uint32_t i = 0; i < kFloats; ++i) {
        float x = float(i) * 0.5f - 100.0f;
        ASSERT_EQ(out.floats()[i], x * x) << "element " << i;
    }
}

int open_node(int flags = O_RDWR | O_CLOEXEC)
{
    return open(kNode, flags);
}

// The node opened and a network activated on it, its DBC's change to 1 seen by accel.
void open_and_activate(Monitor &accel, int *fd, Network *net)
{
    *fd = open_node();
    ASSERT_GE(*fd, 0);
    ASSERT_EQ(net->load_and_activate(*fd), "");
    ASSERT_EQ(accel.next_dbc_state(net->vcid), 1);
}

// ---------------------------------------------------------------------------- tests

// libudev finds the card as a host's tools do: an accel device whose parent is a PCI device
// 17cb:a100 of class 12 bound to qaic, with the node and its numbers.
TEST(Discovery, LibudevFindsTheAccelDeviceOnItsPciParent)
{
    udev *u = udev_new();
    ASSERT_NE(u, nullptr);
    udev_enumerate *e = udev_enumerate_new(u);
    udev_enumerate_add_match_subsystem(e, "accel");
    ASSERT_EQ(udev_enumerate_scan_devices(e), 0);
    int found = 0;
    for (udev_list_entry *l = udev_enumerate_get_list_entry(e); l; l = udev_list_entry_get_next(l)) {
        udev_device *d = udev_device_new_from_syspath(u, udev_list_entry_get_name(l));
        ASSERT_NE(d, nullptr);
        if (std::strcmp(udev_device_get_sysname(d), "accel0") == 0) {
            ++found;
            EXPECT_STREQ(udev_device_get_devnode(d), kNode);
            EXPECT_EQ(udev_device_get_devnum(d), makedev(kAccelMajor, 0));
            udev_device *pci = udev_device_get_parent_with_subsystem_devtype(d, "pci", nullptr);
            ASSERT_NE(pci, nullptr);
            EXPECT_STREQ(udev_device_get_sysname(pci), "0000:01:00.0");
            EXPECT_STREQ(udev_device_get_sysattr_value(pci, "vendor"), "0x17cb");
            EXPECT_STREQ(udev_device_get_sysattr_value(pci, "device"), "0xa100");
            EXPECT_STREQ(udev_device_get_sysattr_value(pci, "class"), "0x120000");
            EXPECT_STREQ(udev_device_get_driver(pci), "qaic");
            EXPECT_STREQ(udev_device_get_property_value(pci, "PCI_ID"), "17CB:A100");
        }
        udev_device_unref(d);
    }
    EXPECT_EQ(found, 1);
    udev_enumerate_unref(e);
    udev_unref(u);
}

// libpci scans the bus and reads the configuration space: ids, class, and the PCI Express
// link the runtime reports (Gen4, x8).
TEST(Discovery, LibpciReadsIdsClassAndTheLink)
{
    pci_access *pa = pci_alloc();
    pci_init(pa);
    pci_scan_bus(pa);
    int found = 0;
    for (pci_dev *d = pa->devices; d; d = d->next) {
        pci_fill_info(d, PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_CAPS);
        if (d->vendor_id != 0x17cb || d->device_id != 0xa100)
            continue;
        ++found;
        EXPECT_EQ(d->bus, 1);
        EXPECT_EQ(d->device_class, 0x1200);
        pci_cap *cap = pci_find_cap(d, PCI_CAP_ID_EXP, PCI_CAP_NORMAL);
        ASSERT_NE(cap, nullptr);
        uint16_t link = pci_read_word(d, cap->addr + PCI_EXP_LNKSTA);
        EXPECT_EQ(link & PCI_EXP_LNKSTA_SPEED, 4) << "16 GT/s";
        EXPECT_EQ((link & PCI_EXP_LNKSTA_WIDTH) >> 4, 8) << "x8";
    }
    EXPECT_EQ(found, 1);
    pci_cleanup(pa);
}

// The node opens, stats as char device 261:0, and is the qaic driver's.
TEST(Node, OpensAsTheQaicAccelDevice)
{
    struct stat st;
    ASSERT_EQ(stat(kNode, &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    int fd = open_node();
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(major(st.st_rdev), kAccelMajor);
    EXPECT_EQ(minor(st.st_rdev), 0u);
    char name[32] = {};
    drm_version v{};
    v.name = name;
    v.name_len = sizeof(name) - 1;
    ASSERT_EQ(xioctl(fd, DRM_IOCTL_VERSION, &v), 0);
    EXPECT_STREQ(name, "qaic");
    EXPECT_EQ(xioctl(fd, DRM_IOCTL_QAIC_CREATE_BO, nullptr), -EFAULT);
    EXPECT_EQ(close(fd), 0);
    EXPECT_EQ(xioctl(fd, DRM_IOCTL_VERSION, &v), -EBADF);
}

// _FORTIFY_SOURCE's open forms, as a program built with it calls them.
extern "C" int __open_2(const char *path, int flags);
extern "C" int __openat_2(int dirfd, const char *path, int flags);

// Every way libc opens a path by name reaches the node, and the fortified openat still reaches
// the testbed's sysfs (umockdev itself has no __openat_2).
TEST(Node, EveryOpenFormReachesTheNode)
{
    int fds[] = {open(kNode, O_RDWR), open64(kNode, O_RDWR), openat(AT_FDCWD, kNode, O_RDWR),
                 openat64(AT_FDCWD, kNode, O_RDWR), __open_2(kNode, O_RDWR),
                 __openat_2(AT_FDCWD, kNode, O_RDWR)};
    for (int fd : fds) {
        ASSERT_GE(fd, 0);
        struct stat st;
        ASSERT_EQ(fstat(fd, &st), 0);
        EXPECT_TRUE(S_ISCHR(st.st_mode) && major(st.st_rdev) == kAccelMajor) << "fd " << fd;
        EXPECT_EQ(close(fd), 0);
    }
    int vendor = __openat_2(AT_FDCWD, "/sys/bus/pci/devices/0000:01:00.0/vendor", O_RDONLY);
    ASSERT_GE(vendor, 0);
    char buf[16] = {};
    EXPECT_EQ(read(vendor, buf, sizeof(buf) - 1), 7);
    EXPECT_STREQ(buf, "0x17cb\n");
    close(vendor);
    EXPECT_EQ(open("/dev/accel/accel9", O_RDWR), -1) << "no such card";
}

// The runtime's first step: NNC STATUS, the host API info with the versions it requires.
TEST(Nnc, StatusQueryAnswersWhatTheRuntimeRequires)
{
    int fd = open_node();
    ASSERT_GE(fd, 0);
    uint8_t buf[4096];
    uint32_t req[2] = {13, 0};
    ASSERT_EQ(nnc(fd, buf, req, sizeof(req)), 0);
    const uint8_t *rsp = buf + 8, *dev = rsp + 16;
    EXPECT_EQ(u32_at(rsp), 14u);
    EXPECT_EQ(int32_t(u32_at(rsp + 4)), 0);
    uint16_t meta_major, meta_minor, proto_major;
    std::memcpy(&meta_major, dev + 258, 2);
    std::memcpy(&meta_minor, dev + 260, 2);
    std::memcpy(&proto_major, dev + 262, 2);
    EXPECT_EQ(meta_major, 1);
    EXPECT_EQ(meta_minor, 0);
    EXPECT_EQ(proto_major, 17);
    close(fd);
}

// A network's whole life: loaded, activated (dbc<N>_state 1 and its uevent, on the accel
// device and on the runtime's old class), run with verified output, deactivated (0 again).
TEST(Nnc, LoadActivateExecuteDeactivateAnNspProgram)
{
    Monitor &accel = accel_monitor();
    Monitor old_class("Qualcomm Cloud AI 100"); // the only one closed: no monitor comes after it
    int fd = open_node();
    ASSERT_GE(fd, 0);
    Network net;
    ASSERT_EQ(net.load_and_activate(fd), "");
    EXPECT_EQ(accel.next_dbc_state(net.vcid), 1);
    EXPECT_EQ(old_class.next_dbc_state(net.vcid), 1);
    EXPECT_EQ(dbc_state(net.vcid), "1\n");
    run_squares(fd, net.vcid);
    uint32_t dbc = net.vcid;
    ASSERT_EQ(net.deactivate_and_unload(), "");
    EXPECT_EQ(accel.next_dbc_state(dbc), 0);
    EXPECT_EQ(dbc_state(dbc), "0\n");
    close(fd);
}

// dup and F_DUPFD give more fds of one open file: its handles and DBCs are theirs too, and
// the file is released (its DBC given back, with the uevent) only by the last close.
// ---------------------------------------------------------------------------- driver files

constexpr char kDebugfs[] = "/sys/kernel/debug/accel/0000:01:00.0";
constexpr char kParams[] = "/sys/module/qaic/parameters";

// A file read with open and read (read_text reads with fopen).
std::string read_plain(const std::string &path)
{
    std::string s;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "open: " + std::string(std::strerror(errno));
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        s.append(buf, size_t(n));
    close(fd);
    return s;
}

std::string dbc_debugfs(uint32_t dbc, const char *leaf)
{
    char name[16];
    std::snprintf(name, sizeof(name), "/dbc%03u/", dbc);
    return kDebugfs + std::string(name) + leaf;
}

// debugfs's fifo_size and queued, as tools read them, say what the ring holds at the moment
// of each open: queued grows with every submission behind a job the card cannot finish.
TEST(DriverFiles, DebugfsQueuedFollowsTheRing)
{
    Monitor &accel = accel_monitor();
    int fd = -1;
    Network net;
    ASSERT_NO_FATAL_FAILURE(open_and_activate(accel, &fd, &net));
    std::string queued = dbc_debugfs(net.vcid, "queued");
    EXPECT_EQ(read_plain(dbc_debugfs(net.vcid, "fifo_size")), "512\n");
    EXPECT_EQ(read_text(queued), "0\n");
    struct stat st;
    ASSERT_EQ(stat(queued.c_str(), &st), 0) << std::strerror(errno);
    EXPECT_EQ(st.st_mode & 0777, 0400u);
    {
        // Waits on a semaphore nothing raises: what comes after it stays on the ring.
        Bo blocker, more[3];
        ASSERT_EQ(blocker.create(fd, kPage), 0);
        qaic_attach_slice_entry be{};
        be.size = kPage;
        be.dev_addr = kInput;
        be.sem0 = {1, 30, 1, QAIC_SEM_WAIT_GT_0, 0, 0}; // val, index, presync, cmd, flags, pad
        ASSERT_EQ(attach(fd, blocker.handle, net.vcid, 1, be), 0);
        qaic_execute_entry ent{blocker.handle, 1};
        qaic_execute ex{{1, net.vcid}, uintptr_t(&ent)};
        ASSERT_EQ(xioctl(fd, DRM_IOCTL_QAIC_EXECUTE_BO, &ex), 0);
        int base = std::atoi(read_plain(queued).c_str());
        EXPECT_LE(base, 1);
        for (int i = 0; i < 3; ++i) {
            ASSERT_EQ(more[i].create(fd, kPage), 0);
            qaic_attach_slice_entry e{};
            e.size = kPage;
            e.dev_addr = kOutput + uint64_t(i) * kPage;
            ASSERT_EQ(attach(fd, more[i].handle, net.vcid, 1, e), 0);
            ent = {more[i].handle, 1};
            ASSERT_EQ(xioctl(fd, DRM_IOCTL_QAIC_EXECUTE_BO, &ex), 0);
            std::string want = std::to_string(base + i + 1) + "\n";
            EXPECT_EQ(read_plain(queued), want) << "open/read after submission " << i;
            EXPECT_EQ(read_text(queued), want) << "fopen after submission " << i;
        }
        close(fd); // releases the DBC, its jobs with it
    }
    EXPECT_EQ(accel.next_dbc_state(net.vcid), 0);
    EXPECT_EQ(read_plain(queued), "0\n");
    EXPECT_EQ(read_text(dbc_debugfs(net.vcid, "fifo_size")), "0\n");
}

// The module's parameters under upstream's names, modes and formats (a load-time bool shows
// Y or N and refuses writes), the firmware's boot log, and the RAS counters.
TEST(DriverFiles, ParametersBootlogAndRasCounters)
{
    std::string polling = read_plain(kParams + std::string("/datapath_polling"));
    EXPECT_TRUE(polling == "Y\n" || polling == "N\n") << polling;
    struct stat st;
    ASSERT_EQ(stat((kParams + std::string("/datapath_polling")).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0400u);
    ASSERT_EQ(stat((kParams + std::string("/timesync_delay_ms")).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(open((kParams + std::string("/datapath_polling")).c_str(), O_WRONLY), -1);
    EXPECT_EQ(read_text(kParams + std::string("/wait_exec_default_timeout_ms")), "5000\n");
    // qaic-run --param NAME=VALUE, as run-tests.sh names it here: the value shows.
    if (const char *set = std::getenv("QAIC_UNMODIFIED_PARAM"); set && std::strchr(set, '=')) {
        std::string name(set, std::strchr(set, '='));
        EXPECT_EQ(read_plain(kParams + ("/" + name)),
                  std::string(std::strchr(set, '=') + 1) + "\n");
    }
    std::string log = read_plain(kDebugfs + std::string("/bootlog"));
    EXPECT_NE(log.find("QSM: boot "), std::string::npos) << log;
    EXPECT_NE(log.find("ONLINE\n"), std::string::npos) << log;
    EXPECT_EQ(read_text("/sys/class/accel/accel0/device/ce_count"), "0\n");
    EXPECT_EQ(read_plain("/sys/bus/pci/drivers/qaic/0000:01:00.0/ue_count"), "0\n");
    EXPECT_EQ(read_plain("/sys/bus/pci/drivers/qaic/0000:01:00.0/ue_nonfatal_count"), "0\n");
    EXPECT_EQ(read_plain(kDebugfs + std::string("/no_such_file")),
              "open: No such file or directory");
}

TEST(Fd, DupSharesTheOpenFileUntilTheLastClose)
{
    Monitor &accel = accel_monitor();
    int fd = -1;
    Network net;
    ASSERT_NO_FATAL_FAILURE(open_and_activate(accel, &fd, &net));
    ASSERT_EQ(dup2(fd, fd), fd) << "changes nothing";
    int copy = dup(fd);
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 100);
    ASSERT_GE(copy, 0);
    ASSERT_GE(high, 100);
    ASSERT_EQ(close(fd), 0);
    run_squares(copy, net.vcid);
    // dup2 over another fd of ours and over a pipe: both become this open file.
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    ASSERT_EQ(dup2(copy, pipefd[0]), pipefd[0]);
    close(pipefd[1]);
    ASSERT_EQ(close(copy), 0);
    run_squares(pipefd[0], net.vcid);
    ASSERT_EQ(close(pipefd[0]), 0);
    run_squares(high, net.vcid);
    EXPECT_EQ(dbc_state(net.vcid), "1\n");
    ASSERT_EQ(close(high), 0); // the last: released before close returns
    EXPECT_EQ(accel.next_dbc_state(net.vcid), 0);
    EXPECT_EQ(dbc_state(net.vcid), "0\n");
}

// close_range and closefrom close the node's fds too: the file goes with its last one.
TEST(Fd, CloseRangeAndClosefromReleaseTheFile)
{
    Monitor &accel = accel_monitor();
    for (bool from : {false, true}) {
        SCOPED_TRACE(from ? "closefrom" : "close_range");
        int fd = open_node();
        ASSERT_GE(fd, 0);
        int high = fcntl(fd, F_DUPFD_CLOEXEC, 300);
        ASSERT_GE(high, 300);
        ASSERT_EQ(close(fd), 0);
        Network net;
        ASSERT_EQ(net.load_and_activate(high), "");
        ASSERT_EQ(accel.next_dbc_state(net.vcid), 1);
        if (from)
            closefrom(300);
        else
            ASSERT_EQ(close_range(300, ~0u, 0), 0);
        EXPECT_EQ(fcntl(high, F_GETFD), -1);
        EXPECT_EQ(accel.next_dbc_state(net.vcid), 0);
    }
}

// A forked child shares the open file: it maps the parent's BO by its handle and writes it,
// runs the parent's network, and its close does not release the parent's file.
TEST(Fd, ForkedChildSharesTheOpenFile)
{
    int fd = open_node();
    ASSERT_GE(fd, 0);
    Network net;
    ASSERT_EQ(net.load_and_activate(fd), "");
    Bo bo;
    ASSERT_EQ(bo.create(fd, kPage), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        Bo child;
        child.handle = bo.handle;
        child.size = kPage;
        bool ok = child.map_on(fd) == 0;
        if (ok)
            std::memset(child.map, 0x5a, kPage);
        run_squares(fd, net.vcid);
        ok = ok && !testing::Test::HasFailure();
        close(fd);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(static_cast<uint8_t *>(bo.map)[kPage - 1], 0x5a) << "the child's writes";
    run_squares(fd, net.vcid);
    EXPECT_EQ(net.deactivate_and_unload(), "");
    close(fd);
}

// PRIME through ioctl(2): a BO exported as a dma-buf fd, which a forked child imports into its
// own open of the node and writes through its own mapping: the parent sees the writes in its
// mapping of the BO (the same pages). The exporter importing its own dma-buf gets its handle.
TEST(Prime, ForkedChildImportsTheParentsBo)
{
    int fd = open_node();
    ASSERT_GE(fd, 0);
    Bo bo;
    ASSERT_EQ(bo.create(fd, 2 * kPage), 0);
    drm_prime_handle p{};
    p.handle = bo.handle;
    p.flags = DRM_CLOEXEC | DRM_RDWR;
    ASSERT_EQ(xioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p), 0);
    int buf = p.fd;
    ASSERT_GE(buf, 0);
    EXPECT_EQ(fcntl(buf, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    drm_prime_handle self{};
    self.fd = buf;
    ASSERT_EQ(xioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &self), 0);
    EXPECT_EQ(self.handle, bo.handle);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int own = open_node();
        drm_prime_handle in{};
        in.fd = buf;
        Bo child;
        child.size = 2 * kPage;
        bool ok = own >= 0 && xioctl(own, DRM_IOCTL_PRIME_FD_TO_HANDLE, &in) == 0;
        child.handle = in.handle;
        ok = ok && child.map_on(own) == 0;
        if (ok)
            std::memset(child.map, 0x6b, 2 * kPage);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    auto *bytes = static_cast<uint8_t *>(bo.map);
    EXPECT_EQ(bytes[0], 0x6b) << "the child's writes";
    EXPECT_EQ(bytes[2 * kPage - 1], 0x6b) << "the child's writes";
    // Not a dma-buf: the node's own fd.
    drm_prime_handle bad{};
    bad.fd = fd;
    EXPECT_EQ(xioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &bad), -EINVAL);
    close(buf);
    close(fd);
}

// exec keeps an fd without close-on-exec, as the same open file (a handle made before works
// in the new program), and closes one with it. The new program is this one, running only
// Fd.ExecChild.
TEST(Fd, ExecKeepsTheFileAndHonoursCloseOnExec)
{
    int keep = open_node(O_RDWR);
    int gone = open_node(O_RDWR | O_CLOEXEC);
    ASSERT_GE(keep, 0);
    ASSERT_GE(gone, 0);
    qaic_create_bo c{kPage, 0, 0};
    ASSERT_EQ(xioctl(keep, DRM_IOCTL_QAIC_CREATE_BO, &c), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::string env = std::to_string(keep) + "," + std::to_string(gone) + "," + std::to_string(c.handle);
        setenv("QAIC_UNMODIFIED_EXEC", env.c_str(), 1);
        dup2(2, 1); // its report is not this one's
        execl("/proc/self/exe", "qaic_unmodified", "--gtest_filter=Fd.ExecChild", nullptr);
        _exit(127);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the exec'd program's checks";
    close(keep);
    close(gone);
}

TEST(Fd, ExecChild)
{
    const char *env = std::getenv("QAIC_UNMODIFIED_EXEC");
    if (!env)
        GTEST_SKIP() << "run by Fd.ExecKeepsTheFileAndHonoursCloseOnExec";
    int keep = -1, gone = -1;
    unsigned handle = 0;
    ASSERT_EQ(std::sscanf(env, "%d,%d,%u", &keep, &gone, &handle), 3);
    EXPECT_EQ(fcntl(gone, F_GETFD), -1) << "close-on-exec";
    struct stat st;
    ASSERT_EQ(fstat(keep, &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    qaic_mmap_bo m{handle, 0, 0};
    EXPECT_EQ(xioctl(keep, DRM_IOCTL_QAIC_MMAP_BO, &m), 0) << "a handle of the file from before exec";
    void *p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, keep, off_t(m.offset));
    ASSERT_NE(p, MAP_FAILED);
    EXPECT_EQ(static_cast<uint8_t *>(p)[0], 0);
    EXPECT_EQ(munmap(p, kPage), 0);
}

} // namespace

namespace {

// Caused from outside, as an administrator would: $QAIC_UNMODIFIED_INJECT is a command that
// takes "ssr N" or "reset" (make check: qaic-client -d SOCKET inject, on a qaicd started with
// --test-control).
std::string inject_command()
{
    const char *cmd = std::getenv("QAIC_UNMODIFIED_INJECT");
    return cmd ? cmd : "";
}

// A subsystem restart of the network's DBC: each step is a change (2, 3, 4, 5), then the DBC
// is idle (0) and the file's work on it fails.
TEST(Uevents, SubsystemRestartStepsThenIdle)
{
    if (inject_command().empty())
        GTEST_SKIP() << "no $QAIC_UNMODIFIED_INJECT (a card with test control)";
    Monitor &accel = accel_monitor();
    int fd = -1;
    Network net;
    ASSERT_NO_FATAL_FAILURE(open_and_activate(accel, &fd, &net));
    ASSERT_EQ(std::system((inject_command() + " ssr " + std::to_string(net.vcid)).c_str()), 0);
    for (int state : {2, 3, 4, 5, 0})
        EXPECT_EQ(accel.next_dbc_state(net.vcid), state);
    EXPECT_EQ(dbc_state(net.vcid), "0\n");
    close(fd);
}

// A reset: offline, the DBC released (0), online; then the card works again.
TEST(Uevents, ResetIsOfflineThenOnline)
{
    if (inject_command().empty())
        GTEST_SKIP() << "no $QAIC_UNMODIFIED_INJECT (a card with test control)";
    Monitor &accel = accel_monitor();
    int fd = -1;
    Network net;
    ASSERT_NO_FATAL_FAILURE(open_and_activate(accel, &fd, &net));
    ASSERT_EQ(std::system((inject_command() + " reset").c_str()), 0);
    EXPECT_EQ(accel.next().action, "offline");
    EXPECT_EQ(accel.next_dbc_state(net.vcid), 0);
    EXPECT_EQ(accel.next().action, "online");
    close(fd);
    fd = open_node();
    ASSERT_GE(fd, 0);
    Network again;
    ASSERT_EQ(again.load_and_activate(fd), "");
    run_squares(fd, again.vcid);
    EXPECT_EQ(again.deactivate_and_unload(), "");
    close(fd);
}

} // namespace
