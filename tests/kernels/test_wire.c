/* SPDX-License-Identifier: MIT */
/*
 * test_wire.c — the wire-format kernels (src/kernels/wire.c).
 *
 * Every format x dtype x kernel, on every ISA variant this CPU runs and through the
 * dispatched entry points, is compared bit for bit with the scalar reference: counts
 * 1..200 and a few large ones that are not multiples of 32, data whose magnitude
 * changes per block (zeros, tiny values whose scale is an fp16 subnormal or 0, values
 * near the scale's saturation, beyond it, mixed exponents, NaN and Inf), every aliasing
 * case the API allows, and a guard byte after each output. Independently of the
 * reference, the decoded error is bounded in double arithmetic from the format's
 * definition (q8: half a step of the block's scale; fp8: e4m3's relative precision
 * plus half its subnormal step; bf16: 2^-8 relative), and hand-made blocks check the
 * layout, rounding ties, saturation and the NaN/Inf flags.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include "reduce.h"
#include "test.h"
#include "wire.h"

static const char *const isa_names[] = {"avx512", "avx2", "generic"};
#define N_ISAS (sizeof isa_names / sizeof isa_names[0])
static const enum halo_wire formats[] = {HALO_WIRE_BF16, HALO_WIRE_FP8, HALO_WIRE_Q8};
#define N_FORMATS (sizeof formats / sizeof formats[0])
static const haloDataType_t dtypes[] = {haloFloat32, haloFloat16, haloBfloat16};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])
#define GUARD 0xa5
#define F16_MAX 65504.0

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Uniform in [0, 1) from a hash. */
static double unit(uint64_t h)
{
    return (double)(h >> 11) * 0x1p-53;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- inputs: magnitude chosen per block of 32, value per element ---- */

enum { CLASS_ZERO, CLASS_NORMAL, CLASS_SUBSCALE, CLASS_ZEROSCALE, CLASS_NEAR_SAT,
       CLASS_BEYOND_SAT, CLASS_MIXED, CLASS_SIGNED_ZEROS, CLASS_SPECIAL, N_CLASSES };

/* Element i of a data set: seed picks the set, specials whether NaN/Inf may occur. */
static float gen_value(uint64_t seed, size_t i, int specials)
{
    uint64_t hb = mix64(seed * 1000003 + i / 32);
    uint64_t he = mix64(hb ^ (i + 1) * 0x2545f4914f6cdd1dull);
    int cls = (int)(hb % N_CLASSES);
    double sign = he & 1 ? -1.0 : 1.0;
    double u = unit(he >> 1);
    int block_exp = (int)(hb >> 32) % 21 - 10;
    switch (cls) {
    case CLASS_ZERO: return 0.0f;
    case CLASS_NORMAL: return (float)(sign * ldexp(u, block_exp));
    case CLASS_SUBSCALE: return (float)(sign * u * 1e-5); /* amax/127: fp16 subnormal */
    case CLASS_ZEROSCALE: return (float)(sign * u * 1e-9); /* the scale rounds to 0 */
    case CLASS_NEAR_SAT: return (float)(sign * u * 448.0 * F16_MAX * 1.05);
    case CLASS_BEYOND_SAT: return (float)(sign * u * 1e30);
    case CLASS_MIXED: return (float)(sign * ldexp(0.5 + u, (int)(he >> 40) % 61 - 30));
    case CLASS_SIGNED_ZEROS: return he & 6 ? (float)(sign * 0.0) : (float)(sign * u);
    default:
        if (!specials || he % 7)
            return (float)(sign * ldexp(u, block_exp));
        return he & 8 ? NAN : (float)(sign * INFINITY);
    }
}

static size_t dtype_bytes(haloDataType_t t)
{
    return halo_dtype_size(t);
}

static void store_as(void *p, size_t i, haloDataType_t t, float v)
{
    if (t == haloFloat16)
        ((uint16_t *)p)[i] = halo_f32_to_f16(v);
    else if (t == haloBfloat16)
        ((uint16_t *)p)[i] = halo_f32_to_bf16(v);
    else
        ((float *)p)[i] = v;
}

static float load_as(const void *p, size_t i, haloDataType_t t)
{
    if (t == haloFloat16)
        return halo_f16_to_f32(((const uint16_t *)p)[i]);
    if (t == haloBfloat16)
        return halo_bf16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

/* n values of t with a guard byte after them. */
static void *gen_data(size_t n, haloDataType_t t, uint64_t seed, int specials)
{
    uint8_t *p = malloc(n * dtype_bytes(t) + 1);
    ASSERT_TRUE(p);
    for (size_t i = 0; i < n; i++)
        store_as(p, i, t, gen_value(seed, i, specials));
    p[n * dtype_bytes(t)] = GUARD;
    return p;
}

static void *alloc_guarded(size_t bytes)
{
    uint8_t *p = malloc(bytes + 1);
    ASSERT_TRUE(p);
    memset(p, 0x3c, bytes);
    p[bytes] = GUARD;
    return p;
}

static void *copy_guarded(const void *src, size_t bytes)
{
    uint8_t *p = alloc_guarded(bytes);
    memcpy(p, src, bytes);
    return p;
}

static void check_same(const void *got, const void *want, size_t bytes, const char *what,
                       const char *isa, enum halo_wire w, haloDataType_t t, size_t n)
{
    const uint8_t *g = got, *e = want;
    for (size_t i = 0; i < bytes; i++)
        if (g[i] != e[i])
            TEST_FAIL("%s %s %s/%s n=%zu: byte %zu is 0x%02x, reference 0x%02x", isa, what,
                      halo_wire_name(w), halo_dtype_name(t), n, i, g[i], e[i]);
    ASSERT_EQ(g[bytes], GUARD);
}

/* ---- every variant against the reference ---- */

struct kernels {
    const char *isa;
    void (*encode)(void *, const void *, size_t, haloDataType_t, enum halo_wire);
    void (*decode)(void *, const void *, size_t, haloDataType_t, enum halo_wire);
    void (*decode_add)(void *, const void *, const void *, size_t, haloDataType_t,
                       enum halo_wire);
    void (*reduce_encode)(void *, void *, const void *, const void *, size_t, haloDataType_t,
                          enum halo_wire, int);
};

static void check_encode_decode(const struct kernels *k, enum halo_wire w, haloDataType_t t,
                                size_t n, uint64_t seed)
{
    size_t wb = halo_wire_bytes(w, n), db = n * dtype_bytes(t);
    void *src = gen_data(n, t, seed, 1), *a = gen_data(n, t, seed + 7, 1);
    void *want = alloc_guarded(wb), *got = alloc_guarded(wb);
    halo_wire_encode_ref(want, src, n, t, w);
    k->encode(got, src, n, t, w);
    check_same(got, want, wb, "encode", k->isa, w, t, n);

    void *dwant = alloc_guarded(db), *dgot = alloc_guarded(db);
    halo_wire_decode_ref(dwant, want, n, t, w);
    k->decode(dgot, want, n, t, w);
    check_same(dgot, dwant, db, "decode", k->isa, w, t, n);

    halo_wire_decode_add_ref(dwant, a, want, n, t, w);
    k->decode_add(dgot, a, want, n, t, w);
    check_same(dgot, dwant, db, "decode_add", k->isa, w, t, n);
    void *inplace = copy_guarded(a, db); /* dst == a */
    k->decode_add(inplace, inplace, want, n, t, w);
    check_same(inplace, dwant, db, "decode_add in place", k->isa, w, t, n);

    /* Decoding arbitrary codes (scales kept finite, as an encoder writes them). */
    uint8_t *junk = alloc_guarded(wb);
    for (size_t i = 0; i < wb; i++)
        junk[i] = (uint8_t)mix64(seed * 31 + i);
    for (size_t b = 0; w != HALO_WIRE_BF16 && b < (n + 31) / 32; b++)
        junk[2 * b + 1] = (uint8_t)((junk[2 * b + 1] & 0x80) | (junk[2 * b + 1] & 0x7f) % 0x7c);
    halo_wire_decode_ref(dwant, junk, n, t, w);
    k->decode(dgot, junk, n, t, w);
    check_same(dgot, dwant, db, "decode of arbitrary codes", k->isa, w, t, n);
    free(src);
    free(a);
    free(want);
    free(got);
    free(dwant);
    free(dgot);
    free(inplace);
    free(junk);
}

/* out (and dst when asked, possibly dst == src, possibly in == out) against the
 * reference; dst must also equal the variant's own decode of its out. */
static void check_reduce_encode(const struct kernels *k, enum halo_wire w, haloDataType_t t,
                                size_t n, uint64_t seed, int divisor, int mode)
{
    enum { NO_DST, DST, DST_IS_SRC, IN_IS_OUT };
    size_t wb = halo_wire_bytes(w, n), db = n * dtype_bytes(t);
    void *x = gen_data(n, t, seed, 1), *src = gen_data(n, t, seed + 3, 1);
    void *in = alloc_guarded(wb);
    halo_wire_encode_ref(in, x, n, t, w);
    void *out_want = alloc_guarded(wb), *dst_want = alloc_guarded(db);
    halo_wire_reduce_encode_ref(out_want, mode == NO_DST ? NULL : dst_want, in, src, n, t, w,
                                divisor);
    void *out = mode == IN_IS_OUT ? copy_guarded(in, wb) : alloc_guarded(wb);
    const void *in_arg = mode == IN_IS_OUT ? out : in;
    void *src_copy = copy_guarded(src, db);
    void *dst = mode == DST_IS_SRC ? src_copy : alloc_guarded(db);
    k->reduce_encode(out, mode == NO_DST ? NULL : dst, in_arg, src_copy, n, t, w, divisor);
    check_same(out, out_want, wb, "reduce_encode out", k->isa, w, t, n);
    if (mode != NO_DST) {
        check_same(dst, dst_want, db, "reduce_encode dst", k->isa, w, t, n);
        void *dec = alloc_guarded(db);
        k->decode(dec, out, n, t, w);
        check_same(dst, dec, db, "reduce_encode dst against decode(out)", k->isa, w, t, n);
        free(dec);
    }
    if (mode != DST_IS_SRC)
        free(dst);
    free(x);
    free(src);
    free(in);
    free(out_want);
    free(dst_want);
    free(out);
    free(src_copy);
}

static void check_variant(const struct kernels *k)
{
    static const size_t large[] = {1000, 4099, 10007, 65541};
    size_t cases = 0;
    for (size_t f = 0; f < N_FORMATS; f++) {
        for (size_t d = 0; d < N_DTYPES; d++) {
            enum halo_wire w = formats[f];
            haloDataType_t t = dtypes[d];
            if (!halo_wire_supported(w, t))
                continue;
            for (size_t n = 1; n <= 200 + sizeof large / sizeof large[0]; n++) {
                size_t len = n <= 200 ? n : large[n - 201];
                uint64_t seed = n * 131 + f * 17 + d;
                check_encode_decode(k, w, t, len, seed);
                check_reduce_encode(k, w, t, len, seed, (int)(n % 4), (int)(n % 4));
                check_reduce_encode(k, w, t, len, seed + 1, 3, (int)(n + 1) % 4);
                cases++;
            }
        }
    }
    printf("%s: %zu format x dtype x count cases bit-identical to the reference\n", k->isa,
           cases);
}

static void test_variants(void)
{
    int ran = 0;
    for (size_t i = 0; i < N_ISAS; i++) {
        const struct halo_wire_variant *v = halo_wire_variant_get(isa_names[i]);
        if (!v) {
            printf("%s: not runnable on this CPU, skipped\n", isa_names[i]);
            continue;
        }
        ASSERT_STREQ(v->isa, isa_names[i]);
        struct kernels k = {v->isa, v->encode, v->decode, v->decode_add, v->reduce_encode};
        check_variant(&k);
        ran++;
    }
    ASSERT_TRUE(ran >= 1);
    ASSERT_TRUE(halo_wire_variant_get("generic") != NULL);
    ASSERT_TRUE(halo_wire_variant_get("sse9") == NULL);
    ASSERT_TRUE(halo_wire_variant_get(NULL) == NULL);
    ASSERT_STREQ(halo_wire_isa(), halo_reduce_isa());
    struct kernels api = {"dispatched", halo_wire_encode, halo_wire_decode,
                          halo_wire_decode_add, halo_wire_reduce_encode};
    check_variant(&api);
}

/* ---- error bounds, in double, from the formats' definitions ---- */

static uint16_t scale_bits(const uint8_t *wire, size_t b)
{
    return (uint16_t)(wire[2 * b] | wire[2 * b + 1] << 8);
}

/* The block's scale is amax / top rounded to fp16 (or 65504 when that overflows). */
static void check_scale(double d, double amax, double top)
{
    double want = amax / top;
    if (want >= 65520.0) { /* would round to Inf: saturated */
        ASSERT_TRUE(d == F16_MAX);
        return;
    }
    double ulp = want < 0x1p-14 ? 0x1p-24 : ldexp(1.0, ilogb(want) - 10);
    if (fabs(d - want) > ulp / 2)
        TEST_FAIL("scale %.9g for amax %.9g / %g: more than half an fp16 step (%g) off", d,
                  amax, top, ulp);
}

static void check_bounds_q(enum halo_wire w, size_t n, uint64_t seed)
{
    int fp8 = w == HALO_WIRE_FP8;
    float *x = gen_data(n, haloFloat32, seed, 1);
    uint8_t *wire = alloc_guarded(halo_wire_bytes(w, n));
    float *y = alloc_guarded(n * sizeof *y);
    halo_wire_encode(wire, x, n, haloFloat32, w);
    halo_wire_decode(y, wire, n, haloFloat32, w);
    for (size_t b = 0; b * 32 < n; b++) {
        size_t lo = b * 32, hi = lo + 32 < n ? lo + 32 : n;
        double amax = 0;
        int special = 0;
        for (size_t i = lo; i < hi; i++) {
            special |= !isfinite(x[i]);
            amax = isfinite(x[i]) && fabs(x[i]) > amax ? fabs(x[i]) : amax;
        }
        uint16_t s = scale_bits(wire, b);
        ASSERT_EQ(s >> 15, special);
        double top = fp8 ? (special ? 416 : 448) : (special ? 126 : 127);
        double d = halo_f16_to_f32(s & 0x7fff);
        check_scale(d, amax, top);
        double clamp = amax > top * d ? amax - top * d : 0; /* scale below amax / top */
        for (size_t i = lo; i < hi; i++) {
            if (isnan(x[i])) {
                ASSERT_TRUE(isnan(y[i]));
                continue;
            }
            if (isinf(x[i])) {
                ASSERT_TRUE(y[i] == x[i]);
                continue;
            }
            double ax = fabs(x[i]);
            /* ax * 2^-22: codes come from x * fl(1 / d), within |x / d| * 2^-22 of x / d */
            double bound = fp8 ? ax * 0x1p-4 + d * 0x1p-10 : d / 2;
            bound += clamp + ax * 0x1p-22 + 0x1p-149;
            double err = fabs((double)y[i] - x[i]);
            if (err > bound)
                TEST_FAIL("%s n=%zu value %zu: %.9g decodes as %.9g, error %.3g > bound %.3g "
                          "(scale %.9g, block max %.9g)",
                          halo_wire_name(w), n, i, x[i], y[i], err, bound, d, amax);
        }
    }
    ASSERT_EQ(((uint8_t *)y)[n * sizeof *y], GUARD);
    free(x);
    free(wire);
    free(y);
}

static void check_bounds_bf16(size_t n, uint64_t seed)
{
    float *x = gen_data(n, haloFloat32, seed, 1);
    uint16_t *wire = alloc_guarded(2 * n);
    float *y = alloc_guarded(n * sizeof *y);
    halo_wire_encode(wire, x, n, haloFloat32, HALO_WIRE_BF16);
    halo_wire_decode(y, wire, n, haloFloat32, HALO_WIRE_BF16);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            ASSERT_TRUE(isnan(x[i]) ? isnan(y[i]) : y[i] == x[i]);
            continue;
        }
        double err = fabs((double)y[i] - x[i]);
        ASSERT_TRUE(isfinite(y[i]));
        if (err > fabs(x[i]) * 0x1p-8 + 0x1p-134)
            TEST_FAIL("bf16 %.9g decodes as %.9g", x[i], y[i]);
    }
    free(x);
    free(wire);
    free(y);
}

