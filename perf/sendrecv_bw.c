/* SPDX-License-Identifier: MIT */
/*
 * sendrecv_bw.c — bandwidth and latency of haloSend/haloRecv, like nccl-tests'
 * sendrecv_perf: in one group, rank r sends to (r+1)%n and receives from
 * (r-1+n)%n: every rank sends and receives `size` bytes at once, each link of
 * the ring carrying one message one way. busbw = algbw.
 * In place (sendbuff == recvbuff) is timed like nccl-tests but its result is not
 * defined (the buffer is read and written at once), so it is not checked (N/A).
 *
 * -r R (R > 0): only ranks 0 and R exchange, both ways at once; the others make
 * no call. On a chain or a ring of 4+ hosts without a cable between them, the
 * messages are forwarded by the ranks between (-r 1 gives one cable's rate in
 * the same setting; -r n-1 the path across a chain).
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

/* The rank this one receives from; -1 when it takes no part (-r R: only 0 and R). */
static int sendrecv_from(const struct perf_ctx *c)
{
    if (c->root <= 0)
        return (c->rank - 1 + c->nranks) % c->nranks;
    return c->rank == 0 ? c->root : c->rank == c->root ? 0 : -1;
}

static int sendrecv_to(const struct perf_ctx *c)
{
    return c->root <= 0 ? (c->rank + 1) % c->nranks : sendrecv_from(c);
}

static haloResult_t sendrecv_run(const struct perf_ctx *c, const void *send, void *recv, size_t count)
{
    int next = sendrecv_to(c), prev = sendrecv_from(c);
    haloResult_t r, end;

    if (prev < 0)
        return haloSuccess;
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
    int from = sendrecv_from(c);
    return from < 0 ? 0 : perf_check_copy(c, recv, 0, l->count, from, 0);
}

static const struct perf_coll sendrecv = {
    .name = "sendrecv_bw",
    .call = "haloSend/haloRecv",
    .uses_root = 1, /* -r R > 0: only ranks 0 and R exchange */
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
