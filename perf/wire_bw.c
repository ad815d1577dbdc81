/* SPDX-License-Identifier: MIT */
/*
 * wire_bw.c — single-thread speed of the wire-format kernels (src/kernels/wire.c)
 * beside memcpy and halo_reduce (sum) of the same input on the same machine.
 *
 * For each format x dtype it times encode, decode, decode_add, reduce_encode without
 * and with dst, over SIZE bytes of input (SIZE / dtype size values). GB/s counts the
 * input's bytes in its dtype per second, whatever the kernel reads or writes, so every
 * column compares with memcpy and halo_reduce of SIZE bytes. Each figure is the best
 * of ROUNDS rounds, a round being enough back-to-back calls to fill about 50 ms: on a
 * shared machine the best round is the kernel's speed, the others someone else's load.
 * No communicator: it calls the kernels directly (halo_internal).
 *
 *   wire_bw [-s SIZE] [-r ROUNDS] [-v avx512|avx2|generic]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "param.h"
#include "reduce.h"
#include "wire.h"

enum kernel { K_MEMCPY, K_REDUCE, K_ENCODE, K_DECODE, K_DECODE_ADD, K_RED_ENC, K_RED_ENC_DST };

struct bench {
    const struct halo_wire_variant *v;
    enum halo_wire w;
    haloDataType_t t;
    size_t n;
    void *src, *a, *dst, *wire, *out;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench_call(const struct bench *b, enum kernel k)
{
    size_t bytes = b->n * halo_dtype_size(b->t);
    switch (k) {
    case K_MEMCPY: memcpy(b->dst, b->src, bytes); break;
    case K_REDUCE: halo_reduce(b->dst, b->a, b->src, b->n, b->t, haloSum); break;
    case K_ENCODE: b->v->encode(b->out, b->src, b->n, b->t, b->w); break;
    case K_DECODE: b->v->decode(b->dst, b->wire, b->n, b->t, b->w); break;
    case K_DECODE_ADD: b->v->decode_add(b->dst, b->a, b->wire, b->n, b->t, b->w); break;
    case K_RED_ENC: b->v->reduce_encode(b->out, NULL, b->wire, b->src, b->n, b->t, b->w, 0); break;
    case K_RED_ENC_DST:
        b->v->reduce_encode(b->out, b->dst, b->wire, b->src, b->n, b->t, b->w, 0);
        break;
    }
}

/* GB/s of input bytes: the best of `rounds` rounds of about 50 ms each. */
static double bench_gbps(const struct bench *b, enum kernel k, int rounds)
{
    double bytes = (double)(b->n * halo_dtype_size(b->t));
    double t0 = now_s();
    bench_call(b, k); /* warm-up, and a first estimate of one call */
    double one = now_s() - t0;
    int iters = one > 0 ? (int)(0.05 / one) + 1 : 1000;
    double best = 0;
    for (int r = 0; r < rounds; r++) {
        t0 = now_s();
        for (int i = 0; i < iters; i++)
            bench_call(b, k);
        double gbps = bytes * iters / (now_s() - t0) * 1e-9;
        best = gbps > best ? gbps : best;
    }
    return best;
}

/* Values with a magnitude that changes per block of 32, as gradients' do. */
static void fill(void *p, size_t n, haloDataType_t t, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        float scale = (float)(1u << ((i / 32 * 7 + seed) % 12)) / 1024.0f;
        float v = ((float)(x >> 40) / (float)(1u << 24) - 0.5f) * scale;
        if (t == haloFloat32)
            ((float *)p)[i] = v;
        else if (t == haloFloat16)
            ((uint16_t *)p)[i] = halo_f32_to_f16(v);
        else
            ((uint16_t *)p)[i] = halo_f32_to_bf16(v);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: wire_bw [-s SIZE] [-r ROUNDS] [-v avx512|avx2|generic]\n"
                    "  -s SIZE   bytes of input per call (k/m/g suffixes), default 16m\n"
                    "  -r N      rounds per figure, the best is printed (default 5)\n"
                    "  -v ISA    this variant of the wire kernels instead of the best\n");
}

