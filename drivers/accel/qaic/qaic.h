// SPDX-License-Identifier: GPL-2.0-only
// The qaic driver: the device, its DBCs, users, buffer objects and control channel, shared by
// qaic_drv.cc (glue, probe), qaic_bo.cc (BOs, slicing), qaic_control.cc (MANAGE and the
// control channel).
#pragma once

#include "drivers/accel/accel.h"
#include "drivers/accel/qaic/page_pool.h"
#include "drivers/accel/qaic/qaic_params.h"
#include "drivers/accel/qaic/qaic_sched.h"
#include "drivers/accel/qaic/qaic_slice.h"
#include "include/hw/aic100_regs.h"
#include "kernel/devcoredump.h"
#include "kernel/devres.h"
#include "kernel/idr.h"
#include "kernel/locked.h"
#include "kernel/pci.h"
#include "kernel/spin.h"
#include "kernel/wait.h"
#include "kernel/workqueue.h"

#include <atomic>
#include <drm/qaic_accel.h>
#include <list>
#include <map>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace qaic {

using kernel::Error;
using kernel::ErrorOr;
using kernel::RefPtr;

inline constexpr const char *kDriverName = "qaic";
inline constexpr const char *kDriverDesc = "Qualcomm Cloud AI Accelerators";

class QaicDevice;
struct QaicUser;

// ---------------------------------------------------------------------------- buffer objects

// One slice of a BO as attached: the user's entry and its encoded request elements.
struct Slice {
    qaic_attach_slice_entry entry;
    std::vector<aic100::DbcReq> reqs;
};

// A BO's slicing (ATTACH_SLICE_BO) and its executions: under the BO's lock, reached through
// Bo::slicing.
struct BoSlicing {
    bool sliced = false;
    bool queued = false; // a job of it is queued or running: it cannot be queued again
    uint32_t dbc_id = 0;
    DmaDir dir = DmaDir::kToDevice;
    uint64_t total_elems = 0;
    std::vector<Slice> slices;
    bool dma_mapped = false;
    // The last execution: its fence (WAIT_BO). While it runs, the job holds the BO; when it
    // finishes it lets go, so there is no cycle.
    RefPtr<Job> job;
    // The last finished execution: its timings (PERF_STATS_BO), also while a newer one runs.
    RefPtr<Job> done;
};

class Bo : public accel::GemObject {
public:
    Bo(QaicDevice &qdev, uint64_t size, PagePool::Pages pages);
    ~Bo() override;

    ErrorOr<void> mmap(accel::Vma &vma) override;
    // The BO's memfd, its pages from offset 0.
    ErrorOr<accel::MmapFd> mmap_fd() const override;

    QaicDevice &qdev() const;
    const kernel::SgTable &sgt() const { return sgt_; }

    kernel::Locked<BoSlicing> slicing;

    // Maps the pages for the device in dir; unmap waits for DMA in flight. s is this BO's
    // slicing, locked.
    ErrorOr<void> dma_map(BoSlicing &s, DmaDir dir);
    void dma_unmap(BoSlicing &s);
    // Forgets the slicing (its DBC released it, or DETACH_SLICE_BO): unmaps, which waits for
    // DMA in flight.
    void detach(BoSlicing &s);

private:
    PagePool::Pages pages_;
    kernel::SgTable sgt_;
};

// ---------------------------------------------------------------------------- DBCs

// dbc<N>_state's values: idle, activated, then the subsystem-restart steps (the SSR event
// codes 2..5).
enum DbcSysfsState : int {
    kDbcStateIdle = 0,
    kDbcStateAssigned = 1,
    kDbcStateBeforeShutdown = 2,
    kDbcStateAfterShutdown = 3,
    kDbcStateBeforePowerUp = 4,
    kDbcStateAfterPowerUp = 5,
};

// What a DBC's lock guards: whose it is, its rings and the datapath that runs them.
struct DbcState {
    bool in_use = false;      // activated for `usr`
    uint32_t usr = 0;         // owner's user handle
    bool in_ssr = false;      // subsystem restart in progress
    kernel::DmaCoherent queue; // request + response rings
    uint32_t nelem = 0;
    std::list<RefPtr<Bo>> bos; // sliced on this DBC

