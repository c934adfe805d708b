// SPDX-License-Identifier: GPL-2.0-only
// Qualcomm's NNC protocol inside MANAGE, sent byte for byte as its runtime sends it
// (shared/reference/nnc-protocol.md): the status query it starts every program with, then the
// resource and performance queries. Only what the runtime itself checks is asserted, so that
// the suite holds on a real card too; the simulated firmware's own answers are tested in
// hw/aic100/tests/nnc_test.cc.
#include "datapath_helpers.h"

#include <cstring>
#include <unistd.h>
#include <vector>

namespace {

using namespace selftest;
using namespace dpt;

uint32_t u32_at(const uint8_t *p)
{
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
uint16_t u16_at(const uint8_t *p)
{
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

// A MANAGE as the runtime builds it, in a zeroed 4096-byte buffer: a passthrough carrying an
// NNC request of req_len bytes (type first; the transaction's len is 16 + req_len, the payload
// the request and 8 zero bytes), then the transaction `then` if then_len (a DMA_XFER, an
// ACTIVATE or a DEACTIVATE). Returns MANAGE's result; the response is at buf + 8, and *m (if
// given) holds the answer's len and count.
int nnc(int fd, uint8_t (&buf)[4096], const void *req, uint32_t req_len,
        const void *then = nullptr, uint32_t then_len = 0, qaic_manage_msg *m = nullptr)
{
    std::memset(buf, 0, sizeof(buf));
    qaic_manage_trans_hdr h{QAIC_TRANS_PASSTHROUGH_FROM_USR, 16 + req_len};
    std::memcpy(buf, &h, sizeof(h));
    std::memcpy(buf + 8, req, req_len);
    if (then_len)
        std::memcpy(buf + h.len, then, then_len);
    qaic_manage_msg msg{h.len + then_len, then_len ? 2u : 1u, uintptr_t(buf)};
    int err = ioctl_err(fd, DRM_IOCTL_QAIC_MANAGE, &msg);
    if (m)
        *m = msg;
    return err;
}

// LOAD_ELF (3) of image as the runtime sends it: MANAGE{144, 2} = [PASSTHROUGH, 112 | LOAD_ELF
// tag 100] [DMA_XFER, 32 | tag 100, count 1, the image].
int load_elf(int fd, uint8_t (&buf)[4096], const std::vector<uint8_t> &image)
{
    uint32_t req[24] = {3, 100, uint32_t(getpid()), 0};
    std::memcpy(&req[4], "NetworkImage", 13);
    uint64_t len64 = image.size();
    std::memcpy(&req[20], &len64, 8);
    qaic_manage_trans_dma_xfer x{{QAIC_TRANS_DMA_XFER_FROM_USR, sizeof(x)}, 100, 1,
                                 uintptr_t(image.data()), image.size()};
    return nnc(fd, buf, req, sizeof(req), &x, sizeof(x));
}

// Step 1 of the runtime's query: STATUS (13) with info type 0. It needs rc 0, response type
// 14 and status 0, then reads the host API info; it requires metadata 1.0 and NNC command
// protocol major 17 before it loads a network.
TEST_F(ManageNnc, StatusQuery)
{
    uint8_t buf[4096];
    uint32_t req[2] = {13, 0};
    ASSERT_EQ(nnc(fd, buf, req, sizeof(req)), 0);
    const uint8_t *rsp = buf + 8;
    EXPECT_EQ(u32_at(rsp), 14u);
    EXPECT_EQ(int32_t(u32_at(rsp + 4)), 0);
    const uint8_t *info = rsp + 8, *dev = info + 8;
    EXPECT_EQ(info[0], 12u) << "host API info format version";
    EXPECT_EQ(u16_at(dev + 258), 1u) << "metadata version major";
    EXPECT_EQ(u16_at(dev + 260), 0u) << "metadata version minor";
    EXPECT_EQ(u16_at(dev + 262), 17u) << "NNC command protocol major";
    // Step 2: the driver's own STATUS transaction, whose answer the runtime ignores.
    Manage m;
    m.add(qaic_manage_trans_status_to_dev{{QAIC_TRANS_STATUS_FROM_USR, 8}});
    EXPECT_EQ(m.send(fd), 0);
}

// RESOURCE_INFO (32) of the whole card (group -1): response type 33, status at 48, and the
// virtual channel counts (the DBCs).
TEST_F(ManageNnc, ResourceInfo)
{
    uint8_t buf[4096];
    int32_t req[4] = {32, 0, -1, 0};
    ASSERT_EQ(nnc(fd, buf, req, sizeof(req)), 0);
    const uint8_t *rsp = buf + 8;
    EXPECT_EQ(u32_at(rsp), 33u);
    EXPECT_EQ(int32_t(u32_at(rsp + 48)), 0);
    const uint8_t *ri = rsp + 8;
    uint8_t vc_total = ri[12], vc_free = ri[13];
    EXPECT_GE(vc_total, 1u);
    EXPECT_LE(vc_free, vc_total);
    EXPECT_GT(u32_at(ri), 0u) << "DRAM total (MB)";
}

// PERFORMANCE_INFO (34): response type 35, status 0.
TEST_F(ManageNnc, PerformanceInfo)
{
    uint8_t buf[4096];
    uint32_t req[2] = {34, 0};
    ASSERT_EQ(nnc(fd, buf, req, sizeof(req)), 0);
    EXPECT_EQ(u32_at(buf + 8), 35u);
    EXPECT_EQ(int32_t(u32_at(buf + 12)), 0);
}

// LOAD_ELF as the runtime sends it (load_elf): it reads the response at buf + 8: type 4, the
// ELF's id, status 0 (it does not check the count). Then UNLOAD_ELF (7) -> type 8, status 0.
// Sizes that take one message and several (the driver sends large data in parts).
TEST_F(ManageNnc, LoadAndUnloadElf)
{
    for (size_t size : {size_t(4096), size_t(24) << 20}) {
        SCOPED_TRACE(size);
        std::vector<uint8_t> image(size);
        for (size_t i = 0; i < size; ++i)
            image[i] = uint8_t(i * 7 + 1);
        uint8_t buf[4096];
        ASSERT_EQ(load_elf(fd, buf, image), 0);
        EXPECT_EQ(u32_at(buf + 8), 4u);
        uint32_t id = u32_at(buf + 12);
        EXPECT_NE(id, 0u);
        EXPECT_EQ(int32_t(u32_at(buf + 16)), 0);

        uint32_t unload[2] = {7, id};
        ASSERT_EQ(nnc(fd, buf, unload, sizeof(unload)), 0);
        EXPECT_EQ(u32_at(buf + 8), 8u);
        EXPECT_EQ(int32_t(u32_at(buf + 12)), 0);
    }
}

// A network's life as the runtime drives it (nnc-protocol.md §3c, §3d), on a 4 KiB image:
// ACTIVATE is MANAGE{88, 2} = [PASSTHROUGH, 64 | ACTIVATE elf] [ACTIVATE, 24 | queue_size 512];
// it needs rc 0, response type 10, status 0, two transactions written back, and uses the
// virtual channel (<= 15) as the DBC: a BO attached and executed on it moves its data.
// DEACTIVATE is MANAGE{48, 2} = [PASSTHROUGH, 32 | DEACTIVATE acid, teardown 1]
// [DEACTIVATE, 16 | dbc = vcid]: type 12, status 0. Then the ELF unloads.
TEST_F(ManageNnc, ActivateRunDeactivate)
{
    uint8_t buf[4096];
    ASSERT_EQ(load_elf(fd, buf, std::vector<uint8_t>(4096, 0x5a)), 0);
    uint32_t elf = u32_at(buf + 12);
    ASSERT_EQ(int32_t(u32_at(buf + 16)), 0);

    // ACTIVATE: process, constants 0, elf, reservation 0, resource -1, vc setup 1, vc res -1,
    // initial state READY (1), dma type 0, no datapath switching.
    int32_t act[12] = {9, getpid(), 0, int32_t(elf), 0, -1, 1, -1, 1, 0, 0, 0};
    qaic_manage_trans_activate_to_dev at{{QAIC_TRANS_ACTIVATE_FROM_USR, sizeof(at)}, 512, 0, 0, 0};
    qaic_manage_msg m{};
    ASSERT_EQ(16 + sizeof(act) + sizeof(at), 88u);
    ASSERT_EQ(nnc(fd, buf, act, sizeof(act), &at, sizeof(at), &m), 0);
    EXPECT_EQ(u32_at(buf + 8), 10u);
    ASSERT_EQ(int32_t(u32_at(buf + 12)), 0);
    EXPECT_EQ(m.count, 2u);
    uint32_t acid = u32_at(buf + 16), vcid = u32_at(buf + 20);
    EXPECT_NE(acid, 0u);
    ASSERT_LE(vcid, 15u);

    // The virtual channel is a DBC of this file: data moves on it.
    Bo in;
    ASSERT_EQ(in.create(fd, kPage), 0);
    std::memset(in.data(), 0x3c, kPage);
    ASSERT_EQ(attach(fd, in.handle(), vcid, kDirToDev, {slice(0, kPage, 0x100000)}), 0);
    EXPECT_EQ(run(fd, vcid, in.handle(), kDirToDev), 0);

    uint32_t deact[4] = {11, acid, 1, 0};
    qaic_manage_trans_deactivate dt{{QAIC_TRANS_DEACTIVATE_FROM_USR, sizeof(dt)}, vcid, 0};
    ASSERT_EQ(16 + sizeof(deact) + sizeof(dt), 48u);
    ASSERT_EQ(nnc(fd, buf, deact, sizeof(deact), &dt, sizeof(dt)), 0);
    EXPECT_EQ(u32_at(buf + 8), 12u);
    EXPECT_EQ(int32_t(u32_at(buf + 12)), 0);
    EXPECT_EQ(execute(fd, vcid, in.handle(), kDirToDev), -EPERM) << "the DBC was released";

    uint32_t unload[2] = {7, elf};
    ASSERT_EQ(nnc(fd, buf, unload, sizeof(unload)), 0);
    EXPECT_EQ(int32_t(u32_at(buf + 12)), 0);
}

} // namespace
