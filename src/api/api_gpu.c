/* SPDX-License-Identifier: MIT */
/*
 * api_gpu.c — calls on GPU streams and GPU buffers: where each buffer's bytes are
 * (in place, or staged through pinned memory), the hand-off to the
 * communicator's progress thread (src/hip/gpu_stream.c), and what that thread
 * runs.
 *
 * The calling thread classifies the buffers and enqueues everything on the
 * call's streams at once, returning before any byte moves: for device memory the
 * CPU cannot reach, a copy into pinned staging memory; READY; WAIT(DONE); the
 * copy back out. The progress thread sees READY, runs the collective with the CPU
 * and the NIC on host addresses only, and writes DONE. It never calls the GPU
 * runtime itself: CUDA may block such a call on a lock that an application
 * thread holds while, in a synchronous copy, it waits for a stream that waits
 * for this very call — a deadlock seen with torch (a device-to-host copy right
 * after a receive).
 *
 * Staging memory is the communicator's pool (HALO_POOL_SIZE) or, for larger
 * calls, one growing arena; the next staged call waits on its streams until the
 * previous one copied out (gpu_stream.h, FREE words). A call captured into a
 * graph stages through memory of its own.
 */
#define HALO_ERR_SUBSYS HALO_SUB_GPU
#include <stdlib.h>
#include <string.h>

#include "algos.h"
#include "comm.h"
#include "error.h"
#include "gpu_mem.h"
#include "group.h"
#include "hot.h"
#include "log.h"
#include "reduce.h"

/* One op as the progress thread runs it: the user's op plus where its buffers are. */
struct gpu_op {
    struct halo_op op;     /* buffers: the CPU addresses (in place, or in staging memory) */
    const void *dev_send;  /* device address to copy in from; NULL: in place */
    void *dev_recv;        /* device address to copy out to; NULL: in place */
    const void *dev_scalar; /* a pre-mul-sum scalar in device memory, to copy in */
    size_t send_bytes, recv_bytes;
};

struct gpu_payload {
    struct halo_comm *comm;
    int pieces;            /* > 0: one big op run as this many pieces (gpu_uses_pieces) */
    size_t piece_elems;
    int piece_streamed;    /* its stream stages piece by piece: wait PIN, write PDONE */
    uint32_t piece_base;   /* handed out by gpu_proxy_submit */
    int nops;
    struct gpu_op ops[];
};

static int gpu_op_pieceable(const struct halo_op *op)
{
    return op->coll == HALO_COLL_ALLREDUCE || op->coll == HALO_COLL_BROADCAST || op->coll == HALO_COLL_REDUCE;
}

/* One piece: a quarter of the pool, so that a piece's copies and its collective
 * overlap those of its neighbours. Depends on HALO_POOL_SIZE only (equal on all
 * ranks), never on where the buffers are: every rank cuts the same call alike. */
static size_t gpu_piece_bytes(const struct halo_comm *comm)
{
    size_t b = (size_t)HALO_P_INT(&comm->params, pool_size) / 4 / 4096 * 4096;
    return b ? b : 4096;
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

/* A big all-reduce, broadcast or reduce as pieces: piece k runs once its stream
 * staged its inputs (PIN), and its stream copies it out as soon as it is done
 * (PDONE) while the next pieces are on the wire. */
static haloResult_t gpu_run_pieces(struct halo_comm *comm, struct gpu_payload *pl)
{
    struct gpu_proxy *px = comm->gpu->proxy;
    const struct halo_op *op = &pl->ops[0].op;
    size_t es = halo_dtype_size(op->dtype), per = pl->piece_elems;
    haloResult_t r = haloSuccess;
    for (int k = 0; k < pl->pieces && r == haloSuccess; k++) {
        size_t off = (size_t)k * per, len = op->count - off < per ? op->count - off : per;
        if (pl->piece_streamed && gpu_proxy_piece_wait(px, pl->piece_base, k) != 0) {
            r = halo_error(comm, haloRemoteError, "rank %d: the communicator was aborted or destroyed while its "
                           "stream staged piece %d of %s", comm->rank, k, halo_coll_name(op->coll));
            break;
        }
        struct halo_op sub = *op;
        sub.count = len;
        sub.sendbuf = op->sendbuf ? (const char *)op->sendbuf + off * es : NULL;
        sub.recvbuf = op->recvbuf ? (char *)op->recvbuf + off * es : NULL;
        r = coll_execute(&sub);
        if (pl->piece_streamed)
            gpu_proxy_piece_done(px, pl->piece_base, k);
    }
    if (pl->piece_streamed) /* all of them, also after a failure: the stream waits for each */
        gpu_proxy_piece_done(px, pl->piece_base, pl->pieces - 1);
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
    struct halo_op ops[64], *run = pl->nops <= 64 ? ops : malloc((size_t)pl->nops * sizeof(*run));
    if (!run)
        return comm_fail(comm, halo_error(comm, haloSystemError, "rank %d: out of memory running a group",
                                          comm->rank));
    for (int i = 0; i < pl->nops; i++)
        run[i] = pl->ops[i].op; /* group_run_ops reorders its array */
    haloResult_t r = pl->pieces ? gpu_run_pieces(comm, pl)
                     : pl->nops == 1 && run[0].coll != HALO_COLL_SEND && run[0].coll != HALO_COLL_RECV
                         ? coll_execute(&run[0])
                         : group_run_ops(run, pl->nops);
    if (run != ops)
        free(run);
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
    /* The pool now, on this thread (gpu_mem.h says why). */
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
    HLOG_INFO(HALO_SUB_GPU, comm->rank, "GPU mode on device %d: %zu MiB pinned staging pool (HALO_POOL_SIZE) for "
              "device buffers the CPU cannot reach", gc->device, gc->pool_bytes >> 20);
    return haloSuccess;
}

HALO_HOT int api_gpu_wanted(struct halo_comm *comm, const struct halo_op *ops, int n)
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
    if (r == haloSuccess && op->premul == HALO_PREMUL_POINTER) {
        void *host = NULL;
        r = gpu_place(comm, rt, device, fn, "the pre-mul-sum scalar", op->scalar_ptr, &host, (void **)&g->dev_scalar);
        g->op.premul = HALO_PREMUL_HOST; /* staged (gpu_plan_copies) or read in place */
        g->op.scalar_ptr = host;
    }
    if (r != haloSuccess)
        return r;
    *device_bufs |= g->dev_send || g->dev_recv || g->dev_scalar;
    return haloSuccess;
}

