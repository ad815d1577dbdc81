/* SPDX-License-Identifier: MIT */
/*
 * allreduce_bw.c — bandwidth and latency of haloAllReduce, like nccl-tests'
 * all_reduce_perf. Every rank ends with the reduction of all ranks' buffers.
 * busbw = algbw * 2(n-1)/n: a ring reduce-scatter plus all-gather moves that
 * share of the buffer over each rank's busiest link.
 */
#include "common.h"

static double allreduce_busbw(int n)
{
    return 2.0 * (n - 1) / n;
}

static void allreduce_layout(const struct perf_ctx *c, size_t elems, struct perf_layout *l)
{
    *l = (struct perf_layout){.count = elems, .send_elems = elems, .recv_elems = elems};
}

static haloResult_t allreduce_run(const struct perf_ctx *c, const void *send, void *recv, size_t count)
{
    return haloAllReduce(send, recv, count, c->dtype, c->op, c->comm, c->stream);
}

static void allreduce_fill(struct perf_ctx *c, void *send, const struct perf_layout *l)
{
    perf_fill_input(c, send, l->count);
}

static size_t allreduce_check(struct perf_ctx *c, const void *recv, const struct perf_layout *l)
{
    return perf_check_reduced(c, recv, 0, l->count, 0);
}

/* The ring, per rank, in blocks of size/n (memcpy and reduction bytes read +
 * written): send 2; reduce-forward 3 each of n-2; reduce into the output 3 and
 * copy it to the next rank 2; forward 2 and keep 2 each of n-2; receive 2. Memory:
 * the input read and the output written, once each. */
static void allreduce_traffic(int n, struct perf_traffic *t)
{
    t->mem = 2;
    t->copy = (4.0 * n - 2) / n;
    t->reduce = 3.0 * (n - 1) / n;
}

static const struct perf_coll allreduce = {
    .name = "allreduce_bw",
    .call = "haloAllReduce",
    .uses_op = 1,
    .inplace_checked = 1,
    .busbw_factor = allreduce_busbw,
    .layout = allreduce_layout,
    .run = allreduce_run,
    .fill = allreduce_fill,
    .check = allreduce_check,
    .traffic = allreduce_traffic,
};

int main(int argc, char **argv)
{
    return perf_main(argc, argv, &allreduce);
}
