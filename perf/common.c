/* SPDX-License-Identifier: MIT */
/*
 * common.c — the shared driver of the perf/ benchmarks (allreduce_bw and friends).
 *
 * A tool hands perf_main() a struct perf_coll describing its collective; this file
 * parses the options, becomes one or N ranks (-n N forks N local ranks, then makes
 * a unique id and hands it to them through pipes; otherwise haloCommInitEnv reads a
 * launcher's variables), sweeps the sizes, times each size out of place and in place, checks
 * the results in a separate pass, prints nccl-tests' table (or JSON lines) on rank 0
 * and applies the --min-busbw / --max-latency gates.
 *
 * Check values: inputs are small integers (or ±1/±2 for prod) picked by a hash of
 * (rank, index), in ranges per dtype so that every partial sum or product is exact
 * whatever order the library reduces in; the expected value is then closed-form and
 * compared exactly (avg of floats: within two units in the last place).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"
#include "cold.h"
#include "fork_id.h"
#include "model.h"
#include "perf_gpu.h"
#include "roofline.h"
#include "wire.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum perf_kind { PERF_SINT, PERF_UINT, PERF_FLOAT };

struct perf_dtype {
    const char *name;     /* canonical, printed */
    const char *alias[2]; /* also accepted by -d */
    haloDataType_t type;
    size_t size;
    enum perf_kind kind;
    int ebits, mbits; /* floats: exponent and mantissa bits */
    int satfinite;    /* OCP e4m3: no infinities, saturates, NaN = all ones */
    /* Every integer of magnitude <= limit is exact, and results stay below the
     * poison value (the largest finite value). */
    int64_t limit;
    /* 2^k is exact for k <= prod_log2 (unsigned types wrap, exactly, anyway). */
    int prod_log2;
};

static const struct perf_dtype perf_dtypes[] = {
    {"int8", {NULL, NULL}, haloInt8, 1, PERF_SINT, 0, 0, 0, 100, 6},
    {"uint8", {NULL, NULL}, haloUint8, 1, PERF_UINT, 0, 0, 0, 200, 64},
    {"int32", {"int", NULL}, haloInt32, 4, PERF_SINT, 0, 0, 0, 1 << 20, 30},
    {"uint32", {NULL, NULL}, haloUint32, 4, PERF_UINT, 0, 0, 0, 1 << 20, 64},
    {"int64", {NULL, NULL}, haloInt64, 8, PERF_SINT, 0, 0, 0, 1 << 20, 62},
    {"uint64", {NULL, NULL}, haloUint64, 8, PERF_UINT, 0, 0, 0, 1 << 20, 64},
    {"float16", {"half", "fp16"}, haloFloat16, 2, PERF_FLOAT, 5, 10, 0, 2048, 15},
    {"bfloat16", {"bf16", NULL}, haloBfloat16, 2, PERF_FLOAT, 8, 7, 0, 256, 64},
    {"float32", {"float", "fp32"}, haloFloat32, 4, PERF_FLOAT, 8, 23, 0, 1 << 20, 64},
    {"float64", {"double", "fp64"}, haloFloat64, 8, PERF_FLOAT, 11, 52, 0, 1 << 20, 64},
    {"fp8_e4m3", {"f8e4m3", "e4m3"}, haloFloat8e4m3, 1, PERF_FLOAT, 4, 3, 1, 16, 8},
    {"fp8_e5m2", {"f8e5m2", "e5m2"}, haloFloat8e5m2, 1, PERF_FLOAT, 5, 2, 0, 8, 15},
};
#define PERF_NDTYPES (sizeof(perf_dtypes) / sizeof(perf_dtypes[0]))

static const char *const perf_op_names[haloNumOps] = {"sum", "prod", "max", "min", "avg"};

#define PERF_MAX_FORKS 256
#define PERF_AUTO_BYTES (256.0 * 1024 * 1024) /* auto iters: about this many bytes per size */
#define PERF_AUTO_MIN 3
#define PERF_AUTO_MAX 200
#define PERF_KILL_GRACE_S 5 /* after one local rank fails, the others get this long */
#define PERF_REPORT_MAX 3   /* mismatches printed per rank and check pass */

/* ---- Element encodings ---- */

static double perf_max_finite(const struct perf_dtype *dt)
{
    int bias = (1 << (dt->ebits - 1)) - 1, emax = (1 << dt->ebits) - 2 - bias;

    if (dt->satfinite) /* the top exponent is in use; only its last mantissa is NaN */
        return ldexp(2.0 - ldexp(2.0, -dt->mbits), emax + 1);
    return ldexp(2.0 - ldexp(1.0, -dt->mbits), emax);
}

/* Small floats by hand: round to nearest even; IEEE-like overflow to infinity, or
 * saturation to the largest finite value for satfinite (e4m3). */
static uint32_t perf_fp_encode(const struct perf_dtype *dt, double x)
{
    int bias = (1 << (dt->ebits - 1)) - 1, emin = 1 - bias;
    uint32_t exp_all = (1u << dt->ebits) - 1, man_all = (1u << dt->mbits) - 1;
    uint32_t sign = signbit(x) ? 1u << (dt->ebits + dt->mbits) : 0;
    double a = fabs(x), maxv, v;
    int e;

    if (isnan(x))
        return sign | exp_all << dt->mbits | man_all;
    maxv = perf_max_finite(dt);
    if (a == 0)
        return sign;
    if (!isinf(a)) {
        frexp(a, &e);
        e = (e - 1 < emin ? emin : e - 1) - dt->mbits; /* exponent of one unit in the last place */
        v = ldexp(nearbyint(ldexp(a, -e)), e);          /* ties to even (default mode) */
    } else {
        v = a;
    }
    if (v == 0)
        return sign; /* underflow */
    if (v > maxv) {
        if (!dt->satfinite)
            return sign | exp_all << dt->mbits;
        v = maxv;
    }
    frexp(v, &e);
    if (e - 1 < emin)
        return sign | (uint32_t)ldexp(v, dt->mbits - emin);
    return sign | (uint32_t)(e - 1 + bias) << dt->mbits | ((uint32_t)ldexp(v, dt->mbits - (e - 1)) & man_all);
}

static double perf_fp_decode(const struct perf_dtype *dt, uint32_t bits)
{
    int bias = (1 << (dt->ebits - 1)) - 1;
    uint32_t exp_all = (1u << dt->ebits) - 1, man_all = (1u << dt->mbits) - 1;
    uint32_t field = (bits >> dt->mbits) & exp_all, man = bits & man_all;
    int neg = (bits >> (dt->ebits + dt->mbits)) & 1;
    double v;

    if (field == exp_all && (!dt->satfinite || man == man_all)) {
        if (dt->satfinite || man != 0)
            return NAN;
        return neg ? -INFINITY : INFINITY;
    }
    if (field == 0)
        v = ldexp(man, 1 - bias - dt->mbits);
    else
        v = ldexp(man + man_all + 1, (int)field - bias - dt->mbits);
    return neg ? -v : v;
}

static double perf_load(const struct perf_dtype *dt, const void *buf, size_t i)
{
    switch (dt->type) {
    case haloInt8: return ((const int8_t *)buf)[i];
    case haloUint8: return ((const uint8_t *)buf)[i];
    case haloInt32: return ((const int32_t *)buf)[i];
    case haloUint32: return ((const uint32_t *)buf)[i];
    case haloInt64: return (double)((const int64_t *)buf)[i];
    case haloUint64: return (double)((const uint64_t *)buf)[i];
    case haloFloat32: return ((const float *)buf)[i];
    case haloFloat64: return ((const double *)buf)[i];
    case haloFloat16:
    case haloBfloat16: return perf_fp_decode(dt, ((const uint16_t *)buf)[i]);
    default: return perf_fp_decode(dt, ((const uint8_t *)buf)[i]);
    }
}

