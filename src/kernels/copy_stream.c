/* SPDX-License-Identifier: MIT */
/*
 * copy_stream.c — copies whose destination bypasses the caches.
 *
 * A plain store to a line that is not cached first reads the line from memory
 * (read-for-ownership), so writing a result the size of memory costs a read and a
 * write. Non-temporal stores write whole lines without that read. The engine uses
 * them for results it writes into the caller's buffer when the call's buffers do
 * not fit the last-level cache: an out-of-place all-reduce then moves as many bytes
 * through memory as an in-place one (whose output lines were just read as input).
 *
 * x86-64 has them in its baseline (SSE2); elsewhere this is memcpy. The stores are
 * fenced before returning, so they are ordered before whatever the caller publishes
 * next (posting a frame, ending a call).
 */
#include "reduce.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <emmintrin.h>

/* The streaming copy without its closing fence: callers that stream several
 * pieces fence once. */
static void copy_stream_unfenced(void *dst, const void *src, size_t bytes)
{
    char *d = dst;
    const char *s = src;
    size_t head = (16 - ((uintptr_t)d & 15)) & 15;
    if (bytes < 256 || head >= bytes) {
        memcpy(d, s, bytes);
        return;
    }
    memcpy(d, s, head);
    d += head, s += head, bytes -= head;
    size_t i = 0;
    for (; i + 64 <= bytes; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
        __m128i e = _mm_loadu_si128((const __m128i *)(s + i + 48));
        _mm_stream_si128((__m128i *)(d + i), a);
        _mm_stream_si128((__m128i *)(d + i + 16), b);
        _mm_stream_si128((__m128i *)(d + i + 32), c);
        _mm_stream_si128((__m128i *)(d + i + 48), e);
    }
    memcpy(d + i, s + i, bytes - i);
}

static void copy_stream_fence(void)
{
    _mm_sfence();
}

void halo_copy_stream(void *dst, const void *src, size_t bytes)
{
    copy_stream_unfenced(dst, src, bytes);
    copy_stream_fence();
}

int halo_copy_stream_native(void)
{
    return 1;
}
#else
static void copy_stream_unfenced(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
}

static void copy_stream_fence(void)
{
}

void halo_copy_stream(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
}

int halo_copy_stream_native(void)
{
    return 0;
}
#endif

#define STREAM_BLOCK 8192 /* bytes reduced at a time: stays in L1 until copied out */

/* dst = a op b (divided by div when div > 1) a block at a time: each block is
 * reduced into a buffer on the stack, streamed into dst and, when out is set,
 * copied into out from L1. One fence at the end. */
static void reduce_blocks_stream(void *out, void *dst, const void *a, const void *b, size_t n, haloDataType_t t,
                                 haloRedOp_t op, int div)
{
    size_t es = halo_dtype_size(t);
    if (es == 0)
        return;
    _Alignas(64) char block[STREAM_BLOCK];
    size_t per = sizeof(block) / es;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per, off = i * es;
        halo_reduce(block, (const char *)a + off, (const char *)b + off, m, t, op);
        if (div > 1)
            halo_scale_div(block, block, m, t, div);
        copy_stream_unfenced((char *)dst + off, block, m * es);
        if (out)
            memcpy((char *)out + off, block, m * es);
    }
    copy_stream_fence();
}

void halo_reduce_stream(void *dst, const void *a, const void *b, size_t n, haloDataType_t t, haloRedOp_t op,
                        int div)
{
    if (halo_copy_stream_native()) {
        reduce_blocks_stream(NULL, dst, a, b, n, t, op, div);
        return;
    }
    halo_reduce(dst, a, b, n, t, op);
    if (div > 1)
        halo_scale_div(dst, dst, n, t, div);
}

/* For a ring's step that sends the reduced slice on and keeps it: reducing
 * straight into the slot and streaming the slot out afterwards was slower (the
 * 2-core AMD VM, 2 ranks out of place with streaming forced: 4 and 16 MiB 6.9 and
 * 5.7-6.5 GB/s, now 8.7-8.9 and 7.1-8.4; the 16-core Intel host the same within
 * its noise). The slot's lines are held by the core that read the previous frame
 * there; a store of a reduction fetches each of them first, where memcpy of a
 * whole block (rep movsb at this size) need not. */
void halo_reduce_copy_stream(void *out, void *dst, const void *a, const void *b, size_t n, haloDataType_t t,
                             haloRedOp_t op, int div)
{
    reduce_blocks_stream(out, dst, a, b, n, t, op, div);
}
