/* SPDX-License-Identifier: MIT */
/*
 * test_gpu_stream.c — collectives on GPU streams and GPU buffers, through the
 * runtime table (src/hip/gpu_rt.h), so the same program runs on the fake HIP
 * runtime in CI (whose device memory the CPU cannot touch: a CPU access to it
 * crashes) and on a real GPU (HALO_GPU_RUNTIME=cuda or hip).
 *
 * Usage: test_gpu_stream NRANKS CASE
 *   coll    every collective × memory kind × in/out of place × dtype, small and
 *           pipelined sizes; inputs written on the stream right before the call,
 *           outputs copied off it right after, no host synchronisation between
 *   order   two communicators on two streams interleaved, and a group of mixed
 *           collectives and sends/receives on one stream
 *   graph   a captured all-reduce replayed 200 times with new inputs each time
 *   graph2  torch's way: split communicators used and destroyed first, warm-ups on
 *           a side stream, a pause (the progress thread falls asleep), an
 *           in-place all-reduce captured on a third stream
 *   async   the call returns while its stream is still blocked; the result
 *           appears only after the stream is released
 *   dead    a peer dies while the streams wait: the survivors' streams are
 *           released and the error is reported
 *   abort   haloCommAbort releases a stream waiting for a call its peer never makes
 *   p2p     unbatched sends and receives as torch issues them
 *   p2psync the same, one group per call, synchronizing right after each pair
 *           while another thread polls haloCommGetAsyncError
 * Without a GPU runtime: skip (77).
 */
#include <math.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpu_rt.h"
#include "haloccl.h"
#include "mp.h"
#include "reduce.h"
#include "socket.h"
#include "test.h"
#include "gpu_test.h"
#include "values.h"


enum kind { K_DEVICE, K_PINNED, K_MEMALLOC, K_MANAGED, K_PAGEABLE, K_COUNT };
static const char *kind_name[K_COUNT] = {"device", "pinned", "memalloc", "managed", "pageable"};

static void *kalloc(enum kind k, size_t bytes)
{
    void *p = NULL;
    bytes = bytes ? bytes : 64;
    switch (k) {
    case K_DEVICE: CHECK_RT(rt->dev_alloc(&p, bytes)); break;
    case K_PINNED: CHECK_RT(rt->host_alloc(&p, bytes)); break;
    case K_MEMALLOC: CHECK_HALO(haloMemAlloc(&p, bytes), NULL); break;
    case K_MANAGED: CHECK_RT(rt->managed_alloc(&p, bytes)); break;
    default: p = malloc(bytes); break;
    }
    return p;
}

static void kfree(enum kind k, void *p)
{
    switch (k) {
    case K_DEVICE: rt->dev_free(p); break;
    case K_PINNED: rt->host_free(p); break;
    case K_MEMALLOC: haloMemFree(p); break;
    case K_MANAGED: rt->dev_free(p); break;
    default: free(p); break;
    }
}

/* ---- values: small integers, exact in every type tested ---- */

/* fp8 runs use 0/1 inputs: their sums over at most 8 ranks stay exact. */
static int small_vals;

static double val(int rank, size_t i)
{
    if (small_vals)
        return (double)((rank + (int)(i % 3)) % 2);
    return (double)(rank + 1) + (double)(i % 7);
}

static double reduced(int n, size_t i, haloRedOp_t op)
{
    double s = 0, m = -1e30;
    for (int r = 0; r < n; r++) {
        s += val(r, i);
        m = val(r, i) > m ? val(r, i) : m;
    }
    return op == haloMax ? m : s;
}

/* ---- one collective on the stream ---- */

enum coll { C_ALLREDUCE, C_ALLGATHER, C_BROADCAST, C_REDUCESCATTER, C_REDUCE, C_SENDRECV, C_COUNT };
static const char *coll_name[C_COUNT] = {"allreduce", "allgather", "broadcast", "reducescatter", "reduce",
                                         "sendrecv"};

/* Element counts of the send and receive buffers for count. */
static void coll_sizes(enum coll c, size_t count, int n, size_t *ns, size_t *nr)
{
    *ns = *nr = count;
    if (c == C_ALLGATHER)
        *nr = count * (size_t)n;
    if (c == C_REDUCESCATTER)
        *ns = count * (size_t)n;
}

static void fill_input(enum coll c, void *host, size_t ns, size_t count, int rank, haloDataType_t t)
{
    for (size_t j = 0; j < ns; j++)
        set_val(host, j, t, c == C_REDUCESCATTER ? val(rank, j) : val(rank, j % (count ? count : 1)));
}

