/* SPDX-License-Identifier: MIT */
/*
 * crc32c.h — CRC-32C (Castagnoli, the iSCSI/ext4 polynomial 0x1EDC6F41, reflected),
 * for HALO_CHECKSUM's frame checks. Uses the CPU's crc32 instruction where it has
 * one (x86-64 SSE4.2, chosen at run time), else an 8-table software loop.
 */
#ifndef HALO_CRC32C_H
#define HALO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over len bytes: crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t halo_crc32c(uint32_t crc, const void *buf, size_t len);
/* "sse4.2" or "software": what halo_crc32c runs on this CPU (for logs). */
const char *halo_crc32c_impl(void);
/* Tests: the software loop alone. */
uint32_t halo_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
