/* SPDX-License-Identifier: MIT */
/*
 * test_boot_hostile.c — connections that misbehave must not stall or crash the root,
 * and the real ranks must finish (or get a clean error naming the culprit):
 *   - a client with the wrong secret (one bit flipped) gets haloInvalidUsage,
 *   - a silent connection, garbage in place of the PROOF, an oversized or unexpected
 *     frame after a correct handshake, and random bytes are dropped,
 *   - a duplicate rank and a different nranks are refused with a sentence,
 *   - a joined rank that sends a frame with len 0xffffffff is dropped and the other
 *     ranks get haloRemoteError naming it, well before the timeout;
 *   - a flood of silent connections (more than the root holds, from one address and
 *     from the whole machine) does not keep the real ranks out: the job forms at
 *     once, before any of the silent ones times out.
 */
#include "boot_util.h"

#define NLEGIT 3

static int legit_rank(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs;
    size_t size = 333;
    usleep(200000); /* let the hostile connections get there first */
    if (bootstrap_connect(&bs, id, rank, nranks, p, NULL) != haloSuccess)
        TEST_FAIL("rank %d: connect: %s", rank, halo_thread_last_error());
    for (int k = 0; k < 3; k++) {
        uint8_t *buf = calloc((size_t)nranks, size);
        for (size_t i = 0; i < size; i++)
            buf[(size_t)rank * size + i] = bt_pattern(rank, i, k);
        if (bootstrap_allgather(bs, buf, size) != haloSuccess)
            TEST_FAIL("rank %d: allgather: %s", rank, halo_thread_last_error());
        for (int r = 0; r < nranks; r++)
            for (size_t i = 0; i < size; i++)
                ASSERT_EQ(buf[(size_t)r * size + i], bt_pattern(r, i, k));
        free(buf);
    }
    ASSERT_EQ(bootstrap_barrier(bs), haloSuccess);
    bootstrap_close(bs, 0);
    return 0;
}

static int wrong_secret_rank(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p,
                             void *arg)
{
    haloUniqueId bad = *id;
    struct halo_uid uid;
    struct halo_bootstrap *bs;
    memcpy(&uid, bad.internal, sizeof(uid));
    uid.secret[5] ^= 0x04;
    memcpy(bad.internal, &uid, sizeof(uid));
    int64_t t0 = halo_now_us();
    ASSERT_EQ(bootstrap_connect(&bs, &bad, rank, nranks, p, NULL), haloInvalidUsage);
    ASSERT_CONTAINS(halo_thread_last_error(), "rejected this rank's proof of the job secret");
    ASSERT_CONTAINS(halo_thread_last_error(), "HALO_SECRET");
    ASSERT_TRUE(bt_seconds(t0) < 5.0);
    return 0;
}

/* Hostile connections made by the test process itself; each must be closed by the root. */
static void hostile_connections(const haloUniqueId *id, int fds[6])
{
    enum halo_auth_result a;
    uint8_t h[8], junk[HALO_AUTH_PROOF_BYTES], hello[HALO_AUTH_HELLO_BYTES];
    struct halo_uid uid;
    int err;
    ASSERT_EQ(bootstrap_uid_decode(id, &uid), haloSuccess);

    /* 0: silent; the root must drop it after min(timeout, 10 s) without waiting on it */
    fds[0] = halo_socket_connect(&uid.root, NULL, halo_now_us() + 2000000, &err);
    ASSERT_TRUE(fds[0] >= 0);

    /* 1: garbage instead of the PROOF */
    fds[1] = halo_socket_connect(&uid.root, NULL, halo_now_us() + 2000000, &err);
    ASSERT_OK(halo_io_read_full(fds[1], hello, sizeof(hello), halo_now_us() + 2000000));
    memset(junk, 0xa5, sizeof(junk));
    ASSERT_OK(halo_io_write_full(fds[1], junk, sizeof(junk), halo_now_us() + 2000000));

    /* 2: right secret, then a JOIN frame claiming 4 GiB */
    fds[2] = bt_raw_connect(id, NULL, &a);
    ASSERT_EQ(a, HALO_AUTH_OK);
    bt_header(h, 1 /* JOIN */, 0xffffffffu);
    ASSERT_OK(halo_io_write_full(fds[2], h, sizeof(h), halo_now_us() + 2000000));

    /* 3: right secret, then an ALLGATHER before joining, len 0xffffffff */
    fds[3] = bt_raw_connect(id, NULL, &a);
    ASSERT_EQ(a, HALO_AUTH_OK);
    bt_header(h, 3 /* ALLGATHER */, 0xffffffffu);
    ASSERT_OK(halo_io_write_full(fds[3], h, sizeof(h), halo_now_us() + 2000000));

    /* 4: right secret, then random bytes */
    fds[4] = bt_raw_connect(id, NULL, &a);
    ASSERT_EQ(a, HALO_AUTH_OK);
    uint8_t rnd[64];
    ASSERT_OK(halo_random_bytes(rnd, sizeof(rnd)));
    rnd[0] = 0xff; /* not a frame type */
    ASSERT_OK(halo_io_write_full(fds[4], rnd, sizeof(rnd), halo_now_us() + 2000000));

    /* 5: right secret, then a JOIN with an impossible rank: refused with an ERROR frame */
    fds[5] = bt_raw_connect(id, NULL, &a);
    ASSERT_EQ(a, HALO_AUTH_OK);
    uint8_t join[8 + 76] = {0};
    bt_header(join, 1, 76);
    join[8] = 9;  /* rank 9 */
    join[12] = 3; /* of 3 */
    join[16] = (uint8_t)HALO_VERSION_CODE;
    join[17] = (uint8_t)(HALO_VERSION_CODE >> 8);
    ASSERT_OK(halo_io_write_full(fds[5], join, sizeof(join), halo_now_us() + 2000000));
}

