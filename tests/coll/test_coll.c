/* SPDX-License-Identifier: MIT */
/*
 * test_coll.c — every collective, datatype and op on N local ranks (argv[1]),
 * over the transport the environment selects (HALO_TRANSPORT), for counts 0, 1,
 * < nranks, not divisible by nranks, and large enough to pipeline and use several
 * channels; in place and out of place. argv[2] is the large count (default 300007);
 * HALO_TEST_BIG_MAX, when set, caps it.
 *
 * Inputs depend on rank and index; expected values are computed in closed form
 * (in double, then rounded through the datatype) and chosen to be exactly
 * representable in every type, so any wrong offset, block or reduction shows up.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "reduce.h"
#include "test.h"
#include "values.h"

static int is_float(haloDataType_t t)
{
    return t >= haloFloat16 && t != haloInt64 && t != haloUint64;
}

static int is_unsigned(haloDataType_t t)
{
    return t == haloUint8 || t == haloUint32 || t == haloUint64;
}

static int is_fp8(haloDataType_t t)
{
    return t == haloFloat8e4m3 || t == haloFloat8e5m2;
}

/* Input of rank r at index i for a reduction with op. */
static double red_input(int r, size_t i, haloDataType_t t, haloRedOp_t op)
{
    if (op == haloProd) {
        int k = (int)((r * 5 + i * 3) % 7);
        if (k == 0)
            return 2;
        return (!is_unsigned(t) && k == 3) ? -1 : 1;
    }
    if (is_fp8(t))
        return (double)((r * 3 + i) % 3) - 1;
    double v = (double)((r * 7 + i * 13 + 3) % 9);
    return is_unsigned(t) ? v : v - 4;
}

static double red_expected(int n, size_t i, haloDataType_t t, haloRedOp_t op)
{
    double acc = red_input(0, i, t, op);
    for (int r = 1; r < n; r++) {
        double v = red_input(r, i, t, op);
        switch (op) {
        case haloSum:
        case haloAvg: acc += v; break;
        case haloProd: acc *= v; break;
        case haloMax: acc = v > acc ? v : acc; break;
        case haloMin: acc = v < acc ? v : acc; break;
        default: break;
        }
    }
    if (op == haloAvg)
        acc = is_float(t) ? acc / n : (double)((int64_t)acc / n);
    return acc;
}

/* Data input (allgather, broadcast): unique per rank and index, exact in every type. */
static double data_input(int r, size_t i, haloDataType_t t)
{
    return (double)((r * 31 + i * 7) % (is_fp8(t) ? 15 : 97));
}

static double avg_tolerance(haloDataType_t t)
{
    switch (t) {
    case haloFloat16: return 2e-3;
    case haloBfloat16: return 1.6e-2;
    case haloFloat8e4m3: return 0.13;
    case haloFloat8e5m2: return 0.26;
    case haloFloat32: return 1e-6;
    default: return 1e-12;
    }
}

static int check_val(const void *buf, size_t i, haloDataType_t t, double expect, int tolerant, const char *what,
                     int rank)
{
    unsigned char tmp[8];
    set_val(tmp, 0, t, expect);
    double want = get_val(tmp, 0, t), got = get_val(buf, i, t);
    int ok = tolerant ? fabs(got - expect) <= avg_tolerance(t) * fmax(1.0, fabs(expect)) : got == want;
    if (!ok)
        fprintf(stderr, "rank %d: %s %s index %zu: got %g expected %g\n", rank, what, halo_dtype_name(t), i, got,
                want);
    return ok;
}

struct ctx {
    haloComm_t comm;
    int rank, n;
    void *a, *b;
    size_t cap;
};

static int run_allreduce(struct ctx *c, size_t count, haloDataType_t t, haloRedOp_t op, int inplace)
{
    for (size_t i = 0; i < count; i++)
        set_val(c->a, i, t, red_input(c->rank, i, t, op));
    void *out = inplace ? c->a : c->b;
    MP_CHECKC(haloAllReduce(c->a, out, count, t, op, c->comm, NULL), c->comm);
    for (size_t i = 0; i < count; i++)
        if (!check_val(out, i, t, red_expected(c->n, i, t, op), op == haloAvg && is_float(t), "allreduce", c->rank))
            return 1;
    return 0;
}

static int run_reduce(struct ctx *c, size_t count, haloDataType_t t, haloRedOp_t op, int root, int inplace)
{
    for (size_t i = 0; i < count; i++)
        set_val(c->a, i, t, red_input(c->rank, i, t, op));
    void *out = inplace ? c->a : c->b;
    MP_CHECKC(haloReduce(c->a, out, count, t, op, root, c->comm, NULL), c->comm);
    if (c->rank != root)
        return 0;
    for (size_t i = 0; i < count; i++)
        if (!check_val(out, i, t, red_expected(c->n, i, t, op), op == haloAvg && is_float(t), "reduce", c->rank))
            return 1;
    return 0;
}

