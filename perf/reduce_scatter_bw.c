/* SPDX-License-Identifier: MIT */
/*
 * reduce_scatter_bw.c — bandwidth and latency of haloReduceScatter, like
 * nccl-tests' reduce_scatter_perf. The size is the full (send) buffer; rank r
 * receives the reduction of block r, size/n bytes. In place, rank r's output is
 * sendbuff + r*recvcount. busbw = algbw * (n-1)/n.
 */
#include "common.h"

static double reduce_scatter_busbw(int n)
{
    return (double)(n - 1) / n;
}

static void reduce_scatter_layout(const struct perf_ctx *c, size_t elems, struct perf_layout *l)
{
    size_t per_rank = elems / (size_t)c->nranks;

    *l = (struct perf_layout){.count = per_rank,
                              .send_elems = per_rank * (size_t)c->nranks,
                              .recv_elems = per_rank,
                              .recv_inplace = per_rank * (size_t)c->rank};
}

static haloResult_t reduce_scatter_run(const struct perf_ctx *c, const void *send, void *recv, size_t count)
{
    return haloReduceScatter(send, recv, count, c->dtype, c->op, c->comm, c->stream);
}

static void reduce_scatter_fill(struct perf_ctx *c, void *send, const struct perf_layout *l)
{
    perf_fill_input(c, send, l->send_elems);
}

static size_t reduce_scatter_check(struct perf_ctx *c, const void *recv, const struct perf_layout *l)
{
    return perf_check_reduced(c, recv, 0, l->count, (size_t)c->rank * l->count);
}

/* The ring, in blocks of size/n: send the first 2; reduce-forward 3 each of n-2;
 * reduce into the output 3. Memory: the input read, the output (one block)
 * written. */
static void reduce_scatter_traffic(int n, struct perf_traffic *t)
{
    t->mem = (n + 1.0) / n;
    t->copy = 2.0 / n;
    t->reduce = 3.0 * (n - 1) / n;
}

static const struct perf_coll reduce_scatter = {
    .name = "reduce_scatter_bw",
    .call = "haloReduceScatter",
    .uses_op = 1,
    .inplace_checked = 1,
    .busbw_factor = reduce_scatter_busbw,
    .layout = reduce_scatter_layout,
    .run = reduce_scatter_run,
    .fill = reduce_scatter_fill,
    .check = reduce_scatter_check,
    .traffic = reduce_scatter_traffic,
};

int main(int argc, char **argv)
{
    return perf_main(argc, argv, &reduce_scatter);
}
