/* SPDX-License-Identifier: MIT */
/*
 * direct.c — one-shot all-reduce for small messages: every rank sends its whole
 * buffer to every other rank and reduces all contributions locally, in rank order,
 * so every rank computes bit-identical results. One network latency instead of the
 * ring's 2(n-1); the cost is (n-1) times the bytes, which is why it is only chosen
 * for small sizes (HALO_DIRECT_MAX).
 *
 * Per slice: send my slice to every peer, then fold rank 0's, 1's, ... slices into
 * the output. A FIFO never holds more than two slices of one peer: a rank sends
 * slice s+1 only after consuming slice s from everyone.
 */
#include "algos.h"

#include <string.h>

#include "reduce.h"

static haloResult_t direct_fold(struct halo_exec *ex, int k, const char *own, char *out, size_t len)
{
    struct halo_comm *comm = ex->comm;
    size_t bytes = len * ex->esize;
    if (k == comm->rank) {
        if (k == 0)
            memmove(out, own, bytes);
        else
            halo_reduce(out, out, own, len, ex->op->dtype, ex->op->op);
        return haloSuccess;
    }
    struct halo_conn *c = engine_conn(comm, ex->ch, k);
    const void *in;
    haloResult_t r = engine_wait_frame(ex, c, &in, bytes);
    if (r != haloSuccess)
        return r;
    if (k == 0)
        memcpy(out, in, bytes);
    else
        halo_reduce(out, out, in, len, ex->op->dtype, ex->op->op);
    return c->ops->recv_release(c);
}

static haloResult_t direct_allreduce_slice(struct halo_exec *ex, const void *unused, size_t off, size_t len)
{
    struct halo_comm *comm = ex->comm;
    int n = comm->nranks, me = comm->rank;
    size_t es = ex->esize;
    const char *own = (const char *)ex->op->sendbuf + off * es;
    char *out = (char *)ex->op->recvbuf + off * es;
    haloResult_t r;
    for (int i = 1; i < n; i++)
        if ((r = prim_send(ex, (me + i) % n, own, len)) != haloSuccess)
            return r;
    if (own == out && me != 0) { /* in place: keep my input while rank 0's lands first */
        memcpy(ex->scratch, own, len * es);
        own = ex->scratch;
    }
    for (int k = 0; k < n; k++)
        if ((r = direct_fold(ex, k, own, out, len)) != haloSuccess)
            return r;
    if (ex->op->op == haloAvg)
        halo_scale_div(out, out, len, ex->op->dtype, n);
    return haloSuccess;
}

haloResult_t direct_allreduce(struct halo_exec *ex)
{
    struct slice_geom g;
    slice_geom_channel(ex, ex->op->count, 1, &g);
    return slice_each(ex, &g, direct_allreduce_slice, NULL);
}