static double expected(enum coll c, size_t i, size_t count, int rank, int n, haloRedOp_t op)
{
    switch (c) {
    case C_ALLREDUCE: return reduced(n, i, op);
    case C_ALLGATHER: return val((int)(i / count), i % count);
    case C_BROADCAST: return val(1 % n, i);
    case C_REDUCESCATTER: return reduced(n, (size_t)rank * count + i, op);
    case C_REDUCE: return reduced(n, i, op);
    default: return val((rank + n - 1) % n, i); /* sendrecv: from the previous rank */
    }
}

static haloResult_t issue(enum coll c, const void *s, void *r, size_t count, haloDataType_t t, haloRedOp_t op,
                          haloComm_t comm, void *stream, int rank, int n)
{
    switch (c) {
    case C_ALLREDUCE: return haloAllReduce(s, r, count, t, op, comm, stream);
    case C_ALLGATHER: return haloAllGather(s, r, count, t, comm, stream);
    case C_BROADCAST: return haloBroadcast(s, r, count, t, 1 % n, comm, stream);
    case C_REDUCESCATTER: return haloReduceScatter(s, r, count, t, op, comm, stream);
    case C_REDUCE: return haloReduce(s, r, count, t, op, n - 1, comm, stream);
    default:
        haloGroupStart();
        haloSend(s, count, t, (rank + 1) % n, comm, stream);
        haloRecv(r, count, t, (rank + n - 1) % n, comm, stream);
        return haloGroupEnd();
    }
}

/* Runs one case: inputs copied onto the stream, the call, outputs copied off,
 * then one synchronisation and an element-by-element check. */
static void run_case(haloComm_t comm, void *stream, int rank, int n, enum coll c, enum kind k, int inplace,
                     haloDataType_t t, haloRedOp_t op, size_t count)
{
    size_t es = halo_dtype_size(t), ns, nr;
    coll_sizes(c, count, n, &ns, &nr);
    if (c == C_SENDRECV || (c == C_BROADCAST && 0))
        inplace = 0;
    size_t sbytes = ns * es, rbytes = nr * es;
    char *hin = malloc(sbytes + 1), *hout = malloc(rbytes + 1);
    fill_input(c, hin, ns, count, rank, t);
    memset(hout, 0xee, rbytes);
    void *rbuf = kalloc(k, rbytes), *sbuf;
    if (inplace) {
        /* in place: the input lives inside the output where the API says */
        size_t off = c == C_ALLGATHER ? (size_t)rank * count * es : 0;
        if (c == C_REDUCESCATTER) {
            kfree(k, rbuf);
            sbuf = kalloc(k, sbytes);
            rbuf = (char *)sbuf + (size_t)rank * count * es;
        } else {
            sbuf = (char *)rbuf + off;
        }
    } else {
        sbuf = kalloc(k, sbytes);
    }
    /* The stream writes the input (a memset, as a kernel would, then the values)
     * and poisons the output, right before the call. */
    int gpu_reach = k != K_PAGEABLE; /* a GPU memset needs memory the device maps */
    if (gpu_reach)
        CHECK_RT(rt->memset_async(sbuf, 0x5a, sbytes, stream));
    CHECK_RT(rt->memcpy_async(sbuf, hin, sbytes, stream));
    if (!inplace && gpu_reach)
        CHECK_RT(rt->memset_async(rbuf, 0x77, rbytes, stream));
    CHECK_HALO(issue(c, sbuf, rbuf, count, t, op, comm, stream, rank, n), comm);
    int has_out = !(c == C_REDUCE && rank != n - 1);
    if (has_out)
        CHECK_RT(rt->memcpy_async(hout, rbuf, rbytes, stream));
    CHECK_RT(rt->stream_sync(stream));
    haloResult_t ae;
    CHECK_HALO(haloCommGetAsyncError(comm, &ae), comm);
    if (ae != haloSuccess)
        TEST_FAIL("async error after %s: %s", coll_name[c], haloGetLastError(comm));
    for (size_t i = 0; has_out && i < nr; i++) {
        double want = expected(c, i, count, rank, n, op), got = get_val(hout, i, t);
        if (got != want)
            TEST_FAIL("rank %d %s %s %s %s count %zu: element %zu is %g, expected %g", rank, coll_name[c],
                      kind_name[k], inplace ? "in place" : "out of place", halo_dtype_name(t), count, i, got, want);
    }
    if (c == C_REDUCESCATTER && inplace)
        kfree(k, sbuf);
    else {
        kfree(k, rbuf);
        if (!inplace)
            kfree(k, sbuf);
    }
    free(hin);
    free(hout);
}