/* v is in range for integer types (by construction). */
static void perf_store(const struct perf_dtype *dt, void *buf, size_t i, double v)
{
    switch (dt->type) {
    case haloInt8: ((int8_t *)buf)[i] = (int8_t)v; break;
    case haloUint8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
    case haloInt32: ((int32_t *)buf)[i] = (int32_t)v; break;
    case haloUint32: ((uint32_t *)buf)[i] = (uint32_t)v; break;
    case haloInt64: ((int64_t *)buf)[i] = (int64_t)v; break;
    case haloUint64: ((uint64_t *)buf)[i] = (uint64_t)v; break;
    case haloFloat32: ((float *)buf)[i] = (float)v; break;
    case haloFloat64: ((double *)buf)[i] = v; break;
    case haloFloat16:
    case haloBfloat16: ((uint16_t *)buf)[i] = (uint16_t)perf_fp_encode(dt, v); break;
    default: ((uint8_t *)buf)[i] = (uint8_t)perf_fp_encode(dt, v); break;
    }
}

/* The largest finite value (or integer): no input or result takes it (see limit),
 * so an element the library did not write is caught. */
static void perf_poison(const struct perf_dtype *dt, void *buf, size_t n)
{
    switch (dt->type) {
    case haloInt8: perf_store(dt, buf, 0, INT8_MAX); break;
    case haloUint8: perf_store(dt, buf, 0, UINT8_MAX); break;
    case haloInt32: perf_store(dt, buf, 0, INT32_MAX); break;
    case haloUint32: perf_store(dt, buf, 0, UINT32_MAX); break;
    case haloInt64: ((int64_t *)buf)[0] = INT64_MAX; break;
    case haloUint64: ((uint64_t *)buf)[0] = UINT64_MAX; break;
    default: perf_store(dt, buf, 0, perf_max_finite(dt)); break;
    }
    for (size_t i = 1; i < n; i++)
        memcpy((char *)buf + i * dt->size, buf, dt->size);
}

/* One unit in the last place of dt at |x|. */
static double perf_ulp(const struct perf_dtype *dt, double x)
{
    int bias = (1 << (dt->ebits - 1)) - 1, e = 0;

    frexp(x, &e);
    if (x == 0 || e - 1 < 1 - bias)
        e = 2 - bias;
    return ldexp(1.0, e - 1 - dt->mbits);
}

/* ---- Input and expected values ---- */

static uint64_t perf_mix(uint64_t x) /* splitmix64's finaliser */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int64_t perf_pick(uint64_t h, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(h % (uint64_t)(hi - lo + 1));
}

double perf_input(const struct perf_ctx *c, int rank, size_t i)
{
    uint64_t h = perf_mix((uint64_t)i * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(rank + 1) * 0xd1b54a32d192ed03ULL);
    const struct perf_dtype *dt = c->dt;
    int sgn = dt->kind != PERF_UINT;
    int64_t m;

    switch (c->op) {
    case haloSum:
    case haloAvg:
        /* |any partial sum| <= nranks * m <= limit; with more ranks than limit,
         * only the first `limit` ranks contribute (±1). */
        m = c->sum_range ? c->sum_range : rank < dt->limit;
        return (double)(sgn ? perf_pick(h, -m, m) : perf_pick(h, 0, m));
    case haloProd: {
        /* ±1, and ±2 on the first prod_log2 ranks: products are ±2^k, exact. */
        int two = !sgn || rank < dt->prod_log2;
        double v = two && (h & 2) ? 2 : 1;
        return sgn && (h & 1) ? -v : v;
    }
    default: /* max, min, and collectives without an op: any value in range */
        return (double)(sgn ? perf_pick(h, -dt->limit, dt->limit) : perf_pick(h, 0, dt->limit));
    }
}

/* Expected reduction at source index i; *inexact when it is rounded (avg of floats). */
static double perf_expected(const struct perf_ctx *c, size_t i, int *inexact)
{
    const struct perf_dtype *dt = c->dt;
    double acc = perf_input(c, 0, i);

    for (int r = 1; r < c->nranks; r++) {
        double v = perf_input(c, r, i);
        switch (c->op) {
        case haloProd: acc *= v; break;
        case haloMax: acc = v > acc ? v : acc; break;
        case haloMin: acc = v < acc ? v : acc; break;
        default: acc += v; break;
        }
    }
    *inexact = 0;
    if (c->op == haloProd && dt->kind == PERF_UINT && acc >= ldexp(1.0, (int)(8 * dt->size)))
        return 0; /* 2^k wraps to 0 */
    if (c->op != haloAvg)
        return acc;
    if (dt->kind != PERF_FLOAT)
        return (double)((int64_t)acc / c->nranks); /* truncating, as C */
    *inexact = 1;
    acc /= c->nranks;
    if (dt->type == haloFloat32)
        return (float)acc;
    if (dt->type == haloFloat64)
        return acc;
    return perf_fp_decode(dt, perf_fp_encode(dt, acc));
}

void perf_fill_input(const struct perf_ctx *c, void *buf, size_t n)
{
    for (size_t k = 0; k < n; k++)
        perf_store(c->dt, buf, k, perf_input(c, c->rank, k));
}

static void perf_report(struct perf_ctx *c, size_t idx, double got, double exp)
{
    if (c->reported++ >= PERF_REPORT_MAX)
        return;
    fprintf(stderr, "# rank %d: %zu B %s: element %zu is %.17g, expected %.17g\n", c->rank, c->bytes, c->variant,
            idx, got, exp);
}

size_t perf_check_copy(struct perf_ctx *c, const void *buf, size_t out, size_t n, int src_rank, size_t src)
{
    size_t wrong = 0;

    for (size_t k = 0; k < n; k++) {
        double got = perf_load(c->dt, buf, out + k), exp = perf_input(c, src_rank, src + k);
        if (got != exp) {
            perf_report(c, out + k, got, exp);
            wrong++;
        }
    }
    return wrong;
}

size_t perf_check_reduced(struct perf_ctx *c, const void *buf, size_t out, size_t n, size_t src)
{
    size_t wrong = 0;
    int inexact;

    for (size_t k = 0; k < n; k++) {
        double got = perf_load(c->dt, buf, out + k), exp = perf_expected(c, src + k, &inexact);
        if (got == exp || (inexact && fabs(got - exp) <= 2 * perf_ulp(c->dt, exp)) || fabs(got - exp) <= c->wire_tol)
            continue;
        perf_report(c, out + k, got, exp);
        wrong++;
    }
    return wrong;
}

/* ---- Options ---- */

struct perf_opts {
    size_t min_bytes, max_bytes, factor;
    const struct perf_dtype *dt;
    haloRedOp_t op;
    int root;
    int warmup, iters; /* iters 0 = auto */
    int check;
    int reg; /* haloCommRegister the buffers */
    int nforks; /* 0 = one rank from the environment */
    int json;
    int model; /* --model: the cost model's prediction beside each row (model.c) */
    int gpu; /* enum perf_mem: where the buffers live (--gpu) */
    double min_busbw, max_latency; /* < 0 = no gate */
    int roofline; /* --roofline */
    size_t cold; /* --cold: working set in bytes; PERF_COLD_OFF = calls back to back */
    struct perf_cold_meet *meet; /* --cold with -n: where the forked ranks meet (cold.h) */
};

