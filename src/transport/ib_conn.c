/* SPDX-License-Identifier: MIT */
/*
 * ib_conn.c — the ib transport's data path: one RC QP per peer and channel
 * (setup in ib_listen.c, ib_qp.c, ib_handshake.c).
 *
 * Memory of one connection, both registered, page-aligned:
 *   rx: [slot 0] ... [slot n-1] [credit word]   remote-writable; the peer writes
 *       frames into the slots and, into the credit word, how many of OUR frames it
 *       has released
 *   tx: [slot 0] ... [slot n-1] [credit src]    local staging for our frames, and
 *       the source of our credit writes when inline data is unavailable
 * A slot is a 64-byte header (struct ib_frame_hdr) then slot_size payload bytes.
 *
 * Message sequence, frame k from A to B (k counts from 0 per direction):
 *   A  send_slot: k - credit < n (B released frame k-n) and the local write of
 *      frame k-n completed -> staging slot k % n
 *   A  send_post: RDMA WRITE WITH IMM header+payload -> B.rx slot k % n,
 *      imm = DATA | (k & 0x1fff) << 16 | slot; inline when it fits max_inline
 *   B  recv CQ: completion with imm (consumes a posted zero-SGE receive, reposted
 *      at once) -> frame k has fully arrived; recv_peek shows it in place
 *   B  recv_release: RDMA WRITE of the released count -> A.rx credit word (one
 *      in flight; a newer count follows when it completes). A plain write, no
 *      immediate: it consumes no receive at A, so however many credits B sends
 *      while A does not poll, A's receive queue cannot run dry (every kind of
 *      write that does consume one is bounded: frames by the slots, grants and
 *      zero-copy messages by the grant ring) and no write ever waits for A
 *      (receiver-not-ready). A waiting for a slot reads the word; asleep, it
 *      looks again after at most IB_WAIT_MS.
 * RC delivers writes in order and the completion of a WRITE WITH IMM comes after
 * its data is placed, so no flag in the slot is needed.
 *
 * Close (A is done with the connection, B may still be in the operation):
 *   A  waits until its own writes completed and B's credit word at A reaches
 *      tx_head (B released every frame A sent), then disconnects. B's last
 *      credit writes must find A's QP alive: a write to a destroyed QP is never
 *      acknowledged, B's in-flight credit never completes, and B's flush, which
 *      posts a newer count only after the previous one completed, stays pending
 *      (rxe retries forever with retry_count 7; hardware fails after 7 retries).
 *
 * Waiting: progress polls the CQ; after IB_IDLE_US without a completion it arms
 * the CQ and sleeps on its completion channel for at most IB_WAIT_MS, so an idle
 * rank gives its CPU away (with Soft-RoCE, to the kernel threads that move the
 * bytes it waits for) and a busy one never makes a system call.
 *
 * Faults: a completion with an error status, a port or device async event, an
 * rdma_cm DISCONNECTED / DEVICE_REMOVAL, or a bad header fail the connection for
 * good (sticky), with a sentence naming device, port, peer and what to check.
 */
#define HALO_IB_INTERNAL
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "crc32c.h"
#include "hot.h"
#include "ib.h"
#include "log.h"

#ifdef HALO_IB_HEADERS

#define IB_POLL_BATCH 16
/* Health checks (async events, cm events, port state) run at most this often. */
#define IB_CHECK_US 100000
/* Consecutive empty polls (tens of microseconds) before idle handling starts. */
#define IB_IDLE_POLLS 1024
/* Idle this long: wait for completion events instead of spinning. */
#define IB_IDLE_US 1000
#define IB_WAIT_MS 1
/* How long close waits at most for posted frames to complete and for the peer to
 * release them (less when the communicator's timeout is shorter). Long enough for
 * a full ring under emulation; a dead peer ends it sooner with a retry-exceeded
 * completion or rdma_cm DISCONNECTED. */
#define IB_DRAIN_US 10000000

static struct ib_conn *ib_conn_of(struct halo_conn *c)
{
    return (struct ib_conn *)c;
}

haloResult_t ib_conn_fail(struct ib_conn *c, haloResult_t res, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (c->failed != haloSuccess)
        return c->failed;
    c->failed = res;
    return halo_tp_error(c->base.ctx, res, "rank %d: ib connection to %s failed: %s", halo_tp_rank(c->base.ctx),
                         c->desc, what);
}

