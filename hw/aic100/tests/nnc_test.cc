// SPDX-License-Identifier: GPL-2.0-only
// The firmware's NNC commands (include/hw/aic100_nnc.h) over the control channel: the query
// sequence Qualcomm's runtime starts with (STATUS, RESOURCE_INFO, PERFORMANCE_INFO), answered
// in the layouts it parses, and malformed requests (short, wrong info type, unknown command)
// answered as the protocol says, never NACKed.
#include "hw/aic100/firmware.h"
#include "hw/aic100/tests/harness.h"
#include "include/hw/aic100_nnc.h"

#include <cstring>
#include <elf.h>
#include <memory>
#include <qaic/aic100_nsp.h>
#include <string>

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

// A resource group records what it asked for, within the card's totals; RESOURCE_INFO of it
// reports that, all free (the simulated card is not partitioned). Groups are their user's.
TEST_F(Nnc, ResourceGroups)
{
    auto create = [&](auto change) {
        NncCreateResourceGroupReq r{};
        r.type = kNncCreateResourceGroup;
        r.source_grp_id = -1;
        r.num_nsp = 1;
        r.num_vc = 2;
        r.num_sem = 64;
        r.mem_size = 256 << 20;
        change(r);
        return rsp<NncCreateResourceGroupRsp>(ask(nnc(r)));
    };
    auto g = create([](auto &) {});
    EXPECT_EQ(g.type, uint32_t(kNncCreateResourceGroup + 1));
    ASSERT_EQ(g.status, kNncOk);
    EXPECT_GT(g.res_grp_id, 0);
    auto info = [&](uint32_t handle) {
        auto r = d.transact({nnc(NncResourceInfoReq{kNncResourceInfo, 0, g.res_grp_id, 0})}, handle);
        EXPECT_TRUE(r);
        return rsp<NncResourceInfoRsp>(Bytes(r->trans.at(0).begin() + sizeof(WireTransHdr), r->trans.at(0).end()));
    };
    auto i = info(kUser);
    EXPECT_EQ(i.status, kNncOk);
    EXPECT_EQ(i.res_grp_id, g.res_grp_id);
    EXPECT_EQ(i.info.vc_total, 2u);
    EXPECT_EQ(i.info.vc_free, 2u);
    EXPECT_EQ(i.info.nsp_total, 1u);
    EXPECT_EQ(i.info.sem_total, 64u);
    EXPECT_EQ(i.info.dram_total_mb, 256u);
    EXPECT_EQ(info(kUser + 1).status, kNncResourceNotFound) << "another user's group";

    auto release = [&](uint32_t handle) {
        auto r = d.transact({nnc(NncReleaseResourceGroupReq{kNncReleaseResourceGroup, g.res_grp_id})}, handle);
        EXPECT_TRUE(r);
        auto h = rsp<NncRspHdr>(Bytes(r->trans.at(0).begin() + sizeof(WireTransHdr), r->trans.at(0).end()));
        EXPECT_EQ(h.type, uint32_t(kNncReleaseResourceGroup + 1));
        return h.status;
    };
    EXPECT_EQ(release(kUser + 1), kNncResourceNotFound);
    EXPECT_EQ(release(kUser), kNncOk);
    EXPECT_EQ(release(kUser), kNncResourceNotFound) << "released twice";

    EXPECT_EQ(create([](auto &r) { r.num_nsp = 2; }).status, kNncNspAllocError);
    EXPECT_EQ(create([](auto &r) { r.num_vc = kDbcs + 1; }).status, kNncVcAllocError);
    EXPECT_EQ(create([](auto &r) { r.num_sem = kNumSems * kDbcs + 1; }).status, kNncSemAllocError);
    EXPECT_EQ(create([](auto &r) { r.mem_size = kDdrSize + 1; }).status, kNncMemAllocError);
    EXPECT_EQ(create([](auto &r) { r.source_grp_id = 5; }).status, kNncResourceNotFound);
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

// ---------------------------------------------------------------------------- loading

using kernel::DmaDirection;

constexpr uint32_t kElfTag = 100, kConstTag = 300; // the runtime's tags

NncLoadElfReq load_elf_req(uint64_t length, uint32_t tag = kElfTag)
{
    NncLoadElfReq r{};
    r.type = kNncLoadElf;
    r.tag = tag;
    r.process_id = 4242;
    std::snprintf(r.name, sizeof(r.name), "NetworkImage");
    r.data_length = length;
    return r;
}

class NncLoad : public Nnc {
protected:
    // The one NNC response of a reply.
    NncLoadRsp load_answer(const std::optional<Reply> &r)
    {
        EXPECT_TRUE(r);
        if (!r)
            return {};
        EXPECT_EQ(r->trans.size(), 1u);
        EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_PASSTHROUGH_FROM_DEV));
        return rsp<NncLoadRsp>(Bytes(r->trans[0].begin() + sizeof(WireTransHdr), r->trans[0].end()));
    }
    // UNLOAD_ELF or UNLOAD_CONSTANTS of id: its status.
    int32_t unload(uint32_t cmd, uint32_t id, uint32_t handle = kUser)
    {
        auto r = d.transact({nnc(NncUnloadReq{cmd, id})}, handle);
        EXPECT_TRUE(r);
        if (!r || r->trans.size() != 1)
            return INT32_MIN;
        auto h = rsp<NncRspHdr>(Bytes(r->trans[0].begin() + sizeof(WireTransHdr), r->trans[0].end()));
        EXPECT_EQ(h.type, cmd + 1);
        return h.status;
    }
    // An ELF of n bytes loaded in one message: its id.
    uint32_t load_elf(size_t n, uint32_t handle = kUser)
    {
        HostBuf src(d.pci, n, DmaDirection::kToDevice);
        fill_pattern(src.data(), n, 9);
        auto a = load_answer(d.transact({nnc(load_elf_req(n)),
                                         dma_xfer(kElfTag, 0, 0, {{src.iova(), n}})}, handle));
        EXPECT_EQ(a.status, kNncOk);
        return a.id;
    }
};

