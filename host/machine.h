// SPDX-License-Identifier: GPL-2.0-only
// A machine: simulated AIC100 cards on a bus, each with the qaic driver bound to it, as the
// platform (PCI core, firmware loader, hotplug) would assemble it. Both hosts of the kernel
// side use it: libqaic's embedded backend (one card in the client's process) and qaicd (N
// cards shared by many processes). This is the one place that sees both drivers/ and hw/.
#pragma once

#include "drivers/accel/accel.h"
#include "drivers/accel/qaic/qaic_params.h"
#include "kernel/result.h"
#include "kernel/uaccess.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct qaic_sim_dbc_status;
struct qaic_sim_ras_counts;
namespace aic100 {
class Card;
}


namespace host {

struct CardOptions {
    uint64_t ddr_size = 0;  // bytes of device DDR; 0: the Kconfig default
    uint64_t bo_memory = 0; // bytes of host memory for its driver's BOs; 0: the Kconfig default
    // The driver's parameters, as a module's are given when it loads (checked: see
    // qaic::Params::parse): module-wide ones (debug) are set once, when the machine is made,
    // the others on each card's driver as it is probed, before it brings the card up.
    std::vector<qaic::ParamSetting> params;
    // Card i's profile as its PCI device id (include/hw/aic100_pci.h): devices[i], the last
    // entry for cards past the list, an AIC100 when it is empty.
    std::vector<uint16_t> devices;
};

// What a host reports about one card and its driver (the daemon's stats request, leak checks).
struct CardStats {
    int minor = -1;         // -1: not probed yet, or removed
    uint32_t dbcs_in_use = 0;
    uint64_t dbcs_in_use_mask = 0; // bit i: DBC i is activated for a user (the first 64)
    uint64_t bo_bytes = 0;  // host memory of BOs and bounce buffers in use
    bool recovering = false; // a reset's recovery is queued or under way
    bool online = false;     // the driver serves the card (read after recovering: a recovery
                             // that gave the card up has ended when this says so)
    uint32_t lost_rings = 0; // rings kept for the card until it is reset (QaicDevice::lost_rings)
};

class Machine {
public:
    Machine(unsigned cards, CardOptions opts);
    ~Machine();
    Machine(const Machine &) = delete;
    Machine &operator=(const Machine &) = delete;

    // The embedded host's machine: one card, options from the environment
    // (QAIC_SIM_DDR_MB, QAIC_SIM_BO_MEMORY_MB, QAIC_PARAMS="debug=0x1,...",
    // QAIC_SIM_PROFILE=aic100|aic080|aic200), made on first use and taken down at exit. A
    // QAIC_PARAMS that does not parse, or a profile of no such name, is ignored, with a warning.
    static Machine &embedded();

    unsigned cards() const { return unsigned(slots_.size()); }

    // Opens the card's device file; the card is powered on and the driver probed on first
    // use. -ENODEV for a removed card or a card out of range, -ENOMEM.
    kernel::ErrorOr<kernel::RefPtr<accel::File>> open(unsigned card);

    // qaic_sim.h's test control, as negative errnos: -ENODEV before the first open or after a
    // removal, -EINVAL for bad arguments, -EOPNOTSUPP without CONFIG_QAIC_FAULT_INJECTION.
    int inject(unsigned card, unsigned fault, unsigned arg0, unsigned arg1);
    int dbc_status(unsigned card, unsigned dbc, struct qaic_sim_dbc_status *st);
    int num_dbc(unsigned card);
    // The card's PCI ids, vendor << 16 | device (qaic_sim_pci_id): its profile's, known
    // without powering the card on. -ENODEV for a card out of range.
    int pci_id(unsigned card);
    // The card's RAS counters (qaic::QaicDevice::ras_counts: sysfs ce_count, ue_count,
    // ue_nonfatal_count). -ENODEV as above.
    int ras_counts(unsigned card, struct qaic_sim_ras_counts *counts);
    // The card's crash dump (the devcoredump of its last subsystem restart), read once:
    // with a null buf and len 0 its size, the dump kept; else copied to buf in the current
    // user mm (kernel::copy_to_user) and freed, returning its size. -ENOENT: no dump;
    // -ENOSPC: len is less than its size (kept); -EFAULT: buf unwritable (kept); -ENODEV.
    int64_t read_coredump(unsigned card, kernel::UserPtr<void> buf, uint64_t len);
    // A fresh card after a removal (0 when the card was not removed).
    int replug(unsigned card);
    // A module-wide parameter (debug) needs no card: it is set whatever the card's state.
    int set_param(unsigned card, const char *name, unsigned value);
    CardStats stats(unsigned card);

    // The driver's files of the card as tools read them (QaicDevice::read_attr: sysfs,
    // debugfs, module parameters), made afresh at each read; path "" gives the index, one
    // "<mode in octal> <path>" line per file. Powers the card on, as open() does. -ENOENT
    // for no such file, -ENODEV for a removed card.
    kernel::ErrorOr<std::string> read_attr(unsigned card, std::string_view path);

    // The card's sysfs view, as udev follows it: on_states gets dbc<N>_state of each DBC now,
    // then on_event every uevent of the card's device from then on (KOBJ_CHANGE with DBC_ID
    // and DBC_STATE, offline and online around a reset), across replugs, until unwatch().
    // Both are called under a leaf lock, on_event by the driver's thread: they must not block
    // or call into the machine. Powers the card on, as open() does. Returns an id for
    // unwatch(); -ENODEV, -ENOMEM.
    using CardEvents = std::function<void(const accel::Uevent &)>;
    kernel::ErrorOr<uint64_t> watch(unsigned card, CardEvents on_event,
                                    const std::function<void(std::span<const int>)> &on_states);
    void unwatch(unsigned card, uint64_t id);

private:
    struct Slot;
    // f(slot, card) under the slot's lock, for a card that is there; -ENODEV otherwise.
    template <typename F> int with_card(unsigned card_nr, F &&f);
    int inject(Slot &s, aic100::Card &card, unsigned fault, unsigned arg0, unsigned arg1);

    std::vector<std::unique_ptr<Slot>> slots_;
    CardOptions opts_;
};

} // namespace host
