/* SPDX-License-Identifier: MIT */
/*
 * comm_transport.c — the core's side of the transport boundary: it fills the
 * narrow context transports run over (struct halo_tp_ctx), drives the table of
 * transports (transport.h) through listen, the per-peer priority loop of
 * can_connect, connect_all, connected, ready and destroy, and names transports
 * for logs. Nothing here knows one transport from another.
 */
#define HALO_ERR_SUBSYS HALO_SUB_NET /* errors recorded here log under this subsystem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bootstrap.h"
#include "comm.h"
#include "crc32c.h"
#include "error.h"
#include "log.h"

/* ---- services the core gives transports ---- */

static haloResult_t comm_tp_error(void *core, haloResult_t res, const char *msg)
{
    struct halo_comm *comm = core;
    /* Once the communicator is broken, a connection that fails is a consequence
     * (the peers close theirs after an error): it is logged, and the sentence that
     * names the cause stays the one haloGetLastError returns. So once this rank's
     * own wait has timed out on another channel: that stall is the cause, and the
     * peer that gives up on the same stall and closes its end is not. */
    if (comm && (atomic_load(&comm->async_error) != haloSuccess || atomic_load(&comm->timed_out))) {
        HLOG_WARN(HALO_SUB_NET, comm->rank, "%s", msg);
        return res;
    }
    return halo_error(core, res, "%s", msg);
}

static haloResult_t comm_tp_allgather(void *core, void *buf, size_t per_rank)
{
    return bootstrap_allgather(((struct halo_comm *)core)->bs, buf, per_rank);
}

static haloResult_t comm_tp_barrier(void *core)
{
    return bootstrap_barrier(((struct halo_comm *)core)->bs);
}

/* After the parameters and the bootstrap: what every transport may read. */
void comm_tp_init(struct halo_comm *comm)
{
    struct halo_tp_ctx *ctx = &comm->tp;
    memset(ctx, 0, sizeof(*ctx));
    ctx->rank = comm->rank;
    ctx->nranks = comm->nranks;
    ctx->slot_size_shm = comm->slot_size_shm;
    ctx->slot_size_net = comm->slot_size_tcp;
    ctx->nslots = comm->nslots;
    ctx->nslots_shm = comm->nslots_shm;
    ctx->timeout_us = comm->timeout_us;
    ctx->checksum = (int)HALO_P_INT(&comm->params, checksum);
    if (ctx->checksum && comm->rank == 0)
        HLOG_INFO(HALO_SUB_INIT, comm->rank, "HALO_CHECKSUM=1: every tcp and ib frame carries a CRC-32C (%s)",
                  halo_crc32c_impl());
    ctx->comm_id = comm->comm_id;
    ctx->job_id = comm->bs ? bootstrap_job_id(comm->bs) : 0;
    ctx->key = comm->bs ? bootstrap_secret(comm->bs) : NULL;
    ctx->params = &comm->params;
    const struct sockaddr_storage *ss = comm->bs ? bootstrap_local_addr(comm->bs) : NULL;
    if (ss && ss->ss_family != AF_UNSPEC)
        halo_sockaddr_from(&ctx->local_addr, (const struct sockaddr *)ss);
    ctx->core = comm;
    ctx->error = comm_tp_error;
    ctx->allgather = comm_tp_allgather;
    ctx->barrier = comm_tp_barrier;
    ctx->failed = &comm->async_error;
}

/* Before the all-gather: every transport that listens fills its blob of me. */
haloResult_t comm_tp_listen(struct halo_comm *comm, struct halo_peer_info *me)
{
    const struct halo_tp_setup *order[HALO_TP_MAX + 1];
    halo_tp_sorted(1, order);
    for (int i = 0; order[i]; i++) {
        if (!order[i]->listen)
            continue;
        void *blob = me->tp_blob[halo_tp_blob_slot(order[i]->kind)];
        memset(blob, 0, HALO_TP_BLOB_BYTES);
        haloResult_t r = order[i]->listen(&comm->tp, blob);
        if (r != haloSuccess)
            return r;
    }
    return haloSuccess;
}

