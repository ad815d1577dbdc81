/* SPDX-License-Identifier: MIT */
/*
 * convert.h — private to src/kernels: the inline float16 / bfloat16 / fp8 conversions
 * and loop helpers that the reduction kernels (reduce.c) and the wire-format kernels
 * (wire.c) compile into each of their ISA variants.
 *
 * Include it first in a kernel file: the optimisation pragma below applies to the rest
 * of the translation unit, so every kernel loop of the file is compiled the same way.
 */
#ifndef HALO_CONVERT_H
#define HALO_CONVERT_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "haloccl.h"

/* -O2 (the project default) uses the "very cheap" vectoriser cost model, which refuses
 * loops whose trip count is unknown; every loop here has one. Contraction to FMA is off
 * so that the AVX2/AVX-512 variants round exactly like the baseline and the reference. */
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", "fp-contract=off", \
                     "no-trapping-math")

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- bit casts and conversions (all branch-free, inlined into the loops) ---- */

static ALWAYS_INLINE uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static ALWAYS_INLINE float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static ALWAYS_INLINE float f16_dec(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    int32_t mag = h & 0x7fff;
    uint32_t norm = ((uint32_t)mag << 13) + (112u << 23); /* rebias 15 -> 127 */
    uint32_t infnan = ((uint32_t)mag << 13) | 0x7f800000u; /* keeps the payload */
    uint32_t sub = f32_bits((float)mag * 0x1p-24f);       /* exact, a float32 normal */
    uint32_t r = mag >= 0x7c00 ? infnan : mag >= 0x400 ? norm : sub;
    return bits_f32(r | sign);
}

static ALWAYS_INLINE uint16_t f16_enc(float f)
{
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t a = u & 0x7fffffff;
    /* Normal: add half an ulp (minus one when the kept lsb is even) and truncate. */
    int32_t norm = (int32_t)((a + 0xfff + ((a >> 13) & 1)) >> 13) - (112 << 10);
    /* Subnormal: adding 0.5 (ulp 2^-24, the f16 subnormal step) rounds in the FPU. */
    int32_t sub = (int32_t)(f32_bits(bits_f32(a) + 0.5f) - 0x3f000000u);
    int32_t r = (int32_t)a < 0x38800000 ? sub : norm; /* 2^-14, least f16 normal */
    r = r > 0x7c00 ? 0x7c00 : r;                       /* overflow -> inf */
    return (uint16_t)((int32_t)a > 0x7f800000 ? 0x7e00 : (uint32_t)r | sign);
}

static ALWAYS_INLINE float bf16_dec(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

static ALWAYS_INLINE uint16_t bf16_enc(float f)
{
    uint32_t u = f32_bits(f);
    uint32_t r = (u + 0x7fff + ((u >> 16) & 1)) >> 16; /* overflow carries into inf */
    return (uint16_t)((int32_t)(u & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : r);
}

/* OCP E4M3: bias 7, no infinities, S.1111.111 is NaN, max 448 = S.1111.110. */
static ALWAYS_INLINE float e4m3_dec(uint8_t v)
{
    uint32_t sign = (uint32_t)(v & 0x80) << 24;
    int32_t mag = v & 0x7f;
    uint32_t norm = ((uint32_t)mag << 20) + (120u << 23); /* rebias 7 -> 127 */
    uint32_t sub = f32_bits((float)mag * 0x1p-9f);
    uint32_t r = mag == 0x7f ? 0x7fc00000u : mag >= 8 ? norm : sub;
    return bits_f32(r | sign);
}

/* Saturating ("satfinite"): anything at or above 448 in magnitude, inf included,
 * becomes +-448. */
static ALWAYS_INLINE uint8_t e4m3_enc(float f)
{
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 24) & 0x80;
    uint32_t a = u & 0x7fffffff;
    int32_t norm = (int32_t)((a + 0x7ffff + ((a >> 20) & 1)) >> 20) - (120 << 3);
    int32_t sub = (int32_t)(f32_bits(bits_f32(a) + 0x1p14f) - 0x46800000u); /* ulp 2^-9 */
    int32_t r = (int32_t)a < 0x3c800000 ? sub : norm; /* 2^-6, least e4m3 normal */
    r = r > 0x7e ? 0x7e : r;                           /* above 448 (inf too) -> 448 */
    return (uint8_t)((int32_t)a > 0x7f800000 ? 0x7f : (uint32_t)r | sign);
}

/* E5M2: bias 15, IEEE-like (the top byte of a float16). */
static ALWAYS_INLINE float e5m2_dec(uint8_t v)
{
    uint32_t sign = (uint32_t)(v & 0x80) << 24;
    int32_t mag = v & 0x7f;
    uint32_t norm = ((uint32_t)mag << 21) + (112u << 23);
    uint32_t infnan = ((uint32_t)mag << 21) | 0x7f800000u;
    uint32_t sub = f32_bits((float)mag * 0x1p-16f);
    uint32_t r = mag >= 0x7c ? infnan : mag >= 4 ? norm : sub;
    return bits_f32(r | sign);
}

static ALWAYS_INLINE uint8_t e5m2_enc(float f)
{
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 24) & 0x80;
    uint32_t a = u & 0x7fffffff;
    int32_t norm = (int32_t)((a + 0xfffff + ((a >> 21) & 1)) >> 21) - (112 << 2);
    int32_t sub = (int32_t)(f32_bits(bits_f32(a) + 0x1p7f) - 0x43000000u); /* ulp 2^-16 */
    int32_t r = (int32_t)a < 0x38800000 ? sub : norm; /* 2^-14 */
    r = r > 0x7c ? 0x7c : r;                           /* overflow -> inf */
    return (uint8_t)((int32_t)a > 0x7f800000 ? 0x7e : (uint32_t)r | sign);
}

/* ivdep: dst may equal a or b, which is no loop-carried dependence; without it GCC
 * versions the loop on overlap and runs in-place reductions in the scalar copy. */
#define FOR_EACH(n, body)                                                               \
    _Pragma("GCC ivdep") for (size_t i = 0; i < (n); i++)                               \
    {                                                                                   \
        body;                                                                           \
    }

/* The targets of the two vector variants of each kernel file (the third is the
 * baseline); the CPU checks are reduce.c's (halo_reduce_variant_get). */
#define TARGET_AVX2 __attribute__((target("avx2,f16c")))
#define TARGET_AVX512                                                                   \
    __attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl,prefer-vector-width=512")))

/* ---- float16 blocks through F16C ---- */

/* F16C (vcvtph2ps / vcvtps2ph) in the AVX2 and AVX-512 variants. vcvtps2ph rounds to
 * nearest even like f16_enc, subnormals included; NaN lanes are replaced by the
 * canonical NaN first, so the bits equal the C path's. */
#define TARGET_F16C __attribute__((target("avx2,f16c")))

static TARGET_F16C void f16c_dec_block(float *x, const uint16_t *h, size_t m)
{
    size_t i = 0;
    for (; i + 8 <= m; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < m; i++)
        x[i] = f16_dec(h[i]);
}

static TARGET_F16C void f16c_enc_block(uint16_t *h, const float *x, size_t m)
{
    const __m256 nan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
    size_t i = 0;
    for (; i + 8 <= m; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        v = _mm256_blendv_ps(v, nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < m; i++)
        h[i] = f16_enc(x[i]);
}

static ALWAYS_INLINE void f16_dec_block(float *x, const uint16_t *h, size_t m, int f16c)
{
    if (f16c)
        f16c_dec_block(x, h, m);
    else
        FOR_EACH(m, x[i] = f16_dec(h[i]))
}

#endif