static void test_bounds(void)
{
    for (uint64_t seed = 1; seed <= 40; seed++) {
        size_t n = 1 + mix64(seed) % 3000;
        check_bounds_q(HALO_WIRE_Q8, n, seed);
        check_bounds_q(HALO_WIRE_FP8, n, seed);
        check_bounds_bf16(n, seed);
    }
    /* The bounds hold for any scale: one block per power of two over the range. */
    float x[32];
    uint8_t wire[2 + 32];
    float y[32];
    for (int e = -40; e <= 30; e++) {
        for (size_t i = 0; i < 32; i++)
            x[i] = (float)ldexp((double)(i + 1) / 32 * (i & 1 ? -1 : 1), e);
        for (int fp8 = 0; fp8 <= 1; fp8++) {
            enum halo_wire w = fp8 ? HALO_WIRE_FP8 : HALO_WIRE_Q8;
            double top = fp8 ? 448 : 127;
            halo_wire_encode(wire, x, 32, haloFloat32, w);
            halo_wire_decode(y, wire, 32, haloFloat32, w);
            double d = halo_f16_to_f32(scale_bits(wire, 0));
            double amax = fabs(x[31]);
            check_scale(d, amax, top);
            double clamp = amax > top * d ? amax - top * d : 0;
            for (size_t i = 0; i < 32; i++) {
                double ax = fabs(x[i]);
                double bound = (fp8 ? ax * 0x1p-4 + d * 0x1p-10 : d / 2) + clamp +
                               ax * 0x1p-22 + 0x1p-149;
                if (fabs((double)y[i] - x[i]) > bound)
                    TEST_FAIL("%s 2^%d block value %zu: %.9g decodes as %.9g",
                              halo_wire_name(w), e, i, x[i], y[i]);
            }
        }
    }
    printf("error bounds: q8 half a scale step, fp8 2^-4 relative + half its subnormal "
           "step, bf16 2^-8 relative: ok\n");
}

