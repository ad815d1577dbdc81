/* SPDX-License-Identifier: MIT */
/*
 * api_gpu.c — calls on GPU streams and GPU buffers: where each buffer's bytes are
 * (in place, or staged through pinned memory), the hand-off to the
 * communicator's progress thread (src/hip/gpu_stream.c), and what that thread
 * runs: the staging copies on its own streams, pipelined with the collective.
 *
 * The calling thread only classifies buffers and enqueues two stream operations;
 * it returns before any byte moves. The progress thread sees READY, copies device
 * inputs into pinned memory, runs the collective with the CPU and the NIC, copies
 * device outputs back, and writes DONE, which releases the caller's stream.
 *
 * All-reduce, broadcast and reduce of more than one pool slot run as a pipeline of
 * slot-sized pieces (copy in piece k+1 while piece k is on the wire and piece k-1
 * is copied out) — on every rank, staged or not, so that ranks whose buffers
 * differ in kind still issue the same sequence of collectives.
 */
#define HALO_ERR_SUBSYS HALO_SUB_GPU
#include <stdlib.h>
#include <string.h>

#include "algos.h"
#include "comm.h"
#include "error.h"
#include "gpu_mem.h"
#include "group.h"
#include "log.h"
#include "reduce.h"

/* One op as the progress thread runs it: the user's op plus where its buffers are. */
struct gpu_op {
    struct halo_op op;     /* buffers: the CPU addresses where in place */
    const void *dev_send;  /* device address to copy in from; NULL: in place */
    void *dev_recv;        /* device address to copy out to; NULL: in place */
    size_t send_bytes, recv_bytes;
};

struct gpu_payload {
    struct halo_comm *comm;
    char *arena;           /* whole-call staging area (chosen by the caller), or NULL */
    size_t staged;         /* bytes the whole-call path stages (gpu_whole_bytes) */
    int pieces;            /* runs as slot-sized pieces (gpu_uses_pieces); decided by the caller */
    int nops;
    struct gpu_op ops[];
};

static int gpu_op_pieceable(const struct halo_op *op)
{
    return op->coll == HALO_COLL_ALLREDUCE || op->coll == HALO_COLL_BROADCAST || op->coll == HALO_COLL_REDUCE;
}

/* Bytes of each buffer the op uses on this rank (0: unused here). */
static void gpu_op_bytes(const struct halo_op *op, int rank, int nranks, size_t *sb, size_t *rb)
{
    size_t b = op->count * halo_dtype_size(op->dtype);
    *sb = *rb = b;
    switch (op->coll) {
    case HALO_COLL_ALLGATHER: *rb = b * (size_t)nranks; break;
    case HALO_COLL_REDUCESCATTER: *sb = b * (size_t)nranks; break;
    case HALO_COLL_BROADCAST: if (rank != op->root) *sb = 0; break;
    case HALO_COLL_REDUCE: if (rank != op->root) *rb = 0; break;
    case HALO_COLL_SEND: *rb = 0; break;
    case HALO_COLL_RECV: *sb = 0; break;
    default: break;
    }
}

/* ---- the progress thread's side ---- */

static haloResult_t gpu_rt_error(struct halo_comm *comm, int e, const char *what)
{
    const struct gpu_rt *rt = comm->gpu->rt;
    return halo_error(comm, haloUnhandledCudaError, "rank %d: %s %s failed while staging device buffers: %s",
                      comm->rank, rt->name, what, rt->error_string(e));
}

static haloResult_t gpu_copy(struct halo_comm *comm, void *stream, void *dst, const void *src, size_t bytes)
{
    int e = bytes ? comm->gpu->rt->memcpy_async(dst, src, bytes, stream) : 0;
    return e ? gpu_rt_error(comm, e, "memcpy") : haloSuccess;
}

static haloResult_t gpu_sync(struct halo_comm *comm, void *stream)
{
    int e = comm->gpu->rt->stream_sync(stream);
    return e ? gpu_rt_error(comm, e, "stream synchronize") : haloSuccess;
}

static haloResult_t gpu_event(struct halo_comm *comm, void *ev, void *stream, int wait)
{
    const struct gpu_rt *rt = comm->gpu->rt;
    int e = wait ? rt->event_sync(ev) : rt->event_record(ev, stream);
    return e ? gpu_rt_error(comm, e, wait ? "event synchronize" : "event record") : haloSuccess;
}