    // Datapath: the ring as the scheduler's owner, and the scheduler.
    uint32_t req_tail = 0; // next request slot we write
    uint32_t rsp_head = 0; // next response slot we read
    uint64_t fence_context = 0;
    uint64_t fence_seqno = 0;
    std::unique_ptr<RingOwner> ring;
    std::unique_ptr<DbcScheduler> sched;

    // Activated for this file's user (or this user handle, for work that outlives the
    // file): the one rule behind every "not your DBC".
    bool owned_by(const accel::File &file) const;
    bool owned_by(uint32_t user) const { return in_use && usr == user; }
};

// The driver's side of one DMA Bridge Channel (upstream dma_bridge_chan).
struct Dbc {
    unsigned id = 0;
    kernel::Locked<DbcState> state;
    // Taken before `state` by whoever takes jobs off the DBC (completions, hang recovery,
    // release, SSR, removal) and held until they are finished: jobs finish, and their fences
    // signal, in the order they left. A waiter on the last job of a call then finds every
    // earlier BO of the DBC idle again, whichever thread reaped the earlier ones.
    std::mutex finish_lock;
    // dbc<N>_state in sysfs (upstream's stable ABI): kDbcState*, written by
    // QaicDevice::set_dbc_state under state_lock, a leaf lock (the SSR interrupt takes it
    // without `state`: the firmware's thread must not wait for the DBC's users), read without
    // it.
    std::mutex state_lock;
    std::atomic<int> sysfs_state{0};
    // Jobs in flight or queued, or only since recently not: read without the lock by
    // waiters deciding whether to spin.
    kernel::Activity activity;
    void update_busy(const DbcState &s)
    {
        if (s.sched && !s.sched->idle())
            activity.set_busy();
        else
            activity.set_idle();
    }
};

// ---------------------------------------------------------------------------- control path

// The host's half of one of the card's message channels (control, SSR): its two rings.
struct ChannelRings {
    kernel::DmaCoherent h2d, d2h;
    uint32_t nelem = 0;

    ErrorOr<void> alloc(kernel::PciDev &pdev, uint32_t nelem, uint32_t h2d_slot_size,
                        uint32_t d2h_slot_size);
    // Points the channel's registers at `base` to the rings and enables it.
    ErrorOr<void> program(kernel::PciDev &pdev, unsigned bar, uint64_t base) const;
    // Disables the channel and frees the rings.
    void free(kernel::PciDev &pdev, unsigned bar, uint64_t base);
};

// The control channel: wire messages to the firmware and their responses, matched by
// sequence number. transact() may be called from many threads.
class ControlChannel {
public:
    explicit ControlChannel(QaicDevice &qdev);
    // Allocates the rings. Probe does it before requesting the interrupt whose handler reads
    // them, so that the handler is freed before they are.
    ErrorOr<void> init();
    // Programs the channel registers with the rings, the first time: from now on the control
    // interrupt reads them.
    ErrorOr<void> start();
    // Programs the channel registers again (after a device reset) with the same rings.
    ErrorOr<void> reinit();
    // Disables the channel, fails its waiters (-ENODEV) and frees the rings: after init(),
    // whether or not start() ran or worked.
    void fini();

    // What becomes of the answer to a message whose sender stopped waiting (timeout, kill):
    // called with the answer when it comes, or with the error that means none will (-EIO:
    // the device was reset, -ENODEV: it is gone), in the order the device answered, with the
    // manage lock held: on the device's workqueue, or by the next MANAGE before it decodes
    // its own answer (run_late_answers).
    using LateAnswer = std::function<void(ErrorOr<std::vector<uint8_t>>)>;

