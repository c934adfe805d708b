// SPDX-License-Identifier: MIT
// qaic-run: runs an unmodified program against simulated AIC100 cards.
//
// What runs where: qaic-run holds a umockdev testbed (the cards' sysfs, udev database and
// uevent netlink, seen by every program under umockdev's preload), starts a private qaicd
// unless --device names running ones, and runs the command with libqaic-preload.so in front
// of umockdev's preload (/dev/accel/accelN leads to the card's qaicd socket). While the
// command runs, qaic-run follows each card's DBC states through a watch connection to qaicd
// and turns them into dbc<N>_state and its uevents. It exits with the command's status.
#include "drivers/accel/accel.h"
#include "drivers/accel/qaic/qaic_params.h"
#include "host/wire.h"
#include "include/hw/aic100_pci.h"
#include "userspace/lib/backend.h"

#include <CLI/CLI.hpp>
#include <qaic/version.h>
#include <umockdev.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <link.h>
#include <filesystem>
#include <map>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;

// The PCI function of card i: bus i+1 (0000:01:00.0, 0000:02:00.0, ...).
std::string bdf(unsigned i)
{
    char s[16];
    std::snprintf(s, sizeof(s), "0000:%02x:00.0", i + 1);
    return s;
}

// One card as the host's tools see it: its PCI device (bound to qaic) and its accel device.
struct CardView {
    unsigned index;
    std::string socket;
    const aic100::PciProfile *profile; // its PCI device as the bus shows it
    std::string pci_path;   // /sys/devices/...
    std::string accel_path; // .../accel/accelN
    std::string class_path; // .../Qualcomm Cloud AI 100/... (the runtime's old class)
    int watch = -1;         // qaicd's kWatch connection
    std::vector<int> states; // dbc<N>_state as the testbed shows them
};

class Testbed {
public:
    Testbed() : tb_(umockdev_testbed_new()) {}
    ~Testbed() { g_object_unref(tb_); } // removes the testbed's directory
    Testbed(const Testbed &) = delete;
    Testbed &operator=(const Testbed &) = delete;

    void add_card(CardView &card)
    {
        const std::string slot = bdf(card.index);
        const aic100::PciProfile &p = *card.profile;
        char device[8], id[16], modalias[64];
        std::snprintf(device, sizeof(device), "0x%04x", p.device);
        std::snprintf(id, sizeof(id), "%04X:%04X", aic100::kPciVendorQcom, p.device);
        std::snprintf(modalias, sizeof(modalias), "pci:v%08Xd%08Xsv%08Xsd%08Xbc12sc00i00",
                      aic100::kPciVendorQcom, p.device, aic100::kPciVendorQcom, p.device);
        card.pci_path = add("pci", "pci0000:00/" + slot, nullptr,
                            {"vendor", "0x17cb", "device", device, "subsystem_vendor", "0x17cb",
                             "subsystem_device", device, "class", "0x120000", "revision", "0x00",
                             "irq", "0", "enable", "1", "numa_node", "-1", "local_cpulist", "0-1",
                             "current_link_speed", "16.0 GT/s PCIe", "current_link_width", "8",
                             "max_link_speed", "16.0 GT/s PCIe", "max_link_width", "8",
                             "resource", resource_text(p), "modalias", modalias},
                            {"DRIVER", "qaic", "PCI_CLASS", "120000", "PCI_ID", id, "PCI_SUBSYS_ID", id,
                             "PCI_SLOT_NAME", slot, "MODALIAS", modalias});
        auto config = aic100::pci_config_space(p);
        umockdev_testbed_set_attribute_binary(tb_, card.pci_path.c_str(), "config", config.data(),
                                              config.size());
        // The driver link, and the driver's view of its devices.
        fs::path sys = sys_dir();
        fs::path drv = sys / "bus/pci/drivers/qaic";
        fs::create_directories(drv);
        fs::path dev_dir = sys / card.pci_path.substr(std::strlen("/sys/"));
        std::error_code ec;
        fs::create_directory_symlink(fs::relative(drv, dev_dir), dev_dir / "driver", ec);
        fs::create_directory_symlink(fs::relative(dev_dir, drv), drv / slot, ec);

        std::string minor = std::to_string(card.index);
        std::string node = "accel/accel" + minor;
        card.accel_path = add("accel", "accel/accel" + minor, card.pci_path.c_str(),
                              {"dev", "261:" + minor},
                              {"DEVNAME", "/dev/" + node, "MAJOR", "261", "MINOR", minor});
        // The class device's link to its parent, as sysfs has it (accelN/device).
        fs::path accel_dir = sys / card.accel_path.substr(std::strlen("/sys/"));
        fs::create_directory_symlink(fs::relative(dev_dir, accel_dir), accel_dir / "device", ec);
        // The node as stat(2) and readdir see it (umockdev makes it a char device 261:N);
        // opening it is the preload's.
        fs::path dev = root_dir() / "dev/accel";
        fs::create_directories(dev);
        fs::path node_file = dev / ("accel" + minor);
        std::fclose(std::fopen(node_file.c_str(), "w"));
        fs::permissions(node_file, fs::perms(0666)); // as fstat says of an open one
        // Qualcomm's runtime watches uevents of its driver's old class: a device there too.
        card.class_path = add("Qualcomm Cloud AI 100", "Qualcomm Cloud AI 100/qaic_aic100_" + minor,
                              card.pci_path.c_str(), {}, {"QAIC_ACCEL", "/dev/" + node});
    }

