/* SPDX-License-Identifier: MIT */
/*
 * test.h — the one assertion header of the test suite.
 *
 * ASSERT_* print both sides and the location, then exit(1). SKIP(reason) exits 77,
 * which ctest reports as skipped (SKIP_RETURN_CODE 77 is set for every test).
 */
#ifndef HALO_TEST_H
#define HALO_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_FAIL(...)                                                                  \
    do {                                                                                \
        fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                           \
        fprintf(stderr, __VA_ARGS__);                                                   \
        fprintf(stderr, "\n");                                                          \
        exit(1);                                                                        \
    } while (0)

#define ASSERT_TRUE(c)                                                                  \
    do {                                                                                \
        if (!(c))                                                                       \
            TEST_FAIL("expected true: %s", #c);                                         \
    } while (0)

#define ASSERT_EQ(a, b)                                                                 \
    do {                                                                                \
        long long _a = (long long)(a), _b = (long long)(b);                             \
        if (_a != _b)                                                                   \
            TEST_FAIL("%s == %s: %lld != %lld", #a, #b, _a, _b);                        \
    } while (0)

#define ASSERT_NE(a, b)                                                                 \
    do {                                                                                \
        long long _a = (long long)(a), _b = (long long)(b);                             \
        if (_a == _b)                                                                   \
            TEST_FAIL("%s != %s: both %lld", #a, #b, _a);                               \
    } while (0)

#define ASSERT_STREQ(a, b)                                                              \
    do {                                                                                \
        const char *_a = (a), *_b = (b);                                                \
        if (strcmp(_a, _b) != 0)                                                        \
            TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, _a, _b);                    \
    } while (0)

/* Substring check, for error messages. */
#define ASSERT_CONTAINS(hay, needle)                                                    \
    do {                                                                                \
        const char *_h = (hay), *_n = (needle);                                         \
        if (!_h || !strstr(_h, _n))                                                     \
            TEST_FAIL("\"%s\" does not contain \"%s\"", _h ? _h : "(null)", _n);       \
    } while (0)

#define ASSERT_OK(expr)                                                                 \
    do {                                                                                \
        int _r = (int)(expr);                                                           \
        if (_r != 0)                                                                    \
            TEST_FAIL("%s returned %d", #expr, _r);                                     \
    } while (0)

#define SKIP(...)                                                                       \
    do {                                                                                \
        printf("SKIP: ");                                                               \
        printf(__VA_ARGS__);                                                            \
        printf("\n");                                                                   \
        exit(77);                                                                       \
    } while (0)

#endif