// LOAD_ELF as the runtime sends it: the request, then its data in a DMA_XFER of the same
// tag; one answer (type 4, a new id, success), after the data. UNLOAD_ELF then frees it.
TEST_F(NncLoad, ElfInOneMessage)
{
    HostBuf src(d.pci, 3000, DmaDirection::kToDevice);
    fill_pattern(src.data(), 3000, 1);
    auto a = load_answer(d.transact({nnc(load_elf_req(3000)), dma_xfer(kElfTag, 0, 0, {{src.iova(), 3000}})}));
    EXPECT_EQ(a.type, uint32_t(kNncLoadElf + 1));
    EXPECT_EQ(a.status, kNncOk);
    EXPECT_NE(a.id, 0u);
    EXPECT_EQ(unload(kNncUnloadElf, a.id), kNncOk);
    EXPECT_EQ(unload(kNncUnloadElf, a.id), kNncResourceNotFound) << "unloaded twice";
}

// Data chunked over several messages (as the driver splits a large transfer): the non-final
// messages are answered DMA_XFER_CONT alone, and the load's answer comes with the last.
TEST_F(NncLoad, ElfOverSeveralMessages)
{
    HostBuf src(d.pci, 6000, DmaDirection::kToDevice, 0, 3);
    fill_pattern(src.data(), 6000, 2);
    auto run = [&](unsigned i) { return WireAddrSize{src.iova(i), src.sgt().entries[i].length}; };
    auto r = d.transact({nnc(load_elf_req(6000)), dma_xfer(kElfTag, 9, kDmaXferMore, {run(0)})});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->trans.size(), 1u);
    EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_DMA_XFER_CONT));
    r = d.transact({dma_xfer(kElfTag, 9, kDmaXferMore, {run(1)})});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_DMA_XFER_CONT));
    auto a = load_answer(d.transact({dma_xfer(kElfTag, 9, 0, {run(2)})}));
    EXPECT_EQ(a.type, uint32_t(kNncLoadElf + 1));
    EXPECT_EQ(a.status, kNncOk);
    EXPECT_EQ(unload(kNncUnloadElf, a.id), kNncOk);
}

