/* SPDX-License-Identifier: MIT */
/*
 * probe.c — socket primitives to confirm a candidate link and measure its round trip:
 * one side listens on its link address, the other connects bound to its link
 * interface (so the bytes take that cable, not a route through the LAN) and times
 * small echoes. A topo_probe_fn built on these decides which links the graph uses.
 *
 * Protocol (one TCP connection, TCP_NODELAY):
 *   client -> server   8 bytes: sequence number
 *   server -> client   the same 8 bytes
 *   ... `count` times, then the client closes; the server returns on EOF.
 * Bandwidth (topo_probe_bw): the client sends a header word TOPO_BULK_TAG | n, then
 * n bytes; the server reads them all and answers with the header word. Word values
 * below the tag are echoes, so one server serves both.
 * No authentication: the probe carries no data of the job, and the caller should run
 * it only after the bootstrap has admitted every peer. Everything is bounded by a
 * timeout: a dead cable fails the probe, it never hangs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "topo.h"

static double topo_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int topo_sockaddr_make(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return 0;
    }
    return -1;
}

/* Waits for `events` on fd until deadline; 0 when ready, -1 (errno ETIMEDOUT) if not. */
static int topo_wait(int fd, short events, double deadline_us)
{
    struct pollfd p = { .fd = fd, .events = events };
    double left;
    int r;

    do {
        left = deadline_us - topo_now_us();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        r = poll(&p, 1, (int)(left / 1000) + 1);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        errno = ETIMEDOUT;
    return r > 0 ? 0 : -1;
}

static int topo_io_full(int fd, void *buf, size_t len, int writing, double deadline_us)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = writing ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL)
                            : recv(fd, (char *)buf + done, len - done, 0);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if ((errno != EAGAIN && errno != EINTR) || topo_wait(fd, writing ? POLLOUT : POLLIN, deadline_us) != 0)
            return -1;
    }
    return 0;
}

