/*
 * ring.c — ring schedules for every collective.
 *
 * Ranks sit on a ring in topology order (comm->ring); data flows from each rank to
 * the next. A channel's share of the buffer is cut into one block per ring
 * position, and every block into the same number of slices; the outer loop runs
 * over slices so successive slices pipeline through the ring (a rank may run up to
 * nslots frames ahead of its neighbour).
 *
 * All-reduce = reduce-scatter then all-gather. At position p, for each slice:
 *   send block p                               (my data)
 *   n-2 x  receive block p-j, add mine, send    (j = 1 .. n-2)
 *   receive block p+1, add mine -> result, send it
 *   n-2 x  receive a finished block, keep, forward
 *   receive the last finished block (p+2)
 * Block indices are mod n.
 */
#include "algos.h"

#include <string.h>

#include "reduce.h"

#define ALGO_MIN_SLICE_BYTES (32 * 1024)
#define ALGO_PIPELINE_DEPTH 4

void algo_channel_range(const struct halo_exec *ex, size_t count, size_t *off, size_t *len)
{
    engine_split(count, ex->op->nchannels, ex->ch, off, len);
}

size_t algo_nslices(const struct halo_exec *ex, size_t blockmax)
{
    size_t slot_elems = ex->comm->slot_size_tcp < ex->comm->slot_size_shm ? ex->comm->slot_size_tcp
                                                                          : ex->comm->slot_size_shm;
    slot_elems /= ex->esize;
    size_t need = (blockmax + slot_elems - 1) / slot_elems;
    size_t want = blockmax * ex->esize / ALGO_MIN_SLICE_BYTES;
    if (want > ALGO_PIPELINE_DEPTH)
        want = ALGO_PIPELINE_DEPTH;
    if (ex->op->chunk) /* the cost model's slice size (never above a slot) */
        want = (blockmax * ex->esize + ex->op->chunk - 1) / ex->op->chunk;
    size_t n = need > want ? need : want;
    return n ? n : 1;
}

void ring_slice(const struct ring_geom *g, int k, size_t s, size_t *off, size_t *len)
{
    size_t boff, blen, soff;
    engine_split(g->clen, g->n, k, &boff, &blen);
    engine_split(blen, (int)g->nslices, (int)s, &soff, len);
    *off = g->coff + boff + soff;
}

static void ring_geom_init(const struct halo_exec *ex, size_t count, int blocks, struct ring_geom *g)
{
    algo_channel_range(ex, count, &g->coff, &g->clen);
    g->n = blocks;
    g->nslices = algo_nslices(ex, (g->clen + (size_t)blocks - 1) / (size_t)blocks);
}

int ring_mod(int a, int n)
{
    return ((a % n) + n) % n;
}

static int ring_pos_of(const struct halo_comm *comm, int rank)
{
    for (int i = 0; i < comm->nranks; i++)
        if (comm->ring[i] == rank)
            return i;
    return 0;
}

static haloResult_t ring_allreduce_slice(struct halo_exec *ex, const struct ring_geom *g, size_t s)
{
    struct halo_comm *comm = ex->comm;
    int n = comm->nranks, p = comm->ring_pos;
    int next = comm->ring[ring_mod(p + 1, n)], prev = comm->ring[ring_mod(p - 1, n)];
    const char *src = ex->op->sendbuf;
    char *dst = ex->op->recvbuf;
    size_t es = ex->esize, off, len;
    haloResult_t r;

    ring_slice(g, p, s, &off, &len);
    if ((r = prim_send(ex, next, src + off * es, len * es)) != haloSuccess)
        return r;
    for (int j = 1; j <= n - 2; j++) {
        ring_slice(g, ring_mod(p - j, n), s, &off, &len);
        if ((r = prim_recv_reduce_send(ex, prev, next, src + off * es, len)) != haloSuccess)
            return r;
    }
    ring_slice(g, ring_mod(p + 1, n), s, &off, &len);
    if ((r = prim_recv_reduce_copy_send(ex, prev, next, src + off * es, dst + off * es, len, 1)) != haloSuccess)
        return r;
    for (int j = 1; j <= n - 2; j++) {
        ring_slice(g, ring_mod(p + 1 - j, n), s, &off, &len);
        if ((r = prim_recv_copy_send(ex, prev, next, dst + off * es, len * es)) != haloSuccess)
            return r;
    }
    ring_slice(g, ring_mod(p + 2, n), s, &off, &len);
    return prim_recv(ex, prev, dst + off * es, len * es);
}

