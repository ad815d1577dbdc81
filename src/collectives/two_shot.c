/* SPDX-License-Identifier: MIT */
/*
 * two_shot.c — two-shot all-reduce over direct links (HALO_ALGO=two_shot): a
 * reduce-scatter then an all-gather, every block sent straight to the rank that
 * needs it. It needs every pair of ranks linked (a switch, a full mesh of cables,
 * one host).
 *
 * A channel's range is cut into one block per rank (block b is reduced by rank b)
 * and every block into the same number of slices. Per slice s, on every rank:
 *   1. send slice s of block j to rank j, for every peer j
 *   2. receive slice s of my block from every peer and add it to mine: the result
 *   3. send the result to every peer
 *   4. receive slice s of block k, reduced, from every peer k
 * Two latencies per slice instead of the ring's 2(n-1), with the ring's bytes
 * (2(n-1)/n of the buffer out of every rank); against the one shot (direct.c) it
 * sends 2/n of the buffer to each peer instead of all of it. Each block is reduced
 * on one rank only, so every rank receives the same bits. Under a wire format
 * the owner encodes its result once, keeps what that decodes to, and sends the
 * encoded bytes.
 *
 * Frames in flight: a rank sends step 1 of slice s+1 only after step 4 of slice s,
 * i.e. after every peer finished step 2 of slice s (it sent its result). So a
 * connection holds at most the result of slice s and the part of slice s+1: two
 * frames, the least any FIFO has. Frames from one peer arrive in the order they
 * are taken (part, result, part, ...).
 */
#include "algos.h"

#include "wire.h"

struct two_shot_ctx {
    struct slice_geom g; /* one block per rank */
    int n, me;
};

/* Steps 1 and 2: the parts of slice s go to their owners; mine is summed. */
static haloResult_t two_shot_scatter(struct halo_exec *ex, const struct two_shot_ctx *t, size_t s)
{
    size_t es = ex->esize, off, len;
    const char *src = ex->op->sendbuf;
    haloResult_t r = haloSuccess;
    for (int i = 1; i < t->n && r == haloSuccess; i++) {
        int j = (t->me + i) % t->n;
        slice_of(&t->g, j, s, &off, &len);
        r = prim_send(ex, j, src + off * es, len);
    }
    slice_of(&t->g, t->me, s, &off, &len);
    char *out = (char *)ex->op->recvbuf + off * es;
    const char *acc = src + off * es; /* my part first, then the running sum in out */
    for (int i = 1; i < t->n && r == haloSuccess; i++, acc = out)
        r = prim_recv_reduce_copy(ex, (t->me + t->n - i) % t->n, acc, out, len, i == t->n - 1);
    return r;
}

/* Steps 3 and 4: my result to every peer, theirs into their blocks. */
static haloResult_t two_shot_gather(struct halo_exec *ex, const struct two_shot_ctx *t, size_t s)
{
    size_t es = ex->esize, off, len;
    char *dst = ex->op->recvbuf;
    haloResult_t r = haloSuccess;
    slice_of(&t->g, t->me, s, &off, &len);
    const void *result = dst + off * es;
    if (ex->op->wire) { /* encode once; keep what the peers will decode */
        halo_wire_encode(ex->scratch, result, len, ex->op->dtype, (enum halo_wire)ex->op->wire);
        halo_wire_decode(dst + off * es, ex->scratch, len, ex->op->dtype, (enum halo_wire)ex->op->wire);
        result = ex->scratch;
    }
    for (int i = 1; i < t->n && r == haloSuccess; i++)
        r = (ex->op->wire ? prim_send_encoded : prim_send)(ex, (t->me + i) % t->n, result, len);
    for (int i = 1; i < t->n && r == haloSuccess; i++) {
        int k = (t->me + t->n - i) % t->n;
        slice_of(&t->g, k, s, &off, &len);
        r = prim_recv(ex, k, dst + off * es, len);
    }
    return r;
}

haloResult_t two_shot_allreduce(struct halo_exec *ex)
{
    struct two_shot_ctx t = {.n = ex->comm->nranks, .me = ex->comm->rank};
    haloResult_t r = haloSuccess;
    slice_geom_channel(ex, ex->op->count, t.n, &t.g);
    for (size_t s = 0; s < t.g.nslices && r == haloSuccess; s++) {
        r = two_shot_scatter(ex, &t, s);
        if (r == haloSuccess)
            r = two_shot_gather(ex, &t, s);
    }
    return r;
}
