// SPDX-License-Identifier: GPL-2.0-only
// The firmware's NNC commands (include/hw/aic100_nnc.h; docs/device-model.md, "NNC commands"):
// the queries; the loading of network images and constants, whose data comes in the same
// MANAGE's DMA_XFER; activations and their DBCs; resource groups. Members of Firmware, run
// under its lock on its thread.
#include "hw/aic100/card.h"
#include "hw/aic100/firmware.h"
#include "hw/aic100/nsp.h"
#include "kernel/bytes.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <drm/qaic_accel.h>
#include <elf.h>
#include <memory>
#include <new>
#include <optional>
#include <set>

namespace aic100 {

using kernel::append;
using kernel::load;

namespace {

uint32_t load_rsp_type(uint32_t cmd)
{
    return cmd == kNncLoadElf ? kNncLoadElf + 1 : kNncLoadConstants + 1;
}

// The bytes of section kNncNspSection of an ELF64 little-endian image: an NSP program the
// network runs (docs/device-model.md). None when the image is no such ELF or has no such
// section, every offset and size checked against the image (it is the client's data).
std::optional<std::vector<uint8_t>> nsp_section(const std::vector<uint8_t> &elf)
{
    if (elf.size() < sizeof(Elf64_Ehdr))
        return std::nullopt;
    auto eh = load<Elf64_Ehdr>(elf.data());
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shentsize != sizeof(Elf64_Shdr) ||
        eh.e_shnum == 0 || eh.e_shstrndx >= eh.e_shnum)
        return std::nullopt;
    auto within = [&](uint64_t off, uint64_t len) { return off <= elf.size() && len <= elf.size() - off; };
    if (!within(eh.e_shoff, uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr)))
        return std::nullopt;
    auto shdr = [&](unsigned i) { return load<Elf64_Shdr>(elf.data() + eh.e_shoff + i * sizeof(Elf64_Shdr)); };
    Elf64_Shdr names = shdr(eh.e_shstrndx);
    if (!within(names.sh_offset, names.sh_size))
        return std::nullopt;
    const char *strtab = reinterpret_cast<const char *>(elf.data() + names.sh_offset);
    size_t want = std::strlen(kNncNspSection) + 1; // the name and its NUL
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr s = shdr(i);
        if (s.sh_name >= names.sh_size || names.sh_size - s.sh_name < want ||
            std::memcmp(strtab + s.sh_name, kNncNspSection, want) != 0)
            continue;
        if (!within(s.sh_offset, s.sh_size))
            return std::nullopt;
        return std::vector<uint8_t>(elf.begin() + s.sh_offset, elf.begin() + s.sh_offset + s.sh_size);
    }
    return std::nullopt;
}

} // namespace

// One PASSTHROUGH_FROM_DEV carrying an NNC response, padded to 8 bytes.
void Firmware::nnc_answer(Bytes &out, const void *rsp, size_t n)
{
    uint32_t total = uint32_t(sizeof(WireTransHdr) + ((n + 7) & ~size_t(7)));
    append(out, WireTransHdr{QAIC_TRANS_PASSTHROUGH_FROM_DEV, total});
    auto *p = static_cast<const uint8_t *>(rsp);
    out.insert(out.end(), p, p + n);
    out.resize(out.size() + (total - sizeof(WireTransHdr) - n), 0);
}

// What the card tells the runtime about its resources: the whole card's.
NncResourceInfo Firmware::resource_info() const
{
    NncResourceInfo r{};
    r.dram_total_mb = r.dram_free_mb = uint32_t(card_.ddr().size() >> 20);
    unsigned free_dbcs = 0;
    for (unsigned id = 0; id < card_.num_dbc(); ++id)
        free_dbcs += card_.dbc(id).state() == kDbcIdle && card_.dbc(id).owner() == 0;
    r.vc_total = uint8_t(card_.num_dbc());
    r.vc_free = uint8_t(free_dbcs);
    r.nsp_total = r.nsp_free = 1; // one NSP executor (hw/aic100/nsp.h)
    r.sem_total = kNumSems * card_.num_dbc();
    r.sem_free = kNumSems * free_dbcs;
    r.pc_total = uint8_t(card_.num_dbc());
    return r;
}

// Nominal figures: the simulator has no clocks. They are what docs/device-model.md says.
NncPerfInfo Firmware::perf_info() const
{
    NncPerfInfo p{};
    p.nsp_hz = p.comp_hz = 1'000'000'000;
    p.ddr_hz = p.mem_hz = p.sys_hz = 1'000'000'000;
    p.peak_compute = 1'000'000'000; // one operation per cycle of the one NSP
    p.dram_bw_kbps = 10'000'000;    // the DMA engine's nominal 10 GB/s (dbc.cc)
    return p;
}

