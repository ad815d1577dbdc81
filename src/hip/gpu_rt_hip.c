/* SPDX-License-Identifier: MIT */
/*
 * gpu_rt_hip.c — the HIP runtime (libamdhip64.so, ROCm 5, 6 or 7) behind the
 * neutral table.
 *
 * The entry points are bound with dlsym into hip_fn (written once, under the
 * loader's pthread_once); the table's functions are thin wrappers that translate
 * flags, attributes and pointer classes for the version that loaded (gpu_abi.h).
 * Stream memory operations get the host address of host_alloc memory as is: ROCm
 * maps pinned host memory into the GPU at the same address.
 */
#define HALO_ERR_SUBSYS HALO_SUB_GPU
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_abi.h"
#include "gpu_rt_int.h"

typedef int hip_err;

/* Process-wide, written once by gpu_rt_try_hip under the loader's pthread_once. */
static struct {
    hip_err (*runtime_version)(int *v);
    hip_err (*driver_version)(int *v);
    hip_err (*get_device_count)(int *n);
    hip_err (*get_device)(int *dev);
    hip_err (*set_device)(int dev);
    hip_err (*device_attr)(int *v, int attr, int dev);
    hip_err (*device_name)(char *name, int len, int dev);
    hip_err (*host_malloc)(void **p, size_t bytes, unsigned flags);     /* hipHostMalloc */
    hip_err (*ext_host_alloc)(void **p, size_t bytes, unsigned flags);  /* hipExtHostAlloc */
    hip_err (*host_alloc_cuda)(void **p, size_t bytes, unsigned flags); /* hipHostAlloc */
    hip_err (*host_free)(void *p);
    hip_err (*host_register)(void *p, size_t bytes, unsigned flags);
    hip_err (*host_unregister)(void *p);
    hip_err (*ptr_attr)(struct hipabi_ptr_attr *a, const void *p);
    hip_err (*memcpy_async)(void *dst, const void *src, size_t bytes, int kind, void *stream);
    hip_err (*stream_sync)(void *stream);
    hip_err (*write32)(void *stream, void *ptr, uint32_t value, unsigned flags);
    hip_err (*wait32)(void *stream, void *ptr, uint32_t value, unsigned flags, uint32_t mask);
    hip_err (*is_capturing)(void *stream, int *status);
    hip_err (*launch_host_fn)(void *stream, gpu_host_fn fn, void *arg);
    hip_err (*add_callback)(void *stream, void (*cb)(void *stream, hip_err status, void *arg), void *arg,
                            unsigned flags);
    hip_err (*event_create)(void **ev, unsigned flags);
    hip_err (*event_record)(void *ev, void *stream);
    hip_err (*event_query)(void *ev);
    hip_err (*event_sync)(void *ev);
    hip_err (*event_destroy)(void *ev);
    hip_err (*exchange_capture_mode)(int *mode);
    const char *(*error_string)(hip_err e);
    hip_err (*malloc)(void **p, size_t bytes);
    hip_err (*free)(void *p);
    hip_err (*malloc_managed)(void **p, size_t bytes, unsigned flags);
    hip_err (*stream_create)(void **stream, unsigned flags);
    hip_err (*stream_destroy)(void *stream);
    hip_err (*memset_async)(void *dst, int value, size_t bytes, void *stream);
    hip_err (*begin_capture)(void *stream, int mode);
    hip_err (*end_capture)(void *stream, void **graph);
    hip_err (*graph_instantiate)(void **exec, void *graph, unsigned long long flags);
    hip_err (*graph_launch)(void *exec, void *stream);
    hip_err (*graph_exec_destroy)(void *exec);
    hip_err (*graph_destroy)(void *graph);
} hip_fn;

static hip_err (*hip_host_alloc_fn)(void **p, size_t bytes, unsigned flags); /* the one that exists */
static int hip_rocm6;                                                        /* ROCm 6+ memory types */

static const char *const hip_names[] = {
    "libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so", "/opt/rocm/lib/libamdhip64.so",
};

