// SPDX-License-Identifier: GPL-2.0-only
// Module parameters: each takes exactly its documented range (docs/uapi.md); anything else is
// -EINVAL and leaves the value as it was.
#include "drivers/accel/qaic/qaic.h"

#include <gtest/gtest.h>

namespace {

using qaic::Params;

struct Range {
    const char *name;
    std::atomic<uint32_t> Params::*field;
    uint32_t min, max;
    uint32_t unit = 1; // the field's units per unit of the name's
};

const Range kRanges[] = {
    {"control_resp_timeout_ms", &Params::control_resp_timeout_us, 1, 600000, 1000},
    {"control_resp_timeout_us", &Params::control_resp_timeout_us, 1, 600000000},
    {"boot_timeout_ms", &Params::boot_timeout_ms, 1, 600000},
    {"wait_exec_default_timeout_ms", &Params::wait_exec_default_timeout_ms, 1, 600000},
    {"exec_timeout_ms", &Params::exec_timeout_ms, 1, 600000},
    {"sched_queue_depth", &Params::sched_queue_depth, 0, 1 << 20},
    {"datapath_polling", &Params::datapath_polling, 0, 1},
    {"poll_interval_us", &Params::poll_interval_us, 10, 1000000},
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
    EXPECT_EQ(p.dma_xfer_chunk_order, 4u); // 64 KiB chunks
}

} // namespace