    // Sends msg (a WireMsgHdr + transactions; crc32, magic and sequence are filled here) and
    // returns the response message, checked for length and (when required) CRC:
    // -ETIMEDOUT, -EIO (device reset meanwhile, or found reset), -EPIPE (bad CRC), -ENODEV;
    // -EINTR when an interruptible call's task is killed (a user's call, whose process died;
    // never the driver's own messages nor a release's). *epoch is set to the epoch the
    // message was sent in; late, if set, takes over the answer after a timeout or a kill.
    ErrorOr<std::vector<uint8_t>> transact(std::vector<uint8_t> msg, uint64_t *epoch = nullptr,
                                           LateAnswer late = {},
                                           kernel::Sleep how = kernel::Sleep::kUninterruptible);
    // The control MSI: drains responses.
    void irq();
    // Deals with the late answers that came so far, in order. Caller holds the manage lock.
    void run_late_answers();
    // Fails every waiter with err (reset, removal) and starts a new epoch: answers of an
    // older epoch describe a device state that is gone.
    void fail_all(int err);
    uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
    // Whether the device still knows our channel: -ENODEV (gone), -EIO (it was reset; the
    // recovery is started), or fine. For when its interrupt may have been lost.
    ErrorOr<void> check_device();

    bool crc_required() const { return crc_required_.load(std::memory_order_acquire); }
    void set_crc_required(bool on) { crc_required_.store(on, std::memory_order_release); }

private:
    struct Waiter {
        std::vector<uint8_t> rsp;
        int err = 0;
        std::atomic<bool> done{false}; // set under lock_, read by the waiter without it
    };

    // The enable register read 0 (the device forgot our channel) after programs_ read seen:
    // a reset, unless the recovery programmed the channel again since. Such a stale reading
    // must not fail the recovery's own first message.
    void reset_seen(uint64_t seen);

    QaicDevice &qdev_;
    std::mutex lock_;
    kernel::WaitQueue wq_;
    ChannelRings rings_;
    std::atomic<uint32_t> h2d_tail_{0}; // also read by a sender waiting for room
    uint32_t d2h_head_ = 0;
    uint32_t seq_ = 0;
    std::map<uint32_t, Waiter *> waiters_;
    // A message's late-answer handler, and the room its answer is copied into (made with
    // it): the MSI handler and fail_all() move entries from late_ to late_ready_ without
    // allocating, as an interrupt handler must.
    struct Late {
        LateAnswer handler;
        std::vector<uint8_t> rsp;
        int err = 0; // why no answer will come (then rsp is empty)
    };
    using LateMap = std::map<uint64_t, Late>;
    LateMap late_; // by sequence number
    // Late answers (or why none will come) received and not yet dealt with, by arrival: the
    // device's order. late_work_ on the device's workqueue deals with them.
    LateMap late_ready_;
    uint64_t arrivals_ = 0;
    kernel::Work late_work_;
    void queue_late_answers();
    std::atomic<uint64_t> epoch_{0};
    std::atomic<bool> crc_required_{false};
    // The channel was programmed (start) and not yet torn down (fini). Before that the device
    // has no channel of ours to have forgotten: its boot MSI, which may come between
    // request_irq and start, says nothing about a reset.
    std::atomic<bool> programmed_{false};
    std::mutex program_lock_;           // reinit() against reset_seen()
    std::atomic<uint64_t> programs_{0}; // reinit()s so far
};

// ---------------------------------------------------------------------------- RAS

// The RAS counters upstream shows in sysfs (ce_count, ue_count, ue_nonfatal_count): reports
// the card made of correctable, uncorrectable (fatal) and uncorrectable non-fatal errors since
// the driver was bound, each saturating at UINT32_MAX.
struct RasCounts {
    uint32_t ce = 0;
    uint32_t ue = 0;
    uint32_t ue_nonfatal = 0;
};

// ---------------------------------------------------------------------------- device

