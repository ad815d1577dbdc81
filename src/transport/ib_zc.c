/* SPDX-License-Identifier: MIT */
/*
 * ib_zc.c — zero-copy messages of the ib transport: the receiver grants a
 * registered destination, the sender RDMA-writes its own registered buffer
 * straight into it. No staging slot and no copy on either side.
 *
 * Message k in one direction (k counts from 0), receiver B, sender A:
 *   B  zc_recv_post: registers dst (or finds it registered) and writes grant k
 *      {addr, len, rkey, k, sig} into A's grant ring, entry k % IB_ZC_RING, by
 *      RDMA WRITE WITH IMM (imm = GRANT | k); at most IB_ZC_RING grants whose
 *      messages have not arrived, so an entry is free when it is rewritten
 *   A  receive completion GRANT -> zc_grants_in++; zc_send_grant shows the oldest
 *      unused grant; the engine compares its signature and length with its own
 *   A  zc_send_post: RDMA WRITEs of IB_ZC_PIECE bytes from src, the last one WITH
 *      IMM (imm = ZC | k) and signalled; its completion means the data is placed
 *      (RC) and src is free again -> zc_tx_done++
 *   B  receive completion ZC -> zc_rx_done++: message k is in dst
 * The engine sends a zero-length slot frame ahead of each message (its
 * signature says zero-copy), so a receiver that expected something else fails
 * with a mismatch instead of waiting for a grant nobody will use.
 *
 * Registrations: haloCommRegister'ed ranges (ib_mem_register, per device) are
 * found first; anything else is registered for the operation and dropped by
 * zc_end. Registrations are never cached across operations without the user's
 * say-so: memory freed and mapped again at the same address would keep the old,
 * pinned pages behind a cached registration and data would go to the wrong place.
 */
#define HALO_IB_INTERNAL
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "ib.h"
#include "log.h"

#ifdef HALO_IB_HEADERS

static struct ib_conn *ib_zc_conn(struct halo_conn *c)
{
    return (struct ib_conn *)c;
}

static haloResult_t ib_zcx_flush(struct ib_conn *c);

static void ib_regs_lock(struct ib_dev *d)
{
    int expect = 0;
    while (!atomic_compare_exchange_weak(&d->reg_lock, &expect, 1)) {
        expect = 0;
        sched_yield();
    }
}

static void ib_regs_unlock(struct ib_dev *d)
{
    atomic_store(&d->reg_lock, 0);
}

static int ib_reg_covers(const struct ib_reg *g, uintptr_t lo, uintptr_t hi, int writable)
{
    return g->mr && g->lo <= lo && hi <= g->hi && (g->writable || !writable);
}

/* The registration covering [lo, hi) on this connection's device, or NULL. */
static struct ibv_mr *ib_zc_find(struct ib_conn *c, uintptr_t lo, uintptr_t hi, int writable)
{
    for (int i = 0; i < c->ntmp; i++)
        if (ib_reg_covers(&c->tmp[i], lo, hi, writable))
            return c->tmp[i].mr;
    struct ibv_mr *mr = NULL;
    ib_regs_lock(c->dev);
    for (struct ib_reg *g = c->dev->regs; g && !mr; g = g->next)
        if (ib_reg_covers(g, lo, hi, writable))
            mr = g->mr;
    ib_regs_unlock(c->dev);
    return mr;
}

/* "unlimited", "64 KiB": the locked-memory limit that registrations count against. */
const char *ib_memlock_str(char *buf, size_t len)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
        snprintf(buf, len, "unknown");
    else if (rl.rlim_cur == RLIM_INFINITY)
        snprintf(buf, len, "unlimited");
    else
        snprintf(buf, len, "%llu KiB", (unsigned long long)rl.rlim_cur / 1024);
    return buf;
}

/* The sentence for a failed registration; the memlock limit is the usual cause. */
static haloResult_t ib_zc_reg_fail(struct ib_conn *c, size_t bytes, int err)
{
    char lim[48];
    return ib_conn_fail(c, haloSystemError,
                        "registering a %zu-byte user buffer for a zero-copy transfer on %s failed: %s (locked-memory "
                        "limit %s). Raise it (`ulimit -l unlimited`, memlock in limits.conf, --ulimit memlock=-1), "
                        "or set HALO_IB_ZCOPY_MIN=0 on every rank to copy through the registered slots instead",
                        bytes, c->dev->name, strerror(err), ib_memlock_str(lim, sizeof(lim)));
}

static int ib_access(int writable)
{
    return writable ? IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE : 0;
}

