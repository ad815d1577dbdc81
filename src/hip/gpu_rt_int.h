/* SPDX-License-Identifier: MIT */
/*
 * gpu_rt_int.h — what the common loader (gpu_rt.c) and the per-runtime loaders
 * (gpu_rt_hip.c, gpu_rt_cuda.c) share. Not for use outside src/hip.
 */
#ifndef HALO_GPU_RT_INT_H
#define HALO_GPU_RT_INT_H

#include <stddef.h>

#include "gpu_rt.h"

/* Outcome of trying one runtime. */
enum gpu_try {
    GPU_TRY_OK,     /* table filled */
    GPU_TRY_ABSENT, /* no such runtime here (err says why, for the explicit case) */
    GPU_TRY_FAIL    /* found but unusable: err holds the sentence */
};

/* One entry point to bind: its name, where the pointer goes, and whether the
 * table is unusable without it. */
struct gpu_sym {
    const char *name;
    void *slot;      /* address of a function pointer */
    int required;
};

/* dlopens override when non-empty, else the first of names[] that loads. path
 * receives the name that loaded (or, on failure, nothing); tried receives the
 * names tried with each dlerror, for the "not found" sentence. */
void *gpu_dl_open_first(const char *override, const char *const *names, int count, char *path, size_t pathlen,
                        char *tried, size_t triedlen);
/* Binds syms[0..n) from handle. Returns 0, or -1 with "LIB lacks NAME" in err for
 * the first required one missing; optional ones missing are left NULL. */
int gpu_dl_bind(void *handle, const char *lib, const struct gpu_sym *syms, int n, char *err, size_t errlen);

/* The runtimes: fill rt (kind, name, lib_path, versions, every function pointer,
 * device_count). explicit_ask: the user named this runtime (HALO_GPU_RUNTIME), so
 * a library that is absent or has no device is an error, not host mode. */
enum gpu_try gpu_rt_try_hip(struct gpu_rt *rt, const char *override, int explicit_ask, char *err, size_t errlen);
enum gpu_try gpu_rt_try_cuda(struct gpu_rt *rt, const char *override, int explicit_ask, char *err, size_t errlen);

#endif
