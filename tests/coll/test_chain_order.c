/* SPDX-License-Identifier: MIT */
/*
 * test_chain_order.c — the daisy-chain schedules' steps (chain.h) walked rank by
 * rank with moves that only record, no transport: what zero-copy (chain_zc.c)
 * relies on to grant a window of receives ahead of the data.
 *   - On every cable direction a -> b, the k-th message a sends is the k-th one b
 *     receives: the same elements and length. The grant walk grants in b's
 *     receive order, so a's sends meet their grants. No message goes between
 *     ranks that are not chain neighbours.
 *   - A cable direction carries at most the grants per unit chain_zc.c sizes its
 *     windows by (the all-reduce: 2 a tick; all-gather and reduce-scatter: n-1 a
 *     slice; broadcast and reduce: 1), in unit order.
 *   - A rank's partial sums of one unit get different landing places, fewer than
 *     the places per unit chain_zc.c provides (2; reduce-scatter n+1).
 *   - Every rank receives what it must: every result slice it does not finish
 *     (all-reduce), every other block (all-gather), the buffer (broadcast, all but
 *     the root), and where partial sums meet (reduce-scatter's owner, reduce's
 *     root), one from each side that exists.
 * For 2 to 8 ranks on a ring order that is not the rank order, several slice
 * counts, every root.
 */
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "comm.h"
#include "test.h"

#define MAXN 8

enum kind { PLAIN, PARTIAL, MEET }; /* a block or result; a partial sum passing; two meeting */

struct ev {
    long idx; /* first element, in one index space per collective (see idx_of) */
    size_t len;
    long unit;
    int nth;
    enum kind kind;
};

struct seq {
    struct ev *e;
    int n, cap;
};

static struct seq sent[MAXN][MAXN], got[MAXN][MAXN]; /* [from][to] */
static int cur; /* the rank being walked */
static enum halo_coll coll;
static char *sbuf, *rbuf;
static size_t count; /* per-rank count (all-gather, reduce-scatter) or the buffer's */
static int nr;

/* Gathers index recvbuff (n blocks) and map sendbuff to the sender's block;
 * reduce-scatter indexes sendbuff (n blocks) and maps recvbuff to the owner's. */
static long idx_of(const char *p)
{
    size_t span = (size_t)nr * count * 4;
    int in_recv = p >= rbuf && p < rbuf + span;
    ASSERT_TRUE(in_recv || (p >= sbuf && p < sbuf + span));
    long off = (long)((p - (in_recv ? rbuf : sbuf)) / 4);
    if ((coll == HALO_COLL_ALLGATHER && !in_recv) || (coll == HALO_COLL_REDUCESCATTER && in_recv))
        off += (long)cur * (long)count;
    return off;
}

static void push(struct seq *s, const struct chain_ctx *c, const char *at, size_t len, enum kind kind)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->e = realloc(s->e, (size_t)s->cap * sizeof(*s->e));
        ASSERT_TRUE(s->e != NULL);
    }
    s->e[s->n++] = (struct ev){idx_of(at), len, c->unit, c->nth, kind};
}

static int neighbour(const struct chain_ctx *c, int peer)
{
    return peer >= 0 && (peer == c->left || peer == c->right);
}

static haloResult_t rec_send(struct chain_ctx *c, int to, const char *src, size_t len)
{
    ASSERT_TRUE(neighbour(c, to));
    push(&sent[cur][to], c, src, len, PLAIN);
    return haloSuccess;
}

static void rec_got(struct chain_ctx *c, int from, const char *at, size_t len, enum kind kind)
{
    ASSERT_TRUE(neighbour(c, from));
    push(&got[from][cur], c, at, len, kind);
}

static haloResult_t rec_recv(struct chain_ctx *c, int from, char *dst, size_t len)
{
    rec_got(c, from, dst, len, PLAIN);
    return haloSuccess;
}

static haloResult_t rec_recv_copy_send(struct chain_ctx *c, int from, int to, char *dst, size_t len)
{
    rec_recv(c, from, dst, len);
    return rec_send(c, to, dst, len);
}

/* The all-reduce's partial sums: nth is the half (set by the schedule). */
static haloResult_t rec_partial(struct chain_ctx *c, int from, int to, const char *mine, char *dst, size_t len)
{
    ASSERT_EQ(idx_of(mine), idx_of(dst)); /* my input for the same slice */
    rec_got(c, from, dst, len, PARTIAL);
    return rec_send(c, to, dst, len);
}

/* Reduce-scatter's and reduce's: a landing place each, counted as chain_zc.c does. */
static haloResult_t rec_pass(struct chain_ctx *c, int from, int to, const char *mine, size_t len)
{
    rec_got(c, from, mine, len, PARTIAL);
    c->nth++;
    return rec_send(c, to, mine, len);
}

