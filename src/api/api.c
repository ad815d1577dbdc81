/* SPDX-License-Identifier: MIT */
/*
 * api.c — the public collective entry points: argument checks (before any byte
 * moves), algorithm and channel choice, and hand-off to the group queue or to the
 * engine.
 */
#define HALO_ERR_SUBSYS HALO_SUB_COLL /* errors recorded here log under this subsystem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algos.h"
#include "api_pick.h"
#include "api_redop.h"
#include "comm.h"
#include "error.h"
#include "group.h"
#include "hot.h"
#include "log.h"
#include "reduce.h"
#include "relay.h"
#include "topo.h"
#include "topo_cost.h"
#include "wire.h"

#define API_MULTI_CHANNEL_BYTES (1u << 20)

static haloResult_t api_check_types(struct halo_comm *comm, const char *fn, haloDataType_t dt, int check_op,
                                    haloRedOp_t op)
{
    if ((int)dt < 0 || dt >= haloNumTypes)
        return halo_error(comm, haloInvalidArgument, "%s: invalid datatype %d (valid: 0..%d, see haloDataType_t)", fn,
                          (int)dt, haloNumTypes - 1);
    if (check_op)
        return api_redop_check(comm, fn, op, dt); /* built-ins and this communicator's pre-mul-sum ops */
    return haloSuccess;
}

/* count elements of dt, times `mult` (nranks for gathered buffers), must fit. */
static haloResult_t api_check_size(struct halo_comm *comm, const char *fn, size_t count, haloDataType_t dt,
                                   size_t mult)
{
    size_t es = halo_dtype_size(dt);
    if (count > (size_t)PTRDIFF_MAX / es / mult)
        return halo_error(comm, haloInvalidArgument,
                          "%s: count %zu of %zu-byte elements%s overflows the address space", fn, count, es,
                          mult > 1 ? " times nranks" : "");
    return haloSuccess;
}

static HALO_HOT haloResult_t api_check_buf(struct halo_comm *comm, const char *fn, const char *what, const void *p,
                                  size_t count)
{
    if (!p && count > 0)
        return halo_error(comm, haloInvalidArgument, "%s: %s is NULL with count %zu", fn, what, count);
    return haloSuccess;
}

/* The bytes a call reads [s, s+sbytes) and writes [r, r+rbytes) may overlap only
 * in place as the collective defines it: s + s_off == r + r_off (allgather:
 * r_off = rank's block; reduce-scatter: s_off = rank's block). Stream or not,
 * the pointers are plain addresses in one space, so the rule is the same on GPU
 * buffers. Sizes were checked to fit (api_check_size). */
static HALO_HOT haloResult_t api_check_overlap(struct halo_comm *comm, const char *fn, const void *send, size_t sbytes,
                                      size_t s_off, const void *recv, size_t rbytes, size_t r_off,
                                      const char *in_place)
{
    uintptr_t s = (uintptr_t)send, r = (uintptr_t)recv;
    if (!send || !recv || sbytes == 0 || rbytes == 0 || s + s_off == r + r_off)
        return haloSuccess;
    int overlap = s >= r ? s - r < rbytes : r - s < sbytes;
    if (!overlap)
        return haloSuccess;
    return halo_error(comm, haloInvalidArgument,
                      "%s: rank %d: sendbuff %p (%zu bytes read) and recvbuff %p (%zu bytes written) partly overlap; "
                      "the only overlap allowed is in place (%s): use that or separate buffers",
                      fn, comm->rank, send, sbytes, recv, rbytes, in_place);
}

static haloResult_t api_check_root(struct halo_comm *comm, const char *fn, const char *what, int root)
{
    if (root < 0 || root >= comm->nranks)
        return halo_error(comm, haloInvalidArgument, "%s: %s %d is out of range (communicator has %d ranks)", fn,
                          what, root, comm->nranks);
    return haloSuccess;
}

/* Every entry point holds the communicator from here to api_leave, so an abort
 * in another thread waits for it (see comm_life.c). A refusal inside a group is
 * also remembered for haloGroupEnd. */
static HALO_HOT haloResult_t api_enter(struct halo_comm *comm, const char *fn)
{
    haloResult_t r = comm_enter(comm, fn);
    if (r == haloSuccess && (r = comm_call_begin(comm, fn)) != haloSuccess)
        r = comm_leave(comm, r);
    if (r != haloSuccess)
        group_note_error(r);
    return r;
}

static HALO_HOT haloResult_t api_leave(struct halo_comm *comm, haloResult_t r)
{
    comm_call_end(comm);
    return comm_leave(comm, r);
}

static haloResult_t api_check_comm(struct halo_comm *comm, const char *fn, haloStream_t stream)
{
    (void)stream; /* a stream without a runtime is refused by api_gpu_submit, which loads it */
    int ae = atomic_load(&comm->async_error);
    if (ae != haloSuccess)
        return halo_error(comm, (haloResult_t)ae, "%s: rank %d: the communicator is broken by an earlier error (%s); "
                          "destroy it and create a new one", fn, comm->rank, haloGetErrorString((haloResult_t)ae));
    return haloSuccess;
}

/* The checks every collective starts with (on a communicator api_enter holds): not
 * broken, valid type (and op), and a size that fits (count x element x mult). */
