/* SPDX-License-Identifier: MIT */
/*
 * fakehip.c — a fake HIP runtime (libamdhip64) for CI machines without a GPU, so
 * the real HIP loader path and the code above it run in tests.
 *
 * It behaves like a GPU where ordering matters:
 *   - every stream (and the null stream) is a worker thread running a FIFO of
 *     operations in order: memcpy, memset, write32, wait32 (blocks the stream
 *     until true), host function, event record;
 *   - device memory (hipMalloc) is a memfd mapped twice: the address handed out is
 *     PROT_NONE, so a CPU access by the code under test crashes; the stream
 *     workers copy through a second, read-write mapping;
 *   - stream capture records operations into a graph instead of running them;
 *     launching the instantiated graph enqueues copies of them.
 *
 * Layouts and values are ROCm 6's (gpu_abi.h); environment knobs:
 *   FAKEHIP_ROCM=5           ROCm 5 memory types, version, and hipErrorInvalidValue
 *                            for pointers it does not know
 *   FAKEHIP_NO_MEMOPS=1      no stream write/wait (attribute 0, calls hipErrorNotSupported)
 *   FAKEHIP_INTEGRATED=1     an integrated device (APU)
 *   FAKEHIP_LOG=path         one line per executed stream operation
 *   FAKEHIP_CAPTURE_EAGER=1  a wait issued during capture runs at once on the stream
 *                            instead of being recorded (a ROCm bug)
 *   FAKEHIP_SYNC_LOCK=1      hipStreamSynchronize holds one process-wide lock while it
 *                            waits, and every call that enqueues, queries or waits
 *                            takes it — as CUDA does for a synchronous device-to-host
 *                            copy into pageable memory: a library thread that calls
 *                            the runtime while such a copy waits for its work
 *                            deadlocks
 *   FAKEHIP_SERIAL_HOSTFN=1  host functions of every stream run one at a time (CUDA
 *                            documents they may): a host function that blocks holds
 *                            back the other streams' ones
 * Built a second time with -DFAKEHIP_OMIT_WAIT, without hipStreamWaitValue32, and
 * a third with -DFAKEHIP_OMIT_HOSTFUNC, without hipLaunchHostFunc (as ROCm 5.2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "gpu_abi.h"

typedef int hipError_t;
typedef void (*fake_host_fn)(void *arg);

/* The exported API: HIP's signatures, spelled with plain C types. */
hipError_t hipRuntimeGetVersion(int *v);
hipError_t hipDriverGetVersion(int *v);
hipError_t hipGetDeviceCount(int *n);
hipError_t hipGetDevice(int *dev);
hipError_t hipSetDevice(int dev);
hipError_t hipDeviceGetAttribute(int *v, int attr, int dev);
hipError_t hipDeviceGetName(char *name, int len, int dev);
const char *hipGetErrorString(hipError_t e);
hipError_t hipMalloc(void **p, size_t bytes);
hipError_t hipFree(void *p);
hipError_t hipHostMalloc(void **p, size_t bytes, unsigned flags);
hipError_t hipHostFree(void *p);
hipError_t hipHostRegister(void *p, size_t bytes, unsigned flags);
hipError_t hipHostUnregister(void *p);
hipError_t hipMallocManaged(void **p, size_t bytes, unsigned flags);
hipError_t hipPointerGetAttributes(struct hipabi_ptr_attr *a, const void *p);
hipError_t hipStreamCreateWithFlags(void **stream, unsigned flags);
hipError_t hipStreamDestroy(void *stream);
hipError_t hipStreamSynchronize(void *stream);
hipError_t hipMemcpyAsync(void *dst, const void *src, size_t bytes, int kind, void *stream);
hipError_t hipMemsetAsync(void *dst, int value, size_t bytes, void *stream);
hipError_t hipStreamWriteValue32(void *stream, void *ptr, uint32_t value, unsigned flags);
hipError_t hipStreamWaitValue32(void *stream, void *ptr, uint32_t value, unsigned flags, uint32_t mask);
hipError_t hipLaunchHostFunc(void *stream, fake_host_fn fn, void *arg);
hipError_t hipStreamAddCallback(void *stream, void (*cb)(void *stream, hipError_t status, void *arg), void *arg,
                                unsigned flags);
