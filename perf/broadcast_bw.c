/* SPDX-License-Identifier: MIT */
/*
 * broadcast_bw.c — bandwidth and latency of haloBroadcast from -r ROOT, like
 * nccl-tests' broadcast_perf. Only the root fills its buffer; every rank checks
 * that it received the root's values. busbw = algbw (a pipelined chain moves the
 * whole buffer over each link once).
 */
#include "common.h"

static double broadcast_busbw(int n)
{
    return 1.0;
}

static void broadcast_layout(const struct perf_ctx *c, size_t elems, struct perf_layout *l)
{
    *l = (struct perf_layout){.count = elems, .send_elems = elems, .recv_elems = elems};
}

static haloResult_t broadcast_run(const struct perf_ctx *c, const void *send, void *recv, size_t count)
{
    return haloBroadcast(send, recv, count, c->dtype, c->root, c->comm, c->stream);
}

static void broadcast_fill(struct perf_ctx *c, void *send, const struct perf_layout *l)
{
    if (c->rank == c->root)
        perf_fill_input(c, send, l->count);
}

static size_t broadcast_check(struct perf_ctx *c, const void *recv, const struct perf_layout *l)
{
    return perf_check_copy(c, recv, 0, l->count, c->root, 0);
}

static const struct perf_coll broadcast = {
    .name = "broadcast_bw",
    .call = "haloBroadcast",
    .uses_root = 1,
    .inplace_checked = 1,
    .busbw_factor = broadcast_busbw,
    .layout = broadcast_layout,
    .run = broadcast_run,
    .fill = broadcast_fill,
    .check = broadcast_check,
};

int main(int argc, char **argv)
{
    return perf_main(argc, argv, &broadcast);
}
