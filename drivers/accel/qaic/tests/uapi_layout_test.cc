// SPDX-License-Identifier: GPL-2.0-only
// The uAPI header against upstream's ABI (x86-64): every struct's size and alignment, every
// field's offset, size and type, every constant and every ioctl index and number. The expected
// values are literals taken from the upstream facts, never computed from the header under test,
// so a change to the header that breaks binary compatibility fails here.
#include <drm/qaic_accel.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <string>
#include <type_traits>

namespace {

// Bytes of the struct covered by the fields checked so far; compared with sizeof at the end,
// it proves there is no implicit padding (every hole is an explicit pad field).
struct Layout {
    size_t covered = 0;
};

// Checks one field: its offset, its size and its exact type.
#define EXPECT_FIELD(layout, S, f, off, type)                                                      \
    do {                                                                                           \
        EXPECT_TRUE((std::is_same_v<decltype(S::f), type>)) << #S "." #f " must be " #type;        \
        EXPECT_EQ(offsetof(S, f), size_t{off}) << "offset of " #S "." #f;                          \
        EXPECT_EQ(sizeof(S::f), sizeof(type)) << "size of " #S "." #f;                             \
        (layout).covered += sizeof(S::f);                                                          \
    } while (0)

// Checks the struct's size and alignment, and that it is a plain C struct (offsetof valid,
// copyable byte by byte between user and kernel).
#define EXPECT_STRUCT(S, size, align)                                                              \
    do {                                                                                           \
        EXPECT_TRUE(std::is_standard_layout_v<S>) << #S " must be standard-layout";                \
        EXPECT_TRUE(std::is_trivially_copyable_v<S>) << #S " must be trivially copyable";          \
        EXPECT_EQ(sizeof(S), size_t{size}) << "sizeof " #S;                                        \
        EXPECT_EQ(alignof(S), size_t{align}) << "alignof " #S;                                     \
    } while (0)

#define EXPECT_NO_HOLES(layout, S)                                                                 \
    EXPECT_EQ((layout).covered, sizeof(S)) << #S " has implicit padding"

// ---------------------------------------------------------------------------- MANAGE

TEST(UapiLayout, ManageMsg)
{
    EXPECT_STRUCT(qaic_manage_msg, 16, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_manage_msg, len, 0, __u32);
    EXPECT_FIELD(l, qaic_manage_msg, count, 4, __u32);
    EXPECT_FIELD(l, qaic_manage_msg, data, 8, __u64);
    EXPECT_NO_HOLES(l, qaic_manage_msg);
}

TEST(UapiLayout, ManageTransHdr)
{
    EXPECT_STRUCT(qaic_manage_trans_hdr, 8, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_manage_trans_hdr, type, 0, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_hdr, len, 4, __u32);
    EXPECT_NO_HOLES(l, qaic_manage_trans_hdr);
}

TEST(UapiLayout, ManageTransPassthrough)
{
    // The flexible array adds nothing to the size: the payload follows the header directly.
    EXPECT_STRUCT(qaic_manage_trans_passthrough, 8, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_manage_trans_passthrough, hdr, 0, qaic_manage_trans_hdr);
    EXPECT_TRUE((std::is_same_v<decltype(qaic_manage_trans_passthrough::data), __u8[]>))
        << "data must be __u8[]";
    EXPECT_EQ(offsetof(qaic_manage_trans_passthrough, data), size_t{8});
    qaic_manage_trans_passthrough t{};
    EXPECT_EQ(sizeof(t.data[0]), size_t{1});
    EXPECT_NO_HOLES(l, qaic_manage_trans_passthrough);
}

TEST(UapiLayout, ManageTransDmaXfer)
{
    EXPECT_STRUCT(qaic_manage_trans_dma_xfer, 32, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_manage_trans_dma_xfer, hdr, 0, qaic_manage_trans_hdr);
    EXPECT_FIELD(l, qaic_manage_trans_dma_xfer, tag, 8, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_dma_xfer, pad, 12, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_dma_xfer, addr, 16, __u64);
    EXPECT_FIELD(l, qaic_manage_trans_dma_xfer, size, 24, __u64);
    EXPECT_NO_HOLES(l, qaic_manage_trans_dma_xfer);
}

TEST(UapiLayout, ManageTransActivateToDev)
{
    EXPECT_STRUCT(qaic_manage_trans_activate_to_dev, 24, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_manage_trans_activate_to_dev, hdr, 0, qaic_manage_trans_hdr);
    EXPECT_FIELD(l, qaic_manage_trans_activate_to_dev, queue_size, 8, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_activate_to_dev, eventfd, 12, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_activate_to_dev, options, 16, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_activate_to_dev, pad, 20, __u32);
    EXPECT_NO_HOLES(l, qaic_manage_trans_activate_to_dev);
}

TEST(UapiLayout, ManageTransActivateFromDev)
{
    EXPECT_STRUCT(qaic_manage_trans_activate_from_dev, 24, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_manage_trans_activate_from_dev, hdr, 0, qaic_manage_trans_hdr);
    EXPECT_FIELD(l, qaic_manage_trans_activate_from_dev, status, 8, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_activate_from_dev, dbc_id, 12, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_activate_from_dev, options, 16, __u64);
    EXPECT_NO_HOLES(l, qaic_manage_trans_activate_from_dev);
}

TEST(UapiLayout, ManageTransDeactivate)
{
    EXPECT_STRUCT(qaic_manage_trans_deactivate, 16, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_manage_trans_deactivate, hdr, 0, qaic_manage_trans_hdr);
    EXPECT_FIELD(l, qaic_manage_trans_deactivate, dbc_id, 8, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_deactivate, pad, 12, __u32);
    EXPECT_NO_HOLES(l, qaic_manage_trans_deactivate);
}

TEST(UapiLayout, ManageTransStatusToDev)
{
    EXPECT_STRUCT(qaic_manage_trans_status_to_dev, 8, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_manage_trans_status_to_dev, hdr, 0, qaic_manage_trans_hdr);
    EXPECT_NO_HOLES(l, qaic_manage_trans_status_to_dev);
}

TEST(UapiLayout, ManageTransStatusFromDev)
{
    EXPECT_STRUCT(qaic_manage_trans_status_from_dev, 24, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_manage_trans_status_from_dev, hdr, 0, qaic_manage_trans_hdr);
    EXPECT_FIELD(l, qaic_manage_trans_status_from_dev, major, 8, __u16);
    EXPECT_FIELD(l, qaic_manage_trans_status_from_dev, minor, 10, __u16);
    EXPECT_FIELD(l, qaic_manage_trans_status_from_dev, status, 12, __u32);
    EXPECT_FIELD(l, qaic_manage_trans_status_from_dev, status_flags, 16, __u64);
    EXPECT_NO_HOLES(l, qaic_manage_trans_status_from_dev);
}

// ---------------------------------------------------------------------------- BOs

TEST(UapiLayout, CreateBo)
{
    EXPECT_STRUCT(qaic_create_bo, 16, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_create_bo, size, 0, __u64);
    EXPECT_FIELD(l, qaic_create_bo, handle, 8, __u32);
    EXPECT_FIELD(l, qaic_create_bo, pad, 12, __u32);
    EXPECT_NO_HOLES(l, qaic_create_bo);
}

TEST(UapiLayout, MmapBo)
{
    EXPECT_STRUCT(qaic_mmap_bo, 16, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_mmap_bo, handle, 0, __u32);
    EXPECT_FIELD(l, qaic_mmap_bo, pad, 4, __u32);
    EXPECT_FIELD(l, qaic_mmap_bo, offset, 8, __u64);
    EXPECT_NO_HOLES(l, qaic_mmap_bo);
}

// ---------------------------------------------------------------------------- slicing

TEST(UapiLayout, Sem)
{
    EXPECT_STRUCT(qaic_sem, 8, 2);
    Layout l;
    EXPECT_FIELD(l, qaic_sem, val, 0, __u16);
    EXPECT_FIELD(l, qaic_sem, index, 2, __u8);
    EXPECT_FIELD(l, qaic_sem, presync, 3, __u8);
    EXPECT_FIELD(l, qaic_sem, cmd, 4, __u8);
    EXPECT_FIELD(l, qaic_sem, flags, 5, __u8);
    EXPECT_FIELD(l, qaic_sem, pad, 6, __u16);
    EXPECT_NO_HOLES(l, qaic_sem);
}

TEST(UapiLayout, AttachSliceEntry)
{
    EXPECT_STRUCT(qaic_attach_slice_entry, 72, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_attach_slice_entry, size, 0, __u64);
    EXPECT_FIELD(l, qaic_attach_slice_entry, sem0, 8, qaic_sem);
    EXPECT_FIELD(l, qaic_attach_slice_entry, sem1, 16, qaic_sem);
    EXPECT_FIELD(l, qaic_attach_slice_entry, sem2, 24, qaic_sem);
    EXPECT_FIELD(l, qaic_attach_slice_entry, sem3, 32, qaic_sem);
    EXPECT_FIELD(l, qaic_attach_slice_entry, dev_addr, 40, __u64);
    EXPECT_FIELD(l, qaic_attach_slice_entry, db_addr, 48, __u64);
    EXPECT_FIELD(l, qaic_attach_slice_entry, db_data, 56, __u32);
    EXPECT_FIELD(l, qaic_attach_slice_entry, db_len, 60, __u32);
    EXPECT_FIELD(l, qaic_attach_slice_entry, offset, 64, __u64);
    EXPECT_NO_HOLES(l, qaic_attach_slice_entry);
}

TEST(UapiLayout, AttachSliceHdr)
{
    EXPECT_STRUCT(qaic_attach_slice_hdr, 24, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_attach_slice_hdr, count, 0, __u32);
    EXPECT_FIELD(l, qaic_attach_slice_hdr, dbc_id, 4, __u32);
    EXPECT_FIELD(l, qaic_attach_slice_hdr, handle, 8, __u32);
    EXPECT_FIELD(l, qaic_attach_slice_hdr, dir, 12, __u32);
    EXPECT_FIELD(l, qaic_attach_slice_hdr, size, 16, __u64);
    EXPECT_NO_HOLES(l, qaic_attach_slice_hdr);
}

TEST(UapiLayout, AttachSlice)
{
    EXPECT_STRUCT(qaic_attach_slice, 32, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_attach_slice, hdr, 0, qaic_attach_slice_hdr);
    EXPECT_FIELD(l, qaic_attach_slice, data, 24, __u64);
    EXPECT_NO_HOLES(l, qaic_attach_slice);
}

// ---------------------------------------------------------------------------- execute

TEST(UapiLayout, ExecuteEntry)
{
    EXPECT_STRUCT(qaic_execute_entry, 8, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_execute_entry, handle, 0, __u32);
    EXPECT_FIELD(l, qaic_execute_entry, dir, 4, __u32);
    EXPECT_NO_HOLES(l, qaic_execute_entry);
}

TEST(UapiLayout, PartialExecuteEntry)
{
    EXPECT_STRUCT(qaic_partial_execute_entry, 16, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_partial_execute_entry, handle, 0, __u32);
    EXPECT_FIELD(l, qaic_partial_execute_entry, dir, 4, __u32);
    EXPECT_FIELD(l, qaic_partial_execute_entry, resize, 8, __u64);
    EXPECT_NO_HOLES(l, qaic_partial_execute_entry);
}

TEST(UapiLayout, ExecuteHdr)
{
    EXPECT_STRUCT(qaic_execute_hdr, 8, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_execute_hdr, count, 0, __u32);
    EXPECT_FIELD(l, qaic_execute_hdr, dbc_id, 4, __u32);
    EXPECT_NO_HOLES(l, qaic_execute_hdr);
}

TEST(UapiLayout, Execute)
{
    EXPECT_STRUCT(qaic_execute, 16, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_execute, hdr, 0, qaic_execute_hdr);
    EXPECT_FIELD(l, qaic_execute, data, 8, __u64);
    EXPECT_NO_HOLES(l, qaic_execute);
}

TEST(UapiLayout, Wait)
{
    EXPECT_STRUCT(qaic_wait, 16, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_wait, handle, 0, __u32);
    EXPECT_FIELD(l, qaic_wait, timeout, 4, __u32);
    EXPECT_FIELD(l, qaic_wait, dbc_id, 8, __u32);
    EXPECT_FIELD(l, qaic_wait, pad, 12, __u32);
    EXPECT_NO_HOLES(l, qaic_wait);
}

// ---------------------------------------------------------------------------- perf stats, detach

TEST(UapiLayout, PerfStatsHdr)
{
    EXPECT_STRUCT(qaic_perf_stats_hdr, 8, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_perf_stats_hdr, count, 0, __u16);
    EXPECT_FIELD(l, qaic_perf_stats_hdr, pad, 2, __u16);
    EXPECT_FIELD(l, qaic_perf_stats_hdr, dbc_id, 4, __u32);
    EXPECT_NO_HOLES(l, qaic_perf_stats_hdr);
}

TEST(UapiLayout, PerfStats)
{
    EXPECT_STRUCT(qaic_perf_stats, 16, 8);
    Layout l;
    EXPECT_FIELD(l, qaic_perf_stats, hdr, 0, qaic_perf_stats_hdr);
    EXPECT_FIELD(l, qaic_perf_stats, data, 8, __u64);
    EXPECT_NO_HOLES(l, qaic_perf_stats);
}

TEST(UapiLayout, PerfStatsEntry)
{
    EXPECT_STRUCT(qaic_perf_stats_entry, 24, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_perf_stats_entry, handle, 0, __u32);
    EXPECT_FIELD(l, qaic_perf_stats_entry, queue_level_before, 4, __u32);
    EXPECT_FIELD(l, qaic_perf_stats_entry, num_queue_element, 8, __u32);
    EXPECT_FIELD(l, qaic_perf_stats_entry, submit_latency_us, 12, __u32);
    EXPECT_FIELD(l, qaic_perf_stats_entry, device_latency_us, 16, __u32);
    EXPECT_FIELD(l, qaic_perf_stats_entry, pad, 20, __u32);
    EXPECT_NO_HOLES(l, qaic_perf_stats_entry);
}

TEST(UapiLayout, DetachSlice)
{
    EXPECT_STRUCT(qaic_detach_slice, 8, 4);
    Layout l;
    EXPECT_FIELD(l, qaic_detach_slice, handle, 0, __u32);
    EXPECT_FIELD(l, qaic_detach_slice, pad, 4, __u32);
    EXPECT_NO_HOLES(l, qaic_detach_slice);
}

// ---------------------------------------------------------------------------- constants

// A preprocessor-usable integer, as upstream's SZ_4K is.
#if QAIC_MANAGE_MAX_MSG_LENGTH != 4096
#error "QAIC_MANAGE_MAX_MSG_LENGTH must be 4096"
#endif

TEST(UapiConstants, ManageMaxMsgLength)
{
    EXPECT_EQ(QAIC_MANAGE_MAX_MSG_LENGTH, 4096);
    // Usable as an array bound, the way clients size their transaction buffer.
    char buf[QAIC_MANAGE_MAX_MSG_LENGTH];
    EXPECT_EQ(sizeof(buf), size_t{4096});
}

TEST(UapiConstants, SemFlags)
{
    EXPECT_EQ(QAIC_SEM_OUTSYNCFENCE, 1);
    EXPECT_EQ(QAIC_SEM_INSYNCFENCE, 2);
}

TEST(UapiConstants, SemCmds)
{
    EXPECT_EQ(QAIC_SEM_NOP, 0);
    EXPECT_EQ(QAIC_SEM_INIT, 1);
    EXPECT_EQ(QAIC_SEM_INC, 2);
    EXPECT_EQ(QAIC_SEM_DEC, 3);
    EXPECT_EQ(QAIC_SEM_WAIT_EQUAL, 4);
    EXPECT_EQ(QAIC_SEM_WAIT_GT_EQ, 5);
    EXPECT_EQ(QAIC_SEM_WAIT_GT_0, 6);
}

TEST(UapiConstants, TransactionTypes)
{
    EXPECT_EQ(QAIC_TRANS_UNDEFINED, 0);
    EXPECT_EQ(QAIC_TRANS_PASSTHROUGH_FROM_USR, 1);
    EXPECT_EQ(QAIC_TRANS_PASSTHROUGH_TO_USR, 2);
    EXPECT_EQ(QAIC_TRANS_PASSTHROUGH_FROM_DEV, 3);
    EXPECT_EQ(QAIC_TRANS_PASSTHROUGH_TO_DEV, 4);
    EXPECT_EQ(QAIC_TRANS_DMA_XFER_FROM_USR, 5);
    EXPECT_EQ(QAIC_TRANS_DMA_XFER_TO_DEV, 6);
    EXPECT_EQ(QAIC_TRANS_ACTIVATE_FROM_USR, 7);
    EXPECT_EQ(QAIC_TRANS_ACTIVATE_FROM_DEV, 8);
    EXPECT_EQ(QAIC_TRANS_ACTIVATE_TO_DEV, 9);
    EXPECT_EQ(QAIC_TRANS_DEACTIVATE_FROM_USR, 10);
    EXPECT_EQ(QAIC_TRANS_DEACTIVATE_FROM_DEV, 11);
    EXPECT_EQ(QAIC_TRANS_STATUS_FROM_USR, 12);
    EXPECT_EQ(QAIC_TRANS_STATUS_TO_USR, 13);
    EXPECT_EQ(QAIC_TRANS_STATUS_FROM_DEV, 14);
    EXPECT_EQ(QAIC_TRANS_STATUS_TO_DEV, 15);
    EXPECT_EQ(QAIC_TRANS_TERMINATE_FROM_DEV, 16);
    EXPECT_EQ(QAIC_TRANS_TERMINATE_TO_DEV, 17);
    EXPECT_EQ(QAIC_TRANS_DMA_XFER_CONT, 18);
    EXPECT_EQ(QAIC_TRANS_VALIDATE_PARTITION_FROM_DEV, 19);
    EXPECT_EQ(QAIC_TRANS_VALIDATE_PARTITION_TO_DEV, 20);
    // The sentinel follows the last type.
    EXPECT_EQ(QAIC_TRANS_TYPE_MAX, 21);
}

TEST(UapiConstants, DrmBase)
{
    EXPECT_EQ(DRM_COMMAND_BASE, 0x40);
    EXPECT_EQ(DRM_IOCTL_BASE, 'd');
}

// ---------------------------------------------------------------------------- ioctls

struct IoctlCase {
    const char *name;
    unsigned int index;          // DRM_QAIC_* from the header
    unsigned int expected_index; // offset from the reference
    unsigned long number;        // DRM_IOCTL_QAIC_* from the header
    unsigned long expected;      // encoded number from the reference (x86-64)
    unsigned int dir;            // _IOC_WRITE, or _IOC_READ | _IOC_WRITE
    size_t size;                 // argument struct bytes from the reference
};

constexpr unsigned int kIow = _IOC_WRITE;
constexpr unsigned int kIowr = _IOC_READ | _IOC_WRITE;

const IoctlCase kIoctls[] = {
    {"Manage", DRM_QAIC_MANAGE, 0x00, DRM_IOCTL_QAIC_MANAGE, 0xC0106440, kIowr, 16},
    {"CreateBo", DRM_QAIC_CREATE_BO, 0x01, DRM_IOCTL_QAIC_CREATE_BO, 0xC0106441, kIowr, 16},
    {"MmapBo", DRM_QAIC_MMAP_BO, 0x02, DRM_IOCTL_QAIC_MMAP_BO, 0xC0106442, kIowr, 16},
    {"AttachSliceBo", DRM_QAIC_ATTACH_SLICE_BO, 0x03, DRM_IOCTL_QAIC_ATTACH_SLICE_BO, 0x40206443,
     kIow, 32},
    {"ExecuteBo", DRM_QAIC_EXECUTE_BO, 0x04, DRM_IOCTL_QAIC_EXECUTE_BO, 0x40106444, kIow, 16},
    {"PartialExecuteBo", DRM_QAIC_PARTIAL_EXECUTE_BO, 0x05, DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO,
     0x40106445, kIow, 16},
    {"WaitBo", DRM_QAIC_WAIT_BO, 0x06, DRM_IOCTL_QAIC_WAIT_BO, 0x40106446, kIow, 16},
    {"PerfStatsBo", DRM_QAIC_PERF_STATS_BO, 0x07, DRM_IOCTL_QAIC_PERF_STATS_BO, 0xC0106447, kIowr,
     16},
    {"DetachSliceBo", DRM_QAIC_DETACH_SLICE_BO, 0x08, DRM_IOCTL_QAIC_DETACH_SLICE_BO, 0x40086448,
     kIow, 8},
};

class UapiIoctl : public testing::TestWithParam<IoctlCase>
{
};

TEST_P(UapiIoctl, Encoding)
{
    const IoctlCase &c = GetParam();
    EXPECT_EQ(c.index, c.expected_index) << "DRM_QAIC_ index";
    EXPECT_EQ(c.number, c.expected) << std::hex << std::showbase << "encoded number " << c.number
                                    << ", expected " << c.expected;
    EXPECT_EQ(_IOC_DIR(c.number), c.dir);
    EXPECT_EQ(_IOC_SIZE(c.number), c.size);
    EXPECT_EQ(_IOC_TYPE(c.number), unsigned{'d'});
    EXPECT_EQ(_IOC_NR(c.number), 0x40u + c.expected_index);
}

INSTANTIATE_TEST_SUITE_P(All, UapiIoctl, testing::ValuesIn(kIoctls),
                         [](const testing::TestParamInfo<IoctlCase> &info) {
                             return std::string(info.param.name);
                         });

// The argument sizes the header encodes are those of the argument structs.
TEST(UapiIoctlArgs, SizesMatchStructs)
{
    EXPECT_EQ(_IOC_SIZE(DRM_IOCTL_QAIC_MANAGE), sizeof(struct qaic_manage_msg));
    EXPECT_EQ(_IOC_SIZE(DRM_IOCTL_QAIC_CREATE_BO), sizeof(struct qaic_create_bo));
    EXPECT_EQ(_IOC_SIZE(DRM_IOCTL_QAIC_MMAP_BO), sizeof(struct qaic_mmap_bo));
    EXPECT_EQ(_IOC_SIZE(DRM_IOCTL_QAIC_ATTACH_SLICE_BO), sizeof(struct qaic_attach_slice));
    EXPECT_EQ(_IOC_SIZE(DRM_IOCTL_QAIC_EXECUTE_BO), sizeof(struct qaic_execute));
    EXPECT_EQ(_IOC_SIZE(DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO), sizeof(struct qaic_execute));
    EXPECT_EQ(_IOC_SIZE(DRM_IOCTL_QAIC_WAIT_BO), sizeof(struct qaic_wait));
    EXPECT_EQ(_IOC_SIZE(DRM_IOCTL_QAIC_PERF_STATS_BO), sizeof(struct qaic_perf_stats));
    EXPECT_EQ(_IOC_SIZE(DRM_IOCTL_QAIC_DETACH_SLICE_BO), sizeof(struct qaic_detach_slice));
}

TEST(UapiIoctlArgs, AllDistinct)
{
    std::set<unsigned long> numbers;
    std::set<unsigned int> indices;
    for (const IoctlCase &c : kIoctls) {
        EXPECT_TRUE(numbers.insert(c.number).second) << c.name;
        EXPECT_TRUE(indices.insert(c.index).second) << c.name;
    }
    EXPECT_EQ(numbers.size(), size_t{9});
}

} // namespace
