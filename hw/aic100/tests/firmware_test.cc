// SPDX-License-Identifier: GPL-2.0-only
// The firmware over the control channel: message checks and NACKs in their documented order,
// sequence numbers, ACTIVATE / DEACTIVATE / TERMINATE, DMA_XFER in one or several messages
// checked through PASSTHROUGH IMAGE_INFO and IMAGE_TO_DDR, and the passthrough commands.
#include "hw/aic100/firmware.h"
#include "hw/aic100/tests/harness.h"

namespace aic100::test {
namespace {

using kernel::DmaDirection;

constexpr uint32_t kWholeMessage = 0xFFFFFFFF;

class Fw : public CardTest {
protected:
    // Sends a message as given (no sequence bookkeeping) and returns the answer.
    std::optional<Reply> exchange(const Bytes &msg)
    {
        d.send_raw(msg);
        auto r = d.recv();
        EXPECT_TRUE(r.has_value());
        if (r) {
            EXPECT_TRUE(r->crc_ok);
        }
        return r;
    }
    // The answer must be a lone NACK with this status and index.
    void expect_nack(const std::optional<Reply> &r, uint32_t status, uint32_t index)
    {
        ASSERT_TRUE(r);
        ASSERT_TRUE(r->is_nack()) << "type " << (r->trans.empty() ? 0 : r->type(0));
        EXPECT_EQ(r->hdr.count, 1u);
        EXPECT_EQ(r->hdr.len, sizeof(WireMsgHdr) + sizeof(WireNack));
        WireNack n = r->nack();
        EXPECT_EQ(n.hdr.len, sizeof(WireNack));
        EXPECT_EQ(n.status, status);
        EXPECT_EQ(n.trans_index, index);
    }
    // A transaction of the next message fails: NACK with its index.
    void expect_trans_nack(const std::vector<Trans> &ts, uint32_t status, uint32_t index)
    {
        expect_nack(d.transact(ts), status, index);
    }
    FwAnswer passthrough1(const Trans &t, uint32_t handle = kUser)
    {
        auto r = d.transact({t}, handle);
        EXPECT_TRUE(r && r->trans.size() == 1 &&
                    r->type(0) == uint32_t(QAIC_TRANS_PASSTHROUGH_FROM_DEV));
        if (!r || r->trans.size() != 1)
            return {~0u, 0, {}};
        return fw_answer(*r, 0);
    }
    // IMAGE_INFO of tag: {size, crc32}, or nullopt on BAD_COMMAND.
    std::optional<std::pair<uint64_t, uint32_t>> info(uint32_t tag, uint32_t handle = kUser)
    {
        FwAnswer a = passthrough1(image_info(tag), handle);
        if (a.status != kFwOk) {
            EXPECT_EQ(a.status, kFwBadCommand);
            EXPECT_EQ(a.data_len, 0u);
            return std::nullopt;
        }
        EXPECT_EQ(a.data_len, 16u);
        return std::make_pair(load<uint64_t>(a.data.data()), load<uint32_t>(a.data.data() + 8));
    }
    uint32_t activate_status(const Trans &t)
    {
        auto r = d.transact({t});
        if (!r || r->trans.size() != 1 || r->type(0) != QAIC_TRANS_ACTIVATE_FROM_DEV)
            return ~0u;
        return r->as<WireActivateFromDev>(0).status;
    }
    uint32_t dbc_states()
    {
        uint32_t any = 0;
        for (unsigned i = 0; i < d.rd(kRegNumDbc); ++i)
            any |= d.dbc_rd(i, kDbcState);
        return any;
    }
};

// zlib's CRC-32 check value: what "CRC-32 (IEEE, zlib's)" means.
TEST(Crc32, MatchesZlib)
{
    EXPECT_EQ(kernel::crc32(0, "123456789", 9), 0xCBF43926u);
    EXPECT_EQ(kernel::crc32(0, nullptr, 0), 0u);
}

TEST_F(Fw, StatusRoundTrip)
{
    auto r = d.transact({status_trans()}, 0x1234);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->hdr.magic, kWireMagic);
    EXPECT_EQ(r->hdr.len, sizeof(WireMsgHdr) + sizeof(WireStatusFromDev));
    EXPECT_EQ(r->hdr.count, 1u);
    EXPECT_EQ(r->hdr.handle, 0x1234u);
    EXPECT_EQ(r->hdr.partition_id, -1);
    EXPECT_NE(r->hdr.crc32, 0u);
    ASSERT_EQ(r->trans.size(), 1u);
    auto s = r->as<WireStatusFromDev>(0);
    EXPECT_EQ(s.hdr.type, uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    EXPECT_EQ(s.hdr.len, sizeof(WireStatusFromDev));
    EXPECT_EQ(s.major, 5);
    EXPECT_EQ(s.minor, 0);
    EXPECT_EQ(s.status, kFwOk);
    EXPECT_EQ(s.status_flags, kStatusFlagCrcRequired);
}

// A lone STATUS is the one message accepted without a CRC; the answer has one anyway.
TEST_F(Fw, LoneStatusWithoutCrc)
{
    auto r = exchange(make_msg(d.next_seq++, kUser, {status_trans()}, false));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    EXPECT_EQ(r->as<WireStatusFromDev>(0).status_flags & kStatusFlagCrcRequired, 1u);
    EXPECT_NE(r->hdr.crc32, 0u);
}

TEST_F(Fw, CrcZeroRefusedOtherwise)
{
    HostBuf dummy(d.pci, kPage, DmaDirection::kToDevice);
    for (const std::vector<Trans> &ts :
         {std::vector<Trans>{status_trans(), status_trans()},
          std::vector<Trans>{activate_trans(0x100000, 0x100000 + kPage - 16, 4, 4, kPage)},
          std::vector<Trans>{{QAIC_TRANS_STATUS_TO_DEV, Bytes(8, 0)}}}) {
        auto r = exchange(make_msg(d.next_seq, kUser, ts, false));
        expect_nack(r, kFwBadCrc, kWholeMessage);
    }
    EXPECT_EQ(dbc_states(), 0u); // nothing ran
    // A refused message used no sequence number.
    ASSERT_TRUE(d.transact({status_trans()}));
}

TEST_F(Fw, BadCrc)
{
    Bytes m = make_msg(d.next_seq, kUser, {status_trans(), status_trans()});
    m[0] ^= 1;
    expect_nack(exchange(m), kFwBadCrc, kWholeMessage);
    // The CRC covers the whole message: a changed byte after the header is caught too.
    m = make_msg(d.next_seq, kUser, {deactivate_trans(0)});
    m[m.size() - 1] ^= 0x80;
    expect_nack(exchange(m), kFwBadCrc, kWholeMessage);
}

// The NACK echoes the request's header fields and carries its own CRC.
TEST_F(Fw, NackEchoesHeader)
{
    Bytes m = make_msg(77, 0xBEEF, {status_trans()});
    m[0] ^= 0xFF;
    auto r = exchange(m);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->hdr.magic, kWireMagic);
    EXPECT_EQ(r->hdr.sequence_number, 77u);
    EXPECT_EQ(r->hdr.handle, 0xBEEFu);
    EXPECT_EQ(r->hdr.partition_id, -1);
    EXPECT_EQ(r->type(0), kTransNack);
}

TEST_F(Fw, BadMagicBeforeEverythingElse)
{
    Bytes m = make_msg(d.next_seq, kUser, {status_trans()});
    m[4] = 'X';
    seal_crc(m);
    expect_nack(exchange(m), kFwBadMagic, kWholeMessage);
    // Bad magic and bad length and bad CRC: magic is checked first.
    WireMsgHdr h{0x1234, 0, d.next_seq, 5000, 0, kUser, -1, 0};
    Bytes raw(sizeof(h));
    std::memcpy(raw.data(), &h, sizeof(h));
    expect_nack(exchange(raw), kFwBadMagic, kWholeMessage);
}

TEST_F(Fw, BadMessageLength)
{
    auto with = [&](uint32_t len, uint32_t count) {
        Bytes m = make_msg(d.next_seq, kUser, {status_trans()});
        std::memcpy(m.data() + 12, &len, 4);
        std::memcpy(m.data() + 16, &count, 4);
        if (len >= 4 && len <= m.size())
            seal_crc(m); // a valid CRC: only the length is wrong
        return m;
    };
    expect_nack(exchange(with(31, 1)), kFwBadLength, kWholeMessage);
    expect_nack(exchange(with(0, 1)), kFwBadLength, kWholeMessage);
    expect_nack(exchange(with(kCtrlReqSlotSize + 1, 1)), kFwBadLength, kWholeMessage);
    expect_nack(exchange(with(0xFFFFFFFF, 1)), kFwBadLength, kWholeMessage);
    expect_nack(exchange(with(40, 0)), kFwBadLength, kWholeMessage);
    // Length is checked before the CRC.
    Bytes m = with(kCtrlReqSlotSize + 1, 1);
    m[0] ^= 1;
    expect_nack(exchange(m), kFwBadLength, kWholeMessage);
    ASSERT_TRUE(d.transact({status_trans()}));
}

TEST_F(Fw, BadTransactionFraming)
{
    // Framing is checked after the sequence number: each of these uses one.
    // A transaction shorter than its header, as the second of two.
    Bytes m = make_msg(d.next_seq++, kUser, {status_trans(), status_trans()});
    uint32_t len7 = 7;
    std::memcpy(m.data() + 32 + 8 + 4, &len7, 4);
    seal_crc(m);
    expect_nack(exchange(m), kFwBadLength, 1);
    // A transaction running past the message.
    m = make_msg(d.next_seq++, kUser, {status_trans()});
    uint32_t len16 = 16;
    std::memcpy(m.data() + 32 + 4, &len16, 4);
    seal_crc(m);
    expect_nack(exchange(m), kFwBadLength, 0);
    // count promises more transactions than there are.
    m = make_msg(d.next_seq++, kUser, {status_trans()});
    uint32_t count3 = 3;
    std::memcpy(m.data() + 16, &count3, 4);
    seal_crc(m);
    expect_nack(exchange(m), kFwBadLength, 1);
    ASSERT_TRUE(d.transact({status_trans()}));
}

// Bytes after the last transaction: the message is refused as a whole, and none of its
// transactions may have run (the host is told nothing happened).
TEST_F(Fw, TrailingBytesRefusedWithoutSideEffects)
{
    Queue q;
    q.nelem = 4;
    q.buf = d.coherent(queue_buf_size(4));
    Bytes m = make_msg(d.next_seq++, kUser,
                       {activate_trans(q.req_iova(), q.rsp_iova(), 4, 4, q.buf_len())});
    m.resize(m.size() + 8, 0);
    uint32_t len = uint32_t(m.size());
    std::memcpy(m.data() + 12, &len, 4);
    seal_crc(m);
    expect_nack(exchange(m), kFwBadLength, kWholeMessage);
    EXPECT_EQ(dbc_states(), 0u);
}

TEST_F(Fw, SequenceNumbers)
{
    d.next_seq = 1000; // the first message may carry any number
    ASSERT_TRUE(d.transact({status_trans()}));
    ASSERT_TRUE(d.transact({status_trans()})); // 1001
    auto r = exchange(make_msg(1003, kUser, {status_trans()}));
    expect_nack(r, kFwBadSequence, kWholeMessage);
    EXPECT_EQ(r->hdr.sequence_number, 1003u);
    expect_nack(exchange(make_msg(1001, kUser, {status_trans()})), kFwBadSequence,
                kWholeMessage);
    // Refused messages did not move the expected number.
    ASSERT_TRUE(d.transact({status_trans()})); // 1002
    // A message failing a later check (here an unknown transaction) did use its number.
    expect_trans_nack({{99, {}}}, kFwBadTransaction, 0); // 1003
    ASSERT_TRUE(d.transact({status_trans()}));           // 1004
}

TEST_F(Fw, SequenceNumberWraps)
{
    d.next_seq = 0xFFFFFFFF;
    ASSERT_TRUE(d.transact({status_trans()}));
    EXPECT_EQ(d.next_seq, 0u);
    ASSERT_TRUE(d.transact({status_trans()}));
}

TEST_F(Fw, UnknownTransactionType)
{
    for (uint32_t type : {0u, 1u, 2u, 3u, 5u, 7u, 8u, 11u, 12u, 13u, 14u, 16u, 18u, 19u, 20u,
                          21u, 0x80u, 0xFFFFFFFFu})
        expect_trans_nack({status_trans(), {type, {}}}, kFwBadTransaction, 1);
}

TEST_F(Fw, StatusWithBodyBadLength)
{
    expect_trans_nack({{QAIC_TRANS_STATUS_TO_DEV, Bytes(8, 0)}}, kFwBadLength, 0);
}

// Several transactions: answers in request order; the first failure stops the message.
TEST_F(Fw, SeveralTransactions)
{
    Queue q;
    q.nelem = 4;
    q.buf = d.coherent(queue_buf_size(4));
    auto r = d.transact({status_trans(),
                         activate_trans(q.req_iova(), q.rsp_iova(), 4, 4, q.buf_len(), 0x77),
                         status_trans()});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->hdr.count, 3u);
    ASSERT_EQ(r->trans.size(), 3u);
    EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    EXPECT_EQ(r->type(1), uint32_t(QAIC_TRANS_ACTIVATE_FROM_DEV));
    EXPECT_EQ(r->type(2), uint32_t(QAIC_TRANS_STATUS_FROM_DEV));
    auto a = r->as<WireActivateFromDev>(1);
    EXPECT_EQ(a.hdr.len, sizeof(WireActivateFromDev));
    EXPECT_EQ(a.status, kFwOk);
    EXPECT_EQ(a.options, 0x77u);
    EXPECT_EQ(r->hdr.len, sizeof(WireMsgHdr) + 2 * sizeof(WireStatusFromDev) +
                              sizeof(WireActivateFromDev));
}

