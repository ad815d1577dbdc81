/* SPDX-License-Identifier: MIT */
/*
 * cold.h — the benchmarks' --cold SIZE mode: calls timed one at a time, as a model's
 * layers make them, with a working set touched between them.
 *
 * Between two timed calls every rank reads and writes SIZE bytes of its own (a
 * model's weights and activations would), which evicts the caches and TLB entries
 * the previous call left behind. Only the call is timed. After the loop the ranks
 * all-gather when they entered each call, and a call's time is taken from the last
 * rank's entry to this rank's exit: the time a rank waits for a peer still busy
 * touching is not the collective's (forked ranks meet before each call, below, so
 * they enter together). tp_transformer reports its decode all-reduces the same way
 * ("after the last rank arrived"). --cold 0 times the calls the same
 * way without touching anything: the like-for-like hot number.
 */
#ifndef HALO_PERF_COLD_H
#define HALO_PERF_COLD_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"

#define PERF_COLD_OFF SIZE_MAX /* no --cold: the plain back-to-back loop */

/* Where ranks forked on one host (-n N) meet after each touch, in shared memory of
 * their own, outside the library: they then enter each call together, as the
 * ranks of a model's decode step do after computing the same layer. Without it a
 * rank whose touch ended milliseconds earlier would have gone to sleep in the
 * library's wait (after HALO_WAIT_SPIN_US), and the call would time its wake-up.
 * Ranks started by a launcher do not meet: they enter as their touches end. */
struct perf_cold_meet;

/* Before forking; NULL when the shared page cannot be mapped. */
struct perf_cold_meet *perf_cold_meet_create(void);
/* Blocks until all nranks ranks arrived; 0, or -1 when a rank has not come for a
 * minute (it died or hangs). Spins, yielding now and then. */
int perf_cold_meet(struct perf_cold_meet *m, int nranks);

struct perf_cold;

/* Working set of `bytes` (0: none) and room for `iters` calls; NULL when out of
 * memory. The working set is written once here, so its pages exist before timing. */
struct perf_cold *perf_cold_create(size_t bytes, int iters);
void perf_cold_destroy(struct perf_cold *cd);

/* Untimed, before call i: reads and writes every cache line of the working set. */
void perf_cold_touch(struct perf_cold *cd);
/* Around call i: its entry and exit, CLOCK_MONOTONIC in microseconds. */
void perf_cold_enter(struct perf_cold *cd, int i);
void perf_cold_leave(struct perf_cold *cd, int i);

/* Collective, after `iters` calls: the mean and median time per call from the last
 * rank's entry to this rank's exit, each the maximum over ranks. When the ranks do
 * not share one clock (other hosts) the times run from this rank's own entry, and
 * *from_last is 0. */
haloResult_t perf_cold_result(struct perf_cold *cd, haloComm_t comm, int iters, double *mean_us, double *median_us,
                              int *from_last);

#endif
