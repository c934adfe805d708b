// SPDX-License-Identifier: GPL-2.0-only
// The control path against a misbehaving or failing card, where a driver is most easily
// wrong: answers larger than the user's buffer, answers naming what was not asked for, an
// ACTIVATE answered after its caller gave up, a reset whose interrupt is lost, a NACK during
// reset recovery, and one file's slow memory meeting another file's MANAGE. These need the
// sim test control (qaic_sim.h) and skip elsewhere.
#include "qaic_helpers.h"

#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <future>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace selftest;
using namespace std::chrono_literals;

// Repeats status() until the device answers (bounded): ENODEV while it recovers, and, after
// a reset nobody was told of, the one EIO of the call that finds out.
int status_until_answered(int fd, int *first_err = nullptr)
{
    auto deadline = std::chrono::steady_clock::now() + 20s;
    int err = status(fd);
    if (first_err)
        *first_err = err;
    while (err != 0 && err != -ECANCELED && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
        err = status(fd);
    }
    return err;
}

bool all_dbcs_idle(int fd)
{
    int n = qaic_sim_num_dbc(fd);
    for (int i = 0; i < n; ++i) {
        qaic_sim_dbc_status st{};
        if (qaic_sim_get_dbc_status(fd, unsigned(i), &st) != 0 || st.state != 0)
            return false;
    }
    return n > 0;
}

// Makes MANAGE `call` time out with the firmware silent, then lets the firmware answer it
// late. It answers in order, so once a STATUS after it is answered the device has run the
// call; what its late answer means is then the driver's to deal with. The driver's own
// messages about it get the full timeout.
template <typename F> void answer_late(int fd, F call)
{
    SIM_OR_SKIP(qaic_sim_set_param("control_resp_timeout_ms", 200));
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 1, 0));
    EXPECT_EQ(call(), -ETIMEDOUT);
    ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_ms", kDefaultRespTimeoutMs), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 0, 0), 0);
    EXPECT_EQ(status(fd), 0);
}

// A firmware that pads every answer must not make the driver write more than the 4096 bytes
// of the user's message: here the answers to a STATUS and a two-message DMA_XFER come to more
// than that, summed over the messages. The bytes after the buffer stay untouched.
TEST_F(ManageFirmwareFaults, PaddedAnswersNeverOverrunTheUsersMessage)
{
    FirmwareFaultGuard guard{fd};
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_PAD, 100, 0));
    // 24 MiB a pair per page: more address/size pairs than one message holds (4028).
    ParamGuard order("dma_xfer_chunk_order", kDefaultDmaXferChunkOrder);
    ASSERT_EQ(qaic_sim_set_param("dma_xfer_chunk_order", 0), 0);
    std::vector<uint8_t> data(24u << 20, 0x5a);
    struct {
        Manage m;
        uint8_t canary[4096];
    } buf;
    std::memset(buf.canary, 0xc3, sizeof(buf.canary));
    qaic_manage_trans_status_to_dev s{{QAIC_TRANS_STATUS_FROM_USR, sizeof(s)}};
    buf.m.add(s);
    buf.m.add(dma_xfer_trans(1, data.data(), data.size()));
    EXPECT_EQ(buf.m.send(fd), -ENOSPC);
    for (uint8_t c : buf.canary)
        ASSERT_EQ(c, 0xc3) << "the driver wrote past the user's 4096-byte message";
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_PAD, 0, 0), 0);
    EXPECT_EQ(status(fd), 0);
}

// Padding within 4096 bytes is passed on, every answer counted.
TEST_F(ManageFirmwareFaults, PaddedAnswersThatFitArePassedOn)
{
    FirmwareFaultGuard guard{fd};
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_PAD, 3, 0));
    Manage m;
    qaic_manage_trans_status_to_dev s{{QAIC_TRANS_STATUS_FROM_USR, sizeof(s)}};
    m.add(s);
    ASSERT_EQ(m.send(fd), 0);
    EXPECT_EQ(m.count(), 4u);
    EXPECT_EQ(m.len(), 4 * sizeof(qaic_manage_trans_status_from_dev));
}