/* Page-aligned bounds of [buf, buf + len). */
static void ib_page_range(const void *buf, size_t len, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    *lo = (uintptr_t)buf & ~(page - 1);
    *hi = ((uintptr_t)buf + len + page - 1) & ~(page - 1);
}

haloResult_t ib_zc_register(struct halo_conn *hc, const void *buf, size_t len, int writable)
{
    struct ib_conn *c = ib_zc_conn(hc);
    if (c->failed != haloSuccess)
        return c->failed;
    uintptr_t lo, hi;
    ib_page_range(buf, len, &lo, &hi);
    if (len == 0 || ib_zc_find(c, lo, hi, writable))
        return haloSuccess;
    if (c->ntmp == IB_TMP_MRS)
        return ib_conn_fail(c, haloInternalError, "more than %d buffers registered for one operation", IB_TMP_MRS);
    struct ibv_mr *mr = ib_api()->reg_mr(c->dev->pd, (void *)lo, hi - lo, ib_access(writable));
    if (!mr)
        return ib_zc_reg_fail(c, hi - lo, errno);
    c->tmp[c->ntmp++] = (struct ib_reg){.lo = lo, .hi = hi, .writable = writable, .mr = mr};
    return haloSuccess;
}

static struct ibv_mr *ib_zc_mr(struct ib_conn *c, const void *buf, size_t len, int writable, haloResult_t *r)
{
    uintptr_t lo = (uintptr_t)buf, hi = lo + len;
    struct ibv_mr *mr = ib_zc_find(c, lo, hi, writable);
    if (mr) {
        *r = haloSuccess;
        return mr;
    }
    if ((*r = ib_zc_register(&c->base, buf, len, writable)) != haloSuccess)
        return NULL;
    return ib_zc_find(c, lo, hi, writable);
}

void ib_zc_end(struct halo_conn *hc)
{
    struct ib_conn *c = ib_zc_conn(hc);
    for (int i = 0; i < c->ntmp; i++)
        ib_api()->dereg_mr(c->tmp[i].mr);
    c->ntmp = 0;
}

haloResult_t ib_zc_on_recv(struct ib_conn *c, uint32_t imm)
{
    int kind = IB_IMM_KIND(imm);
    uint64_t *count = kind == IB_IMM_GRANT ? &c->zc_grants_in : kind == IB_IMM_ZC ? &c->zc_rx_done : NULL;
    if (!count || (imm & 0x1fffffffu) != (uint32_t)(*count & 0x1fffffffu))
        return ib_conn_fail(c, haloInternalError, "unexpected immediate 0x%08x (%s %llu expected): protocol error",
                            imm, kind == IB_IMM_GRANT ? "grant" : "zero-copy message",
                            (unsigned long long)(count ? *count : 0));
    (*count)++;
    return haloSuccess;
}

haloResult_t ib_zc_on_send(struct ib_conn *c, int kind, uint64_t wr_id)
{
    if (kind == IB_WR_ZC)
        c->zc_tx_done++;
    if (kind != IB_WR_ZCX)
        return haloSuccess;
    uint64_t k = wr_id & 0x00ffffffffffffffull;
    c->zcx_left[k % IB_ZC_RING]--;
    return ib_zcx_flush(c);
}

static struct ib_grant *ib_grant_at(uint8_t *region, const struct ib_conn *c, uint64_t k)
{
    return (struct ib_grant *)(region + IB_GRANTS_OFF(c)) + k % IB_ZC_RING;
}

