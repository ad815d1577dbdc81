/* SPDX-License-Identifier: MIT */
/*
 * test_reduce.c — the CPU reduction kernels.
 *
 * Every compiled ISA variant the CPU can run is compared bit for bit with the scalar
 * reference, for every dtype x op, odd and even lengths (vector tails), misaligned
 * pointers and all aliasing cases. The conversions are checked against closed-form
 * values: a decoder written from the format definitions (ldexp), an encoder that rounds
 * in double with nearbyint, hand-picked values (max, ties, saturation) and exhaustive
 * round trips of every float16, bfloat16 and fp8 bit pattern.
 */
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "reduce.h"
#include "test.h"

static const size_t lengths[] = {0, 1, 7, 31, 1000, 4099};
#define N_LENGTHS (sizeof lengths / sizeof lengths[0])
static const char *const isa_names[] = {"avx512", "avx2", "generic"};
#define N_ISAS (sizeof isa_names / sizeof isa_names[0])
#define MAX_LEN 4099
#define CANARY 0xa5

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- closed-form model of the small float formats ---- */

struct fmt {
    const char *name;
    int ebits, mbits, bias;
    int fn; /* e4m3 style: no inf, only S.1111.111 is NaN, saturating encode */
    double (*dec)(uint32_t);
    uint32_t (*enc)(float);
    uint32_t canon_nan;
};

static double dec_f16(uint32_t v) { return halo_f16_to_f32((uint16_t)v); }
static uint32_t enc_f16(float f) { return halo_f32_to_f16(f); }
static double dec_bf16(uint32_t v) { return halo_bf16_to_f32((uint16_t)v); }
static uint32_t enc_bf16(float f) { return halo_f32_to_bf16(f); }
static double dec_e4m3(uint32_t v) { return halo_e4m3_to_f32((uint8_t)v); }
static uint32_t enc_e4m3(float f) { return halo_f32_to_e4m3(f); }
static double dec_e5m2(uint32_t v) { return halo_e5m2_to_f32((uint8_t)v); }
static uint32_t enc_e5m2(float f) { return halo_f32_to_e5m2(f); }

static const struct fmt fmts[] = {
    {"float16", 5, 10, 15, 0, dec_f16, enc_f16, 0x7e00},
    {"bfloat16", 8, 7, 127, 0, dec_bf16, enc_bf16, 0x7fc0},
    {"e4m3", 4, 3, 7, 1, dec_e4m3, enc_e4m3, 0x7f},
    {"e5m2", 5, 2, 15, 0, dec_e5m2, enc_e5m2, 0x7e},
};
#define N_FMTS (sizeof fmts / sizeof fmts[0])

static uint32_t fmt_emask(const struct fmt *f) { return (1u << f->ebits) - 1; }
static uint32_t fmt_mmask(const struct fmt *f) { return (1u << f->mbits) - 1; }

static int model_is_nan(const struct fmt *f, uint32_t v)
{
    uint32_t e = (v >> f->mbits) & fmt_emask(f), m = v & fmt_mmask(f);
    if (f->fn)
        return e == fmt_emask(f) && m == fmt_mmask(f);
    return e == fmt_emask(f) && m != 0;
}

/* The value of bit pattern v, from the format's definition. */
static double model_decode(const struct fmt *f, uint32_t v)
{
    uint32_t e = (v >> f->mbits) & fmt_emask(f), m = v & fmt_mmask(f);
    int neg = (v >> (f->ebits + f->mbits)) & 1;
    double x;
    if (model_is_nan(f, v))
        return NAN;
    if (!f->fn && e == fmt_emask(f))
        x = INFINITY;
    else if (e == 0)
        x = ldexp(m, 1 - f->bias - f->mbits);
    else
        x = ldexp((double)(fmt_mmask(f) + 1 + m), (int)e - f->bias - f->mbits);
    return neg ? -x : x;
}

static double model_max_finite(const struct fmt *f)
{
    if (f->fn) /* the top mantissa of the top exponent is NaN */
        return ldexp(2.0 - ldexp(1, 1 - f->mbits), (int)fmt_emask(f) - f->bias);
    return ldexp(2.0 - ldexp(1, -f->mbits), (int)fmt_emask(f) - 1 - f->bias);
}

/* Round x to nearest even in the format: quantum at x's exponent, nearbyint. */
static double model_round(const struct fmt *f, float x)
{
    double ax = fabs((double)x), r;
    int e;
    if (ax == 0)
        return x;
    if (isinf(ax)) {
        r = f->fn ? model_max_finite(f) : INFINITY;
    } else {
        frexp(ax, &e);
        e = e - 1 < 1 - f->bias ? 1 - f->bias : e - 1;
        double q = ldexp(1, e - f->mbits);
        r = nearbyint(ax / q) * q;
        if (r > model_max_finite(f))
            r = f->fn ? model_max_finite(f) : INFINITY;
    }
    return signbit(x) ? -r : r;
}

/* ---- conversions ---- */

static void test_decode_exhaustive(const struct fmt *f)
{
    uint32_t n = 1u << (1 + f->ebits + f->mbits);
    for (uint32_t v = 0; v < n; v++) {
        double got = f->dec(v), want = model_decode(f, v);
        if (isnan(want)) {
            if (!isnan(got))
                TEST_FAIL("%s 0x%x: decoded %a, want NaN", f->name, v, got);
        } else if (got != want || signbit(got) != signbit(want)) {
            TEST_FAIL("%s 0x%x: decoded %a, want %a", f->name, v, got, want);
        }
    }
}