// A DEACTIVATE answer that names another DBC than the one asked for (here another file's)
// releases nothing: that file's DBC keeps working.
TEST_F(ManageFirmwareFaults, DeactivateAnswerForAnotherDbcReleasesNothing)
{
    FirmwareFaultGuard guard{fd};
    int other = qaic_open(nullptr);
    ASSERT_GE(other, 0);
    uint32_t mine, theirs;
    ASSERT_EQ(activate(fd, 16, &mine), 0);
    ASSERT_EQ(activate(other, 16, &theirs), 0);
    // The card names the DBC after the one deactivated: ours and theirs are the two lowest.
    ASSERT_EQ(theirs, mine + 1);
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_MISNAME, 1, 0));
    EXPECT_EQ(deactivate(fd, mine), -EIO);
    // The other file still owns its DBC: DEACTIVATE of it is its own business.
    EXPECT_EQ(deactivate(fd, theirs), -EPERM);
    EXPECT_EQ(deactivate(other, theirs), 0);
    EXPECT_EQ(qaic_close(other), 0);
}

// The card's side of the allocation-failure sweep: MANAGE calls of each kind with the 1st,
// 2nd, ... allocation of the firmware's failing, until one has no such allocation. In
// tests/qaic_selftest_failslab every allocation the card's code makes counts (operator new),
// elsewhere those of its fallible helpers. The card refuses a made-to-fail message (ECANCELED)
// and never leaves it unanswered (ETIMEDOUT, after a minute); the refusal has no effect (no
// DBC assigned, a DEACTIVATE's DBC kept), and the same call then succeeds.
TEST_F(ManageFirmwareFaults, FirmwareOutOfMemoryRefusesTheMessageAndLeavesNothing)
{
    FirmwareFaultGuard guard{fd};
    // Armed far past any message's allocations: answered as usual.
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_FAIL_ALLOC, 1u << 30, 0));
    ASSERT_EQ(status(fd), 0);
    std::vector<uint8_t> image(3 * 4096 + 100, 0x5a);
    uint32_t id = UINT32_MAX;
    auto sweep = [&](const char *what, auto call) {
        for (unsigned nth = 1;; ++nth) {
            ASSERT_LT(nth, 5000u) << what;
            ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_FAIL_ALLOC, nth, 0), 0);
            int err = call();
            if (err == 0)
                return;
            ASSERT_EQ(err, -ECANCELED) << what << ", allocation " << nth;
        }
    };
    sweep("STATUS", [&] { return status(fd); });
    sweep("ACTIVATE", [&] {
        int err = activate(fd, 16, &id);
        if (err) {
            EXPECT_TRUE(all_dbcs_idle(fd)) << "a refused ACTIVATE assigned a DBC";
        }
        return err;
    });
    sweep("DEACTIVATE", [&] {
        int err = deactivate(fd, id);
        qaic_sim_dbc_status st{};
        EXPECT_EQ(qaic_sim_get_dbc_status(fd, id, &st), 0);
        EXPECT_EQ(st.state, err ? 1u : 0u) << "DBC " << id << " after DEACTIVATE: " << err;
        return err;
    });
    sweep("DMA_XFER", [&] { return dma_xfer(fd, 1, image.data(), image.size()); });
    EXPECT_TRUE(all_dbcs_idle(fd));
}

// An ACTIVATE whose answer comes after its caller timed out: the card assigned a DBC with
// rings the caller no longer waits for. The driver takes the DBC back from the card (and only
// then frees the rings), so no DBC stays assigned unknown to it.
TEST_F(ManageFirmwareFaults, ActivateAnsweredAfterItsTimeoutIsUndone)
{
    FirmwareFaultGuard guard{fd};
    ASSERT_TRUE(all_dbcs_idle(fd) || qaic_sim_num_dbc(fd) < 0);
    uint32_t id;
    ASSERT_NO_FATAL_FAILURE(answer_late(fd, [&] { return activate(fd, 16, &id); }));
    if (IsSkipped())
        return;
    // The late answer is handled on the driver's own time: bounded wait until the card's DBCs
    // are all idle again.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!all_dbcs_idle(fd) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(all_dbcs_idle(fd)) << "a DBC stayed assigned on the card";
    // And the file has no DBC either side believes in: every DBC can be activated again.
    std::vector<uint32_t> ids = activate_all(fd);
    EXPECT_EQ(ids.size(), size_t(qaic_sim_num_dbc(fd)));
    for (uint32_t d : ids)
        EXPECT_EQ(deactivate(fd, d), 0);
}

