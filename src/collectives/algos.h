/*
 * algos.h — collective algorithms as per-channel schedules over the primitives.
 * Each function runs one channel's share of one operation (ex->ch of
 * ex->op->nchannels) and is called on every rank.
 */
#ifndef HALO_ALGOS_H
#define HALO_ALGOS_H

#include "engine.h"

haloResult_t ring_allreduce(struct halo_exec *ex);
haloResult_t ring_allgather(struct halo_exec *ex);
haloResult_t ring_broadcast(struct halo_exec *ex);
haloResult_t ring_reduce(struct halo_exec *ex);
haloResult_t ring_reducescatter(struct halo_exec *ex);
haloResult_t direct_allreduce(struct halo_exec *ex);
/* Daisy chain, no link between the ends (chain.c). */
haloResult_t chain_allreduce(struct halo_exec *ex);
haloResult_t chain_allgather(struct halo_exec *ex);
haloResult_t chain_broadcast(struct halo_exec *ex);
haloResult_t chain_reduce(struct halo_exec *ex);
haloResult_t chain_reducescatter(struct halo_exec *ex);
/* Ring geometry (ring.c): slice s of block k of a channel range [coff, coff+clen),
 * n blocks of nslices slices each; ring_mod is a modulo that is never negative. */
struct ring_geom {
    size_t coff, clen, nslices;
    int n;
};
void ring_slice(const struct ring_geom *g, int k, size_t s, size_t *off, size_t *len);
int ring_mod(int a, int n);

/* Ring all-reduce with zero-copy messages (ring_zc.c), when ring_zc_usable. */
int ring_zc_usable(const struct halo_exec *ex);
haloResult_t ring_zc_allreduce(struct halo_exec *ex);
/* Ring, both directions at once (ring_bidir.c). */
haloResult_t ring_bidir_allreduce(struct halo_exec *ex);

/* Slicing shared by the schedules: a channel's part of `count` elements, and the
 * number of pipeline slices a block of at most `blockmax` elements is cut into. */
void algo_channel_range(const struct halo_exec *ex, size_t count, size_t *off, size_t *len);
size_t algo_nslices(const struct halo_exec *ex, size_t blockmax);
/* All-gather: copies this rank's own part of the channel range into recvbuff
 * (nothing when in place). */
void algo_allgather_own(const struct halo_exec *ex, size_t coff, size_t clen);

/* Sends and receives (p2p.c): runs a batch concurrently until all complete. */
haloResult_t p2p_execute(struct halo_op *ops, int n);

#endif
