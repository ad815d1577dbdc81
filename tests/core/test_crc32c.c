/* SPDX-License-Identifier: MIT */
/*
 * test_crc32c.c — HALO_CHECKSUM's CRC-32C: the published check values (the
 * "123456789" check and RFC 3720's 32-byte vectors), the dispatched loop (the
 * crc32 instruction where the CPU has it, three streams for large inputs) equal to
 * the software loop at every length and alignment around its block edges, chaining
 * equal to one pass, and a single flipped bit anywhere always changing the result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "test.h"

static void test_vectors(void)
{
    uint8_t b[32];

    ASSERT_EQ(halo_crc32c(0, "123456789", 9), 0xE3069283u);
    ASSERT_EQ(halo_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    memset(b, 0, sizeof(b));
    ASSERT_EQ(halo_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xff, sizeof(b));
    ASSERT_EQ(halo_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    ASSERT_EQ(halo_crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    ASSERT_EQ(halo_crc32c(0, b, 32), 0x113FDB5Cu);
    ASSERT_EQ(halo_crc32c(0, b, 0), 0u);
    printf("ok 1 - check values (%s)\n", halo_crc32c_impl());
}

static void test_lengths(void)
{
    size_t n = 3u << 20;
    uint8_t *buf = malloc(n + 16);
    ASSERT_TRUE(buf != NULL);
    for (size_t i = 0; i < n + 16; i++)
        buf[i] = (uint8_t)(i * 131 + (i >> 9) * 7 + 3);
    /* every length up to 3 blocks of the three-stream loop and around its edges */
    for (size_t len = 0; len < 3 * 8192 + 64; len += len < 300 ? 1 : 97)
        for (size_t off = 0; off < 8; off += 3)
            if (halo_crc32c(0, buf + off, len) != halo_crc32c_sw(0, buf + off, len))
                TEST_FAIL("length %zu offset %zu: the dispatched loop differs from the software one", len, off);
    ASSERT_EQ(halo_crc32c(0, buf + 5, n), halo_crc32c_sw(0, buf + 5, n));
    uint32_t whole = halo_crc32c(0, buf, n);
    for (size_t cut = 1; cut < n; cut = cut * 3 + 7)
        ASSERT_EQ(halo_crc32c(halo_crc32c(0, buf, cut), buf + cut, n - cut), whole);
    printf("ok 2 - equal to the software loop at every length and alignment; chaining equals one pass\n");
    free(buf);
}

static void test_bit_flips(void)
{
    uint8_t buf[4096];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 17 + 1);
    uint32_t good = halo_crc32c(0, buf, sizeof(buf));
    for (size_t bit = 0; bit < sizeof(buf) * 8; bit += 13) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (halo_crc32c(0, buf, sizeof(buf)) == good)
            TEST_FAIL("flipping bit %zu left the CRC unchanged", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    printf("ok 3 - a flipped bit always changes the CRC\n");
}

int main(void)
{
    test_vectors();
    test_lengths();
    test_bit_flips();
    return 0;
}
