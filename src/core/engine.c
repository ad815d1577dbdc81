/* SPDX-License-Identifier: MIT */
/*
 * engine.c — waiting, primitives and channel dispatch (see engine.h).
 *
 * Waiting is busy polling: a blocking wake-up costs ~25 us on these machines, a
 * small collective a few. When ranks outnumber cores the poll loop yields the CPU
 * so the rank it waits for can run. Every 256 polls the loop looks at the clock:
 * past HALO_TIMEOUT_MS without the awaited frame or slot it fails; every few ms it
 * also checks whether another rank aborted or a local peer process died. Every
 * wait of the engine (slots, frames, flushes, zero-copy steps) is engine_wait;
 * p2p, which polls many operations at once, paces itself with engine_pace_*.
 */
#define HALO_ERR_SUBSYS HALO_SUB_COLL /* errors recorded here log under this subsystem */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "error.h"
#include "hot.h"
#include "log.h"
#include "reduce.h"
#include "wire.h"

#define ENGINE_POLL_US 5000
#define ENGINE_TRACE_STALL_US 2000000 /* HALO_DEBUG=TRACE: a wait this long is reported, and again each time */

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

const char *halo_coll_name(enum halo_coll c)
{
    switch (c) {
    case HALO_COLL_ALLREDUCE: return "allreduce";
    case HALO_COLL_ALLGATHER: return "allgather";
    case HALO_COLL_BROADCAST: return "broadcast";
    case HALO_COLL_REDUCESCATTER: return "reducescatter";
    case HALO_COLL_REDUCE: return "reduce";
    case HALO_COLL_SEND: return "send";
    case HALO_COLL_RECV: return "recv";
    case HALO_COLL_NUM: break;
    }
    return "unknown";
}

const char *halo_sig_describe(const struct halo_sig *s, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s(count=%" PRIu64 ", %s", halo_coll_name((enum halo_coll)s->coll), s->count,
                     halo_dtype_name((haloDataType_t)s->dtype));
    if (n < 0 || (size_t)n >= len)
        return buf;
    unsigned op = s->op & ((1u << HALO_SIG_OP_BITS) - 1), wire = s->op >> HALO_SIG_OP_BITS;
    if (s->op != 0xff)
        n += snprintf(buf + n, len - (size_t)n, ", %s", halo_op_name((haloRedOp_t)op));
    if (s->op != 0xff && wire && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, ", wire %s", halo_wire_name((enum halo_wire)wire));
    if (s->root >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, ", %s=%d",
                      s->coll == HALO_COLL_SEND || s->coll == HALO_COLL_RECV ? "from" : "root", s->root);
    if ((size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ") #%u", s->opseq);
    return buf;
}

HALO_HOT struct halo_conn *engine_conn(struct halo_comm *comm, int ch, int peer)
{
    return comm->conns[ch * comm->nranks + peer];
}

/* A schedule addressed a peer it has no connection to (no direct link): a forced
 * HALO_ALGO that the topology cannot carry, e.g. ring or direct on a chain. */
static haloResult_t engine_no_conn(struct halo_exec *ex)
{
    const char *algo = ex->op->algo_name ? ex->op->algo_name : "p2p";
    return halo_error(ex->comm, haloInvalidUsage,
                      "rank %d: %s with the %s algorithm needs a link this topology does not have (HALO_ALGO=%s "
                      "on a chain?): unset HALO_ALGO so the schedule follows the links",
                      ex->comm->rank, halo_coll_name(ex->op->coll), algo, HALO_P_STR(&ex->comm->params, algo));
}

/* Pushes queued output of every connection of channel ch (tcp keeps frames that
 * did not fit in the socket buffer; ib holds back a credit update while the
 * previous one is in flight). Called while waiting for anything: a rank waiting on
 * its left neighbour must keep feeding its right one, or a ring of three can stall
 * on bytes (or credits) held by the rank that waits. Every connection whose
 * transport has a flush is asked; a job with none (all shm) skips the loop, which
 * runs on every poll of every wait. */
HALO_HOT haloResult_t engine_flush_channel(struct halo_comm *comm, int ch, int *pending)
{
    *pending = 0;
    for (int p = 0; comm->flush_needed && p < comm->nranks; p++) {
        struct halo_conn *c = comm->conns[ch * comm->nranks + p];
        int more = 0;
        if (!c || !c->ops->flush)
            continue;
        haloResult_t r = c->ops->flush(c, &more);
        if (r != haloSuccess)
            return r;
        *pending |= more;
    }
    return haloSuccess;
}

/* The first peer whose connection on channel ch still holds queued output (its
 * flush pending), or -1. */
static int engine_flush_owed(struct halo_comm *comm, int ch)
{
    for (int p = 0; comm->flush_needed && p < comm->nranks; p++) {
        struct halo_conn *c = comm->conns[ch * comm->nranks + p];
        int more = 0;
        if (c && c->ops->flush && c->ops->flush(c, &more) == haloSuccess && more)
            return p;
    }
    return -1;
}

/* Spin first (a frame usually arrives within microseconds); after ~ENGINE_SPIN_ONLY
 * polls, or always when ranks outnumber cores, give the core away regularly so a
 * rank we wait for that shares our core can run: every 8th poll, or every poll
 * where a poll is a socket read (comm->yield_each). */
#define ENGINE_SPIN_ONLY 4096

void engine_relax(struct halo_comm *comm, unsigned *spins)
{
    if (comm->yield_each || ((comm->yield || *spins > ENGINE_SPIN_ONLY) && (*spins & 7) == 7))
        sched_yield();
    else
        cpu_pause();
}

static _Thread_local int engine_thread_bound;

void engine_bind_thread(struct halo_comm *comm)
{
    if (comm->pin_cpu < 0 || engine_thread_bound)
        return;
    engine_thread_bound = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(comm->pin_cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) == 0)
        HLOG_INFO(HALO_SUB_INIT, comm->rank, "this thread now runs on CPU %d only (HALO_PIN=crowded: %d ranks here, "
                  "more than the CPUs they may use)", comm->pin_cpu, comm->nshare);
    else
        HLOG_INFO(HALO_SUB_INIT, comm->rank, "HALO_PIN=crowded: cannot bind this thread to CPU %d: %s", comm->pin_cpu,
                  strerror(errno));
}