    // The driver's other files, so that listings and stat find them where tools look: debugfs
    // (/sys/kernel/debug/accel/<bdf>/), the PCI device's RAS counters and, from the first
    // card, the module's parameters, each with its mode. What they hold here is their content
    // when the command starts; the preload serves each open with the content of that moment.
    void add_driver_files(CardView &card, bool module)
    {
        std::string index;
        int ret = libqaic::daemon_read_attr(card.socket.c_str(), "", &index);
        if (ret < 0)
            throw std::runtime_error(card.socket + ": the driver's files: " + std::strerror(-ret));
        fs::path sys = sys_dir();
        fs::path debug = sys / "kernel/debug/accel" / bdf(card.index);
        fs::path pci = sys / card.pci_path.substr(std::strlen("/sys/"));
        for (size_t at = 0; at < index.size();) {
            size_t end = index.find('\n', at);
            std::string line = index.substr(at, end - at);
            at = end == std::string::npos ? index.size() : end + 1;
            size_t sp = line.find(' ');
            if (sp == std::string::npos)
                continue;
            std::string path = line.substr(sp + 1);
            auto mode = fs::perms(std::strtoul(line.c_str(), nullptr, 8));
            fs::path file;
            if (path.starts_with("debug/"))
                file = debug / path.substr(6);
            else if (path.starts_with("device/"))
                file = pci / path.substr(7);
            else if (path.starts_with("parameters/") && module)
                file = sys / "module/qaic" / path;
            else
                continue; // accel/: dbc<N>_state, kept by the watch
            std::string content;
            if (libqaic::daemon_read_attr(card.socket.c_str(), path.c_str(), &content) < 0)
                continue;
            fs::create_directories(file.parent_path());
            write(file, content);
            fs::permissions(file, mode);
        }
    }

    // dbc<N>_state := state; a KOBJ_CHANGE with DBC_ID and DBC_STATE on the accel device and
    // on the old class device when it changed, as the driver's kobject_uevent_env sends it.
    void dbc_state(CardView &card, unsigned dbc, int state, bool announce)
    {
        if (dbc >= card.states.size())
            card.states.resize(dbc + 1, -1);
        if (card.states[dbc] == state)
            return;
        card.states[dbc] = state;
        std::string value = std::to_string(state) + "\n";
        std::string name = "dbc" + std::to_string(dbc) + "_state";
        umockdev_testbed_set_attribute(tb_, card.accel_path.c_str(), name.c_str(), value.c_str());
        if (announce)
            uevent(card, "change", {"DBC_ID=" + std::to_string(dbc), "DBC_STATE=" + std::to_string(state)});
    }