// A NACKed message has no lasting effect on DBCs: activations before the failing
// transaction are released again.
TEST_F(Fw, NackUndoesActivations)
{
    Queue a, b;
    a.nelem = b.nelem = 4;
    a.buf = d.coherent(queue_buf_size(4));
    b.buf = d.coherent(queue_buf_size(4));
    expect_trans_nack({activate_trans(a.req_iova(), a.rsp_iova(), 4, 4, a.buf_len()),
                       activate_trans(b.req_iova(), b.rsp_iova(), 4, 4, b.buf_len()),
                       {99, {}}},
                      kFwBadTransaction, 2);
    EXPECT_EQ(dbc_states(), 0u);
    // The DBCs are free for the next user, lowest first.
    auto q = d.activate(4, kUser + 1);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->id, 0u);
}

// The answers must fit one 4096-byte response: 169 STATUS answers (24 bytes each) do, the
// 170th overflows and NACKs with BAD_LENGTH naming it.
TEST_F(Fw, AnswersMustFitOneResponse)
{
    std::vector<Trans> ts(169, status_trans());
    auto r = d.transact(ts);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->hdr.count, 169u);
    EXPECT_EQ(r->hdr.len, sizeof(WireMsgHdr) + 169 * sizeof(WireStatusFromDev));
    EXPECT_EQ(r->trans.size(), 169u);
    ts.push_back(status_trans());
    expect_trans_nack(ts, kFwBadLength, 169);
}

