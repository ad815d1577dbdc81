/* SPDX-License-Identifier: MIT */
/*
 * gpu_rt.h — the GPU runtime table: the few HIP or CUDA functions haloccl uses,
 * loaded at run time with dlopen (never linked) and presented in one neutral shape.
 *
 * HIP comes from libamdhip64.so (ROCm 5, 6 or 7); CUDA from libcudart.so plus
 * libcuda.so.1 for the stream memory operations. The loader reads each runtime's
 * struct layouts and enum values for the version it loaded and translates them
 * into the types below, so nothing above this file knows which runtime runs.
 *
 * Every function returns 0 on success or the runtime's own error code (pass it to
 * error_string). The table is process-wide and immutable once loaded.
 */
#ifndef HALO_GPU_RT_H
#define HALO_GPU_RT_H

#include <stddef.h>
#include <stdint.h>

enum gpu_rt_kind { GPU_RT_NONE = 0, GPU_RT_HIP, GPU_RT_CUDA };

/* What a pointer is, as the runtime reports it. */
enum gpu_mem_type {
    GPU_MEM_UNREGISTERED = 0, /* not known to the runtime: pageable host memory */
    GPU_MEM_HOST,             /* pinned host memory (host alloc or host register) */
    GPU_MEM_DEVICE,           /* device memory */
    GPU_MEM_MANAGED           /* managed (unified) memory */
};

struct gpu_ptr_attr {
    enum gpu_mem_type type;
    int device;        /* owning device; -1 for unregistered memory */
    void *dev_ptr;     /* the device's address for it (NULL when none) */
    void *host_ptr;    /* the host's address for it (NULL when the host cannot map it) */
};

/* Device attributes the GPU layer asks about (translated to each runtime's value). */
enum gpu_attr {
    GPU_ATTR_INTEGRATED,        /* an APU: device memory is system memory */
    GPU_ATTR_CAN_MAP_HOST,      /* host memory can be mapped into the device */
    GPU_ATTR_PAGEABLE_ACCESS,   /* the device can access pageable host memory */
    GPU_ATTR_STREAM_MEM_OPS,    /* stream write/wait value 32 are supported */
    GPU_ATTR_COUNT
};

/* Stream wait conditions; the values of both runtimes. GEQ differs: CUDA's is a
 * cyclic 32-bit compare ((int32_t)(*addr - value) >= 0), HIP documents a plain
 * unsigned (*addr & mask) >= value. Counters waited on with GEQ must not wrap. */
enum gpu_wait_cond { GPU_WAIT_GEQ = 0, GPU_WAIT_EQ = 1 };

/* Stream capture state (equal in both runtimes). */
enum gpu_capture { GPU_CAPTURE_NONE = 0, GPU_CAPTURE_ACTIVE = 1, GPU_CAPTURE_INVALIDATED = 2 };

typedef void (*gpu_host_fn)(void *arg);

struct gpu_rt {
    enum gpu_rt_kind kind;
    const char *name;          /* "HIP" or "CUDA" */
    char lib_path[256];        /* the runtime library dlopen found */
    int runtime_version;       /* as the runtime reports it (e.g. 60443483, 13000) */
    int driver_version;
    int not_ready;             /* the runtime's "not ready" code (event_query pending) */

    /* ---- used by the library ---- */
    int (*get_device_count)(int *n);
    int (*get_device)(int *dev);
    int (*set_device)(int dev);
    int (*device_attr)(int *value, enum gpu_attr attr, int dev);
    int (*host_alloc)(void **p, size_t bytes);      /* pinned, mapped, portable */
    int (*host_free)(void *p);
    int (*host_register)(void *p, size_t bytes);    /* pinned, mapped, portable */
    int (*host_unregister)(void *p);
    int (*ptr_attr)(struct gpu_ptr_attr *a, const void *p);
    int (*memcpy_async)(void *dst, const void *src, size_t bytes, void *stream); /* direction from the pointers */
    int (*stream_sync)(void *stream);
    /* addr lies in memory from host_alloc (the loader passes the device address the
     * runtime needs). */
    int (*stream_write32)(void *stream, volatile uint32_t *addr, uint32_t value);
    int (*stream_wait32)(void *stream, volatile uint32_t *addr, uint32_t value, enum gpu_wait_cond cond);
    int (*stream_capturing)(void *stream, enum gpu_capture *state);
    int (*launch_host_fn)(void *stream, gpu_host_fn fn, void *arg);
    int (*event_create)(void **ev);                 /* timing disabled */
    int (*event_record)(void *ev, void *stream);
    int (*event_query)(void *ev);                   /* 0 done, not_ready pending, else an error */
    int (*event_sync)(void *ev);
    int (*event_destroy)(void *ev);
    /* The calling thread's capture mode becomes relaxed (so our calls never
     * invalidate an application's capture); *old receives the previous mode for
     * capture_mode_restore. */
    int (*capture_mode_relaxed)(int *old);
    int (*capture_mode_restore)(int old);
    const char *(*error_string)(int err);

    /* ---- used by tests and perf tools only; NULL when the runtime lacks them ---- */
    int (*dev_alloc)(void **p, size_t bytes);
    int (*dev_free)(void *p);
    int (*managed_alloc)(void **p, size_t bytes);
    int (*stream_create)(void **stream);            /* non-blocking stream */
    int (*stream_destroy)(void *stream);
    int (*memset_async)(void *dst, int byte, size_t bytes, void *stream);
    int (*capture_begin)(void *stream);             /* relaxed mode */
    int (*capture_end)(void *stream, void **graph);
    int (*graph_instantiate)(void **exec, void *graph);
    int (*graph_launch)(void *exec, void *stream);
    int (*graph_exec_destroy)(void *exec);
    int (*graph_destroy)(void *graph);

    /* ---- facts read at load, for logs and tools ---- */
    int device_count;          /* at least 1 */
    char device0_name[64];     /* "" when the runtime could not say cheaply */
};

/*
 * Loads the runtime once per process, as HALO_GPU_RUNTIME (auto|hip|cuda|none)
 * and HALO_GPU_LIBRARY (a path that replaces the default library names) say.
 * Returns 0 with *rt set, or with *rt = NULL when there is no runtime (none
 * asked, or auto found none: host mode). Returns -1 with a sentence in err when a
 * runtime was asked for and not found, or when the library lacks a function the
 * table needs (the sentence names it and the library). Later calls return the
 * first call's outcome. Thread-safe.
 */
int gpu_rt_load(const struct gpu_rt **rt, char *err, size_t errlen);
/* The loaded table, or NULL (host mode or not loaded yet). */
const struct gpu_rt *gpu_rt_get(void);
/* "HIP 6.4.43483 (libamdhip64.so.6), driver 60443483" — for INFO lines. */
void gpu_rt_describe(const struct gpu_rt *rt, char *buf, size_t len);

#endif