static int engine_peer_dead(struct halo_comm *comm, int peer)
{
    if (peer < 0 || comm->peers[peer].kind != HALO_TR_SHM)
        return 0;
    return kill(comm->peers[peer].info.pid, 0) != 0 && errno == ESRCH;
}

/* The rank at the end of the waits that start at peer, as the other ranks told
 * them (bootstrap NOTEs): peer waits for q, q for r, ... up to a rank that is not
 * waiting in haloccl. peer itself when it told nothing. */
static int engine_stall_origin(struct halo_comm *comm, int peer)
{
    int at = peer;
    for (int hops = 0; hops < comm->nranks; hops++) {
        int next = -1;
        if (bootstrap_peer_note(comm->bs, at, &next) == BOOT_NOTE_NONE || next < 0 || next >= comm->nranks ||
            next == comm->rank || next == at)
            break;
        at = next;
    }
    return at;
}

/* The connection's own account of where it stands, or its transport's name. */
static void engine_conn_state(struct halo_comm *comm, int ch, int peer, char *buf, size_t len)
{
    struct halo_conn *c = engine_conn(comm, ch, peer);
    if (!c || !c->ops)
        snprintf(buf, len, "no connection");
    else if (c->ops->describe)
        c->ops->describe(c, buf, len);
    else
        snprintf(buf, len, "%s", c->ops->name);
}

/* ", rail to_h1b -> h1:to_h0b": the cable under channel ch's connection to a peer on
 * another host ("link" when it is the only one), or "". */
static void engine_cable(const struct halo_comm *comm, int ch, int peer, char *buf, size_t len)
{
    const struct halo_peer *p = &comm->peers[peer];
    const struct halo_tp_rail *rail = &p->rails[p->rail_of[ch] < p->nrails ? p->rail_of[ch] : 0];
    buf[0] = '\0';
    if (p->nrails > 0 && rail->has_link)
        snprintf(buf, len, ", %s %s -> %s:%s", p->nrails > 1 ? "rail" : "link", rail->data_ifname,
                 p->info.hostname, rail->peer_ifname);
}

