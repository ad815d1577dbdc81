/* SPDX-License-Identifier: MIT */
/*
 * relay.c — the relay thread: forwards send/receive between ranks that have no
 * direct link, hop by hop along the topology's rank order (see relay.h).
 *
 * Protocol on the relay channel (one connection per directly linked peer, used
 * only by this thread, frames in posting order):
 *   DATA  sig = the message's signature (coll SEND, algo P2P_FWD, root = origin,
 *         opseq = the origin's message number towards the destination, count and
 *         type of the call), reserved[0] = final destination, reserved[1] = 0;
 *         payload = the next bytes of the message (at most a slot).
 *   BYE   reserved[1] = RELAY_BYE, no payload: the peer destroys its communicator;
 *         its connection's end that follows is expected.
 * Every hop picks the next one for the destination (relay_next_hop), so all
 * frames of one (origin, destination) take the same path and arrive in order.
 *
 * Each pass of the thread (under `mu`): progress every connection; take inbound
 * frames: a frame for this rank goes into the oldest receive posted for its
 * origin, or into the origin's inbox until one is posted, so it never blocks the
 * frames behind it; a frame for another rank is copied into a send slot of the
 * next hop. Without a slot, a chain leaves it where it is (back-pressure: frames
 * of one direction only move away from their origin, so waits cannot form a
 * cycle); a ring parks it in memory by next hop, since waits around a ring could
 * form one. Then local sends are cut into frames while slots are free, and
 * inboxes drained into posted receives. An idle thread sleeps on `cv` for a
 * short while (woken by a submit or a stop).
 */
#define HALO_ERR_SUBSYS HALO_SUB_P2P /* errors recorded here log under this subsystem */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "error.h"
#include "log.h"
#include "reduce.h"
#include "relay.h"
#include "topo.h"

#define RELAY_BYE 0x42594521u      /* sig.reserved[1] of a goodbye frame */
#define RELAY_SPIN 64              /* idle passes that only yield */
#define RELAY_NAP_US 50            /* then naps of this long ... */
#define RELAY_NAP_LONG_US 1000     /* ... or this long after RELAY_DOZE_US idle */
#define RELAY_DOZE_US 100000
#define RELAY_BYE_MAX_US 1000000

/* A frame kept in memory: in an inbox (for this rank) or parked (transit). */
struct relay_frame {
    struct relay_frame *next;
    struct halo_sig sig;
    size_t len;
    int from;              /* the hop it arrived from */
    char data[];
};

struct relay_fifo {
    struct relay_frame *head, *tail;
};

struct halo_relay {
    struct halo_comm *comm;
    int ch;                   /* comm->relay_ch */
    int park;                 /* waits may form a cycle (not a chain): park transit frames */
    int *hop;                 /* [nranks] relay_next_hop, -1 for self and unreachable */
    pthread_t thread;
    int started;
    _Atomic int stop;         /* set under mu (with healthy); read anywhere */
    pthread_mutex_t mu;       /* guards everything below, held by the thread while it works */
    pthread_cond_t cv;        /* monotonic clock; submit and stop signal it */
    int healthy;
    haloResult_t failed;      /* sticky: no more forwarding */
    struct relay_req *reqs;   /* local sends and receives, in submission order */
    struct relay_fifo *inbox; /* [nranks] by origin */
    struct relay_fifo *parked;/* [nranks] by next hop */
    uint8_t *bye;             /* [nranks] the peer said goodbye */
};

int relay_needed(const struct halo_comm *comm)
{
    return comm->topo && !comm->topo_all_direct;
}

static int relay_pos(const struct halo_comm *comm, int rank)
{
    for (int i = 0; i < comm->nranks; i++)
        if (comm->ring[i] == rank)
            return i;
    return -1;
}

int relay_route(const struct halo_comm *comm, int from, int to, int *dir)
{
    int n = comm->nranks, fwd = (to - from + n) % n, back = (from - to + n) % n;
    int d = comm->topo_class == TOPO_CLASS_CHAIN ? (to > from ? 1 : -1) : fwd <= back ? 1 : -1;
    if (dir)
        *dir = d;
    return d > 0 ? fwd : back;
}

