/* SPDX-License-Identifier: MIT */
/*
 * gpu_rt_cuda.c — the CUDA runtime (libcudart.so 12 or 13) plus the driver
 * (libcuda.so.1) behind the neutral table.
 *
 * The runtime gives everything but the stream memory operations, which exist only
 * in the driver API (cuStreamWriteValue32_v2 / cuStreamWaitValue32_v2, taking a
 * CUdeviceptr). A cudaStream_t is a CUstream, so the same handle goes to both.
 * The address of host_alloc memory is turned into its device address with
 * cudaHostGetDevicePointer on every call: under UVA it is the same number, but
 * asking costs a table lookup and stays right where UVA is off.
 */
#define HALO_ERR_SUBSYS HALO_SUB_GPU
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "gpu_abi.h"
#include "gpu_rt_int.h"

typedef int cuda_err;
typedef unsigned long long cu_devptr;

/* Process-wide, written once by gpu_rt_try_cuda under the loader's pthread_once. */
static struct {
    cuda_err (*runtime_version)(int *v);
    cuda_err (*driver_version)(int *v);
    cuda_err (*get_device_count)(int *n);
    cuda_err (*get_device)(int *dev);
    cuda_err (*set_device)(int dev);
    cuda_err (*device_attr)(int *v, int attr, int dev);
    cuda_err (*host_alloc)(void **p, size_t bytes, unsigned flags);
    cuda_err (*host_free)(void *p);
    cuda_err (*host_register)(void *p, size_t bytes, unsigned flags);
    cuda_err (*host_unregister)(void *p);
    cuda_err (*host_dev_ptr)(void **dev, void *host, unsigned flags);
    cuda_err (*ptr_attr)(void *attr, const void *p);
    cuda_err (*memcpy_async)(void *dst, const void *src, size_t bytes, int kind, void *stream);
    cuda_err (*stream_sync)(void *stream);
    cuda_err (*is_capturing)(void *stream, int *status);
    cuda_err (*launch_host_fn)(void *stream, gpu_host_fn fn, void *arg);
    cuda_err (*event_create)(void **ev, unsigned flags);
    cuda_err (*event_record)(void *ev, void *stream);
    cuda_err (*event_query)(void *ev);
    cuda_err (*event_sync)(void *ev);
    cuda_err (*event_destroy)(void *ev);
    cuda_err (*exchange_capture_mode)(int *mode);
    const char *(*error_string)(cuda_err e);
    cuda_err (*malloc)(void **p, size_t bytes);
    cuda_err (*free)(void *p);
    cuda_err (*malloc_managed)(void **p, size_t bytes, unsigned flags);
    cuda_err (*stream_create)(void **stream, unsigned flags);
    cuda_err (*stream_destroy)(void *stream);
    cuda_err (*memset_async)(void *dst, int value, size_t bytes, void *stream);
    cuda_err (*begin_capture)(void *stream, int mode);
    cuda_err (*end_capture)(void *stream, void **graph);
    cuda_err (*graph_instantiate)(void **exec, void *graph, unsigned long long flags);
    cuda_err (*graph_launch)(void *exec, void *stream);
    cuda_err (*graph_exec_destroy)(void *exec);
    cuda_err (*graph_destroy)(void *graph);
} cuda_fn;

/* The driver's part (libcuda.so.1). */
static struct {
    int (*write32)(void *stream, cu_devptr addr, uint32_t value, unsigned flags);
    int (*wait32)(void *stream, cu_devptr addr, uint32_t value, unsigned flags);
    int (*device_get)(int *dev, int ordinal);
    int (*device_name)(char *name, int len, int dev);
} cu_fn;

static const char *const cuda_names[] = {
    "libcudart.so.13", "libcudart.so.12", "libcudart.so",
    "/usr/local/cuda/lib64/libcudart.so.13", "/usr/local/cuda/lib64/libcudart.so.12",
    "/usr/local/cuda/lib64/libcudart.so",
};
static const char *const cu_names[] = { "libcuda.so.1" };

