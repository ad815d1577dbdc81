/* SPDX-License-Identifier: MIT */
/*
 * cost.c — alpha-beta model of the collectives on n hosts, and the plan it picks.
 *
 * Notation: S bytes, n hosts, alpha one-way hop latency, B bytes/s per link direction,
 * o software cost per message, c slice, p channels. Each formula is
 *     latency terms  +  max(bytes on the busiest link direction / B_eff,
 *                           bytes reduced by one host / G_eff)
 * with B_eff = min(B, p * chan_bw) and G_eff = p * reduce_bw: in these pipelined
 * algorithms reduction overlaps communication, so the slower of the two is the bound.
 *
 * ring (one direction): 2(n-1) steps, each moving a block S/n one hop:
 *     T = 2(n-1) (alpha + o m) + 2(n-1) S / (n B),   m = messages per step per channel.
 *   Every link direction carries 2(n-1)S/n; on a ring of cables only one direction of
 *   each cable works. busbw -> B.
 * ring_bidir: two rings of S/2 in opposite directions, each using the direction of
 *   every cable the other leaves idle:  T = 2(n-1) (alpha + o m) + (n-1) S / (n B).
 *   busbw -> 2B. Behind a switch both rings leave through the same NIC, so the bytes
 *   per NIC direction stay 2(n-1)S/n and nothing is gained (shared_nic).
 * chain (daisy chain, no closing link): the data is split in halves A and B. A is
 *   reduced left to right (host 0 sends its A to host 1, which adds its own and
 *   forwards, ... host n-1 holds the sum) and broadcast back right to left; B does the
 *   mirror image. Bytes per link direction: left-to-right carries A's partial sums
 *   (S/2) and B's broadcast (S/2): S; right-to-left likewise S. The bound is therefore
 *   T >= S / B, i.e. busbw = (S/T) 2(n-1)/n = 1.5 B at n = 4.
 *   Pipelined in slices of c per half per channel: k = S/(2 p c) slices, a stage moves
 *   one slice of each half over a link direction (2c per channel), and the last slice
 *   of a half needs 2(n-1) hops (n-1 reduce + n-1 broadcast), so
 *     T = 2(n-1) alpha + (k + 2(n-1) - 1) (o + 2 c p / B_eff),
 *   where (k + 2n - 3) counts stages: k to stream, 2n-3 to fill and drain. The fill
 *   term 2(n-1)-1 stages is what a small c buys down; a small c costs k*o. Behind a
 *   switch a middle host sends 2S through its one NIC (to both neighbours): 2S / B.
 * direct (one shot, every pair linked): each host sends S to each of its n-1 peers
 *   and reduces n-1 incoming vectors. On cables each peer has its own link: S per
 *   link direction; behind a switch all (n-1)S leave through one NIC:
 *     T = alpha + o m (n-1) + max({S | (n-1)S} / B_eff, (n-1) S / G_eff).
 * two_shot (every pair linked, two_shot.c): block i (S/n) is reduced on host i
 *   (every peer sends it its part of block i), then host i sends the result to
 *   every peer. A slice runs both phases before the next starts (two latencies per
 *   slice; k = S/(n p c) slices per channel), so
 *     T = k (2 alpha + 2(n-1) o) + max({2S/n | 2(n-1)S/n} / B_eff, (n-1)S/n / G_eff).
 *   Behind a switch it moves the ring's bytes in 2 latencies instead of 2(n-1):
 *   it beats the ring while k < n-1 and the one shot above S* = (alpha + (n-1)o)
 *   B / (n-1 - 2(n-1)/n) (one slice): mid sizes.
 *
 * The other collectives, with the schedules that run them (ring.c, chain.c):
 * ring all-gather / reduce-scatter: n-1 steps, each moving a block S/n one hop,
 *     T = (n-1)(alpha + o m) + max((n-1)S/n / B_eff, [(n-1)S/n / G_eff]),
 *   the reduction term for reduce-scatter only. busbw -> B.
 * ring broadcast / reduce: a pipeline of n-1 hops from the root (to it), k = S/(p c)
 *   slices per channel; each link direction (each NIC) carries S:
 *     T = (n-1) alpha + (k + n - 2)(o + max(c p / B_eff, [c p / G_eff])). busbw -> B.
 * chain all-gather / reduce-scatter: each block travels from its owner both ways
 *   (partial sums toward it). The cables at the ends carry n-1 blocks inward, so the
 *   busiest direction has (n-1)S/n, as the ring; a middle host sends n+1 blocks
 *   (its own both ways), which matters behind a shared NIC only. Up to two
 *   messages per step: T = (n-1)(alpha + 2 o m) + max(link / B_eff, [(n+1)S/n / G_eff]).
 * chain broadcast / reduce: the root sends both ways (sums flow toward it from both
 *   ends). The plan is computed without the root (every rank computes the same),
 *   so it prices a root at an end: the ring's pipeline of n-1 hops; a root in the
 *   middle is faster by about n/2 hops of fill.
 * point-to-point (send/receive, p2p.c and relay.c): one message of S over h links,
 *   h = 1 between linked hosts (or on a switch), more when the hosts between relay
 *   it. Frames of f bytes (a slot; over ib zero-copy the whole message, up to its
 *   largest piece) are forwarded as they arrive, one channel:
 *     T = h alpha + (k + h - 1)(o + f / B_eff),   k = S / f,
 *   the broadcast's pipeline over h hops; zero-copy adds one alpha, the receiver's
 *   grant crossing before the data may.
 * Algorithms without a schedule for a collective are not priced for it
 * (topo_cost_priced): ring_bidir, direct and two_shot run all-reduce only.
 * Each extra channel costs chan_overhead (a thread to wake and join), so small
 * messages use one.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph_internal.h"
#include "topo_cost.h"

static const char *const topo_algo_names[TOPO_ALGO_COUNT] = {
    [TOPO_ALGO_RING] = "ring",
    [TOPO_ALGO_RING_BIDIR] = "ring_bidir",
    [TOPO_ALGO_CHAIN] = "chain",
    [TOPO_ALGO_DIRECT] = "direct",
    [TOPO_ALGO_TWO_SHOT] = "two_shot",
};

static const char *const topo_coll_names[TOPO_COLL_COUNT] = {
    [TOPO_COLL_ALLREDUCE] = "allreduce",
    [TOPO_COLL_ALLGATHER] = "allgather",
    [TOPO_COLL_REDUCESCATTER] = "reducescatter",
    [TOPO_COLL_BROADCAST] = "broadcast",
    [TOPO_COLL_REDUCE] = "reduce",
};

const char *topo_coll_name(enum topo_coll c)
{
    return c >= 0 && c < TOPO_COLL_COUNT ? topo_coll_names[c] : "?";
}

double topo_coll_busbw_factor(enum topo_coll c, int n)
{
    if (n < 2)
        return 0;
    switch (c) {
    case TOPO_COLL_ALLREDUCE: return 2.0 * (n - 1) / n;
    case TOPO_COLL_ALLGATHER:
    case TOPO_COLL_REDUCESCATTER: return (double)(n - 1) / n;
    default: return 1;
    }
}

int topo_cost_priced(enum topo_coll c, enum topo_algo a)
{
    if (c < 0 || c >= TOPO_COLL_COUNT)
        return 0;
    return a == TOPO_ALGO_RING || a == TOPO_ALGO_CHAIN ||
           (c == TOPO_COLL_ALLREDUCE && a >= 0 && a < TOPO_ALGO_COUNT);
}

const char *topo_algo_name(enum topo_algo a)
{
    return a >= 0 && a < TOPO_ALGO_COUNT ? topo_algo_names[a] : "?";
}

unsigned topo_algo_mask_parse(const char *name)
{
    if (strcmp(name, "auto") == 0)
        return TOPO_ALGO_MASK_ALL;
    for (int a = 0; a < TOPO_ALGO_COUNT; a++)
        if (strcmp(name, topo_algo_names[a]) == 0)
            return 1u << a;
    return 0;
}

/* ---------------------------------------------------------------- parameters */

