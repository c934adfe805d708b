// SPDX-License-Identifier: GPL-2.0-only
// RAS and crash dumps, through libqaic's test control: the card reports errors on its RAS
// channel, the driver counts them (upstream's sysfs ce_count, ue_count, ue_nonfatal_count),
// drops malformed reports, and resets the card on a fatal one; a subsystem restart's crash
// dump is collected and read once (upstream's devcoredump). Sim only: skips elsewhere.
#include "qaic_helpers.h"

#include <chrono>
#include <cstring>
#include <qaic/qaic_sim.h>
#include <string>
#include <thread>
#include <vector>

namespace selftest {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(20);

// Upstream's crash dump file: this header, the table, then every region it lists.
struct DumpMeta {
    uint64_t magic, version, size, tbl_len;
};
struct DumpEntry {
    uint64_t save_perf, mem_base, len;
    char desc[20], filename[20];
};
static_assert(sizeof(DumpEntry) == 64);
constexpr uint64_t kDumpMagic = 0x1234567890abcdefull;

template <typename Pred> bool wait_for(Pred pred)
{
    auto deadline = Clock::now() + kDeadline;
    while (!pred()) {
        if (Clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

class Ras : public Qaic {
protected:
    void SetUp() override
    {
        Qaic::SetUp();
        if (HasFatalFailure())
            return;
        qaic_sim_ras_counts c{};
        if (qaic_sim_get_ras_counts(fd, &c) != 0)
            GTEST_SKIP() << "no sim test control: " << std::strerror(errno);
        // A dump left by an earlier test would keep this one's out (one per device).
        while (qaic_sim_read_coredump(fd, nullptr, 0) >= 0) {
            std::vector<uint8_t> old(size_t(qaic_sim_read_coredump(fd, nullptr, 0)));
            qaic_sim_read_coredump(fd, old.data(), old.size());
        }
    }
    qaic_sim_ras_counts counts()
    {
        qaic_sim_ras_counts c{};
        EXPECT_EQ(qaic_sim_get_ras_counts(fd, &c), 0) << std::strerror(errno);
        return c;
    }
    unsigned dbc_state(uint32_t dbc)
    {
        qaic_sim_dbc_status st{};
        EXPECT_EQ(qaic_sim_get_dbc_status(fd, dbc, &st), 0);
        return st.state;
    }
    // Until the driver serves the card again after a reset.
    int wait_until_online()
    {
        int err = 0;
        wait_for([&] {
            err = status(fd);
            return err != -ENODEV && err != -EIO;
        });
        return err;
    }
    static unsigned ras(unsigned source, unsigned type) { return source | type << 8; }
};
class Coredump : public Ras {};

// Each kind is counted apart, once per report; a correctable or non-fatal error leaves the
// card and its users alone.
TEST_F(Ras, CountsEachType)
{
    uint32_t dbc;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    qaic_sim_ras_counts before = counts();
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_RAS, ras(QAIC_SIM_RAS_SRC_DDR, QAIC_SIM_RAS_CE), 0));
    ASSERT_TRUE(wait_for([&] { return counts().ce_count == before.ce_count + 1; }));
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RAS,
                              ras(QAIC_SIM_RAS_SRC_PCIE, QAIC_SIM_RAS_UE_NONFATAL), 0),
              0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RAS, ras(QAIC_SIM_RAS_SRC_TSENS, QAIC_SIM_RAS_CE), 0),
              0);
    ASSERT_TRUE(wait_for([&] { return counts().ce_count == before.ce_count + 2; }));
    qaic_sim_ras_counts after = counts();
    EXPECT_EQ(after.ue_nonfatal_count, before.ue_nonfatal_count + 1);
    EXPECT_EQ(after.ue_count, before.ue_count);
    EXPECT_EQ(deactivate(fd, dbc), 0); // still ours: no reset
    // Arguments out of range are refused.
    errno = 0;
    EXPECT_EQ(qaic_sim_inject(fd, QAIC_SIM_RAS, ras(7, QAIC_SIM_RAS_CE), 0), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(qaic_sim_inject(fd, QAIC_SIM_RAS, ras(0, 3), 0), -1);
    EXPECT_EQ(qaic_sim_inject(fd, QAIC_SIM_RAS, ras(0, 0), 9), -1);
    EXPECT_EQ(qaic_sim_get_ras_counts(fd, nullptr), -1);
    EXPECT_EQ(errno, EFAULT);
}

