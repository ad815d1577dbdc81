/* SPDX-License-Identifier: MIT */
/*
 * fork_ranks.c — `-n N` for halo-topo and halo-tune: N local ranks, forked before
 * the parent makes the unique id (see fork_id.h), each handed the id through its
 * pipe, initialised and run; the parent waits for all of them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork_id.h"

static int fork_child(const char *tool, int nranks, int rank, int fd, pid_t parent, perf_rank_fn fn,
                      const void *arg)
{
    haloUniqueId id;
    haloComm_t comm;

    if (perf_child_read_id(fd, parent, &id) != 0)
        return 1;
    if (haloCommInitRank(&comm, nranks, id, rank) != haloSuccess) {
        fprintf(stderr, "%s: rank %d: %s\n", tool, rank, haloGetLastError(NULL));
        return 1;
    }
    return fn(comm, arg);
}

int perf_fork_local_ranks(const char *tool, int nranks, perf_rank_fn fn, const void *arg)
{
    pid_t pids[PERF_FORK_MAX], parent = getpid();
    int fds[PERF_FORK_MAX], n, rc = 0, status;
    haloUniqueId id;

    if (nranks < 1 || nranks > PERF_FORK_MAX) {
        fprintf(stderr, "%s: -n %d: expected 1 to %d local ranks\n", tool, nranks, PERF_FORK_MAX);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a child that died before reading its id */
    for (n = 0; n < nranks; n++) {
        int p[2];
        if (pipe(p) != 0)
            break;
        fflush(NULL);
        if ((pids[n] = fork()) == 0) {
            close(p[1]);
            for (int k = 0; k < n; k++)
                close(fds[k]);
            int code = fork_child(tool, nranks, n, p[0], parent, fn, arg);
            fflush(NULL);
            _exit(code); /* not exit(): the parent's atexit handlers are not ours */
        }
        close(p[0]);
        fds[n] = p[1];
        if (pids[n] < 0) {
            close(p[1]);
            break;
        }
    }
    if (n < nranks) {
        fprintf(stderr, "%s: cannot start rank %d: %s\n", tool, n, strerror(errno));
        rc = 1;
    } else if (haloGetUniqueId(&id) != haloSuccess) {
        fprintf(stderr, "%s: haloGetUniqueId: %s\n", tool, haloGetLastError(NULL));
        rc = 1;
    }
    for (int i = 0; i < n; i++) {
        if (rc == 0 && write(fds[i], &id, sizeof(id)) != (ssize_t)sizeof(id))
            rc = 1;
        close(fds[i]);
    }
    for (int i = 0; i < n; i++) {
        if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "%s: rank %d failed\n", tool, i);
            rc = 1;
        }
    }
    return rc;
}

int perf_parse_nranks(const char *tool, const char *arg, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*arg == '\0' || *end || v < 1 || v > PERF_FORK_MAX) {
        fprintf(stderr, "%s: -n %s: expected 1 to %d local ranks\n", tool, arg, PERF_FORK_MAX);
        return 2;
    }
    *out = (int)v;
    return 0;
}
