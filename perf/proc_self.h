/* SPDX-License-Identifier: MIT */
/*
 * proc_self.h — what this process holds, from /proc/self: resident memory,
 * threads, file descriptors, and the haloccl shared-memory segments it maps
 * (halo-info --footprint; the leak test in tests/faults reads the same).
 */
#ifndef HALO_PROC_SELF_H
#define HALO_PROC_SELF_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct proc_self {
    long rss_kib;  /* VmRSS */
    long shm_kib;  /* size of the mappings of /dev/shm/haloccl-* segments */
    int shm_maps;  /* how many such mappings */
    int threads, fds;
};

static inline int proc_self_count(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static inline struct proc_self proc_self_read(void)
{
    struct proc_self s = {0, 0, 0, proc_self_count("/proc/self/task"), proc_self_count("/proc/self/fd")};
    char line[512];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            s.rss_kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (strstr(line, "/haloccl-") && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
            s.shm_kib += (long)((hi - lo) / 1024);
            s.shm_maps++;
        }
    }
    if (f)
        fclose(f);
    return s;
}

#endif