static void perf_usage(FILE *f, const struct perf_coll *coll)
{
    fprintf(f,
            "usage: %s [options]\n"
            "  -b, --minbytes SIZE     smallest size in bytes, k/m/g suffixes (default 8)\n"
            "  -e, --maxbytes SIZE     largest size (default 64m)\n"
            "  -f, --stepfactor N      multiply the size by N each step (default 2)\n"
            "  -d, --datatype TYPE     int8 uint8 int32 uint32 int64 uint64 float16|half bfloat16\n"
            "                          float32|float float64|double fp8_e4m3 fp8_e5m2 (default float32)\n"
            "  -o, --op OP             sum prod max min avg (default sum)%s\n"
            "  -r, --root N            root rank (default 0)%s\n"
            "  -w, --warmup_iters N    untimed calls before each timed loop (default 5)\n"
            "  -i, --iters N|auto      timed calls per size (default auto: 256 MiB / size, 3..200)\n"
            "  -c, --check 0|1         check every output element in a separate pass (default 1)\n"
            "  -R, --register 0|1      haloCommRegister both buffers first (over ib: zero-copy without\n"
            "                          registering per call; default 0)\n"
            "  -n, --nranks N          fork N local ranks; without it this process is one rank of a\n"
            "                          job started by mpirun/srun/torchrun or HALO_ROOT/HALO_RANK/HALO_NRANKS\n"
            "      --gpu MEM           buffers in GPU memory: device (staged by the library), pinned\n"
            "                          (pinned host) or memalloc (haloMemAlloc); calls go on a stream\n"
            "                          and each timed loop ends with a wait for the stream\n"
            "      --cold SIZE         time each call alone, after touching SIZE bytes per rank (0: no\n"
            "                          touch), from the last rank's entry (see perf/README.md)\n"
            "      --json              one JSON object per size instead of the table\n"
            "      --roofline          before each size, time memcpy and the reduction kernel on that\n"
            "                          size with the call's threads, all ranks at once, and print each\n"
            "                          busbw as a fraction of what that memory bandwidth permits%s\n"
            "      --model             beside each row the cost model's time for the call as it runs\n"
            "                          (us), measured / predicted, and the plan (algorithm/channels/slice)\n"
            "      --min-busbw GB/s    exit 3 if the best out-of-place busbw is lower\n"
            "      --max-latency us    exit 3 if the smallest size's out-of-place time is higher\n"
            "  -h, --help              this text\n"
            "exit status: 0 ok, 1 wrong results or a failure, 2 bad options, 3 a gate failed\n",
            coll->name, coll->uses_op ? "" : " (ignored here)", coll->uses_root ? "" : " (ignored here)",
            coll->traffic ? "" : "\n                          (this tool has no roofline)");
}

/* Whole string: digits, then an optional k/m/g (binary multiples). */
static int perf_parse_size(const char *s, size_t *out)
{
    unsigned long long v;
    unsigned shift = 0;
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end || v > (SIZE_MAX >> shift))
        return -1;
    *out = (size_t)v << shift;
    return 0;
}