static void test_hostile_neighbours(const struct halo_params *p)
{
    haloUniqueId id;
    pid_t pids[NLEGIT + 1];
    int fds[6], release[NLEGIT + 1];
    int64_t t0 = halo_now_us();
    for (int r = 0; r < NLEGIT; r++) /* forked before the root's thread exists */
        pids[r] = bt_fork_early(legit_rank, r, NLEGIT, p, 60, &release[r]);
    pids[NLEGIT] = bt_fork_early(wrong_secret_rank, 1, NLEGIT, p, 60, &release[NLEGIT]);
    ASSERT_EQ(bootstrap_root_start(&id, p, NULL, NLEGIT), haloSuccess);
    hostile_connections(&id, fds);
    for (int r = 0; r <= NLEGIT; r++)
        bt_release(release[r], &id);
    for (int r = 0; r <= NLEGIT; r++)
        ASSERT_EQ(bt_wait(pids[r]), 0);
    /* the silent one delayed nobody (the timeout is 20 s, its handshake limit 10 s) */
    ASSERT_TRUE(bt_seconds(t0) < 5.0);
    for (int i = 1; i < 6; i++)
        ASSERT_EQ(bt_wait_eof(fds[i], 3000), 1);
    ASSERT_EQ(bt_wait_eof(fds[0], 15000), 1);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    printf("hostile neighbours: ok\n");
}

/* Ranks 0 and 1 join; a second rank 1 and a rank with another nranks are refused. */
static int dup_rank(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs;
    ASSERT_EQ(bootstrap_connect(&bs, id, rank, nranks, p, NULL), haloInvalidUsage);
    ASSERT_CONTAINS(halo_thread_last_error(), arg);
    return 0;
}

static int paced_rank(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    int *pipes = arg; /* [0] read end: go on; [1] write end: joined */
    struct halo_bootstrap *bs;
    char c = 'j';
    if (bootstrap_connect(&bs, id, rank, nranks, p, NULL) != haloSuccess)
        TEST_FAIL("rank %d: %s", rank, halo_thread_last_error());
    ASSERT_EQ(write(pipes[1], &c, 1), 1);
    ASSERT_EQ(read(pipes[0], &c, 1), 1);
    if (bootstrap_barrier(bs) != haloSuccess)
        TEST_FAIL("rank %d: %s", rank, halo_thread_last_error());
    bootstrap_close(bs, 0);
    return 0;
}

/* A 3-rank job: while ranks 0 and 1 wait for rank 2, a second rank 1 and a second
 * rank 0 are refused. (Once every rank joined the listener is closed, so nobody
 * can join twice then: test_root_reuse checks that, from a process that does not
 * share the listening socket as these forked ranks do.) */