// What a load cannot take is answered failed (id 0), and leaves nothing loaded.
TEST_F(NncLoad, FailedLoadsAreAnswered)
{
    HostBuf src(d.pci, 100, DmaDirection::kToDevice);
    struct Case {
        const char *what;
        std::vector<Trans> ts;
        int32_t status;
    } cases[] = {
        {"data of another size than said", {nnc(load_elf_req(200)), dma_xfer(kElfTag, 0, 0, {{src.iova(), 100}})},
         kNncParameterError},
        {"no data at all", {nnc(load_elf_req(100))}, kNncParameterError},
        {"data under another tag", {nnc(load_elf_req(100)), dma_xfer(7, 0, 0, {{src.iova(), 100}})},
         kNncParameterError},
        {"length 0", {nnc(load_elf_req(0))}, kNncParameterError},
        {"more than the card's image memory", {nnc(load_elf_req(Firmware::kImageMemory + 1))},
         kNncMemAllocError},
        {"a short request", {nnc(NncReqHdr{kNncLoadElf, kElfTag}, 0)}, kNncCmdLengthError},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.what);
        auto a = load_answer(d.transact(c.ts));
        EXPECT_EQ(a.type, uint32_t(kNncLoadElf + 1));
        EXPECT_EQ(a.status, c.status);
        EXPECT_EQ(a.id, 0u);
    }
    // None of them left a load waiting: the next one is answered at once, and its id is
    // the only one loaded (the failed loads' ids are not).
    uint32_t id = load_elf(64);
    ASSERT_NE(id, 0u);
    for (uint32_t other = 1; other < id; ++other)
        EXPECT_EQ(unload(kNncUnloadElf, other), kNncResourceNotFound) << other;
}

// A DMA fault NACKs the message, and the load it carried never happened.
TEST_F(NncLoad, FaultedDataNacksTheMessage)
{
    auto r = d.transact({nnc(load_elf_req(4096)), dma_xfer(kElfTag, 0, 0, {{0xdead0000, 4096}})});
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->is_nack());
    EXPECT_EQ(r->nack().status, kFwDmaFault);
    // The id that load took is not loaded.
    uint32_t next = load_elf(64);
    ASSERT_NE(next, 0u);
    EXPECT_EQ(unload(kNncUnloadElf, next - 1), kNncResourceNotFound);
}

// ELFs are their user's: another cannot unload one, and the user's TERMINATE frees its own.
TEST_F(NncLoad, ElfsBelongToTheirUser)
{
    uint32_t id = load_elf(64);
    ASSERT_NE(id, 0u);
    EXPECT_EQ(unload(kNncUnloadElf, id, kUser + 1), kNncResourceNotFound);
    ASSERT_TRUE(d.transact({terminate_trans(kUser)}, kUser));
    EXPECT_EQ(unload(kNncUnloadElf, id), kNncResourceNotFound) << "TERMINATE kept it";
}

