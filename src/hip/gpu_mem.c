/* SPDX-License-Identifier: MIT */
/*
 * gpu_mem.c — pointer classes, the staging pool, and haloMemAlloc/haloMemFree.
 */
#define HALO_ERR_SUBSYS HALO_SUB_GPU
#include "gpu_mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

int gpu_classify(const struct gpu_rt *rt, int device, const void *p, struct gpu_buf *out, char *err, size_t errlen)
{
    struct gpu_ptr_attr a;
    memset(&a, 0, sizeof(a));
    out->type = GPU_MEM_UNREGISTERED;
    out->host = (void *)p;
    if (!p || rt->ptr_attr(&a, p) != 0)
        return 0; /* unknown to the runtime: pageable host memory */
    out->type = a.type;
    switch (a.type) {
    case GPU_MEM_DEVICE:
        if (a.device != device) {
            snprintf(err, errlen, "buffer %p is memory of GPU %d, but the communicator runs on GPU %d (the device "
                     "current when it made its first GPU call); pass buffers of that device", p, a.device, device);
            return -1;
        }
        out->host = a.host_ptr; /* an integrated GPU may map it for the CPU; else staged */
        return 0;
    case GPU_MEM_HOST:
        out->host = a.host_ptr ? a.host_ptr : (void *)p;
        return 0;
    default:
        return 0; /* managed and pageable memory: the CPU reaches them directly */
    }
}

/* ---- haloMemAlloc's registry: [base, base + size) of every live allocation ---- */

struct memalloc_range {
    const char *base;
    size_t size;
    int pinned; /* from the runtime's host alloc; else posix_memalign (no runtime) */
};
static pthread_mutex_t memalloc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct memalloc_range *memalloc_ranges;
static int memalloc_n, memalloc_cap;

static int gpu_memalloc_add(const void *p, size_t size, int pinned)
{
    pthread_mutex_lock(&memalloc_lock);
    if (memalloc_n == memalloc_cap) {
        int cap = memalloc_cap ? 2 * memalloc_cap : 16;
        struct memalloc_range *r = realloc(memalloc_ranges, (size_t)cap * sizeof(*r));
        if (!r) {
            pthread_mutex_unlock(&memalloc_lock);
            return -1;
        }
        memalloc_ranges = r;
        memalloc_cap = cap;
    }
    memalloc_ranges[memalloc_n++] = (struct memalloc_range){p, size, pinned};
    pthread_mutex_unlock(&memalloc_lock);
    return 0;
}

/* Forgets the allocation starting at p: 1 pinned, 0 host, -1 not one of ours. */
static int gpu_memalloc_remove(const void *p)
{
    int kind = -1;
    pthread_mutex_lock(&memalloc_lock);
    for (int i = 0; i < memalloc_n; i++)
        if (memalloc_ranges[i].base == p) {
            kind = memalloc_ranges[i].pinned;
            memalloc_ranges[i] = memalloc_ranges[--memalloc_n];
            break;
        }
    pthread_mutex_unlock(&memalloc_lock);
    return kind;
}

int gpu_memalloc_lookup(const void *p)
{
    const char *q = p;
    int found = 0;
    pthread_mutex_lock(&memalloc_lock);
    for (int i = 0; i < memalloc_n && !found; i++)
        found = q >= memalloc_ranges[i].base && q < memalloc_ranges[i].base + memalloc_ranges[i].size;
    pthread_mutex_unlock(&memalloc_lock);
    return found;
}

int gpu_classify_cached(struct gpu_comm *g, const void *p, struct gpu_buf *out, char *err, size_t errlen)
{
    for (int i = 0; i < GPU_PTR_CACHE; i++)
        if (g->cache_ptr[i] == p && p) {
            *out = g->cache_buf[i];
            return 0;
        }
    if (gpu_memalloc_lookup(p)) {
        out->type = GPU_MEM_HOST;
        out->host = (void *)p;
        return 0;
    }
    if (gpu_classify(g->rt, g->device, p, out, err, errlen) != 0)
        return -1;
    if (p && out->type == GPU_MEM_DEVICE && !out->host) {
        unsigned i = g->cache_next++ % GPU_PTR_CACHE;
        g->cache_ptr[i] = p;
        g->cache_buf[i] = *out;
    }
    return 0;
}

int gpu_stage_ready(struct gpu_comm *g, char *err, size_t errlen)
{
    const struct gpu_rt *rt = g->rt;
    if (g->pool)
        return 0;
    void *pool = NULL;
    int e = rt->host_alloc(&pool, g->pool_bytes);
    if (e) {
        snprintf(err, errlen, "%s could not pin %zu bytes for the staging pool (%s); lower HALO_POOL_SIZE", rt->name,
                 g->pool_bytes, rt->error_string(e));
        return -1;
    }
    g->pool = pool;
    return 0;
}