static void test_duplicate_rank(const struct halo_params *p)
{
    haloUniqueId id;
    int go[2], joined[2];
    char c;
    ASSERT_OK(pipe(go));
    ASSERT_OK(pipe(joined));
    int arg[2] = {go[0], joined[1]}, rel[5];
    /* every child forked before the root's thread exists, each let go in turn */
    pid_t r0 = bt_fork_early_arg(paced_rank, 0, 3, p, arg, 60, &rel[0]);
    pid_t r1 = bt_fork_early_arg(paced_rank, 1, 3, p, arg, 60, &rel[1]);
    pid_t d1 = bt_fork_early_arg(dup_rank, 1, 3, p, "rank 1 joined twice", 60, &rel[2]);
    pid_t d0 = bt_fork_early_arg(dup_rank, 0, 3, p, "rank 0 joined twice", 60, &rel[3]);
    pid_t r2 = bt_fork_early_arg(paced_rank, 2, 3, p, arg, 60, &rel[4]);
    ASSERT_EQ(bootstrap_root_start(&id, p, NULL, 3), haloSuccess);
    bt_release(rel[0], &id);
    bt_release(rel[1], &id);
    ASSERT_EQ(read(joined[0], &c, 1), 1);
    ASSERT_EQ(read(joined[0], &c, 1), 1);
    bt_release(rel[2], &id);
    ASSERT_EQ(bt_wait(d1), 0);
    bt_release(rel[3], &id);
    ASSERT_EQ(bt_wait(d0), 0);
    bt_release(rel[4], &id);
    ASSERT_EQ(read(joined[0], &c, 1), 1);
    ASSERT_EQ(write(go[1], "ggg", 3), 3);
    ASSERT_EQ(bt_wait(r0), 0);
    ASSERT_EQ(bt_wait(r1), 0);
    ASSERT_EQ(bt_wait(r2), 0);
    close(go[0]);
    close(go[1]);
    close(joined[0]);
    close(joined[1]);
    printf("duplicate rank refused: ok\n");
}

/* A connection that proved the secret before the job formed but sends its JOIN
 * after (a rank of the next run on the same address, say) is refused with a
 * sentence saying it belongs to another job; the job itself completes. */
static void test_join_after_formed(const struct halo_params *p)
{
    haloUniqueId id;
    int go[2], joined[2];
    char c;
    enum halo_auth_result a;
    ASSERT_OK(pipe(go));
    ASSERT_OK(pipe(joined));
    int arg[2] = {go[0], joined[1]}, rel[2];
    pid_t r0 = bt_fork_early_arg(paced_rank, 0, 2, p, arg, 60, &rel[0]); /* before the root's thread */
    pid_t r1 = bt_fork_early_arg(paced_rank, 1, 2, p, arg, 60, &rel[1]);
    ASSERT_EQ(bootstrap_root_start(&id, p, NULL, 2), haloSuccess);
    int fd = bt_raw_connect(&id, NULL, &a);
    ASSERT_EQ(a, HALO_AUTH_OK);
    bt_release(rel[0], &id);
    bt_release(rel[1], &id);
    ASSERT_EQ(read(joined[0], &c, 1), 1);
    ASSERT_EQ(read(joined[0], &c, 1), 1);
    uint8_t join[8 + 12 + 64] = {0}, h[8];
    bt_header(join, 1 /* JOIN */, 12 + 64);
    join[8] = 1;                               /* rank 1 */
    join[12] = 2;                              /* of 2 */
    join[16] = (uint8_t)(HALO_VERSION_CODE & 0xff);
    join[17] = (uint8_t)(HALO_VERSION_CODE >> 8 & 0xff);
    join[18] = (uint8_t)(HALO_VERSION_CODE >> 16 & 0xff);
    memcpy(join + 20, "late", 4);
    ASSERT_EQ(write(fd, join, sizeof(join)), (ssize_t)sizeof(join));
    int64_t deadline = halo_now_us() + 5000000;
    ASSERT_EQ(halo_io_read_full(fd, h, 8, deadline), 0);
    uint32_t type = h[0] | (uint32_t)h[1] << 8, len = h[4] | (uint32_t)h[5] << 8;
    ASSERT_EQ(type, 6u /* ERROR */);
    char text[1100] = {0};
    ASSERT_TRUE(len > 4 && len < sizeof(text));
    ASSERT_EQ(halo_io_read_full(fd, text, len, deadline), 0);
    ASSERT_CONTAINS(text + 4, "belongs to another job");
    close(fd);
    ASSERT_EQ(write(go[1], "gg", 2), 2);
    ASSERT_EQ(bt_wait(r0), 0);
    ASSERT_EQ(bt_wait(r1), 0);
    close(go[0]);
    close(go[1]);
    close(joined[0]);
    close(joined[1]);
    printf("join after the job formed refused: ok\n");
}

static int victim_rank(int rank, int nranks, const haloUniqueId *id, const struct halo_params *p, void *arg)
{
    struct halo_bootstrap *bs;
    uint8_t buf[2 * 16];
    if (bootstrap_connect(&bs, id, rank, nranks, p, NULL) != haloSuccess)
        TEST_FAIL("rank %d: %s", rank, halo_thread_last_error());
    int64_t t0 = halo_now_us();
    ASSERT_EQ(bootstrap_allgather(bs, buf, 16), haloRemoteError);
    ASSERT_TRUE(bt_seconds(t0) < 5.0);
    ASSERT_CONTAINS(halo_thread_last_error(), "rank 1");
    ASSERT_CONTAINS(halo_thread_last_error(), "malformed");
    bootstrap_close(bs, 0);
    return 0;
}