/* All-reduce, broadcast or reduce in pieces of one pool slot: piece k lives in
 * slot k % GPU_STAGE_SLOTS; its copy in is issued GPU_STAGE_SLOTS - 1 pieces ahead,
 * once the copy out of the slot's previous piece finished. */
static haloResult_t gpu_run_pieces(struct halo_comm *comm, struct gpu_op *g)
{
    struct gpu_comm *gc = comm->gpu;
    const int S = GPU_STAGE_SLOTS;
    size_t es = halo_dtype_size(g->op.dtype);
    size_t per = gpu_stage_slot_bytes(gc) / es;
    size_t n = g->op.count, npieces = (n + per - 1) / per;
    int in = g->dev_send != NULL, out = g->dev_recv != NULL;
    haloResult_t r = haloSuccess;

    /* Issues piece j's copy in (device input → its slot). */
#define PIECE_LEN(j) (((j) + 1) * per > n ? n - (j) * per : per)
    for (size_t j = 0; in && j < npieces && j < (size_t)S - 1 && r == haloSuccess; j++) {
        r = gpu_copy(comm, gc->copy_in, gpu_stage_slot(gc, (int)(j % S)), (const char *)g->dev_send + j * per * es,
                     PIECE_LEN(j) * es);
        if (r == haloSuccess)
            r = gpu_event(comm, gc->ev_in[j % S], gc->copy_in, 0);
    }
    for (size_t k = 0; k < npieces && r == haloSuccess; k++) {
        void *slot = gpu_stage_slot(gc, (int)(k % S));
        size_t len = PIECE_LEN(k), off = k * per * es;
        if (in)
            r = gpu_event(comm, gc->ev_in[k % S], NULL, 1);
        else if (out && k >= (size_t)S) /* the slot's copy out, S pieces ago */
            r = gpu_event(comm, gc->ev_out[k % S], NULL, 1);
        struct halo_op sub = g->op;
        sub.count = len;
        sub.sendbuf = in ? slot : g->op.sendbuf ? (const char *)g->op.sendbuf + off : NULL;
        sub.recvbuf = out ? slot : g->op.recvbuf ? (char *)g->op.recvbuf + off : NULL;
        if (r == haloSuccess)
            r = coll_execute(&sub);
        if (r == haloSuccess && out) {
            r = gpu_copy(comm, gc->copy_out, (char *)g->dev_recv + off, slot, len * es);
            if (r == haloSuccess)
                r = gpu_event(comm, gc->ev_out[k % S], gc->copy_out, 0);
        }
        size_t j = k + S - 1; /* reuses the slot of piece k - 1 */
        if (r == haloSuccess && in && j < npieces) {
            if (out && k > 0)
                r = gpu_event(comm, gc->ev_out[(k - 1) % S], NULL, 1);
            if (r == haloSuccess)
                r = gpu_copy(comm, gc->copy_in, gpu_stage_slot(gc, (int)(j % S)),
                             (const char *)g->dev_send + j * per * es, PIECE_LEN(j) * es);
            if (r == haloSuccess)
                r = gpu_event(comm, gc->ev_in[j % S], gc->copy_in, 0);
        }
    }
#undef PIECE_LEN
    if (!in && !out)
        return r;
    haloResult_t r2 = gpu_sync(comm, gc->copy_out);
    haloResult_t r3 = gpu_sync(comm, gc->copy_in);
    return r != haloSuccess ? r : r2 != haloSuccess ? r2 : r3;
}

/* Whole-call staging (groups, point to point, all-gather, reduce-scatter and
 * pieceable calls that fit one slot): every staged buffer gets its place in the
 * arena, inputs are copied in, the ops run, outputs are copied out. */
static size_t gpu_whole_bytes(const struct gpu_payload *pl)
{
    size_t need = 0;
    for (int i = 0; i < pl->nops; i++) {
        const struct gpu_op *g = &pl->ops[i];
        need += (g->dev_send ? (g->send_bytes + 63) / 64 * 64 : 0) + (g->dev_recv ? (g->recv_bytes + 63) / 64 * 64 : 0);
    }
    return need;
}