/* Staging bytes of one buffer, rounded so that every staged buffer starts on a
 * cache line. */
static size_t gpu_round(size_t b)
{
    return (b + 63) / 64 * 64;
}

/* In place on device memory (the same bytes read and written): staged once, run
 * in place on the copy. Otherwise (out of place, or all-gather and
 * reduce-scatter in place) each range is staged on its own. */
static int gpu_same_range(const struct gpu_op *g)
{
    return g->dev_send && g->dev_send == g->dev_recv && g->send_bytes == g->recv_bytes;
}

static size_t gpu_staged_bytes(const struct gpu_payload *pl)
{
    size_t need = 0;
    for (int i = 0; i < pl->nops; i++) {
        const struct gpu_op *g = &pl->ops[i];
        need += gpu_same_range(g) ? gpu_round(g->recv_bytes)
                                  : (g->dev_send ? gpu_round(g->send_bytes) : 0) +
                                        (g->dev_recv ? gpu_round(g->recv_bytes) : 0);
        need += g->dev_scalar ? 64 : 0;
    }
    return need;
}

static int gpu_stream_index(void *const *streams, int nstreams, void *s)
{
    for (int i = 0; i < nstreams; i++)
        if (streams[i] == s)
            return i;
    return 0;
}

/* Pieces: one op on one stream; copy k moves piece k of each staged range. */
static void gpu_plan_piece_copies(struct gpu_payload *pl, struct gpu_stream_copy *in, int *nin,
                                  struct gpu_stream_copy *out, int *nout)
{
    const struct gpu_op *g = &pl->ops[0];
    size_t es = halo_dtype_size(g->op.dtype), per = pl->piece_elems;
    *nin = *nout = 0;
    for (int k = 0; k < pl->pieces; k++) {
        size_t off = (size_t)k * per, len = g->op.count - off < per ? g->op.count - off : per;
        if (g->dev_send)
            in[(*nin)++] = (struct gpu_stream_copy){0, (char *)g->op.sendbuf + off * es,
                                                    (const char *)g->dev_send + off * es, len * es};
        if (g->dev_recv)
            out[(*nout)++] = (struct gpu_stream_copy){0, (char *)g->dev_recv + off * es,
                                                      (const char *)g->op.recvbuf + off * es, len * es};
    }
}

/* Places every staged buffer in `area` and lists its copies: in before the
 * collective, out after. The ops' CPU addresses point into the area. */
