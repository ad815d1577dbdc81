/* SPDX-License-Identifier: MIT */
/*
 * comm_topo.c — finding the data links of a multi-host job at communicator
 * creation, and turning the topology into a ring order and per-peer addresses.
 *
 * Sequence (all ranks, after the peer-info all-gather, before transports connect):
 *   1. every rank discovers its host (interfaces, speeds, drivers, RDMA ports);
 *      the lowest rank of each host also opens a probe echo port;
 *   2. all-gather the records (struct topo_rank_info, fixed size);
 *   3. the lowest rank of each host probes the candidate links it owns (connect
 *      bound to the link's interface, echo round trips) while serving probes from
 *      the others; all-gather the round-trip times, indexed by link;
 *   4. every rank builds the same graph from the same records and results:
 *      class (pair/chain/ring/mesh), rank order, and which local interface and
 *      remote address reach each neighbour.
 * Peers on another host that are not reachable over a direct link get kind
 * HALO_TR_NONE: no connection is made to them, and the schedules chosen for the
 * class (chain, ring) never address them. A job on one host skips all of this.
 */
#define HALO_ERR_SUBSYS HALO_SUB_TOPO /* errors recorded here log under this subsystem */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap.h"
#include "comm.h"
#include "error.h"
#include "ib.h"
#include "log.h"
#include "topo.h"
#include "topo_cost.h"

#define TOPO_MAX_PROBED_LINKS 128
#define TOPO_PROBE_COUNT 5
#define TOPO_PROBE_TIMEOUT_MS 1000
#define TOPO_PROBE_RETRY_MS 3000

struct topo_echo {
    int fd;
    pthread_t thread;
    int running;
    _Atomic int stop;
};

static void *topo_echo_main(void *arg)
{
    struct topo_echo *e = arg;
    char err[256];
    while (!atomic_load(&e->stop))
        topo_probe_serve_one(e->fd, 100, err, sizeof(err)); /* returns on timeout too */
    return NULL;
}

static void topo_echo_stop(struct topo_echo *e)
{
    if (e->running) {
        atomic_store(&e->stop, 1);
        pthread_join(e->thread, NULL);
        e->running = 0;
    }
    if (e->fd >= 0)
        close(e->fd);
    e->fd = -1;
}

/* Rate probe of a rail: long enough to pass a shaper's burst allowance, short
 * enough that a host's probe server is never held near its 1 s bound. */
#define TOPO_RAIL_PROBE_MS 30
/* Its bound: the three bursts on a slow or stalling host (within the probe
 * server's 2 s session). */
#define TOPO_RAIL_PROBE_TIMEOUT_MS 1800
/* Per rank, the all-gathered table holds TOPO_MAX_PROBED_LINKS round trips, then
 * as many rates (Mbit/s; -1 = not measured). */
#define TOPO_PROBE_ROW (2 * TOPO_MAX_PROBED_LINKS)

struct topo_probe_ctx {
    struct halo_comm *comm;
    const struct topo_rank_info *recs;
    double *rtt; /* [TOPO_PROBE_ROW] per rank (lookup: the whole table) */
};


/* Phase 3 hook: measure the links this host owns, record the round trip. */
static int topo_probe_own(void *arg, const struct topo_link *l, double *rtt_us)
{
    struct topo_probe_ctx *c = arg;
    *rtt_us = -1;
    if (l->rank[0] != c->comm->rank || l->index >= TOPO_MAX_PROBED_LINKS)
        return 0;
    char err[512];
    int port = c->recs[l->rank[1]].probe_port;
    /* A host that is busy (or a VM whose host is) can miss the first bound: one
     * more try, longer, before the link is left out. */
    if (topo_probe_rtt(l->ifname[0], l->addr[0], l->addr[1], port, TOPO_PROBE_COUNT, TOPO_PROBE_TIMEOUT_MS, rtt_us,
                       err, sizeof(err)) != 0 &&
        topo_probe_rtt(l->ifname[0], l->addr[0], l->addr[1], port, TOPO_PROBE_COUNT, TOPO_PROBE_RETRY_MS, rtt_us,
                       err, sizeof(err)) != 0) {
        HLOG_WARN(HALO_SUB_TOPO, c->comm->rank, "link %s %s -> %s did not answer the probe: %s", l->ifname[0],
                  l->addr[0], l->addr[1], err);
        *rtt_us = -2;
        c->rtt[l->index] = -2;
        return -1;
    }
    c->rtt[l->index] = *rtt_us;
    HLOG_INFO(HALO_SUB_TOPO, c->comm->rank, "link %s %s -> %s: round trip %.1f us", l->ifname[0], l->addr[0],
              l->addr[1], *rtt_us);
    return 0;
}

