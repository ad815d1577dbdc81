/* SPDX-License-Identifier: MIT */
/*
 * halo_tune.c — `halo-tune`: measures the links of the cluster it runs on and
 * writes the file HALO_TUNE_FILE reads (format: src/topology/tune.c), so the cost
 * model plans with this cluster's numbers instead of link speeds and defaults.
 * Launched like halo-topo: -n N forks N local ranks; without it one process per
 * rank (mpirun / srun / torchrun, or HALO_ROOT + HALO_RANK + HALO_NRANKS).
 *
 *   halo-tune [-n N] [-o FILE]
 *
 * What it measures, one pair of ranks at a time while the others wait in the
 * bootstrap (asleep, so they take no core from the pair):
 *   - the pairs: the host pairs whose links the cost model prices (their lowest
 *     ranks; rails together, as the library stripes over them); on one host the
 *     ring neighbours r, r+1 (one pair for two ranks);
 *   - for each pair, three sub-communicators (haloCommSplit) with
 *     config.nChannels = 1, 2, 4: on the first, alpha = half the round trip of
 *     an 8-byte haloSend/haloRecv ping-pong, and the per-message overhead = the
 *     time per message of a stream of 8-byte haloSends, less one round trip;
 *     on each, the bandwidth: haloAllGather of two ranks (each sends its half
 *     to the other, both ways at once), per direction, at a size that takes at
 *     least 30 ms;
 *   - every rank at once: the reduction kernel (float32 sum, one thread, on
 *     512 KiB operands); the file keeps the slowest rank's rate.
 * Each number is the median of its repetitions. The pair waits as the whole job
 * would (it yields where the job's ranks outnumber the cores). Rank 0 writes the
 * file.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"
#include "comm.h"
#include "fork_id.h"
#include "haloccl.h"
#include "reduce.h"
#include "topo.h"
#include "tune.h"

#define TUNE_REPS 5                 /* repetitions of each timing; the median is kept */
#define TUNE_PINGS 50               /* round trips per latency repetition */
#define TUNE_STREAM 200             /* messages per overhead repetition */
#define TUNE_BW_TARGET_S 0.03       /* a bandwidth call lasts at least this */
#define TUNE_BW_MAX_BYTES (32u << 20)
#define TUNE_REDUCE_ELEMS (128u << 10) /* 512 KiB float32 operands: about a slot */
#define TUNE_NUMS (2 + TOPO_TUNE_NCH) /* per pair: alpha, overhead, bandwidth per channel count */

struct tune_opts {
    const char *out;
    int nforks; /* 0: one rank of a launched job */
};

/* One measured pair: ranks a < b and the identity of what joins them. */
struct tune_pair {
    int a, b;
    char end[2][TOPO_TUNE_END_LEN];
};

static double tune_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int tune_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double tune_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), tune_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---------------------------------------------------------------- pairs */

/* Every rank lists the same pairs: from the graph (several hosts) or the ranks. */
static int tune_pairs(struct halo_comm *comm, struct tune_pair *out, int max)
{
    if (comm->topo) {
        int hp[TOPO_TUNE_MAX_LINKS][2], n = topo_tune_pairs(comm->topo, hp, TOPO_TUNE_MAX_LINKS);
        n = n < max ? n : max;
        for (int i = 0; i < n; i++) {
            out[i].a = comm->topo->hosts[hp[i][0]].first_rank;
            out[i].b = comm->topo->hosts[hp[i][1]].first_rank;
            topo_tune_pair_ends(comm->topo, hp[i][0], hp[i][1], out[i].end);
        }
        return n;
    }
    int n = comm->nranks == 2 ? 1 : comm->nranks < max ? comm->nranks : max;
    for (int i = 0; i < n; i++) {
        int a = i, b = (i + 1) % comm->nranks;
        out[i].a = a < b ? a : b;
        out[i].b = a < b ? b : a;
        snprintf(out[i].end[0], TOPO_TUNE_END_LEN, "%s/r%d", comm->peers[0].info.hostname, out[i].a);
        snprintf(out[i].end[1], TOPO_TUNE_END_LEN, "%s/r%d", comm->peers[0].info.hostname, out[i].b);
    }
    return n;
}

/* ---------------------------------------------------------------- one pair */

