/* SPDX-License-Identifier: MIT */
/*
 * wire.c — the wire-format kernels of wire.h: encode, decode, decode-and-add and the
 * ring's decode-add-requantize step, for bf16, q8 and fp8 over float32, float16 and
 * bfloat16 data.
 *
 * Built like reduce.c: plain C loops in always-inline functions, specialised per
 * (format, dtype) pair and compiled three times (baseline, AVX2+F16C, AVX-512); the
 * variant is chosen once under pthread_once, with reduce.c's CPU checks. q8 and fp8
 * run a chunk of 512 values at a time through a float32 staging buffer (half types
 * widen into it, results narrow out of it, with F16C where there is one). Encoding a
 * chunk is three passes that each vectorise: per block of 32 one integer max reduction
 * of |x| (a second one, for the finite maximum, only in a block holding NaN or Inf);
 * the 16 blocks' scales in one loop across blocks (fp16 rounding, its decode and the
 * reciprocal id = 1 / d: one division per block); then per block one branch-free loop
 * of multiply by id, clamp and round (and, in a flagged block only, select the special
 * codes). A block never depends on another, so a frame can be requantized in place.
 *
 * Every step is float32 arithmetic with default rounding and no contraction, so the
 * variants and the reference (double arithmetic rounded to float32 after each
 * operation, which gives the same bits for one +, *, / of two floats) agree bit for
 * bit.
 */
#include "convert.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reduce.h"
#include "wire.h"

#define WB HALO_WIRE_BLOCK
#define CHUNK 512 /* values staged as float32 per pass: 16 blocks, 2 KiB */

#define F32_INF 0x7f800000u
#define F32_NAN 0x7fc00000u

/* ---- formats: sizes, names ---- */

static size_t wire_blocks(size_t n)
{
    return n / WB + (n % WB != 0);
}

int halo_wire_supported(enum halo_wire w, haloDataType_t t)
{
    switch (w) {
    case HALO_WIRE_BF16: return t == haloFloat32;
    case HALO_WIRE_FP8:
    case HALO_WIRE_Q8: return t == haloFloat32 || t == haloFloat16 || t == haloBfloat16;
    default: return 0;
    }
}

static const char *const wire_names[] = {
    [HALO_WIRE_OFF] = "off", [HALO_WIRE_BF16] = "bf16",
    [HALO_WIRE_FP8] = "fp8", [HALO_WIRE_Q8] = "q8",
};
#define N_WIRE_NAMES (sizeof wire_names / sizeof wire_names[0])

const char *halo_wire_name(enum halo_wire w)
{
    return (unsigned)w < N_WIRE_NAMES ? wire_names[w] : "invalid";
}

int halo_wire_parse(const char *s, enum halo_wire *w)
{
    for (unsigned i = 0; s && i < N_WIRE_NAMES; i++) {
        if (strcmp(s, wire_names[i]) == 0) {
            *w = (enum halo_wire)i;
            return 0;
        }
    }
    return -1;
}

void halo_wire_bound(enum halo_wire w, haloDataType_t t, double *c, double *e, double *u)
{
    *c = w == HALO_WIRE_FP8 ? 0.066 : 0.0045; /* 2^-4 relative (3 mantissa bits); half a step of max/127 or 2^-8 */
    *e = w == HALO_WIRE_BF16 ? 0.0 : 0x1p-17;  /* 128 x 2^-24 */
    *u = t == haloFloat16 ? 0x1p-11 : t == haloBfloat16 ? 0x1p-8 : 0.0;
}

size_t halo_wire_bytes(enum halo_wire w, size_t n)
{
    switch (w) {
    case HALO_WIRE_BF16: return 2 * n;
    case HALO_WIRE_FP8:
    case HALO_WIRE_Q8: return 2 * wire_blocks(n) + n;
    default: return 0;
    }
}

size_t halo_wire_values_fit(enum halo_wire w, size_t cap)
{
    switch (w) {
    case HALO_WIRE_BF16: return cap / 2;
    case HALO_WIRE_FP8:
    case HALO_WIRE_Q8: {
        /* Whole blocks of 2 + 32 bytes, then a partial block if 3 or more bytes are
         * left (its scale and at least one code; at most 31 codes fit in 33). */
        size_t rest = cap % (2 + WB);
        return cap / (2 + WB) * WB + (rest > 2 ? rest - 2 : 0);
    }
    default: return 0;
    }
}

/* ---- q8 / fp8: a chunk's scales and codes (fp8 a constant: one branch compiles away) ---- */