static int perf_parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    long v;

    if ((*s < '0' || *s > '9') && *s != '-')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int perf_parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if ((*s < '0' || *s > '9') && *s != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static const struct perf_dtype *perf_find_dtype(const char *s)
{
    for (size_t i = 0; i < PERF_NDTYPES; i++) {
        const struct perf_dtype *dt = &perf_dtypes[i];
        if (!strcasecmp(s, dt->name) || (dt->alias[0] && !strcasecmp(s, dt->alias[0])) ||
            (dt->alias[1] && !strcasecmp(s, dt->alias[1])))
            return dt;
    }
    return NULL;
}

static int perf_find_op(const char *s)
{
    for (int i = 0; i < haloNumOps; i++)
        if (!strcasecmp(s, perf_op_names[i]))
            return i;
    return -1;
}

static int perf_bad(const struct perf_coll *coll, const char *opt, const char *val, const char *want)
{
    fprintf(stderr, "%s: bad value '%s' for %s: %s (try --help)\n", coll->name, val, opt, want);
    return 2;
}

enum { PERF_OPT_JSON = 256, PERF_OPT_MIN_BUSBW, PERF_OPT_MAX_LATENCY, PERF_OPT_GPU, PERF_OPT_ROOFLINE, PERF_OPT_MODEL,
       PERF_OPT_COLD };

static int perf_opt_size(const struct perf_coll *coll, const char *opt, const char *a, size_t min, size_t *out)
{
    if (perf_parse_size(a, out) || *out < min)
        return perf_bad(coll, opt, a, min > 1 ? "an integer >= 2" : "a size >= 1 in bytes, like 8, 64k, 1m");
    return 0;
}

static int perf_opt_int(const struct perf_coll *coll, const char *opt, const char *a, long lo, long hi, int *out,
                        const char *want)
{
    return perf_parse_int(a, lo, hi, out) ? perf_bad(coll, opt, a, want) : 0;
}

static int perf_opt_one(struct perf_opts *o, const struct perf_coll *coll, int ch, const char *a)
{
    int op;

    switch (ch) {
    case 'b': return perf_opt_size(coll, "-b", a, 1, &o->min_bytes);
    case 'e': return perf_opt_size(coll, "-e", a, 1, &o->max_bytes);
    case 'f': return perf_opt_size(coll, "-f", a, 2, &o->factor);
    case 'd': return (o->dt = perf_find_dtype(a)) ? 0 : perf_bad(coll, "-d", a, "see --help for the types");
    case 'o':
        if ((op = perf_find_op(a)) < 0)
            return perf_bad(coll, "-o", a, "sum, prod, max, min or avg");
        o->op = (haloRedOp_t)op;
        return 0;
    case 'r': return perf_opt_int(coll, "-r", a, 0, 1 << 30, &o->root, "a rank >= 0");
    case 'w': return perf_opt_int(coll, "-w", a, 0, 1000000, &o->warmup, "an integer >= 0");
    case 'i':
        o->iters = 0;
        if (strcmp(a, "auto") == 0)
            return 0;
        return perf_opt_int(coll, "-i", a, 1, 1000000000, &o->iters, "an integer >= 1, or auto");
    case 'c': return perf_opt_int(coll, "-c", a, 0, 1, &o->check, "0 or 1");
    case 'R': return perf_opt_int(coll, "-R", a, 0, 1, &o->reg, "0 or 1");
    case 'n': return perf_opt_int(coll, "-n", a, 1, PERF_MAX_FORKS, &o->nforks, "1 to 256 local ranks");
    case PERF_OPT_JSON: o->json = 1; return 0;
    case PERF_OPT_ROOFLINE:
        if (!coll->traffic) {
            fprintf(stderr, "%s: --roofline: this tool has no model of its memory traffic\n", coll->name);
            return 2;
        }
        o->roofline = 1;
        return 0;
    case PERF_OPT_MODEL: o->model = 1; return 0;
    case PERF_OPT_COLD: return perf_parse_size(a, &o->cold) ? perf_bad(coll, "--cold", a, "bytes, like 0 or 64m") : 0;
    case PERF_OPT_GPU:
        o->gpu = !strcmp(a, "device") ? PERF_MEM_DEVICE : !strcmp(a, "pinned") ? PERF_MEM_PINNED
                 : !strcmp(a, "memalloc") ? PERF_MEM_MEMALLOC : -1;
        return o->gpu < 0 ? perf_bad(coll, "--gpu", a, "device, pinned or memalloc") : 0;
    case PERF_OPT_MIN_BUSBW:
        return perf_parse_double(a, &o->min_busbw) ? perf_bad(coll, "--min-busbw", a, "GB/s, a number >= 0") : 0;
    case PERF_OPT_MAX_LATENCY:
        return perf_parse_double(a, &o->max_latency) ? perf_bad(coll, "--max-latency", a, "us, a number >= 0") : 0;
    default: fprintf(stderr, "%s: try --help\n", coll->name); return 2;
    }
}

/* Returns -1 to go on, else the exit status (0 after --help). */
static int perf_opts_parse(struct perf_opts *o, int argc, char **argv, const struct perf_coll *coll)
{
    static const struct option longopts[] = {
        {"minbytes", required_argument, NULL, 'b'},   {"maxbytes", required_argument, NULL, 'e'},
        {"stepfactor", required_argument, NULL, 'f'}, {"datatype", required_argument, NULL, 'd'},
        {"op", required_argument, NULL, 'o'},         {"root", required_argument, NULL, 'r'},
        {"warmup_iters", required_argument, NULL, 'w'}, {"iters", required_argument, NULL, 'i'},
        {"check", required_argument, NULL, 'c'},      {"nranks", required_argument, NULL, 'n'},
        {"register", required_argument, NULL, 'R'},
        {"json", no_argument, NULL, PERF_OPT_JSON},   {"gpu", required_argument, NULL, PERF_OPT_GPU},   {"min-busbw", required_argument, NULL, PERF_OPT_MIN_BUSBW},
        {"max-latency", required_argument, NULL, PERF_OPT_MAX_LATENCY}, {"help", no_argument, NULL, 'h'},
        {"roofline", no_argument, NULL, PERF_OPT_ROOFLINE},
        {"model", no_argument, NULL, PERF_OPT_MODEL},
        {"cold", required_argument, NULL, PERF_OPT_COLD},
        {NULL, 0, NULL, 0}};
    int ch, rc;

    *o = (struct perf_opts){.min_bytes = 8, .max_bytes = 64 << 20, .factor = 2, .dt = perf_find_dtype("float32"),
                            .op = haloSum, .warmup = 5, .check = 1, .min_busbw = -1, .max_latency = -1,
                            .cold = PERF_COLD_OFF};
    while ((ch = getopt_long(argc, argv, "b:e:f:d:o:r:w:i:c:R:n:h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            perf_usage(stdout, coll);
            return 0;
        }
        if ((rc = perf_opt_one(o, coll, ch, optarg)))
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", coll->name, argv[optind]);
        return 2;
    }
    if (o->cold != PERF_COLD_OFF && o->gpu) {
        fprintf(stderr, "%s: --cold times host calls one by one; it cannot be combined with --gpu\n", coll->name);
        return 2;
    }
    if (o->min_bytes > o->max_bytes) {
        fprintf(stderr, "%s: -b %zu is larger than -e %zu\n", coll->name, o->min_bytes, o->max_bytes);
        return 2;
    }
    return -1;
}

/* ---- One rank's sweep ---- */

struct perf_bufs {
    char *send, *recv;
    void *reg_send, *reg_recv; /* haloCommRegister handles (-R 1) */
    enum perf_mem mem;         /* --gpu: where send and recv live */
    char *hsend, *hrecv;       /* --gpu: host mirrors for filling and checking */
    size_t bytes;              /* of each buffer */
};

struct perf_result {
    size_t bytes, elems;
    size_t count;     /* the call's count argument */
    int iters;
    double us[2];     /* out of place, in place: max over ranks of the mean per call */
    double median[2]; /* --cold: max over ranks of the median per call */
    int from_last;    /* --cold: times run from the last rank's entry (one host) */
    int64_t wrong[2]; /* summed over ranks; -1 = not checked */
    struct perf_roof roof; /* --roofline: the slowest rank's copy and reduce bandwidth */
    double roof_busbw;     /* the busbw that bandwidth permits; 0 = not measured */
};

static const char *const perf_variant_names[2] = {"out-of-place", "in-place"};

static double perf_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

/* Prints the library's error and aborts the communicator so the peers see a remote
 * error instead of waiting for the timeout. Returns 1 (the exit status). */
static int perf_fail(struct perf_ctx *c, const struct perf_coll *coll, const char *call, haloResult_t r)
{
    fprintf(stderr, "%s: rank %d: %s failed: %s: %s\n", coll->name, c->rank, call, haloGetErrorString(r),
            haloGetLastError(c->comm));
    if (!c->aborted)
        haloCommAbort(c->comm);
    c->aborted = 1;
    return 1;
}

static haloResult_t perf_barrier(const struct perf_ctx *c)
{
    int32_t one = 1, sum;

    return haloAllReduce(&one, &sum, 1, haloInt32, haloSum, c->comm, NULL);
}

/* --cold: each call alone after the working-set touch, timed from the last rank's
 * entry (cold.h). */
static int perf_time_cold(struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                          const struct perf_layout *l, void *send, void *recv, int iters, struct perf_result *res,
                          int v)
{
    struct perf_cold *cd = perf_cold_create(o->cold, iters);
    const char *what = "haloAllReduce (barrier)";
    haloResult_t r = haloSuccess;

    if (!cd) {
        fprintf(stderr, "%s: rank %d: cannot allocate the --cold working set of %zu bytes\n", coll->name, c->rank,
                o->cold);
        return perf_fail(c, coll, "--cold", haloSystemError);
    }
    if ((r = perf_barrier(c)) != haloSuccess)
        goto out;
    what = coll->call;
    for (int i = 0; i < iters && r == haloSuccess; i++) {
        perf_cold_touch(cd);
        if (o->meet && perf_cold_meet(o->meet, c->nranks) != 0) {
            fprintf(stderr, "%s: rank %d: a rank did not reach the meeting point before call %d for a minute\n",
                    coll->name, c->rank, i);
            r = haloSystemError, what = "--cold meeting point";
            break;
        }
        perf_cold_enter(cd, i);
        r = coll->run(c, send, recv, l->count);
        perf_cold_leave(cd, i);
    }
    if (r == haloSuccess && (r = perf_cold_result(cd, c->comm, iters, &res->us[v], &res->median[v],
                                                  &res->from_last)) != haloSuccess)
        what = "haloAllGather (--cold entry times)";
out:
    perf_cold_destroy(cd);
    return r == haloSuccess ? 0 : perf_fail(c, coll, what, r);
}

static int perf_time(struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                     const struct perf_layout *l, void *send, void *recv, int iters, struct perf_result *res, int v)
{
    haloResult_t r = haloSuccess;
    double t0, *us = &res->us[v];

    for (int i = 0; i < o->warmup && r == haloSuccess; i++)
        r = coll->run(c, send, recv, l->count);
    if (r != haloSuccess)
        return perf_fail(c, coll, coll->call, r);
    if (c->stream && perf_gpu_sync(c->stream) != 0)
        return perf_fail(c, coll, "stream synchronize", haloUnhandledCudaError);
    if (o->cold != PERF_COLD_OFF)
        return perf_time_cold(c, coll, o, l, send, recv, iters, res, v);
    if ((r = perf_barrier(c)) != haloSuccess)
        return perf_fail(c, coll, "haloAllReduce (barrier)", r);
    t0 = perf_now_us();
    for (int i = 0; i < iters && r == haloSuccess; i++)
        r = coll->run(c, send, recv, l->count);
    /* On a stream the loop only enqueued: the time ends when the stream passed all. */
    if (r == haloSuccess && c->stream && perf_gpu_sync(c->stream) != 0)
        return perf_fail(c, coll, "stream synchronize", haloUnhandledCudaError);
    *us = (perf_now_us() - t0) / iters;
    return r == haloSuccess ? 0 : perf_fail(c, coll, coll->call, r);
}

/* Host mirror of a pointer into one of the GPU buffers (--gpu). */
static char *perf_mirror(const struct perf_bufs *b, const void *p)
{
    const char *q = p;
    if (q >= b->send && q < b->send + b->bytes)
        return b->hsend + (q - b->send);
    return b->hrecv + (q - b->recv);
}

/* Poisons the output, fills the inputs, runs once, counts wrong elements. With
 * --gpu the host mirrors are filled and checked, and copied over the stream. */
static int perf_check_once(struct perf_ctx *c, const struct perf_coll *coll, const struct perf_layout *l,
                           const struct perf_bufs *b, void *base, void *send, void *recv, size_t poison_elems,
                           int64_t *wrong)
{
    haloResult_t r;
    int gpu = b->mem != PERF_MEM_HOST;
    void *hbase = gpu ? perf_mirror(b, base) : base, *hsend = gpu ? perf_mirror(b, send) : send;
    void *hrecv = gpu ? perf_mirror(b, recv) : recv;

    perf_poison(c->dt, hbase, poison_elems);
    coll->fill(c, hsend, l);
    if (gpu && (perf_gpu_copy(b->recv, b->hrecv, b->bytes, c->stream) || perf_gpu_copy(b->send, b->hsend, b->bytes,
                                                                                        c->stream)))
        return perf_fail(c, coll, "copy to the GPU buffers", haloUnhandledCudaError);
    if ((r = coll->run(c, send, recv, l->count)) != haloSuccess)
        return perf_fail(c, coll, coll->call, r);
    if (gpu && perf_gpu_copy(b->hrecv, b->recv, b->bytes, c->stream))
        return perf_fail(c, coll, "copy from the GPU buffers", haloUnhandledCudaError);
    c->reported = 0;
    *wrong = (int64_t)coll->check(c, hrecv, l);
    return 0;
}

static int perf_bench_size(struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                           struct perf_bufs *b, const struct perf_layout *l, struct perf_result *res)
{
    size_t span = l->send_elems > l->recv_elems ? l->send_elems : l->recv_elems;
    haloResult_t r;

    res->bytes = span * c->elem;
    res->elems = span;
    res->count = l->count;
    if (o->iters)
        res->iters = o->iters;
    else
        res->iters = (int)fmin(PERF_AUTO_MAX, fmax(PERF_AUTO_MIN, PERF_AUTO_BYTES / (double)res->bytes));
    c->bytes = res->bytes;
    for (int v = 0; v < 2; v++) {
        char *send = v ? b->recv + l->send_inplace * c->elem : b->send;
        char *recv = v ? b->recv + l->recv_inplace * c->elem : b->recv;
        c->variant = perf_variant_names[v];
        if (perf_time(c, coll, o, l, send, recv, res->iters, res, v))
            return 1;
        res->wrong[v] = -1;
        if (o->check && (v == 0 || coll->inplace_checked) &&
            perf_check_once(c, coll, l, b, b->recv, send, recv, v ? span : l->recv_elems, &res->wrong[v]))
            return 1;
    }
    if ((r = haloAllReduce(res->us, res->us, 2, haloFloat64, haloMax, c->comm, NULL)) != haloSuccess)
        return perf_fail(c, coll, "haloAllReduce (times)", r);
    if (o->check && (r = haloAllReduce(res->wrong, res->wrong, 2, haloInt64, haloSum, c->comm, NULL)) != haloSuccess)
        return perf_fail(c, coll, "haloAllReduce (error counts)", r);
    if (o->check && !coll->inplace_checked)
        res->wrong[1] = -1; /* the sum of -1 over ranks */
    return 0;
}

/* ---- Output ---- */

static void perf_fmt_time(char *s, size_t n, double us)
{
    snprintf(s, n, us >= 10000 ? "%7.0f" : us >= 100 ? "%7.1f" : "%7.2f", us);
}

/* HALO_WIRE (a compressed wire format) makes all-reduce and reduce-scatter sums
 * and averages of floats lossy: their results are checked within the format's
 * bound, n x (c x A + e) + n x u x A for partial sums up to A (halo_wire_bound),
 * and the inputs stay small (|x| <= 1000) so that no
 * block's float16 scale saturates. */
static void perf_wire_setup(struct perf_ctx *c, const struct perf_coll *coll)
{
    const char *word = getenv("HALO_WIRE");
    enum halo_wire w;
    int reduces = strcmp(coll->call, "haloAllReduce") == 0 || strcmp(coll->call, "haloReduceScatter") == 0;
    if (!word || halo_wire_parse(word, &w) != 0 || !halo_wire_supported(w, c->dt->type) || !reduces ||
        (c->op != haloSum && c->op != haloAvg))
        return; /* a bad word fails the communicator's init, with its own message */
    double cw, e, u;
    halo_wire_bound(w, c->dt->type, &cw, &e, &u);
    if (c->sum_range > 1000)
        c->sum_range = 1000;
    double a = (double)c->nranks * (double)c->sum_range;
    c->wire = halo_wire_name(w);
    c->wire_tol = c->nranks * (cw * a + e) + c->nranks * u * a;
}

static void perf_print_header(const struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                              const char *ranks_info)
{
    int v = 0;

    haloGetVersion(&v);
    printf("# %s (haloccl %d.%d.%d): nranks %d  dtype %s  op %s  root %d\n", coll->name, v / 10000, v / 100 % 100,
           v % 100, c->nranks, c->dt->name, coll->uses_op ? perf_op_names[c->op] : "none", c->root);
    printf("# minBytes %zu maxBytes %zu step: %zu(factor) warmup iters: %d iters: ", o->min_bytes, o->max_bytes,
           o->factor, o->warmup);
    if (o->iters)
        printf("%d", o->iters);
    else
        printf("auto (256 MiB/size, %d..%d)", PERF_AUTO_MIN, PERF_AUTO_MAX);
    printf(" check: %d\n", o->check);
    if (c->wire)
        printf("# wire %s (HALO_WIRE): lossy; a result counts as wrong beyond +-%.3g of the exact one (inputs in "
               "+-%lld)\n", c->wire, c->wire_tol, (long long)c->sum_range);
    if (o->cold != PERF_COLD_OFF)
        printf("# cold: each call timed alone after every rank read and wrote %zu bytes%s; mean (median below)\n",
               o->cold, o->meet ? ", the ranks entering together" : "");
    if (o->gpu) {
        static const char *const mem[] = {"host", "device", "pinned", "memalloc"};
        char rt[256];
        perf_gpu_describe(rt, sizeof(rt));
        printf("# GPU buffers: %s, on a stream; runtime %s\n", mem[o->gpu], rt);
    }
    printf("#\n# Using ranks\n%s#\n", ranks_info);
    if (o->model)
        perf_model_header(c->comm, coll->call);
    printf("# %10s  %12s  %8s  %6s  %6s           out-of-place                     in-place\n", "", "", "", "", "");
    printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s\n", "size", "count", "type", "redop",
           "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong");
    printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s\n", "(B)", "(elements)", "", "", "",
           "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "");
    if (o->roofline)
        printf("# roofline columns: thr = copy threads per rank; GB/s read + written by the slowest rank, every\n"
               "# rank at once: mem = memcpy of buffers of that size, fifo = memcpy and reduce = the reduction\n"
               "# kernel on FIFO-sized buffers (in cache); roof = the busbw the slower of memory (input read,\n"
               "# output written, at mem) and the core's copies and reductions (at fifo, reduce) permits; then\n"
               "# the out-of-place and in-place busbw as a fraction of roof\n"
               "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s  %3s  %6s  %6s  %6s  %6s  %5s  %5s\n",
               "", "", "", "", "", "", "", "", "", "", "", "", "", "thr", "mem", "fifo", "reduce", "roof", "%oop",
               "%ip");
}

static void perf_print_result(const struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                              const struct perf_result *res)
{
    const char *op = coll->uses_op ? perf_op_names[c->op] : "none";
    double factor = coll->busbw_factor(c->nranks);
    char t[32], w[32];

    if (o->json) {
        printf("{\"tool\":\"%s\",\"nranks\":%d,\"size\":%zu,\"count\":%zu,\"type\":\"%s\",\"redop\":\"%s\","
               "\"root\":%d,\"iters\":%d,\"warmup\":%d",
               coll->name, c->nranks, res->bytes, res->elems, c->dt->name, op, c->root, res->iters, o->warmup);
        for (int v = 0; v < 2; v++) {
            const char *p = v ? "ip" : "oop";
            double algbw = res->bytes / res->us[v] / 1e3;
            snprintf(w, sizeof(w), "%lld", (long long)res->wrong[v]);
            printf(",\"%s_time_us\":%.3f,\"%s_algbw\":%.4f,\"%s_busbw\":%.4f,\"%s_wrong\":%s", p, res->us[v], p,
                   algbw, p, algbw * factor, p, res->wrong[v] < 0 ? "null" : w);
            if (o->cold != PERF_COLD_OFF)
                printf(",\"%s_median_us\":%.3f", p, res->median[v]);
        }
        if (o->roofline)
            printf(",\"roof_threads\":%d,\"roof_copy_GBps\":%.3f,\"roof_fifo_GBps\":%.3f,\"roof_reduce_GBps\":%.3f,"
                   "\"roof_busbw\":%.4f,\"oop_roof_frac\":%.4f,\"ip_roof_frac\":%.4f",
                   res->roof.threads, res->roof.copy_GBps, res->roof.fifo_GBps, res->roof.reduce_GBps, res->roof_busbw,
                   res->bytes / res->us[0] / 1e3 * factor / res->roof_busbw,
                   res->bytes / res->us[1] / 1e3 * factor / res->roof_busbw);
        if (o->model)
            perf_model_row(c->comm, coll->call, res->count, c->dtype, c->root, res->us[0], 1);
        if (o->cold != PERF_COLD_OFF)
            printf(",\"cold_bytes\":%zu,\"from_last_entry\":%s,\"ranks_meet\":%s", o->cold,
                   res->from_last ? "true" : "false", o->meet ? "true" : "false");
        printf("}\n");
        return;
    }
    printf("%12zu  %12zu  %8s  %6s  %6d", res->bytes, res->elems, c->dt->name, op, c->root);
    for (int v = 0; v < 2; v++) {
        double algbw = res->bytes / res->us[v] / 1e3;
        perf_fmt_time(t, sizeof(t), res->us[v]);
        if (res->wrong[v] < 0)
            snprintf(w, sizeof(w), "N/A");
        else
            snprintf(w, sizeof(w), "%lld", (long long)res->wrong[v]);
        printf("  %7s  %6.2f  %6.2f  %6s", t, algbw, algbw * factor, w);
    }
    if (o->roofline)
        printf("  %3d  %6.1f  %6.1f  %6.1f  %6.2f  %4.0f%%  %4.0f%%", res->roof.threads, res->roof.copy_GBps,
               res->roof.fifo_GBps, res->roof.reduce_GBps, res->roof_busbw, 100.0 * res->bytes / res->us[0] / 1e3 * factor / res->roof_busbw,
               100.0 * res->bytes / res->us[1] / 1e3 * factor / res->roof_busbw);
    if (o->model)
        perf_model_row(c->comm, coll->call, res->count, c->dtype, c->root, res->us[0], 0);
    printf("\n");
    if (o->cold != PERF_COLD_OFF)
        printf("#   median per call (us): out-of-place %.2f, in-place %.2f; from the %s entry\n", res->median[0],
               res->median[1], res->from_last ? "last rank's" : "rank's own (ranks on several hosts)");
}

/* "#  Rank  0 Pid 1234 on host\n" for every rank, gathered. Returns 0 or the exit status. */
static int perf_ranks_info(struct perf_ctx *c, const struct perf_coll *coll, char **text)
{
    struct {
        int32_t pid;
        char host[60];
    } me = {0}, *all;
    size_t n = (size_t)c->nranks, len = 0;
    haloResult_t r;

    me.pid = (int32_t)getpid();
    gethostname(me.host, sizeof(me.host) - 1);
    all = calloc(n, sizeof(me));
    *text = calloc(n, 96);
    if (!all || !*text) {
        fprintf(stderr, "%s: rank %d: out of memory\n", coll->name, c->rank);
        free(all);
        return 1;
    }
    if ((r = haloAllGather(&me, all, sizeof(me), haloUint8, c->comm, NULL)) != haloSuccess) {
        free(all);
        return perf_fail(c, coll, "haloAllGather (rank info)", r);
    }
    for (size_t i = 0; i < n; i++) {
        all[i].host[sizeof(me.host) - 1] = 0;
        len += (size_t)snprintf(*text + len, 96, "#  Rank %2zu Pid %7d on %s\n", i, (int)all[i].pid, all[i].host);
    }
    free(all);
    return 0;
}

/* ---- Sweep ---- */

static int perf_sweep_next(const struct perf_opts *o, size_t *size)
{
    if (*size > o->max_bytes / o->factor)
        return 0;
    *size *= o->factor;
    return 1;
}

/* Elements of the larger buffer at the largest size of the sweep. */
static size_t perf_max_elems(const struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o)
{
    size_t size = o->min_bytes, max_elems = 1;
    struct perf_layout l;

    do {
        coll->layout(c, size / c->elem, &l);
        if (l.send_elems > max_elems)
            max_elems = l.send_elems;
        if (l.recv_elems > max_elems)
            max_elems = l.recv_elems;
    } while (perf_sweep_next(o, &size));
    return max_elems;
}

static int perf_alloc(struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                      struct perf_bufs *b)
{
    size_t max_elems = perf_max_elems(c, coll, o);
    char **hs = o->gpu ? &b->hsend : &b->send, **hr = o->gpu ? &b->hrecv : &b->recv;
    b->bytes = max_elems * c->elem;
    if (posix_memalign((void **)hs, 4096, b->bytes) || posix_memalign((void **)hr, 4096, b->bytes)) {
        fprintf(stderr, "%s: rank %d: cannot allocate 2 x %zu bytes\n", coll->name, c->rank, b->bytes);
        return 1;
    }
    /* Touch every page before timing; the inputs make the first loop realistic. */
    perf_fill_input(c, *hs, max_elems);
    memcpy(*hr, *hs, b->bytes);
    if (!o->gpu)
        return 0;
    b->mem = (enum perf_mem)o->gpu;
    if (perf_gpu_setup(coll->name, c->rank, &c->stream) != 0)
        return 1;
    b->send = perf_gpu_alloc(b->mem, b->bytes);
    b->recv = perf_gpu_alloc(b->mem, b->bytes);
    if (!b->send || !b->recv) {
        fprintf(stderr, "%s: rank %d: cannot allocate 2 x %zu bytes of GPU memory\n", coll->name, c->rank, b->bytes);
        return 1;
    }
    if (perf_gpu_copy(b->send, b->hsend, b->bytes, c->stream) || perf_gpu_copy(b->recv, b->hrecv, b->bytes, c->stream)) {
        fprintf(stderr, "%s: rank %d: copy to the GPU buffers failed\n", coll->name, c->rank);
        return 1;
    }
    return 0;
}

/* -R 1: both buffers registered once, as an application keeping its buffers would. */
static int perf_register(const struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                         struct perf_bufs *b)
{
    size_t max_elems = perf_max_elems(c, coll, o);
    if (haloCommRegister(c->comm, b->send, max_elems * c->elem, &b->reg_send) != haloSuccess ||
        haloCommRegister(c->comm, b->recv, max_elems * c->elem, &b->reg_recv) != haloSuccess) {
        fprintf(stderr, "%s: rank %d: haloCommRegister: %s\n", coll->name, c->rank, haloGetLastError(c->comm));
        return 1;
    }
    return 0;
}

struct perf_summary {
    int64_t wrong;
    double bw_sum;
    int bw_n;
    double best_busbw, first_us;
    size_t best_bytes, first_bytes;
};

static void perf_summarise(const struct perf_ctx *c, const struct perf_coll *coll, const struct perf_result *res,
                           struct perf_summary *s)
{
    double factor = coll->busbw_factor(c->nranks);

    for (int v = 0; v < 2; v++) {
        double busbw = res->bytes / res->us[v] / 1e3 * factor;
        s->wrong += res->wrong[v] > 0 ? res->wrong[v] : 0;
        s->bw_sum += busbw;
        s->bw_n++;
        if (v == 0 && busbw > s->best_busbw) {
            s->best_busbw = busbw;
            s->best_bytes = res->bytes;
        }
    }
    if (s->first_us < 0) {
        s->first_us = res->us[0];
        s->first_bytes = res->bytes;
    }
}

/* Footer and gates; every rank holds the same numbers and returns the same status. */
static int perf_finish(const struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                       const struct perf_summary *s)
{
    int print = c->rank == 0, rc = s->wrong > 0 ? 1 : 0;

    if (print && !o->json) {
        printf("# Out of bounds values : %lld %s%s\n", (long long)s->wrong, s->wrong ? "FAILED" : "OK",
               o->check ? "" : " (check disabled)");
        printf("# Avg bus bandwidth    : %g\n#\n", s->bw_n ? s->bw_sum / s->bw_n : 0.0);
    }
    if (print && s->wrong)
        fprintf(stderr, "%s: %lld wrong elements\n", coll->name, (long long)s->wrong);
    if (s->bw_n == 0) {
        if (print)
            fprintf(stderr, "%s: no size in %zu..%zu gives a count >= 1 for %d ranks\n", coll->name, o->min_bytes,
                    o->max_bytes, c->nranks);
        return o->min_busbw >= 0 || o->max_latency >= 0 ? 3 : rc;
    }
    if (o->min_busbw >= 0 && s->best_busbw < o->min_busbw) {
        if (print)
            fprintf(stderr, "%s: gate failed: best out-of-place busbw %.3f GB/s (at %zu B) < --min-busbw %g\n",
                    coll->name, s->best_busbw, s->best_bytes, o->min_busbw);
        rc = rc ? rc : 3;
    }
    if (o->max_latency >= 0 && s->first_us > o->max_latency) {
        if (print)
            fprintf(stderr, "%s: gate failed: out-of-place time %.2f us at %zu B > --max-latency %g\n", coll->name,
                    s->first_us, s->first_bytes, o->max_latency);
        rc = rc ? rc : 3;
    }
    return rc;
}

/* --roofline: this size's copy and reduction bandwidth on every rank at once; the
 * slowest rank's, and the busbw it permits, go into res. */
static int perf_roof(struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                     const struct perf_layout *l, struct perf_result *res)
{
    size_t span = l->send_elems > l->recv_elems ? l->send_elems : l->recv_elems, bytes = span * c->elem;
    int local = o->nforks > 0 ? o->nforks : c->nranks;
    struct perf_roof r;
    if (perf_roof_measure(c->comm, bytes, perf_roof_threads(bytes, local), c->dtype, &r) != 0)
        return 1;
    double bw[3] = {r.copy_GBps, r.fifo_GBps, r.reduce_GBps};
    haloResult_t e = haloAllReduce(bw, bw, 3, haloFloat64, haloMin, c->comm, NULL);
    if (e != haloSuccess)
        return perf_fail(c, coll, "haloAllReduce (roofline)", e);
    res->roof = r;
    res->roof.copy_GBps = bw[0];
    res->roof.fifo_GBps = bw[1];
    res->roof.reduce_GBps = bw[2];
    struct perf_traffic tr;
    coll->traffic(c->nranks, &tr);
    double t_mem = tr.mem / (bw[0] * 1e9), t_core = tr.copy / (bw[1] * 1e9) + tr.reduce / (bw[2] * 1e9);
    double t_s = (double)bytes * (t_mem > t_core ? t_mem : t_core);
    res->roof_busbw = t_s > 0 ? (double)bytes / t_s / 1e9 * coll->busbw_factor(c->nranks) : 0;
    return 0;
}

static int perf_sweep(struct perf_ctx *c, const struct perf_coll *coll, const struct perf_opts *o,
                      struct perf_bufs *b)
{
    struct perf_summary s = {.first_us = -1};
    struct perf_result res;
    struct perf_layout l;
    size_t size = o->min_bytes;

    do {
        coll->layout(c, size / c->elem, &l);
        if (l.count == 0)
            continue; /* fewer bytes than one element per rank: nothing to move */
        if (o->roofline && perf_roof(c, coll, o, &l, &res))
            return 1;
        if (perf_bench_size(c, coll, o, b, &l, &res))
            return 1;
        if (c->rank == 0)
            perf_print_result(c, coll, o, &res);
        perf_summarise(c, coll, &res, &s);
    } while (perf_sweep_next(o, &size));
    return perf_finish(c, coll, o, &s);
}

/* Everything one rank does once its communicator exists. Destroys comm. */
static int perf_rank_main(const struct perf_coll *coll, const struct perf_opts *o, haloComm_t comm)
{
    struct perf_ctx c = {.comm = comm, .dtype = o->dt->type, .elem = o->dt->size, .dt = o->dt};
    struct perf_bufs b = {.mem = PERF_MEM_HOST};
    char *info = NULL;
    int rc;

    haloCommCount(comm, &c.nranks);
    haloCommUserRank(comm, &c.rank);
    c.op = coll->uses_op ? o->op : haloNumOps;
    c.root = coll->uses_root ? o->root : -1;
    c.sum_range = o->dt->limit / c.nranks;
    perf_wire_setup(&c, coll);
    if (coll->uses_root && o->root >= c.nranks) {
        if (c.rank == 0)
            fprintf(stderr, "%s: bad value '%d' for -r: the root must be < nranks %d\n", coll->name, o->root,
                    c.nranks);
        rc = 2;
        goto out_destroy;
    }
    if ((rc = perf_ranks_info(&c, coll, &info)))
        goto out_free;
    if ((rc = perf_alloc(&c, coll, o, &b)))
        goto out_free;
    if (o->reg && (rc = perf_register(&c, coll, o, &b)))
        goto out_free;
    if (c.rank == 0 && !o->json)
        perf_print_header(&c, coll, o, info);
    rc = perf_sweep(&c, coll, o, &b);
    if (b.reg_send)
        haloCommDeregister(comm, b.reg_send);
    if (b.reg_recv)
        haloCommDeregister(comm, b.reg_recv);
out_free:
    if (b.mem != PERF_MEM_HOST) {
        perf_gpu_free(b.mem, b.send);
        perf_gpu_free(b.mem, b.recv);
        free(b.hsend);
        free(b.hrecv);
    } else {
        free(b.send);
        free(b.recv);
    }
    free(info);
    if (c.aborted)
        return rc; /* perf_fail aborted (and freed) the communicator */
out_destroy:
    haloCommDestroy(comm);
    return rc;
}

/* ---- Process model ---- */

static volatile sig_atomic_t perf_parent_signal;

static void perf_on_signal(int sig)
{
    perf_parent_signal = sig;
}

/* Reads the unique id the parent writes once every rank is forked; EOF = the parent
 * failed to make one (and said so). */
static int perf_child(const struct perf_coll *coll, const struct perf_opts *o, int rank, int id_fd, pid_t parent)
{
    haloUniqueId id;
    haloComm_t comm;
    haloResult_t r;

    if (perf_child_read_id(id_fd, parent, &id) != 0)
        return 1;
    if ((r = haloCommInitRank(&comm, o->nforks, id, rank)) != haloSuccess) {
        fprintf(stderr, "%s: rank %d: haloCommInitRank failed: %s: %s\n", coll->name, rank, haloGetErrorString(r),
                haloGetLastError(NULL));
        return 1;
    }
    return perf_rank_main(coll, o, comm);
}

static void perf_kill_all(const pid_t *pids, int n, int sig)
{
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], sig);
}