/* Decode then encode gives back every pattern; NaNs come back as the canonical NaN. */
static void test_roundtrip_exhaustive(const struct fmt *f)
{
    uint32_t n = 1u << (1 + f->ebits + f->mbits);
    for (uint32_t v = 0; v < n; v++) {
        uint32_t back = f->enc((float)f->dec(v));
        uint32_t want = model_is_nan(f, v) ? f->canon_nan : v;
        if (back != want)
            TEST_FAIL("%s 0x%x: round trip gave 0x%x, want 0x%x", f->name, v, back, want);
    }
}

static void check_encode(const struct fmt *f, float x)
{
    uint32_t got = f->enc(x);
    double gv = f->dec(got);
    if (isnan(x)) {
        ASSERT_EQ(got, f->canon_nan);
        return;
    }
    double want = model_round(f, x);
    if (gv != want || signbit(gv) != signbit(want))
        TEST_FAIL("%s encode %a (0x%08x): got 0x%x = %a, want %a", f->name, x, f32_bits(x),
                  got, gv, want);
}

/* Mantissas that sit on or next to this format's rounding ties. */
static void check_encode_exponent(const struct fmt *f, uint32_t sign_exp, uint64_t seed)
{
    int shift = 23 - f->mbits;
    uint32_t half = 1u << (shift - 1), lsb = 1u << shift;
    uint32_t top = 0x7fffff & ~(lsb - 1); /* largest mantissa the format keeps */
    uint32_t mants[] = {0,          1,          0x7fffff,         half,       half - 1,
                        half + 1,   lsb | half, lsb | (half - 1), lsb | (half + 1),
                        top,        top | half};
    for (size_t k = 0; k < sizeof mants / sizeof mants[0]; k++)
        check_encode(f, bits_f32(sign_exp | mants[k]));
    for (uint64_t k = 0; k < 16; k++)
        check_encode(f, bits_f32(sign_exp | (uint32_t)(mix64(seed + k) & 0x7fffff)));
}

static void test_encode_model(const struct fmt *f)
{
    for (uint32_t e = 0; e < 256; e++) {
        check_encode_exponent(f, e << 23, e);
        check_encode_exponent(f, 0x80000000u | e << 23, e + 1000);
    }
    for (uint64_t k = 0; k < 200000; k++)
        check_encode(f, bits_f32((uint32_t)mix64(k * 7919)));
}

static void expect_dec(const struct fmt *f, uint32_t v, double want)
{
    double got = f->dec(v);
    if (got != want || signbit(got) != signbit(want))
        TEST_FAIL("%s 0x%x decodes to %a, want %a", f->name, v, got, want);
}

static void expect_enc(const struct fmt *f, double x, uint32_t want)
{
    uint32_t got = f->enc((float)x);
    if (got != want)
        TEST_FAIL("%s encode %a: got 0x%x, want 0x%x", f->name, x, got, want);
}

static void test_f16_known(void)
{
    const struct fmt *f = &fmts[0];
    expect_dec(f, 0x3c00, 1.0);
    expect_dec(f, 0xc000, -2.0);
    expect_dec(f, 0x7bff, 65504.0);
    expect_dec(f, 0x0400, 0x1p-14);
    expect_dec(f, 0x0001, 0x1p-24);
    expect_dec(f, 0x03ff, 1023 * 0x1p-24);
    expect_dec(f, 0x8000, -0.0);
    expect_dec(f, 0x7c00, INFINITY);
    expect_dec(f, 0xfc00, -INFINITY);
    ASSERT_TRUE(isnan(halo_f16_to_f32(0x7c01)) && isnan(halo_f16_to_f32(0xfe00)));
    expect_enc(f, 65504.0, 0x7bff);
    expect_enc(f, 65519.0, 0x7bff);
    expect_enc(f, 65520.0, 0x7c00); /* tie: 0x7bff is odd, so away to inf */
    expect_enc(f, 1e10, 0x7c00);
    expect_enc(f, -1e10, 0xfc00);
    expect_enc(f, 1.0 + 0x1p-11, 0x3c00);     /* tie -> even */
    expect_enc(f, 1.0 + 3 * 0x1p-11, 0x3c02); /* tie -> even */
    expect_enc(f, 1.0 + 0x1p-11 + 0x1p-20, 0x3c01);
    expect_enc(f, 0x1p-25, 0x0000);     /* subnormal tie -> even (zero) */
    expect_enc(f, 3 * 0x1p-25, 0x0002); /* subnormal tie -> even */
    expect_enc(f, 0x1p-25 + 0x1p-40, 0x0001);
    expect_enc(f, -0x1p-30, 0x8000);
    expect_enc(f, NAN, 0x7e00);
    expect_enc(f, -NAN, 0x7e00);
}

static void test_bf16_known(void)
{
    const struct fmt *f = &fmts[1];
    expect_dec(f, 0x3f80, 1.0);
    expect_dec(f, 0x7f7f, 0x1.fep127);
    expect_dec(f, 0x0001, 0x1p-133);
    expect_dec(f, 0xff80, -INFINITY);
    expect_enc(f, 1.0 + 0x1p-8, 0x3f80); /* tie -> even */
    expect_enc(f, 1.0 + 3 * 0x1p-8, 0x3f82);
    expect_enc(f, 1.0 + 0x1p-8 + 0x1p-20, 0x3f81);
    expect_enc(f, FLT_MAX, 0x7f80);
    expect_enc(f, -FLT_MAX, 0xff80);
    expect_enc(f, 0x1p-134, 0x0000); /* subnormal tie -> even */
    expect_enc(f, 0x1p-133, 0x0001);
    expect_enc(f, NAN, 0x7fc0);
}