#define HIP_REQ(f, n) { n, &hip_fn.f, 1 }
#define HIP_OPT(f, n) { n, &hip_fn.f, 0 }
static const struct gpu_sym hip_syms[] = {
    HIP_REQ(driver_version, "hipDriverGetVersion"),
    HIP_REQ(get_device_count, "hipGetDeviceCount"),
    HIP_REQ(get_device, "hipGetDevice"),
    HIP_REQ(set_device, "hipSetDevice"),
    HIP_REQ(device_attr, "hipDeviceGetAttribute"),
    HIP_OPT(device_name, "hipDeviceGetName"),
    HIP_OPT(host_malloc, "hipHostMalloc"),   /* deprecated since 6.x in favour of the next */
    HIP_OPT(ext_host_alloc, "hipExtHostAlloc"),
    HIP_OPT(host_alloc_cuda, "hipHostAlloc"),
    HIP_REQ(host_free, "hipHostFree"),
    HIP_REQ(host_register, "hipHostRegister"),
    HIP_REQ(host_unregister, "hipHostUnregister"),
    HIP_REQ(ptr_attr, "hipPointerGetAttributes"),
    HIP_REQ(memcpy_async, "hipMemcpyAsync"),
    HIP_REQ(stream_sync, "hipStreamSynchronize"),
    HIP_REQ(write32, "hipStreamWriteValue32"),
    HIP_REQ(wait32, "hipStreamWaitValue32"),
    HIP_REQ(is_capturing, "hipStreamIsCapturing"),
    HIP_OPT(launch_host_fn, "hipLaunchHostFunc"), /* absent in 5.2: hipStreamAddCallback */
    HIP_OPT(add_callback, "hipStreamAddCallback"),
    HIP_REQ(event_create, "hipEventCreateWithFlags"),
    HIP_REQ(event_record, "hipEventRecord"),
    HIP_REQ(event_query, "hipEventQuery"),
    HIP_REQ(event_sync, "hipEventSynchronize"),
    HIP_REQ(event_destroy, "hipEventDestroy"),
    HIP_REQ(exchange_capture_mode, "hipThreadExchangeStreamCaptureMode"),
    HIP_REQ(error_string, "hipGetErrorString"),
    HIP_OPT(malloc, "hipMalloc"),
    HIP_OPT(free, "hipFree"),
    HIP_OPT(malloc_managed, "hipMallocManaged"),
    HIP_OPT(stream_create, "hipStreamCreateWithFlags"),
    HIP_OPT(stream_destroy, "hipStreamDestroy"),
    HIP_OPT(memset_async, "hipMemsetAsync"),
    HIP_OPT(begin_capture, "hipStreamBeginCapture"),
    HIP_OPT(end_capture, "hipStreamEndCapture"),
    HIP_OPT(graph_instantiate, "hipGraphInstantiateWithFlags"),
    HIP_OPT(graph_launch, "hipGraphLaunch"),
    HIP_OPT(graph_exec_destroy, "hipGraphExecDestroy"),
    HIP_OPT(graph_destroy, "hipGraphDestroy"),
};

static int hip_device_attr(int *value, enum gpu_attr attr, int dev)
{
    static const int map[GPU_ATTR_COUNT] = {
        [GPU_ATTR_INTEGRATED] = HIPABI_ATTR_INTEGRATED,
        [GPU_ATTR_CAN_MAP_HOST] = HIPABI_ATTR_CAN_MAP_HOST_MEMORY,
        [GPU_ATTR_PAGEABLE_ACCESS] = HIPABI_ATTR_PAGEABLE_MEMORY_ACCESS,
        [GPU_ATTR_STREAM_MEM_OPS] = HIPABI_ATTR_CAN_USE_STREAM_WAIT_VALUE,
    };
    if ((unsigned)attr >= GPU_ATTR_COUNT)
        return HIPABI_ERR_INVALID_VALUE;
    return hip_fn.device_attr(value, map[attr], dev);
}

static int hip_host_alloc(void **p, size_t bytes)
{
    return hip_host_alloc_fn(p, bytes, HIPABI_HOST_MALLOC_MAPPED | HIPABI_HOST_MALLOC_PORTABLE);
}