static int perf_exit_code(const struct perf_coll *coll, int rank, int status)
{
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "%s: rank %d killed by signal %d (%s)\n", coll->name, rank, WTERMSIG(status),
                strsignal(WTERMSIG(status)));
        return 1;
    }
    return WEXITSTATUS(status);
}

/* Waits for every child; once one fails, the rest get PERF_KILL_GRACE_S to finish. */
static int perf_wait_all(const struct perf_coll *coll, pid_t *pids, int n)
{
    int left = n, rc = 0, status;
    double deadline = 0;

    while (left > 0) {
        pid_t p = waitpid(-1, &status, rc ? WNOHANG : 0);
        if (perf_parent_signal) {
            perf_kill_all(pids, n, perf_parent_signal);
            perf_parent_signal = 0;
            rc = rc ? rc : 1;
        }
        if (p == 0 || (p < 0 && errno == EINTR)) {
            if (rc && deadline == 0)
                deadline = perf_now_us() + PERF_KILL_GRACE_S * 1e6;
            if (rc && perf_now_us() > deadline) {
                fprintf(stderr, "%s: killing %d remaining rank(s) after a failure\n", coll->name, left);
                perf_kill_all(pids, n, SIGKILL);
                deadline = INFINITY;
            }
            if (p == 0)
                usleep(20000);
            continue;
        }
        if (p < 0)
            break;
        for (int i = 0; i < n; i++) {
            if (pids[i] != p)
                continue;
            int code = perf_exit_code(coll, i, status);
            pids[i] = 0;
            left--;
            rc = rc ? rc : code;
        }
    }
    return rc;
}

