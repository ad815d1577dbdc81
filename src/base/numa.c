/* SPDX-License-Identifier: MIT */
/*
 * numa.c — see numa.h. sysfs lists node N's CPUs in
 * devices/system/node/nodeN/cpulist, the online nodes in .../online and the nodes
 * with memory in .../has_memory (absent on old kernels: every node then counts).
 */
#include "numa.h"

#include <errno.h>
#include <linux/mempolicy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Reads <sysroot>/devices/system/node/<name> as a list; -1 when absent or bad. */
static int numa_read_list(const char *sysroot, const char *name, cpu_set_t *set)
{
    char path[512], buf[4096];
    snprintf(path, sizeof(path), "%s/devices/system/node/%s", sysroot && *sysroot ? sysroot : "/sys", name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return halo_numa_parse_list(buf, set);
}

int halo_numa_parse_list(const char *s, cpu_set_t *set)
{
    CPU_ZERO(set);
    while (*s == ' ')
        s++;
    while (*s && *s != '\n') {
        char *end;
        long lo = strtol(s, &end, 10), hi = lo;
        if (end == s || lo < 0)
            return -1;
        s = end;
        if (*s == '-') {
            hi = strtol(s + 1, &end, 10);
            if (end == s + 1 || hi < lo)
                return -1;
            s = end;
        }
        if (hi >= CPU_SETSIZE)
            return -1;
        for (long i = lo; i <= hi; i++)
            CPU_SET((int)i, set);
        if (*s == ',')
            s++;
        else if (*s && *s != '\n')
            return -1;
    }
    return 0;
}

int halo_numa_nodes(const char *sysroot)
{
    cpu_set_t online;
    int n = numa_read_list(sysroot, "online", &online) == 0 ? CPU_COUNT(&online) : 0;
    return n > 0 ? n : 1;
}

int halo_numa_node_cpus(const char *sysroot, int node, cpu_set_t *cpus)
{
    char name[32];
    snprintf(name, sizeof(name), "node%d/cpulist", node);
    return numa_read_list(sysroot, name, cpus);
}

int halo_numa_node_of(const char *sysroot, const cpu_set_t *cpus)
{
    cpu_set_t online, mem, node_cpus, outside;
    if (CPU_COUNT(cpus) == 0 || numa_read_list(sysroot, "online", &online) != 0 || CPU_COUNT(&online) < 2)
        return -1;
    int mem_known = numa_read_list(sysroot, "has_memory", &mem) == 0;
    for (int node = 0; node < CPU_SETSIZE; node++) {
        if (!CPU_ISSET(node, &online) || (mem_known && !CPU_ISSET(node, &mem)))
            continue;
        if (halo_numa_node_cpus(sysroot, node, &node_cpus) != 0)
            continue;
        CPU_AND(&outside, cpus, &node_cpus);
        if (CPU_EQUAL(&outside, cpus))
            return node;
    }
    return -1;
}

int halo_numa_self_node(void)
{
    cpu_set_t cpus;
    return sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? halo_numa_node_of(NULL, &cpus) : -1;
}

int halo_numa_prefer(void *p, size_t len, int node)
{
    /* A mask of CPU_SETSIZE bits; the kernel reads maxnode - 1 of them. */
    unsigned long mask[CPU_SETSIZE / (8 * sizeof(unsigned long))];
    if (node < 0 || node >= CPU_SETSIZE)
        return EINVAL;
    memset(mask, 0, sizeof(mask));
    mask[node / (8 * sizeof(unsigned long))] = 1UL << (node % (8 * sizeof(unsigned long)));
    return syscall(SYS_mbind, p, len, MPOL_PREFERRED, mask, (unsigned long)CPU_SETSIZE + 1, 0) == 0 ? 0 : errno;
}
