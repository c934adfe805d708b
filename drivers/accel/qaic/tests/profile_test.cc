// SPDX-License-Identifier: GPL-2.0-only
// Probe of each card profile: the driver matches the PCI device id in its id table and takes
// the BARs, the DBC count and the interrupt kind from that entry, as upstream's probe does.
// The cards come from a host::Machine (the platform), one per profile.
#include "drivers/accel/qaic/qaic.h"
#include "host/machine.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <drm/qaic_accel.h>
#include <functional>
#include <string>
#include <gtest/gtest.h>

namespace {

struct Expect {
    uint16_t device;
    qaic::Family family;
    unsigned bar_dev, bar_dbc;
    kernel::PciDev::IrqType irq_type;
};

class Profile : public ::testing::TestWithParam<Expect> {};

TEST_P(Profile, ProbeTakesTheIdTablesConfig)
{
    const Expect &e = GetParam();
    host::CardOptions opts;
    opts.devices = {e.device};
    host::Machine machine(1, opts);
    EXPECT_EQ(machine.pci_id(0), int(0x17cb0000u | e.device));
    auto file = machine.open(0);
    ASSERT_FALSE(file.is_error()) << file.code();
    auto &qdev = static_cast<qaic::QaicDevice &>(file.value()->device());
    ASSERT_NE(qdev.config, nullptr);
    EXPECT_EQ(qdev.config->device, e.device);
    EXPECT_EQ(qdev.config->family, e.family);
    EXPECT_EQ(qdev.bar_dev, e.bar_dev);
    EXPECT_EQ(qdev.bar_dbc, e.bar_dbc);
    // Every known card has 16 DBCs (fewer only on a card built with fewer).
    EXPECT_EQ(qdev.num_dbc(), std::min(16u, unsigned(CONFIG_QAIC_SIM_NUM_DBC)));
    EXPECT_EQ(machine.num_dbc(0), int(qdev.num_dbc()));
    // One vector for control and one per DBC, of the kind the card's capability offers.
    EXPECT_EQ(qdev.num_vectors, 1 + qdev.num_dbc());
    EXPECT_EQ(qdev.irq_type, e.irq_type);
    EXPECT_TRUE(qdev.online.load());
    // The registers are where the entry says: the device registers answer in bar_dev only.
    EXPECT_EQ(qdev.pdev.read32(e.bar_dev, aic100::kRegDevId), aic100::kDevIdValue);
    EXPECT_NE(qdev.pdev.read32(e.bar_dev == 0 ? 1 : 0, aic100::kRegDevId), aic100::kDevIdValue);
}

INSTANTIATE_TEST_SUITE_P(
    Cards, Profile,
    ::testing::Values(Expect{0xa100, qaic::Family::kAic100, 0, 2, kernel::PciDev::IrqType::kMsi},
                      Expect{0xa080, qaic::Family::kAic100, 0, 2, kernel::PciDev::IrqType::kMsi},
                      Expect{0xa110, qaic::Family::kAic200, 1, 2, kernel::PciDev::IrqType::kMsix}),
    [](const auto &info) {
        char name[16];
        std::snprintf(name, sizeof(name), "Dev%04x", info.param.device);
        return std::string(name);
    });

// The id table: Qualcomm's three device ids, nothing else.
TEST(ProfileIdTable, MatchesOnlyKnownIds)
{
    EXPECT_NE(qaic::match_device(0x17cb, 0xa100), nullptr);
    EXPECT_NE(qaic::match_device(0x17cb, 0xa080), nullptr);
    EXPECT_NE(qaic::match_device(0x17cb, 0xa110), nullptr);
    EXPECT_EQ(qaic::match_device(0x17cb, 0xa101), nullptr);
    EXPECT_EQ(qaic::match_device(0x8086, 0xa100), nullptr);
    // The AIC080 is an AIC100 derivative: the same family, BARs and DBCs.
    const qaic::DeviceConfig *a080 = qaic::match_device(0x17cb, 0xa080);
    const qaic::DeviceConfig *a100 = qaic::match_device(0x17cb, 0xa100);
    const qaic::DeviceConfig *a200 = qaic::match_device(0x17cb, 0xa110);
    EXPECT_EQ(a080->family, a100->family);
    EXPECT_EQ(a080->bar_mask, a100->bar_mask);
    EXPECT_EQ(a100->bar_mask, 0x15u); // BARs 0, 2, 4
    EXPECT_EQ(a200->bar_mask, 0x17u); // and BAR1
    EXPECT_EQ(a200->num_dbc, 16u);
}

// A device as another's, but with some configuration-space dwords of our own: what probe
// reads first decides, before it touches anything else of the device.
class ConfigOverride : public kernel::PciDev {
public:
    ConfigOverride(kernel::PciDev &real, std::function<uint32_t(uint64_t, uint32_t)> cfg)
        : real_(real), cfg_(std::move(cfg))
    {
    }
    uint32_t read_config32(uint64_t off) override { return cfg_(off, real_.read_config32(off)); }
    uint32_t read32(unsigned bar, uint64_t off) override { return real_.read32(bar, off); }
    void write32(unsigned bar, uint64_t off, uint32_t v) override { real_.write32(bar, off, v); }
    kernel::ErrorOr<kernel::DmaCoherent> dma_alloc_coherent(size_t n) override
    {
        return real_.dma_alloc_coherent(n);
    }
    void dma_free_coherent(kernel::DmaCoherent &b) override { real_.dma_free_coherent(b); }
    kernel::ErrorOr<void> dma_map_sgtable(kernel::SgTable &t, kernel::DmaDirection d) override
    {
        return real_.dma_map_sgtable(t, d);
    }
    void dma_unmap_sgtable(kernel::SgTable &t, kernel::DmaDirection d) override
    {
        real_.dma_unmap_sgtable(t, d);
    }
    kernel::ErrorOr<unsigned> alloc_irq_vectors(unsigned a, unsigned b) override
    {
        return real_.alloc_irq_vectors(a, b);
    }
    void free_irq_vectors() override { real_.free_irq_vectors(); }
    IrqType irq_type() const override { return real_.irq_type(); }
    kernel::ErrorOr<void> request_irq(unsigned v, kernel::IrqHandler h) override
    {
        return real_.request_irq(v, std::move(h));
    }
    void free_irq(unsigned v) override { real_.free_irq(v); }
    void disable_irq(unsigned v) override { real_.disable_irq(v); }
    void enable_irq(unsigned v) override { real_.enable_irq(v); }
    void synchronize_irq(unsigned v) override { real_.synchronize_irq(v); }

private:
    kernel::PciDev &real_;
    std::function<uint32_t(uint64_t, uint32_t)> cfg_;
};

// Probe refuses a device id not in its table (ENODEV), and a device of the table whose BARs
// are not the entry's (EINVAL: an AIC200 id on an AIC100's BARs, and the other way round).
TEST(ProfileIdTable, ProbeRefusesUnknownIdsAndWrongBars)
{
    host::Machine machine(1, {});
    auto file = machine.open(0); // an AIC100, probed: its bus is the one we dress up
    ASSERT_FALSE(file.is_error()) << file.code();
    kernel::PciDev &real = static_cast<qaic::QaicDevice &>(file.value()->device()).pdev;

    ConfigOverride other_id(real, [](uint64_t off, uint32_t v) {
        return off == 0 ? 0xa1010000u | 0x17cb : v;
    });
    EXPECT_EQ(qaic::probe(other_id).code(), -ENODEV);
    ConfigOverride other_vendor(real, [](uint64_t off, uint32_t v) {
        return off == 0 ? 0xa1000000u | 0x8086 : v;
    });
    EXPECT_EQ(qaic::probe(other_vendor).code(), -ENODEV);
    ConfigOverride aic200_id(real, [](uint64_t off, uint32_t v) {
        return off == 0 ? 0xa1100000u | 0x17cb : v;
    });
    EXPECT_EQ(qaic::probe(aic200_id).code(), -EINVAL);
    ConfigOverride no_bar4(real, [](uint64_t off, uint32_t v) {
        return off == 0x20 || off == 0x24 ? 0 : v;
    });
    EXPECT_EQ(qaic::probe(no_bar4).code(), -EINVAL);

    host::CardOptions opts;
    opts.devices = {0xa110};
    host::Machine m200(1, opts);
    auto f200 = m200.open(0);
    ASSERT_FALSE(f200.is_error()) << f200.code();
    kernel::PciDev &real200 = static_cast<qaic::QaicDevice &>(f200.value()->device()).pdev;
    ConfigOverride aic100_id(real200, [](uint64_t off, uint32_t v) {
        return off == 0 ? 0xa1000000u | 0x17cb : v;
    });
    EXPECT_EQ(qaic::probe(aic100_id).code(), -EINVAL);
    // The card itself is as it was: still served.
    EXPECT_TRUE(static_cast<qaic::QaicDevice &>(f200.value()->device()).online.load());
}

} // namespace
