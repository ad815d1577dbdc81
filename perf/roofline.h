/* SPDX-License-Identifier: MIT */
/*
 * roofline.h — what this machine's memory permits a collective (--roofline).
 *
 * Before each size, every rank copies (memcpy) and reduces (c = a op b, the
 * library's kernel) buffers of that size with as many threads as the call will use
 * (its channels), all ranks at the same time: the bandwidth the schedule's copies
 * and reductions can have when they all run together. The schedule's memory
 * traffic per byte of the call (struct perf_coll.traffic) turns that into the
 * fastest the call could be, as a bus bandwidth, and each measured busbw is printed
 * as a fraction of it.
 */
#ifndef HALO_PERF_ROOFLINE_H
#define HALO_PERF_ROOFLINE_H

#include <stddef.h>

#include "haloccl.h"

struct perf_roof {
    int threads;        /* copy threads per rank */
    double copy_GBps;   /* per rank: bytes read + written per second by memcpy */
    double reduce_GBps; /* per rank: bytes read + written per second by the reduction kernel */
};

/* Threads a rank's call of `bytes` runs on: HALO_NCHANNELS when set, else the
 * library's auto rule (one per core of this rank's share, at most 8 with every rank
 * on one host, as here, else 4) for calls of
 * at least 1 MiB, one below. */
int perf_roof_threads(size_t bytes, int local_ranks);

/* Every rank calls it at the same time (it synchronises through comm). 0, or -1
 * with a message on stderr. */
int perf_roof_measure(haloComm_t comm, size_t bytes, int threads, haloDataType_t dt, struct perf_roof *out);

#endif