// What a card needs from the driver, by PCI device id (upstream's qaic_device_config, the
// driver data of its id table). The AIC080 is an AIC100 with fewer NSPs and lower clocks; the
// AIC200 moves the device registers (upstream: MHI) to BAR1 and has an MSI-X capability.
enum class Family { kAic100, kAic200 };
struct DeviceConfig {
    uint16_t device;   // PCI device id, vendor 0x17cb
    const char *name;  // the product, for logs
    Family family;
    unsigned bar_mask; // the memory BARs the device must have (pci_select_bars)
    unsigned dev_bar;  // device registers, control and SSR channels
    unsigned dbc_bar;  // DBC registers
    unsigned num_dbc;  // DBCs the driver serves at most (every known card: 16)
};
// The id table: the config of a Qualcomm device id the driver binds to, or null.
const DeviceConfig *match_device(uint16_t vendor, uint16_t device);

class QaicDevice : public accel::Device {
public:
    explicit QaicDevice(kernel::PciDev &pdev);
    ~QaicDevice() override;

    kernel::PciDev &pdev;
    Params params;
    std::unique_ptr<PagePool> pool;
    std::vector<std::unique_ptr<Dbc>> dbcs;
    ControlChannel ctrl{*this};
    std::atomic<bool> online{false};
    // The id table's entry probe matched, and the BARs it names.
    const DeviceConfig *config = nullptr;
    unsigned bar_dev = aic100::kBarDev;
    unsigned bar_dbc = aic100::kBarDbc;
    unsigned num_vectors = 0;
    kernel::PciDev::IrqType irq_type = kernel::PciDev::IrqType::kNone;

    // The handlers' first rule: -ENODEV while the device is not online (booting, being
    // reset, or gone), with the reason logged.
    ErrorOr<void> check_online() const;

    unsigned num_dbc() const { return unsigned(dbcs.size()); }
    // The device-gone check: a register that is never all ones reads all ones.
    bool gone() { return pdev.read32(bar_dev, aic100::kRegDevId) == aic100::kRegGone; }

    // Releases a DBC the device no longer runs for its user (deactivated, terminated, reset,
    // SSR, removal): its jobs finish with err, every BO sliced on it is detached, its rings
    // are freed.
    void release_dbc(Dbc &dbc, int err);
    // dbc<N>_state := state, with upstream's KOBJ_CHANGE uevent (DBC_ID, DBC_STATE) when it
    // changes; with only_if_active, not for an idle DBC (an SSR step of a DBC no one holds).
    void set_dbc_state(Dbc &dbc, DbcSysfsState state, bool only_if_active = false);
    // A register read all ones: the device is gone. Fails control waiters with -ENODEV.
    void mark_gone();
    // Called from the control IRQ when the device forgot its channels: fails control waiters
    // with -EIO, and recovers on the workqueue.
    void device_reset_detected();
    // On the workqueue: releases every DBC and brings the device up again, once more if it
    // was reset again meanwhile.
    void recover();
    // Waits for the device to come ONLINE (bounded by params.mhi_timeout_ms), then programs
    // MSI routing and the control channel and learns whether CRCs are required (asking again
    // when the firmware NACKs the question).
    ErrorOr<void> bring_up();