/* Pieces: one pieceable op larger than a pool slot (on every rank alike). */
static int gpu_uses_pieces(const struct halo_comm *comm, const struct gpu_payload *pl)
{
    const struct gpu_op *g = &pl->ops[0];
    return pl->nops == 1 && gpu_op_pieceable(&g->op) && comm->nranks > 1 &&
           g->op.count * halo_dtype_size(g->op.dtype) > gpu_stage_slot_bytes(comm->gpu);
}

static haloResult_t gpu_run_whole(struct halo_comm *comm, struct gpu_payload *pl)
{
    struct gpu_comm *gc = comm->gpu;
    size_t need = pl->staged;
    char *arena = pl->arena;
    struct halo_op ops[64];
    void *staged_recv[64];
    struct halo_op *run = ops;
    void **srecv = staged_recv;
    if (pl->nops > 64) {
        run = malloc((size_t)pl->nops * (sizeof(*run) + sizeof(void *)));
        srecv = run ? (void **)(run + pl->nops) : NULL;
    }
    if (!run)
        return halo_error(comm, haloSystemError, "rank %d: out of memory running a group", comm->rank);
    haloResult_t r = haloSuccess;
    size_t at = 0;
    for (int i = 0; i < pl->nops && r == haloSuccess; i++) {
        struct gpu_op *g = &pl->ops[i];
        run[i] = g->op;
        if (g->dev_send) {
            run[i].sendbuf = arena + at;
            r = gpu_copy(comm, gc->copy_in, arena + at, g->dev_send, g->send_bytes);
            at += (g->send_bytes + 63) / 64 * 64;
        }
        srecv[i] = NULL;
        if (g->dev_recv) {
            run[i].recvbuf = srecv[i] = arena + at; /* kept: group_run_ops reorders run[] */
            at += (g->recv_bytes + 63) / 64 * 64;
        }
    }
    if (r == haloSuccess && need)
        r = gpu_sync(comm, gc->copy_in);
    if (r == haloSuccess)
        r = pl->nops == 1 && pl->ops[0].op.coll != HALO_COLL_SEND && pl->ops[0].op.coll != HALO_COLL_RECV
                ? coll_execute(&run[0])
                : group_run_ops(run, pl->nops);
    for (int i = 0; i < pl->nops && r == haloSuccess; i++)
        if (pl->ops[i].dev_recv)
            r = gpu_copy(comm, gc->copy_out, pl->ops[i].dev_recv, srecv[i], pl->ops[i].recv_bytes);
    if (r == haloSuccess && need)
        r = gpu_sync(comm, gc->copy_out);
    if (run != ops)
        free(run);
    return r;
}

static haloResult_t gpu_run(void *ctx, void *payload)
{
    struct halo_comm *comm = ctx;
    struct gpu_payload *pl = payload;
    struct gpu_comm *gc = comm->gpu;
    if (gpu_proxy_draining(gc->proxy))
        return halo_error(comm, haloRemoteError, "rank %d: the communicator was aborted or destroyed before its "
                          "streams reached this call; it did not run", comm->rank);
    int ae = atomic_load(&comm->async_error);
    if (ae != haloSuccess)
        return (haloResult_t)ae; /* broken by an earlier call: the streams are released, nothing moves */
    haloResult_t r = pl->pieces ? gpu_run_pieces(comm, &pl->ops[0]) : gpu_run_whole(comm, pl);
    return r == haloSuccess ? r : comm_fail(comm, r);
}

static void gpu_free_payload(void *ctx, void *payload)
{
    (void)ctx;
    free(payload);
}

/* ---- the caller's side ---- */

/* The runtime, loaded at the first call that names a stream (or at init when
 * HALO_GPU_RUNTIME names one). */
static haloResult_t gpu_runtime(struct halo_comm *comm, const char *fn, const struct gpu_rt **rt)
{
    char err[512];
    if (gpu_rt_load(rt, err, sizeof(err)) != 0)
        return halo_error(comm, haloUnhandledCudaError, "%s: %s", fn, err);
    return haloSuccess;
}