#define CHUNK_BLOCKS (CHUNK / WB)

static ALWAYS_INLINE uint16_t scale_load(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* A chunk's blocks as the loops over their values use them. */
struct chunk_scales {
    float d[CHUNK_BLOCKS];       /* the scale, float32 (0 for a zero scale) */
    float id[CHUNK_BLOCKS];      /* encode only: 1.0f / d, or 0 where d is 0 */
    uint32_t flag[CHUNK_BLOCKS]; /* 1 where the block holds NaN or Inf */
};

static ALWAYS_INLINE float top_of(uint32_t flag, int fp8)
{
    return fp8 ? (flag ? 416.0f : 448.0f) : (flag ? 126.0f : 127.0f);
}

/* Float order of non-negative floats is their bits' integer order, so a block's
 * maximum |x| is an integer max reduction. Over all its values: below F32_INF when
 * the block holds no NaN or Inf, and then also its finite maximum. */
static ALWAYS_INLINE uint32_t block_abs_max(const float *x, size_t m)
{
    uint32_t all = 0;
    for (size_t i = 0; i < m; i++) {
        uint32_t a = f32_bits(x[i]) & 0x7fffffffu;
        all = all > a ? all : a;
    }
    return all;
}

/* The finite maximum of a block that holds NaN or Inf (rare). (A mask, not
 * "a < F32_INF ? a : 0": GCC 12 does not vectorise a select feeding a reduction.) */
static ALWAYS_INLINE uint32_t block_fin_max(const float *x, size_t m)
{
    uint32_t fin = 0;
    for (size_t i = 0; i < m; i++) {
        uint32_t a = f32_bits(x[i]) & 0x7fffffffu;
        uint32_t f = a & (0u - (uint32_t)(a < F32_INF));
        fin = fin > f ? fin : f;
    }
    return fin;
}

/* The scales of the chunk's m values into sc (flag in the sign bit) and q. The
 * blocks' maxima first, then all their scales in one loop across blocks, which
 * vectorises the fp16 rounding, its decode and the reciprocal. */
static ALWAYS_INLINE void chunk_scales_enc(uint8_t *sc, struct chunk_scales *q, const float *x,
                                           size_t m, int fp8)
{
    uint32_t fin[CHUNK_BLOCKS];
    size_t nb = 0;
    for (size_t k = 0; k < m; k += WB, nb++) {
        size_t len = m - k < WB ? m - k : WB;
        uint32_t all = len == WB ? block_abs_max(x + k, WB) : block_abs_max(x + k, len);
        q->flag[nb] = all >= F32_INF;
        fin[nb] = all < F32_INF ? all : block_fin_max(x + k, len);
    }
    FOR_EACH(nb, uint16_t s = f16_enc(bits_f32(fin[i]) / top_of(q->flag[i], fp8));
             s = s > 0x7bff ? 0x7bff : s; /* saturate at 65504 */
             float d = f16_dec(s); q->d[i] = d; q->id[i] = s ? 1.0f / d : 0.0f;
             uint16_t w = (uint16_t)(s | q->flag[i] << 15); sc[2 * i] = (uint8_t)w;
             sc[2 * i + 1] = (uint8_t)(w >> 8))
}

/* y with |y| clamped to top > 0 (y not NaN): an unsigned minimum of the bits, which
 * vectorises to an integer min where float compares and selects (which must keep NaN
 * and signed zeros) become masks and blends. */
static ALWAYS_INLINE float clamp_abs(float y, float top)
{
    uint32_t u = f32_bits(y), a = u & 0x7fffffffu, t = f32_bits(top);
    return bits_f32((a < t ? a : t) | (u & 0x80000000u));
}

/* convert.h's e4m3_enc for y already clamped to |y| <= 448, not NaN: nothing left to
 * saturate or to test for NaN. */
static ALWAYS_INLINE uint8_t e4m3_enc_clamped(float y)
{
    uint32_t u = f32_bits(y);
    uint32_t a = u & 0x7fffffffu;
    uint32_t norm = ((a + 0x7ffff + ((a >> 20) & 1)) >> 20) - (120 << 3);
    uint32_t sub = f32_bits(bits_f32(a) + 0x1p14f) - 0x46800000u; /* ulp 2^-9 */
    return (uint8_t)((a < 0x3c800000u ? sub : norm) | (u >> 24 & 0x80));
}

/* The code of finite x: y = x * id clamped to +-top, then q8 rounds it to an integer
 * (y + 1.5 * 2^23 lands in [2^23, 2^24), where the float32 step is 1, so the addition
 * rounds y to nearest even and the low byte of the sum is the code) and fp8 to e4m3. */
static ALWAYS_INLINE uint8_t code_fin(float x, float id, float top, int fp8)
{
    float y = clamp_abs(x * id, top);
    return fp8 ? e4m3_enc_clamped(y) : (uint8_t)f32_bits(y + 0x1.8p23f);
}

/* The code of any x in a flagged block. */
static ALWAYS_INLINE uint8_t code_flagged(float x, float id, int fp8)
{
    uint32_t u = f32_bits(x);
    uint32_t a = u & 0x7fffffffu;
    uint8_t v = code_fin(a < F32_INF ? x : 0.0f, id, top_of(1, fp8), fp8);
    uint8_t nan = fp8 ? 0x7f : 0x80;
    uint8_t inf = fp8 ? (u >> 31 ? 0xfe : 0x7e) : (u >> 31 ? 0x81 : 0x7f);
    return a > F32_INF ? nan : a == F32_INF ? inf : v;
}

static ALWAYS_INLINE void block_codes(uint8_t *c, const float *x, size_t m, float id,
                                      uint32_t flag, int fp8)
{
    if (flag)
        FOR_EACH(m, c[i] = code_flagged(x[i], id, fp8))
    else
        FOR_EACH(m, c[i] = code_fin(x[i], id, top_of(0, fp8), fp8))
}

/* Two neighbouring blocks, both full and unflagged, run as one loop of 64 values: the
 * AVX-512 variant then works on 64-byte vectors, where a loop of 32 byte codes stops at
 * 32-byte ones. The scale is picked by a constant index, which GCC 12 vectorises only
 * with vector blends (f16c: the AVX2 and AVX-512 variants); the baseline runs the two
 * blocks as two statements of one 32-value loop instead. */
#define PAIR (2 * WB)

static ALWAYS_INLINE void chunk_codes(uint8_t *c, const struct chunk_scales *q, const float *x,
                                      size_t m, int fp8, int f16c)
{
    size_t k = 0;
    for (; k + PAIR <= m; k += PAIR) {
        size_t b = k / WB;
        float id0 = q->id[b], id1 = q->id[b + 1];
        if (q->flag[b] | q->flag[b + 1]) {
            block_codes(c + k, x + k, WB, id0, q->flag[b], fp8);
            block_codes(c + k + WB, x + k + WB, WB, id1, q->flag[b + 1], fp8);
        } else if (f16c) {
            FOR_EACH(PAIR, c[k + i] = code_fin(x[k + i], i < WB ? id0 : id1, top_of(0, fp8), fp8))
        } else {
            FOR_EACH(WB, c[k + i] = code_fin(x[k + i], id0, top_of(0, fp8), fp8);
                     c[k + WB + i] = code_fin(x[k + WB + i], id1, top_of(0, fp8), fp8))
        }
    }
    for (; k < m; k += WB) {
        size_t len = m - k < WB ? m - k : WB;
        block_codes(c + k, x + k, len, q->id[k / WB], q->flag[k / WB], fp8);
    }
}

static ALWAYS_INLINE void chunk_scales_dec(struct chunk_scales *q, const uint8_t *sc, size_t m)
{
    size_t nb = m / WB + (m % WB != 0);
    FOR_EACH(nb, uint16_t s = scale_load(sc + 2 * i); q->d[i] = f16_dec(s & 0x7fff);
             q->flag[i] = s >> 15)
}

static ALWAYS_INLINE float value_of(uint8_t c, float d, int fp8)
{
    if (!fp8)
        return (float)(int8_t)c * d;
    float x = e4m3_dec(c) * d;
    return (c & 0x7f) == 0x7f ? bits_f32(F32_NAN) : x;
}

static ALWAYS_INLINE float value_flagged(uint8_t c, float d, int fp8)
{
    float x = value_of(c, d, fp8);
    float inf = bits_f32(F32_INF);
    x = c == (fp8 ? 0x7e : 0x7f) ? inf : x;
    x = c == (fp8 ? 0xfe : 0x81) ? -inf : x;
    return c == (fp8 ? 0x7f : 0x80) ? bits_f32(F32_NAN) : x;
}

static ALWAYS_INLINE float add_canon(float x, float y)
{
    float r = x + y;
    return r != r ? bits_f32(F32_NAN) : r;
}

/* D(c), or a + D(c) (a canonical NaN) when a is not NULL (a constant NULL or not in
 * every caller, so the test compiles away). */
static ALWAYS_INLINE float value_add(const float *a, size_t i, float v)
{
    return a ? add_canon(a[i], v) : v;
}

static ALWAYS_INLINE void block_values(float *v, const uint8_t *c, const float *a, size_t m,
                                       float d, uint32_t flag, int fp8)
{
    if (flag)
        FOR_EACH(m, v[i] = value_add(a, i, value_flagged(c[i], d, fp8)))
    else
        FOR_EACH(m, v[i] = value_add(a, i, value_of(c[i], d, fp8)))
}

/* v = D(codes c) of the chunk's m values with scales q, plus a[i] when a is not NULL
 * (v may equal a). Blocks paired as in chunk_codes. */
static ALWAYS_INLINE void chunk_values(float *v, const uint8_t *c, const struct chunk_scales *q,
                                       const float *a, size_t m, int fp8, int f16c)
{
    size_t k = 0;
    for (; k + PAIR <= m; k += PAIR) {
        size_t b = k / WB;
        float d0 = q->d[b], d1 = q->d[b + 1];
        const float *a1 = a ? a + k + WB : NULL;
        if (q->flag[b] | q->flag[b + 1]) {
            block_values(v + k, c + k, a ? a + k : NULL, WB, d0, q->flag[b], fp8);
            block_values(v + k + WB, c + k + WB, a1, WB, d1, q->flag[b + 1], fp8);
        } else if (f16c) {
            const float *ak = a ? a + k : NULL;
            FOR_EACH(PAIR, v[k + i] = value_add(ak, i, value_of(c[k + i], i < WB ? d0 : d1, fp8)))
        } else {
            const float *ak = a ? a + k : NULL;
            FOR_EACH(WB, v[k + i] = value_add(ak, i, value_of(c[k + i], d0, fp8));
                     v[k + WB + i] = value_add(a1, i, value_of(c[k + WB + i], d1, fp8)))
        }
    }
    for (; k < m; k += WB) {
        size_t len = m - k < WB ? m - k : WB;
        block_values(v + k, c + k, a ? a + k : NULL, len, q->d[k / WB], q->flag[k / WB], fp8);
    }
}

/* ---- chunks of q8 / fp8: values [s, s + m) of a call of n values (nb blocks) ---- */

static ALWAYS_INLINE void chunk_enc(uint8_t *wire, size_t nb, size_t s, const float *x,
                                    size_t m, struct chunk_scales *q, int fp8, int f16c)
{
    chunk_scales_enc(wire + 2 * (s / WB), q, x, m, fp8);
    chunk_codes(wire + 2 * nb + s, q, x, m, fp8, f16c);
}

/* v = D, or a + D when a is not NULL (chunk_values). */
static ALWAYS_INLINE void chunk_dec(float *v, const uint8_t *wire, size_t nb, size_t s,
                                    const float *a, size_t m, int fp8, int f16c)
{
    struct chunk_scales q;
    chunk_scales_dec(&q, wire + 2 * (s / WB), m);
    chunk_values(v, wire + 2 * nb + s, &q, a, m, fp8, f16c);
}
/* Values [s, s + m) of src as float32: src itself for float32, else widened into buf. */
static ALWAYS_INLINE const float *widen(float *buf, const void *src, size_t s, size_t m,
                                        haloDataType_t t, int f16c)
{
    const uint16_t *h = (const uint16_t *)src + s;
    if (t == haloFloat32)
        return (const float *)src + s;
    if (t == haloFloat16)
        f16_dec_block(buf, h, m, f16c);
    else
        FOR_EACH(m, buf[i] = bf16_dec(h[i]))
    return buf;
}

/* x's m values into dst[s, s + m), rounded to t. */
static ALWAYS_INLINE void narrow(void *dst, size_t s, const float *x, size_t m,
                                 haloDataType_t t, int f16c)
{
    uint16_t *h = (uint16_t *)dst + s;
    if (t == haloFloat32)
        memcpy((float *)dst + s, x, m * sizeof *x);
    else if (t == haloFloat16 && f16c)
        f16c_enc_block(h, x, m);
    else if (t == haloFloat16)
        FOR_EACH(m, h[i] = f16_enc(x[i]))
    else
        FOR_EACH(m, h[i] = bf16_enc(x[i]))
}

#define CHUNKS(n, s, m) \
    for (size_t s = 0, m = (n) < CHUNK ? (n) : CHUNK; s < (n); \
         s += CHUNK, m = (n) - s < CHUNK ? (n) - s : CHUNK)

static ALWAYS_INLINE void q_encode(uint8_t *wire, const void *src, size_t n, haloDataType_t t,
                                   int fp8, int f16c)
{
    size_t nb = wire_blocks(n);
    float buf[CHUNK];
    struct chunk_scales q;
    CHUNKS(n, s, m)
    chunk_enc(wire, nb, s, widen(buf, src, s, m, t, f16c), m, &q, fp8, f16c);
}

static ALWAYS_INLINE void q_decode(void *dst, const uint8_t *wire, size_t n, haloDataType_t t,
                                   int fp8, int f16c)
{
    size_t nb = wire_blocks(n);
    float buf[CHUNK];
    CHUNKS(n, s, m)
    {
        float *v = t == haloFloat32 ? (float *)dst + s : buf;
        chunk_dec(v, wire, nb, s, NULL, m, fp8, f16c);
        if (t != haloFloat32)
            narrow(dst, s, v, m, t, f16c);
    }
}

static ALWAYS_INLINE void q_decode_add(void *dst, const void *a, const uint8_t *wire, size_t n,
                                       haloDataType_t t, int fp8, int f16c)
{
    size_t nb = wire_blocks(n);
    float v[CHUNK], buf[CHUNK];
    CHUNKS(n, s, m)
    {
        const float *x = widen(buf, a, s, m, t, f16c);
        float *o = t == haloFloat32 ? (float *)dst + s : v;
        chunk_dec(o, wire, nb, s, x, m, fp8, f16c);
        if (t != haloFloat32)
            narrow(dst, s, v, m, t, f16c);
    }
}

/* Each chunk of in is decoded before the same chunk of out is written, and src's
 * before dst's: in == out and dst == src are safe. */
static ALWAYS_INLINE void q_reduce_encode(uint8_t *out, void *dst, const uint8_t *in,
                                          const void *src, size_t n, haloDataType_t t,
                                          int divisor, int fp8, int f16c)
{
    size_t nb = wire_blocks(n);
    const float inv = 1.0f / (float)divisor;
    float v[CHUNK], buf[CHUNK];
    struct chunk_scales q;
    CHUNKS(n, s, m)
    {
        chunk_dec(v, in, nb, s, widen(buf, src, s, m, t, f16c), m, fp8, f16c);
        if (divisor > 1)
            FOR_EACH(m, v[i] = v[i] * inv)
        chunk_enc(out, nb, s, v, m, &q, fp8, f16c);
        if (!dst)
            continue;
        float *o = t == haloFloat32 ? (float *)dst + s : v;
        chunk_values(o, out + 2 * nb + s, &q, NULL, m, fp8, f16c);
        if (t != haloFloat32)
            narrow(dst, s, o, m, t, f16c);
    }
}

/* ---- bf16 (float32 data only): one value at a time ---- */

static ALWAYS_INLINE uint16_t bf16_sat(float f)
{
    uint16_t r = bf16_enc(f);
    uint32_t a = f32_bits(f) & 0x7fffffffu;
    return a < F32_INF && (r & 0x7fff) == 0x7f80 ? (uint16_t)((r & 0x8000) | 0x7f7f) : r;
}

static ALWAYS_INLINE float bf16_dec_canon(uint16_t h)
{
    return (h & 0x7fff) > 0x7f80 ? bits_f32(F32_NAN) : bf16_dec(h);
}

static ALWAYS_INLINE void b_encode(uint16_t *wire, const float *src, size_t n)
{
    FOR_EACH(n, wire[i] = bf16_sat(src[i]))
}

static ALWAYS_INLINE void b_decode(float *dst, const uint16_t *wire, size_t n)
{
    FOR_EACH(n, dst[i] = bf16_dec_canon(wire[i]))
}

static ALWAYS_INLINE void b_decode_add(float *dst, const float *a, const uint16_t *wire, size_t n)
{
    FOR_EACH(n, dst[i] = add_canon(a[i], bf16_dec_canon(wire[i])))
}

/* Multiplying by 1 when there is no divisor changes no value that reaches the wire
 * (a NaN's payload does not: it is encoded as the canonical NaN). */
static ALWAYS_INLINE void b_reduce_encode(uint16_t *out, float *dst, const uint16_t *in,
                                          const float *src, size_t n, int divisor)
{
    const float inv = divisor > 1 ? 1.0f / (float)divisor : 1.0f;
    if (dst) {
        FOR_EACH(n, uint16_t o = bf16_sat((bf16_dec(in[i]) + src[i]) * inv); out[i] = o;
                 dst[i] = bf16_dec(o))
    } else {
        FOR_EACH(n, out[i] = bf16_sat((bf16_dec(in[i]) + src[i]) * inv))
    }
}

/* ---- the (format, dtype) switch, inlined into each variant ---- */

/* CALL(T, FP8) for the q8 / fp8 pair (w, t), with T and FP8 constants. */
#define Q_SWITCH(w, t, CALL)                                                            \
    switch ((int)(w) << 8 | (int)(t)) {                                                 \
    case HALO_WIRE_Q8 << 8 | haloFloat32: CALL(haloFloat32, 0); break;                  \
    case HALO_WIRE_Q8 << 8 | haloFloat16: CALL(haloFloat16, 0); break;                  \
    case HALO_WIRE_Q8 << 8 | haloBfloat16: CALL(haloBfloat16, 0); break;                \
    case HALO_WIRE_FP8 << 8 | haloFloat32: CALL(haloFloat32, 1); break;                 \
    case HALO_WIRE_FP8 << 8 | haloFloat16: CALL(haloFloat16, 1); break;                 \
    case HALO_WIRE_FP8 << 8 | haloBfloat16: CALL(haloBfloat16, 1); break;               \
    default: break;                                                                     \
    }

static ALWAYS_INLINE void encode_any(void *wire, const void *src, size_t n, haloDataType_t t,
                                     enum halo_wire w, int f16c)
{
#define CALL(T, FP8) q_encode(wire, src, n, T, FP8, f16c)
    if (w == HALO_WIRE_BF16 && t == haloFloat32)
        b_encode(wire, src, n);
    else
        Q_SWITCH(w, t, CALL)
#undef CALL
}

static ALWAYS_INLINE void decode_any(void *dst, const void *wire, size_t n, haloDataType_t t,
                                     enum halo_wire w, int f16c)
{
#define CALL(T, FP8) q_decode(dst, wire, n, T, FP8, f16c)
    if (w == HALO_WIRE_BF16 && t == haloFloat32)
        b_decode(dst, wire, n);
    else
        Q_SWITCH(w, t, CALL)
#undef CALL
}

static ALWAYS_INLINE void decode_add_any(void *dst, const void *a, const void *wire, size_t n,
                                         haloDataType_t t, enum halo_wire w, int f16c)
{
#define CALL(T, FP8) q_decode_add(dst, a, wire, n, T, FP8, f16c)
    if (w == HALO_WIRE_BF16 && t == haloFloat32)
        b_decode_add(dst, a, wire, n);
    else
        Q_SWITCH(w, t, CALL)
#undef CALL
}

static ALWAYS_INLINE void reduce_encode_any(void *out, void *dst, const void *in,
                                            const void *src, size_t n, haloDataType_t t,
                                            enum halo_wire w, int divisor, int f16c)
{
#define CALL(T, FP8) q_reduce_encode(out, dst, in, src, n, T, divisor, FP8, f16c)
    if (w == HALO_WIRE_BF16 && t == haloFloat32)
        b_reduce_encode(out, dst, in, src, n, divisor);
    else
        Q_SWITCH(w, t, CALL)
#undef CALL
}

/* ---- the three variants and run-time dispatch ---- */

#define TARGET_GENERIC
#define DEFINE_VARIANT(isa, TARGET, f16c)                                               \
    static TARGET void encode_##isa(void *wire, const void *src, size_t n,              \
                                    haloDataType_t t, enum halo_wire w)                 \
    {                                                                                   \
        encode_any(wire, src, n, t, w, f16c);                                           \
    }                                                                                   \
    static TARGET void decode_##isa(void *dst, const void *wire, size_t n,              \
                                    haloDataType_t t, enum halo_wire w)                 \
    {                                                                                   \
        decode_any(dst, wire, n, t, w, f16c);                                           \
    }                                                                                   \
    static TARGET void decode_add_##isa(void *dst, const void *a, const void *wire,     \
                                        size_t n, haloDataType_t t, enum halo_wire w)   \
    {                                                                                   \
        decode_add_any(dst, a, wire, n, t, w, f16c);                                    \
    }                                                                                   \
    static TARGET void reduce_encode_##isa(void *out, void *dst, const void *in,        \
                                           const void *src, size_t n, haloDataType_t t, \
                                           enum halo_wire w, int divisor)               \
    {                                                                                   \
        reduce_encode_any(out, dst, in, src, n, t, w, divisor, f16c);                   \
    }

