/* SPDX-License-Identifier: MIT */
/*
 * test_boot_failure.c — failures reach every rank quickly, as sentences:
 *   - a rank that exits mid-job: the others' allgather fails with haloRemoteError
 *     through the root's ABORT, well under the timeout,
 *   - an abort relayed to the others (seen by bootstrap_poll_abort and by allgather),
 *   - allgather sizes that differ, a rank that closed before the others' allgather,
 *   - ranks that never join (the root names them after the timeout),
 *   - the root process dying,
 *   - no root at all: connect fails after about HALO_TIMEOUT_MS naming the address.
 */
#include <sys/socket.h>

#include "boot_util.h"

static struct halo_bootstrap *connect_or_die(const haloUniqueId *id, int rank, int nranks,
                                             const struct halo_params *p)
{
    struct halo_bootstrap *bs;
    if (bootstrap_connect(&bs, id, rank, nranks, p, NULL) != haloSuccess)
        TEST_FAIL("rank %d: connect: %s", rank, halo_thread_last_error());
    return bs;
}

/* ---- a rank exits without closing ---- */

static int exit_mid_job(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs = connect_or_die(id, rank, nranks, p);
    uint8_t buf[3 * 4];
    ASSERT_EQ(bootstrap_allgather(bs, buf, 4), haloSuccess);
    if (rank == 2)
        _exit(0); /* no CLOSE: the kernel closes the socket */
    int64_t t0 = halo_now_us();
    ASSERT_EQ(bootstrap_allgather(bs, buf, 4), haloRemoteError);
    ASSERT_TRUE(bt_seconds(t0) < 5.0); /* the timeout is 30 s */
    ASSERT_CONTAINS(halo_thread_last_error(), "rank 2 (");
    ASSERT_CONTAINS(halo_thread_last_error(), "closed its bootstrap connection unexpectedly");
    /* sticky */
    ASSERT_EQ(bootstrap_barrier(bs), haloRemoteError);
    char msg[256];
    ASSERT_EQ(bootstrap_poll_abort(bs, msg, sizeof(msg)), haloRemoteError);
    ASSERT_CONTAINS(msg, "rank 2");
    bootstrap_close(bs, 0);
    return 0;
}

/* ---- abort relay ---- */

static int abort_job(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs = connect_or_die(id, rank, nranks, p);
    char msg[256];
    ASSERT_EQ(bootstrap_barrier(bs), haloSuccess);
    if (rank == 1) {
        bootstrap_send_abort(bs, "boom: rank 1 lost its GPU");
    } else if (rank == 0) {
        int64_t t0 = halo_now_us();
        while (!bootstrap_poll_abort(bs, msg, sizeof(msg))) {
            ASSERT_TRUE(bt_seconds(t0) < 5.0);
            usleep(1000);
        }
        ASSERT_CONTAINS(msg, "rank 1 (");
        ASSERT_CONTAINS(msg, "aborted: boom: rank 1 lost its GPU");
    } else {
        ASSERT_EQ(bootstrap_barrier(bs), haloRemoteError);
        ASSERT_CONTAINS(halo_thread_last_error(), "boom: rank 1 lost its GPU");
    }
    bootstrap_close(bs, 0);
    return 0;
}

/* ---- mismatched sizes; a rank that left early ---- */

static int size_mismatch(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs = connect_or_die(id, rank, nranks, p);
    uint8_t buf[2 * 16] = {0};
    ASSERT_EQ(bootstrap_allgather(bs, buf, rank ? 16 : 8), haloInvalidUsage);
    ASSERT_CONTAINS(halo_thread_last_error(), "8 bytes");
    ASSERT_CONTAINS(halo_thread_last_error(), "16 bytes");
    ASSERT_CONTAINS(halo_thread_last_error(), "same size");
    bootstrap_close(bs, 0);
    return 0;
}

static int early_close(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs = connect_or_die(id, rank, nranks, p);
    ASSERT_EQ(bootstrap_barrier(bs), haloSuccess);
    if (rank == 1) {
        bootstrap_close(bs, 0);
        return 0;
    }
    usleep(200000);
    ASSERT_EQ(bootstrap_barrier(bs), haloInvalidUsage);
    ASSERT_CONTAINS(halo_thread_last_error(), "rank 1 (");
    ASSERT_CONTAINS(halo_thread_last_error(), "closed its communicator");
    bootstrap_close(bs, 0);
    return 0;
}

