/* SPDX-License-Identifier: MIT */
/*
 * chain_zc.c — the daisy chain's collectives with zero-copy messages (ib):
 * chain.c's steps, but every message is an RDMA write from the sender's buffer
 * into a destination the receiver granted (engine_zc.c), never a slot and a copy.
 *
 * Windows. A schedule runs in windows: of ticks of the systolic clock for the
 * all-reduce, of slices for the others. A window's steps
 * are first walked with the grant moves, which only grant every receive its
 * destination, to the neighbour it comes from, in the order the schedule takes
 * them; that is the order the neighbour sends them, since both ends of a cable
 * meet its messages in the same order (chain.c). Then they are walked again with
 * the moves that send and wait. Window 0's grants go out first, then each
 * window's successor's as it starts, so a neighbour does not wait for a grant,
 * and two windows of grants at most are outstanding on a cable: they fit the
 * transport's grant ring (ring_zc.h's RING_ZC_GRANTS).
 *
 * Destinations. A gathered, broadcast or finished slice lands straight in
 * recvbuff and is passed on from there. A partial sum lands in the channel's
 * landing area (chain_ctx's unit and nth name its place):
 *   all-reduce      one place per half and tick; the rank adds its own input
 *                   into recvbuff and sends that on. recvbuff may hold it: the
 *                   slice's result comes back into it only after the end of the
 *                   chain has the partial sum, so after the send has read it.
 *                   The places are only read by the addition: two windows of
 *                   them, used in turn.
 *   reduce-scatter  one place per partial sum received in a slice (n+1 at most:
 *   and reduce      the ones passing through, and the two that meet at the
 *                   owner or root); a passing one gets my input added in place
 *                   and is sent on from there. So three windows of places are
 *                   used in turn, and before a window's places are granted again
 *                   the sends that read them, three windows back, must have left
 *                   (zc_send_wait_mark), as ring_zc_coll.c's reduce-scatter does.
 *
 * Chosen by api.c instead of chain where chain_zc_usable: every rank's chain
 * neighbours are reached over ib on every channel (zc_chain, agreed at init) and
 * the blocks reach HALO_IB_ZCOPY_MIN.
 */
#include "chain.h"

#include <string.h>

#include "reduce.h"
#include "ring_zc.h"

#define CZC_AR_PER_TICK 2 /* messages a cable direction carries per tick (chain.c) */
#define CZC_KEPT_MAX 3    /* windows of landing places in use at once */

struct chain_zc {
    size_t window;   /* units (ticks or slices) per window */
    size_t per_unit; /* landing places per unit */
    size_t kept;     /* windows of places used in turn: 2, or 3 where sends read them */
    size_t place;    /* bytes of one landing place */
    char *land;      /* the landing area, NULL where nothing lands there */
    uint64_t mark[CZC_KEPT_MAX][2]; /* sends to left, right posted by the end of window w (w % kept) */
};

/* Landing place of the partial sum the current step receives. */
static char *czc_landing(const struct chain_ctx *c)
{
    const struct chain_zc *z = c->zc;
    size_t u = (size_t)c->unit, w = u / z->window;
    return z->land + (((w % z->kept) * z->window + u % z->window) * z->per_unit + (size_t)c->nth) * z->place;
}

/* ---- the grant walk: every receive grants its destination ---- */

static haloResult_t czc_grant_send(struct chain_ctx *c, int to, const char *src, size_t len)
{
    (void)c, (void)to, (void)src, (void)len;
    return haloSuccess;
}

static haloResult_t czc_grant_recv(struct chain_ctx *c, int from, char *dst, size_t len)
{
    return zc_expect(c->ex, from, dst, len * c->ex->esize);
}

static haloResult_t czc_grant_recv_copy_send(struct chain_ctx *c, int from, int to, char *dst, size_t len)
{
    (void)to;
    return czc_grant_recv(c, from, dst, len);
}

/* A partial sum's landing place; the next one in the unit gets the next place. */
static haloResult_t czc_grant_landing(struct chain_ctx *c, int from, size_t len)
{
    haloResult_t r = czc_grant_recv(c, from, czc_landing(c), len);
    c->nth++;
    return r;
}

static haloResult_t czc_grant_partial(struct chain_ctx *c, int from, int to, const char *mine, char *dst,
                                      size_t len)
{
    (void)to, (void)mine, (void)dst;
    return czc_grant_landing(c, from, len);
}

static haloResult_t czc_grant_pass(struct chain_ctx *c, int from, int to, const char *mine, size_t len)
{
    (void)to, (void)mine;
    return czc_grant_landing(c, from, len);
}