NncHostApiInfo Firmware::host_api_info()
{
    auto put = [](char *field, size_t size, const char *s) { std::snprintf(field, size, "%s", s); };
    NncHostApiInfo h{};
    h.format_version = kNncInfoFormatVersion;
    NncDevData &d = h.dev;
    d.fw_major = uint8_t(kFwMajor);
    d.fw_minor = uint8_t(kFwMinor);
    put(d.fw_qc, sizeof(d.fw_qc), "qaic-sim firmware");
    put(d.fw_variant, sizeof(d.fw_variant), "sim");
    d.hw_version = 0x10000000; // shown as 1.0.0.0
    put(d.serial, sizeof(d.serial), "SIM00000");
    put(d.board_serial, sizeof(d.board_serial), "SIM00000");
    d.resource_info = resource_info();
    d.perf_info = perf_info();
    // What is loaded and running, over every user of the card.
    nnc_prune_activations();
    std::set<uint32_t> consts_in_use;
    unsigned active = 0, loaded = 0;
    for (const auto &[acid, a] : nnc_activations_) {
        active += a.dbc >= 0;
        if (a.constants_id)
            consts_in_use.insert(a.constants_id);
    }
    for (const auto &[id, b] : nnc_elfs_)
        loaded += b.complete;
    for (const auto &[id, b] : nnc_consts_)
        d.num_loaded_consts += b.complete || b.region;
    d.num_loaded_nws = uint8_t(std::min(loaded, 255u)); // one byte each in the layout
    d.num_active_nws = uint8_t(std::min(active, 255u));
    d.num_consts_in_use = uint32_t(consts_in_use.size());
    d.meta_ver_major = kNncMetaVersionMajor;
    d.meta_ver_minor = kNncMetaVersionMinor;
    d.nnc_proto_major = kNncProtoMajor;
    d.nnc_proto_minor = kNncProtoMinor;
    put(d.sbl_image_name, sizeof(d.sbl_image_name), "qaic-sim");
    d.nsp_pgmask = 1;
    d.sku_type = 0; // none of the header's SKUs: shown as "Invalid"
    put(h.nsp.qc, sizeof(h.nsp.qc), "qaic-sim NSP");
    put(h.nsp.variant, sizeof(h.nsp.variant), "sim");
    return h;
}

