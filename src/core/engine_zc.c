/* SPDX-License-Identifier: MIT */
/*
 * engine_zc.c — zero-copy messages for algorithms (see engine.h and the
 * transport's zc_* ops in transport.h).
 *
 * A message from A to B: B grants a destination (zc_expect), A sends a
 * zero-length frame carrying its signature (the notice), takes B's grant,
 * compares the grant's signature and length with its own call and writes; B
 * takes the notice (same comparison) and waits until the data is placed. The
 * notice goes first so that a receiver expecting a frame through the slots, or
 * a different call, fails with a mismatch instead of waiting for a grant that
 * is never used.
 */
#define HALO_ERR_SUBSYS HALO_SUB_NET /* errors recorded here log under this subsystem */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "error.h"

typedef haloResult_t (*zc_step_fn)(struct halo_exec *ex, struct halo_conn *c, const void *arg, size_t bytes,
                                   int *done);

struct zc_call {
    struct halo_exec *ex;
    struct halo_conn *c;
    zc_step_fn step;
    const void *arg;
    size_t bytes;
};

static haloResult_t zc_poll(void *arg, int *done)
{
    struct zc_call *z = arg;
    return z->step(z->ex, z->c, z->arg, z->bytes, done);
}

/* Runs step until it reports done, with the engine's wait (engine_wait). */
static haloResult_t zc_wait(struct halo_exec *ex, struct halo_conn *c, const char *what, zc_step_fn step,
                            const void *arg, size_t bytes)
{
    struct zc_call z = {ex, c, step, arg, bytes};
    return engine_wait(ex->comm, ex->ch, c, what, ENGINE_WAIT_OTHER, zc_poll, &z);
}

int zc_usable(const struct halo_comm *comm, const struct halo_conn *c, size_t bytes)
{
    return c && c->zc_max && comm->zc_min && bytes >= comm->zc_min;
}

static struct halo_conn *zc_conn(struct halo_exec *ex, int peer, haloResult_t *r)
{
    struct halo_conn *c = engine_conn(ex->comm, ex->ch, peer);
    *r = c && c->zc_max ? haloSuccess
                        : halo_error(ex->comm, haloInternalError, "rank %d: zero-copy to peer %d without support",
                                     ex->comm->rank, peer);
    return c;
}

haloResult_t zc_try_notice(struct halo_exec *ex, struct halo_conn *c, int *done)
{
    void *slot;
    size_t cap;
    *done = 0;
    haloResult_t r = c->ops->send_slot(c, &slot, &cap);
    if (r != haloSuccess || !slot)
        return r;
    c->frames_sent++;
    *done = 1;
    return c->ops->send_post(c, 0, &ex->sig);
}

static haloResult_t zc_step_notice(struct halo_exec *ex, struct halo_conn *c, const void *arg, size_t bytes,
                                   int *done)
{
    return zc_try_notice(ex, c, done);
}

haloResult_t zc_try_grant_send(struct halo_exec *ex, struct halo_conn *c, const void *src, size_t bytes, int *done)
{
    struct halo_sig theirs;
    size_t len;
    int ready;
    *done = 0;
    haloResult_t r = c->ops->zc_send_grant(c, &theirs, &len, &ready);
    if (r != haloSuccess || !ready)
        return r;
    if (!engine_sig_equal(&theirs, &ex->sig))
        return engine_sig_mismatch(ex, c->peer, &theirs);
    if (len != bytes)
        return halo_error(ex->comm, haloInternalError,
                          "rank %d: zero-copy message to peer %d of %zu bytes, but the peer granted %zu (channel %d)",
                          ex->comm->rank, c->peer, bytes, len, ex->ch);
    if ((r = c->ops->zc_send_post(c, src, bytes)) == haloSuccess) {
        c->zc_tx_posted++;
        *done = 1;
    }
    return r;
}

static haloResult_t zc_step_grant_send(struct halo_exec *ex, struct halo_conn *c, const void *src, size_t bytes,
                                       int *done)
{
    return zc_try_grant_send(ex, c, src, bytes, done);
}

