/* SPDX-License-Identifier: MIT */
/*
 * test_pin.c — HALO_PIN on a host whose ranks outnumber their CPUs: the job runs
 * under an affinity of two CPUs (A, B), so it is crowded from 3 ranks on, on any
 * machine. Under HALO_PIN=crowded each rank's calling thread is still free after
 * init and bound to A or B (local rank modulo 2) after its first call, whose
 * results are checked; a second call keeps that binding. Unbound: the default
 * (off), 2 ranks (not crowded) and several channels per rank. Ranks that a
 * launcher bound to CPUs of their own (mpirun --bind-to core) are crowded only
 * where several share one: the communicator's crowded flag, sharer count and yield
 * policy (every idle poll over tcp, every 8th over shm) are checked in every case.
 * Skips where the process may run on one CPU only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <string.h>

#include "comm.h"
#include "mp.h"

static int cpu_a, cpu_b;

struct pin_case {
    const char *pin;       /* HALO_PIN, NULL = unset (off) */
    const char *nchannels; /* HALO_NCHANNELS, NULL = unset */
    int nranks;
    int bind_each;         /* rank r binds itself to A (r even) or B (r odd) before init */
    int bound;             /* HALO_PIN binds each rank's thread on its first call */
    int crowded, nshare, yield; /* what the communicator must conclude */
};

static int cpu_of(int i)
{
    return i % 2 ? cpu_b : cpu_a;
}

/* The CPUs this thread may run on: 0 when both A and B, else the one CPU (+1), or
 * -1 for any other set. */
static int pin_state(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return -1;
    if (CPU_COUNT(&set) == 2 && CPU_ISSET(cpu_a, &set) && CPU_ISSET(cpu_b, &set))
        return 0;
    for (int c = 0; c < CPU_SETSIZE && CPU_COUNT(&set) == 1; c++)
        if (CPU_ISSET(c, &set))
            return c + 1;
    return -1;
}

static int check_state(const char *when, int rank, int want)
{
    int got = pin_state();
    if (got == want)
        return 0;
    fprintf(stderr, "rank %d: %s the thread may run on %s%d, expected %s%d\n", rank, when, got > 0 ? "CPU " : "state ",
            got > 0 ? got - 1 : got, want > 0 ? "CPU " : "state ", want > 0 ? want - 1 : want);
    return 1;
}

static int pin_rank(int rank, int nranks, haloUniqueId id, void *arg)
{
    const struct pin_case *pc = arg;
    int start = pc->bind_each ? 1 + cpu_of(rank) : 0;
    if (pc->bind_each) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu_of(rank), &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0)
            return 2;
    }
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, nranks, id, rank));
    if (check_state("after init", rank, start))
        return 1;
    /* a yielding rank yields after every idle poll where its peers are over tcp */
    const char *tp = getenv("HALO_TRANSPORT");
    int yield_each = pc->yield && tp && strcmp(tp, "tcp") == 0;
    if (comm->crowded != pc->crowded || comm->nshare != pc->nshare || comm->yield != pc->yield ||
        comm->yield_each != yield_each) {
        fprintf(stderr, "rank %d: crowded %d, %d ranks share its CPUs, yield %d (each poll %d); expected %d, %d, %d (%d)\n",
                rank, comm->crowded, comm->nshare, comm->yield, comm->yield_each, pc->crowded, pc->nshare, pc->yield,
                yield_each);
        return 1;
    }
    int want = pc->bound ? 1 + cpu_of(comm->share_index) : start;
    for (int call = 0; call < 2; call++) {
        if (mp_sum_check(comm, rank, nranks, 1000 + 13 * (size_t)call, 7 * call + 1) ||
            check_state(call ? "after the second call" : "after the first call", rank, want))
            return 1;
    }
    MP_CHECKC(haloCommDestroy(comm), comm);
    return 0;
}

static int run_case(const struct pin_case *pc)
{
    if (pc->pin)
        setenv("HALO_PIN", pc->pin, 1);
    else
        unsetenv("HALO_PIN");
    if (pc->nchannels)
        setenv("HALO_NCHANNELS", pc->nchannels, 1);
    else
        unsetenv("HALO_NCHANNELS");
    int rc = mp_run(pc->nranks, pin_rank, (void *)pc, 120);
    printf("HALO_PIN=%s, HALO_NCHANNELS=%s, %d ranks on CPUs %d and %d%s: %s\n", pc->pin ? pc->pin : "unset",
           pc->nchannels ? pc->nchannels : "unset", pc->nranks, cpu_a, cpu_b,
           pc->bind_each ? ", each bound to one by its launcher" : "", rc == 0 ? "ok" : "FAILED");
    return rc;
}

int main(void)
{
    cpu_set_t set;
    unsetenv("HALO_SPIN");
    if (sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) < 2) {
        printf("SKIP: this process may run on one CPU only: nothing to bind ranks apart on\n");
        return 77;
    }
    cpu_a = cpu_b = -1;
    for (int c = 0; c < CPU_SETSIZE && cpu_b < 0; c++)
        if (CPU_ISSET(c, &set))
            *(cpu_a < 0 ? &cpu_a : &cpu_b) = c;
    CPU_ZERO(&set);
    CPU_SET(cpu_a, &set);
    CPU_SET(cpu_b, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        perror("sched_setaffinity");
        return 1;
    }
    /* pin, nchannels, ranks, bind_each, bound, crowded, nshare, yield */
    static const struct pin_case cases[] = {
        {"crowded", NULL, 4, 0, 1, 1, 4, 1}, /* bound apart, A B A B */
        {"crowded", NULL, 3, 0, 1, 1, 3, 1},
        {NULL, NULL, 4, 0, 0, 1, 4, 1},      /* off by default */
        {"off", NULL, 3, 0, 0, 1, 3, 1},
        {"crowded", NULL, 2, 0, 0, 0, 2, 0}, /* one CPU each: not crowded */
        {"crowded", "2", 3, 0, 0, 1, 3, 1},  /* several channels: never bound */
        {NULL, NULL, 2, 1, 0, 0, 1, 0},      /* a launcher gave each rank a CPU of its own */
        {"crowded", NULL, 4, 1, 0, 1, 2, 1}, /* two ranks per launcher-given CPU: nothing left to bind */
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        rc |= run_case(&cases[i]);
    return rc;
}
