// SPDX-License-Identifier: GPL-2.0-only
// The machine's cards and their driver instances (see machine.h).
#include "host/machine.h"

#include "drivers/accel/qaic/qaic.h"
#include "hw/aic100/sim_pci.h"
#include "include/hw/aic100_pci.h"
#include "kernel/alloc.h"
#include "kernel/printk.h"
#include "qaic/qaic_sim.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

namespace host {

// qaic_sim.h's codes are the card's test-control values.
static_assert(unsigned(QAIC_SIM_DUMP_POWER_UP_EARLY) == aic100::kDumpPowerUpEarly &&
              unsigned(QAIC_SIM_RAS_BAD_THRESHOLD) == aic100::kRasBadThreshold &&
              unsigned(QAIC_SIM_RAS_SRC_TSENS) == aic100::kRasTsens &&
              unsigned(QAIC_SIM_RAS_UE_NONFATAL) == aic100::kRasUeNonFatal);

// One card slot: the card, the driver bound to it, and the cards removed from it. A removed
// card is kept until the machine goes: files still open on its device may hold driver objects
// that once pointed at it.
struct Machine::Slot {
    uint16_t device = aic100::kPciDevAic100; // the card's profile
    std::mutex lock;
    bool removed = false;
    std::unique_ptr<aic100::SimPciDev> pci;
    std::vector<std::unique_ptr<aic100::SimPciDev>> removed_cards;
    kernel::RefPtr<qaic::QaicDevice> qdev;
    // Watchers of the card's uevents; a leaf lock, taken by the driver's threads.
    std::mutex watch_lock;
    std::map<uint64_t, CardEvents> watchers;
    uint64_t next_watcher = 1;

    void uevent(const accel::Uevent &ev)
    {
        std::lock_guard l(watch_lock);
        for (auto &[id, w] : watchers)
            w(ev);
    }

    // Powers the card on and probes the driver on first use. Caller holds lock.
    kernel::ErrorOr<void> bring_up(const CardOptions &opts)
    {
        if (removed)
            return kernel::Error(-ENODEV);
        if (qdev)
            return {};
        aic100::CardConfig cfg;
        if (opts.ddr_size)
            cfg.ddr_size = opts.ddr_size;
        cfg.device = device;
        // The PCI core's call of probe: whatever it throws (probe undoes what it set up) is
        // an errno here, as a probe's failure is to the kernel's.
        try {
            auto dev = std::make_unique<aic100::SimPciDev>(cfg);
            qdev = TRY(qaic::probe(*dev, opts.bo_memory,
                                   [this](const accel::Uevent &ev) { uevent(ev); }, opts.params));
            pci = std::move(dev);
        } catch (...) {
            return kernel::Error(kernel::errno_of_exception("probe"));
        }
        return {};
    }

