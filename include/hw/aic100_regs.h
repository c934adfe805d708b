// SPDX-License-Identifier: GPL-2.0-only
// The AIC100 programming model as a header: register map, ring element formats, command and
// semaphore encodings, firmware wire format. It is the contract between the driver
// (drivers/accel/qaic) and the card (hw/aic100), which otherwise never see each other; the
// prose version is docs/device-model.md. Everything is little-endian.
#pragma once

#include "kernel/crc32.h"

#include <cstdint>

namespace aic100 {

// ---------------------------------------------------------------------------- BARs
inline constexpr unsigned kBarDev = 0;        // device registers, control and SSR channels
inline constexpr unsigned kBarDbc = 2;        // DBC registers
inline constexpr uint64_t kBar0Size = 0x1000;
inline constexpr uint64_t kDbcRegsBase = 0x20000; // BAR2 + 128 KiB
inline constexpr uint64_t kDbcRegsStride = 0x1000;
inline constexpr uint64_t kBar2Size = kDbcRegsBase + 16 * kDbcRegsStride;
inline constexpr uint32_t kRegGone = 0xFFFFFFFF; // what every read returns once the device is gone

// BAR0: device registers.
inline constexpr uint64_t kRegDevId = 0x000;      // RO kDevIdValue
inline constexpr uint64_t kRegDevStatus = 0x004;  // RO enum DevStatus
inline constexpr uint64_t kRegDevReset = 0x008;   // WO kResetMagic: full device reset
inline constexpr uint64_t kRegNumDbc = 0x00C;     // RO number of DBCs
inline constexpr uint64_t kRegDdrSizeMb = 0x010;  // RO device DDR size in MiB
inline constexpr uint64_t kRegMsiMode = 0x014;    // RW enum MsiMode
inline constexpr uint64_t kRegFwVersion = 0x018;  // RO major << 16 | minor
inline constexpr uint64_t kRegBootLogLen = 0x01C; // RO bytes of the boot log (this boot's)
// The boot log: lines of text the firmware writes while it boots, readable here a word at a
// time (little-endian bytes) once the device is ONLINE; kept until the next reset.
inline constexpr uint64_t kBootLogWindow = 0x400;
inline constexpr uint32_t kBootLogSize = 0x400;
// Time sync (upstream's QAIC_TIMESYNC_PERIODIC channel, here a mailbox): the host writes one
// TimesyncMsg into kTsMailbox, then kTsMailbox + kTsDoorbell; the device takes it and records
// the offset of host time from its QTimer.
inline constexpr uint64_t kTsMailbox = 0x900;
inline constexpr uint64_t kTsDoorbell = 0x18; // WO any value: the message is complete
// The device's QTimer (upstream's QTIMER_REG_OFFSET): a 64-bit count at 19.2 MHz since the
// card powered on, low word first.
inline constexpr uint64_t kRegQtimerLo = 0xA28;
inline constexpr uint64_t kRegQtimerHi = 0xA2C;
inline constexpr uint64_t kQtimerHz = 19200000;
inline constexpr uint32_t kDevIdValue = 0xA1000100;
inline constexpr uint32_t kResetMagic = 0x52534554; // "RSET"

enum DevStatus : uint32_t { kDevOffline = 0, kDevBoot = 1, kDevOnline = 2 };

// MSI routing. Per-vector mode: vector 0 is the control (and SSR) channel, vector 1 + id is
// DBC id. Shared mode (the host got a single vector): everything raises vector 0.
enum MsiMode : uint32_t { kMsiShared = 0, kMsiPerVector = 1 };
inline constexpr unsigned kMsiControl = 0;
constexpr unsigned dbc_msi_vector(unsigned dbc_id) { return 1 + dbc_id; }

// BAR0: message channels. A channel is two rings of fixed-size slots in host memory: H2D
// (host to device) and D2H (device to host). Each ring's producer advances its TAIL, its
// consumer its HEAD; a ring is empty when HEAD == TAIL and one slot always stays empty.
// kernel::PciDev::busy_poll's queue for the control channel (DBCs are queues 0-15).
inline constexpr unsigned kBusyPollControl = 0x100;
inline constexpr uint64_t kCtrlChannel = 0x100; // control: H2D requests, D2H responses
inline constexpr uint64_t kSsrChannel = 0x200;  // SSR: D2H events, H2D acknowledgements
inline constexpr uint64_t kRasChannel = 0x300;  // RAS: D2H error reports (H2D unused)
inline constexpr uint64_t kChH2dBaseLo = 0x00;  // RW IOVA of the H2D ring
inline constexpr uint64_t kChH2dBaseHi = 0x04;
inline constexpr uint64_t kChD2hBaseLo = 0x08;  // RW IOVA of the D2H ring
inline constexpr uint64_t kChD2hBaseHi = 0x0C;
inline constexpr uint64_t kChNelem = 0x10;      // RW slots per ring, 2..256
inline constexpr uint64_t kChEnable = 0x14;     // RW 1: the device serves the channel
inline constexpr uint64_t kChH2dHead = 0x20;    // RO device consumer index
inline constexpr uint64_t kChH2dTail = 0x24;    // WO host producer index: the doorbell
inline constexpr uint64_t kChD2hHead = 0x28;    // WO host consumer index
inline constexpr uint64_t kChD2hTail = 0x2C;    // RO device producer index
inline constexpr uint32_t kChMaxNelem = 256;
// Control channel slots: a request (H2D) up to 64 KiB, upstream's QAIC_MANAGE_EXT_MSG_LENGTH;
// an answer (D2H) up to 4 KiB, QAIC_MANAGE_MAX_MSG_LENGTH, which is all a user's buffer holds.
inline constexpr uint32_t kCtrlReqSlotSize = 65536;
inline constexpr uint32_t kCtrlRspSlotSize = 4096;
// An SSR slot holds a MEMORY_READ_RSP with up to kSsrSlotSize - 16 bytes of crash dump.
inline constexpr uint32_t kSsrSlotSize = 4096;
inline constexpr uint32_t kRasSlotSize = 128; // one RasMsg

// BAR2: per-DBC registers at kDbcRegsBase + id * kDbcRegsStride.
inline constexpr uint64_t kDbcReqHp = 0x00;     // RO request head: next element the device reads
inline constexpr uint64_t kDbcReqTp = 0x04;     // WO request tail: the doorbell
inline constexpr uint64_t kDbcRspHp = 0x08;     // WO response head: host consumed up to here
inline constexpr uint64_t kDbcRspTp = 0x0C;     // RO response tail: next response slot
inline constexpr uint64_t kDbcState = 0x10;     // RO enum DbcState
inline constexpr uint64_t kDbcNelem = 0x14;     // RO queue size set at activation (0 if idle)
inline constexpr uint64_t kDbcLastError = 0x18; // RO last non-zero response status
inline constexpr uint64_t kDbcReset = 0x1C;     // WO kResetMagic: soft reset of this DBC
inline constexpr uint64_t kDbcElemsLo = 0x20;   // RO elements processed since activation
inline constexpr uint64_t kDbcElemsHi = 0x24;
inline constexpr uint64_t kDbcBytesLo = 0x28;   // RO bytes moved since activation
inline constexpr uint64_t kDbcBytesHi = 0x2C;
inline constexpr uint64_t kDbcErrors = 0x30;    // RO elements that failed
inline constexpr uint64_t kDbcResponses = 0x34; // RO responses written
inline constexpr uint64_t kDbcSem0 = 0x40;      // RO semaphore i at kDbcSem0 + 4 * i
inline constexpr unsigned kNumSems = 32;

constexpr uint64_t dbc_reg(unsigned dbc_id, uint64_t reg)
{
    return kDbcRegsBase + dbc_id * kDbcRegsStride + reg;
}

enum DbcState : uint32_t {
    kDbcIdle = 0,
    kDbcAssigned = 1,
    kDbcBeforeShutdown = 2,
    kDbcAfterShutdown = 3,
    kDbcBeforePowerUp = 4,
    kDbcAfterPowerUp = 5,
};

// ---------------------------------------------------------------------------- DBC rings
// The request ring (nelem * 64 bytes) and the response ring (nelem * 4 bytes) share one host
// buffer of queue_buf_size(nelem) bytes: requests at the start, responses at the very end.
struct DbcReq {
    uint16_t req_id;    // echoed in the response
    uint8_t seq_id;     // host's sequence number, informational
    uint8_t cmd;        // kCmd* bits
    uint32_t resv;      // must be zero
    uint64_t src_addr;  // to device: host IOVA; from device: device address
    uint64_t dest_addr; // to device: device address; from device: host IOVA
    uint32_t len;       // bytes to move
    uint32_t resv2;     // must be zero
    uint64_t db_addr;   // device address of the doorbell, aligned to its width
    uint8_t db_len;     // kDb* width code, 0: no doorbell
    uint8_t resv3;      // must be zero
    uint16_t resv4;     // must be zero
    uint32_t db_data;   // value written to db_addr
    uint32_t sem_cmd[4]; // semaphore command words (sem_word())
};
static_assert(sizeof(DbcReq) == 64);

struct DbcRsp {
    uint16_t req_id;
    uint16_t status; // enum RspStatus
};
static_assert(sizeof(DbcRsp) == 4);

inline constexpr uint64_t kDbcQueueGap = 256;
inline constexpr uint64_t kDbcQueueAlign = 4096;
constexpr uint64_t queue_buf_size(uint64_t nelem)
{
    return (nelem * (sizeof(DbcReq) + sizeof(DbcRsp)) + kDbcQueueGap + kDbcQueueAlign - 1) &
           ~(kDbcQueueAlign - 1);
}
// Free request slots for a ring of nelem with the given head and tail (one slot stays empty).
constexpr uint32_t ring_free(uint32_t head, uint32_t tail, uint32_t nelem)
{
    return head > tail ? head - tail - 1 : head - tail - 1 + nelem;
}

// DbcReq.cmd bits.
inline constexpr uint8_t kCmdDirMask = 0x03;
inline constexpr uint8_t kCmdToDevice = 0x01;   // host -> device DDR
inline constexpr uint8_t kCmdFromDevice = 0x02; // device DDR -> host
inline constexpr uint8_t kCmdBulk = 0x08;       // the element moves len bytes
inline constexpr uint8_t kCmdGenCompletion = 0x10; // write a response when done
inline constexpr uint8_t kCmdForceMsi = 0x80;   // raise the DBC's MSI when done
inline constexpr uint8_t kCmdReservedMask = 0x64;

// DbcReq.db_len codes.
inline constexpr uint8_t kDbNone = 0x00;
inline constexpr uint8_t kDb32 = 0x80;
inline constexpr uint8_t kDb16 = 0x81;
inline constexpr uint8_t kDb8 = 0x82;

// Semaphore command word: val 11:0, index 20:16, presync 22, cmd 26:24, flags 30:29, enable 31.
inline constexpr uint32_t kSemValMask = 0xFFF;
inline constexpr unsigned kSemIndexShift = 16;
inline constexpr uint32_t kSemIndexMask = 0x1F;
inline constexpr uint32_t kSemPresync = 1u << 22;
inline constexpr unsigned kSemCmdShift = 24;
inline constexpr uint32_t kSemCmdMask = 0x7;
inline constexpr unsigned kSemFlagsShift = 29;
inline constexpr uint32_t kSemFlagsMask = 0x3;
inline constexpr uint32_t kSemEnable = 1u << 31;
inline constexpr uint32_t kSemReservedMask = 0x0080F000; // bits 15:12 and 23

enum SemCmd : uint32_t {
    kSemNop = 0,
    kSemInit = 1,
    kSemInc = 2,
    kSemDec = 3,
    kSemWaitEqual = 4,
    kSemWaitGtEq = 5,
    kSemWaitGt0 = 6,
};
inline constexpr uint32_t kSemFlagOutSyncFence = 1;
inline constexpr uint32_t kSemFlagInSyncFence = 2;

constexpr uint32_t sem_word(uint32_t val, uint32_t index, bool presync, uint32_t cmd,
                            uint32_t flags)
{
    return (val & kSemValMask) | (index & kSemIndexMask) << kSemIndexShift |
           (presync ? kSemPresync : 0) | (cmd & kSemCmdMask) << kSemCmdShift |
           (flags & kSemFlagsMask) << kSemFlagsShift | (cmd ? kSemEnable : 0);
}

// DbcRsp.status.
enum RspStatus : uint16_t {
    kRspOk = 0,
    kRspMalformed = 1,   // reserved bits, bad direction or db_len, semaphore word
    kRspIommuFault = 2,  // an IOVA outside every mapping
    kRspIommuPerm = 3,   // a mapping without the needed permission
    kRspDdrRange = 4,    // a device address (data or doorbell) outside DDR
    kRspInjected = 5,    // fault injection
};

// ---------------------------------------------------------------------------- firmware
// A control message: WireMsgHdr, then `count` transactions, each WireTransHdr + body, all
// packed. A request fits one kCtrlReqSlotSize slot, an answer one kCtrlRspSlotSize slot.
struct WireMsgHdr {
    uint32_t crc32;           // CRC-32 (IEEE) of the message with this field zero; 0: none
    uint32_t magic;           // kWireMagic
    uint32_t sequence_number; // host's; the response carries the same
    uint32_t len;             // bytes of the message, header included
    uint32_t count;           // transactions
    uint32_t handle;          // the user on whose behalf (resources are tracked per user)
    int32_t partition_id;     // -1: none
    uint32_t padding;         // zero
};
static_assert(sizeof(WireMsgHdr) == 32);
inline constexpr uint32_t kWireMagic = 0x43494151; // "QAIC"

// The message CRC: CRC-32 (IEEE) over the whole message (len bytes) with its crc32 field
// taken as zero.
inline uint32_t wire_crc(const uint8_t *msg, uint32_t len)
{
    static const uint8_t zero[4] = {};
    return kernel::crc32(kernel::crc32(0, zero, 4), msg + 4, len - 4);
}

struct WireTransHdr {
    uint32_t type; // QAIC_TRANS_* (<drm/qaic_accel.h>) or kTransNack
    uint32_t len;  // bytes including this header
};

struct WireAddrSize {
    uint64_t addr; // host IOVA
    uint64_t size;
};

// DMA_XFER_TO_DEV: copy host memory (a list of IOVA runs) into the firmware image `tag`.
// Lists too long for one message continue in DMA_XFER_CONT messages with the same chunk id.
struct WireDmaXfer {
    WireTransHdr hdr;
    uint32_t tag;
    uint32_t count;        // WireAddrSize entries that follow
    uint32_t dma_chunk_id; // non-zero: part of a transfer spread over several messages
    uint32_t flags;        // kDmaXferMore: another message of this chunk id follows
    // WireAddrSize data[count];
};
inline constexpr uint32_t kDmaXferMore = 1;
struct WireDmaXferCont {
    WireTransHdr hdr;
    uint32_t dma_chunk_id;
    uint32_t padding;
    uint64_t xferred_size; // bytes received so far, this message included
};

struct WireActivateToDev {
    WireTransHdr hdr;
    uint64_t req_q_addr;
    uint64_t rsp_q_addr;
    uint32_t req_q_size;
    uint32_t rsp_q_size;
    uint32_t buf_len;
    uint32_t options;
};
struct WireActivateFromDev {
    WireTransHdr hdr;
    uint32_t status;
    uint32_t dbc_id;
    uint64_t options;
};
struct WireDeactivateToDev {
    WireTransHdr hdr;
    uint32_t dbc_id;
    uint32_t padding;
};
struct WireDeactivateFromDev {
    WireTransHdr hdr;
    uint32_t status;
    uint32_t dbc_id;
};
struct WireTerminateToDev {
    WireTransHdr hdr;
    uint32_t handle;
    uint32_t padding;
};
struct WireTerminateFromDev {
    WireTransHdr hdr;
    uint32_t status;
    uint32_t padding;
};
struct WireStatusFromDev {
    WireTransHdr hdr;
    uint16_t major;
    uint16_t minor;
    uint32_t status;
    uint64_t status_flags;
};
inline constexpr uint64_t kStatusFlagCrcRequired = 1;
inline constexpr uint16_t kFwMajor = 5;
inline constexpr uint16_t kFwMinor = 0;

// The firmware refuses a message or a transaction: the response is one NACK transaction.
inline constexpr uint32_t kTransNack = 0x80;
struct WireNack {
    WireTransHdr hdr;
    uint32_t status;  // enum FwStatus
    uint32_t trans_index; // which transaction of the request (UINT32_MAX: the message)
};

// Firmware status codes (NACKs and *_FROM_DEV status fields).
enum FwStatus : uint32_t {
    kFwOk = 0,
    kFwBadCrc = 1,
    kFwBadMagic = 2,
    kFwBadLength = 3,
    kFwBadSequence = 4,
    kFwBadTransaction = 5,
    kFwNoResources = 6,
    kFwNotOwner = 7,
    kFwDmaFault = 8,
    kFwBadCommand = 9,
    kFwInjected = 10,
    kFwBadProgram = 11,
};

// PASSTHROUGH_TO_DEV payload: firmware commands of our design, one per transaction.
struct FwCmdHdr {
    uint32_t opcode; // enum FwOpcode
    uint32_t arg_len; // bytes of arguments after this header
};
// Their opcodes start at kFwOpBase: a payload whose first word is below it is an NNC request
// (aic100_nnc.h), whose command types are all below 50.
inline constexpr uint32_t kFwOpBase = 0x10000;
enum FwOpcode : uint32_t {
    kFwOpImageInfo = kFwOpBase + 1,   // args: tag -> answer: size:u64, crc32:u32
    kFwOpImageToDdr = kFwOpBase + 2,  // args: tag, dev_addr:u64 -> copy the image into DDR
    kFwOpImageDrop = kFwOpBase + 3,   // args: tag
    kFwOpLoadProgram = kFwOpBase + 4, // args: tag, dbc_id -> bind the image as the DBC's NSP program
};

// SSR channel messages (D2H events, H2D acknowledgements), one per slot.
// Upstream's qts_host_time_sync_msg_data, little-endian: signature 0x55aa, msg_type 1
// (QAIC_TS_SYNC_REQ), then the offset of host UTC from the device's QTimer time.
inline constexpr uint16_t kTsSignature = 0x55aa;
inline constexpr uint8_t kTsSyncReq = 1;
struct TimesyncMsg {
    uint16_t signature;
    uint16_t reserved1;
    uint8_t reserved2;
    uint8_t msg_type;
    uint16_t reserved3;
    uint64_t tv_sec;
    uint64_t tv_usec;
};
static_assert(sizeof(TimesyncMsg) == 24);

enum SsrCmd : uint32_t { kSsrEvent = 0x100, kSsrEventRsp = 0x200 };
enum SsrEvent : uint32_t {
    kSsrNack = 1,
    kSsrBeforeShutdown = 2,
    kSsrAfterShutdown = 3,
    kSsrBeforePowerUp = 4,
    kSsrAfterPowerUp = 5,
};
struct SsrEventMsg {
    uint32_t cmd; // kSsrEvent
    uint32_t dbc_id;
    uint32_t event;
};
struct SsrEventRsp {
    uint32_t cmd; // kSsrEventRsp
    uint32_t dbc_id;
    uint32_t event; // the event acknowledged, or kSsrNack
};

// Crash dump transfer on the SSR channel (upstream qaic_ssr.c's commands and layouts): in
// BEFORE_POWER_UP the device offers the crashed subsystem's dump (DEBUG_TRANSFER_INFO), the
// host answers ready or not (..._RSP), reads the dump's table and then each region it lists
// (MEMORY_READ, one chunk per request), and ends with DEBUG_TRANSFER_DONE; the device's
// DONE_RSP says whether the dump is good. These messages start with SsrDumpHdr (cmd, len:
// the message's bytes, dbc_id), unlike the events above.
enum SsrDumpCmd : uint32_t {
    kSsrDebugTransferInfo = 0x01,
    kSsrDebugTransferInfoRsp = 0x02,
    kSsrMemoryRead = 0x04,
    kSsrMemoryReadRsp = 0x08,
    kSsrDebugTransferDone = 0x10,
    kSsrDebugTransferDoneRsp = 0x20,
};
struct SsrDumpHdr {
    uint32_t cmd;
    uint32_t len;
    uint32_t dbc_id;
};
struct SsrDebugTransferInfo { // D2H
    SsrDumpHdr hdr;
    uint32_t resv;
    uint64_t tbl_addr; // device address of the table (SsrDumpTableEntry[])
    uint64_t tbl_len;  // bytes: a non-zero multiple of sizeof(SsrDumpTableEntry)
};
static_assert(sizeof(SsrDebugTransferInfo) == 32);
struct SsrDebugTransferInfoRsp { // H2D
    SsrDumpHdr hdr;
    uint32_t ret; // 0: ready to download, 1: not
};
struct SsrMemoryRead { // H2D
    SsrDumpHdr hdr;
    uint32_t resv;
    uint64_t addr; // device address
    uint64_t len;  // bytes wanted, at most kSsrMemReadChunk
};
static_assert(sizeof(SsrMemoryRead) == 32);
struct SsrMemoryReadRsp { // D2H: hdr.len = 16 + the data's bytes
    SsrDumpHdr hdr;
    uint32_t resv;
    // uint8_t data[];
};
static_assert(sizeof(SsrMemoryReadRsp) == 16);
inline constexpr uint32_t kSsrMemReadChunk = kSsrSlotSize - sizeof(SsrMemoryReadRsp);
struct SsrDebugTransferDone { // H2D
    SsrDumpHdr hdr;
    uint32_t resv;
};
struct SsrDebugTransferDoneRsp { // D2H
    SsrDumpHdr hdr;
    uint32_t ret; // 0: the dump is good, else discard it
};
// One region of the dump (upstream debug_info_table).
struct SsrDumpTableEntry {
    uint64_t save_perf; // save preference
    uint64_t mem_base;  // device address
    uint64_t len;       // bytes, non-zero
    char desc[20];
    char filename[20];
};
static_assert(sizeof(SsrDumpTableEntry) == 64);
// The crash dump file the host makes of it (upstream's dump_file_meta), followed by the
// table as received and then every region in table order.
struct SsrDumpFileMeta {
    uint64_t magic;   // kSsrDumpMagic
    uint64_t version; // kSsrDumpVersion
    uint64_t size;    // bytes of the whole file
    uint64_t tbl_len; // bytes of the table after this header
};
static_assert(sizeof(SsrDumpFileMeta) == 32);
inline constexpr uint64_t kSsrDumpMagic = 0x1234567890abcdefull;
inline constexpr uint64_t kSsrDumpVersion = 1;

// ---------------------------------------------------------------------------- RAS
// The RAS channel's D2H messages (upstream qaic_ras.c, MHI channel QAIC_STATUS): the device
// pushes one per error it detects.
inline constexpr uint16_t kRasMagic = 0x55AA;
inline constexpr uint16_t kRasVersion = 2; // versions 1..2 are understood
inline constexpr uint32_t kRasHdrSize = 12;
enum RasMsgType : uint8_t { kRasPush = 0, kRasReq = 1, kRasResp = 2 };
enum RasErrType : uint32_t { kRasCe = 0, kRasUe = 1, kRasUeNonFatal = 2, kRasErrTypeMax = 3 };
enum RasSource : uint32_t {
    kRasSocMem = 0,
    kRasPcie = 1,
    kRasDdr = 2,
    kRasSysBus1 = 3,
    kRasSysBus2 = 4,
    kRasNspMem = 5,
    kRasTsens = 6,
    kRasSourceMax = 7,
};
struct RasMsg {
    uint16_t magic;   // kRasMagic
    uint16_t ver;     // 1..kRasVersion
    uint32_t seq_num;
    uint8_t type;     // kRasPush
    uint8_t id;
    uint16_t len;     // bytes after the 12-byte header: sizeof(RasMsg) - kRasHdrSize
    int32_t result;
    uint32_t source;  // enum RasSource
    uint32_t err_type; // enum RasErrType
    uint32_t err_threshold;
    uint32_t ce_count;
    uint32_t ue_count;
    uint32_t intr_num;
    uint8_t syndrome[64]; // per source (docs/device-model.md, "RAS")
};
static_assert(sizeof(RasMsg) == 104);
// Syndrome fields the host decodes (byte offsets in RasMsg::syndrome): SoC memory: u64
// error addresses at 0; PCIe: u32 counters at 0 (CE: bad TLP, bad DLLP, replay rollover,
// replay timeout, receive error, internal CE; UE non-fatal at 24: FC timeout, poisoned TLP,
// ECRC, unsupported request, completer abort, completion timeout), UE: u32 addr at 48, u8
// index at 52, u8 flag at 53 (bit 0 power break); DDR: u32 count at 0, u32 irq_status at 4,
// u32 addr_lsb at 40, u16 addr_msb at 44, u16 instance at 48; system bus 1: u32 slave at 0,
// u32 err_type at 4, u8 instance at 24; system bus 2: u8 error_code at 32, u8 instance at 35;
// NSP memory: u32 error addresses at 0, u8 nsp_id at 32; temperature: u32 threshold_type at 0
// (0 lower, 1 upper, 2 critical), s32 temp (deg C) at 4.
inline constexpr uint32_t kRasTsensLevels = 3;

} // namespace aic100
