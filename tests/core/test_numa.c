/* SPDX-License-Identifier: MIT */
/*
 * test_numa.c — NUMA lookups (src/base/numa.c) against sysfs trees written here:
 * sysfs lists, the node holding a CPU set (one node, a set spanning two, a node
 * without memory, nodes numbered with gaps, no tree at all), and mbind on this
 * machine's own node 0 where the kernel has NUMA.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "numa.h"
#include "test.h"

static char root[256];

static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/devices/system/node/%s", root, rel);
    for (char *s = strchr(path + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static cpu_set_t cpus_of(const char *list)
{
    cpu_set_t s;
    ASSERT_EQ(halo_numa_parse_list(list, &s), 0);
    return s;
}

static void test_lists(void)
{
    cpu_set_t s;
    ASSERT_EQ(halo_numa_parse_list("0-3,8,10-11\n", &s), 0);
    ASSERT_EQ(CPU_COUNT(&s), 7);
    ASSERT_TRUE(CPU_ISSET(3, &s) && CPU_ISSET(8, &s) && CPU_ISSET(11, &s) && !CPU_ISSET(4, &s) && !CPU_ISSET(9, &s));
    ASSERT_EQ(halo_numa_parse_list("\n", &s), 0);
    ASSERT_EQ(CPU_COUNT(&s), 0);
    ASSERT_EQ(halo_numa_parse_list("3-1", &s), -1);
    ASSERT_EQ(halo_numa_parse_list("0,x", &s), -1);
    ASSERT_EQ(halo_numa_parse_list("0-99999", &s), -1);
}

static void test_nodes(void)
{
    /* Two nodes of 4 CPUs, their CPUs interleaved as on many two-socket hosts. */
    put("online", "0-1\n");
    put("has_memory", "0-1\n");
    put("node0/cpulist", "0-1,4-5\n");
    put("node1/cpulist", "2-3,6-7\n");
    ASSERT_EQ(halo_numa_nodes(root), 2);
    cpu_set_t s;
    ASSERT_EQ(halo_numa_node_cpus(root, 1, &s), 0);
    ASSERT_TRUE(CPU_COUNT(&s) == 4 && CPU_ISSET(2, &s) && CPU_ISSET(7, &s) && !CPU_ISSET(4, &s));
    ASSERT_EQ(halo_numa_node_cpus(root, 5, &s), -1);
    s = cpus_of("0");
    ASSERT_EQ(halo_numa_node_of(root, &s), 0);
    s = cpus_of("4-5");
    ASSERT_EQ(halo_numa_node_of(root, &s), 0);
    s = cpus_of("6");
    ASSERT_EQ(halo_numa_node_of(root, &s), 1);
    s = cpus_of("1-2"); /* spans both */
    ASSERT_EQ(halo_numa_node_of(root, &s), -1);
    s = cpus_of("0-7"); /* unbound */
    ASSERT_EQ(halo_numa_node_of(root, &s), -1);
    s = cpus_of("");
    ASSERT_EQ(halo_numa_node_of(root, &s), -1);

    /* Node 1 without memory (CPUs only): nothing is placed for its CPUs. */
    put("has_memory", "0\n");
    s = cpus_of("2");
    ASSERT_EQ(halo_numa_node_of(root, &s), -1);
    s = cpus_of("0");
    ASSERT_EQ(halo_numa_node_of(root, &s), 0);

    /* Nodes 0 and 2 online (1 gone), no has_memory file (older kernels). */
    char path[512];
    snprintf(path, sizeof(path), "%s/devices/system/node/has_memory", root);
    unlink(path);
    put("online", "0,2\n");
    put("node2/cpulist", "2-3,6-7\n");
    ASSERT_EQ(halo_numa_nodes(root), 2);
    s = cpus_of("3,7");
    ASSERT_EQ(halo_numa_node_of(root, &s), 2);

    /* One node: there is nothing to choose. */
    put("online", "0\n");
    ASSERT_EQ(halo_numa_nodes(root), 1);
    s = cpus_of("0");
    ASSERT_EQ(halo_numa_node_of(root, &s), -1);

    /* No tree at all (no NUMA in the kernel, no sysfs). */
    ASSERT_EQ(halo_numa_nodes("/nonexistent"), 1);
    ASSERT_EQ(halo_numa_node_of("/nonexistent", &s), -1);
}

/* Node 0 exists on every Linux; mbind works wherever the kernel has NUMA. */
static void test_prefer(void)
{
    long psz = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)psz * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(p != MAP_FAILED);
    int e = halo_numa_prefer(p, (size_t)psz * 4, 0);
    if (e == ENOSYS)
        printf("test_numa: this kernel has no NUMA (mbind: ENOSYS)\n");
    else
        ASSERT_EQ(e, 0);
    ASSERT_EQ(halo_numa_prefer(p, (size_t)psz * 4, -1), EINVAL);
    munmap(p, (size_t)psz * 4);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/test_numa.%d", (int)getpid());
    mkdir(root, 0755);
    test_lists();
    test_nodes();
    test_prefer();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "test_numa: could not remove %s\n", root);
    printf("test_numa: ok\n");
    return 0;
}