static HALO_HOT haloResult_t api_check_common(struct halo_comm *comm, const char *fn, haloStream_t stream,
                                     haloDataType_t dt, int check_op, haloRedOp_t op, size_t count, int mult_nranks)
{
    haloResult_t r = api_check_comm(comm, fn, stream);
    if (r == haloSuccess)
        r = api_check_types(comm, fn, dt, check_op, op);
    if (r == haloSuccess)
        r = api_check_size(comm, fn, count, dt, mult_nranks ? (size_t)comm->nranks : 1);
    return r;
}

/* Under HALO_ALGO=auto, jobs on one host: one-shot for small allreduces, ring
 * otherwise (from 3 ranks on a host with fewer cores than ranks, two-shot up to
 * 1 MiB; from 4 ranks with cores enough, over shm, two-shot up to 256 KiB; over
 * loopback tcp from 3 ranks, both ways round above 1 MiB: api_auto_single). */
int64_t api_direct_max(const struct halo_comm *comm)
{
    int64_t dmax = HALO_P_INT(&comm->params, direct_max);
    if (dmax == HALO_AUTO)
        dmax = comm->nranks == 2 ? 256 * 1024 : comm->nranks <= 4 ? 32 * 1024 : 8 * 1024;
    return dmax;
}

/* One host over tcp (loopback, HALO_TRANSPORT=tcp): a ring step is a send and a
 * receive through the kernel, on the one thread of each rank. Above 1 MiB two
 * rings in opposite directions keep twice the sockets busy, so one ring's copies
 * overlap the other's waits (3, 4 and 8 ranks on a 2-core host, 2 to 64 MiB,
 * medians of 3 to 5 interleaved runs: 1.1-1.4x the ring's busbw). */
#define API_LOCAL_TCP_BIDIR_MIN ((int64_t)1 << 20)

/* Ranks outnumber cores (comm->crowded): each of the ring's 2(n-1) steps waits for
 * the previous rank's frame and for a core to run it; two-shot moves the ring's
 * bytes in two steps, every peer's FIFO or socket busy at once. Measured on 2 cores,
 * 3, 4 and 8 ranks, 64 KiB to 1 MiB (perf/README.md, "Two-shot on a crowded host"):
 * shm 0.42-0.75x the ring's time at 4 and 8 ranks, 0.77-0.95x at 3; loopback tcp
 * 0.58-0.80x at 8 ranks, 0.71-0.77x at 4, a tie at 3. Above 1 MiB: a tie at 3
 * ranks over shm and a loss over tcp (against ring_bidir), so those stop there;
 * from 4 ranks over shm two-shot stays ahead up to 256 MiB (API_CROWDED_TWO_SHOT_ALL). */
#define API_CROWDED_TWO_SHOT_MAX ((int64_t)1 << 20)
#define API_CROWDED_TWO_SHOT_ALL INT64_MAX

/* Every rank with cores of its own, over shm, 4 ranks or more: the ring's 2(n-1)
 * steps each wait a frame's latency, and two-shot still wins at small mid sizes.
 * 16-core host, 1 channel, medians of 3 interleaved rounds, busbw two-shot / ring
 * (perf/README.md): 4 ranks 6.05 / 5.07 GB/s at 64 KiB, a tie at 256 KiB and 1 MiB;
 * 8 ranks 4.98 / 2.93 at 64 KiB, 6.65 / 5.99 at 256 KiB, a tie at 1 MiB, the ring
 * ahead at 4 MiB (10.9 / 7.5). Not measured over loopback tcp there: the ring stays. */
#define API_ROOMY_TWO_SHOT_MAX ((int64_t)256 << 10)

int64_t api_two_shot_max(const struct halo_comm *comm)
{
    if (comm->topo || comm->nranks < 3)
        return -1;
    if (comm->crowded)
        return comm->nranks >= 4 && !comm_local_tcp(comm) ? API_CROWDED_TWO_SHOT_ALL : API_CROWDED_TWO_SHOT_MAX;
    return comm->nranks >= 4 && !comm_local_tcp(comm) ? API_ROOMY_TWO_SHOT_MAX : -1;
}

int64_t api_bidir_min(const struct halo_comm *comm)
{
    return !comm->topo && comm->nranks >= 3 && comm_local_tcp(comm) ? API_LOCAL_TCP_BIDIR_MIN : -1;
}

static enum halo_algo api_auto_single(struct halo_comm *comm, enum halo_coll coll, size_t bytes)
{
    if (coll != HALO_COLL_ALLREDUCE)
        return HALO_ALGO_RING;
    if ((int64_t)bytes <= api_direct_max(comm))
        return HALO_ALGO_DIRECT;
    if ((int64_t)bytes <= api_two_shot_max(comm))
        return HALO_ALGO_TWO_SHOT;
    int64_t bidir = api_bidir_min(comm); /* >= 0: loopback tcp, 3 ranks or more */
    return bidir >= 0 && (int64_t)bytes > bidir ? HALO_ALGO_RING_BIDIR : HALO_ALGO_RING;
}

