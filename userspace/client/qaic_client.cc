// SPDX-License-Identifier: MIT
// qaic-client: the reference client. It reaches the device only through libqaic's
// device-file ABI, its C++ layer and the uAPI, so it runs unchanged on the simulated card and
// on a real node. Exit status: 0 success, 1 a device or ioctl failure, 2 outputs that do not
// match the host reference, other values for command-line errors (CLI11's).
#include "include/hw/aic100_nnc.h"
#include "include/hw/aic100_pci.h"
#include "userspace/client/mlp.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <qaic/qaic.hpp>
#include <qaic/qaic_sim.h>
#include <qaic/version.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string device;
    bool json = false;
    bool verbose = false;
    // run
    uint32_t iterations = 100;
    uint32_t batch = 8;
    uint32_t queue_size = 64;
    uint64_t model_seed = 1;
    int64_t device_weights_seed = -1; // -1: the model's own weights
    bool progress = true;
    // dma
    uint64_t dma_size = 4 << 20;
    uint32_t dma_iterations = 20;
    // inject
    std::string event;
    uint32_t inject_dbc = 0;
    // coredump
    std::string dump_file;
};

const char *dbc_state_name(unsigned s)
{
    static const char *names[] = {"idle",           "assigned",        "before-shutdown",
                                  "after-shutdown", "before-power-up", "after-power-up"};
    return s < 6 ? names[s] : "?";
}

std::string json_str(const std::string &s)
{
    std::string out = "\"";
    for (char c : s)
        out += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
    return out + "\"";
}

// The firmware's NNC STATUS (Qualcomm's runtime protocol, docs/device-model.md): the host API
// info, with what is loaded and running on the card. False when the firmware does not answer it.
bool nnc_status(qaic::Device &dev, aic100::NncStatusRsp *out)
{
    std::vector<uint8_t> t(8 + sizeof(aic100::NncStatusReq) + 8, 0);
    qaic_manage_trans_hdr h{QAIC_TRANS_PASSTHROUGH_FROM_USR, uint32_t(t.size())};
    aic100::NncStatusReq req{aic100::kNncStatus, 0, {}};
    std::memcpy(t.data(), &h, sizeof(h));
    std::memcpy(t.data() + 8, &req, sizeof(req));
    std::vector<uint8_t> rsp;
    try {
        rsp = dev.manage(t, 1);
    } catch (const qaic::Error &) {
        return false;
    }
    if (rsp.size() < 8 + sizeof(*out))
        return false;
    std::memcpy(out, rsp.data() + 8, sizeof(*out));
    return out->hdr.type == aic100::kNncStatus + 1 && out->hdr.status == aic100::kNncOk;
}

// A sysfs attribute's number ("0x17cb\n"), or -1.
long sysfs_number(const std::string &path)
{
    FILE *f = std::fopen(path.c_str(), "r");
    if (!f)
        return -1;
    char buf[32] = {};
    bool ok = std::fgets(buf, sizeof(buf), f) != nullptr;
    std::fclose(f);
    char *end = nullptr;
    long v = ok ? std::strtol(buf, &end, 0) : -1;
    return ok && end != buf ? v : -1;
}

// The card's model from its PCI ids: the simulated card's profile (qaic_sim_pci_id), or for an
// accel node the PCI device sysfs puts behind it (/sys/class/accel/accelN/device).
std::string card_model(int fd, const std::string &device, std::string *pci_id)
{
    int id = qaic_sim_pci_id(fd);
    if (id < 0 && device.rfind("/dev/accel/", 0) == 0) {
        std::string dir = "/sys/class/accel/" + device.substr(11) + "/device/";
        long vendor = sysfs_number(dir + "vendor"), dev = sysfs_number(dir + "device");
        if (vendor >= 0 && vendor <= 0xffff && dev >= 0 && dev <= 0xffff)
            id = int(vendor << 16 | dev);
    }
    if (id < 0) {
        *pci_id = "";
        return "unknown";
    }
    char s[16];
    std::snprintf(s, sizeof(s), "%04x:%04x", unsigned(id) >> 16, unsigned(id) & 0xffff);
    *pci_id = s;
    if (const aic100::PciProfile *p = aic100::pci_profile(uint16_t(id));
        p && unsigned(id) >> 16 == aic100::kPciVendorQcom)
        return std::string("Qualcomm ") + p->product;
    return "unknown";
}