hipError_t hipEventCreateWithFlags(void **ev, unsigned flags);
hipError_t hipEventRecord(void *ev, void *stream);
hipError_t hipEventQuery(void *ev);
hipError_t hipEventSynchronize(void *ev);
hipError_t hipEventDestroy(void *ev);
hipError_t hipStreamIsCapturing(void *stream, int *status);
hipError_t hipThreadExchangeStreamCaptureMode(int *mode);
hipError_t hipStreamBeginCapture(void *stream, int mode);
hipError_t hipStreamEndCapture(void *stream, void **graph);
hipError_t hipGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long flags);
hipError_t hipGraphLaunch(void *exec, void *stream);
hipError_t hipGraphExecDestroy(void *exec);
hipError_t hipGraphDestroy(void *graph);

/* ---------------------------------------------------------------- knobs ---- */

static struct {
    int rocm5, no_memops, integrated, capture_eager, sync_lock, serial_hostfn;
    FILE *log;
} fk;
/* FAKEHIP_SERIAL_HOSTFN (above) */
static pthread_mutex_t fk_hostfn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t fk_api_mu = PTHREAD_MUTEX_INITIALIZER; /* FAKEHIP_SYNC_LOCK */
static pthread_mutex_t fk_log_mu = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void fk_init(void)
{
    const char *v;
    fk.rocm5 = (v = getenv("FAKEHIP_ROCM")) && atoi(v) == 5;
    fk.no_memops = (v = getenv("FAKEHIP_NO_MEMOPS")) && atoi(v) == 1;
    fk.integrated = (v = getenv("FAKEHIP_INTEGRATED")) && atoi(v) == 1;
    fk.capture_eager = (v = getenv("FAKEHIP_CAPTURE_EAGER")) && atoi(v) == 1;
    fk.sync_lock = (v = getenv("FAKEHIP_SYNC_LOCK")) && atoi(v) == 1;
    fk.serial_hostfn = (v = getenv("FAKEHIP_SERIAL_HOSTFN")) && atoi(v) == 1;
    if ((v = getenv("FAKEHIP_LOG")) && v[0])
        fk.log = fopen(v, "a");
}

/* --------------------------------------------------------------- memory ---- */

enum fk_kind { FK_DEVICE, FK_HOST_ALLOC, FK_HOST_REG, FK_MANAGED };

struct fk_range {
    char *base;   /* the address the caller sees */
    char *alias;  /* read-write view (device memory), else == base */
    size_t size;
    enum fk_kind kind;
};

#define FK_MAX_RANGES 4096
static struct fk_range fk_ranges[FK_MAX_RANGES];
static int fk_nranges;
static pthread_mutex_t fk_mem_mu = PTHREAD_MUTEX_INITIALIZER;

static void fk_range_add(char *base, char *alias, size_t size, enum fk_kind kind)
{
    pthread_mutex_lock(&fk_mem_mu);
    if (fk_nranges < FK_MAX_RANGES)
        fk_ranges[fk_nranges++] = (struct fk_range){ base, alias, size, kind };
    pthread_mutex_unlock(&fk_mem_mu);
}

/* Finds the range holding p; copies it out. */
static int fk_range_find(const void *p, struct fk_range *out)
{
    int found = 0;
    pthread_mutex_lock(&fk_mem_mu);
    for (int i = 0; i < fk_nranges && !found; i++) {
        if ((const char *)p >= fk_ranges[i].base && (const char *)p < fk_ranges[i].base + fk_ranges[i].size) {
            *out = fk_ranges[i];
            found = 1;
        }
    }
    pthread_mutex_unlock(&fk_mem_mu);
    return found;
}