static haloResult_t engine_stall_error(struct halo_comm *comm, int ch, int peer, double secs, const char *what)
{
    atomic_store(&comm->timed_out, 1);
    int origin = engine_stall_origin(comm, peer);
    if (origin != peer)
        return halo_error(comm, haloRemoteError,
                          "rank %d: no progress for %.1f s while this rank waited on peer %d (%s, channel %d); peer "
                          "%d is itself waiting, and the waits lead to rank %d (%s), which is not waiting in "
                          "haloccl: rank %d stopped (hung, died, or did not make this call); raise HALO_TIMEOUT_MS "
                          "if it is only slow",
                          comm->rank, secs, peer, what, ch, peer, origin, comm->peers[origin].info.hostname, origin);
    char state[192], cable[160];
    engine_conn_state(comm, ch, peer, state, sizeof(state));
    engine_cable(comm, ch, peer, cable, sizeof(cable));
    return halo_error(comm, haloRemoteError,
                      "rank %d: peer %d (%s) made no progress for %.1f s while this rank waited to %s on "
                      "channel %d (%s%s): it may have died, hung or called a different operation%s; raise "
                      "HALO_TIMEOUT_MS if it is only slow",
                      comm->rank, peer, comm->peers[peer].info.hostname, secs, what, ch, state, cable,
                      cable[0] ? ", or that cable is down" : "");
}

/* Called every ENGINE_CHECK_EVERY polls of a wait: timeout, remote abort, dead peer. */
haloResult_t engine_check_stall(struct halo_comm *comm, int ch, int peer, int64_t since_us, const char *what)
{
    int64_t now = halo_now_us();
    if (atomic_load_explicit(&comm->aborted, memory_order_relaxed))
        return atomic_load(&comm->async_error) ? (haloResult_t)atomic_load(&comm->async_error) : haloRemoteError;
    int64_t last_poll = atomic_load_explicit(&comm->last_abort_poll_us, memory_order_relaxed);
    int expired = now - since_us >= comm->timeout_us;
    if (now - last_poll < ENGINE_POLL_US && !expired)
        return haloSuccess;
    if (ch == 0) { /* only the application thread touches the bootstrap socket */
        atomic_store_explicit(&comm->last_abort_poll_us, now, memory_order_relaxed);
        if (comm_remote_aborted(comm))
            return (haloResult_t)atomic_load(&comm->async_error);
    }
    if (peer < 0) {
        /* A flush: name the first peer still owed this rank's output, and its cable. */
        if (!expired)
            return haloSuccess;
        int owed = engine_flush_owed(comm, ch);
        if (owed >= 0)
            return engine_stall_error(comm, ch, owed, (double)(now - since_us) / 1e6, what);
        atomic_store(&comm->timed_out, 1);
        return halo_error(comm, haloRemoteError,
                          "rank %d: peers did not take this rank's data for %.1f s on channel %d (%s): a peer "
                          "may have hung; raise HALO_TIMEOUT_MS if it is only slow",
                          comm->rank, (double)(now - since_us) / 1e6, ch, what);
    }
    if (engine_peer_dead(comm, peer))
        return halo_error(comm, haloRemoteError,
                          "rank %d: peer %d (pid %d on this host) died while this rank waited to %s on channel %d",
                          comm->rank, peer, comm->peers[peer].info.pid, what, ch);
    if (expired)
        return engine_stall_error(comm, ch, peer, (double)(now - since_us) / 1e6, what);
    if (halo_log_enabled(HALO_LOG_TRACE, HALO_SUB_COLL)) {
        static _Thread_local int64_t said_us;
        if (now - since_us >= ENGINE_TRACE_STALL_US && now - said_us >= ENGINE_TRACE_STALL_US) {
            char state[192];
            said_us = now;
            engine_conn_state(comm, ch, peer, state, sizeof(state));
            HLOG_TRACE(HALO_SUB_COLL, comm->rank, "waiting %.1f s to %s peer %d on channel %d: %s",
                       (double)(now - since_us) / 1e6, what, peer, ch, state);
        }
    }
    return haloSuccess;
}

void engine_pace_start(struct engine_pace *w)
{
    w->since_us = halo_now_us();
    w->spins = 0;
    w->sleepy = 0;
    w->note = BOOT_NOTE_WAIT;
    w->noted = 0;
    w->comm = NULL;
}

void engine_pace_end(struct engine_pace *w)
{
    if (w->noted && w->comm)
        bootstrap_send_note(w->comm->bs, BOOT_NOTE_NONE, -1, 0);
    w->noted = 0;
}

void engine_pace_moved(struct engine_pace *w)
{
    w->since_us = halo_now_us();
    w->sleepy = 0;
    engine_pace_end(w);
}

HALO_HOT int engine_pace_sleepy(struct engine_pace *w, const struct halo_comm *comm)
{
    if (!w->sleepy && comm->sleep_after_us > 0 && (w->spins & 63) == 63)
        w->sleepy = halo_now_us() - w->since_us >= comm->sleep_after_us;
    if (w->sleepy)
        w->spins |= ENGINE_CHECK_EVERY - 1;
    return w->sleepy;
}

