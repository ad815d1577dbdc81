/* SPDX-License-Identifier: MIT */
/*
 * test_boot_job.c — whole jobs of 1 to 5 processes through one root: connect,
 * allgathers of several sizes (one of 1 MiB per rank, larger than socket buffers),
 * barriers, close; every byte checked against a closed-form pattern that differs per
 * rank, index and round. Rank 0 runs in the process that owns the root thread, like
 * an application calling haloGetUniqueId. Afterwards the root must have ended
 * (its port refuses connections).
 */
#include "boot_util.h"

static const size_t sizes[] = {1013, 0, 8, 1 << 20, 1};

static void check_round(const uint8_t *buf, int nranks, size_t size, int k, int me)
{
    for (int r = 0; r < nranks; r++)
        for (size_t i = 0; i < size; i++)
            if (buf[(size_t)r * size + i] != bt_pattern(r, i, k))
                TEST_FAIL("rank %d round %d: byte %zu of rank %d's block is %u, expected %u", me, k, i, r,
                          buf[(size_t)r * size + i], bt_pattern(r, i, k));
}

static int job_rank(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs;
    if (bootstrap_connect(&bs, id, rank, nranks, p, NULL) != haloSuccess)
        TEST_FAIL("rank %d: connect: %s", rank, halo_thread_last_error());
    ASSERT_TRUE(bootstrap_local_addr(bs)->ss_family == AF_INET || bootstrap_local_addr(bs)->ss_family == AF_INET6);
    for (int k = 0; k < (int)(sizeof(sizes) / sizeof(sizes[0])); k++) {
        size_t size = sizes[k];
        uint8_t *buf = malloc(size * (size_t)nranks + 1);
        memset(buf, 0xee, size * (size_t)nranks);
        for (size_t i = 0; i < size; i++)
            buf[(size_t)rank * size + i] = bt_pattern(rank, i, k);
        haloResult_t r = size ? bootstrap_allgather(bs, buf, size) : bootstrap_barrier(bs);
        if (r != haloSuccess)
            TEST_FAIL("rank %d round %d: %s", rank, k, halo_thread_last_error());
        check_round(buf, nranks, size, k, rank);
        free(buf);
    }
    char msg[128];
    ASSERT_EQ(bootstrap_poll_abort(bs, msg, sizeof(msg)), 0);
    ASSERT_EQ(bootstrap_barrier(bs), haloSuccess);
    bootstrap_close(bs, 0);
    return 0;
}

/* The root's port refuses connections once the root has ended (within 3 s). */
static void check_root_gone(const haloUniqueId *id)
{
    struct halo_uid uid;
    ASSERT_EQ(bootstrap_uid_decode(id, &uid), haloSuccess);
    int64_t t0 = halo_now_us();
    for (;;) {
        int err;
        int fd = halo_socket_connect(&uid.root, NULL, halo_now_us() + 100000, &err);
        if (fd < 0 && err == ECONNREFUSED)
            return;
        if (fd >= 0)
            close(fd);
        if (bt_seconds(t0) > 3.0)
            TEST_FAIL("the root is still listening after every rank closed");
        usleep(50000);
    }
}

static void run_job(int nranks, const struct halo_params *p)
{
    haloUniqueId id;
    pid_t pids[8];
    int release[8];
    int64_t t0 = halo_now_us();
    for (int r = 1; r < nranks; r++) /* before the root's thread exists */
        pids[r] = bt_fork_early(job_rank, r, nranks, p, 60, &release[r]);
    ASSERT_EQ(bootstrap_root_start(&id, p, NULL, nranks), haloSuccess);
    for (int r = 1; r < nranks; r++)
        bt_release(release[r], &id);
    ASSERT_EQ(job_rank(0, nranks, &id, p, NULL), 0);
    for (int r = 1; r < nranks; r++)
        ASSERT_EQ(bt_wait(pids[r]), 0);
    check_root_gone(&id);
    printf("job of %d rank(s): ok in %.2f s\n", nranks, bt_seconds(t0));
}

/* Forks ranks 0..n-1 as children before the caller starts a root thread (see
 * bt_fork_early); release_and_wait hands them the id once the root runs. */
static void fork_ranks(int nranks, const struct halo_params *p, pid_t *pids, int *release)
{
    for (int r = 0; r < nranks; r++)
        pids[r] = bt_fork_early(job_rank, r, nranks, p, 60, &release[r]);
}

static void release_and_wait(int nranks, const haloUniqueId *id, const pid_t *pids, const int *release)
{
    for (int r = 0; r < nranks; r++)
        bt_release(release[r], id);
    for (int r = 0; r < nranks; r++)
        ASSERT_EQ(bt_wait(pids[r]), 0);
}

int main(void)
{
    struct halo_params p;
    bt_params(&p, "30s");
    for (int n = 1; n <= 5; n++)
        run_job(n, &p);

    /* The id of an InitEnv job: fixed address, secret from HALO_SECRET, root served
     * by rank 0 on that address. */
    haloUniqueId id;
    struct sockaddr_storage ss;
    struct halo_sockaddr a, bound;
    char err[128];
    uint8_t key[HALO_SECRET_BYTES];
    ASSERT_OK(halo_sockaddr_parse("127.0.0.1", &a, err, sizeof(err)));
    int fd = halo_socket_listen(&a, 1, &bound); /* find a free port */
    close(fd);
    halo_secret_derive("env secret", 10, key);
    halo_sockaddr_to(&bound, &ss);
    ASSERT_EQ(bootstrap_uid_from_addr(&id, &ss, key, 1, 77), haloSuccess);
    pid_t pids[3];
    int release[3];
    fork_ranks(3, &p, pids, release);
    ASSERT_EQ(bootstrap_root_serve(&id, &p, 3), haloSuccess);
    release_and_wait(3, &id, pids, release);
    /* Unauthenticated InitEnv ids (zero secret) run the same protocol. */
    fd = halo_socket_listen(&a, 1, &bound);
    close(fd);
    halo_sockaddr_to(&bound, &ss);
    ASSERT_EQ(bootstrap_uid_from_addr(&id, &ss, key, 0, 78), haloSuccess);
    fork_ranks(2, &p, pids, release);
    ASSERT_EQ(bootstrap_root_serve(&id, &p, 2), haloSuccess);
    release_and_wait(2, &id, pids, release);
    /* IPv6: a root bound to [::1] (InitEnv / split pass bind_addr), where available. */
    if (halo_sockaddr_parse("[::1]:0", &a, err, sizeof(err)) == 0 && (fd = halo_socket_listen(&a, 1, NULL)) >= 0) {
        close(fd);
        halo_sockaddr_to(&a, &ss);
        fork_ranks(3, &p, pids, release);
        ASSERT_EQ(bootstrap_root_start(&id, &p, &ss, 3), haloSuccess);
        struct halo_uid uid;
        ASSERT_EQ(bootstrap_uid_decode(&id, &uid), haloSuccess);
        ASSERT_EQ(uid.root.family, AF_INET6);
        release_and_wait(3, &id, pids, release);
        printf("job over [::1]: ok\n");
    } else {
        printf("job over [::1]: skipped, no IPv6 loopback\n");
    }
    printf("bootstrap job: ok\n");
    return 0;
}