static haloResult_t czc_grant_reduce(struct chain_ctx *c, int from, const char *src, char *dst, size_t len,
                                     int final)
{
    (void)src, (void)dst, (void)final;
    return czc_grant_landing(c, from, len);
}

static const struct chain_io czc_grants = {czc_grant_send,    czc_grant_recv,    czc_grant_recv_copy_send,
                                           czc_grant_partial, czc_grant_partial, czc_grant_pass,
                                           czc_grant_reduce};

/* ---- the run: send and wait ---- */

static haloResult_t czc_send(struct chain_ctx *c, int to, const char *src, size_t len)
{
    return zc_send(c->ex, to, src, len * c->ex->esize);
}

static haloResult_t czc_recv(struct chain_ctx *c, int from, char *dst, size_t len)
{
    (void)dst, (void)len; /* placed where the grant said */
    return zc_recv_wait(c->ex, from);
}

static haloResult_t czc_recv_copy_send(struct chain_ctx *c, int from, int to, char *dst, size_t len)
{
    haloResult_t r = zc_recv_wait(c->ex, from);
    return r == haloSuccess ? czc_send(c, to, dst, len) : r;
}

/* dst = the partial sum that landed + src; final: divide for avg. */
static haloResult_t czc_add(struct chain_ctx *c, int from, const char *src, char *dst, size_t len, int final)
{
    const struct halo_op *op = c->ex->op;
    haloResult_t r = zc_recv_wait(c->ex, from);
    if (r != haloSuccess)
        return r;
    halo_reduce(dst, czc_landing(c), src, len, op->dtype, op->op);
    if (final && op->op == haloAvg)
        halo_scale_div(dst, dst, len, op->dtype, c->n);
    c->nth++;
    return haloSuccess;
}

static haloResult_t czc_add_send(struct chain_ctx *c, int from, int to, const char *mine, char *dst, size_t len,
                                 int final)
{
    haloResult_t r = czc_add(c, from, mine, dst, len, final);
    return r == haloSuccess ? czc_send(c, to, dst, len) : r;
}

static haloResult_t czc_recv_reduce_send(struct chain_ctx *c, int from, int to, const char *mine, char *dst,
                                         size_t len)
{
    return czc_add_send(c, from, to, mine, dst, len, 0);
}

static haloResult_t czc_recv_finish_send(struct chain_ctx *c, int from, int to, const char *mine, char *dst,
                                         size_t len)
{
    return czc_add_send(c, from, to, mine, dst, len, 1);
}

/* Added in its landing place, and sent on from there. */
static haloResult_t czc_recv_pass(struct chain_ctx *c, int from, int to, const char *mine, size_t len)
{
    char *land = czc_landing(c);
    return czc_add_send(c, from, to, mine, land, len, 0);
}

static haloResult_t czc_recv_reduce(struct chain_ctx *c, int from, const char *src, char *dst, size_t len,
                                    int final)
{
    return czc_add(c, from, src, dst, len, final);
}

static const struct chain_io czc_moves = {czc_send,           czc_recv,         czc_recv_copy_send,
                                          czc_recv_reduce_send, czc_recv_finish_send, czc_recv_pass,
                                          czc_recv_reduce};

/* ---- windows ---- */

/* Steps [u0, u1) (ticks or slices) of a schedule. */
typedef haloResult_t (*czc_pass_fn)(struct chain_ctx *c, const void *arg, long u0, long u1);

static haloResult_t czc_pass(struct chain_ctx *c, const struct chain_io *io, czc_pass_fn pass, const void *arg,
                             long total, long w)
{
    long window = (long)((const struct chain_zc *)c->zc)->window, u0 = w * window;
    c->io = io;
    return pass(c, arg, u0, u0 + window < total ? u0 + window : total);
}

/* Grants window 0, then each window's successor as it starts, runs the windows,
 * waits for the last sends and drops the operation's registrations. Where sends
 * read landing places (kept 3), window g's grants wait for the sends of window
 * g - 3, which read the same places. */
