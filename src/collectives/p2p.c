/* SPDX-License-Identifier: MIT */
/*
 * p2p.c — sends and receives, alone or batched by a group.
 *
 * Every op of a batch is a small state machine (bytes moved so far). One loop
 * advances all of them without blocking on any, so a group holding both halves of
 * an exchange cannot deadlock however large the messages. Ops on the same
 * (communicator, peer, direction) complete in posting order, which is how a send
 * is matched with its receive. Messages travel on channel 0 in slot-sized frames;
 * each frame carries the sender's per-peer message number so a missing or extra
 * call on one side is reported as a mismatch, not silently mis-paired.
 *
 * A peer on another host without a direct link (chains, rings of 4+ hosts) is
 * reached through the ranks between: the op is handed to the communicator's
 * relay thread (src/core/relay.h), which cuts it into frames on the relay channel
 * (send) or fills the buffer from what arrives for this rank (receive); the task
 * only watches the request, with the same pacing, timeout and abort checks.
 *
 * Over ib, messages of HALO_IB_ZCOPY_MIN bytes and more go zero-copy instead
 * (engine_zc.c): cut into zero-copy messages of at most zc_max bytes (the
 * transport spreads each over its QPs in pieces); the receiver grants every
 * message as soon as the grant window allows, the sender announces each, takes
 * its grant and writes it from the user's buffer; the receive is complete when
 * every message is placed, the send when every write completed.
 */
#define HALO_ERR_SUBSYS HALO_SUB_P2P /* errors recorded here log under this subsystem */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "algos.h"
#include "bootstrap.h"
#include "comm.h"
#include "engine.h"
#include "error.h"
#include "log.h"
#include "reduce.h"
#include "relay.h"

struct p2p_task {
    struct halo_op *op;
    struct halo_exec ex;
    size_t total, done;
    int finished;
    int started;
    /* Zero-copy: messages of at most `zc_len` bytes; bytes granted (receiver)
     * or announced (sender) so far, and whether the current message's notice is
     * handled. */
    int zc;
    size_t zc_len, posted;
    int noticed;
    uint64_t zc_target; /* sender: the connection's zc_tx_posted once all are posted */
    /* Forwarded (no direct link): the request the relay thread works on. */
    int fwd;
    struct relay_req req;
};

static void p2p_sig(struct p2p_task *t)
{
    struct halo_op *op = t->op;
    struct halo_comm *comm = op->comm;
    struct halo_sig *s = &t->ex.sig;
    memset(s, 0, sizeof(*s));
    s->count = op->count;
    s->comm_tag = (uint32_t)comm->comm_id;
    s->coll = HALO_COLL_SEND;
    s->dtype = (uint8_t)op->dtype;
    s->op = 0xff;
    s->algo = HALO_ALGO_P2P;
    if (op->coll == HALO_COLL_SEND) {
        s->root = comm->rank;
        s->opseq = comm->p2p_send_seq[op->root]++;
    } else {
        s->root = op->root;
        s->opseq = comm->p2p_recv_seq[op->root]++;
    }
    HLOG_TRACE(HALO_SUB_P2P, comm->rank, "%s #%u %s rank %d: %zu x %s", op->coll == HALO_COLL_SEND ? "send" : "receive",
               s->opseq, op->coll == HALO_COLL_SEND ? "to" : "from", op->root, op->count, halo_dtype_name(op->dtype));
}

/* Length of the zero-copy message that starts at byte `at`. */
static size_t p2p_zc_len(const struct p2p_task *t, size_t at)
{
    return t->total - at < t->zc_len ? t->total - at : t->zc_len;
}

/* Sender: announce and write every message whose grant is here, then wait for the
 * writes to complete (the user may reuse the buffer after that). */
static haloResult_t p2p_zc_send(struct p2p_task *t, struct halo_conn *c, int *moved)
{
    haloResult_t r = haloSuccess;
    const char *src = t->op->sendbuf;
    while (r == haloSuccess && t->posted < t->total) {
        int did;
        if (!t->noticed) {
            if ((r = zc_try_notice(&t->ex, c, &did)) != haloSuccess || !did)
                return r;
            t->noticed = 1;
            *moved = 1;
        }
        size_t len = p2p_zc_len(t, t->posted);
        if ((r = zc_try_grant_send(&t->ex, c, src + t->posted, len, &did)) != haloSuccess || !did)
            return r;
        t->posted += len;
        t->noticed = 0;
        t->zc_target = c->zc_tx_posted;
        *moved = 1;
    }
    uint64_t sent, received;
    if (r == haloSuccess && (r = c->ops->zc_done(c, &sent, &received)) == haloSuccess && sent >= t->zc_target) {
        t->done = t->total;
        t->finished = 1;
        *moved = 1;
    }
    return r;
}

