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
 *
 * Every schedule makes its moves through c->io (chain.h): here the slots, in
 * chain_zc.c zero-copy messages over ib, with the same steps.
 */
#include "chain.h"

#include "reduce.h"

/* ---- the slots' moves ---- */

static haloResult_t chain_slot_send(struct chain_ctx *c, int to, const char *src, size_t len)
{
    return prim_send(c->ex, to, src, len);
}

static haloResult_t chain_slot_recv(struct chain_ctx *c, int from, char *dst, size_t len)
{
    return prim_recv(c->ex, from, dst, len);
}

static haloResult_t chain_slot_recv_copy_send(struct chain_ctx *c, int from, int to, char *dst, size_t len)
{
    return prim_recv_copy_send(c->ex, from, to, dst, len);
}

static haloResult_t chain_slot_recv_reduce_send(struct chain_ctx *c, int from, int to, const char *mine, char *dst,
                                                size_t len)
{
    (void)dst; /* the partial sum goes straight from the frame to the next one */
    return prim_recv_reduce_send(c->ex, from, to, mine, len);
}

static haloResult_t chain_slot_recv_finish_send(struct chain_ctx *c, int from, int to, const char *mine, char *dst,
                                                size_t len)
{
    return prim_recv_reduce_copy_send(c->ex, from, to, mine, dst, len, 1);
}

static haloResult_t chain_slot_recv_pass(struct chain_ctx *c, int from, int to, const char *mine, size_t len)
{
    return prim_recv_reduce_send(c->ex, from, to, mine, len);
}

static haloResult_t chain_slot_recv_reduce(struct chain_ctx *c, int from, const char *src, char *dst, size_t len,
                                           int final)
{
    return prim_recv_reduce_copy(c->ex, from, src, dst, len, final);
}

static const struct chain_io chain_slots = {chain_slot_send,         chain_slot_recv,
                                            chain_slot_recv_copy_send, chain_slot_recv_reduce_send,
                                            chain_slot_recv_finish_send, chain_slot_recv_pass,
                                            chain_slot_recv_reduce};

void chain_ctx_init(struct halo_exec *ex, struct chain_ctx *c, const struct chain_io *io)
{
    struct halo_comm *comm = ex->comm;
    c->ex = ex;
    c->io = io;
    c->n = comm->nranks;
    c->p = comm->ring_pos;
    c->left = c->p > 0 ? comm->ring[c->p - 1] : -1;
    c->right = c->p < c->n - 1 ? comm->ring[c->p + 1] : -1;
    c->unit = 0;
    c->nth = 0;
    c->zc = NULL;
}

/* The rank where partial sums from both sides meet (a reduce-scatter block's owner,
 * the reduce root) adds its own data and the sums from the left and the right. */
static haloResult_t chain_reduce_both(struct chain_ctx *c, const char *mine, char *dst, size_t len)
{
    haloResult_t r = haloSuccess;
    if (c->left >= 0)
        r = c->io->recv_reduce(c, c->left, mine, dst, len, c->right < 0);
    if (r == haloSuccess && c->right >= 0)
        r = c->io->recv_reduce(c, c->right, c->left >= 0 ? dst : mine, dst, len, 1);
    return r;
}

/* ---- all-reduce ---- */

/* Reduce step of slice i of half h (see the top comment). */
static haloResult_t chain_ar_reduce(struct chain_ctx *c, const struct chain_half *h, size_t i)
{
    struct halo_exec *ex = c->ex;
    size_t es = ex->esize, off, len;
    const char *src = (const char *)ex->op->sendbuf;
    char *dst = ex->op->recvbuf;
    slice_of(&h->g, 0, i, &off, &len);
    if (h->d == 0)
        return c->io->send(c, h->down, src + off * es, len);
    if (h->d < c->n - 1)
        return c->io->recv_reduce_send(c, h->up, h->down, src + off * es, dst + off * es, len);
    return c->io->recv_finish_send(c, h->up, h->up, src + off * es, dst + off * es, len);
}