/* Along relay_route towards dst, the farthest rank with a direct link. */
int relay_next_hop(const struct halo_comm *comm, int dst)
{
    int n = comm->nranks, me = comm->ring_pos, at = relay_pos(comm, dst);
    if (at < 0 || dst == comm->rank)
        return -1;
    int dir, steps = relay_route(comm, me, at, &dir);
    int hop = -1;
    for (int k = 1; k <= steps; k++) {
        int r = comm->ring[((me + dir * k) % n + n) % n];
        if (comm->peers[r].kind != HALO_TR_NONE && comm->peers[r].kind != HALO_TR_SELF)
            hop = r;
    }
    return hop;
}

static struct halo_conn *relay_conn(struct halo_relay *rl, int peer)
{
    return peer < 0 || rl->bye[peer] ? NULL : engine_conn(rl->comm, rl->ch, peer);
}

/* ---- failing ---- */

static void relay_fail_reqs(struct halo_relay *rl)
{
    for (struct relay_req *q = rl->reqs; q; q = q->next)
        atomic_store(&q->state, RELAY_REQ_FAILED);
    rl->reqs = NULL;
}

/* Records the sentence (once), marks the communicator broken and tells the other
 * ranks; every request held fails. Returns res. */
static haloResult_t relay_fail(struct halo_relay *rl, haloResult_t res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static haloResult_t relay_fail(struct halo_relay *rl, haloResult_t res, const char *fmt, ...)
{
    char msg[HALO_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!rl->failed) {
        rl->failed = res;
        halo_error(rl->comm, res, "%s", msg);
        comm_set_async_error(rl->comm, res);
    }
    relay_fail_reqs(rl);
    return res;
}

/* A peer that failed closes its connections right after relaying its reason
 * through the bootstrap, which only the application thread reads (in its waits):
 * give that a moment, outside the lock, as comm_fail does. Returns the
 * communicator's error, haloSuccess when none came. Every caller returns at once
 * after this (requests may have been cancelled meanwhile). */
static haloResult_t relay_wait_root_cause(struct halo_relay *rl)
{
    int64_t end = halo_now_us() + COMM_ABORT_GRACE_US;
    pthread_mutex_unlock(&rl->mu);
    while (halo_now_us() < end && atomic_load(&rl->comm->async_error) == haloSuccess && !rl->stop)
        usleep(1000);
    pthread_mutex_lock(&rl->mu);
    return (haloResult_t)atomic_load(&rl->comm->async_error);
}

/* A transport error on the connection to peer: the transport recorded its own
 * sentence; this one adds what the relay was doing, unless the communicator
 * failed meanwhile for a reason of its own (the root cause). */
static haloResult_t relay_conn_failed(struct halo_relay *rl, int peer, haloResult_t res)
{
    char tp[HALO_ERRLEN];
    struct halo_comm *comm = rl->comm;
    haloResult_t cause = res == haloRemoteError ? relay_wait_root_cause(rl) : haloSuccess;
    if (cause != haloSuccess) {
        rl->failed = cause;
        relay_fail_reqs(rl);
        return cause;
    }
    pthread_mutex_lock(&comm->err_lock);
    snprintf(tp, sizeof(tp), "%s", comm->last_error);
    pthread_mutex_unlock(&comm->err_lock);
    return relay_fail(rl, res,
                      "rank %d: the relay connection to rank %d (%s) failed, so messages forwarded through it are "
                      "lost: %s",
                      comm->rank, peer, comm->peers[peer].info.hostname, tp);
}

/* ---- memory frames ---- */

static int relay_fifo_push(struct relay_fifo *f, const struct halo_sig *sig, const void *buf, size_t len, int from)
{
    struct relay_frame *fr = malloc(sizeof(*fr) + len);
    if (!fr)
        return -1;
    fr->next = NULL;
    fr->sig = *sig;
    fr->len = len;
    fr->from = from;
    memcpy(fr->data, buf, len);
    if (f->tail)
        f->tail->next = fr;
    else
        f->head = fr;
    f->tail = fr;
    return 0;
}

static void relay_fifo_pop(struct relay_fifo *f)
{
    struct relay_frame *fr = f->head;
    f->head = fr->next;
    if (!f->head)
        f->tail = NULL;
    free(fr);
}

static void relay_fifo_clear(struct relay_fifo *f)
{
    while (f->head)
        relay_fifo_pop(f);
}

/* ---- requests ---- */

static void relay_unlink(struct halo_relay *rl, struct relay_req *req)
{
    for (struct relay_req **p = &rl->reqs; *p; p = &(*p)->next)
        if (*p == req) {
            *p = req->next;
            return;
        }
}

static void relay_complete(struct halo_relay *rl, struct relay_req *req)
{
    relay_unlink(rl, req);
    atomic_store(&req->state, RELAY_REQ_DONE);
}

/* The oldest request of this (peer, direction): only it may move. */
static struct relay_req *relay_first(struct halo_relay *rl, int send, int peer)
{
    for (struct relay_req *q = rl->reqs; q; q = q->next)
        if (q->send == send && q->peer == peer)
            return q;
    return NULL;
}

/* ---- frames for this rank ---- */

static haloResult_t relay_place(struct halo_relay *rl, struct relay_req *req, const struct halo_sig *sig,
                                const void *buf, size_t len, int from)
{
    struct halo_comm *comm = rl->comm;
    size_t done = atomic_load_explicit(&req->done, memory_order_relaxed);
    if (!engine_sig_equal(sig, &req->sig) || len > req->total - done || len == 0)
        return relay_fail(rl, haloInvalidUsage,
                          "rank %d called recv(count=%" PRIu64 ", %s, from=%d) #%u but rank %d called send(count=%"
                          PRIu64 ", %s, to=%d) #%u, forwarded through rank %d: each send needs a recv on its peer "
                          "with the same count and type, posted in the same order",
                          comm->rank, req->sig.count, halo_dtype_name((haloDataType_t)req->sig.dtype), req->peer,
                          req->sig.opseq, sig->root, sig->count, halo_dtype_name((haloDataType_t)sig->dtype),
                          comm->rank, sig->opseq, from);
    memcpy((char *)req->dst + done, buf, len);
    atomic_store_explicit(&req->done, done + len, memory_order_release);
    if (done + len == req->total)
        relay_complete(rl, req);
    return haloSuccess;
}

static haloResult_t relay_deliver(struct halo_relay *rl, const struct halo_sig *sig, const void *buf, size_t len,
                                  int from)
{
    int origin = sig->root;
    if (origin < 0 || origin >= rl->comm->nranks || origin == rl->comm->rank)
        return relay_fail(rl, haloInternalError, "rank %d: a forwarded frame from rank %d names origin %d",
                          rl->comm->rank, from, origin);
    struct relay_req *req = relay_first(rl, 0, origin);
    if (req && !rl->inbox[origin].head)
        return relay_place(rl, req, sig, buf, len, from);
    if (relay_fifo_push(&rl->inbox[origin], sig, buf, len, from) != 0)
        return relay_fail(rl, haloSystemError,
                          "rank %d: out of memory for a message from rank %d that waits for its haloRecv",
                          rl->comm->rank, origin);
    return haloSuccess;
}

/* Inboxes into the receives posted since. */
static haloResult_t relay_drain_inboxes(struct halo_relay *rl, int *moved)
{
    haloResult_t r = haloSuccess;
    for (int s = 0; s < rl->comm->nranks && r == haloSuccess; s++) {
        struct relay_fifo *f = &rl->inbox[s];
        struct relay_req *req;
        while (r == haloSuccess && f->head && (req = relay_first(rl, 0, s))) {
            r = relay_place(rl, req, &f->head->sig, f->head->data, f->head->len, f->head->from);
            relay_fifo_pop(f);
            *moved = 1;
        }
    }
    return r;
}

/* ---- frames for other ranks ---- */

/* Copies one frame into a slot of the connection to hop. *sent = 0 when no slot. */
static haloResult_t relay_post(struct halo_relay *rl, int hop, const struct halo_sig *sig, const void *buf,
                               size_t len, int *sent)
{
    struct halo_conn *c = relay_conn(rl, hop);
    void *slot;
    size_t cap;
    *sent = 0;
    if (!c)
        return relay_fail(rl, haloRemoteError,
                          "rank %d: cannot forward a message from rank %d to rank %d: the next hop, rank %d, has left "
                          "(destroyed its communicator) or is not connected",
                          rl->comm->rank, sig->root, (int)sig->reserved[0], hop);
    haloResult_t r = c->ops->send_slot(c, &slot, &cap);
    if (r != haloSuccess)
        return relay_conn_failed(rl, hop, r);
    if (!slot)
        return haloSuccess;
    if (len > cap)
        return relay_fail(rl, haloInternalError,
                          "rank %d: a frame of %zu bytes from rank %d to rank %d exceeds the %zu-byte slot towards rank "
                          "%d",
                          rl->comm->rank, len, sig->root, (int)sig->reserved[0], cap, hop);
    memcpy(slot, buf, len);
    if ((r = c->ops->send_post(c, len, sig)) != haloSuccess)
        return relay_conn_failed(rl, hop, r);
    *sent = 1;
    return haloSuccess;
}

/* A transit frame: into the next hop's slot, or parked (rings), or left (*taken 0). */
static haloResult_t relay_transit(struct halo_relay *rl, const struct halo_sig *sig, const void *buf, size_t len,
                                  int from, int *taken)
{
    int dst = (int)sig->reserved[0];
    int hop = dst >= 0 && dst < rl->comm->nranks ? rl->hop[dst] : -1;
    haloResult_t r = haloSuccess;
    *taken = 0;
    if (hop < 0)
        return relay_fail(rl, haloInternalError,
                          "rank %d: a frame from rank %d (via rank %d) is for rank %d, which this rank has no route to",
                          rl->comm->rank, sig->root, from, dst);
    if (!rl->parked[hop].head && (r = relay_post(rl, hop, sig, buf, len, taken)) != haloSuccess)
        return r;
    if (*taken || !rl->park)
        return haloSuccess;
    if (relay_fifo_push(&rl->parked[hop], sig, buf, len, from) != 0)
        return relay_fail(rl, haloSystemError, "rank %d: out of memory for a frame from rank %d to rank %d",
                          rl->comm->rank, sig->root, dst);
    *taken = 1;
    return haloSuccess;
}

static haloResult_t relay_drain_parked(struct halo_relay *rl, int *moved)
{
    haloResult_t r = haloSuccess;
    for (int h = 0; h < rl->comm->nranks && r == haloSuccess; h++) {
        struct relay_fifo *f = &rl->parked[h];
        int sent = 1;
        while (r == haloSuccess && f->head && sent) {
            r = relay_post(rl, h, &f->head->sig, f->head->data, f->head->len, &sent);
            if (r == haloSuccess && sent) {
                relay_fifo_pop(f);
                *moved = 1;
            }
        }
    }
    return r;
}

/* Every frame that can move now from the connection to peer. */
static haloResult_t relay_take_inbound(struct halo_relay *rl, int peer, struct halo_conn *c, int *moved)
{
    struct halo_comm *comm = rl->comm;
    for (;;) {
        const void *buf;
        size_t len;
        struct halo_sig sig;
        haloResult_t r = c->ops->recv_peek(c, &buf, &len, &sig);
        if (r != haloSuccess)
            return relay_conn_failed(rl, peer, r);
        if (!buf)
            return haloSuccess;
        int taken = 1;
        if (sig.comm_tag != (uint32_t)comm->comm_id || sig.algo != HALO_ALGO_P2P_FWD)
            return relay_fail(rl, haloInternalError,
                              "rank %d: a frame from rank %d on the relay channel is not a forwarded message of this "
                              "communicator",
                              comm->rank, peer);
        if (sig.reserved[1] == RELAY_BYE)
            rl->bye[peer] = 1;
        else if ((int)sig.reserved[0] == comm->rank)
            r = relay_deliver(rl, &sig, buf, len, peer);
        else
            r = relay_transit(rl, &sig, buf, len, peer, &taken);
        if (r != haloSuccess || !taken)
            return r;
        if ((r = c->ops->recv_release(c)) != haloSuccess)
            return relay_conn_failed(rl, peer, r);
        *moved = 1;
        if (rl->bye[peer])
            return haloSuccess;
    }
}

/* ---- local sends ---- */

static haloResult_t relay_send_some(struct halo_relay *rl, struct relay_req *req, int *moved)
{
    int hop = rl->hop[req->peer], sent = 1;
    haloResult_t r = haloSuccess;
    if (rl->parked[hop].head) /* transit first */
        return haloSuccess;
    struct halo_conn *c = relay_conn(rl, hop);
    size_t frame = c ? c->slot_size : 0;
    while (r == haloSuccess && sent) {
        size_t done = atomic_load_explicit(&req->done, memory_order_relaxed);
        size_t len = req->total - done < frame ? req->total - done : frame;
        r = relay_post(rl, hop, &req->sig, (const char *)req->src + done, len, &sent);
        if (r != haloSuccess || !sent)
            break;
        atomic_store_explicit(&req->done, done + len, memory_order_release);
        *moved = 1;
        if (done + len == req->total) {
            relay_complete(rl, req);
            break;
        }
    }
    return r;
}

static haloResult_t relay_local_sends(struct halo_relay *rl, int *moved)
{
    haloResult_t r = haloSuccess;
    struct relay_req *q = rl->reqs, *next;
    for (; q && r == haloSuccess; q = next) {
        next = q->next; /* q may complete and leave the list */
        if (q->send && relay_first(rl, 1, q->peer) == q)
            r = relay_send_some(rl, q, moved);
    }
    return r;
}

/* ---- the thread ---- */

static haloResult_t relay_pass(struct halo_relay *rl, int *moved)
{
    struct halo_comm *comm = rl->comm;
    haloResult_t r = haloSuccess;
    for (int p = 0; p < comm->nranks && r == haloSuccess; p++) {
        struct halo_conn *c = relay_conn(rl, p);
        if (c && (r = c->ops->progress(c)) != haloSuccess)
            return relay_conn_failed(rl, p, r);
        if (c)
            r = relay_take_inbound(rl, p, c, moved);
    }
    int pending;
    if (r == haloSuccess && comm->flush_needed && (r = engine_flush_channel(comm, rl->ch, &pending)) != haloSuccess)
        return relay_fail(rl, r, "rank %d: flushing the relay channel failed", comm->rank);
    if (r == haloSuccess)
        r = relay_drain_parked(rl, moved);
    if (r == haloSuccess)
        r = relay_local_sends(rl, moved);
    if (r == haloSuccess)
        r = relay_drain_inboxes(rl, moved);
    return r;
}

static void relay_nap(struct halo_relay *rl, int64_t idle_since_us)
{
    int64_t us = halo_now_us() - idle_since_us < RELAY_DOZE_US ? RELAY_NAP_US : RELAY_NAP_LONG_US;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += us * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&rl->cv, &rl->mu, &ts);
}

