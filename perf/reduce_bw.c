/* SPDX-License-Identifier: MIT */
/*
 * reduce_bw.c — bandwidth and latency of haloReduce to -r ROOT, like nccl-tests'
 * reduce_perf. Only the root's output is defined and checked. busbw = algbw.
 */
#include "common.h"

static double reduce_busbw(int n)
{
    return 1.0;
}

static void reduce_layout(const struct perf_ctx *c, size_t elems, struct perf_layout *l)
{
    *l = (struct perf_layout){.count = elems, .send_elems = elems, .recv_elems = elems};
}

static haloResult_t reduce_run(const struct perf_ctx *c, const void *send, void *recv, size_t count)
{
    return haloReduce(send, recv, count, c->dtype, c->op, c->root, c->comm, c->stream);
}

static void reduce_fill(struct perf_ctx *c, void *send, const struct perf_layout *l)
{
    perf_fill_input(c, send, l->count);
}

static size_t reduce_check(struct perf_ctx *c, const void *recv, const struct perf_layout *l)
{
    return c->rank == c->root ? perf_check_reduced(c, recv, 0, l->count, 0) : 0;
}

static const struct perf_coll reduce = {
    .name = "reduce_bw",
    .call = "haloReduce",
    .uses_op = 1,
    .uses_root = 1,
    .inplace_checked = 1,
    .busbw_factor = reduce_busbw,
    .layout = reduce_layout,
    .run = reduce_run,
    .fill = reduce_fill,
    .check = reduce_check,
};

int main(int argc, char **argv)
{
    return perf_main(argc, argv, &reduce);
}
