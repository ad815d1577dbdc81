/* SPDX-License-Identifier: MIT */
/*
 * reduce.c — CPU reduction kernels: dst[i] = a[i] op b[i] and the avg division, for
 * every datatype, plus the float16 / bfloat16 / fp8 conversions they use (inline, in
 * convert.h, shared with the wire-format kernels of wire.c).
 *
 * The kernels are plain C loops written once (always-inline functions generated per
 * type) and compiled three times: baseline x86-64, AVX2 (+F16C) and AVX-512. The best
 * variant the CPU can run is chosen once, under pthread_once. Conversions are
 * branch-free bit manipulation so that they vectorise; the AVX2 and AVX-512 variants
 * convert float16 (and widen fp8) with F16C, which gives the same bits once NaNs are
 * made canonical. AVX512-BF16 is not used: VCVTNEPS2BF16 flushes subnormals. A scalar
 * reference, written differently (64-bit integers, double, branches), is kept for the
 * tests.
 *
 * Semantics shared by every variant and the reference:
 * - Integer sum and prod wrap (computed in the unsigned type of the same width).
 * - Float max/min are fmax/fmin-like: a NaN operand is ignored unless both are NaN
 *   (then the result is a); -0 and +0 compare equal and the result is b.
 * - Half and fp8 types widen to float32, reduce, and round once to nearest even. Any
 *   NaN result is stored as the canonical quiet NaN (f16 0x7e00, bf16 0x7fc0, e4m3 0x7f,
 *   e5m2 0x7e), so results do not depend on which operand's payload the CPU keeps.
 * - Conversions need the default rounding mode (nearest even); they never produce or
 *   consume float32 subnormals except for bfloat16, whose subnormals are float32's.
 */
#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#include "convert.h"
#include "reduce.h"

/* The public conversions: convert.h's inline ones, for the tests and the reference. */
float halo_f16_to_f32(uint16_t h) { return f16_dec(h); }
uint16_t halo_f32_to_f16(float f) { return f16_enc(f); }
float halo_bf16_to_f32(uint16_t h) { return bf16_dec(h); }
uint16_t halo_f32_to_bf16(float f) { return bf16_enc(f); }
float halo_e4m3_to_f32(uint8_t v) { return e4m3_dec(v); }
uint8_t halo_f32_to_e4m3(float f) { return e4m3_enc(f); }
float halo_e5m2_to_f32(uint8_t v) { return e5m2_dec(v); }
uint8_t halo_f32_to_e5m2(float f) { return e5m2_enc(f); }

/* ---- kernels, one loop per op, generated per type ---- */

/* fmax-like; the form (no short circuit) is one the vectoriser turns into a blend. */
static ALWAYS_INLINE float max_f32(float x, float y)
{
    return (x > y) | (y != y) ? x : y;
}

static ALWAYS_INLINE float min_f32(float x, float y)
{
    return (x < y) | (y != y) ? x : y;
}

static ALWAYS_INLINE double max_f64(double x, double y)
{
    return (x > y) | (y != y) ? x : y;
}

static ALWAYS_INLINE double min_f64(double x, double y)
{
    return (x < y) | (y != y) ? x : y;
}

#define DEFINE_INT_KERNELS(tag, T, U)                                                   \
    static ALWAYS_INLINE void red_##tag(T *d, const T *a, const T *b, size_t n,         \
                                        haloRedOp_t op)                                 \
    {                                                                                   \
        switch (op) {                                                                   \
        case haloProd: FOR_EACH(n, d[i] = (T)(U)((U)a[i] * (U)b[i])) break;            \
        case haloMax: FOR_EACH(n, d[i] = a[i] > b[i] ? a[i] : b[i]) break;             \
        case haloMin: FOR_EACH(n, d[i] = a[i] < b[i] ? a[i] : b[i]) break;             \
        default: FOR_EACH(n, d[i] = (T)(U)((U)a[i] + (U)b[i])) break;                  \
        }                                                                               \
    }                                                                                   \
    static ALWAYS_INLINE void scale_##tag(T *d, const T *s, size_t n, int div)         \
    {                                                                                   \
        FOR_EACH(n, d[i] = (T)(s[i] / (T)div))                                         \
    }

