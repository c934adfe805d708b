// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer: the card's firmware fed control messages as the device side sees them. The
// driver is not trusted by the card either: whatever comes, the firmware answers with a
// well-formed response (or a NACK), never crashes, hangs or lets a user's resources outlive
// its TERMINATE.
//
// Input: a flags byte, then messages, each a little-endian u16 length and its bytes (at most
// 8 messages, each cut to the control slot). Flags: bit 0 keeps the message's own CRC (else
// it is sealed), bit 1 its sequence number (else the one the firmware expects), bit 2 its
// magic (else kWireMagic). Sealing lets the fuzzer past the framing checks into the
// transactions; keeping lets it test those checks.
#include "hw/aic100/card.h"
#include "hw/aic100/firmware.h"
#include "include/hw/aic100_regs.h"

#include <drm/qaic_accel.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace {

using namespace aic100;
using Bytes = std::vector<uint8_t>;

// One card for the whole run, booted: inputs share it, and each leaves it as it found it.
Card &card()
{
    static Card *c = [] {
        CardConfig cfg;
        cfg.num_dbc = 4;
        cfg.ddr_size = uint64_t(64) << 20;
        auto *card = new Card(cfg);
        while (card->status() != kDevOnline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return card;
    }();
    return *c;
}

[[noreturn]] void finding(const char *what)
{
    std::fprintf(stderr, "firmware_fuzz: %s\n", what);
    std::abort();
}

template <typename T> T load(const uint8_t *p)
{
    T v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

// A response is one message: a header whose len is its size (within the slot), a CRC that
// holds, and exactly `count` transactions filling it.
void check_response(const Bytes &rsp)
{
    if (rsp.size() < sizeof(WireMsgHdr) || rsp.size() > kCtrlRspSlotSize)
        finding("response size out of bounds");
    WireMsgHdr h = load<WireMsgHdr>(rsp.data());
    if (h.magic != kWireMagic || h.len != rsp.size())
        finding("response header does not describe the response");
    Bytes copy = rsp;
    WireMsgHdr zero = h;
    zero.crc32 = 0;
    std::memcpy(copy.data(), &zero, sizeof(zero));
    if (wire_crc(copy.data(), h.len) != h.crc32)
        finding("response CRC does not hold");
    size_t pos = sizeof(WireMsgHdr);
    for (uint32_t i = 0; i < h.count; ++i) {
        if (rsp.size() - pos < sizeof(WireTransHdr))
            finding("response count past its transactions");
        WireTransHdr t = load<WireTransHdr>(rsp.data() + pos);
        if (t.len < sizeof(WireTransHdr) || t.len > rsp.size() - pos)
            finding("response transaction length out of bounds");
        pos += t.len;
    }
    if (pos != rsp.size())
        finding("response bytes past its transactions");
}

Bytes message(uint32_t seq, uint32_t handle, const Bytes &body, uint32_t count)
{
    Bytes m(sizeof(WireMsgHdr));
    m.insert(m.end(), body.begin(), body.end());
    WireMsgHdr h{0, kWireMagic, seq, uint32_t(m.size()), count, handle, -1, 0};
    std::memcpy(m.data(), &h, sizeof(h));
    h.crc32 = wire_crc(m.data(), h.len);
    std::memcpy(m.data(), &h, sizeof(h));
    return m;
}

// TERMINATE of every user the input named: afterwards no DBC may be assigned and the firmware
// may hold nothing.
void terminate_all(const std::set<uint32_t> &handles)
{
    Firmware &fw = card().firmware();
    for (uint32_t handle : handles) {
        Bytes body(sizeof(WireTerminateToDev));
        WireTerminateToDev t{{QAIC_TRANS_TERMINATE_TO_DEV, sizeof(WireTerminateToDev)}, handle, 0};
        std::memcpy(body.data(), &t, sizeof(t));
        Bytes rsp = fw.serve(message(fw.next_sequence(), 0, body, 1));
        check_response(rsp);
    }
    for (unsigned id = 0; id < card().num_dbc(); ++id)
        if (card().dbc(id).state() == kDbcAssigned)
            finding("a DBC stays assigned after its user's TERMINATE");
    if (fw.held_bytes() != 0)
        finding("the firmware holds images, constants or transfers after TERMINATE");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    Firmware &fw = card().firmware();
    uint8_t flags = data[0];
    size_t pos = 1;
    std::set<uint32_t> handles;
    for (int n = 0; n < 8 && size - pos >= 2; ++n) {
        size_t len = load<uint16_t>(data + pos);
        pos += 2;
        len = std::min({len, size - pos, size_t(kCtrlReqSlotSize)});
        Bytes msg(std::max(len, sizeof(WireMsgHdr)), 0);
        std::memcpy(msg.data(), data + pos, len);
        pos += len;
        WireMsgHdr h = load<WireMsgHdr>(msg.data());
        // As the ring hands it over: the header's len bytes (within the slot), zero past the
        // message.
        msg.resize(std::clamp<size_t>(h.len, sizeof(WireMsgHdr), kCtrlReqSlotSize));
        if (!(flags & 4))
            h.magic = kWireMagic;
        if (!(flags & 2))
            h.sequence_number = fw.next_sequence();
        if (!(flags & 1) && h.len >= sizeof(WireMsgHdr)) { // a shorter one is refused first
            h.crc32 = 0;
            std::memcpy(msg.data(), &h, sizeof(h));
            h.crc32 = wire_crc(msg.data(), std::min<uint32_t>(h.len, kCtrlReqSlotSize));
        }
        std::memcpy(msg.data(), &h, sizeof(h));
        handles.insert(h.handle);
        Bytes rsp = fw.serve(msg);
        if (rsp.empty())
            finding("a message got no answer");
        check_response(rsp);
    }
    terminate_all(handles);
    return 0;
}
