// SPDX-License-Identifier: GPL-2.0-only
// What the driver shows outside its ioctls, on a card of its own: the firmware's boot log
// (debugfs bootlog), the periodic time sync the card records, mhi_timeout_ms bounding the
// wait for a slow boot, and the files' index.
#include "drivers/accel/qaic/qaic.h"
#include "host/machine.h"
#include "hw/aic100/sim_pci.h"

#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<qaic::ParamSetting> settings(const char *text)
{
    auto p = qaic::Params::parse(text);
    EXPECT_FALSE(p.is_error()) << text;
    return p.is_error() ? std::vector<qaic::ParamSetting>{} : p.release_value();
}

// Waits (without a deadline of its own: the test's timeout is the bound) until pred holds.
template <typename Pred> void wait_for(Pred pred)
{
    while (!pred())
        std::this_thread::sleep_for(1ms);
}

// The firmware writes its boot's lines; the driver collects them once the card is ONLINE, and
// a reset's boot replaces them.
TEST(Bootlog, IsTheFirmwaresBootLines)
{
    aic100::SimPciDev dev;
    std::atomic<int> back_online{0};
    auto q = qaic::probe(dev, 0, [&](const accel::Uevent &ev) {
        back_online += ev.action == accel::KobjAction::kOnline;
    });
    ASSERT_FALSE(q.is_error()) << q.code();
    qaic::QaicDevice &qdev = *q.value();
    auto log = qdev.read_attr("debug/bootlog");
    ASSERT_FALSE(log.is_error());
    EXPECT_EQ(log.value(), dev.card().boot_log_text());
    EXPECT_NE(log.value().find("QSM: boot 1: firmware 5.0 starting\n"), std::string::npos)
        << log.value();
    EXPECT_TRUE(log.value().ends_with("ONLINE\n")) << log.value();

    dev.card().reset();
    wait_for([&] { return back_online == 1; }); // the recovery's KOBJ_ONLINE
    log = qdev.read_attr("debug/bootlog");
    ASSERT_FALSE(log.is_error());
    EXPECT_EQ(log.value().find("boot 1:"), std::string::npos) << "a new boot's log replaces it";
    EXPECT_NE(log.value().find("QSM: boot 2: firmware"), std::string::npos) << log.value();
    qaic::remove(qdev);
}

// The driver sends the host's time every timesync_delay_ms (the value read each period); the
// card takes each message and records the offset of host UTC from its QTimer.
TEST(Timesync, PeriodFollowsTheParameter)
{
    aic100::SimPciDev dev;
    auto q = qaic::probe(dev, 0, {}, settings("timesync_delay_ms=3600000"));
    ASSERT_FALSE(q.is_error()) << q.code();
    qaic::QaicDevice &qdev = *q.value();
    aic100::Card &card = dev.card();

    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(card.timesync().syncs, 0u) << "none before the first hour-long period ends";
    qaic::remove(qdev); // ends the period too

    aic100::SimPciDev dev2;
    q = qaic::probe(dev2, 0, {}, settings("timesync_delay_ms=100"));
    ASSERT_FALSE(q.is_error()) << q.code();
    qaic::QaicDevice &qdev2 = *q.value();
    aic100::Card &card2 = dev2.card();
    wait_for([&] { return card2.timesync().syncs >= 1; });
    auto first = card2.timesync().last;
    wait_for([&] { return card2.timesync().syncs >= 4; });
    auto fourth = card2.timesync().last;
    EXPECT_GE(fourth - first, 300ms) << "three periods of 100 ms at least";
    aic100::TimesyncStatus ts = card2.timesync();
    EXPECT_EQ(ts.rejected, 0u);
    // Host UTC = QTimer time + offset, as the card now works it out.
    int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    int64_t device_us = int64_t(card2.qtimer() * 10 / 192); // 19.2 MHz
    EXPECT_NEAR(double(device_us + ts.offset_us), double(now_us), 2e6);

    // A run-time write changes the period from the next one: 20 ms.
    ASSERT_FALSE(qdev2.params.set("timesync_delay_ms", 20).is_error());
    uint64_t before = card2.timesync().syncs;
    wait_for([&] { return card2.timesync().syncs >= before + 2; });
    auto a = card2.timesync().last;
    wait_for([&] { return card2.timesync().syncs >= before + 12; });
    EXPECT_GE(card2.timesync().last - a, 200ms) << "ten periods of 20 ms at least";
    qaic::remove(qdev2);
}