/* Receiver: grant messages ahead, take each notice and wait for each in order. */
static haloResult_t p2p_zc_recv(struct p2p_task *t, struct halo_conn *c, int *moved)
{
    haloResult_t r = haloSuccess;
    char *dst = t->op->recvbuf;
    while (r == haloSuccess && t->posted < t->total) {
        int did;
        size_t len = p2p_zc_len(t, t->posted);
        if ((r = c->ops->zc_recv_post(c, dst + t->posted, len, &t->ex.sig, &did)) != haloSuccess || !did)
            break;
        c->zc_rx_posted++;
        t->posted += len;
        *moved = 1;
    }
    while (r == haloSuccess && t->done < t->posted) {
        int did;
        if (!t->noticed) {
            if ((r = zc_try_take_notice(&t->ex, c, &did)) != haloSuccess || !did)
                return r;
            t->noticed = 1;
            *moved = 1;
        }
        uint64_t sent, received;
        if ((r = c->ops->zc_done(c, &sent, &received)) != haloSuccess || received <= c->zc_rx_waited)
            return r;
        c->zc_rx_waited++;
        t->done += p2p_zc_len(t, t->done);
        t->noticed = 0;
        t->finished = t->done >= t->total;
        *moved = 1;
    }
    return r;
}

/* Forwarded: hand the op to the relay thread once, then watch it. */
static haloResult_t p2p_fwd_advance(struct p2p_task *t, int *moved)
{
    struct halo_comm *comm = t->op->comm;
    if (!t->started) {
        struct relay_req *q = &t->req;
        q->send = t->op->coll == HALO_COLL_SEND;
        q->peer = t->op->root;
        q->sig = t->ex.sig;
        q->src = t->op->sendbuf;
        q->dst = t->op->recvbuf;
        q->total = t->total;
        haloResult_t r = relay_submit(comm, q);
        if (r != haloSuccess)
            return r;
        t->started = 1;
        *moved = 1;
    }
    size_t done = atomic_load_explicit(&t->req.done, memory_order_acquire);
    int state = atomic_load_explicit(&t->req.state, memory_order_acquire);
    if (done != t->done) {
        t->done = done;
        *moved = 1;
    }
    if (state == RELAY_REQ_DONE) {
        t->finished = 1;
        *moved = 1;
    } else if (state == RELAY_REQ_FAILED) {
        haloResult_t r = (haloResult_t)atomic_load(&comm->async_error);
        return r != haloSuccess ? r : haloRemoteError;
    }
    return haloSuccess;
}

/* Moves as many frames as are possible right now. Returns 1 in *moved if any. */
static haloResult_t p2p_advance(struct p2p_task *t, int *moved)
{
    if (t->fwd)
        return p2p_fwd_advance(t, moved);
    struct halo_conn *c = engine_conn(t->op->comm, 0, t->op->root);
    int pending;
    haloResult_t r = c->ops->progress(c);
    if (r == haloSuccess)
        r = engine_flush_channel(t->op->comm, 0, &pending);
    if (r == haloSuccess && t->zc && !t->finished) {
        if (!t->started) { /* registered once for the whole message */
            t->started = 1;
            r = c->ops->zc_register(c, t->op->coll == HALO_COLL_SEND ? t->op->sendbuf : t->op->recvbuf, t->total,
                                    t->op->coll == HALO_COLL_RECV);
        }
        if (r == haloSuccess)
            r = t->op->coll == HALO_COLL_SEND ? p2p_zc_send(t, c, moved) : p2p_zc_recv(t, c, moved);
        return r;
    }
    while (r == haloSuccess && !t->finished) {
        size_t slice = t->total - t->done < c->slot_size ? t->total - t->done : c->slot_size; /* one frame */
        if (t->op->coll == HALO_COLL_SEND) {
            void *slot;
            size_t cap;
            if ((r = c->ops->send_slot(c, &slot, &cap)) != haloSuccess || !slot)
                break;
            memcpy(slot, (const char *)t->op->sendbuf + t->done, slice);
            r = c->ops->send_post(c, slice, &t->ex.sig);
        } else {
            const void *in;
            size_t got;
            struct halo_sig sig;
            if ((r = c->ops->recv_peek(c, &in, &got, &sig)) != haloSuccess || !in)
                break;
            if ((r = engine_wait_frame(&t->ex, c, &in, slice)) != haloSuccess) /* checks sig and length */
                break;
            memcpy((char *)t->op->recvbuf + t->done, in, slice);
            r = c->ops->recv_release(c);
        }
        t->done += slice;
        *moved = 1;
        t->finished = t->done >= t->total;
    }
    return r;
}

