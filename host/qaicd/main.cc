// SPDX-License-Identifier: GPL-2.0-only
// qaicd: hosts the qaic driver and simulated AIC100 cards for every process of the machine,
// as a kernel does, and serves each card as a device file on a Unix socket (docs/qaicd.md).
#include "host/qaicd/server.h"
#include "include/hw/aic100_pci.h"

#include <CLI/CLI.hpp>
#include <qaic/version.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <unistd.h>

namespace {

// The sockets systemd passes with socket activation (sd_listen_fds(3)'s protocol: fds from 3
// on, named by LISTEN_PID for this process and counted by LISTEN_FDS).
std::vector<int> activation_fds()
{
    std::vector<int> fds;
    const char *pid = std::getenv("LISTEN_PID");
    const char *count = std::getenv("LISTEN_FDS");
    if (!pid || !count || std::strtol(pid, nullptr, 10) != getpid())
        return fds;
    long n = std::strtol(count, nullptr, 10);
    for (long i = 0; i < n && i < 64; ++i) {
        int fd = int(3 + i);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fds.push_back(fd);
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return fds;
}

std::string default_dir()
{
    if (geteuid() == 0)
        return "/run/qaic";
    const char *xdg = std::getenv("XDG_RUNTIME_DIR");
    return xdg && *xdg ? std::string(xdg) + "/qaic" : std::string();
}

} // namespace

int main(int argc, char **argv)
{
    CLI::App app{"qaicd: hosts the qaic driver and simulated AIC100 cards, and serves each card "
                 "as a device file (a Unix socket DIR/accelN) that libqaic opens "
                 "(qaic_open(\"DIR/accelN\"), or QAIC_DEVICE=DIR/accelN)."};
    qaicd::Options opts;
    std::string group_name;
    uint64_t ddr_mb = 0, bo_mb = 0;
    app.add_option("--cards", opts.cards, "number of simulated cards")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    app.add_option("--dir", opts.dir,
                   "where the sockets go (default: /run/qaic for root, else "
                   "$XDG_RUNTIME_DIR/qaic)");
    app.add_option("--group", group_name,
                   "group of the sockets (mode 0660, as /dev/accel nodes); its members may "
                   "open the cards (default: the daemon's group)");
    app.add_option("--ddr-size", ddr_mb, "device DDR of each card, in MiB (default: the "
                                         "Kconfig value)")
        ->check(CLI::Range(uint64_t(1), uint64_t(1) << 24));
    app.add_option("--bo-memory", bo_mb, "host memory for each card's BOs, in MiB: the "
                                         "driver's memory limit (default: the Kconfig value)")
        ->check(CLI::Range(uint64_t(4), uint64_t(1) << 24));
    app.add_flag("--test-control", opts.test_control,
                 "let clients inject faults and set driver parameters (qaic_sim.h): for test "
                 "setups only, it lets any client disturb every other");
    app.add_option("--max-channels", opts.max_channels,
                   "most calling threads served at once, over all clients")
        ->check(CLI::Range(1u, 65536u))
        ->capture_default_str();
    app.add_option("--max-channels-per-user", opts.max_channels_per_user,
                   "most calling threads served at once for one user's clients")
        ->check(CLI::Range(1u, 65536u))
        ->capture_default_str();
    app.add_option("--max-files-per-user", opts.max_files_per_user,
                   "most connections (open files) of one user's clients at once")
        ->check(CLI::Range(1u, 65536u))
        ->capture_default_str();
    std::vector<std::string> profiles;
    app.add_option("--profile", profiles,
                   "the cards' profile: aic100 (default), aic080 or aic200; a list "
                   "(aic100,aic200 or repeated) gives card N the Nth, the last one the cards "
                   "after it")
        ->delimiter(',');
    std::vector<std::string> params;
    app.add_option("--param", params,
                   "a driver parameter, name=value (repeatable; e.g. debug=0x1 logs why each "
                   "call was refused; the list: docs/uapi.md, \"Module parameters\")");
    bool socket_calls = false;
    app.add_flag("--socket-calls", socket_calls,
                 "take every call as a message on its channel's socket, never through a "
                 "shared slot (slower: for comparison and diagnosis)");
    app.set_version_flag("--version", "qaicd " QAIC_VERSION);
    CLI11_PARSE(app, argc, argv);

    opts.slots = !socket_calls;
    kernel::set_log_sink(qaicd::log_line);
    if (!group_name.empty()) {
        char *end = nullptr;
        unsigned long gid = std::strtoul(group_name.c_str(), &end, 10);
        if (end && !*end) {
            opts.group = gid_t(gid);
        } else if (const struct group *g = getgrnam(group_name.c_str())) {
            opts.group = g->gr_gid;
        } else {
            qaicd::log(qaicd::Level::kErr, "no group %s", group_name.c_str());
            return 2;
        }
    }
    opts.listen_fds = activation_fds();
    if (!opts.listen_fds.empty())
        opts.cards = unsigned(opts.listen_fds.size());
    if (opts.dir.empty())
        opts.dir = default_dir();
    if (opts.dir.empty() && opts.listen_fds.empty()) {
        qaicd::log(qaicd::Level::kErr, "no XDG_RUNTIME_DIR: say where the sockets go with --dir");
        return 2;
    }

    // A client that vanishes mid-reply must not kill the daemon; every send says MSG_NOSIGNAL,
    // this covers the rest.
    signal(SIGPIPE, SIG_IGN);
    // Each BO and channel holds an fd: take what the administrator allows.
    rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    std::vector<qaic::ParamSetting> settings;
    for (const std::string &p : params) {
        auto one = qaic::Params::parse(p);
        if (one.is_error() || one.value().size() != 1) {
            qaicd::log(qaicd::Level::kErr, "--param %s: not name=value of a known parameter in "
                                           "its range (docs/uapi.md, \"Module parameters\")",
                       p.c_str());
            return 2;
        }
        settings.push_back(std::move(one.value()[0]));
    }
    std::vector<uint16_t> devices;
    for (const std::string &name : profiles) {
        const aic100::PciProfile *p = aic100::pci_profile(std::string_view(name));
        if (!p) {
            qaicd::log(qaicd::Level::kErr, "--profile %s: no such card (aic100, aic080, aic200)",
                       name.c_str());
            return 2;
        }
        devices.push_back(p->device);
    }
    host::Machine machine(opts.cards, host::CardOptions{ddr_mb << 20, bo_mb << 20,
                                                        std::move(settings), std::move(devices)});
    qaicd::Server server(machine, opts);
    if (!server.listen())
        return 1;
    return server.run();
}
