/* SPDX-License-Identifier: MIT */
/*
 * chain.c — daisy-chain schedules (HALO_ALGO=chain): ranks at positions
 * 0..n-1 of comm->ring, cables only between positions p and p+1 (no link closes
 * the chain). Every frame goes to a neighbour; nothing here ever addresses the
 * ranks at positions 0 and n-1 as a pair.
 *
 * All-reduce. The channel's range is cut into halves A and B, each into S slices
 * (slice_geom_halves; a half is one block).
 * Half A is reduced left to right and the result broadcast back right to left;
 * half B the mirror image. For half h a rank's distance from the half's start is
 * d = p (A) or n-1-p (B); "up" is the neighbour toward the start, "down" the one
 * toward the end (position d = n-1). On a systolic clock t = 0 .. S+2(n-1)-1:
 *   reduce    slice i = t - d:          d = 0 sends its data down; a middle
 *             receives from up, adds its own, sends down; the end (d = n-1)
 *             receives, adds, keeps the result and sends it straight back up.
 *   broadcast slice i = t - 2(n-1) + d: receive the result from down, keep it,
 *             pass it up (d = 0 only keeps it). The end has no broadcast step.
 * Each rank does, at every tick, broadcast A, reduce A, broadcast B, reduce B
 * (each only when its slice exists). So every cable carries A's partial sums and
 * B's results one way and A's results and B's partial sums the other way: both
 * directions busy, N bytes each, time ~N/R plus 2(n-1) slices of fill.
 *
 * Why it cannot deadlock. Every rank is a fixed sequence of blocking steps and no
 * rank can undo another's readiness (a frame stays until its receiver takes it, a
 * free slot until its sender fills it), so whether a run finishes does not depend
 * on timing (Kahn's argument for process networks): it is enough that the
 * lock-step run finishes. There a frame sent at tick t is taken at tick t+1, both
 * ends of a link meet its frames in the same (tick, step) order — the ends' combined
 * reduce-and-return step is what pins the order of the four steps — and each link
 * direction carries two frames per tick. Of the 24 orders of the four steps, only
 * this one and its mirror image (B first) keep every link's frame order and finish
 * with two slots per direction, in a model of the blocking steps run for n <= 10
 * and S <= 8; so nslots >= 2 is enough. The ctest runs with two-slot FIFOs on shm
 * (exactly two frames in flight) exercise the real code.
 *
 * All-gather: each block travels from its owner both ways; a rank sends its own
 * slice right and left, then for j = 1, 2, ... takes block p-j from the left
 * (passing it right) and block p+j from the right (passing it left). The busiest
 * cable carries about n/2 blocks each way.
 * Reduce-scatter: the reverse. The partial sum of the block owned by position q
 * flows toward q from both ends; a rank forwards farthest owners first (step j
 * handles owner n-1+p-j from the left and j-(n-1-p) from the right), then the
 * owner adds its own data and the two partial sums.
 * Broadcast: the root sends each slice left and right; ranks pass it on away from
 * the root. Reduce: the two ends start, partial sums flow toward the root, which
 * adds both sides to its own.
 */
#include "algos.h"

#include "reduce.h"

struct chain_ctx {
    struct halo_exec *ex;
    int n, p;
    int left, right; /* neighbour ranks, -1 at an end */
};

static void chain_ctx_init(struct halo_exec *ex, struct chain_ctx *c)
{
    struct halo_comm *comm = ex->comm;
    c->ex = ex;
    c->n = comm->nranks;
    c->p = comm->ring_pos;
    c->left = c->p > 0 ? comm->ring[c->p - 1] : -1;
    c->right = c->p < c->n - 1 ? comm->ring[c->p + 1] : -1;
}

/* The rank where partial sums from both sides meet (a reduce-scatter block's owner,
 * the reduce root) adds its own data and the sums from the left and the right. */
static haloResult_t chain_reduce_both(const struct chain_ctx *c, const char *mine, char *dst, size_t len)
{
    struct halo_exec *ex = c->ex;
    haloResult_t r = haloSuccess;
    if (c->left >= 0)
        r = prim_recv_reduce_copy(ex, c->left, mine, dst, len, c->right < 0);
    if (r == haloSuccess && c->right >= 0)
        r = prim_recv_reduce_copy(ex, c->right, c->left >= 0 ? dst : mine, dst, len, 1);
    return r;
}

