/* SPDX-License-Identifier: MIT */
/*
 * perf_gpu.h — GPU buffers and a stream for the benchmarks' --gpu option, through
 * the library's runtime table (the only part of perf/ that reads internals).
 */
#ifndef HALO_PERF_GPU_H
#define HALO_PERF_GPU_H

#include <stddef.h>

enum perf_mem { PERF_MEM_HOST = 0, PERF_MEM_DEVICE, PERF_MEM_PINNED, PERF_MEM_MEMALLOC };

/* Loads the runtime and creates the stream calls are issued on. 0, or -1 with a
 * sentence on stderr. */
int perf_gpu_setup(const char *tool, int rank, void **stream);
/* "CUDA 13.0 (libcudart.so.13), device 0" for the header. */
void perf_gpu_describe(char *buf, size_t len);
void *perf_gpu_alloc(enum perf_mem m, size_t bytes);
void perf_gpu_free(enum perf_mem m, void *p);
/* Stream-ordered copy then a wait for the stream: 0 or -1. */
int perf_gpu_copy(void *dst, const void *src, size_t bytes, void *stream);
int perf_gpu_sync(void *stream);

#endif