// An NNC request (aic100_nnc.h, docs/device-model.md "NNC commands"): the answer is the
// PASSTHROUGH_FROM_DEV payload, the response padded to 8 bytes. What the card does not do is
// answered UNDEFINED_REQUEST; a request shorter than its command's, CMD_LENGTH_ERROR.
uint32_t Firmware::do_nnc(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out)
{
    auto answer = [&](const void *rsp, size_t n) {
        nnc_answer(out, rsp, n);
        return kFwOk;
    };
    uint32_t type = load<uint32_t>(req);
    auto fail = [&](int32_t status) {
        NncRspHdr r{type + 1, status};
        return answer(&r, sizeof(r));
    };
    if (len < sizeof(NncReqHdr))
        return fail(kNncCmdLengthError);
    switch (type) {
    case kNncStatus: {
        if (load<NncStatusReq>(req).info_type != 0)
            return fail(kNncParameterError);
        auto rsp = std::make_unique<NncStatusRsp>();
        rsp->hdr = {kNncStatus + 1, kNncOk};
        rsp->info = host_api_info();
        return answer(rsp.get(), sizeof(*rsp));
    }
    case kNncResourceInfo: {
        if (len < sizeof(NncResourceInfoReq))
            return fail(kNncCmdLengthError);
        NncResourceInfoReq r = load<NncResourceInfoReq>(req);
        NncResourceInfoRsp rsp{kNncResourceInfo + 1, r.res_grp_id, {}, kNncOk, 0};
        auto g = nnc_groups_.find(r.res_grp_id);
        if (r.res_grp_id == -1) {
            rsp.info = resource_info();
        } else if (g != nnc_groups_.end() && g->second.user == user) {
            // What the group asked for, all of it free: a group reserves nothing here.
            const NncCreateResourceGroupReq &a = g->second.asked;
            rsp.info.dram_total_mb = rsp.info.dram_free_mb = uint32_t(a.mem_size >> 20);
            rsp.info.vc_total = rsp.info.vc_free = uint8_t(a.num_vc);
            rsp.info.nsp_total = rsp.info.nsp_free = uint8_t(a.num_nsp);
            rsp.info.sem_total = rsp.info.sem_free = a.num_sem;
            rsp.info.pc_total = uint8_t(a.num_vc);
        } else {
            rsp.status = kNncResourceNotFound;
        }
        return answer(&rsp, sizeof(rsp));
    }
    case kNncPerformanceInfo: {
        NncPerformanceInfoRsp rsp{{kNncPerformanceInfo + 1, kNncOk}, perf_info()};
        return answer(&rsp, sizeof(rsp));
    }
    case kNncLoadElf:
    case kNncLoadConstants:
    case kNncLoadConstantsPayload:
        return nnc_load(user, req, len, out);
    case kNncLoadConstantsEx:
        return nnc_constants_region(user, req, len, out);
    case kNncUnloadElf:
    case kNncUnloadConstants: {
        bool elf = type == kNncUnloadElf;
        auto &blobs = elf ? nnc_elfs_ : nnc_consts_;
        uint32_t id = load<NncUnloadReq>(req).id;
        auto it = blobs.find(id);
        if (it == blobs.end() || it->second.user != user)
            return fail(kNncResourceNotFound);
        if (nnc_in_use(elf, id))
            return fail(kNncOperationNotPermitted); // an activation runs it
        blobs.erase(it);
        return fail(kNncOk);
    }
    case kNncCreateResourceGroup: {
        NncCreateResourceGroupRsp rsp{kNncCreateResourceGroup + 1, kNncOk, -1, 0};
        if (len < sizeof(NncCreateResourceGroupReq)) {
            rsp.status = kNncCmdLengthError;
        } else {
            auto r = load<NncCreateResourceGroupReq>(req);
            if (r.source_grp_id != -1)
                rsp.status = kNncResourceNotFound;
            else if (r.num_nsp > 1) // the card's one NSP executor
                rsp.status = kNncNspAllocError;
            else if (r.num_vc > card_.num_dbc())
                rsp.status = kNncVcAllocError;
            else if (r.num_sem > kNumSems * card_.num_dbc())
                rsp.status = kNncSemAllocError;
            else if (r.mem_size > card_.ddr().size())
                rsp.status = kNncMemAllocError;
            if (rsp.status == kNncOk) {
                rsp.res_grp_id = nnc_next_group_++;
                nnc_groups_[rsp.res_grp_id] = {user, r};
            }
        }
        return answer(&rsp, sizeof(rsp));
    }
    case kNncReleaseResourceGroup: {
        auto g = nnc_groups_.find(load<NncReleaseResourceGroupReq>(req).res_grp_id);
        if (g == nnc_groups_.end() || g->second.user != user)
            return fail(kNncResourceNotFound);
        nnc_groups_.erase(g);
        return fail(kNncOk);
    }
    case kNncActivate:
        return nnc_activate(user, req, len, out);
    case kNncActivateState:
        return nnc_activate_state(user, req, len, out);
    case kNncDeactivate:
        return nnc_deactivate(user, req, len, out);
    default:
        return fail(kNncUndefinedRequest);
    }
}

// LOAD_ELF, LOAD_CONSTANTS, PAYLOAD: the load waits for the DMA_XFER of its tag (nnc_data);
// nothing is answered yet. A load still waiting from an earlier message is dropped: a new
// request starts anew, as a new DMA_XFER does.
uint32_t Firmware::nnc_load(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out)
{
    uint32_t type = load<uint32_t>(req);
    auto fail = [&](int32_t status) {
        NncLoadRsp r{load_rsp_type(type), 0, status, 0};
        nnc_answer(out, &r, sizeof(r));
        return kFwOk;
    };
    nnc_drop_pending(user);
    NncPending p{type, 0, 0, 0, 0};
    if (type == kNncLoadConstantsPayload) {
        if (len < sizeof(NncPayloadReq))
            return fail(kNncCmdLengthError);
        auto r = load<NncPayloadReq>(req);
        auto it = nnc_consts_.find(r.constants_id);
        if (it == nnc_consts_.end() || it->second.user != user || !it->second.region)
            return fail(kNncResourceNotFound);
        uint64_t size = it->second.data.size();
        if (r.data_length == 0 || r.offset > size || r.data_length > size - r.offset) {
            nnc_consts_.erase(it); // the runtime forgets a region whose PAYLOAD failed
            return fail(kNncParameterError);
        }
        p = {type, r.tag, r.constants_id, r.offset, r.data_length};
    } else {
        bool elf = type == kNncLoadElf;
        if (len < (elf ? sizeof(NncLoadElfReq) : sizeof(NncLoadConstantsReq)))
            return fail(kNncCmdLengthError);
        uint32_t tag;
        uint64_t length;
        if (elf) {
            auto r = load<NncLoadElfReq>(req);
            tag = r.tag;
            length = r.data_length;
        } else {
            auto r = load<NncLoadConstantsReq>(req);
            tag = r.tag;
            length = r.data_length;
        }
        if (length == 0)
            return fail(kNncParameterError);
        if (length > kImageMemory - std::min(kImageMemory, image_bytes()))
            return fail(kNncMemAllocError);
        uint32_t id = nnc_next_id_++;
        (elf ? nnc_elfs_ : nnc_consts_)[id] = NncBlob{user, {}, false};
        nnc_made_.push_back({elf, id});
        p = {type, tag, id, 0, length};
    }
    nnc_pending_[user] = p;
    return kFwOk;
}