#define CUDA_REQ(f, n) { n, &cuda_fn.f, 1 }
#define CUDA_OPT(f, n) { n, &cuda_fn.f, 0 }
static const struct gpu_sym cuda_syms[] = {
    CUDA_REQ(driver_version, "cudaDriverGetVersion"),
    CUDA_REQ(get_device_count, "cudaGetDeviceCount"),
    CUDA_REQ(get_device, "cudaGetDevice"),
    CUDA_REQ(set_device, "cudaSetDevice"),
    CUDA_REQ(device_attr, "cudaDeviceGetAttribute"),
    CUDA_REQ(host_alloc, "cudaHostAlloc"),
    CUDA_REQ(host_free, "cudaFreeHost"),
    CUDA_REQ(host_register, "cudaHostRegister"),
    CUDA_REQ(host_unregister, "cudaHostUnregister"),
    CUDA_REQ(host_dev_ptr, "cudaHostGetDevicePointer"),
    CUDA_REQ(ptr_attr, "cudaPointerGetAttributes"),
    CUDA_REQ(memcpy_async, "cudaMemcpyAsync"),
    CUDA_REQ(stream_sync, "cudaStreamSynchronize"),
    CUDA_REQ(is_capturing, "cudaStreamIsCapturing"),
    CUDA_REQ(launch_host_fn, "cudaLaunchHostFunc"),
    CUDA_REQ(event_create, "cudaEventCreateWithFlags"),
    CUDA_REQ(event_record, "cudaEventRecord"),
    CUDA_REQ(event_query, "cudaEventQuery"),
    CUDA_REQ(event_sync, "cudaEventSynchronize"),
    CUDA_REQ(event_destroy, "cudaEventDestroy"),
    CUDA_REQ(exchange_capture_mode, "cudaThreadExchangeStreamCaptureMode"),
    CUDA_REQ(error_string, "cudaGetErrorString"),
    CUDA_OPT(malloc, "cudaMalloc"),
    CUDA_OPT(free, "cudaFree"),
    CUDA_OPT(malloc_managed, "cudaMallocManaged"),
    CUDA_OPT(stream_create, "cudaStreamCreateWithFlags"),
    CUDA_OPT(stream_destroy, "cudaStreamDestroy"),
    CUDA_OPT(memset_async, "cudaMemsetAsync"),
    CUDA_OPT(begin_capture, "cudaStreamBeginCapture"),
    CUDA_OPT(end_capture, "cudaStreamEndCapture"),
    CUDA_OPT(graph_instantiate, "cudaGraphInstantiateWithFlags"), /* 12 changed cudaGraphInstantiate's shape */
    CUDA_OPT(graph_launch, "cudaGraphLaunch"),
    CUDA_OPT(graph_exec_destroy, "cudaGraphExecDestroy"),
    CUDA_OPT(graph_destroy, "cudaGraphDestroy"),
};
static const struct gpu_sym cu_syms[] = {
    { "cuStreamWriteValue32_v2", &cu_fn.write32, 1 },
    { "cuStreamWaitValue32_v2", &cu_fn.wait32, 1 },
    { "cuDeviceGet", &cu_fn.device_get, 0 },
    { "cuDeviceGetName", &cu_fn.device_name, 0 },
};

static int cuda_device_attr(int *value, enum gpu_attr attr, int dev)
{
    switch (attr) {
    case GPU_ATTR_INTEGRATED: return cuda_fn.device_attr(value, CUDAABI_ATTR_INTEGRATED, dev);
    case GPU_ATTR_CAN_MAP_HOST: return cuda_fn.device_attr(value, CUDAABI_ATTR_CAN_MAP_HOST_MEMORY, dev);
    case GPU_ATTR_PAGEABLE_ACCESS: return cuda_fn.device_attr(value, CUDAABI_ATTR_PAGEABLE_MEMORY_ACCESS, dev);
    case GPU_ATTR_STREAM_MEM_OPS:
        *value = 1; /* the v2 32-bit operations need no attribute (gpu_abi.h); bound at load */
        return CUDAABI_SUCCESS;
    default: return 1; /* cudaErrorInvalidValue */
    }
}

static int cuda_host_alloc(void **p, size_t bytes)
{
    return cuda_fn.host_alloc(p, bytes, CUDAABI_HOST_ALLOC_MAPPED | CUDAABI_HOST_ALLOC_PORTABLE);
}

static int cuda_host_register(void *p, size_t bytes)
{
    return cuda_fn.host_register(p, bytes, CUDAABI_HOST_REGISTER_MAPPED | CUDAABI_HOST_REGISTER_PORTABLE);
}

static int cuda_ptr_attr(struct gpu_ptr_attr *a, const void *p)
{
    _Alignas(16) unsigned char room[CUDAABI_PTR_ATTR_ROOM];
    struct cudaabi_ptr_attr c;

    memset(room, 0, sizeof(room));
    cuda_err e = cuda_fn.ptr_attr(room, p);
    if (e != CUDAABI_SUCCESS)
        return e;
    memcpy(&c, room, sizeof(c));
    switch (c.type) {
    case CUDAABI_MEM_HOST: a->type = GPU_MEM_HOST; break;
    case CUDAABI_MEM_DEVICE: a->type = GPU_MEM_DEVICE; break;
    case CUDAABI_MEM_MANAGED: a->type = GPU_MEM_MANAGED; break;
    default: a->type = GPU_MEM_UNREGISTERED; break;
    }
    a->device = a->type == GPU_MEM_UNREGISTERED ? -1 : c.device;
    a->dev_ptr = c.device_pointer;
    a->host_ptr = a->type == GPU_MEM_UNREGISTERED ? (void *)p : c.host_pointer;
    return 0;
}