// A request may fill its 64 KiB slot (upstream's QAIC_MANAGE_EXT_MSG_LENGTH); its answer
// still fits 4 KiB.
TEST_F(Fw, RequestsUpTo64KiB)
{
    const uint32_t around = sizeof(WireMsgHdr) + sizeof(WireTransHdr) + sizeof(FwCmdHdr);
    auto r = d.transact({passthrough(kFwOpBase + 99, Bytes(kCtrlReqSlotSize - around, 0))});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->trans.size(), 1u) << "an answer, not a NACK";
    EXPECT_EQ(fw_answer(*r, 0).status, kFwBadCommand) << "read whole: only the opcode is wrong";
    // A length past the slot is refused, as 4 KiB past a 4 KiB slot was.
    Bytes m = make_msg(d.next_seq, kUser, {status_trans()});
    uint32_t len = kCtrlReqSlotSize + 8;
    std::memcpy(m.data() + 12, &len, 4);
    expect_nack(exchange(m), kFwBadLength, kWholeMessage);
    ASSERT_TRUE(d.transact({status_trans()}));
}

// ---------------------------------------------------------------------------- ACTIVATE

TEST_F(Fw, ActivateGeometry)
{
    auto buf = d.coherent(queue_buf_size(64));
    const uint64_t b = buf.dma_addr;
    auto L = [](uint32_t n) { return uint32_t(queue_buf_size(n)); };
    auto rsp = [&](uint64_t req, uint32_t n) { return req + L(n) - 4ull * n; };
    struct Case {
        const char *what;
        Trans t;
    } bad[] = {
        {"n = 1", activate_trans(b, rsp(b, 1), 1, 1, L(1))},
        {"n = 0", activate_trans(b, b + L(0), 0, 0, L(0))},
        {"n = 65537", activate_trans(b, rsp(b, 65537), 65537, 65537, L(65537))},
        {"sizes differ", activate_trans(b, rsp(b, 16), 16, 8, L(16))},
        {"buf_len short", activate_trans(b, b + L(64) - kPage - 256, 64, 64, L(64) - kPage)},
        {"buf_len unaligned", activate_trans(b, b + L(64) + 4 - 256, 64, 64, L(64) + 4)},
        {"req unaligned", activate_trans(b + 32, rsp(b + 32, 16), 16, 16, L(16))},
        {"rsp elsewhere", activate_trans(b, rsp(b, 16) - 4, 16, 16, L(16))},
        {"rsp at start", activate_trans(b, b, 16, 16, L(16))},
    };
    for (const Case &c : bad)
        EXPECT_EQ(activate_status(c.t), kFwBadTransaction) << c.what;
    EXPECT_EQ(dbc_states(), 0u);
    // The bounds themselves are fine.
    EXPECT_EQ(activate_status(activate_trans(b, rsp(b, 2), 2, 2, L(2))), kFwOk);
    EXPECT_EQ(activate_status(activate_trans(b + 64, rsp(b + 64, 64), 64, 64, L(64))), kFwOk);
    auto big = d.coherent(queue_buf_size(65536));
    EXPECT_EQ(activate_status(activate_trans(big.dma_addr, rsp(big.dma_addr, 65536), 65536,
                                             65536, L(65536))),
              kFwOk);
    EXPECT_EQ(d.dbc_rd(2, kDbcNelem), 65536u);
}