static const void *comm_tp_blob(const struct halo_comm *comm, int p, int kind)
{
    int slot = halo_tp_blob_slot(kind);
    return slot < 0 ? NULL : comm->peers[p].info.tp_blob[slot];
}

/* The transports' view of the peers, from comm->peers (after the all-gather, and
 * again once kinds and links are final). */
haloResult_t comm_tp_peers_sync(struct halo_comm *comm)
{
    struct halo_tp_ctx *ctx = &comm->tp;
    if (!comm->tp_peers && !(comm->tp_peers = calloc((size_t)comm->nranks, sizeof(*comm->tp_peers))))
        return halo_error(comm, haloSystemError, "rank %d: out of memory for %d peers", comm->rank, comm->nranks);
    for (int p = 0; p < comm->nranks; p++) {
        const struct halo_peer *peer = &comm->peers[p];
        struct halo_tp_peer *tp = &comm->tp_peers[p];
        tp->kind = peer->kind;
        tp->local_index = peer->local_index;
        tp->pid = peer->info.pid;
        snprintf(tp->hostname, sizeof(tp->hostname), "%s", peer->info.hostname);
        for (int k = 0; k < HALO_TR_NKINDS; k++)
            tp->blob[k] = comm_tp_blob(comm, p, k);
        tp->nrails = peer->nrails > 0 ? peer->nrails : 1;
        memcpy(tp->rails, peer->rails, sizeof(tp->rails));
        if (peer->nrails < 1) { /* before the topology: one way, the peer's kind */
            memset(&tp->rails[0], 0, sizeof(tp->rails[0]));
            tp->rails[0].link = -1;
        }
        tp->rails[0].kind = peer->kind;
        memcpy(tp->rail_of, peer->rail_of, sizeof(tp->rail_of));
    }
    ctx->peers = comm->tp_peers;
    ctx->nchannels = comm_conn_channels(comm);
    ctx->nlocal = comm->nlocal;
    ctx->local_rank = comm->local_rank;
    ctx->conns = comm->conns;
    return haloSuccess;
}

haloResult_t comm_pick_transport(struct halo_comm *comm, int p, const struct halo_tp_link *link, int *kind)
{
    const struct halo_tp_setup *order[HALO_TP_MAX + 1];
    struct halo_peer *peer = &comm->peers[p];
    int local = peer->info.host_hash == comm->peers[comm->rank].info.host_hash;
    halo_tp_sorted(0, order);
    for (int i = 0; order[i]; i++) {
        int yes = 0;
        haloResult_t r = order[i]->can_connect(&comm->tp, p, local, comm_tp_blob(comm, comm->rank, order[i]->kind),
                                               comm_tp_blob(comm, p, order[i]->kind), link, &yes);
        if (r != haloSuccess)
            return r;
        if (yes) {
            *kind = order[i]->kind;
            return haloSuccess;
        }
    }
    /* No transport: only where HALO_TRANSPORT forced one that said no without an
     * error, which the rows do not do; keep the peer unaddressable. */
    *kind = HALO_TR_NONE;
    return haloSuccess;
}

haloResult_t comm_select_transport(struct halo_comm *comm, int p, const struct halo_tp_link *link)
{
    int kind = HALO_TR_NONE;
    haloResult_t r = comm_pick_transport(comm, p, link, &kind);
    comm->peers[p].kind = (enum halo_transport_kind)kind;
    return r;
}

int comm_kind_remote(enum halo_transport_kind k)
{
    const struct halo_tp_setup *t = halo_tp_by_kind(k);
    return t && (t->caps & HALO_TP_CAP_REMOTE);
}

/* Every transport, in connect order, then the collective steps after them. */
haloResult_t comm_tp_connect(struct halo_comm *comm)
{
    const struct halo_tp_setup *order[HALO_TP_MAX + 1];
    haloResult_t r = comm_tp_peers_sync(comm);
    halo_tp_sorted(1, order);
    for (int i = 0; r == haloSuccess && order[i]; i++)
        r = order[i]->connect_all(&comm->tp);
    for (int i = 0; r == haloSuccess && order[i]; i++)
        if (order[i]->connected)
            r = order[i]->connected(&comm->tp);
    for (int i = 0; i < comm_conn_channels(comm) * comm->nranks; i++)
        comm->flush_needed |= comm->conns[i] && comm->conns[i]->ops->flush;
    return r;
}