struct topo_driver_default {
    const char *driver;
    double alpha_us; /* one-way, kernel TCP included */
    double gbit;     /* when the link reports no speed */
};

/* Seen or published figures; a probe's RTT and the reported speed take precedence. */
static const struct topo_driver_default topo_driver_defaults[] = {
    { "thunderbolt-net", 20.0, 10.0 }, /* USB4 host-to-host: ~9-10 Gbit/s, 30-50 us RTT */
    { "ice", 8.0, 25.0 },              /* Intel E810 */
    { "mlx5_core", 6.0, 25.0 },        /* ConnectX-4..7 */
    { "veth", 5.0, 10.0 },             /* emulated cables (netns) */
    { "virtio_net", 15.0, 10.0 },
    { "bridge", 10.0, 1.0 },
};

static const struct topo_driver_default *topo_driver_find(const char *driver)
{
    for (size_t i = 0; i < sizeof(topo_driver_defaults) / sizeof(topo_driver_defaults[0]); i++)
        if (driver && strcmp(driver, topo_driver_defaults[i].driver) == 0)
            return &topo_driver_defaults[i];
    return NULL;
}

double topo_cost_driver_alpha_s(const char *driver)
{
    const struct topo_driver_default *d = topo_driver_find(driver);

    return (d ? d->alpha_us : 20.0) * 1e-6;
}