TEST_F(Fw, ActivateWrongLength)
{
    Trans t = activate_trans(0x100000, 0x100000 + kPage - 16, 4, 4, kPage);
    t.body.resize(t.body.size() + 8);
    expect_trans_nack({t}, kFwBadLength, 0);
    t.body.resize(t.body.size() - 16);
    expect_trans_nack({t}, kFwBadLength, 0);
}

// The lowest idle DBC is assigned; none left: NO_RESOURCES.
TEST(FwResources, AllDbcsTaken)
{
    MiniDriver d(small_config(2));
    ASSERT_TRUE(d.bring_up());
    auto q0 = d.activate(4, 1);
    auto q1 = d.activate(4, 2);
    ASSERT_TRUE(q0 && q1);
    EXPECT_EQ(q0->id, 0u);
    EXPECT_EQ(q1->id, 1u);
    auto buf = d.coherent(queue_buf_size(4));
    auto r = d.transact({activate_trans(buf.dma_addr, buf.dma_addr + kPage - 16, 4, 4, kPage)});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->as<WireActivateFromDev>(0).status, kFwNoResources);
    // A freed DBC is found again, lowest first.
    EXPECT_EQ(d.deactivate(*q0, 1), kFwOk);
    auto q2 = d.activate(4, 3);
    ASSERT_TRUE(q2);
    EXPECT_EQ(q2->id, 0u);
}

