/* SPDX-License-Identifier: MIT */
/*
 * main.c — tp_transformer's entry: parse and check everything once, then launch.
 *
 * Launch, like the perf tools:
 *   -n N     the parent creates the unique id (haloGetUniqueId), forks N children,
 *            child r calls haloCommInitRank(N, id, r) and runs rank r. The parent waits;
 *            when a child fails it kills the others (they would wait for it until
 *            HALO_TIMEOUT_MS) and exits with the failed child's code. Children die
 *            with the parent (PR_SET_PDEATHSIG), so a killed run leaves nothing behind.
 *   no -n    this process is one rank of a job started by a launcher (mpirun, srun,
 *            torchrun, or HALO_ROOT/HALO_RANK/HALO_NRANKS): haloCommInitEnv.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "haloccl.h"
#include "options.h"
#include "tp.h"
#include "weights.h"

static int child_main(const tpt_options *o, haloUniqueId id, int rank, pid_t parent)
{
    haloComm_t comm;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the parent died before prctl took effect */
        return 1;
    haloConfig_t cfg = HALO_CONFIG_INITIALIZER;
    cfg.wireFormat = o->wire; /* the library compresses the allreduces; the model keeps float32 */
    haloResult_t res = haloCommInitRankConfig(&comm, o->nlocal, id, rank, &cfg);
    if (res != haloSuccess) {
        fprintf(stderr, "tp_transformer: rank %d: haloCommInitRankConfig failed: %s: %s\n", rank,
                haloGetErrorString(res), haloGetLastError(NULL));
        return 1;
    }
    return tpt_run_rank(o, comm);
}

static void kill_children(const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGKILL);
}

/* Waits for all children; the first failure kills the rest. Returns the exit code of
 * the first child that failed (128 + signal if it was killed), or 0. */
static int wait_children(pid_t *pids, int n)
{
    int rc = 0, left = n;
    while (left > 0) {
        int st, idx = -1;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            break;
        for (int i = 0; i < n; i++)
            idx = pids[i] == pid ? i : idx;
        if (idx < 0)
            continue;
        pids[idx] = 0;
        left--;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (WIFSIGNALED(st) && rc == 0)
            fprintf(stderr, "tp_transformer: rank %d was killed by signal %d (%s)\n", idx, WTERMSIG(st),
                    strsignal(WTERMSIG(st)));
        if (code != 0 && rc == 0) {
            rc = code;
            if (left > 0)
                fprintf(stderr, "tp_transformer: rank %d exited with %d; stopping the other %d rank%s\n", idx,
                        code, left, left == 1 ? "" : "s");
            kill_children(pids, n);
        }
    }
    return rc;
}

static int launch_local(const tpt_options *o)
{
    char err[512];
    tpt_shard sh;
    haloUniqueId id;
    pid_t pids[64] = {0}, parent = getpid();
    if (tpt_shard_init(&sh, &o->cfg, 0, o->nlocal, o->vocab_parallel, err, sizeof(err)) != 0) {
        fprintf(stderr, "tp_transformer: %s\n", err);
        return 2;
    }
    /* Fork first, then create the id and pass it through pipes: no fork while the
     * library's root service thread runs (a lock it holds would stay held in the child). */
    int fds[64][2];
    fflush(NULL); /* or the children repeat what is buffered */
    for (int r = 0; r < o->nlocal; r++) {
        if (pipe(fds[r]) != 0) {
            fprintf(stderr, "tp_transformer: pipe: %s\n", strerror(errno));
            kill_children(pids, r);
            wait_children(pids, r);
            return 1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[r][1]);
            if (read(fds[r][0], &id, sizeof(id)) != (ssize_t)sizeof(id))
                _exit(1); /* the parent could not create the id and said why */
            int code = child_main(o, id, r, parent);
            fflush(NULL);
            _exit(code);
        }
        close(fds[r][0]);
        if (pid < 0) {
            fprintf(stderr, "tp_transformer: fork of rank %d failed: %s\n", r, strerror(errno));
            kill_children(pids, r);
            wait_children(pids, r);
            return 1;
        }
        pids[r] = pid;
    }
    haloResult_t res = haloGetUniqueId(&id);
    if (res != haloSuccess)
        fprintf(stderr, "tp_transformer: haloGetUniqueId failed: %s: %s\n", haloGetErrorString(res),
                haloGetLastError(NULL));
    for (int r = 0; r < o->nlocal; r++) {
        if (res == haloSuccess && write(fds[r][1], &id, sizeof(id)) != (ssize_t)sizeof(id))
            res = haloSystemError;
        close(fds[r][1]);
    }
    if (res != haloSuccess) {
        kill_children(pids, o->nlocal);
        wait_children(pids, o->nlocal);
        return 1;
    }
    return wait_children(pids, o->nlocal);
}

static int launch_from_env(const tpt_options *o)
{
    haloComm_t comm;
    /* haloCommInitEnv takes no config: the wire format goes through its variable */
    setenv("HALO_WIRE", o->wire == haloWireOff ? "off" : tpt_wire_word(o->wire), 1);
    haloResult_t res = haloCommInitEnv(&comm);
    if (res != haloSuccess) {
        fprintf(stderr, "tp_transformer: haloCommInitEnv failed: %s: %s (use -n N to run N local ranks)\n",
                haloGetErrorString(res), haloGetLastError(NULL));
        return 1;
    }
    return tpt_run_rank(o, comm);
}

static int write_checkpoint(const tpt_options *o)
{
    char err[512];
    if (o->model) {
        fprintf(stderr, "tp_transformer: --write-checkpoint writes the generated model; drop --model\n");
        return 2;
    }
    if (tpt_config_check(&o->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "tp_transformer: bad model shape: %s\n", err);
        return 2;
    }
    if (tpt_checkpoint_write(o->write_checkpoint, &o->cfg, o->seed) != 0)
        return 1;
    printf("wrote %s: llama2.c checkpoint of the model generated from seed %llu\n", o->write_checkpoint,
           (unsigned long long)o->seed);
    return 0;
}

int main(int argc, char **argv)
{
    tpt_options o;
    int rc = tpt_options_parse(&o, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (o.write_checkpoint)
        return write_checkpoint(&o);
    rc = tpt_options_resolve(&o);
    if (rc == 0)
        rc = o.nlocal > 0 ? launch_local(&o) : launch_from_env(&o);
    tpt_options_free(&o);
    return rc;
}
