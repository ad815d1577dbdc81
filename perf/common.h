/* SPDX-License-Identifier: MIT */
/*
 * common.h — what the perf/ benchmarks share.
 *
 * A tool (allreduce_bw.c, ...) is a `struct perf_coll`: how to call its collective,
 * the buffer layout for a size, the bus-bandwidth factor, how to fill its inputs and
 * how to check its outputs. perf_main() (common.c) does the rest: options, the local
 * fork (-n N) or a launcher's environment, the size sweep, timing, the check pass,
 * nccl-tests' table or JSON lines, and the --min-busbw / --max-latency gates.
 *
 * The tools use only the public API (haloccl.h).
 */
#ifndef HALO_PERF_COMMON_H
#define HALO_PERF_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"

struct perf_dtype; /* common.c's table entry: value ranges and encodings */

/* One rank's view of the run, handed to the tool's callbacks. */
struct perf_ctx {
    haloComm_t comm;
    int rank;
    int nranks;
    haloDataType_t dtype;
    haloRedOp_t op; /* haloNumOps for collectives without an op */
    int root;       /* -1 for collectives without a root */
    size_t elem;    /* bytes per element */
    void *stream;   /* the GPU stream calls go on (--gpu); NULL in host mode */

    /* Private to common.c. */
    const struct perf_dtype *dt;
    int64_t sum_range;   /* sum/avg inputs lie in [-sum_range, sum_range] */
    const char *variant; /* "out-of-place" / "in-place", for mismatch messages */
    size_t bytes;        /* size of the call being checked, for mismatch messages */
    int reported;        /* mismatches printed in this check pass */
    int aborted;         /* a call failed and the communicator was aborted */
    const char *wire;    /* HALO_WIRE when it applies to this tool's calls, else NULL */
    double wire_tol;     /* then: how far a result may be from the exact one */
};

/* What a collective's schedule (the ring's) moves on the busiest rank, per byte of
 * the call's larger buffer, for --roofline. Two ceilings: `mem`, the bytes that
 * must cross memory (read the input, write the output), at the memcpy rate of
 * buffers of the call's size; and the core's own work at the rates of buffers the
 * size of the FIFOs, which stay in cache: `copy` bytes read plus written by
 * memcpy (into and out of slots), `reduce` bytes read plus written by the
 * reduction kernel. The call can be no faster than the slower of the two. */
struct perf_traffic {
    double mem, copy, reduce;
};

/* Buffer layout of one call, in elements. */
struct perf_layout {
    size_t count;        /* the count argument of the call; 0 = skip this size */
    size_t send_elems;   /* elements the call reads from sendbuff */
    size_t recv_elems;   /* elements it writes to recvbuff */
    size_t send_inplace; /* in place: sendbuff = buf + send_inplace */
    size_t recv_inplace; /* in place: recvbuff = buf + recv_inplace */
};

struct perf_coll {
    const char *name; /* tool name: "allreduce_bw" */
    const char *call; /* API call, for error messages: "haloAllReduce" */
    int uses_op;
    int uses_root;
    int inplace_checked; /* 0: in place is timed but its output is not defined (sendrecv) */
    /* busbw = algbw * busbw_factor(nranks), as nccl-tests defines it. */
    double (*busbw_factor)(int nranks);
    /* Layout for a sweep size of `elems` elements (size / element size). */
    void (*layout)(const struct perf_ctx *c, size_t elems, struct perf_layout *l);
    /* One call of the collective. */
    haloResult_t (*run)(const struct perf_ctx *c, const void *send, void *recv, size_t count);
    /* Writes this rank's inputs into send (check pass only). */
    void (*fill)(struct perf_ctx *c, void *send, const struct perf_layout *l);
    /* Number of wrong elements in this rank's output. */
    size_t (*check)(struct perf_ctx *c, const void *recv, const struct perf_layout *l);
    /* --roofline: the busiest rank's traffic per byte of the call's larger buffer;
     * NULL = no roofline for this tool (see struct perf_traffic). */
    void (*traffic)(int nranks, struct perf_traffic *t);
};

/* Parses options, runs the sweep, returns the process exit status:
 * 0 ok, 1 wrong results or a failure, 2 bad options, 3 a gate failed. */
int perf_main(int argc, char **argv, const struct perf_coll *coll);

/* Input element i of `rank`: differs per rank and per element, chosen (per dtype,
 * op and nranks) so that every partial result of the reduction is exact. */
double perf_input(const struct perf_ctx *c, int rank, size_t i);

/* buf[k] = perf_input(c, c->rank, k) for k < n, in the dtype. */
void perf_fill_input(const struct perf_ctx *c, void *buf, size_t n);

/* Wrong elements among buf[out + k] == perf_input(c, src_rank, src + k), k < n. */
size_t perf_check_copy(struct perf_ctx *c, const void *buf, size_t out, size_t n, int src_rank, size_t src);

/* Wrong elements among buf[out + k] == (op over ranks of perf_input(c, r, src + k)),
 * k < n; avg of floats within two units in the last place. */
size_t perf_check_reduced(struct perf_ctx *c, const void *buf, size_t out, size_t n, size_t src);

#endif