static haloResult_t czc_run(struct chain_ctx *c, czc_pass_fn pass, const void *arg, long total)
{
    struct chain_zc *z = c->zc;
    long window = (long)z->window, nwin = (total + window - 1) / window, kept = (long)z->kept;
    int nb[2] = {c->left, c->right};
    haloResult_t r = czc_pass(c, &czc_grants, pass, arg, total, 0);
    for (long w = 0; w < nwin && r == haloSuccess; w++) {
        long g = w + 1;
        for (int i = 0; i < 2 && r == haloSuccess && g < nwin && kept == CZC_KEPT_MAX && g >= kept; i++)
            if (nb[i] >= 0)
                r = zc_send_wait_mark(c->ex, nb[i], z->mark[g % kept][i]);
        if (r == haloSuccess && g < nwin)
            r = czc_pass(c, &czc_grants, pass, arg, total, g);
        if (r == haloSuccess)
            r = czc_pass(c, &czc_moves, pass, arg, total, w);
        for (int i = 0; i < 2; i++)
            z->mark[w % kept][i] = nb[i] >= 0 ? zc_send_mark(c->ex, nb[i]) : 0;
    }
    for (int i = 0; i < 2 && r == haloSuccess; i++)
        if (nb[i] >= 0)
            r = zc_send_wait(c->ex, nb[i]);
    for (int i = 0; i < 2 && r == haloSuccess; i++) /* registrations go only when nothing is in flight */
        if (nb[i] >= 0)
            zc_end(c->ex, nb[i]);
    return r;
}

/* Registers [off, off + len) elements of buf, for the whole operation, with both
 * neighbours: a buffer is read by sends and written by grants on either side. */
static haloResult_t czc_register(struct chain_ctx *c, const void *buf, size_t off, size_t len, int writable)
{
    int nb[2] = {c->left, c->right};
    haloResult_t r = haloSuccess;
    for (int i = 0; i < 2 && r == haloSuccess; i++)
        if (nb[i] >= 0)
            r = zc_register(c->ex, nb[i], (const char *)buf + off * c->ex->esize, len * c->ex->esize, writable);
    return r;
}

/* Grants one unit (a tick of the all-reduce, a slice of the others) takes on one
 * cable at most: what sizes the windows. Past the all-reduce, a chain's cable
 * carries no more a slice than the ring's one incoming cable does (the blocks, or
 * partial sums, from one side: n-1 at most; one for broadcast and reduce). The
 * recording walk in tests/coll/test_chain_order.c checks these. */
static size_t czc_grants_per_unit(enum halo_coll coll, int n)
{
    return coll == HALO_COLL_ALLREDUCE ? CZC_AR_PER_TICK : ring_zc_grants_per_slice(coll, n);
}

int chain_zc_usable(const struct halo_comm *comm, const struct halo_op *op)
{
    size_t per = czc_grants_per_unit(op->coll, comm->nranks);
    if (!comm->zc_chain || per == 0 || 2 * per > RING_ZC_GRANTS)
        return 0;
    return zc_block_reaches(comm, op, op->coll == HALO_COLL_ALLREDUCE ? 2 : 1); /* all-reduce: a half */
}

/* The operation's window, and its landing area of `places` per unit (none for
 * 0), each a slice of g (the longest) in size; kept windows of them. */
static haloResult_t czc_begin(struct halo_exec *ex, struct chain_ctx *c, struct chain_zc *z,
                              const struct slice_geom *g, size_t places, size_t kept)
{
    chain_ctx_init(ex, c, &czc_grants);
    c->zc = z;
    memset(z, 0, sizeof(*z));
    z->window = ring_zc_window_size(czc_grants_per_unit(ex->op->coll, c->n));
    z->per_unit = places;
    z->kept = kept;
    z->place = (slice_block_max(g) + g->nslices - 1) / g->nslices * ex->esize;
    haloResult_t r = haloSuccess;
    if (places)
        z->land = comm_zc_scratch(ex->comm, ex->ch, kept * z->window * places * z->place, &r);
    return r;
}

/* This channel's range of the per-rank count (the buffer of a broadcast or a
 * reduce) as one block, in zero-copy slices. */
static void czc_geom(const struct halo_exec *ex, struct slice_geom *g)
{
    slice_channel_range(ex->comm, ex->op->count, ex->op->nchannels, ex->ch, &g->off, &g->len);
    g->nblocks = 1;
    g->nslices = ring_zc_slices(g->len, g->len, ex->esize);
}

/* ---- all-reduce ---- */

static haloResult_t czc_ar_pass(struct chain_ctx *c, const void *arg, long t0, long t1)
{
    return chain_ar_run(c, arg, t0, t1);
}

haloResult_t chain_zc_allreduce(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct chain_zc z;
    struct slice_geom half[2];
    struct chain_half h[2];
    slice_geom_halves(ex, ex->op->count, 1, half);
    half[0].nslices = half[1].nslices = ring_zc_slices(half[1].len, half[0].len, ex->esize);
    haloResult_t r = czc_begin(ex, &c, &z, &half[0], 2, 2); /* a place per half and tick */
    chain_ar_halves(&c, half, h);
    size_t coff = half[0].off, clen = half[0].len + half[1].len;
    if (r == haloSuccess)
        r = czc_register(&c, ex->op->sendbuf, coff, clen, 0);
    if (r == haloSuccess)
        r = czc_register(&c, ex->op->recvbuf, coff, clen, 1);
    return r == haloSuccess ? czc_run(&c, czc_ar_pass, h, chain_ar_ticks(&c, h)) : r;
}