static haloResult_t gpu_comm_start(struct halo_comm *comm, const struct gpu_rt *rt, int device)
{
    if (comm->gpu)
        return haloSuccess;
    struct gpu_comm *gc = calloc(1, sizeof(*gc));
    if (!gc)
        return halo_error(comm, haloSystemError, "rank %d: out of memory", comm->rank);
    gc->rt = rt;
    gc->pool_bytes = (size_t)HALO_P_INT(&comm->params, pool_size);
    gc->device = device; /* current on the calling thread at the first GPU call */
    struct gpu_proxy_cfg cfg = {.rt = rt, .device = gc->device,
                                .sync = (enum gpu_sync_mode)HALO_P_INT(&comm->params, gpu_sync),
                                .run = gpu_run, .free_payload = gpu_free_payload, .ctx = comm, .rank = comm->rank};
    char err[512];
    /* The pool, copy streams and events now, on this thread (gpu_mem.h says why). */
    if (gpu_stage_ready(gc, err, sizeof(err)) != 0) {
        gpu_comm_destroy(gc, 0, 1);
        return halo_error(comm, haloUnhandledCudaError, "rank %d: %s", comm->rank, err);
    }
    comm->gpu = gc; /* before the thread starts: gpu_run reads it */
    if (gpu_proxy_create(&cfg, &gc->proxy, err, sizeof(err)) != 0) {
        comm->gpu = NULL;
        gpu_comm_destroy(gc, 0, 1);
        return halo_error(comm, haloUnhandledCudaError, "rank %d: %s", comm->rank, err);
    }
    HLOG_INFO(HALO_SUB_GPU, comm->rank, "GPU mode on device %d: %zu MiB pinned staging pool (HALO_POOL_SIZE), "
              "pipelined in %zu KiB slots", gc->device, gc->pool_bytes >> 20, gpu_stage_slot_bytes(gc) >> 10);
    return haloSuccess;
}

int api_gpu_wanted(struct halo_comm *comm, const struct halo_op *ops, int n)
{
    if (comm && comm->gpu)
        return 1; /* once a progress thread runs, every call is ordered behind it */
    for (int i = 0; i < n; i++)
        if (ops[i].stream)
            return 1;
    return gpu_rt_get() != NULL; /* stream NULL: device buffers still need staging */
}

/* Where one buffer's bytes are: *cpu = the address the CPU uses in place, or
 * *dev = p when it must be staged. */
static haloResult_t gpu_place(struct halo_comm *comm, const struct gpu_rt *rt, int device, const char *fn,
                              const char *what, const void *p, void **cpu, void **dev)
{
    char err[512];
    struct gpu_buf b;
    if ((comm->gpu ? gpu_classify_cached(comm->gpu, p, &b, err, sizeof(err))
                   : gpu_classify(rt, device, p, &b, err, sizeof(err))) != 0)
        return halo_error(comm, haloInvalidArgument, "%s: %s: %s", fn, what, err);
    if (b.host)
        *cpu = b.host;
    else
        *dev = (void *)p;
    return haloSuccess;
}

/* Fills g from op; *device_bufs set when a buffer needs staging. */
static haloResult_t gpu_prepare(struct halo_comm *comm, const struct gpu_rt *rt, int device, const struct halo_op *op,
                                struct gpu_op *g, int *device_bufs, const char *fn)
{
    memset(g, 0, sizeof(*g));
    g->op = *op;
    gpu_op_bytes(op, comm->rank, comm->nranks, &g->send_bytes, &g->recv_bytes);
    haloResult_t r = haloSuccess;
    if (g->send_bytes && op->sendbuf)
        r = gpu_place(comm, rt, device, fn, "sendbuff", op->sendbuf, (void **)&g->op.sendbuf, (void **)&g->dev_send);
    if (r == haloSuccess && g->recv_bytes && op->recvbuf)
        r = gpu_place(comm, rt, device, fn, "recvbuff", op->recvbuf, &g->op.recvbuf, &g->dev_recv);
    if (r != haloSuccess)
        return r;
    /* In place on device memory: the collective runs in place on the staged copy
     * when the two ranges are the same bytes; otherwise (all-gather,
     * reduce-scatter in place) each range is staged on its own. */
    if (g->dev_send && g->dev_recv && g->dev_send == g->dev_recv && g->send_bytes == g->recv_bytes &&
        gpu_op_pieceable(op))
        g->dev_send = g->dev_recv; /* gpu_run_pieces copies in and out of the same slot */
    *device_bufs |= g->dev_send || g->dev_recv;
    return haloSuccess;
}