// Constants the runtime's way: LOAD_CONSTANTS_EX makes a region of the descriptor's static +
// dynamic size (answered type 2 with its id), then a PAYLOAD per part, its data by DMA_XFER
// of tag 300 at its offset. A PAYLOAD that fails frees the region (the runtime forgets it).
TEST_F(NncLoad, ConstantsByPayloads)
{
    struct {
        NncLoadConstantsExReq req;
        NncConstantsDescriptor desc;
    } ex{};
    ex.req.type = kNncLoadConstantsEx;
    std::snprintf(ex.req.name, sizeof(ex.req.name), "ConstantsDescriptor");
    ex.req.descriptor_len = sizeof(ex.desc);
    ex.desc.static_size = 4000;
    ex.desc.dynamic_size = 1000;
    auto made = load_answer(d.transact({nnc(ex)}));
    EXPECT_EQ(made.type, uint32_t(kNncLoadConstants + 1));
    ASSERT_EQ(made.status, kNncOk);
    ASSERT_NE(made.id, 0u);

    HostBuf part(d.pci, 4000, DmaDirection::kToDevice);
    auto payload = [&](uint64_t offset, uint64_t len) {
        NncPayloadReq p{kNncLoadConstantsPayload, 4242, kConstTag, made.id, len, offset};
        return load_answer(d.transact({nnc(p), dma_xfer(kConstTag, 0, 0, {{part.iova(), len}})}));
    };
    auto a = payload(0, 4000); // the static part
    EXPECT_EQ(a.type, uint32_t(kNncLoadConstants + 1));
    EXPECT_EQ(a.status, kNncOk);
    EXPECT_EQ(payload(4000, 1000).status, kNncOk); // the dynamic part
    EXPECT_EQ(payload(4500, 1000).status, kNncParameterError) << "past the region";
    EXPECT_EQ(unload(kNncUnloadConstants, made.id), kNncResourceNotFound)
        << "a failed PAYLOAD must free its region";

    // A region of nothing, a descriptor cut short.
    ex.desc.static_size = ex.desc.dynamic_size = 0;
    EXPECT_EQ(load_answer(d.transact({nnc(ex)})).status, kNncParameterError);
    ex.desc.static_size = 8;
    ex.req.descriptor_len = 8;
    EXPECT_EQ(load_answer(d.transact({nnc(ex)})).status, kNncCmdLengthError);
}

// ---------------------------------------------------------------------------- activation

class NncActivate : public NncLoad {
protected:
    void SetUp() override
    {
        NncLoad::SetUp();
        elf = load_elf(256);
        ASSERT_NE(elf, 0u);
    }
    NncActivateReq activate_req(uint32_t elf_id, uint32_t constants_id = 0)
    {
        NncActivateReq r{};
        r.type = kNncActivate;
        r.process_id = 4242;
        r.constants_id = constants_id;
        r.elf_id = elf_id;
        r.resource_res_id = -1;
        r.opt_vc_setup = 1;
        r.vc_res_id = -1;
        r.initial_state = kNncReady;
        return r;
    }
    // The runtime's activation: [NNC ACTIVATE][ACTIVATE transaction with the rings].
    std::optional<Reply> activate_network(const NncActivateReq &req, Queue &q, bool with_vc = true)
    {
        q.nelem = 16;
        q.buf = d.coherent(queue_buf_size(16));
        std::vector<Trans> ts{nnc(req)};
        if (with_vc)
            ts.push_back(activate_trans(q.req_iova(), q.rsp_iova(), 16, 16, q.buf_len()));
        return d.transact(ts);
    }
    NncActivateRsp activate_answer(const std::optional<Reply> &r)
    {
        EXPECT_TRUE(r);
        if (!r || r->trans.empty())
            return {};
        EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_PASSTHROUGH_FROM_DEV));
        return rsp<NncActivateRsp>(Bytes(r->trans[0].begin() + sizeof(WireTransHdr), r->trans[0].end()));
    }
    NncRspHdr answer_of(const std::vector<Trans> &ts)
    {
        auto r = d.transact(ts);
        EXPECT_TRUE(r);
        if (!r || r->trans.empty())
            return {};
        return rsp<NncRspHdr>(Bytes(r->trans[0].begin() + sizeof(WireTransHdr), r->trans[0].end()));
    }
    uint8_t vc_free()
    {
        return rsp<NncResourceInfoRsp>(ask(nnc(NncResourceInfoReq{kNncResourceInfo, 0, -1, 0}))).info.vc_free;
    }

    uint32_t elf = 0;
};