/* Healthy end: a goodbye frame to every connected peer, flushed, bounded. */
static void relay_goodbye(struct halo_relay *rl)
{
    struct halo_comm *comm = rl->comm;
    struct halo_sig bye = {.comm_tag = (uint32_t)comm->comm_id, .root = comm->rank, .coll = HALO_COLL_SEND,
                           .algo = HALO_ALGO_P2P_FWD, .op = 0xff, .reserved = {(uint32_t)-1, RELAY_BYE}};
    uint8_t *said = calloc((size_t)comm->nranks, 1);
    int64_t t = comm->timeout_us < RELAY_BYE_MAX_US ? comm->timeout_us : RELAY_BYE_MAX_US;
    int64_t end = halo_now_us() + t;
    if (!said)
        return;
    for (;;) {
        int left = 0, pending = 0;
        for (int p = 0; p < comm->nranks; p++) {
            struct halo_conn *c = relay_conn(rl, p);
            void *slot;
            size_t cap;
            if (!c || said[p])
                continue;
            if (c->ops->progress(c) != haloSuccess)
                continue; /* gone: nothing to tell */
            if (c->ops->send_slot(c, &slot, &cap) == haloSuccess && slot && c->ops->send_post(c, 0, &bye) == haloSuccess)
                said[p] = 1;
            else
                left = 1;
        }
        if (comm->flush_needed && engine_flush_channel(comm, rl->ch, &pending) != haloSuccess)
            break;
        if ((!left && !pending) || halo_now_us() > end)
            break;
        sched_yield();
    }
    free(said);
}

