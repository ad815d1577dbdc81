/* SPDX-License-Identifier: MIT */
/*
 * model.c — the perf tools' --model (see model.h). The plan is the library's own
 * choice for the call (api_choose through api_plan_query), so the prediction is of
 * what was measured; the model is comm's graph model on several hosts, the local
 * shm or loopback-tcp model on one (topo_cost_model_local).
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api_pick.h"
#include "comm.h"
#include "reduce.h"
#include "topo.h"
#include "topo_cost.h"

static const struct {
    const char *call;
    enum halo_coll coll;
} perf_model_calls[] = {
    {"haloAllReduce", HALO_COLL_ALLREDUCE},         {"haloAllGather", HALO_COLL_ALLGATHER},
    {"haloReduceScatter", HALO_COLL_REDUCESCATTER}, {"haloBroadcast", HALO_COLL_BROADCAST},
    {"haloReduce", HALO_COLL_REDUCE},
};

#define PERF_MODEL_P2P "haloSend/haloRecv" /* sendrecv_bw's call */

/* The collective of an API call's name; 0 when it is none (send/recv, or unknown). */
static enum halo_coll perf_model_coll(const char *call)
{
    for (size_t i = 0; i < sizeof(perf_model_calls) / sizeof(perf_model_calls[0]); i++)
        if (strcmp(call, perf_model_calls[i].call) == 0)
            return perf_model_calls[i].coll;
    return 0;
}

/* sendrecv_bw's pattern, priced by its longest message: every rank r sends to r+1
 * (root <= 0), or ranks 0 and root exchange. All messages move at once, each
 * over its own link direction (or each rank's own copies on one host), so the
 * call takes as long as the message that crosses the most links. */
static void perf_model_p2p(haloComm_t comm, int root, size_t bytes, struct api_plan *p)
{
    int n = comm->nranks, hops = 1, peer = (comm->rank + 1) % n;

    if (root > 0) {
        hops = api_p2p_hops(comm, 0, root);
        peer = comm->rank == 0 ? root : 0;
    } else {
        for (int r = 0; r < n; r++) {
            int h = api_p2p_hops(comm, r, (r + 1) % n);
            hops = h > hops ? h : hops;
        }
    }
    api_plan_p2p(comm, peer, hops, bytes, p);
}

static void perf_model_size(size_t bytes, char *buf, size_t len)
{
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        snprintf(buf, len, "%zuM", bytes >> 20);
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, len, "%zuk", bytes >> 10);
    else
        snprintf(buf, len, "%zu", bytes);
}

void perf_model_header(haloComm_t comm, const char *call)
{
    const struct topo_cost_model *m = &comm->cost;
    struct api_plan p;

    if (!perf_model_coll(call) && strcmp(call, PERF_MODEL_P2P) != 0) {
        printf("# model: none for %s\n", call);
        return;
    }
    api_plan_query(comm, HALO_COLL_ALLREDUCE, 1, haloFloat32, &p); /* which model */
    printf("# model: %s, %s of %d: alpha %.1f us, B %.0f Mbit/s, %.1f us per message, ",
           comm->topo ? "links" : p.model, comm->topo ? topo_class_name(m->cls) : "one host", m->nhosts,
           m->alpha_s * 1e6, m->bw_Bps * 8 / 1e6, m->msg_overhead_s * 1e6);
    if (m->chan_bw_Bps > 0)
        printf("%.0f MB/s per channel, ", m->chan_bw_Bps / 1e6);
    else /* tuned: measured rates per channel count instead of a cap */
        printf("x%.2f/x%.2f with 2/4 channels, ", m->chan_gain[2] > 0 ? m->chan_gain[2] : 1,
               m->chan_gain[4] > 0 ? m->chan_gain[4] : 1);
    printf("reduce %.0f MB/s, %s, %s\n", m->reduce_Bps / 1e6,
           m->shared_nic ? (comm->topo ? "shared NIC" : "one copy rate per rank") : "one link per peer",
           comm->cost_note[0] ? comm->cost_note : "defaults (not tuned)");
    printf("# model columns: predicted out-of-place time (us), measured / predicted, plan "
           "(algorithm/channels/slice as run)\n");
}

void perf_model_row(haloComm_t comm, const char *call, size_t count, haloDataType_t dt, int root,
                    double measured_us, int json)
{
    enum halo_coll coll = perf_model_coll(call);
    int p2p = strcmp(call, PERF_MODEL_P2P) == 0;
    struct api_plan p;
    char slice[32];

    if ((!coll && !p2p) || comm->nranks < 2) {
        printf(json ? ",\"model\":null" : "  model: none");
        return;
    }
    if (p2p)
        perf_model_p2p(comm, root, count * halo_dtype_size(dt), &p);
    else
        api_plan_query(comm, coll, count, dt, &p);
    perf_model_size(p.slice, slice, sizeof(slice));
    if (json) {
        printf(",\"model_plan\":{\"algorithm\":\"%s\",\"channels\":%d,\"slice\":%zu,\"model\":\"%s\"}", p.algo_name,
               p.nchannels, p.slice, p.model);
        if (p.modelled)
            printf(",\"model_time_us\":%.3f,\"model_ratio\":%.4f", p.time_s * 1e6, measured_us / (p.time_s * 1e6));
        else
            printf(",\"model_time_us\":null,\"model_ratio\":null");
        return;
    }
    if (p.modelled)
        printf("  %9.1f  %5.2f  %s/%dch/%s", p.time_s * 1e6, measured_us / (p.time_s * 1e6), p.algo_name,
               p.nchannels, slice);
    else
        printf("  %9s  %5s  %s/%dch/%s (no formula)", "-", "-", p.algo_name, p.nchannels, slice);
}