static int run_reducescatter(struct ctx *c, size_t count, haloDataType_t t, haloRedOp_t op, int inplace)
{
    size_t es = halo_dtype_size(t);
    for (size_t i = 0; i < count * (size_t)c->n; i++)
        set_val(c->a, i, t, red_input(c->rank, i, t, op));
    void *out = inplace ? (char *)c->a + (size_t)c->rank * count * es : c->b;
    MP_CHECKC(haloReduceScatter(c->a, out, count, t, op, c->comm, NULL), c->comm);
    for (size_t i = 0; i < count; i++) {
        size_t gi = (size_t)c->rank * count + i;
        if (!check_val(out, i, t, red_expected(c->n, gi, t, op), op == haloAvg && is_float(t), "reducescatter",
                       c->rank))
            return 1;
    }
    return 0;
}

static int run_allgather(struct ctx *c, size_t count, haloDataType_t t, int inplace)
{
    size_t es = halo_dtype_size(t);
    void *in = inplace ? (char *)c->b + (size_t)c->rank * count * es : c->a;
    memset(c->b, 0xa5, count * (size_t)c->n * es);
    for (size_t i = 0; i < count; i++)
        set_val(in, i, t, data_input(c->rank, i, t));
    MP_CHECKC(haloAllGather(in, c->b, count, t, c->comm, NULL), c->comm);
    for (int r = 0; r < c->n; r++)
        for (size_t i = 0; i < count; i++)
            if (!check_val(c->b, (size_t)r * count + i, t, data_input(r, i, t), 0, "allgather", c->rank))
                return 1;
    return 0;
}

static int run_broadcast(struct ctx *c, size_t count, haloDataType_t t, int root, int inplace)
{
    memset(c->b, 0x5a, count * halo_dtype_size(t));
    for (size_t i = 0; i < count; i++)
        set_val(c->a, i, t, data_input(c->rank, i, t));
    void *out = inplace ? c->a : c->b;
    MP_CHECKC(haloBroadcast(c->rank == root ? c->a : NULL, out, count, t, root, c->comm, NULL), c->comm);
    for (size_t i = 0; i < count; i++)
        if (!check_val(out, i, t, data_input(root, i, t), 0, "broadcast", c->rank))
            return 1;
    return 0;
}

static int run_one(struct ctx *c, size_t count, haloDataType_t t, haloRedOp_t op, int inplace)
{
    int root = (int)(count % (size_t)c->n);
    if (run_allreduce(c, count, t, op, inplace) || run_reduce(c, count, t, op, root, inplace) ||
        run_reducescatter(c, count, t, op, inplace))
        return 1;
    if (op == haloSum && (run_allgather(c, count, t, inplace) || run_broadcast(c, count, t, root, inplace)))
        return 1;
    return 0;
}

/* Pre-mul-sum: rank r multiplies by its own scalar (r % 3 + 1, halved for float
 * types), so every product and sum is exact in bfloat16 up to 8 ranks. */
static double premul_scalar(int r, haloDataType_t t)
{
    return (double)(r % 3 + 1) * (is_float(t) ? 0.5 : 1.0);
}

static double premul_expected(int n, size_t i, haloDataType_t t)
{
    double acc = 0;
    for (int r = 0; r < n; r++)
        acc += premul_scalar(r, t) * red_input(r, i, t, haloSum);
    return acc;
}

/* One allreduce, reduce and reduce-scatter with a pre-mul-sum op; the
 * haloScalarDevice op reads its scalar when the call runs (host memory here: the
 * value is written after the op was made). Inside a group the op is destroyed
 * before haloGroupEnd, as NCCL allows. */
static int run_premul(struct ctx *c, size_t count, haloDataType_t t, haloScalarResidence_t res, int ingroup)
{
    size_t es = halo_dtype_size(t);
    unsigned char scalar[8];
    haloRedOp_t op;
    set_val(scalar, 0, t, res == haloScalarDevice ? 99 : premul_scalar(c->rank, t));
    MP_CHECKC(haloRedOpCreatePreMulSum(&op, scalar, t, res, c->comm), c->comm);
    set_val(scalar, 0, t, premul_scalar(c->rank, t)); /* host immediate: copied already */
    if (ingroup)
        MP_CHECK(haloGroupStart());
    for (size_t i = 0; i < count * (size_t)c->n; i++)
        set_val(c->a, i, t, red_input(c->rank, i, t, haloSum));
    void *rs_out = (char *)c->b + count * es;
    MP_CHECKC(haloAllReduce(c->a, c->b, count, t, op, c->comm, NULL), c->comm);
    MP_CHECKC(haloReduceScatter(c->a, rs_out, count, t, op, c->comm, NULL), c->comm);
    if (ingroup) {
        MP_CHECKC(haloRedOpDestroy(op, c->comm), c->comm);
        MP_CHECK(haloGroupEnd());
    }
    for (size_t i = 0; i < count; i++)
        if (!check_val(c->b, i, t, premul_expected(c->n, i, t), 0, "premul allreduce", c->rank) ||
            !check_val(rs_out, i, t, premul_expected(c->n, (size_t)c->rank * count + i, t), 0, "premul reducescatter",
                       c->rank))
            return 1;
    if (ingroup)
        return 0;
    int root = c->n - 1;
    MP_CHECKC(haloReduce(c->a, c->a, count, t, op, root, c->comm, NULL), c->comm); /* in place */
    for (size_t i = 0; i < count && c->rank == root; i++)
        if (!check_val(c->a, i, t, premul_expected(c->n, i, t), 0, "premul reduce", c->rank))
            return 1;
    MP_CHECKC(haloRedOpDestroy(op, c->comm), c->comm);
    return 0;
}

