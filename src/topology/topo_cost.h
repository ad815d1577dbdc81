/* SPDX-License-Identifier: MIT */
/*
 * topo_cost.h — alpha-beta cost model of the collectives (all-reduce, all-gather,
 * reduce-scatter, broadcast, reduce) on the host graph, and the choice of
 * algorithm, slice size and channel count it implies.
 *
 * A link has a one-way latency alpha (probe RTT/2, else a default per driver) and a
 * bandwidth B per direction (link speed, else a default per driver); links are full
 * duplex. On a switch a host's links share one NIC (shared_nic), so what it sends to
 * all peers together is limited by B. The formulas and their derivations are in
 * cost.c. Times are in seconds, sizes in bytes, bandwidths in bytes per second.
 *
 * The model is a pure function of its inputs: every rank computes the same plan.
 */
#ifndef HALO_TOPO_COST_H
#define HALO_TOPO_COST_H

#include <stddef.h>

#include "topo.h"

/* The algorithms the model prices: each is a row of the algorithm table
 * (src/collectives/algo_table.c) with a schedule, and carries that row's name. */
enum topo_algo {
    TOPO_ALGO_RING = 0,       /* reduce-scatter + all-gather around one ring direction */
    TOPO_ALGO_RING_BIDIR,     /* two half-size rings, one each way (ring, 3+ hosts) */
    TOPO_ALGO_CHAIN,          /* halves reduced in opposite directions, broadcast back */
    TOPO_ALGO_DIRECT,         /* one shot: every host sends all S to every peer, reduces locally */
    TOPO_ALGO_TWO_SHOT,       /* reduce-scatter then all-gather, each block straight to its owner */
    TOPO_ALGO_COUNT
};
#define TOPO_ALGO_MASK_ALL ((1u << TOPO_ALGO_COUNT) - 1)

/* The collectives the model prices. Sizes: S is the bytes of the whole vector the
 * collective produces: the all-reduce/broadcast/reduce buffer, the all-gather's
 * output (nranks x the send count), the reduce-scatter's input (nranks x the
 * receive count); as api.c counts them. */
enum topo_coll {
    TOPO_COLL_ALLREDUCE = 0,
    TOPO_COLL_ALLGATHER,
    TOPO_COLL_REDUCESCATTER,
    TOPO_COLL_BROADCAST,
    TOPO_COLL_REDUCE,
    TOPO_COLL_COUNT
};
const char *topo_coll_name(enum topo_coll c);
/* nccl-tests' bus bandwidth factor of c on n ranks: busbw = S / time * factor. */
double topo_coll_busbw_factor(enum topo_coll c, int n);
/* Whether the model has a formula for algorithm a running collective c: exactly
 * the pairs that have a schedule in the algorithm table (tests check both agree). */
int topo_cost_priced(enum topo_coll c, enum topo_algo a);

/* The smallest pipeline slice worth a message: the schedules cut a block into
 * slices of at least this (src/collectives/slice.c) and the model tries no
 * smaller slice (slice_min), so it predicts what runs. */
#define HALO_SLICE_MIN_BYTES (32u << 10)

const char *topo_algo_name(enum topo_algo a);
/* "ring", "ring_bidir", "chain", "direct" (the algorithm table's names) or "auto"
 * to a mask of algorithms; 0 when the name is unknown. */
unsigned topo_algo_mask_parse(const char *name);

#define TOPO_COST_MAX_CHANNELS 16

struct topo_cost_model {
    int nhosts;
    enum topo_class cls;
    int all_direct;        /* every host pair linked: direct algorithms possible */
    int shared_nic;        /* a host's links to different peers share one NIC */
    double alpha_s;        /* one-way latency of one hop */
    double bw_Bps;         /* bandwidth per direction of the slowest link used */
    double msg_overhead_s; /* software cost of one message (slice) on one channel */
    double chan_overhead_s;/* cost of each channel beyond the first (wake-up, sync) */
    double chan_bw_Bps;    /* most one channel (thread + connection) moves; 0 = no cap */
    double reduce_Bps;     /* reduction throughput of one channel; 0 = free */
    int max_channels;
    /* Rails (several links between two hosts): chan_gain[p] is the bandwidth of the
     * slowest hop with p channels spread over its links, over bw_Bps (its best link
     * alone); 0 = 1. The caller fills it (it knows how channels spread). */
    double chan_gain[TOPO_COST_MAX_CHANNELS + 1];
    size_t slice_min, slice_max; /* powers of two tried in between */
};

struct topo_plan {
    enum topo_algo algo;
    size_t slice;     /* pipeline slice (bytes a schedule moves per step) per channel */
    int nchannels;
    double time_s;    /* predicted */
    double busbw_Bps; /* nccl-tests' bus bandwidth of the collective (allreduce: S / time * 2(n-1)/n) */
};

