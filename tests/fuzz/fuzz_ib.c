/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ib.c — what an ib peer controls, without RDMA hardware:
 *   mode 0  the rdma_cm private data of the connection handshake
 *           (src/transport/ib_handshake.c): a REQ as the listener checks it
 *           (ib_req_check, with and without a job secret), a REP as the connecting
 *           side checks it (ib_check_rep), a REJ (ib_check_rej);
 *   mode 1  the data path (src/transport/ib_conn.c, ib_zc.c): bytes the peer
 *           RDMA-writes into this end's receive region (frame headers, payloads,
 *           zero-copy grants, the credit word) and the immediates its writes
 *           complete with, read by the transport's own recv_peek / recv_release /
 *           zc_send_grant over a connection whose CQ and QP are fakes (the verbs
 *           data path calls through the context's ops table).
 * ib_handshake.c is compiled into this target so that its static checks run as
 * they are; the data path comes from the static library.
 *
 * Invariants: an accepted REQ names a lower rank's expected slot (a peer this rank
 * waits for, on a channel that exists); an accepted REP is the expected peer's,
 * for this rank and channel; a delivered frame lies in its slot and fits it;
 * a granted zero-copy message is 1..IB_ZC_MAX bytes; a failure is sticky and
 * has a sentence; nothing leaks, nothing reads past its buffers (ASan).
 */
#include "fuzz_util.h"

#include "ib_handshake.c"

#include "error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

#ifndef HALO_IB_HEADERS
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return 0; /* built without the rdma-core headers: no ib transport to fuzz */
}
#else

#define F_NRANKS 4
#define F_NCH 2
#define F_RANK 1

/* ---- mode 0: handshake messages ---- */

static void fuzz_handshake(const uint8_t *data, size_t size)
{
    static const struct halo_ib_peer_info pinfo = {.active = 1};
    const struct halo_ib_peer_info *peers[F_NCH * F_NRANKS] = {0};
    struct halo_ib *ib = calloc(1, sizeof(*ib));
    FUZZ_CHECK(ib != NULL);
    ib->rank = F_RANK;
    ib->nranks = F_NRANKS;
    ib->nchannels = F_NCH;
    ib->cfg.slot_size = 4096;
    ib->cfg.nslots = 8;
    ib->cfg.job_id = 0x1234;
    ib->cfg.hca = "";
    ib->have_key = data[0] & 1;
    for (int i = 0; i < HALO_AUTH_KEY_BYTES; i++)
        ib->key[i] = (uint8_t)(i + 1);
    for (size_t i = 0; i < sizeof(ib->me.nonce); i++)
        ib->me.nonce[i] = (uint8_t)(0x20 + i);
    /* This rank (1) accepts from ranks 2 and 3 on both channels, not from 3 on channel 1. */
    peers[0 * F_NRANKS + 2] = peers[0 * F_NRANKS + 3] = peers[1 * F_NRANKS + 2] = &pinfo;

    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    switch ((data[0] >> 1) % 3) {
    case 0: { /* REQ, as ib_on_request copies it */
        struct ib_wire w;
        char why[200];
        int slot = -1;
        memset(&w, 0, sizeof(w));
        memcpy(&w, msg, len < sizeof(w) ? len : sizeof(w));
        int reason = ib_req_check(ib, peers, &w, &slot, why, sizeof(why));
        FUZZ_CHECK(reason >= 0 && reason <= IB_REJ_GID);
        if (reason == 0) {
            FUZZ_CHECK(w.magic == IB_WIRE_MAGIC && w.kind == IB_WIRE_REQ && w.to == F_RANK);
            FUZZ_CHECK(w.from > F_RANK && w.from < F_NRANKS && w.channel < F_NCH);
            FUZZ_CHECK(slot == w.channel * F_NRANKS + w.from && peers[slot] != NULL);
            FUZZ_CHECK(w.slot_size == 4096 && w.nslots == 8);
        } else {
            FUZZ_CHECK(memchr(why, '\0', sizeof(why)) && why[0]);
        }
        break;
    }
    case 1:   /* REP, as the connecting side (rank 1 to rank 0) reads it */
    case 2: { /* REJ */
        struct ib_conn *c = calloc(1, sizeof(*c));
        FUZZ_CHECK(c != NULL);
        c->base.peer = 0;
        c->base.channel = 1;
        snprintf(c->desc, sizeof(c->desc), "peer 0 (fuzz), channel 1");
        struct ib_wire req;
        memset(&req, 0, sizeof(req));
        memset(req.mac, 0x77, sizeof(req.mac));
        struct rdma_cm_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.param.conn.private_data = len ? msg : NULL;
        ev.param.conn.private_data_len = (uint8_t)(len > 255 ? 255 : len);
        haloResult_t r;
        if ((data[0] >> 1) % 3 == 1) {
            union ibv_gid gid;
            r = ib_check_rep(ib, c, &req, &ev, &gid);
            if (r == haloSuccess) {
                struct ib_wire_rep rep;
                memcpy(&rep, msg, sizeof(rep));
                FUZZ_CHECK(len >= sizeof(rep));
                FUZZ_CHECK(rep.w.magic == IB_WIRE_MAGIC && rep.w.kind == IB_WIRE_REP);
                FUZZ_CHECK(rep.w.from == 0 && rep.w.to == F_RANK && rep.w.channel == 1);
                FUZZ_CHECK(c->remote_addr == rep.w.addr && c->remote_rkey == rep.w.rkey);
                FUZZ_CHECK(memcmp(gid.raw, rep.gid, 16) == 0);
            }
        } else {
            r = ib_check_rej(c, &ev);
        }
        FUZZ_CHECK(r == haloSuccess || r == haloRemoteError);
        if (r != haloSuccess)
            FUZZ_CHECK(c->failed == r && halo_thread_last_error()[0]);
        free(c);
        break;
    }
    }
    free(ib);
}