/* Removes the range starting exactly at p; returns 1 and the range when found. */
static int fk_range_take(const void *p, enum fk_kind kind, struct fk_range *out)
{
    int found = 0;
    pthread_mutex_lock(&fk_mem_mu);
    for (int i = 0; i < fk_nranges; i++) {
        if (fk_ranges[i].base == p && fk_ranges[i].kind == kind) {
            *out = fk_ranges[i];
            fk_ranges[i] = fk_ranges[--fk_nranges];
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&fk_mem_mu);
    return found;
}

/* The address the fake's own workers use for p (device memory's RW alias). */
static void *fk_xlate(const void *p)
{
    struct fk_range r;
    if (fk_range_find(p, &r) && r.kind == FK_DEVICE)
        return r.alias + ((const char *)p - r.base);
    return (void *)p;
}

hipError_t hipMalloc(void **p, size_t bytes)
{
    if (!p)
        return HIPABI_ERR_INVALID_VALUE;
    size_t size = bytes ? bytes : 1;
    int fd = memfd_create("fakehip-device", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
        goto err_close;
    void *dev = mmap(NULL, size, PROT_NONE, MAP_SHARED, fd, 0);
    if (dev == MAP_FAILED)
        goto err_close;
    void *alias = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (alias == MAP_FAILED)
        goto err_unmap_dev;
    close(fd);
    fk_range_add(dev, alias, size, FK_DEVICE);
    *p = dev;
    return HIPABI_SUCCESS;
err_unmap_dev:
    munmap(dev, size);
err_close:
    if (fd >= 0)
        close(fd);
    return 2; /* hipErrorOutOfMemory */
}

hipError_t hipFree(void *p)
{
    struct fk_range r;
    if (!p)
        return HIPABI_SUCCESS;
    if (!fk_range_take(p, FK_DEVICE, &r))
        return HIPABI_ERR_INVALID_VALUE;
    munmap(r.base, r.size);
    munmap(r.alias, r.size);
    return HIPABI_SUCCESS;
}

static hipError_t fk_anon_alloc(void **p, size_t bytes, enum fk_kind kind)
{
    if (!p)
        return HIPABI_ERR_INVALID_VALUE;
    size_t size = bytes ? bytes : 1;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 2;
    fk_range_add(m, m, size, kind);
    *p = m;
    return HIPABI_SUCCESS;
}

hipError_t hipHostMalloc(void **p, size_t bytes, unsigned flags)
{
    return fk_anon_alloc(p, bytes, FK_HOST_ALLOC);
}

hipError_t hipMallocManaged(void **p, size_t bytes, unsigned flags)
{
    return fk_anon_alloc(p, bytes, FK_MANAGED);
}

hipError_t hipHostFree(void *p)
{
    struct fk_range r;
    if (!p)
        return HIPABI_SUCCESS;
    if (!fk_range_take(p, FK_HOST_ALLOC, &r) && !fk_range_take(p, FK_MANAGED, &r))
        return HIPABI_ERR_INVALID_VALUE;
    munmap(r.base, r.size);
    return HIPABI_SUCCESS;
}

hipError_t hipHostRegister(void *p, size_t bytes, unsigned flags)
{
    struct fk_range r;
    if (!p || !bytes)
        return HIPABI_ERR_INVALID_VALUE;
    if (fk_range_find(p, &r))
        return 712; /* hipErrorHostMemoryAlreadyRegistered */
    fk_range_add(p, p, bytes, FK_HOST_REG);
    return HIPABI_SUCCESS;
}

hipError_t hipHostUnregister(void *p)
{
    struct fk_range r;
    return fk_range_take(p, FK_HOST_REG, &r) ? HIPABI_SUCCESS : 713; /* hipErrorHostMemoryNotRegistered */
}

static int fk_type_value(enum fk_kind kind)
{
    switch (kind) {
    case FK_DEVICE: return fk.rocm5 ? HIPABI5_MEM_DEVICE : HIPABI6_MEM_DEVICE;
    case FK_MANAGED: return fk.rocm5 ? HIPABI5_MEM_DEVICE : HIPABI6_MEM_MANAGED; /* 5.2: isManaged tells */
    default: return fk.rocm5 ? HIPABI5_MEM_HOST : HIPABI6_MEM_HOST;
    }
}

hipError_t hipPointerGetAttributes(struct hipabi_ptr_attr *a, const void *p)
{
    struct fk_range r;
    if (!a || !p)
        return HIPABI_ERR_INVALID_VALUE;
    memset(a, 0, sizeof(*a));
    if (!fk_range_find(p, &r)) {
        if (fk.rocm5)
            return HIPABI_ERR_INVALID_VALUE; /* ROCm 5: memory it does not know */
        a->type = HIPABI6_MEM_UNREGISTERED;
        a->device = -1;
        return HIPABI_SUCCESS;
    }
    a->type = fk_type_value(r.kind);
    a->device = 0;
    a->is_managed = r.kind == FK_MANAGED;
    a->device_pointer = (void *)p;
    a->host_pointer = r.kind == FK_DEVICE ? NULL : (void *)p;
    return HIPABI_SUCCESS;
}

/* -------------------------------------------------------------- devices ---- */

hipError_t hipRuntimeGetVersion(int *v)
{
    *v = fk.rocm5 ? 50221153 : 60443483; /* 5.2.21153 (Debian's), 6.4.43483 */
    return HIPABI_SUCCESS;
}

hipError_t hipDriverGetVersion(int *v)
{
    return hipRuntimeGetVersion(v);
}

hipError_t hipGetDeviceCount(int *n)
{
    *n = 1;
    return HIPABI_SUCCESS;
}

hipError_t hipGetDevice(int *dev)
{
    *dev = 0;
    return HIPABI_SUCCESS;
}

hipError_t hipSetDevice(int dev)
{
    return dev == 0 ? HIPABI_SUCCESS : 101; /* hipErrorInvalidDevice */
}

hipError_t hipDeviceGetAttribute(int *v, int attr, int dev)
{
    if (dev != 0)
        return 101;
    switch (attr) {
    case HIPABI_ATTR_INTEGRATED: *v = fk.integrated; break;
    case HIPABI_ATTR_CAN_MAP_HOST_MEMORY: *v = 1; break;
    case HIPABI_ATTR_PAGEABLE_MEMORY_ACCESS: *v = 0; break;
    case HIPABI_ATTR_CAN_USE_STREAM_WAIT_VALUE: *v = !fk.no_memops; break;
    default: return HIPABI_ERR_INVALID_VALUE;
    }
    return HIPABI_SUCCESS;
}

hipError_t hipDeviceGetName(char *name, int len, int dev)
{
    snprintf(name, (size_t)len, "fakehip %s", fk.integrated ? "integrated" : "discrete");
    return HIPABI_SUCCESS;
}

const char *hipGetErrorString(hipError_t e)
{
    switch (e) {
    case HIPABI_SUCCESS: return "no error";
    case HIPABI_ERR_INVALID_VALUE: return "invalid argument";
    case HIPABI_ERR_NOT_READY: return "device not ready";
    case HIPABI_ERR_NOT_SUPPORTED: return "operation not supported";
    default: return "unknown error";
    }
}

/* ------------------------------------------------------ streams and ops ---- */

enum fk_op_kind { FK_OP_COPY, FK_OP_SET, FK_OP_WRITE32, FK_OP_WAIT32, FK_OP_HOSTFN, FK_OP_EVENT };
static const char *const fk_op_names[] = { "memcpy", "memset", "write32", "wait32", "hostfn", "event" };

struct fk_event {
    uint64_t recorded; /* generation of the last record */
    uint64_t done;     /* generation the stream reached */
};

struct fk_op {
    struct fk_op *next;
    enum fk_op_kind kind;
    void *dst;
    const void *src;
    size_t bytes;
    uint32_t value;
    unsigned flags;
    uint32_t mask;
    fake_host_fn fn;
    void *arg;
    struct fk_event *ev;
    uint64_t gen;
};

struct fk_graph {
    struct fk_op *head, *tail;
};

struct fk_stream {
    int id;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* work arrived / work done */
    struct fk_op *head, *tail;
    uint64_t enqueued, completed;
    int stop;
    struct fk_graph *capture; /* non-NULL while capturing */
};

static pthread_mutex_t fk_ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fk_ev_cv = PTHREAD_COND_INITIALIZER;
static int fk_next_stream_id = 1;
static struct fk_stream *fk_null;
static pthread_once_t fk_null_once = PTHREAD_ONCE_INIT;
static __thread int fk_capture_mode; /* hipStreamCaptureModeGlobal */

static void fk_log_op(const struct fk_stream *s, const struct fk_op *op)
{
    if (!fk.log)
        return;
    pthread_mutex_lock(&fk_log_mu);
    fprintf(fk.log, "stream %d %s %p %u\n", s->id, fk_op_names[op->kind],
            op->kind == FK_OP_HOSTFN ? op->arg : op->kind == FK_OP_EVENT ? (void *)op->ev : op->dst, op->value);
    fflush(fk.log);
    pthread_mutex_unlock(&fk_log_mu);
}

static int fk_wait_true(uint32_t cur, const struct fk_op *op)
{
    cur &= op->mask;
    return op->flags == HIPABI_WAIT_EQ ? cur == op->value : cur >= op->value; /* HIP's documented Gte */
}

static void fk_run(struct fk_stream *s, struct fk_op *op)
{
    switch (op->kind) {
    case FK_OP_COPY: memmove(fk_xlate(op->dst), fk_xlate(op->src), op->bytes); break;
    case FK_OP_SET: memset(fk_xlate(op->dst), (int)op->value, op->bytes); break;
    case FK_OP_WRITE32: __atomic_store_n((uint32_t *)fk_xlate(op->dst), op->value, __ATOMIC_SEQ_CST); break;
    case FK_OP_WAIT32: {
        uint32_t *a = fk_xlate(op->dst);
        struct timespec ts = { 0, 50 * 1000 };
        while (!fk_wait_true(__atomic_load_n(a, __ATOMIC_SEQ_CST), op))
            nanosleep(&ts, NULL);
        break;
    }
    case FK_OP_HOSTFN:
        if (fk.serial_hostfn)
            pthread_mutex_lock(&fk_hostfn_mu);
        op->fn(op->arg);
        if (fk.serial_hostfn)
            pthread_mutex_unlock(&fk_hostfn_mu);
        break;
    case FK_OP_EVENT:
        pthread_mutex_lock(&fk_ev_mu);
        if (op->gen > op->ev->done)
            op->ev->done = op->gen;
        pthread_cond_broadcast(&fk_ev_cv);
        pthread_mutex_unlock(&fk_ev_mu);
        break;
    }
    fk_log_op(s, op);
}

static void *fk_stream_main(void *arg)
{
    struct fk_stream *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->head)
            break;
        struct fk_op *op = s->head;
        s->head = op->next;
        if (!s->head)
            s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        fk_run(s, op);
        free(op);
        pthread_mutex_lock(&s->mu);
        s->completed++;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static struct fk_stream *fk_stream_new(int id)
{
    struct fk_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = id;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, fk_stream_main, s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void fk_null_init(void)
{
    fk_null = fk_stream_new(0);
}

static struct fk_stream *fk_stream(void *stream)
{
    if (stream)
        return stream;
    pthread_once(&fk_null_once, fk_null_init);
    return fk_null;
}

static void fk_append(struct fk_op **head, struct fk_op **tail, struct fk_op *op)
{
    op->next = NULL;
    if (*tail)
        (*tail)->next = op;
    else
        *head = op;
    *tail = op;
}

/* Queues op on the stream, or records it when the stream captures. */
/* FAKEHIP_SYNC_LOCK: waits until no thread is inside hipStreamSynchronize. */
static void fk_api_pass(void)
{
    if (fk.sync_lock) {
        pthread_mutex_lock(&fk_api_mu);
        pthread_mutex_unlock(&fk_api_mu);
    }
}

static hipError_t fk_submit(void *stream, struct fk_op op)
{
    fk_api_pass();
    struct fk_stream *s = fk_stream(stream);
    struct fk_op *o = malloc(sizeof(*o));
    if (!s || !o) {
        free(o);
        return 2;
    }
    *o = op;
    pthread_mutex_lock(&s->mu);
    if (s->capture && !(fk.capture_eager && op.kind == FK_OP_WAIT32)) {
        fk_append(&s->capture->head, &s->capture->tail, o);
    } else {
        if (o->kind == FK_OP_EVENT) { /* recorded now; recording into a graph is not */
            pthread_mutex_lock(&fk_ev_mu);
            o->gen = ++o->ev->recorded;
            pthread_mutex_unlock(&fk_ev_mu);
        }
        fk_append(&s->head, &s->tail, o);
        s->enqueued++;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return HIPABI_SUCCESS;
}

hipError_t hipStreamCreateWithFlags(void **stream, unsigned flags)
{
    pthread_mutex_lock(&fk_ev_mu);
    int id = fk_next_stream_id++;
    pthread_mutex_unlock(&fk_ev_mu);
    struct fk_stream *s = fk_stream_new(id);
    if (!s)
        return 2;
    *stream = s;
    return HIPABI_SUCCESS;
}

hipError_t hipStreamSynchronize(void *stream)
{
    struct fk_stream *s = fk_stream(stream);
    if (fk.sync_lock)
        pthread_mutex_lock(&fk_api_mu);
    pthread_mutex_lock(&s->mu);
    while (s->completed != s->enqueued)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (fk.sync_lock)
        pthread_mutex_unlock(&fk_api_mu);
    return HIPABI_SUCCESS;
}

hipError_t hipStreamDestroy(void *stream)
{
    struct fk_stream *s = stream;
    if (!s)
        return HIPABI_ERR_INVALID_VALUE;
    pthread_mutex_lock(&s->mu);
    s->stop = 1; /* the worker drains the queue first, as a GPU would */
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    free(s);
    return HIPABI_SUCCESS;
}

hipError_t hipMemcpyAsync(void *dst, const void *src, size_t bytes, int kind, void *stream)
{
    return fk_submit(stream, (struct fk_op){ .kind = FK_OP_COPY, .dst = dst, .src = src, .bytes = bytes });
}

hipError_t hipMemsetAsync(void *dst, int value, size_t bytes, void *stream)
{
    return fk_submit(stream,
                     (struct fk_op){ .kind = FK_OP_SET, .dst = dst, .value = (uint8_t)value, .bytes = bytes });
}

hipError_t hipStreamWriteValue32(void *stream, void *ptr, uint32_t value, unsigned flags)
{
    if (fk.no_memops)
        return HIPABI_ERR_NOT_SUPPORTED;
    return fk_submit(stream, (struct fk_op){ .kind = FK_OP_WRITE32, .dst = ptr, .value = value });
}

#ifndef FAKEHIP_OMIT_WAIT
hipError_t hipStreamWaitValue32(void *stream, void *ptr, uint32_t value, unsigned flags, uint32_t mask)
{
    if (fk.no_memops)
        return HIPABI_ERR_NOT_SUPPORTED;
    if (flags != HIPABI_WAIT_GTE && flags != HIPABI_WAIT_EQ)
        return HIPABI_ERR_INVALID_VALUE;
    return fk_submit(stream,
                     (struct fk_op){ .kind = FK_OP_WAIT32, .dst = ptr, .value = value, .flags = flags, .mask = mask });
}
#endif

#ifndef FAKEHIP_OMIT_HOSTFUNC
hipError_t hipLaunchHostFunc(void *stream, fake_host_fn fn, void *arg)
{
    return fk_submit(stream, (struct fk_op){ .kind = FK_OP_HOSTFN, .fn = fn, .arg = arg });
}
#endif

/* A stream callback: a host function that also gets the stream and a status. */
struct fk_cb {
    void (*cb)(void *stream, hipError_t status, void *arg);
    void *stream, *arg;
};

static void fk_cb_run(void *arg)
{
    struct fk_cb c = *(struct fk_cb *)arg;
    free(arg);
    c.cb(c.stream, HIPABI_SUCCESS, c.arg);
}

hipError_t hipStreamAddCallback(void *stream, void (*cb)(void *stream, hipError_t status, void *arg), void *arg,
                                unsigned flags)
{
    struct fk_cb *c = malloc(sizeof(*c));
    if (!c)
        return 2;
    *c = (struct fk_cb){ cb, stream, arg };
    hipError_t e = fk_submit(stream, (struct fk_op){ .kind = FK_OP_HOSTFN, .fn = fk_cb_run, .arg = c });
    if (e)
        free(c);
    return e;
}

/* --------------------------------------------------------------- events ---- */

hipError_t hipEventCreateWithFlags(void **ev, unsigned flags)
{
    struct fk_event *e = calloc(1, sizeof(*e));
    if (!e)
        return 2;
    *ev = e;
    return HIPABI_SUCCESS;
}

hipError_t hipEventRecord(void *ev, void *stream)
{
    if (!ev)
        return HIPABI_ERR_INVALID_VALUE;
    return fk_submit(stream, (struct fk_op){ .kind = FK_OP_EVENT, .ev = ev });
}

hipError_t hipEventQuery(void *ev)
{
    struct fk_event *e = ev;
    fk_api_pass();
    pthread_mutex_lock(&fk_ev_mu);
    int done = e->done >= e->recorded;
    pthread_mutex_unlock(&fk_ev_mu);
    return done ? HIPABI_SUCCESS : HIPABI_ERR_NOT_READY;
}

hipError_t hipEventSynchronize(void *ev)
{
    struct fk_event *e = ev;
    fk_api_pass();
    pthread_mutex_lock(&fk_ev_mu);
    while (e->done < e->recorded)
        pthread_cond_wait(&fk_ev_cv, &fk_ev_mu);
    pthread_mutex_unlock(&fk_ev_mu);
    return HIPABI_SUCCESS;
}

hipError_t hipEventDestroy(void *ev)
{
    free(ev);
    return HIPABI_SUCCESS;
}

/* -------------------------------------------------------------- capture ---- */

hipError_t hipStreamIsCapturing(void *stream, int *status)
{
    struct fk_stream *s = fk_stream(stream);
    pthread_mutex_lock(&s->mu);
    *status = s->capture ? 1 : 0; /* hipStreamCaptureStatusActive / None */
    pthread_mutex_unlock(&s->mu);
    return HIPABI_SUCCESS;
}

hipError_t hipThreadExchangeStreamCaptureMode(int *mode)
{
    if (!mode || *mode < 0 || *mode > HIPABI_CAPTURE_MODE_RELAXED)
        return HIPABI_ERR_INVALID_VALUE;
    int old = fk_capture_mode;
    fk_capture_mode = *mode;
    *mode = old;
    return HIPABI_SUCCESS;
}

hipError_t hipStreamBeginCapture(void *stream, int mode)
{
    struct fk_stream *s = stream;
    if (!s)
        return 900; /* hipErrorStreamCaptureUnsupported: not on the null stream */
    struct fk_graph *g = calloc(1, sizeof(*g));
    if (!g)
        return 2;
    pthread_mutex_lock(&s->mu);
    hipError_t e = s->capture ? 401 : HIPABI_SUCCESS; /* hipErrorIllegalState */
    if (!s->capture)
        s->capture = g;
    pthread_mutex_unlock(&s->mu);
    if (e)
        free(g);
    return e;
}

hipError_t hipStreamEndCapture(void *stream, void **graph)
{
    struct fk_stream *s = stream;
    if (!s)
        return 903;
    pthread_mutex_lock(&s->mu);
    struct fk_graph *g = s->capture;
    s->capture = NULL;
    pthread_mutex_unlock(&s->mu);
    if (!g)
        return 903; /* hipErrorStreamCaptureUnmatched */
    *graph = g;
    return HIPABI_SUCCESS;
}

static void fk_graph_free(struct fk_graph *g)
{
    while (g && g->head) {
        struct fk_op *n = g->head->next;
        free(g->head);
        g->head = n;
    }
    free(g);
}

/* An executable graph is a copy of the recorded operations. */
hipError_t hipGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long flags)
{
    struct fk_graph *g = graph, *x = calloc(1, sizeof(*x));
    if (!g || !x) {
        free(x);
        return HIPABI_ERR_INVALID_VALUE;
    }
    for (struct fk_op *o = g->head; o; o = o->next) {
        struct fk_op *c = malloc(sizeof(*c));
        if (!c) {
            fk_graph_free(x);
            return 2;
        }
        *c = *o;
        fk_append(&x->head, &x->tail, c);
    }
    *exec = x;
    return HIPABI_SUCCESS;
}

hipError_t hipGraphLaunch(void *exec, void *stream)
{
    struct fk_graph *x = exec;
    for (struct fk_op *o = x->head; o; o = o->next) {
        hipError_t e = fk_submit(stream, *o);
        if (e)
            return e;
    }
    return HIPABI_SUCCESS;
}

hipError_t hipGraphExecDestroy(void *exec)
{
    fk_graph_free(exec);
    return HIPABI_SUCCESS;
}

hipError_t hipGraphDestroy(void *graph)
{
    fk_graph_free(graph);
    return HIPABI_SUCCESS;
}
