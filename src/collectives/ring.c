/* SPDX-License-Identifier: MIT */
/*
 * ring.c — ring schedules for every collective.
 *
 * Ranks sit on a ring in topology order (comm->ring); data flows from each rank to
 * the next. A channel's range is cut into one block per ring position, and every
 * block into the same number of slices (slice.h); the outer loop runs over slices
 * so successive slices pipeline through the ring (a rank may run up to nslots
 * frames ahead of its neighbour). Counts passed to the primitives are elements.
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

#include "slice.h"

int ring_mod(int a, int n)
{
    return ((a % n) + n) % n;
}

int ring_pos_of(const struct halo_comm *comm, int rank)
{
    for (int i = 0; i < comm->nranks; i++)
        if (comm->ring[i] == rank)
            return i;
    return 0;
}

void ring_pos_init(const struct halo_comm *comm, struct ring_pos *r)
{
    r->n = comm->nranks;
    r->p = comm->ring_pos;
    r->next = comm->ring[ring_mod(r->p + 1, r->n)];
    r->prev = comm->ring[ring_mod(r->p - 1, r->n)];
}

struct ring_pos ring_pos_reversed(const struct ring_pos *r)
{
    return (struct ring_pos){.n = r->n, .p = r->n - 1 - r->p, .next = r->prev, .prev = r->next};
}

static haloResult_t ring_allreduce_slice(struct halo_exec *ex, const struct ring_pos *r, const struct slice_geom *g,
                                         size_t s)
{
    int n = r->n, p = r->p;
    const char *src = ex->op->sendbuf;
    char *dst = ex->op->recvbuf;
    size_t es = ex->esize, off, len;
    haloResult_t res;

    slice_of(g, p, s, &off, &len);
    if ((res = prim_send(ex, r->next, src + off * es, len)) != haloSuccess)
        return res;
    for (int j = 1; j <= n - 2; j++) {
        slice_of(g, ring_mod(p - j, n), s, &off, &len);
        if ((res = prim_recv_reduce_send(ex, r->prev, r->next, src + off * es, len)) != haloSuccess)
            return res;
    }
    slice_of(g, ring_mod(p + 1, n), s, &off, &len);
    res = prim_recv_reduce_copy_send(ex, r->prev, r->next, src + off * es, dst + off * es, len, 1);
    if (res != haloSuccess)
        return res;
    for (int j = 1; j <= n - 2; j++) {
        slice_of(g, ring_mod(p + 1 - j, n), s, &off, &len);
        if ((res = prim_recv_copy_send(ex, r->prev, r->next, dst + off * es, len)) != haloSuccess)
            return res;
    }
    slice_of(g, ring_mod(p + 2, n), s, &off, &len);
    return prim_recv(ex, r->prev, dst + off * es, len);
}

haloResult_t ring_allreduce(struct halo_exec *ex)
{
    struct ring_pos r;
    struct slice_geom g;
    haloResult_t res = haloSuccess;
    ring_pos_init(ex->comm, &r);
    slice_geom_channel(ex, ex->op->count, r.n, &g);
    for (size_t s = 0; s < g.nslices && res == haloSuccess; s++)
        res = ring_allreduce_slice(ex, &r, &g, s);
    return res;
}

/* Reduce-scatter: rank at position p ends with block ring[p] (blocks are indexed by
 * rank, recvcount elements each). Step j sends block ring[p-1-j]. in_block is the
 * slice's offset inside every block. */
static haloResult_t ring_reducescatter_slice(struct halo_exec *ex, const void *pos, size_t in_block, size_t len)
{
    const struct ring_pos *r = pos;
    const int *ring = ex->comm->ring;
    const char *src = ex->op->sendbuf;
    size_t es = ex->esize, rc = ex->op->count;
    haloResult_t res = haloSuccess;
    for (int j = 0; j <= r->n - 2 && res == haloSuccess; j++) {
        size_t b = (size_t)ring[ring_mod(r->p - 1 - j, r->n)];
        const char *mine = src + (b * rc + in_block) * es;
        res = j == 0 ? prim_send(ex, r->next, mine, len) : prim_recv_reduce_send(ex, r->prev, r->next, mine, len);
    }
    if (res != haloSuccess)
        return res;
    const char *mine = src + ((size_t)ex->comm->rank * rc + in_block) * es;
    return prim_recv_reduce_copy(ex, r->prev, mine, (char *)ex->op->recvbuf + in_block * es, len, 1);
}

haloResult_t ring_reducescatter(struct halo_exec *ex)
{
    struct ring_pos r;
    struct slice_geom g;
    ring_pos_init(ex->comm, &r);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    return slice_each(ex, &g, ring_reducescatter_slice, &r);
}

