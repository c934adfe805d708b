// SPDX-License-Identifier: GPL-2.0-only
// DRM_IOCTL_QAIC_MANAGE: STATUS, ACTIVATE / DEACTIVATE and DBC ownership, every header and
// transaction rule, DMA_XFER and the firmware commands behind PASSTHROUGH.
#include "qaic_helpers.h"

#include <atomic>
#include <fstream>
#include <set>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace selftest;

qaic_manage_trans_status_to_dev status_trans()
{
    return {{QAIC_TRANS_STATUS_FROM_USR, sizeof(qaic_manage_trans_status_to_dev)}};
}

// A MANAGE of raw bytes: len bytes at data as count transactions.
int manage_raw(int fd, void *data, uint32_t len, uint32_t count)
{
    qaic_manage_msg m{};
    m.len = len;
    m.count = count;
    m.data = uintptr_t(data);
    return ioctl_err(fd, DRM_IOCTL_QAIC_MANAGE, &m);
}

// Ours, as the firmware's commands are (from 0x10000): one it does not know.
constexpr uint32_t kFwUnknownOpcode = 0x10063;

// A MANAGE of one transaction of the given header and nothing else set.
int manage_one(int fd, uint32_t type, uint32_t len)
{
    Manage m;
    uint8_t t[QAIC_MANAGE_MAX_MSG_LENGTH] = {};
    qaic_manage_trans_hdr h{type, len};
    std::memcpy(t, &h, sizeof(h));
    m.add_raw(t, len < sizeof(t) ? std::max<uint32_t>(len, 8) : sizeof(t));
    return m.send(fd, len, 1);
}

std::vector<uint8_t> pattern(size_t size, uint32_t seed)
{
    std::vector<uint8_t> v(size);
    uint32_t x = seed;
    for (auto &b : v) {
        x = x * 1664525u + 1013904223u;
        b = uint8_t(x >> 24);
    }
    return v;
}

// ---------------------------------------------------------------------------- our CRC

TEST(Crc32, MatchesTheStandardCheckValue)
{
    // Sanity of the test's own CRC: the CRC-32/ISO-HDLC check value of "123456789".
    EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
    EXPECT_EQ(crc32("", 0), 0u);
}

// ---------------------------------------------------------------------------- STATUS