// One of the driver's files (qaic_sim_read_attr), its last newline dropped; false when it
// cannot be read.
bool driver_file(const std::string &path, std::string *out)
{
    std::vector<char> buf(4096);
    for (;;) {
        int n = qaic_sim_read_attr(path.c_str(), buf.data(), buf.size());
        if (n < 0)
            return false;
        if (size_t(n) < buf.size()) {
            out->assign(buf.data(), size_t(n));
            break;
        }
        buf.resize(size_t(n) + 1); // grew since: ask again with room for it
    }
    if (!out->empty() && out->back() == '\n')
        out->pop_back();
    return true;
}

// The module's parameters as /sys/module/qaic/parameters shows them: (name, value), from the
// driver's index of its files; empty when it has none to give (a real node).
std::vector<std::pair<std::string, std::string>> driver_params()
{
    std::vector<std::pair<std::string, std::string>> out;
    std::string index;
    if (!driver_file("", &index))
        return out;
    size_t at = 0;
    while (at < index.size()) {
        size_t end = index.find('\n', at);
        std::string line =
            index.substr(at, end == std::string::npos ? std::string::npos : end - at);
        at = end == std::string::npos ? index.size() : end + 1;
        size_t sp = line.find(' ');
        std::string path = sp == std::string::npos ? "" : line.substr(sp + 1);
        std::string value;
        if (path.rfind("parameters/", 0) == 0 && driver_file(path, &value))
            out.emplace_back(path.substr(11), value);
    }
    return out;
}

