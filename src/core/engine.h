/* SPDX-License-Identifier: MIT */
/*
 * engine.h — running a collective: the blocking primitives algorithms are written
 * with, the per-channel execution context, and the dispatch of channels to worker
 * threads.
 *
 * An algorithm is straight-line code over primitives such as "receive a slice from
 * prev, reduce it with mine, send the result to next". Each primitive waits (busy
 * polling, yielding when ranks outnumber cores) for the frame and/or the slot it
 * needs, checks the frame's signature against this rank's own, and gives up with
 * haloRemoteError when the peer makes no progress for HALO_TIMEOUT_MS or another
 * rank aborted.
 *
 * Sizes (the same words everywhere, see src/collectives/slice.h): a *slot* is a
 * transport's frame capacity (HALO_CHUNK_SIZE sets it); a *block* is a rank's
 * share of a channel's range in a ring or chain; a *slice* is what a schedule
 * moves per step, at most a slot; a *piece* is the part of a zero-copy message on
 * one QP (ib).
 */
#ifndef HALO_ENGINE_H
#define HALO_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "comm.h"
#include "haloccl.h"
#include "transport.h"

enum halo_coll {
    HALO_COLL_ALLREDUCE = 1,
    HALO_COLL_ALLGATHER = 2,
    HALO_COLL_BROADCAST = 3,
    HALO_COLL_REDUCESCATTER = 4,
    HALO_COLL_REDUCE = 5,
    HALO_COLL_SEND = 6,
    HALO_COLL_RECV = 7,
    HALO_COLL_NUM
};

/* Rows of the algorithm table (src/collectives/algo_table.c); the value travels in
 * every frame's signature. */
enum halo_algo {
    HALO_ALGO_RING = 1,
    HALO_ALGO_DIRECT = 2,
    HALO_ALGO_P2P = 3,
    HALO_ALGO_CHAIN = 4,      /* daisy chain: only positions p and p+1 of comm->ring are linked */
    HALO_ALGO_RING_BIDIR = 5, /* ring, half the data each way */
    /* Zero-copy variants, distinct in the signature (sig.algo) so a peer moving
     * the same data through slots is a mismatch. RING_ZC is chosen in api.c;
     * P2P_ZC is set per message by p2p.c (signature only). */
    HALO_ALGO_RING_ZC = 6,
    HALO_ALGO_P2P_ZC = 7,
    /* send/recv forwarded through the ranks between (relay.c; signature only) */
    HALO_ALGO_P2P_FWD = 8,
    /* reduce-scatter then all-gather straight between every pair (two_shot.c) */
    HALO_ALGO_TWO_SHOT = 9,
    /* ring_bidir with zero-copy messages: even channels one way, odd channels the
     * other (ring_zc.c; chosen in api.c) */
    HALO_ALGO_RING_BIDIR_ZC = 10,
    /* the daisy chain with zero-copy messages (chain_zc.c; chosen in api.c) */
    HALO_ALGO_CHAIN_ZC = 11,
    /* two-shot with zero-copy messages (two_shot.c; chosen in api.c) */
    HALO_ALGO_TWO_SHOT_ZC = 12
};

/* A validated operation as the user called it. */
struct halo_op {
    enum halo_coll coll;
    const void *sendbuf;
    void *recvbuf;
    size_t count; /* per the API: allgather sendcount, reducescatter recvcount */
    haloDataType_t dtype;
    haloRedOp_t op;
    int root; /* root for broadcast/reduce, peer for send/recv, -1 otherwise */
    struct halo_comm *comm;
    enum halo_algo algo;
    const char *algo_name; /* its row's name (for sentences), set with algo; NULL: p2p */
    int nchannels;
    size_t slice; /* pipeline slice in bytes from the cost model; 0 = by slot size */
    int wire;     /* enum halo_wire the values travel in (api_choose); 0 = exact */
    void *stream; /* the caller's GPU stream; NULL in host mode */
    /* A pre-mul-sum op (haloRedOpCreatePreMulSum), taken from the op's table entry
     * when the call was made, so the op may be destroyed before the call runs. op
     * is then haloSum; coll_execute scales a copy of the input first. */
    uint8_t premul;            /* enum halo_premul */
    unsigned char scalar[8];   /* HALO_PREMUL_VALUE: the scalar, one element of dtype */
    const void *scalar_ptr;    /* HALO_PREMUL_POINTER: read when the call runs */
};

/* HALO_PREMUL_HOST: scalar_ptr is a CPU address (staged, or host memory), read
 * with a plain load when the call runs — no runtime call on the progress thread. */
enum halo_premul { HALO_PREMUL_NONE = 0, HALO_PREMUL_VALUE, HALO_PREMUL_POINTER, HALO_PREMUL_HOST };

/* What one thread needs to run one channel of one operation. */
struct halo_exec {
    struct halo_comm *comm;
    const struct halo_op *op;
    int ch;
    size_t esize;
    struct halo_sig sig;
    void *scratch; /* slot-sized private buffer of this channel */
    int stream_out; /* write results into recvbuf with streaming stores (engine_exec_init) */
};