static int parse_args(int argc, char **argv, int64_t *size, int *rounds, const char **isa)
{
    for (int i = 1; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t r;
        if (!val)
            return -1;
        if (strcmp(argv[i], "-s") == 0 && halo_parse_size(val, 0, size) == 0 && *size >= 64) {
            i++;
        } else if (strcmp(argv[i], "-r") == 0 && halo_parse_int(val, 0, &r) == 0 && r >= 1 &&
                   r <= 1000) {
            *rounds = (int)r;
            i++;
        } else if (strcmp(argv[i], "-v") == 0) {
            *isa = val;
            i++;
        } else {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int64_t size = 16 << 20;
    int rounds = 5;
    const char *isa = NULL;
    if (parse_args(argc, argv, &size, &rounds, &isa) != 0) {
        usage();
        return 2;
    }
    const struct halo_wire_variant *v = halo_wire_variant_get(isa ? isa : halo_wire_isa());
    if (!v) {
        fprintf(stderr, "wire_bw: variant %s is unknown or this CPU cannot run it\n", isa);
        return 2;
    }
    size_t cap = (size_t)size;
    void *src = malloc(cap), *a = malloc(cap), *dst = malloc(cap);
    void *wire = malloc(cap + cap / 16 + 64), *out = malloc(cap + cap / 16 + 64);
    if (!src || !a || !dst || !wire || !out) {
        fprintf(stderr, "wire_bw: cannot allocate 5 buffers of %zu bytes\n", cap);
        return 1;
    }
    memset(dst, 0, cap);
    printf("# wire_bw: %.1f MiB of input per call, one thread; wire kernels %s, halo_reduce %s\n",
           (double)cap / (1 << 20), v->isa, halo_reduce_isa());
    printf("# GB/s = bytes of input (values x dtype size) per second, best of %d rounds; "
           "wire%% = wire bytes / input bytes\n", rounds);
    printf("# red_enc: out = Q(D(in) + src); red_enc_dst: and dst = D(out)\n");
    printf("%-5s %-9s %6s %8s %8s %10s %8s %11s %11s %8s\n", "#wire", "dtype", "wire%", "encode",
           "decode", "decode_add", "red_enc", "red_enc_dst", "halo_reduce", "memcpy");
    static const enum halo_wire formats[] = {HALO_WIRE_BF16, HALO_WIRE_FP8, HALO_WIRE_Q8};
    static const haloDataType_t dtypes[] = {haloFloat32, haloFloat16, haloBfloat16};
    for (size_t f = 0; f < 3; f++) {
        for (size_t d = 0; d < 3; d++) {
            if (!halo_wire_supported(formats[f], dtypes[d]))
                continue;
            struct bench b = {v, formats[f], dtypes[d], cap / halo_dtype_size(dtypes[d]),
                              src, a, dst, wire, out};
            fill(src, b.n, b.t, 1);
            fill(a, b.n, b.t, 2);
            halo_wire_encode(wire, a, b.n, b.t, b.w);
            double g[7];
            for (int k = K_MEMCPY; k <= K_RED_ENC_DST; k++)
                g[k] = bench_gbps(&b, (enum kernel)k, rounds);
            printf("%-5s %-9s %5.1f%% %8.2f %8.2f %10.2f %8.2f %11.2f %11.2f %8.2f\n",
                   halo_wire_name(b.w), halo_dtype_name(b.t),
                   100.0 * (double)halo_wire_bytes(b.w, b.n) / (double)cap, g[K_ENCODE],
                   g[K_DECODE], g[K_DECODE_ADD], g[K_RED_ENC], g[K_RED_ENC_DST], g[K_REDUCE],
                   g[K_MEMCPY]);
            fflush(stdout);
        }
    }
    free(src);
    free(a);
    free(dst);
    free(wire);
    free(out);
    return 0;
}