static volatile uint64_t *ib_credit_word(struct ib_conn *c)
{
    return (volatile uint64_t *)(c->rx + (size_t)c->nslots * c->stride);
}

haloResult_t ib_conn_post_recvs(struct ib_conn *c, int n)
{
    for (int i = 0; i < n; i++) {
        struct ibv_recv_wr wr = {.wr_id = IB_WR_ID(IB_WR_RECV, 0), .sg_list = NULL, .num_sge = 0};
        struct ibv_recv_wr *bad = NULL;
        int rc = ibv_post_recv(c->qp, &wr, &bad);
        if (rc != 0)
            return ib_conn_fail(c, haloSystemError, "ibv_post_recv: %s (the QP is in error: see the peer's log)",
                                strerror(rc));
    }
    return haloSuccess;
}

static void ib_drain_async(struct ib_conn *c);

/* A failed completion often has a plainer cause: the port went down. Says so
 * (and fails the connection) when the port is not ACTIVE now. */
static int ib_port_down_fail(struct ib_conn *c, const char *op, enum ibv_wc_status st, haloResult_t *res)
{
    const struct ib_api *api = ib_api();
    struct ibv_port_attr pa;
    /* The completion may beat the port's state change by a moment: look twice. */
    for (int i = 0;; i++) {
        ib_drain_async(c);
        memset(&pa, 0, sizeof(pa));
        if (api->query_port(c->dev->ctx, c->id->port_num, &pa) != 0)
            return 0;
        if (pa.state != IBV_PORT_ACTIVE || (atomic_load(&c->dev->port_down) & (1u << (c->id->port_num & 31))))
            break;
        if (i == 2 || st == IBV_WC_WR_FLUSH_ERR)
            return 0;
        usleep(50000);
    }
    *res = ib_conn_fail(c, haloSystemError,
                        "port %u of %s is %s (%s completed with %s): the link went down; check the cable, the "
                        "peer's NIC and `rdma link` / `ip link` on both hosts",
                        c->id->port_num, c->dev->name, api->port_state_str(pa.state), op, api->wc_status_str(st));
    return 1;
}

/* Sentence for a failed work completion: what it means and what to check. */
static haloResult_t ib_wc_fail(struct ib_conn *c, const struct ibv_wc *wc)
{
    const struct ib_api *api = ib_api();
    int kind = IB_WR_KIND(wc->wr_id);
    const char *op = kind == IB_WR_DATA     ? "data write"
                     : kind == IB_WR_CREDIT ? "credit write"
                     : kind == IB_WR_GRANT  ? "zero-copy grant write"
                     : kind == IB_WR_ZC || kind == IB_WR_ZCX ? "zero-copy data write"
                                            : "receive";
    const char *hint;
    haloResult_t down;
    if (ib_port_down_fail(c, op, wc->status, &down))
        return down;
    haloResult_t res = haloRemoteError;
    switch (wc->status) {
    case IBV_WC_RETRY_EXC_ERR:
        hint = "the peer did not acknowledge (transport retries exhausted): is it alive, is the link up, do "
               "both ends use RoCE v2 on the same subnet (ib_write_bw -R between the two hosts)?";
        break;
    case IBV_WC_RNR_RETRY_EXC_ERR:
        hint = "the peer had no receive posted (receiver not ready): did it exit or fall behind?";
        break;
    case IBV_WC_REM_ACCESS_ERR:
    case IBV_WC_REM_INV_REQ_ERR:
    case IBV_WC_REM_OP_ERR:
        hint = "the peer refused the write (its buffer was deregistered or its QP failed): see the peer's log";
        break;
    case IBV_WC_WR_FLUSH_ERR:
        hint = "the QP had already failed (an earlier error, a disconnect or a port going down flushed it)";
        break;
    default:
        hint = "a local verbs error: check dmesg on this host and the device with `rdma link`";
        res = haloSystemError;
        break;
    }
    return ib_conn_fail(c, res, "%s completed with %s (status %d, vendor error 0x%x): %s", op,
                        api->wc_status_str(wc->status), (int)wc->status, wc->vendor_err, hint);
}

