/* SPDX-License-Identifier: MIT */
/*
 * halo_info_footprint.c — `halo-info --footprint [N[,N...]] [--transport T[,T...]]`:
 * what one communicator costs each rank, measured. For every rank count and
 * transport it forks a job of that many processes on this host; each process
 * measures itself before haloCommInitRank and after the communicator's first
 * calls (a 4 MiB all-reduce, which starts every channel, and an 8-byte one):
 * resident memory (its share of the shared-memory FIFOs included, as the kernel
 * counts it), the haloccl shared-memory segments it maps, threads and file
 * descriptors. One table row per job: the largest rank's figures, and the node's
 * total resident growth (the sum over ranks; pages two ranks share count twice).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork_id.h"
#include "halo_info_footprint.h"
#include "haloccl.h"
#include "proc_self.h"

#define FP_MAX_RANKS 16
#define FP_BIG (4u << 20)

struct fp_delta {
    int ok;
    long rss_kib, shm_kib;
    int threads, fds;
};

/* One rank: its growth from before init to after the first calls. */
static struct fp_delta fp_rank(int rank, int n, haloUniqueId id)
{
    struct fp_delta d = {0};
    float *big = malloc(FP_BIG), small[2] = {1, 2};
    if (!big)
        return d;
    memset(big, 0, FP_BIG); /* the caller's buffers are not the communicator's cost */
    struct proc_self before = proc_self_read();
    haloComm_t comm = NULL;
    if (haloCommInitRank(&comm, n, id, rank) == haloSuccess &&
        haloAllReduce(big, big, FP_BIG / sizeof(float), haloFloat32, haloSum, comm, NULL) == haloSuccess &&
        haloAllReduce(small, small, 2, haloFloat32, haloSum, comm, NULL) == haloSuccess) {
        struct proc_self after = proc_self_read();
        d = (struct fp_delta){1, after.rss_kib - before.rss_kib, after.shm_kib - before.shm_kib,
                              after.threads - before.threads, after.fds - before.fds};
    } else {
        fprintf(stderr, "halo-info: rank %d of %d: %s\n", rank, n, haloGetLastError(comm));
    }
    if (comm)
        haloCommDestroy(comm);
    free(big);
    return d;
}

/* Forks a job of n ranks on transport tp; fills the per-rank deltas. 0 or -1. */
static int fp_job(int n, const char *tp, struct fp_delta *out)
{
    pid_t pids[FP_MAX_RANKS], parent = getpid();
    int in[FP_MAX_RANKS][2], back[FP_MAX_RANKS][2];
    for (int r = 0; r < n; r++) {
        if (pipe(in[r]) != 0 || pipe(back[r]) != 0)
            return -1;
        fflush(NULL);
        pids[r] = fork();
        if (pids[r] < 0)
            return -1;
        if (pids[r] == 0) { /* the id comes after the fork (fork_id.h says why) */
            haloUniqueId id;
            setenv("HALO_TRANSPORT", tp, 1);
            setenv("HALO_GPU_RUNTIME", "none", 1);
            close(in[r][1]);
            close(back[r][0]);
            struct fp_delta d = {0};
            if (perf_child_read_id(in[r][0], parent, &id) == 0)
                d = fp_rank(r, n, id);
            _exit(write(back[r][1], &d, sizeof(d)) == (ssize_t)sizeof(d) && d.ok ? 0 : 1);
        }
        close(in[r][0]);
        close(back[r][1]);
    }
    haloUniqueId id;
    int rc = haloGetUniqueId(&id) == haloSuccess ? 0 : -1;
    for (int r = 0; r < n; r++) {
        if (rc != 0 || write(in[r][1], &id, sizeof(id)) != (ssize_t)sizeof(id))
            kill(pids[r], SIGKILL);
        close(in[r][1]);
    }
    for (int r = 0; r < n; r++) {
        if (read(back[r][0], &out[r], sizeof(out[r])) != (ssize_t)sizeof(out[r]) || !out[r].ok)
            rc = -1;
        close(back[r][0]);
        int st;
        waitpid(pids[r], &st, 0);
    }
    return rc;
}

/* "2,4,8" -> counts; returns how many, or -1. */
static int fp_parse_counts(const char *s, int *v, int max)
{
    int n = 0;
    for (const char *p = s; *p && n < max;) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 2 || x > FP_MAX_RANKS)
            return -1;
        v[n++] = (int)x;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

int halo_info_footprint(int argc, char **argv)
{
    int counts[8] = {2, 4, 8}, ncounts = 3;
    char tps[64] = "shm,tcp";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--transport") && i + 1 < argc)
            snprintf(tps, sizeof(tps), "%s", argv[++i]);
        else if ((ncounts = fp_parse_counts(argv[i], counts, 8)) < 0) {
            fprintf(stderr, "halo-info --footprint: rank counts are 2..%d, comma-separated (\"%s\")\n", FP_MAX_RANKS,
                    argv[i]);
            return 2;
        }
    }
    printf("# one communicator per rank, all ranks on this host; growth from before init to after a 4 MiB and\n"
           "# an 8-byte all-reduce (defaults: HALO_BUFFSIZE, HALO_NCHANNELS, HALO_CHUNK_SIZE as set here)\n");
    printf("| ranks | transport | resident per rank (MiB) | shm mapped per rank (MiB) | threads per rank | "
           "fds per rank | resident, all ranks (MiB) |\n|---|---|---|---|---|---|---|\n");
    int failed = 0;
    for (int c = 0; c < ncounts; c++) {
        char list[64];
        snprintf(list, sizeof(list), "%s", tps);
        for (char *save = NULL, *tp = strtok_r(list, ",", &save); tp; tp = strtok_r(NULL, ",", &save)) {
            struct fp_delta d[FP_MAX_RANKS];
            memset(d, 0, sizeof(d));
            if (fp_job(counts[c], tp, d) != 0) {
                printf("| %d | %s | failed (see above) | | | | |\n", counts[c], tp);
                failed = 1;
                continue;
            }
            struct fp_delta m = d[0];
            long total = 0;
            for (int r = 0; r < counts[c]; r++) {
                m.rss_kib = d[r].rss_kib > m.rss_kib ? d[r].rss_kib : m.rss_kib;
                m.shm_kib = d[r].shm_kib > m.shm_kib ? d[r].shm_kib : m.shm_kib;
                m.threads = d[r].threads > m.threads ? d[r].threads : m.threads;
                m.fds = d[r].fds > m.fds ? d[r].fds : m.fds;
                total += d[r].rss_kib;
            }
            printf("| %d | %s | %.1f | %.1f | %d | %d | %.1f |\n", counts[c], tp, m.rss_kib / 1024.0,
                   m.shm_kib / 1024.0, m.threads, m.fds, total / 1024.0);
            fflush(stdout);
        }
    }
    return failed ? 1 : 0;
}