int topo_probe_listen(const char *addr, int *port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    if (topo_sockaddr_make(addr, *port, &ss, &len) != 0) {
        snprintf(err, errlen, "probe: '%s' is not an IP address", addr);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(err, errlen, "probe: cannot listen on %s port %d: %s", addr, *port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* Longest echo session after an accept (the client's own probe bound is 1 s; a
 * bandwidth probe sizes its bursts to stay far below this). */
#define TOPO_ECHO_SESSION_MS 2000

/* High byte of a bulk header word; the low 56 bits are the byte count. */
#define TOPO_BULK_TAG (0xb5ull << 56)
#define TOPO_BULK_MAX (256ull << 20)

/* Reads and drops n bytes. */
static int topo_drain(int fd, uint64_t n, double deadline_us)
{
    static __thread char sink[65536];
    while (n > 0) {
        size_t part = n < sizeof(sink) ? (size_t)n : sizeof(sink);
        if (topo_io_full(fd, sink, part, 0, deadline_us) != 0)
            return -1;
        n -= part;
    }
    return 0;
}

int topo_probe_serve_one(int listen_fd, int timeout_ms, char *err, size_t errlen)
{
    double deadline = topo_now_us() + timeout_ms * 1e3;
    uint64_t seq;
    int fd, one = 1;

    if (topo_wait(listen_fd, POLLIN, deadline) != 0 ||
        (fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0) {
        snprintf(err, errlen, "probe: no peer connected within %d ms: %s", timeout_ms, strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* The echoes get their own bound from the accept: a peer that connected late in
     * the accept window must not be cut off (it sees a reset and the link is
     * dropped as unusable; seen between TCG VMs with 100 ms windows). A client that
     * goes silent still ends the session. */
    deadline = topo_now_us() + (timeout_ms > TOPO_ECHO_SESSION_MS ? timeout_ms : TOPO_ECHO_SESSION_MS) * 1e3;
    while (topo_io_full(fd, &seq, sizeof(seq), 0, deadline) == 0) {
        if ((seq >> 56) == (TOPO_BULK_TAG >> 56) &&
            ((seq & ~TOPO_BULK_TAG) > TOPO_BULK_MAX || topo_drain(fd, seq & ~(TOPO_BULK_TAG), deadline) != 0))
            break;
        if (topo_io_full(fd, &seq, sizeof(seq), 1, deadline) != 0)
            break;
    }
    /* EOF after the last echo is the normal end */
    int res = errno == ECONNRESET ? 0 : -1;
    if (res != 0)
        snprintf(err, errlen, "probe: echo failed: %s", strerror(errno));
    close(fd);
    return res;
}

/* Bind to the interface when allowed (CAP_NET_RAW), and always to the link address. */
static int topo_probe_bind(int fd, const char *ifname, const char *local_addr, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (ifname && *ifname &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) != 0 &&
        errno != EPERM) {
        snprintf(err, errlen, "probe: cannot bind to interface %s: %s", ifname, strerror(errno));
        return -1;
    }
    if (local_addr && *local_addr) {
        if (topo_sockaddr_make(local_addr, 0, &ss, &len) != 0 || bind(fd, (struct sockaddr *)&ss, len) != 0) {
            snprintf(err, errlen, "probe: cannot bind to %s on %s: %s", local_addr, ifname ? ifname : "?",
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int topo_probe_connect(int fd, const struct sockaddr_storage *ss, socklen_t len, double deadline)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    if (connect(fd, (const struct sockaddr *)ss, len) == 0)
        return 0;
    if (errno != EINPROGRESS || topo_wait(fd, POLLOUT, deadline) != 0)
        return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        errno = soerr ? soerr : errno;
        return -1;
    }
    return 0;
}

/* A connected socket bound to the link's interface and address, or -1 with err. */
static int topo_probe_open(const char *ifname, const char *local_addr, const char *remote_addr, int port,
                           int timeout_ms, double deadline, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    if (topo_sockaddr_make(remote_addr, port, &ss, &len) != 0) {
        snprintf(err, errlen, "probe: '%s' is not an IP address", remote_addr);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || topo_probe_bind(fd, ifname, local_addr, err, errlen) != 0)
        goto err_close;
    if (topo_probe_connect(fd, &ss, len, deadline) != 0) {
        snprintf(err, errlen, "probe: %s via %s (%s) did not answer within %d ms: %s", remote_addr,
                 ifname ? ifname : "?", local_addr ? local_addr : "?", timeout_ms, strerror(errno));
        goto err_close;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
err_close:
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Lowest of `count` echo round trips on fd, or -1 with err. */
static double topo_echo_best(int fd, int count, double deadline, const char *remote_addr, const char *ifname,
                             char *err, size_t errlen)
{
    double best = -1;

    for (uint64_t i = 0; i < (uint64_t)(count > 0 ? count : 1); i++) {
        uint64_t seq = i;
        double t0 = topo_now_us();
        if (topo_io_full(fd, &seq, sizeof(seq), 1, deadline) != 0 ||
            topo_io_full(fd, &seq, sizeof(seq), 0, deadline) != 0 || seq != i) {
            snprintf(err, errlen, "probe: echo %llu from %s via %s failed: %s", (unsigned long long)i,
                     remote_addr, ifname ? ifname : "?", seq != i ? "wrong reply" : strerror(errno));
            return -1;
        }
        double t = topo_now_us() - t0;
        best = best < 0 || t < best ? t : best;
    }
    return best;
}

int topo_probe_rtt(const char *ifname, const char *local_addr, const char *remote_addr, int port,
                   int count, int timeout_ms, double *rtt_us, char *err, size_t errlen)
{
    double deadline = topo_now_us() + timeout_ms * 1e3;
    int fd = topo_probe_open(ifname, local_addr, remote_addr, port, timeout_ms, deadline, err, errlen);
    if (fd < 0)
        return -1;
    double best = topo_echo_best(fd, count, deadline, remote_addr, ifname, err, errlen);
    close(fd);
    if (best < 0)
        return -1;
    *rtt_us = best;
    return 0;
}

/* One burst of n bytes; its time from the first byte sent to the server's answer. */
static double topo_burst_us(int fd, uint64_t n, double deadline)
{
    static __thread char src[65536];
    uint64_t word = TOPO_BULK_TAG | n, reply = 0;
    double t0 = topo_now_us();
    if (topo_io_full(fd, &word, sizeof(word), 1, deadline) != 0)
        return -1;
    for (uint64_t left = n; left > 0;) {
        size_t part = left < sizeof(src) ? (size_t)left : sizeof(src);
        if (topo_io_full(fd, src, part, 1, deadline) != 0)
            return -1;
        left -= part;
    }
    if (topo_io_full(fd, &reply, sizeof(reply), 0, deadline) != 0 || reply != word)
        return -1;
    return topo_now_us() - t0;
}

int topo_probe_bw(const char *ifname, const char *local_addr, const char *remote_addr, int port, int budget_ms,
                  int timeout_ms, double *mbps, char *err, size_t errlen)
{
    double deadline = topo_now_us() + timeout_ms * 1e3;
    int fd = topo_probe_open(ifname, local_addr, remote_addr, port, timeout_ms, deadline, err, errlen);
    if (fd < 0)
        return -1;
    double rtt = topo_echo_best(fd, 3, deadline, remote_addr, ifname, err, errlen);
    /* A first burst sizes the next ones to take about budget_ms each at the rate it
     * saw (a shaper's burst allowance inflates the first; the others run past it).
     * The rate is the better of the two sized bursts: a host that stalls for a
     * moment (a busy or virtual machine) spoils one burst, rarely both. */
    uint64_t n = 256u << 10;
    double rate = 0, best = 0; /* bytes per microsecond */
    for (int round = 0; rtt >= 0 && round < 3; round++) {
        double t = topo_burst_us(fd, n, deadline);
        if (t < 0 && best > 0) /* out of time for the last one: the sized burst before counts */
            break;
        if (t < 0) {
            snprintf(err, errlen, "probe: a %llu-byte burst to %s via %s failed: %s", (unsigned long long)n,
                     remote_addr, ifname ? ifname : "?", strerror(errno));
            rtt = -1;
            break;
        }
        rate = (double)n / (t - rtt > 1 ? t - rtt : 1);
        best = round > 0 && rate > best ? rate : best;
        if (round == 0) {
            double want = rate * budget_ms * 1e3;
            n = want < (double)(256u << 10) ? 256u << 10
                : want > (double)TOPO_BULK_MAX ? TOPO_BULK_MAX
                                                : (uint64_t)want;
        }
    }
    rate = best;
    close(fd);
    if (rtt < 0)
        return -1;
    *mbps = rate * 8; /* bytes/us -> Mbit/s */
    return 0;
}