DEFINE_VARIANT(generic, TARGET_GENERIC, 0)
DEFINE_VARIANT(avx2, TARGET_AVX2, 1)
DEFINE_VARIANT(avx512, TARGET_AVX512, 1)

#define VARIANT(isa) {#isa, encode_##isa, decode_##isa, decode_add_##isa, reduce_encode_##isa}

/* Best first; a variant runs where reduce.c's variant of the same name does. */
static const struct halo_wire_variant variants[] = {VARIANT(avx512), VARIANT(avx2),
                                                    VARIANT(generic)};
#define N_VARIANTS (sizeof variants / sizeof variants[0])

/* Written once under pthread_once, read-only after. */
static pthread_once_t best_once = PTHREAD_ONCE_INIT;
static const struct halo_wire_variant *best;

static void best_pick(void)
{
    for (size_t i = 0; i < N_VARIANTS && !best; i++)
        if (halo_reduce_variant_get(variants[i].isa))
            best = &variants[i];
}

static const struct halo_wire_variant *best_get(void)
{
    pthread_once(&best_once, best_pick);
    return best;
}

const struct halo_wire_variant *halo_wire_variant_get(const char *isa)
{
    for (size_t i = 0; i < N_VARIANTS; i++)
        if (isa && strcmp(isa, variants[i].isa) == 0)
            return halo_reduce_variant_get(isa) ? &variants[i] : NULL;
    return NULL;
}