double topo_cost_driver_bw_Bps(const char *driver)
{
    const struct topo_driver_default *d = topo_driver_find(driver);

    return (d ? d->gbit : 1.0) * 1e9 / 8;
}

void topo_cost_model_init(struct topo_cost_model *m, enum topo_class cls, int nhosts)
{
    memset(m, 0, sizeof(*m));
    m->nhosts = nhosts;
    m->cls = cls;
    m->all_direct = cls == TOPO_CLASS_PAIR || cls == TOPO_CLASS_MESH;
    m->alpha_s = 20e-6;
    m->bw_Bps = 10e9 / 8;
    m->msg_overhead_s = 2e-6;  /* send + receive system calls of one slice over tcp */
    m->chan_overhead_s = 5e-6; /* waking and joining one more thread */
    m->chan_bw_Bps = 2.0e9;    /* one tcp stream per core, loopback iperf3 here: ~2.1 GB/s */
    m->reduce_Bps = 8.0e9;     /* float32 sum, one core, streaming */
    m->max_channels = 4;
    m->slice_min = HALO_SLICE_MIN_BYTES;
    m->slice_max = 4 << 20;
}

/* One host, several ranks: the "links" are the shm FIFOs (or tcp over loopback).
 * A rank's own core copies what it sends into a slot and what it receives out of
 * one, so its bytes in and out share one copy rate, as a host's bytes share a
 * NIC behind a switch (shared_nic). The rates are estimates, not measurements: a
 * core copies about 5 GB/s and copies every byte twice (into a slot, out of one),
 * so 2.5 GB/s of payload per rank over shm; one loopback tcp stream about 1 GB/s.
 * Machines differ (and a loaded one far more): --model's ratio column shows it. */
void topo_cost_model_local(struct topo_cost_model *m, int nranks, int tcp)
{
    topo_cost_model_init(m, TOPO_CLASS_SINGLE, nranks);
    m->all_direct = 1;
    m->shared_nic = 1;
    m->alpha_s = tcp ? 10e-6 : 1e-6;
    m->bw_Bps = tcp ? 1.0e9 : 2.5e9;
    m->msg_overhead_s = tcp ? 2e-6 : 0.3e-6;
    m->chan_bw_Bps = m->bw_Bps;
    m->chan_gain[1] = 1;
}

static void topo_model_take_link(struct topo_cost_model *m, const struct topo_link *l, int *first)
{
    double alpha = l->rtt_us >= 0 ? l->rtt_us * 1e-6 / 2
                                  : fmax(topo_cost_driver_alpha_s(l->driver[0]),
                                         topo_cost_driver_alpha_s(l->driver[1]));
    double bw = l->speed_mbps > 0 ? l->speed_mbps * 1e6 / 8
                                  : fmin(topo_cost_driver_bw_Bps(l->driver[0]),
                                         topo_cost_driver_bw_Bps(l->driver[1]));

    if (*first || alpha > m->alpha_s)
        m->alpha_s = alpha;
    if (*first || bw < m->bw_Bps)
        m->bw_Bps = bw;
    m->shared_nic |= l->switched;
    *first = 0;
}

int topo_cost_link_used(const struct topo_graph *g, int i)
{
    int in_order = 0;

    if (i < 0 || i >= g->nlinks)
        return 0;
    for (int h = 0; h < g->nhosts && !in_order; h++)
        in_order = g->hosts[h].left.link == i || g->hosts[h].right.link == i;
    return in_order || (g->all_direct && topo_graph_link_between(g, g->links[i].host[0], g->links[i].host[1]) == i);
}