    // A uevent of the card with extra variables: they stand in the device's uevent file while
    // umockdev builds the message from it, then the file is as before.
    void uevent(CardView &card, const char *action, const std::vector<std::string> &env)
    {
        for (const std::string *dev : {&card.accel_path, &card.class_path}) {
            fs::path file = sys_dir() / dev->substr(std::strlen("/sys/")) / "uevent";
            std::string base = read(file);
            std::string with = base;
            for (const std::string &v : env)
                with += v + "\n";
            write(file, with);
            umockdev_testbed_uevent(tb_, dev->c_str(), action);
            write(file, base);
        }
    }

private:
    std::string add(const char *subsystem, const std::string &name, const char *parent,
                    const std::vector<std::string> &attrs, const std::vector<std::string> &props)
    {
        // Text attributes end in a newline, as sysfs prints them.
        std::vector<std::string> lines;
        for (size_t i = 0; i < attrs.size(); ++i)
            lines.push_back(i % 2 && !attrs[i].ends_with('\n') ? attrs[i] + "\n" : attrs[i]);
        std::vector<const char *> a, p;
        for (const std::string &s : lines)
            a.push_back(s.c_str());
        for (const std::string &s : props)
            p.push_back(s.c_str());
        a.push_back(nullptr);
        p.push_back(nullptr);
        gchar *path = umockdev_testbed_add_devicev(tb_, subsystem, name.c_str(), parent,
                                                  const_cast<gchar **>(a.data()),
                                                  const_cast<gchar **>(p.data()));
        if (!path)
            throw std::runtime_error("umockdev could not add " + name);
        std::string out = path;
        g_free(path);
        return out;
    }

    fs::path root_dir()
    {
        gchar *d = umockdev_testbed_get_root_dir(tb_);
        fs::path p = d;
        g_free(d);
        return p;
    }

    fs::path sys_dir()
    {
        gchar *d = umockdev_testbed_get_sys_dir(tb_);
        fs::path p = d;
        g_free(d);
        return p;
    }

    // start end flags, per resource (the six BARs), as sysfs prints them: the profile's
    // memory BARs (prefetchable; 64-bit ones with IORESOURCE_MEM_64), empty lines for the rest.
    static std::string resource_text(const aic100::PciProfile &p)
    {
        std::string s;
        for (unsigned i = 0; i < p.bars.size(); ++i) {
            char line[80];
            uint64_t start = aic100::pci_bar_address(i), size = p.bars[i].size;
            if (size)
                std::snprintf(line, sizeof(line), "0x%016llx 0x%016llx 0x%016llx\n",
                              (unsigned long long)start, (unsigned long long)(start + size - 1),
                              p.bars[i].is64 ? 0x14220cull : 0x42208ull);
            else
                std::snprintf(line, sizeof(line), "0x%016llx 0x%016llx 0x%016llx\n", 0ull, 0ull,
                              0ull);
            s += line;
        }
        return s;
    }

    static std::string read(const fs::path &file)
    {
        std::string s;
        if (FILE *f = std::fopen(file.c_str(), "r")) {
            char buf[4096];
            size_t n;
            while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
                s.append(buf, n);
            std::fclose(f);
        }
        return s;
    }

    static void write(const fs::path &file, const std::string &s)
    {
        if (FILE *f = std::fopen(file.c_str(), "w")) {
            std::fwrite(s.data(), 1, s.size(), f);
            std::fclose(f);
        }
    }

    UMockdevTestbed *tb_;
};