    std::atomic<bool> resetting{false};
    // recover() runs: its passes clear resetting before they look for a reset that came
    // during them, and may go again (status tools see a recovery from detection to its end).
    std::atomic<bool> recovering{false};
    kernel::Work recover_work{[this] { recover(); }}; // queued by device_reset_detected()
    std::atomic<unsigned> spinners{0}; // callers of spin_if_spare() deciding to spin, or spinning
    // Polls done() for up to budget, if the recently active DBCs and the other spinners leave
    // a CPU to spare (kernel::cpu_to_spare): WAIT_BO's spin. Waking a sleeping thread costs
    // tens of microseconds here.
    template <typename Pred> void spin_if_spare(Pred done, std::chrono::microseconds budget)
    {
        if (budget <= budget.zero())
            return;
        unsigned others = spinners.fetch_add(1, std::memory_order_relaxed);
        int64_t now = kernel::Activity::now_ns();
        unsigned active = 0;
        for (auto &d : dbcs)
            active += d->activity.recent(now);
        if (kernel::cpu_to_spare(active, others))
            kernel::spin_until(done, budget);
        spinners.fetch_sub(1, std::memory_order_relaxed);
    }
    // One MANAGE (or a user's TERMINATE) at a time, from sending to decoding the answer: the
    // device frees a DBC when it runs a DEACTIVATE and may hand it out in the next message's
    // ACTIVATE, so answers must update the DBC table in the order the device ran them.
    std::mutex manage_lock;
    // Rings offered in an ACTIVATE whose DBC the driver could not take (the answer named a
    // DBC that is not there or is taken) or not take back (the answer came late and so did
    // the DEACTIVATE's): the device may use them until it is reset. Each with the control
    // epoch its message was sent in: a reset's recovery frees those of older epochs once the
    // device is back, removal the rest. Added to only under manage_lock (the room is
    // reserved before the message goes), so the recovery takes only their own lock.
    struct LostRing {
        kernel::DmaCoherent ring;
        uint64_t epoch;
    };
    kernel::Locked<std::vector<LostRing>> lost_rings;
    // Lists a ring the device may use, offered in the epoch given; never frees it (it leaks
    // it, with an error in the log, when even the list has no memory left).
    void keep_lost_ring(kernel::DmaCoherent ring, uint64_t epoch);
    // Frees the lost rings of epochs before the given one (the device has forgotten them).
    void free_lost_rings(uint64_t before_epoch);
    // The handles of open files' users, as the firmware knows them: unique while open.
    kernel::Locked<kernel::Idr<bool>> usr_handles;

    // ---- datapath (qaic_data.cc)
    // A DBC's ring as the scheduler sees it, and its scheduler: made before an ACTIVATE is
    // sent, so that taking the DBC when the device answers allocates nothing.
    struct DbcRuntime {
        std::unique_ptr<RingOwner> ring;
        std::unique_ptr<DbcScheduler> sched;
    };
    ErrorOr<DbcRuntime> make_dbc_runtime();
    // Sets up a freshly activated DBC with rt; s is its state, locked.
    void dbc_start(Dbc &dbc, DbcState &s, DbcRuntime rt);
    // Takes every job off a DBC (s: its state, locked); they are returned to be finished
    // outside the lock with finish_jobs().
    JobList dbc_stop(Dbc &dbc, DbcState &s);
    static void finish_jobs(JobList &jobs, int err);
    // A DBC's MSI (or a poll): drains its responses and finishes the jobs they complete.
    void dbc_irq(unsigned id);
    // Hang recovery: soft-resets the DBC, its jobs fail (-ETIMEDOUT for the hung one, -EIO
    // for the rest), and it works again.
    void dbc_recover(Dbc &dbc);
    // WAIT_BO's wait for a job: busy polling, a spin if a CPU is spare, then sleep; the
    // job's status, -ETIMEDOUT, or -EINTR when the caller's task is killed.
    ErrorOr<void> wait_job(Job &job, std::chrono::milliseconds timeout);
    // The polling / watchdog thread.
    void start_datapath_thread();
    void stop_datapath_thread();

    // ---- sysfs, debugfs and time sync (qaic_sysfs.cc)
    // The files the driver gives tools, by path under their roots (docs/uapi.md, "sysfs,
    // debugfs and module parameters"): "accel/dbc<N>_state" and "device/ce_count" ... (sysfs
    // of the accel device and of its PCI device), "debug/bootlog", "debug/dbc<NNN>/fifo_size"
    // and "debug/dbc<NNN>/queued" (debugfs), "parameters/<name>" (the module's). Each read
    // makes the content afresh, as a show function does: -ENOENT for no such file.
    struct AttrFile {
        std::string path;
        unsigned mode;
    };
    ErrorOr<std::vector<AttrFile>> attr_files() const;
    ErrorOr<std::string> read_attr(std::string_view path);
    // The boot log the firmware wrote while it booted: read from the card once it is ONLINE,
    // each boot's replacing the last (upstream resets it when the device boots again).
    void collect_boot_log();
    // Sends the host's time to the device every timesync_delay_ms while it is online.
    void start_timesync();
    void stop_timesync();

