/* SPDX-License-Identifier: MIT */
/*
 * comm_tune.c — HALO_TUNE_FILE at communicator creation: the cost model takes
 * the numbers `halo-tune` measured on this cluster (src/topology/tune.c) instead
 * of link speeds, probe round trips and defaults.
 *
 * Sequence (every rank, after the topology and the relay plan, before connecting;
 * only when HALO_TUNE_FILE is set, which the ranks agreed on with the peer info):
 *   1. rank 0 reads and parses the file, checks it was measured on this job's
 *      hosts and links (or, on one host, this host and transport) and applies it
 *      to a copy of its model;
 *   2. all-gather one struct comm_tune_wire per rank (only rank 0's is filled);
 *   3. every rank copies rank 0's numbers into its model.
 * So every rank plans with the same numbers even if the file exists on rank 0's
 * host only, or differs between hosts. A file that cannot be used is a WARN on
 * rank 0 naming the reason; the model keeps its defaults, and init goes on.
 */
#define HALO_ERR_SUBSYS HALO_SUB_TOPO /* errors recorded here log under this subsystem */
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "comm.h"
#include "error.h"
#include "log.h"
#include "tune.h"

/* What rank 0 derived from the file: the model's fields a file sets. */
struct comm_tune_wire {
    int32_t ok;
    int32_t pad;
    double alpha_s, msg_overhead_s, bw_Bps, chan_bw_Bps, reduce_Bps;
    double chan_gain[TOPO_COST_MAX_CHANNELS + 1];
    char path[160];
};

int comm_local_tcp(const struct halo_comm *comm)
{
    for (int p = 0; p < comm->nranks; p++)
        if (p != comm->rank && comm->peers[p].kind == HALO_TR_TCP)
            return 1;
    return 0;
}

/* Step 1, on rank 0. */
static void comm_tune_read(struct halo_comm *comm, const char *path, struct comm_tune_wire *w)
{
    struct topo_tune *t = malloc(sizeof(*t));
    struct topo_cost_model m = comm->cost;
    char why[512] = "out of memory";
    const char *transport = comm->topo ? TOPO_TUNE_LINKS : comm_local_tcp(comm) ? "tcp" : "shm";

    if (t && topo_tune_read(path, t, why, sizeof(why)) == 0 &&
        topo_tune_apply(t, comm->topo, comm->peers[0].info.hostname, transport, &m, why, sizeof(why)) == 0) {
        w->ok = 1;
        w->alpha_s = m.alpha_s;
        w->msg_overhead_s = m.msg_overhead_s;
        w->bw_Bps = m.bw_Bps;
        w->chan_bw_Bps = m.chan_bw_Bps;
        w->reduce_Bps = m.reduce_Bps;
        memcpy(w->chan_gain, m.chan_gain, sizeof(w->chan_gain));
        snprintf(w->path, sizeof(w->path), "%s", path);
    } else {
        HLOG_WARN(HALO_SUB_TOPO, comm->rank, "HALO_TUNE_FILE=%s not used: %s; the cost model keeps its defaults "
                  "(run halo-tune on this cluster to measure it again)", path, why);
    }
    free(t);
}

/* Step 3, on every rank. */
static void comm_tune_take(struct halo_comm *comm, const struct comm_tune_wire *w)
{
    struct topo_cost_model *m = &comm->cost;

    m->alpha_s = w->alpha_s;
    m->msg_overhead_s = w->msg_overhead_s;
    m->bw_Bps = w->bw_Bps;
    m->chan_bw_Bps = w->chan_bw_Bps;
    m->reduce_Bps = w->reduce_Bps;
    memcpy(m->chan_gain, w->chan_gain, sizeof(m->chan_gain));
    snprintf(comm->cost_note, sizeof(comm->cost_note), "tuned from %.160s", w->path);
    if (comm->rank == 0)
        HLOG_INFO(HALO_SUB_TOPO, comm->rank,
                  "cost model tuned from %s: alpha %.1f us, %.2f us per message, %.0f/%.0f/%.0f MB/s with 1/2/4 "
                  "channels, reduce %.0f MB/s", w->path, m->alpha_s * 1e6, m->msg_overhead_s * 1e6, m->bw_Bps / 1e6,
                  m->bw_Bps * m->chan_gain[2] / 1e6, m->bw_Bps * m->chan_gain[4] / 1e6, m->reduce_Bps / 1e6);
}

haloResult_t comm_tune_setup(struct halo_comm *comm)
{
    if (!comm->peers[0].info.tune_file)
        return haloSuccess;
    struct comm_tune_wire *all = calloc((size_t)comm->nranks, sizeof(*all));
    if (!all)
        return halo_error(comm, haloSystemError, "rank %d: out of memory for HALO_TUNE_FILE", comm->rank);
    if (comm->rank == 0)
        comm_tune_read(comm, HALO_P_STR(&comm->params, tune_file), &all[0]);
    haloResult_t r = comm->nranks > 1 ? bootstrap_allgather(comm->bs, all, sizeof(*all)) : haloSuccess;
    if (r == haloSuccess && all[0].ok)
        comm_tune_take(comm, &all[0]);
    free(all);
    return r;
}