const char *halo_coll_name(enum halo_coll c);
/* "allreduce(count=10, float32, sum)" into buf. */
const char *halo_sig_describe(const struct halo_sig *s, char *buf, size_t len);
/* An algorithm's word, as its row in algo_table.c names it. */
const char *halo_algo_word(enum halo_algo a);

typedef haloResult_t (*halo_channel_fn)(struct halo_exec *ex);

/* Primitives. Every count is in elements (of ex->esize bytes), at most a slot's
 * worth: one primitive moves one slice. `final` applies avg's division. The
 * lower-level waits below and the zero-copy calls count bytes, as the transports
 * do. */
haloResult_t prim_send(struct halo_exec *ex, int to, const void *src, size_t n);
/* Under a wire format (op->wire), frames carry encoded values (wire.h): prim_send
 * encodes, reductions decode, add in float32 and re-encode, forwarding keeps the
 * encoded bytes, and a rank that finishes a block writes what the frame it sends
 * decodes to, so every rank ends with the same bits. prim_send_encoded sends n
 * values the caller encoded already (halo_wire_encode) as they are. */
haloResult_t prim_send_encoded(struct halo_exec *ex, int to, const void *wire, size_t n);
/* Bytes a frame of n values takes: n * esize, or the wire format's size. */
size_t engine_frame_bytes(const struct halo_exec *ex, size_t n);
/* Copies bytes of a result into the caller's buffer: with streaming stores when the
 * call's buffers do not fit the cache (ex->stream_out), else memcpy. */
void engine_copy_out(const struct halo_exec *ex, void *dst, const void *src, size_t bytes);
haloResult_t prim_recv(struct halo_exec *ex, int from, void *dst, size_t n);
haloResult_t prim_recv_copy_send(struct halo_exec *ex, int from, int to, void *dst, size_t n);
haloResult_t prim_recv_reduce_send(struct halo_exec *ex, int from, int to, const void *src, size_t n);
haloResult_t prim_recv_reduce_copy_send(struct halo_exec *ex, int from, int to, const void *src, void *dst,
                                        size_t n, int final);
haloResult_t prim_recv_reduce_copy(struct halo_exec *ex, int from, const void *src, void *dst, size_t n,
                                   int final);

/* Lower-level waits, used by the primitives and by algorithms with several peers
 * in flight (direct). The frame stays owned by the connection until release. */
haloResult_t engine_wait_slot(struct halo_exec *ex, struct halo_conn *c, void **buf, size_t *cap);
haloResult_t engine_wait_frame(struct halo_exec *ex, struct halo_conn *c, const void **buf, size_t len);

/* The one wait loop, used by every blocking wait (slot, frame, flush, zero-copy
 * steps). Polls `poll` until it sets *done or fails; the first poll is
 * immediate. Between polls: c's progress and the channel's queued output (when
 * c is not NULL), engine_relax, and every ENGINE_CHECK_EVERY polls
 * engine_check_stall with c's peer (-1 without c) and `what`, which completes
 * the error sentence "while this rank waited to <what>". */
#define ENGINE_CHECK_EVERY 256
/* HALO_WAIT_SPIN_US=auto: how long a wait on one peer polls before it sleeps: short
 * where the host's cores are few for its polling threads (a sleeping rank frees
 * its core for the peer it waits for), long where every polling thread has a
 * spare core (a wake-up from a futex costs several microseconds, more than a
 * decode-sized all-reduce). */
#define ENGINE_WAIT_SPIN_US 100
#define ENGINE_WAIT_SPIN_LONG_US 5000
#define ENGINE_WAIT_SPIN_LONG_MIN_CORES 8
/* Each sleep's bound: every wake-up checks timeouts and aborts. */
#define ENGINE_SLEEP_US 1000
typedef haloResult_t (*engine_poll_fn)(void *arg, int *done);
/* What a wait on a connection waits for: a free slot or a frame lets a long wait
 * sleep in the transport (its sleep op) until that moves; other waits only poll. */
enum engine_wait_on { ENGINE_WAIT_OTHER, ENGINE_WAIT_SLOT, ENGINE_WAIT_FRAME };
haloResult_t engine_wait(struct halo_comm *comm, int ch, struct halo_conn *c, const char *what, enum engine_wait_on on,
                         engine_poll_fn poll,
                         void *arg);
/* The pacing half of engine_wait, for a loop that polls many things itself (p2p):
 * start before the first poll, pace_moved after a poll that moved data (resets
 * the stall clock), pace_idle after one that did not (relax, periodic check). */