int api_topo_coll(enum halo_coll coll)
{
    switch (coll) {
    case HALO_COLL_ALLREDUCE: return TOPO_COLL_ALLREDUCE;
    case HALO_COLL_ALLGATHER: return TOPO_COLL_ALLGATHER;
    case HALO_COLL_REDUCESCATTER: return TOPO_COLL_REDUCESCATTER;
    case HALO_COLL_BROADCAST: return TOPO_COLL_BROADCAST;
    case HALO_COLL_REDUCE: return TOPO_COLL_REDUCE;
    default: return -1;
    }
}

/* The HALO_ALGO row (a selectable word) of a cost-model algorithm, NULL if none. */
static const struct algo_row *api_row_of_topo(int topo_algo)
{
    for (int i = 0; i < algo_count(); i++)
        if (algo_at(i)->word && algo_at(i)->topo_algo == topo_algo)
            return algo_at(i);
    return NULL;
}

/* The cost model's algorithms that have a schedule for coll: the table decides
 * what can run, the model (its validity per class) what the links allow. */
static unsigned api_model_mask(enum halo_coll coll)
{
    unsigned mask = 0;
    for (int i = 0; i < algo_count(); i++) {
        const struct algo_row *row = algo_at(i);
        if (row->word && row->topo_algo >= 0 && algo_has_schedule(row->algo, coll))
            mask |= 1u << row->topo_algo;
    }
    return mask;
}

/* Multi-host jobs: the cost model's pick among the algorithms with a schedule for
 * the collective (alpha-beta per link, see src/topology/cost.c). Chains have no
 * link between their ends: only the chain schedules are valid there. HALO_DIRECT_MAX
 * set by hand keeps all-reduce on its threshold (one shot below, ring above). */
static enum halo_algo api_auto_topo(struct halo_comm *comm, enum halo_coll coll, size_t bytes)
{
    enum halo_algo fallback = comm->topo_class == TOPO_CLASS_CHAIN ? HALO_ALGO_CHAIN : HALO_ALGO_RING;
    int tc = api_topo_coll(coll);
    if (tc < 0)
        return fallback;
    if (coll == HALO_COLL_ALLREDUCE && fallback != HALO_ALGO_CHAIN && HALO_P_INT(&comm->params, direct_max) != HALO_AUTO)
        return api_auto_single(comm, coll, bytes);
    struct topo_plan plan;
    if (topo_cost_plan_coll(&comm->cost, (enum topo_coll)tc, bytes, api_model_mask(coll), &plan) != 0)
        return fallback;
    const struct algo_row *row = api_row_of_topo(plan.algo);
    if (!row || (row->algo == HALO_ALGO_RING_BIDIR && comm->nranks <= 2))
        return fallback;
    return row->algo;
}

static enum halo_algo api_auto_algo(struct halo_comm *comm, enum halo_coll coll, size_t bytes)
{
    return comm->topo ? api_auto_topo(comm, coll, bytes) : api_auto_single(comm, coll, bytes);
}

/* HALO_ALGO's row where it has a schedule for coll (direct and ring_bidir exist
 * for all-reduce only: the other collectives run the one-way ring), else auto. */
/* HALO_ALGO forces a row: its word is not "auto", the first of the enum's words
 * (an index compare per call; the row is looked up only when one is forced). */
static int api_algo_forced(const struct halo_comm *comm)
{
    return HALO_P_INT(&comm->params, algo) != 0;
}

static enum halo_algo api_pick_algo(struct halo_comm *comm, enum halo_coll coll, size_t bytes)
{
    const struct algo_row *forced = api_algo_forced(comm) ? algo_by_word(HALO_P_STR(&comm->params, algo)) : NULL;
    if (forced)
        return algo_has_schedule(forced->algo, coll) ? forced->algo : HALO_ALGO_RING;
    return api_auto_algo(comm, coll, bytes);
}

enum halo_algo api_allreduce_algo(struct halo_comm *comm, size_t bytes)
{
    return api_pick_algo(comm, HALO_COLL_ALLREDUCE, bytes);
}

/* One rank: every collective is a local copy (and avg divides by 1: a copy). */
static void api_run_single(const struct halo_op *op)
{
    size_t bytes = op->count * halo_dtype_size(op->dtype);
    if (op->coll == HALO_COLL_REDUCE || op->coll == HALO_COLL_BROADCAST || op->coll == HALO_COLL_ALLREDUCE ||
        op->coll == HALO_COLL_ALLGATHER || op->coll == HALO_COLL_REDUCESCATTER)
        if (op->sendbuf != op->recvbuf && bytes)
            memmove(op->recvbuf, op->sendbuf, bytes);
}

static HALO_HOT size_t api_total_bytes(const struct halo_op *op, int nranks)
{
    size_t b = op->count * halo_dtype_size(op->dtype);
    return op->coll == HALO_COLL_ALLGATHER || op->coll == HALO_COLL_REDUCESCATTER ? b * (size_t)nranks : b;
}

/* Multi-host collectives under HALO_ALGO=auto: the channel count and slice size the
 * cost model predicts best for the chosen algorithm, collective and size, unless
 * HALO_NCHANNELS (or config.nChannels) / HALO_CHUNK_SIZE fix them. Deterministic: every rank has the same
 * graph and parameters. */
