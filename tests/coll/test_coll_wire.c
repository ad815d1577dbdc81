/* SPDX-License-Identifier: MIT */
/*
 * test_coll_wire.c — compressed wire formats (HALO_WIRE, config.wireFormat) end to end.
 *
 * N local ranks (argv[1]) run, for every format (bf16, fp8, q8) and algorithm
 * (argv[2], a comma list; default ring,direct,chain,ring_bidir,two_shot):
 *   - all-reduce of float32, float16 and bfloat16 with sum and avg, in and out of
 *     place, at counts that are not multiples of the 32-value block and that span
 *     several slices and channels. Every rank's output must be bit-identical (the
 *     ranks all-gather a hash of it) and within the format's bound of a float64
 *     reference computed from every rank's input (each rank regenerates them);
 *   - reduce-scatter, within the bound;
 *   - NaN, +Inf and Inf + -Inf through a call: preserved on every rank;
 *   - calls the format does not apply to (int32 sum, float32 max, all-gather,
 *     below wireMinBytes) are exact; a split inherits the format.
 * Then: ranks that disagree on the format fail init with an error naming HALO_WIRE.
 *
 * The bound, per element i of an n-rank call: A = the largest sum of |input| over
 * the ranks within 31 elements of i (any block i shares; it bounds every partial
 * sum on the way), and
 *   |out - ref| <= n * (c * A + e) + n * u * A + 1e-6 * A,
 * with c = 0.0045 (q8: half a step of amax/127), 0.066 (fp8: 2^-4 relative, e4m3's
 * 3 bits), 0.0045 (bf16: 2^-8 relative); e = 128 * 2^-24 (a block scale in float16's
 * subnormal range) for q8 and fp8, 0 for bf16; u the output type's rounding (0 for
 * float32, 2^-11 float16, 2^-8 bfloat16). One quantization per rank along any
 * value's path (each input once, then each partial sum), hence the factor n.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "test.h"
#include "values.h"
#include "wire.h"

static const char *const wire_words[] = {"off", "bf16", "fp8", "q8"};
static const haloDataType_t types[] = {haloFloat32, haloFloat16, haloBfloat16};
static const size_t counts[] = {1, 5, 31, 33, 1000, 4099, 70001};
#define BIG_COUNT 300001 /* 1.2 MB of float32: several channels when HALO_NCHANNELS > 1 */

struct wire_arg {
    char algos[128];
};

/* Rank r's input at i: magnitudes change every 32 values (2^-4 .. 2^4), signs and
 * digits per rank and element. Rounded to t. */
static double input_of(int r, size_t i, haloDataType_t t)
{
    uint64_t h = (uint64_t)(r + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)i * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    double v = (double)((int)(h % 2001) - 1000) / 256.0 * ldexp(1.0, (int)((i / 32 + (size_t)r) % 9) - 4);
    unsigned char buf[8];
    set_val(buf, 0, t, v);
    return get_val(buf, 0, t);
}


static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Every rank's hash of its output must be the same. */
static int same_everywhere(haloComm_t comm, int rank, int n, const void *out, size_t bytes, const char *what)
{
    uint64_t mine = fnv(out, bytes), all[64];
    MP_CHECKC(haloAllGather(&mine, all, 1, haloUint64, comm, NULL), comm);
    for (int r = 0; r < n; r++)
        if (all[r] != mine) {
            fprintf(stderr, "rank %d: %s: output differs from rank %d's\n", rank, what, r);
            return 1;
        }
    return 0;
}

