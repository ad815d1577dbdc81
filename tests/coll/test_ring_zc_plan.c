/* SPDX-License-Identifier: MIT */
/*
 * test_ring_zc_plan.c — the arithmetic of the zero-copy ring schedules
 * (ring_zc.h) without ib: two windows of grants fit the transport's grant ring
 * for every collective and rank count the schedules accept; slices cover a
 * block without an empty one or one over the slice size; windows cover the
 * slices in order; the landing places of the windows alive at once never
 * overlap.
 */
#define HALO_IB_INTERNAL
#include <stdlib.h>

#include "ib.h"
#include "ring_zc.h"
#include "test.h"

static const enum halo_coll zc_colls[] = {HALO_COLL_ALLREDUCE, HALO_COLL_ALLGATHER, HALO_COLL_BROADCAST,
                                          HALO_COLL_REDUCESCATTER, HALO_COLL_REDUCE};

/* Two windows of grants stay below the grant ring; the window only shrinks as
 * the grants per slice grow, and is at least one slice. */
static void test_windows(void)
{
    ASSERT_TRUE(RING_ZC_GRANTS < IB_ZC_RING);
    ASSERT_TRUE(RING_ZC_SLICE <= IB_ZC_MAX);
    for (size_t c = 0; c < sizeof(zc_colls) / sizeof(zc_colls[0]); c++)
        for (int n = 2; n <= 64; n++) {
            size_t per = ring_zc_grants_per_slice(zc_colls[c], n);
            ASSERT_TRUE(per >= 1);
            if (2 * per > RING_ZC_GRANTS)
                continue; /* ring_zc_usable refuses this rank count */
            size_t w = ring_zc_window_size(per);
            ASSERT_TRUE(w >= 1 && w <= RING_ZC_MAX_WINDOW);
            ASSERT_TRUE(2 * w * per <= RING_ZC_GRANTS);
            ASSERT_TRUE(w == RING_ZC_MAX_WINDOW || 2 * (w + 1) * per > RING_ZC_GRANTS); /* the largest that fits */
        }
    ASSERT_EQ(ring_zc_grants_per_slice(HALO_COLL_ALLREDUCE, 16), 30);
    ASSERT_EQ(ring_zc_grants_per_slice(HALO_COLL_ALLGATHER, 5), 4);
    ASSERT_EQ(ring_zc_grants_per_slice(HALO_COLL_REDUCE, 4), 1);
    ASSERT_EQ(ring_zc_grants_per_slice(HALO_COLL_SEND, 4), 0); /* p2p goes zero-copy its own way */
}

/* Slices: enough that none exceeds RING_ZC_SLICE, never more than elements. */
static void test_slices(void)
{
    static const size_t sizes[] = {1, 2, 3, 7, 1000, 65536, 65537, 262144, 262145, 1u << 20, 5000011};
    static const size_t esizes[] = {1, 2, 4, 8};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (size_t e = 0; e < sizeof(esizes) / sizeof(esizes[0]); e++) {
            size_t bmax = sizes[i], bmin = bmax > 1 ? bmax - 1 : bmax, es = esizes[e];
            size_t n = ring_zc_slices(bmin, bmax, es);
            ASSERT_TRUE(n >= 1 && n <= bmin);
            ASSERT_TRUE((bmax + n - 1) / n * es <= RING_ZC_SLICE || n == bmin); /* the longest slice fits */
            ASSERT_TRUE(n == 1 || (bmax + n - 2) / (n - 1) * es > RING_ZC_SLICE); /* no more slices than needed */
        }
}

/* Windows tile [0, nslices) in order, each at most `window` slices. */
static void test_window_cover(void)
{
    for (size_t window = 1; window <= RING_ZC_MAX_WINDOW; window++)
        for (size_t ns = 1; ns <= 40; ns++) {
            size_t nwin = (ns + window - 1) / window, next = 0;
            for (size_t w = 0; w < nwin; w++) {
                size_t s0, s1;
                ring_zc_window_of(window, ns, w, &s0, &s1);
                ASSERT_EQ(s0, next);
                ASSERT_TRUE(s1 > s0 && s1 - s0 <= window && s1 <= ns);
                next = s1;
            }
            ASSERT_EQ(next, ns);
        }
}

/* The places of `kept` windows in a row (every step, every slice) are distinct
 * and inside the area of kept * window * steps places. */
static void test_places(void)
{
    for (size_t kept = 2; kept <= 3; kept++)
        for (size_t window = 1; window <= RING_ZC_MAX_WINDOW; window++)
            for (size_t steps = 1; steps <= 6; steps++) {
                size_t area = kept * window * steps;
                unsigned char *seen = malloc(area);
                ASSERT_TRUE(seen != NULL);
                for (size_t first = 0; first < 5; first++) { /* windows first .. first + kept - 1 */
                    for (size_t i = 0; i < area; i++)
                        seen[i] = 0;
                    for (size_t s = first * window; s < (first + kept) * window; s++)
                        for (size_t j = 1; j <= steps; j++) {
                            size_t at = ring_zc_place(window, kept, steps, s, j);
                            ASSERT_TRUE(at < area);
                            ASSERT_EQ(seen[at], 0);
                            seen[at] = 1;
                        }
                }
                free(seen);
            }
}

int main(void)
{
    test_windows();
    test_slices();
    test_window_cover();
    test_places();
    return 0;
}
