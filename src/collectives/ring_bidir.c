/*
 * ring_bidir.c — all-reduce on a ring using both directions (HALO_ALGO=ring_bidir).
 *
 * The channel's range is cut into halves. Half A runs the ring all-reduce of
 * ring.c along comm->ring (to next, from prev); half B runs it along the reversed
 * ring (to prev, from next), where this rank's position is n-1-p. Each half is cut
 * into n blocks and every block into S slices. A ring all-reduce of one slice is
 * 2n-1 steps; at step k a rank at position q handles block (q - k) mod n:
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
 * run ring_allreduce. The other collectives use the one-way ring schedules.
 */
#include "algos.h"

struct bidir_dir {
    size_t off, len;  /* elements of the half, absolute */
    size_t nslices;
    int q;            /* my position along this direction */
    int to, from;     /* next and previous rank along this direction */
};

static int bidir_mod(int a, int n)
{
    return ((a % n) + n) % n;
}

static void bidir_slice(const struct bidir_dir *d, int n, int block, size_t s, size_t *off, size_t *len)
{
    size_t boff, blen, soff;
    engine_split(d->len, n, block, &boff, &blen);
    engine_split(blen, (int)d->nslices, (int)s, &soff, len);
    *off = d->off + boff + soff;
}

/* Step k of the ring all-reduce of slice s along direction d (see above). */
static haloResult_t bidir_step(struct halo_exec *ex, const struct bidir_dir *d, size_t s, int k)
{
    int n = ex->comm->nranks;
    size_t es = ex->esize, off, len;
    const char *src = ex->op->sendbuf;
    char *dst = ex->op->recvbuf;
    bidir_slice(d, n, bidir_mod(d->q - k, n), s, &off, &len);
    if (k == 0)
        return prim_send(ex, d->to, src + off * es, len * es);
    if (k <= n - 2)
        return prim_recv_reduce_send(ex, d->from, d->to, src + off * es, len);
    if (k == n - 1)
        return prim_recv_reduce_copy_send(ex, d->from, d->to, src + off * es, dst + off * es, len, 1);
    if (k <= 2 * n - 3)
        return prim_recv_copy_send(ex, d->from, d->to, dst + off * es, len * es);
    return prim_recv(ex, d->from, dst + off * es, len * es);
}

haloResult_t ring_bidir_allreduce(struct halo_exec *ex)
{
    struct halo_comm *comm = ex->comm;
    int n = comm->nranks, p = comm->ring_pos;
    if (n <= 2)
        return ring_allreduce(ex);
    int next = comm->ring[bidir_mod(p + 1, n)], prev = comm->ring[bidir_mod(p - 1, n)];
    struct bidir_dir d[2];
    size_t coff, clen;
    algo_channel_range(ex, ex->op->count, &coff, &clen);
    for (int h = 0; h < 2; h++) {
        engine_split(clen, 2, h, &d[h].off, &d[h].len);
        d[h].off += coff;
        d[h].q = h == 0 ? p : n - 1 - p;
        d[h].to = h == 0 ? next : prev;
        d[h].from = h == 0 ? prev : next;
    }
    size_t blockmax = (d[0].len + (size_t)n - 1) / (size_t)n; /* half A is the larger one */
    d[0].nslices = d[1].nslices = algo_nslices(ex, blockmax);
    for (size_t s = 0; s < d[0].nslices; s++)
        for (int k = 0; k <= 2 * n - 2; k++)
            for (int h = 0; h < 2; h++) {
                haloResult_t r = bidir_step(ex, &d[h], s, k);
                if (r != haloSuccess)
                    return r;
            }
    return haloSuccess;
}