/* Phase 4 hook: every rank reads the same all-gathered results. */
static int topo_probe_lookup(void *arg, const struct topo_link *l, double *rtt_us)
{
    struct topo_probe_ctx *c = arg;
    *rtt_us = -1;
    if (l->index >= TOPO_MAX_PROBED_LINKS)
        return 0;
    double v = c->rtt[(size_t)l->rank[0] * TOPO_PROBE_ROW + (size_t)l->index];
    *rtt_us = v >= 0 ? v : -1;
    return v == -2 ? -1 : 0;
}

/* What each RDMA port behind an up interface offers the ib transport (the host's
 * lowest rank, whose record the graph keeps), when ib listens on this rank: every
 * rank then judges both ends of a link from the same numbers (topo_link_end). A
 * device that cannot be queried keeps its caps unprobed: nothing is judged. */
static void topo_probe_rdma(struct halo_comm *comm, struct topo_rank_info *me)
{
    if (!comm->tp.state[HALO_TR_IB])
        return;
    for (int i = 0; i < me->n_ifaces && i < TOPO_MAX_IFACES; i++) {
        struct topo_iface *ifc = &me->ifaces[i];
        struct halo_ib_caps caps;
        char why[256];
        if (!ifc->rdma_dev[0] || !(ifc->flags & TOPO_IF_UP) || !(ifc->flags & TOPO_IF_RDMA_ACTIVE) ||
            (ifc->flags & (TOPO_IF_RDMA_IWARP | TOPO_IF_RDMA_NOT_CA)))
            continue;
        if (ib_device_caps(ifc->rdma_dev, ifc->rdma_port, &caps, why, sizeof(why)) != 0) {
            HLOG_INFO(HALO_SUB_TOPO, comm->rank, "%s port %d (interface %s): capabilities not known: %s",
                      ifc->rdma_dev, ifc->rdma_port, ifc->name, why);
            continue;
        }
        ifc->rdma_caps = (struct topo_rdma_caps){
            .flags = TOPO_RDMA_CAPS_PROBED | (caps.rc_ok ? TOPO_RDMA_CAPS_RC : 0u),
            .rc_errno = caps.rc_errno,
            .max_qp = caps.max_qp,
            .max_cq = caps.max_cq,
            .max_qp_wr = caps.max_qp_wr,
            .max_cqe = caps.max_cqe,
            .max_sge = caps.max_sge,
            .max_mr = caps.max_mr,
        };
        HLOG_INFO(HALO_SUB_TOPO, comm->rank,
                  "%s port %d: RC QPs %s, max_qp %u, max_cq %u, max_qp_wr %u, max_cqe %u, max_sge %u, max_mr %u",
                  ifc->rdma_dev, ifc->rdma_port, caps.rc_ok ? "yes" : "no", caps.max_qp, caps.max_cq,
                  caps.max_qp_wr, caps.max_cqe, caps.max_sge, caps.max_mr);
    }
}