static int kind_usable(enum kind k)
{
    if (k == K_MANAGED && !rt->managed_alloc)
        return 0;
    if (k == K_MANAGED) { /* some devices refuse managed memory (no XNACK on RDNA) */
        void *p = NULL;
        if (rt->managed_alloc(&p, 4096) != 0)
            return 0;
        rt->dev_free(p);
    }
    return 1;
}

static haloComm_t init_comm(int rank, int n, haloUniqueId id)
{
    haloComm_t comm = NULL;
    CHECK_HALO(haloCommInitRank(&comm, n, id, rank), NULL);
    return comm;
}

static void *new_stream(void)
{
    void *s = NULL;
    CHECK_RT(rt->stream_create(&s));
    return s;
}

static int case_coll(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm = init_comm(rank, n, id);
    void *s = new_stream();
    size_t big = 300001; /* > a pool slot with HALO_POOL_SIZE=1m: pipelined pieces */
    for (int k = 0; k < K_COUNT; k++) {
        if (!kind_usable((enum kind)k))
            continue;
        for (int c = 0; c < C_COUNT; c++)
            for (int ip = 0; ip < 2; ip++) {
                run_case(comm, s, rank, n, (enum coll)c, (enum kind)k, ip, haloFloat32, haloSum, 1001);
                run_case(comm, s, rank, n, (enum coll)c, (enum kind)k, ip, haloFloat32, haloSum, big);
            }
        run_case(comm, s, rank, n, C_ALLREDUCE, (enum kind)k, 0, haloInt32, haloMax, 4097);
        run_case(comm, s, rank, n, C_ALLREDUCE, (enum kind)k, 0, haloFloat32, haloSum, 0);
    }
    haloDataType_t types[] = {haloInt8, haloUint8, haloInt32, haloUint32, haloInt64, haloUint64,
                              haloFloat16, haloFloat32, haloFloat64, haloBfloat16};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        run_case(comm, s, rank, n, C_ALLREDUCE, K_DEVICE, 1, types[t], haloSum, 777);
        run_case(comm, s, rank, n, C_REDUCESCATTER, K_DEVICE, 0, types[t], haloSum, 333);
    }
    small_vals = 1; /* fp8: every collective, exact 0/1 inputs */
    haloDataType_t f8[] = {haloFloat8e4m3, haloFloat8e5m2};
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < C_COUNT; c++)
            run_case(comm, s, rank, n, (enum coll)c, K_DEVICE, c % 2, f8[t], haloSum, 999);
    small_vals = 0;
    CHECK_RT(rt->stream_destroy(s));
    CHECK_HALO(haloCommDestroy(comm), NULL);
    return 0;
}

/* Two communicators (the second a split of the first) on two streams, calls
 * interleaved; then a group of mixed operations on one stream. */