/* A wait this long is told to the other ranks (bootstrap NOTE): a rank that times
 * out can then follow the waits to the rank that stopped, and two sends that wait
 * on each other see it. One small frame per long wait; channel 0 only (one note
 * per rank). */
static int64_t engine_note_after_us(const struct halo_comm *comm)
{
    return comm->timeout_us / 4 < 1000000 ? comm->timeout_us / 4 : 1000000;
}

HALO_HOT haloResult_t engine_pace_idle(struct engine_pace *w, struct halo_comm *comm, int ch, int peer, const char *what)
{
    w->spins++;
    engine_relax(comm, &w->spins);
    if (w->spins % ENGINE_CHECK_EVERY != 0)
        return haloSuccess;
    if (!w->noted && ch == 0 && peer >= 0 && halo_now_us() - w->since_us >= engine_note_after_us(comm)) {
        w->comm = comm;
        w->noted = 1;
        bootstrap_send_note(comm->bs, (enum boot_note_state)w->note, peer, 0);
    }
    return engine_check_stall(comm, ch, peer, w->since_us, what);
}

/* Between two polls of a wait on c: c's own progress (completions, credits) and
 * the channel's queued output (see engine_flush_channel). */
static haloResult_t engine_progress(struct halo_comm *comm, int ch, struct halo_conn *c)
{
    int pending;
    haloResult_t r = c->ops->progress(c);
    return r == haloSuccess ? engine_flush_channel(comm, ch, &pending) : r;
}

HALO_HOT haloResult_t engine_wait(struct halo_comm *comm, int ch, struct halo_conn *c, const char *what, enum engine_wait_on on,
                         engine_poll_fn poll,
                         void *arg)
{
    int done = 0;
    haloResult_t r = poll(arg, &done);
    if (r != haloSuccess || done)
        return r;
    struct engine_pace w;
    engine_pace_start(&w);
    int can_sleep = c && c->ops->sleep && on != ENGINE_WAIT_OTHER;
    for (;;) {
        if (c && (r = engine_progress(comm, ch, c)) != haloSuccess)
            break;
        if ((r = poll(arg, &done)) != haloSuccess || done)
            break;
        int sleepy = can_sleep && engine_pace_sleepy(&w, comm);
        if ((r = engine_pace_idle(&w, comm, ch, c ? c->peer : -1, what)) != haloSuccess) {
            /* A peer that posted its last frame and exited between the poll and the
             * check is dead now, but what this wait needs is there: one last look. */
            int late = 0;
            if (poll(arg, &late) == haloSuccess && late)
                r = haloSuccess;
            break;
        }
        /* Polled long enough: the peer may be waiting for this core. Sleep until it
         * moves; the next round polls before it checks again (a peer that posted
         * and then left during the sleep is not taken for dead before its frame). */
        if (sleepy)
            c->ops->sleep(c, on == ENGINE_WAIT_SLOT, ENGINE_SLEEP_US);
    }
    if (r == haloSuccess) /* a failed wait keeps its note: a peer timing out at the same moment follows it */
        engine_pace_end(&w);
    return r;
}

struct engine_flushed {
    struct halo_comm *comm;
    int ch;
};

static HALO_HOT haloResult_t engine_poll_flushed(void *arg, int *done)
{
    struct engine_flushed *f = arg;
    int pending;
    haloResult_t r = engine_flush_channel(f->comm, f->ch, &pending);
    *done = !pending;
    return r;
}

/* Completes an operation on a channel: every posted byte handed to the peers. */
HALO_HOT haloResult_t engine_drain(struct halo_comm *comm, int ch)
{
    struct engine_flushed f = {comm, ch};
    return engine_wait(comm, ch, NULL, "flush", ENGINE_WAIT_OTHER, engine_poll_flushed, &f);
}

struct engine_slot_poll {
    struct halo_conn *c;
    void **buf;
    size_t *cap;
};

static HALO_HOT haloResult_t engine_poll_slot(void *arg, int *done)
{
    struct engine_slot_poll *p = arg;
    haloResult_t r = p->c->ops->send_slot(p->c, p->buf, p->cap);
    *done = r == haloSuccess && *p->buf;
    return r;
}

HALO_HOT haloResult_t engine_wait_slot(struct halo_exec *ex, struct halo_conn *c, void **buf, size_t *cap)
{
    if (!c)
        return engine_no_conn(ex);
    struct engine_slot_poll p = {c, buf, cap};
    return engine_wait(ex->comm, ex->ch, c, "send", ENGINE_WAIT_SLOT, engine_poll_slot, &p);
}

