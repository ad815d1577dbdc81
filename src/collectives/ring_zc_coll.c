/* SPDX-License-Identifier: MIT */
/*
 * ring_zc_coll.c — all-gather, broadcast, reduce-scatter and reduce round the
 * one-way ring with zero-copy messages (ib): the steps of ring.c's schedules, but every
 * message is an RDMA write from the sender's buffer into a destination the
 * receiver granted (engine_zc.c), never a slot and a copy.
 *
 * Position p, n ranks, blocks by rank; every step moves one slice of a block:
 *   all-gather      send my block from sendbuff; n-1 x receive block ring[p-j]
 *                   straight into its place in recvbuff, forward it from there
 *                   (not the last)
 *   broadcast       q = distance from the root: the root sends from sendbuff,
 *                   the others receive into recvbuff and forward from there
 *                   (not the last, q = n-1)
 *   reduce-scatter  send block ring[p-1] from sendbuff; n-1 x receive the partial
 *                   sum of block ring[p-1-j] into the landing area, add mine in
 *                   place and forward it from there; the last one (my block)
 *                   is added into recvbuff
 *   reduce          q = distance from the rank after the root: q = 0 sends from
 *                   sendbuff, the others receive the partial sum into the
 *                   landing area, add mine in place and forward it from there;
 *                   the root (q = n-1) adds into recvbuff
 * As ring_zc.c runs the all-reduce: windows of slices, the next window's grants
 * sent when a window starts (ring_zc.h). Reduce-scatter's and reduce's landing
 * places are sources of sends too, so they keep three windows of them: before a place is
 * granted again, the sends that read it two windows ago must have left
 * (zc_send_wait_mark), which does not wait for the window just sent.
 * Chosen by api.c where ring_zc_usable.
 */
#include "algos.h"

#include "reduce.h"
#include "ring_zc.h"

#define RS_KEPT 3 /* windows of landing places reduce-scatter keeps */

struct zc_move {
    struct slice_geom g; /* the channel's range of one block (nblocks 1) */
    struct ring_pos r;
    int q;                /* broadcast: distance from the root */
    size_t window, nwin;  /* slices per window, windows */
    size_t place;         /* reduce-scatter: bytes of a landing place */
    char *land;           /* reduce-scatter: the landing area */
    uint64_t mark[RS_KEPT]; /* sends to next posted by the end of window w (index w % RS_KEPT) */
};

typedef haloResult_t (*zc_move_fn)(struct halo_exec *ex, const struct zc_move *z, size_t w);

static void zc_move_geom(struct halo_exec *ex, struct zc_move *z)
{
    ring_pos_init(ex->comm, &z->r);
    slice_channel_range(ex->comm, ex->op->count, ex->op->nchannels, ex->ch, &z->g.off, &z->g.len);
    z->g.nblocks = 1;
    z->g.nslices = ring_zc_slices(z->g.len, z->g.len, ex->esize);
    z->window = ring_zc_window_size(ring_zc_grants_per_slice(ex->op->coll, z->r.n));
    z->nwin = (z->g.nslices + z->window - 1) / z->window;
    z->land = NULL;
}

/* Registers [off, off + len) elements of buf (for the whole operation, not per
 * message) with peer. */
static haloResult_t zc_move_register(struct halo_exec *ex, int peer, const void *buf, size_t off, size_t len,
                                     int writable)
{
    return zc_register(ex, peer, (const char *)buf + off * ex->esize, len * ex->esize, writable);
}

/* The span of every rank's block of the channel's range in a buffer of n blocks
 * of count elements: from block 0's part to block n-1's. */
static size_t zc_move_span(const struct halo_exec *ex, const struct zc_move *z)
{
    return (size_t)(z->r.n - 1) * ex->op->count + z->g.len;
}

/* Grants window 0, then each window's successor as it starts, runs the windows,
 * waits for the last sends and drops the operation's registrations. */