static int case_order(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t a = init_comm(rank, n, id), b = NULL;
    CHECK_HALO(haloCommSplit(a, 0, n - rank, &b, NULL), a); /* reversed ranks */
    int brank;
    CHECK_HALO(haloCommUserRank(b, &brank), b);
    void *s1 = new_stream(), *s2 = new_stream();
    const size_t cnt = 50000;
    for (int it = 0; it < 20; it++) {
        run_case(a, s1, rank, n, C_ALLREDUCE, K_DEVICE, it & 1, haloFloat32, haloSum, cnt + (size_t)it);
        run_case(b, s2, brank, n, C_ALLGATHER, K_PINNED, 0, haloFloat32, haloSum, cnt - (size_t)it);
    }
    /* Both streams in flight at once: no synchronisation between the two calls. */
    float *ha = malloc(cnt * 4), *hb = malloc(cnt * 4), *oa = malloc(cnt * 4), *ob = malloc(cnt * 4);
    for (size_t i = 0; i < cnt; i++) {
        ha[i] = (float)val(rank, i);
        hb[i] = (float)val(brank, i) * 2;
    }
    void *da = kalloc(K_DEVICE, cnt * 4), *db = kalloc(K_DEVICE, cnt * 4);
    for (int it = 0; it < 10; it++) {
        CHECK_RT(rt->memcpy_async(da, ha, cnt * 4, s1));
        CHECK_RT(rt->memcpy_async(db, hb, cnt * 4, s2));
        CHECK_HALO(haloAllReduce(da, da, cnt, haloFloat32, haloSum, a, s1), a);
        CHECK_HALO(haloAllReduce(db, db, cnt, haloFloat32, haloMax, b, s2), b);
        CHECK_RT(rt->memcpy_async(oa, da, cnt * 4, s1));
        CHECK_RT(rt->memcpy_async(ob, db, cnt * 4, s2));
        CHECK_RT(rt->stream_sync(s1));
        CHECK_RT(rt->stream_sync(s2));
        for (size_t i = 0; i < cnt; i++) {
            if (oa[i] != (float)reduced(n, i, haloSum) || ob[i] != (float)reduced(n, i, haloMax) * 2)
                TEST_FAIL("rank %d interleaved iteration %d element %zu: %g %g", rank, it, i, oa[i], ob[i]);
        }
    }
    /* A group: all-reduce + all-gather + a ring send/recv, one stream, device buffers. */
    size_t gc = 4099;
    float *h = malloc(gc * 4 * (size_t)n), *out = malloc(gc * 4 * (size_t)n);
    for (size_t i = 0; i < gc; i++)
        h[i] = (float)val(rank, i);
    void *x = kalloc(K_DEVICE, gc * 4), *y = kalloc(K_DEVICE, gc * 4), *g = kalloc(K_DEVICE, gc * 4 * (size_t)n),
         *rv = kalloc(K_DEVICE, gc * 4);
    CHECK_RT(rt->memcpy_async(x, h, gc * 4, s1));
    CHECK_HALO(haloGroupStart(), a);
    CHECK_HALO(haloAllReduce(x, y, gc, haloFloat32, haloSum, a, s1), a);
    CHECK_HALO(haloAllGather(x, g, gc, haloFloat32, a, s1), a);
    CHECK_HALO(haloSend(x, gc, haloFloat32, (rank + 1) % n, a, s1), a);
    CHECK_HALO(haloRecv(rv, gc, haloFloat32, (rank + n - 1) % n, a, s1), a);
    CHECK_HALO(haloGroupEnd(), a);
    CHECK_RT(rt->memcpy_async(out, y, gc * 4, s1));
    CHECK_RT(rt->stream_sync(s1));
    for (size_t i = 0; i < gc; i++)
        if (out[i] != (float)reduced(n, i, haloSum))
            TEST_FAIL("group allreduce element %zu: %g", i, out[i]);
    CHECK_RT(rt->memcpy_async(out, g, gc * 4 * (size_t)n, s1));
    CHECK_RT(rt->stream_sync(s1));
    for (size_t i = 0; i < gc * (size_t)n; i++)
        if (out[i] != (float)val((int)(i / gc), i % gc))
            TEST_FAIL("group allgather element %zu: %g", i, out[i]);
    CHECK_RT(rt->memcpy_async(out, rv, gc * 4, s1));
    CHECK_RT(rt->stream_sync(s1));
    for (size_t i = 0; i < gc; i++)
        if (out[i] != (float)val((rank + n - 1) % n, i))
            TEST_FAIL("group recv element %zu: %g", i, out[i]);
    kfree(K_DEVICE, x), kfree(K_DEVICE, y), kfree(K_DEVICE, g), kfree(K_DEVICE, rv);
    kfree(K_DEVICE, da), kfree(K_DEVICE, db);
    free(ha), free(hb), free(oa), free(ob), free(h), free(out);
    CHECK_HALO(haloCommDestroy(b), NULL);
    CHECK_HALO(haloCommDestroy(a), NULL);
    return 0;
}

/* A captured all-reduce (device in, device out) replayed 200 times; before each
 * replay the stream writes new inputs, after it the output is copied to its own
 * row of a host array. */