static void *relay_main(void *arg)
{
    struct halo_relay *rl = arg;
    int64_t idle_since = 0;
    unsigned idle = 0;
    pthread_mutex_lock(&rl->mu);
    while (!rl->stop) {
        int moved = 0;
        haloResult_t broken = (haloResult_t)atomic_load(&rl->comm->async_error);
        if (!rl->failed && broken != haloSuccess) {
            /* Broken elsewhere: stop moving frames, and stop reading connections,
             * whose ends (peers closing) would overwrite the first sentence. */
            rl->failed = broken;
            relay_fail_reqs(rl);
        }
        if (!rl->failed)
            relay_pass(rl, &moved);
        if (moved) {
            idle = 0;
            continue;
        }
        if (idle++ == 0)
            idle_since = halo_now_us();
        if (idle < RELAY_SPIN && !rl->failed) {
            pthread_mutex_unlock(&rl->mu); /* let a submit or a cancel in */
            sched_yield();
            pthread_mutex_lock(&rl->mu);
        } else {
            relay_nap(rl, idle_since);
        }
    }
    if (rl->healthy && !rl->failed && atomic_load(&rl->comm->async_error) == haloSuccess)
        relay_goodbye(rl);
    pthread_mutex_unlock(&rl->mu);
    return NULL;
}