// A DEACTIVATE answered after its timeout: the device released the DBC, so the driver
// releases it too when the answer comes; it must not go on believing the file owns a DBC the
// device has freed (and may hand to someone else).
TEST_F(ManageFirmwareFaults, DeactivateAnsweredAfterItsTimeoutReleasesTheDbc)
{
    FirmwareFaultGuard guard{fd};
    uint32_t id;
    ASSERT_EQ(activate(fd, 16, &id), 0);
    ASSERT_NO_FATAL_FAILURE(answer_late(fd, [&] { return deactivate(fd, id); }));
    if (IsSkipped())
        return;
    // The late answer is handled on the driver's own time: bounded wait until the driver no
    // longer believes the DBC is this file's.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    int err;
    while ((err = deactivate(fd, id)) != -EPERM && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    EXPECT_EQ(err, -EPERM) << "the driver still holds a DBC the card released";
    EXPECT_TRUE(all_dbcs_idle(fd));
}

// A DEACTIVATE whose answer came after its caller gave up (a slow firmware; the answer's MSI
// lost, so it waits in the ring), then an ACTIVATE: the device freed the DBC and hands it out
// again. The late answer takes effect first, as the device gave it first: the ACTIVATE gets
// the DBC, and both sides agree it is assigned. (Found by uapi_fuzz: the ACTIVATE failed
// with EIO, and the DBC stayed assigned on the card, unknown to the driver, until the file
// was closed.)
TEST_F(ManageFirmwareFaults, ActivateAfterALateDeactivateGetsTheDbc)
{
    FirmwareFaultGuard guard{fd};
    uint32_t id;
    ASSERT_EQ(activate(fd, 16, &id), 0);
    SIM_OR_SKIP(qaic_sim_set_param("control_resp_timeout_ms", 200));
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 1, 0));
    EXPECT_EQ(deactivate(fd, id), -ETIMEDOUT);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 0, 1), 0);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_FW_SILENT, 0, 0), 0);
    ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_ms", kDefaultRespTimeoutMs), 0);
    uint32_t again;
    ASSERT_EQ(activate(fd, 16, &again), 0);
    EXPECT_EQ(again, id) << "the device hands out the lowest free DBC";
    qaic_sim_dbc_status st{};
    ASSERT_EQ(qaic_sim_get_dbc_status(fd, again, &st), 0);
    EXPECT_EQ(st.state, 1u);
    EXPECT_EQ(deactivate(fd, again), 0);
    EXPECT_TRUE(all_dbcs_idle(fd));
}

// Control MSIs lost, more of them than the response ring has slots: each MANAGE waits out
// its timeout, then finds its answer in the ring and takes it, as the MSI would have. Left
// there, the answers would fill the ring, and the device, waiting for room, would answer
// nothing more (found by uapi_fuzz: every MANAGE timed out until the device was reset).
TEST_F(ManageFirmwareFaults, LostControlMsisCostOnlyTheirTimeouts)
{
    FirmwareFaultGuard guard{fd};
    SIM_OR_SKIP(qaic_sim_set_param("control_resp_timeout_ms", 20));
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 0, 40));
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 40; ++i)
        EXPECT_EQ(status(fd), 0) << "STATUS " << i << " with its MSI lost";
    // Each waited for its timeout: the MSIs were lost, not answered.
    EXPECT_GE(std::chrono::steady_clock::now() - start, 40 * 20ms);
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 0, 1), 0);
    uint32_t id;
    ASSERT_EQ(activate(fd, 16, &id), 0) << "an ACTIVATE with its MSI lost";
    ASSERT_EQ(qaic_sim_set_param("control_resp_timeout_ms", kDefaultRespTimeoutMs), 0);
    qaic_sim_dbc_status st{};
    ASSERT_EQ(qaic_sim_get_dbc_status(fd, id, &st), 0);
    EXPECT_EQ(st.state, 1u);
    EXPECT_EQ(deactivate(fd, id), 0);
    EXPECT_TRUE(all_dbcs_idle(fd));
}

// A device reset whose control MSI is lost: the next MANAGE finds the channel forgotten,
// fails with EIO and starts the recovery; the device then answers again.
TEST_F(ManageFirmwareFaults, ResetWithLostControlMsiIsNoticed)
{
    FirmwareFaultGuard guard{fd};
    uint32_t dbc;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    // A safety net only (the reset is found before anything waits): a failing driver then
    // fails the test in seconds, not minutes, and a loaded machine has time to answer.
    SIM_OR_SKIP(qaic_sim_set_param("control_resp_timeout_ms", 5000));
    SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_DROP_MSI, 0, 1));
    ASSERT_EQ(qaic_sim_inject(fd, QAIC_SIM_RESET, 0, 0), 0);
    int first;
    EXPECT_EQ(status_until_answered(fd, &first), 0);
    EXPECT_EQ(first, -EIO);
    // The reset released our DBC on both sides.
    EXPECT_EQ(deactivate(fd, dbc), -EPERM);
    uint32_t again;
    ASSERT_EQ(activate(fd, 16, &again), 0);
    EXPECT_EQ(deactivate(fd, again), 0);
}