static haloResult_t ib_post_credit(struct ib_conn *c)
{
    uint64_t *src = (uint64_t *)(c->tx + (size_t)c->nslots * c->stride);
    *src = c->rx_tail;
    struct ibv_sge sge = {.addr = (uintptr_t)src, .length = sizeof(*src), .lkey = c->tx_mr->lkey};
    struct ibv_send_wr wr = {
        .wr_id = IB_WR_ID(IB_WR_CREDIT, c->rx_tail),
        .sg_list = &sge,
        .num_sge = 1,
        .opcode = IBV_WR_RDMA_WRITE,
        .send_flags = IBV_SEND_SIGNALED | (c->max_inline >= sizeof(*src) ? IBV_SEND_INLINE : 0),
    };
    wr.wr.rdma.remote_addr = c->remote_addr + (uint64_t)c->nslots * c->stride;
    wr.wr.rdma.rkey = c->remote_rkey;
    struct ibv_send_wr *bad = NULL;
    int rc = ibv_post_send(c->qp, &wr, &bad);
    if (rc != 0)
        return ib_conn_fail(c, haloSystemError, "posting a credit write: %s", strerror(rc));
    c->credit_sent = c->rx_tail;
    c->credit_inflight = 1;
    return haloSuccess;
}

static haloResult_t ib_on_recv(struct ib_conn *c, const struct ibv_wc *wc)
{
    if (wc->opcode != IBV_WC_RECV_RDMA_WITH_IMM || !(wc->wc_flags & IBV_WC_WITH_IMM))
        return ib_conn_fail(c, haloInternalError, "unexpected receive completion (opcode %d): protocol error",
                            (int)wc->opcode);
    uint32_t imm = ntohl(wc->imm_data);
    if (IB_IMM_KIND(imm) != IB_IMM_DATA) {
        haloResult_t r = ib_zc_on_recv(c, imm);
        return r == haloSuccess ? ib_conn_post_recvs(c, 1) : r;
    }
    uint64_t k = c->rx_arrived;
    if ((imm >> 16) != (k & 0x1fff) || (imm & 0xffff) != k % (uint64_t)c->nslots)
        return ib_conn_fail(c, haloInternalError,
                            "frame out of order: immediate 0x%08x, expected frame %llu in slot %llu", imm,
                            (unsigned long long)k, (unsigned long long)(k % (uint64_t)c->nslots));
    c->rx_arrived++;
    return ib_conn_post_recvs(c, 1);
}

static haloResult_t ib_on_send(struct ib_conn *c, const struct ibv_wc *wc)
{
    int kind = IB_WR_KIND(wc->wr_id);
    if (kind == IB_WR_DATA) {
        c->tx_done++;
        return haloSuccess;
    }
    if (kind != IB_WR_CREDIT)
        return ib_zc_on_send(c, kind, wc->wr_id);
    c->credit_inflight = 0;
    if (c->credit_sent != c->rx_tail)
        return ib_post_credit(c);
    return haloSuccess;
}

/* Drains the CQ. Returns the number of completions through *n. */
haloResult_t ib_poll(struct ib_conn *c, int *n)
{
    struct ibv_wc wc[IB_POLL_BATCH];
    *n = 0;
    for (;;) {
        int got = ibv_poll_cq(c->cq, IB_POLL_BATCH, wc);
        if (got < 0)
            return ib_conn_fail(c, haloSystemError, "ibv_poll_cq failed (%d): the CQ overran or the device failed",
                                got);
        for (int i = 0; i < got; i++) {
            if (wc[i].status != IBV_WC_SUCCESS)
                return ib_wc_fail(c, &wc[i]);
            haloResult_t r = IB_WR_KIND(wc[i].wr_id) == IB_WR_RECV ? ib_on_recv(c, &wc[i]) : ib_on_send(c, &wc[i]);
            if (r != haloSuccess)
                return r;
        }
        *n += got;
        if (got > 0) {
            c->idle_polls = 0;
            c->idle_since_us = 0;
        }
        if (got < IB_POLL_BATCH)
            return haloSuccess;
    }
}

/* Async events of the device (shared by the process's users of the device, so
 * only port- and device-wide events are acted on; a failed QP shows up as flushed
 * completions on its own CQ). Non-blocking: the fd was set O_NONBLOCK at setup. */