haloResult_t ring_allreduce(struct halo_exec *ex)
{
    if (ring_zc_usable(ex))
        return ring_zc_allreduce(ex);
    struct ring_geom g;
    ring_geom_init(ex, ex->op->count, ex->comm->nranks, &g);
    for (size_t s = 0; s < g.nslices; s++) {
        haloResult_t r = ring_allreduce_slice(ex, &g, s);
        if (r != haloSuccess)
            return r;
    }
    return haloSuccess;
}

/* Reduce-scatter: rank at position p ends with block ring[p] (blocks are indexed by
 * rank, recvcount elements each). Step j sends block ring[p-1-j]. */
static haloResult_t ring_reducescatter_slice(struct halo_exec *ex, size_t coff, size_t clen, size_t nslices,
                                             size_t s)
{
    struct halo_comm *comm = ex->comm;
    int n = comm->nranks, p = comm->ring_pos;
    int next = comm->ring[ring_mod(p + 1, n)], prev = comm->ring[ring_mod(p - 1, n)];
    const char *src = ex->op->sendbuf;
    size_t es = ex->esize, rc = ex->op->count, soff, len;
    haloResult_t r;

    engine_split(clen, (int)nslices, (int)s, &soff, &len);
    size_t in_block = coff + soff;
    for (int j = 0; j <= n - 2; j++) {
        size_t b = (size_t)comm->ring[ring_mod(p - 1 - j, n)];
        const char *mine = src + (b * rc + in_block) * es;
        r = j == 0 ? prim_send(ex, next, mine, len * es) : prim_recv_reduce_send(ex, prev, next, mine, len);
        if (r != haloSuccess)
            return r;
    }
    const char *mine = src + ((size_t)comm->rank * rc + in_block) * es;
    return prim_recv_reduce_copy(ex, prev, mine, (char *)ex->op->recvbuf + in_block * es, len, 1);
}

haloResult_t ring_reducescatter(struct halo_exec *ex)
{
    size_t coff, clen;
    algo_channel_range(ex, ex->op->count, &coff, &clen);
    size_t nslices = algo_nslices(ex, clen);
    for (size_t s = 0; s < nslices; s++) {
        haloResult_t r = ring_reducescatter_slice(ex, coff, clen, nslices, s);
        if (r != haloSuccess)
            return r;
    }
    return haloSuccess;
}

/* All-gather: send my block, then forward n-2 blocks, then keep the last. */
static haloResult_t ring_allgather_slice(struct halo_exec *ex, size_t in_block, size_t len)
{
    struct halo_comm *comm = ex->comm;
    int n = comm->nranks, p = comm->ring_pos;
    int next = comm->ring[ring_mod(p + 1, n)], prev = comm->ring[ring_mod(p - 1, n)];
    char *dst = ex->op->recvbuf;
    size_t es = ex->esize, sc = ex->op->count;
    haloResult_t r = prim_send(ex, next, (const char *)ex->op->sendbuf + in_block * es, len * es);
    for (int j = 1; j <= n - 1 && r == haloSuccess; j++) {
        size_t b = (size_t)comm->ring[ring_mod(p - j, n)];
        char *where = dst + (b * sc + in_block) * es;
        r = j < n - 1 ? prim_recv_copy_send(ex, prev, next, where, len * es) : prim_recv(ex, prev, where, len * es);
    }
    return r;
}