/* out[i] (count values of t) against the sum of every rank's input at first + i. */
static int within_bound(const void *out, size_t first, size_t count, size_t total, haloDataType_t t, int avg, int n,
                        int w, int rank, const char *what)
{
    double *sum = malloc(total * sizeof(double)), *mag = malloc(total * sizeof(double));
    if (!sum || !mag) {
        free(sum);
        free(mag);
        return 1;
    }
    for (size_t i = 0; i < total; i++) {
        sum[i] = mag[i] = 0;
        for (int r = 0; r < n; r++) {
            sum[i] += input_of(r, i, t);
            mag[i] += fabs(input_of(r, i, t));
        }
    }
    int bad = 0, lossy = 0;
    for (size_t i = 0; i < count && !bad; i++) {
        size_t g = first + i, lo = g >= 31 ? g - 31 : 0, hi = g + 31 < total ? g + 31 : total - 1;
        double a = 0;
        for (size_t k = lo; k <= hi; k++)
            a = mag[k] > a ? mag[k] : a;
        double ref = avg ? sum[g] / n : sum[g], scale = avg ? a / n : a;
        double c, e, u;
        halo_wire_bound((enum halo_wire)w, t, &c, &e, &u);
        double bound = n * (c * scale + e) + n * u * scale + 1e-6 * scale;
        double got = get_val(out, i, t);
        lossy |= fabs(got - ref) > n * ldexp(1.0, -23) * scale; /* more than float32's own rounding */
        if (!(fabs(got - ref) <= bound)) {
            fprintf(stderr, "rank %d: %s: element %zu is %.9g, reference %.9g, error %.3g over the bound %.3g\n", rank,
                    what, g, got, ref, fabs(got - ref), bound);
            bad = 1;
        }
    }
    if (!bad && n > 1 && count >= 1000 && t == haloFloat32 && !lossy) { /* the values went through the format */
        fprintf(stderr, "rank %d: %s: all %zu elements are exact: the call was not compressed\n", rank, what, count);
        bad = 1;
    }
    free(sum);
    free(mag);
    return bad;
}

static int run_allreduce(haloComm_t comm, int rank, int n, int w, haloDataType_t t, haloRedOp_t op, size_t count,
                         int inplace, char *a, char *b)
{
    size_t es = halo_dtype_size(t);
    for (size_t i = 0; i < count; i++)
        set_val(a, i, t, input_of(rank, i, t));
    char *out = inplace ? a : b;
    MP_CHECKC(haloAllReduce(a, out, count, t, op, comm, NULL), comm);
    char what[96];
    snprintf(what, sizeof(what), "allreduce %s %s count %zu %s wire %s", halo_dtype_name(t), halo_op_name(op), count,
             inplace ? "in place" : "out of place", wire_words[w]);
    if (same_everywhere(comm, rank, n, out, count * es, what))
        return 1;
    return within_bound(out, 0, count, count, t, op == haloAvg, n, w, rank, what);
}

static int run_reducescatter(haloComm_t comm, int rank, int n, int w, haloDataType_t t, size_t count, char *a,
                             char *b)
{
    for (size_t i = 0; i < count * (size_t)n; i++)
        set_val(a, i, t, input_of(rank, i, t));
    MP_CHECKC(haloReduceScatter(a, b, count, t, haloSum, comm, NULL), comm);
    char what[96];
    snprintf(what, sizeof(what), "reducescatter %s count %zu wire %s", halo_dtype_name(t), count, wire_words[w]);
    return within_bound(b, (size_t)rank * count, count, count * (size_t)n, t, 0, n, w, rank, what);
}

/* NaN at 5 (rank 0), +Inf at 40 (last rank), +Inf and -Inf at 70 (ranks 0 and
 * last; one rank: NaN): NaN, +Inf, NaN on every rank; the rest finite. */
static int run_specials(haloComm_t comm, int rank, int n, int w, haloDataType_t t)
{
    size_t count = 100;
    float in[100], out[100];
    if (t != haloFloat32)
        return 0;
    for (size_t i = 0; i < count; i++)
        in[i] = (float)input_of(rank, i, t);
    if (rank == 0)
        in[5] = NAN, in[70] = INFINITY;
    if (rank == n - 1)
        in[40] = INFINITY, in[70] = n == 1 ? NAN : -INFINITY;
    MP_CHECKC(haloAllReduce(in, out, count, haloFloat32, haloSum, comm, NULL), comm);
    if (!isnan(out[5]) || !(isinf(out[40]) && out[40] > 0) || !isnan(out[70])) {
        fprintf(stderr, "rank %d: wire %s: specials came out as %g, %g, %g (NaN, +inf, NaN expected)\n", rank,
                wire_words[w], out[5], out[40], out[70]);
        return 1;
    }
    for (size_t i = 0; i < count; i++)
        if (i != 5 && i != 40 && i != 70 && !isfinite(out[i])) {
            fprintf(stderr, "rank %d: wire %s: element %zu is %g beside the specials\n", rank, wire_words[w], i,
                    out[i]);
            return 1;
        }
    return same_everywhere(comm, rank, n, out, sizeof(out), "specials");
}