TEST_F(ManageStatus, ReportsProtocolVersionAndCrc)
{
    Manage m;
    m.add(status_trans());
    ASSERT_EQ(m.send(fd), 0);
    EXPECT_EQ(m.count(), 1u);
    EXPECT_EQ(m.len(), sizeof(qaic_manage_trans_status_from_dev));
    auto s = m.at<qaic_manage_trans_status_from_dev>(0);
    EXPECT_EQ(s.hdr.type, uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    EXPECT_EQ(s.hdr.len, sizeof(s));
    EXPECT_EQ(s.major, 5);
    EXPECT_EQ(s.minor, 0);
    EXPECT_EQ(s.status, 0u);
    EXPECT_EQ(s.status_flags & 1, 1u) << "the device requires CRCs";
}

TEST_F(ManageMessage, TransactionsAreAnsweredInOrder)
{
    Manage m;
    m.add(status_trans());
    m.add(activate_trans(16));
    m.add_fw_command(0xDEAD0, nullptr, 0);
    m.add(status_trans());
    ASSERT_EQ(m.send(fd), 0);
    ASSERT_EQ(m.count(), 4u);
    EXPECT_EQ(m.len(), 24u + 24u + 16u + 24u);
    EXPECT_EQ(m.at<qaic_manage_trans_hdr>(0).type, uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    auto a = m.at<qaic_manage_trans_activate_from_dev>(24);
    EXPECT_EQ(a.hdr.type, uint32_t(QAIC_TRANS_ACTIVATE_FROM_DEV));
    EXPECT_EQ(a.status, 0u);
    EXPECT_EQ(m.at<qaic_manage_trans_hdr>(48).type, uint32_t(QAIC_TRANS_PASSTHROUGH_FROM_DEV));
    EXPECT_EQ(m.at<uint32_t>(56), kFwBadCommand);
    EXPECT_EQ(m.at<qaic_manage_trans_hdr>(64).type, uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    EXPECT_EQ(deactivate(fd, a.dbc_id), 0);
}

// ---------------------------------------------------------------------------- ACTIVATE

TEST_F(ManageActivate, ActivateAndDeactivate)
{
    Manage m;
    m.add(activate_trans(16));
    ASSERT_EQ(m.send(fd), 0);
    ASSERT_EQ(m.count(), 1u);
    EXPECT_EQ(m.len(), sizeof(qaic_manage_trans_activate_from_dev));
    auto a = m.at<qaic_manage_trans_activate_from_dev>(0);
    EXPECT_EQ(a.hdr.type, uint32_t(QAIC_TRANS_ACTIVATE_FROM_DEV));
    EXPECT_EQ(a.hdr.len, 24u);
    EXPECT_EQ(a.status, 0u);
    EXPECT_LT(a.dbc_id, 16u);

    // DEACTIVATE has no answer transaction.
    Manage d;
    d.add(deactivate_trans(a.dbc_id));
    ASSERT_EQ(d.send(fd), 0);
    EXPECT_EQ(d.count(), 0u);
    EXPECT_EQ(d.len(), 0u);
    // It is nobody's now.
    EXPECT_EQ(deactivate(fd, a.dbc_id), -EPERM);
}

TEST_F(ManageActivate, QueueSizesAtTheLimits)
{
    for (uint32_t qs : {2u, 3u, 1000u, 65536u}) {
        SCOPED_TRACE(qs);
        uint32_t id;
        ASSERT_EQ(activate(fd, qs, &id), 0);
        EXPECT_EQ(deactivate(fd, id), 0);
    }
}

// The device needs at least two elements per ring and says so in the status.
TEST_F(ManageActivate, OneElementIsRefusedByTheDevice)
{
    uint32_t id = 0, st = 0;
    EXPECT_EQ(activate(fd, 1, &id, &st), -ECANCELED);
    EXPECT_NE(st, 0u);
}

TEST_F(ManageActivate, GivesDistinctDbcs)
{
    uint32_t a, b;
    ASSERT_EQ(activate(fd, 16, &a), 0);
    ASSERT_EQ(activate(fd, 16, &b), 0);
    EXPECT_NE(a, b);
    EXPECT_EQ(deactivate(fd, a), 0);
    EXPECT_EQ(deactivate(fd, b), 0);
}

TEST_F(ManageActivate, EveryDbcThenOneMoreIsEcanceled)
{
    std::vector<uint32_t> ids = activate_all(fd);
    ASSERT_GE(ids.size(), 1u);
    EXPECT_LE(ids.size(), 16u);
    EXPECT_EQ(std::set<uint32_t>(ids.begin(), ids.end()).size(), ids.size());

    // The refusal still comes back, with the device's non-zero status.
    Manage m;
    m.add(activate_trans(16));
    EXPECT_EQ(m.send(fd), -ECANCELED);
    ASSERT_EQ(m.count(), 1u);
    EXPECT_EQ(m.len(), 24u);
    auto a = m.at<qaic_manage_trans_activate_from_dev>(0);
    EXPECT_EQ(a.hdr.type, uint32_t(QAIC_TRANS_ACTIVATE_FROM_DEV));
    EXPECT_NE(a.status, 0u);

    // One freed DBC can be had again.
    ASSERT_EQ(deactivate(fd, ids.back()), 0);
    uint32_t again;
    ASSERT_EQ(activate(fd, 16, &again), 0);
    EXPECT_EQ(again, ids.back());
}

TEST_F(FileClose, ReleasesTheFilesDbcs)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    std::vector<uint32_t> all = activate_all(fd2);
    ASSERT_GE(all.size(), 1u);
    uint32_t id, st = 0;
    EXPECT_EQ(activate(fd, 16, &id, &st), -ECANCELED);
    EXPECT_NE(st, 0u);
    ASSERT_EQ(qaic_close(fd2), 0);

    std::vector<uint32_t> again = activate_all(fd);
    EXPECT_EQ(again.size(), all.size());
}

// Concurrent MANAGE calls get their own answers, and DBCs freed by one caller (DEACTIVATE,
// or TERMINATE when a file closes) and taken by another are never lost on the way.
TEST_F(ManageMessage, FromManyThreads)
{
    std::vector<uint32_t> all = activate_all(fd);
    for (uint32_t id : all)
        ASSERT_EQ(deactivate(fd, id), 0);

    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 2; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                qaic_manage_trans_status_from_dev s{};
                if (status(fd, &s) != 0 || s.major != 5)
                    ++bad;
                uint32_t id;
                if (activate(fd, 2 + uint32_t(t), &id) != 0 || deactivate(fd, id) != 0)
                    ++bad;
            }
        });
    for (int t = 0; t < 2; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 25; ++i) {
                int f = qaic_open(nullptr);
                uint32_t id;
                if (f < 0 || activate(f, 16, &id) != 0)
                    ++bad;
                if (f >= 0 && qaic_close(f) != 0)
                    ++bad;
            }
        });
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(activate_all(fd).size(), all.size());
}

// The simulated card's firmware serves a MANAGE on the waiting caller's thread
// (control_busy_poll, on by default); off, its own thread serves every message. The answers
// are the same either way, with several threads at once too.
TEST_F(ManageMessage, WithAndWithoutControlBusyPoll)
{
    ParamGuard restore("control_busy_poll", 1);
    for (uint32_t busy : {0u, 1u}) {
        SCOPED_TRACE(busy);
        SIM_OR_SKIP(qaic_sim_set_param("control_busy_poll", busy));
        std::vector<std::thread> threads;
        std::atomic<int> bad{0};
        for (int t = 0; t < 2; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 50; ++i) {
                    qaic_manage_trans_status_from_dev s{};
                    uint32_t id;
                    if (status(fd, &s) != 0 || s.major != 5 || activate(fd, 4, &id) != 0 ||
                        deactivate(fd, id) != 0)
                        ++bad;
                }
            });
        for (auto &th : threads)
            th.join();
        EXPECT_EQ(bad.load(), 0);
    }
}

// ---------------------------------------------------------------------------- DEACTIVATE

