/* SPDX-License-Identifier: MIT */
/*
 * slice.c — the slicing geometry shared by the schedules (see slice.h): the cut of
 * a channel's range into blocks and slices, and how many slices a block gets.
 */
#include "hot.h"
#include "slice.h"

#include "comm.h"
#include "topo_cost.h"
#include "wire.h"

/* Slices in flight per block when the slot does not force more: enough to keep
 * every link of a ring busy while the first slice travels. */
#define SLICE_PIPELINE_DEPTH 4

void slice_split(size_t count, int parts, int k, size_t *off, size_t *len)
{
    size_t base = count / (size_t)parts, extra = count % (size_t)parts;
    *off = (size_t)k * base + ((size_t)k < extra ? (size_t)k : extra);
    *len = base + ((size_t)k < extra ? 1 : 0);
}

HALO_HOT void slice_channel_range(const struct halo_comm *comm, size_t count, int k, int ch, size_t *off, size_t *len)
{
    if (k < 1 || k > HALO_MAX_CHANNELS || !comm->chan_weighted[k - 1]) {
        slice_split(count, k, ch, off, len);
        return;
    }
    unsigned __int128 before = 0;
    for (int i = 0; i < ch; i++)
        before += comm->chan_share[k - 1][i];
    unsigned __int128 upto = before + comm->chan_share[k - 1][ch];
    size_t lo = (size_t)(before * count / 65536u), hi = ch + 1 == k ? count : (size_t)(upto * count / 65536u);
    *off = lo;
    *len = hi - lo;
}

size_t slice_channel_min(const struct halo_comm *comm, size_t count, int k)
{
    size_t least = count;
    for (int ch = 0; ch < k; ch++) {
        size_t off, len;
        slice_channel_range(comm, count, k, ch, &off, &len);
        least = len < least ? len : least;
    }
    return least;
}

void slice_of(const struct slice_geom *g, int b, size_t s, size_t *off, size_t *len)
{
    size_t boff, blen, soff;
    slice_split(g->len, g->nblocks, b, &boff, &blen);
    slice_split(blen, (int)g->nslices, (int)s, &soff, len);
    *off = g->off + boff + soff;
}

size_t slice_block_max(const struct slice_geom *g)
{
    return (g->len + (size_t)g->nblocks - 1) / (size_t)g->nblocks;
}

HALO_HOT size_t slice_count(const struct halo_exec *ex, size_t blockmax)
{
    size_t slot_elems = ex->op->slice ? ex->comm->slice_slot : ex->comm->slice_max;
    slot_elems = ex->op->wire ? halo_wire_values_fit((enum halo_wire)ex->op->wire, slot_elems) : slot_elems / ex->esize;
    size_t need = (blockmax + slot_elems - 1) / slot_elems;
    size_t want = blockmax * ex->esize / ex->comm->slice_min;
    if (want > SLICE_PIPELINE_DEPTH)
        want = SLICE_PIPELINE_DEPTH;
    if (ex->op->slice) /* the cost model's slice size (never above a slot) */
        want = (blockmax * ex->esize + ex->op->slice - 1) / ex->op->slice;
    size_t n = need > want ? need : want;
    return n ? n : 1;
}

HALO_HOT void slice_geom_channel(const struct halo_exec *ex, size_t count, int nblocks, struct slice_geom *g)
{
    slice_channel_range(ex->comm, count, ex->op->nchannels, ex->ch, &g->off, &g->len);
    g->nblocks = nblocks;
    g->nslices = slice_count(ex, slice_block_max(g));
}

HALO_HOT haloResult_t slice_each(struct halo_exec *ex, const struct slice_geom *g, slice_step_fn step, const void *arg)
{
    haloResult_t r = haloSuccess;
    for (size_t s = 0; s < g->nslices && r == haloSuccess; s++) {
        size_t off, len;
        slice_of(g, 0, s, &off, &len);
        r = step(ex, arg, off, len);
    }
    return r;
}

void slice_geom_halves(const struct halo_exec *ex, size_t count, int nblocks, struct slice_geom half[2])
{
    size_t coff, clen;
    slice_channel_range(ex->comm, count, ex->op->nchannels, ex->ch, &coff, &clen);
    for (int h = 0; h < 2; h++) {
        slice_split(clen, 2, h, &half[h].off, &half[h].len);
        half[h].off += coff;
        half[h].nblocks = nblocks;
    }
    half[0].nslices = half[1].nslices = slice_count(ex, slice_block_max(&half[0]));
}