/* Forks rank i with a pipe to send it the id later; returns the pipe's write end or -1. */
static int perf_fork_one(const struct perf_coll *coll, const struct perf_opts *o, int i, const int *id_fds,
                         pid_t *pid)
{
    pid_t parent = getpid();
    int p[2];

    if (pipe(p) != 0) {
        fprintf(stderr, "%s: pipe for rank %d failed: %s\n", coll->name, i, strerror(errno));
        return -1;
    }
    fflush(NULL);
    *pid = fork();
    if (*pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(p[1]);
        for (int k = 0; k < i; k++)
            close(id_fds[k]);
        int code = perf_child(coll, o, i, p[0], parent);
        fflush(NULL);
        _exit(code); /* not exit(): the parent's atexit handlers are not ours to run */
    }
    close(p[0]);
    if (*pid < 0) {
        fprintf(stderr, "%s: fork of rank %d failed: %s\n", coll->name, i, strerror(errno));
        *pid = 0;
        close(p[1]);
        return -1;
    }
    return p[1];
}

/* Every rank is forked before haloGetUniqueId starts the library's bootstrap root
 * thread in this process: a child forked while that thread holds a lock (libcrypto's
 * during an HMAC, malloc's) would inherit it locked and hang. The id then goes to
 * each child through its pipe. */