/* ---- hand-made blocks: layout, ties, saturation, NaN / Inf ---- */

static void test_q8_known(void)
{
    /* amax 127 gives the scale 1: codes are the values rounded half to even. */
    float x[33] = {127, 5.5f, 4.5f, -4.5f, -5.5f, 0.5f, 1.5f, -0.0f, 0.25f, -126.6f};
    x[32] = 3.0f; /* a second block of one value: scale fp16(3/127), code 127 */
    uint8_t wire[2 * 2 + 33];
    halo_wire_encode(wire, x, 33, haloFloat32, HALO_WIRE_Q8);
    ASSERT_EQ(halo_wire_bytes(HALO_WIRE_Q8, 33), sizeof wire);
    ASSERT_EQ(scale_bits(wire, 0), 0x3c00); /* 1.0 */
    ASSERT_EQ(scale_bits(wire, 1), halo_f32_to_f16(3.0f / 127.0f));
    const int8_t *q = (const int8_t *)wire + 4;
    const int want[] = {127, 6, 4, -4, -6, 0, 2, 0, 0, -127};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ASSERT_EQ(q[i], want[i]);
    ASSERT_EQ(q[32], 127);
    float y[33];
    halo_wire_decode(y, wire, 33, haloFloat32, HALO_WIRE_Q8);
    ASSERT_TRUE(y[1] == 6.0f && y[9] == -127.0f && y[7] == 0.0f && !signbit(y[7]));
    ASSERT_TRUE(y[32] == (float)(127 * (double)halo_f16_to_f32(scale_bits(wire, 1))));

    /* NaN and +-Inf: the flag, codes -128 / 127 / -127, finite values on 126 steps. */
    float s[5] = {NAN, INFINITY, -INFINITY, 126.0f, -63.0f};
    uint8_t ws[2 + 5];
    halo_wire_encode(ws, s, 5, haloFloat32, HALO_WIRE_Q8);
    ASSERT_EQ(scale_bits(ws, 0), 0x8000 | 0x3c00);
    const int8_t *qs = (const int8_t *)ws + 2;
    ASSERT_EQ(qs[0], -128);
    ASSERT_EQ(qs[1], 127);
    ASSERT_EQ(qs[2], -127);
    ASSERT_EQ(qs[3], 126);
    ASSERT_EQ(qs[4], -63);
    float ys[5];
    halo_wire_decode(ys, ws, 5, haloFloat32, HALO_WIRE_Q8);
    ASSERT_EQ(f32_bits(ys[0]), 0x7fc00000);
    ASSERT_TRUE(ys[1] == INFINITY && ys[2] == -INFINITY && ys[3] == 126.0f && ys[4] == -63.0f);

    /* Only specials: the scale is -0, flagged with no finite maximum. */
    float only[2] = {-INFINITY, NAN};
    halo_wire_encode(ws, only, 2, haloFloat32, HALO_WIRE_Q8);
    ASSERT_EQ(scale_bits(ws, 0), 0x8000);

    /* Saturation of the scale at 65504; a tiny block whose scale rounds to 0. */
    float big[2] = {1e7f, -2e9f};
    halo_wire_encode(ws, big, 2, haloFloat32, HALO_WIRE_Q8);
    ASSERT_EQ(scale_bits(ws, 0), 0x7bff);
    ASSERT_EQ(qs[0], 127);
    ASSERT_EQ(qs[1], -127);
    float tiny[2] = {1e-9f, -3e-9f};
    halo_wire_encode(ws, tiny, 2, haloFloat32, HALO_WIRE_Q8);
    ASSERT_EQ(scale_bits(ws, 0), 0);
    ASSERT_EQ(qs[0], 0);
    ASSERT_EQ(qs[1], 0);
}