static void ib_drain_async(struct ib_conn *c)
{
    const struct ib_api *api = ib_api();
    struct ibv_async_event ev;
    while (api->get_async_event(c->dev->ctx, &ev) == 0) {
        switch (ev.event_type) {
        case IBV_EVENT_PORT_ERR:
            atomic_fetch_or(&c->dev->port_down, 1u << (ev.element.port_num & 31));
            break;
        case IBV_EVENT_PORT_ACTIVE:
            atomic_fetch_and(&c->dev->port_down, ~(1u << (ev.element.port_num & 31)));
            break;
        case IBV_EVENT_DEVICE_FATAL:
            atomic_store(&c->dev->fatal, 1);
            break;
        default:
            break;
        }
        HLOG_INFO(HALO_SUB_NET, halo_tp_rank(c->base.ctx), "ib: async event on %s: %s",
                  c->dev->name, api->event_type_str(ev.event_type));
        api->ack_async_event(&ev);
    }
}

static haloResult_t ib_check_cm(struct ib_conn *c)
{
    const struct ib_api *api = ib_api();
    struct rdma_cm_event *ev;
    while (c->cm_ch && api->get_cm_event(c->cm_ch, &ev) == 0) {
        enum rdma_cm_event_type t = ev->event;
        api->ack_cm_event(ev);
        if (t == RDMA_CM_EVENT_DISCONNECTED)
            return ib_conn_fail(c, haloRemoteError,
                                "the peer disconnected (rdma_cm DISCONNECTED): it exited, aborted or lost its "
                                "link; see its log");
        if (t == RDMA_CM_EVENT_DEVICE_REMOVAL)
            return ib_conn_fail(c, haloSystemError,
                                "the RDMA device was removed (rdma_cm DEVICE_REMOVAL): `rdma link delete`, a "
                                "driver reload or a hot unplug; check `rdma link` and dmesg");
        HLOG_INFO(HALO_SUB_NET, halo_tp_rank(c->base.ctx), "ib: %s: cm event %s", c->desc,
                  api->event_str(t));
    }
    return haloSuccess;
}

/* The device's and the port's state (async events, shared by every connection on
 * the device). */
static haloResult_t ib_check_port(struct ib_conn *c)
{
    ib_drain_async(c);
    if (atomic_load(&c->dev->fatal))
        return ib_conn_fail(c, haloSystemError,
                            "device %s reported a fatal error (IBV_EVENT_DEVICE_FATAL): check dmesg; the "
                            "device needs a reset", c->dev->name);
    if (atomic_load(&c->dev->port_down) & (1u << (c->id->port_num & 31)))
        return ib_conn_fail(c, haloSystemError,
                            "port %u of %s went down (IBV_EVENT_PORT_ERR): check the cable, the switch port and "
                            "`rdma link`", c->id->port_num, c->dev->name);
    return haloSuccess;
}

static haloResult_t ib_check_health(struct ib_conn *c)
{
    haloResult_t r = ib_check_port(c);
    return r != haloSuccess ? r : ib_check_cm(c);
}

/* Sleeps until the CQ has a completion or IB_WAIT_MS passed. Arming comes first,
 * then one more poll: a completion that came before the arm raises no event. */
static haloResult_t ib_wait_event(struct ib_conn *c)
{
    const struct ib_api *api = ib_api();
    int n;
    if (!c->cq_armed) {
        if (ibv_req_notify_cq(c->cq, 0) != 0)
            return ib_conn_fail(c, haloSystemError, "ibv_req_notify_cq failed: the device may have failed");
        c->cq_armed = 1;
        haloResult_t r = ib_poll(c, &n);
        if (r != haloSuccess || n > 0)
            return r;
    }
    struct pollfd pfd = {.fd = c->cq_ch->fd, .events = POLLIN};
    if (poll(&pfd, 1, IB_WAIT_MS) > 0) {
        struct ibv_cq *cq;
        void *ctx;
        if (api->get_cq_event(c->cq_ch, &cq, &ctx) == 0) {
            api->ack_cq_events(cq, 1);
            c->cq_armed = 0;
        }
    }
    return ib_poll(c, &n);
}

