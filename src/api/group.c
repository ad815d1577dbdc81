/* SPDX-License-Identifier: MIT */
/*
 * group.c — haloGroupStart / haloGroupEnd.
 *
 * The queue is per calling thread (thread-local), as groups are a property of the
 * thread that opens them (the same contract as NCCL's). At the outermost End,
 * collectives run first, in issue order (every rank issues them in the same
 * order, so their schedules line up), then all sends and receives run together.
 * An argument error inside the group is returned by the failing call and again
 * by End, which then runs nothing: running a partial group would leave peers
 * waiting. End holds every queued op's communicator while it runs (the queue
 * holds none: an abort between the call and End makes End fail, not wait).
 */
#define HALO_ERR_SUBSYS HALO_SUB_COLL /* errors recorded here log under this subsystem */
#include <stdlib.h>
#include <string.h>

#include "algos.h"
#include "comm.h"
#include "error.h"
#include "group.h"
#include "hot.h"

struct group_state {
    int depth;
    haloResult_t err;
    struct halo_op *ops;
    struct halo_comm **comms; /* [cap]: ops[i].comm, kept apart (group_run reorders ops) */
    int n, cap;
};

static _Thread_local struct group_state group;

HALO_HOT int group_active(void)
{
    return group.depth > 0;
}

void group_note_error(haloResult_t r)
{
    if (group.depth > 0 && group.err == haloSuccess)
        group.err = r;
}

haloResult_t group_enqueue(const struct halo_op *op)
{
    if (group.n == group.cap) {
        int cap = group.cap ? group.cap * 2 : 16;
        struct halo_op *ops = realloc(group.ops, (size_t)cap * sizeof(*ops));
        if (ops)
            group.ops = ops;
        struct halo_comm **comms = ops ? realloc(group.comms, (size_t)cap * sizeof(*comms)) : NULL;
        if (comms)
            group.comms = comms;
        if (!ops || !comms) {
            group_note_error(haloSystemError);
            return halo_error(op->comm, haloSystemError, "out of memory queueing a group operation");
        }
        group.cap = cap;
    }
    group.comms[group.n] = op->comm;
    group.ops[group.n++] = *op;
    return haloSuccess;
}

HALO_API haloResult_t haloGroupStart(void)
{
    group.depth++;
    return haloSuccess;
}

haloResult_t group_run_ops(struct halo_op *ops, int n)
{
    haloResult_t r = haloSuccess;
    int np2p = 0;
    if (n > 0 && ops[0].comm->pin_cpu >= 0)
        engine_bind_thread(ops[0].comm);
    for (int i = 0; i < n && r == haloSuccess; i++) {
        if (ops[i].coll == HALO_COLL_SEND || ops[i].coll == HALO_COLL_RECV)
            ops[np2p++] = ops[i]; /* compact p2p ops to the front, order kept */
        else
            r = coll_execute(&ops[i]);
    }
    if (r == haloSuccess && np2p > 0)
        r = p2p_execute(ops, np2p);
    return r;
}

/* The ops of communicators that go through a GPU progress thread are handed to
 * it, one work per communicator (one stream wait per stream); the rest run here
 * together, as without GPUs. */
static haloResult_t group_run(void)
{
    int gpu = 0;
    for (int i = 0; i < group.n && !gpu; i++)
        gpu = api_gpu_wanted(group.ops[i].comm, &group.ops[i], 1);
    if (!gpu)
        return group_run_ops(group.ops, group.n);
    struct halo_op *mine = malloc(2 * (size_t)group.n * sizeof(*mine));
    char *taken = calloc((size_t)group.n, 1);
    if (!mine || !taken) {
        free(mine);
        free(taken);
        return halo_error(group.ops[0].comm, haloSystemError, "out of memory running a group");
    }
    struct halo_op *host = mine + group.n;
    haloResult_t r = haloSuccess;
    int nhost = 0;
    for (int i = 0; i < group.n; i++) {
        if (taken[i])
            continue;
        struct halo_comm *c = group.ops[i].comm;
        int n = 0;
        for (int j = i; j < group.n; j++)
            if (!taken[j] && group.ops[j].comm == c) {
                mine[n++] = group.ops[j];
                taken[j] = 1;
            }
        if (api_gpu_wanted(c, mine, n)) {
            haloResult_t rr = api_gpu_submit(c, mine, n, "haloGroupEnd");
            if (r == haloSuccess)
                r = rr;
        } else {
            memcpy(&host[nhost], mine, (size_t)n * sizeof(*mine));
            nhost += n;
        }
    }
    if (r == haloSuccess && nhost > 0)
        r = group_run_ops(host, nhost);
    free(mine);
    free(taken);
    return r;
}

/* Enters every queued op's communicator (one hold and one operation per op: the
 * same thread nests), or none. */
static haloResult_t group_enter_all(void)
{
    for (int i = 0; i < group.n; i++) {
        haloResult_t r = comm_enter(group.comms[i], "haloGroupEnd");
        if (r == haloSuccess && (r = comm_call_begin(group.comms[i], "haloGroupEnd")) != haloSuccess)
            r = comm_leave(group.comms[i], r);
        if (r != haloSuccess) {
            while (i-- > 0) {
                comm_call_end(group.comms[i]);
                comm_drop(group.comms[i]);
            }
            return r;
        }
    }
    return haloSuccess;
}

static haloResult_t group_leave_all(haloResult_t r)
{
    for (int i = 0; i < group.n; i++) {
        comm_call_end(group.comms[i]);
        r = comm_leave(group.comms[i], r);
    }
    return r;
}

HALO_API haloResult_t haloGroupEnd(void)
{
    if (group.depth == 0)
        return halo_error(NULL, haloInvalidUsage, "haloGroupEnd called without a matching haloGroupStart");
    if (--group.depth > 0)
        return haloSuccess;
    haloResult_t r = group.err;
    if (r == haloSuccess && (r = group_enter_all()) == haloSuccess)
        r = group_leave_all(group_run());
    group.n = 0;
    group.err = haloSuccess;
    if (group.cap > 256) {
        free(group.ops);
        free(group.comms);
        group.ops = NULL;
        group.comms = NULL;
        group.cap = 0;
    }
    return r;
}
