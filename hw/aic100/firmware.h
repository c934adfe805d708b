// SPDX-License-Identifier: GPL-2.0-only
// The card's firmware (the QSM side of the control path). One thread boots the device,
// serves control messages (see aic100_regs.h, Wire*), and drives subsystem restarts over
// the SSR channel.
#pragma once

#include "hw/aic100/channel.h"
#include "include/hw/aic100_nnc.h"
#include "include/hw/aic100_regs.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <mutex>
#include <thread>
#include <vector>

namespace aic100 {

class Card;

class Firmware {
public:
    using Clock = std::chrono::steady_clock;

    explicit Firmware(Card &card);
    ~Firmware();

    MsgChannel &control() { return ctrl_; }
    MsgChannel &ssr() { return ssr_; }
    MsgChannel &ras() { return ras_; }
    // A channel register was written or the device state changed: re-check for work.
    void kick();
    // A control channel register at off was written. Wakes the firmware's thread only when
    // that gives it something to do: not for D2H_HEAD unless it waits for room for an
    // answer, and not for a doorbell (H2D_TAIL) rung by the host thread that busy-polls the
    // firmware (busy_poll) while the thread sleeps no longer than the grace period: that
    // host thread serves the message itself, or the firmware looks when the period ends.
    void control_written(uint64_t off);
    // A host thread waits for control answers until done() holds or deadline passes: it
    // serves the control ring meanwhile, as the firmware's thread would (simulator timing:
    // no thread wakeup on either side; cf. Dbc::busy_poll). It never blocks in the firmware:
    // it stops when the host has no room for an answer, and leaves SSR to the thread.
    void busy_poll(const std::function<bool()> &done, Clock::time_point deadline);
    // Whether the firmware's thread sleeps for want of work with no wakeup pending.
    bool asleep() const;
    // Device reset: release every DBC, forget every user, image and pending SSR, disable the
    // channels, boot; the first nacks messages after it are refused (nack_next).
    void reset(uint32_t nacks = 0);

    void set_silent(bool silent);
    void nack_next(uint32_t count);
    void reset_on_message(uint32_t nth);
    void pad_answers(uint32_t count);
    void misname_deactivate(uint32_t count);
    // Test control: while the firmware serves its next message, the nth of its allocations
    // that may fail (kernel::try_alloc; every one where operator new asks too, as in
    // tests/qaic_selftest_failslab) fails, as in a process out of address space; and
    // whether the last message served so had an nth allocation.
    void fail_allocation(unsigned nth);
    bool allocation_failed() const { return allocation_failed_.load(std::memory_order_acquire); }
    void start_ssr(unsigned dbc_id);
    // A detected error of `source` and `err_type` (RasSource, RasErrType): the firmware
    // pushes its RAS message on the RAS channel (lost while the channel is off). Test
    // control: malform != 0 spoils one field (RasMalform).
    void raise_ras(uint32_t source, uint32_t err_type, uint32_t malform);
    // Test control: the next crash dump offered misbehaves as `fault` says (SsrDumpFault),
    // nth naming the MEMORY_READ it hits, where that matters.
    void ssr_dump_fault(uint32_t fault, uint32_t nth);
    // Fuzzing: the answer to one control message as if it came on the ring, without the
    // ring's round trip; the sequence number the firmware expects next; what it holds for
    // users (image and NNC bytes, users with a transfer or load in progress).
    std::vector<uint8_t> serve(const std::vector<uint8_t> &msg);
    uint32_t next_sequence() const;
    uint64_t held_bytes() const;

    // Firmware image store limits (bytes over all images).
    static constexpr uint64_t kImageMemory = uint64_t(256) << 20;

private:
    struct Image {
        std::vector<uint8_t> data;
    };
    struct Xfer { // a DMA transfer spread over several messages
        uint32_t chunk_id = 0;
        uint32_t tag = 0;
        uint64_t bytes = 0;
    };
    // The crash dump of a subsystem restart, offered in BEFORE_POWER_UP.
    enum class Dump { kNotYet, kOffered, kTransfer, kDone };
    struct Ssr {
        unsigned dbc_id;
        uint32_t event; // the event sent and awaiting its ack, 0 before the first
        Dump dump = Dump::kNotYet;
        std::vector<uint8_t> snapshot; // table then regions, at kSsrDumpBase; taken at the crash
        uint32_t reads = 0;            // MEMORY_READs answered
        uint32_t fault = 0, nth = 0;   // ssr_dump_fault() as armed when the restart began
    };
    using Bytes = std::vector<uint8_t>;

