// SPDX-License-Identifier: GPL-2.0-only
// The cards of the AIC100 family as the PCI bus shows them: ids, BARs and interrupt
// capability of each card profile (docs/device-model.md, "Card profiles"). The simulated card
// builds its configuration space from this, qaic-run its udev/sysfs view, and the hosts take
// profile names from it. The driver keeps its own id table (qaic_drv.cc), as upstream's does:
// it matches the device id it reads from configuration space, never this table.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace aic100 {

inline constexpr uint16_t kPciVendorQcom = 0x17cb;
inline constexpr uint16_t kPciDevAic080 = 0xa080;
inline constexpr uint16_t kPciDevAic100 = 0xa100;
inline constexpr uint16_t kPciDevAic200 = 0xa110;
inline constexpr uint32_t kPciClassAccel = 0x120000; // processing accelerator, 12.00.00

// Standard configuration space offsets and capability ids (PCI Local Bus 3.0).
inline constexpr unsigned kCfgVendor = 0x00, kCfgDevice = 0x02, kCfgCommand = 0x04,
                          kCfgStatus = 0x06, kCfgClassRev = 0x08, kCfgHeader = 0x0e,
                          kCfgBar0 = 0x10, kCfgSubVendor = 0x2c, kCfgSubDevice = 0x2e,
                          kCfgCapPtr = 0x34, kCfgIntPin = 0x3d;
inline constexpr uint8_t kCapPm = 0x01, kCapMsi = 0x05, kCapPcie = 0x10, kCapMsix = 0x11;
inline constexpr uint32_t kCfgSize = 256;

struct PciBar {
    uint64_t size = 0; // 0: not implemented
    bool is64 = false; // a 64-bit BAR also takes the next BAR register
};

struct PciProfile {
    const char *name;    // as --profile and QAIC_SIM_PROFILE take it
    const char *product; // for people
    uint16_t device;
    unsigned dev_bar;    // device registers, control and SSR channels (upstream: the MHI BAR)
    unsigned dbc_bar;    // DBC registers
    std::array<PciBar, 6> bars;
    bool msix;           // an MSI-X capability (else MSI)
    unsigned vectors;    // MSI: multiple message capable; MSI-X: table size
};

// BAR sizes are the model's own (upstream names only which BARs exist and what two of them
// hold); every implemented BAR is memory, prefetchable. The MSI-X table and its pending bits
// sit in the AIC200's DBC BAR, below the DBC registers.
inline constexpr uint64_t kDevBarSize = 0x1000;
inline constexpr uint64_t kDbcBarSize = 0x100000;
inline constexpr uint64_t kSpareBarSize = 0x80000;
inline constexpr uint32_t kMsixTableOffset = 0x0;
inline constexpr uint32_t kMsixPbaOffset = 0x1000;

inline constexpr PciProfile kPciProfiles[] = {
    {"aic100", "Cloud AI 100", kPciDevAic100, 0, 2,
     {{{kDevBarSize, true}, {}, {kDbcBarSize, true}, {}, {kSpareBarSize, true}, {}}}, false, 32},
    {"aic080", "Cloud AI 80", kPciDevAic080, 0, 2,
     {{{kDevBarSize, true}, {}, {kDbcBarSize, true}, {}, {kSpareBarSize, true}, {}}}, false, 32},
    {"aic200", "Cloud AI 200", kPciDevAic200, 1, 2,
     {{{kSpareBarSize, false}, {kDevBarSize, false}, {kDbcBarSize, true}, {},
       {kSpareBarSize, true}, {}}},
     true, 32},
};

constexpr const PciProfile *pci_profile(uint16_t device)
{
    for (const PciProfile &p : kPciProfiles)
        if (p.device == device)
            return &p;
    return nullptr;
}

constexpr const PciProfile *pci_profile(std::string_view name)
{
    for (const PciProfile &p : kPciProfiles)
        if (name == p.name)
            return &p;
    return nullptr;
}

// Where the platform placed BAR i (a made-up but fixed bus address, aligned to its size).
constexpr uint64_t pci_bar_address(unsigned bar)
{
    return 0xc0000000ull + uint64_t(bar) * 0x100000;
}

// The profile's type-0 configuration space, as the platform enumerated it: ids, class,
// memory space and bus mastering on, BARs placed, and a capability list of power management,
// MSI (64-bit) or MSI-X, and PCI Express (an endpoint, Gen4 x8). Vectors are not enabled
// here: that is the interrupt allocation's (the simulator tracks it apart).
constexpr std::array<uint8_t, kCfgSize> pci_config_space(const PciProfile &p)
{
    std::array<uint8_t, kCfgSize> c{};
    auto put16 = [&](unsigned at, uint16_t v) {
        c[at] = uint8_t(v);
        c[at + 1] = uint8_t(v >> 8);
    };
    auto put32 = [&](unsigned at, uint32_t v) {
        put16(at, uint16_t(v));
        put16(at + 2, uint16_t(v >> 16));
    };
    put16(kCfgVendor, kPciVendorQcom);
    put16(kCfgDevice, p.device);
    put16(kCfgCommand, 0x0406); // memory space, bus master, INTx disabled
    put16(kCfgStatus, 0x0010);  // capability list
    put32(kCfgClassRev, kPciClassAccel << 8);
    for (unsigned i = 0; i < p.bars.size(); ++i) {
        if (!p.bars[i].size)
            continue;
        uint64_t addr = pci_bar_address(i);
        put32(kCfgBar0 + 4 * i, uint32_t(addr) | (p.bars[i].is64 ? 0xc : 0x8));
        if (p.bars[i].is64)
            put32(kCfgBar0 + 4 * (i + 1), uint32_t(addr >> 32));
    }
    put16(kCfgSubVendor, kPciVendorQcom);
    put16(kCfgSubDevice, p.device);
    c[kCfgCapPtr] = 0x40;
    c[kCfgIntPin] = 0x01;
    c[0x40] = kCapPm, c[0x41] = 0x50;
    put16(0x42, 0x0003);
    if (p.msix) {
        c[0x50] = kCapMsix, c[0x51] = 0x70;
        put16(0x52, uint16_t(p.vectors - 1)); // table size - 1, not enabled
        put32(0x54, kMsixTableOffset | p.dbc_bar);
        put32(0x58, kMsixPbaOffset | p.dbc_bar);
    } else {
        c[0x50] = kCapMsi, c[0x51] = 0x70;
        unsigned log2 = 0;
        while ((1u << log2) < p.vectors)
            ++log2;
        put16(0x52, uint16_t(0x0080 | log2 << 1)); // 64-bit, multiple message capable
    }
    c[0x70] = kCapPcie, c[0x71] = 0x00;
    put16(0x72, 0x0002);     // version 2, endpoint
    put32(0x74, 0x00008fc0); // device capabilities
    put32(0x7c, 0x00000084); // link capabilities: 16 GT/s (Gen4), x8
    put16(0x82, 0x0084);     // link status: 16 GT/s, x8
    put32(0x9c, 0x0000001e); // link capabilities 2: 2.5-16 GT/s
    return c;
}

} // namespace aic100