static void test_fp8_known(void)
{
    /* amax 448: scale 1, codes are e4m3 of the values; 448 stays 448 (no Inf). */
    float x[6] = {448.0f, -448.0f, 0.3f, -0.0f, 1.0f / 512, 17.0f};
    uint8_t wire[2 + 6];
    halo_wire_encode(wire, x, 6, haloFloat32, HALO_WIRE_FP8);
    ASSERT_EQ(scale_bits(wire, 0), 0x3c00);
    const uint8_t *c = wire + 2;
    ASSERT_EQ(c[0], 0x7e);
    ASSERT_EQ(c[1], 0xfe);
    ASSERT_EQ(c[3], 0x80);
    ASSERT_EQ(c[2], halo_f32_to_e4m3(0.3f));
    ASSERT_EQ(c[4], 0x01); /* least subnormal */
    ASSERT_EQ(c[5], 0x58); /* 17 is a tie between 16 and 18: even mantissa, 16 */
    float y[6];
    halo_wire_decode(y, wire, 6, haloFloat32, HALO_WIRE_FP8);
    ASSERT_TRUE(y[0] == 448.0f && y[1] == -448.0f && y[5] == 16.0f);
    ASSERT_TRUE(y[3] == 0.0f && signbit(y[3]));

    /* Flagged: NaN 0x7f, +Inf 0x7e, -Inf 0xfe; finite values saturate at 416 (0x7d). */
    float s[5] = {NAN, INFINITY, -INFINITY, 416.0f, -416.0f};
    uint8_t ws[2 + 5];
    halo_wire_encode(ws, s, 5, haloFloat32, HALO_WIRE_FP8);
    ASSERT_EQ(scale_bits(ws, 0), 0x8000 | 0x3c00);
    ASSERT_EQ(ws[2], 0x7f);
    ASSERT_EQ(ws[3], 0x7e);
    ASSERT_EQ(ws[4], 0xfe);
    ASSERT_EQ(ws[5], 0x7d);
    ASSERT_EQ(ws[6], 0xfd);
    float ys[5];
    halo_wire_decode(ys, ws, 5, haloFloat32, HALO_WIRE_FP8);
    ASSERT_EQ(f32_bits(ys[0]), 0x7fc00000);
    ASSERT_TRUE(ys[1] == INFINITY && ys[2] == -INFINITY && ys[3] == 416.0f && ys[4] == -416.0f);
    /* Unflagged 0x7e is 448 times the scale, not Inf. */
    uint8_t plain[3] = {0x00, 0x40, 0x7e}; /* scale 2.0 */
    halo_wire_decode(ys, plain, 1, haloFloat32, HALO_WIRE_FP8);
    ASSERT_TRUE(ys[0] == 896.0f);

    /* A block whose scale rounds to 0: codes are e4m3(x * 0), signed zeros. */
    float tiny[2] = {1e-9f, -3e-9f};
    halo_wire_encode(ws, tiny, 2, haloFloat32, HALO_WIRE_FP8);
    ASSERT_EQ(scale_bits(ws, 0), 0);
    ASSERT_EQ(ws[2], 0x00);
    ASSERT_EQ(ws[3], 0x80);
}