/* A joined rank (driven by hand here) sends a frame with len 0xffffffff. */
static void test_malformed_rank(const struct halo_params *p)
{
    haloUniqueId id;
    enum halo_auth_result a;
    uint8_t join[8 + 76] = {0}, welcome[8], h[8];
    int rel;
    pid_t r0 = bt_fork_early(victim_rank, 0, 2, p, 60, &rel); /* before the root's thread */
    ASSERT_EQ(bootstrap_root_start(&id, p, NULL, 2), haloSuccess);
    bt_release(rel, &id);
    int fd = bt_raw_connect(&id, NULL, &a);
    ASSERT_EQ(a, HALO_AUTH_OK);
    bt_header(join, 1, 76);
    join[8] = 1;  /* rank 1 */
    join[12] = 2; /* of 2 */
    join[16] = (uint8_t)HALO_VERSION_CODE;
    join[17] = (uint8_t)(HALO_VERSION_CODE >> 8);
    ASSERT_OK(halo_io_write_full(fd, join, sizeof(join), halo_now_us() + 2000000));
    ASSERT_OK(halo_io_read_full(fd, welcome, sizeof(welcome), halo_now_us() + 2000000));
    ASSERT_EQ(welcome[0], 2); /* WELCOME */
    usleep(100000);           /* rank 0 is waiting in its allgather */
    bt_header(h, 3, 0xffffffffu);
    ASSERT_OK(halo_io_write_full(fd, h, sizeof(h), halo_now_us() + 2000000));
    ASSERT_EQ(bt_wait(r0), 0);
    ASSERT_EQ(bt_wait_eof(fd, 3000), 1);
    close(fd);
    printf("malformed frame from a joined rank: ok\n");
}

/* 300 silent connections (over the 256 the root holds unproved, over the 64 per
 * address) are open when the real ranks come: the root sheds the oldest silent
 * ones for them, and every silent one is closed within the pre-auth limit. */
static void test_flood(const struct halo_params *p)
{
    enum { NFLOOD = 300 };
    haloUniqueId id;
    struct halo_uid uid;
    pid_t pids[NLEGIT];
    static int fds[NFLOOD];
    int err, opened = 0, rel[NLEGIT];
    for (int r = 0; r < NLEGIT; r++) /* before the root's thread exists */
        pids[r] = bt_fork_early(legit_rank, r, NLEGIT, p, 60, &rel[r]);
    ASSERT_EQ(bootstrap_root_start(&id, p, NULL, NLEGIT), haloSuccess);
    ASSERT_EQ(bootstrap_uid_decode(&id, &uid), haloSuccess);
    for (int i = 0; i < NFLOOD; i++) {
        fds[i] = halo_socket_connect(&uid.root, NULL, halo_now_us() + 2000000, &err);
        opened += fds[i] >= 0;
    }
    ASSERT_EQ(opened, NFLOOD); /* the kernel's backlog takes them; the root sheds */
    int64_t t0 = halo_now_us();
    for (int r = 0; r < NLEGIT; r++)
        bt_release(rel[r], &id);
    for (int r = 0; r < NLEGIT; r++)
        ASSERT_EQ(bt_wait(pids[r]), 0);
    double s = bt_seconds(t0);
    printf("flood: formed in %.2f s\n", s);
    ASSERT_TRUE(s < 2.5); /* not after the silent ones' 3 s limit */
    int closed = 0;
    for (int i = 0; i < NFLOOD; i++) {
        closed += bt_wait_eof(fds[i], 5000) == 1;
        close(fds[i]);
    }
    ASSERT_EQ(closed, NFLOOD);
    printf("a flood of %d silent connections: the job formed in %.2f s, all of them closed: ok\n", NFLOOD, s);
}

/* With no job running, a silent connection is dropped after min(timeout, 10 s). */
static void test_silent_dropped(void)
{
    struct halo_params p;
    struct halo_uid uid;
    haloUniqueId id;
    int err;
    bt_params(&p, "1s");
    ASSERT_EQ(bootstrap_root_start(&id, &p, NULL, 2), haloSuccess);
    ASSERT_EQ(bootstrap_uid_decode(&id, &uid), haloSuccess);
    int64_t t0 = halo_now_us();
    int fd = halo_socket_connect(&uid.root, NULL, t0 + 2000000, &err);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(bt_wait_eof(fd, 5000), 1);
    double s = bt_seconds(t0);
    ASSERT_TRUE(s > 0.9 && s < 2.5);
    close(fd);
    printf("silent connection dropped after %.2f s: ok\n", s);
}

int main(void)
{
    struct halo_params p;
    test_silent_dropped();
    bt_params(&p, "20s");
    test_hostile_neighbours(&p);
    test_flood(&p);
    test_join_after_formed(&p);
    test_duplicate_rank(&p);
    test_malformed_rank(&p);
    printf("bootstrap hostile: ok\n");
    return 0;
}