// ---------------------------------------------------------------------------- DEACTIVATE

TEST_F(Fw, Deactivate)
{
    auto q = d.activate(4, kUser);
    ASSERT_TRUE(q);
    auto deact = [&](uint32_t id, uint32_t handle) {
        auto r = d.transact({deactivate_trans(id)}, handle);
        if (!r || r->trans.size() != 1 || r->type(0) != QAIC_TRANS_DEACTIVATE_FROM_DEV) {
            ADD_FAILURE() << "DEACTIVATE not answered";
            return ~0u;
        }
        auto a = r->as<WireDeactivateFromDev>(0);
        EXPECT_EQ(a.dbc_id, id);
        return a.status;
    };
    EXPECT_EQ(deact(q->id, kUser + 1), kFwNotOwner);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcAssigned);
    EXPECT_EQ(deact(q->id + 1, kUser), kFwNotOwner); // idle
    EXPECT_EQ(deact(4, kUser), kFwBadTransaction);   // NUM_DBC
    EXPECT_EQ(deact(0xFFFFFFFF, kUser), kFwBadTransaction);
    EXPECT_EQ(deact(q->id, kUser), kFwOk);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcState), kDbcIdle);
    EXPECT_EQ(d.dbc_rd(q->id, kDbcNelem), 0u);
    EXPECT_EQ(deact(q->id, kUser), kFwNotOwner); // already released
}

// TERMINATE releases the given handle's DBCs and images, nobody else's.
TEST_F(Fw, TerminateReleasesTheUsersResources)
{
    const uint32_t a = 10, b = 20;
    auto qa0 = d.activate(4, a);
    auto qb = d.activate(4, b);
    auto qa1 = d.activate(4, a);
    ASSERT_TRUE(qa0 && qb && qa1);
    HostBuf src(d.pci, 100, DmaDirection::kToDevice);
    ASSERT_TRUE(d.transact({dma_xfer(1, 0, 0, {{src.iova(), 100}})}, a));
    ASSERT_TRUE(d.transact({dma_xfer(1, 0, 0, {{src.iova(), 50}})}, b));
    ASSERT_TRUE(info(1, a));

    auto r = d.transact({terminate_trans(a)}, b); // sent on anyone's behalf
    ASSERT_TRUE(r);
    ASSERT_EQ(r->trans.size(), 1u);
    auto t = r->as<WireTerminateFromDev>(0);
    EXPECT_EQ(t.hdr.type, uint32_t(QAIC_TRANS_TERMINATE_FROM_DEV));
    EXPECT_EQ(t.hdr.len, sizeof(WireTerminateFromDev));
    EXPECT_EQ(t.status, kFwOk);
    EXPECT_EQ(d.dbc_rd(qa0->id, kDbcState), kDbcIdle);
    EXPECT_EQ(d.dbc_rd(qa1->id, kDbcState), kDbcIdle);
    EXPECT_EQ(d.dbc_rd(qb->id, kDbcState), kDbcAssigned);
    EXPECT_FALSE(info(1, a));
    auto ib = info(1, b);
    ASSERT_TRUE(ib);
    EXPECT_EQ(ib->first, 50u);
    // A user without resources: nothing to do, still OK.
    r = d.transact({terminate_trans(99)});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->as<WireTerminateFromDev>(0).status, kFwOk);
}

// ---------------------------------------------------------------------------- DMA_XFER