static void test_bf16_known(void)
{
    const float x[] = {FLT_MAX, -FLT_MAX, 0x1.fep127f, INFINITY, -INFINITY, NAN, -0.0f,
                       1.0f + 0x1p-8f, 1.0f + 0x3p-8f, 0x1p-132f};
    const uint16_t want[] = {0x7f7f, 0xff7f, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0x8000,
                             0x3f80, 0x3f82, 0x0002};
    enum { N = sizeof x / sizeof x[0] };
    uint16_t wire[N];
    float y[N];
    halo_wire_encode(wire, x, N, haloFloat32, HALO_WIRE_BF16);
    for (size_t i = 0; i < N; i++)
        ASSERT_EQ(wire[i], want[i]);
    halo_wire_decode(y, wire, N, haloFloat32, HALO_WIRE_BF16);
    ASSERT_EQ(f32_bits(y[5]), 0x7fc00000);
    ASSERT_EQ(f32_bits(y[6]), 0x80000000);
}

/* NaN + x = NaN, Inf + finite = Inf, Inf + -Inf = NaN, through every format and dtype. */
static void test_special_sums(void)
{
    const float in[] = {NAN, INFINITY, INFINITY, 1.0f, -INFINITY, 2.0f, -3.5f, 0.0f};
    const float src[] = {1.0f, 2.0f, -INFINITY, INFINITY, 3.0f, NAN, 1.25f, -0.0f};
    enum { N = sizeof in / sizeof in[0] };
    for (size_t f = 0; f < N_FORMATS; f++) {
        for (size_t d = 0; d < N_DTYPES; d++) {
            enum halo_wire w = formats[f];
            haloDataType_t t = dtypes[d];
            if (!halo_wire_supported(w, t))
                continue;
            uint8_t a[N * 4], s[N * 4], wire[64], out[64], dst[N * 4], dec[N * 4];
            for (size_t i = 0; i < N; i++)
                {
                store_as(a, i, t, in[i]);
                store_as(s, i, t, src[i]);
            }
            halo_wire_encode(wire, a, N, t, w);
            halo_wire_reduce_encode(out, dst, wire, s, N, t, w, 2);
            halo_wire_decode(dec, out, N, t, w);
            ASSERT_TRUE(memcmp(dst, dec, N * dtype_bytes(t)) == 0);
            ASSERT_TRUE(isnan(load_as(dst, 0, t)) && isnan(load_as(dst, 2, t)) &&
                        isnan(load_as(dst, 5, t)));
            ASSERT_TRUE(load_as(dst, 1, t) == INFINITY && load_as(dst, 3, t) == INFINITY);
            ASSERT_TRUE(load_as(dst, 4, t) == -INFINITY);
            ASSERT_TRUE(fabs(load_as(dst, 6, t) - (-1.125)) < 0.02);
            ASSERT_TRUE(load_as(dst, 7, t) == 0.0f);
            /* In place: the frame requantized over itself, then decode_add. */
            halo_wire_reduce_encode(wire, NULL, wire, s, N, t, w, 0);
            halo_wire_decode_add(dec, s, wire, N, t, w);
            ASSERT_TRUE(isnan(load_as(dec, 0, t)) && isnan(load_as(dec, 2, t)));
            ASSERT_TRUE(load_as(dec, 1, t) == INFINITY && load_as(dec, 3, t) == INFINITY);
            ASSERT_TRUE(load_as(dec, 4, t) == -INFINITY);
        }
    }
    printf("special values through reduce_encode, in place and decode_add: ok\n");
}