static void api_apply_plan(struct halo_comm *comm, struct halo_op *op, size_t bytes)
{
    const struct algo_row *row = algo_row_of(op->algo);
    int tc = api_topo_coll(op->coll);
    struct topo_plan plan;
    if (!comm->topo || tc < 0 || api_algo_forced(comm) || !row || row->topo_algo < 0 ||
        topo_cost_plan_coll_algo(&comm->cost, (enum topo_coll)tc, bytes, (enum topo_algo)row->topo_algo, &plan) != 0)
        return;
    if (comm->nchannels_auto) { /* neither HALO_NCHANNELS nor config.nChannels fixed it */
        op->nchannels = plan.nchannels < 1 ? 1 : plan.nchannels > comm->nchannels ? comm->nchannels : plan.nchannels;
        if (bytes >= API_MULTI_CHANNEL_BYTES && op->nchannels < comm->rail_channels) /* two streams per rail */
            op->nchannels = comm->rail_channels < comm->nchannels ? comm->rail_channels : comm->nchannels;
    }
    if (HALO_P_INT(&comm->params, chunk_size) == HALO_AUTO)
        op->slice = plan.slice;
}

/* ring_bidir on 3+ ranks runs both directions in one channel through the slots;
 * zero-copy runs a whole ring per channel, so it takes an even channel count
 * (channels 0, 2, ... one way, 1, 3, ... the other): the largest the call may
 * use, and 2 where the plan gave one channel but the communicator has two. */
static void api_choose_bidir_zero_copy(struct halo_comm *comm, struct halo_op *op)
{
    int even = op->nchannels >= 2 ? op->nchannels & ~1 : comm->nchannels >= 2 ? 2 : 0;
    if (even == 0)
        return;
    struct halo_op zc = *op;
    zc.nchannels = even;
    if (!ring_zc_usable(comm, &zc))
        return;
    op->nchannels = even;
    op->algo = HALO_ALGO_RING_BIDIR_ZC;
}

/* The one-way ring becomes its zero-copy variant (ring_zc.c: all-reduce;
 * ring_zc_coll.c: the other collectives) where every ring neighbour is reached
 * over ib and the blocks are large enough; ring_bidir on two ranks runs the
 * one-way ring (one cable), so it does too, and so does a chain of two but for
 * its all-reduce (its one neighbour both ways: the ring's steps). The chain's
 * other collectives (all of them on 3+ ranks) become chain_zc where every chain
 * neighbour is reached over ib (chain_zc.c), the two-shot all-reduce two_shot_zc
 * where every peer is (two_shot.c). After api_apply_plan: the cost model plans
 * the ring, and the test needs the channel count. */
static void api_choose_zero_copy(struct halo_comm *comm, struct halo_op *op)
{
    int two = comm->nranks <= 2;
    if (op->wire) /* encoded values go through frames */
        return;
    int ring = op->algo == HALO_ALGO_RING || (op->algo == HALO_ALGO_RING_BIDIR && two) ||
               (op->algo == HALO_ALGO_CHAIN && two && op->coll != HALO_COLL_ALLREDUCE);
    if (ring && ring_zc_usable(comm, op))
        op->algo = HALO_ALGO_RING_ZC;
    else if (op->algo == HALO_ALGO_CHAIN && chain_zc_usable(comm, op))
        op->algo = HALO_ALGO_CHAIN_ZC;
    else if (op->algo == HALO_ALGO_TWO_SHOT && two_shot_zc_usable(comm, op))
        op->algo = HALO_ALGO_TWO_SHOT_ZC;
    else if (op->algo == HALO_ALGO_RING_BIDIR && !two && op->coll == HALO_COLL_ALLREDUCE)
        api_choose_bidir_zero_copy(comm, op);
}

/* Pre-mul-sum: the collective sums a copy of this rank's input multiplied by
 * its scalar (api_redop.c); the copy is freed when the collective returned. */
static haloResult_t coll_execute_premul(struct halo_op *op)
{
    struct halo_comm *comm = op->comm;
    void *scaled = NULL;
    haloResult_t r = api_premul_scale(comm, op, &scaled);
    if (r != haloSuccess) {
        comm->opseq++;
        return comm_fail(comm, r);
    }
    struct halo_op sum = *op;
    sum.premul = HALO_PREMUL_NONE;
    sum.sendbuf = scaled;
    r = coll_execute(&sum);
    free(scaled);
    op->algo = sum.algo;
    op->algo_name = sum.algo_name;
    op->nchannels = sum.nchannels;
    return r;
}

size_t api_wire_bytes(const struct halo_op *op, size_t bytes)
{
    size_t es = halo_dtype_size(op->dtype);
    return op->wire && es ? halo_wire_bytes((enum halo_wire)op->wire, bytes / es) : bytes;
}

/* The communicator's wire format applies to all-reduce and reduce-scatter sums
 * and averages of the types it encodes, from HALO_WIRE_MIN up; every other call
 * is sent exact, which an INFO says once. */