static void test_e4m3_known(void)
{
    const struct fmt *f = &fmts[2];
    expect_dec(f, 0x38, 1.0);
    expect_dec(f, 0x7e, 448.0);
    expect_dec(f, 0xfe, -448.0);
    expect_dec(f, 0x08, 0x1p-6);
    expect_dec(f, 0x01, 0x1p-9);
    expect_dec(f, 0x07, 7 * 0x1p-9);
    expect_dec(f, 0x78, 256.0); /* exponent 15 is finite */
    ASSERT_TRUE(isnan(halo_e4m3_to_f32(0x7f)) && isnan(halo_e4m3_to_f32(0xff)));
    expect_enc(f, 448.0, 0x7e);
    expect_enc(f, 464.0, 0x7e); /* saturates, never NaN */
    expect_enc(f, 1e9, 0x7e);
    expect_enc(f, INFINITY, 0x7e);
    expect_enc(f, -INFINITY, 0xfe);
    expect_enc(f, -1000.0, 0xfe);
    expect_enc(f, 1.0625, 0x38); /* tie -> even */
    expect_enc(f, 1.1875, 0x3a); /* tie -> even */
    expect_enc(f, 0x1p-10, 0x00);
    expect_enc(f, 3 * 0x1p-10, 0x02);
    expect_enc(f, NAN, 0x7f);
}

static void test_e5m2_known(void)
{
    const struct fmt *f = &fmts[3];
    expect_dec(f, 0x3c, 1.0);
    expect_dec(f, 0x7b, 57344.0);
    expect_dec(f, 0x7c, INFINITY);
    expect_dec(f, 0xfc, -INFINITY);
    expect_dec(f, 0x04, 0x1p-14);
    expect_dec(f, 0x01, 0x1p-16);
    ASSERT_TRUE(isnan(halo_e5m2_to_f32(0x7d)) && isnan(halo_e5m2_to_f32(0xff)));
    expect_enc(f, 57344.0, 0x7b);
    expect_enc(f, 61439.0, 0x7b);
    expect_enc(f, 61440.0, 0x7c); /* tie: 0x7b is odd, so away to inf */
    expect_enc(f, 1e6, 0x7c);
    expect_enc(f, -INFINITY, 0xfc);
    expect_enc(f, 1.125, 0x3c); /* tie -> even */
    expect_enc(f, 1.375, 0x3e); /* tie -> even */
    expect_enc(f, 0x1p-17, 0x00);
    expect_enc(f, 3 * 0x1p-17, 0x02);
    expect_enc(f, NAN, 0x7e);
}

/* A second, hardware oracle for float16 where the CPU has F16C (NaN payloads differ). */
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float x)
{
    return (uint16_t)_cvtss_sh(x, 0); /* 0: round to nearest even */
}

static void test_f16_against_f16c(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("f16c")) {
        printf("no F16C on this CPU: float16 not compared with hardware\n");
        return;
    }
    for (uint64_t k = 0; k < 1000000; k++) {
        float x = bits_f32((uint32_t)mix64(k + 12345));
        if (!isnan(x) && halo_f32_to_f16(x) != hw_f32_to_f16(x))
            TEST_FAIL("encode %a: 0x%x, F16C says 0x%x", x, halo_f32_to_f16(x),
                      hw_f32_to_f16(x));
    }
}

static void test_conversions(void)
{
    for (size_t i = 0; i < N_FMTS; i++) {
        test_decode_exhaustive(&fmts[i]);
        test_roundtrip_exhaustive(&fmts[i]);
        test_encode_model(&fmts[i]);
    }
    test_f16_known();
    test_bf16_known();
    test_e4m3_known();
    test_e5m2_known();
    test_f16_against_f16c();
}

/* ---- names and sizes ---- */

static void test_names(void)
{
    static const size_t sizes[haloNumTypes] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
    for (int t = 0; t < haloNumTypes; t++) {
        ASSERT_EQ(halo_dtype_size((haloDataType_t)t), sizes[t]);
        ASSERT_TRUE(strcmp(halo_dtype_name((haloDataType_t)t), "invalid") != 0);
    }
    ASSERT_STREQ(halo_dtype_name(haloFloat32), "float32");
    ASSERT_STREQ(halo_dtype_name(haloBfloat16), "bfloat16");
    ASSERT_STREQ(halo_dtype_name(haloFloat8e4m3), "float8e4m3");
    ASSERT_STREQ(halo_dtype_name(haloUint64), "uint64");
    ASSERT_EQ(halo_dtype_size(haloNumTypes), 0);
    ASSERT_EQ(halo_dtype_size((haloDataType_t)-1), 0);
    ASSERT_STREQ(halo_dtype_name(haloNumTypes), "invalid");
    ASSERT_STREQ(halo_dtype_name((haloDataType_t)-1), "invalid");
    ASSERT_STREQ(halo_op_name(haloSum), "sum");
    ASSERT_STREQ(halo_op_name(haloProd), "prod");
    ASSERT_STREQ(halo_op_name(haloMax), "max");
    ASSERT_STREQ(halo_op_name(haloMin), "min");
    ASSERT_STREQ(halo_op_name(haloAvg), "avg");
    ASSERT_STREQ(halo_op_name(haloNumOps), "invalid");
    ASSERT_STREQ(halo_op_name((haloRedOp_t)-1), "invalid");
}

/* ---- inputs ---- */

static int is_float_type(haloDataType_t t)
{
    return t == haloFloat16 || t == haloFloat32 || t == haloFloat64 || t == haloBfloat16 ||
           t == haloFloat8e4m3 || t == haloFloat8e5m2;
}