static void relay_free(struct halo_relay *rl)
{
    for (int i = 0; i < rl->comm->nranks; i++) {
        if (rl->inbox)
            relay_fifo_clear(&rl->inbox[i]);
        if (rl->parked)
            relay_fifo_clear(&rl->parked[i]);
    }
    free(rl->inbox);
    free(rl->parked);
    free(rl->bye);
    free(rl->hop);
    pthread_cond_destroy(&rl->cv);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

haloResult_t relay_start(struct halo_comm *comm)
{
    struct halo_relay *rl = calloc(1, sizeof(*rl));
    size_t n = (size_t)comm->nranks;
    if (!rl)
        return halo_error(comm, haloSystemError, "rank %d: out of memory for the relay", comm->rank);
    rl->comm = comm;
    rl->ch = comm->relay_ch;
    rl->park = comm->topo_class != TOPO_CLASS_CHAIN;
    pthread_mutex_init(&rl->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rl->cv, &ca);
    pthread_condattr_destroy(&ca);
    rl->hop = calloc(n, sizeof(int));
    rl->bye = calloc(n, 1);
    rl->inbox = calloc(n, sizeof(*rl->inbox));
    rl->parked = calloc(n, sizeof(*rl->parked));
    comm->relay = rl;
    if (!rl->hop || !rl->bye || !rl->inbox || !rl->parked)
        return halo_error(comm, haloSystemError, "rank %d: out of memory for the relay", comm->rank);
    for (int d = 0; d < comm->nranks; d++)
        rl->hop[d] = relay_next_hop(comm, d);
    int e = pthread_create(&rl->thread, NULL, relay_main, rl);
    if (e != 0)
        return halo_error(comm, haloSystemError, "rank %d: cannot start the relay thread: error %d", comm->rank, e);
    rl->started = 1;
    HLOG_INFO(HALO_SUB_INIT, comm->rank, "relay thread started on channel %d (%s)", rl->ch,
              rl->park ? "ring: transit frames park when the next hop is full" : "chain: back-pressure");
    return haloSuccess;
}

void relay_stop(struct halo_comm *comm, int healthy)
{
    struct halo_relay *rl = comm->relay;
    if (!rl)
        return;
    if (rl->started) {
        pthread_mutex_lock(&rl->mu);
        rl->stop = 1;
        rl->healthy = healthy;
        pthread_cond_broadcast(&rl->cv);
        pthread_mutex_unlock(&rl->mu);
        pthread_join(rl->thread, NULL);
    }
    relay_free(rl);
    comm->relay = NULL;
}

haloResult_t relay_submit(struct halo_comm *comm, struct relay_req *req)
{
    struct halo_relay *rl = comm->relay;
    int hop = req->send ? relay_next_hop(comm, req->peer) : 0;
    if (!rl || hop < 0)
        return halo_error(comm, haloInvalidUsage, "rank %d: no route to rank %d for a forwarded %s", comm->rank,
                          req->peer, req->send ? "send" : "receive");
    atomic_store(&req->done, 0);
    atomic_store(&req->state, RELAY_REQ_QUEUED);
    req->next = NULL;
    pthread_mutex_lock(&rl->mu);
    haloResult_t failed = rl->failed;
    if (!failed) {
        struct relay_req **p = &rl->reqs;
        while (*p)
            p = &(*p)->next;
        *p = req;
        pthread_cond_signal(&rl->cv);
    }
    pthread_mutex_unlock(&rl->mu);
    if (failed && atomic_load(&comm->async_error) != haloSuccess)
        return (haloResult_t)atomic_load(&comm->async_error);
    return failed;
}

void relay_cancel(struct halo_comm *comm, struct relay_req *req)
{
    struct halo_relay *rl = comm->relay;
    if (!rl)
        return;
    pthread_mutex_lock(&rl->mu);
    relay_unlink(rl, req);
    pthread_mutex_unlock(&rl->mu);
}