/* The algorithm's word as the algorithm table (algo_table.c) spells it; the core
 * sits below the table, and test_tables keeps the two equal. */
const char *halo_algo_word(enum halo_algo a)
{
    switch (a) {
    case HALO_ALGO_RING: return "ring";
    case HALO_ALGO_DIRECT: return "direct";
    case HALO_ALGO_P2P: return "p2p";
    case HALO_ALGO_CHAIN: return "chain";
    case HALO_ALGO_RING_BIDIR: return "ring_bidir";
    case HALO_ALGO_RING_ZC: return "ring_zc";
    case HALO_ALGO_P2P_ZC: return "p2p_zc";
    case HALO_ALGO_P2P_FWD: return "p2p_fwd";
    case HALO_ALGO_TWO_SHOT: return "two_shot";
    case HALO_ALGO_RING_BIDIR_ZC: return "ring_bidir_zc";
    case HALO_ALGO_CHAIN_ZC: return "chain_zc";
    case HALO_ALGO_TWO_SHOT_ZC: return "two_shot_zc";
    }
    return "unknown";
}

/* A p2p frame's signature is the sender's ("send", root = sender): described from
 * the side of the rank that called it, a receive reads "recv(..., from=S)". */
static void engine_p2p_describe(const struct halo_sig *s, int sender, int receiver, int as_sender, char *buf,
                                size_t len)
{
    snprintf(buf, len, "%s(count=%" PRIu64 ", %s, %s=%d) #%u", as_sender ? "send" : "recv", s->count,
             halo_dtype_name((haloDataType_t)s->dtype), as_sender ? "to" : "from", as_sender ? receiver : sender,
             s->opseq);
}

static haloResult_t engine_p2p_mismatch(struct halo_exec *ex, int peer, const struct halo_sig *got)
{
    char mine[160], theirs[160];
    int me = ex->comm->rank, i_send = ex->sig.root == me;
    engine_p2p_describe(&ex->sig, i_send ? me : peer, i_send ? peer : me, i_send, mine, sizeof(mine));
    if (got->coll == HALO_COLL_SEND)
        engine_p2p_describe(got, i_send ? me : peer, i_send ? peer : me, !i_send, theirs, sizeof(theirs));
    else
        halo_sig_describe(got, theirs, sizeof(theirs));
    return halo_error(ex->comm, haloInvalidUsage,
                      "rank %d called %s but peer %d called %s: each send needs a recv on its peer with the same "
                      "count and type, posted in the same order",
                      me, mine, peer, theirs);
}

haloResult_t engine_sig_mismatch(struct halo_exec *ex, int peer, const struct halo_sig *got)
{
    char mine[160], theirs[160];
    if (ex->sig.coll == HALO_COLL_SEND && got->comm_tag == ex->sig.comm_tag)
        return engine_p2p_mismatch(ex, peer, got);
    halo_sig_describe(&ex->sig, mine, sizeof(mine));
    halo_sig_describe(got, theirs, sizeof(theirs));
    struct halo_sig same = *got;
    same.algo = ex->sig.algo;
    if (got->algo != ex->sig.algo && engine_sig_equal(&same, &ex->sig))
        return halo_error(ex->comm, haloInvalidUsage,
                          "rank %d runs %s with the %s algorithm but peer %d runs it with %s: the ranks chose "
                          "different algorithms because they see different links (a direct link one side lacks? "
                          "run halo-topo on each host) or different settings; set HALO_ALGO to the same value "
                          "on every rank",
                          ex->comm->rank, mine, halo_algo_word((enum halo_algo)ex->sig.algo), peer,
                          halo_algo_word((enum halo_algo)got->algo));
    if (got->comm_tag != ex->sig.comm_tag)
        snprintf(theirs + strlen(theirs), sizeof(theirs) - strlen(theirs), " on another communicator");
    return halo_error(ex->comm, haloInvalidUsage,
                      "rank %d called %s but peer %d called %s: every rank must call the same collectives "
                      "in the same order with matching count, type, op and root",
                      ex->comm->rank, mine, peer, theirs);
}

int engine_sig_equal(const struct halo_sig *a, const struct halo_sig *b)
{
    return a->count == b->count && a->opseq == b->opseq && a->comm_tag == b->comm_tag && a->root == b->root &&
           a->coll == b->coll && a->dtype == b->dtype && a->op == b->op && a->algo == b->algo;
}

struct engine_frame_poll {
    struct halo_conn *c;
    const void **buf;
    size_t got;
    struct halo_sig sig;
};

