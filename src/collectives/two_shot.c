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
 *
 * Zero-copy (two_shot_zc, ib to every peer): the same steps as RDMA writes
 * between the user buffers and a landing area. Before a window of slices runs,
 * every peer is granted, slice by slice, a landing place for its part of my
 * block and its result's place in recvbuff: the order it sends them. The next
 * window's grants go out as a window starts (ring_zc.h: two per slice and peer,
 * two windows fit the grant ring). The parts land in places used every other
 * window (only the addition reads them); the result goes out from recvbuff.
 */
#include "algos.h"

#include "reduce.h"
#include "ring_zc.h"
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

/* ---- zero-copy ---- */

#define TSZ_PER_SLICE 2 /* messages from each peer per slice: its part, its result */

struct two_shot_zc {
    struct two_shot_ctx t;
    size_t window, place; /* slices per window; bytes of a landing place */
    char *land;
};

int two_shot_zc_usable(const struct halo_comm *comm, const struct halo_op *op)
{
    return comm->zc_all && op->coll == HALO_COLL_ALLREDUCE && zc_block_reaches(comm, op, (size_t)comm->nranks);
}

/* Landing place of the part of slice s from the peer i ranks below me. */
static char *tsz_landing(const struct two_shot_zc *z, size_t s, int i)
{
    return z->land + ring_zc_place(z->window, 2, (size_t)(z->t.n - 1), s, (size_t)i) * z->place;
}

static haloResult_t tsz_grant(struct halo_exec *ex, const struct two_shot_zc *z, size_t w)
{
    const struct two_shot_ctx *t = &z->t;
    size_t s0, s1, es = ex->esize, off, len, moff, mlen;
    haloResult_t r = haloSuccess;
    ring_zc_window_of(z->window, t->g.nslices, w, &s0, &s1);
    for (size_t s = s0; s < s1 && r == haloSuccess; s++) {
        slice_of(&t->g, t->me, s, &moff, &mlen);
        for (int i = 1; i < t->n && r == haloSuccess; i++) {
            int k = (t->me + t->n - i) % t->n;
            slice_of(&t->g, k, s, &off, &len);
            r = zc_expect(ex, k, tsz_landing(z, s, i), mlen * es);
            if (r == haloSuccess)
                r = zc_expect(ex, k, (char *)ex->op->recvbuf + off * es, len * es);
        }
    }
    return r;
}

/* Slice s: the parts out, mine summed as they land, the result out, the others'
 * results in (placed by their writes). */
static haloResult_t tsz_slice(struct halo_exec *ex, const struct two_shot_zc *z, size_t s)
{
    const struct two_shot_ctx *t = &z->t;
    const struct halo_op *op = ex->op;
    size_t es = ex->esize, off, len;
    haloResult_t r = haloSuccess;
    for (int i = 1; i < t->n && r == haloSuccess; i++) {
        int j = (t->me + i) % t->n;
        slice_of(&t->g, j, s, &off, &len);
        r = zc_send(ex, j, (const char *)op->sendbuf + off * es, len * es);
    }
    slice_of(&t->g, t->me, s, &off, &len);
    char *out = (char *)op->recvbuf + off * es;
    const char *acc = (const char *)op->sendbuf + off * es;
    for (int i = 1; i < t->n && r == haloSuccess; i++, acc = out) {
        if ((r = zc_recv_wait(ex, (t->me + t->n - i) % t->n)) != haloSuccess)
            break;
        halo_reduce(out, acc, tsz_landing(z, s, i), len, op->dtype, op->op);
    }
    if (r == haloSuccess && op->op == haloAvg)
        halo_scale_div(out, out, len, op->dtype, t->n);
    for (int i = 1; i < t->n && r == haloSuccess; i++)
        r = zc_send(ex, (t->me + i) % t->n, out, len * es);
    for (int i = 1; i < t->n && r == haloSuccess; i++)
        r = zc_recv_wait(ex, (t->me + t->n - i) % t->n);
    return r;
}

/* Every peer, registered for the whole operation: my channel range of sendbuff
 * (parts) and of recvbuff (results out and in). */
static haloResult_t tsz_register(struct halo_exec *ex, const struct two_shot_ctx *t)
{
    size_t es = ex->esize;
    haloResult_t r = haloSuccess;
    for (int i = 1; i < t->n && r == haloSuccess; i++) {
        int peer = (t->me + i) % t->n;
        r = zc_register(ex, peer, (const char *)ex->op->sendbuf + t->g.off * es, t->g.len * es, 0);
        if (r == haloSuccess)
            r = zc_register(ex, peer, (const char *)ex->op->recvbuf + t->g.off * es, t->g.len * es, 1);
    }
    return r;
}

haloResult_t two_shot_zc_allreduce(struct halo_exec *ex)
{
    struct two_shot_zc z = {.t = {.n = ex->comm->nranks, .me = ex->comm->rank}};
    struct two_shot_ctx *t = &z.t;
    size_t es = ex->esize;
    slice_channel_range(ex->comm, ex->op->count, ex->op->nchannels, ex->ch, &t->g.off, &t->g.len);
    t->g.nblocks = t->n;
    size_t bmax = slice_block_max(&t->g);
    t->g.nslices = ring_zc_slices(t->g.len / (size_t)t->n, bmax, es);
    z.window = ring_zc_window_size(TSZ_PER_SLICE);
    z.place = (bmax + t->g.nslices - 1) / t->g.nslices * es;
    haloResult_t r;
    z.land = comm_zc_scratch(ex->comm, ex->ch, 2 * z.window * (size_t)(t->n - 1) * z.place, &r);
    if (r == haloSuccess)
        r = tsz_register(ex, t);
    if (r == haloSuccess)
        r = tsz_grant(ex, &z, 0);
    size_t nwin = (t->g.nslices + z.window - 1) / z.window;
    for (size_t w = 0; w < nwin && r == haloSuccess; w++) {
        size_t s0, s1;
        if (w + 1 < nwin)
            r = tsz_grant(ex, &z, w + 1);
        ring_zc_window_of(z.window, t->g.nslices, w, &s0, &s1);
        for (size_t s = s0; s < s1 && r == haloSuccess; s++)
            r = tsz_slice(ex, &z, s);
    }
    for (int i = 1; i < t->n && r == haloSuccess; i++)
        r = zc_send_wait(ex, (t->me + i) % t->n);
    for (int i = 1; i < t->n && r == haloSuccess; i++) /* registrations go only when nothing is in flight */
        zc_end(ex, (t->me + i) % t->n);
    return r;
}