TEST_F(Fw, DmaXferInOneMessage)
{
    HostBuf src(d.pci, 3 * kPage + 300, DmaDirection::kToDevice, 0x40, 3);
    fill_pattern(src.data(), src.size(), 41);
    std::vector<WireAddrSize> runs;
    for (unsigned i = 0; i < 3; ++i)
        runs.push_back({src.iova(i), src.sgt().entries[i].length});
    auto r = d.transact({dma_xfer(5, 0, 0, runs)});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->hdr.count, 0u); // no answer for a transfer without MORE
    EXPECT_EQ(r->hdr.len, sizeof(WireMsgHdr));

    auto i = info(5);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->first, src.size());
    EXPECT_EQ(i->second, kernel::crc32(0, src.data(), src.size()));
    // IMAGE_INFO's answer is 16 bytes of data: the transaction is 8 + 8 + 16.
    r = d.transact({image_info(5), image_to_ddr(5, 0x700000)});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->trans.size(), 2u);
    EXPECT_EQ(load<WireTransHdr>(r->trans[0].data()).len, 32u);
    EXPECT_EQ(load<WireTransHdr>(r->trans[1].data()).len, 16u);
    FwAnswer to_ddr = fw_answer(*r, 1);
    EXPECT_EQ(to_ddr.status, kFwOk);
    EXPECT_EQ(to_ddr.data_len, 0u);
    EXPECT_EQ(d.ddr(0x700000, src.size()), src.bytes());
}

// A DMA_XFER without runs makes an empty image; copying it to DDR copies nothing and leaves
// DDR as it was (firmware_fuzz found the copy undefined: memcpy from a null pointer).
TEST_F(Fw, EmptyImageToDdrCopiesNothing)
{
    auto r = d.transact({dma_xfer(6, 0, 0, {})});
    ASSERT_TRUE(r);
    auto i = info(6);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->first, 0u);
    std::vector<uint8_t> before = d.ddr(0x700000, 64);
    r = d.transact({image_to_ddr(6, 0x700000)});
    ASSERT_TRUE(r);
    EXPECT_EQ(fw_answer(*r, 0).status, kFwOk);
    EXPECT_EQ(d.ddr(0x700000, 64), before);
}

// A transfer over several messages: DMA_XFER_CONT after each MORE message with the bytes
// received so far; the image is the concatenation.
TEST_F(Fw, DmaXferOverSeveralMessages)
{
    HostBuf src(d.pci, 5000, DmaDirection::kToDevice, 0, 4);
    fill_pattern(src.data(), src.size(), 42);
    auto run = [&](unsigned i) { return WireAddrSize{src.iova(i), src.sgt().entries[i].length}; };
    const uint32_t chunk = 7;
    uint64_t sent = 0;

    auto r = d.transact({dma_xfer(3, chunk, kDmaXferMore, {run(0)})});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->trans.size(), 1u);
    auto c = r->as<WireDmaXferCont>(0);
    sent += run(0).size;
    EXPECT_EQ(c.hdr.type, uint32_t(QAIC_TRANS_DMA_XFER_CONT));
    EXPECT_EQ(c.hdr.len, sizeof(WireDmaXferCont));
    EXPECT_EQ(c.dma_chunk_id, chunk);
    EXPECT_EQ(c.padding, 0u);
    EXPECT_EQ(c.xferred_size, sent);

    r = d.transact({dma_xfer(3, chunk, kDmaXferMore, {run(1), run(2)})});
    ASSERT_TRUE(r);
    sent += run(1).size + run(2).size;
    EXPECT_EQ(r->as<WireDmaXferCont>(0).xferred_size, sent);

    r = d.transact({dma_xfer(3, chunk, 0, {run(3)})});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->hdr.count, 0u);

    auto i = info(3);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->first, src.size());
    EXPECT_EQ(i->second, kernel::crc32(0, src.data(), src.size()));
    ASSERT_EQ(passthrough1(image_to_ddr(3, 0x800000)).status, kFwOk);
    EXPECT_EQ(d.ddr(0x800000, src.size()), src.bytes());
}

// A different chunk id, or chunk id 0, starts a new image replacing the tag's old one.
TEST_F(Fw, DmaXferRestarts)
{
    HostBuf src(d.pci, 300, DmaDirection::kToDevice);
    fill_pattern(src.data(), src.size(), 43);
    ASSERT_TRUE(d.transact({dma_xfer(1, 7, kDmaXferMore, {{src.iova(), 100}})}));
    ASSERT_TRUE(d.transact({dma_xfer(1, 8, 0, {{src.iova() + 100, 200}})}));
    auto i = info(1);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->first, 200u);
    EXPECT_EQ(i->second, kernel::crc32(0, src.data() + 100, 200));

    ASSERT_TRUE(d.transact({dma_xfer(1, 0, 0, {{src.iova(), 10}})}));
    i = info(1);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->first, 10u);
    // Empty runs list: an empty image.
    ASSERT_TRUE(d.transact({dma_xfer(2, 0, 0, {})}));
    i = info(2);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->first, 0u);
    EXPECT_EQ(i->second, 0u);
}

TEST_F(Fw, DmaXferBadFraming)
{
    HostBuf src(d.pci, 100, DmaDirection::kToDevice);
    expect_trans_nack({dma_xfer(1, 0, kDmaXferMore, {{src.iova(), 100}})}, kFwBadLength, 0);
    expect_trans_nack({status_trans(), dma_xfer(1, 3, 2, {{src.iova(), 100}})}, kFwBadLength,
                      1);
    Trans t = dma_xfer(1, 0, 0, {{src.iova(), 100}});
    t.body[4] = 2; // count 2, one run
    expect_trans_nack({t}, kFwBadLength, 0);
    t.body.resize(8); // shorter than its fixed part
    expect_trans_nack({t}, kFwBadLength, 0);
    EXPECT_FALSE(info(1));
}