static const struct fmt *small_fmt(haloDataType_t t)
{
    switch (t) {
    case haloFloat16: return &fmts[0];
    case haloBfloat16: return &fmts[1];
    case haloFloat8e4m3: return &fmts[2];
    case haloFloat8e5m2: return &fmts[3];
    default: return NULL;
    }
}

/* A float bit pattern with ebits/mbits: by index, any pattern, one near 1.0 (so that
 * sums of two of them round), or a subnormal/tiny one. Never NaN: NaN lanes come from
 * nan_bits only. */
static uint64_t float_pattern(int ebits, int mbits, uint64_t r, size_t i)
{
    uint64_t emask = (1ull << ebits) - 1, bias = emask >> 1;
    uint64_t sign = (r >> 63) & 1, m = r & ((1ull << mbits) - 1), e;
    switch (i % 3) {
    case 0: e = (r >> 52) & emask; break;
    case 1: e = bias - 2 + ((r >> 50) % 5); break;
    default: e = (r >> 55) & 1; break;
    }
    if (e == emask)
        m = ebits == 4 ? m & 6 : 0; /* inf for IEEE formats, a finite value for e4m3 */
    return sign << (ebits + mbits) | e << mbits | m;
}

/* The NaN put at every 5th (a) / 7th (b) element in the NaN pass. float32/float64 use
 * one quiet NaN for both inputs: when both operands are NaN the CPU keeps the first
 * one's payload, and the compiler may swap operands of +. The small formats vary the
 * payload and sign: their results are canonicalised. */
static uint64_t nan_bits(haloDataType_t t, uint64_t r)
{
    switch (t) {
    case haloFloat32: return 0xffc12345u;
    case haloFloat64: return 0xfff8000000012345ull;
    case haloFloat8e4m3: return 0x7f | (r & 0x80);
    default: {
        const struct fmt *f = small_fmt(t);
        uint64_t m = (r & fmt_mmask(f)) | 1;
        uint64_t sign = (r >> 15) & 1;
        return sign << (f->ebits + f->mbits) | (uint64_t)fmt_emask(f) << f->mbits | m;
    }
    }
}

static void store_bits(void *p, size_t i, size_t esize, uint64_t v)
{
    memcpy((char *)p + i * esize, &v, esize); /* little-endian: the low bytes */
}

static uint64_t element_bits(haloDataType_t t, uint64_t r, size_t i)
{
    switch (t) {
    case haloFloat32: return float_pattern(8, 23, r, i);
    case haloFloat64: return float_pattern(11, 52, r, i);
    case haloFloat16: return float_pattern(5, 10, r, i);
    case haloBfloat16: return float_pattern(8, 7, r, i);
    case haloFloat8e4m3: return float_pattern(4, 3, r, i);
    case haloFloat8e5m2: return float_pattern(5, 2, r, i);
    default: /* integers: full range (wraps, negatives) or small (prod, max/min ties) */
        return i % 2 ? r : (uint64_t)((int64_t)(r % 41) - 20);
    }
}

/* nan_every: 0 for none, else a NaN at every nan_every-th element. */
static void fill(void *p, size_t n, haloDataType_t t, uint64_t seed, size_t nan_every)
{
    size_t es = halo_dtype_size(t);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = mix64(seed * 1000003 + i);
        int nan = nan_every && i % nan_every == 0;
        store_bits(p, i, es, nan ? nan_bits(t, r) : element_bits(t, r, i));
    }
}

/* ---- kernels against the reference ---- */

struct red_case {
    const struct halo_reduce_variant *v;
    haloDataType_t t;
    haloRedOp_t op;
    size_t n, offset; /* offset in elements: misaligned pointers */
    int nan;
    const char *what;
};

static void check_same(const struct red_case *c, const void *got, const void *want,
                       const void *a, const void *b)
{
    size_t es = halo_dtype_size(c->t);
    for (size_t i = 0; i < c->n; i++) {
        if (memcmp((const char *)got + i * es, (const char *)want + i * es, es) == 0)
            continue;
        uint64_t g = 0, w = 0, x = 0, y = 0;
        memcpy(&g, (const char *)got + i * es, es);
        memcpy(&w, (const char *)want + i * es, es);
        memcpy(&x, (const char *)a + i * es, es);
        memcpy(&y, (const char *)b + i * es, es);
        TEST_FAIL("%s %s %s n=%zu offset=%zu nan=%d %s: [%zu] a=0x%" PRIx64 " b=0x%" PRIx64
                  " got 0x%" PRIx64 " want 0x%" PRIx64,
                  c->v->isa, halo_dtype_name(c->t), halo_op_name(c->op), c->n, c->offset,
                  c->nan, c->what, i, x, y, g, w);
    }
}

/* The bytes after the last element must be untouched. */
static void check_canary(const struct red_case *c, const unsigned char *dst)
{
    size_t es = halo_dtype_size(c->t);
    for (size_t k = 0; k < 2 * es; k++)
        if (dst[c->n * es + k] != CANARY)
            TEST_FAIL("%s %s %s n=%zu: wrote past the end", c->v->isa,
                      halo_dtype_name(c->t), halo_op_name(c->op), c->n);
}

struct bufs {
    unsigned char a[(MAX_LEN + 4) * 8], b[(MAX_LEN + 4) * 8];
    unsigned char want[(MAX_LEN + 4) * 8], got[(MAX_LEN + 4) * 8];
};

