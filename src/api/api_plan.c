/* SPDX-License-Identifier: MIT */
/*
 * api_plan.c — the plan a collective would run under (algorithm, channels, slice)
 * and the cost model's time for it, for tools (the perf tools' --model). The
 * choice is api.c's own (api_choose); this file only prices it with the
 * communicator's model: the graph's on several hosts, the local one (shm or
 * loopback tcp) on one; either tuned by HALO_TUNE_FILE where it loaded.
 */
#include "api_pick.h"

#include <math.h>

#include "engine.h"
#include "reduce.h"
#include "relay.h"
#include "topo_cost.h"

/* Elements in the longest block the schedule of op cuts into slices (channel 0's
 * range is the longest): what slice_count sizes its slices by. */
static size_t api_plan_blockmax(const struct halo_comm *comm, const struct halo_op *op)
{
    size_t p = (size_t)(op->nchannels > 0 ? op->nchannels : 1), n = (size_t)comm->nranks;
    size_t range = (op->count + p - 1) / p;
    if (op->coll != HALO_COLL_ALLREDUCE)
        return range; /* one block: the per-rank count (gathers) or the buffer */
    switch (op->algo) {
    case HALO_ALGO_RING:
    case HALO_ALGO_RING_ZC:
    case HALO_ALGO_RING_BIDIR_ZC: /* a whole ring per channel */
    case HALO_ALGO_TWO_SHOT:
    case HALO_ALGO_TWO_SHOT_ZC: return (range + n - 1) / n;
    case HALO_ALGO_RING_BIDIR: return ((range + 1) / 2 + n - 1) / n;
    case HALO_ALGO_CHAIN:
    case HALO_ALGO_CHAIN_ZC: return (range + 1) / 2;
    default: return range;
    }
}

/* Bytes per slice as slice.c will cut them (op->slice, or the slot-based default). */
static size_t api_plan_slice(struct halo_comm *comm, const struct halo_op *op)
{
    struct halo_exec ex = {.comm = comm, .op = op, .esize = halo_dtype_size(op->dtype)};
    size_t blockmax = api_plan_blockmax(comm, op);
    size_t nslices = slice_count(&ex, blockmax);
    return (blockmax + nslices - 1) / nslices * ex.esize;
}

/* Which model prices comm's calls: the graph's ("links"), or on one host the local
 * one of its transport. */
static const char *api_plan_model(const struct halo_comm *comm)
{
    return comm->topo ? "links" : comm_local_tcp(comm) ? "tcp" : "shm";
}

void api_plan_query(struct halo_comm *comm, enum halo_coll coll, size_t count, haloDataType_t dt,
                    struct api_plan *out)
{
    struct halo_op op = {.coll = coll, .count = count, .dtype = dt, .op = haloSum, .root = 0, .comm = comm};
    const struct topo_cost_model *m = &comm->cost; /* on one host the local model (comm_topo.c) */
    const struct algo_row *row;
    int tc = api_topo_coll(coll);
    size_t bytes = count * halo_dtype_size(dt);

    if (coll == HALO_COLL_ALLGATHER || coll == HALO_COLL_REDUCESCATTER)
        bytes *= (size_t)comm->nranks;
    api_choose_afresh(comm, &op); /* the perf tools' thread, beside a GPU progress thread's calls */
    bytes = api_wire_bytes(&op, bytes); /* the model prices what travels */
    out->algo = op.algo;
    out->algo_name = op.algo_name;
    out->nchannels = op.nchannels;
    out->slice = api_plan_slice(comm, &op);
    out->model = api_plan_model(comm);
    row = algo_row_of(op.algo);
    out->time_s = row && row->topo_algo >= 0 && tc >= 0
                      ? topo_cost_coll(m, (enum topo_coll)tc, (enum topo_algo)row->topo_algo, bytes, out->slice,
                                       op.nchannels)
                      : INFINITY;
    out->modelled = out->time_s < INFINITY;
}

int api_p2p_hops(const struct halo_comm *comm, int a, int b)
{
    if (!relay_needed(comm) || !comm->ring)
        return 1;
    int hops = relay_route(comm, ring_pos_of(comm, a), ring_pos_of(comm, b), NULL);
    return hops > 1 ? hops : 1;
}

void api_plan_p2p(struct halo_comm *comm, int peer, int hops, size_t bytes, struct api_plan *out)
{
    struct halo_conn *c = NULL;
    int zc = 0;

    out->algo = HALO_ALGO_P2P;
    out->algo_name = "p2p";
    out->nchannels = 1;
    out->model = api_plan_model(comm);
    out->slice = comm->slot_size_tcp;
    if (hops > 1) {
        out->algo = HALO_ALGO_P2P_FWD; /* the relays' frames: a slot of the next hop */
        out->algo_name = "p2p_fwd";
    } else if (peer >= 0 && peer < comm->nranks && peer != comm->rank && comm->peers[peer].kind != HALO_TR_NONE) {
        c = engine_conn(comm, 0, peer);
        out->slice = c ? c->slot_size : comm_slot_size(comm, peer);
        zc = zc_usable(comm, c, bytes);
        if (zc) {
            out->algo = HALO_ALGO_P2P_ZC;
            out->algo_name = "p2p_zc";
            out->slice = c->zc_max;
        }
    }
    out->time_s = topo_cost_p2p(&comm->cost, bytes, hops, out->slice, zc);
    out->modelled = 1;
}
