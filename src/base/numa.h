/* SPDX-License-Identifier: MIT */
/*
 * numa.h — NUMA placement without libnuma: which node holds a set of CPUs (from
 * sysfs), and a preferred node for a range of memory (mbind(2)).
 *
 * sysroot is the sysfs mount ("" or NULL: /sys); tests pass a directory of their
 * own holding devices/system/node/{online,has_memory,nodeN/cpulist}.
 */
#ifndef HALO_NUMA_H
#define HALO_NUMA_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stddef.h>

/* Online NUMA nodes; 1 where sysfs says nothing (a kernel without NUMA). */
int halo_numa_nodes(const char *sysroot);

/* Node `node`'s CPUs (its cpulist); 0, or -1 where sysfs has no such node. */
int halo_numa_node_cpus(const char *sysroot, int node, cpu_set_t *cpus);

/* The node whose CPUs include every CPU of cpus and that has memory of its own;
 * -1 when they span nodes, the set is empty, or there is one node or none. */
int halo_numa_node_of(const char *sysroot, const cpu_set_t *cpus);

/* halo_numa_node_of this thread's CPU affinity (sysfs at /sys); -1 as there. */
int halo_numa_self_node(void);

/* Pages of [p, p + len) (p page-aligned) come from node first, whichever process
 * touches them; on a shared mapping of a tmpfs file the policy is the file's, so
 * every process mapping it allocates there. 0, or errno (ENOSYS: no NUMA kernel). */
int halo_numa_prefer(void *p, size_t len, int node);

/* Parses a sysfs list ("0-3,8,10-11") into set; -1 on a malformed list or a
 * number beyond CPU_SETSIZE. */
int halo_numa_parse_list(const char *s, cpu_set_t *set);

#endif
