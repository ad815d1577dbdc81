/* SPDX-License-Identifier: MIT */
/*
 * size_arg.h — the size arguments of the baseline benchmarks (C and C++), as the
 * library's own tools read them: "64", "4k", "64m", "1g" (powers of 1024); the
 * whole string must be consumed. The baselines link only their own library, so
 * this stands apart from haloccl's parser.
 */
#ifndef HALO_BASELINE_SIZE_ARG_H
#define HALO_BASELINE_SIZE_ARG_H

#include <stddef.h>
#include <stdlib.h>

/* 0 and *out set, or -1 for a malformed size. */
static inline int baseline_parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    size_t mult = 1;

    if (end == s)
        return -1;
    if (*end == 'k' || *end == 'K')
        mult = (size_t)1 << 10;
    else if (*end == 'm' || *end == 'M')
        mult = (size_t)1 << 20;
    else if (*end == 'g' || *end == 'G')
        mult = (size_t)1 << 30;
    if (mult != 1)
        end++;
    if (*end != '\0')
        return -1;
    *out = (size_t)v * mult;
    return 0;
}

#endif