static haloResult_t zc_move_run(struct halo_exec *ex, struct zc_move *z, zc_move_fn grant, zc_move_fn run)
{
    haloResult_t r = grant(ex, z, 0);
    for (size_t w = 0; w < z->nwin && r == haloSuccess; w++) {
        size_t g = w + 1;
        if (g < z->nwin && z->land && g >= RS_KEPT) /* its places were read by window g - RS_KEPT's sends */
            r = zc_send_wait_mark(ex, z->r.next, z->mark[g % RS_KEPT]);
        if (g < z->nwin && r == haloSuccess)
            r = grant(ex, z, g);
        if (r == haloSuccess)
            r = run(ex, z, w);
        z->mark[w % RS_KEPT] = zc_send_mark(ex, z->r.next);
    }
    if (r == haloSuccess)
        r = zc_send_wait(ex, z->r.next);
    if (r == haloSuccess) { /* registrations go only when nothing is in flight */
        zc_end(ex, z->r.next);
        zc_end(ex, z->r.prev);
    }
    return r;
}

/* ---- all-gather ---- */

/* Slice s of the block that step j receives (rank ring[p-j]), in recvbuff. */
static char *zc_ag_at(const struct halo_exec *ex, const struct zc_move *z, int j, size_t s, size_t *bytes)
{
    size_t off, len, b = (size_t)ex->comm->ring[ring_mod(z->r.p - j, z->r.n)];
    slice_of(&z->g, 0, s, &off, &len);
    *bytes = len * ex->esize;
    return (char *)ex->op->recvbuf + (b * ex->op->count + off) * ex->esize;
}

static haloResult_t zc_ag_grant(struct halo_exec *ex, const struct zc_move *z, size_t w)
{
    size_t s0, s1, bytes;
    haloResult_t r = haloSuccess;
    ring_zc_window_of(z->window, z->g.nslices, w, &s0, &s1);
    for (int j = 1; j <= z->r.n - 1; j++)
        for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
            char *at = zc_ag_at(ex, z, j, s, &bytes);
            r = zc_expect(ex, z->r.prev, at, bytes);
        }
    return r;
}

static haloResult_t zc_ag_window(struct halo_exec *ex, const struct zc_move *z, size_t w)
{
    size_t s0, s1, off, len, es = ex->esize, bytes;
    haloResult_t r = haloSuccess;
    ring_zc_window_of(z->window, z->g.nslices, w, &s0, &s1);
    for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
        slice_of(&z->g, 0, s, &off, &len);
        r = zc_send(ex, z->r.next, (const char *)ex->op->sendbuf + off * es, len * es);
    }
    for (int j = 1; j <= z->r.n - 1; j++)
        for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
            const char *at = zc_ag_at(ex, z, j, s, &bytes);
            if ((r = zc_recv_wait(ex, z->r.prev)) == haloSuccess && j < z->r.n - 1)
                r = zc_send(ex, z->r.next, at, bytes);
        }
    return r;
}

haloResult_t ring_zc_allgather(struct halo_exec *ex)
{
    struct zc_move z;
    zc_move_geom(ex, &z);
    const void *dst = ex->op->recvbuf;
    haloResult_t r = zc_move_register(ex, z.r.next, ex->op->sendbuf, z.g.off, z.g.len, 0);
    if (r == haloSuccess)
        r = zc_move_register(ex, z.r.prev, dst, z.g.off, zc_move_span(ex, &z), 1);
    if (r == haloSuccess)
        r = zc_move_register(ex, z.r.next, dst, z.g.off, zc_move_span(ex, &z), 1);
    if (r == haloSuccess)
        r = zc_move_run(ex, &z, zc_ag_grant, zc_ag_window);
    if (r == haloSuccess) /* my own block: a local copy, after the wire is done with the rest */
        algo_allgather_own(ex, z.g.off, z.g.len);
    return r;
}

/* ---- broadcast ---- */

static haloResult_t zc_bc_grant(struct halo_exec *ex, const struct zc_move *z, size_t w)
{
    size_t s0, s1, off, len, es = ex->esize;
    haloResult_t r = haloSuccess;
    ring_zc_window_of(z->window, z->g.nslices, w, &s0, &s1);
    for (size_t s = s0; s < s1 && r == haloSuccess && z->q > 0; s++) {
        slice_of(&z->g, 0, s, &off, &len);
        r = zc_expect(ex, z->r.prev, (char *)ex->op->recvbuf + off * es, len * es);
    }
    return r;
}