/* Broadcast step of slice i of half h: the result travels from the end back up. */
static haloResult_t chain_ar_bcast(struct chain_ctx *c, const struct chain_half *h, size_t i)
{
    struct halo_exec *ex = c->ex;
    size_t es = ex->esize, off, len;
    char *dst = ex->op->recvbuf;
    slice_of(&h->g, 0, i, &off, &len);
    if (h->d == 0)
        return c->io->recv(c, h->down, dst + off * es, len);
    return c->io->recv_copy_send(c, h->down, h->up, dst + off * es, len);
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

void chain_ar_halves(const struct chain_ctx *c, const struct slice_geom half[2], struct chain_half h[2])
{
    h[0] = (struct chain_half){half[0], c->p, c->left, c->right};
    h[1] = (struct chain_half){half[1], c->n - 1 - c->p, c->right, c->left};
}

long chain_ar_ticks(const struct chain_ctx *c, const struct chain_half h[2])
{
    return (long)h[0].g.nslices + 2L * (c->n - 1);
}

haloResult_t chain_ar_run(struct chain_ctx *c, const struct chain_half h[2], long t0, long t1)
{
    haloResult_t r = haloSuccess;
    for (long t = t0; t < t1 && r == haloSuccess; t++)
        for (int k = 0; k < 2 && r == haloSuccess; k++) {
            c->unit = t;
            c->nth = k;
            r = chain_ar_tick(c, &h[k], t);
        }
    return r;
}

haloResult_t chain_allreduce(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom half[2];
    struct chain_half h[2];
    chain_ctx_init(ex, &c, &chain_slots);
    slice_geom_halves(ex, ex->op->count, 1, half);
    chain_ar_halves(&c, half, h);
    return chain_ar_run(&c, h, 0, chain_ar_ticks(&c, h));
}

/* ---- the sliced schedules ---- */

/* One slice [off, off + len) of a schedule (absolute in the per-rank count or the
 * buffer); arg is the schedule's. */
typedef haloResult_t (*chain_slice_fn)(struct chain_ctx *c, const void *arg, size_t off, size_t len);

/* Slices [s0, s1) of g, each with a fresh count of partial sums. */
static haloResult_t chain_slices(struct chain_ctx *c, const struct slice_geom *g, size_t s0, size_t s1,
                                 chain_slice_fn fn, const void *arg)
{
    haloResult_t r = haloSuccess;
    for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
        size_t off, len;
        slice_of(g, 0, s, &off, &len);
        c->unit = (long)s;
        c->nth = 0;
        r = fn(c, arg, off, len);
    }
    return r;
}

/* ---- all-gather ---- */

/* Slice [off, off + len) of every rank's block (off within the per-rank count). */
static haloResult_t chain_ag_slice(struct chain_ctx *c, const void *arg, size_t off, size_t len)
{
    (void)arg;
    struct halo_exec *ex = c->ex;
    const int *ring = ex->comm->ring;
    size_t es = ex->esize, sc = ex->op->count;
    char *dst = ex->op->recvbuf;
    const char *own = (const char *)ex->op->sendbuf + off * es;
    haloResult_t r = haloSuccess;
    if (c->right >= 0)
        r = c->io->send(c, c->right, own, len);
    if (r == haloSuccess && c->left >= 0)
        r = c->io->send(c, c->left, own, len);
    int steps = c->p > c->n - 1 - c->p ? c->p : c->n - 1 - c->p;
    for (int j = 1; j <= steps && r == haloSuccess; j++) {
        if (j <= c->p) { /* block of position p-j, arriving from the left */
            char *where = dst + ((size_t)ring[c->p - j] * sc + off) * es;
            r = c->right >= 0 ? c->io->recv_copy_send(c, c->left, c->right, where, len)
                              : c->io->recv(c, c->left, where, len);
        }
        if (r == haloSuccess && j <= c->n - 1 - c->p) { /* block of position p+j, from the right */
            char *where = dst + ((size_t)ring[c->p + j] * sc + off) * es;
            r = c->left >= 0 ? c->io->recv_copy_send(c, c->right, c->left, where, len)
                             : c->io->recv(c, c->right, where, len);
        }
    }
    return r;
}

haloResult_t chain_ag_run(struct chain_ctx *c, const struct slice_geom *g, size_t s0, size_t s1)
{
    return chain_slices(c, g, s0, s1, chain_ag_slice, NULL);
}