static haloResult_t topo_gather_records(struct halo_comm *comm, struct topo_rank_info *recs, struct topo_echo *echo)
{
    char err[512], mgmt[32] = "";
    struct halo_sockaddr boot;
    halo_sockaddr_from(&boot, (const struct sockaddr *)bootstrap_local_addr(comm->bs));
    halo_if_name_of(&boot, mgmt, sizeof(mgmt));
    struct topo_rank_info *me = &recs[comm->rank];
    if (topo_discover(me, comm->rank, mgmt, err, sizeof(err)) != haloSuccess)
        return halo_error(comm, haloSystemError, "rank %d: topology discovery failed: %s", comm->rank, err);
    if (comm->local_rank == 0) {
        int port = 0;
        topo_probe_rdma(comm, me);
        echo->fd = topo_probe_listen("::", &port, err, sizeof(err));
        if (echo->fd < 0)
            echo->fd = topo_probe_listen("0.0.0.0", &port, err, sizeof(err));
        if (echo->fd < 0)
            return halo_error(comm, haloSystemError, "rank %d: cannot open the link probe port: %s", comm->rank, err);
        me->probe_port = (uint16_t)port;
        if (pthread_create(&echo->thread, NULL, topo_echo_main, echo) != 0)
            return halo_error(comm, haloSystemError, "rank %d: cannot start the link probe thread", comm->rank);
        echo->running = 1;
    }
    return bootstrap_allgather(comm->bs, recs, sizeof(*recs));
}

/* Rates of the links this rank owns between hosts that several links join (the
 * rails' weights), into bw[link index]. A rail whose rate cannot be measured
 * keeps -1 and is weighted by its interface speed, else like the others. */
static void topo_probe_rails(struct halo_comm *comm, const struct topo_graph *g, const struct topo_rank_info *recs,
                             double *bw)
{
    for (int i = 0; i < g->nlinks && i < TOPO_MAX_PROBED_LINKS; i++) {
        const struct topo_link *l = &g->links[i];
        int rails[HALO_MAX_RAILS], n = topo_graph_rails(g, l->host[0], l->host[1], rails, HALO_MAX_RAILS), mine = 0;
        for (int k = 0; k < n && k < HALO_MAX_RAILS; k++)
            mine |= rails[k] == i; /* a usable link (not the management one) */
        if (l->rank[0] != comm->rank || !mine || n < 2 || comm->max_rails < 2)
            continue;
        char err[512];
        if (topo_probe_bw(l->ifname[0], l->addr[0], l->addr[1], recs[l->rank[1]].probe_port, TOPO_RAIL_PROBE_MS,
                          TOPO_RAIL_PROBE_TIMEOUT_MS, &bw[i], err, sizeof(err)) != 0) {
            HLOG_WARN(HALO_SUB_TOPO, comm->rank, "rail %s %s -> %s: rate not measured (%s); weighted by its speed",
                      l->ifname[0], l->addr[0], l->addr[1], err);
            bw[i] = -1;
            continue;
        }
        HLOG_INFO(HALO_SUB_TOPO, comm->rank, "rail %s %s -> %s: %.0f Mbit/s measured", l->ifname[0], l->addr[0],
                  l->addr[1], bw[i]);
    }
}

static haloResult_t topo_probe_links(struct halo_comm *comm, const struct topo_rank_info *recs,
                                     const struct topo_options *base, double *all_rtt)
{
    double *mine = all_rtt + (size_t)comm->rank * TOPO_PROBE_ROW;
    struct topo_graph *g = NULL;
    for (int i = 0; i < TOPO_PROBE_ROW; i++)
        mine[i] = -1;
    if (comm->local_rank == 0) {
        struct topo_probe_ctx c = {.comm = comm, .recs = recs, .rtt = mine};
        struct topo_options opt = *base;
        char err[TOPO_ERR_LEN];
        opt.probe = topo_probe_own;
        opt.probe_arg = &c;
        if (topo_graph_create(recs, comm->nranks, &opt, &g, err, sizeof(err)) != haloSuccess)
            g = NULL; /* the final graph, built from every host's answers, says why */
    }
    /* Rates only once every host's round trips are done: a burst holds the far
     * end's probe server longer than a round-trip probe may wait for it. */
    haloResult_t r = comm->max_rails > 1 ? bootstrap_barrier(comm->bs) : haloSuccess; /* every rank: agreed */
    if (r == haloSuccess && g)
        topo_probe_rails(comm, g, recs, mine + TOPO_MAX_PROBED_LINKS);
    topo_graph_destroy(g);
    return r == haloSuccess ? bootstrap_allgather(comm->bs, all_rtt, TOPO_PROBE_ROW * sizeof(double)) : r;
}