struct engine_pace {
    int64_t since_us; /* last progress */
    unsigned spins;   /* idle polls so far */
    int note;         /* what a long wait is told to the other ranks as (enum boot_note_state); the caller may
                       * set it after pace_start (p2p: a send outside a group) */
    int noted;        /* told: pace_moved / pace_end take it back */
    int sleepy;       /* idle for HALO_WAIT_SPIN_US: the waiter sleeps between polls */
    struct halo_comm *comm;
};
void engine_pace_start(struct engine_pace *w);
/* Whether the wait has polled HALO_WAIT_SPIN_US without progress (looked at every
 * 64th poll, then sticky until progress); while it has, every round runs the
 * checks (timeout, abort, the note). The caller then sleeps on its connection. */
int engine_pace_sleepy(struct engine_pace *w, const struct halo_comm *comm);
void engine_pace_moved(struct engine_pace *w);
/* After the wait ended well: takes back a note told during it (a failed wait keeps
 * it, so a peer that times out at the same moment still follows it). */
void engine_pace_end(struct engine_pace *w);
haloResult_t engine_pace_idle(struct engine_pace *w, struct halo_comm *comm, int ch, int peer, const char *what);
/* Timeout, remote abort and dead local peer (peer -1: any peer, a flush). */
haloResult_t engine_check_stall(struct halo_comm *comm, int ch, int peer, int64_t since_us, const char *what);
/* Spin or yield, by the count of idle polls (yields when ranks outnumber cores). */
void engine_relax(struct halo_comm *comm, unsigned *spins);
haloResult_t engine_flush_channel(struct halo_comm *comm, int ch, int *pending);
haloResult_t engine_drain(struct halo_comm *comm, int ch);
/* fn(ex) followed by engine_drain: what one thread runs for one channel. */
haloResult_t engine_run_channel(struct halo_exec *ex, halo_channel_fn fn);
struct halo_conn *engine_conn(struct halo_comm *comm, int ch, int peer);
/* For tests: frames the primitives sent plus received on the connection to peer
 * on channel ch since it was made (0 for self). Algorithms that post or release
 * frames themselves (direct, p2p) are not counted. */
uint64_t engine_conn_frames(struct halo_comm *comm, int ch, int peer);

/* Runs fn(ex) for channels 0..op->nchannels-1: channel 0 on the calling thread, the
 * others on the communicator's worker threads. Returns the first error. */
/* Fills esize and the signature from ex->op (and the comm's current sequence). */
void engine_exec_init(struct halo_exec *ex);
haloResult_t engine_run(struct halo_comm *comm, const struct halo_op *op, halo_channel_fn fn);
/* HALO_PIN: binds the calling thread to comm->pin_cpu, once per thread (a thread
 * that runs several communicators keeps its first binding). */
void engine_bind_thread(struct halo_comm *comm);
void engine_workers_destroy(struct halo_comm *comm);

/* Signature checks, for code that peeks frames itself (p2p). */
int engine_sig_equal(const struct halo_sig *a, const struct halo_sig *b);
haloResult_t engine_sig_mismatch(struct halo_exec *ex, int peer, const struct halo_sig *got);

/* Zero-copy messages (engine_zc.c), on connections with zc_max > 0. Blocking
 * like the primitives. A message is at most conn->zc_max bytes.
 *   zc_expect     grants dst to `from` for its next zero-copy message
 *   zc_recv_wait  waits for the oldest granted message from `from` to be placed
 *   zc_send       announces the message (a zero-length frame), waits for the
 *                 peer's grant, checks it against this rank's call and writes
 *   zc_send_wait  waits until every zero-copy send to `to` left its buffer
 *   zc_send_mark  the count of zero-copy sends to `to` posted so far, for
 *   zc_send_wait_mark  which waits until the sends up to that mark left their
 *                 buffers (a schedule that reuses a source waits only for the
 *                 sends that read it, not for the latest)
 *   zc_end        after an operation: drops its registrations (nothing in flight) */
int zc_usable(const struct halo_comm *comm, const struct halo_conn *c, size_t bytes);
haloResult_t zc_expect(struct halo_exec *ex, int from, void *dst, size_t bytes);
haloResult_t zc_recv_wait(struct halo_exec *ex, int from);
haloResult_t zc_send(struct halo_exec *ex, int to, const void *src, size_t bytes);
haloResult_t zc_send_wait(struct halo_exec *ex, int to);
uint64_t zc_send_mark(struct halo_exec *ex, int to);
haloResult_t zc_send_wait_mark(struct halo_exec *ex, int to, uint64_t mark);
haloResult_t zc_register(struct halo_exec *ex, int peer, const void *buf, size_t bytes, int writable);
void zc_end(struct halo_exec *ex, int peer);
/* Non-blocking steps, for p2p's state machines: *done = 1 when the step happened. */
haloResult_t zc_try_notice(struct halo_exec *ex, struct halo_conn *c, int *done);
haloResult_t zc_try_grant_send(struct halo_exec *ex, struct halo_conn *c, const void *src, size_t bytes, int *done);
haloResult_t zc_try_take_notice(struct halo_exec *ex, struct halo_conn *c, int *done);

#endif