static int gpu_retire(struct gpu_comm *g, void *p, char *err, size_t errlen)
{
    void **r = realloc(g->retired, (size_t)(g->nretired + 1) * sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g->retired = r;
    g->retired[g->nretired++] = p;
    return 0;
}

void *gpu_stage_shared(struct gpu_comm *g, size_t bytes, int rank, char *err, size_t errlen)
{
    if (bytes <= g->pool_bytes)
        return g->pool;
    if (bytes <= g->arena_bytes)
        return g->arena;
    const struct gpu_rt *rt = g->rt;
    if (g->arena && gpu_retire(g, g->arena, err, errlen) != 0)
        return NULL;
    g->arena = NULL;
    g->arena_bytes = 0;
    size_t want = (bytes + 4095) / 4096 * 4096;
    if (want < 2 * bytes && want < (size_t)1 << 40)
        want = (bytes + bytes / 2 + 4095) / 4096 * 4096; /* headroom: fewer replacements */
    int e = rt->host_alloc(&g->arena, want);
    if (e) {
        g->arena = NULL;
        snprintf(err, errlen, "%s could not pin %zu bytes to stage a call's device buffers (%s)", rt->name, want,
                 rt->error_string(e));
        return NULL;
    }
    g->arena_bytes = want;
    if (!g->arena_warned) {
        g->arena_warned = 1;
        HLOG_INFO(HALO_SUB_GPU, rank, "staging a call of %zu device bytes outside the pool (HALO_POOL_SIZE): %zu "
                  "bytes pinned until the communicator is destroyed", bytes, want);
    }
    return g->arena;
}

void *gpu_stage_private(struct gpu_comm *g, size_t bytes, char *err, size_t errlen)
{
    const struct gpu_rt *rt = g->rt;
    void *p = NULL;
    /* The caller's thread is capturing: in the global capture mode (torch's
     * default) an allocation would invalidate the capture. */
    int old_mode = 0, relaxed = rt->capture_mode_relaxed && rt->capture_mode_relaxed(&old_mode) == 0;
    int e = rt->host_alloc(&p, bytes ? bytes : 64);
    if (relaxed && rt->capture_mode_restore)
        rt->capture_mode_restore(old_mode);
    if (e) {
        snprintf(err, errlen, "%s could not pin %zu bytes to stage a captured call's device buffers (%s)", rt->name,
                 bytes, rt->error_string(e));
        return NULL;
    }
    if (gpu_retire(g, p, err, errlen) != 0) {
        rt->host_free(p);
        return NULL;
    }
    return p;
}

void gpu_comm_destroy(struct gpu_comm *g, int64_t timeout_us, int abort)
{
    if (!g)
        return;
    int busy = gpu_proxy_destroy(g->proxy, timeout_us, abort);
    const struct gpu_rt *rt = g->rt;
    if (busy) { /* left allocated: a stream may still copy out of it */
        g->pool = g->arena = NULL;
        g->nretired = 0;
    }
    if (g->pool)
        rt->host_free(g->pool);
    if (g->arena)
        rt->host_free(g->arena);
    for (int i = 0; i < g->nretired; i++)
        rt->host_free(g->retired[i]);
    free(g->retired);
    free(g);
}

/* ---- haloMemAlloc / haloMemFree ---- */

HALO_API haloResult_t haloMemAlloc(void **ptr, size_t size)
{
    if (!ptr)
        return halo_error(NULL, haloInvalidArgument, "haloMemAlloc: ptr is NULL");
    *ptr = NULL;
    if (size == 0)
        return haloSuccess;
    char err[512];
    const struct gpu_rt *rt = NULL;
    if (gpu_rt_load(&rt, err, sizeof(err)) != 0)
        return halo_error(NULL, haloUnhandledCudaError, "haloMemAlloc: %s", err);
    if (!rt) { /* host mode: page-aligned host memory, usable with stream NULL */
        long pg = sysconf(_SC_PAGESIZE);
        if (posix_memalign(ptr, pg > 0 ? (size_t)pg : 4096, size) != 0) {
            *ptr = NULL;
            return halo_error(NULL, haloSystemError, "haloMemAlloc: out of memory allocating %zu bytes", size);
        }
    } else {
        int e = rt->host_alloc(ptr, size);
        if (e) {
            *ptr = NULL;
            return halo_error(NULL, haloUnhandledCudaError, "haloMemAlloc: %s could not allocate %zu bytes of "
                              "pinned mapped memory (%s)", rt->name, size, rt->error_string(e));
        }
    }
    if (gpu_memalloc_add(*ptr, size, rt != NULL) != 0) {
        if (rt)
            rt->host_free(*ptr);
        else
            free(*ptr);
        *ptr = NULL;
        return halo_error(NULL, haloSystemError, "haloMemAlloc: out of memory");
    }
    return haloSuccess;
}

HALO_API haloResult_t haloMemFree(void *ptr)
{
    if (!ptr)
        return haloSuccess;
    /* Only what haloMemAlloc handed out (its start address) is freed: anything
     * else is refused before it reaches free() or the runtime. */
    int kind = gpu_memalloc_remove(ptr);
    if (kind < 0)
        return halo_error(NULL, haloInvalidArgument, "haloMemFree: %p is not the start of a live haloMemAlloc "
                          "allocation (freed twice, or from another allocator)", ptr);
    if (!kind) {
        free(ptr);
        return haloSuccess;
    }
    const struct gpu_rt *rt = gpu_rt_get();
    int e = rt->host_free(ptr);
    if (e)
        return halo_error(NULL, haloSystemError, "haloMemFree: %s could not free %p (%s)", rt->name, ptr,
                          rt->error_string(e));
    return haloSuccess;
}