/* ---- all-reduce ---- */

struct chain_half {
    struct slice_geom g; /* the half, one block */
    int d;               /* my distance from the half's start */
    int up, down;        /* neighbour toward the start / toward the end, -1 if none */
};

/* Reduce step of slice i of half h (see the top comment). */
static haloResult_t chain_ar_reduce(struct chain_ctx *c, const struct chain_half *h, size_t i)
{
    struct halo_exec *ex = c->ex;
    size_t es = ex->esize, off, len;
    const char *src = (const char *)ex->op->sendbuf;
    char *dst = ex->op->recvbuf;
    slice_of(&h->g, 0, i, &off, &len);
    if (h->d == 0)
        return prim_send(ex, h->down, src + off * es, len);
    if (h->d < c->n - 1)
        return prim_recv_reduce_send(ex, h->up, h->down, src + off * es, len);
    return prim_recv_reduce_copy_send(ex, h->up, h->up, src + off * es, dst + off * es, len, 1);
}

/* Broadcast step of slice i of half h: the result travels from the end back up. */
static haloResult_t chain_ar_bcast(struct chain_ctx *c, const struct chain_half *h, size_t i)
{
    struct halo_exec *ex = c->ex;
    size_t es = ex->esize, off, len;
    char *dst = ex->op->recvbuf;
    slice_of(&h->g, 0, i, &off, &len);
    if (h->d == 0)
        return prim_recv(ex, h->down, dst + off * es, len);
    return prim_recv_copy_send(ex, h->down, h->up, dst + off * es, len);
}

/* One tick of the systolic clock for one half. */
static haloResult_t chain_ar_tick(struct chain_ctx *c, const struct chain_half *h, long t)
{
    long last = 2L * (c->n - 1), nslices = (long)h->g.nslices;
    long ib = t - last + h->d, ir = t - h->d;
    haloResult_t r = haloSuccess;
    if (h->d < c->n - 1 && ib >= 0 && ib < nslices)
        r = chain_ar_bcast(c, h, (size_t)ib);
    if (r == haloSuccess && ir >= 0 && ir < nslices)
        r = chain_ar_reduce(c, h, (size_t)ir);
    return r;
}

haloResult_t chain_allreduce(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom half[2];
    chain_ctx_init(ex, &c);
    slice_geom_halves(ex, ex->op->count, 1, half);
    struct chain_half h[2] = {{half[0], c.p, c.left, c.right}, {half[1], c.n - 1 - c.p, c.right, c.left}};
    long ticks = (long)half[0].nslices + 2L * (c.n - 1);
    haloResult_t r = haloSuccess;
    for (long t = 0; t < ticks && r == haloSuccess; t++)
        for (int k = 0; k < 2 && r == haloSuccess; k++)
            r = chain_ar_tick(&c, &h[k], t);
    return r;
}

/* ---- all-gather ---- */

static haloResult_t chain_allgather_slice(struct halo_exec *ex, const void *ctx, size_t in_block, size_t len)
{
    const struct chain_ctx *c = ctx;
    const int *ring = ex->comm->ring;
    size_t es = ex->esize, sc = ex->op->count;
    char *dst = ex->op->recvbuf;
    const char *own = (const char *)ex->op->sendbuf + in_block * es;
    haloResult_t r = haloSuccess;
    if (c->right >= 0)
        r = prim_send(ex, c->right, own, len);
    if (r == haloSuccess && c->left >= 0)
        r = prim_send(ex, c->left, own, len);
    int steps = c->p > c->n - 1 - c->p ? c->p : c->n - 1 - c->p;
    for (int j = 1; j <= steps && r == haloSuccess; j++) {
        if (j <= c->p) { /* block of position p-j, arriving from the left */
            char *where = dst + ((size_t)ring[c->p - j] * sc + in_block) * es;
            r = c->right >= 0 ? prim_recv_copy_send(ex, c->left, c->right, where, len)
                              : prim_recv(ex, c->left, where, len);
        }
        if (r == haloSuccess && j <= c->n - 1 - c->p) { /* block of position p+j, from the right */
            char *where = dst + ((size_t)ring[c->p + j] * sc + in_block) * es;
            r = c->left >= 0 ? prim_recv_copy_send(ex, c->right, c->left, where, len)
                             : prim_recv(ex, c->right, where, len);
        }
    }
    return r;
}