static void run_case(struct red_case *c, struct bufs *bb)
{
    size_t es = halo_dtype_size(c->t), off = c->offset * es, bytes = c->n * es;
    unsigned char *a = bb->a + off, *b = bb->b + off, *want = bb->want + off,
                  *got = bb->got + off;
    fill(a, c->n, c->t, 1 + c->n + 131 * (uint64_t)c->t, c->nan ? 5 : 0);
    fill(b, c->n, c->t, 2 + c->n + 137 * (uint64_t)c->op, c->nan ? 7 : 0);
    halo_reduce_ref(want, a, b, c->n, c->t, c->op);

    memset(bb->got, CANARY, sizeof bb->got);
    c->what = "out of place";
    c->v->reduce(got, a, b, c->n, c->t, c->op);
    check_same(c, got, want, a, b);
    check_canary(c, got);

    c->what = "dst == a";
    memcpy(got, a, bytes);
    c->v->reduce(got, got, b, c->n, c->t, c->op);
    check_same(c, got, want, a, b);

    c->what = "dst == b";
    memcpy(got, b, bytes);
    c->v->reduce(got, a, got, c->n, c->t, c->op);
    check_same(c, got, want, a, b);

    c->what = "dst == a == b";
    halo_reduce_ref(want, a, a, c->n, c->t, c->op);
    memcpy(got, a, bytes);
    c->v->reduce(got, got, got, c->n, c->t, c->op);
    check_same(c, got, want, a, a);
}

static void test_variant_reduce(const struct halo_reduce_variant *v, struct bufs *bb)
{
    for (int t = 0; t < haloNumTypes; t++)
        for (int op = 0; op < haloNumOps; op++)
            for (size_t k = 0; k < N_LENGTHS; k++)
                for (size_t off = 0; off < 2; off++)
                    for (int nan = 0; nan <= is_float_type((haloDataType_t)t); nan++) {
                        struct red_case c = {v, (haloDataType_t)t, (haloRedOp_t)op,
                                             lengths[k], off, nan, ""};
                        run_case(&c, bb);
                    }
}

static void test_variant_scale(const struct halo_reduce_variant *v, struct bufs *bb)
{
    static const int divisors[] = {1, 2, 3, 7, 8, 0};
    for (int t = 0; t < haloNumTypes; t++)
        for (size_t k = 0; k < N_LENGTHS; k++)
            for (size_t d = 0; d < sizeof divisors / sizeof divisors[0]; d++) {
                struct red_case c = {v, (haloDataType_t)t, haloAvg, lengths[k], 0, 1, ""};
                size_t bytes = c.n * halo_dtype_size(c.t);
                fill(bb->a, c.n, c.t, 77 + (uint64_t)t, is_float_type(c.t) ? 5 : 0);
                halo_scale_div_ref(bb->want, bb->a, c.n, c.t, divisors[d]);
                memset(bb->got, CANARY, sizeof bb->got);
                c.what = "scale_div";
                v->scale_div(bb->got, bb->a, c.n, c.t, divisors[d]);
                check_same(&c, bb->got, bb->want, bb->a, bb->a);
                check_canary(&c, bb->got);
                c.what = "scale_div in place";
                memcpy(bb->got, bb->a, bytes);
                v->scale_div(bb->got, bb->got, c.n, c.t, divisors[d]);
                check_same(&c, bb->got, bb->want, bb->a, bb->a);
            }
}

/* halo_scale_mul (pre-mul-sum) against its reference: every dtype, lengths across
 * the block size, several scalars (one a NaN for the float types), in place too. */
static void test_scale_mul(struct bufs *bb)
{
    const struct halo_reduce_variant best = {halo_reduce_isa(), NULL, NULL, NULL};
    for (int t = 0; t < haloNumTypes; t++)
        for (size_t k = 0; k < N_LENGTHS; k++)
            for (uint64_t s = 0; s < 4; s++) {
                struct red_case c = {&best, (haloDataType_t)t, haloProd, lengths[k], 0, 0, ""};
                size_t es = halo_dtype_size(c.t), bytes = c.n * es;
                unsigned char scalar[8];
                fill(scalar, 1, c.t, 300 + s, s == 3 && is_float_type(c.t) ? 1 : 0);
                fill(bb->a, c.n, c.t, 99 + (uint64_t)t, is_float_type(c.t) ? 11 : 0);
                memset(bb->b, 0, bytes);
                for (size_t i = 0; i < c.n; i++)
                    memcpy(bb->b + i * es, scalar, es); /* for check_same's message */
                halo_scale_mul_ref(bb->want, bb->a, c.n, c.t, scalar);
                memset(bb->got, CANARY, sizeof bb->got);
                c.what = "scale_mul";
                halo_scale_mul(bb->got, bb->a, c.n, c.t, scalar);
                check_same(&c, bb->got, bb->want, bb->a, bb->b);
                check_canary(&c, bb->got);
                c.what = "scale_mul in place";
                memcpy(bb->got, bb->a, bytes);
                halo_scale_mul(bb->got, bb->got, c.n, c.t, scalar);
                check_same(&c, bb->got, bb->want, bb->a, bb->b);
            }
    /* Closed-form values: int32 wraps, bfloat16 rounds once. */
    int32_t iv[3] = {7, -5, 0x40000001}, is = -3, ig[3];
    halo_scale_mul(ig, iv, 3, haloInt32, &is);
    ASSERT_EQ(ig[0], -21);
    ASSERT_EQ(ig[1], 15);
    ASSERT_EQ(ig[2], (int32_t)(uint32_t)(0x40000001u * (uint32_t)-3));
    uint16_t bv[2] = {halo_f32_to_bf16(1.5f), halo_f32_to_bf16(-2.0f)}, bs = halo_f32_to_bf16(0.5f), bg[2];
    halo_scale_mul(bg, bv, 2, haloBfloat16, &bs);
    ASSERT_TRUE(halo_bf16_to_f32(bg[0]) == 0.75f && halo_bf16_to_f32(bg[1]) == -1.0f);
    printf("scale_mul (%s): all dtypes match the reference\n", halo_reduce_isa());
}

