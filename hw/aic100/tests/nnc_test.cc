// SPDX-License-Identifier: GPL-2.0-only
// The firmware's NNC commands (include/hw/aic100_nnc.h) over the control channel: the query
// sequence Qualcomm's runtime starts with (STATUS, RESOURCE_INFO, PERFORMANCE_INFO), answered
// in the layouts it parses, and malformed requests (short, wrong info type, unknown command)
// answered as the protocol says, never NACKed.
#include "hw/aic100/tests/harness.h"
#include "include/hw/aic100_nnc.h"

#include <cstring>
#include <memory>

namespace aic100::test {
namespace {

// A passthrough carrying an NNC request, with the 8 zero bytes the runtime adds.
template <typename T> Trans nnc(const T &req, size_t extra = 8)
{
    Trans t{QAIC_TRANS_PASSTHROUGH_TO_DEV, {}};
    append(t.body, req);
    t.body.resize(t.body.size() + extra, 0);
    return t;
}

constexpr unsigned kDbcs = 4; // small_config()'s

class Nnc : public CardTest {
protected:
    // The NNC response to one request: the PASSTHROUGH_FROM_DEV payload, whole.
    Bytes ask(const Trans &t)
    {
        auto r = d.transact({t});
        EXPECT_TRUE(r);
        if (!r)
            return {};
        EXPECT_EQ(r->trans.size(), 1u);
        EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_PASSTHROUGH_FROM_DEV));
        const Bytes &tr = r->trans.at(0);
        EXPECT_EQ(tr.size() % 8, 0u) << "padded to 8";
        return Bytes(tr.begin() + sizeof(WireTransHdr), tr.end());
    }
    template <typename T> T rsp(const Bytes &b)
    {
        T v{};
        EXPECT_GE(b.size(), sizeof(T));
        std::memcpy(&v, b.data(), std::min(sizeof(T), b.size()));
        return v;
    }
};

TEST_F(Nnc, StatusGivesTheHostApiInfo)
{
    Bytes b = ask(nnc(NncStatusReq{kNncStatus, 0, {}}));
    ASSERT_GE(b.size(), sizeof(NncStatusRsp));
    auto s = std::make_unique<NncStatusRsp>(rsp<NncStatusRsp>(b));
    EXPECT_EQ(s->hdr.type, uint32_t(kNncStatus + 1));
    EXPECT_EQ(s->hdr.status, kNncOk);
    const NncHostApiInfo &h = s->info;
    EXPECT_EQ(h.format_version, 12u);
    // The versions the runtime requires before it loads anything.
    EXPECT_EQ(h.dev.meta_ver_major, 1u);
    EXPECT_EQ(h.dev.meta_ver_minor, 0u);
    EXPECT_EQ(h.dev.nnc_proto_major, 17u);
    // Every string ends inside its field (the runtime copies them with strlcpy).
    for (auto [field, size] : {std::pair{h.dev.fw_qc, sizeof(h.dev.fw_qc)},
                               {h.dev.fw_oem, sizeof(h.dev.fw_oem)},
                               {h.dev.fw_variant, sizeof(h.dev.fw_variant)},
                               {h.dev.serial, sizeof(h.dev.serial)},
                               {h.dev.board_serial, sizeof(h.dev.board_serial)},
                               {h.dev.sbl_image_name, sizeof(h.dev.sbl_image_name)},
                               {h.nsp.qc, sizeof(h.nsp.qc)},
                               {h.nsp.oem, sizeof(h.nsp.oem)},
                               {h.nsp.variant, sizeof(h.nsp.variant)}})
        EXPECT_LT(strnlen(field, size), size);
    EXPECT_STRNE(h.dev.fw_qc, "");
    // The card's own resources: its DDR, its DBCs as virtual channels, their semaphores.
    const NncResourceInfo &r = h.dev.resource_info;
    EXPECT_EQ(r.dram_total_mb, uint32_t(kDdrSize >> 20));
    EXPECT_EQ(r.vc_total, kDbcs);
    EXPECT_EQ(r.vc_free, kDbcs);
    EXPECT_EQ(r.nsp_total, 1u);
    EXPECT_EQ(r.sem_total, kNumSems * kDbcs);
    EXPECT_EQ(h.dev.nsp_pgmask, 1u);
}