void topo_cost_model_from_graph(const struct topo_graph *g, struct topo_cost_model *m)
{
    int first = 1;

    topo_cost_model_init(m, g->cls, g->nhosts);
    m->all_direct = g->all_direct;
    for (int i = 0; i < g->nlinks; i++)
        if (topo_cost_link_used(g, i))
            topo_model_take_link(m, &g->links[i], &first);
}

/* ---------------------------------------------------------------- formulas */

int topo_cost_algo_valid(const struct topo_cost_model *m, enum topo_algo a)
{
    /* one host of several ranks (the shm model): every rank reaches every other */
    int n = m->nhosts, closed = m->cls == TOPO_CLASS_RING || m->cls == TOPO_CLASS_MESH ||
                                m->cls == TOPO_CLASS_PAIR || m->cls == TOPO_CLASS_SINGLE;

    if (n < 2)
        return a == TOPO_ALGO_RING;
    switch (a) {
    case TOPO_ALGO_RING: return closed;
    case TOPO_ALGO_RING_BIDIR: return closed && n >= 3;
    case TOPO_ALGO_CHAIN: return 1; /* every class here holds a path through all hosts */
    case TOPO_ALGO_DIRECT:
    case TOPO_ALGO_TWO_SHOT: return m->all_direct;
    default: return 0;
    }
}

static double topo_ceil_div(double a, double b)
{
    return a <= 0 ? 0 : ceil(a / b);
}

/* max(link bytes / B_eff, reduce bytes / G_eff) */
static double topo_bw_term(const struct topo_cost_model *m, int p, double link_bytes, double reduce_bytes)
{
    double gain = p <= TOPO_COST_MAX_CHANNELS && m->chan_gain[p] > 0 ? m->chan_gain[p] : 1;
    double b = m->chan_bw_Bps > 0 ? fmin(m->bw_Bps * gain, p * m->chan_bw_Bps) : m->bw_Bps * gain;
    double t = link_bytes / b;

    if (m->reduce_Bps > 0)
        t = fmax(t, reduce_bytes / (p * m->reduce_Bps));
    return t;
}

static double topo_cost_ring(const struct topo_cost_model *m, double S, double c, int p, int bidir)
{
    double n = m->nhosts, steps = 2 * (n - 1);
    double seg = bidir ? S / (2 * n * p) : S / (n * p);   /* per ring, channel, step */
    double msgs = (bidir ? 2 : 1) * topo_ceil_div(seg, c); /* one thread serves both rings */
    double link = (bidir && !m->shared_nic ? 1 : 2) * (n - 1) * S / n;

    return steps * (m->alpha_s + m->msg_overhead_s * msgs) + topo_bw_term(m, p, link, (n - 1) * S / n);
}

static double topo_cost_chain(const struct topo_cost_model *m, double S, double c, int p)
{
    double n = m->nhosts, hops = 2 * (n - 1);
    double half = S / (2 * p);                 /* one half, one channel */
    double cc = fmin(c, half > 0 ? half : c);  /* a slice never exceeds its half */
    double k = topo_ceil_div(half, cc);
    double nic = m->shared_nic && n >= 3 ? 2 : 1;
    double stage = m->msg_overhead_s + topo_bw_term(m, p, nic * 2 * cc * p, 2 * cc * p);

    return hops * m->alpha_s + (k + hops - 1) * stage;
}

static double topo_cost_direct(const struct topo_cost_model *m, double S, double c, int p)
{
    double n = m->nhosts;
    double msgs = (n - 1) * topo_ceil_div(S / p, c);
    double link = m->shared_nic ? (n - 1) * S : S;

    return m->alpha_s + m->msg_overhead_s * msgs + topo_bw_term(m, p, link, (n - 1) * S);
}

static double topo_cost_two_shot(const struct topo_cost_model *m, double S, double c, int p)
{
    double n = m->nhosts;
    double k = fmax(1, topo_ceil_div(S / (n * p), c)); /* slices per block and channel */
    double link = (m->shared_nic ? 2 * (n - 1) : 2) * S / n;

    return k * (2 * m->alpha_s + 2 * (n - 1) * m->msg_overhead_s) + topo_bw_term(m, p, link, (n - 1) * S / n);
}

