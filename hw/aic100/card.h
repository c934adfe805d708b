// SPDX-License-Identifier: GPL-2.0-only
// The simulated AIC100 card: BAR registers, DBCs, firmware, device DDR, the IOMMU in front
// of it, MSI delivery, reset, and a test-control API (counters, semaphores, DDR access and,
// with CONFIG_QAIC_FAULT_INJECTION, faults) that is not part of the uAPI.
#pragma once

#include "hw/aic100/dbc.h"
#include "hw/aic100/iommu.h"
#include "include/hw/aic100_pci.h"
#include "include/hw/aic100_regs.h"
#include "kernel/spin.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace aic100 {

class Firmware;
class Nsp;

// What the device made of the host's time sync messages (test control: not uAPI).
struct TimesyncStatus {
    uint64_t syncs = 0;      // messages taken (signature and type right)
    uint64_t rejected = 0;   // messages with a wrong signature or type
    int64_t offset_us = 0;   // host UTC minus QTimer time, as the last message gave it
    std::chrono::steady_clock::time_point last{}; // when the last was taken
};

struct CardConfig {
    unsigned num_dbc = CONFIG_QAIC_SIM_NUM_DBC;
    uint64_t ddr_size = uint64_t(CONFIG_QAIC_SIM_DDR_SIZE_MB) << 20;
    // An engine that runs out of work polls its ring this long before sleeping, when there
    // is a CPU to spare (Card::idle_poll_budget): a sleeping thread takes tens of
    // microseconds to wake.
    unsigned idle_poll_us = 50;
    // After a host thread busy-polls a DBC (Dbc::busy_poll) or the firmware
    // (Firmware::busy_poll), its doorbells leave the engine or the firmware asleep this
    // long: the host thread runs the work itself, and the engine or firmware looks at its
    // ring again at the latest when the period ends.
    unsigned busy_poll_grace_us = 1000;
    // The card profile (include/hw/aic100_pci.h) by PCI device id: its configuration space,
    // which BAR holds what, MSI or MSI-X. An id without a profile is an AIC100.
    uint16_t device = kPciDevAic100;
    // How long the firmware takes to boot (power-on and each reset) before it reports ONLINE.
    unsigned boot_ms = 0;
};

// Device DDR: device addresses [0, size), backed lazily by an anonymous NORESERVE mapping.
// A mapping the host cannot make (address space exhausted, an RLIMIT_AS) leaves the DDR
// unmapped and empty: the platform then refuses to enable the card (SimPciDev), so its
// probe fails with -ENOMEM instead of anything throwing.
class Ddr {
public:
    explicit Ddr(uint64_t size);
    bool mapped() const { return base_ != nullptr; }
    ~Ddr();
    Ddr(const Ddr &) = delete;
    Ddr &operator=(const Ddr &) = delete;
    uint64_t size() const { return size_; }
    bool contains(uint64_t addr, uint64_t len) const
    {
        return addr <= size_ && len <= size_ - addr;
    }
    uint8_t *at(uint64_t addr) { return base_ + addr; }

private:
    uint8_t *base_;
    uint64_t size_;
};

// Test control: how the next crash dump misbehaves (Card::ssr_dump_fault); the values of
// qaic_sim.h's QAIC_SIM_DUMP_*.
enum SsrDumpFault : uint32_t {
    kDumpOk = 0,
    kDumpStall = 1,       // from the nth MEMORY_READ on, the firmware answers nothing
    kDumpOversize = 2,    // the nth read is answered with 8 bytes more than asked
    kDumpEmptyChunk = 3,  // the nth read is answered with no data
    kDumpBadTableLen = 4, // the offer's table length is not a multiple of an entry
    kDumpZeroEntry = 5,   // a table entry of length 0
    kDumpDoneNack = 6,    // DEBUG_TRANSFER_DONE is answered "bad dump"
    kDumpWrongDbc = 7,    // the nth read is answered naming another DBC
    kDumpNone = 8,        // no dump is offered
    kDumpHugeEntry = 9,   // a table entry of 2^62 bytes
    kDumpPowerUpEarly = 10, // at the nth read the firmware gives up and powers up (AFTER_POWER_UP)
    kDumpFaultMax = 11,
};
// Test control: the field a RAS message gets wrong (Card::ras_error); qaic_sim.h's
// QAIC_SIM_RAS_BAD_*.
enum RasMalform : uint32_t {
    kRasWellFormed = 0,
    kRasBadMagic = 1,
    kRasVersionZero = 2,
    kRasVersionNew = 3,
    kRasNotPush = 4,
    kRasBadLen = 5,
    kRasBadErrType = 6,
    kRasBadSource = 7,
    kRasBadThreshold = 8, // a temperature report with a threshold type past "critical"
    kRasMalformMax = 9,
};
// Device memory where the firmware keeps a crash dump for the host to read.
inline constexpr uint64_t kSsrDumpBase = 0x7F0000000000;
inline constexpr uint64_t kSsrDumpDdrBytes = 16384;

class Card {
public:
    explicit Card(CardConfig cfg = {});
    ~Card();
    Card(const Card &) = delete;
    Card &operator=(const Card &) = delete;

    // ---- the bus side
    const PciProfile &profile() const { return *profile_; }
    uint32_t config_read(uint64_t offset) const;
    uint32_t mmio_read(unsigned bar, uint64_t offset);
    void mmio_write(unsigned bar, uint64_t offset, uint32_t value);
    Iommu &iommu() { return iommu_; }
    // Where MSIs go (the platform's interrupt controller). Called on the card's threads.
    using MsiSink = std::function<void(unsigned vector)>;
    void set_msi_sink(MsiSink sink);

