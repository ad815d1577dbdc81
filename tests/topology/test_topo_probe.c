/* SPDX-License-Identifier: MIT */
/*
 * test_topo_probe.c — the link probe over loopback: an echo server thread and timed
 * pings; a closed port, a bad address and a silent peer fail within their timeout.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "topo.h"

struct server {
    int fd;
    int result;
    char err[256];
};

static void *serve(void *arg)
{
    struct server *s = arg;

    s->result = topo_probe_serve_one(s->fd, 5000, s->err, sizeof(s->err));
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_echo(void)
{
    struct server s = { 0 };
    pthread_t t;
    char err[256];
    double rtt = -5;
    int port = 0;

    s.fd = topo_probe_listen("127.0.0.1", &port, err, sizeof(err));
    ASSERT_TRUE(s.fd >= 0);
    ASSERT_TRUE(port > 0);
    ASSERT_EQ(pthread_create(&t, NULL, serve, &s), 0);
    /* "lo" binding needs CAP_NET_RAW; without it the source address alone is used */
    ASSERT_EQ(topo_probe_rtt("lo", "127.0.0.1", "127.0.0.1", port, 20, 2000, &rtt, err, sizeof(err)), 0);
    pthread_join(t, NULL);
    ASSERT_EQ(s.result, 0);
    ASSERT_TRUE(rtt > 0 && rtt < 100000);
    printf("loopback probe rtt %.1f us\n", rtt);
    close(s.fd);
}

static void test_failures(void)
{
    struct server s = { 0 };
    char err[256];
    double rtt = -5, t0;
    int port = 0;

    /* nobody listens: refused at once */
    s.fd = topo_probe_listen("127.0.0.1", &port, err, sizeof(err));
    close(s.fd);
    t0 = now_s();
    ASSERT_EQ(topo_probe_rtt(NULL, "127.0.0.1", "127.0.0.1", port, 1, 500, &rtt, err, sizeof(err)), -1);
    ASSERT_CONTAINS(err, "did not answer");
    ASSERT_EQ(rtt, -5); /* output untouched on failure */
    ASSERT_TRUE(now_s() - t0 < 1.0);

    ASSERT_EQ(topo_probe_rtt(NULL, NULL, "not-an-address", 1, 1, 500, &rtt, err, sizeof(err)), -1);
    ASSERT_CONTAINS(err, "is not an IP address");
    ASSERT_EQ(topo_probe_listen("300.1.1.1", &port, err, sizeof(err)), -1);

    /* a listener that never accepts: the kernel completes the handshake, the echo
     * then times out within the bound */
    port = 0;
    s.fd = topo_probe_listen("127.0.0.1", &port, err, sizeof(err));
    t0 = now_s();
    ASSERT_EQ(topo_probe_rtt(NULL, NULL, "127.0.0.1", port, 1, 300, &rtt, err, sizeof(err)), -1);
    ASSERT_CONTAINS(err, "echo 0");
    ASSERT_TRUE(now_s() - t0 < 1.0);
    /* and a server nobody connects to gives up within its timeout */
    t0 = now_s();
    topo_probe_serve_one(s.fd, 200, err, sizeof(err)); /* drains the connection above */
    ASSERT_EQ(topo_probe_serve_one(s.fd, 200, err, sizeof(err)), -1);
    ASSERT_CONTAINS(err, "no peer connected within 200 ms");
    ASSERT_TRUE(now_s() - t0 < 1.5);
    close(s.fd);
}

int main(void)
{
    test_echo();
    test_failures();
    printf("test_topo_probe: all passed\n");
    return 0;
}