const char *halo_wire_isa(void)
{
    return best_get()->isa;
}

void halo_wire_encode(void *wire, const void *src, size_t n, haloDataType_t t, enum halo_wire w)
{
    best_get()->encode(wire, src, n, t, w);
}

void halo_wire_decode(void *dst, const void *wire, size_t n, haloDataType_t t, enum halo_wire w)
{
    best_get()->decode(dst, wire, n, t, w);
}

void halo_wire_decode_add(void *dst, const void *a, const void *wire, size_t n,
                          haloDataType_t t, enum halo_wire w)
{
    best_get()->decode_add(dst, a, wire, n, t, w);
}

void halo_wire_reduce_encode(void *out, void *dst, const void *in, const void *src, size_t n,
                             haloDataType_t t, enum halo_wire w, int divisor)
{
    best_get()->reduce_encode(out, dst, in, src, n, t, w, divisor);
}

/* ---- scalar reference (tests only) ----
 * One value at a time, classified with math.h, in double rounded to float32 after each
 * operation, rint for the q8 codes; the scale and codes from the block's definition
 * (wire.h) rather than from the kernels' bit tricks. */

static float ref_load(const void *p, size_t i, haloDataType_t t)
{
    switch (t) {
    case haloFloat16: return halo_f16_to_f32(((const uint16_t *)p)[i]);
    case haloBfloat16: return halo_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

static void ref_store(void *p, size_t i, haloDataType_t t, float v)
{
    switch (t) {
    case haloFloat16: ((uint16_t *)p)[i] = halo_f32_to_f16(v); break;
    case haloBfloat16: ((uint16_t *)p)[i] = halo_f32_to_bf16(v); break;
    default: ((float *)p)[i] = isnan(v) ? NAN : v; break;
    }
}

static uint16_t ref_bf16_sat(float x)
{
    if (isnan(x))
        return 0x7fc0;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    if (isinf(x))
        return sign | 0x7f80;
    uint16_t r = halo_f32_to_bf16(x);
    return (r & 0x7fff) == 0x7f80 ? sign | 0x7f7f : r;
}

/* id is the block's 1 / d rounded to float32, or 0 when d is 0. */
static uint8_t ref_code(float x, double id, double top, int fp8)
{
    if (isnan(x))
        return fp8 ? 0x7f : 0x80;
    if (isinf(x))
        return fp8 ? (x > 0 ? 0x7e : 0xfe) : (x > 0 ? 0x7f : 0x81);
    double y = (float)(x * id);
    if (y > top)
        y = top;
    if (y < -top)
        y = -top;
    return fp8 ? halo_f32_to_e4m3((float)y) : (uint8_t)(int8_t)rint(y);
}

static void ref_q_encode(uint8_t *wire, const float *x, size_t n, int fp8)
{
    size_t nb = wire_blocks(n);
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * WB, hi = lo + WB < n ? lo + WB : n;
        double amax = 0;
        int special = 0;
        for (size_t i = lo; i < hi; i++) {
            if (isfinite(x[i]))
                amax = fmax(amax, fabs(x[i]));
            else
                special = 1;
        }
        double top = fp8 ? (special ? 416 : 448) : (special ? 126 : 127);
        uint16_t s = halo_f32_to_f16((float)(amax / top));
        if (s >= 0x7c00)
            s = 0x7bff;
        double d = halo_f16_to_f32(s);
        double id = d == 0 ? 0 : (float)(1 / d);
        for (size_t i = lo; i < hi; i++)
            wire[2 * nb + i] = ref_code(x[i], id, top, fp8);
        s |= special ? 0x8000 : 0;
        wire[2 * b] = (uint8_t)(s & 0xff);
        wire[2 * b + 1] = (uint8_t)(s >> 8);
    }
}

static float ref_q_value(const uint8_t *wire, size_t n, size_t i, int fp8)
{
    size_t b = i / WB;
    uint16_t s = (uint16_t)(wire[2 * b] + 256 * wire[2 * b + 1]);
    uint8_t c = wire[2 * wire_blocks(n) + i];
    int flagged = s >= 0x8000;
    double d = halo_f16_to_f32(s & 0x7fff);
    if (fp8) {
        if ((c & 0x7f) == 0x7f)
            return NAN;
        if (flagged && (c & 0x7f) == 0x7e)
            return c == 0x7e ? INFINITY : -INFINITY;
        return (float)(halo_e4m3_to_f32(c) * d);
    }
    int q = (int8_t)c;
    if (flagged && q == -128)
        return NAN;
    if (flagged && (q == 127 || q == -127))
        return q > 0 ? INFINITY : -INFINITY;
    return (float)(q * d);
}

/* D(wire) as float32 into x. */
static void ref_decode_f32(float *x, const void *wire, size_t n, enum halo_wire w)
{
    for (size_t i = 0; i < n; i++) {
        if (w == HALO_WIRE_BF16)
            x[i] = halo_bf16_to_f32(((const uint16_t *)wire)[i]);
        else
            x[i] = ref_q_value(wire, n, i, w == HALO_WIRE_FP8);
    }
}

/* Q(x) of float32 values x. */
static void ref_encode_f32(void *wire, const float *x, size_t n, enum halo_wire w)
{
    if (w != HALO_WIRE_BF16) {
        ref_q_encode(wire, x, n, w == HALO_WIRE_FP8);
        return;
    }
    for (size_t i = 0; i < n; i++)
        ((uint16_t *)wire)[i] = ref_bf16_sat(x[i]);
}

void halo_wire_encode_ref(void *wire, const void *src, size_t n, haloDataType_t t,
                          enum halo_wire w)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x || !halo_wire_supported(w, t))
        goto out_free;
    for (size_t i = 0; i < n; i++)
        x[i] = ref_load(src, i, t);
    ref_encode_f32(wire, x, n, w);