// A NACK of the recovery's own STATUS is not a reset: the recovery asks again, on the same
// rings, and the device comes back. The reset and the NACK come in one step (QAIC_SIM_RESET's
// arg0), so on any host the NACK meets the first message after the reset; whether that is
// the recovery's or this test's first STATUS still depends on timing, and a round counts
// only when the recovery took it (the test's first STATUS then answers at once).
TEST_F(ManageFirmwareFaults, NackDuringRecoveryIsRetried)
{
    FirmwareFaultGuard guard{fd};
    // Short enough that a recovery broken by the NACK fails the test in seconds; long enough
    // for a loaded machine to answer.
    SIM_OR_SKIP(qaic_sim_set_param("control_resp_timeout_ms", 5000));
    bool exercised = false;
    for (int round = 0; round < 10 && !exercised; ++round) {
        SIM_OR_SKIP(qaic_sim_inject(fd, QAIC_SIM_RESET, 1, 0));
        int err = status_until_answered(fd);
        if (err == -ECANCELED)
            continue; // the NACK was this test's
        ASSERT_EQ(err, 0) << "the device did not come back";
        exercised = true;
    }
    EXPECT_TRUE(exercised);
    uint32_t id;
    ASSERT_EQ(activate(fd, 16, &id), 0);
    EXPECT_EQ(deactivate(fd, id), 0);
}

// One file's MANAGE copies DMA_XFER data from memory that faults slowly (a userfaultfd page
// nobody serves yet). Another file's MANAGE and a third file's close must not wait for it.
TEST_F(ManageDmaXfer, SlowUserMemoryBlocksOnlyItsOwnManage)
{
    if (!on_sim())
        GTEST_SKIP() << "the copy happens in the host's address space only on sim";
    long page = sysconf(_SC_PAGESIZE);
    auto *buf = static_cast<uint8_t *>(
        mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(buf, MAP_FAILED);
    buf[0] = 1; // the first page is there, the second is not
    int uffd = int(syscall(SYS_userfaultfd, O_CLOEXEC));
    if (uffd < 0)
        GTEST_SKIP() << "userfaultfd: " << std::strerror(errno);
    uffdio_api api{UFFD_API, 0, 0};
    ASSERT_EQ(ioctl(uffd, UFFDIO_API, &api), 0) << std::strerror(errno);
    uffdio_register reg{};
    reg.range = {uintptr_t(buf + page), uint64_t(page)};
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    ASSERT_EQ(ioctl(uffd, UFFDIO_REGISTER, &reg), 0) << std::strerror(errno);

    int b = qaic_open(nullptr), c = qaic_open(nullptr);
    ASSERT_GE(b, 0);
    ASSERT_GE(c, 0);
    std::atomic<pid_t> tid{0};
    std::thread slow([&] {
        tid = pid_t(syscall(SYS_gettid));
        EXPECT_EQ(dma_xfer(fd, 7, buf, 2 * page), 0);
    });
    // Until the slow copy sleeps in its page fault (bounded).
    for (int i = 0; i < 5000 && !(tid && sleeping(tid)); ++i)
        std::this_thread::sleep_for(1ms);
    auto other = std::async(std::launch::async, [&] { return status(b); });
    auto closing = std::async(std::launch::async, [&] { return qaic_close(c); });
    bool other_done = other.wait_for(10s) == std::future_status::ready;
    bool close_done = closing.wait_for(10s) == std::future_status::ready;
    // Serve the fault whatever happened, so that everything ends.
    uffdio_zeropage z{};
    z.range = {uintptr_t(buf + page), uint64_t(page)};
    ASSERT_EQ(ioctl(uffd, UFFDIO_ZEROPAGE, &z), 0) << std::strerror(errno);
    slow.join();
    EXPECT_TRUE(other_done) << "another file's MANAGE waited for this file's page fault";
    EXPECT_TRUE(close_done) << "another file's close waited for this file's page fault";
    EXPECT_EQ(other.get(), 0);
    EXPECT_EQ(closing.get(), 0);
    EXPECT_EQ(qaic_close(b), 0);
    close(uffd);
    munmap(buf, 2 * page);
}

} // namespace