// LOAD_CONSTANTS_EX: a zeroed region of the descriptor's static + dynamic size, for PAYLOADs.
uint32_t Firmware::nnc_constants_region(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out)
{
    auto answer = [&](uint32_t id, int32_t status) {
        NncLoadRsp r{kNncLoadConstants + 1, id, status, 0};
        nnc_answer(out, &r, sizeof(r));
        return kFwOk;
    };
    if (len < sizeof(NncLoadConstantsExReq))
        return answer(0, kNncCmdLengthError);
    auto r = load<NncLoadConstantsExReq>(req);
    if (r.descriptor_len < sizeof(NncConstantsDescriptor) ||
        r.descriptor_len > len - sizeof(NncLoadConstantsExReq))
        return answer(0, kNncCmdLengthError);
    auto d = load<NncConstantsDescriptor>(req + sizeof(NncLoadConstantsExReq));
    uint64_t size;
    if (__builtin_add_overflow(d.static_size, d.dynamic_size, &size) || size == 0)
        return answer(0, kNncParameterError);
    if (size > kImageMemory - std::min(kImageMemory, image_bytes()))
        return answer(0, kNncMemAllocError);
    NncBlob blob{user, {}, true};
    try {
        blob.data.resize(size);
    } catch (const std::bad_alloc &) {
        return answer(0, kNncMemAllocError);
    }
    uint32_t id = nnc_next_id_++;
    nnc_consts_[id] = std::move(blob);
    nnc_made_.push_back({false, id});
    return answer(id, kNncOk);
}

// A DMA_XFER of the user's finished: if a load waits for its tag, the image is its data, and
// the load is answered now (after its last chunk, as the device does).
void Firmware::nnc_data(uint32_t user, uint32_t tag, Bytes &out)
{
    auto pit = nnc_pending_.find(user);
    auto iit = images_.find({user, tag});
    if (pit == nnc_pending_.end() || pit->second.tag != tag || iit == images_.end())
        return;
    NncPending p = pit->second;
    nnc_pending_.erase(pit);
    std::vector<uint8_t> data = std::move(iit->second.data);
    images_.erase(iit);
    bool elf = p.cmd == kNncLoadElf;
    auto &blobs = elf ? nnc_elfs_ : nnc_consts_;
    auto bit = blobs.find(p.id);
    NncLoadRsp r{load_rsp_type(p.cmd), p.id, kNncOk, 0};
    if (bit == blobs.end() || data.size() != p.length) {
        if (bit != blobs.end())
            blobs.erase(bit);
        r.id = 0;
        r.status = kNncParameterError; // the data is not the size the request said
    } else if (p.cmd == kNncLoadConstantsPayload) {
        std::memcpy(bit->second.data.data() + p.offset, data.data(), data.size());
    } else {
        // An ELF that carries an NSP program must carry a valid one: it runs when activated.
        std::optional<std::vector<uint8_t>> program;
        if (elf)
            program = nsp_section(data);
        if (program && card_.nsp().check(*program) != kFwOk) {
            blobs.erase(bit);
            r.id = 0;
            r.status = kNncMetadataError;
        } else {
            bit->second.data = std::move(data);
            bit->second.program = std::move(program);
            bit->second.complete = true;
        }
    }
    nnc_answer(out, &r, sizeof(r));
}