/* Ring all-gather (reduces = 0) or reduce-scatter (1): n-1 steps of a block S/n. */
static double topo_cost_ring_gather(const struct topo_cost_model *m, double S, double c, int p, int reduces)
{
    double n = m->nhosts, moved = (n - 1) * S / n;
    double msgs = topo_ceil_div(S / (n * p), c);

    return (n - 1) * (m->alpha_s + m->msg_overhead_s * msgs) + topo_bw_term(m, p, moved, reduces ? moved : 0);
}

/* Chain all-gather or reduce-scatter: blocks both ways, two messages per step. */
static double topo_cost_chain_gather(const struct topo_cost_model *m, double S, double c, int p, int reduces)
{
    double n = m->nhosts, msgs = topo_ceil_div(S / (n * p), c);
    double mid = n >= 3 ? (n + 1) * S / n : S / n; /* a middle host's sends (and sums) */
    double link = m->shared_nic ? mid : (n - 1) * S / n;

    return (n - 1) * (m->alpha_s + 2 * m->msg_overhead_s * msgs) + topo_bw_term(m, p, link, reduces ? mid : 0);
}

/* A pipeline over `hops` links, k slices of c per channel: the last slice leaves
 * after k stages and takes hops - 1 more to arrive. */
static double topo_cost_hops(const struct topo_cost_model *m, double S, double c, int p, double hops, int reduces)
{
    double per = S / p;
    double cc = fmin(c, per > 0 ? per : c), k = topo_ceil_div(per, cc);
    double stage = m->msg_overhead_s + topo_bw_term(m, p, cc * p, reduces ? cc * p : 0);

    return hops * m->alpha_s + (k + hops - 1) * stage;
}

/* Broadcast (reduces = 0) or reduce (1) as a pipeline of n-1 hops, on the ring or a
 * chain with the root at an end; k slices of c per channel. */
static double topo_cost_pipeline(const struct topo_cost_model *m, double S, double c, int p, int reduces)
{
    return topo_cost_hops(m, S, c, p, m->nhosts - 1, reduces);
}

static double topo_cost_allreduce_of(const struct topo_cost_model *m, enum topo_algo a, double S, double c, int p)
{
    switch (a) {
    case TOPO_ALGO_RING: return topo_cost_ring(m, S, c, p, 0);
    case TOPO_ALGO_RING_BIDIR: return topo_cost_ring(m, S, c, p, 1);
    case TOPO_ALGO_CHAIN: return topo_cost_chain(m, S, c, p);
    case TOPO_ALGO_TWO_SHOT: return topo_cost_two_shot(m, S, c, p);
    default: return topo_cost_direct(m, S, c, p);
    }
}

double topo_cost_coll(const struct topo_cost_model *m, enum topo_coll coll, enum topo_algo a, size_t bytes,
                      size_t slice, int nchannels)
{
    double S = (double)bytes, c = slice > 0 ? (double)slice : 1, t;
    int p = nchannels > 0 ? nchannels : 1, chain = a == TOPO_ALGO_CHAIN;

    if (!topo_cost_priced(coll, a) || !topo_cost_algo_valid(m, a))
        return INFINITY;
    if (m->nhosts < 2)
        return 0;
    switch (coll) {
    case TOPO_COLL_ALLREDUCE: t = topo_cost_allreduce_of(m, a, S, c, p); break;
    case TOPO_COLL_ALLGATHER:
    case TOPO_COLL_REDUCESCATTER: {
        int reduces = coll == TOPO_COLL_REDUCESCATTER;
        t = chain ? topo_cost_chain_gather(m, S, c, p, reduces) : topo_cost_ring_gather(m, S, c, p, reduces);
        break;
    }
    default: t = topo_cost_pipeline(m, S, c, p, coll == TOPO_COLL_REDUCE); break;
    }
    return t + (p - 1) * m->chan_overhead_s;
}

double topo_cost_p2p(const struct topo_cost_model *m, size_t bytes, int hops, size_t frame, int zc)
{
    double S = (double)bytes, f = frame > 0 ? (double)frame : S;

    if (bytes == 0)
        return 0;
    return (zc ? m->alpha_s : 0) + topo_cost_hops(m, S, f, 1, hops > 1 ? hops : 1, 0);
}

