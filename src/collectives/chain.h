/* SPDX-License-Identifier: MIT */
/*
 * chain.h — what the daisy-chain schedules share between the slots (chain.c) and
 * zero-copy messages (chain_zc.c): this rank's place on the chain, the moves a
 * schedule makes, and the schedules' steps over a range of slices or ticks.
 *
 * A schedule's steps call c->io, never the primitives: chain.c's io moves frames
 * through the slots; chain_zc.c runs the same steps twice per window, once with
 * an io that only grants every receive its destination (in the order the
 * neighbour will send) and once with an io that sends and waits. So both paths
 * run one schedule, and the order of messages on every cable is the same.
 * Counts are in elements, offsets absolute in the user's buffers.
 */
#ifndef HALO_CHAIN_H
#define HALO_CHAIN_H

#include "algos.h"

struct chain_ctx;

struct chain_io {
    haloResult_t (*send)(struct chain_ctx *c, int to, const char *src, size_t len);
    haloResult_t (*recv)(struct chain_ctx *c, int from, char *dst, size_t len);
    /* receive into dst and pass it on to `to` */
    haloResult_t (*recv_copy_send)(struct chain_ctx *c, int from, int to, char *dst, size_t len);
    /* all-reduce: a partial sum from `from` plus mine, on to `to`; dst is where this
     * rank's result lands later (zero-copy keeps the partial sum there) */
    haloResult_t (*recv_reduce_send)(struct chain_ctx *c, int from, int to, const char *mine, char *dst,
                                     size_t len);
    /* all-reduce at a half's end: the finished slice (from + mine, avg divided) into
     * dst, and back to `to` */
    haloResult_t (*recv_finish_send)(struct chain_ctx *c, int from, int to, const char *mine, char *dst,
                                     size_t len);
    /* reduce-scatter and reduce: a partial sum from `from` plus mine, on to `to`
     * (this rank keeps nothing of it) */
    haloResult_t (*recv_pass)(struct chain_ctx *c, int from, int to, const char *mine, size_t len);
    /* where partial sums meet: dst = the one from `from` + src; final: divide for avg */
    haloResult_t (*recv_reduce)(struct chain_ctx *c, int from, const char *src, char *dst, size_t len, int final);
};

struct chain_ctx {
    struct halo_exec *ex;
    const struct chain_io *io;
    int n, p;
    int left, right; /* neighbour ranks, -1 at an end */
    /* The step now running, for zero-copy's landing places: its unit (the
     * all-reduce's tick, the other schedules' slice) and the place within the
     * unit (the all-reduce's half; for reduce-scatter and reduce the partial sums
     * received in the slice so far, which the moves count). */
    long unit;
    int nth;
    void *zc; /* chain_zc.c's state, NULL on the slots */
};

void chain_ctx_init(struct halo_exec *ex, struct chain_ctx *c, const struct chain_io *io);

/* All-reduce: the channel's range in two halves, A reduced toward position n-1
 * and B toward position 0 (chain.c's top comment). */
struct chain_half {
    struct slice_geom g; /* the half, one block */
    int d;               /* my distance from the half's start */
    int up, down;        /* neighbour toward the start / toward the end, -1 if none */
};
/* Both halves from geometry half[2] (slice_geom_halves, any slice count). */
void chain_ar_halves(const struct chain_ctx *c, const struct slice_geom half[2], struct chain_half h[2]);
/* Ticks of the systolic clock: nslices + 2(n-1). */
long chain_ar_ticks(const struct chain_ctx *c, const struct chain_half h[2]);
/* Ticks [t0, t1), both halves each tick. */
haloResult_t chain_ar_run(struct chain_ctx *c, const struct chain_half h[2], long t0, long t1);
/* All-gather, slices [s0, s1) of a one-block geometry of the per-rank count. */
haloResult_t chain_ag_run(struct chain_ctx *c, const struct slice_geom *g, size_t s0, size_t s1);
/* Broadcast from (bc) or reduce to (rd) the rank at position rp, slices [s0, s1). */
haloResult_t chain_bc_run(struct chain_ctx *c, const struct slice_geom *g, int rp, size_t s0, size_t s1);
haloResult_t chain_rd_run(struct chain_ctx *c, const struct slice_geom *g, int rp, size_t s0, size_t s1);
/* Reduce-scatter, slices [s0, s1) of a one-block geometry of the per-rank count. */
haloResult_t chain_rs_run(struct chain_ctx *c, const struct slice_geom *g, size_t s0, size_t s1);

#endif