haloResult_t chain_allgather(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom g;
    chain_ctx_init(ex, &c, &chain_slots);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    algo_allgather_own(ex, g.off, g.len);
    return chain_ag_run(&c, &g, 0, g.nslices);
}

/* ---- reduce-scatter ---- */

/* One partial sum of the block owned by position q passing through: start it
 * (at an end) or add mine and pass it on, from `from` to `to`. */
static haloResult_t chain_rs_pass(struct chain_ctx *c, int q, int from, int to, size_t in_block, size_t len)
{
    struct halo_exec *ex = c->ex;
    size_t es = ex->esize;
    const char *mine = (const char *)ex->op->sendbuf + ((size_t)ex->comm->ring[q] * ex->op->count + in_block) * es;
    if (from < 0)
        return c->io->send(c, to, mine, len);
    return c->io->recv_pass(c, from, to, mine, len);
}

static haloResult_t chain_rs_slice(struct chain_ctx *c, const void *arg, size_t in_block, size_t len)
{
    (void)arg;
    struct halo_exec *ex = c->ex;
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

haloResult_t chain_rs_run(struct chain_ctx *c, const struct slice_geom *g, size_t s0, size_t s1)
{
    return chain_slices(c, g, s0, s1, chain_rs_slice, NULL);
}

haloResult_t chain_reducescatter(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom g;
    chain_ctx_init(ex, &c, &chain_slots);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    return chain_rs_run(&c, &g, 0, g.nslices);
}

/* ---- broadcast and reduce ---- */

/* Broadcast slice: the root sends it both ways; the others pass it on away from
 * the root (arg: the root's position). */
static haloResult_t chain_bc_slice(struct chain_ctx *c, const void *arg, size_t off, size_t len)
{
    struct halo_exec *ex = c->ex;
    int rp = *(const int *)arg;
    int from = c->p < rp ? c->right : c->left, to = c->p < rp ? c->left : c->right;
    size_t es = ex->esize;
    haloResult_t r = haloSuccess;
    if (c->p == rp) {
        const char *src = (const char *)ex->op->sendbuf + off * es;
        if (c->left >= 0)
            r = c->io->send(c, c->left, src, len);
        if (r == haloSuccess && c->right >= 0)
            r = c->io->send(c, c->right, src, len);
        return r;
    }
    char *where = (char *)ex->op->recvbuf + off * es;
    return to >= 0 ? c->io->recv_copy_send(c, from, to, where, len) : c->io->recv(c, from, where, len);
}

haloResult_t chain_bc_run(struct chain_ctx *c, const struct slice_geom *g, int rp, size_t s0, size_t s1)
{
    return chain_slices(c, g, s0, s1, chain_bc_slice, &rp);
}

haloResult_t chain_broadcast(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom g;
    chain_ctx_init(ex, &c, &chain_slots);
    int rp = ring_pos_of(ex->comm, ex->op->root);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    haloResult_t r = chain_bc_run(&c, &g, rp, 0, g.nslices);
    if (r == haloSuccess && c.p == rp) /* the root sends from sendbuff; its own copy after */
        algo_root_copy(ex, &g);
    return r;
}

/* Reduce slice: partial sums flow from both ends toward the root (arg: its
 * position), which adds both sides to its own. */
static haloResult_t chain_rd_slice(struct chain_ctx *c, const void *arg, size_t off, size_t len)
{
    struct halo_exec *ex = c->ex;
    int rp = *(const int *)arg;
    int from = c->p < rp ? c->left : c->right, to = c->p < rp ? c->right : c->left;
    size_t es = ex->esize;
    const char *mine = (const char *)ex->op->sendbuf + off * es;
    if (c->p == rp)
        return chain_reduce_both(c, mine, (char *)ex->op->recvbuf + off * es, len);
    return from >= 0 ? c->io->recv_pass(c, from, to, mine, len) : c->io->send(c, to, mine, len);
}

haloResult_t chain_rd_run(struct chain_ctx *c, const struct slice_geom *g, int rp, size_t s0, size_t s1)
{
    return chain_slices(c, g, s0, s1, chain_rd_slice, &rp);
}

haloResult_t chain_reduce(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct slice_geom g;
    chain_ctx_init(ex, &c, &chain_slots);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    return chain_rd_run(&c, &g, ring_pos_of(ex->comm, ex->op->root), 0, g.nslices);
}