static haloResult_t tune_pingpong(haloComm_t sc, int me, double *alpha_s)
{
    double t[TUNE_REPS];
    uint64_t msg = 0;
    haloResult_t r = haloSuccess;
    for (int rep = -1; rep < TUNE_REPS && r == haloSuccess; rep++) { /* rep -1: warm-up */
        double t0 = tune_now();
        for (int i = 0; i < TUNE_PINGS && r == haloSuccess; i++) {
            if (me == 0 && (r = haloSend(&msg, 1, haloUint64, 1, sc, NULL)) == haloSuccess)
                r = haloRecv(&msg, 1, haloUint64, 1, sc, NULL);
            else if (me == 1 && (r = haloRecv(&msg, 1, haloUint64, 0, sc, NULL)) == haloSuccess)
                r = haloSend(&msg, 1, haloUint64, 0, sc, NULL);
            msg++;
        }
        if (rep >= 0)
            t[rep] = (tune_now() - t0) / TUNE_PINGS / 2;
    }
    if (r == haloSuccess)
        *alpha_s = tune_median(t, TUNE_REPS);
    return r;
}

/* Rank 0 streams TUNE_STREAM small messages, rank 1 answers the last one. */
static haloResult_t tune_overhead(haloComm_t sc, int me, double alpha_s, double *overhead_s)
{
    double t[TUNE_REPS];
    uint64_t msg = 0;
    haloResult_t r = haloSuccess;
    for (int rep = -1; rep < TUNE_REPS && r == haloSuccess; rep++) {
        double t0 = tune_now();
        for (int i = 0; i < TUNE_STREAM && r == haloSuccess; i++)
            r = me == 0 ? haloSend(&msg, 1, haloUint64, 1, sc, NULL) : haloRecv(&msg, 1, haloUint64, 0, sc, NULL);
        if (r == haloSuccess)
            r = me == 0 ? haloRecv(&msg, 1, haloUint64, 1, sc, NULL) : haloSend(&msg, 1, haloUint64, 0, sc, NULL);
        if (rep >= 0) {
            double per = ((tune_now() - t0) - 2 * alpha_s) / TUNE_STREAM;
            t[rep] = per > 0 ? per : 0;
        }
    }
    if (r == haloSuccess)
        *overhead_s = tune_median(t, TUNE_REPS);
    return r;
}

/* One timed all-gather of `bytes` in all; both ranks return the slower's time. */
static haloResult_t tune_gather_once(haloComm_t sc, const float *send, float *recv, size_t bytes, double *t)
{
    double t0 = tune_now(), mine;
    haloResult_t r = haloAllGather(send, recv, bytes / 2 / sizeof(float), haloFloat32, sc, NULL);
    mine = tune_now() - t0;
    if (r == haloSuccess)
        r = haloAllReduce(&mine, t, 1, haloFloat64, haloMax, sc, NULL);
    return r;
}

/* Bytes per second per direction: all-gather of two ranks (each sends half), at
 * the first size (doubling from 1 MiB) whose median call lasts TUNE_BW_TARGET_S,
 * or the largest. Both ranks see the same times, so they grow alike. */
static haloResult_t tune_bandwidth(haloComm_t sc, double *bw_Bps)
{
    float *send = calloc(TUNE_BW_MAX_BYTES / 2, 1), *recv = calloc(TUNE_BW_MAX_BYTES, 1);
    size_t bytes = 1u << 20;
    double t = 0, reps[TUNE_REPS];
    haloResult_t r = send && recv ? haloSuccess : haloSystemError;

    while (r == haloSuccess) {
        r = tune_gather_once(sc, send, recv, bytes, &t); /* warm-up at this size */
        for (int rep = 0; rep < TUNE_REPS && r == haloSuccess; rep++)
            r = tune_gather_once(sc, send, recv, bytes, &reps[rep]);
        if (r != haloSuccess)
            break;
        t = tune_median(reps, TUNE_REPS);
        if (t >= TUNE_BW_TARGET_S || bytes >= TUNE_BW_MAX_BYTES)
            break;
        bytes *= 2;
    }
    if (r == haloSuccess)
        *bw_Bps = (double)(bytes / 2) / t;
    free(send);
    free(recv);
    return r;
}

/* Splits off pair's two ranks with nch channels and measures on them; the other
 * ranks return at once. nums[]: alpha, overhead (nch = 1 only), bw[k]. */