/* Defaults for a class and host count: 10 Gbit/s links, 20 us alpha, tcp-like
 * per-message cost; the caller overrides fields it knows. */
void topo_cost_model_init(struct topo_cost_model *m, enum topo_class cls, int nhosts);
/* Model of a built graph: alpha = largest RTT/2 (or driver default) and B = lowest
 * speed (or driver default) over the links the order uses (all usable links when
 * every pair is direct); shared_nic when those links run over a switch. Fields other
 * than these keep topo_cost_model_init's defaults. */
void topo_cost_model_from_graph(const struct topo_graph *g, struct topo_cost_model *m);
/* Whether the model of g prices link i: it joins neighbours along the order, or
 * every pair is direct and it is the best link of its pair. */
int topo_cost_link_used(const struct topo_graph *g, int i);
/* One host of nranks ranks joined by shm FIFOs (tcp = 0) or loopback tcp (1):
 * class single, every pair "linked", one copy rate per rank (shared_nic). Used to
 * predict (perf tools' --model), not to choose: one host keeps HALO_DIRECT_MAX. */
void topo_cost_model_local(struct topo_cost_model *m, int nranks, int tcp);
/* Defaults by driver name when a link reports no speed or no RTT. */
double topo_cost_driver_alpha_s(const char *driver);
double topo_cost_driver_bw_Bps(const char *driver);

/* Can the class carry the algorithm (ring needs a closing link, direct and
 * two_shot need every pair linked, ring_bidir needs 3+ hosts)? */
int topo_cost_algo_valid(const struct topo_cost_model *m, enum topo_algo a);
/* Predicted time of collective c of `bytes` under algorithm a with the given
 * slice and channel count; INFINITY when a is not valid for the model or has no
 * schedule for c. */
double topo_cost_coll(const struct topo_cost_model *m, enum topo_coll c, enum topo_algo a, size_t bytes,
                      size_t slice, int nchannels);
/* Predicted time of one point-to-point message of `bytes` between hosts `hops`
 * links apart (1: linked, or one host; more: relayed by the hosts between) in
 * frames of `frame` bytes (0: one frame), on one channel; zc: the receiver grants
 * its buffer first (ib zero-copy), one more latency. 0 for 0 bytes. */
double topo_cost_p2p(const struct topo_cost_model *m, size_t bytes, int hops, size_t frame, int zc);
/* topo_cost_coll of TOPO_COLL_ALLREDUCE. */
double topo_cost_allreduce(const struct topo_cost_model *m, enum topo_algo a, size_t bytes,
                           size_t slice, int nchannels);
/* Best plan among the algorithms in algo_mask (0 = all) for `bytes`: tries every
 * valid algorithm, channel count 1..max_channels and power-of-two slice; ties go
 * to the lower enum value, fewer channels, larger slice. Returns 0, or -1 when no
 * algorithm in the mask is valid (*out untouched). */
int topo_cost_plan(const struct topo_cost_model *m, size_t bytes, unsigned algo_mask,
                   struct topo_plan *out);
/* Best plan of one algorithm (slice and channels chosen); -1 if not valid. */
int topo_cost_plan_algo(const struct topo_cost_model *m, size_t bytes, enum topo_algo a,
                        struct topo_plan *out);
/* The same two for any collective (the two above are their allreduce form): only
 * algorithms priced for c (topo_cost_priced) are tried. */
int topo_cost_plan_coll(const struct topo_cost_model *m, enum topo_coll c, size_t bytes, unsigned algo_mask,
                        struct topo_plan *out);
int topo_cost_plan_coll_algo(const struct topo_cost_model *m, enum topo_coll c, size_t bytes, enum topo_algo a,
                             struct topo_plan *out);

/* `halo-topo --plan SIZE`: the model's parameters, one row per algorithm (valid or
 * why not, slice, channels, predicted time, algbw, busbw) and the choice marked.
 * snprintf semantics. */
size_t topo_cost_format_table(const struct topo_cost_model *m, size_t bytes, char *buf, size_t len);
/* The same as one JSON object (no newline): bytes, class, nhosts, alpha_us, bw_mbps,
 * shared_nic, choice and one entry per algorithm ({name, valid, chosen, slice,
 * channels, time_us, algbw_GBps, busbw_GBps} or {name, valid: false, why}). One
 * host has no link to price: only bytes, class, nhosts and an empty list, and the
 * text says so in one line. snprintf semantics. */
size_t topo_cost_format_json(const struct topo_cost_model *m, size_t bytes, char *buf, size_t len);

#endif