TEST_F(ManageDeactivate, AnotherFilesDbcIsEperm)
{
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    uint32_t id;
    ASSERT_EQ(activate(fd2, 16, &id), 0);
    EXPECT_EQ(deactivate(fd, id), -EPERM);
    // Still the owner's.
    EXPECT_EQ(deactivate(fd2, id), 0);
    EXPECT_EQ(qaic_close(fd2), 0);
}

TEST_F(ManageDeactivate, IdleDbcIsEperm)
{
    uint32_t id;
    ASSERT_EQ(activate(fd, 16, &id), 0);
    ASSERT_EQ(deactivate(fd, id), 0);
    EXPECT_EQ(deactivate(fd, id), -EPERM);
}

TEST_F(ManageDeactivate, OutOfRangeIsEinval)
{
    EXPECT_EQ(deactivate(fd, 16), -EINVAL);
    EXPECT_EQ(deactivate(fd, UINT32_MAX), -EINVAL);
}

TEST_F(ManageDeactivate, PadIsEinval)
{
    uint32_t id;
    ASSERT_EQ(activate(fd, 16, &id), 0);
    auto d = deactivate_trans(id);
    d.pad = 1;
    Manage m;
    m.add(d);
    EXPECT_EQ(m.send(fd), -EINVAL);
    EXPECT_EQ(deactivate(fd, id), 0);
}

// ---------------------------------------------------------------------------- ACTIVATE rules

TEST_F(ManageActivate, QueueSizeZeroIsEinval)
{
    Manage m;
    m.add(activate_trans(0));
    EXPECT_EQ(m.send(fd), -EINVAL);
}

TEST_F(ManageActivate, PadIsEinval)
{
    auto a = activate_trans(16);
    a.pad = 1;
    Manage m;
    m.add(a);
    EXPECT_EQ(m.send(fd), -EINVAL);
}

TEST_F(ManageActivate, QueueSizeAboveTheDeviceMaximumIsEinval)
{
    for (uint32_t qs : {65537u, UINT32_MAX}) {
        Manage m;
        m.add(activate_trans(qs));
        EXPECT_EQ(m.send(fd), -EINVAL) << qs;
    }
}

// A message failing validation sends nothing: an ACTIVATE before the bad transaction did
// not happen.
TEST_F(ManageMessage, AnInvalidTransactionFailsTheWholeMessage)
{
    std::vector<uint32_t> before = activate_all(fd);
    for (uint32_t id : before)
        ASSERT_EQ(deactivate(fd, id), 0);
    Manage m;
    m.add(activate_trans(16));
    m.add(activate_trans(0));
    EXPECT_EQ(m.send(fd), -EINVAL);
    EXPECT_EQ(activate_all(fd).size(), before.size());
}

// ---------------------------------------------------------------------------- message rules

TEST_F(ManageMessage, LenOver4096IsEinval)
{
    std::vector<uint8_t> buf(8192);
    qaic_manage_trans_hdr h{QAIC_TRANS_PASSTHROUGH_FROM_USR, 4104};
    std::memcpy(buf.data(), &h, sizeof(h));
    EXPECT_EQ(manage_raw(fd, buf.data(), 4097, 1), -EINVAL);
    EXPECT_EQ(manage_raw(fd, buf.data(), 4104, 1), -EINVAL);
    EXPECT_EQ(manage_raw(fd, buf.data(), UINT32_MAX, 1), -EINVAL);
}

TEST_F(ManageMessage, CountOver512IsEinval)
{
    std::vector<qaic_manage_trans_status_to_dev> t(513, status_trans());
    EXPECT_EQ(manage_raw(fd, t.data(), 4096, 513), -EINVAL);
    EXPECT_EQ(manage_raw(fd, t.data(), 4096, UINT32_MAX), -EINVAL);
}

TEST_F(ManageMessage, CountZeroIsEinval)
{
    auto t = status_trans();
    EXPECT_EQ(manage_raw(fd, &t, 8, 0), -EINVAL);
}

TEST_F(ManageMessage, LenUnder8IsEinval)
{
    auto t = status_trans();
    EXPECT_EQ(manage_raw(fd, &t, 0, 1), -EINVAL);
    EXPECT_EQ(manage_raw(fd, &t, 7, 1), -EINVAL);
}

TEST_F(ManageMessage, TransactionLenUnder8IsEinval)
{
    for (uint32_t len : {0u, 4u, 7u}) {
        uint8_t buf[16] = {};
        qaic_manage_trans_hdr h{QAIC_TRANS_PASSTHROUGH_FROM_USR, len};
        std::memcpy(buf, &h, sizeof(h));
        EXPECT_EQ(manage_raw(fd, buf, 16, 1), -EINVAL) << len;
    }
}

TEST_F(ManageMessage, TransactionRunningPastLenIsEinval)
{
    // One STATUS claiming 16 bytes in an 8-byte message.
    uint8_t buf[16] = {};
    qaic_manage_trans_hdr h{QAIC_TRANS_STATUS_FROM_USR, 16};
    std::memcpy(buf, &h, sizeof(h));
    EXPECT_EQ(manage_raw(fd, buf, 8, 1), -EINVAL);
    // Two transactions announced, one there.
    auto t = status_trans();
    EXPECT_EQ(manage_raw(fd, &t, 8, 2), -EINVAL);
    // A length that wraps the running total around 2^32.
    uint8_t two[16] = {};
    qaic_manage_trans_hdr a{QAIC_TRANS_STATUS_FROM_USR, 8};
    qaic_manage_trans_hdr b{QAIC_TRANS_PASSTHROUGH_FROM_USR, 0xFFFFFFF8u};
    std::memcpy(two, &a, 8);
    std::memcpy(two + 8, &b, 8);
    EXPECT_EQ(manage_raw(fd, two, 16, 2), -EINVAL);
}

