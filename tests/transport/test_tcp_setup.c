/* SPDX-License-Identifier: MIT */
/*
 * test_tcp_setup.c — tcp's setup table row (halo_tcp_setup) driven the way the
 * core drives it, without a communicator: two forked ranks, each with its own
 * transport context (tp_ctx.h), listen, swap their blobs over a socketpair (the
 * core's all-gather), ask can_connect, connect_all on two channels with the job
 * secret, then move one frame each way on each channel.
 *
 * Checks:
 *  1. can_connect follows HALO_TRANSPORT: auto and tcp say yes, shm and ib no;
 *  2. listen publishes an address with a port;
 *  3. connect_all fills conns[ch * nranks + peer] for both channels and ranks;
 *  4. frames carry rank-, channel- and byte-dependent contents both ways;
 *  5. a rank with a different secret is refused: rank 0 times out naming the
 *     missing channels, within the context's timeout;
 *  6. hostile clients at rank 0's data port while the job connects (silent
 *     connections, garbage, half a hello, a hello of another job) do not delay it:
 *     connect_all ends well before one handshake deadline, and the frames flow.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "param.h"
#include "tcp.h"
#include "test.h"
#include "tp_ctx.h"

#define NCH 2

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
#define SLOT 4096
#define NSLOTS 4

struct rank_env {
    struct tp_test t;
    struct halo_params params;
    struct halo_tp_peer peers[2];
    uint8_t blobs[2][HALO_TP_BLOB_BYTES];
    struct halo_conn *conns[NCH * 2];
    uint8_t key[HALO_AUTH_KEY_BYTES];
};

static void params_with(struct halo_params *p, const char *transport)
{
    char err[256];
    setenv("HALO_TRANSPORT", transport, 1);
    ASSERT_EQ(halo_params_load(p, err, sizeof(err)), 0);
    unsetenv("HALO_TRANSPORT");
}

static void check_can_connect(void)
{
    static const struct {
        const char *word;
        int yes;
    } cases[] = {{"auto", 1}, {"tcp", 1}, {"shm", 0}, {"ib", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tp_test t;
        struct halo_params p;
        uint8_t blob[HALO_TP_BLOB_BYTES] = {0};
        int yes = -1;
        tp_test_init(&t, 0, 2);
        params_with(&p, cases[i].word);
        t.ctx.params = &p;
        ASSERT_EQ(halo_tcp_setup.can_connect(&t.ctx, 1, 0, blob, blob, NULL, &yes), haloSuccess);
        ASSERT_EQ(yes, cases[i].yes);
    }
    ASSERT_TRUE(halo_tp_by_name("tcp") == &halo_tcp_setup);
    ASSERT_TRUE(halo_tp_by_kind(HALO_TR_TCP) == &halo_tcp_setup);
    printf("PASS can_connect follows HALO_TRANSPORT\n");
}

static void env_init(struct rank_env *e, int rank, uint8_t key_byte, int64_t timeout_us)
{
    memset(e, 0, sizeof(*e));
    tp_test_init(&e->t, rank, 2);
    params_with(&e->params, "auto");
    memset(e->key, key_byte, sizeof(e->key));
    struct halo_tp_ctx *ctx = &e->t.ctx;
    ctx->params = &e->params;
    ctx->slot_size_net = SLOT;
    ctx->nslots = NSLOTS;
    ctx->timeout_us = timeout_us;
    ctx->job_id = 0x1234abcdull;
    ctx->key = e->key;
    ctx->local_addr.family = AF_INET; /* as the bootstrap would: loopback */
    ctx->local_addr.addr[0] = 127;
    ctx->local_addr.addr[3] = 1;
}