// The whole life of a network as the runtime drives it: ACTIVATE answered first with an
// activation id and, as its virtual channel, the DBC the ACTIVATE transaction assigned;
// the ELF is held while it runs; ACTIVATE_STATE; DEACTIVATE with the DBC's release.
TEST_F(NncActivate, ActivateRunDeactivate)
{
    uint8_t free_before = vc_free();
    Queue q;
    auto r = activate_network(activate_req(elf), q);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->trans.size(), 2u);
    auto a = activate_answer(r);
    EXPECT_EQ(a.type, uint32_t(kNncActivate + 1));
    ASSERT_EQ(a.status, kNncOk);
    EXPECT_NE(a.activation_id, 0u);
    ASSERT_EQ(r->type(1), uint32_t(QAIC_TRANS_ACTIVATE_FROM_DEV));
    auto dev = r->as<WireActivateFromDev>(1);
    ASSERT_EQ(dev.status, kFwOk);
    EXPECT_EQ(a.virtual_channel_id, dev.dbc_id) << "the runtime takes the virtual channel for the DBC";
    EXPECT_EQ(a.pc_mask, 1u << dev.dbc_id);
    q.id = dev.dbc_id;
    EXPECT_EQ(vc_free(), free_before - 1);
    EXPECT_EQ(unload(kNncUnloadElf, elf), kNncOperationNotPermitted) << "an active network's ELF";

    NncActivateStateReq st{};
    st.type = kNncActivateState;
    st.num_cmds = 1;
    st.cmds[0] = {a.activation_id, kNncStandby};
    auto h = answer_of({nnc(st)});
    EXPECT_EQ(h.type, uint32_t(kNncActivateState + 1));
    EXPECT_EQ(h.status, kNncOk);
    st.cmds[0] = {a.activation_id, 3};
    EXPECT_EQ(answer_of({nnc(st)}).status, kNncParameterError) << "state 3";
    st.cmds[0] = {a.activation_id + 1000, kNncReady};
    EXPECT_EQ(answer_of({nnc(st)}).status, kNncResourceNotFound);
    st.num_cmds = 9;
    EXPECT_EQ(answer_of({nnc(st)}).status, kNncParameterError) << "9 commands";

    auto dr = d.transact({nnc(NncDeactivateReq{kNncDeactivate, a.activation_id, 1, 0}), deactivate_trans(q.id)});
    ASSERT_TRUE(dr);
    ASSERT_EQ(dr->trans.size(), 2u);
    auto dh = rsp<NncRspHdr>(Bytes(dr->trans[0].begin() + sizeof(WireTransHdr), dr->trans[0].end()));
    EXPECT_EQ(dh.type, uint32_t(kNncDeactivate + 1));
    EXPECT_EQ(dh.status, kNncOk);
    EXPECT_EQ(dr->as<WireDeactivateFromDev>(1).status, kFwOk);
    EXPECT_EQ(vc_free(), free_before);
    EXPECT_EQ(unload(kNncUnloadElf, elf), kNncOk);
}

// STATUS counts the networks loaded and running, and the constants.
TEST_F(NncActivate, StatusCountsNetworks)
{
    auto counts = [&] {
        auto st = std::make_unique<NncStatusRsp>(rsp<NncStatusRsp>(ask(nnc(NncStatusReq{kNncStatus, 0, {}}))));
        return std::pair{unsigned(st->info.dev.num_loaded_nws), unsigned(st->info.dev.num_active_nws)};
    };
    EXPECT_EQ(counts(), (std::pair{1u, 0u}));
    Queue q;
    auto r = activate_network(activate_req(elf), q);
    ASSERT_TRUE(r);
    ASSERT_EQ(activate_answer(r).status, kNncOk);
    q.id = r->as<WireActivateFromDev>(1).dbc_id;
    EXPECT_EQ(counts(), (std::pair{1u, 1u}));
    EXPECT_EQ(d.deactivate(q), kFwOk);
    EXPECT_EQ(counts(), (std::pair{1u, 0u}));
    EXPECT_EQ(unload(kNncUnloadElf, elf), kNncOk);
    EXPECT_EQ(counts(), (std::pair{0u, 0u}));
}

