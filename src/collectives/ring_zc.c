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
 * windows must fit the transport's grant ring).
 */
#include "algos.h"

#include "reduce.h"

#define RING_ZC_SLICE (256u << 10)
/* Slices per window: two windows of grants, 2(n-1) per slice, must stay below
 * the transport's grant ring (IB_ZC_RING = 64). */
#define RING_ZC_MAX_WINDOW 8
#define RING_ZC_GRANTS 62

struct ring_zc {
    struct slice_geom g; /* the channel's range in n blocks */
    struct ring_pos r;
    size_t window, place; /* slices per window; bytes of one landing place */
    char *land;
};

/* Landing place of RS step j of slice s: two windows' worth, reused alternately. */
static char *ring_zc_landing(const struct ring_zc *z, size_t s, int j)
{
    size_t w = s / z->window, in = s % z->window;
    return z->land + (((w % 2) * z->window + in) * (size_t)(z->r.n - 1) + (size_t)(j - 1)) * z->place;
}

int ring_zc_usable(const struct halo_comm *comm, const struct halo_op *op)
{
    if (!comm->zc_ring || op->coll != HALO_COLL_ALLREDUCE || 4 * (comm->nranks - 1) > RING_ZC_GRANTS)
        return 0; /* two windows of one slice need 4(n-1) grants: up to 16 ranks */
    size_t clen = slice_channel_min(comm, op->count, op->nchannels);
    return clen / (size_t)comm->nranks * halo_dtype_size(op->dtype) >= comm->zc_min;
}

/* Slices [*s0, *s1) of window w. */
static void ring_zc_window(const struct ring_zc *z, size_t w, size_t *s0, size_t *s1)
{
    *s0 = w * z->window;
    *s1 = *s0 + z->window < z->g.nslices ? *s0 + z->window : z->g.nslices;
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

static haloResult_t ring_zc_setup(struct halo_exec *ex, struct ring_zc *z)
{
    struct halo_comm *comm = ex->comm;
    size_t es = ex->esize;
    ring_pos_init(comm, &z->r);
    slice_channel_range(comm, ex->op->count, ex->op->nchannels, ex->ch, &z->g.off, &z->g.len);
    z->g.nblocks = z->r.n;
    size_t bmin = z->g.len / (size_t)z->r.n, bmax = slice_block_max(&z->g);
    z->g.nslices = (bmax * es + RING_ZC_SLICE - 1) / RING_ZC_SLICE;
    if (z->g.nslices > bmin) /* never an empty message */
        z->g.nslices = bmin;
    z->place = (bmax + z->g.nslices - 1) / z->g.nslices * es;
    z->window = RING_ZC_GRANTS / 2 / (2 * (size_t)(z->r.n - 1));
    z->window = z->window < 1 ? 1 : z->window > RING_ZC_MAX_WINDOW ? RING_ZC_MAX_WINDOW : z->window;
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

haloResult_t ring_zc_allreduce(struct halo_exec *ex)
{
    struct ring_zc z;
    haloResult_t r = ring_zc_setup(ex, &z);
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