static HALO_HOT void api_choose_wire(struct halo_comm *comm, struct halo_op *op, size_t bytes)
{
    enum halo_wire w = (enum halo_wire)comm->wire;
    op->wire = HALO_WIRE_OFF;
    if (w == HALO_WIRE_OFF || bytes < comm->wire_min)
        return;
    if (op->coll != HALO_COLL_ALLREDUCE && op->coll != HALO_COLL_REDUCESCATTER)
        return; /* nothing to reduce: the data may be anything, ids and indices too */
    const char *why = op->op != haloSum && op->op != haloAvg ? "only sum and avg are compressed"
                      : !halo_wire_supported(w, op->dtype)   ? "the format does not encode this type"
                                                             : NULL;
    if (!why) {
        op->wire = w;
        return;
    }
    if (!comm->wire_told) {
        comm->wire_told = 1;
        HLOG_INFO(HALO_SUB_COLL, comm->rank, "%s of %s with %s: sent exact, not as wire %s (%s)",
                  halo_coll_name(op->coll), halo_dtype_name(op->dtype), halo_op_name(op->op), halo_wire_name(w), why);
    }
}

_Static_assert(HALO_COLL_NUM <= sizeof(((struct halo_comm *)0)->choice) / sizeof(struct comm_choice),
               "comm->choice holds one entry per collective");

static HALO_HOT void api_choose_kept(struct halo_comm *comm, struct halo_op *op, struct comm_choice *last)
{
    size_t bytes = api_total_bytes(op, comm->nranks);
    api_choose_wire(comm, op, bytes);
    size_t wire_bytes = api_wire_bytes(op, bytes);
    if (last && bytes && last->bytes == bytes && last->wire_bytes == wire_bytes) { /* as the last call of this size */
        op->algo = (enum halo_algo)last->algo;
        op->nchannels = last->nchannels;
        op->slice = last->slice;
    } else {
        /* the algorithm by the bytes that travel: fewer under a wire format */
        op->algo = api_pick_algo(comm, op->coll, wire_bytes);
        op->nchannels = bytes >= API_MULTI_CHANNEL_BYTES ? comm->nchannels : 1;
        op->slice = 0;
        api_apply_plan(comm, op, bytes);
        if (last)
            *last = (struct comm_choice){.bytes = bytes, .wire_bytes = wire_bytes, .slice = op->slice,
                                        .nchannels = op->nchannels, .algo = (uint8_t)op->algo};
    }
    api_choose_zero_copy(comm, op);
    op->algo_name = algo_name(op->algo);
}

HALO_HOT void api_choose(struct halo_comm *comm, struct halo_op *op)
{
    api_choose_kept(comm, op, &comm->choice[op->coll]);
}

void api_choose_afresh(struct halo_comm *comm, struct halo_op *op)
{
    api_choose_kept(comm, op, NULL);
}

HALO_HOT haloResult_t coll_execute(struct halo_op *op)
{
    if (op->premul != HALO_PREMUL_NONE)
        return coll_execute_premul(op);
    struct halo_comm *comm = op->comm;
    haloResult_t r = haloSuccess;
    if (comm->nranks == 1) {
        api_run_single(op);
    } else if (op->count > 0) {
        size_t bytes = api_total_bytes(op, comm->nranks);
        api_choose(comm, op);
        HLOG_TRACE(HALO_SUB_COLL, comm->rank, "%s #%u count %zu %s: %s, %d channel(s)", halo_coll_name(op->coll),
                   comm->opseq, op->count, halo_dtype_name(op->dtype),
                   op->algo_name, op->nchannels);
        if (comm->last_algo[op->coll] != op->algo) { /* log each change of choice once */
            comm->last_algo[op->coll] = (uint8_t)op->algo;
            HLOG_INFO(HALO_SUB_COLL, comm->rank, "%s of %zu bytes: %s algorithm, %d channel(s), slice %zu%s",
                      halo_coll_name(op->coll), bytes, op->algo_name, op->nchannels, op->slice,
                      comm->topo ? " (chosen for the topology)" : "");
        }
        halo_channel_fn fn = algo_schedule(op->algo, op->coll);
        r = fn ? engine_run(comm, op, fn)
               : halo_error(comm, haloInternalError, "rank %d: the %s algorithm has no %s schedule", comm->rank,
                            op->algo_name, halo_coll_name(op->coll));
    }
    comm->opseq++;
    if (r != haloSuccess)
        return comm_fail(comm, r);
    return r;
}

/* "shm", "shm+tcp", ...: the transports this rank's peers use. */
static void api_transport_list(const struct halo_comm *comm, int peer, char *buf, size_t len)
{
    unsigned seen = 0;
    size_t n = 0;
    buf[0] = '\0';
    for (int p = 0; p < comm->nranks && n < len; p++) {
        int k = comm->peers[p].kind;
        if ((peer >= 0 && p != peer) || k == HALO_TR_SELF || k < 0 || k >= 32 || (seen & (1u << k)))
            continue;
        seen |= 1u << k;
        n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "+" : "", comm_kind_name((enum halo_transport_kind)k));
    }
    if (!buf[0])
        snprintf(buf, len, "self");
}

/* HALO_DEBUG=INFO with COLL: one line per call (what, bytes, algorithm, transports,
 * time). Only called when that level is enabled. */
