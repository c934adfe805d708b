// SPDX-License-Identifier: GPL-2.0-only
// Qualcomm's NNC protocol inside MANAGE, sent byte for byte as its runtime sends it
// (shared/reference/nnc-protocol.md): the status query it starts every program with, then the
// resource and performance queries. Only what the runtime itself checks is asserted, so that
// the suite holds on a real card too; the simulated firmware's own answers are tested in
// hw/aic100/tests/nnc_test.cc.
#include "qaic_helpers.h"

#include <cstring>
#include <unistd.h>
#include <vector>

namespace {

using namespace selftest;

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

// One passthrough carrying an NNC request of req_len bytes (type first), in a zeroed
// 4096-byte buffer as the runtime builds it: the transaction's len is 16 + req_len, its
// payload the request and 8 zero bytes. Returns MANAGE's result; the response is at buf + 8.
int nnc(int fd, uint8_t (&buf)[4096], const void *req, uint32_t req_len)
{
    std::memset(buf, 0, sizeof(buf));
    qaic_manage_trans_hdr h{QAIC_TRANS_PASSTHROUGH_FROM_USR, 16 + req_len};
    std::memcpy(buf, &h, sizeof(h));
    std::memcpy(buf + 8, req, req_len);
    qaic_manage_msg m{};
    m.len = h.len;
    m.count = 1;
    m.data = uintptr_t(buf);
    return ioctl_err(fd, DRM_IOCTL_QAIC_MANAGE, &m);
}

// Step 1 of the runtime's query: STATUS (13) with info type 0. It needs rc 0, response type
// 14 and status 0, then reads the host API info; it requires metadata 1.0 and NNC command
// protocol major 17 before it loads a network.
TEST_F(Qaic, NncStatusQuery)
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
TEST_F(Qaic, NncResourceInfo)
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
TEST_F(Qaic, NncPerformanceInfo)
{
    uint8_t buf[4096];
    uint32_t req[2] = {34, 0};
    ASSERT_EQ(nnc(fd, buf, req, sizeof(req)), 0);
    EXPECT_EQ(u32_at(buf + 8), 35u);
    EXPECT_EQ(int32_t(u32_at(buf + 12)), 0);
}

// LOAD_ELF as the runtime sends it: MANAGE{144, 2} = [PASSTHROUGH, 112 | LOAD_ELF tag 100]
// [DMA_XFER, 32 | tag 100, count 1, the image]. It reads the response at buf + 8: type 4, the
// ELF's id, status 0 (it does not check the count). Then UNLOAD_ELF (7) -> type 8, status 0.
// Sizes that take one message and several (the driver sends large data in parts).
TEST_F(Qaic, NncLoadAndUnloadElf)
{
    for (size_t size : {size_t(4096), size_t(24) << 20}) {
        SCOPED_TRACE(size);
        std::vector<uint8_t> image(size);
        for (size_t i = 0; i < size; ++i)
            image[i] = uint8_t(i * 7 + 1);
        uint8_t buf[4096] = {};
        uint32_t req[24] = {3, 100, uint32_t(getpid()), 0};
        std::memcpy(&req[4], "NetworkImage", 13);
        uint64_t len64 = size;
        std::memcpy(&req[20], &len64, 8);
        qaic_manage_trans_hdr pt{QAIC_TRANS_PASSTHROUGH_FROM_USR, 16 + sizeof(req)};
        std::memcpy(buf, &pt, sizeof(pt));
        std::memcpy(buf + 8, req, sizeof(req));
        qaic_manage_trans_dma_xfer x{{QAIC_TRANS_DMA_XFER_FROM_USR, sizeof(x)}, 100, 1,
                                     uintptr_t(image.data()), size};
        std::memcpy(buf + pt.len, &x, sizeof(x));
        qaic_manage_msg m{};
        m.len = pt.len + sizeof(x);
        m.count = 2;
        m.data = uintptr_t(buf);
        ASSERT_EQ(m.len, 144u);
        ASSERT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_MANAGE, &m), 0);
        EXPECT_EQ(u32_at(buf + 8), 4u);
        uint32_t id = u32_at(buf + 12);
        EXPECT_NE(id, 0u);
        EXPECT_EQ(int32_t(u32_at(buf + 16)), 0);

        uint8_t ubuf[4096];
        uint32_t unload[2] = {7, id};
        ASSERT_EQ(nnc(fd, ubuf, unload, sizeof(unload)), 0);
        EXPECT_EQ(u32_at(ubuf + 8), 8u);
        EXPECT_EQ(int32_t(u32_at(ubuf + 12)), 0);
    }
}

} // namespace