// The user's waiting load goes: a half-loaded image or constants never stays.
void Firmware::nnc_drop_pending(uint32_t user)
{
    auto it = nnc_pending_.find(user);
    if (it == nnc_pending_.end())
        return;
    auto &blobs = it->second.cmd == kNncLoadElf ? nnc_elfs_ : nnc_consts_;
    blobs.erase(it->second.id); // a PAYLOAD's region too: the runtime forgets it
    nnc_pending_.erase(it);
}

// The end of a message: a load whose data did not come in it, and is not being continued in
// the next one, is answered as failed. Whether it answered.
bool Firmware::nnc_end_message(uint32_t user, Bytes &out)
{
    nnc_vc_assigned(kFwBadTransaction, 0, out); // an ACTIVATE whose transaction never came fails
    auto it = nnc_pending_.find(user);
    if (it == nnc_pending_.end())
        return false;
    auto xf = xfers_.find(user);
    if (xf != xfers_.end() && xf->second.chunk_id && xf->second.tag == it->second.tag)
        return false; // continued in the next message
    NncLoadRsp r{load_rsp_type(it->second.cmd), 0, kNncParameterError, 0};
    nnc_drop_pending(user);
    nnc_answer(out, &r, sizeof(r));
    return true;
}

// A NACKed message has no effect: what its loads made goes, and so does its activation.
void Firmware::nnc_undo_message(uint32_t user)
{
    nnc_drop_pending(user);
    for (auto [elf, id] : nnc_made_)
        (elf ? nnc_elfs_ : nnc_consts_).erase(id);
    if (nnc_vc_setup_.activation_id)
        nnc_activations_.erase(nnc_vc_setup_.activation_id);
    nnc_vc_setup_ = {};
}

void Firmware::nnc_drop_user(uint32_t user)
{
    nnc_pending_.erase(user);
    std::erase_if(nnc_groups_, [&](const auto &g) { return g.second.user == user; });
    std::erase_if(nnc_activations_, [&](const auto &a) { return a.second.user == user; });
    for (auto *blobs : {&nnc_elfs_, &nnc_consts_})
        std::erase_if(*blobs, [&](const auto &b) { return b.second.user == user; });
}

uint64_t Firmware::nnc_bytes() const
{
    uint64_t n = 0;
    for (const auto *blobs : {&nnc_elfs_, &nnc_consts_})
        for (const auto &[id, b] : *blobs)
            n += b.data.size();
    return n;
}

// ---------------------------------------------------------------------------- activation

// Activations whose DBC went without an NNC DEACTIVATE (the driver's deactivation, a
// subsystem restart) are over: they no longer hold their ELF and constants.
void Firmware::nnc_prune_activations()
{
    std::erase_if(nnc_activations_, [&](const auto &a) {
        const NncActivation &x = a.second;
        if (x.dbc < 0)
            return false;
        Dbc &dbc = card_.dbc(unsigned(x.dbc));
        return dbc.state() != kDbcAssigned || dbc.owner() != x.user;
    });
}

bool Firmware::nnc_in_use(bool elf, uint32_t id)
{
    nnc_prune_activations();
    for (const auto &[acid, a] : nnc_activations_)
        if ((elf ? a.elf_id : a.constants_id) == id)
            return true;
    return false;
}

// ACTIVATE: the network's ELF (and constants) must be the user's and loaded. The response goes
// out now, first in the answer as the runtime reads it; the ACTIVATE transaction that must
// follow in the message gives it its DBC (nnc_vc_assigned). A refused activation is answered
// alone, and that transaction then assigns nothing and answers nothing.
uint32_t Firmware::nnc_activate(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out)
{
    NncActivateRsp rsp{};
    rsp.type = kNncActivate + 1;
    nnc_vc_assigned(kFwBadTransaction, 0, out); // an earlier one of the message got none
    nnc_vc_setup_ = {true, true, 0, 0};
    auto fail = [&](int32_t status) {
        rsp.status = status;
        nnc_answer(out, &rsp, sizeof(rsp));
        return kFwOk;
    };
    if (len < sizeof(NncActivateReq))
        return fail(kNncCmdLengthError);
    auto r = load<NncActivateReq>(req);
    auto elf = nnc_elfs_.find(r.elf_id);
    if (elf == nnc_elfs_.end() || elf->second.user != user || !elf->second.complete)
        return fail(kNncResourceNotFound);
    if (r.constants_id) {
        auto c = nnc_consts_.find(r.constants_id);
        if (c == nnc_consts_.end() || c->second.user != user ||
            !(c->second.complete || c->second.region))
            return fail(kNncResourceNotFound);
    }
    if (r.opt_vc_setup != 1 || r.initial_state < kNncStandby || r.initial_state > kNncDeactivated)
        return fail(kNncParameterError);
    uint32_t acid = nnc_next_id_++;
    nnc_activations_[acid] = {user, r.elf_id, r.constants_id, -1, r.initial_state};
    rsp.activation_id = acid;
    rsp.nsp_mask = 1;
    nnc_vc_setup_ = {true, false, out.size() + sizeof(WireTransHdr), acid};
    nnc_answer(out, &rsp, sizeof(rsp));
    return kFwOk;
}