/* Every rank copies the owners' measured rates into its graph. */
static void topo_rates_apply(struct topo_graph *g, const double *all)
{
    for (int i = 0; i < g->nlinks && i < TOPO_MAX_PROBED_LINKS; i++)
        g->links[i].bw_mbps = all[(size_t)g->links[i].rank[0] * TOPO_PROBE_ROW + TOPO_MAX_PROBED_LINKS + (size_t)i];
}

static int topo_parse_addr(const char *text, uint16_t port, struct halo_sockaddr *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, text, out->addr) == 1)
        out->family = AF_INET6;
    else
        return -1;
    out->port = port;
    return 0;
}

/* What ib would create on host h's RDMA port of a link, at most: every rank of h
 * connects every rank of each host it has links to, on every connection channel
 * (rails share the channels; counted as if one link carried them all), with
 * HALO_IB_QPS_PER_PEER QPs each. From agreed values and the graph only: the same
 * on every rank. */
static void topo_ib_needs(const struct halo_comm *comm, const struct topo_graph *g, int h,
                          struct halo_ib_needs *need)
{
    int remote = 0;
    for (int o = 0; o < g->nhosts; o++) {
        int links[HALO_MAX_RAILS];
        if (o != h && comm_pair_links(comm, g, h, o, links) > 0)
            remote += g->hosts[o].nranks;
    }
    int conns = g->hosts[h].nranks * remote * comm_rails_conn_channels(comm, g);
    ib_caps_needs(comm->tp.nslots, conns, (int)HALO_P_INT(&comm->params, ib_qps_per_peer), need);
}

static void topo_link_end(const struct halo_comm *comm, const struct topo_graph *g, const struct topo_link *l,
                          int side, struct halo_tp_link_end *e)
{
    const struct topo_iface *ifc = &g->hosts[l->host[side]].ifaces[l->iface[side]];
    snprintf(e->ifname, sizeof(e->ifname), "%s", l->ifname[side]);
    snprintf(e->addr, sizeof(e->addr), "%s", l->addr[side]);
    snprintf(e->rdma_dev, sizeof(e->rdma_dev), "%s", ifc->rdma_dev);
    e->rdma_port = ifc->rdma_port;
    e->rdma_active = (ifc->flags & TOPO_IF_RDMA_ACTIVE) != 0;
    e->rdma_unfit[0] = '\0';
    if (ifc->flags & TOPO_IF_RDMA_IWARP)
        snprintf(e->rdma_unfit, sizeof(e->rdma_unfit), "it is an iWARP device (RNIC), and ib needs RoCE or "
                 "InfiniBand");
    else if (ifc->flags & TOPO_IF_RDMA_NOT_CA)
        snprintf(e->rdma_unfit, sizeof(e->rdma_unfit), "it is not an InfiniBand/RoCE adapter (node type), so it "
                 "has no RC queue pairs");
    else if (ifc->rdma_caps.flags & TOPO_RDMA_CAPS_PROBED) {
        const struct topo_rdma_caps *c = &ifc->rdma_caps;
        struct halo_ib_caps have = {.max_qp = c->max_qp, .max_cq = c->max_cq, .max_qp_wr = c->max_qp_wr,
                                    .max_cqe = c->max_cqe, .max_sge = c->max_sge, .max_mr = c->max_mr,
                                    .rc_ok = (c->flags & TOPO_RDMA_CAPS_RC) != 0, .rc_errno = c->rc_errno};
        struct halo_ib_needs need;
        topo_ib_needs(comm, g, l->host[side], &need);
        ib_caps_unfit(&have, &need, ifc->rdma_port, e->rdma_unfit, sizeof(e->rdma_unfit));
    }
}

/* One rail to peer p over link li: both ends' addresses and the transport the
 * rows choose for that link (in auto, its RDMA ports decide between ib and tcp).
 * Returns 0 when the link's addresses do not parse (the rail is skipped). */
