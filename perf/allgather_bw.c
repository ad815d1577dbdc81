/* SPDX-License-Identifier: MIT */
/*
 * allgather_bw.c — bandwidth and latency of haloAllGather, like nccl-tests'
 * all_gather_perf. The size is the gathered (receive) buffer; each rank sends
 * size/n. In place, rank r's input already sits at recvbuff + r*count.
 * busbw = algbw * (n-1)/n: each rank receives all but its own share.
 */
#include "common.h"

static double allgather_busbw(int n)
{
    return (double)(n - 1) / n;
}

static void allgather_layout(const struct perf_ctx *c, size_t elems, struct perf_layout *l)
{
    size_t per_rank = elems / (size_t)c->nranks;

    *l = (struct perf_layout){.count = per_rank,
                              .send_elems = per_rank,
                              .recv_elems = per_rank * (size_t)c->nranks,
                              .send_inplace = per_rank * (size_t)c->rank};
}

static haloResult_t allgather_run(const struct perf_ctx *c, const void *send, void *recv, size_t count)
{
    return haloAllGather(send, recv, count, c->dtype, c->comm, c->stream);
}

static void allgather_fill(struct perf_ctx *c, void *send, const struct perf_layout *l)
{
    perf_fill_input(c, send, l->count);
}

static size_t allgather_check(struct perf_ctx *c, const void *recv, const struct perf_layout *l)
{
    size_t wrong = 0;

    for (int r = 0; r < c->nranks; r++)
        wrong += perf_check_copy(c, recv, (size_t)r * l->count, l->count, r, 0);
    return wrong;
}

/* The ring, in blocks of size/n (memcpy bytes read + written): copy mine into the
 * output 2; send it 2; forward 2 and keep 2 each of n-2; keep the last 2. Memory:
 * the input (one block) read and the output written. */
static void allgather_traffic(int n, struct perf_traffic *t)
{
    t->mem = (n + 1.0) / n;
    t->copy = (4.0 * n - 2) / n;
    t->reduce = 0;
}

static const struct perf_coll allgather = {
    .name = "allgather_bw",
    .call = "haloAllGather",
    .inplace_checked = 1,
    .busbw_factor = allgather_busbw,
    .layout = allgather_layout,
    .run = allgather_run,
    .fill = allgather_fill,
    .check = allgather_check,
    .traffic = allgather_traffic,
};

int main(int argc, char **argv)
{
    return perf_main(argc, argv, &allgather);
}
