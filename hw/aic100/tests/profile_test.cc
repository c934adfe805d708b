// SPDX-License-Identifier: GPL-2.0-only
// Each card profile's configuration space as the PCI core reads it (ids, class, BARs, the
// MSI or MSI-X capability), where its registers answer, and which interrupts it grants.
#include "hw/aic100/tests/harness.h"

namespace aic100::test {
namespace {

CardConfig profile_config(uint16_t device)
{
    CardConfig cfg = small_config(4);
    cfg.device = device;
    return cfg;
}

// The capability of the given id in the list from 0x34, or 0.
unsigned find_cap(kernel::PciDev &pci, uint8_t id)
{
    unsigned at = pci.read_config32(kCfgCapPtr) & 0xff;
    for (int hops = 0; at && hops < 48; ++hops) {
        uint32_t hdr = pci.read_config32(at);
        if ((hdr & 0xff) == id)
            return at;
        at = (hdr >> 8) & 0xff;
    }
    return 0;
}

struct Want {
    uint16_t device;
    unsigned bar_mask, dev_bar;
    bool msix;
};

class ProfileCard : public ::testing::TestWithParam<Want> {};

TEST_P(ProfileCard, ConfigSpace)
{
    const Want &w = GetParam();
    MiniDriver d(profile_config(w.device));
    kernel::PciDev &pci = d.pci;
    EXPECT_EQ(pci.read_config32(0), uint32_t(w.device) << 16 | 0x17cb);
    EXPECT_EQ(kernel::pci_vendor(pci), 0x17cb);
    EXPECT_EQ(kernel::pci_device(pci), w.device);
    EXPECT_EQ(pci.read_config32(kCfgClassRev) >> 8, 0x120000u); // processing accelerator
    EXPECT_EQ(pci.read_config32(kCfgSubVendor), uint32_t(w.device) << 16 | 0x17cb);
    EXPECT_EQ(pci.read_config32(0x0c) >> 16 & 0x7f, 0u); // header type 0
    EXPECT_EQ(kernel::pci_select_mem_bars(pci), w.bar_mask);
    // Every implemented BAR is memory, prefetchable, placed at its bus address.
    for (unsigned i = 0; i < 6; ++i) {
        if (!(w.bar_mask & (1u << i)))
            continue;
        uint32_t bar = pci.read_config32(kCfgBar0 + 4 * i);
        EXPECT_EQ(bar & 0x9, 0x8u) << "BAR" << i;
        EXPECT_EQ(bar & ~0xfu, uint32_t(pci_bar_address(i))) << "BAR" << i;
    }
    unsigned msi = find_cap(pci, kCapMsi), msix = find_cap(pci, kCapMsix);
    EXPECT_NE(find_cap(pci, kCapPm), 0u);
    EXPECT_NE(find_cap(pci, kCapPcie), 0u);
    if (w.msix) {
        ASSERT_NE(msix, 0u);
        EXPECT_EQ(msi, 0u);
        uint32_t ctl = pci.read_config32(msix) >> 16;
        EXPECT_EQ((ctl & 0x7ff) + 1, 32u); // table size
        EXPECT_EQ(ctl & 0x8000, 0u);       // not enabled by enumeration
        EXPECT_EQ(pci.read_config32(msix + 4), kMsixTableOffset | 2u); // in the DBC BAR
        EXPECT_EQ(pci.read_config32(msix + 8), kMsixPbaOffset | 2u);
    } else {
        ASSERT_NE(msi, 0u);
        EXPECT_EQ(msix, 0u);
        uint32_t ctl = pci.read_config32(msi) >> 16;
        EXPECT_EQ(ctl & 0x80, 0x80u);        // 64-bit addresses
        EXPECT_EQ((ctl >> 1) & 0x7, 5u);     // 32 vectors capable
    }
    // Outside configuration space, or misaligned: all ones.
    EXPECT_EQ(pci.read_config32(2), kRegGone);
    EXPECT_EQ(pci.read_config32(kCfgSize), kRegGone);
}

TEST_P(ProfileCard, RegistersAnswerInTheProfilesBars)
{
    const Want &w = GetParam();
    MiniDriver d(profile_config(w.device));
    ASSERT_TRUE(
        d.wait_until([&] { return d.pci.read32(w.dev_bar, kRegDevStatus) == kDevOnline; }));
    EXPECT_EQ(d.pci.read32(w.dev_bar, kRegDevId), kDevIdValue);
    EXPECT_EQ(d.pci.read32(w.dev_bar, kRegNumDbc), 4u);
    EXPECT_EQ(d.pci.read32(w.dev_bar, kRegDevStatus), uint32_t(kDevOnline));
    // The other low BAR holds none of them.
    EXPECT_EQ(d.pci.read32(w.dev_bar ? 0 : 1, kRegDevId), 0u);
    EXPECT_EQ(d.pci.read32(w.dev_bar ? 0 : 1, kRegDevStatus), 0u);
    // The DBCs are in BAR2 on every card.
    EXPECT_EQ(d.pci.read32(2, dbc_reg(3, kDbcState)), uint32_t(kDbcIdle));
    // A reset through the profile's device BAR; a write elsewhere resets nothing.
    d.pci.write32(w.dev_bar ? 0 : 1, kRegDevReset, kResetMagic);
    EXPECT_EQ(d.pci.read32(w.dev_bar, kRegDevStatus), uint32_t(kDevOnline));
}

TEST_P(ProfileCard, InterruptsAreMsiOrMsix)
{
    const Want &w = GetParam();
    MiniDriver d(profile_config(w.device));
    EXPECT_EQ(d.pci.irq_type(), kernel::PciDev::IrqType::kNone);
    auto n = d.pci.alloc_irq_vectors(1, 5);
    ASSERT_FALSE(n.is_error());
    EXPECT_EQ(n.value(), 5u); // control and 4 DBCs
    EXPECT_EQ(d.pci.irq_type(),
              w.msix ? kernel::PciDev::IrqType::kMsix : kernel::PciDev::IrqType::kMsi);
    d.pci.free_irq_vectors();
    EXPECT_EQ(d.pci.irq_type(), kernel::PciDev::IrqType::kNone);
    // More than the capability allows: the vectors there are, as pci_alloc_irq_vectors.
    auto all = d.pci.alloc_irq_vectors(1, 64);
    ASSERT_FALSE(all.is_error());
    EXPECT_EQ(all.value(), 5u);
    d.pci.free_irq_vectors();
    EXPECT_EQ(d.pci.alloc_irq_vectors(6, 64).code(), -ENOSPC);
}

INSTANTIATE_TEST_SUITE_P(Cards, ProfileCard,
                         ::testing::Values(Want{kPciDevAic100, 0x15, 0, false},
                                           Want{kPciDevAic080, 0x15, 0, false},
                                           Want{kPciDevAic200, 0x17, 1, true}),
                         [](const auto &info) {
                             return std::string(pci_profile(info.param.device)->name);
                         });

TEST(ProfileCard, NamesAndIds)
{
    EXPECT_EQ(pci_profile("aic100")->device, 0xa100);
    EXPECT_EQ(pci_profile("aic080")->device, 0xa080);
    EXPECT_EQ(pci_profile("aic200")->device, 0xa110);
    EXPECT_EQ(pci_profile("AIC100"), nullptr);
    EXPECT_EQ(pci_profile("aic"), nullptr);
    EXPECT_EQ(pci_profile(uint16_t(0xa101)), nullptr);
    // A card of an id without a profile is an AIC100.
    MiniDriver d(profile_config(0x1234));
    EXPECT_EQ(kernel::pci_device(d.pci), kPciDevAic100);
}

} // namespace
} // namespace aic100::test
