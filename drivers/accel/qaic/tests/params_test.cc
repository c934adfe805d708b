// SPDX-License-Identifier: GPL-2.0-only
// Module parameters: each takes exactly its documented range (docs/uapi.md); anything else is
// -EINVAL and leaves the value as it was.
#include "drivers/accel/qaic/qaic.h"

#include <gtest/gtest.h>
#include <map>
#include <string>

namespace {

using qaic::Params;

struct Range {
    const char *name;
    std::atomic<uint32_t> Params::*field;
    uint32_t min, max;
    uint32_t unit = 1; // the field's units per unit of the name's
};

const Range kRanges[] = {
    {"control_resp_timeout_s", &Params::control_resp_timeout_us, 1, 600, 1000000},
    {"control_resp_timeout_ms", &Params::control_resp_timeout_us, 1, 600000, 1000},
    {"control_resp_timeout_us", &Params::control_resp_timeout_us, 1, 600000000},
    {"mhi_timeout_ms", &Params::mhi_timeout_ms, 1, 600000},
    {"timesync_delay_ms", &Params::timesync_delay_ms, 1, 3600000},
    {"wait_exec_default_timeout_ms", &Params::wait_exec_default_timeout_ms, 1, 600000},
    {"exec_timeout_ms", &Params::exec_timeout_ms, 1, 600000},
    {"sched_queue_depth", &Params::sched_queue_depth, 0, 1 << 20},
    {"datapath_poll_interval_us", &Params::datapath_poll_interval_us, 10, 1000000},
    {"wait_spin_us", &Params::wait_spin_us, 0, 10000},
    {"wait_busy_poll", &Params::wait_busy_poll, 0, 1},
    {"control_busy_poll", &Params::control_busy_poll, 0, 1},
    {"dma_xfer_chunk_order", &Params::dma_xfer_chunk_order, 0, qaic::PagePool::kMaxOrder},
};

class ModuleParam : public ::testing::TestWithParam<Range> {};

TEST_P(ModuleParam, TakesItsRangeOnly)
{
    const Range &r = GetParam();
    Params p;
    ASSERT_FALSE(p.set(r.name, r.max).is_error());
    EXPECT_EQ(p.*r.field, r.max * r.unit);
    ASSERT_FALSE(p.set(r.name, r.min).is_error());
    EXPECT_EQ(p.*r.field, r.min * r.unit);
    if (r.min > 0) {
        EXPECT_EQ(p.set(r.name, r.min - 1).code(), -EINVAL);
    }
    EXPECT_EQ(p.set(r.name, r.max + 1).code(), -EINVAL);
    EXPECT_EQ(p.set(r.name, UINT32_MAX).code(), -EINVAL);
    EXPECT_EQ(p.*r.field, r.min * r.unit); // refused values change nothing
}

INSTANTIATE_TEST_SUITE_P(Each, ModuleParam, ::testing::ValuesIn(kRanges),
                         [](const auto &info) { return std::string(info.param.name); });

// datapath_polling is upstream's bool with mode 0400: given at load only, in any of the
// kernel's spellings; a run-time write is refused as the sysfs file refuses it.
TEST(ModuleParams, DatapathPollingIsALoadTimeBool)
{
    Params p;
    EXPECT_EQ(p.set("datapath_polling", 1).code(), -EACCES);
    EXPECT_EQ(p.datapath_polling, 0u);
    ASSERT_FALSE(p.load("datapath_polling", 1).is_error());
    EXPECT_EQ(p.datapath_polling, 1u);
    EXPECT_EQ(p.load("datapath_polling", 2).code(), -EINVAL);
    EXPECT_EQ(p.get("datapath_polling").value(), "Y\n");
    ASSERT_FALSE(p.load("datapath_polling", 0).is_error());
    EXPECT_EQ(p.get("datapath_polling").value(), "N\n");

    for (const char *on : {"datapath_polling=y", "datapath_polling=Y", "datapath_polling=1",
                           "datapath_polling=on", "datapath_polling=true", "datapath_polling"}) {
        auto s = Params::parse(on);
        ASSERT_FALSE(s.is_error()) << on;
        ASSERT_EQ(s.value().size(), 1u);
        EXPECT_EQ(s.value()[0].value, 1u) << on;
    }
    for (const char *off : {"datapath_polling=n", "datapath_polling=N", "datapath_polling=0",
                            "datapath_polling=off", "datapath_polling=false"}) {
        auto s = Params::parse(off);
        ASSERT_FALSE(s.is_error()) << off;
        EXPECT_EQ(s.value()[0].value, 0u) << off;
    }
    for (const char *bad : {"datapath_polling=", "datapath_polling=2", "datapath_polling=x",
                            "datapath_polling=o"})
        EXPECT_EQ(Params::parse(bad).code(), -EINVAL) << bad;
    // Numbers stay numbers: a bool's spelling is not one.
    EXPECT_EQ(Params::parse("wait_spin_us=y").code(), -EINVAL);
    EXPECT_EQ(Params::parse("wait_spin_us").code(), -EINVAL);
}

// The control response timeout has one value, set and shown in each of its three units.
TEST(ModuleParams, ControlRespTimeoutIsOneValue)
{
    Params p;
    EXPECT_EQ(p.get("control_resp_timeout_s").value(), "60\n");
    ASSERT_FALSE(p.set("control_resp_timeout_ms", 2500).is_error());
    EXPECT_EQ(p.get("control_resp_timeout_s").value(), "2\n"); // rounded down
    EXPECT_EQ(p.get("control_resp_timeout_ms").value(), "2500\n");
    EXPECT_EQ(p.get("control_resp_timeout_us").value(), "2500000\n");
    ASSERT_FALSE(p.set("control_resp_timeout_s", 7).is_error());
    EXPECT_EQ(p.control_resp_timeout_us, 7000000u);
}

// The list names every parameter once, with its value and upstream's mode.
TEST(ModuleParams, ListShowsEveryParameter)
{
    Params p;
    ASSERT_FALSE(p.set("timesync_delay_ms", 250).is_error());
    auto list = p.list();
    ASSERT_FALSE(list.is_error());
    std::map<std::string, std::pair<std::string, unsigned>> got;
    for (auto &e : list.value())
        EXPECT_TRUE(got.emplace(e.name, std::pair(e.value, e.mode)).second) << e.name;
    for (const Range &r : kRanges)
        EXPECT_EQ(got.count(r.name), 1u) << r.name;
    EXPECT_EQ(got["timesync_delay_ms"], std::pair(std::string("250\n"), 0600u));
    EXPECT_EQ(got["datapath_polling"], std::pair(std::string("N\n"), 0400u));
    EXPECT_EQ(got["mhi_timeout_ms"].first, "2000\n");
    EXPECT_EQ(got["datapath_poll_interval_us"].first, "100\n");
    EXPECT_EQ(got.count("debug"), 1u);
    EXPECT_EQ(got.count("poll_interval_us"), 0u) << "renamed: datapath_poll_interval_us";
    EXPECT_EQ(got.count("boot_timeout_ms"), 0u) << "renamed: mhi_timeout_ms";
    EXPECT_EQ(p.get("no_such_param").code(), -EINVAL);
}

TEST(ModuleParams, UnknownNamesAreEinval)
{
    Params p;
    for (const char *name : {"", "no_such_param", "wait_busy_poll ", "WAIT_BUSY_POLL"})
        EXPECT_EQ(p.set(name, 0).code(), -EINVAL) << '"' << name << '"';
}

TEST(ModuleParams, DefaultsAreAsDocumented)
{
    Params p;
    EXPECT_EQ(p.wait_busy_poll, 1u);
    EXPECT_EQ(p.wait_spin_us, 50u);
    EXPECT_EQ(p.datapath_polling, 0u);
    EXPECT_EQ(p.wait_exec_default_timeout_ms, 5000u);
    EXPECT_EQ(p.control_resp_timeout_us, 60000000u);
    EXPECT_EQ(p.mhi_timeout_ms, 2000u);        // upstream's defaults
    EXPECT_EQ(p.timesync_delay_ms, 1000u);
    EXPECT_EQ(p.datapath_poll_interval_us, 100u);
    EXPECT_EQ(p.dma_xfer_chunk_order, 4u); // 64 KiB chunks
}

} // namespace
