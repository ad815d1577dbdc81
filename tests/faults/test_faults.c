/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c — the fault matrix: each case (a peer killed or stopped at some
 * moment, calls that differ across ranks, an abort from another thread, recovery
 * after a failure) on each transport named on the command line, three ranks per
 * run. For every rank that is still alive the case asserts the exact result code,
 * a sentence that names what happened, and a bound on the time to the error; it
 * prints one table (case x transport -> result, slowest time to error), kept in
 * tests/faults/README.md.
 *
 * Usage: test_faults [TRANSPORT...]   (default: shm tcp)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "mp.h"
#include "test.h"

#define NR 3       /* ranks per run; rank VICTIM is the one that fails */
#define VICTIM 2
#define COUNT 1500
#define TIMEOUT_MS 1500 /* HALO_TIMEOUT_MS of every run */
#define ASYNC_MS 3000   /* a rank whose call completed learns of the failure by then */

struct shared {
    int code[NR];     /* result of the measured call, -1: not reached (killed) */
    int ms[NR];       /* its duration */
    int later[NR];    /* the call itself succeeded (right result); the error came from
                       * haloCommGetAsyncError within ASYNC_MS after it */
    char msg[NR][400];
    pid_t pid[NR];
    haloUniqueId id2; /* recover: the survivors' new job */
    _Atomic int id2_ready;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record(struct shared *sh, int rank, haloResult_t r, int64_t t0, haloComm_t comm)
{
    sh->code[rank] = (int)r;
    sh->ms[rank] = (int)(now_ms() - t0);
    snprintf(sh->msg[rank], sizeof(sh->msg[rank]), "%s", r == haloSuccess ? "" : haloGetLastError(comm));
}

/* A call that completed (its result right) while the job failed around it: the
 * failure must reach this rank through haloCommGetAsyncError within ASYNC_MS. */
static void record_later(struct shared *sh, int rank, haloComm_t comm)
{
    int64_t t0 = now_ms();
    haloResult_t ae = haloSuccess;
    while (now_ms() - t0 < ASYNC_MS && haloCommGetAsyncError(comm, &ae) == haloSuccess && ae == haloSuccess)
        usleep(2000);
    if (ae == haloSuccess)
        return; /* stays "success": the case decides whether that is right */
    sh->later[rank] = 1;
    record(sh, rank, ae, t0, comm);
}

static void fill(float *b, int rank, int salt)
{
    for (int i = 0; i < COUNT; i++)
        b[i] = (float)((i * 5 + rank * 3 + salt) % 17);
}

/* An all-reduce every rank completes, its result checked. */
static int good_allreduce(haloComm_t comm, int rank, int n, int salt)
{
    float a[COUNT];
    fill(a, rank, salt);
    MP_CHECKC(haloAllReduce(a, a, COUNT, haloFloat32, haloSum, comm, NULL), comm);
    for (int i = 0; i < COUNT; i++) {
        float want = 0;
        for (int r = 0; r < n; r++)
            want += (float)((i * 5 + r * 3 + salt) % 17);
        if (a[i] != want)
            TEST_FAIL("rank %d: element %d is %g, expected %g", rank, i, a[i], want);
    }
    return 0;
}

static haloComm_t init_or_die(int rank, int n, haloUniqueId id)
{
    haloComm_t comm = NULL;
    if (haloCommInitRank(&comm, n, id, rank) != haloSuccess)
        TEST_FAIL("rank %d: init: %s", rank, haloGetLastError(NULL));
    return comm;
}

/* A communicator of every rank, with one all-reduce done and checked. */
static haloComm_t warm_comm(int rank, int n, haloUniqueId id)
{
    haloComm_t comm = init_or_die(rank, n, id);
    if (good_allreduce(comm, rank, n, 1))
        TEST_FAIL("rank %d: the first all-reduce failed", rank);
    return comm;
}

/* The measured all-reduce of a run of n ranks. A success must carry the right
 * sum (else it is recorded as haloInternalError, "wrong result"), then the
 * failure must arrive as an asynchronous error. */
static void measured_allreduce(struct shared *sh, haloComm_t comm, int rank, int n)
{
    float a[COUNT];
    fill(a, rank, 9);
    int64_t t0 = now_ms();
    haloResult_t r = haloAllReduce(a, a, COUNT, haloFloat32, haloSum, comm, NULL);
    record(sh, rank, r, t0, comm);
    if (r != haloSuccess)
        return;
    for (int i = 0; i < COUNT; i++) {
        float want = 0;
        for (int q = 0; q < n; q++)
            want += (float)((i * 5 + q * 3 + 9) % 17);
        if (a[i] != want) {
            sh->code[rank] = (int)haloInternalError;
            snprintf(sh->msg[rank], sizeof(sh->msg[rank]), "wrong result delivered: element %d is %g, expected %g",
                     i, a[i], want);
            return;
        }
    }
    record_later(sh, rank, comm);
}

/* ---- the cases ---- */

/* Rank VICTIM is SIGKILLed: before the others' call, or 300 ms into it. */
static void victim_dies(int rank, int during)
{
    if (rank != VICTIM)
        return;
    if (during)
        usleep(300000); /* the others are inside the call by then */
    raise(SIGKILL);
}

static int kill_run(int rank, int n, haloUniqueId id, struct shared *sh, int during)
{
    haloComm_t comm = warm_comm(rank, n, id);
    victim_dies(rank, during);
    if (!during)
        usleep(200000); /* it is gone before the call */
    measured_allreduce(sh, comm, rank, n);
    haloCommDestroy(comm);
    return 0;
}

static int case_kill_before(int rank, int n, haloUniqueId id, void *arg) { return kill_run(rank, n, id, arg, 0); }
static int case_kill_during(int rank, int n, haloUniqueId id, void *arg) { return kill_run(rank, n, id, arg, 1); }

static int case_kill_init(int rank, int n, haloUniqueId id, void *arg)
{
    struct shared *sh = arg;
    if (rank == VICTIM)
        raise(SIGKILL); /* never joins */
    haloComm_t comm = NULL;
    int64_t t0 = now_ms();
    haloResult_t r = haloCommInitRank(&comm, n, id, rank);
    record(sh, rank, r, t0, NULL);
    if (r == haloSuccess)
        haloCommDestroy(comm);
    return 0;
}

/* Stopped past HALO_TIMEOUT_MS, then continued: the others fail by the timeout, and
 * the stopped rank, once continued, ends its call (an error, or the right result
 * when the others' data had reached it) instead of hanging. */
static int case_stop(int rank, int n, haloUniqueId id, void *arg)
{
    struct shared *sh = arg;
    haloComm_t comm = warm_comm(rank, n, id);
    sh->pid[rank] = getpid();
    if (rank == VICTIM)
        raise(SIGSTOP);
    measured_allreduce(sh, comm, rank, n);
    if (rank == 0) {
        usleep(200000);
        kill(sh->pid[VICTIM], SIGCONT);
    }
    haloCommDestroy(comm);
    return 0;
}

enum mismatch { MM_COLL, MM_COUNT, MM_DTYPE, MM_OP, MM_ROOT };

static int mismatch_run(int rank, int n, haloUniqueId id, struct shared *sh, enum mismatch kind)
{
    haloComm_t comm = init_or_die(rank, n, id);
    float a[COUNT], b[COUNT * NR];
    fill(a, rank, 2);
    int odd = rank == VICTIM;
    int64_t t0 = now_ms();
    haloResult_t r;
    switch (kind) {
    case MM_COLL:
        r = odd ? haloBroadcast(a, a, COUNT, haloFloat32, 0, comm, NULL)
                : haloAllReduce(a, a, COUNT, haloFloat32, haloSum, comm, NULL);
        break;
    case MM_COUNT: r = haloAllReduce(a, b, COUNT - odd, haloFloat32, haloSum, comm, NULL); break;
    case MM_DTYPE: r = haloAllReduce(a, b, COUNT, odd ? haloInt32 : haloFloat32, haloSum, comm, NULL); break;
    case MM_OP: r = haloAllReduce(a, b, COUNT, haloFloat32, odd ? haloMax : haloSum, comm, NULL); break;
    default: r = haloBroadcast(a, b, COUNT, haloFloat32, odd ? 1 : 0, comm, NULL); break;
    }
    record(sh, rank, r, t0, comm);
    if (r == haloSuccess) /* a rank that finished before the mismatch showed (a broadcast's root) */
        record_later(sh, rank, comm);
    haloCommDestroy(comm);
    return 0;
}

static int case_mm_coll(int rank, int n, haloUniqueId id, void *arg) { return mismatch_run(rank, n, id, arg, MM_COLL); }
static int case_mm_count(int rank, int n, haloUniqueId id, void *arg) { return mismatch_run(rank, n, id, arg, MM_COUNT); }
static int case_mm_dtype(int rank, int n, haloUniqueId id, void *arg) { return mismatch_run(rank, n, id, arg, MM_DTYPE); }
static int case_mm_op(int rank, int n, haloUniqueId id, void *arg) { return mismatch_run(rank, n, id, arg, MM_OP); }
static int case_mm_root(int rank, int n, haloUniqueId id, void *arg) { return mismatch_run(rank, n, id, arg, MM_ROOT); }

static void *abort_later(void *c)
{
    usleep(300000);
    haloCommAbort((haloComm_t)c);
    return NULL;
}

/* Rank 0 waits in an all-reduce the others make only later; another thread of
 * rank 0 aborts it: rank 0's call ends, and the others' calls fail at once. */
static int case_abort_thread(int rank, int n, haloUniqueId id, void *arg)
{
    struct shared *sh = arg;
    haloComm_t comm = warm_comm(rank, n, id);
    if (rank == 0) {
        pthread_t th;
        pthread_create(&th, NULL, abort_later, comm);
        measured_allreduce(sh, comm, rank, n);
        pthread_join(th, NULL);
        return 0; /* the handle is gone */
    }
    usleep(900000);
    measured_allreduce(sh, comm, rank, n);
    haloCommDestroy(comm);
    return 0;
}

/* A peer dies during a call; the survivors destroy the communicator, make a new
 * job of the two of them, and it works. */
static int case_recover(int rank, int n, haloUniqueId id, void *arg)
{
    struct shared *sh = arg;
    haloComm_t comm = warm_comm(rank, n, id);
    victim_dies(rank, 1);
    float a[COUNT];
    fill(a, rank, 3);
    if (haloAllReduce(a, a, COUNT, haloFloat32, haloSum, comm, NULL) == haloSuccess)
        TEST_FAIL("rank %d: the all-reduce succeeded with a dead peer", rank);
    haloCommDestroy(comm);
    int64_t t0 = now_ms();
    if (rank == 0) {
        MP_CHECK(haloGetUniqueId(&sh->id2));
        atomic_store(&sh->id2_ready, 1);
    }
    while (!atomic_load(&sh->id2_ready))
        usleep(1000);
    haloComm_t again = init_or_die(rank, 2, sh->id2);
    int bad = good_allreduce(again, rank, 2, 4);
    record(sh, rank, bad ? haloInternalError : haloSuccess, t0, again);
    haloCommDestroy(again);
    return bad;
}

/* Rank VICTIM destroys its communicator (cleanly, alive) while the others are
 * inside an all-reduce it never joins: they fail naming it instead of waiting for
 * the timeout; its destroy returns. */
static int case_destroy_outstanding(int rank, int n, haloUniqueId id, void *arg)
{
    struct shared *sh = arg;
    haloComm_t comm = warm_comm(rank, n, id);
    if (rank == VICTIM) {
        usleep(300000); /* the others are inside the call by then */
        int64_t t0 = now_ms();
        haloResult_t r = haloCommDestroy(comm);
        if (r != haloSuccess || now_ms() - t0 > 3000)
            TEST_FAIL("rank %d: destroy returned %d after %lld ms", rank, (int)r, (long long)(now_ms() - t0));
        usleep(2000000); /* alive: the others learn it from the destroy, not from an exit */
        return 0;
    }
    measured_allreduce(sh, comm, rank, n);
    haloCommDestroy(comm);
    return 0;
}

/* The bootstrap root dies while the others wait in init: VICTIM makes the job's id
 * (so its process serves the root), never joins, and is killed once the others
 * are inside haloCommInitRank. */
static int case_root_killed(int rank, int n, haloUniqueId id, void *arg)
{
    struct shared *sh = arg;
    (void)id;
    if (rank == VICTIM) {
        MP_CHECK(haloGetUniqueId(&sh->id2));
        atomic_store(&sh->id2_ready, 1);
        usleep(300000);
        raise(SIGKILL);
    }
    while (!atomic_load(&sh->id2_ready))
        usleep(1000);
    haloComm_t comm = NULL;
    int64_t t0 = now_ms();
    haloResult_t r = haloCommInitRank(&comm, n, sh->id2, rank);
    record(sh, rank, r, t0, NULL);
    if (r == haloSuccess)
        haloCommDestroy(comm);
    return 0;
}

/* ---- the matrix ---- */

struct fcase {
    const char *name;
    mp_rank_fn fn;
    int victim_dies;  /* VICTIM ends by SIGKILL (not an error of the run) */
    int check_victim; /* VICTIM's result is checked like the others' */
    int skip_rank0;   /* rank 0's call is checked separately (abort) */
    haloResult_t want;
    const char *say;  /* in every checked rank's sentence */
    int bound_ms;     /* slowest checked call */
};

static const struct fcase cases[] = {
    {"peer killed before a call", case_kill_before, 1, 0, 0, haloRemoteError, "2", 3000},
    {"peer killed during a call", case_kill_during, 1, 0, 0, haloRemoteError, "2", 3000},
    {"peer killed before init", case_kill_init, 1, 0, 0, haloRemoteError, "2", TIMEOUT_MS + 3000},
    {"bootstrap root killed during init", case_root_killed, 1, 0, 0, haloRemoteError, "root", TIMEOUT_MS + 3000},
    {"peer destroys while the others are in a call", case_destroy_outstanding, 0, 0, 0, haloRemoteError, "2",
     3000},
    {"peer stopped past the timeout", case_stop, 0, 0, 0, haloRemoteError, "2", TIMEOUT_MS + 3000},
    {"different collective", case_mm_coll, 0, 1, 0, haloInvalidUsage, "called", 3000},
    {"different count", case_mm_count, 0, 1, 0, haloInvalidUsage, "count=", 3000},
    {"different datatype", case_mm_dtype, 0, 1, 0, haloInvalidUsage, "called", 3000},
    {"different op", case_mm_op, 0, 1, 0, haloInvalidUsage, "called", 3000},
    {"different root", case_mm_root, 0, 1, 0, haloInvalidUsage, "called", 3000},
    {"abort from another thread", case_abort_thread, 0, 1, 0, haloRemoteError, "abort", 3000},
    {"recovery with a new communicator", case_recover, 1, 0, 0, haloSuccess, "", 15000},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static const char *short_code(int c)
{
    static const char *const names[] = {"haloSuccess", "haloUnhandledCudaError", "haloSystemError",
                                        "haloInternalError", "haloInvalidArgument", "haloInvalidUsage",
                                        "haloRemoteError", "haloInProgress"};
    if (c == -1)
        return "- (not reached)";
    return c >= 0 && c < (int)(sizeof(names) / sizeof(names[0])) ? names[c] : "?";
}

static int last_later; /* the last run_case: some rank learned through the async error */

/* Runs one case on one transport; returns the slowest checked time, or -1. */
static int run_case(const struct fcase *fc, const char *tp, char *why, size_t whylen)
{
    struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        TEST_FAIL("mmap");
    memset(sh, 0, sizeof(*sh));
    for (int r = 0; r < NR; r++)
        sh->code[r] = -1;
    setenv("HALO_TRANSPORT", tp, 1);
    mp_expect_killed = fc->victim_dies ? VICTIM : -1;
    int rc = mp_run(NR, fc->fn, sh, 60);
    int slowest = 0;
    why[0] = '\0';
    last_later = 0;
    if (rc != 0)
        snprintf(why, whylen, "a rank exited with %d", rc);
    for (int r = 0; r < NR && !why[0]; r++) {
        if (r == VICTIM && !fc->check_victim)
            continue;
        if (sh->code[r] != (int)fc->want)
            snprintf(why, whylen, "rank %d: %s (expected %s): %s", r, short_code(sh->code[r]),
                     short_code((int)fc->want), sh->msg[r]);
        else if (fc->say[0] && !strstr(sh->msg[r], fc->say))
            snprintf(why, whylen, "rank %d: the sentence lacks \"%s\": %s", r, fc->say, sh->msg[r]);
        else if (sh->ms[r] > fc->bound_ms)
            snprintf(why, whylen, "rank %d: %d ms, over the bound of %d ms: %s", r, sh->ms[r], fc->bound_ms,
                     sh->msg[r]);
        if (sh->ms[r] > slowest)
            slowest = sh->ms[r];
        last_later |= sh->later[r];
    }
    if (getenv("FAULTS_VERBOSE"))
        for (int r = 0; r < NR; r++)
            printf("    [%s/%s] rank %d: %s in %d ms: %s\n", fc->name, tp, r, short_code(sh->code[r]), sh->ms[r],
                   sh->msg[r]);
    munmap(sh, sizeof(*sh));
    return why[0] ? -1 : slowest;
}

int main(int argc, char **argv)
{
    const char *def[] = {"shm", "tcp"};
    const char **tps = argc > 1 ? (const char **)argv + 1 : def;
    int ntp = argc > 1 ? argc - 1 : 2;
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", TIMEOUT_MS);
    setenv("HALO_TIMEOUT_MS", buf, 1);
    setenv("HALO_GPU_RUNTIME", "none", 1);
    /* Every case makes its ranks log WARN lines; quiet, the table (and a failing
     * cell's reason) stays short enough to read in a CI excerpt. */
    if (!getenv("FAULTS_VERBOSE") && !getenv("HALO_DEBUG"))
        setenv("HALO_DEBUG", "NONE", 1);
    int failed = 0;
    char why[600], fails[2048] = "";
    printf("| case | expected |");
    for (int t = 0; t < ntp; t++)
        printf(" %s |", tps[t]);
    printf("\n|---|---|");
    for (int t = 0; t < ntp; t++)
        printf("---|");
    printf("\n");
    for (size_t c = 0; c < NCASES; c++) {
        char cells[8][640];
        for (int t = 0; t < ntp && t < 8; t++) {
            int ms = run_case(&cases[c], tps[t], why, sizeof(why));
            if (ms < 0) {
                failed++;
                snprintf(cells[t], sizeof(cells[t]), "FAIL: %s", why);
                size_t used = strlen(fails);
                snprintf(fails + used, sizeof(fails) - used, "\n  %s/%s: %s", cases[c].name, tps[t], why);
            } else {
                snprintf(cells[t], sizeof(cells[t]), "ok, %d ms%s", ms, last_later ? " (some ranks: async error)" : "");
            }
        }
        printf("| %s | %s |", cases[c].name, short_code((int)cases[c].want));
        for (int t = 0; t < ntp && t < 8; t++)
            printf(" %s |", cells[t]);
        printf("\n");
        fflush(stdout);
    }
    if (failed)
        TEST_FAIL("%d case(s) failed:%s", failed, fails);
    printf("fault matrix: every case as expected\n");
    return 0;
}