#define DEFINE_FLOAT_KERNELS(tag, T, W)                                                 \
    static ALWAYS_INLINE void red_##tag(T *d, const T *a, const T *b, size_t n,         \
                                        haloRedOp_t op)                                 \
    {                                                                                   \
        switch (op) {                                                                   \
        case haloProd: FOR_EACH(n, d[i] = a[i] * b[i]) break;                          \
        case haloMax: FOR_EACH(n, d[i] = max_##W(a[i], b[i])) break;                   \
        case haloMin: FOR_EACH(n, d[i] = min_##W(a[i], b[i])) break;                   \
        default: FOR_EACH(n, d[i] = a[i] + b[i]) break;                                \
        }                                                                               \
    }                                                                                   \
    static ALWAYS_INLINE void scale_##tag(T *d, const T *s, size_t n, int div)         \
    {                                                                                   \
        const T inv = (T)1 / (T)div;                                                    \
        FOR_EACH(n, d[i] = s[i] * inv)                                                  \
    }

DEFINE_INT_KERNELS(i8, int8_t, uint8_t)
DEFINE_INT_KERNELS(u8, uint8_t, uint8_t)
DEFINE_INT_KERNELS(i32, int32_t, uint32_t)
DEFINE_INT_KERNELS(u32, uint32_t, uint32_t)
DEFINE_INT_KERNELS(i64, int64_t, uint64_t)
DEFINE_INT_KERNELS(u64, uint64_t, uint64_t)
DEFINE_FLOAT_KERNELS(f32, float, f32)
DEFINE_FLOAT_KERNELS(f64, double, f64)

/* bfloat16 converts in a few integer ops, so one fused loop per op is fastest. */
static ALWAYS_INLINE void red_bf16(uint16_t *d, const uint16_t *a, const uint16_t *b,
                                   size_t n, haloRedOp_t op)
{
    switch (op) {
    case haloProd: FOR_EACH(n, d[i] = bf16_enc(bf16_dec(a[i]) * bf16_dec(b[i]))) break;
    case haloMax:
        FOR_EACH(n, d[i] = bf16_enc(max_f32(bf16_dec(a[i]), bf16_dec(b[i])))) break;
    case haloMin:
        FOR_EACH(n, d[i] = bf16_enc(min_f32(bf16_dec(a[i]), bf16_dec(b[i])))) break;
    default: FOR_EACH(n, d[i] = bf16_enc(bf16_dec(a[i]) + bf16_dec(b[i]))) break;
    }
}

static ALWAYS_INLINE void scale_bf16(uint16_t *d, const uint16_t *s, size_t n, int div)
{
    const float inv = 1.0f / (float)div;
    FOR_EACH(n, d[i] = bf16_enc(bf16_dec(s[i]) * inv))
}

/* ---- float16 and fp8: blocks of float32 ----
 * Each block is decoded into float32, reduced with the float32 kernel and encoded
 * back, one simple loop per step: fused loops with these conversions spilled registers
 * and ran at a third of the speed. Blocks stay in L1 and keep dst == a or b safe. */

#define BLOCK 512

/* e4m3 as the float16 bits of value / 256: exact (3-bit mantissa, 4-bit exponent into
 * 5, e4m3 subnormals land on f16 subnormals); the e4m3 NaN becomes an f16 NaN. */
static ALWAYS_INLINE uint16_t e4m3_to_f16_scaled(uint8_t v)
{
    uint16_t mag = v & 0x7f;
    return mag == 0x7f ? 0x7e00 : (uint16_t)((v & 0x80) << 8 | mag << 7);
}

/* fp8 through F16C where there is one: widen to f16 bits (cheap 16-bit lanes), then
 * vcvtph2ps. e5m2 is the top byte of a float16. */
static ALWAYS_INLINE void fp8_dec_block(float *x, const uint8_t *v, size_t m,
                                        haloDataType_t t, int f16c)
{
    uint16_t h[BLOCK];
    if (!f16c && t == haloFloat8e4m3) {
        FOR_EACH(m, x[i] = e4m3_dec(v[i]))
    } else if (!f16c) {
        FOR_EACH(m, x[i] = e5m2_dec(v[i]))
    } else if (t == haloFloat8e4m3) {
        FOR_EACH(m, h[i] = e4m3_to_f16_scaled(v[i]))
        f16c_dec_block(x, h, m);
        FOR_EACH(m, x[i] *= 0x1p8f)
    } else {
        FOR_EACH(m, h[i] = (uint16_t)(v[i] << 8))
        f16c_dec_block(x, h, m);
    }
}

/* Elements [s, s + m) of src, as float32. */
static ALWAYS_INLINE void half_dec_block(float *x, const void *src, size_t s, size_t m,
                                         haloDataType_t t, int f16c)
{
    const uint16_t *h = (const uint16_t *)src + s;
    const uint8_t *v = (const uint8_t *)src + s;
    if (t == haloFloat16)
        f16_dec_block(x, h, m, f16c);
    else
        fp8_dec_block(x, v, m, t, f16c);
}

static ALWAYS_INLINE void half_enc_block(void *dst, size_t s, const float *x, size_t m,
                                         haloDataType_t t, int f16c)
{
    uint16_t *h = (uint16_t *)dst + s;
    uint8_t *v = (uint8_t *)dst + s;
    switch (t) {
    case haloFloat16:
        if (f16c)
            f16c_enc_block(h, x, m);
        else
            FOR_EACH(m, h[i] = f16_enc(x[i]))
        break;
    case haloFloat8e4m3: FOR_EACH(m, v[i] = e4m3_enc(x[i])) break;
    default: FOR_EACH(m, v[i] = e5m2_enc(x[i])) break;
    }
}

static ALWAYS_INLINE void red_half(void *d, const void *a, const void *b, size_t n,
                                   haloDataType_t t, haloRedOp_t op, int f16c)
{
    float x[BLOCK], y[BLOCK];
    for (size_t s = 0; s < n; s += BLOCK) {
        size_t m = n - s < BLOCK ? n - s : BLOCK;
        half_dec_block(x, a, s, m, t, f16c);
        half_dec_block(y, b, s, m, t, f16c);
        red_f32(x, x, y, m, op);
        half_enc_block(d, s, x, m, t, f16c);
    }
}

static ALWAYS_INLINE void scale_half(void *d, const void *src, size_t n, haloDataType_t t,
                                     int div, int f16c)
{
    float x[BLOCK];
    for (size_t s = 0; s < n; s += BLOCK) {
        size_t m = n - s < BLOCK ? n - s : BLOCK;
        half_dec_block(x, src, s, m, t, f16c);
        scale_f32(x, x, m, div);
        half_enc_block(d, s, x, m, t, f16c);
    }
}

/* The type switch, inlined into each variant so every loop is compiled for its ISA.
 * f16c: the variant may use F16C (a constant: the other branch is compiled away). */
static ALWAYS_INLINE void reduce_any(void *d, const void *a, const void *b, size_t n,
                                     haloDataType_t t, haloRedOp_t op, int f16c)
{
    if ((unsigned)op >= haloNumOps)
        return;
    switch (t) {
    case haloInt8: red_i8(d, a, b, n, op); break;
    case haloUint8: red_u8(d, a, b, n, op); break;
    case haloInt32: red_i32(d, a, b, n, op); break;
    case haloUint32: red_u32(d, a, b, n, op); break;
    case haloInt64: red_i64(d, a, b, n, op); break;
    case haloUint64: red_u64(d, a, b, n, op); break;
    case haloFloat32: red_f32(d, a, b, n, op); break;
    case haloFloat64: red_f64(d, a, b, n, op); break;
    case haloBfloat16: red_bf16(d, a, b, n, op); break;
    case haloFloat16:
    case haloFloat8e4m3:
    case haloFloat8e5m2: red_half(d, a, b, n, t, op, f16c); break;
    default: break;
    }
}

static ALWAYS_INLINE void scale_any(void *d, const void *s, size_t n, haloDataType_t t,
                                    int div, int f16c)
{
    if (div < 1) {
        if (d != s)
            memmove(d, s, n * halo_dtype_size(t));
        return;
    }
    switch (t) {
    case haloInt8: scale_i8(d, s, n, div); break;
    case haloUint8: scale_u8(d, s, n, div); break;
    case haloInt32: scale_i32(d, s, n, div); break;
    case haloUint32: scale_u32(d, s, n, div); break;
    case haloInt64: scale_i64(d, s, n, div); break;
    case haloUint64: scale_u64(d, s, n, div); break;
    case haloFloat32: scale_f32(d, s, n, div); break;
    case haloFloat64: scale_f64(d, s, n, div); break;
    case haloBfloat16: scale_bf16(d, s, n, div); break;
    case haloFloat16:
    case haloFloat8e4m3:
    case haloFloat8e5m2: scale_half(d, s, n, t, div, f16c); break;
    default: break;
    }
}

/* ---- the three variants and run-time dispatch ---- */

static void reduce_generic(void *d, const void *a, const void *b, size_t n,
                           haloDataType_t t, haloRedOp_t op)
{
    reduce_any(d, a, b, n, t, op, 0);
}

static void scale_generic(void *d, const void *s, size_t n, haloDataType_t t, int div)
{
    scale_any(d, s, n, t, div, 0);
}

static TARGET_AVX2 void reduce_avx2(void *d, const void *a, const void *b, size_t n,
                                    haloDataType_t t, haloRedOp_t op)
{
    reduce_any(d, a, b, n, t, op, 1);
}

static TARGET_AVX2 void scale_avx2(void *d, const void *s, size_t n, haloDataType_t t,
                                   int div)
{
    scale_any(d, s, n, t, div, 1);
}

static TARGET_AVX512 void reduce_avx512(void *d, const void *a, const void *b, size_t n,
                                        haloDataType_t t, haloRedOp_t op)
{
    reduce_any(d, a, b, n, t, op, 1);
}

static TARGET_AVX512 void scale_avx512(void *d, const void *s, size_t n, haloDataType_t t,
                                       int div)
{
    scale_any(d, s, n, t, div, 1);
}

static int cpu_has_avx2(void)
{
    __builtin_cpu_init();
#if defined(__clang__) && __clang_major__ < 15
    /* clang 14 (the fuzz build, tests/fuzz) knows no "f16c" here; every x86 CPU
     * with AVX2 has F16C (Intel since Ivy Bridge, AMD since Piledriver). */
    return __builtin_cpu_supports("avx2");
#else
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
#endif
}

static int cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

/* Best first. */
static const struct halo_reduce_variant variants[] = {
    {"avx512", reduce_avx512, scale_avx512, cpu_has_avx512},
    {"avx2", reduce_avx2, scale_avx2, cpu_has_avx2},
    {"generic", reduce_generic, scale_generic, NULL},
};

#define N_VARIANTS (sizeof variants / sizeof variants[0])

/* Written once under pthread_once, read-only after. */
static pthread_once_t best_once = PTHREAD_ONCE_INIT;
static const struct halo_reduce_variant *best;

static int variant_usable(const struct halo_reduce_variant *v)
{
    return !v->cpu_supports || v->cpu_supports();
}

static void best_pick(void)
{
    for (size_t i = 0; i < N_VARIANTS && !best; i++)
        if (variant_usable(&variants[i]))
            best = &variants[i];
}

static const struct halo_reduce_variant *best_get(void)
{
    pthread_once(&best_once, best_pick);
    return best;
}

const struct halo_reduce_variant *halo_reduce_variant_get(const char *isa)
{
    for (size_t i = 0; i < N_VARIANTS; i++)
        if (isa && strcmp(isa, variants[i].isa) == 0)
            return variant_usable(&variants[i]) ? &variants[i] : NULL;
    return NULL;
}

const char *halo_reduce_isa(void)
{
    return best_get()->isa;
}

void halo_reduce(void *dst, const void *a, const void *b, size_t n, haloDataType_t t,
                 haloRedOp_t op)
{
    best_get()->reduce(dst, a, b, n, t, op);
}

void halo_scale_div(void *dst, const void *src, size_t n, haloDataType_t t, int divisor)
{
    best_get()->scale_div(dst, src, n, t, divisor);
}

#define SCALE_BLOCK 512 /* elements of the broadcast scalar per pass (4 KiB at most) */

/* The vectorised prod against a block filled with the scalar: the same rounding as
 * a haloProd reduction, with no kernel of its own per ISA. */
void halo_scale_mul(void *dst, const void *src, size_t n, haloDataType_t t, const void *scalar)
{
    size_t es = halo_dtype_size(t);
    uint64_t fill[SCALE_BLOCK]; /* 8-byte elements at most */
    if (!es)
        return;
    size_t nfill = n < SCALE_BLOCK ? n : SCALE_BLOCK;
    for (size_t i = 0; i < nfill; i++)
        memcpy((char *)fill + i * es, scalar, es);
    for (size_t done = 0; done < n; done += nfill) {
        size_t k = n - done < nfill ? n - done : nfill;
        halo_reduce((char *)dst + done * es, (const char *)src + done * es, fill, k, t, haloProd);
    }
}

/* ---- scalar reference (tests only) ----
 * Written differently from the kernels on purpose: integers in 64-bit arithmetic,
 * floats in double and rounded to the type once (exact for one + or * of two floats,
 * since double has more than 2*24+2 bits), max/min with explicit NaN branches. */

static int ref_is_int(haloDataType_t t)
{
    return t == haloInt8 || t == haloUint8 || t == haloInt32 || t == haloUint32 ||
           t == haloInt64 || t == haloUint64;
}

static int ref_is_signed(haloDataType_t t)
{
    return t == haloInt8 || t == haloInt32 || t == haloInt64;
}

/* Element i of an integer array, sign- or zero-extended to 64 bits. */
static uint64_t ref_load_int(const void *p, size_t i, haloDataType_t t)
{
    switch (t) {
    case haloInt8: return (uint64_t)(int64_t)((const int8_t *)p)[i];
    case haloUint8: return ((const uint8_t *)p)[i];
    case haloInt32: return (uint64_t)(int64_t)((const int32_t *)p)[i];
    case haloUint32: return ((const uint32_t *)p)[i];
    default: return ((const uint64_t *)p)[i];
    }
}

/* Keeps the low bits: wrap-around for sums and products. */
static void ref_store_int(void *p, size_t i, haloDataType_t t, uint64_t v)
{
    switch (halo_dtype_size(t)) {
    case 1: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case 4: ((uint32_t *)p)[i] = (uint32_t)v; break;
    default: ((uint64_t *)p)[i] = v; break;
    }
}

static double ref_load_float(const void *p, size_t i, haloDataType_t t)
{
    switch (t) {
    case haloFloat16: return halo_f16_to_f32(((const uint16_t *)p)[i]);
    case haloBfloat16: return halo_bf16_to_f32(((const uint16_t *)p)[i]);
    case haloFloat8e4m3: return halo_e4m3_to_f32(((const uint8_t *)p)[i]);
    case haloFloat8e5m2: return halo_e5m2_to_f32(((const uint8_t *)p)[i]);
    case haloFloat32: return ((const float *)p)[i];
    default: return ((const double *)p)[i];
    }
}

static void ref_store_float(void *p, size_t i, haloDataType_t t, double v)
{
    switch (t) {
    case haloFloat16: ((uint16_t *)p)[i] = halo_f32_to_f16((float)v); break;
    case haloBfloat16: ((uint16_t *)p)[i] = halo_f32_to_bf16((float)v); break;
    case haloFloat8e4m3: ((uint8_t *)p)[i] = halo_f32_to_e4m3((float)v); break;
    case haloFloat8e5m2: ((uint8_t *)p)[i] = halo_f32_to_e5m2((float)v); break;
    case haloFloat32: ((float *)p)[i] = (float)v; break;
    default: ((double *)p)[i] = v; break;
    }
}

static uint64_t ref_int_op(uint64_t x, uint64_t y, int is_signed, haloRedOp_t op)
{
    int x_greater = is_signed ? (int64_t)x > (int64_t)y : x > y;
    switch (op) {
    case haloProd: return x * y;
    case haloMax: return x_greater ? x : y;
    case haloMin: return x_greater || x == y ? y : x;
    default: return x + y;
    }
}

static double ref_float_op(double x, double y, haloRedOp_t op)
{
    if ((op == haloMax || op == haloMin) && (x != x || y != y))
        return y != y ? x : y; /* NaN ignored unless both are NaN: then x */
    switch (op) {
    case haloProd: return x * y;
    case haloMax: return x > y ? x : y;
    case haloMin: return x < y ? x : y;
    default: return x + y;
    }
}

void halo_reduce_ref(void *dst, const void *a, const void *b, size_t n, haloDataType_t t,
                     haloRedOp_t op)
{
    if ((unsigned)t >= haloNumTypes || (unsigned)op >= haloNumOps)
        return;
    for (size_t i = 0; i < n; i++) {
        if (ref_is_int(t)) {
            uint64_t r = ref_int_op(ref_load_int(a, i, t), ref_load_int(b, i, t),
                                    ref_is_signed(t), op);
            ref_store_int(dst, i, t, r);
        } else {
            double r = ref_float_op(ref_load_float(a, i, t), ref_load_float(b, i, t), op);
            ref_store_float(dst, i, t, t == haloFloat64 ? r : (double)(float)r);
        }
    }
}

void halo_scale_div_ref(void *dst, const void *src, size_t n, haloDataType_t t, int divisor)
{
    if ((unsigned)t >= haloNumTypes)
        return;
    for (size_t i = 0; i < n; i++) {
        if (divisor < 1) {
            memmove((char *)dst + i * halo_dtype_size(t),
                    (const char *)src + i * halo_dtype_size(t), halo_dtype_size(t));
        } else if (ref_is_int(t)) {
            uint64_t x = ref_load_int(src, i, t);
            uint64_t q = ref_is_signed(t) ? (uint64_t)((int64_t)x / divisor)
                                          : x / (uint64_t)divisor;
            ref_store_int(dst, i, t, q);
        } else if (t == haloFloat64) {
            ref_store_float(dst, i, t, ref_load_float(src, i, t) * (1.0 / divisor));
        } else {
            double inv = 1.0f / (float)divisor; /* the float32 the kernels use */
            ref_store_float(dst, i, t, (float)(ref_load_float(src, i, t) * inv));
        }
    }
}

void halo_scale_mul_ref(void *dst, const void *src, size_t n, haloDataType_t t, const void *scalar)
{
    if ((unsigned)t >= haloNumTypes)
        return;
    for (size_t i = 0; i < n; i++) {
        if (ref_is_int(t)) {
            ref_store_int(dst, i, t, ref_load_int(src, i, t) * ref_load_int(scalar, 0, t));
        } else {
            double r = ref_load_float(src, i, t) * ref_load_float(scalar, 0, t);
            ref_store_float(dst, i, t, t == haloFloat64 ? r : (double)(float)r);
        }
    }
}