static int hip_host_register(void *p, size_t bytes)
{
    return hip_fn.host_register(p, bytes, HIPABI_HOST_REGISTER_MAPPED | HIPABI_HOST_REGISTER_PORTABLE);
}

static enum gpu_mem_type hip_mem_type(const struct hipabi_ptr_attr *h)
{
    if (hip_rocm6) {
        switch (h->type) {
        case HIPABI6_MEM_HOST: return GPU_MEM_HOST;
        case HIPABI6_MEM_DEVICE:
        case HIPABI6_MEM_ARRAY: return GPU_MEM_DEVICE;
        case HIPABI6_MEM_MANAGED:
        case HIPABI6_MEM_UNIFIED: return GPU_MEM_MANAGED;
        default: return GPU_MEM_UNREGISTERED;
        }
    }
    if (h->is_managed || h->type == HIPABI5_MEM_MANAGED || h->type == HIPABI5_MEM_UNIFIED)
        return GPU_MEM_MANAGED;
    if (h->type == HIPABI5_MEM_DEVICE || h->type == HIPABI5_MEM_ARRAY)
        return GPU_MEM_DEVICE;
    return GPU_MEM_HOST;
}

/* ROCm 5 answers hipErrorInvalidValue for memory it does not know (6.0's header
 * still says so; 6.x runtimes answer Unregistered): both mean pageable memory. */
static int hip_ptr_attr(struct gpu_ptr_attr *a, const void *p)
{
    struct hipabi_ptr_attr h;
    memset(&h, 0, sizeof(h));
    hip_err e = hip_fn.ptr_attr(&h, p);
    if (e == HIPABI_ERR_INVALID_VALUE && p) {
        *a = (struct gpu_ptr_attr){ .type = GPU_MEM_UNREGISTERED, .device = -1 };
        return 0;
    }
    if (e != HIPABI_SUCCESS)
        return e;
    a->type = hip_mem_type(&h);
    a->device = a->type == GPU_MEM_UNREGISTERED ? -1 : h.device;
    a->dev_ptr = a->type == GPU_MEM_UNREGISTERED ? NULL : h.device_pointer;
    a->host_ptr = a->type == GPU_MEM_UNREGISTERED ? (void *)p : h.host_pointer;
    return 0;
}

static int hip_memcpy_async(void *dst, const void *src, size_t bytes, void *stream)
{
    return hip_fn.memcpy_async(dst, src, bytes, HIPABI_MEMCPY_DEFAULT, stream);
}

static int hip_write32(void *stream, volatile uint32_t *addr, uint32_t value)
{
    return hip_fn.write32(stream, (void *)addr, value, 0);
}

static int hip_wait32(void *stream, volatile uint32_t *addr, uint32_t value, enum gpu_wait_cond cond)
{
    unsigned flags = cond == GPU_WAIT_EQ ? HIPABI_WAIT_EQ : HIPABI_WAIT_GTE;
    return hip_fn.wait32(stream, (void *)addr, value, flags, HIPABI_WAIT_MASK_ALL);
}

static int hip_capturing(void *stream, enum gpu_capture *state)
{
    int s = 0;
    hip_err e = hip_fn.is_capturing(stream, &s);
    if (e == HIPABI_SUCCESS)
        *state = (enum gpu_capture)s; /* None 0, Active 1, Invalidated 2, as ours */
    return e;
}

/* ROCm 5.2 has no hipLaunchHostFunc: a stream callback calls the function (not
 * recordable under capture, unlike hipLaunchHostFunc). */
struct hip_cb {
    gpu_host_fn fn;
    void *arg;
};

static void hip_cb_trampoline(void *stream, hip_err status, void *arg)
{
    struct hip_cb c = *(struct hip_cb *)arg;
    free(arg);
    c.fn(c.arg);
}

static int hip_launch_host_fn_cb(void *stream, gpu_host_fn fn, void *arg)
{
    struct hip_cb *c = malloc(sizeof(*c));
    if (!c)
        return 2; /* hipErrorOutOfMemory */
    *c = (struct hip_cb){ fn, arg };
    hip_err e = hip_fn.add_callback(stream, hip_cb_trampoline, c, 0);
    if (e != HIPABI_SUCCESS)
        free(c);
    return e;
}