/* ---- mode 1: the data path over fake verbs objects ---- */

#define F_WCQ 256
static struct ibv_wc wcq[F_WCQ];
static int wcq_n;

static void wcq_push(uint64_t wr_id, enum ibv_wc_opcode op, int with_imm, uint32_t imm)
{
    if (wcq_n == F_WCQ)
        return;
    struct ibv_wc *w = &wcq[wcq_n++];
    memset(w, 0, sizeof(*w));
    w->wr_id = wr_id;
    w->status = IBV_WC_SUCCESS;
    w->opcode = op;
    w->wc_flags = with_imm ? IBV_WC_WITH_IMM : 0;
    w->imm_data = htonl(imm);
}

static int fake_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
    int k = n < wcq_n ? n : wcq_n;
    memcpy(wc, wcq, (size_t)k * sizeof(*wc));
    memmove(wcq, wcq + k, (size_t)(wcq_n - k) * sizeof(*wc));
    wcq_n -= k;
    return k;
}

/* Every write this end posts completes at once (signalled ones on the CQ). */
static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
    for (; wr; wr = wr->next)
        if (wr->send_flags & IBV_SEND_SIGNALED)
            wcq_push(wr->wr_id, IBV_WC_RDMA_WRITE, 0, 0);
    return 0;
}

static int fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
    return 0;
}