TEST_F(ManageMessage, LengthsNotAddingUpToLenIsEinval)
{
    uint8_t buf[24] = {};
    auto t = status_trans();
    std::memcpy(buf, &t, sizeof(t));
    std::memcpy(buf + 8, &t, sizeof(t));
    EXPECT_EQ(manage_raw(fd, buf, 16, 1), -EINVAL); // 8 bytes left over
    EXPECT_EQ(manage_raw(fd, buf, 24, 2), -EINVAL);
}

TEST_F(ManageMessage, UnknownOrNonUserTypeIsEinval)
{
    // Only *_FROM_USR types may be sent; the rest are answers or wire-only forms.
    const uint32_t users[] = {QAIC_TRANS_PASSTHROUGH_FROM_USR, QAIC_TRANS_DMA_XFER_FROM_USR,
                              QAIC_TRANS_ACTIVATE_FROM_USR, QAIC_TRANS_DEACTIVATE_FROM_USR,
                              QAIC_TRANS_STATUS_FROM_USR};
    std::vector<uint32_t> bad = {QAIC_TRANS_TYPE_MAX, 0x80, 0xFFFFFFFF};
    for (uint32_t type = 0; type < QAIC_TRANS_TYPE_MAX; ++type)
        if (std::find(std::begin(users), std::end(users), type) == std::end(users))
            bad.push_back(type);
    for (uint32_t type : bad)
        for (uint32_t len : {8u, 16u, 24u, 32u})
            EXPECT_EQ(manage_one(fd, type, len), -EINVAL) << "type " << type << " len " << len;
}

TEST_F(ManageMessage, FixedSizeTypeWithAnotherLenIsEinval)
{
    const struct {
        uint32_t type, size;
    } fixed[] = {{QAIC_TRANS_DMA_XFER_FROM_USR, 32},
                 {QAIC_TRANS_ACTIVATE_FROM_USR, 24},
                 {QAIC_TRANS_DEACTIVATE_FROM_USR, 16},
                 {QAIC_TRANS_STATUS_FROM_USR, 8}};
    for (const auto &f : fixed)
        for (uint32_t len : {f.size - 8, f.size + 8, f.size + 4, 64u}) {
            if (len >= 8 && len != f.size) {
                EXPECT_EQ(manage_one(fd, f.type, len), -EINVAL)
                    << "type " << f.type << " len " << len;
            }
        }
}

TEST_F(ManageMessage, PassthroughLenNotAMultipleOf8IsEinval)
{
    for (uint32_t len : {12u, 17u, 23u, 4095u})
        EXPECT_EQ(manage_one(fd, QAIC_TRANS_PASSTHROUGH_FROM_USR, len), -EINVAL) << len;
}

// A message to the device may hold 64 KiB (upstream's QAIC_MANAGE_EXT_MSG_LENGTH), but a
// STATUS, as an ACTIVATE, must end within its first 4 KiB: behind the 32-byte wire header and
// a passthrough of 4056 bytes it just does; behind one of 4064 it does not, nor do 512
// STATUS transactions.
TEST_F(ManageMessage, StatusPastTheFirst4KibIsEnospc)
{
    std::vector<qaic_manage_trans_status_to_dev> t(512, status_trans());
    EXPECT_EQ(manage_raw(fd, t.data(), 4096, 512), -ENOSPC);
    auto behind = [&](uint32_t passthrough_len) {
        std::vector<uint8_t> args(passthrough_len - 16);
        Manage m;
        m.add_fw_command(kFwUnknownOpcode, args.data(), uint32_t(args.size()));
        m.add(status_trans());
        return m.send(fd);
    };
    EXPECT_EQ(behind(4056), 0) << "32 + 4056 + 8 = 4096";
    EXPECT_EQ(behind(4064), -ENOSPC);
}

// A passthrough of the user's whole 4096 bytes goes (4128 wire bytes, within 64 KiB): its
// command is one the firmware does not know, and says so.
TEST_F(ManageMessage, PassthroughOfTheWholeBufferGoes)
{
    Manage m;
    std::vector<uint8_t> args(QAIC_MANAGE_MAX_MSG_LENGTH - 16);
    m.add_fw_command(kFwUnknownOpcode, args.data(), uint32_t(args.size()));
    ASSERT_EQ(m.len(), uint32_t(QAIC_MANAGE_MAX_MSG_LENGTH));
    ASSERT_EQ(m.send(fd), 0);
    ASSERT_EQ(m.count(), 1u);
    EXPECT_EQ(m.at<qaic_manage_trans_hdr>(0).type, uint32_t(QAIC_TRANS_PASSTHROUGH_FROM_DEV));
    EXPECT_EQ(m.at<uint32_t>(8), kFwBadCommand);
}