int cmd_info(qaic::Device &dev, const Options &o)
{
    std::string pci_id;
    const char *env = std::getenv("QAIC_DEVICE");
    std::string path = !o.device.empty() ? o.device : env ? env : "";
    std::string model = card_model(dev.fd(), path, &pci_id);
    qaic::Version v = dev.version();
    qaic::FwStatus fw = dev.status();
    auto nnc = std::make_unique<aic100::NncStatusRsp>();
    bool have_nnc = nnc_status(dev, nnc.get());
    const aic100::NncDevData &nd = nnc->info.dev;
    int ndbc = qaic_sim_num_dbc(dev.fd());
    // The RAS counters (upstream's sysfs ce_count, ue_count, ue_nonfatal_count).
    qaic_sim_ras_counts ras{};
    bool have_ras = qaic_sim_get_ras_counts(dev.fd(), &ras) == 0;
    auto params = driver_params();
    if (o.json) {
        std::printf("{\"driver\": %s, \"version\": \"%d.%d.%d\", \"date\": %s, \"desc\": %s, "
                    "\"firmware\": \"%u.%u\", \"crc_required\": %s, ",
                    json_str(v.name).c_str(), v.major, v.minor, v.patchlevel,
                    json_str(v.date).c_str(), json_str(v.desc).c_str(), fw.major, fw.minor,
                    fw.flags & 1 ? "true" : "false");
        std::printf("\"model\": %s, \"pci_id\": %s, ", json_str(model).c_str(),
                    json_str(pci_id).c_str());
        if (have_nnc)
            std::printf("\"nnc\": {\"protocol\": \"%u.%u\", \"metadata\": \"%u.%u\", "
                        "\"networks_loaded\": %u, \"networks_active\": %u, "
                        "\"constants_loaded\": %u, \"constants_in_use\": %u}, ",
                        nd.nnc_proto_major, nd.nnc_proto_minor, nd.meta_ver_major,
                        nd.meta_ver_minor, nd.num_loaded_nws, nd.num_active_nws,
                        nd.num_loaded_consts, nd.num_consts_in_use);
        std::printf("\"parameters\": {");
        bool first = true;
        for (auto &[name, value] : params) {
            std::printf("%s%s: %s", first ? "" : ", ", json_str(name).c_str(),
                        json_str(value).c_str());
            first = false;
        }
        std::printf("}, ");
        if (have_ras)
            std::printf("\"ras\": {\"ce_count\": %u, \"ue_count\": %u, "
                        "\"ue_nonfatal_count\": %u}, ",
                        ras.ce_count, ras.ue_count, ras.ue_nonfatal_count);
        std::printf("\"dbcs\": [");
        for (int i = 0; i < ndbc; ++i) {
            qaic_sim_dbc_status st{};
            qaic_sim_get_dbc_status(dev.fd(), unsigned(i), &st);
            std::printf("%s{\"id\": %d, \"state\": \"%s\"}", i ? ", " : "", i,
                        dbc_state_name(st.state));
        }
        std::printf("]}\n");
        return 0;
    }
    std::printf("driver:    %s %d.%d.%d (%s)\n", v.name.c_str(), v.major, v.minor, v.patchlevel,
                v.date.c_str());
    std::printf("desc:      %s\n", v.desc.c_str());
    if (pci_id.empty())
        std::printf("model:     %s\n", model.c_str());
    else
        std::printf("model:     %s [%s]\n", model.c_str(), pci_id.c_str());
    std::printf("firmware:  %u.%u, status %u, CRC %s\n", fw.major, fw.minor, fw.status,
                fw.flags & 1 ? "required" : "not required");
    if (have_nnc)
        std::printf("NNC:       protocol %u.%u, metadata %u.%u; networks %u loaded, %u active; "
                    "constants %u loaded, %u in use\n",
                    nd.nnc_proto_major, nd.nnc_proto_minor, nd.meta_ver_major, nd.meta_ver_minor,
                    nd.num_loaded_nws, nd.num_active_nws, nd.num_loaded_consts,
                    nd.num_consts_in_use);
    else
        std::printf("NNC:       not answered\n");
    if (have_ras)
        std::printf("RAS:       %u correctable, %u uncorrectable, %u uncorrectable non-fatal\n",
                    ras.ce_count, ras.ue_count, ras.ue_nonfatal_count);
    if (!params.empty()) {
        std::printf("params:   ");
        for (auto &[name, value] : params)
            std::printf(" %s=%s", name.c_str(), value.c_str());
        std::printf("\n");
    }
    if (ndbc < 0) {
        std::printf("DBCs:      not readable on this backend\n");
        return 0;
    }
    std::printf("DBCs:     ");
    for (int i = 0; i < ndbc; ++i) {
        qaic_sim_dbc_status st{};
        qaic_sim_get_dbc_status(dev.fd(), unsigned(i), &st);
        std::printf(" %d:%s", i, dbc_state_name(st.state));
    }
    std::printf("\n");
    return 0;
}

int cmd_status(qaic::Device &dev, const Options &o)
{
    int ndbc = qaic_sim_num_dbc(dev.fd());
    if (ndbc < 0)
        throw qaic::Error("DBC status (qaic_sim_get_dbc_status)", errno);
    if (!o.json)
        std::printf("%-4s %-16s %6s %6s %6s %12s %14s %7s %9s %5s %12s %12s\n", "dbc", "state",
                    "nelem", "level", "queued", "elements", "bytes", "errors", "responses",
                    "last", "polled", "deferred");
    else
        std::printf("[");
    for (int i = 0; i < ndbc; ++i) {
        qaic_sim_dbc_status st{};
        if (qaic_sim_get_dbc_status(dev.fd(), unsigned(i), &st) != 0)
            throw qaic::Error("DBC status (qaic_sim_get_dbc_status)", errno);
        // debugfs's count: elements between the device's head and the driver's tail.
        char path[32];
        std::snprintf(path, sizeof(path), "debug/dbc%03d/queued", i);
        std::string queued;
        if (!driver_file(path, &queued))
            queued = o.json ? "null" : "-";
        if (o.json)
            std::printf("%s{\"id\": %d, \"state\": \"%s\", \"nelem\": %u, \"queue_level\": %u, "
                        "\"queued\": %s, \"elements\": %llu, \"bytes\": %llu, \"errors\": %u, "
                        "\"responses\": %u, \"last_error\": %u, \"polled\": %llu, "
                        "\"deferred_doorbells\": %llu}",
                        i ? ", " : "", i, dbc_state_name(st.state), st.nelem, st.queue_level,
                        queued.c_str(), st.elements, st.bytes, st.errors, st.responses,
                        st.last_error, st.polled, st.deferred_doorbells);
        else
            std::printf("%-4d %-16s %6u %6u %6s %12llu %14llu %7u %9u %5u %12llu %12llu\n", i,
                        dbc_state_name(st.state), st.nelem, st.queue_level, queued.c_str(),
                        st.elements, st.bytes, st.errors, st.responses, st.last_error,
                        st.polled, st.deferred_doorbells);
    }
    if (o.json)
        std::printf("]\n");
    return 0;
}

