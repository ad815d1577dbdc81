/* SPDX-License-Identifier: MIT */
/*
 * ib_select.c — the ib transport's row of the setup table: whether this rank
 * listens over ib, which peers ib carries, connecting them and their extra QPs
 * (the listener, handshake and QPs themselves are in ib_listen.c, ib_handshake.c
 * and ib_qp.c; the data path in ib_conn.c).
 *
 * Sequence, on every rank:
 *   listen       before the peer-info all-gather. HALO_TRANSPORT=ib: an rdma_cm
 *                listener on the wildcard address must start, or init fails with
 *                the reason. auto: tried when some RDMA port is ACTIVE; a failure
 *                is logged (WARN) but not recorded as the job's error, and the
 *                blob's active stays 0. shm, tcp: never started.
 *   can_connect  before the topology (no link): ib when both ends listen over ib
 *                and ib was asked for (peers of this host too: one RDMA device
 *                carries them) or, in auto, the peer is on another host.
 *                With the topology's link (auto, remote peers): ib only where both
 *                ends of the link have an ACTIVE RDMA port; tcp otherwise, with a
 *                WARN naming the link and the reason when either end has an RDMA
 *                device, or when neither has but both ranks use ib elsewhere ("no
 *                silent fallback"). HALO_TRANSPORT=ib: a link end without an RDMA
 *                device (or with one that cannot carry ib) fails init, naming it.
 *   connect_all  after tcp: every ib peer on every channel, at the link's address.
 *   connected    HALO_IB_QPS_PER_PEER > 1: extra QPs, their numbers all-gathered.
 * The listener binds the wildcard because the data links are only known after the
 * topology; it publishes the data address (the bootstrap interface's IP, like
 * tcp) for peers reached without a topology link (ranks of one host).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ib.h"
#include "log.h"

static struct halo_ib *ib_state(const struct halo_tp_ctx *ctx)
{
    return ctx->state[HALO_TR_IB];
}

static int ib_asked(const struct halo_tp_ctx *ctx)
{
    const struct halo_tp_setup *forced = halo_tp_forced(ctx);
    return forced && forced->kind == HALO_TR_IB;
}

/* HALO_NET's words: auto|tcp|ib. */
enum { IB_NET_AUTO, IB_NET_TCP, IB_NET_IB };

/* Under HALO_TRANSPORT=auto, unless HALO_NET=tcp or HALO_IB_DISABLE=1 (NCCL_NET=Socket,
 * NCCL_IB_DISABLE=1) keep ib out. */
static int ib_auto(const struct halo_tp_ctx *ctx)
{
    return halo_tp_forced(ctx) == NULL && HALO_P_INT(ctx->params, net) != IB_NET_TCP &&
           !HALO_P_INT(ctx->params, ib_disable);
}

/* HALO_NET=ib (NCCL_NET=IB): ib may not silently fall back to tcp. */
static int ib_required(const struct halo_tp_ctx *ctx)
{
    return ib_auto(ctx) && HALO_P_INT(ctx->params, net) == IB_NET_IB;
}

/* The error sink of a listener that auto may do without: the reason is logged
 * once, as the core's sink would log it, but is not the job's error (core points
 * at the context copy itself). */
static haloResult_t ib_warn_only(void *core, haloResult_t res, const char *msg)
{
    HLOG_WARN(HALO_SUB_INIT, ((const struct halo_tp_ctx *)core)->rank, "%s", msg);
    return res;
}