static HALO_HOT haloResult_t ib_progress(struct halo_conn *hc)
{
    struct ib_conn *c = ib_conn_of(hc);
    if (c->failed != haloSuccess)
        return c->failed;
    int n;
    haloResult_t r = ib_poll(c, &n);
    if (r != haloSuccess || n > 0)
        return r;
    /* Idle: spin a while (lowest latency), then look at events now and then (they
     * cost system calls), then sleep on completion events. */
    if (++c->idle_polls < IB_IDLE_POLLS)
        return haloSuccess;
    int64_t now = halo_now_us();
    if (c->idle_since_us == 0)
        c->idle_since_us = now;
    if (now >= c->next_check_us) {
        c->next_check_us = now + IB_CHECK_US;
        if ((r = ib_check_health(c)) != haloSuccess)
            return r;
    }
    if (now - c->idle_since_us >= IB_IDLE_US)
        return ib_wait_event(c);
    return haloSuccess;
}

static HALO_HOT haloResult_t ib_send_slot(struct halo_conn *hc, void **buf, size_t *cap)
{
    struct ib_conn *c = ib_conn_of(hc);
    *buf = NULL;
    if (c->failed != haloSuccess)
        return c->failed;
    uint64_t k = c->tx_head;
    uint64_t n = (uint64_t)c->nslots;
    uint64_t credit = __atomic_load_n(ib_credit_word(c), __ATOMIC_ACQUIRE);
    if (k - credit >= n || k - c->tx_done >= n) {
        int polled;
        haloResult_t r = ib_poll(c, &polled);
        if (r != haloSuccess)
            return r;
        credit = __atomic_load_n(ib_credit_word(c), __ATOMIC_ACQUIRE);
        if (k - credit >= n || k - c->tx_done >= n)
            return haloSuccess;
    }
    c->tx_slot_out = 1;
    *buf = c->tx + (size_t)(k % n) * c->stride + IB_HDR_BYTES;
    *cap = c->base.slot_size;
    return haloSuccess;
}

/* HALO_CHECKSUM: CRC32C of the header (reserved zero) and the payload after it. */
static uint32_t ib_frame_crc(const struct ib_frame_hdr *h, const uint8_t *payload)
{
    struct ib_frame_hdr z = *h;
    z.reserved[0] = 0;
    return halo_crc32c(halo_crc32c(0, &z, sizeof(z)), payload, h->len);
}

static HALO_HOT haloResult_t ib_send_post(struct halo_conn *hc, size_t len, const struct halo_sig *sig)
{
    struct ib_conn *c = ib_conn_of(hc);
    if (c->failed != haloSuccess)
        return c->failed;
    if (!c->tx_slot_out || len > c->base.slot_size)
        return ib_conn_fail(c, haloInternalError, "send_post of %zu bytes without a slot (capacity %zu)", len,
                            c->base.slot_size);
    uint64_t k = c->tx_head;
    uint32_t slot = (uint32_t)(k % (uint64_t)c->nslots);
    uint8_t *p = c->tx + (size_t)slot * c->stride;
    struct ib_frame_hdr *h = (struct ib_frame_hdr *)p;
    h->magic = IB_FRAME_MAGIC;
    h->kind = HALO_FRAME_DATA;
    h->seq = (uint32_t)k;
    h->len = (uint32_t)len;
    h->sig = *sig;
    h->reserved[0] = h->reserved[1] = 0;
    if (c->base.ctx && c->base.ctx->checksum)
        h->reserved[0] = ib_frame_crc(h, p + IB_HDR_BYTES);

    uint32_t bytes = (uint32_t)(IB_HDR_BYTES + len);
    struct ibv_sge sge = {.addr = (uintptr_t)p, .length = bytes, .lkey = c->tx_mr->lkey};
    struct ibv_send_wr wr = {
        .wr_id = IB_WR_ID(IB_WR_DATA, k),
        .sg_list = &sge,
        .num_sge = 1,
        .opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
        .send_flags = IBV_SEND_SIGNALED | (bytes <= c->max_inline ? IBV_SEND_INLINE : 0),
        .imm_data = htonl(IB_IMM(IB_IMM_DATA, ((k & 0x1fff) << 16) | slot)),
    };
    wr.wr.rdma.remote_addr = c->remote_addr + (uint64_t)slot * c->stride;
    wr.wr.rdma.rkey = c->remote_rkey;
    struct ibv_send_wr *bad = NULL;
    int rc = ibv_post_send(c->qp, &wr, &bad);
    if (rc != 0)
        return ib_conn_fail(c, haloSystemError, "ibv_post_send of %u bytes: %s", bytes, strerror(rc));
    c->tx_head++;
    c->tx_slot_out = 0;
    return haloSuccess;
}

