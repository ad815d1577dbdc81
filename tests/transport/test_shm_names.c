/* SPDX-License-Identifier: MIT */
/*
 * test_shm_names.c — shm segments are unique per job instance and gone from
 * /dev/shm once init returns; HALO_TRANSPORT=tcp maps no segment at all.
 *
 * Job 1: two ranks (forked processes) joined through a fixed HALO_ROOT and
 * secret over shm. Each rank lists the haloccl segments it has mapped
 * (/proc/self/maps): there must be some, and none may still have a name in
 * /dev/shm. The parent then recreates those names, as a rank killed during init
 * would have left them, and runs job 2 with the same root and secret: it must
 * form and all-reduce correctly (it used to fail with "File exists"). Job 3 runs
 * with HALO_TRANSPORT=tcp and must map no haloccl segment.
 * Job 1 also checks that init mapped the FIFOs' pages into each rank
 * (/proc/self/pagemap): a first pass of frames through slots whose pages are
 * not yet mapped takes a page fault per page, microseconds each on a VM. Of two
 * ranks' segments, each rank receives through half of its own (the other half
 * is the FIFO from itself, unused) and sends through half of its peer's (kernels
 * before 5.14 cannot map pages in on request: there the check is left out).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "haloccl.h"
#include "mp.h"
#include "test.h"

#define MAX_NAMES 8

/* The /dev/shm/haloccl-* paths mapped by this process, without " (deleted)". */
static int mapped_segments(char names[][256], int max)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f) && n < max) {
        char *p = strstr(line, "/dev/shm/haloccl-");
        if (!p)
            continue;
        p[strcspn(p, " \n")] = '\0';
        snprintf(names[n++], 256, "%s", p);
    }
    fclose(f);
    return n;
}

/* Pages of every /dev/shm/haloccl-* mapping of this process, and how many of them
 * are present in its page table (/proc/self/pagemap bit 63). 0, or -1 on error. */
static int segment_pages(long *pages, long *present)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int pm = open("/proc/self/pagemap", O_RDONLY);
    long psz = sysconf(_SC_PAGESIZE);
    char line[512];
    *pages = *present = 0;
    if (!f || pm < 0) {
        if (f)
            fclose(f);
        if (pm >= 0)
            close(pm);
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (!strstr(line, "/dev/shm/haloccl-") || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
            continue;
        for (unsigned long a = lo; a < hi; a += (unsigned long)psz) {
            uint64_t e = 0;
            if (pread(pm, &e, sizeof(e), (off_t)(a / (unsigned long)psz * sizeof(e))) != (ssize_t)sizeof(e))
                break;
            (*pages)++;
            *present += (long)(e >> 63);
        }
    }
    fclose(f);
    close(pm);
    return 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Whether this kernel maps pages in on request (5.14+); before, shm leaves the
 * FIFOs' pages to their first touch and the check above does not apply. */
static int populate_supported(void)
{
    long psz = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    int ok = madvise(p, (size_t)psz, MADV_POPULATE_WRITE) == 0;
    munmap(p, (size_t)psz);
    return ok;
}

/* One rank: init from the environment, check the mappings, all-reduce, write
 * the segment names to `out` (one a line). */
static int rank_main(int rank, int port, const char *transport, const char *out)
{
    char names[MAX_NAMES][256];
    haloComm_t comm;

    mp_env_rank(rank, 2, port, "shm-names-test", transport);
    if (haloCommInitEnv(&comm) != haloSuccess) {
        fprintf(stderr, "rank %d (%s): init: %s\n", rank, transport, haloGetLastError(NULL));
        return 2;
    }
    int n = mapped_segments(names, MAX_NAMES);
    int want_shm = strcmp(transport, "shm") == 0;
    if (want_shm ? n < 2 : n != 0) {
        fprintf(stderr, "rank %d (%s): %d haloccl segments mapped, expected %s\n", rank, transport, n,
                want_shm ? "mine and my peer's" : "none");
        return 3;
    }
    long pages, present;
    if (want_shm && populate_supported() &&
        (segment_pages(&pages, &present) != 0 || pages == 0 || present * 5 < pages * 2)) {
        fprintf(stderr, "rank %d: %ld of the %ld pages of its haloccl segments mapped after init; expected at "
                        "least 40%% (its receive FIFO in its own segment, its send FIFO in its peer's)\n",
                rank, present, pages);
        return 6;
    }
    FILE *f = fopen(out, "w");
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 || errno != ENOENT) {
            fprintf(stderr, "rank %d: %s still has a name after init\n", rank, names[i]);
            return 4;
        }
        if (f)
            fprintf(f, "%s\n", names[i]);
    }
    if (f)
        fclose(f);
    if (mp_sum_check(comm, rank, 2, 4096, 0))
        return 5;
    haloCommDestroy(comm);
    return 0;
}

static int run_job(int port, const char *transport, const char *dir)
{
    pid_t pid[2];
    int failed = 0;
    for (int r = 0; r < 2; r++) {
        char out[300];
        snprintf(out, sizeof(out), "%s/rank%d", dir, r);
        fflush(NULL);
        pid[r] = fork();
        if (pid[r] == 0) {
            alarm(60);
            _exit(rank_main(r, port, transport, out));
        }
    }
    for (int r = 0; r < 2; r++) {
        int st;
        waitpid(pid[r], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "%s job: rank %d exited with %d\n", transport, r, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            failed = 1;
        }
    }
    return failed;
}

/* Recreates job 1's segment names in /dev/shm; returns how many (names in left). */
static int leave_segments(const char *dir, char left[][256], int max)
{
    int n = 0;
    for (int r = 0; r < 2; r++) {
        char path[300], line[256];
        snprintf(path, sizeof(path), "%s/rank%d", dir, r);
        FILE *f = fopen(path, "r");
        while (f && n < max && fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            int fd = open(line, O_CREAT | O_EXCL | O_RDWR, 0600);
            if (fd >= 0) {
                close(fd);
                snprintf(left[n++], 256, "%s", line);
            }
        }
        if (f)
            fclose(f);
    }
    return n;
}

int main(void)
{
    if (access("/dev/shm", W_OK) != 0) {
        printf("SKIP: /dev/shm is not writable\n");
        return 77;
    }
    char dir[] = "/tmp/halo-shm-names-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    int port = 20000 + (int)(getpid() % 20000);
    char left[MAX_NAMES * 2][256];

    ASSERT_EQ(run_job(port, "shm", dir), 0);
    int n = leave_segments(dir, left, MAX_NAMES * 2);
    ASSERT_TRUE(n >= 2);
    int second = run_job(port, "shm", dir);
    int third = run_job(port + 1, "tcp", dir);
    for (int i = 0; i < n; i++)
        unlink(left[i]);
    for (int r = 0; r < 2; r++) {
        char path[300];
        snprintf(path, sizeof(path), "%s/rank%d", dir, r);
        unlink(path);
    }
    rmdir(dir);
    ASSERT_EQ(second, 0);
    ASSERT_EQ(third, 0);
    printf("test_shm_names: a second instance ran beside the first one's leftovers; tcp mapped no segment\n");
    return 0;
}