static haloResult_t tune_measure_pair(haloComm_t comm, const struct tune_pair *pair, int k, double *nums)
{
    int member = comm->rank == pair->a || comm->rank == pair->b;
    haloConfig_t cfg = HALO_CONFIG_INITIALIZER;
    haloComm_t sc = NULL;
    cfg.nChannels = topo_tune_channels(k);
    haloResult_t r = haloCommSplit(comm, member ? 1 : HALO_SPLIT_NOCOLOR, comm->rank, &sc, &cfg);
    if (r != haloSuccess || !member)
        return r;
    /* Wait as the job's ranks will: two ranks alone may spin where all of them
     * yield (ranks outnumber cores), and a spinning pair on a busy machine loses
     * its cores for whole time slices, which the job's calls would not see. */
    sc->yield |= comm->yield;
    int me = comm->rank == pair->a ? 0 : 1;
    if (k == 0 && (r = tune_pingpong(sc, me, &nums[0])) == haloSuccess)
        r = tune_overhead(sc, me, nums[0], &nums[1]);
    if (r == haloSuccess)
        r = tune_bandwidth(sc, &nums[2 + k]);
    if (r != haloSuccess)
        fprintf(stderr, "halo-tune: rank %d: pair %s - %s, %d channel(s): %s\n", comm->rank, pair->end[0],
                pair->end[1], topo_tune_channels(k), haloGetLastError(sc));
    haloCommDestroy(sc);
    return r;
}

/* float32 sum of two 512 KiB operands into a third, repeated for 50 ms. */
static double tune_reduce_rate(void)
{
    float *a = calloc(TUNE_REDUCE_ELEMS, sizeof(float)), *b = calloc(TUNE_REDUCE_ELEMS, sizeof(float));
    float *d = calloc(TUNE_REDUCE_ELEMS, sizeof(float));
    double rates[TUNE_REPS], rate = 0;
    if (a && b && d) {
        for (size_t i = 0; i < TUNE_REDUCE_ELEMS; i++) {
            a[i] = (float)(i % 1000);
            b[i] = (float)(i % 7);
        }
        for (int rep = 0; rep < TUNE_REPS; rep++) {
            double t0 = tune_now(), t;
            long n = 0;
            do {
                halo_reduce(d, a, b, TUNE_REDUCE_ELEMS, haloFloat32, haloSum);
                n++;
            } while ((t = tune_now() - t0) < 0.01);
            rates[rep] = (double)n * TUNE_REDUCE_ELEMS * sizeof(float) / t;
        }
        rate = tune_median(rates, TUNE_REPS);
    }
    free(a);
    free(b);
    free(d);
    return rate;
}

/* ---------------------------------------------------------------- the file */

static int tune_write(struct halo_comm *comm, const struct tune_pair *pairs, int npairs, const double *nums,
                      double reduce_Bps, const char *path)
{
    struct topo_tune *t = calloc(1, sizeof(*t));
    char *text = malloc(1 << 20);
    int rc = 1;
    if (!t || !text)
        goto out;
    if (comm->topo) {
        t->nhosts = comm->topo->nhosts < TOPO_TUNE_MAX_HOSTS ? comm->topo->nhosts : TOPO_TUNE_MAX_HOSTS;
        for (int h = 0; h < t->nhosts; h++)
            snprintf(t->hosts[h], TOPO_HOSTNAME_LEN, "%s", comm->topo->hosts[h].name);
        snprintf(t->transport, sizeof(t->transport), "%s", TOPO_TUNE_LINKS);
    } else {
        t->nhosts = 1;
        snprintf(t->hosts[0], TOPO_HOSTNAME_LEN, "%s", comm->peers[0].info.hostname);
        snprintf(t->transport, sizeof(t->transport), "%s", comm_local_tcp(comm) ? "tcp" : "shm");
    }
    t->reduce_Bps = reduce_Bps;
    t->nlinks = npairs;
    for (int i = 0; i < npairs; i++) {
        struct topo_tune_link *l = &t->links[i];
        const double *v = nums + (size_t)i * TUNE_NUMS;
        memcpy(l->end, pairs[i].end, sizeof(l->end));
        l->alpha_s = v[0];
        l->overhead_s = v[1];
        for (int k = 0; k < TOPO_TUNE_NCH; k++)
            l->bw_Bps[k] = v[2 + k];
    }
    size_t n = topo_tune_format(t, text, 1 << 20);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "halo-tune: cannot write %s: %s\n", path, strerror(errno));
        goto out;
    }
    fputs(text, stdout);
    printf("# written to %s: HALO_TUNE_FILE=%s makes the cost model use it\n", path, path);
    rc = 0;
out:
    free(t);
    free(text);
    return rc;
}

