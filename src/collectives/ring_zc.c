/* SPDX-License-Identifier: MIT */
/*
 * ring_zc.c — the ring all-reduce with zero-copy messages (ib): every step is an
 * RDMA write between user buffers after a grant, no slot and no copy.
 *
 * Same steps as ring.c's schedule (position p, blocks mod n):
 *   send block p from sendbuff
 *   n-1 x  receive block p-j into the landing area, recvbuff = landing + mine
 *          (the last one is the finished block), send it from recvbuff
 *   n-2 x  receive a finished block straight into recvbuff, forward it from there
 *   receive the last finished block into recvbuff
 * but run step by step over a window of W slices: all of a window's first sends
 * leave at once, and slice s+1's transfer overlaps slice s's reduction. Partial
 * sums land in the channel's registered landing area (a recvbuff block may be
 * sendbuff's too, in place). The next window's grants go out when a window
 * starts, so the left neighbour never waits for one; the landing area holds two
 * windows. Chosen by api.c instead of the one-way ring when ring_zc_usable: every
 * rank's ring neighbours are reached over ib (zc_ring, agreed at init), the blocks
 * reach HALO_IB_ZCOPY_MIN and there are at most 16 ranks (the grants of two
 * windows must fit the transport's grant ring). The bidirectional ring's
 * all-reduce (ring_bidir_zc) runs the same schedule on every channel, the odd
 * channels along the reversed ring.
 *
 * This file also holds ring_zc.h's arithmetic, which the other zero-copy ring
 * schedules (ring_zc_coll.c) share, and the usability rule for all of them.
 */
#include "algos.h"

#include "reduce.h"
#include "ring_zc.h"

struct ring_zc {
    struct slice_geom g; /* the channel's range in n blocks */
    struct ring_pos r;
    size_t window, place; /* slices per window; bytes of one landing place */
    char *land;
};

size_t ring_zc_grants_per_slice(enum halo_coll coll, int n)
{
    switch (coll) {
    case HALO_COLL_ALLREDUCE: return 2 * (size_t)(n - 1); /* n-1 partial sums, n-1 finished blocks */
    case HALO_COLL_ALLGATHER:
    case HALO_COLL_REDUCESCATTER: return (size_t)(n - 1);
    case HALO_COLL_BROADCAST:
    case HALO_COLL_REDUCE: return 1;
    default: return 0;
    }
}

size_t ring_zc_window_size(size_t per_slice)
{
    size_t w = per_slice ? RING_ZC_GRANTS / 2 / per_slice : RING_ZC_MAX_WINDOW;
    return w < 1 ? 1 : w > RING_ZC_MAX_WINDOW ? RING_ZC_MAX_WINDOW : w;
}

size_t ring_zc_slices(size_t bmin, size_t bmax, size_t es)
{
    size_t n = (bmax * es + RING_ZC_SLICE - 1) / RING_ZC_SLICE;
    n = n > bmin ? bmin : n; /* never an empty message */
    return n < 1 ? 1 : n;
}

void ring_zc_window_of(size_t window, size_t nslices, size_t w, size_t *s0, size_t *s1)
{
    *s0 = w * window;
    *s1 = *s0 + window < nslices ? *s0 + window : nslices;
}

size_t ring_zc_place(size_t window, size_t kept, size_t steps, size_t s, size_t j)
{
    size_t w = s / window, in = s % window;
    return ((w % kept) * window + in) * steps + (j - 1);
}

/* Landing place of RS step j of slice s: two windows' worth, reused alternately. */
static char *ring_zc_landing(const struct ring_zc *z, size_t s, int j)
{
    return z->land + ring_zc_place(z->window, 2, (size_t)(z->r.n - 1), s, (size_t)j) * z->place;
}

int zc_block_reaches(const struct halo_comm *comm, const struct halo_op *op, size_t parts)
{
    size_t block = slice_channel_min(comm, op->count, op->nchannels) / parts;
    return block * halo_dtype_size(op->dtype) >= comm->zc_min;
}

/* Every collective that has a zero-copy schedule: the left neighbour's grants of
 * two windows of one slice fit (all-reduce: up to 16 ranks, the others up to 32)
 * and a rank's block (the per-rank count of the gathers, the buffer of a
 * broadcast) on the shortest channel reaches HALO_IB_ZCOPY_MIN. */
int ring_zc_usable(const struct halo_comm *comm, const struct halo_op *op)
{
    size_t per = ring_zc_grants_per_slice(op->coll, comm->nranks);
    if (!comm->zc_ring || per == 0 || 2 * per > RING_ZC_GRANTS)
        return 0;
    return zc_block_reaches(comm, op, op->coll == HALO_COLL_ALLREDUCE ? (size_t)comm->nranks : 1);
}

/* Slices [*s0, *s1) of window w. */
static void ring_zc_window(const struct ring_zc *z, size_t w, size_t *s0, size_t *s1)
{
    ring_zc_window_of(z->window, z->g.nslices, w, s0, s1);
}

/* Grants for window w, in the order the left neighbour sends: step by step, each
 * step over the window's slices. */