// A fatal uncorrectable error resets the card, as upstream does: its DBCs are released and
// the driver brings it back.
TEST_F(Ras, FatalResetsCard)
{
    uint32_t dbc;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    qaic_sim_ras_counts before = counts();
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_RAS, ras(QAIC_SIM_RAS_SRC_SOC_MEM, QAIC_SIM_RAS_UE),
                                0));
    ASSERT_TRUE(wait_for([&] { return counts().ue_count == before.ue_count + 1; }));
    ASSERT_TRUE(wait_for([&] { return dbc_state(dbc) == 0; })) << "the card was not reset";
    ASSERT_EQ(wait_until_online(), 0);
    EXPECT_EQ(deactivate(fd, dbc), -EPERM); // released by the reset
    qaic_sim_ras_counts after = counts();
    EXPECT_EQ(after.ce_count, before.ce_count); // the counters survive the reset
    EXPECT_EQ(after.ue_nonfatal_count, before.ue_nonfatal_count);
    uint32_t again;
    ASSERT_EQ(activate(fd, 16, &again), 0);
    EXPECT_EQ(deactivate(fd, again), 0);
}

// A report wrong in any field is dropped: not counted, and (a fatal one) no reset. Reports
// are handled in order, so a good one after it shows it was seen.
TEST_F(Ras, MalformedDropped)
{
    uint32_t dbc;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    qaic_sim_ras_counts before = counts();
    unsigned ce = before.ce_count;
    for (unsigned bad = QAIC_SIM_RAS_BAD_MAGIC; bad <= QAIC_SIM_RAS_BAD_THRESHOLD; ++bad) {
        SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_RAS,
                                    ras(QAIC_SIM_RAS_SRC_SOC_MEM, QAIC_SIM_RAS_UE), bad));
        ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RAS,
                                  ras(QAIC_SIM_RAS_SRC_NSP_MEM, QAIC_SIM_RAS_UE_NONFATAL), bad),
                  0);
        ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RAS, ras(QAIC_SIM_RAS_SRC_SYS_BUS1, 0), 0), 0);
        ++ce;
        ASSERT_TRUE(wait_for([&] { return counts().ce_count == ce; })) << "field " << bad;
        qaic_sim_ras_counts now = counts();
        EXPECT_EQ(now.ue_count, before.ue_count) << "field " << bad;
        EXPECT_EQ(now.ue_nonfatal_count, before.ue_nonfatal_count) << "field " << bad;
    }
    EXPECT_EQ(deactivate(fd, dbc), 0); // never reset
}

// A subsystem restart's dump: readable once, in upstream's layout (header, table, regions);
// the size query keeps it, a short buffer is refused and keeps it, the read takes it.
TEST_F(Coredump, ReadOnceAfterRestart)
{
    uint32_t dbc;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    errno = 0;
    EXPECT_EQ(qaic_sim_read_coredump(fd, nullptr, 0), -1);
    EXPECT_EQ(errno, ENOENT);
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0));
    long long size = -1;
    ASSERT_TRUE(wait_for([&] { return (size = qaic_sim_read_coredump(fd, nullptr, 0)) >= 0; }));
    ASSERT_GT(size, int64_t(sizeof(DumpMeta)));
    EXPECT_EQ(qaic_sim_read_coredump(fd, nullptr, 0), size); // kept
    std::vector<uint8_t> buf(size_t(size) + 100);
    EXPECT_EQ(qaic_sim_read_coredump(fd, buf.data(), uint64_t(size) - 1), -1);
    EXPECT_EQ(errno, ENOSPC);
    ASSERT_EQ(qaic_sim_read_coredump(fd, buf.data(), buf.size()), size);
    EXPECT_EQ(qaic_sim_read_coredump(fd, buf.data(), buf.size()), -1) << "read twice";
    EXPECT_EQ(errno, ENOENT);

    DumpMeta meta;
    std::memcpy(&meta, buf.data(), sizeof(meta));
    EXPECT_EQ(meta.magic, kDumpMagic);
    EXPECT_EQ(meta.version, 1u);
    EXPECT_EQ(meta.size, uint64_t(size));
    ASSERT_GT(meta.tbl_len, 0u);
    ASSERT_EQ(meta.tbl_len % sizeof(DumpEntry), 0u);
    ASSERT_LE(sizeof(meta) + meta.tbl_len, uint64_t(size));
    uint64_t total = sizeof(meta) + meta.tbl_len;
    std::string log;
    for (uint64_t at = 0; at < meta.tbl_len; at += sizeof(DumpEntry)) {
        DumpEntry e;
        std::memcpy(&e, buf.data() + sizeof(meta) + at, sizeof(e));
        ASSERT_GT(e.len, 0u);
        if (std::string(e.filename, strnlen(e.filename, sizeof(e.filename))) == "crash_log.txt")
            log.assign(reinterpret_cast<const char *>(buf.data() + total), e.len);
        total += e.len;
    }
    EXPECT_EQ(total, uint64_t(size)); // the regions fill the rest exactly
    EXPECT_NE(log.find("DBC " + std::to_string(dbc) + " subsystem crashed"), std::string::npos)
        << log;
    // The restart ended as before: the DBC is free again.
    ASSERT_TRUE(wait_for([&] { return dbc_state(dbc) == 0; }));
    EXPECT_EQ(deactivate(fd, dbc), -EPERM);
}