static void test_variants(struct bufs *bb)
{
    int tested = 0;
    for (size_t i = 0; i < N_ISAS; i++) {
        const struct halo_reduce_variant *v = halo_reduce_variant_get(isa_names[i]);
        if (!v) {
            printf("variant %s: not supported by this CPU, not tested\n", isa_names[i]);
            continue;
        }
        ASSERT_STREQ(v->isa, isa_names[i]);
        test_variant_reduce(v, bb);
        test_variant_scale(v, bb);
        printf("variant %s: all dtypes x ops match the reference\n", v->isa);
        tested++;
    }
    ASSERT_TRUE(tested >= 1);
}

/* ---- the dispatched entry points ---- */

static void test_dispatch(struct bufs *bb)
{
    const char *isa = halo_reduce_isa();
    const struct halo_reduce_variant *best = NULL;
    for (size_t i = 0; i < N_ISAS && !best; i++)
        best = halo_reduce_variant_get(isa_names[i]);
    ASSERT_TRUE(best != NULL);
    ASSERT_STREQ(isa, best->isa); /* the best variant the CPU supports */
    ASSERT_TRUE(halo_reduce_variant_get("generic") != NULL);
    ASSERT_TRUE(halo_reduce_variant_get("sse9") == NULL);
    ASSERT_TRUE(halo_reduce_variant_get(NULL) == NULL);
    printf("reduce ISA in use: %s\n", isa);

    for (int t = 0; t < haloNumTypes; t++) { /* avg is sum in halo_reduce */
        fill(bb->a, 1000, (haloDataType_t)t, 5, 0);
        fill(bb->b, 1000, (haloDataType_t)t, 6, 0);
        halo_reduce_ref(bb->want, bb->a, bb->b, 1000, (haloDataType_t)t, haloSum);
        halo_reduce(bb->got, bb->a, bb->b, 1000, (haloDataType_t)t, haloAvg);
        ASSERT_EQ(memcmp(bb->got, bb->want, 1000 * halo_dtype_size((haloDataType_t)t)), 0);
    }
    memset(bb->got, CANARY, 64); /* invalid type or op: nothing written */
    halo_reduce(bb->got, bb->a, bb->b, 8, haloNumTypes, haloSum);
    halo_reduce(bb->got, bb->a, bb->b, 8, haloFloat32, haloNumOps);
    halo_reduce(bb->got, bb->a, bb->b, 8, (haloDataType_t)-1, haloSum);
    for (int k = 0; k < 64; k++)
        ASSERT_EQ(bb->got[k], CANARY);
}

/* ---- closed-form results of the dispatched entry points ---- */

/* Element-wise equality of two arrays of element size es, printing the first miss. */
static void expect_elems(const char *what, const void *got, const void *want, size_t n,
                         size_t es)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t g = 0, w = 0;
        memcpy(&g, (const char *)got + i * es, es);
        memcpy(&w, (const char *)want + i * es, es);
        if (g != w)
            TEST_FAIL("%s [%zu]: got 0x%" PRIx64 ", want 0x%" PRIx64, what, i, g, w);
    }
}

#define EXPECT_ARRAY(what, got, want)                                                   \
    expect_elems(what, got, want, sizeof(want) / sizeof((want)[0]), sizeof((want)[0]))

static void test_scale_int_known(void)
{
    int32_t i32[] = {7, -7, 9, -9, INT32_MIN, INT32_MAX};
    const int32_t i32_want[] = {3, -3, 4, -4, INT32_MIN / 2, INT32_MAX / 2};
    halo_scale_div(i32, i32, 6, haloInt32, 2); /* truncates toward zero */
    EXPECT_ARRAY("int32 / 2", i32, i32_want);
    int8_t i8[] = {-128, 127, -5, 5};
    const int8_t i8_want[] = {-42, 42, -1, 1};
    halo_scale_div(i8, i8, 4, haloInt8, 3);
    EXPECT_ARRAY("int8 / 3", i8, i8_want);
    uint8_t u8[] = {255, 1};
    const uint8_t u8_want[] = {127, 0};
    halo_scale_div(u8, u8, 2, haloUint8, 2);
    EXPECT_ARRAY("uint8 / 2", u8, u8_want);
    const uint64_t u64[] = {UINT64_MAX}, u64_want[] = {0x5555555555555555ull};
    uint64_t u64_out[1];
    halo_scale_div(u64_out, u64, 1, haloUint64, 3);
    EXPECT_ARRAY("uint64 / 3", u64_out, u64_want);
    int64_t i64[] = {-9, INT64_MIN};
    const int64_t i64_want[] = {-2, INT64_MIN / 4};
    halo_scale_div(i64, i64, 2, haloInt64, 4);
    EXPECT_ARRAY("int64 / 4", i64, i64_want);
    const int32_t keep[] = {-7};
    int32_t out[1] = {0};
    halo_scale_div(out, keep, 1, haloInt32, 0); /* divisor < 1: a copy */
    EXPECT_ARRAY("int32 / 0", out, keep);
}