// A refused activation is answered alone (the runtime reads its status; an ACTIVATE_FROM_DEV
// failure would hide it from the runtime behind the ioctl's error), and takes no DBC.
TEST_F(NncActivate, RefusedActivationTakesNoDbc)
{
    uint8_t free_before = vc_free();
    struct Case {
        const char *what;
        NncActivateReq req;
        int32_t status;
    } cases[] = {
        {"an ELF that is not loaded", activate_req(elf + 1000), kNncResourceNotFound},
        {"constants that are not loaded", activate_req(elf, 77777), kNncResourceNotFound},
        {"no VC setup", [&] { auto r = activate_req(elf); r.opt_vc_setup = 0; return r; }(), kNncParameterError},
        {"initial state 3", [&] { auto r = activate_req(elf); r.initial_state = 3; return r; }(), kNncParameterError},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.what);
        Queue q;
        auto r = activate_network(c.req, q);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->trans.size(), 1u) << "the passthrough's answer alone";
        auto a = activate_answer(r);
        EXPECT_EQ(a.type, uint32_t(kNncActivate + 1));
        EXPECT_EQ(a.status, c.status);
        EXPECT_EQ(a.activation_id, 0u);
    }
    // Another user's ELF is not this user's to activate.
    Queue q;
    q.nelem = 16;
    q.buf = d.coherent(queue_buf_size(16));
    auto r = d.transact({nnc(activate_req(elf)), activate_trans(q.req_iova(), q.rsp_iova(), 16, 16, q.buf_len())},
                        kUser + 1);
    ASSERT_TRUE(r);
    EXPECT_EQ(activate_answer(r).status, kNncResourceNotFound);
    EXPECT_EQ(vc_free(), free_before);
    EXPECT_EQ(unload(kNncUnloadElf, elf), kNncOk) << "no activation holds it";
}

// An ACTIVATE whose ACTIVATE transaction never comes fails, and holds nothing; one that finds
// no free DBC fails with VC_ALLOC_ERROR.
TEST_F(NncActivate, ActivationWithoutAVirtualChannel)
{
    Queue q;
    auto a = activate_answer(activate_network(activate_req(elf), q, false));
    EXPECT_EQ(a.status, kNncParameterError);
    EXPECT_EQ(a.activation_id, 0u);

    std::vector<Queue> taken;
    for (unsigned i = 0; i < kDbcs; ++i) {
        auto t = d.activate(16);
        ASSERT_TRUE(t);
        taken.push_back(std::move(*t));
    }
    auto r = activate_network(activate_req(elf), q);
    ASSERT_TRUE(r);
    EXPECT_EQ(activate_answer(r).status, kNncVcAllocError);
    EXPECT_EQ(unload(kNncUnloadElf, elf), kNncOk) << "no activation holds it";
    for (auto &t : taken)
        EXPECT_EQ(d.deactivate(t), kFwOk);
}

// A network whose DBC was released another way (the driver's own DEACTIVATE) is over: its ELF
// may be unloaded.
TEST_F(NncActivate, ReleasedDbcEndsTheActivation)
{
    Queue q;
    auto r = activate_network(activate_req(elf), q);
    ASSERT_TRUE(r);
    ASSERT_EQ(activate_answer(r).status, kNncOk);
    q.id = r->as<WireActivateFromDev>(1).dbc_id;
    EXPECT_EQ(unload(kNncUnloadElf, elf), kNncOperationNotPermitted);
    EXPECT_EQ(d.deactivate(q), kFwOk);
    EXPECT_EQ(unload(kNncUnloadElf, elf), kNncOk);
}

// ---------------------------------------------------------------------------- NSP programs in ELFs

// An ELF64 image with one section besides the string table: name, holding bytes.
Bytes elf_with_section(const char *name, const Bytes &bytes)
{
    std::string strtab = std::string("\0.shstrtab\0", 11) + name + '\0';
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof(eh);
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 3;
    eh.e_shstrndx = 1;
    uint64_t strtab_at = sizeof(eh), data_at = strtab_at + strtab.size();
    eh.e_shoff = data_at + bytes.size();
    Elf64_Shdr sh[3]{};
    sh[1].sh_name = 1;
    sh[1].sh_type = SHT_STRTAB;
    sh[1].sh_offset = strtab_at;
    sh[1].sh_size = strtab.size();
    sh[2].sh_name = 11;
    sh[2].sh_type = SHT_PROGBITS;
    sh[2].sh_offset = data_at;
    sh[2].sh_size = bytes.size();
    Bytes out;
    append(out, eh);
    out.insert(out.end(), strtab.begin(), strtab.end());
    out.insert(out.end(), bytes.begin(), bytes.end());
    for (const Elf64_Shdr &h : sh)
        append(out, h);
    return out;
}

