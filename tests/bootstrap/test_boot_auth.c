/* SPDX-License-Identifier: MIT */
/*
 * test_boot_auth.c — the secret handshake over socketpair(), one thread per side:
 * the right secret passes, a wrong one is rejected on both sides, a different context
 * is rejected, garbage in place of HELLO or PROOF is a protocol error, and a silent
 * peer runs into the deadline.
 */
#include <pthread.h>
#include <sys/socket.h>

#include "boot_util.h"

struct side {
    int fd;
    uint8_t key[HALO_AUTH_KEY_BYTES];
    const char *ctx;
    enum halo_auth_result result;
};

static void *server_main(void *arg)
{
    struct side *s = arg;
    s->result = halo_auth_server(s->fd, s->key, s->ctx, halo_now_us() + 5000000);
    return NULL;
}

/* Runs server and client concurrently on a socketpair. */
static void run_pair(struct side *srv, struct side *cli)
{
    int sv[2];
    pthread_t t;
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    srv->fd = sv[0];
    cli->fd = sv[1];
    ASSERT_OK(pthread_create(&t, NULL, server_main, srv));
    cli->result = halo_auth_client(cli->fd, cli->key, cli->ctx, halo_now_us() + 5000000);
    pthread_join(t, NULL);
    close(sv[0]);
    close(sv[1]);
}

static void make_key(uint8_t key[HALO_AUTH_KEY_BYTES], const char *text)
{
    halo_secret_derive(text, strlen(text), key);
}

static void test_right_and_wrong(void)
{
    struct side srv = {.ctx = "boot:0123456789abcdef"}, cli = {.ctx = "boot:0123456789abcdef"};
    make_key(srv.key, "job secret");
    make_key(cli.key, "job secret");
    run_pair(&srv, &cli);
    ASSERT_EQ(srv.result, HALO_AUTH_OK);
    ASSERT_EQ(cli.result, HALO_AUTH_OK);

    /* one bit of the key differs */
    cli.key[7] ^= 0x10;
    run_pair(&srv, &cli);
    ASSERT_EQ(srv.result, HALO_AUTH_REJECTED);
    ASSERT_EQ(cli.result, HALO_AUTH_REJECTED);

    /* same key, another purpose */
    make_key(cli.key, "job secret");
    cli.ctx = "tcp:0:1:0:0123456789abcdef";
    run_pair(&srv, &cli);
    ASSERT_EQ(srv.result, HALO_AUTH_REJECTED);
    ASSERT_EQ(cli.result, HALO_AUTH_REJECTED);

    /* all-zero key (unauthenticated ids) still works when both agree */
    memset(srv.key, 0, sizeof(srv.key));
    memset(cli.key, 0, sizeof(cli.key));
    cli.ctx = srv.ctx;
    run_pair(&srv, &cli);
    ASSERT_EQ(srv.result, HALO_AUTH_OK);
    ASSERT_EQ(cli.result, HALO_AUTH_OK);
}

static void test_secret_derive(void)
{
    uint8_t a[HALO_AUTH_KEY_BYTES], b[HALO_AUTH_KEY_BYTES];
    /* SHA-256("abc") = ba7816bf ... 15ad */
    make_key(a, "abc");
    ASSERT_EQ(a[0], 0xba);
    ASSERT_EQ(a[1], 0x78);
    ASSERT_EQ(a[31], 0xad);
    make_key(b, "abd");
    ASSERT_TRUE(memcmp(a, b, sizeof(a)) != 0);
    uint8_t r1[64] = {0}, r2[64] = {0};
    ASSERT_OK(halo_random_bytes(r1, sizeof(r1)));
    ASSERT_OK(halo_random_bytes(r2, sizeof(r2)));
    ASSERT_TRUE(memcmp(r1, r2, sizeof(r1)) != 0);
}

/* A fake server that sends `garbage` as its HELLO. */
static void *fake_hello_main(void *arg)
{
    int fd = *(int *)arg;
    uint8_t hello[HALO_AUTH_HELLO_BYTES];
    memset(hello, 0x41, sizeof(hello));
    halo_io_write_full(fd, hello, sizeof(hello), halo_now_us() + 2000000);
    return NULL;
}

static void test_garbage(void)
{
    uint8_t key[HALO_AUTH_KEY_BYTES];
    int sv[2];
    pthread_t t;
    make_key(key, "k");

    /* garbage HELLO: the client gives up with a protocol error */
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    ASSERT_OK(pthread_create(&t, NULL, fake_hello_main, &sv[0]));
    ASSERT_EQ(halo_auth_client(sv[1], key, "boot", halo_now_us() + 2000000), HALO_AUTH_PROTOCOL);
    pthread_join(t, NULL);
    close(sv[0]);
    close(sv[1]);

    /* garbage PROOF: the server gives up with a protocol error and sends no verdict */
    struct side srv = {.ctx = "boot"};
    memcpy(srv.key, key, sizeof(key));
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    srv.fd = sv[0];
    ASSERT_OK(pthread_create(&t, NULL, server_main, &srv));
    uint8_t hello[HALO_AUTH_HELLO_BYTES], junk[HALO_AUTH_PROOF_BYTES];
    ASSERT_OK(halo_io_read_full(sv[1], hello, sizeof(hello), halo_now_us() + 2000000));
    memset(junk, 0x7f, sizeof(junk));
    ASSERT_OK(halo_io_write_full(sv[1], junk, sizeof(junk), halo_now_us() + 2000000));
    pthread_join(t, NULL);
    ASSERT_EQ(srv.result, HALO_AUTH_PROTOCOL);
    close(sv[0]);
    close(sv[1]);

    /* the event-loop steps agree with the blocking server */
    struct halo_auth_server_state st;
    uint8_t verdict[HALO_AUTH_VERDICT_BYTES];
    ASSERT_OK(halo_auth_hello(&st, hello));
    ASSERT_EQ(halo_auth_check_proof(&st, key, "boot", junk, verdict), HALO_AUTH_PROTOCOL);
}

static void test_silent_peer(void)
{
    uint8_t key[HALO_AUTH_KEY_BYTES] = {0};
    int sv[2];
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int64_t t0 = halo_now_us();
    ASSERT_EQ(halo_auth_client(sv[1], key, "boot", t0 + 200000), HALO_AUTH_IO);
    ASSERT_EQ(errno, ETIMEDOUT);
    ASSERT_TRUE(bt_seconds(t0) < 1.0);
    /* a server whose client vanished */
    close(sv[1]);
    ASSERT_EQ(halo_auth_server(sv[0], key, "boot", halo_now_us() + 1000000), HALO_AUTH_IO);
    close(sv[0]);
    ASSERT_STREQ(halo_auth_result_str(HALO_AUTH_REJECTED), "rejected");
}

int main(void)
{
    test_right_and_wrong();
    test_secret_derive();
    test_garbage();
    test_silent_peer();
    printf("bootstrap auth: ok\n");
    return 0;
}