static void api_log_call(const struct halo_op *op, int64_t t0, haloResult_t r)
{
    struct halo_comm *comm = op->comm;
    int p2p = op->coll == HALO_COLL_SEND || op->coll == HALO_COLL_RECV;
    char tp[64], who[32] = "";
    api_transport_list(comm, p2p ? op->root : -1, tp, sizeof(tp));
    if (p2p || op->root >= 0)
        snprintf(who, sizeof(who), " %s %d", p2p ? (op->coll == HALO_COLL_SEND ? "to" : "from") : "root", op->root);
    HLOG_INFO(HALO_SUB_COLL, comm->rank, "%s%s: %zu bytes (%zu x %s), algorithm %s, %s, %d channel(s), %.1f us%s",
              halo_coll_name(op->coll), who, op->count * halo_dtype_size(op->dtype), op->count, halo_dtype_name(op->dtype),
              p2p ? "p2p" : op->algo_name ? op->algo_name : "local copy", tp, op->nchannels < 1 ? 1 : op->nchannels,
              (double)(halo_now_us() - t0), r == haloSuccess ? "" : ", failed");
}

static haloResult_t api_submit(struct halo_op *op, const char *fn)
{
    if (group_active())
        return group_enqueue(op);
    if (api_gpu_wanted(op->comm, op, 1))
        return api_gpu_submit(op->comm, op, 1, fn);
    int log_call = halo_log_enabled(HALO_LOG_INFO, HALO_SUB_COLL); /* one compare when off */
    int64_t t0 = log_call ? halo_now_us() : 0;
    haloResult_t r = op->coll == HALO_COLL_SEND || op->coll == HALO_COLL_RECV ? p2p_execute(op, 1) : coll_execute(op);
    if (log_call)
        api_log_call(op, t0, r);
    return r;
}

/* Common checks; on failure inside a group the error is also remembered for End. */
static HALO_HOT haloResult_t api_finish_checks(haloResult_t r, struct halo_op *op, void *stream, const char *fn)
{
    if (r != haloSuccess) {
        group_note_error(r);
        return r;
    }
    op->stream = stream;
    api_redop_resolve(op->comm, op); /* a pre-mul-sum op: what the call needs, copied now */
    return api_submit(op, fn);
}

HALO_API HALO_HOT haloResult_t haloAllReduce(const void *sendbuff, void *recvbuff, size_t count, haloDataType_t datatype,
                                    haloRedOp_t op, haloComm_t comm, haloStream_t stream)
{
    const char *fn = "haloAllReduce";
    haloResult_t r = api_enter(comm, fn);
    if (r != haloSuccess)
        return r;
    r = api_check_common(comm, fn, stream, datatype, 1, op, count, 0);
    if (r == haloSuccess)
        r = api_check_buf(comm, fn, "sendbuff", sendbuff, count);
    if (r == haloSuccess)
        r = api_check_buf(comm, fn, "recvbuff", recvbuff, count);
    if (r == haloSuccess) {
        size_t b = count * halo_dtype_size(datatype);
        r = api_check_overlap(comm, fn, sendbuff, b, 0, recvbuff, b, 0, "sendbuff == recvbuff");
    }
    struct halo_op o = {.coll = HALO_COLL_ALLREDUCE, .sendbuf = sendbuff, .recvbuf = recvbuff, .count = count,
                        .dtype = datatype, .op = op, .root = -1, .comm = comm};
    return api_leave(comm, api_finish_checks(r, &o, stream, fn));
}

HALO_API haloResult_t haloAllGather(const void *sendbuff, void *recvbuff, size_t sendcount, haloDataType_t datatype,
                                    haloComm_t comm, haloStream_t stream)
{
    const char *fn = "haloAllGather";
    haloResult_t r = api_enter(comm, fn);
    if (r != haloSuccess)
        return r;
    r = api_check_common(comm, fn, stream, datatype, 0, haloSum, sendcount, 1);
    if (r == haloSuccess)
        r = api_check_buf(comm, fn, "sendbuff", sendbuff, sendcount);
    if (r == haloSuccess)
        r = api_check_buf(comm, fn, "recvbuff", recvbuff, sendcount);
    if (r == haloSuccess) {
        size_t b = sendcount * halo_dtype_size(datatype);
        r = api_check_overlap(comm, fn, sendbuff, b, 0, recvbuff, b * (size_t)comm->nranks, b * (size_t)comm->rank,
                              "sendbuff == recvbuff + rank * sendcount");
    }
    struct halo_op o = {.coll = HALO_COLL_ALLGATHER, .sendbuf = sendbuff, .recvbuf = recvbuff, .count = sendcount,
                        .dtype = datatype, .op = haloSum, .root = -1, .comm = comm};
    return api_leave(comm, api_finish_checks(r, &o, stream, fn));
}

HALO_API haloResult_t haloBroadcast(const void *sendbuff, void *recvbuff, size_t count, haloDataType_t datatype,
                                    int root, haloComm_t comm, haloStream_t stream)
{
    const char *fn = "haloBroadcast";
    haloResult_t r = api_enter(comm, fn);
    if (r != haloSuccess)
        return r;
    r = api_check_common(comm, fn, stream, datatype, 0, haloSum, count, 0);
    if (r == haloSuccess)
        r = api_check_root(comm, fn, "root", root);
    if (r == haloSuccess && comm->rank == root)
        r = api_check_buf(comm, fn, "sendbuff (on the root)", sendbuff, count);
    if (r == haloSuccess)
        r = api_check_buf(comm, fn, "recvbuff", recvbuff, count);
    if (r == haloSuccess && comm->rank == root) { /* sendbuff is read on the root only */
        size_t b = count * halo_dtype_size(datatype);
        r = api_check_overlap(comm, fn, sendbuff, b, 0, recvbuff, b, 0, "sendbuff == recvbuff");
    }
    struct halo_op o = {.coll = HALO_COLL_BROADCAST, .sendbuf = sendbuff, .recvbuf = recvbuff, .count = count,
                        .dtype = datatype, .op = haloSum, .root = root, .comm = comm};
    return api_leave(comm, api_finish_checks(r, &o, stream, fn));
}

