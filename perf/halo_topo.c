/* SPDX-License-Identifier: MIT */
/*
 * halo_topo.c — `halo-topo`: runs topology detection as a job and prints what the
 * library found: hosts, links (interfaces, addresses, speed, round trip), the
 * class (single host, pair, chain, ring, mesh), the rank order and the interface
 * each rank uses to reach its neighbours. Launch it like the benchmarks, one
 * process per rank: mpirun / srun / torchrun, or HALO_ROOT + HALO_RANK + HALO_NRANKS.
 *
 *   halo-topo [--json] [--plan SIZE]
 *
 * --plan SIZE adds the cost model's prediction for an allreduce of SIZE bytes
 * with every algorithm the topology can run, and the one it picks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "haloccl.h"
#include "param.h"
#include "topo.h"
#include "topo_cost.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: halo-topo [--json] [--plan SIZE]\n"
                 "  Detects the topology of the job it runs in (one process per rank, started by\n"
                 "  mpirun/srun/torchrun or with HALO_ROOT, HALO_RANK, HALO_NRANKS) and prints it.\n");
}

static void print_single(const struct halo_comm *comm, int json)
{
    if (json)
        printf("{\"class\":\"single\",\"nranks\":%d,\"hosts\":[\"%s\"]}\n", comm->nranks,
               comm->peers[0].info.hostname);
    else
        printf("class: single host (%s), %d ranks, no data links needed\n", comm->peers[0].info.hostname,
               comm->nranks);
}

static void print_plan(const struct halo_comm *comm, int64_t size)
{
    struct topo_cost_model m;
    if (comm->topo)
        topo_cost_model_from_graph(comm->topo, &m);
    else
        topo_cost_model_init(&m, TOPO_CLASS_SINGLE, 1);
    static char buf[16384];
    topo_cost_format_table(&m, (size_t)size, buf, sizeof(buf));
    fputs(buf, stdout);
}

int main(int argc, char **argv)
{
    int json = 0;
    int64_t plan = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--plan") == 0 && i + 1 < argc) {
            if (halo_parse_size(argv[++i], 0, &plan) != 0 || plan <= 0) {
                fprintf(stderr, "halo-topo: --plan %s: expected a size in bytes (k/m/g suffixes)\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    haloComm_t comm;
    if (haloCommInitEnv(&comm) != haloSuccess) {
        fprintf(stderr, "halo-topo: %s\n", haloGetLastError(NULL));
        return 1;
    }
    if (comm->rank == 0) {
        if (!comm->topo) {
            print_single(comm, json);
        } else {
            static char buf[65536];
            if (json)
                topo_graph_format_json(comm->topo, buf, sizeof(buf));
            else
                topo_graph_format_text(comm->topo, buf, sizeof(buf));
            fputs(buf, stdout);
            if (buf[0] && buf[strlen(buf) - 1] != '\n')
                putchar('\n');
        }
        if (plan > 0)
            print_plan(comm, plan);
        fflush(stdout);
    }
    /* keep every rank until rank 0 printed: the root lives in rank 0's process */
    int one = 1, sum;
    haloAllReduce(&one, &sum, 1, haloInt32, haloSum, comm, NULL);
    haloCommDestroy(comm);
    return 0;
}