static void gpu_plan_copies(struct gpu_payload *pl, char *area, void *const *streams, int nstreams,
                            struct gpu_stream_copy *in, int *nin, struct gpu_stream_copy *out, int *nout)
{
    size_t at = 0;
    *nin = *nout = 0;
    for (int i = 0; i < pl->nops; i++) {
        struct gpu_op *g = &pl->ops[i];
        int s = gpu_stream_index(streams, nstreams, g->op.stream);
        int same = gpu_same_range(g);
        if (g->dev_send) {
            g->op.sendbuf = area + at;
            in[(*nin)++] = (struct gpu_stream_copy){s, area + at, g->dev_send, g->send_bytes};
            if (!same)
                at += gpu_round(g->send_bytes);
        }
        if (g->dev_recv) {
            g->op.recvbuf = area + at;
            out[(*nout)++] = (struct gpu_stream_copy){s, g->dev_recv, area + at, g->recv_bytes};
            at += gpu_round(g->recv_bytes);
        }
        if (g->dev_scalar) {
            g->op.scalar_ptr = area + at;
            in[(*nin)++] = (struct gpu_stream_copy){s, area + at, g->dev_scalar, halo_dtype_size(g->op.dtype)};
            at += 64;
        }
    }
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
    struct gpu_stream_copy *copies = malloc(3 * (size_t)n * sizeof(*copies)); /* in: 2 per op, out: 1 */
    if (!pl || !copies) {
        free(pl);
        free(copies);
        return halo_error(comm, haloSystemError, "%s: out of memory", fn);
    }
    memset(pl, 0, sizeof(*pl));
    pl->comm = comm;
    pl->nops = n;
    int device_bufs = 0;
    for (int i = 0; i < n && r == haloSuccess; i++)
        r = gpu_prepare(comm, rt, device, &ops[i], &pl->ops[i], &device_bufs, fn);
    /* Host mode as before: no stream, host buffers, no progress thread yet. */
    if (r == haloSuccess && !nstreams && !device_bufs && !comm->gpu) {
        free(pl);
        free(copies);
        return n == 1 && ops[0].coll != HALO_COLL_SEND && ops[0].coll != HALO_COLL_RECV
                   ? coll_execute((struct halo_op *)&ops[0])
                   : group_run_ops((struct halo_op *)ops, n);
    }
    if (r == haloSuccess)
        r = gpu_comm_start(comm, rt, device);
    if (r != haloSuccess) {
        free(pl);
        free(copies);
        return r;
    }
    /* Stream NULL with device buffers: the copies go on the legacy default stream,
     * which also orders the call after the device work that made its inputs. */
    if (host_wait && device_bufs && nstreams < GPU_MAX_STREAMS) {
        int seen = 0;
        for (int s = 0; s < nstreams; s++)
            seen |= streams[s] == NULL;
        if (!seen)
            streams[nstreams++] = NULL;
    }
    char err[512];
    struct gpu_copies cp = {.in = copies, .out = copies + 2 * n};
    size_t need = gpu_staged_bytes(pl);
    size_t bytes0 = ops[0].count * halo_dtype_size(ops[0].dtype), piece = gpu_piece_bytes(comm);
    if (n == 1 && gpu_op_pieceable(&ops[0]) && comm->nranks > 1 && bytes0 > piece) {
        pl->piece_elems = piece / halo_dtype_size(ops[0].dtype);
        pl->pieces = (int)((ops[0].count + pl->piece_elems - 1) / pl->piece_elems);
    }
    int capturing = gpu_proxy_capturing(comm->gpu->proxy, streams, nstreams, err, sizeof(err));
    if (capturing < 0) {
        free(pl);
        free(copies);
        return halo_error(comm, haloInvalidUsage, "%s: rank %d: %s", fn, comm->rank, err);
    }
    if (need) {
        char *area = capturing ? gpu_stage_private(comm->gpu, need, err, sizeof(err))
                               : gpu_stage_shared(comm->gpu, need, comm->rank, err, sizeof(err));
        if (!area) {
            free(pl);
            free(copies);
            return halo_error(comm, haloUnhandledCudaError, "%s: rank %d: %s", fn, comm->rank, err);
        }
        cp.shared = !capturing;
        gpu_plan_copies(pl, area, streams, nstreams, copies, &cp.nin, copies + 2 * n, &cp.nout);
        /* Staged piece by piece on the stream (eager, one stream, no scalar to stage). */
        if (pl->pieces && !capturing && nstreams == 1 && !pl->ops[0].dev_scalar) {
            struct gpu_stream_copy *pc = malloc(2 * (size_t)pl->pieces * sizeof(*pc));
            if (!pc) {
                free(pl);
                free(copies);
                return halo_error(comm, haloSystemError, "%s: out of memory", fn);
            }
            free(copies);
            copies = pc;
            cp.in = pc;
            cp.out = pc + pl->pieces;
            gpu_plan_piece_copies(pl, pc, &cp.nin, pc + pl->pieces, &cp.nout);
            cp.npieces = pl->pieces;
            cp.piece_base = &pl->piece_base;
            pl->piece_streamed = 1;
        }
    }
    haloResult_t result = haloSuccess;
    int rc = gpu_proxy_submit(comm->gpu->proxy, streams, nstreams, capturing, need ? &cp : NULL, pl,
                              host_wait ? &result : NULL, err, sizeof(err));
    free(copies);
    if (rc != 0)
        return halo_error(comm, haloUnhandledCudaError, "%s: rank %d: %s", fn, comm->rank, err); /* pl is freed */
    if (host_wait && device_bufs) {
        int e = rt->stream_sync(NULL); /* the copies out, before the call returns */
        if (e)
            return halo_error(comm, haloUnhandledCudaError, "%s: %s synchronize of the default stream failed: %s",
                              fn, rt->name, rt->error_string(e));
    }
    return host_wait ? result : haloSuccess;
}

struct gpu_proxy *api_gpu_proxy(struct halo_comm *comm)
{
    return comm->gpu ? comm->gpu->proxy : NULL;
}