haloResult_t zc_try_take_notice(struct halo_exec *ex, struct halo_conn *c, int *done)
{
    const void *in;
    size_t got;
    struct halo_sig sig;
    *done = 0;
    haloResult_t r = c->ops->recv_peek(c, &in, &got, &sig);
    if (r != haloSuccess || !in)
        return r;
    if (!engine_sig_equal(&sig, &ex->sig))
        return engine_sig_mismatch(ex, c->peer, &sig);
    if (got != 0)
        return halo_error(ex->comm, haloInternalError,
                          "rank %d: a zero-copy notice from peer %d carries %zu bytes (channel %d)", ex->comm->rank,
                          c->peer, got, ex->ch);
    c->frames_recv++;
    *done = 1;
    return c->ops->recv_release(c);
}

static haloResult_t zc_step_take_notice(struct halo_exec *ex, struct halo_conn *c, const void *arg, size_t bytes,
                                        int *done)
{
    return zc_try_take_notice(ex, c, done);
}

static haloResult_t zc_step_expect(struct halo_exec *ex, struct halo_conn *c, const void *dst, size_t bytes,
                                   int *done)
{
    haloResult_t r = c->ops->zc_recv_post(c, (void *)dst, bytes, &ex->sig, done);
    if (r == haloSuccess && *done)
        c->zc_rx_posted++;
    return r;
}

static haloResult_t zc_step_arrived(struct halo_exec *ex, struct halo_conn *c, const void *arg, size_t bytes,
                                    int *done)
{
    uint64_t sent, received;
    haloResult_t r = c->ops->zc_done(c, &sent, &received);
    *done = r == haloSuccess && received > c->zc_rx_waited;
    if (*done)
        c->zc_rx_waited++;
    return r;
}

/* arg: the mark to reach (zc_send_mark), or NULL for every send posted. */
static haloResult_t zc_step_sent(struct halo_exec *ex, struct halo_conn *c, const void *arg, size_t bytes,
                                 int *done)
{
    uint64_t sent, received;
    const uint64_t *mark = arg;
    haloResult_t r = c->ops->zc_done(c, &sent, &received);
    *done = r == haloSuccess && sent >= (mark ? *mark : c->zc_tx_posted);
    return r;
}

haloResult_t zc_expect(struct halo_exec *ex, int from, void *dst, size_t bytes)
{
    haloResult_t r;
    struct halo_conn *c = zc_conn(ex, from, &r);
    return r == haloSuccess ? zc_wait(ex, c, "grant a zero-copy receive", zc_step_expect, dst, bytes) : r;
}

haloResult_t zc_recv_wait(struct halo_exec *ex, int from)
{
    haloResult_t r;
    struct halo_conn *c = zc_conn(ex, from, &r);
    if (r == haloSuccess)
        r = zc_wait(ex, c, "receive", zc_step_take_notice, NULL, 0);
    return r == haloSuccess ? zc_wait(ex, c, "receive", zc_step_arrived, NULL, 0) : r;
}

haloResult_t zc_send(struct halo_exec *ex, int to, const void *src, size_t bytes)
{
    haloResult_t r;
    struct halo_conn *c = zc_conn(ex, to, &r);
    if (r == haloSuccess)
        r = zc_wait(ex, c, "send", zc_step_notice, NULL, 0);
    return r == haloSuccess ? zc_wait(ex, c, "send (waiting for the peer's grant)", zc_step_grant_send, src, bytes)
                            : r;
}

haloResult_t zc_send_wait(struct halo_exec *ex, int to)
{
    haloResult_t r;
    struct halo_conn *c = zc_conn(ex, to, &r);
    return r == haloSuccess ? zc_wait(ex, c, "send", zc_step_sent, NULL, 0) : r;
}

uint64_t zc_send_mark(struct halo_exec *ex, int to)
{
    struct halo_conn *c = engine_conn(ex->comm, ex->ch, to);
    return c ? c->zc_tx_posted : 0;
}

haloResult_t zc_send_wait_mark(struct halo_exec *ex, int to, uint64_t mark)
{
    haloResult_t r;
    struct halo_conn *c = zc_conn(ex, to, &r);
    return r == haloSuccess ? zc_wait(ex, c, "send", zc_step_sent, &mark, 0) : r;
}

haloResult_t zc_register(struct halo_exec *ex, int peer, const void *buf, size_t bytes, int writable)
{
    haloResult_t r;
    struct halo_conn *c = zc_conn(ex, peer, &r);
    return r == haloSuccess ? c->ops->zc_register(c, buf, bytes, writable) : r;
}

void zc_end(struct halo_exec *ex, int peer)
{
    struct halo_conn *c = engine_conn(ex->comm, ex->ch, peer);
    if (c && c->zc_max)
        c->ops->zc_end(c);
}
