// SPDX-License-Identifier: MIT
// qaicd's wire: what libqaic's daemon backend and qaicd say to each other over Unix sockets.
// It is the transport of the uAPI, as the syscall ABI is for a kernel: it carries ioctl
// numbers and user addresses, never decoded arguments. Both ends are built from one tree, so
// the protocol has a version instead of compatibility rules; a mismatch fails the open.
//
// Sockets are SOCK_SEQPACKET: one message per request or reply, never split or merged.
//
//  - The file socket: a client connects to DIR/accelN and sends kOpen; the connection is then
//    one open file of the card (dup, fork and SCM_RIGHTS share it as they share a device fd),
//    and its last close releases the file. After kOpen it carries only kAttach messages.
//  - Channels: a client thread calls through a channel, a socketpair end sent with kAttach
//    (SCM_RIGHTS). Each channel belongs to the process that made it (the peer credentials of
//    the pair); its requests are served one at a time, each answered on the channel.
//    Different channels of one file are served concurrently, as threads calling one fd.
//  - A channel's slot: a page qaicd shares with the channel's maker (its memfd comes with the
//    channel's Welcome), through which kIoctl calls go without a socket message while both
//    ends are awake (see Slot).
#pragma once

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <sys/socket.h>

namespace wire {

inline constexpr uint32_t kMagic = 0x71616964; // "qaid"
inline constexpr uint32_t kVersion = 4; // 4: PRIME's fds, kSimPciId, kSimRasCounts, kSimCoredump, kSimReadAttr

enum class Op : uint32_t {
    kOpen = 1,      // file socket: open the card's device file
    kAttach,        // file socket: a new channel for this file (fd in SCM_RIGHTS)
    kIoctl,         // channel: ioctl(cmd, arg)
    kMmap,          // channel: the fd and offset to map for an mmap offset (fd in the reply)
    kSimInject,     // channel: qaic_sim_inject
    kSimDbcStatus,  // channel: qaic_sim_get_dbc_status
    kSimNumDbc,     // channel: qaic_sim_num_dbc
    kSimReplug,     // channel: qaic_sim_replug
    kSimSetParam,   // channel: qaic_sim_set_param
    kStats,         // channel: the daemon's counts (qaic-client status, leak checks)
    kUnmap,         // channel: the caller unmapped the last page of one of its mappings
    kClosed,        // channel, a bare Header: the caller just closed its copy of the file's
                    // connection; if that was the last, the file is released before the reply,
                    // as the last close(2) of a device fd releases it before returning
    kWake,          // channel, a bare Header, either way: look at the slot (never answered)
    kEvent,         // file socket of a kWatch connection, daemon to client: an Event
    kSimPciId,      // channel: qaic_sim_pci_id
    kSimRasCounts,  // channel: qaic_sim_get_ras_counts (a SimReq)
    kSimCoredump,   // channel: qaic_sim_read_coredump (a CoredumpReq)
    kSimReadAttr,   // channel: one of the driver's files (Machine::read_attr), name the path;
                    // the reply's value is its length, its content a memfd in SCM_RIGHTS
};

struct Header {
    uint32_t magic;
    uint32_t op; // Op
};

// kOpen and kAttach. The daemon proves it can reach the caller's memory before it accepts:
// it reads probe_addr in the caller (process_vm_readv) and expects probe_value there.
struct Hello {
    Header hdr;
    uint32_t version;
    uint32_t flags; // kOpen: kControlOnly, kControlOnly | kWatch or 0; kAttach: 0
    uint64_t probe_addr;
    uint64_t probe_value;
};

// A connection for test control and the daemon's counts: no device file is opened (so it
// works on a removed card), and its channels answer kIoctl and kMmap with EBADF.
inline constexpr uint32_t kControlOnly = 1;
// With kControlOnly: the connection also carries the card's sysfs view to the client, as
// Events on the file socket after the Welcome: first one kEventState per DBC (its dbc<N>_state
// now) and a kEventStatesEnd, then each uevent of the card's device (Machine::watch). A watcher that lets its socket
// fill up is dropped, and reconnects for a fresh view.
inline constexpr uint32_t kWatch = 2;

// kEvent. env: NUL-separated "KEY=VALUE" strings, env_len bytes of them.
struct Event {
    Header hdr;
    uint32_t action; // accel::KobjAction, or kEventState
    uint32_t env_len;
    char env[240];
};
inline constexpr uint32_t kEventState = 0x100;     // a DBC's state now: DBC_ID and DBC_STATE
inline constexpr uint32_t kEventStatesEnd = 0x101; // no env: every DBC's state was sent

// The answer to a Hello (on the file socket for kOpen, on the new channel for kAttach).
struct Welcome {
    int32_t ret;          // 0 or a negative errno
    uint32_t version;
    int32_t daemon_pid;   // so the client can name it with PR_SET_PTRACER
    uint32_t minor;
    char reason[192];     // why ret < 0, for the user (NUL-terminated)
};

// kIoctl: then arg_len bytes, the caller's argument struct as it read it when it called (the
// size the cmd encodes, at most kMaxInlineArg; 0 when it is bigger or could not be read).
// The driver's copies of that struct use these bytes; everything else it copies from and to
// the caller's memory. The reply's value is the number of those bytes that follow it, as the
// driver left them, for the caller to write back (its copy_to_user of the struct).
inline constexpr uint32_t kMaxInlineArg = 128;
//
// fds: a call that names an fd of the caller's (PRIME_FD_TO_HANDLE's dma-buf) goes on the socket
// with that fd in SCM_RIGHTS and its number in fd_number: the driver's fget of that number gets
// it, of any other number EBADF. A call that gives the caller an fd (PRIME_HANDLE_TO_FD) is
// answered with it in SCM_RIGHTS; the caller's library puts the number it received it as where
// the driver put the fd's number in the argument. Slot calls carry no fd.
struct IoctlReq {
    Header hdr;
    uint64_t cmd;
    uint64_t arg; // the caller's address
    uint32_t arg_len;
    int32_t fd_number; // the caller's number of the fd that came with the call; else ignored
};

struct MmapReq {
    Header hdr;
    uint64_t offset; // the fake mmap offset from MMAP_BO
    uint64_t len;
    int32_t flags;   // as given to mmap(2): MAP_SHARED only, as accel::mmap rules
    uint32_t pad;
};

// kMmap's reply: Reply (value: the offset in the fd to map) then the mapping's id. The daemon
// holds the object for the process that mapped it until that process's kUnmap of the id, or
// until its last channel to the file closes (it exited or exec'd): a mapping pins its object,
// as a VMA does. (A forked child's copies of its parent's mappings are held by the parent.)
struct MapMsg {
    Header hdr;
    uint64_t map_id;
};

struct SimReq {
    Header hdr;
    uint32_t arg[3]; // kSimInject: fault, arg0, arg1; kSimDbcStatus: dbc
    uint32_t pad;
    char name[64];   // kSimSetParam: the parameter; kSimReadAttr: the path (NUL-terminated)
};

// kSimCoredump: the crash dump is written into the caller's memory at addr (len bytes there),
// as an ioctl's output is; value is its size.
struct CoredumpReq {
    Header hdr;
    uint64_t addr;
    uint64_t len;
};

// Every channel reply. kMmap: the fd comes in SCM_RIGHTS and value is the byte offset to map
// it at; kSimNumDbc: value is the count; kSimPciId: value is vendor << 16 | device.
struct Reply {
    int64_t ret; // 0 or a negative errno
    uint64_t value;
};

// kSimDbcStatus: Reply then the status (qaic_sim.h) in the same message; kSimRasCounts the
// counts (qaic_sim_ras_counts) likewise.
// kStats: Reply then Stats.
struct Stats {
    uint32_t files;       // open device files (connections less kControlOnly ones)
    uint32_t channels;    // channels of those files being served
    uint32_t dbcs_in_use; // over every card
    uint32_t sleeping_calls; // calls asleep in the driver (their task in an interruptible sleep)
    uint64_t bo_bytes;    // host memory of BOs and bounce buffers in use, over every card
    uint64_t fds;         // the daemon's open fds (the query's own connection included)
    uint64_t threads;     // the daemon's threads (the query's own channel included)
    uint64_t rss_bytes;   // the daemon's resident memory
};

// A channel's slot: one call at a time, the client's request and qaicd's answer, in a page of
// a sealed memfd that qaicd made (it cannot shrink under the daemon). A call: the client
// writes call and bumps req_seq; qaicd copies call out of the page once, then serves and
// validates only its own copy (nothing the client writes later reaches the driver), writes
// the answer and sets rsp_seq to the request's number. Each side polls the other's number
// for a while before it sleeps on the channel's socket, and says so in its sleeping word
// first; the other side, having published its number, sends a kWake when it sees that word
// set. (Store, then load, both sequentially consistent: one of the two sees the other.)
// A wake that finds nobody asleep is dropped at the next look.
struct Slot {
    alignas(64) uint32_t req_seq;         // client: the number of its latest request
    uint32_t client_sleeping;             // client: 1 while it sleeps for an answer
    alignas(64) uint32_t rsp_seq;         // qaicd: the number of the request it answered
    uint32_t daemon_sleeping;             // qaicd: 1 while the channel's thread sleeps
    alignas(64) struct Call {
        IoctlReq req;                     // op kIoctl, then arg_len bytes of arg
        unsigned char arg[kMaxInlineArg];
    } call;
    alignas(64) struct Answer {
        Reply rep;                        // value: how many bytes of out follow
        unsigned char out[kMaxInlineArg];
    } answer;
};
inline constexpr size_t kSlotSize = 4096;
static_assert(sizeof(Slot) <= kSlotSize && std::atomic_ref<uint32_t>::is_always_lock_free);

// The slot's words, shared with the other process: atomics over memory both map.
inline std::atomic_ref<uint32_t> word(uint32_t &w) { return std::atomic_ref<uint32_t>(w); }

// Copies between the slot and private memory, a word at a time, each read or written once
// (READ_ONCE / WRITE_ONCE): what qaicd validates is its copy, which the compiler may not
// re-read from the page the client can still write.
template <typename T> void copy_from_slot(T *dst, const T &src)
{
    static_assert(sizeof(T) % 8 == 0 && alignof(T) >= 8);
    uint64_t w[sizeof(T) / 8];
    for (size_t i = 0; i < sizeof(T) / 8; ++i)
        w[i] = std::atomic_ref<uint64_t>(const_cast<uint64_t *>(reinterpret_cast<const uint64_t *>(&src))[i])
                   .load(std::memory_order_relaxed);
    std::memcpy(static_cast<void *>(dst), w, sizeof(T));
}
template <typename T> void copy_to_slot(T *dst, const T &src)
{
    static_assert(sizeof(T) % 8 == 0 && alignof(T) >= 8);
    uint64_t w[sizeof(T) / 8];
    std::memcpy(w, &src, sizeof(T));
    for (size_t i = 0; i < sizeof(T) / 8; ++i)
        std::atomic_ref<uint64_t>(reinterpret_cast<uint64_t *>(dst)[i]).store(w[i], std::memory_order_relaxed);
}

// How long each side polls the slot for the other before it sleeps: a few wakeups of a
// sleeping thread here (5-30 us), well under a millisecond-long call.
inline constexpr auto kSlotPoll = std::chrono::microseconds(50);
// The longest a client polls for an answer it expects (from the same call's last time): as long
// as the driver's WAIT_BO spins for a job at most.
inline constexpr auto kSlotPollMax = std::chrono::microseconds(2000);

// The largest message either side sends; a longer one is malformed.
inline constexpr unsigned kMaxMessage = 256;
static_assert(sizeof(IoctlReq) + kMaxInlineArg <= kMaxMessage);

// Sends one message, with fd in SCM_RIGHTS if fd >= 0. Never raises SIGPIPE; a signal does
// not cut it short. false when the peer is gone or the socket refused it. flags: MSG_DONTWAIT
// for a socket whose peer might never read (qaicd's main thread must never block on a client).
inline bool send_message(int sock, const void *data, size_t len, int fd = -1, int flags = 0)
{
    union {
        cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    iovec iov{const_cast<void *>(data), len};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    if (fd >= 0) {
        h.msg_control = control.buf;
        h.msg_controllen = sizeof(control.buf);
        cmsghdr *c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do
        n = ::sendmsg(sock, &h, MSG_NOSIGNAL | flags);
    while (n < 0 && errno == EINTR);
    return n == ssize_t(len);
}

} // namespace wire