static HALO_HOT haloResult_t ib_recv_peek(struct halo_conn *hc, const void **buf, size_t *len, struct halo_sig *sig)
{
    struct ib_conn *c = ib_conn_of(hc);
    *buf = NULL;
    if (c->failed != haloSuccess)
        return c->failed;
    if (c->rx_tail == c->rx_arrived) {
        int polled;
        haloResult_t r = ib_poll(c, &polled);
        if (r != haloSuccess)
            return r;
        if (c->rx_tail == c->rx_arrived)
            return haloSuccess;
    }
    uint64_t k = c->rx_tail;
    const uint8_t *p = c->rx + (size_t)(k % (uint64_t)c->nslots) * c->stride;
    const struct ib_frame_hdr *h = (const struct ib_frame_hdr *)p;
    if (h->magic != IB_FRAME_MAGIC || h->seq != (uint32_t)k || h->len > c->base.slot_size)
        return ib_conn_fail(c, haloInternalError,
                            "corrupt frame %llu (magic 0x%08x, seq %u, len %u): protocol or memory error",
                            (unsigned long long)k, h->magic, h->seq, h->len);
    if (h->kind == HALO_FRAME_ABORT) {
        int n = (int)(h->len < 400 ? h->len : 400);
        return ib_conn_fail(c, haloRemoteError, "the peer aborted: %.*s", n, (const char *)(p + IB_HDR_BYTES));
    }
    if (h->kind != HALO_FRAME_DATA)
        return ib_conn_fail(c, haloInternalError, "frame %llu of unknown kind %u", (unsigned long long)k, h->kind);
    if (c->base.ctx && c->base.ctx->checksum && c->rx_checked <= k) {
        uint32_t got = ib_frame_crc(h, p + IB_HDR_BYTES);
        if (got != (uint32_t)h->reserved[0])
            return ib_conn_fail(c, haloSystemError,
                                "frame %llu (%u bytes) failed its checksum (CRC32C 0x%08x, computed 0x%08x): the "
                                "bytes changed on the way; check or replace that cable or NIC (HALO_CHECKSUM=1)",
                                (unsigned long long)k, h->len, (uint32_t)h->reserved[0], got);
        c->rx_checked = k + 1;
    }
    *buf = p + IB_HDR_BYTES;
    *len = h->len;
    *sig = h->sig;
    return haloSuccess;
}

static HALO_HOT haloResult_t ib_recv_release(struct halo_conn *hc)
{
    struct ib_conn *c = ib_conn_of(hc);
    if (c->failed != haloSuccess)
        return c->failed;
    if (c->rx_tail == c->rx_arrived)
        return ib_conn_fail(c, haloInternalError, "recv_release without a received frame");
    c->rx_tail++;
    if (!c->credit_inflight)
        return ib_post_credit(c);
    return haloSuccess;
}

/* Frames already posted need nothing more from this rank: the NIC (or rxe's
 * kernel side) moves them and RC delivers them. What can be held back is a credit
 * update: recv_release keeps one credit write in flight, and the newer count goes
 * out only when this connection's CQ is polled. A rank waiting on another
 * connection must still send it, or a ring whose ranks all wait to send right
 * can stall on credits their right neighbours owe them. Pending while owed. */
static HALO_HOT haloResult_t ib_flush(struct halo_conn *hc, int *pending)
{
    struct ib_conn *c = ib_conn_of(hc);
    *pending = 0;
    if (c->failed != haloSuccess)
        return c->failed;
    /* Every wait flushes every connection of its channel, also those nobody polls
     * (a rank waiting on another peer, or between transfers, its credits or
     * writes to this one in flight): now and then, look at the port, so a cable
     * pulled at this end fails the connection at once, naming it, instead of
     * leaving the rank to a timeout. Not the rdma_cm events: a peer that finished
     * and disconnected is no fault of a rank still busy with others. */
    if (++c->flush_polls >= IB_IDLE_POLLS) {
        int64_t now = halo_now_us();
        c->flush_polls = 0;
        if (now >= c->next_check_us) {
            c->next_check_us = now + IB_CHECK_US;
            haloResult_t r = ib_check_port(c);
            if (r != haloSuccess)
                return r;
        }
    }
    if (c->credit_sent == c->rx_tail)
        return haloSuccess;
    int n;
    haloResult_t r = ib_poll(c, &n); /* a completed credit write posts the newer count */
    if (r == haloSuccess && !c->credit_inflight && c->credit_sent != c->rx_tail)
        r = ib_post_credit(c);
    *pending = r == haloSuccess && c->credit_sent != c->rx_tail;
    return r;
}

