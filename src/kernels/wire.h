/* SPDX-License-Identifier: MIT */
/*
 * wire.h — compressed "wire formats" for all-reduce data on slow links, and the CPU
 * kernels that encode, decode and requantize them.
 *
 * Formats (docs/ARCHITECTURE.md, "Wire formats", has the error bounds):
 * - bf16: each float32 as bfloat16, round to nearest even, saturating (a finite value
 *   that would round to Inf becomes +-0x7f7f; Inf stays Inf; NaN is 0x7fc0).
 *   2 bytes a value; float32 data only.
 * - q8, fp8: blocks of HALO_WIRE_BLOCK values (the last block of a call may be
 *   shorter), each one float16 scale d and one code byte per value. A call's buffer
 *   for n values holds first all ceil(n/32) scales (fp16 bits, little endian), then
 *   the n codes. q8 codes are int8 (x = q * d), fp8 codes OCP e4m3 (x = e4m3(c) * d),
 *   each the code of x * id, id = 1.0f / d in float32 (0 when d is 0).
 *   A block holding NaN or +-Inf has the sign bit of its scale set; its codes then
 *   carry those values (q8: -128 NaN, 127 +Inf, -127 -Inf; fp8: 0x7f NaN, 0x7e +Inf,
 *   0xfe -Inf) and its finite values use the range below them.
 *
 * Data types: float32, float16, bfloat16 (bf16 format: float32 only). Half types widen
 * to float32 exactly; results are rounded once to nearest even. Every NaN a kernel
 * writes is the canonical quiet NaN of the output type. The kernels are plain C
 * compiled for three ISAs like reduce.c's, chosen once at run time; the variants and
 * the scalar references give the same bits. Calls with a format that does not apply
 * to t (halo_wire_supported) write nothing.
 *
 * Buffers: the kernels read and write whole blocks in place order, so the aliasing
 * each function allows is exact (same pointer), never partial overlap.
 */
#ifndef HALO_WIRE_H
#define HALO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"

enum halo_wire { HALO_WIRE_OFF = 0, HALO_WIRE_BF16 = 1, HALO_WIRE_FP8 = 2, HALO_WIRE_Q8 = 3 };
#define HALO_WIRE_BLOCK 32 /* values per scale in q8 and fp8 */

/* 1 if format w applies to dtype t (bf16: float32 only; fp8, q8: float32, float16,
 * bfloat16). 0 for HALO_WIRE_OFF, which is no format: the data goes as it is. */
int halo_wire_supported(enum halo_wire w, haloDataType_t t);
const char *halo_wire_name(enum halo_wire w); /* "off", "bf16", "fp8", "q8", or "invalid" */
/* 0 and *w set for "off", "bf16", "fp8", "q8"; -1 (and *w untouched) for any other
 * string, NULL included. */
int halo_wire_parse(const char *s, enum halo_wire *w);
/* The documented error of an n-rank sum under format w (README, "Compressed
 * all-reduce"): each result of type t is within n * (c * A + e) + n * u * A of the
 * exact sum, A the largest sum of |input| over the ranks among the 32 values
 * around it. Fills c (the format's step, relative to A), e (absolute: a block
 * scale in float16's subnormal range) and u (t's own rounding). */
void halo_wire_bound(enum halo_wire w, haloDataType_t t, double *c, double *e, double *u);
/* Bytes n values take in format w (OFF or an invalid w: 0). */
size_t halo_wire_bytes(enum halo_wire w, size_t n);
/* The largest n with halo_wire_bytes(w, n) <= cap, for sizing slices into a frame
 * (OFF or an invalid w: 0). */
size_t halo_wire_values_fit(enum halo_wire w, size_t cap);

/* wire = Q(src): n values of t into halo_wire_bytes(w, n) bytes. */
void halo_wire_encode(void *wire, const void *src, size_t n, haloDataType_t t, enum halo_wire w);
/* dst = D(wire), rounded to t. */
void halo_wire_decode(void *dst, const void *wire, size_t n, haloDataType_t t, enum halo_wire w);
/* dst = a + D(wire), computed in float32 and rounded once to t. dst may equal a. */
void halo_wire_decode_add(void *dst, const void *a, const void *wire, size_t n,
                          haloDataType_t t, enum halo_wire w);
/* One reduction step of a ring: v = D(in) + src in float32 (src of type t widened); if
 * divisor > 1, v = v * (1.0f / divisor) (halo_scale_div's avg); out = Q(v); and when
 * dst != NULL, dst = D(out) rounded to t, so the owner of a block ends with exactly
 * what every other rank decodes. in may equal out (requantizing a frame in place) and
 * dst may equal src. */
void halo_wire_reduce_encode(void *out, void *dst, const void *in, const void *src, size_t n,
                             haloDataType_t t, enum halo_wire w, int divisor);

/* Scalar references of the four kernels (tests only), written differently: one value
 * at a time, double arithmetic, branches. */
void halo_wire_encode_ref(void *wire, const void *src, size_t n, haloDataType_t t,
                          enum halo_wire w);
void halo_wire_decode_ref(void *dst, const void *wire, size_t n, haloDataType_t t,
                          enum halo_wire w);
void halo_wire_decode_add_ref(void *dst, const void *a, const void *wire, size_t n,
                              haloDataType_t t, enum halo_wire w);
void halo_wire_reduce_encode_ref(void *out, void *dst, const void *in, const void *src,
                                 size_t n, haloDataType_t t, enum halo_wire w, int divisor);

/* Name of the variant in use: "avx512", "avx2" or "generic" (the same choice as
 * halo_reduce_isa). */
const char *halo_wire_isa(void);

/* One compiled variant of the four kernels (same semantics, different ISA). */
struct halo_wire_variant {
    const char *isa; /* "avx512", "avx2", "generic" */
    void (*encode)(void *wire, const void *src, size_t n, haloDataType_t t, enum halo_wire w);
    void (*decode)(void *dst, const void *wire, size_t n, haloDataType_t t, enum halo_wire w);
    void (*decode_add)(void *dst, const void *a, const void *wire, size_t n, haloDataType_t t,
                       enum halo_wire w);
    void (*reduce_encode)(void *out, void *dst, const void *in, const void *src, size_t n,
                          haloDataType_t t, enum halo_wire w, int divisor);
};
/* Tests only: the variant named isa, or NULL when the name is unknown or this CPU
 * cannot run it. Calling its functions directly bypasses the run-time choice. */
const struct halo_wire_variant *halo_wire_variant_get(const char *isa);

#endif