    // ---- SSR channel (qaic_ssr.cc)
    ErrorOr<void> ssr_init();
    ErrorOr<void> ssr_reinit();
    void ssr_fini();
    void ssr_irq();

    // ---- crash dumps (qaic_ssr.cc): what a subsystem restart's dump became, for sysfs's
    // devcoredump view and test control. The store is kernel::devcoredumps(), keyed by this
    // device: coredump() finds this device's dump (-ENOENT: none), coredump_read() reads it
    // from off (bytes copied, 0 past its end; -ENOENT once it is gone), coredump_dismiss()
    // frees it (a write to data), coredump_take() hands it over whole and it is gone (the
    // read-once path of tools and tests; -ENOENT).
    ErrorOr<kernel::CoredumpInfo> coredump() const;
    ErrorOr<size_t> coredump_read(unsigned id, uint64_t off, std::span<uint8_t> out) const;
    void coredump_dismiss(unsigned id) const;
    ErrorOr<std::vector<uint8_t>> coredump_take() const;
    // A dump collection is under way (tests).
    bool dump_in_progress();

    // ---- RAS channel (qaic_ras.cc)
    ErrorOr<void> ras_init();
    ErrorOr<void> ras_reinit();
    void ras_fini();
    void ras_irq();
    // sysfs ce_count, ue_count, ue_nonfatal_count.
    RasCounts ras_counts() const;
    // Resets the device as upstream's mhi_soc_reset does, from the workqueue (a fatal RAS
    // error, a crash dump collection gone wrong): the reset's recovery follows.
    void queue_device_reset();

private:
    // Room for the whole window, so that collecting allocates nothing (a recovery's too).
    struct BootLog {
        char text[aic100::kBootLogSize];
        uint32_t len = 0;
    };
    kernel::Locked<BootLog> boot_log_;
    void send_timesync();
    std::thread timesync_thread_;
    std::mutex timesync_lock_;
    std::condition_variable timesync_cv_;
    bool timesync_stop_ = false;
    std::thread datapath_thread_;
    std::mutex datapath_lock_;
    std::condition_variable datapath_cv_;
    bool datapath_stop_ = false;
    ChannelRings ssr_rings_;
    uint32_t ssr_h2d_tail_ = 0, ssr_d2h_head_ = 0;
    std::mutex ssr_lock_;
    // Sends one message on the SSR channel's H2D ring (false: the ring is full). Caller
    // holds ssr_lock_.
    bool ssr_send_locked(const void *msg, size_t len);
    // The crash dump being collected (upstream ssr_dump_info), under dump_lock_ (taken before
    // ssr_lock_). The SSR interrupt copies dump messages into dump_inbox_ (made at init: an
    // interrupt does not allocate) and dump_work_ handles them on the workqueue.
    struct DumpXfer {
        bool active = false;
        uint32_t dbc_id = 0;
        uint64_t tbl_dev = 0, tbl_len = 0, tbl_off = 0;
        std::vector<uint8_t> table;
        std::vector<uint8_t> file; // the dump file: meta, table, regions
        size_t entry = 0;          // region being read
        uint64_t entry_off = 0;    // bytes of it read
        uint64_t file_off = 0;     // bytes of file filled
        uint64_t asked = 0;        // bytes of the read outstanding
        bool reading_done = false; // DEBUG_TRANSFER_DONE sent
    };
    std::mutex dump_lock_;
    DumpXfer dump_;
    std::mutex inbox_lock_;      // leaf
    std::vector<uint8_t> dump_inbox_, dump_msg_; // a slot each
    bool inbox_full_ = false;
    bool inbox_overrun_ = false; // a dump message came while the last was unhandled
    kernel::Work dump_work_{[this] { dump_work(); }};
    void dump_work();
    // Handles one dump message; an error ends the collection, and the device is reset.
    ErrorOr<void> dump_message(const uint8_t *msg);
    ErrorOr<void> dump_next_read();
    void dump_abandon(const char *why);