/* ---- ranks that never come ---- */

static int lonely(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs = connect_or_die(id, rank, nranks, p);
    int64_t t0 = halo_now_us();
    ASSERT_EQ(bootstrap_barrier(bs), haloRemoteError);
    double s = bt_seconds(t0);
    ASSERT_TRUE(s > 1.0 && s < 3.0); /* timeout 1.5 s */
    ASSERT_CONTAINS(halo_thread_last_error(), "only 2 of 4 ranks joined");
    ASSERT_CONTAINS(halo_thread_last_error(), "missing: 2, 3");
    bootstrap_close(bs, 0);
    return 0;
}

/* ---- the root's process dies ---- */

static int orphan(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs = connect_or_die(id, rank, nranks, p);
    char msg[256];
    ASSERT_EQ(bootstrap_barrier(bs), haloSuccess);
    char one = 1; /* tell the test both ranks joined: only then is the root killed */
    ASSERT_EQ(write(*(int *)arg, &one, 1), 1);
    int64_t t0 = halo_now_us();
    if (rank == 0) {
        while (!bootstrap_poll_abort(bs, msg, sizeof(msg))) {
            ASSERT_TRUE(bt_seconds(t0) < 5.0);
            usleep(1000);
        }
        ASSERT_CONTAINS(msg, "closed the connection");
    } else {
        ASSERT_EQ(bootstrap_barrier(bs), haloRemoteError);
        ASSERT_TRUE(bt_seconds(t0) < 5.0);
        ASSERT_CONTAINS(halo_thread_last_error(), "closed the connection");
    }
    bootstrap_close(bs, 0);
    return 0;
}

/* The root lives in its own process, which the test kills once the ranks have joined. */
static void test_root_dies(const struct halo_params *p)
{
    int pfd[2], ready[2], rel[2];
    char got[2];
    haloUniqueId id;
    ASSERT_OK(pipe(pfd));
    ASSERT_OK(pipe(ready));
    pid_t a = bt_fork_early_arg(orphan, 0, 2, p, &ready[1], 60, &rel[0]); /* before any thread */
    pid_t b = bt_fork_early_arg(orphan, 1, 2, p, &ready[1], 60, &rel[1]);
    pid_t root = fork();
    if (root == 0) {
        alarm(60);
        close(ready[0]); /* the ranks' pipes are not the root's to hold open */
        close(ready[1]);
        close(rel[0]);
        close(rel[1]);
        if (bootstrap_root_start(&id, p, NULL, 2) != haloSuccess)
            _exit(1);
        if (write(pfd[1], &id, sizeof(id)) != sizeof(id))
            _exit(2);
        pause();
        _exit(0);
    }
    ASSERT_EQ(read(pfd[0], &id, sizeof(id)), sizeof(id));
    close(pfd[0]);
    close(pfd[1]);
    bt_release(rel[0], &id);
    bt_release(rel[1], &id);
    close(ready[1]); /* a rank that dies before writing ends the read with 0, not a hang */
    ASSERT_EQ(read(ready[0], got, 1), 1); /* both ranks past their first barrier */
    ASSERT_EQ(read(ready[0], got + 1, 1), 1);
    close(ready[0]);
    kill(root, SIGKILL);
    ASSERT_EQ(bt_wait(root), 128 + SIGKILL);
    ASSERT_EQ(bt_wait(a), 0);
    ASSERT_EQ(bt_wait(b), 0);
    printf("root dies: ok\n");
}

/* ---- no root ---- */