haloResult_t ib_zc_recv_post(struct halo_conn *hc, void *dst, size_t len, const struct halo_sig *sig, int *posted)
{
    struct ib_conn *c = ib_zc_conn(hc);
    *posted = 0;
    if (c->failed != haloSuccess)
        return c->failed;
    if (len == 0 || len > IB_ZC_MAX)
        return ib_conn_fail(c, haloInternalError, "zero-copy receive of %zu bytes (1..%u)", len, IB_ZC_MAX);
    if (c->zc_grants_posted - c->zc_rx_done >= IB_ZC_RING) {
        int n;
        haloResult_t r = ib_poll(c, &n);
        if (r != haloSuccess || c->zc_grants_posted - c->zc_rx_done >= IB_ZC_RING)
            return r;
    }
    haloResult_t r;
    struct ibv_mr *mr = ib_zc_mr(c, dst, len, 1, &r);
    if (!mr)
        return r;
    uint64_t k = c->zc_grants_posted;
    struct ib_grant *g = ib_grant_at(c->tx, c, k);
    *g = (struct ib_grant){.addr = (uintptr_t)dst, .len = len, .rkey = mr->rkey, .seq = (uint32_t)k, .sig = *sig};
    struct ibv_sge sge = {.addr = (uintptr_t)g, .length = sizeof(*g), .lkey = c->tx_mr->lkey};
    struct ibv_send_wr wr = {
        .wr_id = IB_WR_ID(IB_WR_GRANT, k),
        .sg_list = &sge,
        .num_sge = 1,
        .opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
        .send_flags = IBV_SEND_SIGNALED | (c->max_inline >= sizeof(*g) ? IBV_SEND_INLINE : 0),
        .imm_data = htonl(IB_IMM(IB_IMM_GRANT, k)),
    };
    wr.wr.rdma.remote_addr = c->remote_addr + (uint64_t)((uint8_t *)g - c->tx);
    wr.wr.rdma.rkey = c->remote_rkey;
    struct ibv_send_wr *bad = NULL;
    int rc = ibv_post_send(c->qp, &wr, &bad);
    if (rc != 0)
        return ib_conn_fail(c, haloSystemError, "posting a zero-copy grant: %s", strerror(rc));
    c->zc_grants_posted++;
    *posted = 1;
    return haloSuccess;
}

haloResult_t ib_zc_send_grant(struct halo_conn *hc, struct halo_sig *sig, size_t *len, int *ready)
{
    struct ib_conn *c = ib_zc_conn(hc);
    *ready = 0;
    if (c->failed != haloSuccess)
        return c->failed;
    if (c->zc_grants_in == c->zc_tx_head) {
        int n;
        haloResult_t r = ib_poll(c, &n);
        if (r != haloSuccess || c->zc_grants_in == c->zc_tx_head)
            return r;
    }
    const struct ib_grant *g = ib_grant_at(c->rx, c, c->zc_tx_head);
    if (g->seq != (uint32_t)c->zc_tx_head || g->len == 0 || g->len > IB_ZC_MAX)
        return ib_conn_fail(c, haloInternalError, "corrupt zero-copy grant %llu (seq %u, %llu bytes)",
                            (unsigned long long)c->zc_tx_head, g->seq, (unsigned long long)g->len);
    *sig = g->sig;
    *len = (size_t)g->len;
    *ready = 1;
    return haloSuccess;
}

/* The immediate that completes message k: a zero-length write on the first QP,
 * after every piece of k on the other QPs completed (so it is placed last). */
static haloResult_t ib_zc_post_imm(struct ib_conn *c, uint64_t k, const struct ibv_sge *sge, int nsge)
{
    const struct ib_grant *g = ib_grant_at(c->rx, c, k);
    struct ibv_send_wr wr = {
        .wr_id = IB_WR_ID(IB_WR_ZC, k),
        .sg_list = (struct ibv_sge *)sge,
        .num_sge = nsge,
        .opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
        .send_flags = IBV_SEND_SIGNALED,
        .imm_data = htonl(IB_IMM(IB_IMM_ZC, k)),
    };
    wr.wr.rdma.remote_addr = g->addr + (nsge ? g->len - sge->length : g->len);
    wr.wr.rdma.rkey = g->rkey;
    struct ibv_send_wr *bad = NULL;
    int rc = ibv_post_send(c->qp, &wr, &bad);
    return rc == 0 ? haloSuccess
                   : ib_conn_fail(c, haloSystemError, "posting a zero-copy write: %s", strerror(rc));
}

/* Posts the immediates of the oldest messages whose pieces all completed. */
static haloResult_t ib_zcx_flush(struct ib_conn *c)
{
    haloResult_t r = haloSuccess;
    while (r == haloSuccess && c->zcx_imm_next < c->zc_tx_head && c->zcx_left[c->zcx_imm_next % IB_ZC_RING] == 0)
        r = ib_zc_post_imm(c, c->zcx_imm_next++, NULL, 0);
    return r;
}