/* What the format does not apply to stays exact: integers, max, all-gather, and
 * calls below wireMinBytes (small integers in float32 sum exactly). */
static int run_exact(haloComm_t comm, int rank, int n, int w)
{
    enum { C = 3000 };
    static float f[C * 8], g[C * 8];
    int32_t *ia = (int32_t *)f, *ib = (int32_t *)g;
    for (int i = 0; i < C; i++)
        ia[i] = rank * 100003 + i * 7;
    MP_CHECKC(haloAllReduce(ia, ib, C, haloInt32, haloSum, comm, NULL), comm);
    for (int i = 0; i < C; i++)
        if (ib[i] != n * (n - 1) / 2 * 100003 + n * i * 7) {
            fprintf(stderr, "rank %d: wire %s: int32 sum not exact at %d\n", rank, wire_words[w], i);
            return 1;
        }
    for (int i = 0; i < C; i++)
        f[i] = (float)input_of(rank, (size_t)i, haloFloat32);
    MP_CHECKC(haloAllReduce(f, g, C, haloFloat32, haloMax, comm, NULL), comm);
    for (int i = 0; i < C; i++) {
        double m = -INFINITY;
        for (int r = 0; r < n; r++)
            m = fmax(m, (float)input_of(r, (size_t)i, haloFloat32));
        if (g[i] != (float)m) {
            fprintf(stderr, "rank %d: wire %s: float32 max not exact at %d\n", rank, wire_words[w], i);
            return 1;
        }
    }
    MP_CHECKC(haloAllGather(f, g, C, haloFloat32, comm, NULL), comm);
    for (int r = 0; r < n; r++)
        for (int i = 0; i < C; i++)
            if (g[r * C + i] != (float)input_of(r, (size_t)i, haloFloat32)) {
                fprintf(stderr, "rank %d: wire %s: allgather not exact at %d of rank %d\n", rank, wire_words[w], i, r);
                return 1;
            }
    /* A split with wireMinBytes 4096: 1000 floats (4000 bytes) are sent exact, 3000
     * are not (odd values in the thousands: float32 sums them exactly, the formats
     * cannot); a split without a config inherits the format. */
    haloComm_t sub, inherited;
    haloConfig_t cfg = HALO_CONFIG_INITIALIZER;
    cfg.wireFormat = w;
    cfg.wireMinBytes = 4096;
    MP_CHECKC(haloCommSplit(comm, 0, rank, &sub, &cfg), comm);
    MP_CHECKC(haloCommSplit(comm, 0, rank, &inherited, NULL), comm);
    int bad = 0;
    for (int k = 0; k < 3 && !bad; k++) {
        int c = k == 0 ? 1000 : C;
        for (int i = 0; i < c; i++)
            f[i] = (float)(rank * 1000 + 2 * i + 1);
        haloComm_t on = k < 2 ? sub : inherited;
        MP_CHECKC(haloAllReduce(f, g, (size_t)c, haloFloat32, haloSum, on, NULL), on);
        int exact = 1;
        for (int i = 0; i < c; i++)
            exact &= g[i] == (float)(n * (n - 1) / 2 * 1000 + n * (2 * i + 1));
        if (exact != (k == 0 || n == 1)) {
            fprintf(stderr, "rank %d: wire %s: %d floats on a %s split came out %s\n", rank, wire_words[w], c,
                    k < 2 ? "wireMinBytes=4096" : "config-less", exact ? "exact" : "inexact");
            bad = 1;
        }
    }
    haloCommDestroy(sub);
    haloCommDestroy(inherited);
    return bad;
}

