/* SPDX-License-Identifier: MIT */
/*
 * gpu_stream.h — keeping GPU streams in order without kernels and without
 * blocking the caller: one progress thread per communicator (the proxy) runs the
 * work that streams hand it.
 *
 * For each piece of work the caller's stream(s) get two operations, enqueued at
 * once and never waited for on the calling thread:
 *
 *   stream:  ... earlier work ... | READY | WAIT(DONE) | ... later work ...
 *   proxy:                  sees READY → runs the work → writes DONE
 *
 * Device buffers the CPU cannot reach are copied through pinned memory on the
 * same streams, around that pair (struct gpu_copies): the proxy itself never
 * calls the GPU runtime while it runs work.
 *
 * Eager work is run in submission order (every rank submits collectives in the
 * same order). READY is a tag written into a ring of words in pinned mapped
 * memory; DONE is one counter the proxy advances after each eager work, which
 * streams wait on with a cyclic "greater or equal" compare.
 *
 * Work submitted while its stream is being captured into a graph is persistent:
 * the graph may replay it any number of times. Each gets its own pinned word:
 * the stream writes 1, the proxy runs the work and writes 0, the stream waits for
 * 0 — constant values, so a replay repeats the handshake exactly.
 *
 * Two mechanisms carry READY and WAIT(DONE):
 *   memops  — stream write/wait value 32 (GPU_ATTR_STREAM_MEM_OPS);
 *   hostfn  — host functions: one stores READY, one blocks until DONE.
 * memops is used where the device supports it, except under capture on HIP,
 * where some ROCm versions run a captured wait eagerly and the replay deadlocks;
 * HALO_GPU_SYNC forces either.
 *
 * A stream never waits forever: stopping the proxy (destroy, abort) releases every
 * eager wait and every persistent word, and host-function waiters also give up
 * when the proxy stops.
 */
#ifndef HALO_GPU_STREAM_H
#define HALO_GPU_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "gpu_rt.h"
#include "haloccl.h"

#define GPU_MAX_STREAMS 8 /* distinct streams one work may span (a group) */

enum gpu_sync_mode { GPU_SYNC_AUTO = 0, GPU_SYNC_MEMOPS = 1, GPU_SYNC_HOSTFN = 2 }; /* HALO_GPU_SYNC's words */

struct gpu_proxy;

/* Runs one work's payload on the proxy thread; returns its result. */
typedef haloResult_t (*gpu_run_fn)(void *ctx, void *payload);
/* Frees a payload (eager: after it ran; persistent: when the proxy is destroyed). */
typedef void (*gpu_free_fn)(void *ctx, void *payload);

struct gpu_proxy_cfg {
    const struct gpu_rt *rt;
    int device;               /* made current on the proxy thread */
    enum gpu_sync_mode sync;
    gpu_run_fn run;
    gpu_free_fn free_payload;
    void *ctx;
    int rank;                 /* for log lines */
};

/* Starts the proxy thread. Returns 0, or -1 with a sentence in err. */
int gpu_proxy_create(const struct gpu_proxy_cfg *cfg, struct gpu_proxy **out, char *err, size_t errlen);

/* One staging copy, enqueued on streams[stream] by the submitting thread. */
struct gpu_stream_copy {
    int stream;
    void *dst;
    const void *src;
    size_t bytes;
};

/*
 * The copies that move a work's device buffers through pinned staging memory,
 * all enqueued on the caller's streams by the caller: the progress thread makes
 * no runtime call for them (a runtime may block it on a lock that an application
 * thread holds while, in a synchronous call, it waits for a stream that waits
 * for this very work). Inputs are copied before READY, outputs after WAIT(DONE).
 *
 * `shared`: the staging memory is the communicator's, reused by the next staged
 * work. Each stream then waits, before its copies in and its READY, until every
 * stream of the previous staged work finished its copies out (FREE words: each
 * stream of a staged work writes its seq into FREE[its index] after them).
 * Persistent (captured) works stage through memory of their own: no FREE.
 */
struct gpu_copies {
    const struct gpu_stream_copy *in, *out;
    int nin, nout;
    int shared;
    /* Pieces (eager work on one stream): in[k] and out[k] belong to piece k, and
     * the stream interleaves them with the proxy's progress so that copies overlap
     * the wire:  READY | in[0] PIN=b+1 | in[1] PIN=b+2 | ... |
     *            WAIT(PDONE >= b+1) out[0] | WAIT(PDONE >= b+2) out[1] | ... | WAIT(DONE)
     * The proxy waits for PIN >= b+k+1 before piece k (gpu_proxy_piece_wait) and
     * writes PDONE = b+k+1 after it (gpu_proxy_piece_done). b is handed out at
     * submit into *piece_base, before the proxy can run the work. */
    int npieces;
    uint32_t *piece_base;
};

/* The proxy's side of pieces. piece_wait returns 0 once piece k's inputs are
 * staged, -1 when the proxy is draining (abort, destroy) first. */
int gpu_proxy_piece_wait(struct gpu_proxy *p, uint32_t base, int k);
void gpu_proxy_piece_done(struct gpu_proxy *p, uint32_t base, int k);

/*
 * Hands `payload` to the proxy, ordered on streams[0..nstreams-1] (each gets READY
 * now and WAIT(DONE) after it; nstreams 0: no stream, the work runs when its turn
 * comes), with the staging copies in `cp` (NULL: none); `capturing` is what
 * gpu_proxy_capturing said of those streams. With result != NULL the
 * calling thread waits until the work ran and gets its result (stream NULL
 * calls). The payload is the proxy's from here on, also on failure (a runtime
 * call failed: -1 with a sentence), when it is freed with free_payload unless it
 * already ran.
 */
int gpu_proxy_submit(struct gpu_proxy *p, void *const *streams, int nstreams, int capturing,
                     const struct gpu_copies *cp, void *payload, haloResult_t *result, char *err, size_t errlen);
/* 1 when all the streams are being captured, 0 when none; -1 + sentence when
 * mixed or invalidated. Asked once per call, by the caller (it picks the staging
 * memory by it too). */
int gpu_proxy_capturing(struct gpu_proxy *p, void *const *streams, int nstreams, char *err, size_t errlen);

/* Stops taking work: eager works still queued complete as failed (their payloads
 * run with the proxy in "draining" state — see gpu_proxy_draining), every waiting
 * stream is released. Used by abort; safe from any thread. */
void gpu_proxy_release(struct gpu_proxy *p);
/* Nonzero once gpu_proxy_release ran: run functions should fail fast. */
int gpu_proxy_draining(const struct gpu_proxy *p);
/* Waits (at most timeout_us) until every queued eager work ran, then releases
 * and joins the thread and frees everything. abort: release first, no wait.
 * Returns 1 when a stream may still use staging memory (its copies out did not
 * finish in 2 s): the caller must not free that memory then. */
int gpu_proxy_destroy(struct gpu_proxy *p, int64_t timeout_us, int abort);

/* Counters for tests and perf tools. */
struct gpu_proxy_stats {
    uint64_t eager_run, persistent_run; /* works run */
    uint64_t memops, hostfn;            /* stream handshakes enqueued by mechanism */
};
void gpu_proxy_stats(const struct gpu_proxy *p, struct gpu_proxy_stats *s);

#endif
