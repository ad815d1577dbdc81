/* SPDX-License-Identifier: MIT */
/*
 * direct.c — one-shot all-reduce for small messages: every rank sends its whole
 * buffer to every other rank and reduces all contributions locally, in rank order,
 * so every rank computes bit-identical results. One network latency instead of the
 * ring's 2(n-1); the cost is (n-1) times the bytes, which is why it is only chosen
 * for small sizes (HALO_DIRECT_MAX).
 *
 * Per slice: send my slice to every peer, then fold rank 0's, 1's, ... slices into
 * the output (0's and 1's in one pass). A FIFO never holds more than two slices of one peer: a rank sends
 * slice s+1 only after consuming slice s from everyone.
 *
 * Under a wire format (HALO_WIRE) a rank encodes its slice once, sends the same
 * bytes to every peer, and folds the decoded inputs of every rank, its own too, in
 * rank order: the same values in the same order everywhere.
 */
#include "algos.h"

#include <string.h>

#include "hot.h"
#include "reduce.h"
#include "wire.h"

/* Rank k's contribution: this rank's own input, or k's frame (in the FIFO until
 * direct_drop releases it). */
static HALO_HOT haloResult_t direct_term(struct halo_exec *ex, int k, const char *own, size_t len, const void **term)
{
    if (k == ex->comm->rank) {
        *term = own;
        return haloSuccess;
    }
    return engine_wait_frame(ex, engine_conn(ex->comm, ex->ch, k), term, engine_frame_bytes(ex, len));
}

static HALO_HOT haloResult_t direct_drop(struct halo_exec *ex, int k)
{
    struct halo_conn *c = engine_conn(ex->comm, ex->ch, k);
    return k == ex->comm->rank ? haloSuccess : c->ops->recv_release(c);
}

/* out = r0 op r1 op ... in rank order. Ranks 0 and 1 are folded in one pass into
 * out: no copy of the first term, and in place ranks 0 and 1 read their input as
 * it is overwritten, element by element, which is safe (a small call costs about
 * its cache misses, so each pass over cold lines counts). */
static HALO_HOT haloResult_t direct_fold_all(struct halo_exec *ex, const char *own, char *out, size_t len)
{
    int n = ex->comm->nranks;
    const struct halo_op *op = ex->op;
    const void *a, *b;
    haloResult_t r = direct_term(ex, 0, own, len, &a);
    if (r != haloSuccess || (r = direct_term(ex, 1, own, len, &b)) != haloSuccess)
        return r;
    halo_reduce(out, a, b, len, op->dtype, op->op);
    if ((r = direct_drop(ex, 0)) != haloSuccess || (r = direct_drop(ex, 1)) != haloSuccess)
        return r;
    for (int k = 2; k < n; k++) {
        if ((r = direct_term(ex, k, own, len, &b)) != haloSuccess)
            return r;
        halo_reduce(out, out, b, len, op->dtype, op->op);
        if ((r = direct_drop(ex, k)) != haloSuccess)
            return r;
    }
    return haloSuccess;
}

/* Under a wire format every term is encoded, this rank's own too (own), so every
 * rank adds the same values in the same order: out = D(r0) + D(r1) + ... */
static haloResult_t direct_fold_wire(struct halo_exec *ex, const void *own, char *out, size_t len)
{
    const struct halo_op *op = ex->op;
    enum halo_wire w = (enum halo_wire)ex->op->wire;
    for (int k = 0; k < ex->comm->nranks; k++) {
        const void *t;
        haloResult_t r = direct_term(ex, k, own, len, &t);
        if (r != haloSuccess)
            return r;
        if (k == 0)
            halo_wire_decode(out, t, len, op->dtype, w);
        else
            halo_wire_decode_add(out, out, t, len, op->dtype, w);
        if ((r = direct_drop(ex, k)) != haloSuccess)
            return r;
    }
    return haloSuccess;
}

static HALO_HOT haloResult_t direct_allreduce_slice(struct halo_exec *ex, const void *unused, size_t off, size_t len)
{
    struct halo_comm *comm = ex->comm;
    int n = comm->nranks, me = comm->rank;
    size_t es = ex->esize;
    const char *own = (const char *)ex->op->sendbuf + off * es;
    char *out = (char *)ex->op->recvbuf + off * es;
    haloResult_t r;
    if (ex->op->wire) { /* encoded once, sent to all, and folded as every peer folds it */
        halo_wire_encode(ex->scratch, own, len, ex->op->dtype, (enum halo_wire)ex->op->wire);
        own = ex->scratch;
    }
    for (int i = 1; i < n; i++)
        if ((r = (ex->op->wire ? prim_send_encoded : prim_send)(ex, (me + i) % n, own, len)) != haloSuccess)
            return r;
    if (!ex->op->wire && own == out && me >= 2) { /* in place: keep my input while ranks 0 and 1 land first */
        memcpy(ex->scratch, own, len * es);
        own = ex->scratch;
    }
    r = ex->op->wire ? direct_fold_wire(ex, own, out, len) : direct_fold_all(ex, own, out, len);
    if (r != haloSuccess)
        return r;
    if (ex->op->op == haloAvg)
        halo_scale_div(out, out, len, ex->op->dtype, n);
    return haloSuccess;
}

HALO_HOT haloResult_t direct_allreduce(struct halo_exec *ex)
{
    struct slice_geom g;
    slice_geom_channel(ex, ex->op->count, 1, &g);
    return slice_each(ex, &g, direct_allreduce_slice, NULL);
}