    void run();
    void boot_log(); // the boot's lines into the card's boot log
    bool has_work() const;
    void serve_step(std::unique_lock<std::mutex> &lk); // one step of the work there is
    void serve_control(std::unique_lock<std::mutex> &lk);
    void serve_ssr_acks(std::unique_lock<std::mutex> &lk);
    void advance_ssr(std::unique_lock<std::mutex> &lk);
    void serve_dump_request(Ssr &s, const Bytes &slot, std::unique_lock<std::mutex> &lk);
    void offer_dump(Ssr &s, std::unique_lock<std::mutex> &lk);
    void take_snapshot(Ssr &s);
    // Frames the response to one request message in out.
    void handle_message(const Bytes &req, Bytes &out);
    // handle_message(), or nothing (the message is lost) when memory ran out even for a NACK.
    void answer(const Bytes &req, Bytes &out) noexcept;
    void nack(const struct WireMsgHdr &req_hdr, uint32_t status, uint32_t index, Bytes &out);
    uint32_t handle_transaction(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out);
    uint32_t do_dma_xfer(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out);
    uint32_t do_passthrough(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out);
    // NNC (nnc.cc).
    uint32_t do_nnc(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out);
    static void nnc_answer(Bytes &out, const void *rsp, size_t n);
    uint32_t nnc_load(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out);
    uint32_t nnc_constants_region(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out);
    void nnc_data(uint32_t user, uint32_t tag, Bytes &out);
    void nnc_drop_pending(uint32_t user);
    bool nnc_end_message(uint32_t user, Bytes &out);
    void nnc_undo_message(uint32_t user);
    void nnc_drop_user(uint32_t user);
    uint32_t nnc_activate(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out);
    uint32_t nnc_activate_state(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out);
    uint32_t nnc_deactivate(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out);
    bool nnc_activate_refused();
    void nnc_vc_assigned(uint32_t status, uint32_t dbc_id, Bytes &out);
    void nnc_prune_activations();
    bool nnc_in_use(bool elf, uint32_t id);
    uint64_t nnc_bytes() const;
    NncResourceInfo resource_info() const;
    NncPerfInfo perf_info() const;
    NncHostApiInfo host_api_info();
    uint32_t do_activate(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out);
    uint32_t do_deactivate(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out);
    uint32_t do_terminate(uint32_t user, const uint8_t *t, uint32_t len, Bytes &out);
    void drop_user_images(uint32_t user);
    uint64_t image_bytes() const;
    void post_d2h(MsgChannel &ch, const void *msg, size_t len, std::unique_lock<std::mutex> &lk);

    Card &card_;
    MsgChannel ctrl_, ssr_, ras_;
    mutable std::mutex lock_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool serving_ = false;    // a thread (the firmware's or a busy-polling host's) serves
    bool d2h_waiter_ = false; // the server waits for room in a D2H ring
    // Until then poller_ is taken to busy-poll: its doorbells do not wake a firmware thread
    // that sleeps no longer than that (run()).
    Clock::time_point host_polled_until_{};
    std::thread::id poller_;
    enum class Sleep { kAwake, kTimed, kUntimed };
    Sleep sleep_ = Sleep::kAwake; // the thread's sleep for want of work, until woken
    bool boot_pending_ = true;
    uint64_t boots_ = 0; // since power-on
    // A boot under way reports ONLINE from then on (the first, at power-on, from the
    // thread's start).
    Clock::time_point boot_done_at_ = Clock::now();
    uint64_t epoch_ = 0; // bumped by reset: work of an older epoch is dropped
    bool silent_ = false;
    uint32_t nack_count_ = 0;
    uint32_t reset_countdown_ = 0; // survives the reset it causes, unlike the faults above
    uint32_t pad_count_ = 0;       // STATUS answers appended to every response
    uint32_t misname_count_ = 0;   // DEACTIVATE answers left to name the wrong DBC
    unsigned fail_nth_ = 0;        // fail_allocation(): armed for the next message
    std::atomic<bool> allocation_failed_{false};
    bool have_seq_ = false;
    uint32_t last_seq_ = 0;
    std::map<std::pair<uint32_t, uint32_t>, Image> images_; // (user, tag)
    std::map<uint32_t, Xfer> xfers_;                         // by user
    // DBCs assigned by the message being served, room for all made with the firmware.
    static std::vector<unsigned> make_activated(unsigned num_dbc);
    std::vector<unsigned> activated_;
    // The room of the last answer framed, for the next (two slots, made with the firmware).
    static Bytes make_answer_room();
    Bytes answer_room_;
    // NNC's loaded network images (ELFs) and constants, by id, each its user's.
    struct NncBlob {
        uint32_t user;
        std::vector<uint8_t> data;
        bool region;           // constants made by LOAD_CONSTANTS_EX, filled by PAYLOADs
        bool complete = false; // an ELF or LOAD_CONSTANTS whose data all came
        std::optional<std::vector<uint8_t>> program; // an ELF's NSP program, if it has one
    };
    // A load (LOAD_ELF, LOAD_CONSTANTS, PAYLOAD) waiting for the DMA_XFER of its tag.
    struct NncPending {
        uint32_t cmd, tag, id;
        uint64_t offset, length;
    };
    std::map<uint32_t, NncBlob> nnc_elfs_, nnc_consts_;
    std::map<uint32_t, NncPending> nnc_pending_;      // by user
    std::vector<std::pair<bool, uint32_t>> nnc_made_; // (ELF?, id) made by the message served
    uint32_t nnc_next_id_ = 1;
    // Activated networks, by activation id; each holds its ELF, constants and DBC.
    struct NncActivation {
        uint32_t user, elf_id, constants_id;
        int64_t dbc = -1; // its virtual channel, once the ACTIVATE transaction gave it one
        int32_t state;    // NncActivationState
    };
    std::map<uint32_t, NncActivation> nnc_activations_;
    // Resource groups, by id: a record of what each asked for (the card is not partitioned).
    struct NncGroup {
        uint32_t user;
        NncCreateResourceGroupReq asked;
    };
    std::map<int32_t, NncGroup> nnc_groups_;
    int32_t nnc_next_group_ = 1;
    // An NNC ACTIVATE of the message being served, waiting for its ACTIVATE transaction: where
    // its response is in the answer (patched with the DBC), or failed (no DBC, no answer).
    struct NncVcSetup {
        bool waiting = false;
        bool failed = false;
        size_t rsp_at = 0; // offset of the NncActivateRsp in the answer
        uint32_t activation_id = 0;
    } nnc_vc_setup_;
    std::deque<Ssr> ssr_queue_;
    bool ssr_waiting_ack_ = false;
    uint32_t dump_fault_ = 0, dump_nth_ = 0; // for the next restart's dump
    std::deque<RasMsg> ras_queue_;           // RAS messages to push
    uint32_t ras_seq_ = 0;
    std::thread thread_;
};

} // namespace aic100
