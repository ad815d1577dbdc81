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
 * touching is not the collective's. tp_transformer reports its decode all-reduces
 * the same way ("after the last rank arrived"). --cold 0 times the calls the same
 * way without touching anything: the like-for-like hot number.
 */
#ifndef HALO_PERF_COLD_H
#define HALO_PERF_COLD_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"

#define PERF_COLD_OFF SIZE_MAX /* no --cold: the plain back-to-back loop */

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