TEST_F(Fw, DmaXferFaultDropsImage)
{
    HostBuf good(d.pci, 100, DmaDirection::kToDevice);
    HostBuf wo(d.pci, 100, DmaDirection::kFromDevice);
    expect_trans_nack({status_trans(), dma_xfer(1, 0, 0, {{good.iova(), 100}, {0x10, 8}})},
                      kFwDmaFault, 1);
    EXPECT_FALSE(info(1));
    // No read permission.
    expect_trans_nack({dma_xfer(1, 0, 0, {{wo.iova(), 100}})}, kFwDmaFault, 0);
    // Past the end of the mapping.
    expect_trans_nack({dma_xfer(1, 0, 0, {{good.iova(), 101}})}, kFwDmaFault, 0);
    // A fault in the second message of a chunked transfer drops what came before.
    ASSERT_TRUE(d.transact({dma_xfer(2, 9, kDmaXferMore, {{good.iova(), 100}})}));
    expect_trans_nack({dma_xfer(2, 9, 0, {{good.iova() + kPage, 100}})}, kFwDmaFault, 0);
    EXPECT_FALSE(info(2));
    // The transfer is gone too: continuing it starts a fresh image.
    ASSERT_TRUE(d.transact({dma_xfer(2, 9, 0, {{good.iova(), 20}})}));
    auto i = info(2);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->first, 20u);
}

TEST_F(Fw, DmaXferBeyondImageMemory)
{
    HostBuf good(d.pci, 100, DmaDirection::kToDevice);
    expect_trans_nack({dma_xfer(1, 0, 0, {{good.iova(), (256ull << 20) + 1}})}, kFwNoResources,
                      0);
    EXPECT_FALSE(info(1));
}

// Out of memory while it stores the image (a process out of address space): the transfer is
// refused with NO_RESOURCES and leaves nothing, a chunked one drops what came before, and the
// firmware goes on.
TEST_F(Fw, DmaXferOutOfMemoryIsNoResources)
{
    HostBuf src(d.pci, 2 * kPage, DmaDirection::kToDevice);
    Firmware &fw = d.card().firmware();
    uint64_t held = fw.held_bytes();
    fw.fail_allocation(1);
    expect_trans_nack({dma_xfer(1, 0, 0, {{src.iova(), 100}})}, kFwNoResources, 0);
    EXPECT_FALSE(info(1));
    EXPECT_EQ(fw.held_bytes(), held);

    ASSERT_TRUE(d.transact({dma_xfer(1, 7, kDmaXferMore, {{src.iova(), 100}})}));
    fw.fail_allocation(1);
    expect_trans_nack({dma_xfer(1, 7, 0, {{src.iova() + kPage, 50}})}, kFwNoResources, 0);
    EXPECT_FALSE(info(1));
    EXPECT_EQ(fw.held_bytes(), held);

    ASSERT_TRUE(d.transact({dma_xfer(1, 0, 0, {{src.iova(), 100}})}));
    auto i = info(1);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->first, 100u);
}

// The card's side of the allocation-failure sweep: each kind of message is sent with its 1st,
// 2nd, ... allocation failing, until one has no such allocation. Every message is answered
// (none is lost for want of memory while its answer is framed), a made-to-fail one with a
// NACK of NO_RESOURCES that left nothing behind, and the firmware then serves the message.
TEST_F(Fw, EveryAllocationFailureIsANackThatLeavesNothing)
{
    Firmware &fw = d.card().firmware();
    HostBuf src(d.pci, 3 * kPage, DmaDirection::kToDevice, 0, 3);
    Queue q;
    q.nelem = 4;
    q.buf = d.coherent(queue_buf_size(4));
    std::vector<WireAddrSize> runs;
    for (unsigned i = 0; i < 3; ++i)
        runs.push_back({src.iova(i), src.sgt().entries[i].length});
    const std::vector<std::pair<const char *, std::vector<Trans>>> kinds = {
        {"STATUS", {status_trans()}},
        {"ACTIVATE", {activate_trans(q.req_iova(), q.rsp_iova(), 4, 4, q.buf_len())}},
        {"DMA_XFER", {dma_xfer(3, 0, 0, runs)}},
        {"DMA_XFER with MORE", {dma_xfer(4, 9, kDmaXferMore, runs)}},
        {"DMA_XFER, IMAGE_INFO, IMAGE_TO_DDR",
         {dma_xfer(5, 0, 0, runs), image_info(5), image_to_ddr(5, 0x700000)}},
        {"ACTIVATE, STATUS",
         {activate_trans(q.req_iova(), q.rsp_iova(), 4, 4, q.buf_len()), status_trans()}},
        {"TERMINATE", {terminate_trans(kUser)}},
    };
    for (const auto &[name, ts] : kinds) {
        unsigned nth = 1;
        std::optional<Reply> r;
        for (;; ++nth) {
            ASSERT_LT(nth, 100u) << name;
            uint64_t held = fw.held_bytes();
            fw.fail_allocation(nth);
            r = d.transact(ts);
            ASSERT_TRUE(r) << name << ": no answer with allocation " << nth << " failing";
            if (!fw.allocation_failed())
                break;
            ASSERT_TRUE(r->is_nack()) << name << ": allocation " << nth << " failed unseen";
            EXPECT_EQ(r->nack().status, kFwNoResources) << name << ", allocation " << nth;
            EXPECT_EQ(fw.held_bytes(), held) << name << ", allocation " << nth;
            EXPECT_EQ(dbc_states(), 0u) << name << ", allocation " << nth;
        }
        EXPECT_FALSE(r->is_nack()) << name << " refused without a failure";
        // What the served message did goes with its user.
        ASSERT_TRUE(d.transact({terminate_trans(kUser)}));
        EXPECT_EQ(dbc_states(), 0u);
        EXPECT_EQ(fw.held_bytes(), 0u);
    }
}