/* ---- sizes, names ---- */

static void test_sizes(void)
{
    ASSERT_EQ(halo_wire_bytes(HALO_WIRE_OFF, 100), 0);
    ASSERT_EQ(halo_wire_values_fit(HALO_WIRE_OFF, 100), 0);
    ASSERT_EQ(halo_wire_bytes((enum halo_wire)9, 100), 0);
    for (size_t n = 0; n < 3000; n++) {
        ASSERT_EQ(halo_wire_bytes(HALO_WIRE_BF16, n), 2 * n);
        ASSERT_EQ(halo_wire_bytes(HALO_WIRE_Q8, n), n + 2 * ((n + 31) / 32));
        ASSERT_EQ(halo_wire_bytes(HALO_WIRE_FP8, n), halo_wire_bytes(HALO_WIRE_Q8, n));
    }
    for (size_t f = 0; f < N_FORMATS; f++) {
        for (uint64_t k = 0; k < 20000; k++) {
            size_t cap = k < 5000 ? k : (size_t)(mix64(k) % (1ull << 40));
            size_t n = halo_wire_values_fit(formats[f], cap);
            ASSERT_TRUE(halo_wire_bytes(formats[f], n) <= cap);
            ASSERT_TRUE(halo_wire_bytes(formats[f], n + 1) > cap);
        }
    }
}