static haloResult_t rec_reduce(struct chain_ctx *c, int from, const char *src, char *dst, size_t len, int final)
{
    (void)src, (void)final;
    rec_got(c, from, dst, len, MEET);
    c->nth++;
    return haloSuccess;
}

static const struct chain_io recorder = {rec_send,    rec_recv, rec_recv_copy_send, rec_partial,
                                         rec_partial, rec_pass, rec_reduce};

static void reset(void)
{
    for (int a = 0; a < MAXN; a++)
        for (int b = 0; b < MAXN; b++) {
            free(sent[a][b].e);
            free(got[a][b].e);
            memset(&sent[a][b], 0, sizeof(sent[a][b]));
            memset(&got[a][b], 0, sizeof(got[a][b]));
        }
}

static void check_cables(const int *ring)
{
    int pos[MAXN];
    for (int p = 0; p < nr; p++)
        pos[ring[p]] = p;
    for (int a = 0; a < nr; a++)
        for (int b = 0; b < nr; b++) {
            const struct seq *s = &sent[a][b], *g = &got[a][b];
            if (abs(pos[a] - pos[b]) != 1) {
                ASSERT_EQ(s->n, 0);
                ASSERT_EQ(g->n, 0);
                continue;
            }
            ASSERT_EQ(s->n, g->n);
            for (int k = 0; k < s->n; k++) {
                ASSERT_EQ(s->e[k].idx, g->e[k].idx);
                ASSERT_EQ(s->e[k].len, g->e[k].len);
            }
        }
}

/* Receives per cable direction and unit, and the landing places of partial sums. */
static void check_units(int most, int places)
{
    for (int a = 0; a < nr; a++)
        for (int b = 0; b < nr; b++) {
            const struct seq *g = &got[a][b];
            for (int k = 0, run = 0; k < g->n; k++) {
                ASSERT_TRUE(k == 0 || g->e[k].unit >= g->e[k - 1].unit);
                run = k > 0 && g->e[k].unit == g->e[k - 1].unit ? run + 1 : 1;
                ASSERT_TRUE(run <= most);
            }
        }
    for (int r = 0; r < nr; r++)
        for (int a = 0; a < nr; a++)
            for (int k = 0; k < got[a][r].n; k++) {
                const struct ev *x = &got[a][r].e[k];
                if (x->kind == PLAIN)
                    continue;
                ASSERT_TRUE(x->nth >= 0 && x->nth < places);
                for (int b = 0; b < nr; b++)
                    for (int m = 0; m < got[b][r].n; m++) {
                        const struct ev *y = &got[b][r].e[m];
                        if (x != y && y->kind != PLAIN)
                            ASSERT_TRUE(x->unit != y->unit || x->nth != y->nth);
                    }
            }
}

/* How many messages of `kind` rank r received that hold element i. */
static int times_received(int r, long i, enum kind kind)
{
    int seen = 0;
    for (int a = 0; a < nr; a++)
        for (int k = 0; k < got[a][r].n; k++) {
            const struct ev *e = &got[a][r].e[k];
            seen += e->kind == kind && i >= e->idx && i < e->idx + (long)e->len;
        }
    return seen;
}

/* Elements [lo, hi) reached rank r `times` times as `kind`, except [skip_lo, skip_hi). */
static void check_coverage(int r, enum kind kind, long lo, long hi, int times, long skip_lo, long skip_hi)
{
    for (long i = lo; i < hi; i++)
        ASSERT_EQ(times_received(r, i, kind), i >= skip_lo && i < skip_hi ? 0 : times);
}

static void setup(struct halo_comm *comm, struct halo_op *op, struct halo_exec *ex, int *ring, int rank)
{
    memset(comm, 0, sizeof(*comm));
    comm->nranks = nr;
    comm->rank = rank;
    comm->ring = ring;
    for (int p = 0; p < nr; p++)
        if (ring[p] == rank)
            comm->ring_pos = p;
    memset(op, 0, sizeof(*op));
    op->coll = coll;
    op->count = count;
    op->dtype = haloFloat32;
    op->sendbuf = sbuf;
    op->recvbuf = rbuf;
    op->nchannels = 1;
    memset(ex, 0, sizeof(*ex));
    ex->comm = comm;
    ex->op = op;
    ex->esize = 4;
}