static void ib_dereg(struct ibv_mr *mr)
{
    if (mr)
        ib_api()->dereg_mr(mr);
}

/* 1 while the peer has not released (and credited) every frame this end sent. */
static int ib_peer_holds_frames(struct ib_conn *c)
{
    return __atomic_load_n(ib_credit_word(c), __ATOMIC_ACQUIRE) != c->tx_head;
}

/* Gives frames already posted a moment to leave before the QP goes: a frame that
 * was posted is one the peer may be waiting for. Then waits for the peer's last
 * credit: a rank that finished an operation first must not take its QP away
 * while a slower peer still releases that operation's frames, or the peer's
 * credit write to it never completes and the peer's flush hangs (see the top of
 * this file). A healthy peer releases every frame of an operation it finishes;
 * a failed communicator skips the wait. Bounded, never blocks long. */
static void ib_conn_drain(struct ib_conn *c)
{
    int64_t bound = IB_DRAIN_US;
    if (c->base.ctx && c->base.ctx->timeout_us > 0 && c->base.ctx->timeout_us < bound)
        bound = c->base.ctx->timeout_us;
    int64_t now = halo_now_us(), until = now + bound, check = now + IB_CHECK_US;
    if (c->base.ctx && c->base.ctx->failed && atomic_load(c->base.ctx->failed))
        return; /* the communicator failed: nobody waits for these frames */
    while (c->failed == haloSuccess &&
           (c->tx_done != c->tx_head || c->credit_inflight || c->zc_tx_done != c->zc_tx_head ||
            ib_peer_holds_frames(c)) &&
           halo_now_us() < until) {
        int n;
        if (ib_poll(c, &n) != haloSuccess)
            break;
        if (n == 0)
            sched_yield(); /* the NIC may be software (rxe) on this very CPU */
        if (n == 0 && (now = halo_now_us()) >= check) { /* a dead peer or link ends it early */
            check = now + IB_CHECK_US;
            if (ib_check_health(c) != haloSuccess)
                break;
        }
    }
}

/* Reverse order of ib_qp.c's creation: QP, id, channel, CQ, MRs, memory.
 * Accepts a half-built connection. */
void ib_conn_destroy(struct ib_conn *c)
{
    if (!c)
        return;
    const struct ib_api *api = ib_api();
    if (api) {
        if (c->established && c->cq)
            ib_conn_drain(c);
        if (c->id && c->established)
            api->disconnect(c->id);
        ib_zc_end(&c->base);
        ib_xqp_destroy(c);
        if (c->id && c->qp)
            api->destroy_qp(c->id);
        if (c->id)
            api->destroy_id(c->id);
        if (c->cm_ch)
            api->destroy_event_channel(c->cm_ch);
        if (c->cq)
            api->destroy_cq(c->cq);
        if (c->cq_ch)
            api->destroy_comp_channel(c->cq_ch);
        ib_dereg(c->tx_mr);
        ib_dereg(c->rx_mr);
    }
    free(c->tx);
    free(c->rx);
    free(c);
}

static void ib_close(struct halo_conn *hc)
{
    ib_conn_destroy(ib_conn_of(hc));
}

const struct halo_transport_ops halo_ib_ops = {
    .name = "ib",
    .send_slot = ib_send_slot,
    .send_post = ib_send_post,
    .recv_peek = ib_recv_peek,
    .recv_release = ib_recv_release,
    .progress = ib_progress,
    .flush = ib_flush,
    .close = ib_close,
    .zc_register = ib_zc_register,
    .zc_recv_post = ib_zc_recv_post,
    .zc_send_grant = ib_zc_send_grant,
    .zc_send_post = ib_zc_send_post,
    .zc_done = ib_zc_done,
    .zc_end = ib_zc_end,
};

#endif
