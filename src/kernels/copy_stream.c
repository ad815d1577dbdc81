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

void halo_copy_stream(void *dst, const void *src, size_t bytes)
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
    _mm_sfence();
    memcpy(d + i, s + i, bytes - i);
}

int halo_copy_stream_native(void)
{
    return 1;
}
#else
void halo_copy_stream(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
}

int halo_copy_stream_native(void)
{
    return 0;
}
#endif

/* dst = a op b written with streaming stores: reduced a cache-resident block at a
 * time, then streamed out. */
void halo_reduce_stream(void *dst, const void *a, const void *b, size_t n, haloDataType_t t, haloRedOp_t op)
{
    size_t es = halo_dtype_size(t);
    if (!halo_copy_stream_native() || es == 0) {
        halo_reduce(dst, a, b, n, t, op);
        return;
    }
    _Alignas(64) char block[8192];
    size_t per = sizeof(block) / es;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        halo_reduce(block, (const char *)a + i * es, (const char *)b + i * es, m, t, op);
        halo_copy_stream((char *)dst + i * es, block, m * es);
    }
}