static int case_graph(int rank, int n, haloUniqueId id, void *arg)
{
    if (!rt->capture_begin || !rt->graph_launch)
        SKIP("the runtime lacks stream capture");
    haloComm_t comm = init_comm(rank, n, id);
    void *s = new_stream();
    const size_t cnt = 3000;
    const int reps = 200;
    void *din = kalloc(K_DEVICE, cnt * 4), *dout = kalloc(K_DEVICE, cnt * 4);
    float *hin = malloc(cnt * 4 * (size_t)reps), *hout = malloc(cnt * 4 * (size_t)reps);
    for (int it = 0; it < reps; it++)
        for (size_t i = 0; i < cnt; i++)
            hin[(size_t)it * cnt + i] = (float)(val(rank, i) + it);
    /* Warm up eagerly so the capture does not include first-use setup. */
    CHECK_RT(rt->memcpy_async(din, hin, cnt * 4, s));
    CHECK_HALO(haloAllReduce(din, dout, cnt, haloFloat32, haloSum, comm, s), comm);
    CHECK_RT(rt->stream_sync(s));
    void *graph = NULL, *exec = NULL;
    CHECK_RT(rt->capture_begin(s));
    CHECK_HALO(haloAllReduce(din, dout, cnt, haloFloat32, haloSum, comm, s), comm);
    CHECK_RT(rt->capture_end(s, &graph));
    CHECK_RT(rt->graph_instantiate(&exec, graph));
    for (int it = 0; it < reps; it++) {
        CHECK_RT(rt->memcpy_async(din, hin + (size_t)it * cnt, cnt * 4, s));
        CHECK_RT(rt->graph_launch(exec, s));
        CHECK_RT(rt->memcpy_async(hout + (size_t)it * cnt, dout, cnt * 4, s));
    }
    CHECK_RT(rt->stream_sync(s));
    for (int it = 0; it < reps; it++)
        for (size_t i = 0; i < cnt; i++) {
            float want = (float)(reduced(n, i, haloSum) + (double)it * n);
            if (hout[(size_t)it * cnt + i] != want)
                TEST_FAIL("rank %d replay %d element %zu: %g, expected %g", rank, it, i,
                          hout[(size_t)it * cnt + i], want);
        }
    /* An eager call after the replays still lines up on every rank. */
    run_case(comm, s, rank, n, C_ALLREDUCE, K_DEVICE, 0, haloFloat32, haloSum, 1234);
    CHECK_RT(rt->graph_exec_destroy(exec));
    CHECK_RT(rt->graph_destroy(graph));
    printf("rank %d: %d replays checked\n", rank, reps);
    kfree(K_DEVICE, din), kfree(K_DEVICE, dout);
    free(hin), free(hout);
    CHECK_HALO(haloCommDestroy(comm), NULL);
    return 0;
}

/* The stream is held by a wait on a pinned flag that the test releases later: the
 * call must return while the stream is held, and its result appear only after. */
static int case_async(int rank, int n, haloUniqueId id, void *arg)
{
    int v = 0;
    if (rt->device_attr(&v, GPU_ATTR_STREAM_MEM_OPS, 0) != 0 || !v)
        SKIP("the device has no stream memory operations to hold a stream with");
    haloComm_t comm = init_comm(rank, n, id);
    void *s = new_stream();
    const size_t cnt = 1 << 20;
    uint32_t *flag = NULL;
    float *io = NULL;
    CHECK_RT(rt->host_alloc((void **)&flag, 64));
    CHECK_RT(rt->host_alloc((void **)&io, cnt * 4));
    *flag = 0;
    for (size_t i = 0; i < cnt; i++)
        io[i] = (float)val(rank, i);
    /* A first call starts the progress thread and pins the pool: not timed. */
    CHECK_HALO(haloAllReduce(io, io, 1, haloFloat32, haloSum, comm, s), comm);
    CHECK_RT(rt->stream_sync(s));
    io[0] = (float)val(rank, 0);
    CHECK_RT(rt->stream_wait32(s, flag, 1, GPU_WAIT_EQ));
    int64_t t0 = halo_now_us();
    CHECK_HALO(haloAllReduce(io, io, cnt, haloFloat32, haloSum, comm, s), comm);
    int64_t t1 = halo_now_us();
    usleep(200000);
    for (size_t i = 0; i < cnt; i += 997)
        if (io[i] != (float)val(rank, i))
            TEST_FAIL("rank %d: element %zu changed to %g before its stream reached the call", rank, i, io[i]);
    __atomic_store_n(flag, 1, __ATOMIC_RELEASE);
    CHECK_RT(rt->stream_sync(s));
    int64_t t2 = halo_now_us();
    for (size_t i = 0; i < cnt; i++)
        if (io[i] != (float)reduced(n, i, haloSum))
            TEST_FAIL("rank %d: element %zu is %g after the stream passed", rank, i, io[i]);
    printf("rank %d: the call returned in %lld us; the stream finished %lld us later (held 200 ms)\n", rank,
           (long long)(t1 - t0), (long long)(t2 - t1));
    if (t1 - t0 > 100000)
        TEST_FAIL("rank %d: the call took %lld us although its stream was held", rank, (long long)(t1 - t0));
    rt->host_free(flag);
    rt->host_free(io);
    CHECK_HALO(haloCommDestroy(comm), NULL);
    return 0;
}