/* ---- all-gather and reduce-scatter ---- */

static haloResult_t czc_ag_pass(struct chain_ctx *c, const void *arg, long s0, long s1)
{
    return chain_ag_run(c, arg, (size_t)s0, (size_t)s1);
}

/* Elements from block 0's part of the range to block n-1's, in a buffer of n
 * blocks of count. */
static size_t czc_span(const struct halo_exec *ex, const struct slice_geom *g)
{
    return (size_t)(ex->comm->nranks - 1) * ex->op->count + g->len;
}

haloResult_t chain_zc_allgather(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct chain_zc z;
    struct slice_geom g;
    czc_geom(ex, &g);
    haloResult_t r = czc_begin(ex, &c, &z, &g, 0, 2);
    if (r == haloSuccess)
        r = czc_register(&c, ex->op->sendbuf, g.off, g.len, 0);
    if (r == haloSuccess)
        r = czc_register(&c, ex->op->recvbuf, g.off, czc_span(ex, &g), 1);
    if (r == haloSuccess)
        r = czc_run(&c, czc_ag_pass, &g, (long)g.nslices);
    if (r == haloSuccess) /* my own block: a local copy, after the wire is done with the rest */
        algo_allgather_own(ex, g.off, g.len);
    return r;
}

static haloResult_t czc_rs_pass(struct chain_ctx *c, const void *arg, long s0, long s1)
{
    return chain_rs_run(c, arg, (size_t)s0, (size_t)s1);
}

haloResult_t chain_zc_reducescatter(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct chain_zc z;
    struct slice_geom g;
    czc_geom(ex, &g);
    /* n-1 passing through a middle rank in a slice at most, and the two that meet */
    haloResult_t r = czc_begin(ex, &c, &z, &g, (size_t)ex->comm->nranks + 1, CZC_KEPT_MAX);
    if (r == haloSuccess)
        r = czc_register(&c, ex->op->sendbuf, g.off, czc_span(ex, &g), 0);
    return r == haloSuccess ? czc_run(&c, czc_rs_pass, &g, (long)g.nslices) : r;
}

/* ---- broadcast and reduce ---- */

struct czc_rooted {
    struct slice_geom g;
    int rp; /* the root's position */
};

static haloResult_t czc_bc_pass(struct chain_ctx *c, const void *arg, long s0, long s1)
{
    const struct czc_rooted *b = arg;
    return chain_bc_run(c, &b->g, b->rp, (size_t)s0, (size_t)s1);
}

static haloResult_t czc_rd_pass(struct chain_ctx *c, const void *arg, long s0, long s1)
{
    const struct czc_rooted *b = arg;
    return chain_rd_run(c, &b->g, b->rp, (size_t)s0, (size_t)s1);
}

/* The rooted collectives' geometry and root, and czc_begin. */
static haloResult_t czc_rooted_begin(struct halo_exec *ex, struct chain_ctx *c, struct chain_zc *z,
                                     struct czc_rooted *b, size_t places, size_t kept)
{
    czc_geom(ex, &b->g);
    b->rp = ring_pos_of(ex->comm, ex->op->root);
    return czc_begin(ex, c, z, &b->g, places, kept);
}

haloResult_t chain_zc_broadcast(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct chain_zc z;
    struct czc_rooted b;
    haloResult_t r = czc_rooted_begin(ex, &c, &z, &b, 0, 2);
    if (r == haloSuccess)
        r = c.p == b.rp ? czc_register(&c, ex->op->sendbuf, b.g.off, b.g.len, 0)
                        : czc_register(&c, ex->op->recvbuf, b.g.off, b.g.len, 1);
    if (r == haloSuccess)
        r = czc_run(&c, czc_bc_pass, &b, (long)b.g.nslices);
    if (r == haloSuccess && c.p == b.rp) /* the root's own copy, after its sends */
        algo_root_copy(ex, &b.g);
    return r;
}

haloResult_t chain_zc_reduce(struct halo_exec *ex)
{
    struct chain_ctx c;
    struct chain_zc z;
    struct czc_rooted b;
    /* one passing through, or the two that meet at the root */
    haloResult_t r = czc_rooted_begin(ex, &c, &z, &b, 2, CZC_KEPT_MAX);
    if (r == haloSuccess)
        r = czc_register(&c, ex->op->sendbuf, b.g.off, b.g.len, 0);
    return r == haloSuccess ? czc_run(&c, czc_rd_pass, &b, (long)b.g.nslices) : r;
}