static void test_unreachable(void)
{
    struct halo_params p;
    struct halo_sockaddr a, bound;
    struct sockaddr_storage ss;
    struct halo_bootstrap *bs;
    haloUniqueId id;
    uint8_t key[HALO_SECRET_BYTES] = {1};
    char err[128], text[64];
    ASSERT_OK(halo_sockaddr_parse("127.0.0.1", &a, err, sizeof(err)));
    int fd = halo_socket_listen(&a, 1, &bound);
    close(fd); /* nothing listens there now */
    halo_sockaddr_to(&bound, &ss);
    ASSERT_EQ(bootstrap_uid_from_addr(&id, &ss, key, 1, 9), haloSuccess);
    halo_sockaddr_str(&bound, text, sizeof(text));

    bt_params(&p, "1500ms");
    int64_t t0 = halo_now_us();
    ASSERT_EQ(bootstrap_connect(&bs, &id, 3, 4, &p, NULL), haloRemoteError);
    double s = bt_seconds(t0);
    ASSERT_TRUE(s > 1.4 && s < 3.0);
    const char *e = halo_thread_last_error();
    ASSERT_CONTAINS(e, "rank 3: could not reach the bootstrap root");
    ASSERT_CONTAINS(e, text);
    ASSERT_CONTAINS(e, "from lo (127.0.0.1)");
    ASSERT_CONTAINS(e, "connection refused");
    ASSERT_CONTAINS(e, "HALO_ROOT");
    ASSERT_CONTAINS(e, "HALO_SOCKET_IFNAME");

    setenv("HALO_SOCKET_IFNAME", "=no-such-if0", 1);
    bt_params(&p, "1500ms");
    unsetenv("HALO_SOCKET_IFNAME");
    t0 = halo_now_us();
    ASSERT_EQ(bootstrap_connect(&bs, &id, 3, 4, &p, NULL), haloSystemError);
    ASSERT_TRUE(bt_seconds(t0) < 1.0);
    ASSERT_CONTAINS(halo_thread_last_error(), "no interface that is up matches HALO_SOCKET_IFNAME=\"=no-such-if0\"");

    /* bad arguments */
    ASSERT_EQ(bootstrap_connect(&bs, &id, 4, 4, &p, NULL), haloInvalidArgument);
    memset(&id, 0, sizeof(id));
    ASSERT_EQ(bootstrap_connect(&bs, &id, 0, 4, &p, NULL), haloInvalidArgument);
    ASSERT_CONTAINS(halo_thread_last_error(), "bad magic");

    /* a listener that is not a haloccl root */
    bt_params(&p, "1500ms");
    fd = halo_socket_listen(&a, 1, &bound);
    halo_sockaddr_to(&bound, &ss);
    ASSERT_EQ(bootstrap_uid_from_addr(&id, &ss, key, 1, 9), haloSuccess);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        char reply[HALO_AUTH_HELLO_BYTES] = "HTTP/1.1 400 Bad Request\r\n\r\n";
        int c = accept(fd, NULL, NULL);
        ASSERT_OK(halo_io_write_full(c, reply, sizeof(reply), halo_now_us() + 1000000));
        usleep(500000);
        _exit(0);
    }
    ASSERT_EQ(bootstrap_connect(&bs, &id, 1, 2, &p, NULL), haloInvalidUsage);
    ASSERT_CONTAINS(halo_thread_last_error(), "is not a haloccl bootstrap root");
    ASSERT_EQ(bt_wait(pid), 0);
    close(fd);
    printf("unreachable root: ok (%.2f s)\n", s);
}

static void run(const char *name, bt_rank_fn fn, int nranks, int started, const struct halo_params *p)
{
    haloUniqueId id;
    pid_t pids[8];
    int release[8];
    int64_t t0 = halo_now_us();
    for (int r = 0; r < started; r++) /* before the root's thread exists */
        pids[r] = bt_fork_early(fn, r, nranks, p, 60, &release[r]);
    ASSERT_EQ(bootstrap_root_start(&id, p, NULL, nranks), haloSuccess);
    for (int r = 0; r < started; r++)
        bt_release(release[r], &id);
    for (int r = 0; r < started; r++)
        if (bt_wait(pids[r]) != 0)
            TEST_FAIL("%s: rank %d failed", name, r);
    printf("%s: ok (%.2f s)\n", name, bt_seconds(t0));
}

int main(void)
{
    struct halo_params p;
    bt_params(&p, "30s");
    run("rank exits mid-job", exit_mid_job, 3, 3, &p);
    run("abort relayed", abort_job, 3, 3, &p);
    run("allgather size mismatch", size_mismatch, 2, 2, &p);
    run("rank closed early", early_close, 2, 2, &p);
    test_root_dies(&p);
    bt_params(&p, "1500ms");
    run("ranks never join", lonely, 4, 2, &p);
    test_unreachable();
    printf("bootstrap failure: ok\n");
    return 0;
}