/* Ops are per communicator and datatype; built-ins cannot be destroyed. */
static int run_premul_misuse(struct ctx *c)
{
    float s = 2.0f;
    haloRedOp_t op;
    haloComm_t other;
    MP_CHECKC(haloRedOpCreatePreMulSum(&op, &s, haloFloat32, haloScalarHostImmediate, c->comm), c->comm);
    ASSERT_TRUE((int)op >= haloNumOps);
    ASSERT_EQ(haloAllReduce(c->a, c->b, 4, haloInt32, op, c->comm, NULL), haloInvalidArgument);
    ASSERT_CONTAINS(haloGetLastError(c->comm), "created for float32");
    MP_CHECKC(haloCommSplit(c->comm, 0, c->rank, &other, NULL), c->comm);
    ASSERT_EQ(haloAllReduce(c->a, c->b, 4, haloFloat32, op, other, NULL), haloInvalidArgument);
    ASSERT_CONTAINS(haloGetLastError(other), "nor a live");
    ASSERT_EQ(haloRedOpDestroy(op, other), haloInvalidArgument);
    MP_CHECKC(haloCommDestroy(other), NULL);
    ASSERT_EQ(haloRedOpDestroy(haloSum, c->comm), haloInvalidArgument);
    MP_CHECKC(haloRedOpDestroy(op, c->comm), c->comm);
    ASSERT_EQ(haloAllReduce(c->a, c->b, 4, haloFloat32, op, c->comm, NULL), haloInvalidArgument);
    ASSERT_EQ(haloRedOpCreatePreMulSum(&op, NULL, haloFloat32, haloScalarHostImmediate, c->comm),
              haloInvalidArgument);
    return 0;
}

static int run_premul_all(struct ctx *c, size_t big)
{
    haloDataType_t types[] = {haloFloat32, haloBfloat16, haloInt32, haloFloat16, haloFloat64, haloInt64};
    size_t counts[] = {0, 1, (size_t)c->n + 1, 1000, big};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
            for (int res = 0; res < 2; res++)
                if (run_premul(c, counts[k], types[t], (haloScalarResidence_t)res, k == 2))
                    return 1;
    return run_premul_misuse(c);
}

static int rank_main(int rank, int n, haloUniqueId id, void *arg)
{
    struct ctx c = {.rank = rank, .n = n};
    size_t big = *(size_t *)arg;
    c.cap = (big > 4096 ? big : 4096) * 8 * ((size_t)n + 1); /* + 1: run_premul's two outputs */
    c.a = malloc(c.cap);
    c.b = malloc(c.cap);
    MP_CHECK(haloCommInitRank(&c.comm, n, id, rank));
    size_t counts[] = {0, 1, (size_t)n - 1, (size_t)n + 1, 7 * (size_t)n + 3, 1000};
    for (int t = 0; t < haloNumTypes; t++)
        for (int op = 0; op < haloNumOps; op++)
            for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
                for (int inplace = 0; inplace < 2; inplace++)
                    if (run_one(&c, counts[k], (haloDataType_t)t, (haloRedOp_t)op, inplace))
                        return 1;
    /* Large: several slices, pipelining, multiple channels when configured. */
    haloDataType_t bigtypes[] = {haloFloat32, haloBfloat16, haloInt8};
    for (int k = 0; k < 3; k++)
        for (int inplace = 0; inplace < 2; inplace++)
            if (run_one(&c, big, bigtypes[k], k == 2 ? haloMax : haloSum, inplace))
                return 1;
    if (run_premul_all(&c, big))
        return 1;
    MP_CHECKC(haloCommDestroy(c.comm), NULL);
    free(c.a);
    free(c.b);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2;
    size_t big = argc > 2 ? (size_t)atol(argv[2]) : 300007;
    /* The sanitizer suites run the same schedules several times slower: they cap
     * the large count (it still spans dozens of slices per channel). */
    const char *cap_env = getenv("HALO_TEST_BIG_MAX");
    long cap = cap_env ? atol(cap_env) : 0;
    if (cap > 0 && big > (size_t)cap) {
        printf("test_coll: large count %zu capped at %ld (HALO_TEST_BIG_MAX)\n", big, cap);
        big = (size_t)cap;
    }
    ASSERT_TRUE(n >= 1 && n <= 16);
    int r = mp_run(n, rank_main, &big, 600);
    ASSERT_EQ(r, 0);
    printf("test_coll: %d ranks, transport %s: all collectives correct\n", n,
           getenv("HALO_TRANSPORT") ? getenv("HALO_TRANSPORT") : "auto");
    return 0;
}
