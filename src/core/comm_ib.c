/*
 * comm_ib.c — the ib transport in communicator creation: whether this rank listens
 * over ib, which peers use it, and connecting them (the transport is in
 * src/transport/ib*.c).
 *
 * Sequence, on every rank:
 *   comm_ib_listen    before the peer-info all-gather. HALO_TRANSPORT=ib: an rdma_cm
 *                     listener on the wildcard address must start, or init fails with
 *                     the reason. auto: tried when some RDMA port is ACTIVE; a failure
 *                     is a WARN and info.ib.active stays 0. shm, tcp: never started.
 *   comm_ib_classify  after it: ib when both ends listen over ib and ib was asked for
 *                     (peers of this host too: one RDMA device carries them) or, in
 *                     auto, the peer is on another host.
 *   comm_ib_link      topology, auto, remote peers (comm_topo.c): ib only where both
 *                     ends of the chosen link have an ACTIVE RDMA port; tcp otherwise,
 *                     with a WARN naming the reason when either end has an RDMA device
 *                     ("no silent fallback").
 *   comm_ib_connect   after tcp: every ib peer on every channel, at the link's address.
 * The listener binds the wildcard because the data links are only known after the
 * topology; it publishes the bootstrap interface's IP (like tcp) for peers reached
 * without a topology link (ranks of one host).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bootstrap.h"
#include "comm.h"
#include "error.h"
#include "ib.h"
#include "log.h"
#include "topo.h"

static int comm_ib_asked(const struct halo_comm *comm)
{
    return strcmp(HALO_P_STR(&comm->params, transport), "ib") == 0;
}

static int comm_ib_auto(const struct halo_comm *comm)
{
    return strcmp(HALO_P_STR(&comm->params, transport), "auto") == 0;
}

/* auto could not start ib: the reason was logged by halo_error; forget it as the
 * communicator's last error, since init goes on without ib. */
static void comm_ib_forget_error(struct halo_comm *comm)
{
    pthread_mutex_lock(&comm->err_lock);
    comm->last_error[0] = 0;
    pthread_mutex_unlock(&comm->err_lock);
}

haloResult_t comm_ib_listen(struct halo_comm *comm, struct halo_peer_info *me)
{
    int asked = comm_ib_asked(comm);
    memset(&me->ib, 0, sizeof(me->ib));
    if (!asked && !comm_ib_auto(comm))
        return haloSuccess;
    if (!asked && !ib_supported()) {
        HLOG_INFO(HALO_SUB_NET, comm->rank, "ib not used: %s", ib_unsupported_reason());
        return haloSuccess;
    }
    struct halo_ib_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    /* The wildcard of the bootstrap's family: every RDMA device, links chosen later. */
    cfg.addr.family = me->tcp_listen.family == AF_INET6 ? AF_INET6 : AF_INET;
    cfg.hca = HALO_P_STR(&comm->params, ib_hca);
    int64_t gid = HALO_P_INT(&comm->params, ib_gid_index);
    if (gid != HALO_AUTO && (gid < 0 || gid > INT32_MAX)) /* a bad value, not a device's: fails in auto too */
        return halo_error(comm, haloInvalidArgument,
                          "rank %d: HALO_IB_GID_INDEX=%" PRId64 ": expected a GID table index (0, 1, ...: "
                          "`show_gids` lists them) or auto",
                          comm->rank, gid);
    cfg.force_gid = gid != HALO_AUTO;
    cfg.gid_index = cfg.force_gid ? (int)gid : 0;
    cfg.slot_size = comm->slot_size_tcp;
    cfg.nslots = comm->nslots;
    cfg.timeout_us = comm->timeout_us;
    cfg.key = comm->bs ? bootstrap_secret(comm->bs) : NULL;
    cfg.job_id = comm->bs ? bootstrap_job_id(comm->bs) : 0;
    haloResult_t r = ib_listen_start(comm, &cfg, &comm->ib, &me->ib);
    if (r != haloSuccess) {
        if (asked)
            return r;
        HLOG_WARN(HALO_SUB_NET, comm->rank,
                  "HALO_TRANSPORT=auto: ib is not used on this rank (reason above); peers on other hosts use tcp");
        comm_ib_forget_error(comm);
        memset(&me->ib, 0, sizeof(me->ib));
        return haloSuccess;
    }
    /* Published like tcp's listener: the bootstrap interface's IP, the ib port. */
    uint16_t port = me->ib.addr.port;
    me->ib.addr = me->tcp_listen;
    me->ib.addr.port = port;
    return haloSuccess;
}

haloResult_t comm_ib_classify(struct halo_comm *comm, int p, int local, int *use)
{
    const struct halo_peer_info *mine = &comm->peers[comm->rank].info, *pi = &comm->peers[p].info;
    *use = 0;
    if (comm_ib_asked(comm)) {
        if (!pi->ib.active || !mine->ib.active)
            return halo_error(comm, haloSystemError,
                              "rank %d: HALO_TRANSPORT=ib but rank %d on %s does not listen over ib (no ACTIVE RDMA "
                              "port there, rdma-core missing, or HALO_IB_HCA excludes its devices: its log says "
                              "which); fix that host, or use HALO_TRANSPORT=auto or tcp",
                              comm->rank, p, pi->hostname);
        *use = 1;
    } else if (comm_ib_auto(comm) && !local) {
        *use = mine->ib.active && pi->ib.active;
    }
    return haloSuccess;
}