static void walk_allreduce(int *ring, size_t nslices)
{
    struct halo_comm comm;
    struct halo_op op;
    struct halo_exec ex;
    struct slice_geom half[2];
    coll = HALO_COLL_ALLREDUCE;
    reset();
    for (int k = 0; k < 2; k++) {
        slice_split(count, 2, k, &half[k].off, &half[k].len);
        half[k].nblocks = 1;
        half[k].nslices = nslices;
    }
    for (cur = 0; cur < nr; cur++) {
        struct chain_ctx c;
        struct chain_half h[2];
        setup(&comm, &op, &ex, ring, cur);
        chain_ctx_init(&ex, &c, &recorder);
        chain_ar_halves(&c, half, h);
        ASSERT_EQ(chain_ar_ticks(&c, h), (long)nslices + 2L * (nr - 1));
        ASSERT_EQ(chain_ar_run(&c, h, 0, chain_ar_ticks(&c, h)), haloSuccess);
    }
    check_cables(ring);
    check_units(2, 2);
    for (int r = 0; r < nr; r++) { /* the end of a half finishes it: it receives the other */
        int p = 0;
        while (ring[p] != r)
            p++;
        int mine = p == nr - 1 ? 0 : p == 0 ? 1 : -1;
        long lo = mine >= 0 ? (long)half[mine].off : 0, hi = mine >= 0 ? lo + (long)half[mine].len : 0;
        check_coverage(r, PLAIN, 0, (long)count, 1, lo, hi);
    }
}

/* All-gather, reduce-scatter, broadcast (root at position rp) or reduce. */
static void walk_sliced(int *ring, size_t nslices, int rp)
{
    struct halo_comm comm;
    struct halo_op op;
    struct halo_exec ex;
    struct slice_geom g = {0, count, 1, nslices};
    reset();
    for (cur = 0; cur < nr; cur++) {
        struct chain_ctx c;
        setup(&comm, &op, &ex, ring, cur);
        chain_ctx_init(&ex, &c, &recorder);
        haloResult_t r = coll == HALO_COLL_ALLGATHER       ? chain_ag_run(&c, &g, 0, nslices)
                         : coll == HALO_COLL_REDUCESCATTER ? chain_rs_run(&c, &g, 0, nslices)
                         : coll == HALO_COLL_BROADCAST     ? chain_bc_run(&c, &g, rp, 0, nslices)
                                                           : chain_rd_run(&c, &g, rp, 0, nslices);
        ASSERT_EQ(r, haloSuccess);
    }
    check_cables(ring);
    int per = coll == HALO_COLL_ALLGATHER || coll == HALO_COLL_REDUCESCATTER ? nr - 1 : 1;
    check_units(per, coll == HALO_COLL_REDUCESCATTER ? nr + 1 : 2);
    int root = ring[rp];
    for (int r = 0; r < nr; r++) {
        int p = 0;
        while (ring[p] != r)
            p++;
        int sides = (p > 0) + (p < nr - 1);
        long mine_lo = (long)r * (long)count, mine_hi = mine_lo + (long)count;
        switch (coll) {
        case HALO_COLL_ALLGATHER: /* every block but mine, once */
            check_coverage(r, PLAIN, 0, (long)nr * (long)count, 1, mine_lo, mine_hi);
            break;
        case HALO_COLL_REDUCESCATTER: /* my block, once from each side */
            check_coverage(r, MEET, mine_lo, mine_hi, sides, 0, 0);
            break;
        case HALO_COLL_BROADCAST: check_coverage(r, PLAIN, 0, (long)count, r == root ? 0 : 1, 0, 0); break;
        default: check_coverage(r, MEET, 0, (long)count, r == root ? sides : 0, 0, 0); break;
        }
    }
}

int main(void)
{
    static const int orders[MAXN] = {3, 0, 6, 1, 7, 2, 5, 4};
    static const size_t slices[] = {1, 2, 5, 9};
    static const enum halo_coll sliced[] = {HALO_COLL_ALLGATHER, HALO_COLL_REDUCESCATTER, HALO_COLL_BROADCAST,
                                            HALO_COLL_REDUCE};
    for (nr = 2; nr <= MAXN; nr++) {
        int ring[MAXN], k = 0;
        for (int i = 0; i < MAXN; i++) /* a ring order that is not the rank order */
            if (orders[i] < nr)
                ring[k++] = orders[i];
        for (size_t s = 0; s < sizeof(slices) / sizeof(slices[0]); s++) {
            count = 2 * slices[s] * 3 + 1; /* odd: the halves and slices differ in length */
            sbuf = calloc((size_t)nr * count, 4);
            rbuf = calloc((size_t)nr * count, 4);
            walk_allreduce(ring, slices[s]);
            for (size_t c = 0; c < sizeof(sliced) / sizeof(sliced[0]); c++) {
                coll = sliced[c];
                int rooted = coll == HALO_COLL_BROADCAST || coll == HALO_COLL_REDUCE;
                for (int rp = 0; rp < (rooted ? nr : 1); rp++)
                    walk_sliced(ring, slices[s], rp);
            }
            free(sbuf);
            free(rbuf);
        }
    }
    reset();
    return 0;
}