haloResult_t ib_zc_send_post(struct halo_conn *hc, const void *src, size_t len)
{
    struct ib_conn *c = ib_zc_conn(hc);
    if (c->failed != haloSuccess)
        return c->failed;
    uint64_t k = c->zc_tx_head;
    const struct ib_grant *g = ib_grant_at(c->rx, c, k);
    if (c->zc_grants_in == k || g->len != len)
        return ib_conn_fail(c, haloInternalError, "zero-copy send of %zu bytes without a matching grant", len);
    haloResult_t r;
    struct ibv_mr *mr = ib_zc_mr(c, src, len, 0, &r);
    if (!mr)
        return r;
    /* Piece i goes on QP i % nqp; with one QP the last piece carries the immediate. */
    int nqp = 1 + c->nxqp, left = 0;
    for (size_t off = 0, i = 0; off < len; off += IB_ZC_PIECE, i++) {
        size_t piece = len - off < IB_ZC_PIECE ? len - off : IB_ZC_PIECE;
        struct ibv_sge sge = {.addr = (uintptr_t)src + off, .length = (uint32_t)piece, .lkey = mr->lkey};
        int q = (int)(i % (size_t)nqp);
        if (nqp == 1 && off + piece == len) {
            if ((r = ib_zc_post_imm(c, k, &sge, 1)) != haloSuccess)
                return r;
            break;
        }
        struct ibv_send_wr wr = {
            .wr_id = IB_WR_ID(q ? IB_WR_ZCX : IB_WR_ZC, k),
            .sg_list = &sge,
            .num_sge = 1,
            .opcode = IBV_WR_RDMA_WRITE,
            .send_flags = q ? IBV_SEND_SIGNALED : 0, /* the first QP's: the immediate's completion covers them */
        };
        wr.wr.rdma.remote_addr = g->addr + off;
        wr.wr.rdma.rkey = g->rkey;
        struct ibv_send_wr *bad = NULL;
        int rc = ibv_post_send(q ? c->xqp[q - 1] : c->qp, &wr, &bad);
        if (rc != 0)
            return ib_conn_fail(c, haloSystemError, "posting a zero-copy write of %zu bytes on QP %d: %s", piece,
                                q, strerror(rc));
        left += q != 0;
    }
    c->zcx_left[k % IB_ZC_RING] = (uint16_t)left;
    c->zc_tx_head++;
    if (nqp == 1)
        c->zcx_imm_next = c->zc_tx_head;
    return nqp == 1 ? haloSuccess : ib_zcx_flush(c);
}

haloResult_t ib_zc_done(struct halo_conn *hc, uint64_t *sent, uint64_t *received)
{
    struct ib_conn *c = ib_zc_conn(hc);
    int n;
    haloResult_t r = c->failed != haloSuccess ? c->failed : ib_poll(c, &n);
    *sent = c->zc_tx_done;
    *received = c->zc_rx_done;
    return r;
}

/* ---- extra QPs (HALO_IB_QPS_PER_PEER) ---- */

/* What the first QP was given (path, port, timers): the extra ones copy it. */
static int ib_xqp_model(struct ib_conn *c, struct ibv_qp_attr *a)
{
    struct ibv_qp_init_attr init;
    memset(a, 0, sizeof(*a));
    return ib_api()->query_qp(c->qp, a,
                              IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_TIMEOUT |
                                  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_MIN_RNR_TIMER,
                              &init);
}

haloResult_t ib_xqp_create(struct halo_conn *hc, int n, uint32_t *qpns)
{
    struct ib_conn *c = ib_zc_conn(hc);
    const struct ib_api *api = ib_api();
    struct ibv_qp_attr model;
    if (n < 0 || n > IB_MAX_QPS - 1)
        return ib_conn_fail(c, haloInternalError, "%d extra QPs (at most %d)", n, IB_MAX_QPS - 1);
    if (n > 0 && ib_xqp_model(c, &model) != 0)
        return ib_conn_fail(c, haloSystemError, "ibv_query_qp on the connection's QP: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        struct ibv_qp_init_attr ia = {
            .qp_context = c,
            .send_cq = c->cq,
            .recv_cq = c->cq,
            .qp_type = IBV_QPT_RC,
            .cap = {.max_send_wr = IB_ZC_RING * IB_ZC_PIECES + 4, .max_recv_wr = 1, .max_send_sge = 1,
                    .max_recv_sge = 1},
        };
        struct ibv_qp *qp = api->create_qp_verbs(c->dev->pd, &ia);
        if (!qp)
            return ib_conn_fail(c, haloSystemError,
                                "ibv_create_qp for extra QP %d of %d (HALO_IB_QPS_PER_PEER) on %s: %s", i + 2, n + 1,
                                c->dev->name, strerror(errno));
        c->xqp[c->nxqp++] = qp;
        struct ibv_qp_attr a = {.qp_state = IBV_QPS_INIT, .pkey_index = model.pkey_index, .port_num = model.port_num,
                                .qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE};
        int rc = api->modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
        if (rc != 0)
            return ib_conn_fail(c, haloSystemError, "extra QP %d to INIT: %s", i + 2, strerror(rc));
        qpns[i] = qp->qp_num;
    }
    return haloSuccess;
}