/* Why the link end `ifc` (of rank `who`'s host) cannot carry ib, or NULL. */
static const char *comm_ib_end_problem(const struct topo_iface *ifc, int who, char *buf, size_t len)
{
    if (!ifc->rdma_dev[0])
        snprintf(buf, len, "interface %s of rank %d's host has no RDMA device", ifc->name, who);
    else if (!(ifc->flags & TOPO_IF_RDMA_ACTIVE))
        snprintf(buf, len, "port %d of %s (interface %s of rank %d's host) is not ACTIVE", ifc->rdma_port,
                 ifc->rdma_dev, ifc->name, who);
    else
        return NULL;
    return buf;
}

void comm_ib_link(struct halo_comm *comm, const struct topo_graph *g, int li, int p)
{
    struct halo_peer *peer = &comm->peers[p];
    if (!comm_ib_auto(comm) || (peer->kind != HALO_TR_IB && peer->kind != HALO_TR_TCP))
        return;
    const struct topo_link *l = &g->links[li];
    int mine = l->host[0] == g->rank_host[comm->rank] ? 0 : 1;
    const struct topo_iface *a = &g->hosts[l->host[mine]].ifaces[l->iface[mine]];
    const struct topo_iface *b = &g->hosts[l->host[1 - mine]].ifaces[l->iface[1 - mine]];
    if (!a->rdma_dev[0] && !b->rdma_dev[0]) { /* no RDMA on this link: plain tcp */
        peer->kind = HALO_TR_TCP;
        return;
    }
    char why[300];
    const char *problem = NULL;
    if (!comm->peers[comm->rank].info.ib.active && !ib_supported()) {
        snprintf(why, sizeof(why), "ib cannot be used on this rank: %s", ib_unsupported_reason());
        problem = why;
    } else if (!comm->peers[comm->rank].info.ib.active)
        problem = "ib could not start on this rank (the warning above says why)";
    else if (!peer->info.ib.active)
        problem = "ib is not in use on that rank (its log says why)";
    else if (!(problem = comm_ib_end_problem(a, comm->rank, why, sizeof(why))))
        problem = comm_ib_end_problem(b, p, why, sizeof(why));
    if (!problem) {
        peer->kind = HALO_TR_IB;
        return;
    }
    peer->kind = HALO_TR_TCP;
    HLOG_WARN(HALO_SUB_NET, comm->rank,
              "rank %d (%s) uses tcp, not ib, on the link %s %s -> %s %s: %s (HALO_TRANSPORT=ib makes this an "
              "error; HALO_IB_HCA picks devices)",
              p, peer->info.hostname, l->ifname[mine], l->addr[mine], l->ifname[1 - mine], l->addr[1 - mine],
              problem);
}

haloResult_t comm_ib_connect(struct halo_comm *comm)
{
    int n = comm->nranks;
    struct halo_ib_peer_info *copies = calloc((size_t)n, sizeof(*copies));
    const struct halo_ib_peer_info **peers = calloc((size_t)n, sizeof(*peers));
    haloResult_t r = haloSuccess;
    if (!copies || !peers)
        r = halo_error(comm, haloSystemError, "rank %d: out of memory for %d ib peers", comm->rank, n);
    for (int p = 0; r == haloSuccess && p < n; p++) {
        const struct halo_peer *peer = &comm->peers[p];
        if (peer->kind != HALO_TR_IB)
            continue;
        copies[p] = peer->info.ib;
        if (peer->has_link) { /* the peer's end of our link, its ib listener's port */
            copies[p].addr = peer->data_addr;
            copies[p].addr.port = peer->info.ib.addr.port;
        }
        peers[p] = &copies[p];
    }
    if (r == haloSuccess)
        r = ib_connect_all(comm->ib, comm->nchannels, peers, comm->conns);
    free(copies);
    free(peers);
    return r;
}

/* Table of one rank: qpn[(peer * nchannels + ch) * 7 + i] of its extra QPs towards
 * peer on channel ch (0 where it has none). */
haloResult_t comm_ib_extra_qps(struct halo_comm *comm)
{
    int n = comm->nranks, nch = comm->nchannels, x = comm->ib_qps - 1;
    size_t per = (size_t)n * (size_t)nch * 7;
    uint32_t *all = calloc((size_t)n * per, sizeof(uint32_t));
    if (!all)
        return halo_error(comm, haloSystemError, "rank %d: out of memory for QP numbers", comm->rank);
    uint32_t *mine = all + (size_t)comm->rank * per;
    haloResult_t r = haloSuccess;
    for (int ch = 0; ch < nch && r == haloSuccess; ch++)
        for (int p = 0; p < n && r == haloSuccess; p++) {
            struct halo_conn *c = comm->conns[ch * n + p];
            if (c && comm->peers[p].kind == HALO_TR_IB)
                r = ib_xqp_create(c, x, mine + ((size_t)p * (size_t)nch + (size_t)ch) * 7);
        }
    /* Every rank takes part, with or without ib peers: the all-gather is collective. */
    haloResult_t g = bootstrap_allgather(comm->bs, all, per * sizeof(uint32_t));
    r = r != haloSuccess ? r : g;
    for (int ch = 0; ch < nch && r == haloSuccess; ch++)
        for (int p = 0; p < n && r == haloSuccess; p++) {
            struct halo_conn *c = comm->conns[ch * n + p];
            if (c && comm->peers[p].kind == HALO_TR_IB)
                r = ib_xqp_connect(c, all + (size_t)p * per + ((size_t)comm->rank * (size_t)nch + (size_t)ch) * 7);
        }
    free(all);
    if (r == haloSuccess && comm->has_ib)
        HLOG_INFO(HALO_SUB_NET, comm->rank, "ib: %d QPs per connection (HALO_IB_QPS_PER_PEER)", comm->ib_qps);
    return r;
}
