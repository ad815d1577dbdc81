/* SPDX-License-Identifier: MIT */
/*
 * ring_zc.h — what the zero-copy ring schedules share (ring_zc.c: all-reduce;
 * ring_zc_coll.c: all-gather, broadcast, reduce-scatter): the arithmetic of
 * slices, windows and landing places. Pure functions; tests/coll/test_ring_zc_plan.c
 * checks them without ib.
 *
 * A schedule grants its left neighbour a destination for every message it will
 * receive, a window of slices at a time, and the next window's grants go out
 * when a window starts: two windows of grants may be outstanding, and they must
 * fit the transport's grant ring (IB_ZC_RING = 64 per connection).
 */
#ifndef HALO_RING_ZC_H
#define HALO_RING_ZC_H

#include <stddef.h>

#include "engine.h"

#define RING_ZC_SLICE (256u << 10) /* bytes of a slice at most */
#define RING_ZC_MAX_WINDOW 8       /* slices per window at most */
#define RING_ZC_GRANTS 62          /* outstanding grants at most, below IB_ZC_RING */

/* Messages the left neighbour sends this rank per slice under collective coll
 * on n ranks (the grants a slice takes); 0 where the collective has no
 * zero-copy schedule. */
size_t ring_zc_grants_per_slice(enum halo_coll coll, int n);
/* Slices per window for per_slice grants per slice: two windows fit
 * RING_ZC_GRANTS; 1 .. RING_ZC_MAX_WINDOW. */
size_t ring_zc_window_size(size_t per_slice);
/* Slices per block of bmax elements (bmin the shortest) of es bytes: none over
 * RING_ZC_SLICE bytes where the elements allow it, and never an empty one. */
size_t ring_zc_slices(size_t bmin, size_t bmax, size_t es);
/* Slices [*s0, *s1) of window w, windows of `window` slices over nslices. */
void ring_zc_window_of(size_t window, size_t nslices, size_t w, size_t *s0, size_t *s1);
/* Index of the landing place of step j (1 .. steps) of slice s when `kept`
 * windows of places are kept and reused in turn: the places of kept windows in
 * a row are all different. */
size_t ring_zc_place(size_t window, size_t kept, size_t steps, size_t s, size_t j);

#endif
