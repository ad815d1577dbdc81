/* SPDX-License-Identifier: MIT */
/*
 * gpu_mem.h — what a communicator keeps for GPU buffers: its progress thread,
 * its device, and the pinned (GTT) staging pool the progress thread copies
 * device buffers through; and the classification of a user's pointer.
 *
 * Costs: the pool (HALO_POOL_SIZE, 32 MiB by default) and 256 KiB of stream flags,
 * both pinned, plus two copy streams and eight events — allocated at the first
 * call that needs them. Calls whose staged buffers exceed a pool slot outside the
 * pipelined collectives (groups, point to point, all-gather, reduce-scatter) grow
 * a separate arena to their size, freed with the communicator.
 */
#ifndef HALO_GPU_MEM_H
#define HALO_GPU_MEM_H

#include <pthread.h>
#include <stddef.h>

#include "gpu_rt.h"
#include "gpu_stream.h"

/* Where a buffer's bytes can be touched by the CPU. */
struct gpu_buf {
    enum gpu_mem_type type;
    void *host;                 /* CPU address, or NULL: device memory to stage */
};

#define GPU_PTR_CACHE 16

struct gpu_comm {
    const struct gpu_rt *rt;
    int device;                 /* the device current when the first GPU call came */
    struct gpu_proxy *proxy;
    /* Staging memory, chosen by the calling thread; the copies run on the
     * caller's streams (gpu_stream.h, struct gpu_copies). */
    size_t pool_bytes;          /* HALO_POOL_SIZE */
    void *pool;                 /* pinned: the shared staging area of calls that fit */
    void *arena;                /* pinned: the shared staging area of larger calls */
    size_t arena_bytes;
    int arena_warned;
    void **retired;             /* smaller arenas and captured calls' own areas, freed at destroy */
    int nretired;
    /* Recent classifications (calling thread only): pointer attributes cost a
     * runtime call each, on the latency path of small calls. */
    const void *cache_ptr[GPU_PTR_CACHE];
    struct gpu_buf cache_buf[GPU_PTR_CACHE];
    unsigned cache_next;
};

/* Classifies p (of `bytes`, for sentences) for a communicator on `device`.
 * Returns 0, or -1 with a sentence: memory of another device. */
int gpu_classify(const struct gpu_rt *rt, int device, const void *p, struct gpu_buf *out, char *err, size_t errlen);
/* Pinned memory is allocated and freed only on the calling thread, before the
 * call's stream operations are enqueued, and freed only at destroy: CUDA
 * synchronises the device when pinned memory is allocated or freed, and a
 * progress thread doing so while a stream waits for it would wait forever. */
/* gpu_classify through g's cache and the haloMemAlloc registry. The cache keeps
 * only "device memory, staged" answers: staging (a runtime copy) is right for
 * any memory, so an address freed and handed out again as another kind is still
 * handled correctly; an "in place" answer could turn into a CPU access to device
 * memory, so it is asked again every time — except for haloMemAlloc memory,
 * which this library allocated and frees and so knows exactly. */
/* Nonzero when p lies in a live haloMemAlloc allocation. */
int gpu_memalloc_lookup(const void *p);
int gpu_classify_cached(struct gpu_comm *g, const void *p, struct gpu_buf *out, char *err, size_t errlen);
/* Allocates the pool on first use. 0 or -1 + sentence. */
int gpu_stage_ready(struct gpu_comm *g, char *err, size_t errlen);
/* The shared staging area for a call of `bytes`: the pool when it fits, else a
 * pinned arena of at least bytes (a larger one replaces it; the old one is kept
 * until destroy, as a work still queued may use it). NULL + sentence. */
void *gpu_stage_shared(struct gpu_comm *g, size_t bytes, int rank, char *err, size_t errlen);
/* Pinned memory of the call's own (a captured call: every replay uses it), kept
 * until destroy. NULL + sentence. */
void *gpu_stage_private(struct gpu_comm *g, size_t bytes, char *err, size_t errlen);
/* Stops the progress thread (gpu_proxy_destroy) and frees everything. */
void gpu_comm_destroy(struct gpu_comm *g, int64_t timeout_us, int abort);

#endif