/* The last rank dies after its first collective; the others' next call is on a
 * stream: the stream must be released and the error reported. */
static int case_dead(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm = init_comm(rank, n, id);
    void *s = new_stream();
    run_case(comm, s, rank, n, C_ALLREDUCE, K_DEVICE, 0, haloFloat32, haloSum, 1000);
    if (rank == n - 1) {
        usleep(500000); /* the others have checked their first result */
        fflush(NULL);
        _exit(0); /* vanishes: no destroy, no abort */
    }
    void *d = kalloc(K_DEVICE, 4096);
    int64_t t0 = halo_now_us();
    CHECK_HALO(haloAllReduce(d, d, 1024, haloFloat32, haloSum, comm, s), comm);
    CHECK_RT(rt->stream_sync(s));
    int64_t t1 = halo_now_us();
    haloResult_t ae = haloSuccess;
    CHECK_HALO(haloCommGetAsyncError(comm, &ae), comm);
    printf("rank %d: stream released after %lld ms, async error %s: %s\n", rank, (long long)((t1 - t0) / 1000),
           haloGetErrorString(ae), haloGetLastError(comm));
    if (ae == haloSuccess)
        TEST_FAIL("rank %d: no async error after the peer died", rank);
    if (haloAllReduce(d, d, 1024, haloFloat32, haloSum, comm, s) == haloSuccess)
        TEST_FAIL("rank %d: a call on the broken communicator succeeded", rank);
    CHECK_RT(rt->stream_sync(s));
    kfree(K_DEVICE, d);
    haloCommAbort(comm);
    return 0;
}

/* Unbatched sends and receives on a stream, as torch issues them: even ranks
 * send then receive, odd ranks receive then send, one call each, no group. */
static int case_p2p(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm = init_comm(rank, n, id);
    void *s0 = new_stream(), *s = new_stream();
    /* First an all-to-all as torch issues it (a group of sends and receives,
     * self included) on another stream, then the unbatched pairs on s. */
    {
        size_t c = 7;
        void *a = kalloc(K_DEVICE, c * 4 * (size_t)n), *b = kalloc(K_DEVICE, c * 4 * (size_t)n);
        CHECK_RT(rt->memset_async(a, 1, c * 4 * (size_t)n, s0));
        CHECK_HALO(haloGroupStart(), comm);
        for (int p = 0; p < n; p++) {
            CHECK_HALO(haloSend((char *)a + (size_t)p * c * 4, c, haloFloat32, p, comm, s0), comm);
            CHECK_HALO(haloRecv((char *)b + (size_t)p * c * 4, c, haloFloat32, p, comm, s0), comm);
        }
        CHECK_HALO(haloGroupEnd(), comm);
        CHECK_RT(rt->stream_sync(s0));
        kfree(K_DEVICE, a), kfree(K_DEVICE, b);
    }
    size_t sizes[] = {513, 70000, 1 << 20};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t cnt = sizes[k];
        int nxt = (rank + 1) % n, prv = (rank + n - 1) % n;
        float *h = malloc(cnt * 4), *o = malloc(cnt * 4);
        for (size_t i = 0; i < cnt; i++)
            h[i] = (float)val(rank, i);
        void *t = kalloc(K_DEVICE, cnt * 4), *got = kalloc(K_DEVICE, cnt * 4);
        CHECK_RT(rt->memcpy_async(t, h, cnt * 4, s));
        if (rank % 2 == 0) {
            CHECK_HALO(haloSend(t, cnt, haloFloat32, nxt, comm, s), comm);
            CHECK_HALO(haloRecv(got, cnt, haloFloat32, prv, comm, s), comm);
        } else {
            CHECK_HALO(haloRecv(got, cnt, haloFloat32, prv, comm, s), comm);
            CHECK_HALO(haloSend(t, cnt, haloFloat32, nxt, comm, s), comm);
        }
        CHECK_RT(rt->memcpy_async(o, got, cnt * 4, s));
        CHECK_RT(rt->stream_sync(s));
        for (size_t i = 0; i < cnt; i++)
            if (o[i] != (float)val(prv, i))
                TEST_FAIL("rank %d p2p count %zu element %zu: %g, expected %g", rank, cnt, i, o[i], val(prv, i));
        kfree(K_DEVICE, t), kfree(K_DEVICE, got);
        free(h), free(o);
    }
    CHECK_HALO(haloCommDestroy(comm), NULL);
    return 0;
}

