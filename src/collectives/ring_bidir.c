/* SPDX-License-Identifier: MIT */
/*
 * ring_bidir.c — all-reduce on a ring using both directions (HALO_ALGO=ring_bidir).
 *
 * The channel's range is cut into halves. Half A runs the ring all-reduce of
 * ring.c along comm->ring (to next, from prev); half B runs it along the reversed
 * ring (to prev, from next), where this rank's position is n-1-p. Each half is cut
 * into n blocks and every block into S slices (slice_geom_halves). A ring
 * all-reduce of one slice is 2n-1 steps; at step k a rank at position q handles
 * block (q - k) mod n:
 *   k = 0            send my block
 *   k = 1 .. n-2     receive, add mine, send
 *   k = n-1          receive, add mine -> result, send it
 *   k = n .. 2n-3    receive a finished block, keep, forward
 *   k = 2n-2         receive the last finished block
 * For every slice and step the rank does A's step k, then B's step k. A's frames
 * use only the links p -> p+1 and B's only p -> p-1, so each directed link carries
 * one stream in the order both ends derive; every step takes the frame its
 * neighbour sent one step earlier, so with nslots >= 2 the lock-step interleaving
 * finishes and hence every interleaving does (no rank can undo another's
 * readiness). Each direction of each cable carries N(n-1)/n bytes, half the
 * one-way ring's 2N(n-1)/n: busbw 2R on a ring of cables of rate R.
 *
 * Two ranks have one cable, which the one-way ring already uses both ways: they
 * run ring_allreduce (and api.c sends them to the zero-copy ring when it would
 * send the one-way ring there). Over ib, where the blocks reach
 * HALO_IB_ZCOPY_MIN, 3+ ranks run ring_bidir_zc instead (ring_zc.c: a zero-copy
 * ring per channel, odd channels reversed). The other collectives use the
 * one-way ring schedules.
 */
#include "algos.h"

struct bidir_dir {
    struct slice_geom g; /* the half this direction carries, in n blocks */
    int q;               /* my position along this direction */
    int to, from;        /* next and previous rank along this direction */
};

/* Step k of the ring all-reduce of slice s along direction d (see above). */
static haloResult_t bidir_step(struct halo_exec *ex, const struct bidir_dir *d, size_t s, int k)
{
    int n = d->g.nblocks;
    size_t es = ex->esize, off, len;
    const char *src = ex->op->sendbuf;
    char *dst = ex->op->recvbuf;
    slice_of(&d->g, ring_mod(d->q - k, n), s, &off, &len);
    if (k == 0)
        return prim_send(ex, d->to, src + off * es, len);
    if (k <= n - 2)
        return prim_recv_reduce_send(ex, d->from, d->to, src + off * es, len);
    if (k == n - 1)
        return prim_recv_reduce_copy_send(ex, d->from, d->to, src + off * es, dst + off * es, len, 1);
    if (k <= 2 * n - 3)
        return prim_recv_copy_send(ex, d->from, d->to, dst + off * es, len);
    return prim_recv(ex, d->from, dst + off * es, len);
}

haloResult_t ring_bidir_allreduce(struct halo_exec *ex)
{
    struct ring_pos r;
    struct slice_geom half[2];
    ring_pos_init(ex->comm, &r);
    if (r.n <= 2)
        return ring_allreduce(ex);
    slice_geom_halves(ex, ex->op->count, r.n, half);
    struct ring_pos back = ring_pos_reversed(&r);
    struct bidir_dir d[2] = {{half[0], r.p, r.next, r.prev}, {half[1], back.p, back.next, back.prev}};
    haloResult_t res = haloSuccess;
    for (size_t s = 0; s < half[0].nslices && res == haloSuccess; s++)
        for (int k = 0; k <= 2 * r.n - 2 && res == haloSuccess; k++)
            for (int h = 0; h < 2 && res == haloSuccess; h++)
                res = bidir_step(ex, &d[h], s, k);
    return res;
}