out_free:
    free(x);
}

void halo_wire_decode_ref(void *dst, const void *wire, size_t n, haloDataType_t t,
                          enum halo_wire w)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x || !halo_wire_supported(w, t))
        goto out_free;
    ref_decode_f32(x, wire, n, w);
    for (size_t i = 0; i < n; i++)
        ref_store(dst, i, t, x[i]);
out_free:
    free(x);
}

void halo_wire_decode_add_ref(void *dst, const void *a, const void *wire, size_t n,
                              haloDataType_t t, enum halo_wire w)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x || !halo_wire_supported(w, t))
        goto out_free;
    ref_decode_f32(x, wire, n, w);
    for (size_t i = 0; i < n; i++)
        ref_store(dst, i, t, (float)((double)ref_load(a, i, t) + x[i]));
out_free:
    free(x);
}

void halo_wire_reduce_encode_ref(void *out, void *dst, const void *in, const void *src,
                                 size_t n, haloDataType_t t, enum halo_wire w, int divisor)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x || !halo_wire_supported(w, t))
        goto out_free;
    ref_decode_f32(x, in, n, w);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)((double)x[i] + ref_load(src, i, t));
        if (divisor > 1)
            x[i] = (float)(x[i] * (double)(1.0f / (float)divisor));
    }
    ref_encode_f32(out, x, n, w);
    if (!dst)
        goto out_free;
    ref_decode_f32(x, out, n, w);
    for (size_t i = 0; i < n; i++)
        ref_store(dst, i, t, x[i]);
out_free:
    free(x);
}
