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
#include "log.h"
#include "topo.h"
#include "topo_cost.h"

#define TOPO_MAX_PROBED_LINKS 128
#define TOPO_PROBE_COUNT 5
#define TOPO_PROBE_TIMEOUT_MS 1000

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

struct topo_probe_ctx {
    struct halo_comm *comm;
    const struct topo_rank_info *recs;
    double *rtt; /* [TOPO_MAX_PROBED_LINKS] */
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
    if (topo_probe_rtt(l->ifname[0], l->addr[0], l->addr[1], port, TOPO_PROBE_COUNT, TOPO_PROBE_TIMEOUT_MS, rtt_us,
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
    double v = c->rtt[(size_t)l->rank[0] * TOPO_MAX_PROBED_LINKS + (size_t)l->index];
    *rtt_us = v >= 0 ? v : -1;
    return v == -2 ? -1 : 0;
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

static haloResult_t topo_probe_links(struct halo_comm *comm, const struct topo_rank_info *recs,
                                     const struct topo_options *base, double *all_rtt)
{
    double *mine = all_rtt + (size_t)comm->rank * TOPO_MAX_PROBED_LINKS;
    for (int i = 0; i < TOPO_MAX_PROBED_LINKS; i++)
        mine[i] = -1;
    if (comm->local_rank == 0) {
        struct topo_probe_ctx c = {.comm = comm, .recs = recs, .rtt = mine};
        struct topo_options opt = *base;
        struct topo_graph *g = NULL;
        char err[TOPO_ERR_LEN];
        opt.probe = topo_probe_own;
        opt.probe_arg = &c;
        topo_graph_create(recs, comm->nranks, &opt, &g, err, sizeof(err)); /* only for its probe calls */
        topo_graph_destroy(g);
    }
    return bootstrap_allgather(comm->bs, all_rtt, TOPO_MAX_PROBED_LINKS * sizeof(double));
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

static void topo_link_end(const struct topo_graph *g, const struct topo_link *l, int side,
                          struct halo_tp_link_end *e)
{
    const struct topo_iface *ifc = &g->hosts[l->host[side]].ifaces[l->iface[side]];
    snprintf(e->ifname, sizeof(e->ifname), "%s", l->ifname[side]);
    snprintf(e->addr, sizeof(e->addr), "%s", l->addr[side]);
    snprintf(e->rdma_dev, sizeof(e->rdma_dev), "%s", ifc->rdma_dev);
    e->rdma_port = ifc->rdma_port;
    e->rdma_active = (ifc->flags & TOPO_IF_RDMA_ACTIVE) != 0;
}

/* Remote peers: the link between our hosts gives both ends' addresses (the port
 * is the chosen transport's listener's). The transports are then asked again,
 * with the link: in auto, its RDMA ports decide between ib and tcp. */
static haloResult_t topo_assign_peer(struct halo_comm *comm, struct topo_graph *g, int p)
{
    struct halo_peer *peer = &comm->peers[p];
    int hme = g->rank_host[comm->rank], hp = g->rank_host[p];
    int li = topo_graph_link_between(g, hme, hp);
    if (li < 0 || g->links[li].state != TOPO_LINK_OK) {
        peer->kind = HALO_TR_NONE;
        return haloSuccess;
    }
    const struct topo_link *l = &g->links[li];
    int mine = l->host[0] == hme ? 0 : 1;
    if (topo_parse_addr(l->addr[1 - mine], 0, &peer->data_addr) != 0 ||
        topo_parse_addr(l->addr[mine], 0, &peer->data_src) != 0) {
        peer->kind = HALO_TR_NONE;
        return haloSuccess;
    }
    snprintf(peer->data_ifname, sizeof(peer->data_ifname), "%s", l->ifname[mine]);
    peer->has_link = 1;
    struct halo_tp_link link;
    topo_link_end(g, l, mine, &link.mine);
    topo_link_end(g, l, 1 - mine, &link.peer);
    return comm_select_transport(comm, p, &link);
}

static haloResult_t topo_apply(struct halo_comm *comm, struct topo_graph *g)
{
    haloResult_t r = haloSuccess;
    comm->topo = g;
    topo_cost_model_from_graph(g, &comm->cost);
    comm->cost.max_channels = comm->nchannels;
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
    if (comm->nlocal == comm->nranks)
        return haloSuccess;
    struct topo_options opt;
    char err[TOPO_ERR_LEN];
    topo_options_init(&opt);
    if (topo_options_from_env(&opt, err, sizeof(err)) != haloSuccess)
        return halo_error(comm, haloInvalidArgument, "rank %d: %s", comm->rank, err);
    struct topo_echo echo = {.fd = -1};
    struct topo_rank_info *recs = calloc((size_t)comm->nranks, sizeof(*recs));
    double *rtt = calloc((size_t)comm->nranks * TOPO_MAX_PROBED_LINKS, sizeof(double));
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
