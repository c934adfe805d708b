// SPDX-License-Identifier: GPL-2.0-only
#include "hw/aic100/card.h"
#include "hw/aic100/firmware.h"
#include "hw/aic100/nsp.h"
#include "kernel/alloc.h"
#include "kernel/mm.h"

#include <cstring>
#include <sys/mman.h>

namespace aic100 {

Ddr::Ddr(uint64_t size) : base_(nullptr), size_(0)
{
    if (kernel::alloc_should_fail())
        return;
    void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return;
    if (kernel::claim_kernel_range(p, size).is_error()) {
        munmap(p, size);
        return;
    }
    // Huge pages where the system offers them: fewer faults and TLB misses when the engines
    // stream megabytes through DDR. Only a hint; nothing depends on it.
    madvise(p, size, MADV_HUGEPAGE);
    base_ = static_cast<uint8_t *>(p);
    size_ = size;
}

Ddr::~Ddr()
{
    if (!base_)
        return;
    kernel::release_kernel_range(base_);
    munmap(base_, size_);
}

Card::Card(CardConfig cfg)
    : cfg_(cfg),
      profile_(pci_profile(cfg.device) ? pci_profile(cfg.device) : pci_profile(kPciDevAic100)),
      config_space_(pci_config_space(*profile_)), ddr_(cfg.ddr_size),
      msi_drop_(1 + cfg.num_dbc, 0), activity_(cfg.num_dbc)
{
    for (unsigned id = 0; id < cfg.num_dbc; ++id)
        dbcs_.push_back(std::make_unique<Dbc>(*this, id));
    boot_log_.reserve(kBootLogSize); // lines are added without allocating
    nsp_ = std::make_unique<Nsp>(*this);
    fw_ = std::make_unique<Firmware>(*this); // boots the device: BOOT -> ONLINE
}

Card::~Card()
{
    fw_.reset();
    nsp_.reset();
    dbcs_.clear();
}

std::chrono::microseconds Card::idle_poll_budget() const
{
    int64_t now = kernel::Activity::now_ns();
    unsigned active = 0;
    for (const kernel::Activity &a : activity_)
        active += a.recent(now);
    if (!kernel::cpu_to_spare(active, 0))
        return std::chrono::microseconds::zero();
    return std::chrono::microseconds(cfg_.idle_poll_us);
}

void Card::set_msi_sink(MsiSink sink)
{
    std::lock_guard lk(msi_lock_);
    msi_sink_ = std::move(sink);
}

void Card::raise_msi(unsigned vector)
{
    if (gone())
        return;
    MsiSink sink;
    {
        std::lock_guard lk(msi_lock_);
        if (msi_drop_[vector]) {
            --msi_drop_[vector];
            return;
        }
        sink = msi_sink_;
    }
    if (sink)
        sink(msi_mode_.load(std::memory_order_acquire) == kMsiPerVector ? vector : 0);
}

void Card::raise_dbc_msi(unsigned dbc_id)
{
    raise_msi(dbc_msi_vector(dbc_id));
}

void Card::raise_control_msi()
{
    raise_msi(kMsiControl);
}

void Card::doorbell(unsigned dbc_id, uint64_t addr, uint32_t)
{
    nsp_->doorbell(dbc_id, addr);
}

uint32_t Card::config_read(uint64_t off) const
{
    if (off % 4 || off >= kCfgSize)
        return kRegGone;
    return uint32_t(config_space_[off]) | uint32_t(config_space_[off + 1]) << 8 |
           uint32_t(config_space_[off + 2]) << 16 | uint32_t(config_space_[off + 3]) << 24;
}

// The profile decides which BAR holds what: the device registers and channels in dev_bar
// (BAR0, on the AIC200 BAR1), the DBCs in dbc_bar. Everything else reads 0.
uint32_t Card::mmio_read(unsigned bar, uint64_t off)
{
    if (gone() || off % 4)
        return kRegGone;
    if (bar == profile_->dev_bar) {
        if (off >= kCtrlChannel && off < kCtrlChannel + 0x100)
            return fw_->control().read_reg(off - kCtrlChannel);
        if (off >= kSsrChannel && off < kSsrChannel + 0x100)
            return fw_->ssr().read_reg(off - kSsrChannel);
        if (off >= kRasChannel && off < kRasChannel + 0x100)
            return fw_->ras().read_reg(off - kRasChannel);
        if (off >= kBootLogWindow && off < kBootLogWindow + kBootLogSize) {
            std::lock_guard lk(log_lock_);
            uint32_t w = 0;
            uint64_t at = off - kBootLogWindow;
            if (at < boot_log_.size())
                std::memcpy(&w, boot_log_.data() + at, std::min<size_t>(4, boot_log_.size() - at));
            return w;
        }
        switch (off) {
        case kRegDevId: return kDevIdValue;
        case kRegBootLogLen: {
            std::lock_guard lk(log_lock_);
            return uint32_t(boot_log_.size());
        }
        case kRegQtimerLo: return uint32_t(qtimer());
        case kRegQtimerHi: return uint32_t(qtimer() >> 32);
        case kRegDevStatus: return status();
        case kRegNumDbc: return num_dbc();
        case kRegDdrSizeMb: return uint32_t(ddr_.size() >> 20);
        case kRegMsiMode: return msi_mode_;
        case kRegFwVersion: return uint32_t(kFwMajor) << 16 | kFwMinor;
        default: return 0;
        }
    }
    if (bar == profile_->dbc_bar && off >= kDbcRegsBase) {
        uint64_t id = (off - kDbcRegsBase) / kDbcRegsStride;
        if (id < num_dbc())
            return dbcs_[id]->read_reg((off - kDbcRegsBase) % kDbcRegsStride);
    }
    return 0;
}

void Card::mmio_write(unsigned bar, uint64_t off, uint32_t value)
{
    if (gone() || off % 4)
        return;
    if (bar == profile_->dev_bar) {
        if (off >= kCtrlChannel && off < kCtrlChannel + 0x100) {
            if (fw_->control().write_reg(off - kCtrlChannel, value))
                fw_->control_written(off - kCtrlChannel);
        } else if (off >= kSsrChannel && off < kSsrChannel + 0x100) {
            if (fw_->ssr().write_reg(off - kSsrChannel, value))
                fw_->kick();
        } else if (off >= kRasChannel && off < kRasChannel + 0x100) {
            if (fw_->ras().write_reg(off - kRasChannel, value))
                fw_->kick();
        } else if (off >= kTsMailbox && off < kTsMailbox + sizeof(TimesyncMsg)) {
            std::lock_guard lk(log_lock_);
            ts_mailbox_[(off - kTsMailbox) / 4] = value;
        } else if (off == kTsMailbox + kTsDoorbell) {
            std::lock_guard lk(log_lock_);
            take_timesync();
        } else if (off == kRegDevReset && value == kResetMagic) {
            reset();
        } else if (off == kRegMsiMode && value <= kMsiPerVector) {
            msi_mode_.store(value, std::memory_order_release);
        }
        return;
    }
    if (bar == profile_->dbc_bar && off >= kDbcRegsBase) {
        uint64_t id = (off - kDbcRegsBase) / kDbcRegsStride;
        if (id < num_dbc())
            dbcs_[id]->write_reg((off - kDbcRegsBase) % kDbcRegsStride, value);
    }
}

void Card::boot_log(const char *line)
{
    std::lock_guard lk(log_lock_);
    size_t n = std::strlen(line);
    if (boot_log_.size() + n + 1 > kBootLogSize)
        return;
    boot_log_.append(line).push_back('\n'); // within the reserved room
}

void Card::clear_boot_log()
{
    std::lock_guard lk(log_lock_);
    boot_log_.clear();
}

std::string Card::boot_log_text() const
{
    std::lock_guard lk(log_lock_);
    return boot_log_;
}

uint64_t Card::qtimer() const
{
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::steady_clock::now() - powered_on_).count();
    // 19.2 ticks a microsecond (96 / 5): no overflow for millennia of uptime.
    static_assert(kQtimerHz == 19200000);
    return uint64_t(ns) / 1000 * 96 / 5 + uint64_t(ns) % 1000 * 96 / 5000;
}