// One kEvent from a watch connection, or false when the connection ended.
bool read_event(int fd, wire::Event *e, std::vector<std::string> *env)
{
    ssize_t n = ::recv(fd, e, sizeof(*e), 0);
    if (n != ssize_t(sizeof(*e)) || e->hdr.magic != wire::kMagic ||
        e->hdr.op != uint32_t(wire::Op::kEvent) || e->env_len > sizeof(e->env))
        return false;
    env->clear();
    for (size_t at = 0; at < e->env_len;) {
        size_t len = strnlen(e->env + at, e->env_len - at);
        env->emplace_back(e->env + at, len);
        at += len + 1;
    }
    return true;
}

int var(const std::vector<std::string> &env, const char *key)
{
    size_t klen = std::strlen(key);
    for (const std::string &v : env)
        if (v.size() > klen && v.compare(0, klen, key) == 0 && v[klen] == '=')
            return std::atoi(v.c_str() + klen + 1);
    return -1;
}

// Connects a watch to the card and puts its DBC states into the testbed (announced as
// changes only when a watch is made again, after a lost one).
bool watch_card(Testbed &tb, CardView &card, bool announce)
{
    int fd = -1;
    int ret = libqaic::daemon_watch(card.socket.c_str(), &fd);
    if (ret < 0) {
        std::fprintf(stderr, "qaic-run: %s: cannot watch the card: %s\n", card.socket.c_str(),
                     std::strerror(-ret));
        return false;
    }
    wire::Event e{};
    std::vector<std::string> env;
    bool read = false;
    while ((read = read_event(fd, &e, &env)) && e.action == wire::kEventState) {
        int dbc = var(env, "DBC_ID"), state = var(env, "DBC_STATE");
        if (dbc >= 0 && dbc < 64 && state >= 0)
            tb.dbc_state(card, unsigned(dbc), state, announce);
    }
    if (!read || e.action != wire::kEventStatesEnd) {
        ::close(fd);
        return false;
    }
    card.watch = fd;
    return true;
}

void on_event(Testbed &tb, CardView &card)
{
    wire::Event e{};
    std::vector<std::string> env;
    if (!read_event(card.watch, &e, &env)) {
        // Cut off for falling behind, or qaicd is gone: a fresh view if it is still there.
        ::close(card.watch);
        card.watch = -1;
        watch_card(tb, card, true);
        return;
    }
    int dbc = var(env, "DBC_ID"), state = var(env, "DBC_STATE");
    switch (accel::KobjAction(e.action)) {
    case accel::KobjAction::kChange:
        if (dbc >= 0 && dbc < 64 && state >= 0)
            tb.dbc_state(card, unsigned(dbc), state, true);
        break;
    case accel::KobjAction::kOnline:
    case accel::KobjAction::kOffline:
        tb.uevent(card, accel::kobj_action_name(accel::KobjAction(e.action)), {});
        break;
    default:
        break;
    }
}

} // namespace

namespace {

// The user's LD_PRELOAD, for the programs we start, from before we ran under umockdev.
void restore_preload()
{
    const char *orig = std::getenv("QAIC_RUN_LD_PRELOAD");
    if (orig && *orig)
        setenv("LD_PRELOAD", orig, 1);
    else
        unsetenv("LD_PRELOAD");
    unsetenv("QAIC_RUN_LD_PRELOAD");
    unsetenv("QAIC_RUN_UMOCKDEV");
}

// A private qaicd for the command: the sockets are made and listening here, then handed to
// qaicd by socket activation (sd_listen_fds), so the command can connect the moment it runs.
struct PrivateDaemon {
    std::string dir;
    pid_t pid = -1;