static int topo_rail_fill(struct halo_comm *comm, const struct topo_graph *g, int p, int li,
                          struct halo_tp_rail *rail, haloResult_t *r)
{
    const struct topo_link *l = &g->links[li];
    int mine = l->host[0] == g->rank_host[comm->rank] ? 0 : 1;
    memset(rail, 0, sizeof(*rail));
    if (topo_parse_addr(l->addr[1 - mine], 0, &rail->data_addr) != 0 ||
        topo_parse_addr(l->addr[mine], 0, &rail->data_src) != 0)
        return 0;
    snprintf(rail->data_ifname, sizeof(rail->data_ifname), "%s", l->ifname[mine]);
    snprintf(rail->peer_ifname, sizeof(rail->peer_ifname), "%s", l->ifname[1 - mine]);
    rail->has_link = 1;
    rail->link = li;
    struct halo_tp_link link;
    topo_link_end(comm, g, l, mine, &link.mine);
    topo_link_end(comm, g, l, 1 - mine, &link.peer);
    *r = comm_pick_transport(comm, p, &link, &rail->kind);
    return *r == haloSuccess && rail->kind != HALO_TR_NONE;
}

/* Remote peers: every usable link between our hosts is a rail (HALO_RAILS = 1:
 * only the best link); the port is the chosen transport's listener's. */
static haloResult_t topo_assign_peer(struct halo_comm *comm, struct topo_graph *g, int p)
{
    struct halo_peer *peer = &comm->peers[p];
    int hme = g->rank_host[comm->rank], hp = g->rank_host[p];
    int links[HALO_MAX_RAILS], n = comm_pair_links(comm, g, hme, hp, links);
    haloResult_t r = haloSuccess;
    peer->nrails = 0;
    for (int i = 0; i < n && r == haloSuccess; i++)
        peer->nrails += topo_rail_fill(comm, g, p, links[i], &peer->rails[peer->nrails], &r);
    peer->kind = peer->nrails > 0 ? (enum halo_transport_kind)peer->rails[0].kind : HALO_TR_NONE;
    if (peer->nrails == 0) { /* unaddressable: rails[0] says NONE */
        memset(&peer->rails[0], 0, sizeof(peer->rails[0]));
        peer->rails[0].kind = HALO_TR_NONE;
        peer->rails[0].link = -1;
        peer->nrails = 1;
    }
    return r;
}

/* The largest slice (comm->slice_slot) and the range a slice is cut to without a
 * plan (slice_min, slice_max). Every frame of a schedule must fit the slot of
 * whichever transport carries it, and every rank must cut alike, so the answer
 * comes from what all ranks know. Shared memory is in use only where a host holds
 * several ranks and they do not talk over loopback tcp (HALO_TRANSPORT=tcp, agreed
 * by every rank); ib and tcp slots are the same size. With g NULL the job is one
 * host. Where no frame goes through shared memory, unplanned slices are 128 to 256
 * KiB: a tcp frame costs a system call on each end and, on a busy host, a
 * wake-up, so smaller ones waste the core; a frame of the whole 512 KiB slot
 * keeps fewer frames in flight, so the sockets sit idle while one is reduced.
 * Measured on 2 cores over loopback tcp against the 64 KiB slices of the shm slot
 * (perf/README.md, "Slices over tcp"). */
#define COMM_NET_SLICE_MIN ((size_t)128 << 10)
#define COMM_NET_SLICE_MAX ((size_t)256 << 10)

static void topo_pick_slice_slot(struct halo_comm *comm, const struct topo_graph *g)
{
    const char *forced = HALO_P_STR(&comm->params, transport);
    int may_share = strcmp(forced, "auto") == 0 || strcmp(forced, "shm") == 0;
    int shared = !g ? !comm_local_tcp(comm) : 0;
    for (int h = 0; g && may_share && h < g->nhosts && !shared; h++) {
        int on_host = 0;
        for (int i = 0; i < g->nranks; i++)
            on_host += g->rank_host[i] == h;
        shared = on_host > 1;
    }
    size_t net = comm->slot_size_tcp;
    comm->slice_slot = shared && comm->slot_size_shm < net ? comm->slot_size_shm : net;
    comm->slice_min = shared ? HALO_SLICE_MIN_BYTES : COMM_NET_SLICE_MIN;
    comm->slice_max = shared || comm->slice_slot < COMM_NET_SLICE_MAX ? comm->slice_slot : COMM_NET_SLICE_MAX;
}