// mhi_timeout_ms bounds the wait for the device to come ONLINE: a card that takes 1 s to
// boot fails a probe allowed 50 ms, and passes one allowed 60 s.
TEST(MhiTimeout, BoundsTheWaitForBoot)
{
    aic100::CardConfig slow;
    slow.boot_ms = 1000;
    {
        aic100::SimPciDev dev(slow);
        auto start = Clock::now();
        auto q = qaic::probe(dev, 0, {}, settings("mhi_timeout_ms=50"));
        EXPECT_EQ(q.code(), -ETIMEDOUT);
        EXPECT_GE(Clock::now() - start, 50ms);
    }
    aic100::SimPciDev dev(slow);
    auto q = qaic::probe(dev, 0, {}, settings("mhi_timeout_ms=60000"));
    ASSERT_FALSE(q.is_error()) << q.code();
    EXPECT_EQ(q.value()->read_attr("parameters/mhi_timeout_ms").value(), "60000\n");
    qaic::remove(*q.value());
}

// The index lists every file once; each reads, and a path that is not one is ENOENT.
TEST(Attrs, IndexListsReadableFiles)
{
    host::Machine m(1, {0, 0, settings("datapath_polling=Y,control_resp_timeout_s=9")});
    auto index = m.read_attr(0, "");
    ASSERT_FALSE(index.is_error()) << index.code();
    const std::string &text = index.value();
    for (const char *want : {"0444 accel/dbc0_state\n", "0444 device/ce_count\n",
                             "0444 device/ue_count\n", "0444 device/ue_nonfatal_count\n",
                             "0400 debug/bootlog\n", "0400 debug/dbc000/fifo_size\n",
                             "0400 debug/dbc015/queued\n", "0400 parameters/datapath_polling\n",
                             "0600 parameters/timesync_delay_ms\n"})
        EXPECT_NE(text.find(want), std::string::npos) << want;
    size_t lines = 0;
    for (size_t at = 0; (at = text.find('\n', at)) != std::string::npos; ++at, ++lines) {
        size_t start = text.rfind('\n', at - 1);
        std::string path = text.substr(start == std::string::npos ? 5 : start + 6,
                                       at - (start == std::string::npos ? 5 : start + 6));
        EXPECT_FALSE(m.read_attr(0, path).is_error()) << path;
    }
    EXPECT_GT(lines, 16u * 3);
    EXPECT_EQ(m.read_attr(0, "parameters/datapath_polling").value(), "Y\n");
    EXPECT_EQ(m.read_attr(0, "parameters/control_resp_timeout_s").value(), "9\n");
    EXPECT_EQ(m.read_attr(0, "parameters/control_resp_timeout_ms").value(), "9000\n");
    EXPECT_EQ(m.read_attr(0, "device/ce_count").value(), "0\n");
    EXPECT_EQ(m.read_attr(0, "accel/dbc3_state").value(), "0\n");
    EXPECT_EQ(m.read_attr(0, "debug/dbc003/fifo_size").value(), "0\n");
    EXPECT_EQ(m.read_attr(0, "debug/dbc003/queued").value(), "0\n");
    for (const char *bad : {"debug/dbc016/queued", "debug/dbc3/queued", "accel/dbc03_state",
                            "accel/dbc16_state", "parameters/poll_interval_us", "debug/",
                            "sys/bootlog", "parameters/", "debug/dbc000/queued/"})
        EXPECT_EQ(m.read_attr(0, bad).code(), -ENOENT) << bad;
    EXPECT_EQ(m.set_param(0, "datapath_polling", 0), -EACCES);
    EXPECT_EQ(m.read_attr(0, "parameters/datapath_polling").value(), "Y\n");
}

} // namespace