// ---------------------------------------------------------------------------- PASSTHROUGH

TEST_F(Fw, PassthroughBadCommands)
{
    HostBuf src(d.pci, 100, DmaDirection::kToDevice);
    fill_pattern(src.data(), 100, 44);
    ASSERT_TRUE(d.transact({dma_xfer(4, 0, 0, {{src.iova(), 100}})}));
    Bytes ddr_before = d.ddr(kDdrSize - 50, 50);

    auto bad = [&](const Trans &t, const char *what) {
        auto r = d.transact({t});
        ASSERT_TRUE(r) << what;
        ASSERT_EQ(r->trans.size(), 1u) << what; // an answer, not a NACK
        EXPECT_EQ(r->type(0), uint32_t(QAIC_TRANS_PASSTHROUGH_FROM_DEV)) << what;
        EXPECT_EQ(load<WireTransHdr>(r->trans[0].data()).len, 16u) << what;
        FwAnswer a = fw_answer(*r, 0);
        EXPECT_EQ(a.status, kFwBadCommand) << what;
        EXPECT_EQ(a.data_len, 0u) << what;
    };
    bad(passthrough(kFwOpBase + 99, {}), "unknown opcode");
    bad(passthrough(kFwOpBase, Bytes(8, 0)), "opcode kFwOpBase");
    bad(passthrough(0xFFFFFFFF, Bytes(8, 0)), "opcode 0xFFFFFFFF");
    bad(passthrough(kFwOpImageInfo, {}), "IMAGE_INFO without args");
    bad(passthrough(kFwOpImageInfo, Bytes(3, 0)), "IMAGE_INFO short args");
    bad(passthrough(kFwOpImageToDdr, Bytes{4, 0, 0, 0, 0, 0, 0, 0}), "IMAGE_TO_DDR short");
    bad(passthrough(kFwOpImageDrop, {}), "IMAGE_DROP without args");
    bad(image_info(5), "unknown tag");
    bad(image_to_ddr(5, 0), "IMAGE_TO_DDR unknown tag");
    bad(image_to_ddr(4, kDdrSize - 50), "IMAGE_TO_DDR past DDR");
    bad(image_to_ddr(4, ~uint64_t(0) - 10), "IMAGE_TO_DDR wrapping");
    Trans overlong = image_info(4);
    overlong.body[4] = 16; // arg_len beyond the transaction
    bad(overlong, "arg_len past the transaction");
    bad({QAIC_TRANS_PASSTHROUGH_TO_DEV, {}}, "no command header");
    EXPECT_EQ(d.ddr(kDdrSize - 50, 50), ddr_before);
    // Another user's tag is not visible.
    EXPECT_FALSE(info(4, kUser + 1));
}

TEST_F(Fw, ImageDrop)
{
    HostBuf src(d.pci, 64, DmaDirection::kToDevice);
    ASSERT_TRUE(d.transact({dma_xfer(6, 0, 0, {{src.iova(), 64}})}));
    Bytes args(8, 0);
    args[0] = 6;
    EXPECT_EQ(passthrough1(passthrough(kFwOpImageDrop, args), kUser + 1).status, kFwBadCommand);
    EXPECT_EQ(passthrough1(passthrough(kFwOpImageDrop, args)).status, kFwOk);
    EXPECT_FALSE(info(6));
    EXPECT_EQ(passthrough1(passthrough(kFwOpImageDrop, args)).status, kFwBadCommand);
}

} // namespace
} // namespace aic100::test