static haloResult_t ib_tp_listen(struct halo_tp_ctx *ctx, void *blob)
{
    struct halo_ib_peer_info *me = blob;
    int asked = ib_asked(ctx);
    if (!asked && !ib_auto(ctx))
        return haloSuccess;
    if (!asked && ib_required(ctx) && !ib_supported())
        return halo_tp_error(ctx, haloSystemError, "rank %d: HALO_NET=ib (or NCCL_NET=IB) but ib cannot run here: %s",
                             ctx->rank, ib_unsupported_reason());
    asked = asked || ib_required(ctx);
    if (!asked && !ib_supported()) {
        HLOG_INFO(HALO_SUB_NET, ctx->rank, "ib not used: %s", ib_unsupported_reason());
        return haloSuccess;
    }
    struct halo_sockaddr published;
    halo_tp_data_addr(ctx, &published);
    struct halo_ib_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    /* The wildcard of the bootstrap's family: every RDMA device, links chosen later. */
    cfg.addr.family = published.family == AF_INET6 ? AF_INET6 : AF_INET;
    cfg.hca = HALO_P_STR(ctx->params, ib_hca);
    int64_t gid = HALO_P_INT(ctx->params, ib_gid_index);
    if (gid != HALO_AUTO && (gid < 0 || gid > INT32_MAX)) /* a bad value, not a device's: fails in auto too */
        return halo_tp_error(ctx, haloInvalidArgument,
                             "rank %d: HALO_IB_GID_INDEX=%" PRId64 ": expected a GID table index (0, 1, ...: "
                             "`show_gids` lists them) or auto",
                             ctx->rank, gid);
    cfg.force_gid = gid != HALO_AUTO;
    cfg.gid_index = cfg.force_gid ? (int)gid : 0;
    cfg.slot_size = ctx->slot_size_net;
    cfg.nslots = ctx->nslots;
    cfg.timeout_us = ctx->timeout_us;
    cfg.key = ctx->key;
    cfg.job_id = ctx->job_id;
    struct halo_ib *ib = NULL;
    struct halo_tp_ctx quiet = *ctx;
    quiet.core = &quiet;
    quiet.error = ib_warn_only;
    haloResult_t r = ib_listen_start(asked ? ctx : &quiet, &cfg, &ib, me);
    if (r != haloSuccess) {
        if (asked)
            return r;
        HLOG_WARN(HALO_SUB_NET, ctx->rank,
                  "HALO_TRANSPORT=auto: ib is not used on this rank (reason above); peers on other hosts use tcp");
        memset(me, 0, sizeof(*me));
        return haloSuccess;
    }
    ib_ctx_set(ib, ctx); /* connections record their errors as the job's */
    ctx->state[HALO_TR_IB] = ib;
    /* Published like tcp's listener: the data address's IP, the ib port. */
    uint16_t port = me->addr.port;
    me->addr = published;
    me->addr.port = port;
    return haloSuccess;
}

/* Before the topology: both ends listen, and ib was asked for or (auto) the peer
 * is on another host. */
static haloResult_t ib_classify(struct halo_tp_ctx *ctx, int p, int local, const struct halo_ib_peer_info *mine,
                                const struct halo_ib_peer_info *pi, int *yes)
{
    if (ib_asked(ctx)) {
        if (!pi->active || !mine->active)
            return halo_tp_error(ctx, haloSystemError,
                                 "rank %d: HALO_TRANSPORT=ib but rank %d on %s does not listen over ib (no ACTIVE "
                                 "RDMA port there, rdma-core missing, or HALO_IB_HCA excludes its devices: its log "
                                 "says which); fix that host, or use HALO_TRANSPORT=auto or tcp",
                                 ctx->rank, p, ctx->peers[p].hostname);
        *yes = 1;
    } else if (ib_auto(ctx) && !local) {
        *yes = mine->active && pi->active;
    }
    return haloSuccess;
}

/* Why the link end `e` (of rank `who`'s host) cannot carry ib, or NULL. */
static const char *ib_end_problem(const struct halo_tp_link_end *e, int who, char *buf, size_t len)
{
    if (!e->rdma_dev[0])
        snprintf(buf, len, "interface %s of rank %d's host has no RDMA device", e->ifname, who);
    else if (e->rdma_unfit[0])
        snprintf(buf, len, "%s (interface %s of rank %d's host): %s", e->rdma_dev, e->ifname, who, e->rdma_unfit);
    else if (!e->rdma_active)
        snprintf(buf, len, "port %d of %s (interface %s of rank %d's host) is not ACTIVE", e->rdma_port, e->rdma_dev,
                 e->ifname, who);
    else
        return NULL;
    return buf;
}

/* auto, remote peer p on the topology's link: ib only where both ends of the link
 * have an ACTIVE RDMA port; a fallback to tcp on a link with an RDMA device is
 * logged at WARN with the reason. */