    bool start(const std::string &qaicd, unsigned cards, const std::vector<std::string> &profiles,
               const std::vector<std::string> &params,
               std::vector<std::string> *sockets)
    {
        const char *tmp = std::getenv("TMPDIR");
        std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/qaic-run.XXXXXX";
        if (!mkdtemp(tmpl.data())) {
            std::fprintf(stderr, "qaic-run: %s: %s\n", tmpl.c_str(), std::strerror(errno));
            return false;
        }
        dir = tmpl;
        std::vector<int> fds;
        for (unsigned i = 0; i < cards; ++i) {
            std::string path = dir + "/accel" + std::to_string(i);
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            if (path.size() >= sizeof(addr.sun_path)) {
                std::fprintf(stderr, "qaic-run: %s: path too long\n", path.c_str());
                return false;
            }
            std::strcpy(addr.sun_path, path.c_str());
            int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
            if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0 ||
                ::listen(fd, 128) != 0) {
                std::fprintf(stderr, "qaic-run: %s: %s\n", path.c_str(), std::strerror(errno));
                return false;
            }
            fds.push_back(fd);
            sockets->push_back(path);
        }
        std::string log = dir + "/qaicd.log";
        // qaicd's arguments, made before the fork: the child only execs.
        std::vector<std::string> args{qaicd, "--dir", dir};
        std::string profile_list;
        for (const std::string &p : profiles)
            profile_list += (profile_list.empty() ? "" : ",") + p;
        if (!profile_list.empty())
            args.insert(args.end(), {"--profile", profile_list});
        for (const std::string &p : params)
            args.insert(args.end(), {"--param", p});
        std::vector<char *> argv;
        for (std::string &a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        pid = fork();
        if (pid < 0)
            return false;
        if (pid == 0) {
            // fds 3.. in order, as LISTEN_FDS counts them. Moved above the range first, so
            // none is overwritten before it is moved.
            std::vector<int> high;
            for (int fd : fds)
                high.push_back(fcntl(fd, F_DUPFD, 100));
            for (size_t i = 0; i < high.size(); ++i)
                dup2(high[i], int(3 + i)); // dup2 clears close-on-exec
            int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (logfd >= 0)
                dup2(logfd, 2);
            prctl(PR_SET_PDEATHSIG, SIGTERM); // it serves this command only
            restore_preload(); // qaicd runs on the real machine
            unsetenv("UMOCKDEV_DIR");
            setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
            setenv("LISTEN_FDS", std::to_string(fds.size()).c_str(), 1);
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, nullptr);
            execv(qaicd.c_str(), argv.data());
            std::fprintf(stderr, "qaic-run: %s: %s\n", qaicd.c_str(), std::strerror(errno));
            _exit(127);
        }
        for (int fd : fds)
            ::close(fd);
        return true;
    }

    // SIGTERM, then its status; its log when it did not end cleanly.
    void stop()
    {
        if (pid > 0) {
            kill(pid, SIGTERM);
            int status = 0;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                std::fprintf(stderr, "qaic-run: qaicd ended with status 0x%x; its log:\n", status);
                if (FILE *f = std::fopen((dir + "/qaicd.log").c_str(), "r")) {
                    char line[512];
                    while (std::fgets(line, sizeof(line), f))
                        std::fprintf(stderr, "  %s", line);
                    std::fclose(f);
                }
            }
            pid = -1;
        }
        if (!dir.empty()) {
            std::error_code ec;
            fs::remove_all(dir, ec);
            dir.clear();
        }
    }
};

// The sanitizer runtimes this qaic-run was built with, in load order: a sanitizer build's
// preload library needs them loaded before it, in whatever program it goes into.
std::string sanitizer_runtimes()
{
    std::string libs;
    dl_iterate_phdr(
        [](dl_phdr_info *info, size_t, void *out) {
            std::string name = info->dlpi_name ? info->dlpi_name : "";
            std::string base = name.substr(name.rfind('/') + 1);
            for (const char *rt : {"libasan.so", "libubsan.so", "libtsan.so"})
                if (base.rfind(rt, 0) == 0)
                    *static_cast<std::string *>(out) += name + ":";
            return 0;
        },
        &libs);
    return libs;
}

