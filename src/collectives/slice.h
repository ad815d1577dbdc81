/* SPDX-License-Identifier: MIT */
/*
 * slice.h — how a schedule cuts its share of the buffer, and the words for sizes.
 *
 * One word per size, in code and comments:
 *   slot   a transport's fixed frame capacity (HALO_CHUNK_SIZE, NCCL's name, sets
 *          it; auto = 64k for shm, 512k for tcp and ib). A frame holds one slot.
 *   block  a rank's share of a channel's range in a ring or a chain (about
 *          len / nranks elements): what one rank reduces or owns.
 *   slice  the pipeline unit a schedule moves per step, at most a slot; every
 *          block is cut into the same number of slices.
 *   piece  the part of one zero-copy message that travels on one QP (ib only).
 * A channel's range is its part of the buffer (count / nchannels, or weighted by
 * the rates of the rails its connections run on: slice_channel_range).
 *
 * Geometry: a range [off, off + len) is cut into nblocks blocks, every block into
 * nslices slices, both by slice_split (nearly equal parts, the first ones one
 * element longer). Offsets and lengths are in elements and absolute in the user's
 * buffer, like the primitives' counts.
 */
#ifndef HALO_SLICE_H
#define HALO_SLICE_H

#include <stddef.h>

#include "engine.h"

struct slice_geom {
    size_t off, len; /* the range, elements */
    int nblocks;     /* 1 when the range is one block (no per-rank blocks) */
    size_t nslices;  /* slices per block */
};

/* Part k of count elements cut into `parts` parts: [*off, *off + *len). */
void slice_split(size_t count, int parts, int k, size_t *off, size_t *len);
/* Channel ch's range of count elements cut over k channels: equal parts
 * (slice_split), or in proportion to the rails' rates where hosts are joined by
 * links of different rates (comm->chan_share, the same on every rank). */
void slice_channel_range(const struct halo_comm *comm, size_t count, int k, int ch, size_t *off, size_t *len);
/* Elements of the shortest of those k ranges. */
size_t slice_channel_min(const struct halo_comm *comm, size_t count, int k);
/* Slice s of block b of g: [*off, *off + *len), absolute. */
void slice_of(const struct slice_geom *g, int b, size_t s, size_t *off, size_t *len);
/* Elements of the longest block (the first). */
size_t slice_block_max(const struct slice_geom *g);

/* Slices a block of at most blockmax elements is cut into: the cost model's slice
 * (op->slice), enough that none exceeds the smallest slot of the job's transports
 * (comm->slice_slot); without a plan, up to SLICE_PIPELINE_DEPTH slices of at
 * least comm->slice_min bytes, enough that none exceeds comm->slice_max. */
size_t slice_count(const struct halo_exec *ex, size_t blockmax);
/* This channel's range of count elements in nblocks blocks, slice_count slices each. */
void slice_geom_channel(const struct halo_exec *ex, size_t count, int nblocks, struct slice_geom *g);
/* The same range in two halves, for the two-direction schedules (ring_bidir,
 * chain): each half in nblocks blocks; both get the slice count of half 0, the
 * longer one, so the two directions step together. */
void slice_geom_halves(const struct halo_exec *ex, size_t count, int nblocks, struct slice_geom half[2]);

/* The per-slice loop of a one-block geometry: step(ex, arg, off, len) for every
 * slice in order, [off, off + len) absolute; stops at the first error. */
typedef haloResult_t (*slice_step_fn)(struct halo_exec *ex, const void *arg, size_t off, size_t len);
haloResult_t slice_each(struct halo_exec *ex, const struct slice_geom *g, slice_step_fn step, const void *arg);

#endif