static void fuzz_data_path(const uint8_t *data, size_t size)
{
    static struct ibv_context vctx;
    static struct ibv_cq cq;
    static struct ibv_qp qp;
    static struct ibv_mr mr = {.lkey = 0x11, .rkey = 0x22};
    static struct ib_dev dev = {.name = "fuzz0"};
    vctx.ops.poll_cq = fake_poll_cq;
    vctx.ops.post_send = fake_post_send;
    vctx.ops.post_recv = fake_post_recv;
    cq.context = &vctx;
    qp.context = &vctx;
    wcq_n = 0;

    struct ib_conn *c = calloc(1, sizeof(*c));
    FUZZ_CHECK(c != NULL);
    c->base.ops = &halo_ib_ops;
    c->base.slot_size = 16 + (size_t)data[1] * 4; /* 16..1036 */
    c->base.zc_max = IB_ZC_MAX;
    c->nslots = 1 + (data[0] >> 1) % 8;
    c->stride = (IB_HDR_BYTES + c->base.slot_size + 63) / 64 * 64;
    c->rx_bytes = c->tx_bytes = IB_REGION_BYTES(c->nslots, c->stride);
    c->rx = calloc(1, c->rx_bytes);
    c->tx = calloc(1, c->tx_bytes);
    FUZZ_CHECK(c->rx && c->tx);
    c->rx_mr = c->tx_mr = &mr;
    c->qp = &qp;
    c->cq = &cq;
    c->dev = &dev;
    c->established = 1;
    snprintf(c->desc, sizeof(c->desc), "peer 0 (fuzz), channel 0");

    size_t p = 2;
    haloResult_t failed = haloSuccess;
    while (p < size && failed == haloSuccess) {
        uint8_t op = data[p++];
        switch (op % 5) {
        case 0: { /* the peer writes n bytes at an offset of the receive region */
            if (p + 3 > size) {
                p = size;
                break;
            }
            size_t at = ((size_t)data[p] | (size_t)data[p + 1] << 8) % c->rx_bytes, n = data[p + 2];
            p += 3;
            if (n > size - p)
                n = size - p;
            if (n > c->rx_bytes - at)
                n = c->rx_bytes - at;
            memcpy(c->rx + at, data + p, n);
            p += n;
            break;
        }
        case 1: { /* one of the peer's writes completes with an immediate */
            uint32_t imm = 0;
            size_t n = size - p < 4 ? size - p : 4;
            memcpy(&imm, data + p, n);
            p += n;
            wcq_push(IB_WR_ID(IB_WR_RECV, 0), (op & 0x80) ? IBV_WC_RECV : IBV_WC_RECV_RDMA_WITH_IMM, 1, imm);
            break;
        }
        case 2: { /* the engine takes the oldest frame */
            const void *buf = NULL;
            size_t len = 0;
            struct halo_sig sig;
            haloResult_t r = c->base.ops->recv_peek(&c->base, &buf, &len, &sig);
            if (r != haloSuccess) {
                failed = r;
                break;
            }
            if (!buf)
                break;
            size_t slot = (size_t)(c->rx_tail % (uint64_t)c->nslots);
            FUZZ_CHECK((const uint8_t *)buf == c->rx + slot * c->stride + IB_HDR_BYTES);
            FUZZ_CHECK(len <= c->base.slot_size && IB_HDR_BYTES + len <= c->stride);
            FUZZ_CHECK(c->rx_tail < c->rx_arrived);
            r = c->base.ops->recv_release(&c->base);
            if (r != haloSuccess)
                failed = r;
            break;
        }
        case 3: { /* the sender side takes the oldest zero-copy grant */
            struct halo_sig sig;
            size_t len = 0;
            int ready = 0;
            haloResult_t r = c->base.ops->zc_send_grant(&c->base, &sig, &len, &ready);
            if (r != haloSuccess) {
                failed = r;
                break;
            }
            if (ready) {
                FUZZ_CHECK(len > 0 && len <= IB_ZC_MAX);
                FUZZ_CHECK(c->zc_tx_head < c->zc_grants_in);
                c->zc_tx_head++; /* as if the message went out */
            }
            break;
        }
        case 4: { /* a well-formed frame arrives: header in its slot, then its immediate */
            uint64_t k = c->rx_arrived + (uint64_t)wcq_n;
            struct ib_frame_hdr *h = (struct ib_frame_hdr *)(c->rx + (size_t)(k % (uint64_t)c->nslots) * c->stride);
            h->magic = IB_FRAME_MAGIC;
            h->kind = HALO_FRAME_DATA;
            h->seq = (uint32_t)k;
            h->len = p < size ? (uint32_t)data[p++] % (uint32_t)(c->base.slot_size + 1) : 0;
            wcq_push(IB_WR_ID(IB_WR_RECV, 0), IBV_WC_RECV_RDMA_WITH_IMM, 1,
                     IB_IMM(IB_IMM_DATA, ((k & 0x1fff) << 16) | (k % (uint64_t)c->nslots)));
            break;
        }
        }
        FUZZ_CHECK(c->rx_tail <= c->rx_arrived);
    }
    if (failed != haloSuccess) { /* sticky, with a sentence */
        const void *buf;
        size_t len;
        struct halo_sig sig;
        FUZZ_CHECK(c->failed == failed && halo_thread_last_error()[0]);
        FUZZ_CHECK(c->base.ops->recv_peek(&c->base, &buf, &len, &sig) == failed);
    }
    free(c->rx);
    free(c->tx);
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 65536)
        return 0;
    if (data[0] & 0x80)
        fuzz_data_path(data, size);
    else
        fuzz_handshake(data, size);
    return 0;
}
#endif