haloResult_t chain_allgather(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom g;
    chain_ctx_init(ex, &c);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    algo_allgather_own(ex, g.off, g.len);
    return slice_each(ex, &g, chain_allgather_slice, &c);
}

/* ---- reduce-scatter ---- */

/* One partial sum of the block owned by position q passing through: start it
 * (at an end) or add mine and pass it on, from `from` to `to`. */
static haloResult_t chain_rs_pass(const struct chain_ctx *c, int q, int from, int to, size_t in_block, size_t len)
{
    struct halo_exec *ex = c->ex;
    size_t es = ex->esize;
    const char *mine = (const char *)ex->op->sendbuf + ((size_t)ex->comm->ring[q] * ex->op->count + in_block) * es;
    if (from < 0)
        return prim_send(ex, to, mine, len);
    return prim_recv_reduce_send(ex, from, to, mine, len);
}

static haloResult_t chain_reducescatter_slice(struct halo_exec *ex, const void *ctx, size_t in_block, size_t len)
{
    const struct chain_ctx *c = ctx;
    int n = c->n, p = c->p;
    size_t es = ex->esize;
    haloResult_t r = haloSuccess;
    for (int j = 0; j <= n - 2 && r == haloSuccess; j++) {
        int ql = n - 1 + p - j, qr = j - (n - 1 - p); /* owners served from the left / right now */
        if (j >= p && ql > p)
            r = chain_rs_pass(c, ql, c->left, c->right, in_block, len);
        if (r == haloSuccess && j >= n - 1 - p && qr < p)
            r = chain_rs_pass(c, qr, c->right, c->left, in_block, len);
    }
    if (r != haloSuccess)
        return r;
    const char *mine = (const char *)ex->op->sendbuf + ((size_t)ex->comm->rank * ex->op->count + in_block) * es;
    return chain_reduce_both(c, mine, (char *)ex->op->recvbuf + in_block * es, len);
}

haloResult_t chain_reducescatter(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom g;
    chain_ctx_init(ex, &c);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    return slice_each(ex, &g, chain_reducescatter_slice, &c);
}

/* ---- broadcast and reduce ---- */

haloResult_t chain_broadcast(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom g;
    chain_ctx_init(ex, &c);
    int rp = ring_pos_of(ex->comm, ex->op->root);
    int from = c.p < rp ? c.right : c.left, to = c.p < rp ? c.left : c.right; /* away from the root */
    slice_geom_channel(ex, ex->op->count, 1, &g);
    if (c.p == rp)
        algo_root_copy(ex, &g);
    haloResult_t r = haloSuccess;
    for (size_t s = 0; s < g.nslices && r == haloSuccess; s++) {
        size_t off, len;
        slice_of(&g, 0, s, &off, &len);
        char *where = (char *)ex->op->recvbuf + off * ex->esize;
        if (c.p == rp) {
            if (c.left >= 0)
                r = prim_send(ex, c.left, where, len);
            if (r == haloSuccess && c.right >= 0)
                r = prim_send(ex, c.right, where, len);
        } else if (to >= 0) {
            r = prim_recv_copy_send(ex, from, to, where, len);
        } else {
            r = prim_recv(ex, from, where, len);
        }
    }
    return r;
}

haloResult_t chain_reduce(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom g;
    chain_ctx_init(ex, &c);
    int rp = ring_pos_of(ex->comm, ex->op->root);
    int from = c.p < rp ? c.left : c.right, to = c.p < rp ? c.right : c.left; /* toward the root */
    slice_geom_channel(ex, ex->op->count, 1, &g);
    haloResult_t r = haloSuccess;
    for (size_t s = 0; s < g.nslices && r == haloSuccess; s++) {
        size_t off, len, es = ex->esize;
        slice_of(&g, 0, s, &off, &len);
        const char *mine = (const char *)ex->op->sendbuf + off * es;
        if (c.p == rp)
            r = chain_reduce_both(&c, mine, (char *)ex->op->recvbuf + off * es, len);
        else if (from >= 0)
            r = prim_recv_reduce_send(ex, from, to, mine, len);
        else
            r = prim_send(ex, to, mine, len);
    }
    return r;
}