static int hip_event_create(void **ev)
{
    return hip_fn.event_create(ev, HIPABI_EVENT_DISABLE_TIMING);
}

static int hip_capture_relaxed(int *old)
{
    int mode = HIPABI_CAPTURE_MODE_RELAXED;
    hip_err e = hip_fn.exchange_capture_mode(&mode);
    if (e == HIPABI_SUCCESS)
        *old = mode;
    return e;
}

static int hip_capture_restore(int old)
{
    return hip_fn.exchange_capture_mode(&old);
}

static int hip_managed_alloc(void **p, size_t bytes)
{
    return hip_fn.malloc_managed(p, bytes, HIPABI_MEM_ATTACH_GLOBAL);
}

static int hip_stream_create(void **stream)
{
    return hip_fn.stream_create(stream, HIPABI_STREAM_NON_BLOCKING);
}

static int hip_capture_begin(void *stream)
{
    return hip_fn.begin_capture(stream, HIPABI_CAPTURE_MODE_RELAXED);
}

static int hip_graph_instantiate(void **exec, void *graph)
{
    return hip_fn.graph_instantiate(exec, graph, 0);
}

static void hip_fill_table(struct gpu_rt *rt)
{
    rt->kind = GPU_RT_HIP;
    rt->name = "HIP";
    rt->not_ready = HIPABI_ERR_NOT_READY;
    rt->get_device_count = hip_fn.get_device_count;
    rt->get_device = hip_fn.get_device;
    rt->set_device = hip_fn.set_device;
    rt->device_attr = hip_device_attr;
    rt->host_alloc = hip_host_alloc;
    rt->host_free = hip_fn.host_free;
    rt->host_register = hip_host_register;
    rt->host_unregister = hip_fn.host_unregister;
    rt->ptr_attr = hip_ptr_attr;
    rt->memcpy_async = hip_memcpy_async;
    rt->stream_sync = hip_fn.stream_sync;
    rt->stream_write32 = hip_write32;
    rt->stream_wait32 = hip_wait32;
    rt->stream_capturing = hip_capturing;
    rt->launch_host_fn = hip_fn.launch_host_fn ? hip_fn.launch_host_fn : hip_launch_host_fn_cb;
    rt->event_create = hip_event_create;
    rt->event_record = hip_fn.event_record;
    rt->event_query = hip_fn.event_query;
    rt->event_sync = hip_fn.event_sync;
    rt->event_destroy = hip_fn.event_destroy;
    rt->capture_mode_relaxed = hip_capture_relaxed;
    rt->capture_mode_restore = hip_capture_restore;
    rt->error_string = hip_fn.error_string;
    rt->dev_alloc = hip_fn.malloc;
    rt->dev_free = hip_fn.free;
    rt->managed_alloc = hip_fn.malloc_managed ? hip_managed_alloc : NULL;
    rt->stream_create = hip_fn.stream_create ? hip_stream_create : NULL;
    rt->stream_destroy = hip_fn.stream_destroy;
    rt->memset_async = hip_fn.memset_async;
    rt->capture_begin = hip_fn.begin_capture ? hip_capture_begin : NULL;
    rt->capture_end = hip_fn.end_capture;
    rt->graph_instantiate = hip_fn.graph_instantiate ? hip_graph_instantiate : NULL;
    rt->graph_launch = hip_fn.graph_launch;
    rt->graph_exec_destroy = hip_fn.graph_exec_destroy;
    rt->graph_destroy = hip_fn.graph_destroy;
}

/* Devices first, before the rest of the table is bound: under auto a HIP library
 * on a node without a GPU means host mode, whatever else it lacks. */