// qaicd's counts: what a host holds for its clients (a leak shows as a count that does not
// come back). Needs no open file of its own beyond the query.
int cmd_host(const Options &o)
{
    qaic_host_stats st{};
    if (qaic_host_get_stats(o.device.empty() ? nullptr : o.device.c_str(), &st) != 0)
        throw qaic::Error("qaicd counts (qaic_host_stats)", errno);
    if (o.json)
        std::printf("{\"files\": %u, \"channels\": %u, \"sleeping_calls\": %u, "
                    "\"dbcs_in_use\": %u, \"bo_bytes\": %llu, \"fds\": %llu, \"threads\": %llu, "
                    "\"rss_bytes\": %llu}\n",
                    st.files, st.channels, st.sleeping_calls, st.dbcs_in_use, st.bo_bytes, st.fds,
                    st.threads, st.rss_bytes);
    else
        std::printf("files:     %u\nchannels:  %u (%u calls asleep in the driver)\n"
                    "dbcs:      %u in use\nbo memory: %llu bytes\nfds:       %llu\n"
                    "threads:   %llu\nrss:       %llu bytes\n",
                    st.files, st.channels, st.sleeping_calls, st.dbcs_in_use, st.bo_bytes, st.fds,
                    st.threads, st.rss_bytes);
    return 0;
}

void progress(uint32_t done, uint32_t total)
{
    int width = 40, fill = int(uint64_t(done) * width / total);
    std::fprintf(stderr, "\r[%.*s%*s] %u/%u", fill, "########################################",
                 width - fill, "", done, total);
    if (done == total)
        std::fprintf(stderr, "\n");
}