static int ib_link_ok(struct halo_tp_ctx *ctx, int p, const struct halo_ib_peer_info *mine,
                      const struct halo_ib_peer_info *pi, const struct halo_tp_link *l)
{
    char why[300];
    const char *problem = NULL;
    if (!l->mine.rdma_dev[0] && !l->peer.rdma_dev[0]) {
        /* No RDMA on this link: plain tcp, said only where both ranks use ib on
         * their other links (a mixed cluster, where one tcp hop sets the pace). */
        if (!mine->active || !pi->active)
            return 0;
        problem = "neither end of the link has an RDMA device";
    } else if (!mine->active && !ib_supported()) {
        snprintf(why, sizeof(why), "ib cannot be used on this rank: %s", ib_unsupported_reason());
        problem = why;
    } else if (!mine->active)
        problem = "ib could not start on this rank (the warning above says why)";
    else if (!pi->active)
        problem = "ib is not in use on that rank (its log says why)";
    else if (!(problem = ib_end_problem(&l->mine, ctx->rank, why, sizeof(why))))
        problem = ib_end_problem(&l->peer, p, why, sizeof(why));
    if (!problem)
        return 1;
    /* Once per link: every rank of the peer's host comes over the same one. */
    if (!ib_link_first_warning(ib_state(ctx), l)) {
        HLOG_INFO(HALO_SUB_NET, ctx->rank, "rank %d (%s) uses tcp, not ib, on the link %s %s -> %s %s (see the "
                  "warning above)", p, ctx->peers[p].hostname, l->mine.ifname, l->mine.addr, l->peer.ifname,
                  l->peer.addr);
        return 0;
    }
    HLOG_WARN(HALO_SUB_NET, ctx->rank,
              "rank %d (%s) uses tcp, not ib, on the link %s %s -> %s %s: %s (HALO_TRANSPORT=ib makes this an "
              "error; HALO_IB_HCA picks devices)",
              p, ctx->peers[p].hostname, l->mine.ifname, l->mine.addr, l->peer.ifname, l->peer.addr, problem);
    return 0;
}

static haloResult_t ib_can_connect(struct halo_tp_ctx *ctx, int peer, int local, const void *my_blob,
                                   const void *peer_blob, const struct halo_tp_link *link, int *yes)
{
    *yes = 0;
    if (!link)
        return ib_classify(ctx, peer, local, my_blob, peer_blob, yes);
    if (!ib_auto(ctx)) { /* forced: decided before the topology, unless the link's device cannot */
        char why[300];
        /* An end without an RDMA device, or with one that has no RC queue pairs:
         * rdma_cm could not connect there. */
        const struct halo_tp_link_end *m = &link->mine, *o = &link->peer;
        const char *problem = !m->rdma_dev[0] || m->rdma_unfit[0] ? ib_end_problem(m, ctx->rank, why, sizeof(why))
                              : !o->rdma_dev[0] || o->rdma_unfit[0] ? ib_end_problem(o, peer, why, sizeof(why))
                                                                    : NULL;
        if (problem && ib_asked(ctx))
            return halo_tp_error(ctx, haloSystemError,
                                 "rank %d: HALO_TRANSPORT=ib but the link %s %s -> %s %s to rank %d cannot carry "
                                 "it: %s; use HALO_TRANSPORT=auto (tcp on that link) or another link",
                                 ctx->rank, link->mine.ifname, link->mine.addr, link->peer.ifname, link->peer.addr,
                                 peer, problem);
        return ib_classify(ctx, peer, local, my_blob, peer_blob, yes);
    }
    *yes = ib_link_ok(ctx, peer, my_blob, peer_blob, link);
    return haloSuccess;
}

static haloResult_t ib_tp_connect_all(struct halo_tp_ctx *ctx)
{
    int n = ctx->nranks, nch = ctx->nchannels, any = 0;
    for (int i = 0; i < n * nch; i++)
        any |= halo_tp_carries(ctx, i % n, i / n, HALO_TR_IB);
    if (!any)
        return haloSuccess;
    struct halo_ib_peer_info *copies = calloc((size_t)n * (size_t)nch, sizeof(*copies));
    const struct halo_ib_peer_info **peers = calloc((size_t)n * (size_t)nch, sizeof(*peers));
    haloResult_t r = haloSuccess;
    if (!copies || !peers)
        r = halo_tp_error(ctx, haloSystemError, "rank %d: out of memory for %d ib peers", ctx->rank, n);
    for (int i = 0; r == haloSuccess && i < n * nch; i++) {
        int p = i % n, ch = i / n;
        const struct halo_tp_rail *rail = halo_tp_route(ctx, p, ch);
        if (p == ctx->rank || !halo_tp_carries(ctx, p, ch, HALO_TR_IB))
            continue;
        copies[i] = *(const struct halo_ib_peer_info *)ctx->peers[p].blob[HALO_TR_IB];
        if (rail->has_link) { /* the peer's end of this channel's link, its ib listener's port */
            uint16_t port = copies[i].addr.port;
            copies[i].addr = rail->data_addr;
            copies[i].addr.port = port;
        }
        peers[i] = &copies[i];
    }
    if (r == haloSuccess)
        r = ib_connect_all(ib_state(ctx), nch, peers, ctx->conns);
    free(copies);
    free(peers);
    return r;
}