haloResult_t ib_xqp_connect(struct halo_conn *hc, const uint32_t *peer_qpns)
{
    struct ib_conn *c = ib_zc_conn(hc);
    const struct ib_api *api = ib_api();
    struct ibv_qp_attr model;
    if (c->nxqp > 0 && ib_xqp_model(c, &model) != 0)
        return ib_conn_fail(c, haloSystemError, "ibv_query_qp on the connection's QP: %s", strerror(errno));
    for (int i = 0; i < c->nxqp; i++) {
        struct ibv_qp_attr a = model;
        a.qp_state = IBV_QPS_RTR;
        a.dest_qp_num = peer_qpns[i];
        a.rq_psn = 0;
        a.max_dest_rd_atomic = 1;
        int rc = api->modify_qp(c->xqp[i], &a,
                                IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                                    IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
        if (rc == 0) {
            a = model;
            a.qp_state = IBV_QPS_RTS;
            a.sq_psn = 0;
            a.max_rd_atomic = 1;
            rc = api->modify_qp(c->xqp[i], &a,
                                IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
                                    IBV_QP_MAX_QP_RD_ATOMIC);
        }
        if (rc != 0)
            return ib_conn_fail(c, haloSystemError, "connecting extra QP %d to the peer's qp 0x%x: %s", i + 2,
                                peer_qpns[i], strerror(rc));
    }
    return haloSuccess;
}

void ib_xqp_destroy(struct ib_conn *c)
{
    for (int i = 0; i < c->nxqp; i++)
        ib_api()->destroy_qp_verbs(c->xqp[i]);
    c->nxqp = 0;
}

/* ---- registrations kept across operations ---- */

void ib_dev_regs_free(struct ib_dev *d)
{
    while (d->regs) {
        struct ib_reg *g = d->regs;
        d->regs = g->next;
        ib_api()->dereg_mr(g->mr);
        free(g);
    }
}

haloResult_t ib_mem_register(struct halo_ib *ib, void *buf, size_t len, uint64_t owner)
{
    uintptr_t lo, hi;
    ib_page_range(buf, len, &lo, &hi);
    for (struct ib_dev *d = ib_devs(ib); d; d = d->next) {
        struct ib_reg *g = calloc(1, sizeof(*g));
        struct ibv_mr *mr = g ? ib_api()->reg_mr(d->pd, (void *)lo, hi - lo, ib_access(1)) : NULL;
        if (!mr) {
            int err = g ? errno : ENOMEM;
            free(g);
            ib_mem_deregister(ib, owner);
            char lim[48];
            return halo_tp_error(ib_ctx(ib), haloSystemError,
                                 "rank %d: registering %zu bytes at %p on %s failed: %s (locked-memory limit %s; "
                                 "registered memory is pinned: raise it with `ulimit -l unlimited`)",
                                 halo_tp_rank(ib_ctx(ib)), len, buf, d->name, strerror(err),
                                 ib_memlock_str(lim, sizeof(lim)));
        }
        *g = (struct ib_reg){.lo = lo, .hi = hi, .writable = 1, .mr = mr, .owner = owner};
        ib_regs_lock(d);
        g->next = d->regs;
        d->regs = g;
        ib_regs_unlock(d);
    }
    return haloSuccess;
}

void ib_mem_deregister(struct halo_ib *ib, uint64_t owner)
{
    for (struct ib_dev *d = ib_devs(ib); d; d = d->next) {
        ib_regs_lock(d);
        for (struct ib_reg **p = &d->regs; *p;) {
            struct ib_reg *g = *p;
            if (g->owner != owner) {
                p = &g->next;
                continue;
            }
            *p = g->next;
            ib_api()->dereg_mr(g->mr);
            free(g);
        }
        ib_regs_unlock(d);
    }
}

#else /* !HALO_IB_HEADERS */

haloResult_t ib_xqp_create(struct halo_conn *c, int n, uint32_t *qpns)
{
    return haloInternalError;
}

haloResult_t ib_xqp_connect(struct halo_conn *c, const uint32_t *peer_qpns)
{
    return haloInternalError;
}

haloResult_t ib_mem_register(struct halo_ib *ib, void *buf, size_t len, uint64_t owner)
{
    return haloSuccess;
}

void ib_mem_deregister(struct halo_ib *ib, uint64_t owner)
{
}

#endif