// The command, with our preload first and umockdev's after it (umockdev reaches libc through
// its own handle, so a library after it would never see the calls).
pid_t run_command(const std::vector<std::string> &cmd, const std::string &preload,
                  const std::vector<std::string> &sockets)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    restore_preload();
    std::string libs = sanitizer_runtimes() + preload + ":libumockdev-preload.so.0";
    if (const char *old = std::getenv("LD_PRELOAD"); old && *old)
        libs += std::string(":") + old;
    std::string names;
    for (const std::string &s : sockets)
        names += (names.empty() ? "" : ":") + s;
    setenv("LD_PRELOAD", libs.c_str(), 1);
    setenv("QAIC_RUN_SOCKETS", names.c_str(), 1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char *> argv;
    for (const std::string &a : cmd)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "qaic-run: %s: %s\n", argv[0], std::strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

} // namespace

#if defined(__SANITIZE_THREAD__)
// Debian's libumockdev races with its own testbed worker thread (a string the main thread
// frees while the worker copies it, seen once in a ThreadSanitizer run of qaic_run.sh): not
// ours to fix, and not what the ThreadSanitizer runs look for.
extern "C" __attribute__((visibility("default"))) const char *__tsan_default_suppressions()
{
    return "race:libumockdev.so\n";
}
#endif

