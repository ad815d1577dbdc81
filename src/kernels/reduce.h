/* SPDX-License-Identifier: MIT */
/*
 * reduce.h — CPU reduction kernels for every datatype and op.
 *
 * src/kernels is a leaf: the engine (src/core) and the schedules
 * (src/collectives) use it; it includes only the public header and libc.
 *
 * dst[i] = a[i] op b[i] for i < n. dst may alias a or b (exactly, not partially).
 * Half types (float16, bfloat16) and fp8 (e4m3, e5m2) are widened to float32,
 * reduced, and rounded once to nearest even. The kernels are plain C the compiler
 * vectorises; the best variant for the CPU (AVX-512, AVX2, baseline) is picked once
 * at run time. A scalar reference of each is kept for the tests.
 */
#ifndef HALO_REDUCE_H
#define HALO_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"

size_t halo_dtype_size(haloDataType_t t); /* 0 for an invalid type */
const char *halo_dtype_name(haloDataType_t t); /* "float32", ... or "invalid" */
const char *halo_op_name(haloRedOp_t op);       /* "sum", ... or "invalid" */

/* Vectorised, dispatched. avg is treated as sum here (see halo_scale_div). Integer
 * sum/prod wrap. Float max/min are fmax/fmin-like (a NaN operand is ignored unless both
 * are). Half/fp8 NaN results are the canonical quiet NaN. An invalid t or op writes
 * nothing (callers validate first). */
void halo_reduce(void *dst, const void *a, const void *b, size_t n, haloDataType_t t, haloRedOp_t op);
/* dst[i] = src[i] / divisor (for avg): floats multiply by 1/divisor after summing in
 * float32 (half types round once); integers use truncating division. dst may equal src.
 * divisor < 1 copies src. */
void halo_scale_div(void *dst, const void *src, size_t n, haloDataType_t t, int divisor);
/* dst[i] = src[i] * scalar, where scalar points to one element of t (pre-mul-sum):
 * rounds exactly as halo_reduce with haloProd against a buffer of the scalar.
 * dst may equal src. */
void halo_scale_mul(void *dst, const void *src, size_t n, haloDataType_t t, const void *scalar);
/* Streaming (non-temporal) variants for results that should not take cache
 * lines: the destination's lines are written without being read first (x86-64;
 * memcpy and halo_reduce elsewhere), and fenced before return. dst must not
 * overlap src / a / b except that halo_reduce_stream's dst may equal a or b. */
void halo_copy_stream(void *dst, const void *src, size_t bytes);
/* halo_reduce_stream divides by div when div > 1 (halo_scale_div), in the same pass. */
void halo_reduce_stream(void *dst, const void *a, const void *b, size_t n, haloDataType_t t, haloRedOp_t op,
                        int div);
/* out = a op b, divided by div when div > 1 (halo_scale_div), and the same values
 * streamed into dst, a block at a time. out must not overlap dst, a or b; dst may
 * equal a or b. */
void halo_reduce_copy_stream(void *out, void *dst, const void *a, const void *b, size_t n, haloDataType_t t,
                             haloRedOp_t op, int div);
/* 1 where halo_copy_stream really bypasses the caches. */
int halo_copy_stream_native(void);
/* Scalar references (tests only). */
void halo_scale_mul_ref(void *dst, const void *src, size_t n, haloDataType_t t, const void *scalar);
void halo_reduce_ref(void *dst, const void *a, const void *b, size_t n, haloDataType_t t, haloRedOp_t op);
void halo_scale_div_ref(void *dst, const void *src, size_t n, haloDataType_t t, int divisor);
/* Name of the variant in use: "avx512", "avx2" or "generic". */
const char *halo_reduce_isa(void);

/* One compiled variant of the kernels (same semantics, different ISA). */
struct halo_reduce_variant {
    const char *isa; /* "avx512", "avx2", "generic" */
    void (*reduce)(void *dst, const void *a, const void *b, size_t n, haloDataType_t t,
                   haloRedOp_t op);
    void (*scale_div)(void *dst, const void *src, size_t n, haloDataType_t t, int divisor);
    int (*cpu_supports)(void); /* NULL: runs everywhere */
};
/* Tests only: the variant named isa, or NULL when the name is unknown or this CPU
 * cannot run it. Calling its functions directly bypasses the run-time choice. */
const struct halo_reduce_variant *halo_reduce_variant_get(const char *isa);

/* Conversions (round to nearest even; fp8 saturating as in OCP FP8 "satfinite"
 * for e4m3, IEEE-like inf for e5m2). */
float halo_f16_to_f32(uint16_t h);
uint16_t halo_f32_to_f16(float f);
float halo_bf16_to_f32(uint16_t h);
uint16_t halo_f32_to_bf16(float f);
float halo_e4m3_to_f32(uint8_t v);
uint8_t halo_f32_to_e4m3(float f);
float halo_e5m2_to_f32(uint8_t v);
uint8_t halo_f32_to_e5m2(float f);

#endif