// An NSP program (qaic/aic100_nsp.h) copying n bytes of DDR from a to c when the DBC rings
// its doorbell.
Bytes copy_program(uint64_t a, uint64_t c, uint32_t n, uint64_t doorbell = 0x1000)
{
    Bytes b;
    append(b, aic100_nsp_header{AIC100_NSP_MAGIC, AIC100_NSP_VERSION, 1, 0, doorbell, 0});
    aic100_nsp_instr in{};
    in.opcode = AIC100_NSP_COPY;
    in.a = a;
    in.c = c;
    in.n = n;
    append(b, in);
    return b;
}

class NncNsp : public NncActivate {
protected:
    NncLoadRsp load_image(const Bytes &img)
    {
        HostBuf src(d.pci, img.size(), DmaDirection::kToDevice);
        std::memcpy(src.data(), img.data(), img.size());
        return load_answer(d.transact({nnc(load_elf_req(img.size())),
                                       dma_xfer(kElfTag, 0, 0, {{src.iova(), img.size()}})}));
    }
};

// An ELF carrying a program in section .qaic.nsp: activated, its DBC runs the program when an
// element rings the program's doorbell.
TEST_F(NncNsp, ActivatedElfRunsItsProgram)
{
    Bytes data(64);
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = uint8_t(i * 3 + 1);
    ASSERT_TRUE(d.card().ddr_write(0x200000, data.data(), data.size()));
    auto img = load_image(elf_with_section(kNncNspSection, copy_program(0x200000, 0x300000, 64)));
    ASSERT_EQ(img.status, kNncOk);
    Queue q;
    auto r = activate_network(activate_req(img.id), q);
    ASSERT_TRUE(r);
    ASSERT_EQ(activate_answer(r).status, kNncOk);
    q.id = r->as<WireActivateFromDev>(1).dbc_id;
    DbcReq ring = elem(1, kCmdGenCompletion);
    ring.db_addr = 0x1000;
    ring.db_len = kDb32;
    ring.db_data = 1;
    ASSERT_EQ(d.run1(q, ring).status, kRspOk);
    EXPECT_TRUE(d.wait_until([&] { return d.ddr(0x300000, 64) == data; })) << "the program did not run";
}

// The program an ELF carries is checked when it loads: a bad one fails the load
// (METADATA_ERROR) and nothing is loaded. An ELF without the section, or no ELF at all, loads
// as a network with no program (a null network).
TEST_F(NncNsp, ProgramIsCheckedAtLoad)
{
    Bytes bad = copy_program(0x200000, 0x300000, 64);
    bad[0] ^= 1; // the magic
    auto a = load_image(elf_with_section(kNncNspSection, bad));
    EXPECT_EQ(a.status, kNncMetadataError);
    EXPECT_EQ(a.id, 0u);
    Bytes past_ddr = copy_program(kDdrSize - 8, 0x300000, 64);
    EXPECT_EQ(load_image(elf_with_section(kNncNspSection, past_ddr)).status, kNncMetadataError);
    EXPECT_EQ(load_image(elf_with_section(".text", bad)).status, kNncOk) << "another section";
    EXPECT_EQ(load_image(Bytes(300, 0x7f)).status, kNncOk) << "not an ELF";
    // A section that runs past the image: no program, not a read past it.
    Bytes cut = elf_with_section(kNncNspSection, copy_program(0x200000, 0x300000, 64));
    Elf64_Ehdr eh = load<Elf64_Ehdr>(cut.data());
    Elf64_Shdr sh = load<Elf64_Shdr>(cut.data() + eh.e_shoff + 2 * sizeof(Elf64_Shdr));
    sh.sh_size = 1 << 20;
    std::memcpy(cut.data() + eh.e_shoff + 2 * sizeof(Elf64_Shdr), &sh, sizeof(sh));
    EXPECT_EQ(load_image(cut).status, kNncOk);
}

} // namespace
} // namespace aic100::test