TEST_F(ManageMessage, BadDataPointerIsEfault)
{
    EXPECT_EQ(manage_raw(fd, nullptr, 8, 1), -EFAULT);
    EXPECT_EQ(manage_raw(fd, reinterpret_cast<void *>(16), 8, 1), -EFAULT);

    long page = sysconf(_SC_PAGESIZE);
    auto *p = static_cast<uint8_t *>(mmap(nullptr, size_t(2 * page), PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    ASSERT_EQ(munmap(p + page, size_t(page)), 0);
    // Two STATUS transactions, the second in the hole.
    auto t = status_trans();
    std::memcpy(p + page - 8, &t, sizeof(t));
    EXPECT_EQ(manage_raw(fd, p + page - 8, 16, 2), -EFAULT);
    munmap(p, size_t(page));
}

// The answer is written over the transactions: a read-only buffer cannot take it.
TEST_F(ManageMessage, ReadOnlyDataIsEfault)
{
    long page = sysconf(_SC_PAGESIZE);
    auto *p = static_cast<uint8_t *>(mmap(nullptr, size_t(page), PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    auto t = status_trans();
    std::memcpy(p, &t, sizeof(t));
    ASSERT_EQ(mprotect(p, size_t(page), PROT_READ), 0);
    EXPECT_EQ(manage_raw(fd, p, 8, 1), -EFAULT);
    munmap(p, size_t(page));
}

// ---------------------------------------------------------------------------- DMA_XFER rules

TEST_F(ManageDmaXfer, SizeZeroIsEinval)
{
    uint8_t b[8] = {};
    EXPECT_EQ(dma_xfer(fd, 1, b, 0), -EINVAL);
}

TEST_F(ManageDmaXfer, AddrPlusSizeOverflowIsEinval)
{
    Manage m;
    auto x = dma_xfer_trans(1, nullptr, 0x100);
    x.addr = UINT64_MAX - 0x10;
    m.add(x);
    EXPECT_EQ(m.send(fd), -EINVAL);
    uint8_t b[8] = {};
    EXPECT_EQ(dma_xfer(fd, 1, b, UINT64_MAX), -EINVAL);
}

// Upstream does not check DMA_XFER's pad, and Qualcomm's runtime sets it to 1 (its "count"):
// any value is accepted, and the data arrives.
TEST_F(ManageDmaXfer, PadIsIgnored)
{
    uint8_t b[24];
    for (size_t i = 0; i < sizeof(b); ++i)
        b[i] = uint8_t(0xa0 + i);
    for (uint32_t pad : {1u, 0xffffffffu}) {
        SCOPED_TRACE(pad);
        auto x = dma_xfer_trans(7, b, sizeof(b));
        x.pad = pad;
        Manage m;
        m.add(x);
        EXPECT_EQ(m.send(fd), 0);
        ImageInfo info;
        ASSERT_EQ(image_info(fd, 7, &info), 0);
        EXPECT_EQ(info.size, sizeof(b));
        EXPECT_EQ(info.crc, crc32(b, sizeof(b)));
    }
}

TEST_F(ManageDmaXfer, TwoDmaXfersInOneMessageIsEinval)
{
    uint8_t b[64] = {};
    Manage m;
    m.add(dma_xfer_trans(1, b, sizeof(b)));
    m.add(dma_xfer_trans(2, b, sizeof(b)));
    EXPECT_EQ(m.send(fd), -EINVAL);
    // Neither image exists.
    ImageInfo info;
    EXPECT_EQ(image_info(fd, 1, &info), -ENOENT);
    EXPECT_EQ(image_info(fd, 2, &info), -ENOENT);
}

TEST_F(ManageDmaXfer, FromBadAddressIsEfault)
{
    EXPECT_EQ(dma_xfer(fd, 1, reinterpret_cast<void *>(16), 64), -EFAULT);

    long page = sysconf(_SC_PAGESIZE);
    auto *p = static_cast<uint8_t *>(mmap(nullptr, size_t(2 * page), PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    ASSERT_EQ(munmap(p + page, size_t(page)), 0);
    EXPECT_EQ(dma_xfer(fd, 1, p + page - 16, 32), -EFAULT); // runs into the hole
    EXPECT_EQ(dma_xfer(fd, 1, p, size_t(page)), 0);         // the mapped part is fine
    munmap(p, size_t(page));
}

// More than any driver's memory limit (1 TiB at most) for the bounce copy. The source is a
// reserved, never touched mapping, so the data is readable and only memory can run out.
TEST_F(ManageDmaXfer, BeyondTheMemoryLimitIsEnomem)
{
    const size_t size = (size_t(1) << 40) + kPage;
    void *p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        GTEST_SKIP() << "cannot reserve 1 TiB of address space: " << std::strerror(errno);
    EXPECT_EQ(dma_xfer(fd, 1, p, size), -ENOMEM);
    munmap(p, size);
    // Nothing was left allocated: a normal transfer works.
    uint8_t b[16] = {};
    EXPECT_EQ(dma_xfer(fd, 1, b, sizeof(b)), 0);
}

// The card's firmware in a process under an address-space limit (a container's ulimit -v):
// storing a DMA_XFER's image runs out of memory on the firmware's thread. The transfer is
// refused (ECANCELED, the firmware's NO_RESOURCES), never an abort, and the card goes on.
TEST_F(ManageDmaXfer, UnderAnAddressSpaceLimitIsRefused)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "the sanitizers' shadow memory makes an address-space limit meaningless";
#endif
    qaic_host_stats hs;
    if (!selftest::on_sim() || qaic_host_get_stats(nullptr, &hs) == 0)
        GTEST_SKIP() << "the limit must hold for the card: the embedded one only";
    auto data = pattern(128 << 20, 12); // made before the limit
    rlimit old;
    ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
    std::ifstream status("/proc/self/status");
    std::string line;
    uint64_t vm_kib = 0;
    while (std::getline(status, line))
        if (line.rfind("VmSize:", 0) == 0)
            vm_kib = std::stoull(line.substr(7));
    ASSERT_GT(vm_kib, 0u);
    // Room for the driver's few allocations, not for the firmware's copy of 128 MiB.
    rlimit tight{(vm_kib << 10) + (32 << 20), old.rlim_max};
    ASSERT_EQ(setrlimit(RLIMIT_AS, &tight), 0);
    int err = dma_xfer(fd, 13, data.data(), data.size());
    ASSERT_EQ(setrlimit(RLIMIT_AS, &old), 0);
    EXPECT_EQ(err, -ECANCELED);
    ImageInfo info{};
    EXPECT_EQ(image_info(fd, 13, &info), -ENOENT) << "nothing of it is kept";
    ASSERT_EQ(dma_xfer(fd, 13, data.data(), 1 << 20), 0);
    ASSERT_EQ(image_info(fd, 13, &info), 0);
    EXPECT_EQ(info.size, 1u << 20);
}

// A DMA_XFER's pairs fill a request up to 64 KiB, keeping 1 KiB for what follows it (as
// upstream sizes them): with a pair per page the first of 20 MiB's 5120 pairs carries 4028,
// ending at byte 32 + 24 + 4028 * 16 = 64504. A passthrough of up to 1032 bytes still fits
// behind them, and is answered; one of 1040 does not. The rest of the transfer follows in
// continuation messages, and the image arrives whole.
TEST_F(ManageDmaXfer, ContinuingLeavesRoomForWhatFollows)
{
    ParamGuard order("dma_xfer_chunk_order", kDefaultDmaXferChunkOrder);
    SIM_OR_SKIP(qaic_sim_set_param("dma_xfer_chunk_order", 0));
    auto data = pattern(20 << 20, 14);
    auto with_command = [&](uint32_t arg_len) {
        std::vector<uint8_t> args(arg_len);
        Manage m;
        m.add(dma_xfer_trans(14, data.data(), data.size()));
        m.add_fw_command(kFwUnknownOpcode, args.data(), arg_len);
        int err = m.send(fd);
        if (err == 0) {
            EXPECT_EQ(m.count(), 1u);
            EXPECT_EQ(m.at<qaic_manage_trans_hdr>(0).type,
                      uint32_t(QAIC_TRANS_PASSTHROUGH_FROM_DEV));
            EXPECT_EQ(m.at<uint32_t>(8), kFwBadCommand) << "answered: an unknown opcode";
        }
        return err;
    };
    EXPECT_EQ(with_command(1016), 0) << "a passthrough of 1032 bytes fits the spare room";
    ImageInfo info{};
    ASSERT_EQ(image_info(fd, 14, &info), 0);
    EXPECT_EQ(info.size, data.size());
    EXPECT_EQ(info.crc, crc32(data.data(), data.size()));
    EXPECT_EQ(with_command(1024), -ENOSPC) << "1040 bytes do not";
}

// ACTIVATE and STATUS must end within a request's first 4 KiB, as upstream checks them: behind
// a DMA_XFER whose pairs pass that (512 pairs, 8 KiB) they are ENOSPC, ahead of it they go.
TEST_F(ManageDmaXfer, PairsPastTheFirst4KibLeaveNoRoomForStatusOrActivate)
{
    ParamGuard order("dma_xfer_chunk_order", kDefaultDmaXferChunkOrder);
    auto data = pattern(2 << 20, 11);
    auto with = [&](bool status_first, bool activate) {
        Manage m;
        if (status_first)
            m.add(status_trans());
        m.add(dma_xfer_trans(12, data.data(), data.size()));
        if (activate)
            m.add(activate_trans(0)); // refused for its size before its queue_size is read
        else if (!status_first)
            m.add(status_trans());
        return m.send(fd);
    };
    EXPECT_EQ(with(false, false), 0) << "64 KiB chunks: 32 pairs, 512 bytes";
    SIM_OR_SKIP(qaic_sim_set_param("dma_xfer_chunk_order", 0));
    EXPECT_EQ(with(false, false), -ENOSPC) << "512 pairs: STATUS past 4 KiB";
    EXPECT_EQ(with(false, true), -ENOSPC) << "ACTIVATE past 4 KiB";
    EXPECT_EQ(with(true, false), 0) << "STATUS first";
    ImageInfo info{};
    ASSERT_EQ(image_info(fd, 12, &info), 0);
    EXPECT_EQ(info.size, data.size());
    EXPECT_EQ(info.crc, crc32(data.data(), data.size()));
    EXPECT_EQ(qaic_sim_set_param("dma_xfer_chunk_order", 11), -1) << "past the pool's largest order";
    EXPECT_EQ(errno, EINVAL);
}

// ---------------------------------------------------------------------------- DMA_XFER + firmware

TEST_F(ManageDmaXfer, ThenImageInfo)
{
    auto data = pattern(100000, 1);
    Manage m;
    m.add(dma_xfer_trans(7, data.data(), data.size()));
    ASSERT_EQ(m.send(fd), 0);
    EXPECT_EQ(m.count(), 0u) << "DMA_XFER has no answer";
    EXPECT_EQ(m.len(), 0u);

    ImageInfo info{};
    ASSERT_EQ(image_info(fd, 7, &info), 0);
    EXPECT_EQ(info.size, data.size());
    EXPECT_EQ(info.crc, crc32(data.data(), data.size()));
}

TEST_F(ManageDmaXfer, OfOneByte)
{
    uint8_t b = 0x42;
    ASSERT_EQ(dma_xfer(fd, 3, &b, 1), 0);
    ImageInfo info{};
    ASSERT_EQ(image_info(fd, 3, &info), 0);
    EXPECT_EQ(info.size, 1u);
    EXPECT_EQ(info.crc, crc32(&b, 1));
}

// 24 MiB in 64 KiB chunks is 384 pairs: one message.
TEST_F(ManageDmaXfer, LargeDmaXferInOneMessage)
{
    auto data = pattern(24 << 20, 2);
    ASSERT_EQ(dma_xfer(fd, 9, data.data(), data.size()), 0);
    ImageInfo info{};
    ASSERT_EQ(image_info(fd, 9, &info), 0);
    EXPECT_EQ(info.size, data.size());
    EXPECT_EQ(info.crc, crc32(data.data(), data.size()));
}

// With a pair per page (dma_xfer_chunk_order 0), 40 MiB are 10240 pairs: three messages of
// up to 4028 pairs, the last two continuations the firmware asked for. It arrives whole.
TEST_F(ManageDmaXfer, OfPageSizedChunksSpansSeveralMessages)
{
    ParamGuard order("dma_xfer_chunk_order", kDefaultDmaXferChunkOrder);
    SIM_OR_SKIP(qaic_sim_set_param("dma_xfer_chunk_order", 0));
    auto data = pattern(40 << 20, 13);
    ASSERT_EQ(dma_xfer(fd, 13, data.data(), data.size()), 0);
    ImageInfo info{};
    ASSERT_EQ(image_info(fd, 13, &info), 0);
    EXPECT_EQ(info.size, data.size());
    EXPECT_EQ(info.crc, crc32(data.data(), data.size()));
}

// An unaligned user buffer is copied exactly, not from its page start.
TEST_F(ManageDmaXfer, FromAnUnalignedAddress)
{
    auto data = pattern(3 * kPage + 100, 3);
    ASSERT_EQ(dma_xfer(fd, 4, data.data() + 13, data.size() - 13), 0);
    ImageInfo info{};
    ASSERT_EQ(image_info(fd, 4, &info), 0);
    EXPECT_EQ(info.size, data.size() - 13);
    EXPECT_EQ(info.crc, crc32(data.data() + 13, data.size() - 13));
}

TEST_F(ManageDmaXfer, ReplacesTheImageOfItsTag)
{
    auto a = pattern(50000, 4), b = pattern(20000, 5);
    ASSERT_EQ(dma_xfer(fd, 5, a.data(), a.size()), 0);
    ASSERT_EQ(dma_xfer(fd, 6, a.data(), a.size()), 0);
    ASSERT_EQ(dma_xfer(fd, 5, b.data(), b.size()), 0);
    ImageInfo info{};
    ASSERT_EQ(image_info(fd, 5, &info), 0);
    EXPECT_EQ(info.size, b.size());
    EXPECT_EQ(info.crc, crc32(b.data(), b.size()));
    ASSERT_EQ(image_info(fd, 6, &info), 0);
    EXPECT_EQ(info.crc, crc32(a.data(), a.size()));
}

// A DMA_XFER that fits one message may precede other transactions.
TEST_F(ManageDmaXfer, AndImageInfoInOneMessage)
{
    auto data = pattern(10000, 6);
    uint32_t args[2] = {8, 0};
    Manage m;
    m.add(dma_xfer_trans(8, data.data(), data.size()));
    m.add_fw_command(kFwImageInfo, args, sizeof(args));
    ASSERT_EQ(m.send(fd), 0);
    ASSERT_EQ(m.count(), 1u);
    EXPECT_EQ(m.at<qaic_manage_trans_hdr>(0).type, uint32_t(QAIC_TRANS_PASSTHROUGH_FROM_DEV));
    EXPECT_EQ(m.at<uint32_t>(8), kFwOk);
    EXPECT_EQ(m.at<uint32_t>(12), 16u);
    EXPECT_EQ(m.at<uint64_t>(16), data.size());
    EXPECT_EQ(m.at<uint32_t>(24), crc32(data.data(), data.size()));
}

// Images belong to the file that sent them.
TEST_F(ManageFirmwareCommand, ImagesArePerFile)
{
    auto data = pattern(5000, 7);
    ASSERT_EQ(dma_xfer(fd, 10, data.data(), data.size()), 0);
    int fd2 = qaic_open(nullptr);
    ASSERT_GE(fd2, 0);
    ImageInfo info{};
    EXPECT_EQ(image_info(fd2, 10, &info), -ENOENT);
    EXPECT_EQ(qaic_close(fd2), 0);
    EXPECT_EQ(image_info(fd, 10, &info), 0);
}

TEST_F(ManageFirmwareCommand, ImageInfoOfAnUnknownTagIsBadCommand)
{
    ImageInfo info{};
    EXPECT_EQ(image_info(fd, 0x1234, &info), -ENOENT);
}

TEST_F(ManageFirmwareCommand, ImageDrop)
{
    auto data = pattern(4096, 8);
    ASSERT_EQ(dma_xfer(fd, 11, data.data(), data.size()), 0);
    uint32_t args[2] = {11, 0};
    uint32_t st = 1;
    ASSERT_EQ(fw_command(fd, kFwImageDrop, args, sizeof(args), &st), 0);
    EXPECT_EQ(st, kFwOk);
    ImageInfo info{};
    EXPECT_EQ(image_info(fd, 11, &info), -ENOENT);
    ASSERT_EQ(fw_command(fd, kFwImageDrop, args, sizeof(args), &st), 0);
    EXPECT_EQ(st, kFwBadCommand);
}

// The command's answers; ImageToDdrReadBack checks the data.
TEST_F(ManageFirmwareCommand, ImageToDdr)
{
    auto data = pattern(8192, 9);
    ASSERT_EQ(dma_xfer(fd, 12, data.data(), data.size()), 0);
    struct {
        uint32_t tag, pad;
        uint64_t dev_addr;
    } args{12, 0, 0x100000};
    uint32_t st = 1;
    std::vector<uint8_t> out(1);
    ASSERT_EQ(fw_command(fd, kFwImageToDdr, &args, sizeof(args), &st, &out), 0);
    EXPECT_EQ(st, kFwOk);
    EXPECT_TRUE(out.empty());
    // Outside device DDR, or an unknown image: BAD_COMMAND, the message itself succeeds.
    args.dev_addr = uint64_t(1) << 62;
    ASSERT_EQ(fw_command(fd, kFwImageToDdr, &args, sizeof(args), &st), 0);
    EXPECT_EQ(st, kFwBadCommand);
    args.dev_addr = 0;
    args.tag = 0x999;
    ASSERT_EQ(fw_command(fd, kFwImageToDdr, &args, sizeof(args), &st), 0);
    EXPECT_EQ(st, kFwBadCommand);
}

// The image lands in DDR: read it back into a BO through a from-device slice.
TEST_F(ManageFirmwareCommand, ImageToDdrReadBack)
{
    const size_t size = 64 * 1024;
    const uint64_t dev_addr = 0x400000;
    auto data = pattern(size, 10);
    ASSERT_EQ(dma_xfer(fd, 13, data.data(), data.size()), 0);
    struct {
        uint32_t tag, pad;
        uint64_t dev_addr;
    } args{13, 0, dev_addr};
    uint32_t st = 1;
    ASSERT_EQ(fw_command(fd, kFwImageToDdr, &args, sizeof(args), &st), 0);
    ASSERT_EQ(st, kFwOk);

    uint32_t dbc, bo;
    ASSERT_EQ(activate(fd, 16, &dbc), 0);
    ASSERT_EQ(create_bo(fd, size, &bo), 0);
    ASSERT_EQ(attach(fd, bo, dbc, kDirFromDev, {slice(0, size, dev_addr)}), 0);
    qaic_execute_entry entry{bo, kDirFromDev};
    qaic_execute exec{{1, dbc}, uintptr_t(&entry)};
    ASSERT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_EXECUTE_BO, &exec), 0);
    qaic_wait wait{bo, 5000, dbc, 0};
    ASSERT_EQ(ioctl_err(fd, DRM_IOCTL_QAIC_WAIT_BO, &wait), 0);

    auto *p = static_cast<uint8_t *>(map_bo(fd, bo, size));
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    EXPECT_EQ(std::memcmp(p, data.data(), size), 0);
    EXPECT_EQ(qaic_munmap(p, size), 0);
}

// Our commands' opcodes start at 0x10000 (below are NNC's, tested in nnc_test.cc).
TEST_F(ManageFirmwareCommand, UnknownIsBadCommand)
{
    uint32_t args[2] = {};
    for (uint32_t op : {0x10000u, 0x17FFFu, 0xFFFFFFFFu}) {
        uint32_t st = 0;
        ASSERT_EQ(fw_command(fd, op, args, sizeof(args), &st), 0) << op;
        EXPECT_EQ(st, kFwBadCommand) << op;
    }
}

TEST_F(ManageFirmwareCommand, ShortIsBadCommand)
{
    // IMAGE_INFO without its tag, and a passthrough too short for a command header.
    uint32_t st = 0;
    ASSERT_EQ(fw_command(fd, kFwImageInfo, nullptr, 0, &st), 0);
    EXPECT_EQ(st, kFwBadCommand);
    Manage m;
    qaic_manage_trans_hdr h{QAIC_TRANS_PASSTHROUGH_FROM_USR, 8};
    m.add(h);
    ASSERT_EQ(m.send(fd), 0);
    ASSERT_EQ(m.count(), 1u);
    EXPECT_EQ(m.at<uint32_t>(8), kFwBadCommand);
}

} // namespace