HALO_API haloResult_t haloReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
                                        haloDataType_t datatype, haloRedOp_t op, haloComm_t comm,
                                        haloStream_t stream)
{
    const char *fn = "haloReduceScatter";
    haloResult_t r = api_enter(comm, fn);
    if (r != haloSuccess)
        return r;
    r = api_check_common(comm, fn, stream, datatype, 1, op, recvcount, 1);
    if (r == haloSuccess)
        r = api_check_buf(comm, fn, "sendbuff", sendbuff, recvcount);
    if (r == haloSuccess)
        r = api_check_buf(comm, fn, "recvbuff", recvbuff, recvcount);
    if (r == haloSuccess) {
        size_t b = recvcount * halo_dtype_size(datatype);
        r = api_check_overlap(comm, fn, sendbuff, b * (size_t)comm->nranks, b * (size_t)comm->rank, recvbuff, b, 0,
                              "recvbuff == sendbuff + rank * recvcount");
    }
    struct halo_op o = {.coll = HALO_COLL_REDUCESCATTER, .sendbuf = sendbuff, .recvbuf = recvbuff,
                        .count = recvcount, .dtype = datatype, .op = op, .root = -1, .comm = comm};
    return api_leave(comm, api_finish_checks(r, &o, stream, fn));
}

HALO_API haloResult_t haloReduce(const void *sendbuff, void *recvbuff, size_t count, haloDataType_t datatype,
                                 haloRedOp_t op, int root, haloComm_t comm, haloStream_t stream)
{
    const char *fn = "haloReduce";
    haloResult_t r = api_enter(comm, fn);
    if (r != haloSuccess)
        return r;
    r = api_check_common(comm, fn, stream, datatype, 1, op, count, 0);
    if (r == haloSuccess)
        r = api_check_root(comm, fn, "root", root);
    if (r == haloSuccess)
        r = api_check_buf(comm, fn, "sendbuff", sendbuff, count);
    if (r == haloSuccess && comm->rank == root)
        r = api_check_buf(comm, fn, "recvbuff (on the root)", recvbuff, count);
    if (r == haloSuccess && comm->rank == root) { /* recvbuff is written on the root only */
        size_t b = count * halo_dtype_size(datatype);
        r = api_check_overlap(comm, fn, sendbuff, b, 0, recvbuff, b, 0, "sendbuff == recvbuff");
    }
    struct halo_op o = {.coll = HALO_COLL_REDUCE, .sendbuf = sendbuff, .recvbuf = recvbuff, .count = count,
                        .dtype = datatype, .op = op, .root = root, .comm = comm};
    return api_leave(comm, api_finish_checks(r, &o, stream, fn));
}

static haloResult_t api_p2p(enum halo_coll coll, const char *fn, const void *sbuf, void *rbuf, size_t count,
                            haloDataType_t datatype, int peer, haloComm_t comm, haloStream_t stream)
{
    haloResult_t r = api_enter(comm, fn);
    if (r != haloSuccess)
        return r;
    r = api_check_common(comm, fn, stream, datatype, 0, haloSum, count, 0);
    if (r == haloSuccess)
        r = api_check_root(comm, fn, "peer", peer);
    if (r == haloSuccess)
        r = api_check_buf(comm, fn, coll == HALO_COLL_SEND ? "sendbuff" : "recvbuff",
                          coll == HALO_COLL_SEND ? sbuf : rbuf, count);
    if (r == haloSuccess && comm->peers[peer].kind == HALO_TR_NONE &&
        (!comm->relay || relay_next_hop(comm, peer) < 0))
        r = halo_error(comm, haloInvalidUsage,
                       "%s: rank %d and rank %d (%s) have no direct data link in this topology and no ranks "
                       "between them along the %s order to forward through; exchange through other ranks",
                       fn, comm->rank, peer, comm->peers[peer].info.hostname,
                       topo_class_name((enum topo_class)comm->topo_class));
    if (r == haloSuccess && peer == comm->rank && !group_active())
        r = halo_error(comm, haloInvalidUsage,
                       "%s: rank %d %s itself outside a group: put the send and the matching recv in one "
                       "haloGroupStart/haloGroupEnd",
                       fn, comm->rank, coll == HALO_COLL_SEND ? "sends to" : "receives from");
    struct halo_op o = {.coll = coll, .sendbuf = sbuf, .recvbuf = rbuf, .count = count, .dtype = datatype,
                        .op = haloSum, .root = peer, .comm = comm, .algo = HALO_ALGO_P2P, .nchannels = 1};
    return api_leave(comm, api_finish_checks(r, &o, stream, fn));
}