static int cuda_memcpy_async(void *dst, const void *src, size_t bytes, void *stream)
{
    return cuda_fn.memcpy_async(dst, src, bytes, CUDAABI_MEMCPY_DEFAULT, stream);
}

/* Set at load when device 0 reports unified addressing (every 64-bit Linux
 * system): mapped pinned memory then has the same address on the device. */
static int cuda_uva;

static int cuda_dev_addr(volatile uint32_t *addr, cu_devptr *out)
{
    if (cuda_uva) { /* one lookup less per stream operation: they are on the latency path */
        *out = (cu_devptr)(uintptr_t)addr;
        return CUDAABI_SUCCESS;
    }
    void *d = NULL;
    cuda_err e = cuda_fn.host_dev_ptr(&d, (void *)addr, 0);
    if (e == CUDAABI_SUCCESS)
        *out = (cu_devptr)(uintptr_t)d;
    return e;
}

static int cuda_write32(void *stream, volatile uint32_t *addr, uint32_t value)
{
    cu_devptr d;
    cuda_err e = cuda_dev_addr(addr, &d);
    return e ? e : cu_fn.write32(stream, d, value, CUABI_WRITE_DEFAULT);
}

static int cuda_wait32(void *stream, volatile uint32_t *addr, uint32_t value, enum gpu_wait_cond cond)
{
    cu_devptr d;
    cuda_err e = cuda_dev_addr(addr, &d);
    return e ? e : cu_fn.wait32(stream, d, value, cond == GPU_WAIT_EQ ? CUABI_WAIT_EQ : CUABI_WAIT_GEQ);
}

static int cuda_capturing(void *stream, enum gpu_capture *state)
{
    int s = 0;
    cuda_err e = cuda_fn.is_capturing(stream, &s);
    if (e == CUDAABI_SUCCESS)
        *state = (enum gpu_capture)s; /* None 0, Active 1, Invalidated 2, as ours */
    return e;
}

static int cuda_event_create(void **ev)
{
    return cuda_fn.event_create(ev, CUDAABI_EVENT_DISABLE_TIMING);
}

static int cuda_capture_relaxed(int *old)
{
    int mode = CUDAABI_CAPTURE_MODE_RELAXED;
    cuda_err e = cuda_fn.exchange_capture_mode(&mode);
    if (e == CUDAABI_SUCCESS)
        *old = mode;
    return e;
}

static int cuda_capture_restore(int old)
{
    return cuda_fn.exchange_capture_mode(&old);
}

static int cuda_managed_alloc(void **p, size_t bytes)
{
    return cuda_fn.malloc_managed(p, bytes, CUDAABI_MEM_ATTACH_GLOBAL);
}

static int cuda_stream_create(void **stream)
{
    return cuda_fn.stream_create(stream, CUDAABI_STREAM_NON_BLOCKING);
}

static int cuda_capture_begin(void *stream)
{
    return cuda_fn.begin_capture(stream, CUDAABI_CAPTURE_MODE_RELAXED);
}

static int cuda_graph_instantiate(void **exec, void *graph)
{
    return cuda_fn.graph_instantiate(exec, graph, 0);
}

static void cuda_fill_table(struct gpu_rt *rt)
{
    rt->kind = GPU_RT_CUDA;
    rt->name = "CUDA";
    rt->not_ready = CUDAABI_ERR_NOT_READY;
    rt->get_device_count = cuda_fn.get_device_count;
    rt->get_device = cuda_fn.get_device;
    rt->set_device = cuda_fn.set_device;
    rt->device_attr = cuda_device_attr;
    rt->host_alloc = cuda_host_alloc;
    rt->host_free = cuda_fn.host_free;
    rt->host_register = cuda_host_register;
    rt->host_unregister = cuda_fn.host_unregister;
    rt->ptr_attr = cuda_ptr_attr;
    rt->memcpy_async = cuda_memcpy_async;
    rt->stream_sync = cuda_fn.stream_sync;
    rt->stream_write32 = cuda_write32;
    rt->stream_wait32 = cuda_wait32;
    rt->stream_capturing = cuda_capturing;
    rt->launch_host_fn = cuda_fn.launch_host_fn;
    rt->event_create = cuda_event_create;
    rt->event_record = cuda_fn.event_record;
    rt->event_query = cuda_fn.event_query;
    rt->event_sync = cuda_fn.event_sync;
    rt->event_destroy = cuda_fn.event_destroy;
    rt->capture_mode_relaxed = cuda_capture_relaxed;
    rt->capture_mode_restore = cuda_capture_restore;
    rt->error_string = cuda_fn.error_string;
    rt->dev_alloc = cuda_fn.malloc;
    rt->dev_free = cuda_fn.free;
    rt->managed_alloc = cuda_fn.malloc_managed ? cuda_managed_alloc : NULL;
    rt->stream_create = cuda_fn.stream_create ? cuda_stream_create : NULL;
    rt->stream_destroy = cuda_fn.stream_destroy;
    rt->memset_async = cuda_fn.memset_async;
    rt->capture_begin = cuda_fn.begin_capture ? cuda_capture_begin : NULL;
    rt->capture_end = cuda_fn.end_capture;
    rt->graph_instantiate = cuda_fn.graph_instantiate ? cuda_graph_instantiate : NULL;
    rt->graph_launch = cuda_fn.graph_launch;
    rt->graph_exec_destroy = cuda_fn.graph_exec_destroy;
    rt->graph_destroy = cuda_fn.graph_destroy;
}