static int run_format(int rank, int n, haloUniqueId id, int w, const char *algo)
{
    haloComm_t comm;
    haloConfig_t cfg = HALO_CONFIG_INITIALIZER;
    cfg.wireFormat = w;
    cfg.wireMinBytes = 0;
    setenv("HALO_ALGO", algo, 1);
    MP_CHECKC(haloCommInitRankConfig(&comm, n, id, rank, &cfg), NULL);
    size_t cap = BIG_COUNT * (size_t)n * 4;
    char *a = malloc(cap), *b = malloc(cap);
    int bad = !a || !b;
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]) && !bad; k++) {
        haloDataType_t t = types[k];
        if (w == 1 && t != haloFloat32)
            continue; /* bf16 encodes float32 only (others are sent exact: run_exact's kind) */
        for (size_t c = 0; c <= sizeof(counts) / sizeof(counts[0]) && !bad; c++) {
            size_t count = c < sizeof(counts) / sizeof(counts[0]) ? counts[c] : BIG_COUNT;
            if (count == BIG_COUNT && t != haloFloat32)
                continue; /* several channels need 1 MiB: float32 only, to keep the test short */
            for (int inplace = 0; inplace < 2 && !bad; inplace++)
                bad = run_allreduce(comm, rank, n, w, t, inplace ? haloAvg : haloSum, count, inplace, a, b);
            if (!bad && count <= 4099)
                bad = run_reducescatter(comm, rank, n, w, t, count, a, b);
        }
        if (!bad)
            bad = run_specials(comm, rank, n, w, t);
    }
    if (!bad)
        bad = run_exact(comm, rank, n, w);
    free(a);
    free(b);
    MP_CHECKC(haloCommDestroy(comm), NULL);
    return bad;
}

/* Ranks that disagree on the format: init fails on every rank, naming HALO_WIRE. */
static int rank_mismatch(int rank, int n, haloUniqueId id, void *arg)
{
    (void)arg;
    haloComm_t comm;
    haloConfig_t cfg = HALO_CONFIG_INITIALIZER;
    cfg.wireFormat = rank == n - 1 ? haloWireQ8 : haloWireOff;
    haloResult_t r = haloCommInitRankConfig(&comm, n, id, rank, &cfg);
    if (r == haloSuccess) {
        fprintf(stderr, "rank %d: init with mismatched wire formats succeeded\n", rank);
        haloCommDestroy(comm);
        return 1;
    }
    const char *msg = haloGetLastError(NULL);
    if (!strstr(msg, "HALO_WIRE")) {
        fprintf(stderr, "rank %d: the mismatch error does not name HALO_WIRE: %s\n", rank, msg);
        return 1;
    }
    return 0;
}

struct one_arg {
    int w;
    const char *algo;
};

static int rank_one(int rank, int n, haloUniqueId id, void *arg)
{
    const struct one_arg *o = arg;
    return run_format(rank, n, id, o->w, o->algo);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 3;
    struct wire_arg wa;
    snprintf(wa.algos, sizeof(wa.algos), "%s", argc > 2 ? argv[2] : "ring,direct,chain,ring_bidir,two_shot");
    if (n < 1 || n > 8)
        TEST_FAIL("usage: coll_wire NRANKS(1..8) [algos]");
    for (char *save = NULL, *algo = strtok_r(wa.algos, ",", &save); algo; algo = strtok_r(NULL, ",", &save))
        for (int w = 1; w <= 3; w++) {
            struct one_arg o = {w, algo};
            printf("wire %s, %d ranks, %s\n", wire_words[w], n, algo);
            fflush(stdout);
            if (mp_run(n, rank_one, &o, 300) != 0)
                TEST_FAIL("wire %s, %d ranks, algorithm %s failed (see above)", wire_words[w], n, algo);
        }
    if (n > 1 && mp_run(n, rank_mismatch, NULL, 120) != 0)
        TEST_FAIL("mismatched wire formats were not refused as expected");
    printf("PASS\n");
    return 0;
}