static void test_scale_float_known(void)
{
    float f32[] = {6.0f, -1.5f, 0x1p-149f};
    const float f32_want[] = {3.0f, -0.75f, 0.0f}; /* 2^-150: tie -> even, zero */
    halo_scale_div(f32, f32, 3, haloFloat32, 2);
    EXPECT_ARRAY("float32 / 2", f32, f32_want);
    double f64[] = {3.0, -1.0};
    const double f64_want[] = {0.75, -0.25};
    halo_scale_div(f64, f64, 2, haloFloat64, 4);
    EXPECT_ARRAY("float64 / 4", f64, f64_want);
    uint16_t h[] = {0x3c00, 0x3c01, 0x0001}; /* 1.0, 1 + 2^-10, 2^-24 */
    const uint16_t h_want[] = {0x3400, 0x3401, 0x0000};
    halo_scale_div(h, h, 3, haloFloat16, 4);
    EXPECT_ARRAY("float16 / 4", h, h_want);
    uint16_t bf[] = {0x4040}; /* 3.0 */
    const uint16_t bf_want[] = {0x3fc0};
    halo_scale_div(bf, bf, 1, haloBfloat16, 2);
    EXPECT_ARRAY("bfloat16 / 2", bf, bf_want);
    uint8_t e4[] = {0x7e}, e5[] = {0x7b}; /* 448, 57344 */
    const uint8_t e4_want[] = {0x76}, e5_want[] = {0x77}; /* 224, 28672 */
    halo_scale_div(e4, e4, 1, haloFloat8e4m3, 2);
    halo_scale_div(e5, e5, 1, haloFloat8e5m2, 2);
    EXPECT_ARRAY("e4m3 / 2", e4, e4_want);
    EXPECT_ARRAY("e5m2 / 2", e5, e5_want);
}

static void test_reduce_int_known(void)
{
    const int32_t a[] = {INT32_MAX, -3, 5, INT32_MIN}, b[] = {1, -4, -6, -1};
    const int32_t sum[] = {INT32_MIN, -7, -1, INT32_MAX}, max[] = {INT32_MAX, -3, 5, -1};
    int32_t d[4];
    halo_reduce(d, a, b, 4, haloInt32, haloSum); /* wraps */
    EXPECT_ARRAY("int32 sum", d, sum);
    halo_reduce(d, a, b, 4, haloInt32, haloMax);
    EXPECT_ARRAY("int32 max", d, max);
    const uint8_t ua[] = {200, 3}, ub[] = {100, 250};
    const uint8_t umin[] = {100, 3}, usum[] = {44, 253}, uprod[] = {32, 238};
    uint8_t ud[2];
    halo_reduce(ud, ua, ub, 2, haloUint8, haloMin);
    EXPECT_ARRAY("uint8 min", ud, umin);
    halo_reduce(ud, ua, ub, 2, haloUint8, haloSum);
    EXPECT_ARRAY("uint8 sum", ud, usum);
    halo_reduce(ud, ua, ub, 2, haloUint8, haloProd);
    EXPECT_ARRAY("uint8 prod", ud, uprod);
}

static void test_reduce_float_known(void)
{
    const float fa[] = {1.5f, NAN, 2.0f, -0.0f}, fb[] = {-2.0f, 3.0f, NAN, 1.0f};
    const float fmax[] = {1.5f, 3.0f, 2.0f, 1.0f}; /* fmax-like: NaN ignored */
    float fd[4];
    halo_reduce(fd, fa, fb, 4, haloFloat32, haloMax);
    EXPECT_ARRAY("float32 max", fd, fmax);
    const float nan2[] = {NAN};
    halo_reduce(fd, nan2, nan2, 1, haloFloat32, haloMin);
    ASSERT_TRUE(isnan(fd[0]));
    /* float16: 1 + 1, 65504 + 65504 overflows to inf, 2^-24 + 2^-24 */
    const uint16_t ha[] = {0x3c00, 0x7bff, 0x0001}, hsum[] = {0x4000, 0x7c00, 0x0002};
    uint16_t hd[3];
    halo_reduce(hd, ha, ha, 3, haloFloat16, haloSum);
    EXPECT_ARRAY("float16 sum", hd, hsum);
    /* bfloat16: 1 + 2^-8 rounds to 1 (tie to even) */
    const uint16_t ba[] = {0x3f80}, bb[] = {0x3b80}, bsum[] = {0x3f80};
    halo_reduce(hd, ba, bb, 1, haloBfloat16, haloSum);
    EXPECT_ARRAY("bfloat16 sum", hd, bsum);
    /* e4m3: 448 + 448 saturates to 448, 1 + 1 = 2; e5m2: 57344 + 57344 = inf */
    const uint8_t ea[] = {0x7e, 0x38}, esum[] = {0x7e, 0x40};
    const uint8_t fa5[] = {0x7b}, fsum5[] = {0x7c};
    uint8_t ed[2];
    halo_reduce(ed, ea, ea, 2, haloFloat8e4m3, haloSum);
    EXPECT_ARRAY("e4m3 sum", ed, esum);
    halo_reduce(ed, fa5, fa5, 1, haloFloat8e5m2, haloSum);
    EXPECT_ARRAY("e5m2 sum", ed, fsum5);
}

/* Streaming copies and reductions: every head misalignment and tail length, the
 * bytes around the destination untouched, the same result as memcpy/halo_reduce. */
