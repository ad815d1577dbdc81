/* SPDX-License-Identifier: MIT */
/*
 * halo_topo.c — `halo-topo`: runs topology detection as a job and prints what the
 * library found: hosts, links (interfaces, addresses, speed, round trip), the
 * class (single host, pair, chain, ring, mesh), the rank order and the interface
 * each rank uses to reach its neighbours. Launch it like the benchmarks: -n N
 * forks N local ranks; without it, one process per rank started by mpirun / srun /
 * torchrun, or HALO_ROOT + HALO_RANK + HALO_NRANKS.
 *
 *   halo-topo [-n N] [--json] [--plan SIZE]
 *
 * --plan SIZE adds what an allreduce of SIZE bytes would run: on several hosts the
 * cost model's prediction for every algorithm the topology can run and its pick;
 * on one host (no link to price) the algorithm the library picks there. Then, for
 * every collective, the plan the library would run for SIZE bytes (the larger
 * buffer; float32): algorithm, channels, slice and the model's time.
 * --json prints one JSON object in every mode: the topology, with "plan" inside.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "api_pick.h"
#include "comm.h"
#include "fork_id.h"
#include "haloccl.h"
#include "param.h"
#include "topo.h"
#include "topo_cost.h"


struct topo_tool_opts {
    int json;
    int64_t plan; /* bytes, -1: none */
    int nforks;   /* 0: one rank of a launched job */
};

static char topo_out[65536];

static void usage(FILE *out)
{
    fprintf(out, "usage: halo-topo [-n N] [--json] [--plan SIZE]\n"
                 "  Detects the topology of the job it runs in and prints it (rank 0).\n"
                 "  -n N         fork N local ranks; without it this process is one rank of a job\n"
                 "               started by mpirun/srun/torchrun or with HALO_ROOT, HALO_RANK, HALO_NRANKS\n"
                 "  --json       one JSON object (the plan, if asked, under \"plan\")\n"
                 "  --plan SIZE  what an allreduce of SIZE bytes runs (k/m/g suffixes)\n");
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Every collective's plan at `size` bytes of float32 (the larger buffer), as the
 * library would run it, with the model's time (api_plan_query). */
static void print_coll_plans(struct halo_comm *comm, int64_t size, int json)
{
    static const enum halo_coll colls[] = {HALO_COLL_ALLREDUCE, HALO_COLL_ALLGATHER, HALO_COLL_REDUCESCATTER,
                                           HALO_COLL_BROADCAST, HALO_COLL_REDUCE};
    if (comm->nranks < 2)
        return;
    printf(json ? ",\"collectives\":[" : "every collective at %lld bytes (float32):\n", (long long)size);
    for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++) {
        enum halo_coll c = colls[i];
        size_t count = (size_t)size / 4;
        if (c == HALO_COLL_ALLGATHER || c == HALO_COLL_REDUCESCATTER)
            count /= (size_t)comm->nranks; /* the API's count is per rank */
        struct api_plan p;
        api_plan_query(comm, c, count ? count : 1, haloFloat32, &p);
        if (json)
            printf("%s{\"coll\":\"%s\",\"algorithm\":\"%s\",\"channels\":%d,\"slice\":%zu,\"model\":\"%s\","
                   "\"time_us\":%.1f}", i ? "," : "", halo_coll_name(c), p.algo_name, p.nchannels, p.slice, p.model,
                   p.modelled ? p.time_s * 1e6 : -1.0);
        else if (p.modelled)
            printf("  %-14s %-10s %d channel(s), slice %zu: model (%s) %.1f us\n", halo_coll_name(c), p.algo_name,
                   p.nchannels, p.slice, p.model, p.time_s * 1e6);
        else
            printf("  %-14s %-10s %d channel(s), slice %zu: no model for it\n", halo_coll_name(c), p.algo_name,
                   p.nchannels, p.slice);
    }
    if (json)
        printf("]");
}

/* One host: shared memory (or loopback tcp) carries every pair, no link to price.
 * The plan is the choice the library makes there (api.c), with the thresholds it
 * applies. */
static void print_single_plan(struct halo_comm *comm, int64_t size, int json)
{
    const char *algo = comm->nranks < 2 ? "copy" : algo_name(api_allreduce_algo(comm, (size_t)size));
    long long dmax = (long long)api_direct_max(comm), bidir = (long long)api_bidir_min(comm);
    long long two_shot = (long long)api_two_shot_max(comm);
    char above[160], mid[64] = "";

    if (two_shot >= 0)
        snprintf(mid, sizeof(mid), "two_shot up to %lld bytes, ", two_shot);
    if (two_shot == INT64_MAX) /* crowded, 4 ranks or more over shm: every size above the one-shot's */
        snprintf(above, sizeof(above), "two_shot above");
    else if (bidir >= 0 && two_shot < bidir)
        snprintf(above, sizeof(above), "%sring up to %lld bytes, ring_bidir above", mid, bidir);
    else if (bidir >= 0)
        snprintf(above, sizeof(above), "%sring_bidir above", mid);
    else
        snprintf(above, sizeof(above), "%sring above", mid);
    if (json)
        printf(",\"plan\":{\"bytes\":%lld,\"class\":\"single\",\"nhosts\":1,\"runs\":\"%s\",\"direct_max\":%lld,"
               "\"bidir_min\":%lld,\"two_shot_max\":%lld,\"algorithms\":[]}", (long long)size, algo, dmax, bidir,
               two_shot);
    else if (comm->nranks < 2)
        printf("allreduce %lld bytes on one rank: a local copy\n", (long long)size);
    else
        printf("allreduce %lld bytes on one host (%d ranks, %s, no links to price): runs %s "
               "(direct up to HALO_DIRECT_MAX = %lld bytes, %s)\n",
               (long long)size, comm->nranks, comm_local_tcp(comm) ? "tcp over loopback" : "shared memory", algo,
               dmax, above);
}