static HALO_HOT haloResult_t engine_poll_frame(void *arg, int *done)
{
    struct engine_frame_poll *p = arg;
    haloResult_t r = p->c->ops->recv_peek(p->c, p->buf, &p->got, &p->sig);
    *done = r == haloSuccess && *p->buf;
    return r;
}

HALO_HOT haloResult_t engine_wait_frame(struct halo_exec *ex, struct halo_conn *c, const void **buf, size_t len)
{
    if (!c)
        return engine_no_conn(ex);
    struct engine_frame_poll p = {.c = c, .buf = buf};
    haloResult_t r = engine_wait(ex->comm, ex->ch, c, "receive", ENGINE_WAIT_FRAME, engine_poll_frame, &p);
    if (r != haloSuccess)
        return r;
    if (!engine_sig_equal(&p.sig, &ex->sig))
        return engine_sig_mismatch(ex, c->peer, &p.sig);
    if (p.got != len)
        return halo_error(ex->comm, haloInternalError,
                          "rank %d: frame from peer %d has %zu bytes, expected %zu (channel %d)", ex->comm->rank,
                          c->peer, p.got, len, ex->ch);
    return haloSuccess;
}

/* Posting and releasing go through these two so tests can count frames per link. */
static HALO_HOT haloResult_t engine_post(struct halo_exec *ex, struct halo_conn *c, size_t bytes)
{
    c->frames_sent++;
    return c->ops->send_post(c, bytes, &ex->sig);
}

static HALO_HOT haloResult_t engine_release(struct halo_conn *c)
{
    c->frames_recv++;
    return c->ops->recv_release(c);
}

uint64_t engine_conn_frames(struct halo_comm *comm, int ch, int peer)
{
    struct halo_conn *c = engine_conn(comm, ch, peer);
    return c ? c->frames_sent + c->frames_recv : 0;
}

/* Results land in the caller's buffer through these: streaming stores when the
 * call's buffers do not fit the cache (engine_exec_init). */
HALO_HOT void engine_copy_out(const struct halo_exec *ex, void *dst, const void *src, size_t bytes)
{
    if (ex->stream_out)
        halo_copy_stream(dst, src, bytes);
    else
        memcpy(dst, src, bytes);
}

HALO_HOT size_t engine_frame_bytes(const struct halo_exec *ex, size_t n)
{
    return ex->op->wire ? halo_wire_bytes((enum halo_wire)ex->op->wire, n) : n * ex->esize;
}

/* Sends n values already in the frame's form (encoded when ex->op->wire) from src. */
static HALO_HOT haloResult_t prim_send_as(struct halo_exec *ex, int to, const void *src, size_t n, int encode)
{
    struct halo_conn *c = engine_conn(ex->comm, ex->ch, to);
    size_t bytes = engine_frame_bytes(ex, n), cap;
    void *slot;
    haloResult_t r = engine_wait_slot(ex, c, &slot, &cap);
    if (r != haloSuccess)
        return r;
    if (encode && ex->op->wire)
        halo_wire_encode(slot, src, n, ex->op->dtype, (enum halo_wire)ex->op->wire);
    else
        memcpy(slot, src, bytes);
    return engine_post(ex, c, bytes);
}

HALO_HOT haloResult_t prim_send(struct halo_exec *ex, int to, const void *src, size_t n)
{
    return prim_send_as(ex, to, src, n, 1);
}

haloResult_t prim_send_encoded(struct halo_exec *ex, int to, const void *wire, size_t n)
{
    return prim_send_as(ex, to, wire, n, 0);
}

/* A received frame's n values into dst: decoded, or copied. */
static HALO_HOT void engine_frame_out(struct halo_exec *ex, void *dst, const void *in, size_t n)
{
    if (ex->op->wire)
        halo_wire_decode(dst, in, n, ex->op->dtype, (enum halo_wire)ex->op->wire);
    else
        engine_copy_out(ex, dst, in, n * ex->esize);
}

HALO_HOT haloResult_t prim_recv(struct halo_exec *ex, int from, void *dst, size_t n)
{
    struct halo_conn *c = engine_conn(ex->comm, ex->ch, from);
    const void *in;
    haloResult_t r = engine_wait_frame(ex, c, &in, engine_frame_bytes(ex, n));
    if (r != haloSuccess)
        return r;
    engine_frame_out(ex, dst, in, n);
    return engine_release(c);
}

/* The common first half of the forwarding primitives: the frame from `from` and a
 * free slot towards `to`, both in hand. */