// RESOURCE_INFO counts what is free now: an activated DBC is a virtual channel and its
// semaphores taken.
TEST_F(Nnc, ResourceInfoCountsFreeVirtualChannels)
{
    auto info = [&] {
        Bytes b = ask(nnc(NncResourceInfoReq{kNncResourceInfo, 0, -1, 0}));
        auto r = rsp<NncResourceInfoRsp>(b);
        EXPECT_EQ(r.type, uint32_t(kNncResourceInfo + 1));
        EXPECT_EQ(r.status, kNncOk);
        EXPECT_EQ(r.res_grp_id, -1);
        return r.info;
    };
    NncResourceInfo before = info();
    EXPECT_EQ(before.vc_free, before.vc_total);
    auto q = d.activate(16);
    ASSERT_TRUE(q);
    NncResourceInfo during = info();
    EXPECT_EQ(during.vc_free, before.vc_free - 1);
    EXPECT_EQ(during.sem_free, before.sem_free - kNumSems);
    ASSERT_EQ(d.deactivate(*q), kFwOk);
    EXPECT_EQ(info().vc_free, before.vc_free);
}

TEST_F(Nnc, ResourceInfoOfAGroupThatDoesNotExist)
{
    auto r = rsp<NncResourceInfoRsp>(ask(nnc(NncResourceInfoReq{kNncResourceInfo, 0, 7, 0})));
    EXPECT_EQ(r.type, uint32_t(kNncResourceInfo + 1));
    EXPECT_EQ(r.status, kNncResourceNotFound);
    EXPECT_EQ(r.res_grp_id, 7);
}

TEST_F(Nnc, PerformanceInfo)
{
    auto r = rsp<NncPerformanceInfoRsp>(ask(nnc(NncReqHdr{kNncPerformanceInfo, 0}, 0)));
    EXPECT_EQ(r.hdr.type, uint32_t(kNncPerformanceInfo + 1));
    EXPECT_EQ(r.hdr.status, kNncOk);
    EXPECT_GT(r.info.nsp_hz, 0u);
    EXPECT_GT(r.info.dram_bw_kbps, 0u);
}

// Malformed requests are answered, in the protocol, with the request's type + 1 and a status:
// the message itself succeeds.
TEST_F(Nnc, MalformedRequestsAreAnswered)
{
    struct Case {
        const char *what;
        Trans t;
        uint32_t type;
        int32_t status;
    } cases[] = {
        {"a command the card does not have", nnc(NncReqHdr{21, 0}), 22, kNncUndefinedRequest},
        {"command 0", nnc(NncReqHdr{0, 0}), 1, kNncUndefinedRequest},
        {"the last NNC type", nnc(NncReqHdr{kFwOpBase - 1, 0}), kFwOpBase, kNncUndefinedRequest},
        {"STATUS of another info type", nnc(NncStatusReq{kNncStatus, 1, {}}), kNncStatus + 1,
         kNncParameterError},
        {"RESOURCE_INFO without its group", nnc(NncReqHdr{kNncResourceInfo, 0}, 0),
         kNncResourceInfo + 1, kNncCmdLengthError},
        {"4 bytes: a type alone", Trans{QAIC_TRANS_PASSTHROUGH_TO_DEV, {13, 0, 0, 0}},
         kNncStatus + 1, kNncCmdLengthError},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.what);
        auto r = rsp<NncRspHdr>(ask(c.t));
        EXPECT_EQ(r.type, c.type);
        EXPECT_EQ(r.status, c.status);
    }
    // The card goes on answering.
    auto s = std::make_unique<NncStatusRsp>(rsp<NncStatusRsp>(ask(nnc(NncStatusReq{kNncStatus, 0, {}}))));
    EXPECT_EQ(s->hdr.status, kNncOk);
}

} // namespace
} // namespace aic100::test