double percentile(std::vector<double> v, double p)
{
    std::sort(v.begin(), v.end());
    size_t i = size_t(p / 100.0 * double(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

int cmd_run(qaic::Device &dev, const Options &o)
{
    using namespace mlp;
    mlp::Weights model = make_weights(o.model_seed);
    // The device may be given other weights than the reference uses: a wrong model must be
    // caught by the verification.
    mlp::Weights on_device =
        o.device_weights_seed < 0 ? model : make_weights(uint64_t(o.device_weights_seed));

    qaic::Dbc dbc(dev, o.queue_size);
    std::vector<uint8_t> weights = on_device.image();
    dev.load_ddr(1, weights.data(), weights.size(), Layout::kWeights);
    dbc.load_program(2, make_program(on_device, o.batch));

    uint64_t in_bytes = uint64_t(o.batch) * kIn * 4, out_bytes = uint64_t(o.batch) * kOut * 4;
    qaic::Bo in(dev, in_bytes), out(dev, out_bytes);
    // Input: data to DDR, then the doorbell that starts the program.
    in.attach(dbc.id(), 1, {qaic::Slice(0, in_bytes, Layout::kInput).doorbell(Layout::kDoorbell, 1)});
    // Output: waits for the program's semaphore before moving, then consumes it.
    out.attach(dbc.id(), 2,
               {qaic::Slice(0, out_bytes, Layout::kProbs)
                    .sem(0, QAIC_SEM_WAIT_GT_0, Layout::kDoneSem, 0, true)
                    .sem(1, QAIC_SEM_DEC, Layout::kDoneSem, 1)});

    bool show_progress = o.progress && !o.json && o.iterations >= 50 && isatty(2);
    std::vector<double> lat_us;
    auto start = Clock::now();
    for (uint32_t it = 0; it < o.iterations; ++it) {
        std::vector<float> x = make_input(o.model_seed * 1000003 + it, o.batch);
        std::memcpy(in.data(), x.data(), in_bytes);
        auto t0 = Clock::now();
        dbc.execute({{&in, 1}, {&out, 2}});
        if (int err = dbc.wait(out, 10000))
            throw qaic::Error("DRM_IOCTL_QAIC_WAIT_BO", err);
        lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());

        std::vector<float> y(size_t(o.batch) * kOut);
        std::memcpy(y.data(), out.data(), out_bytes);
        std::vector<float> ref = reference(model, x, o.batch);
        if (long bad = first_mismatch(y, ref); bad >= 0) {
            std::fprintf(stderr,
                         "qaic-client: output mismatch in iteration %u, row %ld, class %ld: "
                         "device %.7g, reference %.7g\n",
                         it, bad / long(kOut), bad % long(kOut), double(y[size_t(bad)]),
                         double(ref[size_t(bad)]));
            if (show_progress)
                std::fprintf(stderr, "\n");
            return 2;
        }
        if (show_progress && ((it + 1) % 10 == 0 || it + 1 == o.iterations))
            progress(it + 1, o.iterations);
    }
    double total_s = std::chrono::duration<double>(Clock::now() - start).count();
    double ips = double(o.iterations) * o.batch / total_s;
    double p50 = percentile(lat_us, 50), p90 = percentile(lat_us, 90),
           p99 = percentile(lat_us, 99), mx = percentile(lat_us, 100);
    if (o.json) {
        std::printf("{\"model\": \"mlp-784-256-10\", \"iterations\": %u, \"batch\": %u, "
                    "\"verified\": true, \"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, "
                    "\"p99\": %.1f, \"max\": %.1f}, \"inferences_per_second\": %.1f}\n",
                    o.iterations, o.batch, p50, p90, p99, mx, ips);
        return 0;
    }
    std::printf("model:      mlp 784-256-10 (seed %llu), batch %u, DBC %u\n",
                (unsigned long long)o.model_seed, o.batch, dbc.id());
    std::printf("verified:   %u/%u iterations match the host reference (|error| <= 1e-5)\n",
                o.iterations, o.iterations);
    std::printf("latency:    p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us\n", p50, p90,
                p99, mx);
    std::printf("throughput: %.0f inferences/s\n", ips);
    return 0;
}

int cmd_dma(qaic::Device &dev, const Options &o)
{
    qaic::Dbc dbc(dev, 1024);
    qaic::Bo to(dev, o.dma_size), from(dev, o.dma_size);
    std::memset(to.data(), 0x5A, o.dma_size);
    std::memset(from.data(), 0, o.dma_size);
    to.attach(dbc.id(), 1, {qaic::Slice(0, o.dma_size, 0)});
    from.attach(dbc.id(), 2, {qaic::Slice(0, o.dma_size, 0)});
    auto measure = [&](qaic::Bo &bo, uint32_t dir) {
        auto t0 = Clock::now();
        for (uint32_t i = 0; i < o.dma_iterations; ++i) {
            dbc.execute({{&bo, dir}});
            if (int err = dbc.wait(bo, 10000))
                throw qaic::Error("DRM_IOCTL_QAIC_WAIT_BO", err);
        }
        double s = std::chrono::duration<double>(Clock::now() - t0).count();
        return double(o.dma_size) * o.dma_iterations / s / 1e9;
    };
    double to_gbs = measure(to, 1), from_gbs = measure(from, 2);
    if (std::memcmp(to.data(), from.data(), o.dma_size) != 0) {
        std::fprintf(stderr, "qaic-client: data read back differs from data written\n");
        return 2;
    }
    if (o.json)
        std::printf("{\"size\": %llu, \"iterations\": %u, \"to_device_GBps\": %.2f, "
                    "\"from_device_GBps\": %.2f, \"verified\": true}\n",
                    (unsigned long long)o.dma_size, o.dma_iterations, to_gbs, from_gbs);
    else
        std::printf("dma %llu bytes x %u: to device %.2f GB/s, from device %.2f GB/s, "
                    "verified\n",
                    (unsigned long long)o.dma_size, o.dma_iterations, to_gbs, from_gbs);
    return 0;
}

// Test control of a simulated card: a reset, or a DBC's subsystem restart. What a program
// under test sees is the driver's answer to it (ioctls failing with EIO or EPIPE, DBCs
// released, dbc<N>_state and uevents under qaic-run).
int cmd_inject(qaic::Device &dev, const Options &o)
{
    bool reset = o.event == "reset";
    if (qaic_sim_inject(dev.fd(), reset ? QAIC_SIM_RESET : QAIC_SIM_SSR, reset ? 0 : o.inject_dbc, 0) != 0)
        throw qaic::Error("qaic_sim_inject", errno);
    return 0;
}

// The card's crash dump (its last subsystem restart's devcoredump), read once into a file.
int cmd_coredump(qaic::Device &dev, const Options &o)
{
    long long size = qaic_sim_read_coredump(dev.fd(), nullptr, 0);
    if (size < 0)
        throw qaic::Error("crash dump (qaic_sim_read_coredump)", errno);
    std::vector<uint8_t> buf(static_cast<size_t>(size));
    size = qaic_sim_read_coredump(dev.fd(), buf.data(), buf.size());
    if (size < 0)
        throw qaic::Error("crash dump (qaic_sim_read_coredump)", errno);
    FILE *f = std::fopen(o.dump_file.c_str(), "wb");
    if (!f)
        throw qaic::Error("open " + o.dump_file, errno);
    bool ok = std::fwrite(buf.data(), 1, size_t(size), f) == size_t(size);
    int err = errno;
    if (std::fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok)
        throw qaic::Error("write " + o.dump_file, err);
    if (o.json)
        std::printf("{\"file\": %s, \"bytes\": %lld}\n", json_str(o.dump_file).c_str(), size);
    else
        std::printf("crash dump: %lld bytes saved to %s\n", size, o.dump_file.c_str());
    return 0;
}

// -v: the embedded card lives in this process, so its debug parameter is this client's to
// set, before the card is made (QAIC_PARAMS, read by nothing else), and its log is this
// stderr. qaicd's parameter is the daemon owner's (as drm.debug is root's); a real node's is
// the kernel's.
void verbose_before_open(const Options &o)
{
    const char *old = std::getenv("QAIC_PARAMS");
    std::string params = old && *old ? std::string(old) + ",debug=0x1" : "debug=0x1";
    setenv("QAIC_PARAMS", params.c_str(), 1);
    if (!o.device.empty())
        setenv("QAIC_DEVICE", o.device.c_str(), 1); // the device qaic_sim_* calls act on
}

void verbose_after_open(int fd)
{
    // A real node has no simulated card behind it (ENODEV): its driver's debug is the kernel's.
    if (qaic_sim_num_dbc(fd) < 0) {
        std::fprintf(stderr, "qaic-client: -v: %s: the kernel driver says why through drm.debug "
                             "and dynamic debug\n",
                     std::strerror(errno));
        return;
    }
    qaic_host_stats st;
    bool daemon = qaic_host_get_stats(nullptr, &st) == 0;
    if (qaic_sim_set_param("debug", 0x1) == 0) {
        if (daemon)
            std::fprintf(stderr, "qaic-client: qaicd's debug parameter is now 0x1: its log says "
                                 "why calls are refused, until it is set to 0 again\n");
        return;
    }
    std::fprintf(stderr, "qaic-client: -v: %s: only the daemon's owner sets qaicd's debug "
                         "parameter (qaicd --param debug=0x1)\n",
                 std::strerror(errno));
}

} // namespace

int main(int argc, char **argv)
{
    CLI::App app{"qaic-client: reference client for Qualcomm Cloud AI 100 accelerators"};
    Options o;
    app.add_option("-d,--device", o.device,
                   "\"sim\" for the embedded simulated card, an accel node path, or a "
                   "qaicd socket (default: $QAIC_DEVICE, a real qaic node, a running qaicd, "
                   "else sim)");
    app.add_flag("--json", o.json, "print results as JSON");
    app.add_flag("-v,--verbose", o.verbose,
                 "the driver says why each refused call was refused: sets its debug parameter "
                 "to 0x1 (on the embedded card, logged to stderr; through qaicd, by its owner "
                 "only, in its log)");
    app.require_subcommand(1);
    app.set_version_flag("--version", "qaic-client " QAIC_VERSION);
    auto *info = app.add_subcommand("info", "driver version, firmware status, NNC state, DBC states");
    auto *status = app.add_subcommand("status", "per-DBC counters");
    auto *host = app.add_subcommand("host", "what qaicd holds for its clients (a qaicd socket)");
    auto *run = app.add_subcommand("run", "run the sample MLP, verify every output");
    run->add_option("-n,--iterations", o.iterations, "inferences to run")
        ->check(CLI::Range(1u, 10000000u));
    run->add_option("-b,--batch", o.batch, "rows per inference")->check(CLI::Range(1u, 1024u));
    run->add_option("-q,--queue-size", o.queue_size, "DBC ring elements")
        ->check(CLI::Range(2u, 65536u));
    run->add_option("--seed", o.model_seed, "model and input seed");
    run->add_option("--device-weights-seed", o.device_weights_seed,
                    "load the device with the weights of another seed (verification must fail)")
        ->check(CLI::Range(int64_t(0), INT64_MAX));
    run->add_flag("!--no-progress", o.progress, "no progress bar");
    auto *dma = app.add_subcommand("dma", "quick DMA throughput check, verified");
    dma->add_option("-s,--size", o.dma_size, "bytes per transfer")
        ->check(CLI::Range(uint64_t(4096), uint64_t(1) << 30));
    dma->add_option("-n,--iterations", o.dma_iterations, "transfers per direction")
        ->check(CLI::Range(1u, 100000u));
    auto *inject = app.add_subcommand("inject", "test control of a simulated card (embedded, or "
                                                "a qaicd with --test-control): reset it, or put a "
                                                "DBC through a subsystem restart");
    inject->add_option("event", o.event, "reset or ssr")->required()->check(CLI::IsMember({"reset", "ssr"}));
    inject->add_option("dbc", o.inject_dbc, "the DBC an ssr restarts")->check(CLI::Range(0u, 63u));
    auto *coredump = app.add_subcommand("coredump", "save the card's crash dump (its last "
                                                    "subsystem restart's) to a file: read once");
    coredump->add_option("file", o.dump_file, "where to write it")->required();
    CLI11_PARSE(app, argc, argv);

    try {
        if (*host)
            return cmd_host(o);
        if (o.verbose)
            verbose_before_open(o);
        else if (!o.device.empty() && (*info || *status))
            setenv("QAIC_DEVICE", o.device.c_str(), 1); // the device qaic_sim_* calls read
        qaic::Device dev(o.device.empty() ? nullptr : o.device.c_str());
        if (o.verbose)
            verbose_after_open(dev.fd());
        if (*info)
            return cmd_info(dev, o);
        if (*status)
            return cmd_status(dev, o);
        if (*run)
            return cmd_run(dev, o);
        if (*dma)
            return cmd_dma(dev, o);
        if (*inject)
            return cmd_inject(dev, o);
        if (*coredump)
            return cmd_coredump(dev, o);
    } catch (const qaic::Error &e) {
        std::fprintf(stderr, "qaic-client: %s\n", e.what());
        return 1;
    }
    return 0;
}