/* Listen, swap blobs over fd (the all-gather), fill the peer view. */
static void env_listen_swap(struct rank_env *e, int fd)
{
    int rank = e->t.ctx.rank;
    ASSERT_EQ(halo_tcp_setup.listen(&e->t.ctx, e->blobs[rank]), haloSuccess);
    const struct halo_tcp_peer_info *mine = (const void *)e->blobs[rank];
    ASSERT_NE(mine->listen.port, 0);
    ASSERT_EQ(write(fd, e->blobs[rank], HALO_TP_BLOB_BYTES), HALO_TP_BLOB_BYTES);
    ASSERT_EQ(read(fd, e->blobs[1 - rank], HALO_TP_BLOB_BYTES), HALO_TP_BLOB_BYTES);
    for (int r = 0; r < 2; r++) {
        e->peers[r].kind = r == rank ? HALO_TR_SELF : HALO_TR_TCP;
        e->peers[r].local_index = r;
        snprintf(e->peers[r].hostname, sizeof(e->peers[r].hostname), "host%c", 'A' + r);
        e->peers[r].blob[HALO_TR_TCP] = e->blobs[r];
    }
    e->t.ctx.peers = e->peers;
    e->t.ctx.nchannels = NCH;
    e->t.ctx.conns = e->conns;
}

static void env_destroy(struct rank_env *e)
{
    for (int i = 0; i < NCH * 2; i++)
        if (e->conns[i])
            e->conns[i]->ops->close(e->conns[i]);
    halo_tcp_setup.destroy(&e->t.ctx);
    halo_tcp_setup.destroy(&e->t.ctx); /* NULL-safe twice */
}

static uint8_t pat(int from, int ch, size_t j)
{
    return (uint8_t)(from * 101 + ch * 37 + (int)j * 11 + (int)(j >> 8));
}

/* One frame of SLOT - ch bytes each way on channel ch. */
static void exchange(struct rank_env *e, int ch)
{
    int rank = e->t.ctx.rank, peer = 1 - rank;
    struct halo_conn *c = e->conns[ch * 2 + peer];
    size_t len = SLOT - (size_t)ch, cap = 0, got = 0;
    void *sb = NULL;
    const void *rb = NULL;
    struct halo_sig sig = {.count = len, .opseq = (uint32_t)ch, .root = rank}, rsig;

    ASSERT_TRUE(c != NULL);
    ASSERT_EQ(c->ops->send_slot(c, &sb, &cap), haloSuccess);
    ASSERT_TRUE(sb != NULL && cap >= len);
    for (size_t j = 0; j < len; j++)
        ((uint8_t *)sb)[j] = pat(rank, ch, j);
    ASSERT_EQ(c->ops->send_post(c, len, &sig), haloSuccess);
    for (int spins = 0; !rb; spins++) {
        int pending;
        ASSERT_EQ(c->ops->progress(c), haloSuccess);
        ASSERT_EQ(c->ops->flush(c, &pending), haloSuccess);
        ASSERT_EQ(c->ops->recv_peek(c, &rb, &got, &rsig), haloSuccess);
        if (spins > 50000000)
            TEST_FAIL("rank %d: no frame on channel %d", rank, ch);
    }
    ASSERT_EQ(got, len);
    ASSERT_EQ(rsig.root, peer);
    for (size_t j = 0; j < len; j++)
        if (((const uint8_t *)rb)[j] != pat(peer, ch, j))
            TEST_FAIL("rank %d channel %d byte %zu: %u != %u", rank, ch, j, ((const uint8_t *)rb)[j],
                      pat(peer, ch, j));
    ASSERT_EQ(c->ops->recv_release(c), haloSuccess);
    int pending = 1;
    for (int spins = 0; pending; spins++) {
        ASSERT_EQ(c->ops->flush(c, &pending), haloSuccess);
        if (spins > 50000000)
            TEST_FAIL("rank %d: channel %d never drained", rank, ch);
    }
}

#define FLOOD_SILENT 100

/* Connections to rank 0's data port that never complete a handshake; left open. */
static void flood(struct rank_env *e, int *fds, int n)
{
    const struct halo_tcp_peer_info *p0 = (const void *)e->blobs[0];
    struct sockaddr_storage ss;
    socklen_t len = halo_sockaddr_to(&p0->listen, &ss);
    uint8_t junk[200];
    for (size_t j = 0; j < sizeof(junk); j++)
        junk[j] = (uint8_t)(j * 29 + 5);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(ss.ss_family, SOCK_STREAM, 0);
        ASSERT_TRUE(fds[i] >= 0);
        ASSERT_OK(connect(fds[i], (struct sockaddr *)&ss, len));
        if (i % 10 == 1) /* garbage */
            ASSERT_EQ(write(fds[i], junk, sizeof(junk)), (ssize_t)sizeof(junk));
        else if (i % 10 == 2) /* half a hello */
            ASSERT_EQ(write(fds[i], junk, 10), 10);
        else if (i % 10 == 3) { /* a hello of another job, to rank 0, channel 0 */
            uint32_t h[6] = {0x4f4c4548u, 1, 0, 0, 0x1234, 0x5678};
            ASSERT_EQ(write(fds[i], h, sizeof(h)), (ssize_t)sizeof(h));
        }
    }
}