/* torch's pattern around a captured all-reduce: split communicators made, used
 * and destroyed first; three eager warm-ups on a side stream; the capture on a
 * third stream, in place; replays on the first stream, each after a fresh input. */
static int case_graph2(int rank, int n, haloUniqueId id, void *arg)
{
    if (!rt->capture_begin || !rt->graph_launch)
        SKIP("the runtime lacks stream capture");
    haloComm_t comm = init_comm(rank, n, id);
    void *s = new_stream(), *side = new_stream(), *cap = new_stream();
    const size_t cnt = 4096;
    float *h = malloc(cnt * 4);
    {
        haloComm_t all = NULL, first = NULL;
        CHECK_HALO(haloCommSplit(comm, 0, rank, &all, NULL), comm);
        CHECK_HALO(haloCommSplit(comm, rank == 0 ? 0 : HALO_SPLIT_NOCOLOR, 0, &first, NULL), comm);
        run_case(all, s, rank, n, C_ALLREDUCE, K_DEVICE, 0, haloFloat32, haloSum, 99);
        if (first)
            run_case(first, s, 0, 1, C_ALLREDUCE, K_DEVICE, 0, haloFloat32, haloSum, 10);
        CHECK_HALO(haloCommDestroy(all), NULL);
        if (first)
            CHECK_HALO(haloCommDestroy(first), NULL);
    }
    void *d = kalloc(K_DEVICE, cnt * 4);
    CHECK_RT(rt->memset_async(d, 0, cnt * 4, s));
    CHECK_RT(rt->stream_sync(s));
    for (int w = 0; w < 3; w++)
        CHECK_HALO(haloAllReduce(d, d, cnt, haloFloat32, haloSum, comm, side), comm);
    CHECK_RT(rt->stream_sync(side));
    usleep(300000); /* as torch.cuda.graph's synchronize and gc: the progress thread goes idle */
    void *graph = NULL, *exec = NULL;
    CHECK_RT(rt->capture_begin(cap));
    CHECK_HALO(haloAllReduce(d, d, cnt, haloFloat32, haloSum, comm, cap), comm);
    CHECK_RT(rt->capture_end(cap, &graph));
    CHECK_RT(rt->graph_instantiate(&exec, graph));
    for (int it = 0; it < 50; it++) {
        for (size_t i = 0; i < cnt; i++)
            h[i] = (float)(val(rank, i) + it);
        CHECK_RT(rt->memcpy_async(d, h, cnt * 4, s));
        CHECK_RT(rt->graph_launch(exec, s));
        CHECK_RT(rt->memcpy_async(h, d, cnt * 4, s));
        CHECK_RT(rt->stream_sync(s));
        for (size_t i = 0; i < cnt; i++) {
            float want = (float)(reduced(n, i, haloSum) + (double)it * n);
            if (h[i] != want)
                TEST_FAIL("rank %d replay %d element %zu: %g, expected %g", rank, it, i, h[i], want);
        }
    }
    CHECK_RT(rt->graph_exec_destroy(exec));
    CHECK_RT(rt->graph_destroy(graph));
    kfree(K_DEVICE, d);
    free(h);
    CHECK_HALO(haloCommDestroy(comm), NULL);
    return 0;
}

static atomic_int dog_stop;

/* Polls the communicator's asynchronous error, as torch's watchdog thread does. */
static void *watchdog(void *c)
{
    while (!atomic_load(&dog_stop)) {
        haloResult_t e;
        haloCommGetAsyncError((haloComm_t)c, &e);
        usleep(100);
    }
    return NULL;
}

/* One send (to nxt) or receive (from prv) in a group of its own, as torch issues it. */
static void p2p_alone(haloComm_t comm, int sending, void *t, void *got, size_t cnt, int nxt, int prv, void *s)
{
    CHECK_HALO(haloGroupStart(), comm);
    if (sending)
        CHECK_HALO(haloSend(t, cnt, haloFloat32, nxt, comm, s), comm);
    else
        CHECK_HALO(haloRecv(got, cnt, haloFloat32, prv, comm, s), comm);
    CHECK_HALO(haloGroupEnd(), comm);
}

/* torch's unbatched send/recv: each call its own group on one stream, the
 * application thread synchronizing right after (while the progress thread still
 * runs the calls), a watchdog thread polling the asynchronous error. With
 * FAKEHIP_SYNC_LOCK=1 the synchronize holds the runtime's lock as CUDA's
 * pageable copies do: any runtime call of the progress thread would deadlock. */
