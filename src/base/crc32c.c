/* SPDX-License-Identifier: MIT */
/*
 * crc32c.c — CRC-32C. The hardware loop runs three independent streams over the
 * three thirds of each large block (the crc32 instruction has a latency of three
 * cycles and a throughput of one) and joins them by shifting the first two over the
 * bytes after them (multiplication by x^(8n) mod P, from a table of x^(2^k)).
 * Small inputs and tails go eight bytes at a time, one stream.
 */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#define CRC32C_POLY 0x82F63B78u /* reflected 0x1EDC6F41 */

static uint32_t crc_table[8][256];
static uint32_t x2n_table[32]; /* x^(2^k) mod P, reflected */
#define CRC_HW_THIRD 2728u      /* bytes per stream per block of the hardware loop (x 8) */
static uint32_t crc_shift_third; /* x^(8 * CRC_HW_THIRD) mod P */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

/* a * b mod P, both reflected. */
static uint32_t crc_mulmod(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;

    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
    }
    return p;
}

/* x^(8 n) mod P: what a crc is multiplied by when n zero bytes follow it. */
static uint32_t crc_x8n(size_t n)
{
    uint32_t p = 1u << 31; /* x^0 */
    for (int k = 3; n; n >>= 1, k++)
        if (n & 1)
            p = crc_mulmod(x2n_table[k & 31], p);
    return p;
}

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    uint32_t p = 1u << 30; /* x^1 */
    for (int k = 0; k < 32; k++) {
        x2n_table[k] = p;
        p = crc_mulmod(p, p);
    }
    crc_shift_third = crc_x8n(CRC_HW_THIRD);
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* The raw register update (no pre/post inversion). */
static uint32_t crc_sw_raw(uint32_t c, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^ crc_table[5][(w >> 16) & 0xff] ^
            crc_table[4][(w >> 24) & 0xff] ^ crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
            crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc_hw_one(uint32_t c, const uint8_t *p, size_t len)
{
    uint64_t c64 = c;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
    }
    c = (uint32_t)c64;
    for (; len; p++, len--)
        c = _mm_crc32_u8(c, *p);
    return c;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw_raw(uint32_t c, const uint8_t *p, size_t len)
{
    const size_t third = CRC_HW_THIRD;

    while (len >= 3 * third) {
        uint64_t a = c, b = 0, d = 0;
        for (size_t i = 0; i < third; i += 8) {
            uint64_t wa, wb, wd;
            memcpy(&wa, p + i, 8);
            memcpy(&wb, p + third + i, 8);
            memcpy(&wd, p + 2 * third + i, 8);
            a = _mm_crc32_u64(a, wa);
            b = _mm_crc32_u64(b, wb);
            d = _mm_crc32_u64(d, wd);
        }
        /* a covered the first third: shift it over the second, add b, shift over the third, add d */
        c = crc_mulmod(crc_mulmod((uint32_t)a, crc_shift_third) ^ (uint32_t)b, crc_shift_third) ^ (uint32_t)d;
        p += 3 * third;
        len -= 3 * third;
    }
    return crc_hw_one(c, p, len);
}
#endif

uint32_t halo_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_sw_raw(~crc, buf, len);
}

uint32_t halo_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc_hw_raw(~crc, buf, len);
#endif
    return ~crc_sw_raw(~crc, buf, len);
}

const char *halo_crc32c_impl(void)
{
    pthread_once(&crc_once, crc_init);
    return crc_hw ? "sse4.2" : "software";
}
