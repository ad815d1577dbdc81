/* SPDX-License-Identifier: MIT */
/*
 * test_gpu_premul.c — pre-mul-sum ops (haloRedOpCreatePreMulSum) on GPU streams
 * with device buffers, through the runtime table, so it runs on the fake HIP
 * runtime in CI (whose device memory the CPU cannot touch) and on a real GPU.
 *
 * Usage: test_gpu_premul NRANKS
 * For float32, bfloat16 and int32, host-immediate and device scalars: all-reduce
 * (one pool slot, and pipelined pieces), reduce-scatter and reduce on device
 * buffers. Each call's input and, for a device scalar, the scalar itself are
 * written on the stream right before the call (the scalar held a wrong value
 * until then), the op is destroyed as soon as the call returned (PyTorch's
 * pattern), and the output is copied off the stream after it.
 * Rank r's scalar is (r % 3 + 1), halved for float types, and its input at i is
 * (r + 1) + (i % 7) - 3: every product and sum is exact in bfloat16.
 * Without a GPU runtime: skip (77).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpu_rt.h"
#include "haloccl.h"
#include "mp.h"
#include "reduce.h"
#include "test.h"
#include "gpu_test.h"


static void put(void *buf, size_t i, haloDataType_t t, double v)
{
    switch (t) {
    case haloInt32: ((int32_t *)buf)[i] = (int32_t)v; break;
    case haloBfloat16: ((uint16_t *)buf)[i] = halo_f32_to_bf16((float)v); break;
    case haloFloat32: ((float *)buf)[i] = (float)v; break;
    default: TEST_FAIL("type %d not used here", (int)t);
    }
}

static double get(const void *buf, size_t i, haloDataType_t t)
{
    switch (t) {
    case haloInt32: return ((const int32_t *)buf)[i];
    case haloBfloat16: return halo_bf16_to_f32(((const uint16_t *)buf)[i]);
    default: return ((const float *)buf)[i];
    }
}

static double scalar_of(int r, haloDataType_t t)
{
    return (double)(r % 3 + 1) * (t == haloInt32 ? 1.0 : 0.5);
}

static double input(int r, size_t i)
{
    return (double)(r + 1) + (double)(i % 7) - 3;
}

static double expected(int n, size_t i, haloDataType_t t)
{
    double s = 0;
    for (int r = 0; r < n; r++)
        s += scalar_of(r, t) * input(r, i);
    return s;
}

enum coll { C_ALLREDUCE, C_REDUCESCATTER, C_REDUCE };
static const char *coll_name[] = {"allreduce", "reducescatter", "reduce"};

static void run_case(haloComm_t comm, void *stream, int rank, int n, enum coll c, haloDataType_t t,
                     haloScalarResidence_t res, size_t count)
{
    size_t es = halo_dtype_size(t);
    size_t ns = c == C_REDUCESCATTER ? count * (size_t)n : count;
    char *hin = malloc(ns * es + 8), *hout = malloc(count * es + 8);
    for (size_t i = 0; i < ns; i++)
        put(hin, i, t, input(rank, i));
    void *sbuf = NULL, *rbuf = NULL, *dscalar = NULL;
    CHECK_RT(rt->dev_alloc(&sbuf, ns * es + 8));
    CHECK_RT(rt->dev_alloc(&rbuf, count * es + 8));
    unsigned char hscalar[8], wrong[8];
    put(hscalar, 0, t, scalar_of(rank, t));
    put(wrong, 0, t, 77);
    void *scalar_arg = hscalar;
    if (res == haloScalarDevice) {
        CHECK_RT(rt->dev_alloc(&dscalar, 8));
        CHECK_RT(rt->memcpy_async(dscalar, wrong, es, stream));
        CHECK_RT(rt->stream_sync(stream));
        scalar_arg = dscalar;
    }
    haloRedOp_t op;
    CHECK_HALO(haloRedOpCreatePreMulSum(&op, scalar_arg, t, res, comm), comm);
    if (res == haloScalarHostImmediate)
        memcpy(hscalar, wrong, es); /* copied at create: this must not matter */
    else
        CHECK_RT(rt->memcpy_async(dscalar, hscalar, es, stream)); /* on the stream, before the call */
    CHECK_RT(rt->memcpy_async(sbuf, hin, ns * es, stream));
    CHECK_RT(rt->memset_async(rbuf, 0x77, count * es, stream));
    switch (c) {
    case C_ALLREDUCE: CHECK_HALO(haloAllReduce(sbuf, rbuf, count, t, op, comm, stream), comm); break;
    case C_REDUCESCATTER: CHECK_HALO(haloReduceScatter(sbuf, rbuf, count, t, op, comm, stream), comm); break;
    case C_REDUCE: CHECK_HALO(haloReduce(sbuf, rbuf, count, t, op, n - 1, comm, stream), comm); break;
    }
    CHECK_HALO(haloRedOpDestroy(op, comm), comm); /* allowed once the call returned */
    CHECK_RT(rt->memcpy_async(hout, rbuf, count * es, stream));
    CHECK_RT(rt->stream_sync(stream));
    haloResult_t ae;
    CHECK_HALO(haloCommGetAsyncError(comm, &ae), comm);
    if (ae != haloSuccess)
        TEST_FAIL("async error after %s: %s", coll_name[c], haloGetLastError(comm));
    int has_out = c != C_REDUCE || rank == n - 1;
    for (size_t i = 0; has_out && i < count; i++) {
        size_t gi = c == C_REDUCESCATTER ? (size_t)rank * count + i : i;
        double want = expected(n, gi, t), got = get(hout, i, t);
        if (got != want)
            TEST_FAIL("rank %d premul %s %s %s scalar, count %zu: element %zu is %g, expected %g", rank, coll_name[c],
                      halo_dtype_name(t), res == haloScalarDevice ? "device" : "host", count, i, got, want);
    }
    rt->dev_free(sbuf);
    rt->dev_free(rbuf);
    if (dscalar)
        rt->dev_free(dscalar);
    free(hin);
    free(hout);
}

static int rank_main(int rank, int n, haloUniqueId id, void *arg)
{
    (void)arg;
    char err[512];
    if (gpu_rt_load(&rt, err, sizeof(err)) != 0 || !rt)
        TEST_FAIL("rank %d: the GPU runtime did not load: %s", rank, rt ? "" : err);
    haloComm_t comm = NULL;
    CHECK_HALO(haloCommInitRank(&comm, n, id, rank), NULL);
    void *s = NULL;
    CHECK_RT(rt->stream_create(&s));
    haloDataType_t types[] = {haloFloat32, haloBfloat16, haloInt32};
    size_t big = 300001; /* > a pool slot with HALO_POOL_SIZE=1m: pipelined pieces */
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        for (int res = 0; res < 2; res++) {
            haloScalarResidence_t sr = (haloScalarResidence_t)res;
            run_case(comm, s, rank, n, C_ALLREDUCE, types[t], sr, 1001);
            run_case(comm, s, rank, n, C_ALLREDUCE, types[t], sr, big);
            run_case(comm, s, rank, n, C_REDUCESCATTER, types[t], sr, 333);
            run_case(comm, s, rank, n, C_REDUCE, types[t], sr, 1001);
        }
    CHECK_RT(rt->stream_destroy(s));
    CHECK_HALO(haloCommDestroy(comm), NULL);
    printf("rank %d: pre-mul-sum on streams and device buffers: ok\n", rank);
    fflush(NULL); /* mp_run's children end with _exit */
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2;
    gpu_test_require_runtime();
    return mp_run(n, rank_main, NULL, 240);
}