static int case_p2psync(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm = init_comm(rank, n, id);
    void *s = new_stream();
    pthread_t th;
    pthread_create(&th, NULL, watchdog, comm);
    for (int it = 0; it < 100; it++) {
        size_t cnt = 513 + (size_t)(it % 5) * 1000;
        int nxt = (rank + 1) % n, prv = (rank + n - 1) % n;
        float *h = malloc(cnt * 4), *o = malloc(cnt * 4);
        for (size_t i = 0; i < cnt; i++)
            h[i] = (float)val(rank + it, i);
        void *t = kalloc(K_DEVICE, cnt * 4), *got = kalloc(K_DEVICE, cnt * 4);
        CHECK_RT(rt->memcpy_async(t, h, cnt * 4, s));
        p2p_alone(comm, rank % 2 == 0, t, got, cnt, nxt, prv, s);
        p2p_alone(comm, rank % 2 != 0, t, got, cnt, nxt, prv, s);
        CHECK_RT(rt->memcpy_async(o, got, cnt * 4, s));
        CHECK_RT(rt->stream_sync(s));
        for (size_t i = 0; i < cnt; i++)
            if (o[i] != (float)val(prv + it, i))
                TEST_FAIL("rank %d it %d p2p count %zu element %zu: %g, expected %g", rank, it, cnt, i, o[i], val(prv + it, i));
        kfree(K_DEVICE, t), kfree(K_DEVICE, got);
        free(h), free(o);
    }
    atomic_store(&dog_stop, 1);
    pthread_join(th, NULL);
    CHECK_HALO(haloCommDestroy(comm), NULL);
    return 0;
}

struct abort_arg {
    haloComm_t comm;
};

static void *abort_later(void *p)
{
    struct abort_arg *a = p;
    usleep(300000);
    haloCommAbort(a->comm);
    return NULL;
}

/* Rank 0 calls an all-reduce its peers never make, then aborts from another
 * thread: its stream must be released. */
static int case_abort(int rank, int n, haloUniqueId id, void *arg)
{
    haloComm_t comm = init_comm(rank, n, id);
    void *s = new_stream();
    run_case(comm, s, rank, n, C_ALLREDUCE, K_DEVICE, 0, haloFloat32, haloSum, 100);
    if (rank != 0) {
        sleep(2);
        haloCommAbort(comm);
        return 0;
    }
    void *d = kalloc(K_DEVICE, 4096);
    CHECK_HALO(haloAllReduce(d, d, 1024, haloFloat32, haloSum, comm, s), comm);
    struct abort_arg a = {comm};
    pthread_t th;
    pthread_create(&th, NULL, abort_later, &a);
    int64_t t0 = halo_now_us();
    CHECK_RT(rt->stream_sync(s));
    int64_t t1 = halo_now_us();
    pthread_join(th, NULL);
    printf("rank 0: stream released %lld ms after the call (abort at 300 ms)\n", (long long)((t1 - t0) / 1000));
    if (t1 - t0 > 20000000)
        TEST_FAIL("the stream was held %lld ms", (long long)((t1 - t0) / 1000));
    kfree(K_DEVICE, d);
    return 0;
}

/* Each rank loads the runtime in its own process (after the fork). */
static int rank_main(int rank, int n, haloUniqueId id, void *arg)
{
    char err[512];
    if (gpu_rt_load(&rt, err, sizeof(err)) != 0 || !rt)
        TEST_FAIL("rank %d: the GPU runtime did not load: %s", rank, rt ? "" : err);
    mp_rank_fn fn = (mp_rank_fn)arg;
    int rc = fn(rank, n, id, NULL);
    fflush(NULL); /* mp_run's children end with _exit */
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s NRANKS coll|order|graph|async|dead|abort\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]);
    const char *c = argv[2];
    mp_rank_fn fn = !strcmp(c, "coll")    ? case_coll
                    : !strcmp(c, "order") ? case_order
                    : !strcmp(c, "graph") ? case_graph
                    : !strcmp(c, "async") ? case_async
                    : !strcmp(c, "dead")  ? case_dead
                    : !strcmp(c, "abort") ? case_abort
                    : !strcmp(c, "p2p")   ? case_p2p
                    : !strcmp(c, "p2psync") ? case_p2psync
                    : !strcmp(c, "graph2") ? case_graph2
                                          : NULL;
    if (!fn) {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    gpu_test_require_runtime();
    const char *dl = getenv("GPU_TEST_DEADLINE_S");
    return mp_run(n, rank_main, (void *)fn, dl ? atoi(dl) : 240);
}