/* A task may move only when every earlier task on its (comm, peer, direction) is done. */
static int p2p_blocked(struct p2p_task *tasks, int i)
{
    for (int j = 0; j < i; j++)
        if (!tasks[j].finished && tasks[j].op->comm == tasks[i].op->comm && tasks[j].op->root == tasks[i].op->root &&
            tasks[j].op->coll == tasks[i].op->coll)
            return 1;
    return 0;
}

/* Sends to self are copied into the matching receives from self, in order. */
static haloResult_t p2p_match_self(struct p2p_task *tasks, int n)
{
    for (int i = 0; i < n; i++) {
        struct halo_op *s = tasks[i].op;
        if (s->coll != HALO_COLL_SEND || s->root != s->comm->rank || tasks[i].finished)
            continue;
        int j = 0;
        for (; j < n; j++) {
            struct halo_op *rv = tasks[j].op;
            if (rv->coll == HALO_COLL_RECV && rv->comm == s->comm && rv->root == s->comm->rank && !tasks[j].finished)
                break;
        }
        if (j == n || tasks[j].total != tasks[i].total)
            return halo_error(s->comm, haloInvalidUsage,
                              "rank %d: a send to itself of %zu bytes has no matching receive from itself of the "
                              "same size in the group",
                              s->comm->rank, tasks[i].total);
        memcpy(tasks[j].op->recvbuf, s->sendbuf, tasks[i].total);
        tasks[i].finished = tasks[j].finished = 1;
    }
    for (int i = 0; i < n; i++)
        if (!tasks[i].finished && tasks[i].op->coll == HALO_COLL_RECV && tasks[i].op->root == tasks[i].op->comm->rank)
            return halo_error(tasks[i].op->comm, haloInvalidUsage,
                              "rank %d: a receive from itself has no matching send to itself in the group",
                              tasks[i].op->comm->rank);
    return haloSuccess;
}

static haloResult_t p2p_init_tasks(struct p2p_task *tasks, struct halo_op *ops, int n)
{
    for (int i = 0; i < n; i++) {
        struct p2p_task *t = &tasks[i];
        t->op = &ops[i];
        t->ex.comm = ops[i].comm;
        t->ex.op = &ops[i];
        t->ex.esize = halo_dtype_size(ops[i].dtype);
        t->total = ops[i].count * t->ex.esize;
        t->finished = ops[i].count == 0;
        if (ops[i].root != ops[i].comm->rank && ops[i].count > 0) {
            p2p_sig(t);
            if (ops[i].comm->peers[ops[i].root].kind == HALO_TR_NONE) {
                t->fwd = 1;
                t->ex.sig.algo = HALO_ALGO_P2P_FWD;
                t->ex.sig.reserved[0] = (uint32_t)(ops[i].coll == HALO_COLL_SEND ? ops[i].root : ops[i].comm->rank);
                continue;
            }
            struct halo_conn *c = engine_conn(ops[i].comm, 0, ops[i].root);
            t->zc = zc_usable(ops[i].comm, c, t->total);
            if (t->zc) {
                t->ex.sig.algo = HALO_ALGO_P2P_ZC;
                t->zc_len = c->zc_max;
            }
        }
    }
    return p2p_match_self(tasks, n);
}

/* Outside a group, a send larger than the FIFO waits for its receiver. When the
 * peer told (bootstrap NOTE) that it waits in such a send to this rank too, neither
 * reaches its receive: fail both now rather than at HALO_TIMEOUT_MS. */
static haloResult_t p2p_check_crossed(struct p2p_task *t, struct engine_pace *w)
{
    struct halo_comm *comm = t->op->comm;
    int peer = t->op->root, theirs = -1;
    if (!w->noted || w->note != BOOT_NOTE_P2P_SEND ||
        bootstrap_peer_note(comm->bs, peer, &theirs) != BOOT_NOTE_P2P_SEND || theirs != comm->rank)
        return haloSuccess;
    size_t eager = comm_slot_size(comm, peer) *
                   (size_t)(comm->peers[peer].kind == HALO_TR_SHM ? comm->nslots_shm : comm->nslots);
    return halo_error(comm, haloInvalidUsage,
                      "rank %d: haloSend of %zu bytes to rank %d waits for its receiver, and rank %d waits in a "
                      "haloSend to this rank: both send first, so neither reaches its haloRecv. Outside a group "
                      "only sends up to %zu bytes (the FIFO, HALO_BUFFSIZE) return before the receiver takes them; "
                      "post each rank's send and recv in one haloGroupStart/haloGroupEnd",
                      comm->rank, t->total, peer, peer, eager);
}

