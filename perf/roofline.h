/* SPDX-License-Identifier: MIT */
/*
 * roofline.h — what this machine's memory permits a collective (--roofline).
 *
 * Before each size, every rank copies (memcpy) buffers of that size, and copies
 * and reduces (c = a op b, the library's kernel) buffers the size of the FIFOs,
 * with as many threads as the call will use (its channels), all ranks at the same
 * time: the bandwidth memory gives the call's buffers, and the rate of the core's
 * own copies and reductions through the slots, which stay in cache. The schedule's
 * traffic per byte of the call (struct perf_traffic) turns the slower of the two
 * into the fastest the call could be, as a bus bandwidth, and each measured busbw
 * is printed as a fraction of it.
 */
#ifndef HALO_PERF_ROOFLINE_H
#define HALO_PERF_ROOFLINE_H

#include <stddef.h>

#include "haloccl.h"

struct perf_roof {
    int threads;        /* copy threads per rank */
    double copy_GBps;   /* per rank: bytes read + written per second by memcpy, buffers of the call's size */
    double fifo_GBps;   /* the same on buffers the size of the FIFOs (in cache) */
    double reduce_GBps; /* per rank: bytes read + written per second by the reduction kernel, FIFO-sized */
};

/* The buffer size per thread that stands for the FIFOs a channel cycles through. */
#define PERF_ROOF_FIFO_BYTES (512u << 10)

/* Threads a rank's call of `bytes` runs on: HALO_NCHANNELS when set, else the
 * library's auto rule (one per core of this rank's share, at most 8 with every rank
 * on one host, as here, else 4) for calls of
 * at least 1 MiB, one below. */
int perf_roof_threads(size_t bytes, int local_ranks);

/* Every rank calls it at the same time (it synchronises through comm). 0, or -1
 * with a message on stderr. */
int perf_roof_measure(haloComm_t comm, size_t bytes, int threads, haloDataType_t dt, struct perf_roof *out);

#endif
