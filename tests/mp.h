/* SPDX-License-Identifier: MIT */
/*
 * mp.h — multi-process harness for tests: run a function as N ranks of one job,
 * each a forked child, and collect their exit codes. A child that fails or hangs
 * fails the test; the harness kills the rest after a deadline.
 */
#ifndef HALO_TEST_MP_H
#define HALO_TEST_MP_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "haloccl.h"

typedef int (*mp_rank_fn)(int rank, int nranks, haloUniqueId id, void *arg);

/* A rank that a test kills on purpose (SIGKILL is then not a failure); -1 = none. */
static int mp_expect_killed = -1;

/* Returns 0 when every rank exited 0, else the first failing code (or 128+signal). */
static inline int mp_run(int nranks, mp_rank_fn fn, void *arg, int deadline_s)
{
    /* Fork first, then create the id and hand it over through pipes: forking while
     * the root service thread runs could leave a lock held in the child (seen with
     * ASan's allocator). */
    pid_t pids[64];
    int pipes[64][2];
    for (int r = 0; r < nranks; r++) {
        if (pipe(pipes[r]) != 0)
            return 1;
        fflush(NULL);
        pids[r] = fork();
        if (pids[r] == 0) {
            haloUniqueId cid;
            close(pipes[r][1]);
            if (read(pipes[r][0], &cid, sizeof(cid)) != (ssize_t)sizeof(cid))
                _exit(99);
            _exit(fn(r, nranks, cid, arg));
        }
        close(pipes[r][0]);
    }
    haloUniqueId id;
    if (haloGetUniqueId(&id) != haloSuccess) {
        fprintf(stderr, "haloGetUniqueId: %s\n", haloGetLastError(NULL));
        for (int r = 0; r < nranks; r++)
            kill(pids[r], SIGKILL);
        return 1;
    }
    for (int r = 0; r < nranks; r++) {
        if (write(pipes[r][1], &id, sizeof(id)) != (ssize_t)sizeof(id))
            kill(pids[r], SIGKILL);
        close(pipes[r][1]);
    }
    int result = 0, left = nranks;
    time_t end = time(NULL) + deadline_s;
    while (left > 0) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            left--;
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            for (int r = 0; r < nranks; r++)
                if (pids[r] == p && code != 0 && !(r == mp_expect_killed && code == 128 + SIGKILL)) {
                    fprintf(stderr, "rank %d exited with %d\n", r, code);
                    if (!result)
                        result = code;
                }
            continue;
        }
        if (time(NULL) > end) {
            fprintf(stderr, "ranks still running after %d s: killing them\n", deadline_s);
            for (int r = 0; r < nranks; r++)
                kill(pids[r], SIGKILL);
            if (!result)
                result = 124;
            end = time(NULL) + 3600;
        }
        usleep(2000);
    }
    return result;
}

/* This process becomes rank `rank` of a job of `nranks` launched from the
 * environment (HALO_ROOT on 127.0.0.1:port), for haloCommInitEnv. */
static inline void mp_env_rank(int rank, int nranks, int port, const char *secret, const char *transport)
{
    char v[64];
    snprintf(v, sizeof(v), "127.0.0.1:%d", port);
    setenv("HALO_ROOT", v, 1);
    snprintf(v, sizeof(v), "%d", rank);
    setenv("HALO_RANK", v, 1);
    snprintf(v, sizeof(v), "%d", nranks);
    setenv("HALO_NRANKS", v, 1);
    setenv("HALO_SECRET", secret, 1);
    setenv("HALO_TRANSPORT", transport, 1);
}

/* A float32 sum all-reduce of count elements, rank r's element i being r * 1e4 +
 * salt + i, checked element by element. 0, or 1 with the reason on stderr. */
static inline int mp_sum_check(haloComm_t comm, int rank, int nranks, size_t count, int salt)
{
    float *x = malloc(count * sizeof(float)), *y = malloc(count * sizeof(float));
    int bad = !x || !y;
    for (size_t i = 0; !bad && i < count; i++)
        x[i] = (float)(rank * 10000 + salt + (int)i);
    if (!bad && haloAllReduce(x, y, count, haloFloat32, haloSum, comm, NULL) != haloSuccess) {
        fprintf(stderr, "rank %d: allreduce: %s\n", rank, haloGetLastError(comm));
        bad = 1;
    }
    for (size_t i = 0; !bad && i < count; i++) {
        float want = (float)(10000 * nranks * (nranks - 1) / 2 + nranks * (salt + (int)i));
        if (y[i] != want) {
            fprintf(stderr, "rank %d: y[%zu] = %g, expected %g\n", rank, i, y[i], want);
            bad = 1;
        }
    }
    free(x);
    free(y);
    return bad;
}

#define MP_CHECK(call)                                                                  \
    do {                                                                                \
        haloResult_t _r = (call);                                                       \
        if (_r != haloSuccess) {                                                        \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call,          \
                    haloGetErrorString(_r), haloGetLastError(NULL));                    \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

/* Same, with the communicator's error text. */
#define MP_CHECKC(call, comm)                                                           \
    do {                                                                                \
        haloResult_t _r = (call);                                                       \
        if (_r != haloSuccess) {                                                        \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call,          \
                    haloGetErrorString(_r), haloGetLastError(comm));                    \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

#endif