static haloResult_t zc_bc_window(struct halo_exec *ex, const struct zc_move *z, size_t w)
{
    size_t s0, s1, off, len, es = ex->esize;
    const char *from = z->q == 0 ? ex->op->sendbuf : ex->op->recvbuf;
    haloResult_t r = haloSuccess;
    ring_zc_window_of(z->window, z->g.nslices, w, &s0, &s1);
    for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
        slice_of(&z->g, 0, s, &off, &len);
        if (z->q > 0)
            r = zc_recv_wait(ex, z->r.prev);
        if (r == haloSuccess && z->q < z->r.n - 1)
            r = zc_send(ex, z->r.next, from + off * es, len * es);
    }
    return r;
}

haloResult_t ring_zc_broadcast(struct halo_exec *ex)
{
    struct zc_move z;
    zc_move_geom(ex, &z);
    z.q = ring_mod(z.r.p - ring_pos_of(ex->comm, ex->op->root), z.r.n);
    haloResult_t r = haloSuccess;
    if (z.q == 0)
        r = zc_move_register(ex, z.r.next, ex->op->sendbuf, z.g.off, z.g.len, 0);
    if (z.q > 0 && r == haloSuccess)
        r = zc_move_register(ex, z.r.prev, ex->op->recvbuf, z.g.off, z.g.len, 1);
    if (z.q > 0 && z.q < z.r.n - 1 && r == haloSuccess)
        r = zc_move_register(ex, z.r.next, ex->op->recvbuf, z.g.off, z.g.len, 1);
    if (r == haloSuccess)
        r = zc_move_run(ex, &z, zc_bc_grant, zc_bc_window);
    if (r == haloSuccess && z.q == 0) /* the root's own copy, after its sends */
        algo_root_copy(ex, &z.g);
    return r;
}

/* ---- reduce-scatter ---- */

/* Landing place of step j (1 .. n-1) of slice s. */
static char *zc_rs_landing(const struct zc_move *z, size_t s, int j)
{
    return z->land + ring_zc_place(z->window, RS_KEPT, (size_t)(z->r.n - 1), s, (size_t)j) * z->place;
}

/* Slice s of this rank's input for block ring[p-1-j], in sendbuff. */
static const char *zc_rs_mine(const struct halo_exec *ex, const struct zc_move *z, int j, size_t s, size_t *len)
{
    size_t off, b = (size_t)ex->comm->ring[ring_mod(z->r.p - 1 - j, z->r.n)];
    slice_of(&z->g, 0, s, &off, len);
    return (const char *)ex->op->sendbuf + (b * ex->op->count + off) * ex->esize;
}

static haloResult_t zc_rs_grant(struct halo_exec *ex, const struct zc_move *z, size_t w)
{
    size_t s0, s1, off, len;
    haloResult_t r = haloSuccess;
    ring_zc_window_of(z->window, z->g.nslices, w, &s0, &s1);
    for (int j = 1; j <= z->r.n - 1; j++)
        for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
            slice_of(&z->g, 0, s, &off, &len);
            r = zc_expect(ex, z->r.prev, zc_rs_landing(z, s, j), len * ex->esize);
        }
    return r;
}

/* A partial sum of slice s landed in land: add mine and send it on from there,
 * or, at the last rank it visits, add mine into recvbuff (avg divided). */
static haloResult_t zc_add_on(struct halo_exec *ex, const struct zc_move *z, char *land, const char *mine,
                              size_t s, int last)
{
    const struct halo_op *op = ex->op;
    size_t off, len;
    slice_of(&z->g, 0, s, &off, &len);
    if (!last) {
        halo_reduce(land, land, mine, len, op->dtype, op->op);
        return zc_send(ex, z->r.next, land, len * ex->esize);
    }
    char *dst = (char *)op->recvbuf + off * ex->esize;
    halo_reduce(dst, land, mine, len, op->dtype, op->op);
    if (op->op == haloAvg)
        halo_scale_div(dst, dst, len, op->dtype, z->r.n);
    return haloSuccess;
}

/* Step j of slice s once its partial sum landed: add mine and forward, or, the
 * last step, finish my block in recvbuff. */
