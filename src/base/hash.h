/* SPDX-License-Identifier: MIT */
/*
 * hash.h — FNV-1a (64-bit), for identities that only need to be equal where their
 * inputs are: a host, a job, a link. Not for anything an attacker chooses.
 */
#ifndef HALO_HASH_H
#define HALO_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HALO_FNV_INIT 0xcbf29ce484222325ull

static inline uint64_t halo_fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Continues h over the string s (without its NUL). */
static inline uint64_t halo_fnv_str(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

#endif
