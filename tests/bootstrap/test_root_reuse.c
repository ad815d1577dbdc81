/* SPDX-License-Identifier: MIT */
/*
 * test_root_reuse.c — jobs back to back on one HALO_ROOT: each process
 * (rank 0 serves the root) builds a communicator with haloCommInitEnv,
 * all-reduces, destroys it and at once builds the next one on the same address
 * and secret. The root's listener closes once the job formed, so the next
 * job's root binds the address at once and no rank of the next job is taken
 * into the last one (which used to give EADDRINUSE or a refused, misleading
 * JOIN). Rank 1 checks in each job that the port refuses connections.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "haloccl.h"
#include "mp.h"
#include "test.h"

#define NJOBS 6
#define N 2048

/* 0 when nothing listens on 127.0.0.1:port (connect is refused). */
static int port_refused(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    int e = errno;
    close(fd);
    return rc != 0 && e == ECONNREFUSED ? 0 : -1;
}

static int rank_main(int rank, int port, const char *transport)
{
    mp_env_rank(rank, 2, port, "root-reuse-test", transport);
    setenv("HALO_TIMEOUT_MS", "20000", 1);
    for (int job = 0; job < NJOBS; job++) {
        haloComm_t comm;
        if (haloCommInitEnv(&comm) != haloSuccess) {
            fprintf(stderr, "rank %d, job %d (%s): init: %s\n", rank, job, transport, haloGetLastError(NULL));
            return 2;
        }
        /* Rank 1 runs in a process without the root: once the job formed, nothing
         * listens on HALO_ROOT (rank 0 cannot start the next root before rank 1
         * leaves this one). */
        if (rank == 1 && port_refused(port) != 0) {
            fprintf(stderr, "rank 1, job %d: the root still accepts connections after the job formed\n", job);
            return 6;
        }
        if (mp_sum_check(comm, rank, 2, N, job * 10)) {
            fprintf(stderr, "rank %d, job %d (%s): the all-reduce failed\n", rank, job, transport);
            return 3;
        }
        if (haloCommDestroy(comm) != haloSuccess) {
            fprintf(stderr, "rank %d, job %d: destroy: %s\n", rank, job, haloGetLastError(NULL));
            return 5;
        }
    }
    return 0;
}

static int run(int port, const char *transport)
{
    pid_t pid[2];
    int failed = 0;
    for (int r = 0; r < 2; r++) {
        fflush(NULL);
        pid[r] = fork();
        ASSERT_TRUE(pid[r] >= 0);
        if (pid[r] == 0) {
            alarm(100);
            _exit(rank_main(r, port, transport));
        }
    }
    for (int r = 0; r < 2; r++) {
        int st;
        ASSERT_EQ(waitpid(pid[r], &st, 0), pid[r]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "%s: rank %d exited with %d\n", transport, r, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            failed = 1;
        }
    }
    return failed;
}

int main(void)
{
    int port = 20000 + (int)(getpid() % 20000);
    ASSERT_EQ(run(port, "tcp"), 0);
    ASSERT_EQ(run(port, "shm"), 0);
    printf("test_root_reuse: %d jobs back to back on one HALO_ROOT, twice\n", NJOBS);
    return 0;
}