static haloResult_t zc_rs_step(struct halo_exec *ex, const struct zc_move *z, int j, size_t s)
{
    size_t len;
    const char *mine = zc_rs_mine(ex, z, j, s, &len);
    return zc_add_on(ex, z, zc_rs_landing(z, s, j), mine, s, j == z->r.n - 1);
}

static haloResult_t zc_rs_window(struct halo_exec *ex, const struct zc_move *z, size_t w)
{
    size_t s0, s1, len;
    haloResult_t r = haloSuccess;
    ring_zc_window_of(z->window, z->g.nslices, w, &s0, &s1);
    for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
        const char *mine = zc_rs_mine(ex, z, 0, s, &len);
        r = zc_send(ex, z->r.next, mine, len * ex->esize);
    }
    for (int j = 1; j <= z->r.n - 1; j++)
        for (size_t s = s0; s < s1 && r == haloSuccess; s++)
            if ((r = zc_recv_wait(ex, z->r.prev)) == haloSuccess)
                r = zc_rs_step(ex, z, j, s);
    return r;
}

haloResult_t ring_zc_reducescatter(struct halo_exec *ex)
{
    struct zc_move z;
    zc_move_geom(ex, &z);
    z.place = (z.g.len + z.g.nslices - 1) / z.g.nslices * ex->esize;
    haloResult_t r;
    z.land = comm_zc_scratch(ex->comm, ex->ch, RS_KEPT * z.window * (size_t)(z.r.n - 1) * z.place, &r);
    if (r == haloSuccess)
        r = zc_move_register(ex, z.r.next, ex->op->sendbuf, z.g.off, zc_move_span(ex, &z), 0);
    if (r == haloSuccess)
        r = zc_move_run(ex, &z, zc_rs_grant, zc_rs_window);
    return r;
}

/* ---- reduce ---- */

/* Landing place of slice s: one a slice. */
static char *zc_rd_landing(const struct zc_move *z, size_t s)
{
    return z->land + ring_zc_place(z->window, RS_KEPT, 1, s, 1) * z->place;
}

static haloResult_t zc_rd_grant(struct halo_exec *ex, const struct zc_move *z, size_t w)
{
    size_t s0, s1, off, len;
    haloResult_t r = haloSuccess;
    ring_zc_window_of(z->window, z->g.nslices, w, &s0, &s1);
    for (size_t s = s0; s < s1 && r == haloSuccess && z->q > 0; s++) {
        slice_of(&z->g, 0, s, &off, &len);
        r = zc_expect(ex, z->r.prev, zc_rd_landing(z, s), len * ex->esize);
    }
    return r;
}

static haloResult_t zc_rd_window(struct halo_exec *ex, const struct zc_move *z, size_t w)
{
    const struct halo_op *op = ex->op;
    size_t s0, s1, off, len, es = ex->esize;
    haloResult_t r = haloSuccess;
    ring_zc_window_of(z->window, z->g.nslices, w, &s0, &s1);
    for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
        slice_of(&z->g, 0, s, &off, &len);
        const char *mine = (const char *)op->sendbuf + off * es;
        if (z->q == 0) {
            r = zc_send(ex, z->r.next, mine, len * es);
            continue;
        }
        if ((r = zc_recv_wait(ex, z->r.prev)) == haloSuccess)
            r = zc_add_on(ex, z, zc_rd_landing(z, s), mine, s, z->q == z->r.n - 1);
    }
    return r;
}

haloResult_t ring_zc_reduce(struct halo_exec *ex)
{
    struct zc_move z;
    zc_move_geom(ex, &z);
    z.q = ring_mod(z.r.p - ring_pos_of(ex->comm, ex->op->root) - 1, z.r.n);
    z.place = (z.g.len + z.g.nslices - 1) / z.g.nslices * ex->esize;
    haloResult_t r = haloSuccess;
    if (z.q > 0)
        z.land = comm_zc_scratch(ex->comm, ex->ch, RS_KEPT * z.window * z.place, &r);
    if (r == haloSuccess && z.q < z.r.n - 1)
        r = zc_move_register(ex, z.r.next, ex->op->sendbuf, z.g.off, z.g.len, 0);
    if (r == haloSuccess)
        r = zc_move_run(ex, &z, zc_rd_grant, zc_rd_window);
    return r;
}