    ChannelRings ras_rings_;
    uint32_t ras_d2h_head_ = 0;
    std::mutex ras_lock_;
    std::atomic<uint32_t> ce_count_{0}, ue_count_{0}, ue_nonfatal_count_{0};
    kernel::Work reset_work_{[this] {
        // Not once the driver let the device go (removal) or while it is reset already.
        if (online && !gone())
            pdev.write32(bar_dev, aic100::kRegDevReset, aic100::kResetMagic);
    }};

public:
    // Deferred work (reset recovery, late control answers). Last but one: it is destroyed
    // early and runs what is still queued while everything that work touches still exists.
    kernel::Workqueue wq;
    // How to undo what probe acquired, recorded step by step as it went: run backwards by a
    // probe that fails and by remove(). Last: were the device object to go without
    // remove(), what is left would run first, while everything it touches still exists.
    kernel::Devres devres;
};

// Per-file state: the user (`usr` upstream) on whose behalf DBCs are activated.
struct QaicUser : accel::FilePrivate {
    uint32_t handle = 0; // identifies the user to the firmware
};

// Test hooks, as KUnit's static stubs: points where a unit test runs code of its own to put a
// race exactly where it wants it. Null outside tests.
struct TestHooks {
    // MANAGE has the device's answer to its first message and has not yet decoded it.
    std::atomic<void (*)(QaicDevice &)> manage_answered{nullptr};
    // probe has its interrupt handlers and has not yet programmed the control channel: where
    // the device's boot MSI may land.
    std::atomic<void (*)(QaicDevice &)> irqs_requested{nullptr};
    // A thread read the control channel disabled and is about to act on it (phase 0), or
    // has (phase 1).
    std::atomic<void (*)(QaicDevice &, int phase)> reset_seen{nullptr};
    // A bring-up has programmed the control channel and is about to send its first message.
    std::atomic<void (*)(QaicDevice &)> recovery_reprogrammed{nullptr};
};
extern TestHooks test_hooks;

inline QaicDevice &to_qdev(accel::Device &dev)
{
    return static_cast<QaicDevice &>(dev);
}
inline QaicUser &to_usr(accel::File &file)
{
    return file.priv<QaicUser>();
}

// The BO behind a handle of this file, with a reference; -ENOENT.
ErrorOr<RefPtr<Bo>> lookup_bo(accel::File &file, uint32_t handle);

// Brings the device up behind pdev and registers its accel minor. bo_memory: bytes of host
// memory for its BOs and bounce buffers, the driver's memory limit (0: CONFIG_QAIC_BO_MEMORY_MB);
// reserved as address space at probe, so a host under an address-space limit asks for less.
// params: the device's parameters as the module was loaded with them (checked by
// Params::parse; module-wide ones are skipped: the host sets those once).
ErrorOr<RefPtr<QaicDevice>> probe(kernel::PciDev &pdev, uint64_t bo_memory = 0,
                                  accel::UeventSink uevents = {},
                                  std::span<const ParamSetting> params = {});
// Takes it down: later ioctls and opens get -ENODEV.
void remove(QaicDevice &qdev);

// ioctl handlers (one per ioctl, named after it)
ErrorOr<void> create_bo_ioctl(accel::File &file, void *data);
ErrorOr<void> mmap_bo_ioctl(accel::File &file, void *data);
ErrorOr<void> attach_slice_bo_ioctl(accel::File &file, void *data);
ErrorOr<void> detach_slice_bo_ioctl(accel::File &file, void *data);
ErrorOr<void> manage_ioctl(accel::File &file, void *data);
ErrorOr<void> execute_bo_ioctl(accel::File &file, void *data);
ErrorOr<void> partial_execute_bo_ioctl(accel::File &file, void *data);
ErrorOr<void> wait_bo_ioctl(accel::File &file, void *data);
ErrorOr<void> perf_stats_bo_ioctl(accel::File &file, void *data);

// The user's file goes away: terminate its work on the device and release its DBCs.
void release_usr(QaicDevice &qdev, QaicUser &usr);

} // namespace qaic
