// SPDX-License-Identifier: GPL-2.0-only
// NNC, the network-control protocol Qualcomm's runtime speaks to the card's firmware inside
// MANAGE's PASSTHROUGH transactions (facts: shared/reference/nnc-protocol.md; prose:
// docs/device-model.md, "NNC commands"). A request is the passthrough's payload and starts with
// its command type; the answer is the PASSTHROUGH_FROM_DEV payload and starts with the response
// type (the request's + 1) and a status code. Little-endian, packed, every struct a multiple of
// 8 bytes. The card's own commands of our design (FwCmdHdr) use opcodes from kFwOpBase up,
// which no NNC command type reaches.
#pragma once

#include <cstddef>
#include <cstdint>

namespace aic100 {

enum NncCmd : uint32_t {
    kNncLoadConstants = 1,
    kNncLoadElf = 3,
    kNncUnloadConstants = 5,
    kNncUnloadElf = 7,
    kNncActivate = 9,
    kNncDeactivate = 11,
    kNncStatus = 13,
    kNncLoadConstantsEx = 15,
    kNncLoadConstantsPayload = 16,
    kNncTerminate = 17,
    kNncCreateResourceGroup = 28,
    kNncReleaseResourceGroup = 30,
    kNncResourceInfo = 32,
    kNncPerformanceInfo = 34,
    kNncActivateState = 36,
    kNncCmdMax = 50, // every NNC command type is below this
};

enum NncStatus : int32_t {
    kNncOk = 0,
    kNncError = -1,
    kNncUndefinedRequest = -3,
    kNncMemAllocError = -4,
    kNncMetadataError = -5,
    kNncParameterError = -6,
    kNncOperationNotPermitted = -9,
    kNncResourceNotFound = -11,
    kNncNspAllocError = -13,
    kNncVcAllocError = -14,
    kNncSemAllocError = -15,
    kNncCmdLengthError = -17,
};

// What the card reports itself to be: the versions the runtime requires and names of ours.
inline constexpr uint8_t kNncInfoFormatVersion = 12;
inline constexpr uint16_t kNncMetaVersionMajor = 1;
inline constexpr uint16_t kNncMetaVersionMinor = 0;
inline constexpr uint16_t kNncProtoMajor = 17;
inline constexpr uint16_t kNncProtoMinor = 0;

// The section of an ELF64 network image that carries an NSP program (qaic/aic100_nsp.h) for
// the simulated card to run: ours; the card cannot run the Hexagon code of a real image.
inline constexpr char kNncNspSection[] = ".qaic.nsp";

// Every request starts so; a response type then a status code.
struct NncReqHdr {
    uint32_t type;
    uint32_t arg; // the first argument, or padding
};
struct NncRspHdr {
    uint32_t type;
    int32_t status;
};

#pragma pack(push, 1)
struct NncResourceInfo { // 40 bytes
    uint32_t dram_total_mb;
    uint32_t dram_free_mb;
    uint32_t fragmentation;
    uint8_t vc_total, vc_free, nsp_total, nsp_free;
    uint32_t mcid_total;
    uint32_t mcid_free;
    uint32_t sem_total;
    uint32_t sem_free;
    uint8_t pc_total, pc_reserved;
    uint8_t pad[6];
};
struct NncPerfInfo { // 56 bytes
    uint32_t nsp_hz, ddr_hz, comp_hz, mem_hz, sys_hz;
    uint32_t pad;
    uint64_t peak_compute;
    uint64_t dram_bw_kbps;
    uint64_t reserved[2];
};
struct NncDevData { // 320 bytes
    uint8_t fw_major, fw_minor, fw_patch, fw_build;
    char fw_qc[38];
    char fw_oem[38];
    char fw_variant[16];
    uint32_t hw_version;
    char serial[16];
    char board_serial[32];
    uint32_t compiler_version;
    NncResourceInfo resource_info;
    NncPerfInfo perf_info;
    uint32_t num_loaded_consts;
    uint32_t num_consts_in_use;
    uint8_t num_loaded_nws;
    uint8_t num_active_nws;
    uint16_t meta_ver_major, meta_ver_minor;
    uint16_t nnc_proto_major, nnc_proto_minor;
    char sbl_image_name[24];
    uint8_t need_reset_to_retire_pages;
    uint8_t pad0;
    uint32_t pvs_image_version;
    uint64_t nsp_pgmask;
    uint64_t qts_time_offset_usecs;
    uint32_t num_retired_pages;
    uint8_t sku_type;
    uint8_t complex_id;
    uint8_t pad1[2];
};
struct NncNspData { // 168 bytes
    uint8_t major, minor, patch, build;
    uint8_t pad[4];
    char qc[64];
    char oem[48];
    char variant[48];
};
struct NncHostApiInfo { // 496 bytes
    uint8_t format_version;
    uint8_t pad[7];
    NncDevData dev;
    NncNspData nsp;
};
#pragma pack(pop)

struct NncStatusReq {
    uint32_t type;
    uint8_t info_type; // 0: the host API info, the only kind
    uint8_t pad[3];
};
struct NncStatusRsp {
    NncRspHdr hdr;
    NncHostApiInfo info;
};
struct NncResourceInfoReq {
    uint32_t type;
    uint32_t process_id;
    int32_t res_grp_id; // -1: the whole card
    uint32_t pad;
};
struct NncResourceInfoRsp {
    uint32_t type;
    int32_t res_grp_id;
    NncResourceInfo info;
    int32_t status;
    uint32_t pad;
};
struct NncPerformanceInfoRsp {
    NncRspHdr hdr;
    NncPerfInfo info;
};

// Loading: the data comes in the same MANAGE's DMA_XFER of the request's tag (and in further
// messages when the driver chunks it); the response comes after the last of it.
inline constexpr size_t kNncNameLen = 64;
struct NncLoadElfReq {
    uint32_t type;
    uint32_t tag;
    uint32_t process_id;
    uint32_t metadata_crc;
    char name[kNncNameLen];
    uint64_t data_length;
    uint32_t flatbuffer_crc;
    uint32_t pad;
};
struct NncLoadConstantsReq {
    uint32_t type;
    uint32_t process_id;
    uint32_t tag;
    uint32_t crc;
    uint64_t data_length;
    char name[kNncNameLen];
};
// LOAD_CONSTANTS_EX: a region of the descriptor's static + dynamic size, filled by PAYLOADs.
struct NncLoadConstantsExReq {
    uint32_t type;
    uint32_t process_id;
    char name[kNncNameLen];
    uint32_t descriptor_len; // bytes after this struct: an NncConstantsDescriptor
    uint32_t pad;
};
struct NncConstantsDescriptor {
    uint64_t static_size;
    uint64_t dynamic_size;
    uint8_t ecc[2];
    uint8_t pad[6];
};
struct NncPayloadReq {
    uint32_t type;
    uint32_t process_id;
    uint32_t tag;
    uint32_t constants_id;
    uint64_t data_length;
    uint64_t offset; // into the region
};
// The answer to LOAD_ELF (type 4) and to LOAD_CONSTANTS, _EX and PAYLOAD (all type 2).
struct NncLoadRsp {
    uint32_t type;
    uint32_t id; // 0 when it failed
    int32_t status;
    uint32_t pad;
};
struct NncUnloadReq { // UNLOAD_ELF, UNLOAD_CONSTANTS
    uint32_t type;
    uint32_t id;
};

// ACTIVATE: the ACTIVATE transaction that follows in the same MANAGE gives the network its DBC,
// whose id the response names as its virtual channel.
enum NncActivationState : int32_t { kNncStandby = 0, kNncReady = 1, kNncDeactivated = 2 };
struct NncActivateReq {
    uint32_t type;
    uint32_t process_id;
    uint32_t constants_id; // 0: none
    uint32_t elf_id;
    uint32_t reservation_type;
    int32_t resource_res_id;
    uint32_t opt_vc_setup; // 1: an ACTIVATE transaction follows (the only kind served)
    int32_t vc_res_id;
    int32_t initial_state; // NncActivationState
    uint32_t dma_type;
    uint8_t datapath_switching;
    uint8_t pad[7];
};
#pragma pack(push, 1)
struct NncActivateRsp {
    uint32_t type;
    int32_t status;
    uint32_t activation_id;
    uint32_t virtual_channel_id;
    uint64_t ddr_base;
    uint64_t dynamic_ddr_base;
    uint64_t mcid_base;
    uint64_t mcid_base_dma_cmd;
    uint32_t dma_type;
    uint32_t pc_mask;
    uint64_t polling_addr;
    uint32_t polling_size;
    uint32_t polling_data;
    uint64_t doorbell_addr;
    uint8_t doorbell_len;
    uint8_t doorbell_valid;
    uint32_t nsp_mask;
    uint8_t pad[2];
};
#pragma pack(pop)
inline constexpr uint32_t kNncMaxStateCmds = 8;
struct NncActivateStateReq {
    uint32_t type;
    uint32_t num_cmds; // at most kNncMaxStateCmds
    struct {
        uint32_t activation_id;
        int32_t cmd; // NncActivationState
    } cmds[kNncMaxStateCmds];
};
// Resource groups: a share of the card a process asks for before it activates networks in it.
struct NncCreateResourceGroupReq {
    uint32_t type;
    uint32_t process_id;
    int32_t source_grp_id; // -1: the whole card
    uint32_t num_nsp;
    uint32_t num_mcid;
    uint32_t num_sem;
    uint32_t num_vc;
    uint32_t pad;
    uint64_t shddr_size;
    uint64_t l2region_size;
    uint64_t mem_size;
    uint16_t num_networks;
    uint8_t pad2[6];
};
struct NncCreateResourceGroupRsp {
    uint32_t type;
    int32_t status;
    int32_t res_grp_id;
    uint32_t pad;
};
struct NncReleaseResourceGroupReq {
    uint32_t type;
    int32_t res_grp_id;
};
struct NncDeactivateReq {
    uint32_t type;
    uint32_t activation_id;
    uint32_t opt_vc_teardown; // 1: a DEACTIVATE transaction follows
    uint32_t pad;
};

static_assert(sizeof(NncResourceInfo) == 40 && sizeof(NncPerfInfo) == 56);
static_assert(offsetof(NncDevData, hw_version) == 96 && offsetof(NncDevData, serial) == 100 &&
              offsetof(NncDevData, compiler_version) == 148 &&
              offsetof(NncDevData, resource_info) == 152 && offsetof(NncDevData, perf_info) == 192 &&
              offsetof(NncDevData, num_loaded_consts) == 248 &&
              offsetof(NncDevData, num_loaded_nws) == 256 &&
              offsetof(NncDevData, meta_ver_major) == 258 &&
              offsetof(NncDevData, nnc_proto_major) == 262 &&
              offsetof(NncDevData, sbl_image_name) == 266 &&
              offsetof(NncDevData, pvs_image_version) == 292 &&
              offsetof(NncDevData, nsp_pgmask) == 296 && offsetof(NncDevData, sku_type) == 316 &&
              sizeof(NncDevData) == 320);
static_assert(offsetof(NncNspData, qc) == 8 && offsetof(NncNspData, oem) == 72 &&
              offsetof(NncNspData, variant) == 120 && sizeof(NncNspData) == 168);
static_assert(offsetof(NncHostApiInfo, dev) == 8 && offsetof(NncHostApiInfo, nsp) == 328 &&
              sizeof(NncHostApiInfo) == 496);
static_assert(sizeof(NncStatusReq) == 8 && sizeof(NncStatusRsp) == 504);
static_assert(sizeof(NncResourceInfoReq) == 16 && sizeof(NncResourceInfoRsp) == 56 &&
              offsetof(NncResourceInfoRsp, status) == 48);
static_assert(sizeof(NncPerformanceInfoRsp) == 64);
static_assert(sizeof(NncLoadElfReq) == 96 && offsetof(NncLoadElfReq, data_length) == 80);
static_assert(sizeof(NncLoadConstantsReq) == 88 && offsetof(NncLoadConstantsReq, name) == 24);
static_assert(sizeof(NncLoadConstantsExReq) == 80 && sizeof(NncConstantsDescriptor) == 24);
static_assert(sizeof(NncPayloadReq) == 32 && sizeof(NncLoadRsp) == 16 && sizeof(NncUnloadReq) == 8);
static_assert(sizeof(NncActivateReq) == 48 && offsetof(NncActivateReq, initial_state) == 32);
static_assert(sizeof(NncActivateRsp) == 88 && offsetof(NncActivateRsp, virtual_channel_id) == 12 &&
              offsetof(NncActivateRsp, ddr_base) == 16 && offsetof(NncActivateRsp, mcid_base) == 32 &&
              offsetof(NncActivateRsp, dma_type) == 48 && offsetof(NncActivateRsp, pc_mask) == 52 &&
              offsetof(NncActivateRsp, doorbell_addr) == 72 && offsetof(NncActivateRsp, nsp_mask) == 82);
static_assert(sizeof(NncActivateStateReq) == 72 && sizeof(NncDeactivateReq) == 16);
static_assert(sizeof(NncCreateResourceGroupReq) == 64 &&
              offsetof(NncCreateResourceGroupReq, shddr_size) == 32 &&
              offsetof(NncCreateResourceGroupReq, num_networks) == 56);
static_assert(sizeof(NncCreateResourceGroupRsp) == 16 && sizeof(NncReleaseResourceGroupReq) == 8);

} // namespace aic100