/* HALO_IB_QPS_PER_PEER > 1: every rank creates its extra QPs, all-gathers their
 * numbers and connects them. Collective: all ranks take part. Table of one rank:
 * qpn[(peer * nchannels + ch) * 7 + i] of its extra QPs towards peer on channel
 * ch (0 where it has none). */
static haloResult_t ib_tp_connected(struct halo_tp_ctx *ctx)
{
    int qps = (int)HALO_P_INT(ctx->params, ib_qps_per_peer);
    int n = ctx->nranks, nch = ctx->nchannels, x = qps - 1, any = 0;
    if (qps <= 1 || n <= 1)
        return haloSuccess;
    size_t per = (size_t)n * (size_t)nch * 7;
    uint32_t *all = calloc((size_t)n * per, sizeof(uint32_t));
    if (!all)
        return halo_tp_error(ctx, haloSystemError, "rank %d: out of memory for QP numbers", ctx->rank);
    uint32_t *mine = all + (size_t)ctx->rank * per;
    haloResult_t r = haloSuccess;
    for (int i = 0; i < n * nch; i++)
        any |= halo_tp_carries(ctx, i % n, i / n, HALO_TR_IB);
    for (int ch = 0; ch < nch && r == haloSuccess; ch++)
        for (int p = 0; p < n && r == haloSuccess; p++) {
            struct halo_conn *c = ctx->conns[ch * n + p];
            if (c && halo_tp_carries(ctx, p, ch, HALO_TR_IB))
                r = ib_xqp_create(c, x, mine + ((size_t)p * (size_t)nch + (size_t)ch) * 7);
        }
    /* Every rank takes part, with or without ib peers: the all-gather is collective. */
    haloResult_t g = ctx->allgather(ctx->core, all, per * sizeof(uint32_t));
    r = r != haloSuccess ? r : g;
    for (int ch = 0; ch < nch && r == haloSuccess; ch++)
        for (int p = 0; p < n && r == haloSuccess; p++) {
            struct halo_conn *c = ctx->conns[ch * n + p];
            if (c && halo_tp_carries(ctx, p, ch, HALO_TR_IB))
                r = ib_xqp_connect(c, all + (size_t)p * per + ((size_t)ctx->rank * (size_t)nch + (size_t)ch) * 7);
        }
    free(all);
    if (r == haloSuccess && any)
        HLOG_INFO(HALO_SUB_NET, ctx->rank, "ib: %d QPs per connection (HALO_IB_QPS_PER_PEER)", qps);
    return r;
}

static void ib_tp_destroy(struct halo_tp_ctx *ctx)
{
    ib_destroy(ib_state(ctx));
    ctx->state[HALO_TR_IB] = NULL;
}

static int ib_peer_addr(const void *peer_blob, struct halo_sockaddr *out)
{
    *out = ((const struct halo_ib_peer_info *)peer_blob)->addr;
    return 0;
}

static haloResult_t ib_tp_mem_register(struct halo_tp_ctx *ctx, void *buf, size_t len, uint64_t owner)
{
    return ib_state(ctx) ? ib_mem_register(ib_state(ctx), buf, len, owner) : haloSuccess;
}

static void ib_tp_mem_deregister(struct halo_tp_ctx *ctx, uint64_t owner)
{
    if (ib_state(ctx))
        ib_mem_deregister(ib_state(ctx), owner);
}

_Static_assert(sizeof(struct halo_ib_peer_info) <= HALO_TP_BLOB_BYTES, "ib blob fits its slot");

const struct halo_tp_setup halo_ib_setup = {
    .name = "ib",
    .kind = HALO_TR_IB,
    .priority = 20,
    .connect_order = 20,
    .caps = HALO_TP_CAP_LOCAL | HALO_TP_CAP_REMOTE | HALO_TP_CAP_ZCOPY | HALO_TP_CAP_REG,
    .info_size = sizeof(struct halo_ib_peer_info),
    .listen = ib_tp_listen,
    .can_connect = ib_can_connect,
    .connect_all = ib_tp_connect_all,
    .connected = ib_tp_connected,
    .destroy = ib_tp_destroy,
    .peer_addr = ib_peer_addr,
    .mem_register = ib_tp_mem_register,
    .mem_deregister = ib_tp_mem_deregister,
    .reg_desc = "the RDMA devices",
};