static void test_stream(void)
{
    enum { CAP = 70000 };
    static unsigned char src[CAP + 64], dst[CAP + 128], want[CAP + 128];
    static float fa[20000], fb[20000], fd[20000 + 32], fw[20000 + 32];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (unsigned char)(i * 131 + 7);
    const size_t lens[] = {0, 1, 15, 16, 255, 256, 257, 4095, 4096, 4160, 65536 + 13, CAP};
    for (size_t off = 0; off < 16; off += 3)
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            size_t n = lens[j];
            memset(dst, 0xa5, sizeof(dst));
            memset(want, 0xa5, sizeof(want));
            memcpy(want + 32 + off, src + (off * 5) % 64, n);
            halo_copy_stream(dst + 32 + off, src + (off * 5) % 64, n);
            if (memcmp(dst, want, sizeof(dst)) != 0)
                TEST_FAIL("halo_copy_stream of %zu bytes at offset %zu differs from memcpy", n, off);
        }
    for (size_t i = 0; i < 20000; i++)
        fa[i] = (float)i * 0.5f + 1.0f, fb[i] = (float)(i % 977) - 300.0f;
    const size_t counts[] = {1, 63, 2048, 2049, 19999};
    for (size_t off = 0; off < 8; off += 3)
        for (size_t j = 0; j < sizeof(counts) / sizeof(counts[0]); j++) {
            size_t n = counts[j];
            memset(fd, 0, sizeof(fd));
            memset(fw, 0, sizeof(fw));
            halo_reduce(fw + off, fa, fb, n, haloFloat32, haloMax);
            halo_reduce_stream(fd + off, fa, fb, n, haloFloat32, haloMax, 1);
            if (memcmp(fd, fw, sizeof(fd)) != 0)
                TEST_FAIL("halo_reduce_stream of %zu floats at offset %zu differs from halo_reduce", n, off);
        }
    memcpy(fw, fa, sizeof(fa)); /* dst == a */
    halo_reduce(fw, fw, fb, 20000, haloFloat32, haloSum);
    memcpy(fd, fa, sizeof(fa));
    halo_reduce_stream(fd, fd, fb, 20000, haloFloat32, haloSum, 1);
    if (memcmp(fd, fw, 20000 * sizeof(float)) != 0)
        TEST_FAIL("halo_reduce_stream in place differs from halo_reduce");
    halo_reduce(fw, fa, fb, 20000, haloFloat32, haloSum); /* an average's final step: div 3 */
    halo_scale_div(fw, fw, 20000, haloFloat32, 3);
    memset(fd, 0, sizeof(fd));
    halo_reduce_stream(fd, fa, fb, 20000, haloFloat32, haloSum, 3);
    if (memcmp(fd, fw, 20000 * sizeof(float)) != 0)
        TEST_FAIL("halo_reduce_stream with div 3 differs from halo_reduce and halo_scale_div");
    printf("streaming copy and reduce (%s): ok\n", halo_copy_stream_native() ? "non-temporal stores" : "memcpy");
}

/* halo_reduce_copy_stream: out and dst both hold a op b (divided for avg), for
 * counts around its blocks, element sizes 2, 4 and 8, and dst equal to b (in
 * place, as the engine calls it); the bytes around out and dst are untouched. */
static void test_reduce_copy_stream(void)
{
    enum { N = 9000 };
    static uint64_t a[N], b[N], keep[N + 1], out[N + 2], dst[N + 2], want[N + 2], kwant[N + 1];
    const haloDataType_t types[] = {haloBfloat16, haloInt32, haloFloat32, haloFloat64};
    const size_t counts[] = {1, 31, 2048, 2049, 4096 + 7, N};
    for (size_t i = 0; i < N; i++) {
        a[i] = 0x3f80400000004000ull + (i * 0x10001000100ull) % 0x7fff;
        b[i] = 0x3f00410000014000ull + (i * 7919 % 1013) * 0x100010001ull;
    }
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++)
        for (size_t j = 0; j < sizeof(counts) / sizeof(counts[0]); j++)
            for (int div = 1; div <= 3; div += 2) {
                haloDataType_t t = types[ti];
                size_t n = counts[j], bytes = n * halo_dtype_size(t);
                memset(want, 0x5a, sizeof(want));
                halo_reduce(want + 1, a, b, n, t, haloSum);
                if (div > 1)
                    halo_scale_div(want + 1, want + 1, n, t, div);
                memset(out, 0x5a, sizeof(out));
                memset(dst, 0x5a, sizeof(dst));
                halo_reduce_copy_stream(out + 1, dst + 1, a, b, n, t, haloSum, div);
                if (memcmp(out, want, sizeof(out)) != 0 || memcmp(dst, want, sizeof(dst)) != 0)
                    TEST_FAIL("halo_reduce_copy_stream: %s, %zu elements, div %d: out or dst differs",
                              halo_dtype_name(t), n, div);
                memcpy(keep, b, sizeof(b)); /* dst == b */
                keep[N] = 0x5a5a;
                memcpy(kwant, keep, sizeof(keep));
                memcpy(kwant, want + 1, bytes);
                halo_reduce_copy_stream(out + 1, keep, a, keep, n, t, haloSum, div);
                if (memcmp(out, want, sizeof(out)) != 0 || memcmp(keep, kwant, sizeof(keep)) != 0)
                    TEST_FAIL("halo_reduce_copy_stream in place: %s, %zu elements, div %d: differs",
                              halo_dtype_name(t), n, div);
            }
    printf("reduce, copy and stream: ok\n");
}

int main(void)
{
    static struct bufs bb;
    test_stream();
    test_reduce_copy_stream();
    test_names();
    test_conversions();
    printf("conversions: exhaustive decode and round trip, model rounding: ok\n");
    test_scale_int_known();
    test_scale_float_known();
    test_reduce_int_known();
    test_reduce_float_known();
    test_dispatch(&bb);
    test_variants(&bb);
    test_scale_mul(&bb);
    printf("test_reduce: ok\n");
    return 0;
}