static haloResult_t topo_apply(struct halo_comm *comm, struct topo_graph *g)
{
    haloResult_t r = haloSuccess;
    comm->topo = g;
    topo_cost_model_from_graph(g, &comm->cost);
    comm->cost.max_channels = comm->nchannels;
    int64_t mbps = HALO_P_INT(&comm->params, link_mbps);
    if (mbps != HALO_AUTO && mbps > 0) /* shaped or shared links: their speed misleads */
        comm->cost.bw_Bps = (double)mbps * 1e6 / 8;
    /* no slice exceeds a slot (slice_count): the model tries none larger */
    topo_pick_slice_slot(comm, g);
    if (comm->slice_slot >= comm->cost.slice_min && comm->slice_slot < comm->cost.slice_max)
        comm->cost.slice_max = comm->slice_slot;
    comm->topo_class = g->cls;
    comm->topo_all_direct = g->all_direct;
    for (int i = 0; i < comm->nranks; i++) {
        comm->ring[i] = g->rank_order[i];
        if (g->rank_order[i] == comm->rank)
            comm->ring_pos = i;
    }
    for (int p = 0; p < comm->nranks && r == haloSuccess; p++)
        if (comm_kind_remote(comm->peers[p].kind) && comm->peers[p].local_index < 0)
            r = topo_assign_peer(comm, g, p);
    if (r == haloSuccess)
        comm_rails_plan(comm);
    return r;
}

static void topo_log_graph(struct halo_comm *comm, const struct topo_graph *g)
{
    if (!halo_log_enabled(HALO_LOG_INFO, HALO_SUB_TOPO))
        return;
    char *text = malloc(16384);
    if (!text)
        return;
    topo_graph_format_text(g, text, 16384);
    HLOG_INFO(HALO_SUB_TOPO, comm->rank, "topology:\n%s", text);
    free(text);
}

haloResult_t comm_topo_setup(struct halo_comm *comm)
{
    comm->topo_class = comm->nlocal == comm->nranks ? TOPO_CLASS_SINGLE : TOPO_CLASS_MESH;
    if (comm->nlocal == comm->nranks) { /* the local model: it predicts (--model), one host does not plan by it */
        topo_cost_model_local(&comm->cost, comm->nranks, comm_local_tcp(comm));
        topo_pick_slice_slot(comm, NULL);
        return haloSuccess;
    }
    struct topo_options opt;
    char err[TOPO_ERR_LEN];
    topo_options_init(&opt);
    if (topo_options_from_env(&opt, err, sizeof(err)) != haloSuccess)
        return halo_error(comm, haloInvalidArgument, "rank %d: %s", comm->rank, err);
    struct topo_echo echo = {.fd = -1};
    struct topo_rank_info *recs = calloc((size_t)comm->nranks, sizeof(*recs));
    double *rtt = calloc((size_t)comm->nranks * TOPO_PROBE_ROW, sizeof(double));
    haloResult_t r = recs && rtt ? haloSuccess : halo_error(comm, haloSystemError, "out of memory for topology");
    if (r == haloSuccess)
        r = topo_gather_records(comm, recs, &echo);
    if (r == haloSuccess)
        r = topo_probe_links(comm, recs, &opt, rtt);
    topo_echo_stop(&echo);
    struct topo_graph *g = NULL;
    if (r == haloSuccess) {
        struct topo_probe_ctx c = {.comm = comm, .recs = recs, .rtt = rtt};
        opt.probe = topo_probe_lookup;
        opt.probe_arg = &c;
        haloResult_t gr = topo_graph_create(recs, comm->nranks, &opt, &g, err, sizeof(err));
        if (gr != haloSuccess)
            r = halo_error(comm, gr, "rank %d: %s", comm->rank, err);
        else
            topo_rates_apply(g, rtt);
    }
    if (r == haloSuccess && (r = topo_apply(comm, g)) == haloSuccess)
        topo_log_graph(comm, g);
    free(recs);
    free(rtt);
    return r;
}

void comm_topo_destroy(struct halo_comm *comm)
{
    topo_graph_destroy(comm->topo);
    comm->topo = NULL;
}