/* All-gather: send my block, then forward n-2 blocks, then keep the last. My own
 * block's slice is copied into recvbuff right after it was sent, while it is still
 * in cache (nothing when in place). */
static haloResult_t ring_allgather_slice(struct halo_exec *ex, const void *pos, size_t in_block, size_t len)
{
    const struct ring_pos *r = pos;
    const int *ring = ex->comm->ring;
    char *dst = ex->op->recvbuf;
    size_t es = ex->esize, sc = ex->op->count;
    haloResult_t res = prim_send(ex, r->next, (const char *)ex->op->sendbuf + in_block * es, len);
    if (res == haloSuccess)
        algo_allgather_own(ex, in_block, len);
    for (int j = 1; j <= r->n - 1 && res == haloSuccess; j++) {
        size_t b = (size_t)ring[ring_mod(r->p - j, r->n)];
        char *where = dst + (b * sc + in_block) * es;
        res = j < r->n - 1 ? prim_recv_copy_send(ex, r->prev, r->next, where, len) : prim_recv(ex, r->prev, where, len);
    }
    return res;
}

void algo_allgather_own(const struct halo_exec *ex, size_t coff, size_t clen)
{
    size_t es = ex->esize;
    char *own = (char *)ex->op->recvbuf + ((size_t)ex->comm->rank * ex->op->count + coff) * es;
    if ((const char *)ex->op->sendbuf + coff * es != own) /* not in place */
        engine_copy_out(ex, own, (const char *)ex->op->sendbuf + coff * es, clen * es);
}

haloResult_t ring_allgather(struct halo_exec *ex)
{
    struct ring_pos r;
    struct slice_geom g;
    ring_pos_init(ex->comm, &r);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    return slice_each(ex, &g, ring_allgather_slice, &r);
}

void algo_root_copy_range(const struct halo_exec *ex, size_t off, size_t len)
{
    size_t es = ex->esize;
    const char *src = (const char *)ex->op->sendbuf + off * es;
    char *dst = (char *)ex->op->recvbuf + off * es;
    if (src != dst) /* not in place */
        engine_copy_out(ex, dst, src, len * es);
}

void algo_root_copy(const struct halo_exec *ex, const struct slice_geom *g)
{
    algo_root_copy_range(ex, g->off, g->len);
}

/* Broadcast: a pipelined chain starting at the root, following the ring; q is the
 * distance from the root. */
haloResult_t ring_broadcast(struct halo_exec *ex)
{
    struct ring_pos r;
    struct slice_geom g;
    haloResult_t res = haloSuccess;
    ring_pos_init(ex->comm, &r);
    int q = ring_mod(r.p - ring_pos_of(ex->comm, ex->op->root), r.n);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    for (size_t s = 0; s < g.nslices && res == haloSuccess; s++) {
        size_t off, len;
        slice_of(&g, 0, s, &off, &len);
        char *where = (char *)ex->op->recvbuf + off * ex->esize;
        if (q == 0) { /* the root sends from sendbuff, then copies the slice while it is in cache */
            res = prim_send(ex, r.next, (const char *)ex->op->sendbuf + off * ex->esize, len);
            algo_root_copy_range(ex, off, len);
        } else if (q == r.n - 1)
            res = prim_recv(ex, r.prev, where, len);
        else
            res = prim_recv_copy_send(ex, r.prev, r.next, where, len);
    }
    return res;
}

/* Reduce: a pipelined chain that starts after the root and ends at it; q is the
 * distance from the start. */
haloResult_t ring_reduce(struct halo_exec *ex)
{
    struct ring_pos r;
    struct slice_geom g;
    haloResult_t res = haloSuccess;
    ring_pos_init(ex->comm, &r);
    int q = ring_mod(r.p - ring_pos_of(ex->comm, ex->op->root) - 1, r.n);
    slice_geom_channel(ex, ex->op->count, 1, &g);
    for (size_t s = 0; s < g.nslices && res == haloSuccess; s++) {
        size_t off, len, es = ex->esize;
        slice_of(&g, 0, s, &off, &len);
        const char *mine = (const char *)ex->op->sendbuf + off * es;
        if (q == 0)
            res = prim_send(ex, r.next, mine, len);
        else if (q < r.n - 1)
            res = prim_recv_reduce_send(ex, r.prev, r.next, mine, len);
        else
            res = prim_recv_reduce_copy(ex, r.prev, mine, (char *)ex->op->recvbuf + off * es, len, 1);
    }
    return res;
}
