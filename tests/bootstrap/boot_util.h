/* SPDX-License-Identifier: MIT */
/*
 * boot_util.h — helpers for the bootstrap tests: loading parameters, forking ranks
 * with a watchdog, per-rank data patterns, and raw (hand-driven) root connections.
 */
#ifndef BOOT_UTIL_H
#define BOOT_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "bootstrap.h"
#include "error.h"
#include "param.h"
#include "socket.h"
#include "test.h"

/* Loads the parameters after setting HALO_TIMEOUT_MS (NULL leaves it unset). */
static inline void bt_params(struct halo_params *p, const char *timeout)
{
    char err[256];
    if (timeout)
        setenv("HALO_TIMEOUT_MS", timeout, 1);
    else
        unsetenv("HALO_TIMEOUT_MS");
    if (halo_params_load(p, err, sizeof(err)) != 0)
        TEST_FAIL("halo_params_load: %s", err);
}

/* Byte i of rank r's piece in allgather round k: differs per rank, index and round. */
static inline uint8_t bt_pattern(int r, size_t i, int k)
{
    return (uint8_t)(r * 37 + i * 11 + (i >> 8) * 3 + k * 101 + 1);
}

typedef int (*bt_rank_fn)(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg);

/* fork() with the output flushed; the child kills itself after watchdog_s seconds. */
static inline pid_t bt_fork_child(int watchdog_s)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        TEST_FAIL("fork: %s", strerror(errno));
    if (pid == 0)
        alarm((unsigned)watchdog_s);
    return pid;
}

/* Runs fn in a child that kills itself after watchdog_s seconds. */
static inline pid_t bt_fork(bt_rank_fn fn, int rank, int nranks, const haloUniqueId *id,
                            const struct halo_params *p, void *arg, int watchdog_s)
{
    pid_t pid = bt_fork_child(watchdog_s);
    if (pid == 0)
        _exit(fn(rank, nranks, id, p, arg));
    return pid;
}

/* Like bt_fork, but forked before the caller starts a root (a thread): the child
 * waits for the id on a pipe (bt_release). A child forked while the root thread
 * holds an allocator lock can hang in its first malloc (seen under ASan). */
static inline pid_t bt_fork_early_arg(bt_rank_fn fn, int rank, int nranks, const struct halo_params *p, void *arg,
                                      int watchdog_s, int *release_fd)
{
    int fds[2];
    if (pipe(fds) != 0)
        TEST_FAIL("pipe: %s", strerror(errno));
    pid_t pid = bt_fork_child(watchdog_s);
    if (pid == 0) {
        haloUniqueId id;
        close(fds[1]);
        if (read(fds[0], &id, sizeof(id)) != (ssize_t)sizeof(id))
            _exit(3); /* the parent failed before releasing us */
        close(fds[0]);
        _exit(fn(rank, nranks, &id, p, arg));
    }
    close(fds[0]);
    *release_fd = fds[1];
    return pid;
}

static inline pid_t bt_fork_early(bt_rank_fn fn, int rank, int nranks, const struct halo_params *p, int watchdog_s,
                                  int *release_fd)
{
    return bt_fork_early_arg(fn, rank, nranks, p, NULL, watchdog_s, release_fd);
}

/* Hands the id to a child of bt_fork_early. */
static inline void bt_release(int release_fd, const haloUniqueId *id)
{
    ASSERT_EQ(write(release_fd, id, sizeof(*id)), (ssize_t)sizeof(*id));
    close(release_fd);
}

/* Exit status of pid, or 128 + signal. */
static inline int bt_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            TEST_FAIL("waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Connects to the root of id and proves `key` (NULL: the id's secret). Returns the fd
 * after the handshake, or -1; *auth gets the handshake result. */
static inline int bt_raw_connect(const haloUniqueId *id, const uint8_t *key, enum halo_auth_result *auth)
{
    struct halo_uid uid;
    char ctx[64];
    int err;
    ASSERT_EQ(bootstrap_uid_decode(id, &uid), haloSuccess);
    int fd = halo_socket_connect(&uid.root, NULL, halo_now_us() + 5000000, &err);
    if (fd < 0)
        TEST_FAIL("raw connect: %s", strerror(err));
    snprintf(ctx, sizeof(ctx), "boot:%016llx", (unsigned long long)uid.job_id);
    *auth = halo_auth_client(fd, key ? key : uid.secret, ctx, halo_now_us() + 5000000);
    return fd;
}

/* A frame header {type, len}, little-endian. */
static inline void bt_header(uint8_t h[8], uint32_t type, uint32_t len)
{
    for (int i = 0; i < 4; i++) {
        h[i] = (uint8_t)(type >> (8 * i));
        h[4 + i] = (uint8_t)(len >> (8 * i));
    }
}

/* Waits until the peer closes fd (1), or timeout_ms passes (0). Discards data. */
static inline int bt_wait_eof(int fd, int timeout_ms)
{
    char buf[256];
    int64_t deadline = halo_now_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int rc = halo_io_read_full(fd, buf, 1, deadline);
        if (rc != 0)
            return errno == ECONNRESET || errno == EPIPE;
    }
}

static inline double bt_seconds(int64_t since_us)
{
    return (halo_now_us() - since_us) / 1e6;
}

#endif
