/* SPDX-License-Identifier: MIT */
/*
 * api_pick.h — the algorithm choice of api.c, for tools that say what a live
 * communicator would run (halo-topo --plan, the perf tools' --model) without
 * running it.
 */
#ifndef HALO_API_PICK_H
#define HALO_API_PICK_H

#include <stddef.h>
#include <stdint.h>

#include "algos.h"
#include "comm.h"

/* The row an allreduce of `bytes` runs under on comm: HALO_ALGO's when forced,
 * else the auto choice (one host: direct up to api_direct_max, ring above, ring_bidir over tcp;
 * several hosts: the cost model's pick). Pure: no I/O, no state change. */
enum halo_algo api_allreduce_algo(struct halo_comm *comm, size_t bytes);
/* HALO_DIRECT_MAX as the auto choice applies it (auto resolved by rank count). */
int64_t api_direct_max(const struct halo_comm *comm);
/* On one host over loopback tcp with 3 or more ranks, the size above which the
 * auto all-reduce runs ring_bidir; -1 where it does not. */
int64_t api_bidir_min(const struct halo_comm *comm);
/* One host whose ranks outnumber its cores, 3 ranks or more: all-reduces above the
 * one-shot's sizes up to this run two-shot; -1 elsewhere. */
int64_t api_two_shot_max(const struct halo_comm *comm);
/* The cost model's collective (enum topo_coll) of coll; -1 for send/recv. */
int api_topo_coll(enum halo_coll coll);
/* What coll_execute runs for op (coll, count, dtype set): sets op->algo,
 * algo_name, nchannels and slice (0: the slot-based default of slice.c). Keeps the
 * choice for the collective's next call of the same size (comm->choice), so only
 * the thread running the communicator's calls may call it. */
void api_choose(struct halo_comm *comm, struct halo_op *op);
/* The same choice, priced afresh, neither reading nor writing comm->choice. */
void api_choose_afresh(struct halo_comm *comm, struct halo_op *op);
/* The bytes of a call's buffer of `bytes` on the wire: its wire format's size
 * (op->wire, set by api_choose) or bytes itself. */
size_t api_wire_bytes(const struct halo_op *op, size_t bytes);

/* A collective's plan as it would run, and the model's prediction of it. */
struct api_plan {
    enum halo_algo algo;
    const char *algo_name;
    int nchannels;
    size_t slice;     /* bytes per pipeline slice in effect (the model's or slice.c's) */
    int modelled;     /* 0: no formula for this algorithm and collective */
    double time_s;    /* the model's time for exactly this algorithm, slice, channels */
    const char *model; /* "links" (the topology's graph), "shm" or "tcp" (one host) */
};
/* The plan of coll with count elements of dt (the API's count: per rank for
 * all-gather and reduce-scatter) on comm, as coll_execute would choose it, priced
 * by comm's cost model or, on one host, by the local model of its transport
 * (topo_cost_model_local). Pure; the comm must not be in a call on another thread. */
void api_plan_query(struct halo_comm *comm, enum halo_coll coll, size_t count, haloDataType_t dt,
                    struct api_plan *out);
/* Links a message from rank a to rank b crosses, as the relay forwards it along
 * the topology's order (relay_route; one rank per host): 1 between linked
 * hosts, on a switch or mesh, and on one host. */
int api_p2p_hops(const struct halo_comm *comm, int a, int b);
/* The plan of one haloSend/haloRecv message of `bytes` crossing `hops` links
 * (api_p2p_hops): "p2p_fwd" when relayed (hops > 1), else as this rank's
 * connection to `peer` would carry it: "p2p_zc" (ib zero-copy, as p2p_init_tasks
 * decides) or "p2p" through the slots; slice = the frame. Priced by the
 * communicator's model (topo_cost_p2p). Pure, as api_plan_query. */
void api_plan_p2p(struct halo_comm *comm, int peer, int hops, size_t bytes, struct api_plan *out);

#endif