static enum gpu_try hip_has_device(void *h, struct gpu_rt *rt, int explicit_ask, char *err, size_t errlen)
{
    const struct gpu_sym first[] = {
        HIP_REQ(get_device_count, "hipGetDeviceCount"),
        HIP_REQ(error_string, "hipGetErrorString"),
    };
    if (gpu_dl_bind(h, rt->lib_path, first, 2, err, errlen) != 0)
        return GPU_TRY_FAIL;
    hip_err e = hip_fn.runtime_version(&rt->runtime_version);
    if (e == HIPABI_SUCCESS)
        e = hip_fn.get_device_count(&rt->device_count);
    if (e == HIPABI_SUCCESS && rt->device_count < 1)
        e = HIPABI_ERR_NO_DEVICE;
    if (e != HIPABI_SUCCESS) {
        snprintf(err, errlen, "the HIP runtime %s reports no usable device (%s, error %d)%s", rt->lib_path,
                 hip_fn.error_string(e), e,
                 explicit_ask ? "; HALO_GPU_RUNTIME=none runs without a GPU" : "");
        return explicit_ask ? GPU_TRY_FAIL : GPU_TRY_ABSENT;
    }
    return GPU_TRY_OK;
}

/* The rest of what the INFO line and the translations need. */
static enum gpu_try hip_probe(struct gpu_rt *rt, int explicit_ask, char *err, size_t errlen)
{
    hip_err e = hip_fn.driver_version(&rt->driver_version);
    if (e != HIPABI_SUCCESS) {
        snprintf(err, errlen, "the HIP runtime %s: hipDriverGetVersion failed (%s, error %d)", rt->lib_path,
                 hip_fn.error_string(e), e);
        return GPU_TRY_FAIL;
    }
    hip_rocm6 = rt->runtime_version >= HIPABI_VERSION_6;
    if (hip_fn.device_name && hip_fn.device_name(rt->device0_name, sizeof(rt->device0_name), 0) != 0)
        rt->device0_name[0] = '\0';
    return GPU_TRY_OK;
}

enum gpu_try gpu_rt_try_hip(struct gpu_rt *rt, const char *override, int explicit_ask, char *err, size_t errlen)
{
    char tried[512];
    void *h = gpu_dl_open_first(override, hip_names, (int)(sizeof(hip_names) / sizeof(hip_names[0])), rt->lib_path,
                                sizeof(rt->lib_path), tried, sizeof(tried));
    if (!h) {
        snprintf(err, errlen, "no HIP runtime found: tried %s; set HALO_GPU_LIBRARY to the path of libamdhip64.so",
                 tried);
        return explicit_ask ? GPU_TRY_FAIL : GPU_TRY_ABSENT;
    }
    /* A library without hipRuntimeGetVersion is not HIP (auto may be handed a
     * libcudart through HALO_GPU_LIBRARY). */
    const struct gpu_sym marker = { "hipRuntimeGetVersion", &hip_fn.runtime_version, 1 };
    if (gpu_dl_bind(h, rt->lib_path, &marker, 1, err, errlen) != 0) {
        dlclose(h); /* never called into */
        return explicit_ask ? GPU_TRY_FAIL : GPU_TRY_ABSENT;
    }
    enum gpu_try t = hip_has_device(h, rt, explicit_ask, err, errlen);
    if (t != GPU_TRY_OK)
        return t;
    if (gpu_dl_bind(h, rt->lib_path, hip_syms, (int)(sizeof(hip_syms) / sizeof(hip_syms[0])), err, errlen) != 0)
        return GPU_TRY_FAIL;
    if (!hip_fn.launch_host_fn && !hip_fn.add_callback) {
        snprintf(err, errlen, "the GPU runtime library %s lacks hipLaunchHostFunc and hipStreamAddCallback (one is "
                 "needed); HALO_GPU_LIBRARY names another library", rt->lib_path);
        return GPU_TRY_FAIL;
    }
    hip_host_alloc_fn = hip_fn.host_malloc ? hip_fn.host_malloc
                        : hip_fn.ext_host_alloc ? hip_fn.ext_host_alloc : hip_fn.host_alloc_cuda;
    if (!hip_host_alloc_fn) {
        snprintf(err, errlen, "the GPU runtime library %s lacks hipHostMalloc, hipExtHostAlloc and hipHostAlloc "
                 "(one is needed); HALO_GPU_LIBRARY names another library", rt->lib_path);
        return GPU_TRY_FAIL;
    }
    hip_fill_table(rt);
    return hip_probe(rt, explicit_ask, err, errlen);
}
