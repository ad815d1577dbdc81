/* SPDX-License-Identifier: MIT */
/*
 * algos.h — collective algorithms as per-channel schedules over the primitives.
 * Each function runs one channel's share of one operation (ex->ch of
 * ex->op->nchannels) and is called on every rank. Which one runs is chosen in
 * src/api/api.c; a schedule never hands off to another.
 */
#ifndef HALO_ALGOS_H
#define HALO_ALGOS_H

#include "engine.h"
#include "slice.h"

haloResult_t ring_allreduce(struct halo_exec *ex);
haloResult_t ring_allgather(struct halo_exec *ex);
haloResult_t ring_broadcast(struct halo_exec *ex);
haloResult_t ring_reduce(struct halo_exec *ex);
haloResult_t ring_reducescatter(struct halo_exec *ex);
haloResult_t direct_allreduce(struct halo_exec *ex);
/* Two-shot all-reduce over direct links (two_shot.c); its zero-copy variant where
 * every peer is reached over ib (two_shot_zc_usable, as ring_zc_usable). */
haloResult_t two_shot_allreduce(struct halo_exec *ex);
int two_shot_zc_usable(const struct halo_comm *comm, const struct halo_op *op);
haloResult_t two_shot_zc_allreduce(struct halo_exec *ex);
/* Daisy chain, no link between the ends (chain.c). */
haloResult_t chain_allreduce(struct halo_exec *ex);
haloResult_t chain_allgather(struct halo_exec *ex);
haloResult_t chain_broadcast(struct halo_exec *ex);
haloResult_t chain_reduce(struct halo_exec *ex);
haloResult_t chain_reducescatter(struct halo_exec *ex);
/* The one-way ring with zero-copy messages (ring_zc.c: all-reduce;
 * ring_zc_coll.c: all-gather, broadcast, reduce-scatter). ring_zc_usable:
 * whether op, already given its channel count, can run it on comm (the same
 * answer on every rank). */
int ring_zc_usable(const struct halo_comm *comm, const struct halo_op *op);
/* Whether the shortest of op's channel ranges, cut in `parts` (the schedule's
 * blocks), reaches HALO_IB_ZCOPY_MIN: the size test of every zero-copy schedule. */
int zc_block_reaches(const struct halo_comm *comm, const struct halo_op *op, size_t parts);
haloResult_t ring_zc_allreduce(struct halo_exec *ex);
/* ring_bidir over ib: ring_zc_allreduce on every channel, odd channels along the
 * reversed ring. */
haloResult_t ring_zc_bidir_allreduce(struct halo_exec *ex);
haloResult_t ring_zc_allgather(struct halo_exec *ex);
haloResult_t ring_zc_broadcast(struct halo_exec *ex);
haloResult_t ring_zc_reducescatter(struct halo_exec *ex);
haloResult_t ring_zc_reduce(struct halo_exec *ex);
/* The daisy chain with zero-copy messages (chain_zc.c). chain_zc_usable: as
 * ring_zc_usable, for the chain's neighbours. */
int chain_zc_usable(const struct halo_comm *comm, const struct halo_op *op);
haloResult_t chain_zc_allreduce(struct halo_exec *ex);
haloResult_t chain_zc_allgather(struct halo_exec *ex);
haloResult_t chain_zc_broadcast(struct halo_exec *ex);
haloResult_t chain_zc_reducescatter(struct halo_exec *ex);
haloResult_t chain_zc_reduce(struct halo_exec *ex);
/* Ring, both directions at once (ring_bidir.c). */
haloResult_t ring_bidir_allreduce(struct halo_exec *ex);

/* This rank on comm->ring (ring.c): n ranks, position p, the neighbours at p+1
 * (next) and p-1 (prev). The chain uses the same order without the closing link. */
struct ring_pos {
    int n, p;
    int next, prev;
};
void ring_pos_init(const struct halo_comm *comm, struct ring_pos *r);
/* The same ring walked the other way: position n-1-p, next and prev swapped (the
 * second direction of ring_bidir and of ring_bidir_zc's odd channels). */
struct ring_pos ring_pos_reversed(const struct ring_pos *r);
/* Position of rank on comm->ring; ring_mod is a modulo that is never negative. */
int ring_pos_of(const struct halo_comm *comm, int rank);
int ring_mod(int a, int n);

/* All-gather: copies this rank's own part of the channel range, or of a slice,
 * into recvbuff (nothing when in place). */
void algo_allgather_own(const struct halo_exec *ex, size_t coff, size_t clen);
/* Broadcast root: copies g's range, or elements [off, off + len), from sendbuff to
 * recvbuff (nothing when in place). */
void algo_root_copy(const struct halo_exec *ex, const struct slice_geom *g);
void algo_root_copy_range(const struct halo_exec *ex, size_t off, size_t len);

/* The algorithm table (algo_table.c): one row per enum halo_algo. */
struct algo_row {
    enum halo_algo algo;
    const char *name; /* logs, halo-info; the HALO_ALGO word when word is 1 */
    int word;         /* HALO_ALGO accepts the name */
    int topo_algo;    /* the cost model's counterpart (enum topo_algo), -1: none */
    /* The channel function per collective; NULL: the algorithm has none. */
    halo_channel_fn schedules[HALO_COLL_NUM];
    const char *summary;
};
int algo_count(void);
const struct algo_row *algo_at(int i);
/* The row of a, or NULL. */
const struct algo_row *algo_row_of(enum halo_algo a);
/* The row HALO_ALGO=word selects; NULL for "auto" (and anything else). */
const struct algo_row *algo_by_word(const char *word);
/* "ring", "ring_zc", ...; "?" for a value with no row. */
const char *algo_name(enum halo_algo a);
int algo_has_schedule(enum halo_algo a, enum halo_coll c);
/* The schedule of collective c under algorithm a, NULL when it has none. */
halo_channel_fn algo_schedule(enum halo_algo a, enum halo_coll c);

/* Sends and receives (p2p.c): runs a batch concurrently until all complete. */
haloResult_t p2p_execute(struct halo_op *ops, int n);

#endif