void Card::take_timesync()
{
    TimesyncMsg m;
    std::memcpy(&m, ts_mailbox_, sizeof(m));
    if (m.signature != kTsSignature || m.msg_type != kTsSyncReq || m.tv_usec >= 1000000) {
        ++ts_.rejected;
        return;
    }
    ++ts_.syncs;
    ts_.offset_us = int64_t(m.tv_sec * 1000000 + m.tv_usec);
    ts_.last = std::chrono::steady_clock::now();
}

TimesyncStatus Card::timesync() const
{
    std::lock_guard lk(log_lock_);
    return ts_;
}

void Card::reset(uint32_t nacks)
{
    status_.store(kDevBoot, std::memory_order_release);
    msi_mode_.store(kMsiShared, std::memory_order_release);
    clear_boot_log(); // the next boot writes its own
    nsp_->reset();
    fw_->reset(nacks); // releases every DBC too
}

void Card::sem_op(unsigned dbc_id, unsigned index, uint32_t cmd, uint32_t val)
{
    if (dbc_id < num_dbc())
        dbcs_[dbc_id]->sem_op(index, cmd, val);
}

uint32_t Card::sem_value(unsigned dbc_id, unsigned index) const
{
    return dbc_id < num_dbc() ? dbcs_[dbc_id]->sem_value(index) : 0;
}

bool Card::ddr_read(uint64_t addr, void *dst, uint64_t len)
{
    if (!ddr_.contains(addr, len))
        return false;
    std::memcpy(dst, ddr_.at(addr), len);
    return true;
}

bool Card::ddr_write(uint64_t addr, const void *src, uint64_t len)
{
    if (!ddr_.contains(addr, len))
        return false;
    std::memcpy(ddr_.at(addr), src, len);
    return true;
}

#ifdef CONFIG_QAIC_FAULT_INJECTION
void Card::drop_msis(unsigned vector, uint32_t count)
{
    std::lock_guard lk(msi_lock_);
    if (vector < msi_drop_.size())
        msi_drop_[vector] = count;
}

void Card::firmware_silent(bool silent)
{
    fw_->set_silent(silent);
}

void Card::firmware_nack(uint32_t count)
{
    fw_->nack_next(count);
}

void Card::reset_on_message(uint32_t nth)
{
    fw_->reset_on_message(nth);
}

void Card::firmware_pad_answers(uint32_t count)
{
    fw_->pad_answers(count);
}

void Card::firmware_misname_deactivate(uint32_t count)
{
    fw_->misname_deactivate(count);
}

void Card::firmware_fail_allocation(unsigned nth)
{
    fw_->fail_allocation(nth);
}

void Card::remove_device()
{
    gone_.store(true, std::memory_order_release);
    for (auto &dbc : dbcs_)
        dbc->kick();
    fw_->kick();
}

void Card::subsystem_restart(unsigned dbc_id)
{
    if (dbc_id < num_dbc())
        fw_->start_ssr(dbc_id);
}

void Card::ras_error(uint32_t source, uint32_t err_type, uint32_t malform)
{
    fw_->raise_ras(source, err_type, malform);
}

void Card::ssr_dump_fault(uint32_t fault, uint32_t nth)
{
    fw_->ssr_dump_fault(fault, nth);
}
#endif

} // namespace aic100