double topo_cost_allreduce(const struct topo_cost_model *m, enum topo_algo a, size_t bytes,
                           size_t slice, int nchannels)
{
    return topo_cost_coll(m, TOPO_COLL_ALLREDUCE, a, bytes, slice, nchannels);
}

/* ---------------------------------------------------------------- choice */

/* The smallest power of two >= bytes, within [slice_min, slice_max]: a slice larger
 * than the message is the message. */
static size_t topo_slice_start(const struct topo_cost_model *m, size_t bytes)
{
    size_t c = m->slice_min;

    while (c < bytes && c < m->slice_max)
        c <<= 1;
    return c;
}

int topo_cost_plan_coll_algo(const struct topo_cost_model *m, enum topo_coll coll, size_t bytes, enum topo_algo a,
                             struct topo_plan *out)
{
    struct topo_plan best = { .algo = a, .time_s = INFINITY };
    int maxp = m->max_channels > 0 ? m->max_channels : 1;

    if (!topo_cost_priced(coll, a) || !topo_cost_algo_valid(m, a))
        return -1;
    for (int p = 1; p <= maxp; p++) {
        if (p > 1 && bytes / (size_t)p < m->slice_min)
            break; /* no channel gets a whole slice */
        /* largest useful slice first: on a tie the larger (fewer messages) wins */
        for (size_t c = topo_slice_start(m, bytes); c >= m->slice_min && c > 0; c >>= 1) {
            double t = topo_cost_coll(m, coll, a, bytes, c, p);
            if (t < best.time_s * (1 - 1e-9)) {
                best.time_s = t;
                best.slice = c;
                best.nchannels = p;
            }
        }
    }
    best.busbw_Bps = best.time_s > 0 ? (double)bytes / best.time_s * topo_coll_busbw_factor(coll, m->nhosts) : 0;
    *out = best;
    return 0;
}

int topo_cost_plan_coll(const struct topo_cost_model *m, enum topo_coll coll, size_t bytes, unsigned algo_mask,
                        struct topo_plan *out)
{
    struct topo_plan best = { .time_s = INFINITY }, p;
    int found = 0;

    if (!algo_mask)
        algo_mask = TOPO_ALGO_MASK_ALL;
    for (int a = 0; a < TOPO_ALGO_COUNT; a++) {
        if (!(algo_mask & (1u << a)) || topo_cost_plan_coll_algo(m, coll, bytes, (enum topo_algo)a, &p) != 0)
            continue;
        if (!found || p.time_s < best.time_s * (1 - 1e-9))
            best = p;
        found = 1;
    }
    if (!found)
        return -1;
    *out = best;
    return 0;
}

int topo_cost_plan_algo(const struct topo_cost_model *m, size_t bytes, enum topo_algo a, struct topo_plan *out)
{
    return topo_cost_plan_coll_algo(m, TOPO_COLL_ALLREDUCE, bytes, a, out);
}

int topo_cost_plan(const struct topo_cost_model *m, size_t bytes, unsigned algo_mask, struct topo_plan *out)
{
    return topo_cost_plan_coll(m, TOPO_COLL_ALLREDUCE, bytes, algo_mask, out);
}

/* ---------------------------------------------------------------- table */

static const char *topo_invalid_reason(const struct topo_cost_model *m, enum topo_algo a)
{
    if (a == TOPO_ALGO_RING_BIDIR && m->nhosts < 3)
        return "needs 3+ hosts";
    if (a == TOPO_ALGO_RING || a == TOPO_ALGO_RING_BIDIR)
        return "no closing link";
    return "not every pair linked"; /* direct, two_shot */
}

static void topo_size_text(size_t bytes, char *buf, size_t len)
{
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        snprintf(buf, len, "%zu MiB", bytes >> 20);
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, len, "%zu KiB", bytes >> 10);
    else
        snprintf(buf, len, "%zu B", bytes);
}

