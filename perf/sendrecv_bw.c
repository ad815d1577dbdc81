/* SPDX-License-Identifier: MIT */
/*
 * sendrecv_bw.c — bandwidth and latency of haloSend/haloRecv, like nccl-tests'
 * sendrecv_perf: in one group, rank r sends to (r+1)%n and receives from
 * (r-1+n)%n: every rank sends and receives `size` bytes at once, each link of
 * the ring carrying one message one way. busbw = algbw.
 * In place (sendbuff == recvbuff) is timed like nccl-tests but its result is not
 * defined (the buffer is read and written at once), so it is not checked (N/A).
 */
#include "common.h"

static double sendrecv_busbw(int n)
{
    return 1.0;
}

static void sendrecv_layout(const struct perf_ctx *c, size_t elems, struct perf_layout *l)
{
    *l = (struct perf_layout){.count = elems, .send_elems = elems, .recv_elems = elems};
}

static haloResult_t sendrecv_run(const struct perf_ctx *c, const void *send, void *recv, size_t count)
{
    int next = (c->rank + 1) % c->nranks, prev = (c->rank - 1 + c->nranks) % c->nranks;
    haloResult_t r, end;

    if ((r = haloGroupStart()) != haloSuccess)
        return r;
    r = haloSend(send, count, c->dtype, next, c->comm, c->stream);
    if (r == haloSuccess)
        r = haloRecv(recv, count, c->dtype, prev, c->comm, c->stream);
    end = haloGroupEnd(); /* always close the group, even after a failed post */
    return r != haloSuccess ? r : end;
}

static void sendrecv_fill(struct perf_ctx *c, void *send, const struct perf_layout *l)
{
    perf_fill_input(c, send, l->count);
}

static size_t sendrecv_check(struct perf_ctx *c, const void *recv, const struct perf_layout *l)
{
    return perf_check_copy(c, recv, 0, l->count, (c->rank - 1 + c->nranks) % c->nranks, 0);
}

static const struct perf_coll sendrecv = {
    .name = "sendrecv_bw",
    .call = "haloSend/haloRecv",
    .inplace_checked = 0,
    .busbw_factor = sendrecv_busbw,
    .layout = sendrecv_layout,
    .run = sendrecv_run,
    .fill = sendrecv_fill,
    .check = sendrecv_check,
};

int main(int argc, char **argv)
{
    return perf_main(argc, argv, &sendrecv);
}