static haloResult_t ring_zc_grant(struct halo_exec *ex, const struct ring_zc *z, size_t w)
{
    char *dst = ex->op->recvbuf;
    size_t es = ex->esize, off, len, s0, s1;
    haloResult_t r = haloSuccess;
    ring_zc_window(z, w, &s0, &s1);
    for (int j = 1; j <= z->r.n - 1; j++)
        for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
            slice_of(&z->g, ring_mod(z->r.p - j, z->r.n), s, &off, &len);
            r = zc_expect(ex, z->r.prev, ring_zc_landing(z, s, j), len * es);
        }
    for (int j = 1; j <= z->r.n - 1; j++)
        for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
            slice_of(&z->g, ring_mod(z->r.p + 1 - j, z->r.n), s, &off, &len);
            r = zc_expect(ex, z->r.prev, dst + off * es, len * es);
        }
    return r;
}

static haloResult_t ring_zc_window_run(struct halo_exec *ex, const struct ring_zc *z, size_t w)
{
    const char *src = ex->op->sendbuf;
    char *dst = ex->op->recvbuf;
    size_t es = ex->esize, off, len, s0, s1;
    haloResult_t r = haloSuccess;
    ring_zc_window(z, w, &s0, &s1);
    for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
        slice_of(&z->g, z->r.p, s, &off, &len);
        r = zc_send(ex, z->r.next, src + off * es, len * es);
    }
    for (int j = 1; j <= z->r.n - 1; j++)
        for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
            slice_of(&z->g, ring_mod(z->r.p - j, z->r.n), s, &off, &len);
            if ((r = zc_recv_wait(ex, z->r.prev)) != haloSuccess)
                break;
            halo_reduce(dst + off * es, ring_zc_landing(z, s, j), src + off * es, len, ex->op->dtype, ex->op->op);
            if (j == z->r.n - 1 && ex->op->op == haloAvg)
                halo_scale_div(dst + off * es, dst + off * es, len, ex->op->dtype, z->r.n);
            r = zc_send(ex, z->r.next, dst + off * es, len * es);
        }
    for (int j = 1; j <= z->r.n - 2; j++)
        for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
            slice_of(&z->g, ring_mod(z->r.p + 1 - j, z->r.n), s, &off, &len);
            if ((r = zc_recv_wait(ex, z->r.prev)) == haloSuccess)
                r = zc_send(ex, z->r.next, dst + off * es, len * es);
        }
    for (size_t s = s0; s < s1 && r == haloSuccess; s++)
        r = zc_recv_wait(ex, z->r.prev);
    return r;
}

/* reverse: this channel runs along the reversed ring (to prev, from next), where
 * this rank's position is n-1-p, as ring_bidir's second half does. */
static haloResult_t ring_zc_setup(struct halo_exec *ex, struct ring_zc *z, int reverse)
{
    struct halo_comm *comm = ex->comm;
    size_t es = ex->esize;
    ring_pos_init(comm, &z->r);
    if (reverse)
        z->r = ring_pos_reversed(&z->r);
    slice_channel_range(comm, ex->op->count, ex->op->nchannels, ex->ch, &z->g.off, &z->g.len);
    z->g.nblocks = z->r.n;
    size_t bmin = z->g.len / (size_t)z->r.n, bmax = slice_block_max(&z->g);
    z->g.nslices = ring_zc_slices(bmin, bmax, es);
    z->place = (bmax + z->g.nslices - 1) / z->g.nslices * es;
    z->window = ring_zc_window_size(ring_zc_grants_per_slice(HALO_COLL_ALLREDUCE, z->r.n));
    haloResult_t r;
    z->land = comm_zc_scratch(comm, ex->ch, 2 * z->window * (size_t)(z->r.n - 1) * z->place, &r);
    if (r != haloSuccess)
        return r;
    /* Registered once for the whole operation, not per message. */
    const char *src = ex->op->sendbuf;
    char *dst = ex->op->recvbuf;
    if ((r = zc_register(ex, z->r.next, src + z->g.off * es, z->g.len * es, 0)) == haloSuccess &&
        (r = zc_register(ex, z->r.next, dst + z->g.off * es, z->g.len * es, 1)) == haloSuccess)
        r = zc_register(ex, z->r.prev, dst + z->g.off * es, z->g.len * es, 1);
    return r;
}

static haloResult_t ring_zc_allreduce_dir(struct halo_exec *ex, int reverse)
{
    struct ring_zc z;
    haloResult_t r = ring_zc_setup(ex, &z, reverse);
    if (r == haloSuccess)
        r = ring_zc_grant(ex, &z, 0);
    size_t nwin = (z.g.nslices + z.window - 1) / z.window;
    for (size_t w = 0; w < nwin && r == haloSuccess; w++) {
        if (w + 1 < nwin)
            r = ring_zc_grant(ex, &z, w + 1);
        if (r == haloSuccess)
            r = ring_zc_window_run(ex, &z, w);
    }
    if (r == haloSuccess)
        r = zc_send_wait(ex, z.r.next);
    if (r == haloSuccess) { /* registrations go only when nothing is in flight */
        zc_end(ex, z.r.next);
        zc_end(ex, z.r.prev);
    }
    return r;
}

haloResult_t ring_zc_allreduce(struct halo_exec *ex)
{
    return ring_zc_allreduce_dir(ex, 0);
}

/* Each channel is a whole ring over its own range with its own connections, so the
 * directions never share a grant ring or a landing area; with an even channel
 * count (api.c) each direction of every cable carries half the data. */
haloResult_t ring_zc_bidir_allreduce(struct halo_exec *ex)
{
    return ring_zc_allreduce_dir(ex, ex->ch & 1);
}