static int perf_fork_ranks(const struct perf_coll *coll, const struct perf_opts *o)
{
    struct sigaction sa = {.sa_handler = perf_on_signal};
    pid_t pids[PERF_MAX_FORKS] = {0};
    int id_fds[PERF_MAX_FORKS], n = 0, rc = 0;
    haloUniqueId id;
    haloResult_t r;

    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: waitpid returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a child that died before reading its id */
    for (; n < o->nforks; n++)
        if ((id_fds[n] = perf_fork_one(coll, o, n, id_fds, &pids[n])) < 0)
            break;
    if (n < o->nforks) {
        rc = 1;
    } else if ((r = haloGetUniqueId(&id)) != haloSuccess) {
        fprintf(stderr, "%s: haloGetUniqueId failed: %s: %s\n", coll->name, haloGetErrorString(r),
                haloGetLastError(NULL));
        rc = 1;
    }
    for (int i = 0; i < n; i++) {
        if (rc == 0 && write(id_fds[i], &id, sizeof(id)) != (ssize_t)sizeof(id))
            fprintf(stderr, "%s: cannot hand the unique id to rank %d: %s\n", coll->name, i, strerror(errno));
        close(id_fds[i]); /* on failure: EOF, the children exit */
    }
    n = perf_wait_all(coll, pids, n);
    return rc ? rc : n;
}