struct prim_fwd {
    struct halo_conn *rc, *sc;
    const void *in;
    void *out;
};

static HALO_HOT haloResult_t prim_fwd_begin(struct halo_exec *ex, int from, int to, size_t bytes, struct prim_fwd *f)
{
    size_t cap;
    f->rc = engine_conn(ex->comm, ex->ch, from);
    f->sc = engine_conn(ex->comm, ex->ch, to);
    haloResult_t r = engine_wait_frame(ex, f->rc, &f->in, bytes);
    return r == haloSuccess ? engine_wait_slot(ex, f->sc, &f->out, &cap) : r;
}

/* Posts the slot, then returns the frame: the next rank can start earlier. */
static HALO_HOT haloResult_t prim_fwd_end(struct halo_exec *ex, struct prim_fwd *f, size_t bytes)
{
    haloResult_t r = engine_post(ex, f->sc, bytes);
    return r == haloSuccess ? engine_release(f->rc) : r;
}

HALO_HOT haloResult_t prim_recv_copy_send(struct halo_exec *ex, int from, int to, void *dst, size_t n)
{
    struct prim_fwd f;
    size_t bytes = engine_frame_bytes(ex, n);
    haloResult_t r = prim_fwd_begin(ex, from, to, bytes, &f);
    if (r != haloSuccess)
        return r;
    memcpy(f.out, f.in, bytes); /* encoded values travel unchanged */
    if ((r = engine_post(ex, f.sc, bytes)) != haloSuccess)
        return r;
    engine_frame_out(ex, dst, f.in, n); /* after posting: the next rank is already copying */
    return engine_release(f.rc);
}

/* What a reduction's result is divided by: the rank count for an average's final
 * step, else 1 (the kernels take it as their div). */
static HALO_HOT int engine_div(const struct halo_exec *ex, int final)
{
    return final && ex->op->op == haloAvg ? ex->comm->nranks : 1;
}

/* buf divided by div in place; nothing for 1. */
static HALO_HOT void engine_divide(const struct halo_exec *ex, void *buf, size_t n, int div)
{
    if (div > 1)
        halo_scale_div(buf, buf, n, ex->op->dtype, div);
}

HALO_HOT haloResult_t prim_recv_reduce_send(struct halo_exec *ex, int from, int to, const void *src, size_t n)
{
    struct prim_fwd f;
    size_t bytes = engine_frame_bytes(ex, n);
    haloResult_t r = prim_fwd_begin(ex, from, to, bytes, &f);
    if (r != haloSuccess)
        return r;
    if (ex->op->wire)
        halo_wire_reduce_encode(f.out, NULL, f.in, src, n, ex->op->dtype, (enum halo_wire)ex->op->wire, 1);
    else
        halo_reduce(f.out, f.in, src, n, ex->op->dtype, ex->op->op);
    return prim_fwd_end(ex, &f, bytes);
}

HALO_HOT haloResult_t prim_recv_reduce_copy_send(struct halo_exec *ex, int from, int to, const void *src, void *dst,
                                        size_t n, int final)
{
    struct prim_fwd f;
    size_t bytes = engine_frame_bytes(ex, n);
    haloResult_t r = prim_fwd_begin(ex, from, to, bytes, &f);
    if (r != haloSuccess)
        return r;
    int div = engine_div(ex, final);
    if (ex->op->wire) { /* the result is what the frame decodes to, on this rank as on every other */
        halo_wire_reduce_encode(f.out, dst, f.in, src, n, ex->op->dtype, (enum halo_wire)ex->op->wire, div);
    } else if (ex->stream_out) { /* into the slot, which the next rank reads soon, and streamed out */
        halo_reduce_copy_stream(f.out, dst, f.in, src, n, ex->op->dtype, ex->op->op, div);
    } else {
        halo_reduce(dst, f.in, src, n, ex->op->dtype, ex->op->op);
        engine_divide(ex, dst, n, div);
        memcpy(f.out, dst, n * ex->esize);
    }
    return prim_fwd_end(ex, &f, bytes);
}

HALO_HOT haloResult_t prim_recv_reduce_copy(struct halo_exec *ex, int from, const void *src, void *dst, size_t n,
                                   int final)
{
    struct halo_conn *rc = engine_conn(ex->comm, ex->ch, from);
    const void *in;
    haloResult_t r = engine_wait_frame(ex, rc, &in, engine_frame_bytes(ex, n));
    if (r != haloSuccess)
        return r;
    int div = engine_div(ex, final);
    if (ex->op->wire) {
        halo_wire_decode_add(dst, src, in, n, ex->op->dtype, (enum halo_wire)ex->op->wire);
        engine_divide(ex, dst, n, div);
    } else if (ex->stream_out) { /* an average divided in L1, not read back from memory */
        halo_reduce_stream(dst, in, src, n, ex->op->dtype, ex->op->op, div);
    } else {
        halo_reduce(dst, in, src, n, ex->op->dtype, ex->op->op);
        engine_divide(ex, dst, n, div);
    }
    return engine_release(rc);
}