size_t topo_cost_format_table(const struct topo_cost_model *m, size_t bytes, char *buf, size_t len)
{
    struct topo_plan choice, p;
    char size[32], slice[32];
    struct topo_buf b;
    int have = topo_cost_plan(m, bytes, 0, &choice) == 0;

    topo_buf_init(&b, buf, len);
    topo_size_text(bytes, size, sizeof(size));
    if (m->nhosts < 2) { /* no link to price: a 0.0 us row would only mislead */
        topo_buf_add(&b, "allreduce %s on one host: no links between hosts, nothing for the cost model\n", size);
        return b.pos;
    }
    topo_buf_add(&b, "allreduce %s on %s of %d host%s: alpha %.1f us, B %.0f Mbit/s per direction%s\n", size,
             topo_class_name(m->cls), m->nhosts, m->nhosts == 1 ? "" : "s", m->alpha_s * 1e6,
             m->bw_Bps * 8 / 1e6, m->shared_nic ? ", shared NIC (switch)" : "");
    topo_buf_add(&b, "  %-11s %9s %8s %12s %12s %12s\n", "algorithm", "slice", "channels", "time (us)",
             "algbw (GB/s)", "busbw (GB/s)");
    for (int a = 0; a < TOPO_ALGO_COUNT; a++) {
        if (topo_cost_plan_algo(m, bytes, (enum topo_algo)a, &p) != 0) {
            topo_buf_add(&b, "  %-11s %s\n", topo_algo_name((enum topo_algo)a), topo_invalid_reason(m, (enum topo_algo)a));
            continue;
        }
        topo_size_text(p.slice, slice, sizeof(slice));
        topo_buf_add(&b, "%s %-11s %9s %8d %12.1f %12.3f %12.3f\n", have && choice.algo == p.algo ? "*" : " ",
                 topo_algo_name(p.algo), slice, p.nchannels, p.time_s * 1e6,
                 p.time_s > 0 ? (double)bytes / p.time_s / 1e9 : 0.0, p.busbw_Bps / 1e9);
    }
    return b.pos;
}

/* One algorithm's row of the JSON table: valid with its plan, or why not. */
static void topo_cost_json_row(const struct topo_cost_model *m, size_t bytes, enum topo_algo a, int chosen,
                               struct topo_buf *b)
{
    struct topo_plan p;

    topo_buf_add(b, "{\"name\":\"%s\"", topo_algo_name(a));
    if (topo_cost_plan_algo(m, bytes, a, &p) != 0) {
        topo_buf_add(b, ",\"valid\":false,\"why\":\"%s\"}", topo_invalid_reason(m, a));
        return;
    }
    topo_buf_add(b, ",\"valid\":true,\"chosen\":%s,\"slice\":%zu,\"channels\":%d,\"time_us\":%.3f,"
                 "\"algbw_GBps\":%.6f,\"busbw_GBps\":%.6f}", chosen ? "true" : "false", p.slice, p.nchannels,
                 p.time_s * 1e6, p.time_s > 0 ? (double)bytes / p.time_s / 1e9 : 0.0, p.busbw_Bps / 1e9);
}

size_t topo_cost_format_json(const struct topo_cost_model *m, size_t bytes, char *buf, size_t len)
{
    struct topo_plan choice;
    struct topo_buf b;
    int have = m->nhosts >= 2 && topo_cost_plan(m, bytes, 0, &choice) == 0;

    topo_buf_init(&b, buf, len);
    topo_buf_add(&b, "{\"bytes\":%zu,\"class\":\"%s\",\"nhosts\":%d", bytes, topo_class_name(m->cls), m->nhosts);
    if (m->nhosts < 2) {
        topo_buf_add(&b, ",\"algorithms\":[]}");
        return b.pos;
    }
    topo_buf_add(&b, ",\"alpha_us\":%.3f,\"bw_mbps\":%.0f,\"shared_nic\":%s,\"choice\":", m->alpha_s * 1e6,
                 m->bw_Bps * 8 / 1e6, m->shared_nic ? "true" : "false");
    if (have)
        topo_buf_add(&b, "\"%s\"", topo_algo_name(choice.algo));
    else
        topo_buf_add(&b, "null");
    topo_buf_add(&b, ",\"algorithms\":[");
    for (int a = 0; a < TOPO_ALGO_COUNT; a++) {
        topo_buf_add(&b, "%s", a ? "," : "");
        topo_cost_json_row(m, bytes, (enum topo_algo)a, have && choice.algo == (enum topo_algo)a, &b);
    }
    topo_buf_add(&b, "]}");
    return b.pos;
}
