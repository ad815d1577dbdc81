/* SPDX-License-Identifier: MIT */
/*
 * fork_id.h — the child side of the tools' forked local ranks (-n N, halo-info
 * --footprint): every child is forked before haloGetUniqueId starts the
 * bootstrap root's thread in the parent (a child forked while that thread holds a
 * lock would inherit it locked), then reads the id from its pipe.
 */
#ifndef HALO_PERF_FORK_ID_H
#define HALO_PERF_FORK_ID_H

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "haloccl.h"

/* Ties the child to the parent (killed with it) and reads the id; closes fd.
 * 0, or -1: the parent is gone, or wrote no id (EOF: it failed to make one and
 * said so). */
static inline int perf_child_read_id(int fd, pid_t parent, haloUniqueId *id)
{
    size_t got = 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the parent */
    if (getppid() != parent) {
        close(fd);
        return -1;
    }
    while (got < sizeof(*id)) {
        ssize_t n = read(fd, (char *)id + got, sizeof(*id) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return got == sizeof(*id) ? 0 : -1;
}

/* halo-topo's and halo-tune's -n N (fork_ranks.c): forks nranks local ranks, gives
 * each the id, runs fn(comm, arg) in each (fn destroys comm) and waits. 0 when
 * every rank exited 0, 2 for a bad nranks, else 1 (said on stderr). */
#define PERF_FORK_MAX 64
typedef int (*perf_rank_fn)(haloComm_t comm, const void *arg);
int perf_fork_local_ranks(const char *tool, int nranks, perf_rank_fn fn, const void *arg);
/* -n's value: 1 to PERF_FORK_MAX; 0, or 2 after saying what is wrong. */
int perf_parse_nranks(const char *tool, const char *arg, int *out);

#endif
