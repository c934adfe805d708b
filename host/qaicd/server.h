// SPDX-License-Identifier: GPL-2.0-only
// qaicd's server: serves each card of a machine as a device file on a Unix socket (wire.h).
//
// The main thread owns the listening sockets and the file sockets (accept, kOpen, kAttach,
// hangups) in one epoll loop. Each channel has a thread of its own that serves its requests
// one at a time, as a process's thread runs its own syscalls: a WAIT_BO sleeping on one
// channel never holds up another. A channel's thread runs each request under the caller's
// address space (kernel::ScopedUserMm) and task (kernel::ScopedTask), so the driver reads and
// writes the caller's memory as copy_from_user does, and the caller's death interrupts its
// sleep as a fatal signal does.
#pragma once

#include "host/machine.h"
#include "host/wire.h"
#include "kernel/printk.h"

#include <atomic>
#include <cstdarg>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace qaicd {

struct Options {
    unsigned cards = 1;
    std::string dir;            // where the sockets are
    gid_t group = gid_t(-1);    // the sockets' group; -1: the daemon's
    bool test_control = false;  // clients may inject faults and set parameters (qaic_sim.h)
    unsigned max_channels = 4096;
    unsigned max_channels_per_user = 1024; // so one user cannot take every channel
    unsigned max_files_per_user = 1024;    // connections, as inotify's max_user_instances
    bool slots = true;          // calls through a shared slot (wire::Slot); false: the socket
    std::vector<int> listen_fds; // socket activation: one listening socket per card, in order
    // The wire fuzzer's clients are the daemon's own process; a real daemon refuses a channel
    // its own process made (it never makes one: a socketpair of its pid is not a client's).
    bool own_pid_clients = false;
};

// printk-style log lines on stderr: "[seconds.micros] qaicd: message", or "<level>qaicd:
// message" when stderr is the journal. main() makes log_line the kernel's log sink, so the
// driver's own lines come out the same way.
enum class Level { kErr = 3, kWarn = 4, kInfo = 6, kDebug = 7 };
void log(Level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_line(kernel::LogLevel level, const char *line);

class Server {
public:
    Server(host::Machine &machine, Options opts);
    ~Server();
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    // Binds (or adopts) the listening sockets. false after logging why.
    bool listen();
    // Serves until SIGTERM or SIGINT, then releases every file as its close would.
    int run();

private:
    struct File;
    struct Channel;
    struct Listener {
        int fd;
        unsigned card;
        std::string path; // empty: adopted from the service manager, not ours to unlink
    };
    // What an epoll event points at.
    struct Source {
        enum Kind { kListener, kFile, kChannel, kSignal, kReaper } kind;
        void *ptr;
    };

    void accept_on(Listener &l);
    void on_file_message(const std::shared_ptr<File> &f);
    void close_file(const std::shared_ptr<File> &f, const char *why);
    bool start_watch(const std::shared_ptr<File> &f);
    bool attach(const std::shared_ptr<File> &f, int sock, const wire::Hello &hello);
    void serve(Channel &ch);
    void serve_requests(Channel &ch);
    enum class Next { kSlotCall, kMessage, kEnd };
    Next next_call(Channel &ch);
    bool serve_slot_call(Channel &ch);
    void reap_channels();
    void shutdown_all();
    bool peer_allowed(int sock, const char *what);
    bool watch(int fd, uint32_t events, Source *src);
    void resume_accepting();
    void send_welcome(int sock, int ret, unsigned minor, const char *reason, int fd = -1);
    wire::Stats stats();

    // The requests of a channel.
    // fds: what fds came with the call and it gives back (none for a slot call).
    wire::Reply do_ioctl(Channel &ch, const wire::IoctlReq &req, const unsigned char *arg_in,
                         unsigned char *arg_out, kernel::UserMm::FdPass *fds = nullptr);
    wire::Reply do_mmap(Channel &ch, const wire::MmapReq &req, int *fd_out, uint64_t *map_id_out);
    wire::Reply do_unmap(Channel &ch, const wire::MapMsg &req);
    wire::Reply do_closed(Channel &ch);
    void release_file(File &f, const Channel *caller = nullptr);
    static void end_channels(File &f, int except = -1);
    // kSimReadAttr: the file's content now, in a memfd for the reply (*fd).
    wire::Reply do_read_attr(Channel &ch, const wire::SimReq &req, int *fd);
    wire::Reply do_sim(Channel &ch, wire::Op op, const wire::SimReq &req, void *extra,
                       size_t *extra_len);
    wire::Reply do_coredump(Channel &ch, const wire::CoredumpReq &req);

    host::Machine &machine_;
    Options opts_;
    std::thread::id main_thread_ = std::this_thread::get_id();
    int epoll_ = -1;
    int signal_fd_ = -1;
    int reaper_fd_ = -1; // eventfd: a channel's thread finished
    Source signal_src_{Source::kSignal, nullptr};
    Source reaper_src_{Source::kReaper, nullptr};
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<Source>> listener_srcs_;
    bool accept_paused_ = false; // out of fds: listeners wait for one to close

    std::list<std::shared_ptr<File>> files_; // main thread only
    std::vector<std::shared_ptr<File>> graveyard_; // closed in this batch of events
    std::atomic<uint32_t> nr_files_{0}; // connections with a device file open
    std::mutex channels_lock_;
    std::list<std::unique_ptr<Channel>> channels_;
    std::atomic<uint32_t> live_channels_{0};
    std::map<uid_t, unsigned> channels_of_user_; // main thread only
    std::map<uid_t, unsigned> files_of_user_;    // connections, main thread only
    std::atomic<unsigned> slot_pollers_{0}; // channel threads polling their slots
};

} // namespace qaicd