/* A group that has not moved for HALO_WAIT_SPIN_US sleeps on the connection of its
 * first waiting task, as engine_wait does: a receive until a frame comes, a send
 * until a slot frees (shm: the futex the peer wakes; tcp: poll on the socket), at
 * most ENGINE_SLEEP_US at a time, so a frame from another task's peer waits that
 * long at worst. ib has no sleep here: its progress waits on completion events
 * itself. */
static void p2p_sleep(const struct p2p_task *t, struct engine_pace *w)
{
    struct halo_comm *comm = t->op->comm;
    struct halo_conn *c = engine_conn(comm, 0, t->op->root);
    if (c && c->ops->sleep && engine_pace_sleepy(w, comm))
        c->ops->sleep(c, t->op->coll == HALO_COLL_SEND, ENGINE_SLEEP_US);
}

/* Advances every task until all are done; w paces the idle polls. */
static haloResult_t p2p_run(struct p2p_task *tasks, int n, struct engine_pace *w)
{
    for (;;) {
        int pending = 0, moved = 0, stalled = -1, direct = 0;
        for (int i = 0; i < n; i++) {
            if (tasks[i].finished)
                continue;
            pending = 1;
            direct |= !tasks[i].fwd;
            if (p2p_blocked(tasks, i))
                continue;
            haloResult_t r = p2p_advance(&tasks[i], &moved);
            if (r != haloSuccess)
                return comm_fail(tasks[i].op->comm, r);
            if (!tasks[i].finished && stalled < 0)
                stalled = i;
        }
        if (!pending) {
            haloResult_t r = haloSuccess;
            for (int i = 0; i < n; i++) { /* every write completed: registrations may go */
                struct halo_conn *c = engine_conn(tasks[i].op->comm, 0, tasks[i].op->root);
                if (tasks[i].zc)
                    c->ops->zc_end(c);
            }
            for (int i = 0; i < n && r == haloSuccess; i++)
                if (i == 0 || tasks[i].op->comm != tasks[i - 1].op->comm)
                    r = engine_drain(tasks[i].op->comm, 0);
            return r == haloSuccess ? r : comm_fail(tasks[0].op->comm, r);
        }
        if (moved) {
            engine_pace_moved(w);
            continue;
        }
        struct halo_op *op = tasks[stalled].op;
        /* A forwarded send never waits for its receiver (the receiver's relay keeps
         * what arrives early), so it is never half of a crossed pair. */
        w->note = n == 1 && op->coll == HALO_COLL_SEND && !tasks[stalled].fwd ? BOOT_NOTE_P2P_SEND
                  : op->coll == HALO_COLL_SEND         ? BOOT_NOTE_WAIT
                                                       : BOOT_NOTE_P2P_RECV;
        const char *what = tasks[stalled].fwd ? op->coll == HALO_COLL_SEND ? "send (forwarded)" : "receive (forwarded)"
                           : op->coll == HALO_COLL_SEND ? "send"
                                                        : "receive";
        haloResult_t r = engine_pace_idle(w, op->comm, 0, op->root, what);
        if (r == haloSuccess && !tasks[stalled].fwd)
            r = p2p_check_crossed(&tasks[stalled], w);
        if (!direct) /* only the relay threads move these bytes: leave them the core */
            sched_yield();
        else if (r == haloSuccess && !tasks[stalled].fwd)
            p2p_sleep(&tasks[stalled], w);
        if (r != haloSuccess)
            return comm_fail(op->comm, r);
    }
}

static haloResult_t p2p_loop(struct p2p_task *tasks, int n)
{
    struct engine_pace w;
    engine_pace_start(&w);
    haloResult_t r = p2p_run(tasks, n, &w);
    if (r == haloSuccess) /* a failed wait keeps its note (engine_wait) */
        engine_pace_end(&w);
    return r;
}

haloResult_t p2p_execute(struct halo_op *ops, int n)
{
    struct p2p_task one, *tasks = n == 1 ? &one : calloc((size_t)n, sizeof(*tasks));
    if (!tasks)
        return halo_error(ops[0].comm, haloSystemError, "out of memory for %d point-to-point operations", n);
    memset(tasks, 0, sizeof(*tasks) * (size_t)n);
    haloResult_t r = p2p_init_tasks(tasks, ops, n);
    if (r == haloSuccess)
        r = p2p_loop(tasks, n);
    for (int i = 0; r != haloSuccess && i < n; i++) /* the relay must not touch them after this */
        if (tasks[i].fwd && tasks[i].started && !tasks[i].finished)
            relay_cancel(tasks[i].op->comm, &tasks[i].req);
    if (tasks != &one)
        free(tasks);
    return r;
}