static int rank_main(int rank, int fd, uint8_t key_byte, int64_t timeout_us, const char *expect_error, int hostile)
{
    struct rank_env e;
    int silent[FLOOD_SILENT];
    env_init(&e, rank, key_byte, timeout_us);
    env_listen_swap(&e, fd);
    if (hostile && rank == 1)
        flood(&e, silent, FLOOD_SILENT);
    int64_t t0 = now_us();
    int yes = 0;
    ASSERT_EQ(halo_tcp_setup.can_connect(&e.t.ctx, 1 - rank, 1, e.blobs[rank], e.blobs[1 - rank], NULL, &yes),
              haloSuccess);
    ASSERT_EQ(yes, 1);
    haloResult_t r = halo_tcp_setup.connect_all(&e.t.ctx);
    if (hostile && rank == 0) {
        double s = (double)(now_us() - t0) / 1e6;
        if (s > 2.5)
            TEST_FAIL("connect_all took %.1f s with %d hostile connections at the port", s, FLOOD_SILENT);
        printf("PASS rank 0 connected in %.2f s past %d hostile connections\n", s, FLOOD_SILENT);
    }
    if (expect_error) {
        ASSERT_NE(r, haloSuccess);
        ASSERT_CONTAINS(e.t.last_error, expect_error);
        printf("PASS rank %d refused: %s\n", rank, e.t.last_error);
    } else {
        ASSERT_EQ(r, haloSuccess);
        for (int ch = 0; ch < NCH; ch++) {
            ASSERT_TRUE(e.conns[ch * 2 + 1 - rank] != NULL);
            ASSERT_TRUE(e.conns[ch * 2 + rank] == NULL);
            ASSERT_TRUE(e.conns[ch * 2 + 1 - rank]->ctx == &e.t.ctx);
            exchange(&e, ch);
        }
        /* Both sides done before either closes. */
        char b = 0;
        ASSERT_EQ(write(fd, &b, 1), 1);
        ASSERT_EQ(read(fd, &b, 1), 1);
        printf("PASS rank %d: %d channels connected through the table, frames both ways\n", rank, NCH);
    }
    if (hostile && rank == 1)
        for (int i = 0; i < FLOOD_SILENT; i++)
            close(silent[i]);
    env_destroy(&e);
    return 0;
}

/* Rank 0 in the parent, rank 1 in a child; 0 when both pass. */
static int run_pair(uint8_t key1, int64_t timeout_us, const char *expect0, int hostile)
{
    int sv[2];
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        struct rank_env e;
        if (expect0) { /* the refused rank: its connect fails or it gives up; either way it ends */
            env_init(&e, 1, key1, timeout_us);
            env_listen_swap(&e, sv[1]);
            haloResult_t r = halo_tcp_setup.connect_all(&e.t.ctx);
            printf("# rank 1 with the wrong secret: result %d: %s\n", (int)r, e.t.last_error);
            env_destroy(&e);
            fflush(stdout);
            _exit(r == haloSuccess ? 1 : 0);
        }
        int rc = rank_main(1, sv[1], key1, timeout_us, NULL, hostile);
        fflush(stdout); /* _exit does not flush stdio */
        _exit(rc);
    }
    close(sv[1]);
    int rc = rank_main(0, sv[0], 7, timeout_us, expect0, hostile);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    close(sv[0]);
    return rc;
}

int main(void)
{
    check_can_connect();
    ASSERT_EQ(run_pair(7, 10000000, NULL, 0), 0);
    ASSERT_EQ(run_pair(9, 1500000, "timed out after 1500 ms waiting for tcp data connections", 0), 0);
    ASSERT_EQ(run_pair(7, 10000000, NULL, 1), 0);
    printf("test_tcp_setup: all passed\n");
    return 0;
}