void comm_tp_ready(struct halo_comm *comm)
{
    for (int i = 0; halo_transports[i]; i++)
        if (halo_transports[i]->ready)
            halo_transports[i]->ready(&comm->tp);
}

/* After every connection was closed. */
void comm_tp_destroy(struct halo_comm *comm)
{
    for (int i = 0; halo_transports[i]; i++)
        halo_transports[i]->destroy(&comm->tp);
    free(comm->tp_peers);
    comm->tp_peers = NULL;
    comm->tp.peers = NULL;
}

/* ---- names ---- */

const char *comm_kind_name(enum halo_transport_kind k)
{
    const struct halo_tp_setup *t = halo_tp_by_kind(k);
    if (t)
        return t->name;
    return k == HALO_TR_SELF ? "self" : k == HALO_TR_NONE ? "none (no direct link)" : "?";
}

/* One INFO line per peer: the transport chosen and where it connects. */
void comm_log_peers(struct halo_comm *comm)
{
    if (!halo_log_enabled(HALO_LOG_INFO, HALO_SUB_INIT))
        return;
    for (int p = 0; p < comm->nranks; p++) {
        const struct halo_peer *peer = &comm->peers[p];
        int nrails = peer->nrails > 0 ? peer->nrails : 1;
        for (int k = 0; p != comm->rank && k < nrails; k++) {
            struct halo_tp_rail one = {.kind = peer->kind, .link = -1};
            const struct halo_tp_rail *rail = peer->nrails > 0 ? &peer->rails[k] : &one;
            const struct halo_tp_setup *t = halo_tp_by_kind(rail->kind);
            char addr[80] = "", chans[64] = "";
            struct halo_sockaddr a;
            if (t && t->peer_addr && t->peer_addr(comm_tp_blob(comm, p, t->kind), &a) == 0) {
                if (rail->has_link) {
                    a.family = rail->data_addr.family;
                    memcpy(a.addr, rail->data_addr.addr, sizeof(a.addr));
                    a.scope_id = rail->data_addr.scope_id;
                }
                halo_sockaddr_str(&a, addr, sizeof(addr));
            }
            size_t used = 0;
            for (int ch = 0; nrails > 1 && ch < comm->nchannels && used + 8 < sizeof(chans); ch++)
                if (peer->rail_of[ch] == k)
                    used += (size_t)snprintf(chans + used, sizeof(chans) - used, "%s%d", used ? "," : ", channels ", ch);
            HLOG_INFO(HALO_SUB_INIT, comm->rank, "peer %d (%s) via %s%s%s%s%s%s", p, peer->info.hostname,
                      comm_kind_name((enum halo_transport_kind)rail->kind), addr[0] ? " " : "", addr,
                      rail->has_link ? " from " : "", rail->has_link ? rail->data_ifname : "", chans);
        }
    }
}

void comm_warn_failover(struct halo_comm *comm)
{
    if (!HALO_P_INT(&comm->params, rail_failover))
        return;
    for (int p = 0; p < comm->nranks; p++) {
        const struct halo_peer *peer = &comm->peers[p];
        for (int k = 0; p != comm->rank && peer->nrails > 1 && k < peer->nrails; k++) {
            if (peer->rails[k].kind == HALO_TR_TCP)
                continue;
            HLOG_WARN(HALO_SUB_INIT, comm->rank,
                      "HALO_RAIL_FAILOVER=1 covers tcp rails only: the channels to peer %d (%s) on the %s rail %s "
                      "have no standby, so that cable failing still fails the call",
                      p, peer->info.hostname, comm_kind_name((enum halo_transport_kind)peer->rails[k].kind),
                      peer->rails[k].data_ifname);
            return; /* once */
        }
    }
}
