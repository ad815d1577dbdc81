/* SPDX-License-Identifier: MIT */
/*
 * perf_gpu.c — the benchmarks' GPU buffers (perf_gpu.h).
 */
#include "perf_gpu.h"

#include <stdio.h>

#include "gpu_rt.h"
#include "haloccl.h"

static const struct gpu_rt *rt;

int perf_gpu_setup(const char *tool, int rank, void **stream)
{
    char err[512];
    if (gpu_rt_load(&rt, err, sizeof(err)) != 0 || !rt) {
        fprintf(stderr, "%s: rank %d: --gpu needs a GPU runtime: %s\n", tool, rank,
                rt ? "" : "none loaded (HALO_GPU_RUNTIME, HALO_GPU_LIBRARY)");
        if (!rt && err[0])
            fprintf(stderr, "%s: %s\n", tool, err);
        return -1;
    }
    int e = rt->stream_create ? rt->stream_create(stream) : -1;
    if (e) {
        fprintf(stderr, "%s: rank %d: %s stream create failed\n", tool, rank, rt->name);
        return -1;
    }
    return 0;
}

void perf_gpu_describe(char *buf, size_t len)
{
    if (rt)
        gpu_rt_describe(rt, buf, len);
    else
        snprintf(buf, len, "none");
}

void *perf_gpu_alloc(enum perf_mem m, size_t bytes)
{
    void *p = NULL;
    int e = 0;
    switch (m) {
    case PERF_MEM_DEVICE: e = rt->dev_alloc ? rt->dev_alloc(&p, bytes) : -1; break;
    case PERF_MEM_PINNED: e = rt->host_alloc(&p, bytes); break;
    case PERF_MEM_MEMALLOC: e = haloMemAlloc(&p, bytes) != haloSuccess; break;
    default: return NULL;
    }
    return e ? NULL : p;
}

void perf_gpu_free(enum perf_mem m, void *p)
{
    if (!p)
        return;
    switch (m) {
    case PERF_MEM_DEVICE: rt->dev_free(p); break;
    case PERF_MEM_PINNED: rt->host_free(p); break;
    case PERF_MEM_MEMALLOC: haloMemFree(p); break;
    default: break;
    }
}

int perf_gpu_copy(void *dst, const void *src, size_t bytes, void *stream)
{
    if (bytes && rt->memcpy_async(dst, src, bytes, stream) != 0)
        return -1;
    return perf_gpu_sync(stream);
}

int perf_gpu_sync(void *stream)
{
    return rt->stream_sync(stream) != 0 ? -1 : 0;
}