static void print_single(struct halo_comm *comm, const struct topo_tool_opts *o)
{
    const char *host = comm->peers[0].info.hostname;

    if (!o->json) {
        printf("class: single host (%s), %d rank%s, no data links needed\n", host, comm->nranks,
               comm->nranks == 1 ? "" : "s");
        if (o->plan > 0) {
            print_single_plan(comm, o->plan, 0);
            print_coll_plans(comm, o->plan, 0);
        }
        return;
    }
    printf("{\"class\":\"single\",\"nhosts\":1,\"nranks\":%d,\"hosts\":[", comm->nranks);
    json_str(stdout, host);
    printf("]");
    if (o->plan > 0) {
        print_single_plan(comm, o->plan, 1);
        print_coll_plans(comm, o->plan, 1);
    }
    printf("}\n");
}

/* Several hosts: the graph, then the cost model's table. In JSON the graph's
 * object gets the plan as one more member before its closing brace. */
static void print_graph(struct halo_comm *comm, const struct topo_tool_opts *o)
{
    struct topo_cost_model m;
    size_t n;

    if (o->json)
        topo_graph_format_json(comm->topo, topo_out, sizeof(topo_out));
    else
        topo_graph_format_text(comm->topo, topo_out, sizeof(topo_out));
    n = strlen(topo_out);
    if (o->json && n >= 2 && strcmp(topo_out + n - 2, "}\n") == 0)
        topo_out[n -= 2] = '\0'; /* reopened: the plan and the brace follow */
    fputs(topo_out, stdout);
    if (!o->json && n && topo_out[n - 1] != '\n')
        putchar('\n');
    if (o->plan > 0) {
        const char *runs = algo_name(api_allreduce_algo(comm, (size_t)o->plan));
        m = comm->cost; /* the library's model: HALO_LINK_MBPS, rails and HALO_TUNE_FILE included */
        if (o->json) {
            topo_cost_format_json(&m, (size_t)o->plan, topo_out, sizeof(topo_out));
            n = strlen(topo_out);
            printf(",\"plan\":%.*s,\"runs\":\"%s\"}", (int)(n - 1), topo_out, runs); /* "runs" inside "plan" */
        } else {
            topo_cost_format_table(&m, (size_t)o->plan, topo_out, sizeof(topo_out));
            fputs(topo_out, stdout);
            printf("runs: %s\n", runs);
        }
        print_coll_plans(comm, o->plan, o->json);
    }
    if (o->json)
        printf("}\n");
}

static int topo_rank_main(haloComm_t comm, const struct topo_tool_opts *o)
{
    if (comm->rank == 0) {
        if (!comm->topo)
            print_single(comm, o);
        else
            print_graph(comm, o);
        fflush(stdout);
    }
    /* keep every rank until rank 0 printed: the root lives in rank 0's process */
    int one = 1, sum;
    haloResult_t r = haloAllReduce(&one, &sum, 1, haloInt32, haloSum, comm, NULL);
    haloCommDestroy(comm);
    return r == haloSuccess ? 0 : 1;
}

/* -n N: the ranks are forked by perf_fork_local_ranks (fork_ranks.c). */
static int topo_rank_run(haloComm_t comm, const void *arg)
{
    return topo_rank_main(comm, arg);
}

static int topo_parse_args(int argc, char **argv, struct topo_tool_opts *o)
{
    *o = (struct topo_tool_opts){.plan = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--plan") == 0 && i + 1 < argc) {
            if (halo_parse_size(argv[++i], 0, &o->plan) != 0 || o->plan <= 0) {
                fprintf(stderr, "halo-topo: --plan %s: expected a size in bytes (k/m/g suffixes)\n", argv[i]);
                return 2;
            }
        } else if ((strcmp(a, "-n") == 0 || strcmp(a, "--nranks") == 0) && i + 1 < argc) {
            if (perf_parse_nranks("halo-topo", argv[++i], &o->nforks) != 0)
                return 2;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct topo_tool_opts o;
    haloComm_t comm;
    int rc = topo_parse_args(argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (o.nforks)
        return perf_fork_local_ranks("halo-topo", o.nforks, topo_rank_run, &o);
    if (haloCommInitEnv(&comm) != haloSuccess) {
        fprintf(stderr, "halo-topo: %s\n"
                        "halo-topo: launch with mpirun/srun/torchrun, set HALO_ROOT, HALO_RANK and HALO_NRANKS, "
                        "or use -n N to fork N local ranks\n", haloGetLastError(NULL));
        return 1;
    }
    return topo_rank_main(comm, &o);
}