// A card whose dump transfer misbehaves leaves no dump; where it broke the protocol the
// driver resets it (upstream's best effort), and it works afterwards. A card that stops
// answering keeps the DBC in its restart until it is reset.
TEST_F(Coredump, MisbehavingCardLeavesNoDump)
{
    const unsigned faults[] = {QAIC_SIM_DUMP_BAD_TABLE_LEN, QAIC_SIM_DUMP_ZERO_ENTRY,
                               QAIC_SIM_DUMP_HUGE_ENTRY,    QAIC_SIM_DUMP_DONE_NACK,
                               QAIC_SIM_DUMP_OVERSIZE,      QAIC_SIM_DUMP_EMPTY_CHUNK,
                               QAIC_SIM_DUMP_WRONG_DBC,     QAIC_SIM_DUMP_NONE,
                               QAIC_SIM_DUMP_STALL};
    for (unsigned fault : faults) {
        uint32_t dbc;
        ASSERT_EQ(activate(fd, 16, &dbc), 0) << "fault " << fault;
        SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DUMP_FAULT, fault, 2));
        ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0), 0);
        if (fault == QAIC_SIM_DUMP_STALL) {
            ASSERT_TRUE(wait_for([&] { return dbc_state(dbc) == 4; }));
            EXPECT_EQ(dbc_state(dbc), 4u); // BEFORE_POWER_UP, waiting for the host
            ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0), 0);
        }
        ASSERT_TRUE(wait_for([&] { return dbc_state(dbc) == 0; })) << "fault " << fault;
        ASSERT_EQ(wait_until_online(), 0) << "fault " << fault;
        errno = 0;
        EXPECT_EQ(qaic_sim_read_coredump(fd, nullptr, 0), -1) << "fault " << fault;
        EXPECT_EQ(errno, ENOENT) << "fault " << fault;
        uint32_t again;
        ASSERT_EQ(activate(fd, 16, &again), 0) << "fault " << fault;
        EXPECT_EQ(deactivate(fd, again), 0);
    }
    // Out of range.
    EXPECT_EQ(qaic_sim_inject(fd, QAIC_SIM_DUMP_FAULT, 11, 0), -1);
    EXPECT_EQ(errno, EINVAL);
    // And a good dump after all of it.
    uint32_t dbc;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0), 0);
    ASSERT_TRUE(wait_for([&] { return qaic_sim_read_coredump(fd, nullptr, 0) > 0; }));
}

// A card that powers the subsystem up while its dump is being read: the driver NACKs the
// event and drops the dump (upstream), without a reset: another DBC stays its user's.
TEST_F(Coredump, PowerUpDuringTransferDropsTheDump)
{
    uint32_t dbc, other;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(activate(fd, 16, &other), 0);
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DUMP_FAULT, QAIC_SIM_DUMP_POWER_UP_EARLY, 3));
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_SSR, dbc, 0), 0);
    ASSERT_TRUE(wait_for([&] { return dbc_state(dbc) == 0; }));
    EXPECT_EQ(deactivate(fd, dbc), -EPERM); // released by the restart's end
    errno = 0;
    EXPECT_EQ(qaic_sim_read_coredump(fd, nullptr, 0), -1);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_EQ(dbc_state(other), 1u);
    EXPECT_EQ(deactivate(fd, other), 0); // no reset
}

} // namespace
} // namespace selftest