static void test_names(void)
{
    const char *names[] = {"off", "bf16", "fp8", "q8"};
    for (int i = 0; i < 4; i++) {
        enum halo_wire w = (enum halo_wire)99;
        ASSERT_STREQ(halo_wire_name((enum halo_wire)i), names[i]);
        ASSERT_EQ(halo_wire_parse(names[i], &w), 0);
        ASSERT_EQ(w, i);
    }
    enum halo_wire w = HALO_WIRE_Q8;
    ASSERT_EQ(halo_wire_parse("Q8x", &w), -1);
    ASSERT_EQ(halo_wire_parse("", &w), -1);
    ASSERT_EQ(halo_wire_parse(NULL, &w), -1);
    ASSERT_EQ(w, HALO_WIRE_Q8);
    ASSERT_STREQ(halo_wire_name((enum halo_wire)7), "invalid");
    for (int t = 0; t < haloNumTypes; t++) {
        int half = t == haloFloat16 || t == haloBfloat16;
        ASSERT_EQ(halo_wire_supported(HALO_WIRE_OFF, t), 0);
        ASSERT_EQ(halo_wire_supported(HALO_WIRE_BF16, t), t == haloFloat32);
        ASSERT_EQ(halo_wire_supported(HALO_WIRE_Q8, t), t == haloFloat32 || half);
        ASSERT_EQ(halo_wire_supported(HALO_WIRE_FP8, t), t == haloFloat32 || half);
    }
    /* An unsupported pair writes nothing. */
    uint8_t buf[16];
    memset(buf, GUARD, sizeof buf);
    double dd[2] = {1, 2};
    halo_wire_encode(buf, dd, 2, haloFloat64, HALO_WIRE_Q8);
    halo_wire_encode(buf, dd, 2, haloFloat16, HALO_WIRE_BF16);
    for (size_t i = 0; i < sizeof buf; i++)
        ASSERT_EQ(buf[i], GUARD);
}

int main(void)
{
    test_names();
    test_sizes();
    printf("names, parse, sizes and values_fit: ok\n");
    test_q8_known();
    test_fp8_known();
    test_bf16_known();
    printf("hand-made blocks (layout, ties, saturation, flags): ok\n");
    test_special_sums();
    test_bounds();
    test_variants();
    printf("test_wire: ok (variant in use: %s)\n", halo_wire_isa());
    return 0;
}