// Before an ACTIVATE transaction assigns a DBC: whether it must do nothing, its NNC ACTIVATE
// having been refused.
bool Firmware::nnc_activate_refused()
{
    if (nnc_vc_setup_.waiting && nnc_vc_setup_.failed) {
        nnc_vc_setup_ = {};
        return true;
    }
    return false;
}

// After it: the NNC ACTIVATE's response names the DBC as its virtual channel, or fails (also
// when no ACTIVATE transaction came for it).
void Firmware::nnc_vc_assigned(uint32_t status, uint32_t dbc_id, Bytes &out)
{
    if (!nnc_vc_setup_.waiting || nnc_vc_setup_.failed) {
        nnc_vc_setup_ = {};
        return;
    }
    NncVcSetup v = nnc_vc_setup_;
    nnc_vc_setup_ = {};
    NncActivateRsp rsp = load<NncActivateRsp>(out.data() + v.rsp_at);
    if (status == kFwOk) {
        rsp.virtual_channel_id = dbc_id;
        rsp.pc_mask = 1u << dbc_id;
        NncActivation &a = nnc_activations_[v.activation_id];
        a.dbc = dbc_id;
        // The network's NSP program (checked when its ELF loaded) is the DBC's from now on.
        auto elf = nnc_elfs_.find(a.elf_id);
        if (elf != nnc_elfs_.end() && elf->second.program)
            card_.nsp().load(dbc_id, *elf->second.program);
    } else {
        rsp.status = status == kFwNoResources ? kNncVcAllocError : kNncParameterError;
        rsp.activation_id = 0;
        nnc_activations_.erase(v.activation_id);
    }
    std::memcpy(out.data() + v.rsp_at, &rsp, sizeof(rsp));
}

// ACTIVATE_STATE: each named activation (the user's) goes to its state; all or none.
uint32_t Firmware::nnc_activate_state(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out)
{
    NncRspHdr rsp{kNncActivateState + 1, kNncOk};
    auto answer = [&](int32_t status) {
        rsp.status = status;
        nnc_answer(out, &rsp, sizeof(rsp));
        return kFwOk;
    };
    if (len < sizeof(NncActivateStateReq))
        return answer(kNncCmdLengthError);
    auto r = load<NncActivateStateReq>(req);
    if (r.num_cmds == 0 || r.num_cmds > kNncMaxStateCmds)
        return answer(kNncParameterError);
    nnc_prune_activations();
    for (uint32_t i = 0; i < r.num_cmds; ++i) {
        auto it = nnc_activations_.find(r.cmds[i].activation_id);
        if (it == nnc_activations_.end() || it->second.user != user)
            return answer(kNncResourceNotFound);
        if (r.cmds[i].cmd < kNncStandby || r.cmds[i].cmd > kNncDeactivated)
            return answer(kNncParameterError);
    }
    for (uint32_t i = 0; i < r.num_cmds; ++i)
        nnc_activations_[r.cmds[i].activation_id].state = r.cmds[i].cmd;
    return answer(kNncOk);
}

// DEACTIVATE: the activation ends; the DEACTIVATE transaction after it releases its DBC.
uint32_t Firmware::nnc_deactivate(uint32_t user, const uint8_t *req, uint32_t len, Bytes &out)
{
    NncRspHdr rsp{kNncDeactivate + 1, kNncOk};
    if (len < sizeof(NncDeactivateReq)) {
        rsp.status = kNncCmdLengthError;
    } else {
        nnc_prune_activations();
        auto it = nnc_activations_.find(load<NncDeactivateReq>(req).activation_id);
        if (it == nnc_activations_.end() || it->second.user != user)
            rsp.status = kNncResourceNotFound;
        else
            nnc_activations_.erase(it);
    }
    nnc_answer(out, &rsp, sizeof(rsp));
    return kFwOk;
}

} // namespace aic100