    // The card as test control may touch it, or null (caller holds lock).
    aic100::Card *card() { return pci && !removed ? &pci->card() : nullptr; }
};

Machine::Machine(unsigned cards, CardOptions opts) : opts_(std::move(opts))
{
    for (const qaic::ParamSetting &p : opts_.params)
        (void)qaic::Params::set_module(p.name.c_str(), p.value); // -ENOENT: a card's own
    for (unsigned i = 0; i < cards; ++i) {
        slots_.push_back(std::make_unique<Slot>());
        if (!opts_.devices.empty())
            slots_.back()->device = opts_.devices[std::min<size_t>(i, opts_.devices.size() - 1)];
    }
}

// Drivers first, then the cards: after remove() a driver no longer touches its bus.
Machine::~Machine()
{
    for (auto &s : slots_) {
        if (s->qdev && !s->removed)
            qaic::remove(*s->qdev);
        s->qdev = nullptr;
        s->pci.reset();
    }
}

Machine &Machine::embedded()
{
    // MiB from the environment; a value that is not a number of MiB is ignored.
    auto mib = [](const char *name) -> uint64_t {
        const char *mb = std::getenv(name);
        if (!mb || !*mb)
            return 0;
        char *end = nullptr;
        unsigned long long v = std::strtoull(mb, &end, 0);
        return end && !*end && v > 0 && v < (1ull << 24) ? v << 20 : 0;
    };
    auto params = [] {
        std::vector<qaic::ParamSetting> out;
        const char *text = std::getenv("QAIC_PARAMS");
        if (!text)
            return out;
        auto parsed = qaic::Params::parse(text);
        if (parsed.is_error())
            pr_warn("QAIC_PARAMS=\"%s\" is not name=value,... of known parameters in range: "
                    "ignored",
                    text);
        else
            out = parsed.release_value();
        return out;
    };
    auto devices = [] {
        std::vector<uint16_t> out;
        const char *name = std::getenv("QAIC_SIM_PROFILE");
        if (!name || !*name)
            return out;
        if (const aic100::PciProfile *p = aic100::pci_profile(std::string_view(name)))
            out.push_back(p->device);
        else
            pr_warn("QAIC_SIM_PROFILE=\"%s\" is none of aic100, aic080, aic200: ignored", name);
        return out;
    };
    static Machine machine(1, CardOptions{mib("QAIC_SIM_DDR_MB"), mib("QAIC_SIM_BO_MEMORY_MB"),
                                          params(), devices()});
    return machine;
}

kernel::ErrorOr<kernel::RefPtr<accel::File>> Machine::open(unsigned card)
{
    if (card >= slots_.size())
        return kernel::Error(-ENODEV);
    Slot &s = *slots_[card];
    int minor;
    {
        std::lock_guard lock(s.lock);
        TRY(s.bring_up(opts_));
        minor = s.qdev->minor();
    }
    return accel::open_minor(minor);
}

template <typename F> int Machine::with_card(unsigned card_nr, F &&f)
{
    if (card_nr >= slots_.size())
        return -ENODEV;
    Slot &s = *slots_[card_nr];
    std::lock_guard lock(s.lock);
    aic100::Card *card = s.card();
    return card ? f(s, *card) : -ENODEV;
}

int Machine::inject(unsigned card_nr, unsigned fault, unsigned arg0, unsigned arg1)
{
    return with_card(card_nr, [&](Slot &s, aic100::Card &c) { return inject(s, c, fault, arg0, arg1); });
}

int Machine::inject(Slot &s, aic100::Card &c, unsigned fault, unsigned arg0, unsigned arg1)
{
    aic100::Card *card = &c;
    bool dbc_ok = arg0 < card->num_dbc();
    switch (fault) {
    case QAIC_SIM_RESET:
#ifdef CONFIG_QAIC_FAULT_INJECTION
        // In the same step: the NACKs meet the first messages after the reset (the
        // recovery's), however quick the recovery and however long the caller takes to ask.
        card->reset(arg0);
#else
        if (arg0)
            return -EOPNOTSUPP;
        card->reset();
#endif
        return 0;
#ifdef CONFIG_QAIC_FAULT_INJECTION
    case QAIC_SIM_DMA_ERROR:
        if (!dbc_ok || arg1 == 0)
            return -EINVAL;
        card->inject_dma_error(arg0, arg1);
        return 0;
    case QAIC_SIM_HANG:
        if (!dbc_ok)
            return -EINVAL;
        card->hang_engine(arg0);
        return 0;
    case QAIC_SIM_DROP_MSI:
        if (arg0 > card->num_dbc())
            return -EINVAL;
        card->drop_msis(arg0, arg1);
        return 0;
    case QAIC_SIM_FW_SILENT:
        card->firmware_silent(arg0 != 0);
        return 0;
    case QAIC_SIM_FW_NACK:
        card->firmware_nack(arg0);
        return 0;
    case QAIC_SIM_RESET_ON_MESSAGE:
        if (arg0 == 0)
            return -EINVAL;
        card->reset_on_message(arg0);
        return 0;
    case QAIC_SIM_FW_PAD:
        card->firmware_pad_answers(arg0);
        return 0;
    case QAIC_SIM_FW_MISNAME:
        card->firmware_misname_deactivate(arg0);
        return 0;
    case QAIC_SIM_FW_FAIL_ALLOC:
        if (arg0 == 0)
            return -EINVAL;
        card->firmware_fail_allocation(arg0);
        return 0;
    case QAIC_SIM_SSR:
        if (!dbc_ok)
            return -EINVAL;
        card->subsystem_restart(arg0);
        return 0;
    case QAIC_SIM_RAS:
        // arg0: source | err_type << 8; arg1: the field spoilt. Out of range: -EINVAL (a bad
        // source or type is what arg1 is for).
        if ((arg0 & 0xFF) >= aic100::kRasSourceMax || (arg0 >> 8) >= aic100::kRasErrTypeMax ||
            arg1 >= aic100::kRasMalformMax)
            return -EINVAL;
        card->ras_error(arg0 & 0xFF, arg0 >> 8, arg1);
        return 0;
    case QAIC_SIM_DUMP_FAULT:
        if (arg0 >= aic100::kDumpFaultMax)
            return -EINVAL;
        card->ssr_dump_fault(arg0, arg1);
        return 0;
    case QAIC_SIM_REMOVE:
        // Surprise removal: the card vanishes, then the PCI core removes the driver.
        card->remove_device();
        qaic::remove(*s.qdev);
        s.removed = true;
        return 0;
#else
    case QAIC_SIM_DMA_ERROR:
    case QAIC_SIM_HANG:
    case QAIC_SIM_DROP_MSI:
    case QAIC_SIM_FW_SILENT:
    case QAIC_SIM_FW_NACK:
    case QAIC_SIM_RESET_ON_MESSAGE:
    case QAIC_SIM_FW_PAD:
    case QAIC_SIM_FW_MISNAME:
    case QAIC_SIM_FW_FAIL_ALLOC:
    case QAIC_SIM_SSR:
    case QAIC_SIM_RAS:
    case QAIC_SIM_DUMP_FAULT:
    case QAIC_SIM_REMOVE:
        (void)dbc_ok;
        (void)arg1;
        return -EOPNOTSUPP;
#endif
    default:
        return -EINVAL;
    }
}

int Machine::dbc_status(unsigned card_nr, unsigned dbc, struct qaic_sim_dbc_status *st)
{
    return with_card(card_nr, [&](Slot &, aic100::Card &card) {
        if (dbc >= card.num_dbc())
            return -EINVAL;
        aic100::DbcCounters c = card.dbc_counters(dbc);
        *st = {c.state,      c.nelem,    c.queue_level, c.errors,          c.responses,
               c.last_error, c.elements, c.bytes,       c.polled_elements, c.deferred_doorbells};
        return 0;
    });
}

int Machine::pci_id(unsigned card_nr)
{
    if (card_nr >= slots_.size())
        return -ENODEV;
    const aic100::PciProfile *p = aic100::pci_profile(slots_[card_nr]->device);
    return int(uint32_t(aic100::kPciVendorQcom) << 16 | (p ? p->device : aic100::kPciDevAic100));
}

int Machine::num_dbc(unsigned card_nr)
{
    return with_card(card_nr, [](Slot &, aic100::Card &card) { return int(card.num_dbc()); });
}

int Machine::ras_counts(unsigned card_nr, struct qaic_sim_ras_counts *counts)
{
    return with_card(card_nr, [&](Slot &s, aic100::Card &) {
        qaic::RasCounts c = s.qdev->ras_counts();
        *counts = {c.ce, c.ue, c.ue_nonfatal};
        return 0;
    });
}

int64_t Machine::read_coredump(unsigned card_nr, kernel::UserPtr<void> buf, uint64_t len)
{
    int64_t ret = -ENODEV;
    with_card(card_nr, [&](Slot &s, aic100::Card &) {
        auto info = s.qdev->coredump();
        if (info.is_error()) {
            ret = info.code();
        } else if (buf.is_null() && len == 0) {
            ret = int64_t(info.value().size);
        } else if (len < info.value().size) {
            ret = -ENOSPC;
        } else {
            auto data = s.qdev->coredump_take();
            if (data.is_error()) {
                ret = data.code(); // read by someone else meanwhile
                return 0;
            }
            std::vector<uint8_t> &d = data.value();
            ret = int64_t(d.size());
            if (auto r = kernel::copy_to_user(buf, d.data(), d.size()); r.is_error()) {
                ret = r.code();
                (void)kernel::devcoredumps().add(s.qdev.get(), std::move(d)); // kept
            }
        }
        return 0;
    });
    return ret;
}

int Machine::replug(unsigned card_nr)
{
    if (card_nr >= slots_.size())
        return -ENODEV;
    Slot &s = *slots_[card_nr];
    std::lock_guard lock(s.lock);
    if (!s.removed)
        return 0;
    s.removed = false;
    s.qdev = nullptr;
    s.removed_cards.push_back(std::move(s.pci));
    return 0;
}

int Machine::set_param(unsigned card_nr, const char *name, unsigned value)
{
    if (int ret = qaic::Params::set_module(name, value).code(); ret != -ENOENT)
        return ret;
    if (card_nr >= slots_.size())
        return -ENODEV;
    Slot &s = *slots_[card_nr];
    std::lock_guard lock(s.lock);
    if (!s.qdev || s.removed)
        return -ENODEV;
    return s.qdev->params.set(name, value).code();
}

kernel::ErrorOr<std::string> Machine::read_attr(unsigned card_nr, std::string_view path)
{
    if (card_nr >= slots_.size())
        return kernel::Error(-ENODEV);
    Slot &s = *slots_[card_nr];
    kernel::RefPtr<qaic::QaicDevice> qdev;
    {
        std::lock_guard lock(s.lock);
        TRY(s.bring_up(opts_));
        qdev = s.qdev;
    }
    // Outside the slot's lock: a show function may wait for a DBC's lock, which a caller
    // of the driver holds while it calls into the card.
    if (!path.empty())
        return qdev->read_attr(path);
    std::string index;
    for (const auto &f : TRY(qdev->attr_files())) {
        char mode[8];
        std::snprintf(mode, sizeof(mode), "%04o ", f.mode);
        TRY(kernel::try_alloc([&] { index.append(mode).append(f.path).push_back('\n'); }));
    }
    return index;
}

CardStats Machine::stats(unsigned card_nr)
{
    CardStats st;
    if (card_nr >= slots_.size())
        return st;
    Slot &s = *slots_[card_nr];
    std::lock_guard lock(s.lock);
    if (!s.qdev || s.removed)
        return st;
    st.minor = s.qdev->minor();
    s.qdev->reap_dma_bufs(); // a dma-buf whose last fd closed holds nothing any more
    st.bo_bytes = s.qdev->pool->size() - s.qdev->pool->free_bytes();
    st.recovering = s.qdev->resetting || s.qdev->recovering;
    st.online = s.qdev->online;
    st.lost_rings = uint32_t(s.qdev->lost_rings.with([](auto &v) { return v.size(); }));
    for (size_t i = 0; i < s.qdev->dbcs.size(); ++i) {
        bool in_use = s.qdev->dbcs[i]->state.lock()->in_use;
        st.dbcs_in_use += in_use;
        if (in_use && i < 64)
            st.dbcs_in_use_mask |= uint64_t(1) << i;
    }
    return st;
}

kernel::ErrorOr<uint64_t> Machine::watch(unsigned card, CardEvents on_event,
                                         const std::function<void(std::span<const int>)> &on_states)
{
    if (card >= slots_.size())
        return kernel::Error(-ENODEV);
    Slot &s = *slots_[card];
    std::lock_guard lock(s.lock);
    TRY(s.bring_up(opts_));
    std::vector<int> states;
    TRY(kernel::try_alloc([&] { states.resize(s.qdev->dbcs.size()); }));
    std::lock_guard w(s.watch_lock);
    // Read under the watch lock: a change the driver makes meanwhile reaches this watcher as
    // an event after these states (or as a repeat of one of them).
    for (size_t i = 0; i < states.size(); ++i)
        states[i] = s.qdev->dbcs[i]->sysfs_state.load(std::memory_order_relaxed);
    uint64_t id = s.next_watcher;
    TRY(kernel::try_alloc([&] { s.watchers.emplace(id, std::move(on_event)); }));
    ++s.next_watcher;
    on_states(states);
    return id;
}

void Machine::unwatch(unsigned card, uint64_t id)
{
    if (card >= slots_.size())
        return;
    Slot &s = *slots_[card];
    CardEvents gone; // destroyed after the lock
    std::lock_guard w(s.watch_lock);
    if (auto it = s.watchers.find(id); it != s.watchers.end()) {
        gone = std::move(it->second);
        s.watchers.erase(it);
    }
}

} // namespace host