HALO_API haloResult_t haloSend(const void *sendbuff, size_t count, haloDataType_t datatype, int peer,
                               haloComm_t comm, haloStream_t stream)
{
    return api_p2p(HALO_COLL_SEND, "haloSend", sendbuff, NULL, count, datatype, peer, comm, stream);
}

HALO_API haloResult_t haloRecv(void *recvbuff, size_t count, haloDataType_t datatype, int peer, haloComm_t comm,
                               haloStream_t stream)
{
    return api_p2p(HALO_COLL_RECV, "haloRecv", NULL, recvbuff, count, datatype, peer, comm, stream);
}

/* ---- haloCommDescribe ---- */

/* "  peer P (host): tcp from IF[, channels a,b]" for each rail, and the FIFO. */
static size_t api_describe_rails(const struct halo_comm *comm, int p, char *buf, size_t len, int nslots)
{
    const struct halo_peer *peer = &comm->peers[p];
    int nrails = peer->nrails > 0 ? peer->nrails : 1;
    size_t n = (size_t)snprintf(buf, len, "  peer %d (%s):", p, peer->info.hostname);
    for (int k = 0; k < nrails && n < len; k++) {
        const struct halo_tp_rail *rail = &peer->rails[k];
        int has = peer->nrails > 0 && rail->has_link;
        n += (size_t)snprintf(buf + n, len - n, "%s %s%s%s", k ? ";" : "",
                              comm_kind_name(peer->nrails > 0 ? (enum halo_transport_kind)rail->kind : peer->kind),
                              has ? " from " : "", has ? rail->data_ifname : "");
        for (int ch = 0, first = 1; nrails > 1 && ch < comm->nchannels && n < len; ch++)
            if (peer->rail_of[ch] == k) {
                n += (size_t)snprintf(buf + n, len - n, "%s%d", first ? " (channels " : ",", ch);
                first = 0;
            }
        if (nrails > 1 && n < len)
            n += (size_t)snprintf(buf + n, len - n, ")");
    }
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n, ", FIFO %d slots of %zu bytes\n", nslots, comm_slot_size(comm, p));
    return n < len ? n : len;
}

static size_t api_describe_peers(struct halo_comm *comm, char *buf, size_t len)
{
    size_t n = 0;
    for (int p = 0; p < comm->nranks && n < len; p++) {
        const struct halo_peer *peer = &comm->peers[p];
        if (p == comm->rank) {
            n += (size_t)snprintf(buf + n, len - n, "  peer %d (%s): self\n", p, peer->info.hostname);
            continue;
        }
        int shm = peer->kind == HALO_TR_SHM;
        if (peer->kind == HALO_TR_NONE)
            n += (size_t)snprintf(buf + n, len - n, "  peer %d (%s): no direct link, forwarded through rank %d\n", p,
                                  peer->info.hostname, relay_next_hop(comm, p));
        else
            n += api_describe_rails(comm, p, buf + n, len - n, shm ? comm->nslots_shm : comm->nslots);
    }
    return n < len ? n : len;
}

/* The algorithm each all-reduce size gets, as coll_execute would choose it. */
static size_t api_describe_plan(struct halo_comm *comm, char *buf, size_t len)
{
    static const size_t sizes[] = {4096, 65536, 1 << 20, 16 << 20, 256 << 20};
    size_t n = (size_t)snprintf(buf, len, "plan: allreduce");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s %zu KiB %s", i ? "," : "", sizes[i] >> 10,
                              algo_name(api_pick_algo(comm, HALO_COLL_ALLREDUCE, sizes[i])));
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n, "; other collectives %s; %d channel(s) from 1 MiB\n",
                              algo_name(api_pick_algo(comm, HALO_COLL_ALLGATHER, 1 << 20)), comm->nchannels);
    if (n < len && comm->wire)
        n += (size_t)snprintf(buf + n, len - n,
                              "wire: %s for all-reduce and reduce-scatter sums and averages from %zu bytes\n",
                              halo_wire_name((enum halo_wire)comm->wire), comm->wire_min);
    return n < len ? n : len;
}

HALO_API haloResult_t haloCommDescribe(haloComm_t comm, char *buf, size_t len)
{
    haloResult_t r = comm_enter(comm, "haloCommDescribe");
    if (r != haloSuccess)
        return r;
    if (!buf || len == 0) {
        r = halo_error(comm, haloInvalidArgument, "haloCommDescribe: buf is NULL or len is 0");
        return comm_leave(comm, r);
    }
    size_t n = (size_t)snprintf(buf, len, "communicator %016llx: rank %d of %d, %d on this host, topology %s%s\n",
                                (unsigned long long)comm->comm_id, comm->rank, comm->nranks, comm->nlocal,
                                topo_class_name((enum topo_class)comm->topo_class),
                                comm->topo ? "" : " (no data links needed)");
    if (n < len)
        n += api_describe_peers(comm, buf + n, len - n);
    if (n < len)
        n += api_describe_plan(comm, buf + n, len - n);
    if (n >= len)
        r = halo_error(comm, haloInvalidArgument, "haloCommDescribe: %zu bytes are too few for the description", len);
    return comm_leave(comm, r);
}