    // ---- inside the card
    const CardConfig &config() const { return cfg_; }
    unsigned num_dbc() const { return unsigned(dbcs_.size()); }
    Dbc &dbc(unsigned id) { return *dbcs_[id]; }
    Ddr &ddr() { return ddr_; }
    Nsp &nsp() { return *nsp_; }
    bool gone() const { return gone_.load(std::memory_order_acquire); }
    void raise_dbc_msi(unsigned dbc_id);
    void raise_control_msi();
    // A doorbell write into DDR by a DBC (the NSP watches these).
    void doorbell(unsigned dbc_id, uint64_t addr, uint32_t value);
    // Whether DBC id's engine is busy or was lately; its engine keeps it up to date.
    kernel::Activity &dbc_activity(unsigned id) { return activity_[id]; }
    // How long an engine out of work may poll its ring: 0 unless the recently active DBCs
    // leave a CPU to spare (kernel::cpu_to_spare).
    std::chrono::microseconds idle_poll_budget() const;

    // ---- test control (not uAPI)
    DbcCounters dbc_counters(unsigned id) const { return dbcs_[id]->counters(); }
    // Whether DBC id's engine thread sleeps for want of work.
    bool engine_asleep(unsigned id) const { return dbcs_[id]->engine_asleep(); }
    void sem_op(unsigned dbc_id, unsigned index, uint32_t cmd, uint32_t val);
    uint32_t sem_value(unsigned dbc_id, unsigned index) const;
    bool ddr_read(uint64_t addr, void *dst, uint64_t len);
    bool ddr_write(uint64_t addr, const void *src, uint64_t len);
    // Full device reset with work in flight (also kRegDevReset): every DBC released without
    // responses, channels disabled, firmware state lost, MSIs back to shared; the device
    // reports BOOT, then ONLINE once the firmware is up (with a control MSI). Fault
    // injection: the first nacks control messages after it are refused (firmware_nack),
    // armed in the same step, before the boot: a recovery cannot be quicker than they are.
    void reset(uint32_t nacks = 0);
    uint32_t status() const { return status_.load(std::memory_order_acquire); }
    // The firmware's boot log (kRegBootLogLen, kBootLogWindow): a line added while it boots;
    // a reset starts it afresh. Lines past kBootLogSize are dropped.
    void boot_log(const char *line);
    void clear_boot_log();
    std::string boot_log_text() const;
    uint64_t qtimer() const; // 19.2 MHz ticks since power-on
    TimesyncStatus timesync() const;

#ifdef CONFIG_QAIC_FAULT_INJECTION
    void inject_dma_error(unsigned dbc_id, uint32_t nth) { dbcs_[dbc_id]->inject_error(nth); }
    void hang_engine(unsigned dbc_id) { dbcs_[dbc_id]->hang(); }
    // The next `count` MSIs on `vector` are lost.
    void drop_msis(unsigned vector, uint32_t count);
    // The firmware reads requests but never answers, until turned back on.
    void firmware_silent(bool silent);
    Firmware &firmware() { return *fw_; } // Firmware::serve (fuzzing), busy_poll, asleep
    // The next `count` control messages are refused with a NACK (kFwInjected).
    void firmware_nack(uint32_t count);
    // The device resets (reset()) when the firmware receives the nth control message from
    // now, instead of answering it: a reset that hits a host in the middle of a message.
    void reset_on_message(uint32_t nth);
    // A misbehaving firmware: every response carries `count` more STATUS answers than asked
    // for (as many as fit the slot), until set to 0.
    void firmware_pad_answers(uint32_t count);
    // A misbehaving firmware: the next `count` DEACTIVATE answers name the DBC after the one
    // it deactivated.
    void firmware_misname_deactivate(uint32_t count);
    // Out of memory in the firmware: the nth allocation it makes while it serves the next
    // control message fails (Firmware::fail_allocation).
    void firmware_fail_allocation(unsigned nth);
    // Surprise removal: registers read all ones, engines and firmware stop, no MSIs.
    void remove_device();
    // Subsystem restart of one DBC: 2 -> 3 -> 4 -> 5 -> IDLE with SSR events the host acks.
    void subsystem_restart(unsigned dbc_id);
    // A detected error of source and err_type (RasSource, RasErrType): its RAS message goes
    // to the host; malform != kRasWellFormed spoils one field of it.
    void ras_error(uint32_t source, uint32_t err_type, uint32_t malform = kRasWellFormed);
    // The crash dump of the next subsystem restart misbehaves so (SsrDumpFault).
    void ssr_dump_fault(uint32_t fault, uint32_t nth);
#endif

private:
    friend class Firmware;
    void raise_msi(unsigned vector);

    CardConfig cfg_;
    const PciProfile *profile_;
    std::array<uint8_t, kCfgSize> config_space_;
    Ddr ddr_;
    Iommu iommu_;
    std::atomic<uint32_t> status_{kDevBoot};
    std::atomic<uint32_t> msi_mode_{kMsiShared};
    std::atomic<bool> gone_{false};
    std::mutex msi_lock_;
    MsiSink msi_sink_;
    std::vector<uint32_t> msi_drop_;
    // Before dbcs_: engines read every DBC's activity while DBCs are still being created or
    // destroyed.
    std::vector<kernel::Activity> activity_;
    std::vector<std::unique_ptr<Dbc>> dbcs_;
    mutable std::mutex log_lock_; // a leaf
    std::string boot_log_;
    uint32_t ts_mailbox_[sizeof(TimesyncMsg) / 4] = {};
    TimesyncStatus ts_;
    const std::chrono::steady_clock::time_point powered_on_ = std::chrono::steady_clock::now();
    void take_timesync(); // under log_lock_
    std::unique_ptr<Nsp> nsp_;
    std::unique_ptr<Firmware> fw_;
};

} // namespace aic100
