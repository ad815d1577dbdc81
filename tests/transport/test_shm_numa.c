/* SPDX-License-Identifier: MIT */
/*
 * test_shm_numa.c — on a host of two NUMA nodes or more, shm places each rank's
 * receive FIFOs on the node of its CPUs.
 *
 * Two ranks (forked), rank r bound to the CPUs of the r-th node that has CPUs and
 * memory, join over shm and all-reduce; then four ranks on two channels (ranks 0
 * and 2 on the first node, 1 and 3 on the second: every segment holds a FIFO from
 * each peer on each channel). Each then reads /proc/self/numa_maps:
 * every present page of every haloccl segment it maps must be on the node of the
 * rank that owns the segment (its own: the FIFOs it receives through; its peer's:
 * the FIFO it sends through, whose pages it touched itself at init), and the
 * segment's policy must name that node. With HALO_SHM_NUMA=0 the same job leaves
 * the policy at the default. Skips on a host of one node (this machine, most
 * likely): the Soft-RoCE rig's first VM has two nodes and runs it there.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "haloccl.h"
#include "mp.h"
#include "numa.h"
#include "test.h"

static int node_ids[2];
static cpu_set_t node_cpus[2];

/* The first two online nodes with CPUs and memory; 0 when there are not two. */
static int pick_nodes(void)
{
    int found = 0;
    for (int node = 0; node < CPU_SETSIZE && found < 2; node++) {
        cpu_set_t s;
        if (halo_numa_node_cpus(NULL, node, &s) != 0 || CPU_COUNT(&s) == 0 || halo_numa_node_of(NULL, &s) != node)
            continue; /* no such node, no CPUs, or no memory of its own */
        node_ids[found] = node;
        node_cpus[found++] = s;
    }
    return found == 2;
}

/* Checks this process's haloccl mappings in numa_maps; prints what it finds. */
static int check_maps(int rank, int nranks, int placed)
{
    FILE *f = fopen("/proc/self/numa_maps", "r");
    char line[1024];
    int segs = 0, own_pages = 0, bad = 0;
    if (!f) {
        fprintf(stderr, "rank %d: no /proc/self/numa_maps\n", rank);
        return 1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *name = strstr(line, "/dev/shm/haloccl-");
        char hex[17];
        int owner;
        if (!name || sscanf(name, "/dev/shm/haloccl-%16[0-9a-f]-%d-", hex, &owner) != 2 || owner < 0 ||
            owner >= nranks)
            continue;
        segs++;
        int want = node_ids[owner % 2], pages = 0, elsewhere = 0;
        char policy[64] = "";
        sscanf(line, "%*s %63s", policy);
        for (char *t = strtok(line, " \n"); t; t = strtok(NULL, " \n")) {
            int node, count;
            if (sscanf(t, "N%d=%d", &node, &count) == 2)
                *(node == want ? &pages : &elsewhere) += count;
        }
        char want_policy[32];
        snprintf(want_policy, sizeof(want_policy), "prefer:%d", want);
        printf("rank %d: segment of rank %d: policy %s, %d page(s) on node %d, %d elsewhere\n", rank, owner, policy,
               pages, want, elsewhere);
        fflush(stdout);
        if (placed && (strcmp(policy, want_policy) != 0 || elsewhere != 0)) {
            fprintf(stderr, "rank %d: rank %d's segment should be %s with every page on node %d\n", rank, owner,
                    want_policy, want);
            bad = 1;
        }
        if (!placed && strcmp(policy, "default") != 0) {
            fprintf(stderr, "rank %d: HALO_SHM_NUMA=0, yet rank %d's segment has policy %s\n", rank, owner, policy);
            bad = 1;
        }
        if (owner == rank)
            own_pages = pages + elsewhere;
    }
    fclose(f);
    if (segs != nranks || own_pages == 0) {
        fprintf(stderr, "rank %d: %d haloccl segment(s) in numa_maps, %d page(s) of its own present; expected its "
                        "own and each of its %d peers', its own in use\n", rank, segs, own_pages, nranks - 1);
        bad = 1;
    }
    return bad;
}

static int rank_main(int rank, int nranks, haloUniqueId id, void *arg)
{
    int placed = *(int *)arg;
    haloComm_t comm;
    if (sched_setaffinity(0, sizeof(node_cpus[rank % 2]), &node_cpus[rank % 2]) != 0) {
        perror("sched_setaffinity");
        return 2;
    }
    if (haloCommInitRank(&comm, nranks, id, rank) != haloSuccess) {
        fprintf(stderr, "rank %d: init: %s\n", rank, haloGetLastError(NULL));
        return 3;
    }
    if (mp_sum_check(comm, rank, nranks, 65536, placed))
        return 4;
    int bad = check_maps(rank, nranks, placed);
    haloCommDestroy(comm);
    return bad ? 5 : 0;
}

int main(void)
{
    int nodes = halo_numa_nodes(NULL);
    if (nodes < 2)
        SKIP("this host has %d NUMA node: placement is tested where there are two (the Soft-RoCE rig's first VM)",
             nodes);
    if (!pick_nodes())
        SKIP("fewer than two NUMA nodes with both CPUs and memory");
    setenv("HALO_TRANSPORT", "shm", 1);
    int placed = 1;
    printf("nodes %d and %d, HALO_SHM_NUMA=1\n", node_ids[0], node_ids[1]);
    ASSERT_EQ(mp_run(2, rank_main, &placed, 60), 0);
    printf("4 ranks, 2 channels\n");
    setenv("HALO_NCHANNELS", "2", 1);
    ASSERT_EQ(mp_run(4, rank_main, &placed, 60), 0);
    unsetenv("HALO_NCHANNELS");
    setenv("HALO_SHM_NUMA", "0", 1);
    placed = 0;
    printf("HALO_SHM_NUMA=0\n");
    ASSERT_EQ(mp_run(2, rank_main, &placed, 60), 0);
    printf("test_shm_numa: ok\n");
    return 0;
}