int main(int argc, char **argv)
{
    // libumockdev checks the devices it adds through the paths a program sees, so the
    // testbed's holder runs under umockdev's preload too, as umockdev-wrapper would run it.
    if (!std::getenv("QAIC_RUN_UMOCKDEV")) {
        const char *orig = std::getenv("LD_PRELOAD");
        setenv("QAIC_RUN_LD_PRELOAD", orig ? orig : "", 1);
        setenv("QAIC_RUN_UMOCKDEV", "1", 1);
        setenv("LD_PRELOAD", (sanitizer_runtimes() + "libumockdev-preload.so.0").c_str(), 1);
        execv("/proc/self/exe", argv);
        std::fprintf(stderr, "qaic-run: cannot run under umockdev's preload: %s\n", std::strerror(errno));
        return 125;
    }

    CLI::App app{"qaic-run: runs an unmodified program against simulated AIC100 cards: they show "
                 "in sysfs, udev and lspci as PCI devices bound to qaic with accel devices, "
                 "/dev/accel/accelN opens them, and their DBC states come as dbc<N>_state and "
                 "uevents. The cards are a private qaicd's, or running ones' (--device)."};
    std::vector<std::string> devices;
    unsigned cards = 1;
    std::vector<std::string> cmd;
    app.add_option("--device", devices,
                   "a running qaicd's card socket (DIR/accelN); repeat for more cards: they "
                   "become accel0, accel1, ... in order")
        ->type_name("PATH")
        ->allow_extra_args(false); // one path per --device: the command follows
    app.add_option("--cards", cards, "cards of the private qaicd (default 1)")
        ->check(CLI::Range(1, 16))
        ->excludes("--device");
    std::vector<std::string> profiles;
    app.add_option("--profile", profiles,
                   "the private qaicd's cards: aic100 (default), aic080 or aic200; a list "
                   "(aic100,aic200 or repeated) gives card N the Nth, the last one the cards "
                   "after it. With --device, each card shows as what its qaicd says it is")
        ->delimiter(',')
        ->allow_extra_args(false) // one list per --profile: the command follows
        ->excludes("--device");
    std::vector<std::string> params;
    app.add_option("--param", params,
                   "a driver module parameter of the private qaicd's cards, name=value, as "
                   "given at load (repeatable; docs/uapi.md, \"Module parameters\")")
        ->type_name("NAME=VALUE")
        ->allow_extra_args(false)
        ->excludes("--device");
    app.prefix_command(); // from the first positional on, all is the command's
    app.footer("usage: qaic-run [OPTIONS] [--] COMMAND [ARGS...]");
    app.set_version_flag("--version", "qaic-run " QAIC_VERSION);
    CLI11_PARSE(app, argc, argv);
    for (const std::string &name : profiles)
        if (!aic100::pci_profile(std::string_view(name))) {
            std::fprintf(stderr, "qaic-run: --profile %s: no such card (aic100, aic080, aic200)\n",
                         name.c_str());
            return 2;
        }
    cmd = app.remaining();
    if (!cmd.empty() && cmd.front() == "--")
        cmd.erase(cmd.begin());
    if (cmd.empty()) {
        std::fprintf(stderr, "qaic-run: no command (usage: qaic-run [OPTIONS] [--] COMMAND [ARGS...])\n");
        return 125;
    }

    for (const std::string &p : params) {
        auto one = qaic::Params::parse(p);
        if (one.is_error() || one.value().size() != 1) {
            std::fprintf(stderr, "qaic-run: --param %s: not name=value of a known parameter in "
                                 "its range (docs/uapi.md, \"Module parameters\")\n",
                         p.c_str());
            return 2;
        }
    }

    std::error_code ec;
    fs::path bindir = fs::read_symlink("/proc/self/exe", ec).parent_path();
    // The preload library: beside libqaic in a build tree, in its private folder once
    // installed (make install, the Debian package).
    std::string preload;
    for (const char *rel : {"lib/libqaic-preload.so", "lib/qaic/libqaic-preload.so"}) {
        preload = (bindir.parent_path() / rel).string();
        if (access(preload.c_str(), R_OK) == 0)
            break;
    }
    if (access(preload.c_str(), R_OK) != 0) {
        std::fprintf(stderr, "qaic-run: %s: %s\n", preload.c_str(), std::strerror(errno));
        return 125;
    }

    // SIGCHLD and the signals we pass on to the command, read from a signalfd.
    sigset_t sigs;
    sigemptyset(&sigs);
    for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT})
        sigaddset(&sigs, s);
    sigprocmask(SIG_BLOCK, &sigs, nullptr);
    int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);

    PrivateDaemon daemon;
    std::vector<std::string> sockets = devices;
    if (devices.empty() &&
        !daemon.start((bindir / "qaicd").string(), cards, profiles, params, &sockets)) {
        daemon.stop();
        return 125;
    }

    int status = 125;
    try {
        Testbed tb; // sets UMOCKDEV_DIR for the command
        std::vector<CardView> views;
        for (unsigned i = 0; i < sockets.size(); ++i) {
            // What the card is, from its qaicd (an older one cannot say: an AIC100).
            int id = libqaic::daemon_sim_pci_id(sockets[i].c_str());
            const aic100::PciProfile *p = id < 0 ? nullptr : aic100::pci_profile(uint16_t(id));
            if (!p)
                p = aic100::pci_profile(aic100::kPciDevAic100);
            views.push_back(CardView{i, sockets[i], p, {}, {}, {}, -1, {}});
        }
        bool ok = true;
        for (CardView &v : views) {
            tb.add_card(v);
            ok = ok && watch_card(tb, v, false);
            if (ok)
                tb.add_driver_files(v, v.index == 0);
        }
        pid_t child = ok ? run_command(cmd, preload, sockets) : -1;
        while (child > 0) {
            std::vector<pollfd> p{{sigfd, POLLIN, 0}};
            for (CardView &v : views)
                p.push_back({v.watch, POLLIN, 0});
            if (poll(p.data(), p.size(), -1) < 0 && errno != EINTR)
                break;
            for (size_t i = 1; i < p.size(); ++i)
                if (p[i].revents)
                    on_event(tb, views[i - 1]);
            if (!(p[0].revents & POLLIN))
                continue;
            signalfd_siginfo si;
            if (::read(sigfd, &si, sizeof(si)) != ssize_t(sizeof(si)))
                continue;
            if (si.ssi_signo != SIGCHLD) {
                kill(child, int(si.ssi_signo));
                continue;
            }
            int st;
            if (waitpid(child, &st, WNOHANG) == child) {
                status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                child = -1;
            }
        }
        for (CardView &v : views)
            if (v.watch >= 0)
                ::close(v.watch);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "qaic-run: %s\n", e.what());
    }
    daemon.stop();
    return status;
}