static int tune_rank_main(haloComm_t comm, const struct tune_opts *o)
{
    struct tune_pair pairs[TOPO_TUNE_MAX_LINKS];
    int npairs = tune_pairs(comm, pairs, TOPO_TUNE_MAX_LINKS), rc = 1;
    double *nums = calloc((size_t)npairs * TUNE_NUMS, sizeof(double)), *all = NULL, reduce = 0, mine;
    haloResult_t r = nums && comm->nranks > 1 ? haloSuccess : haloInvalidUsage;
    if (comm->nranks < 2 && comm->rank == 0)
        fprintf(stderr, "halo-tune: one rank has no link to measure: run it on 2 or more ranks\n");
    for (int i = 0; i < npairs && r == haloSuccess; i++) {
        if (comm->rank == 0)
            fprintf(stderr, "halo-tune: measuring %s - %s\n", pairs[i].end[0], pairs[i].end[1]);
        for (int k = 0; k < TOPO_TUNE_NCH && r == haloSuccess; k++) {
            r = tune_measure_pair(comm, &pairs[i], k, nums + (size_t)i * TUNE_NUMS);
            if (r == haloSuccess) /* the others wait here asleep, not spinning in a collective */
                r = bootstrap_barrier(comm->bs);
        }
    }
    if (r == haloSuccess) { /* every rank at once, as in a collective; the slowest counts */
        mine = tune_reduce_rate();
        r = haloAllReduce(&mine, &reduce, 1, haloFloat64, haloMin, comm, NULL);
    }
    all = r == haloSuccess ? calloc((size_t)npairs * TUNE_NUMS, sizeof(double)) : NULL;
    if (r == haloSuccess && all) /* each pair's numbers live on its two ranks (the same), the others hold 0 */
        r = haloAllReduce(nums, all, (size_t)npairs * TUNE_NUMS, haloFloat64, haloMax, comm, NULL);
    if (r == haloSuccess && all && comm->rank == 0)
        rc = tune_write(comm, pairs, npairs, all, reduce, o->out);
    else if (r == haloSuccess && all)
        rc = 0;
    if (r != haloSuccess && comm->nranks > 1)
        fprintf(stderr, "halo-tune: rank %d: %s\n", comm->rank, haloGetLastError(comm));
    /* keep every rank until rank 0 wrote: the root lives in rank 0's process */
    int one = 1, sum;
    if (haloAllReduce(&one, &sum, 1, haloInt32, haloSum, comm, NULL) != haloSuccess)
        rc = 1;
    haloCommDestroy(comm);
    free(nums);
    free(all);
    return rc;
}

/* -n N: the ranks are forked by perf_fork_local_ranks (fork_ranks.c). */
static int tune_rank_run(haloComm_t comm, const void *arg)
{
    return tune_rank_main(comm, arg);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: halo-tune [-n N] [-o FILE]\n"
                 "  Measures the links of the job it runs in (latency, per-message cost, bandwidth with 1, 2\n"
                 "  and 4 channels, reduction rate) and writes them to FILE for HALO_TUNE_FILE (rank 0).\n"
                 "  -n N     fork N local ranks; without it this process is one rank of a job\n"
                 "           started by mpirun/srun/torchrun or with HALO_ROOT, HALO_RANK, HALO_NRANKS\n"
                 "  -o FILE  where to write (default halo-tune.conf)\n");
}

static int tune_parse_args(int argc, char **argv, struct tune_opts *o)
{
    *o = (struct tune_opts){.out = "halo-tune.conf"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc) {
            o->out = argv[++i];
        } else if ((strcmp(a, "-n") == 0 || strcmp(a, "--nranks") == 0) && i + 1 < argc) {
            if (perf_parse_nranks("halo-tune", argv[++i], &o->nforks) != 0)
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
    struct tune_opts o;
    haloComm_t comm;
    int rc = tune_parse_args(argc, argv, &o);

    if (rc >= 0)
        return rc;
    /* what is measured must not depend on an earlier tuning (slices, channels) */
    unsetenv("HALO_TUNE_FILE");
    if (o.nforks)
        return perf_fork_local_ranks("halo-tune", o.nforks, tune_rank_run, &o);
    if (haloCommInitEnv(&comm) != haloSuccess) {
        fprintf(stderr, "halo-tune: %s\n"
                        "halo-tune: launch with mpirun/srun/torchrun, set HALO_ROOT, HALO_RANK and HALO_NRANKS, "
                        "or use -n N to fork N local ranks\n", haloGetLastError(NULL));
        return 1;
    }
    return tune_rank_main(comm, &o);
}