void algo_allgather_own(const struct halo_exec *ex, size_t coff, size_t clen)
{
    size_t es = ex->esize;
    char *own = (char *)ex->op->recvbuf + ((size_t)ex->comm->rank * ex->op->count + coff) * es;
    if ((const char *)ex->op->sendbuf + coff * es != own) /* not in place */
        memcpy(own, (const char *)ex->op->sendbuf + coff * es, clen * es);
}

haloResult_t ring_allgather(struct halo_exec *ex)
{
    size_t coff, clen;
    algo_channel_range(ex, ex->op->count, &coff, &clen);
    algo_allgather_own(ex, coff, clen);
    size_t nslices = algo_nslices(ex, clen);
    for (size_t s = 0; s < nslices; s++) {
        size_t soff, len;
        engine_split(clen, (int)nslices, (int)s, &soff, &len);
        haloResult_t r = ring_allgather_slice(ex, coff + soff, len);
        if (r != haloSuccess)
            return r;
    }
    return haloSuccess;
}

/* Broadcast: a pipelined chain starting at the root, following the ring. */
haloResult_t ring_broadcast(struct halo_exec *ex)
{
    struct halo_comm *comm = ex->comm;
    int n = comm->nranks, p = comm->ring_pos;
    int rootpos = ring_pos_of(comm, ex->op->root);
    int q = ring_mod(p - rootpos, n);
    int next = comm->ring[ring_mod(p + 1, n)], prev = comm->ring[ring_mod(p - 1, n)];
    size_t coff, clen, es = ex->esize;
    algo_channel_range(ex, ex->op->count, &coff, &clen);
    char *dst = (char *)ex->op->recvbuf + coff * es;
    if (q == 0 && (const char *)ex->op->sendbuf + coff * es != dst)
        memcpy(dst, (const char *)ex->op->sendbuf + coff * es, clen * es);
    size_t nslices = algo_nslices(ex, clen);
    haloResult_t r = haloSuccess;
    for (size_t s = 0; s < nslices && r == haloSuccess; s++) {
        size_t soff, len;
        engine_split(clen, (int)nslices, (int)s, &soff, &len);
        if (q == 0)
            r = prim_send(ex, next, dst + soff * es, len * es);
        else if (q == n - 1)
            r = prim_recv(ex, prev, dst + soff * es, len * es);
        else
            r = prim_recv_copy_send(ex, prev, next, dst + soff * es, len * es);
    }
    return r;
}

/* Reduce: a pipelined chain that starts after the root and ends at it. */
haloResult_t ring_reduce(struct halo_exec *ex)
{
    struct halo_comm *comm = ex->comm;
    int n = comm->nranks, p = comm->ring_pos, rootpos = ring_pos_of(comm, ex->op->root);
    int q = ring_mod(p - rootpos - 1, n);
    int next = comm->ring[ring_mod(p + 1, n)], prev = comm->ring[ring_mod(p - 1, n)];
    size_t coff, clen, es = ex->esize;
    algo_channel_range(ex, ex->op->count, &coff, &clen);
    const char *src = (const char *)ex->op->sendbuf + coff * es;
    size_t nslices = algo_nslices(ex, clen);
    haloResult_t r = haloSuccess;
    for (size_t s = 0; s < nslices && r == haloSuccess; s++) {
        size_t soff, len;
        engine_split(clen, (int)nslices, (int)s, &soff, &len);
        if (q == 0)
            r = prim_send(ex, next, src + soff * es, len * es);
        else if (q < n - 1)
            r = prim_recv_reduce_send(ex, prev, next, src + soff * es, len);
        else
            r = prim_recv_reduce_copy(ex, prev, src + soff * es, (char *)ex->op->recvbuf + (coff + soff) * es, len,
                                      1);
    }
    return r;
}