static enum gpu_try cuda_probe(struct gpu_rt *rt, int explicit_ask, char *err, size_t errlen)
{
    cuda_err e = cuda_fn.runtime_version(&rt->runtime_version);
    if (e == CUDAABI_SUCCESS)
        e = cuda_fn.driver_version(&rt->driver_version);
    if (e == CUDAABI_SUCCESS)
        e = cuda_fn.get_device_count(&rt->device_count);
    if (e == CUDAABI_SUCCESS && rt->device_count < 1)
        e = 100; /* cudaErrorNoDevice */
    if (e != CUDAABI_SUCCESS) {
        snprintf(err, errlen, "the CUDA runtime %s reports no usable device (%s, error %d)%s", rt->lib_path,
                 cuda_fn.error_string(e), e, explicit_ask ? "; HALO_GPU_RUNTIME=none runs without a GPU" : "");
        return explicit_ask ? GPU_TRY_FAIL : GPU_TRY_ABSENT;
    }
    int uva = 0;
    cuda_uva = cuda_fn.device_attr(&uva, CUDAABI_ATTR_UNIFIED_ADDRESSING, 0) == CUDAABI_SUCCESS && uva == 1;
    int dev = 0;
    if (!cu_fn.device_get || !cu_fn.device_name || cu_fn.device_get(&dev, 0) != 0 ||
        cu_fn.device_name(rt->device0_name, sizeof(rt->device0_name), dev) != 0)
        rt->device0_name[0] = '\0';
    return GPU_TRY_OK;
}

/* The driver, for the stream memory operations. Needed once the runtime loaded. */
static enum gpu_try cuda_open_driver(const char *cudart, char *err, size_t errlen)
{
    char path[256], tried[384];
    void *h = gpu_dl_open_first(NULL, cu_names, 1, path, sizeof(path), tried, sizeof(tried));
    if (!h) {
        snprintf(err, errlen, "the CUDA runtime %s loaded but the driver did not: tried %s (is the NVIDIA driver "
                 "installed?)", cudart, tried);
        return GPU_TRY_ABSENT;
    }
    if (gpu_dl_bind(h, path, cu_syms, (int)(sizeof(cu_syms) / sizeof(cu_syms[0])), err, errlen) != 0)
        return GPU_TRY_FAIL;
    return GPU_TRY_OK;
}

enum gpu_try gpu_rt_try_cuda(struct gpu_rt *rt, const char *override, int explicit_ask, char *err, size_t errlen)
{
    char tried[768];
    void *h = gpu_dl_open_first(override, cuda_names, (int)(sizeof(cuda_names) / sizeof(cuda_names[0])),
                                rt->lib_path, sizeof(rt->lib_path), tried, sizeof(tried));
    if (!h) {
        snprintf(err, errlen, "no CUDA runtime found: tried %s; set HALO_GPU_LIBRARY to the path of libcudart.so",
                 tried);
        return explicit_ask ? GPU_TRY_FAIL : GPU_TRY_ABSENT;
    }
    const struct gpu_sym marker = { "cudaRuntimeGetVersion", &cuda_fn.runtime_version, 1 };
    if (gpu_dl_bind(h, rt->lib_path, &marker, 1, err, errlen) != 0) {
        dlclose(h); /* not CUDA; never called into */
        return explicit_ask ? GPU_TRY_FAIL : GPU_TRY_ABSENT;
    }
    if (gpu_dl_bind(h, rt->lib_path, cuda_syms, (int)(sizeof(cuda_syms) / sizeof(cuda_syms[0])), err, errlen) != 0)
        return GPU_TRY_FAIL;
    enum gpu_try t = cuda_open_driver(rt->lib_path, err, errlen);
    if (t != GPU_TRY_OK) /* cudart without a driver: no GPU here, unless CUDA was asked for */
        return t == GPU_TRY_ABSENT && explicit_ask ? GPU_TRY_FAIL : t;
    cuda_fill_table(rt);
    return cuda_probe(rt, explicit_ask, err, errlen);
}