static int perf_env_rank(const struct perf_coll *coll, const struct perf_opts *o)
{
    haloComm_t comm;
    haloResult_t r;

    if ((r = haloCommInitEnv(&comm)) != haloSuccess) {
        fprintf(stderr,
                "%s: haloCommInitEnv failed: %s: %s\n"
                "%s: launch with mpirun/srun/torchrun or set HALO_ROOT, HALO_RANK and HALO_NRANKS, "
                "or use -n N to fork N local ranks\n",
                coll->name, haloGetErrorString(r), haloGetLastError(NULL), coll->name);
        return 1;
    }
    return perf_rank_main(coll, o, comm);
}

int perf_main(int argc, char **argv, const struct perf_coll *coll)
{
    struct perf_opts o;
    int rc = perf_opts_parse(&o, argc, argv, coll);

    if (rc >= 0)
        return rc;
    if (o.nforks && coll->uses_root && o.root >= o.nforks) {
        fprintf(stderr, "%s: bad value '%d' for -r: the root must be < -n %d\n", coll->name, o.root, o.nforks);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (o.nforks && o.cold != PERF_COLD_OFF && !(o.meet = perf_cold_meet_create()))
        fprintf(stderr, "%s: no shared page for the ranks to meet before each --cold call: they enter as their "
                        "touches end\n", coll->name);
    return o.nforks ? perf_fork_ranks(coll, &o) : perf_env_rank(coll, &o);
}