haloResult_t api_gpu_submit(struct halo_comm *comm, const struct halo_op *ops, int n, const char *fn)
{
    const struct gpu_rt *rt = NULL;
    haloResult_t r = gpu_runtime(comm, fn, &rt);
    if (r != haloSuccess)
        return r;
    void *streams[GPU_MAX_STREAMS];
    int nstreams = 0, host_wait = 0;
    for (int i = 0; i < n; i++) {
        if (!ops[i].stream) {
            host_wait = 1;
            continue;
        }
        int seen = 0;
        for (int s = 0; s < nstreams; s++)
            seen |= streams[s] == ops[i].stream;
        if (!seen && nstreams == GPU_MAX_STREAMS)
            return halo_error(comm, haloInvalidArgument, "%s: one group spans more than %d streams on rank %d's "
                              "communicator", fn, GPU_MAX_STREAMS, comm->rank);
        if (!seen)
            streams[nstreams++] = ops[i].stream;
    }
    if (!rt) {
        if (nstreams)
            return halo_error(comm, haloInvalidArgument,
                              "%s: a stream was given, but no GPU runtime is loaded (HALO_GPU_RUNTIME=%s found no "
                              "HIP or CUDA runtime; set HALO_GPU_LIBRARY to its path), so buffers must be host "
                              "memory and stream NULL", fn, HALO_P_STR(&comm->params, gpu_runtime));
        return haloInternalError; /* not reached: api_gpu_wanted says no without a runtime */
    }
    int device = 0;
    if (comm->gpu)
        device = comm->gpu->device;
    else if ((r = rt->get_device(&device)) != 0)
        return halo_error(comm, haloUnhandledCudaError, "%s: %s get device failed: %s", fn, rt->name,
                          rt->error_string((int)r));
    struct gpu_payload *pl = malloc(sizeof(*pl) + (size_t)n * sizeof(struct gpu_op));
    if (!pl)
        return halo_error(comm, haloSystemError, "%s: out of memory", fn);
    pl->comm = comm;
    pl->nops = n;
    int device_bufs = 0;
    for (int i = 0; i < n && r == haloSuccess; i++)
        r = gpu_prepare(comm, rt, device, &ops[i], &pl->ops[i], &device_bufs, fn);
    if (r != haloSuccess) {
        free(pl);
        return r;
    }
    /* Host mode as before: no stream, host buffers, no progress thread yet. */
    if (!nstreams && !device_bufs && !comm->gpu) {
        free(pl);
        return n == 1 && ops[0].coll != HALO_COLL_SEND && ops[0].coll != HALO_COLL_RECV
                   ? coll_execute((struct halo_op *)&ops[0])
                   : group_run_ops((struct halo_op *)ops, n);
    }
    if ((r = gpu_comm_start(comm, rt, device)) != haloSuccess) {
        free(pl);
        return r;
    }
    pl->arena = NULL;
    pl->pieces = gpu_uses_pieces(comm, pl);
    pl->staged = pl->pieces ? 0 : gpu_whole_bytes(pl);
    size_t need = pl->staged;
    if (need) {
        char aerr[512];
        pl->arena = need <= gpu_stage_slot_bytes(comm->gpu)
                        ? gpu_stage_slot(comm->gpu, 0)
                        : gpu_stage_arena(comm->gpu, need, comm->rank, aerr, sizeof(aerr));
        if (!pl->arena) {
            free(pl);
            return halo_error(comm, haloUnhandledCudaError, "%s: rank %d: %s", fn, comm->rank, aerr);
        }
    }
    if (host_wait && device_bufs) {
        int e = rt->stream_sync(NULL); /* stream NULL: device inputs come from the default stream */
        if (e) {
            free(pl);
            return halo_error(comm, haloUnhandledCudaError, "%s: %s synchronize of the default stream failed: %s",
                              fn, rt->name, rt->error_string(e));
        }
    }
    char err[512];
    haloResult_t result = haloSuccess;
    if (gpu_proxy_submit(comm->gpu->proxy, streams, nstreams, pl, host_wait ? &result : NULL, err, sizeof(err)) != 0)
        return halo_error(comm, haloUnhandledCudaError, "%s: rank %d: %s", fn, comm->rank, err); /* pl is freed */
    return host_wait ? result : haloSuccess;
}

struct gpu_proxy *api_gpu_proxy(struct halo_comm *comm)
{
    return comm->gpu ? comm->gpu->proxy : NULL;
}