/* Streaming stores pay when the call's buffers, over all ranks of this host,
 * outgrow the cache: the output's lines would come from memory only to be
 * overwritten. A copy (all-gather, broadcast) only changes its kind of store. A
 * reduction into the output is computed a block at a time in L1, streamed out and
 * copied into the next slot (halo_reduce_copy_stream): one more copy for the core
 * than the plain path's reduce-then-copy, which pays only where the cores outrun
 * memory. So under auto (comm.c) copies stream from the last-level cache's size, and
 * out-of-place reductions from a quarter of it where every rank has two cores or
 * more, never where it has fewer:
 * - the 16-core host (its VM reports a 300 MiB L3), 2 ranks at 64 MiB out of place
 *   (256 MiB of buffers): 22-26 GB/s streamed against 18-20 plain; 4 ranks at 32
 *   MiB 14-15 against 11-13; within the rounds' spread from 8 to 128 MiB otherwise;
 * - the 2-core development VM (32 MiB L3), one core per rank: 2 ranks, medians of
 *   3 rounds at 8, 16, 32 and 64 MiB, 10.7, 8.5, 6.8 and 7.0 GB/s plain against
 *   5.8, 5.3, 4.4 and 4.3 streamed (reduced into the slot, then streamed out;
 *   block-wise, alternated with that, streaming forced: 4 and 16 MiB 8.7-8.9 and
 *   7.1-8.4 against 6.9-7.0 and 5.7-6.5, still short of plain).
 * A reduction in place does not gain either way: its output's lines were just
 * read as input and are cached, so a plain store needs no read, and streaming them
 * out only evicts them early (16-core host, 2 ranks, 256 MiB in place: 42-45 GB/s
 * plain against 31-34 streamed; 4 ranks 25 against 21; this 2-core VM, 16 MiB:
 * 7-10 against 4-5). A broadcast or all-gather in place writes blocks this rank
 * never read, and counts its output only. */
static HALO_HOT int engine_streams_out(const struct halo_comm *comm, const struct halo_op *op)
{
    int in_place = op->sendbuf == op->recvbuf;
    int reduces = op->coll != HALO_COLL_BROADCAST && op->coll != HALO_COLL_ALLGATHER;
    int64_t from = reduces ? comm->stream_min_reduce : comm->stream_min;
    if (from <= 0 || !op->recvbuf || (in_place && reduces))
        return 0;
    size_t one = op->count * halo_dtype_size(op->dtype), in = one, out = one;
    if (op->coll == HALO_COLL_ALLGATHER)
        out *= (size_t)comm->nranks;
    else if (op->coll == HALO_COLL_REDUCESCATTER)
        in *= (size_t)comm->nranks;
    size_t ws = out + (in_place ? 0 : in);
    return (double)ws * comm->nlocal >= (double)from;
}

HALO_HOT void engine_exec_init(struct halo_exec *ex)
{
    const struct halo_op *op = ex->op;
    ex->esize = halo_dtype_size(op->dtype);
    memset(&ex->sig, 0, sizeof(ex->sig));
    ex->sig.count = op->count;
    ex->sig.opseq = ex->comm->opseq;
    ex->sig.comm_tag = (uint32_t)ex->comm->comm_id;
    ex->sig.root = op->root;
    ex->sig.coll = (uint8_t)op->coll;
    ex->sig.dtype = (uint8_t)op->dtype;
    int reduces = op->coll == HALO_COLL_ALLREDUCE || op->coll == HALO_COLL_REDUCE ||
                  op->coll == HALO_COLL_REDUCESCATTER;
    ex->sig.op = reduces ? (uint8_t)(op->op | op->wire << HALO_SIG_OP_BITS) : 0xff;
    ex->sig.algo = (uint8_t)op->algo;
    ex->stream_out = engine_streams_out(ex->comm, op);
}

HALO_HOT haloResult_t engine_run_channel(struct halo_exec *ex, halo_channel_fn fn)
{
    haloResult_t r = fn(ex);
    return r == haloSuccess ? engine_drain(ex->comm, ex->ch) : r;
}
